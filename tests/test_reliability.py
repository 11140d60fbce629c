"""Bad checkpoints, full disks, non-finite losses, out-of-memory, hostile files: one-line errors,
exit 2, and the previous checkpoint intact. The table in docs/reliability.md names these tests."""

from __future__ import annotations

import errno
import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from textgan import api
from textgan.errors import TextGanError

from conftest import cli_error, tiny_config


def test_truncated_weights(checkpoint_copy, capsys):
    weights = checkpoint_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert "truncated or corrupt" in cli_error(["sample", str(checkpoint_copy)], capsys)


def test_corrupt_config_json(checkpoint_copy, capsys):
    (checkpoint_copy / "config.json").write_text("{not json", encoding="utf-8")
    assert "corrupt" in cli_error(["sample", str(checkpoint_copy)], capsys)


def test_checkpoint_of_another_model_type(checkpoint_copy, capsys):
    config = json.loads((checkpoint_copy / "config.json").read_text())
    config["model_type"] = "t5"  # an encoder-decoder: no causal LM, so no generator
    (checkpoint_copy / "config.json").write_text(json.dumps(config))
    assert "not a textgan generator" in cli_error(["sample", str(checkpoint_copy)], capsys)


def test_missing_and_extra_tensors_are_named(checkpoint_copy, capsys):
    from safetensors.torch import load_file

    tensors = load_file(str(checkpoint_copy / "model.safetensors"))
    del tensors["output.bias"]
    tensors["stray.weight"] = torch.zeros(2)
    save_file(tensors, str(checkpoint_copy / "model.safetensors"))
    err = cli_error(["sample", str(checkpoint_copy)], capsys)
    assert "missing tensors output.bias" in err and "unexpected tensors stray.weight" in err


def test_hostile_pickle_is_refused(checkpoint_copy):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(checkpoint_copy / "trainer_state.pt", "wb") as handle:
        pickle.dump(Payload(), handle)
    with pytest.raises(TextGanError, match="refused|corrupt"):
        api.load(checkpoint_copy)


def test_truncated_trainer_state(checkpoint_copy):
    state = checkpoint_copy / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:50])
    with pytest.raises(TextGanError, match="truncated or corrupt"):
        api.load(checkpoint_copy)


def test_full_disk_keeps_previous_checkpoint(tmp_path, txt_corpus, monkeypatch):
    import textgan.checkpoint as checkpoint

    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", failing_save)
    with pytest.raises(TextGanError, match="disk is full"):
        api.train(tiny_config(txt_corpus, **{"train.epochs": 3}), tmp_path / "run")
    folders = list((tmp_path / "run" / "checkpoints").iterdir())
    assert not [p for p in folders if p.name.startswith(".")], "temporary folders left behind"
    first = api.load(tmp_path / "run", prefer="latest")
    assert first.state["epoch"] == 1


def test_non_finite_loss_stops_and_keeps_last_good(tmp_path, txt_corpus, monkeypatch):
    import textgan.models.base as base

    real = base.fused_linear_nll
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        value = real(*args, **kwargs)
        return value * float("nan") if calls["n"] > 7 else value

    monkeypatch.setattr(base, "fused_linear_nll", poisoned)
    cfg = tiny_config(txt_corpus, **{"train.epochs": 3, "train.checkpoint_every_steps": 2})
    with pytest.raises(TextGanError, match=r"non-finite at step 8; the last good checkpoint is .*step-00000007"):
        api.train(cfg, tmp_path / "run")
    good = api.load(tmp_path / "run", prefer="latest")
    assert all(torch.isfinite(p).all() for p in good.generator.parameters())


def test_out_of_memory_suggests_a_batch_size(tmp_path, txt_corpus, monkeypatch):
    from textgan.training.mle import MLEStepper

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(MLEStepper, "step", oom)
    with pytest.raises(TextGanError, match="retry with --batch-size 4"):
        api.train(tiny_config(txt_corpus), tmp_path / "run")


def test_yaml_syntax_error_on_the_command_line(tmp_path, txt_corpus, capsys):
    preset = tmp_path / "bad.yaml"
    preset.write_text("train:\n  epochs: 2\n   batch_size: 3\n", encoding="utf-8")
    err = cli_error(["train", "--config", str(preset), "--corpus", str(txt_corpus), "--out", str(tmp_path / "o")], capsys)
    assert "line 3, column" in err


def test_missing_checkpoint_for_resume(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert "no config.yaml" in cli_error(["train", "--out", str(tmp_path / "run"), "--resume"], capsys)
