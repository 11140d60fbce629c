"""Tokenisation of text lines for the metrics: plain whitespace, or nltk's word tokenizer.

``nltk`` mode uses ``NLTKWordTokenizer().tokenize``, the word tokenizer inside ``nltk.word_tokenize``
(Texygen's choice) but without its punkt sentence split, which needs a data download; the two
differ only on lines with a sentence end inside them (``"a dog. a cat"`` keeps ``dog.``).
"""

from __future__ import annotations

from collections.abc import Iterable

from textgan.errors import ConfigError, DataError

__all__ = ["TOKENIZE_MODES", "tokenize_lines"]

TOKENIZE_MODES = ("split", "nltk")
"""``split``: str.split() on whitespace; ``nltk``: nltk's NLTKWordTokenizer (Treebank rules)."""


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
    from nltk.tokenize import NLTKWordTokenizer

    tokenizer = NLTKWordTokenizer()
    out = []
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise DataError(f"line {i} is a {type(line).__name__}, not a str; decode it first")
        out.append(tokenizer.tokenize(line))
    return out
