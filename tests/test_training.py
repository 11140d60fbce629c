"""MLE training end to end: run directory contents, sampling, determinism, exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from textgan import api
from textgan.cli import main

from conftest import tiny_config


@pytest.mark.parametrize("model, tokenizer", [("lstm", "word"), ("transformer", "char"), ("lstm", "bpe")])
def test_train_writes_a_complete_run(tmp_path, txt_corpus, model, tokenizer):
    cfg = tiny_config(txt_corpus, **{"model.kind": model, "tokenizer.kind": tokenizer,
                                     "tokenizer.max_length": 40 if tokenizer != "word" else 10})
    result = api.train(cfg, tmp_path / "run")
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert {"step", "epoch", "phase", "train_nll", "val_nll", "val_ppl"} <= set(records[0])
    assert records[1]["val_nll"] < records[0]["val_nll"] + 0.5
    assert (run / "config.yaml").is_file() and (run / "samples" / "final.txt").is_file()
    best = api.load(run)
    assert {"config.json", "model.safetensors", "tokenizer.json", "trainer_state.pt"} <= {
        p.name for p in best.path.iterdir()}
    assert len(result.samples) == 3
    lines = api.sample(run, n=4, temperature=0.8, top_k=5, seed=1)
    assert lines == api.sample(run, n=4, temperature=0.8, top_k=5, seed=1) and len(lines) == 4


def test_jsonl_corpus_with_text_field(tmp_path, jsonl_corpus):
    cfg = tiny_config(jsonl_corpus, **{"data.text_field": "body", "train.epochs": 1})
    api.train(cfg, tmp_path / "run")
    assert api.sample(tmp_path / "run", n=2)


def test_dialogue_model_answers_a_prompt(tmp_path, dialogue_corpus, capsys):
    cfg = tiny_config(dialogue_corpus, **{"data.prompt_field": "prompt", "data.reply_field": "reply",
                                          "train.epochs": 25, "train.learning_rate": 0.02,
                                          "tokenizer.max_length": 12})
    api.train(cfg, tmp_path / "run")
    code = main(["sample", str(tmp_path / "run"), "-n", "3", "--prompt", "how are you ?", "--temperature", "0.2"])
    assert code == 0
    replies = capsys.readouterr().out.strip().splitlines()
    assert len(replies) == 3 and all(r.strip() for r in replies)
    assert sum(r == "fine thanks ." for r in replies) >= 2


def test_same_seed_gives_identical_metrics(tmp_path, txt_corpus):
    for name in ("a", "b"):
        api.train(tiny_config(txt_corpus, **{"model.dropout": 0.1}), tmp_path / name)
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == (tmp_path / "b" / "metrics.jsonl").read_text()


def _train_command(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "textgan", "train", "--corpus", str(corpus), "--tokenizer", "word",
            "--epochs", "3", "--out", str(out), "--device", "cpu", "--set", "train.batch_size=8",
            "--set", "model.dropout=0.2", "--set", "train.checkpoint_every_steps=2",
            "--set", "train.keep_checkpoints=2", *extra]


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    corpus = tmp_path / "corpus.txt"
    from conftest import tiny_lines

    corpus.write_text("\n".join(tiny_lines(400)) + "\n", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_train_command(corpus, tmp_path / "full"), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(corpus, killed), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoints" / "latest").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # land somewhere mid-epoch, possibly mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = api.load(killed, prefer="latest").state
    assert not state["finished"], "the run ended before it was killed; make it longer"
    subprocess.run([sys.executable, "-m", "textgan", "train", "--out", str(killed), "--resume"],
                   check=True, env=env, capture_output=True)

    final = lambda run: load_file(str(api.load(run, prefer="latest").path / "model.safetensors"))
    a, b = final(tmp_path / "full"), final(killed)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (killed / "metrics.jsonl").read_text()
