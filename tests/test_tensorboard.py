"""TensorBoard event files beside metrics.jsonl, read back with tensorboard's EventAccumulator."""

from __future__ import annotations

import json
import shutil

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import tiny_config
from textgan import api
from textgan.checkpoint import RunDirectory


def events(run):
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag):
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def records(run, phase):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["phase"] == phase]


def test_every_logged_metric_is_a_scalar_by_phase_with_samples_as_text(tmp_path, txt_corpus):
    run = tmp_path / "run"
    api.train(tiny_config(txt_corpus, **{"train.epochs": 3}), run)
    accumulator = events(run)
    logged = records(run, "mle")
    for name in ("train_nll", "val_nll", "val_ppl"):
        written = scalars(accumulator, f"mle/{name}")
        assert [step for step, _ in written] == [r["step"] for r in logged]
        assert [value for _, value in written] == pytest.approx([r[name] for r in logged], rel=1e-6)  # float32
    texts = accumulator.Tensors("mle/samples/text_summary")
    assert [t.step for t in texts] == [r["step"] for r in logged]
    first = texts[0].tensor_proto.string_val[0].decode()
    assert len(first.splitlines()) == 4 and all(line.startswith("    ") for line in first.splitlines())


def test_seqgan_phases_are_separate_scalars(tmp_path, txt_corpus):
    cfg = tiny_config(txt_corpus, **{"train.trainer": "seqgan", "train.epochs": 1, "seqgan.pretrain_d_steps": 2,
                                     "seqgan.adversarial_rounds": 1, "seqgan.d_samples": 16, "seqgan.rollout_count": 2,
                                     "discriminator.filter_sizes": [1, 2], "discriminator.num_filters": [4, 4]})
    api.train(cfg, tmp_path / "run")
    tags = events(tmp_path / "run").Tags()
    assert {"pretrain_g/val_nll", "pretrain_d/d_loss", "adversarial/mean_reward"} <= set(tags["scalars"])
    assert {"pretrain_g/samples/text_summary", "adversarial/samples/text_summary"} <= set(tags["tensors"])


def test_resumed_run_shows_the_same_curves(tmp_path, txt_corpus):
    cfg = tiny_config(txt_corpus, **{"train.epochs": 3, "train.patience": 0, "train.keep_checkpoints": 5})
    api.train(cfg, tmp_path / "full")
    # a run that got past epoch 2's checkpoint, logged epoch 3, then resumed from epoch 2: the
    # events after the checkpoint are written again and the first ones must not count twice
    shutil.copytree(tmp_path / "full", tmp_path / "again")
    run = RunDirectory(tmp_path / "again")
    second = sorted(p for p in run.checkpoints.iterdir() if p.is_dir())[1]
    run.mark("latest", second)
    api.train(cfg, tmp_path / "again", resume=True)
    full, again = events(tmp_path / "full"), events(tmp_path / "again")
    assert scalars(again, "mle/val_nll") == scalars(full, "mle/val_nll")
    assert len(scalars(full, "mle/val_nll")) == 3


def test_one_flag_turns_it_off(tmp_path, txt_corpus):
    api.train(tiny_config(txt_corpus, **{"train.epochs": 1, "train.tensorboard": False}), tmp_path / "run")
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
    assert not (tmp_path / "run" / "tensorboard").exists()


@pytest.mark.parametrize("trainer", ["vae"])
def test_vae_writes_events(tmp_path, txt_corpus, trainer):
    api.train(tiny_config(txt_corpus, **{"train.trainer": trainer, "train.epochs": 1}), tmp_path / "run")
    tags = events(tmp_path / "run").Tags()
    assert "vae/val_nll_bound" in tags["scalars"] and "vae/samples/text_summary" in tags["tensors"]
