"""Run directories as a hostile or hurried user meets them: --out that is a file or someone
else's folder, two trainings at once, damaged pointers, finished runs, interrupted runs, and
what the command prints (progress lines, prompts, sampling defaults)."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from conftest import cli_error, tiny_config
from textgan import api
from textgan.checkpoint import STATE_FILE, RunDirectory, fresh_run_path
from textgan.cli import main
from textgan.config import new_config
from textgan.data.encoding import show_sample
from textgan.io import FolderLockedError, folder_lock
from textgan.models import build_generator
from textgan.models.cnn_discriminator import build_discriminator
from textgan.models.memory import check_fits_in_memory, generator_parameters, textcnn_parameters
from textgan.progress import LineProgress, progress


def train_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--corpus", str(corpus), "--tokenizer", "word", "--epochs", "1", "--out", str(out),
            "--device", "cpu", "--set", "model.hidden_dim=8", "--set", "model.embedding_dim=8", *extra]


# ------------------------------------------------------------------------- --out


def test_out_naming_a_file_is_refused_and_the_file_kept(tmp_path, txt_corpus, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("precious", encoding="utf-8")
    assert "is an existing file" in cli_error(train_args(txt_corpus, target), capsys)
    assert "is an existing file" in cli_error(["train", "--out", str(target), "--resume"], capsys)
    assert target.read_text(encoding="utf-8") == "precious"


def test_out_into_a_folder_of_other_files_is_refused(tmp_path, txt_corpus, capsys):
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "thesis.tex").write_text("chapter 1", encoding="utf-8")
    err = cli_error(train_args(txt_corpus, folder), capsys)
    assert "is a folder of other files (thesis.tex), not a run directory" in err
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]


def test_out_into_an_empty_folder_trains(tmp_path, txt_corpus, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    assert main(train_args(txt_corpus, folder)) == 0
    assert (folder / "metrics.jsonl").is_file()


def test_a_failed_start_leaves_no_folder_behind(tmp_path, capsys):
    cli_error(train_args(tmp_path / "missing.txt", tmp_path / "out"), capsys)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------- lock


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from textgan.io import folder_lock
    with folder_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
""")


def test_a_second_training_into_a_locked_run_is_refused_naming_the_pid(tmp_path, txt_corpus, capsys):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        err = cli_error(train_args(txt_corpus, run), capsys)
        assert f"is in use by another textgan process (pid {holder.pid})" in err
        assert not (run / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder died without unlocking: its lock is taken over
    assert main(train_args(txt_corpus, run)) == 0


def test_the_lock_is_exclusive_and_released(tmp_path):
    with folder_lock(tmp_path / "run"):
        with pytest.raises(FolderLockedError, match=f"pid {os.getpid()}"):
            with folder_lock(tmp_path / "run"):
                pass
    with folder_lock(tmp_path / "run"):  # released on exit
        pass


def test_a_file_system_without_flock_trains_unlocked_with_a_warning(tmp_path, monkeypatch, caplog):
    import fcntl

    def unsupported(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    with caplog.at_level(logging.WARNING, logger="textgan.io"), folder_lock(tmp_path / "run"):
        pass
    assert "cannot lock" in caplog.text and "No locks available" in caplog.text


def test_a_stale_lock_file_of_a_dead_pid_is_taken_over(tmp_path, txt_corpus):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("999999999\n", encoding="utf-8")
    assert main(train_args(txt_corpus, run)) == 0
    assert (run / ".lock").read_text(encoding="utf-8").strip() == str(os.getpid())


# ------------------------------------------------------------------------- checkpoints


def test_a_pointer_to_a_missing_step_falls_back_to_the_newest_complete(trained_run_copy, caplog, capsys):
    newest = api.load(trained_run_copy, prefer="latest").path
    (trained_run_copy / "checkpoints" / "latest").write_text("step-99999999\n", encoding="utf-8")
    (trained_run_copy / "checkpoints" / "best").write_text("step-99999999\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="textgan.checkpoint"):
        assert api.load(trained_run_copy).path == newest
    assert "names step-99999999, which is missing or incomplete; using " + newest.name in caplog.text
    assert main(["sample", str(trained_run_copy), "-n", "2"]) == 0


def test_a_checkpoint_without_trainer_state_says_what_is_missing(trained_run_copy, capsys):
    for folder in (trained_run_copy / "checkpoints").glob("step-*"):
        (folder / STATE_FILE).unlink()
    err = cli_error(["train", "--out", str(trained_run_copy), "--resume", "--epochs", "3"], capsys)
    assert f"cannot be resumed: {STATE_FILE} is missing" in err and "None" not in err


def test_resume_falls_back_past_a_checkpoint_without_state(tmp_path, txt_corpus, caplog):
    run = tmp_path / "run"
    assert main(train_args(txt_corpus, run, "--epochs", "2")) == 0
    latest = RunDirectory(run).pointed("latest")
    (latest / STATE_FILE).unlink()
    with caplog.at_level(logging.WARNING, logger="textgan.checkpoint"):
        assert main(["train", "--out", str(run), "--resume", "--epochs", "3"]) == 0
    assert "newest complete checkpoint" in caplog.text


def test_resume_of_a_finished_run_says_which_key_extends_it(trained_run_copy, capsys):
    before = (trained_run_copy / "metrics.jsonl").read_text(encoding="utf-8")
    assert main(["train", "--out", str(trained_run_copy), "--resume"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"textgan: {trained_run_copy} is finished") and "--set train.epochs=N" in err, err
    assert len(err.splitlines()) == 1
    assert (trained_run_copy / "metrics.jsonl").read_text(encoding="utf-8") == before
    # and the advice works
    assert main(["train", "--resume", str(trained_run_copy), "--set", "train.epochs=2"]) == 0
    assert json.loads((trained_run_copy / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 2


def test_resume_run_form_and_conflicting_out(trained_run_copy, tmp_path, capsys):
    assert "name different runs" in cli_error(["train", "--resume", str(trained_run_copy), "--out", str(tmp_path / "x")], capsys)
    assert "required: --out" in cli_error(["train", "--corpus", "poems"], capsys)


# ------------------------------------------------------------------------- memory


@pytest.mark.parametrize("kind, sizes", [
    ("lstm", {"embedding_dim": 6, "hidden_dim": 10, "num_layers": 1}),
    ("lstm", {"embedding_dim": 6, "hidden_dim": 10, "num_layers": 3}),
    ("transformer", {"embedding_dim": 8, "num_layers": 2, "num_heads": 2}),
])
def test_parameter_count_formula_matches_the_built_model(kind, sizes):
    cfg = new_config().model
    cfg.kind = kind
    for key, value in sizes.items():
        setattr(cfg, key, value)
    built = build_generator(cfg, 37, 12, 1, 2, 0)
    assert generator_parameters(cfg, 37, 12) == sum(p.numel() for p in built.parameters())


def test_textcnn_parameter_count_matches_the_built_discriminator():
    d = new_config().discriminator
    built = build_discriminator(d, 37, 24)
    assert textcnn_parameters(37, d.embedding_dim, d.filter_sizes, d.num_filters) == sum(
        p.numel() for p in built.parameters())


@pytest.mark.parametrize("key, extra", [("model.hidden_dim=1000000", []),
                                        ("discriminator.embedding_dim=100000000", ["--trainer", "seqgan"]),
                                        ("discriminator.embedding_dim=100000000", ["--trainer", "rankgan"]),
                                        ("discriminator.embedding_dim=100000000", ["--trainer", "gumbel"]),
                                        ("model.hidden_dim=1000000", ["--trainer", "cot"])])
def test_a_model_too_big_for_memory_is_refused_before_allocating(tmp_path, txt_corpus, capsys, key, extra):
    err = cli_error(train_args(txt_corpus, tmp_path / "out", "--set", key, *extra), capsys)
    assert f"lower {key.replace('=', ' (now ')}" in err and "is available on cpu" in err
    assert not (tmp_path / "out" / "metrics.jsonl").exists()
    check_fits_in_memory(new_config(), 1000, 32, torch.device("cpu"))  # the defaults fit


# ------------------------------------------------------------------------- progress


def test_progress_off_a_terminal_prints_one_line_per_epoch(tmp_path, txt_corpus, capsys):
    assert main(train_args(txt_corpus, tmp_path / "run", "--epochs", "2")) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    epochs = [line for line in err.splitlines() if line.startswith("MLE epoch")]
    assert [line.split(":")[0] for line in epochs] == ["MLE epoch 1/2", "MLE epoch 2/2"], err


def test_line_progress_every_n_updates(capsys):
    bar = progress(total=6, desc="rounds", unit="rounds", line_every=2)
    assert isinstance(bar, LineProgress)
    for _ in range(5):
        bar.update()
        bar.set_postfix(loss="0.5")
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["rounds: 2/6 rounds", "rounds: 4/6 rounds", "rounds: 5/6 rounds"]
    assert lines[-1].endswith("loss=0.5")


# ------------------------------------------------------------------------- sampling


def test_sample_defaults_come_from_the_run(trained_run, capsys):
    """tiny_config sets sample.num_samples=3: `textgan sample RUN` prints 3, -n overrides it."""
    assert main(["sample", str(trained_run)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["sample", str(trained_run), "-n", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_prompt_is_printed_with_its_continuation(trained_run, capsys):
    assert main(["sample", str(trained_run), "-n", "4", "--prompt", "the cat"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("the cat") for line in lines), lines


def test_dialogue_samples_show_prompt_and_reply(tmp_path, dialogue_corpus, capsys):
    cfg = tiny_config(dialogue_corpus, **{"data.prompt_field": "prompt", "data.reply_field": "reply",
                                         "tokenizer.max_length": 12, "train.epochs": 1})
    result = api.train(cfg, tmp_path / "run")
    assert all(" → " in line for line in result.samples), result.samples
    prompts = {"how are you ?", "what is your name ?", "where do you live ?"}
    assert {line.split(" → ")[0] for line in result.samples} <= prompts
    lines = api.sample(tmp_path / "run", n=2, prompt="how are you ?")
    assert all(line.startswith("how are you ? → ") for line in lines), lines
    assert all(" → " not in line for line in api.sample(tmp_path / "run", n=2, prompt="how are you ?", with_prompt=False))


def test_show_sample_splits_at_sep_only_for_prompt_reply_models(trained_run):
    tokenizer = api.load(trained_run).tokenizer
    ids = tokenizer.encode("the cat") + [tokenizer.sep_id] + tokenizer.encode("sat")
    assert show_sample(tokenizer, ids, prompted=True) == "the cat → sat"
    assert show_sample(tokenizer, ids) == "the cat sat"  # a stray <sep> of a plain-text model
    assert show_sample(tokenizer, ids, prompt_length=3) == "the cat → sat"


# ------------------------------------------------------------------------- demo folders


def test_fresh_run_paths_never_collide(tmp_path):
    first = fresh_run_path(tmp_path, "demo")
    first.mkdir()
    second = fresh_run_path(tmp_path, "demo")
    assert second != first and second.name.startswith(first.name) and not second.exists()
    assert time.strftime("%Y%m%d") in first.name


def test_a_demo_started_in_the_same_second_takes_the_next_name(tmp_path, monkeypatch, capsys):
    """Two demos racing for runs/demo-<time>: the one that finds it locked moves on to -2."""
    from textgan import checkpoint, demo

    monkeypatch.chdir(tmp_path)
    taken = Path("runs") / "demo-20260101-000000"
    names = iter([taken, taken.with_name(taken.name + "-2")])  # the clock has not moved on
    monkeypatch.setattr(checkpoint, "fresh_run_path", lambda parent, prefix: next(names))
    chosen = []
    monkeypatch.setattr(demo, "demo", lambda args, run: chosen.append(run.path) or 0)
    with folder_lock(taken):
        assert main(["demo", "--device", "cpu"]) == 0
    assert chosen == [taken.with_name(taken.name + "-2")]
