"""BLEU and Self-BLEU exactly as Texygen computes them (nltk ``sentence_bleu``, ``method1``), fast.

Protocol (Texygen, Zhu et al. 2018): every hypothesis is scored by nltk's
``sentence_bleu(references, hyp, weights=(1/n,)*n, smoothing_function=SmoothingFunction().method1)``
against the *whole* reference set, and BLEU-n is the mean over hypotheses. Self-BLEU scores
every sample against all the *other* samples (itself left out once, its duplicates kept).

nltk rebuilds a ``Counter`` for every reference for every hypothesis and n-gram order, which
is O(hypotheses x references): hours for one row of Texygen's COCO table. The result only
depends, for each n-gram, on the maximum count in any single reference, and on the sorted
reference lengths, so here all n-grams of all sentences are given exact integer ids (no
hashing, no collisions), counted once per (n-gram, sentence) with numpy, and reduced to
the per-n-gram maximum over references (for Self-BLEU the top two counts, so that leaving
the hypothesis out is exact). The per-sentence arithmetic then mirrors nltk step by step:

* modified precision p_k = clipped matches / max(1, number of k-grams of the hypothesis);
* nltk returns exactly 0 when there is no unigram match at all (this covers an empty
  hypothesis), whatever the higher orders;
* ``method1`` replaces a zero numerator by epsilon = 0.1 (so p_k = 0.1 / denominator, also
  for a hypothesis shorter than k, whose denominator is 1);
* brevity penalty: r = the reference length closest to the hypothesis length, ties going to
  the shorter reference; BP = 1 if len(hyp) > r, else exp(1 - r / len(hyp));
* score = BP * exp(sum_k (1/n) * log p_k).

Scores equal nltk's to rounding (about 1e-16; the tests require 1e-9 per sentence).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from itertools import chain, count

import numpy as np

from textgan.errors import ConfigError, DataError

__all__ = [
    "MAX_ORDER",
    "SMOOTHING_EPSILON",
    "bleu",
    "bleu_multi",
    "bleu_multi_scores",
    "self_bleu",
    "self_bleu_multi",
    "self_bleu_multi_scores",
    "self_bleu_scores",
    "sentence_bleu_scores",
]

MAX_ORDER = 10
"""Largest n accepted for BLEU-n."""

SMOOTHING_EPSILON = 0.1
"""The epsilon of nltk's ``SmoothingFunction().method1`` (its default), added to zero numerators."""

Sentence = Sequence[Hashable]
Corpus = Sequence[Sentence]


# --------------------------------------------------------------------------- validation


def _check_order(value: object, name: str) -> int:
    """Return ``value`` as an int n-gram order, or raise ConfigError naming the valid range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer in 1..{MAX_ORDER}, got {value!r}")
    if not 1 <= int(value) <= MAX_ORDER:
        raise ConfigError(
            f"{name} must be in 1..{MAX_ORDER}, got {value}; BLEU-n uses n-gram orders 1..n "
            "(Texygen reports BLEU-2..5)"
        )
    return int(value)


def _check_orders(min_n: object, max_n: object) -> tuple[int, int]:
    """Validate a range of BLEU orders min_n..max_n and return it as ints."""
    lo, hi = _check_order(min_n, "min_n"), _check_order(max_n, "max_n")
    if lo > hi:
        raise ConfigError(f"min_n ({lo}) must not exceed max_n ({hi}); swap them")
    return lo, hi


def check_corpus(corpus: object, what: str, min_size: int = 1) -> list[Sentence]:
    """Return ``corpus`` as a list of token sequences, or raise DataError naming the fix."""
    if isinstance(corpus, (str, bytes)) or not isinstance(corpus, Iterable):
        raise DataError(
            f"{what} must be a list of token lists, got {type(corpus).__name__}; "
            "tokenise the lines first, e.g. tokenize_lines(lines, 'nltk')"
        )
    sentences = list(corpus)
    if len(sentences) < min_size:
        need = "at least one sentence" if min_size == 1 else f"at least {min_size} sentences"
        raise DataError(f"{what} has {len(sentences)} sentence(s); pass {need}")
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)) or not hasattr(sentence, "__len__"):
            raise DataError(
                f"{what}[{i}] is a {type(sentence).__name__}, not a list of tokens; "
                "tokenise the lines first, e.g. tokenize_lines(lines, 'nltk')"
            )
    return sentences


# --------------------------------------------------------------------------- counting


def _encode(sentences: list[Sentence], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Map tokens to integer ids (equal tokens, equal ids) and return (flat ids, lengths)."""
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    total = int(lengths.sum())
    vocab: dict[Hashable, int] = {}
    try:
        # The id of a token is the flat position of its first occurrence: unique, not dense.
        ids = np.fromiter(
            map(vocab.setdefault, chain.from_iterable(sentences), count()),
            dtype=np.int64,
            count=total,
        )
    except TypeError as exc:
        raise DataError(f"{what} holds an unhashable token ({exc}); tokens must be strings") from exc
    return ids, lengths


class _Counts:
    """Per order k: the (n-gram id, sentence, count) triples of a corpus, sorted by n-gram id."""

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, max_n: int) -> None:
        """Count every n-gram of orders 1..max_n per sentence, with exact integer n-gram ids."""
        n_sent = len(lengths)
        n_tok = len(ids)
        ends = np.cumsum(lengths)
        sent_of = np.repeat(np.arange(n_sent, dtype=np.int64), lengths)
        left = ends[sent_of] - np.arange(n_tok, dtype=np.int64)  # tokens from here to the end
        self.lengths = lengths
        self.grams: list[np.ndarray] = []  # per order: n-gram id of each (gram, sentence) pair
        self.sents: list[np.ndarray] = []  # per order: sentence of each pair
        self.counts: list[np.ndarray] = []  # per order: count of the gram in the sentence
        self.n_grams: list[int] = []  # per order: number of distinct n-grams
        if n_tok == 0:
            empty = np.zeros(0, dtype=np.int64)
            for _ in range(max_n):
                self.grams.append(empty)
                self.sents.append(empty)
                self.counts.append(empty)
                self.n_grams.append(0)
            return
        vocab, tok = np.unique(ids, return_inverse=True)
        n_vocab = len(vocab)
        gram_at = tok  # n-gram id starting at each position (valid where left >= k)
        pos = np.arange(n_tok, dtype=np.int64)
        for k in range(1, max_n + 1):
            if k > 1:
                pos = pos[left[pos] >= k]
                # (id of the (k-1)-gram, k-th token) -> dense id of the k-gram: exact, < n_tok**2.
                keys = gram_at[pos] * n_vocab + tok[pos + (k - 1)]
                uniq, inv = np.unique(keys, return_inverse=True)
                gram_at = np.empty(n_tok, dtype=np.int64)
                gram_at[pos] = inv
                n_k = len(uniq)
            else:
                n_k = n_vocab
            pair_keys, pair_counts = np.unique(
                gram_at[pos] * n_sent + sent_of[pos], return_counts=True
            )
            self.grams.append(pair_keys // n_sent)
            self.sents.append(pair_keys % n_sent)
            self.counts.append(pair_counts.astype(np.int64))
            self.n_grams.append(n_k)


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Indices where a new run of equal values starts in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))


def _closest_lengths(hyp_lengths: np.ndarray, sorted_ref_lengths: np.ndarray) -> np.ndarray:
    """nltk's closest_ref_length for each hypothesis length: nearest, ties to the shorter."""
    refs = sorted_ref_lengths
    i = np.searchsorted(refs, hyp_lengths, side="left")  # refs[i] >= h > refs[i - 1]
    has_hi = i < len(refs)
    has_lo = i > 0
    hi = refs[np.minimum(i, len(refs) - 1)]
    lo = refs[np.maximum(i - 1, 0)]
    take_hi = has_hi & (~has_lo | (hi - hyp_lengths < hyp_lengths - lo))
    return np.where(take_hi, hi, lo)


def _closest_lengths_leave_one_out(lengths: np.ndarray) -> np.ndarray:
    """Closest other length for each sentence of a corpus: its own length removed once."""
    values, multiplicity = np.unique(lengths, return_counts=True)
    j = np.searchsorted(values, lengths)  # values[j] == own length
    own_shared = multiplicity[j] >= 2  # another sentence has the same length: distance 0
    has_lo = j > 0
    has_hi = j + 1 < len(values)
    lo = values[np.maximum(j - 1, 0)]
    hi = values[np.minimum(j + 1, len(values) - 1)]
    take_hi = has_hi & (~has_lo | (hi - lengths < lengths - lo))
    return np.where(own_shared, lengths, np.where(take_hi, hi, lo))


def _brevity_penalty(closest: np.ndarray, hyp_lengths: np.ndarray) -> np.ndarray:
    """nltk's brevity_penalty, vectorised: 1 if longer than r, 0 if empty, else exp(1 - r/h)."""
    h = hyp_lengths.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        short = np.exp(1.0 - closest / h)
    return np.where(hyp_lengths > closest, 1.0, np.where(hyp_lengths == 0, 0.0, short))


def _scores_from_matches(
    matches: list[np.ndarray],
    hyp_lengths: np.ndarray,
    closest: np.ndarray,
    min_n: int,
    max_n: int,
) -> dict[int, np.ndarray]:
    """Per-sentence BLEU-n for n in min_n..max_n from clipped match counts per order."""
    log_p = []
    for k, num in enumerate(matches, start=1):
        den = np.maximum(hyp_lengths - (k - 1), 1).astype(np.float64)
        p = np.where(num > 0, num, SMOOTHING_EPSILON) / den
        log_p.append(np.log(p))
    log_p_arr = np.vstack(log_p)  # (max_n, sentences)
    bp = _brevity_penalty(closest, hyp_lengths)
    no_unigram_match = matches[0] == 0
    out: dict[int, np.ndarray] = {}
    for n in range(min_n, max_n + 1):
        weight = 1.0 / n
        s = (weight * log_p_arr[:n]).sum(axis=0)
        out[n] = np.where(no_unigram_match, 0.0, bp * np.exp(s))
    return out


def _mean(scores: np.ndarray) -> float:
    """Mean of per-sentence scores, summed exactly (Texygen: sum(bleu) / len(bleu))."""
    return math.fsum(scores.tolist()) / len(scores)


# --------------------------------------------------------------------------- public API


def bleu_multi_scores(
    hypotheses: Corpus, references: Corpus, max_n: int = 5, min_n: int = 2
) -> dict[int, np.ndarray]:
    """Per-hypothesis BLEU-n against the whole reference set, n = min_n..max_n, counted once."""
    lo, hi = _check_orders(min_n, max_n)
    hyps = check_corpus(hypotheses, "hypotheses")
    refs = check_corpus(references, "references")
    ids, lengths = _encode(hyps + refs, "hypotheses/references")
    n_hyp = len(hyps)
    counts = _Counts(ids, lengths, hi)
    hyp_lengths = lengths[:n_hyp]
    matches = []
    for k in range(hi):
        grams, sents, cnt = counts.grams[k], counts.sents[k], counts.counts[k]
        is_ref = sents >= n_hyp
        # Largest count of each n-gram in any single reference (pairs are sorted by gram).
        ref_grams, ref_counts = grams[is_ref], cnt[is_ref]
        max_ref = np.zeros(counts.n_grams[k], dtype=np.int64)
        starts = _group_starts(ref_grams)
        if len(starts):
            max_ref[ref_grams[starts]] = np.maximum.reduceat(ref_counts, starts)
        is_hyp = ~is_ref
        hyp_grams, hyp_counts = grams[is_hyp], cnt[is_hyp]
        clipped = np.minimum(hyp_counts, max_ref[hyp_grams])
        matches.append(np.bincount(sents[is_hyp], weights=clipped, minlength=n_hyp))
    closest = _closest_lengths(hyp_lengths, np.sort(lengths[n_hyp:]))
    return _scores_from_matches(matches, hyp_lengths, closest, lo, hi)


def self_bleu_multi_scores(
    samples: Corpus, max_n: int = 5, min_n: int = 2
) -> dict[int, np.ndarray]:
    """Per-sample Self-BLEU-n (each sample against all the others), n = min_n..max_n."""
    lo, hi = _check_orders(min_n, max_n)
    sents_list = check_corpus(samples, "samples", min_size=2)
    ids, lengths = _encode(sents_list, "samples")
    n_sent = len(sents_list)
    counts = _Counts(ids, lengths, hi)
    matches = []
    for k in range(hi):
        grams, sents, cnt = counts.grams[k], counts.sents[k], counts.counts[k]
        n_k = counts.n_grams[k]
        starts = _group_starts(grams)
        top1 = np.zeros(n_k, dtype=np.int64)
        top2 = np.zeros(n_k, dtype=np.int64)
        if len(starts):
            gram_ids = grams[starts]
            top1[gram_ids] = np.maximum.reduceat(cnt, starts)
            is_top = cnt == top1[grams]
            ties = np.bincount(grams, weights=is_top, minlength=n_k) >= 2
            below = np.where(is_top, 0, cnt)
            top2[gram_ids] = np.maximum.reduceat(below, starts)
            top2 = np.where(ties, top1, top2)
            # Largest count in any OTHER sentence: the runner-up if this sentence holds the max.
            others = np.where(is_top, top2[grams], top1[grams])
            clipped = np.minimum(cnt, others)
        else:
            clipped = cnt
        matches.append(np.bincount(sents, weights=clipped, minlength=n_sent))
    closest = _closest_lengths_leave_one_out(lengths)
    return _scores_from_matches(matches, lengths, closest, lo, hi)


def sentence_bleu_scores(hypotheses: Corpus, references: Corpus, n: int) -> np.ndarray:
    """Per-hypothesis BLEU-n, equal to nltk sentence_bleu(references, hyp, method1) for each."""
    n = _check_order(n, "n")
    return bleu_multi_scores(hypotheses, references, max_n=n, min_n=n)[n]


def self_bleu_scores(samples: Corpus, n: int) -> np.ndarray:
    """Per-sample Self-BLEU-n: nltk sentence_bleu of sample i against samples[:i] + samples[i+1:]."""
    n = _check_order(n, "n")
    return self_bleu_multi_scores(samples, max_n=n, min_n=n)[n]


def bleu(hypotheses: Corpus, references: Corpus, n: int) -> float:
    """Texygen's BLEU-n: mean over hypotheses of sentence BLEU against all references."""
    return _mean(sentence_bleu_scores(hypotheses, references, n))


def self_bleu(samples: Corpus, n: int) -> float:
    """Texygen's Self-BLEU-n: mean over samples of BLEU against all the other samples."""
    return _mean(self_bleu_scores(samples, n))


def bleu_multi(
    hypotheses: Corpus, references: Corpus, max_n: int = 5, min_n: int = 2
) -> dict[int, float]:
    """BLEU-min_n..max_n (default 2..5, Texygen's table) in one counting pass."""
    scores = bleu_multi_scores(hypotheses, references, max_n=max_n, min_n=min_n)
    return {n: _mean(s) for n, s in scores.items()}


def self_bleu_multi(samples: Corpus, max_n: int = 5, min_n: int = 2) -> dict[int, float]:
    """Self-BLEU-min_n..max_n (default 2..5, Texygen's table) in one counting pass."""
    scores = self_bleu_multi_scores(samples, max_n=max_n, min_n=min_n)
    return {n: _mean(s) for n, s in scores.items()}
