"""MLE training end to end: run directory contents, sampling, determinism, exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file

from textgan import api
from textgan.cli import main

from conftest import reply_nll_by_hand, tiny_config


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
    assert sum(r == "how are you ? → fine thanks ." for r in replies) >= 2  # the prompt, then the reply


@pytest.mark.parametrize("include_prompt", [False, True])
def test_dialogue_loss_and_validation_nll_score_the_reply(tmp_path, dialogue_corpus, include_prompt):
    # The convention for prompt -> reply data: the loss and every NLL count the reply only;
    # train.nll_include_prompt=true counts the prompt too.
    import copy

    from textgan.checkpoint import RunDirectory
    from textgan.models import build_generator
    from textgan.training.mle import MLETrainer, mle_epoch
    from textgan.training.runtime import make_runtime

    cfg = tiny_config(dialogue_corpus, **{"data.prompt_field": "prompt", "data.reply_field": "reply",
                                          "tokenizer.max_length": 14, "train.batch_size": 64,
                                          "train.nll_include_prompt": include_prompt})
    data = api.build_data(cfg)
    tok = data.tokenizer
    torch.manual_seed(0)
    generator = build_generator(cfg.model, tok.vocab_size, 14, tok.bos_id, tok.eos_id, tok.pad_id)
    trainer = MLETrainer(cfg, RunDirectory(tmp_path / "run"), make_runtime("cpu", "fp32"), data, generator)
    before = copy.deepcopy(generator)
    assert trainer.steps_per_epoch == 1  # the epoch's training NLL is that of the weights before it
    train_nll = mle_epoch(trainer, trainer.stepper, trainer.scheduler)
    assert train_nll == pytest.approx(reply_nll_by_hand(before, data.train, include_prompt), rel=1e-5)
    trainer.end_of_epoch(train_nll)
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    expected = reply_nll_by_hand(trainer.generator, data.validation, include_prompt)
    assert record["val_nll"] == pytest.approx(expected, rel=1e-5)
    other = reply_nll_by_hand(trainer.generator, data.validation, not include_prompt)
    assert abs(expected - other) > 1e-3 * expected  # the two rules are told apart at the tolerance above


def test_same_seed_gives_identical_metrics(tmp_path, txt_corpus):
    for name in ("a", "b"):
        api.train(tiny_config(txt_corpus, **{"model.dropout": 0.1}), tmp_path / name)
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == (tmp_path / "b" / "metrics.jsonl").read_text()


SMALL_D = ["--set", "discriminator.embedding_dim=8", "--set", "discriminator.filter_sizes=[2, 3]",
           "--set", "discriminator.num_filters=[6, 6]"]
# Per trainer: enough steps that a kill lands mid-run, dropout on (its masks must resume too).
KILLED_RUNS = {
    "mle": [],
    "vae": ["--trainer", "vae", "--set", "vae.latent_dim=4"],
    "gan": ["--trainer", "gan", *SMALL_D, "--set", "gan.noise_dim=8", "--set", "gan.hidden_dim=8",
            "--set", "gan.d_steps=2", "--set", "gan.eval_every=5", "--set", "gan.instance_noise=0.1"],
    "seqgan": ["--trainer", "seqgan", "--epochs", "1", *SMALL_D, "--set", "seqgan.pretrain_d_steps=4",
               "--set", "seqgan.adversarial_rounds=8", "--set", "seqgan.rollout_count=2",
               "--set", "seqgan.d_samples=32", "--set", "seqgan.instance_noise=0.2", "--set", "seqgan.eval_every=3"],
    "gumbel": ["--trainer", "gumbel", "--epochs", "1", *SMALL_D, "--set", "discriminator.representations=2",
               "--set", "model.kind=relational_memory", "--set", "model.hidden_dim=16", "--set", "model.num_heads=2",
               "--set", "gumbel.adversarial_steps=8", "--set", "gumbel.d_steps=2", "--set", "gumbel.eval_every=3"],
    "cot": ["--trainer", "cot", "--set", "cot.pretrain_epochs=1", "--set", "cot.steps=8", "--set", "cot.eval_every=3"],
    "scratchgan": ["--trainer", "scratchgan", "--set", "scratchgan.steps=40", "--set", "scratchgan.eval_every=7",
                   "--set", "scratchgan.d_hidden_dim=16", "--set", "scratchgan.d_embedding_dim=8"],
    "gad": ["--trainer", "gad", *SMALL_D, "--set", "gad.pretrain_epochs=1", "--set", "gad.steps=12",
            "--set", "gad.eval_every=5", "--set", "gad.inner_epochs=2", "--set", "gad.prefix_tokens=2"],
}
KILLED_RUNS["maligan"] = ["--trainer", "maligan", *KILLED_RUNS["seqgan"][2:]]
KILLED_RUNS["rankgan"] = ["--trainer", "rankgan", *KILLED_RUNS["seqgan"][2:], "--set", "rankgan.reference_size=8",
                          "--set", "rankgan.comparison_size=8", "--set", "seqgan.baseline=true"]
KILLED_RUNS["leakgan"] = ["--trainer", "leakgan", *KILLED_RUNS["seqgan"][2:], "--set", "leakgan.mle_every=2",
                          "--set", "leakgan.mle_epochs=1", "--set", "leakgan.goal_size=4",
                          "--set", "leakgan.pretrain_rounds=2"]


def _train_command(corpus: Path, out: Path, trainer: str) -> list[str]:
    return [sys.executable, "-m", "textgan", "train", "--corpus", str(corpus), "--tokenizer", "word",
            "--epochs", "3", "--out", str(out), "--device", "cpu", "--set", "train.batch_size=8",
            "--set", "model.dropout=0.2", "--set", "train.checkpoint_every_steps=2",
            "--set", "train.keep_checkpoints=2", *KILLED_RUNS[trainer]]


def _records(run: Path) -> list[dict]:
    """metrics.jsonl's records, all but the wall-clock elapsed_s."""
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _kill_resume_and_compare(tmp_path: Path, trainer: str, killable: Callable[[Path], bool], extra: list[str]) -> dict:
    """Train `trainer` whole, and again SIGKILLed as soon as `killable(run)` holds, then resumed:
    the two end with the same weights and records. Returns the killed run's checkpoint state."""
    from conftest import tiny_lines

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_lines(400)) + "\n", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_train_command(corpus, tmp_path / "full", trainer) + extra, check=True, env=env,
                   capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(corpus, killed, trainer) + extra, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not killable(killed) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # land somewhere mid-epoch, possibly mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = api.load(killed, prefer="latest").state
    assert not state["finished"], "the run ended before it was killed; make it longer"
    subprocess.run([sys.executable, "-m", "textgan", "train", "--out", str(killed), "--resume"],
                   check=True, env=env, capture_output=True)

    latest = lambda run: api.load(run, prefer="latest").path
    files = sorted(p.name for p in latest(tmp_path / "full").glob("*.safetensors"))
    assert files == sorted(p.name for p in latest(killed).glob("*.safetensors"))
    for file in files:  # generator, and discriminator / rollout network where there are
        a, b = load_file(str(latest(tmp_path / "full") / file)), load_file(str(latest(killed) / file))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), file
    assert _records(tmp_path / "full") == _records(killed)
    return state


@pytest.mark.parametrize("trainer", list(KILLED_RUNS))
def test_sigkill_then_resume_is_bit_identical(tmp_path, trainer):
    _kill_resume_and_compare(tmp_path, trainer, lambda run: (run / "checkpoints" / "latest").exists(), [])


# The trainers' last phase, its name and the longer schedule that a kill lands in.
LAST_PHASE = {"seqgan": ("adversarial", ["--set", "seqgan.adversarial_rounds=16"]),
              "gumbel": ("adversarial", ["--set", "gumbel.adversarial_steps=24"]),
              "cot": ("cooperative", ["--set", "cot.steps=24"])}
for _name in ("maligan", "rankgan", "leakgan"):
    LAST_PHASE[_name] = LAST_PHASE["seqgan"]


@pytest.mark.parametrize("trainer", list(LAST_PHASE))
def test_sigkill_in_the_adversarial_phase_then_resume_is_bit_identical(tmp_path, trainer):
    """Killed once three records of the last phase are written: its checkpoint (every 2 steps,
    each written after its step's record) then holds some of that phase's steps."""
    phase, extra = LAST_PHASE[trainer]

    def in_phase(run: Path) -> bool:
        metrics = run / "metrics.jsonl"
        lines = metrics.read_text(encoding="utf-8").splitlines() if metrics.is_file() else []
        return sum(f'"phase": "{phase}"' in line for line in lines[:-1]) >= 3  # the last line may be partial

    state = _kill_resume_and_compare(tmp_path, trainer, in_phase, extra)
    assert state["extra"]["phase"] == phase and state["step"] > 0


def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    """What torchrun and batch schedulers send before stopping a job: a checkpoint, one line, exit 2."""
    from conftest import tiny_lines

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(tiny_lines(400)) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    command = _train_command(corpus, run, "mle")
    command[command.index("--epochs") + 1] = "50"
    proc = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "latest").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("textgan: error: interrupted at step ") and f"textgan train --out {run} --resume" in line, err
    step = int(line.split("interrupted at step ")[1].split(";")[0])
    state = api.load(run, prefer="latest").state
    assert state["step"] == step and not state["finished"]


TIME_LIMITED = {
    "mle": {},
    "vae": {"vae.latent_dim": 4},
    "gan": {"gan.noise_dim": 8, "gan.hidden_dim": 8, "discriminator.embedding_dim": 8,
            "discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [6, 6]},
    "seqgan": {"discriminator.embedding_dim": 8, "discriminator.filter_sizes": [2, 3],
               "discriminator.num_filters": [6, 6], "seqgan.pretrain_d_steps": 2, "seqgan.d_samples": 32,
               "seqgan.rollout_count": 2},
    "gumbel": {"discriminator.embedding_dim": 8, "discriminator.filter_sizes": [2, 3],
               "discriminator.num_filters": [6, 6], "gumbel.adversarial_steps": 10_000},
    "cot": {"cot.steps": 10_000},
    "scratchgan": {"scratchgan.steps": 10_000, "scratchgan.d_hidden_dim": 8, "scratchgan.d_layer_norm": False},
    "gad": {"gad.steps": 10_000, "gad.pretrain_epochs": 1, "discriminator.embedding_dim": 8,
            "discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [6, 6]},
}
TIME_LIMITED["leakgan"] = TIME_LIMITED["seqgan"]


@pytest.mark.parametrize("trainer", list(TIME_LIMITED))
def test_time_limit_stops_every_trainer_and_counts_resumed_sessions(tmp_path, txt_corpus, trainer):
    from textgan.checkpoint import RunDirectory, read_state

    def state() -> dict:
        return read_state(RunDirectory(tmp_path / "run", write=False).pointed("latest"))

    cfg = tiny_config(txt_corpus, **{"train.trainer": trainer, "train.epochs": 10_000, "train.patience": 0,
                                     "seqgan.adversarial_rounds": 10_000, "train.time_limit_minutes": 0.01,
                                     **TIME_LIMITED[trainer]})
    started = time.monotonic()
    api.train(cfg, tmp_path / "run")
    assert time.monotonic() - started < 30
    first = state()
    # the budget ended it: spent, or, where the plan refuses a step that would overrun it (staged
    # trainers), within one step of it
    assert first["finished"] and first["train_seconds"] >= 0.3 and first["step"] > 0
    api.train(cfg, tmp_path / "run", resume=True)  # the budget is spent: nothing more is trained
    assert state()["step"] == first["step"]
    cfg.train.time_limit_minutes = 0.02
    api.train(cfg, tmp_path / "run", resume=True)  # a larger budget: training continues to it
    second = state()
    assert second["step"] > first["step"] and 0.9 <= second["train_seconds"] < first["train_seconds"] + 5
