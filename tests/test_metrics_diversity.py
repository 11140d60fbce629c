"""Diversity metrics on hand-made examples, and their input errors."""

from __future__ import annotations

import math

import pytest

from textgan.errors import ConfigError, DataError, TextGanError
from textgan.metrics import distinct_n, length_stats, ngram_jsd, unique_ratio


def test_distinct_n():
    assert distinct_n([["a", "b", "a", "b"]], 1) == 0.5
    assert distinct_n([["a", "b", "a", "b"]], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n([["a", "b"], ["b", "a"]], 2) == 1.0  # no n-gram across two samples
    assert distinct_n([["a", "b", "c"], ["a", "b", "c"]], 3) == 0.5
    assert distinct_n([["a"], ["a", "b", "c"]], 2) == 1.0  # too-short samples add nothing


def test_unique_ratio():
    assert unique_ratio([["a"], ["a"], ["b"], []]) == 0.75
    assert unique_ratio([["a", "b"], ["b", "a"]]) == 1.0
    assert unique_ratio([["x"]] * 4) == 0.25


def test_ngram_jsd_hand_values():
    same = [["a", "b", "c"], ["c", "a"]]
    assert ngram_jsd(same, list(reversed(same)), 1) == pytest.approx(0.0, abs=1e-15)
    assert ngram_jsd([["a", "b"]], [["c", "d"]], 1) == pytest.approx(1.0)
    # P = {a: 1}, Q = {a: 1/2, b: 1/2}: JSD = H(M) - (H(P) + H(Q)) / 2 with M = {a: 3/4, b: 1/4}
    h_m = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert ngram_jsd([["a", "a"]], [["a", "b"]], 1) == pytest.approx(h_m - 0.5)
    # bigrams: P = {ab: 1}, Q = {ab: 1/2, bc: 1/2} -> the same value
    assert ngram_jsd([["a", "b"]], [["a", "b", "c"]], 2) == pytest.approx(h_m - 0.5)
    # symmetric
    g, r = [["a", "b", "b"], ["c"]], [["b", "c", "c", "d"]]
    assert ngram_jsd(g, r, 1) == pytest.approx(ngram_jsd(r, g, 1))


def test_length_stats():
    stats = length_stats([["a"], ["a", "b", "c"], []])
    assert stats == pytest.approx({"mean": 4 / 3, "std": math.sqrt(42 / 27), "min": 0.0, "max": 3.0})
    assert length_stats([["a", "b"]]) == {"mean": 2.0, "std": 0.0, "min": 2.0, "max": 2.0}


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: distinct_n([], 1), DataError),
        (lambda: distinct_n([["a"]], 2), DataError),  # no bigram anywhere
        (lambda: distinct_n([["a"]], 0), ConfigError),
        (lambda: distinct_n(["a b"], 1), DataError),  # untokenised line
        (lambda: unique_ratio([]), DataError),
        (lambda: ngram_jsd([["a"]], [], 1), DataError),
        (lambda: ngram_jsd([["a"]], [["a", "b"]], 2), DataError),
        (lambda: ngram_jsd([["a"]], [["a"]], 1.5), ConfigError),
        (lambda: length_stats([]), DataError),
    ],
)
def test_bad_inputs_raise_textgan_error(call, error):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, TextGanError)
