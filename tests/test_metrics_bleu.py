"""textgan.metrics.bleu equals nltk's sentence_bleu (Texygen's protocol) per sentence, edge cases included."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from textgan.errors import ConfigError, DataError, TextGanError
from textgan.metrics import (
    bleu,
    bleu_multi,
    bleu_multi_scores,
    self_bleu,
    self_bleu_multi,
    self_bleu_multi_scores,
    self_bleu_scores,
    sentence_bleu_scores,
    tokenize_lines,
)

TOL = 1e-9
SMOOTH = SmoothingFunction().method1


def nltk_scores(hyps, refs, n):
    """Texygen's per-sentence protocol, straight from nltk."""
    return [sentence_bleu(refs, h, weights=(1.0 / n,) * n, smoothing_function=SMOOTH) for h in hyps]


def nltk_self_scores(samples, n):
    """Texygen's Self-BLEU per sample: against all the others (itself removed once)."""
    return [
        sentence_bleu(samples[:i] + samples[i + 1 :], h, weights=(1.0 / n,) * n, smoothing_function=SMOOTH)
        for i, h in enumerate(samples)
    ]


def assert_close(ours, theirs):
    ours = np.asarray(ours, dtype=float)
    theirs = np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs), initial=0.0) <= TOL, (ours, theirs)


def random_corpus(rng, size, vocab, lengths=(0, 1, 2, 3, 4, 5, 6, 8, 11)):
    return [[f"w{rng.randrange(vocab)}" for _ in range(rng.choice(lengths))] for _ in range(size)]


# --------------------------------------------------------------------------- random corpora


@pytest.mark.parametrize("seed", range(12))
def test_random_corpora_equal_nltk_per_sentence(seed):
    rng = random.Random(seed)
    vocab = rng.choice([1, 2, 3, 5, 8])  # small: plenty of overlap, repeats and ties
    hyps = random_corpus(rng, rng.randint(1, 8), vocab)
    refs = random_corpus(rng, rng.randint(1, 8), vocab)
    if seed % 3 == 0:
        refs += refs[:3]  # duplicate references
    for n in range(1, 7):
        assert_close(sentence_bleu_scores(hyps, refs, n), nltk_scores(hyps, refs, n))


@pytest.mark.parametrize("seed", range(12))
def test_random_self_bleu_equals_nltk_without_that_index(seed):
    rng = random.Random(100 + seed)
    samples = random_corpus(rng, rng.randint(2, 9), rng.choice([1, 2, 4, 6]))
    if seed % 2 == 0:
        samples += samples[:2]  # duplicates stay in each other's reference set
    for n in range(1, 7):
        assert_close(self_bleu_scores(samples, n), nltk_self_scores(samples, n))


sentences = st.lists(st.sampled_from("abcd"), max_size=9)


@settings(max_examples=60, deadline=None)
@given(hyps=st.lists(sentences, min_size=1, max_size=5), refs=st.lists(sentences, min_size=1, max_size=5),
       n=st.integers(1, 5))
def test_property_bleu_equals_nltk(hyps, refs, n):
    assert_close(sentence_bleu_scores(hyps, refs, n), nltk_scores(hyps, refs, n))


@settings(max_examples=60, deadline=None)
@given(samples=st.lists(sentences, min_size=2, max_size=6), n=st.integers(1, 5))
def test_property_self_bleu_equals_nltk(samples, n):
    assert_close(self_bleu_scores(samples, n), nltk_self_scores(samples, n))


def test_larger_corpus_and_means():
    rng = random.Random(7)
    hyps = random_corpus(rng, 60, 12, lengths=range(0, 16))
    refs = random_corpus(rng, 80, 12, lengths=range(0, 16))
    for n in (2, 4):
        theirs = nltk_scores(hyps, refs, n)
        assert_close(sentence_bleu_scores(hyps, refs, n), theirs)
        assert bleu(hyps, refs, n) == pytest.approx(sum(theirs) / len(theirs), abs=TOL)
        self_theirs = nltk_self_scores(hyps, n)
        assert self_bleu(hyps, n) == pytest.approx(sum(self_theirs) / len(self_theirs), abs=TOL)


# --------------------------------------------------------------------------- edge cases

REF1 = "It is a guide to action that ensures that the military will forever heed Party commands".split()
REF2 = "It is the guiding principle which guarantees the military forces always being under the command of the Party".split()
REF3 = "It is the practical guide for the army always to heed the directions of the party".split()
HYP1 = "It is a guide to action which ensures that the military always obeys the commands of the party".split()
HYP2 = "It is to insure the troops forever hearing the activity guidebook that party direct".split()


@pytest.mark.parametrize(
    "hyp, refs",
    [
        ([], [["a", "b"], ["c"]]),  # empty hypothesis: 0
        (["a"], [["a", "b", "c"]]),  # shorter than n: higher orders smoothed with denominator 1
        (["a", "b"], [["a", "b"], ["a", "b"], ["a", "b"]]),  # duplicate references
        (["x", "y", "z"], [["a", "b", "c"]]),  # no unigram match: nltk returns 0
        (["a", "c", "b", "d"], [["a", "b", "c", "d"]]),  # unigrams match, no bigram
        (["the"] * 7, ["the cat is on the mat".split(), "there is a cat on the mat".split()]),  # clipping
        (["a"] * 12, [["a"] * 13, ["a"] * 11]),  # closest length tie: the shorter (11) wins
        (["a"] * 12, [["a"] * 11, ["a"] * 13]),
        (["a"] * 7, [["a"] * 11, ["a"] * 8]),  # shorter than the closest: brevity penalty
        (["a", "b", "a", "b", "a"], [["a", "b"], []]),  # empty reference sentence in the set
        (["a", "b", "a", "b", "a"], [[]]),  # only an empty reference
        ([], [[]]),
        (HYP1, [REF1, REF2, REF3]),
        (HYP2, [REF1, REF2, REF3]),
    ],
)
def test_edge_cases_equal_nltk(hyp, refs):
    for n in range(1, 11):
        assert_close(sentence_bleu_scores([hyp], refs, n), nltk_scores([hyp], refs, n))


def test_known_values():
    assert sentence_bleu_scores([[]], [["a"]], 4)[0] == 0.0
    assert sentence_bleu_scores([["x"]], [["a"]], 2)[0] == 0.0  # no unigram match
    assert sentence_bleu_scores([["a", "b"]], [["a", "b"]], 2)[0] == pytest.approx(1.0)
    # nltk's documented method1 value for HYP2 (BLEU-4).
    assert sentence_bleu_scores([HYP2], [REF1, REF2, REF3], 4)[0] == pytest.approx(0.0370, abs=1e-4)
    # shorter than n: p_2 = 0.1 / 1, BP = exp(1 - 3/1)
    assert sentence_bleu_scores([["a"]], [["a", "b", "c"]], 2)[0] == pytest.approx(
        math.exp(1 - 3) * math.sqrt(1.0 * 0.1)
    )


def test_non_string_tokens():
    hyps = [[1, 2, 3, 1], [2, 2]]
    refs = [[1, 2, 3], [3, 2, 2, 1]]
    assert_close(sentence_bleu_scores(hyps, refs, 3), nltk_scores(hyps, refs, 3))


def test_inputs_may_be_tuples_and_generators():
    hyps = (("a", "b", "c"), ("b", "c"))
    refs = (s for s in [("a", "b"), ("b", "c", "a")])
    assert_close(sentence_bleu_scores(hyps, refs, 2), nltk_scores(hyps, [("a", "b"), ("b", "c", "a")], 2))


# --------------------------------------------------------------------------- Self-BLEU specifics


def test_self_bleu_leaves_itself_out_but_keeps_duplicates():
    samples = [["a", "b", "c"], ["a", "b", "c"], ["x", "y"]]
    scores = self_bleu_scores(samples, 2)
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(1.0)  # its duplicate remains
    assert scores[2] == 0.0  # itself removed: nothing left to match
    assert_close(scores, nltk_self_scores(samples, 2))


def test_self_bleu_removes_own_length_once():
    # 'a table' is the only 2-token sample: its closest other length is 4, so BP < 1
    # (fast-bleu keeps the sample's own length and returns BP = 1 here).
    samples = [["a", "table"], ["a", "table", "with", "food"], ["a", "red", "table", "here"]]
    assert_close(self_bleu_scores(samples, 2), nltk_self_scores(samples, 2))
    assert self_bleu_scores(samples, 2)[0] < 0.5


def test_self_bleu_top_count_held_by_hypothesis():
    # 'a a a' holds the max count of 'a' (3); for it the max over the others is the runner-up (2).
    samples = [["a", "a", "a"], ["a", "a", "b"], ["a", "b"], ["b", "b", "b"]]
    for n in (1, 2, 3):
        assert_close(self_bleu_scores(samples, n), nltk_self_scores(samples, n))


# --------------------------------------------------------------------------- multi variants


def test_multi_equals_single_calls():
    rng = random.Random(3)
    hyps = random_corpus(rng, 20, 6)
    refs = random_corpus(rng, 25, 6)
    multi = bleu_multi(hyps, refs, max_n=6)
    assert sorted(multi) == [2, 3, 4, 5, 6]
    self_multi = self_bleu_multi(hyps, max_n=6)
    multi_scores = bleu_multi_scores(hyps, refs, max_n=6, min_n=1)
    self_multi_scores = self_bleu_multi_scores(hyps, max_n=6, min_n=1)
    for n in range(1, 7):
        assert_close(multi_scores[n], sentence_bleu_scores(hyps, refs, n))
        assert_close(self_multi_scores[n], self_bleu_scores(hyps, n))
        if n >= 2:
            assert multi[n] == bleu(hyps, refs, n)
            assert self_multi[n] == self_bleu(hyps, n)


def test_default_orders_are_texygens():
    assert sorted(bleu_multi([["a", "b"]], [["a", "b"]])) == [2, 3, 4, 5]
    assert sorted(self_bleu_multi([["a", "b"], ["a"]])) == [2, 3, 4, 5]


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: bleu([], [["a"]], 2), DataError),
        (lambda: bleu([["a"]], [], 2), DataError),
        (lambda: bleu([["a"]], [["a"]], 0), ConfigError),
        (lambda: bleu([["a"]], [["a"]], 11), ConfigError),
        (lambda: bleu([["a"]], [["a"]], 2.0), ConfigError),
        (lambda: bleu([["a"]], [["a"]], True), ConfigError),
        (lambda: bleu(["a b c"], [["a"]], 2), DataError),  # untokenised lines
        (lambda: bleu("a b c", [["a"]], 2), DataError),
        (lambda: bleu([["a"]], None, 2), DataError),
        (lambda: bleu([[["a"]]], [["a"]], 2), DataError),  # unhashable token
        (lambda: self_bleu([["a"]], 2), DataError),  # one sample has no "others"
        (lambda: self_bleu([], 2), DataError),
        (lambda: bleu_multi([["a"]], [["a"]], max_n=2, min_n=3), ConfigError),
        (lambda: self_bleu_multi([["a"], ["b"]], max_n=12), ConfigError),
        (lambda: tokenize_lines(["a b"], "spacy"), ConfigError),
        (lambda: tokenize_lines("a b", "split"), DataError),
    ],
)
def test_bad_inputs_raise_textgan_error(call, error):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, TextGanError)
    assert str(info.value)


# --------------------------------------------------------------------------- tokenisation


def test_tokenize_split_and_nltk():
    lines = ["a man riding a horse.", "  two  dogs  ", "", "it's a cat's toy, isn't it?"]
    assert tokenize_lines(lines, "split") == [["a", "man", "riding", "a", "horse."], ["two", "dogs"], [],
                                              ["it's", "a", "cat's", "toy,", "isn't", "it?"]]
    assert tokenize_lines(lines, "nltk") == [
        ["a", "man", "riding", "a", "horse", "."],
        ["two", "dogs"],
        [],
        ["it", "'s", "a", "cat", "'s", "toy", ",", "is", "n't", "it", "?"],
    ]
