"""nltk tokenisation: tokens identical to NLTKWordTokenizer's on tricky lines, random lines and the benchmark files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from nltk.tokenize import NLTKWordTokenizer

from textgan.metrics.tokenize import plain_line_tokens, tokenize_lines

SHARED = Path(__file__).resolve().parents[1] / "benchmarks" / "data"  # shipped with the repository
BENCHMARK_FILES = ["coco/train.txt", "coco/test.txt", *(f"texygen_samples/{name}.txt" for name in
                   ("seq", "maligan", "rank", "leakgan", "textgan", "mle"))]
TRICKY = ["", " ", ".", " . ", "a dog.", "a dog .", "a dog.  \t", "a dog..", "A Dog. ", "a.b", "U.S. a", "i cannot.",
          "I CANNOT go", "we're gonna go", "Gonna", "wanna go", "wanna", "gimme that.", "lemme see", "gotta go",
          "more'n that", "'tis fine", "3,36 euros", "a, b", "a dog. a cat", "x\ty", "café au lait.", "a -- b",
          "he said \"hi\".", "(a) b", "a.", "1.", "a. ", "a .\t", "whaddya want"]


def nltk_tokens(lines: list[str]) -> list[list[str]]:
    tokenizer = NLTKWordTokenizer()
    return [tokenizer.tokenize(line) for line in lines]


def test_tricky_lines_match_nltk():
    assert tokenize_lines(TRICKY, "nltk") == nltk_tokens(TRICKY)


def test_random_lines_match_nltk():
    rng = random.Random(0)
    pieces = ["a", "Dog", "cannot", "gonna", "wanna", "x1", "2", " ", "  ", "\t", ".", ",", "'", "'s", "n't", "?"]
    lines = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))) for _ in range(5000)]
    assert tokenize_lines(lines, "nltk") == nltk_tokens(lines)
    assert sum(plain_line_tokens(line) is not None for line in lines) > 500  # the fast path was exercised


def test_duplicate_lines_get_lists_of_their_own():
    first, second = tokenize_lines(["a dog.", "a dog."], "nltk")
    first.append("x")
    assert second == ["a", "dog", "."]


@pytest.mark.parametrize("name", BENCHMARK_FILES)
def test_benchmark_files_match_nltk(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not here (benchmark data)")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert tokenize_lines(lines, "nltk") == nltk_tokens(lines)
