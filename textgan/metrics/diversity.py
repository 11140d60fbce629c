"""Diversity and distribution metrics of generated samples: distinct-n, uniqueness, n-gram JSD, lengths.

All take samples as lists of tokens (see ``tokenize_lines``). An n-gram never spans two samples.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable

from textgan.errors import ConfigError, DataError
from textgan.metrics.bleu import Corpus, check_corpus

__all__ = ["distinct_n", "length_stats", "ngram_jsd", "unique_ratio"]


def _check_n(n: object) -> int:
    """Return n as a positive int, or raise ConfigError."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive integer (the n-gram order), got {n!r}")
    return n


def _ngram_counts(samples: Corpus, n: int) -> Counter[tuple[Hashable, ...]]:
    """Counts of all n-grams of order n over all samples (none across sample boundaries)."""
    counts: Counter[tuple[Hashable, ...]] = Counter()
    for s in samples:
        counts.update(zip(*(s[i:] for i in range(n))))
    return counts


def distinct_n(samples: Corpus, n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams over all samples, a diversity rate."""
    n = _check_n(n)
    sents = check_corpus(samples, "samples")
    counts = _ngram_counts(sents, n)
    total = sum(counts.values())
    if total == 0:
        raise DataError(f"no sample has {n} or more tokens, so distinct-{n} is undefined; lower n")
    return len(counts) / total


def unique_ratio(samples: Corpus) -> float:
    """Fraction of samples that are distinct (1.0: no sample repeats), a cheap mode-collapse check."""
    sents = check_corpus(samples, "samples")
    return len({tuple(s) for s in sents}) / len(sents)


def ngram_jsd(generated: Corpus, reference: Corpus, n: int) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between the n-gram frequency distributions."""
    n = _check_n(n)
    gen = _ngram_counts(check_corpus(generated, "generated"), n)
    ref = _ngram_counts(check_corpus(reference, "reference"), n)
    gen_total, ref_total = sum(gen.values()), sum(ref.values())
    if gen_total == 0 or ref_total == 0:
        which = "generated" if gen_total == 0 else "reference"
        raise DataError(f"the {which} samples hold no {n}-gram (all shorter than {n} tokens); lower n")
    # JSD = H(M) - (H(P) + H(Q)) / 2 summed term by term: 0.5 p log2(2p/(p+q)) + 0.5 q log2(2q/(p+q)).
    terms = []
    for gram in gen.keys() | ref.keys():
        p = gen.get(gram, 0) / gen_total
        q = ref.get(gram, 0) / ref_total
        m = p + q
        if p > 0:
            terms.append(0.5 * p * math.log2(2.0 * p / m))
        if q > 0:
            terms.append(0.5 * q * math.log2(2.0 * q / m))
    return min(1.0, max(0.0, math.fsum(terms)))


def length_stats(samples: Corpus) -> dict[str, float]:
    """Mean, population std, min and max of sample lengths in tokens, to spot length collapse."""
    sents = check_corpus(samples, "samples")
    lengths = [len(s) for s in sents]
    mean = math.fsum(lengths) / len(lengths)
    var = math.fsum((x - mean) ** 2 for x in lengths) / len(lengths)
    return {"mean": mean, "std": math.sqrt(var), "min": float(min(lengths)), "max": float(max(lengths))}
