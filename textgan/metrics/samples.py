"""Scores of generated samples against references: one definition for `textgan evaluate` and the
GAN trainer's health check.

Every sample counts, empty ones included: a generator that emits <eos> first writes an empty
sample, which scores BLEU 0 (nltk's rule for a hypothesis without unigram matches) rather than
being left out, so such a generator cannot raise its BLEU by failing more often. Distinct-n is
None where no sample has n tokens (undefined, not zero).
"""

from __future__ import annotations

from typing import Any

from textgan.errors import DataError
from textgan.metrics.bleu import Corpus, bleu_multi, self_bleu_multi
from textgan.metrics.diversity import distinct_n

__all__ = ["sample_metrics"]


def _distinct(samples: Corpus, n: int) -> float | None:
    """Distinct-n, or None when no sample has n tokens."""
    try:
        return distinct_n(samples, n)
    except DataError:
        return None


def sample_metrics(hypotheses: Corpus, references: Corpus, max_n: int, min_n: int = 2,
                   with_self_bleu: bool = False) -> dict[str, Any]:
    """bleuK (K = min_n..max_n), self_bleuK (if asked), distinct1/2 and the counts of token-list
    samples, each sample scored, the empty ones included."""
    metrics: dict[str, Any] = {f"bleu{n}": score for n, score in
                               bleu_multi(hypotheses, references, max_n=max_n, min_n=min_n).items()}
    if with_self_bleu:
        if len(hypotheses) < 2:
            raise DataError(f"Self-BLEU needs at least 2 hypotheses, got {len(hypotheses)}; pass more or drop --self-bleu")
        metrics.update({f"self_bleu{n}": score for n, score in
                        self_bleu_multi(hypotheses, max_n=max_n, min_n=min_n).items()})
    metrics.update(distinct1=_distinct(hypotheses, 1), distinct2=_distinct(hypotheses, 2),
                   num_hypotheses=len(hypotheses), num_references=len(references))
    return metrics
