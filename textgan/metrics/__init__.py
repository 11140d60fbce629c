"""Text-generation metrics: Texygen-exact BLEU / Self-BLEU (fast), NLL, diversity, sample scores, tokenisation."""

from textgan.metrics.bleu import (
    bleu,
    bleu_multi,
    bleu_multi_scores,
    self_bleu,
    self_bleu_multi,
    self_bleu_multi_scores,
    self_bleu_scores,
    sentence_bleu_scores,
)
from textgan.metrics.diversity import distinct_n, length_stats, ngram_jsd, unique_ratio
from textgan.metrics.nll import nll, nll_oracle
from textgan.metrics.samples import sample_metrics
from textgan.metrics.tokenize import tokenize_lines

__all__ = [
    "bleu",
    "bleu_multi",
    "bleu_multi_scores",
    "distinct_n",
    "length_stats",
    "ngram_jsd",
    "nll",
    "nll_oracle",
    "sample_metrics",
    "self_bleu",
    "self_bleu_multi",
    "self_bleu_multi_scores",
    "self_bleu_scores",
    "sentence_bleu_scores",
    "tokenize_lines",
    "unique_ratio",
]
