"""Issue 24's classes of hostile or careless input, one test per class with its siblings
parametrised: each ends in one line `textgan: error: ...`, exit 2, and nothing lost.
docs/reliability.md lists the classes and names these tests."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
from pathlib import Path

import pytest
from safetensors import SafetensorError

from conftest import cli_error, tiny_config
from textgan import api
from textgan.cli import main


def error_after_progress(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """`cli_error` for a command that fails after showing progress: exit 2, no traceback, and
    the last line (the only error line) is `textgan: error: ...`; that line."""
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = err.splitlines()
    assert "Traceback" not in err and [line for line in lines if "error" in line] == lines[-1:], err
    assert lines[-1].startswith("textgan: error: "), err
    return lines[-1]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (to show that nothing was written)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def step_folder(run: Path) -> Path:
    return next(p for p in (run / "checkpoints").iterdir() if p.name.startswith("step-"))


def train_args(corpus: Path, out: Path | str, *extra: str) -> list[str]:
    return ["train", "--corpus", str(corpus), "--tokenizer", "word", "--epochs", "1", "--out", str(out),
            "--device", "cpu", "--max-length", "10", "--set", "model.hidden_dim=8", "--set", "model.embedding_dim=8",
            *extra]


# ------------------------------------------------------------------ a run's own files, damaged


def _empty(path: Path) -> None:
    path.write_text("", encoding="utf-8")


def _text(path: Path) -> None:
    path.write_text("this is not what textgan wrote\n", encoding="utf-8")


def _list(path: Path) -> None:
    path.write_text("- a\n- b\n", encoding="utf-8")


@pytest.mark.parametrize("name, damage, message", [
    ("config.yaml", _empty, "config.yaml is damaged (empty"),
    ("config.yaml", _list, "config.yaml is damaged (a YAML list"),
    ("config.yaml", lambda p: p.write_text("train:\n  epochs: [1\n", encoding="utf-8"),
     "config.yaml is damaged (it has a YAML syntax error at line 3"),
    ("corpus.json", _text, "corpus.json is damaged (not valid JSON"),
    ("STEP/checkpoint.json", _text, "checkpoint.json is damaged (not valid JSON"),
    ("STEP/checkpoint.json", lambda p: p.write_text("[1]", encoding="utf-8"), "checkpoint.json is damaged (a JSON list"),
    ("STEP/config.json", _text, "config.json is damaged (not valid JSON"),
    ("STEP/tokenizer.json", _text, "tokenizer.json is corrupt"),
    ("STEP/tokenizer_config.json", _text, "tokenizer_config.json is damaged"),
    ("STEP/textgan.yaml", _empty, "textgan.yaml is damaged (empty"),
])
def test_damaged_run_files_are_refused_naming_the_file_and_nothing_is_written(
        trained_run_copy, capsys, name, damage, message):
    run = trained_run_copy
    path = run / name.replace("STEP", f"checkpoints/{step_folder(run).name}")
    damage(path)
    before = snapshot(run)
    err = cli_error(["train", "--out", str(run), "--resume", "--set", "train.epochs=2"], capsys)
    assert message in err and str(path) in err
    if name.startswith("STEP/"):  # a checkpoint's files are read by sample too
        assert message in cli_error(["sample", str(run), "-n", "1"], capsys)
    assert snapshot(run) == before


def test_a_torn_last_metrics_record_is_dropped_with_a_notice(tmp_path, txt_corpus, caplog):
    cfg = tiny_config(txt_corpus, **{"train.epochs": 1})
    api.train(cfg, tmp_path / "run")
    metrics = tmp_path / "run" / "metrics.jsonl"
    whole = metrics.read_text(encoding="utf-8")
    metrics.write_text(whole + '{"step": 99, "lo', encoding="utf-8")  # a kill during a write
    with caplog.at_level(logging.WARNING, logger="textgan.io"):
        result = api.train(tiny_config(txt_corpus, **{"train.epochs": 2}), tmp_path / "run", resume=True)
    assert "the last line" in caplog.text and "dropped" in caplog.text
    records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()]
    assert records[: len(whole.splitlines())] == [json.loads(line) for line in whole.splitlines()]
    assert result.metrics and max(r["epoch"] for r in records if "epoch" in r) == 2


# ------------------------------------------------------------------ outputs landing on a run


@pytest.mark.parametrize("command", [
    ["sample", "RUN", "-n", "2", "--out", "STEP/model.safetensors"],
    ["sample", "RUN", "-n", "2", "--out", "RUN/samples.txt"],
    ["sample", "RUN", "-n", "2", "--out", "RUN"],
    ["compare", "RUN", "--out", "RUN", "-n", "5", "--temperatures", "1"],
    ["compare", "RUN", "--out", "RUN/report", "-n", "5", "--temperatures", "1"],
    ["export", "RUN", "--out", "STEP/exported"],
    ["train", "--corpus", "CORPUS", "--out", "RUN/inner", "--epochs", "1"],
])
def test_no_command_writes_inside_a_run_directory(trained_run_copy, txt_corpus, capsys, command):
    run = trained_run_copy
    step = run / "checkpoints" / step_folder(run).name
    args = [a.replace("STEP", str(step)).replace("RUN", str(run)).replace("CORPUS", str(txt_corpus)) for a in command]
    before = snapshot(run)
    err = cli_error(args, capsys)
    assert "the run" in err and "write them outside it" in err
    assert snapshot(run) == before


# ------------------------------------------------------------------ the file system says no


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


@pytest.mark.parametrize("where, target", [
    ("new train", "pathlib.Path.mkdir"),  # the run folder: the first write of a new run
    ("sample --out", "textgan.io.tempfile.mkstemp"),
    ("compare --out", "textgan.io.tempfile.mkstemp"),
    ("export --out", "textgan.io.tempfile.mkdtemp"),
    ("evaluate", "textgan.io.tempfile.mkstemp"),
    ("train --resume", "textgan.io.tempfile.mkstemp"),
])
def test_a_read_only_file_system_ends_in_one_line(trained_run_copy, tmp_path, txt_corpus, capsys, monkeypatch,
                                                   where, target):
    run = trained_run_copy
    commands = {
        "new train": train_args(txt_corpus, tmp_path / "new" / "run"),
        "sample --out": ["sample", str(run), "-n", "2", "--out", str(tmp_path / "s.txt")],
        "compare --out": ["compare", str(run), "--out", str(tmp_path / "report"), "-n", "5", "--temperatures", "1"],
        "export --out": ["export", str(run), "--out", str(tmp_path / "hf")],
        "evaluate": ["evaluate", str(run), "-n", "5", "--temperatures", "1"],
        "train --resume": ["train", "--out", str(run), "--resume", "--set", "train.epochs=2"],
    }
    if where == "export --out":  # export takes transformer runs
        api.train(tiny_config(txt_corpus, **{"model.kind": "transformer", "train.epochs": 1}), tmp_path / "tf")
        commands[where] = ["export", str(tmp_path / "tf"), "--out", str(tmp_path / "hf")]
    monkeypatch.setattr(target, _read_only)
    err = error_after_progress(commands[where], capsys)
    assert "the file system is read-only" in err
    assert not (tmp_path / "new").exists() and not (tmp_path / "s.txt").exists()


def test_a_full_disk_inside_safetensors_gives_the_documented_line(tmp_path, txt_corpus, monkeypatch, capsys):
    import textgan.models.base as base

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                              "message: \"No space left on device\" })")

    monkeypatch.setattr(base, "save_file", full)
    err = error_after_progress(train_args(txt_corpus, tmp_path / "run"), capsys)
    assert "the disk is full; free space or choose another --out" in err
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------ text that is not UTF-8


def test_chat_input_that_is_not_utf8_costs_one_line_not_the_conversation(tmp_path, dialogue_corpus, monkeypatch, capsys):
    cfg = tiny_config(dialogue_corpus, **{"data.prompt_field": "prompt", "data.reply_field": "reply",
                                          "train.epochs": 1, "tokenizer.max_length": 16})
    api.train(cfg, tmp_path / "run")
    stdin = io.TextIOWrapper(io.BytesIO(b"the \xff\xfe cat\nhow are you ?\n/quit\n"), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["chat", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "not valid UTF-8" in captured.err and "Traceback" not in captured.err
    assert len(captured.out.splitlines()) == 1  # the second line was answered


@pytest.mark.parametrize("out", ["", "  ", os.fsdecode(b"o\xfft")])
@pytest.mark.parametrize("command", ["train", "sample", "export", "compare"])
def test_output_names_that_are_empty_or_not_utf8_are_refused_before_anything_runs(
        trained_run, tmp_path, txt_corpus, capsys, monkeypatch, out, command):
    monkeypatch.chdir(tmp_path)
    args = {"train": train_args(txt_corpus, out), "sample": ["sample", str(trained_run), "--out", out],
            "export": ["export", str(trained_run), "--out", out], "compare": ["compare", str(trained_run), "--out", out]}
    err = cli_error(args[command], capsys)
    assert "is empty" in err or "is not valid UTF-8" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


# ------------------------------------------------------------------ sizes that cannot fit


def test_sizes_that_cannot_fit_are_refused_before_allocating(trained_run, tmp_path, txt_corpus, capsys, monkeypatch):
    import textgan.models.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda device: 2 * 10**9)
    err = cli_error(train_args(txt_corpus, tmp_path / "run", "--max-length", "1000000"), capsys)
    assert "a training batch of 64 rows of 1,000,000 tokens needs at least" in err and "tokenizer.max_length" in err
    assert not (tmp_path / "run").exists()
    assert "lower -n" in cli_error(["sample", str(trained_run), "-n", "1000000000"], capsys)
    assert "lower -n" in cli_error(["evaluate", str(trained_run), "-n", "1000000000", "--temperatures", "1"], capsys)


def test_samples_drawn_in_chunks_are_the_rows_of_one_call(trained_run, monkeypatch):
    whole = api.sample(trained_run, n=10, seed=3)
    monkeypatch.setattr(api, "SAMPLE_CHUNK", 3)
    assert api.sample(trained_run, n=10, seed=3) == whole


# ------------------------------------------------------------------ silent accepts, dead ends


def test_duplicate_yaml_keys_are_refused(tmp_path, capsys):
    preset = tmp_path / "preset.yaml"
    preset.write_text("train:\n  epochs: 1\n  epochs: 3\n", encoding="utf-8")
    err = cli_error(["config", "--config", str(preset)], capsys)
    assert "key 'epochs' is given twice (lines 2 and 3)" in err


@pytest.mark.parametrize("device", ["tpu", "cuda:7", "gpu"])
def test_sample_refuses_a_device_train_refuses(trained_run, capsys, device):
    assert "--device must be one of auto, cpu, cuda, mps" in cli_error(["sample", str(trained_run), "--device", device], capsys)


def test_init_from_a_model_folder_without_a_tokenizer_is_refused(tmp_path, tiny_pretrained, txt_corpus, capsys):
    import shutil

    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_pretrained / name, folder / name)
    err = cli_error(train_args(txt_corpus, tmp_path / "run", "--init-from", str(folder)), capsys)
    assert "is a folder without a tokenizer" in err
    assert not (tmp_path / "run").exists()


def test_rankgan_sets_larger_than_the_data_are_refused(tmp_path, txt_corpus, capsys):
    err = error_after_progress(train_args(txt_corpus, tmp_path / "run", "--trainer", "rankgan",
                                          "--set", "discriminator.filter_sizes=[2,3]",
                                          "--set", "discriminator.num_filters=[4,4]",
                                          "--set", "rankgan.reference_size=100000"), capsys)
    assert "rankgan.reference_size=100000 exceeds the" in err and "training rows" in err


def test_a_run_that_stopped_before_its_first_checkpoint_is_restarted_by_resume(tmp_path, txt_corpus, capsys):
    run = tmp_path / "run"
    reference = tmp_path / "reference"
    assert main(train_args(txt_corpus, reference)) == 0
    assert main(train_args(txt_corpus, run)) == 0
    import shutil

    shutil.rmtree(run / "checkpoints")  # what a crash before the first checkpoint leaves
    capsys.readouterr()
    err = cli_error(train_args(txt_corpus, run), capsys)
    assert "stopped before its first checkpoint" in err and "--resume starts it again" in err
    assert "stopped before the first one" in cli_error(["sample", str(run)], capsys)
    assert main(["train", "--out", str(run), "--resume"]) == 0
    same = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    expected = [json.loads(line) for line in (reference / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    drop = ("elapsed_s", "seconds", "tokens_per_s", "examples_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in same] == \
        [{k: v for k, v in r.items() if k not in drop} for r in expected]


@pytest.mark.parametrize("command", [
    ["train", "--out", "OUT"], ["sample", "RUN"], ["chat", "RUN"], ["evaluate", "RUN"], ["compare", "RUN", "--out", "OUT"],
    ["demo", "--out", "OUT"],
])
@pytest.mark.parametrize("seed", ["-5", str(2**32), "9223372036854775807"])
def test_one_seed_rule_for_every_command(trained_run, tmp_path, capsys, command, seed):
    args = [a.replace("RUN", str(trained_run)).replace("OUT", str(tmp_path / "out")) for a in command]
    err = cli_error([*args, "--seed", seed], capsys)
    assert "argument --seed: expects a whole number in 0..4294967295" in err


# ------------------------------------------------------------------ messages that mislead


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("case", [
    "config folder", "hypotheses folder", "fifo corpus", "csv line", "prompt field on txt", "reply field on txt",
    "validation file", "sample out folder", "sample checkpoints folder", "demo nan", "help pointer",
])
def test_messages_name_the_right_cause_and_fix(trained_run, tmp_path, txt_corpus, capsys, case):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("text,label\na b,1\nc d,2,3\n", encoding="utf-8")
    cases = {
        "config folder": (["config", "--config", str(tmp_path)], "is a folder; pass a YAML file"),
        "hypotheses folder": (["evaluate", "--hypotheses", str(tmp_path), "--references", str(txt_corpus)],
                              "--hypotheses " + str(tmp_path) + " is a folder"),
        "fifo corpus": (train_args(_fifo(tmp_path) if case == "fifo corpus" else txt_corpus, tmp_path / "run"),
                        "is not a regular file (a pipe"),
        "csv line": (train_args(csv_file, tmp_path / "run"), "line 3 has 3 fields but the header has 2"),
        "prompt field on txt": (train_args(txt_corpus, tmp_path / "run", "--set", "data.prompt_field=q",
                                           "--set", "data.reply_field=text"), "need a .jsonl or .csv file"),
        "reply field on txt": (train_args(txt_corpus, tmp_path / "run", "--set", "data.prompt_field=text",
                                          "--set", "data.reply_field=a"), "need a .jsonl or .csv file"),
        "validation file": (train_args(txt_corpus, tmp_path / "run", "--set", f"data.validation_file={tmp_path / 'v.txt'}"),
                            "data.validation_file " + str(tmp_path / "v.txt") + " not found"),
        "sample out folder": (["sample", str(trained_run), "--out", str(tmp_path)], "is a folder; pass a file path"),
        "sample checkpoints folder": (["sample", str(tmp_path / "missing" / "checkpoints")], "not found"),
        "demo nan": (["demo", "--minutes", "nan", "--out", str(tmp_path / "demo")],
                     "--minutes must be a finite number > 0, got nan"),
        "help pointer": (["--bogus"], "(see textgan --help)"),
    }
    args, message = cases[case]
    err = cli_error(args, capsys)
    assert message in err, err
    assert "free space" not in err and "textgan textgan" not in err and "seqgan." not in err
    assert not (tmp_path / "run").exists()


def test_sample_of_a_runs_checkpoints_folder_samples_the_run(trained_run):
    assert api.sample(trained_run / "checkpoints", n=2) == api.sample(trained_run, n=2)


def test_a_checkpoint_removed_by_rotation_while_read_is_passed_over(trained_run_copy, monkeypatch):
    import shutil

    import textgan.checkpoint as checkpoint

    run = trained_run_copy
    newest = step_folder(run)
    older = newest.with_name("step-00000000")
    shutil.copytree(newest, older)
    (run / "checkpoints" / "best").write_text(older.name + "\n", encoding="utf-8")
    real = checkpoint.load_checkpoint
    calls = []

    def rotating(path):
        calls.append(Path(path).name)
        if Path(path) == older and len(calls) == 1:  # rotation removes it in the middle of the read
            shutil.rmtree(older)
        return real(path)

    monkeypatch.setattr(api, "load_checkpoint", rotating)
    assert api.load(run).path == newest
    assert calls == [older.name, newest.name]
