"""Every bad input a user can cause ends in one line `textgan: error: ...` and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli_error


def train_args(corpus: Path | str, out: Path, *extra: str) -> list[str]:
    return ["train", "--corpus", str(corpus), "--tokenizer", "word", "--epochs", "1", "--out", str(out),
            "--device", "cpu", "--set", "model.hidden_dim=8", "--set", "model.embedding_dim=8", *extra]


@pytest.mark.parametrize("content, message", [
    (None, "not found"), (b"", "is empty"), (b"\x00\x01\x02binary", "looks binary"),
    (b"\xff\xfe bad utf8\n", "not valid UTF-8 at line 1, column 1"),
])
def test_bad_corpus(tmp_path, capsys, content, message):
    corpus = tmp_path / "corpus.txt"
    if content is not None:
        corpus.write_bytes(content)
    err = cli_error(train_args(corpus, tmp_path / "out"), capsys)
    assert message in err
    assert not (tmp_path / "out" / "metrics.jsonl").exists()


def test_jsonl_without_field(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"body": "a b c"}) + "\n", encoding="utf-8")
    assert "no field 'text'" in cli_error(train_args(corpus, tmp_path / "out"), capsys)


@pytest.mark.parametrize("rows, message", [
    ('{"text": "a b"}\n{"text": "c', "line 2 is not valid JSON"),  # a partial last line
    ('{"text": "a b"}\n{"text": 7}\n', "line 2: field 'text' holds 7 (int), not text"),
    ('{"text": "a b"}\n{"text": ["c"]}\n', "line 2: field 'text' holds [\"c\"] (list), not text"),
    ('{"text": "a b"}\n\n{"text": 7}\n', "line 2 is blank"),
])
def test_malformed_jsonl_rows_are_named_in_one_line(tmp_path, capfd, rows, message):
    """One line naming the row: datasets' own error log lines do not reach the terminal."""
    from textgan.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(rows, encoding="utf-8")
    assert main(train_args(corpus, tmp_path / "out")) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("textgan: error: "), err
    assert message in err


def test_a_split_mostly_longer_than_max_length_is_refused(tmp_path, txt_corpus, capsys):
    err = cli_error(train_args(txt_corpus, tmp_path / "out", "--max-length", "4"), capsys)
    assert "train examples" in err and "would be dropped" in err and "--max-length N" in err


@pytest.mark.parametrize("flags, message", [
    (["--model", "gru"], "model.kind must be one of"),
    (["--tokenizer", "spm"], "tokenizer.kind must be one of"),
    (["--set", "train.nonsense=1"], "unknown config key"),
    (["--set", "train.batch_size=big"], "expects a whole number"),
    (["--epochs", "0"], "train.epochs must be >= 1"),
    (["--set", "sample.temperature=-1"], "sample.temperature must be > 0"),
    (["--set", "sample.top_p=0"], "sample.top_p must be in"),
])
def test_bad_config_values(tmp_path, txt_corpus, capsys, flags, message):
    args = train_args(txt_corpus, tmp_path / "out")
    if flags[0] in ("--model", "--tokenizer", "--epochs"):
        i = args.index(flags[0]) if flags[0] in args else None
        if i is not None:
            del args[i : i + 2]
    assert message in cli_error(args + flags, capsys)
    assert not (tmp_path / "out").exists()


def test_unknown_config_key_in_yaml(tmp_path, txt_corpus, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text("train:\n  epoks: 3\n", encoding="utf-8")
    assert "unknown config key 'train.epoks'" in cli_error(train_args(txt_corpus, tmp_path / "o", "--config", str(preset)), capsys)


@pytest.mark.parametrize("flags, message", [
    (["--temperature", "0"], "temperature must be > 0"),
    (["--temperature", "nan"], "temperature must be > 0 and finite"),
    (["--temperature", "inf"], "temperature must be > 0 and finite"),
    (["--temperature", "-1"], "temperature must be > 0"),
    (["--top-p", "nan"], "top-p must be in (0, 1]"),
    (["--top-p", "-0.5"], "top-p must be in (0, 1]"),
    (["--top-k", "-1"], "top-k must be >= 0"),
    (["-n", "0"], "-n must be >= 1"),
    (["--top-p", "1.5"], "top-p must be in (0, 1]"),
    (["--top-p", "0"], "top-p must be in (0, 1]"),
    (["--prompt", "zebra"], "unknown to this model's tokenizer"),
    (["--prompt", " ".join(["cat"] * 40)], "shorten the prompt"),
])
def test_bad_sample_options(trained_run, tmp_path, capsys, flags, message):
    out = tmp_path / "samples.txt"
    assert message in cli_error(["sample", str(trained_run), "--out", str(out), *flags], capsys)
    assert not out.exists()


def test_run_without_checkpoint(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "holds no checkpoint" in cli_error(["sample", str(tmp_path / "empty")], capsys)
    assert "not found" in cli_error(["sample", str(tmp_path / "missing")], capsys)


def test_checkpoint_with_foreign_tokenizer(checkpoint_copy, capsys):
    tokenizer = json.loads((checkpoint_copy / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    a, b = sorted(k for k in vocab if not k.startswith("<"))[:2]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (checkpoint_copy / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    assert "belongs to another run" in cli_error(["sample", str(checkpoint_copy)], capsys)


def test_existing_run_needs_resume(trained_run_copy, txt_corpus, capsys):
    assert "--resume" in cli_error(train_args(txt_corpus, trained_run_copy), capsys)


def test_resume_with_changed_model_is_refused(trained_run_copy, capsys):
    err = cli_error(["train", "--out", str(trained_run_copy), "--resume", "--set", "model.hidden_dim=64"], capsys)
    assert "model.hidden_dim" in err


def test_usage_errors_are_one_line(capsys):
    assert "textgan: error:" in cli_error(["train"], capsys)
