"""Property tests: random bytes and random Unicode either load or give the one-line error;
tokenizers round-trip what they can represent."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgan.cli import main
from textgan.config import DataConfig, TokenizerConfig
from textgan.data import build_tokenizer, read_examples
from textgan.data.tokenizer import SPECIAL_TOKENS
from textgan.errors import TextGanError

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".txt", ".jsonl", ".csv"]))
def test_random_bytes_load_or_fail_cleanly(tmp_path_factory, content, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"corpus{suffix}"
    path.write_bytes(content)
    try:
        examples = read_examples(str(path), DataConfig())
    except TextGanError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert examples and all(e.text == e.text.strip() and e.text for e in examples)


@FUZZ
@given(lines=st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=8))
def test_random_unicode_through_the_cli(tmp_path_factory, capsys, lines):
    folder = tmp_path_factory.mktemp("cli")
    corpus = folder / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": line}) + "\n" for line in lines), encoding="utf-8")
    code = main(["train", "--corpus", str(corpus), "--tokenizer", "char", "--epochs", "1", "--out",
                 str(folder / "run"), "--device", "cpu", "--set", "model.hidden_dim=4",
                 "--set", "model.embedding_dim=4", "--set", "data.validation_fraction=0",
                 "--set", "data.test_fraction=0", "--set", "sample.num_samples=1",
                 "--set", "tokenizer.overflow=truncate"])
    err = capsys.readouterr().err
    if code != 0:
        assert code == 2
        lines_out = [line for line in err.splitlines() if line.startswith("textgan: error:")]
        assert len(lines_out) == 1, err


@FUZZ
@given(texts=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                              max_size=25).filter(lambda text: not any(s in text for s in SPECIAL_TOKENS)),
                      min_size=1, max_size=10))
def test_char_tokenizer_round_trips_its_training_text(texts):
    tokenizer = build_tokenizer(texts, TokenizerConfig(kind="char"))
    for text in texts:
        assert tokenizer.decode(tokenizer.encode(text)) == text


@FUZZ
@given(words=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Z")), min_size=1,
                              max_size=8).filter(lambda word: not any(s in word for s in SPECIAL_TOKENS)),
                      min_size=1, max_size=12))
def test_word_and_bpe_tokenizers_round_trip_whitespace_separated_words(words):
    """Words holding a special token's text (<eos> ...) are read as that token: see docs/corpora.md."""
    text = " ".join(words)
    for kind in ("word", "bpe"):
        tokenizer = build_tokenizer([text], TokenizerConfig(kind=kind, vocab_size=64))
        assert tokenizer.decode(tokenizer.encode(text)) == text
