"""Tokenisation of text lines for the metrics: plain whitespace, or nltk's word tokenizer.

``nltk`` mode uses ``NLTKWordTokenizer().tokenize``, the word tokenizer inside ``nltk.word_tokenize``
(Texygen's choice) but without its punkt sentence split, which needs a data download; the two
differ only on lines with a sentence end inside them (``"a dog. a cat"`` keeps ``dog.``).

Tokens are nltk's, computed faster: each distinct line is tokenised once, and a line made of
ASCII letters, digits, spaces and tabs, optionally ending in one period (and spaces), skips
nltk's regular expressions. On such a line no rule of NLTKWordTokenizer fires except the
final-period split and the MacIntyre contractions (``cannot``, ``gimme``, ``gonna``, ``gotta``,
``lemme``, ``wanna``; the others need an apostrophe), so its tokens are ``line.split()``, with
the period split off; lines holding one of those words go through nltk. nltk is imported only
if some line needs it. tests/test_metrics_tokenize.py checks the identity on COCO and Texygen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from textgan.errors import ConfigError, DataError

__all__ = ["TOKENIZE_MODES", "tokenize_lines"]

TOKENIZE_MODES = ("split", "nltk")
"""``split``: str.split() on whitespace; ``nltk``: nltk's NLTKWordTokenizer (Treebank rules)."""

PLAIN_LINE = re.compile(r"([A-Za-z0-9 \t]*)(\.[ \t]*)?")
"""Lines nltk tokenises as their whitespace split (and a final period split off), but for ..."""
CONTRACTION_WORDS = frozenset({"cannot", "gimme", "gonna", "gotta", "lemme", "wanna"})
"""... lines holding a word that NLTKWordTokenizer's MacIntyre contractions split (any case)."""


def plain_line_tokens(line: str) -> list[str] | None:
    """NLTKWordTokenizer's tokens of a plain line (see the module notes), None for other lines."""
    match = PLAIN_LINE.fullmatch(line)
    if match is None:
        return None
    words = match.group(1).split()
    if any(word.lower() in CONTRACTION_WORDS for word in words):
        return None
    return words + ["."] if match.group(2) else words


def tokenize_lines(lines: Iterable[str], mode: str = "split") -> list[list[str]]:
    """Split each line into tokens (``split`` or ``nltk``), so that metrics compare token lists."""
    if mode not in TOKENIZE_MODES:
        raise ConfigError(f"unknown tokenize mode {mode!r}; use one of {', '.join(TOKENIZE_MODES)}")
    if isinstance(lines, (str, bytes)):
        raise DataError("tokenize_lines takes a list of lines, got a single string; wrap it in a list")
    if mode == "split":
        out = []
        for i, line in enumerate(lines):
            if not isinstance(line, str):
                raise DataError(f"line {i} is a {type(line).__name__}, not a str; decode it first")
            out.append(line.split())
        return out
    known: dict[str, list[str]] = {}
    tokenizer = None
    out = []
    for i, line in enumerate(lines):
        tokens = known.get(line) if isinstance(line, str) else None
        if tokens is None:
            if not isinstance(line, str):
                raise DataError(f"line {i} is a {type(line).__name__}, not a str; decode it first")
            tokens = plain_line_tokens(line)
            if tokens is None:
                if tokenizer is None:
                    from nltk.tokenize import NLTKWordTokenizer

                    tokenizer = NLTKWordTokenizer()
                tokens = tokenizer.tokenize(line)
            known[line] = tokens
        out.append(list(tokens))  # a list of its own per line: callers may change one
    return out
