"""`textgan demo` at a tiny setting: the table, the samples, the run directory, bad options."""

from __future__ import annotations

import json
from pathlib import Path

from textgan.cli import main


def test_demo_prints_the_table_and_samples(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["demo", "--examples", "120", "--epochs", "1", "--rounds", "1", "--samples", "8", "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    (out,) = (tmp_path / "runs").iterdir()  # a new runs/demo-<time>, named in the last line
    assert out.name.startswith("demo-") and f"run directory runs/{out.name} " in printed.splitlines()[-1]
    assert "val NLL  BLEU-2  Self-BLEU-2" in printed
    for label in ("MLE (1 epochs)", "MLE, temperature 0.8", "SeqGAN (+1 rounds)"):
        assert printed.count(label) == 2  # its table row and its samples
    phases = [json.loads(line)["phase"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert phases[0] == "pretrain_g" and phases[-1] == "adversarial" and "pretrain_d" in phases
    assert main([*argv, "--out", str(out)]) == 2  # the run directory is taken now
    assert "already holds a run" in capsys.readouterr().err


def test_demo_rejects_a_bad_budget(tmp_path: Path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--minutes", "0"]) == 2
    assert capsys.readouterr().err.strip() == "textgan: error: --minutes must be a finite number > 0, got 0.0"
