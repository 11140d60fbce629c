"""MaliGAN and RankGAN on the SeqGAN trainer: every phase with both generators, prompts, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from textgan.api import train
from textgan.cli import main

from test_policy_gradient import TINY_ORACLE, TINY_SEQGAN, records, tiny_seqgan_config

KIN = {"maligan": {}, "maligan_rollouts": {"maligan.rollouts": True},
       "maligan_mixing": {"maligan.mixing_tokens": 3, "maligan.mixing_every": 1, "maligan.mixing_samples": 4},
       "rankgan": {"rankgan.reference_size": 8, "rankgan.comparison_size": 8, "seqgan.baseline": True}}


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
@pytest.mark.parametrize("name", list(KIN))
def test_every_phase_runs_with_both_generators(tmp_path: Path, name: str, kind: str):
    trainer = name.split("_")[0]
    cfg = tiny_seqgan_config(**{"train.trainer": trainer, "model.kind": kind, "model.dropout": 0.1}, **KIN[name])
    train(cfg, tmp_path / "run")
    log = records(tmp_path / "run")
    assert {r["phase"] for r in log} == {"pretrain_g", "pretrain_d", "adversarial"}
    adversarial = [r for r in log if r["phase"] == "adversarial"]
    assert [r["round"] for r in adversarial] == [1, 2]
    for r in adversarial:
        assert 0.0 <= r["d_accuracy"] <= 1.0 and "nll_oracle" in r
        # reported reward: D's probability (MaliGAN) or a log-rank, at most log 1 = 0 (RankGAN)
        assert (0.0 <= r["mean_reward"] <= 1.0) if trainer == "maligan" else (r["mean_reward"] <= 0.0)
    assert len((tmp_path / "run" / "samples" / "adversarial.txt").read_text().splitlines()) == 3


@pytest.mark.parametrize("trainer", ["maligan", "rankgan", "leakgan"])
def test_prompted_dialogues_reward_only_the_reply(tmp_path: Path, dialogue_corpus: Path, trainer: str):
    cfg = tiny_seqgan_config(**{"train.trainer": trainer, "data.corpus": str(dialogue_corpus),
                                "data.prompt_field": "prompt", "data.reply_field": "reply", "tokenizer.kind": "word",
                                "tokenizer.max_length": 12, "train.epochs": 1, "seqgan.adversarial_rounds": 1,
                                "rankgan.reference_size": 4, "rankgan.comparison_size": 4})
    train(cfg, tmp_path / "run")
    written = (tmp_path / "run" / "samples" / "adversarial.txt").read_text(encoding="utf-8").splitlines()
    assert len(written) == 3 and all(" → " in line for line in written)


@pytest.mark.parametrize(("trainer", "setting", "message"), [
    ("rankgan", "rankgan.gamma=0", "rankgan.gamma must be > 0.0"),
    ("rankgan", "rankgan.reference_size=0", "rankgan.reference_size must be >= 1"),
    ("maligan", "maligan.rollouts=3", "maligan.rollouts"),
    ("maligan", "maligan.mixing_tokens=2 maligan.mixing_samples=5", "train.batch_size must be a multiple of it"),
    ("leakgan", "model.kind=transformer", "train.trainer=leakgan brings its own generator"),
    ("leakgan", "leakgan.step_size=0", "leakgan.step_size must be >= 1"),
    ("leakgan", "leakgan.delta=0", "leakgan.delta must be > 0.0"),
    ("leakgan", "discriminator.representations=2", "discriminator.representations=1"),
])
def test_bad_settings_exit_2_with_one_line(tmp_path: Path, capsys, trainer: str, setting: str, message: str):
    import json

    sets = {**TINY_SEQGAN, **TINY_ORACLE, "train.trainer": trainer}
    argv = ["train", "--out", str(tmp_path / "run")]
    for key, value in sets.items():
        argv += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    for one in setting.split():
        argv += ["--set", one]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("textgan: error: ") and message in err and "\n" not in err


def test_algorithm_2_continues_each_real_prefix_mixing_samples_times(tmp_path: Path):
    from test_policy_gradient import build_trainer

    cfg = tiny_seqgan_config(**{"train.trainer": "maligan", "maligan.mixing_tokens": 3, "maligan.mixing_samples": 4})
    trainer = build_trainer(cfg, tmp_path / "run")
    rows, ends, span = trainer.policy_prompts(cfg.train.batch_size)
    groups = rows.view(-1, 4, rows.shape[1])
    assert len(groups) == cfg.train.batch_size // 4 and torch.equal(ends, torch.full_like(ends, 3))
    assert span is not None and torch.equal(span[1], ends)  # the real prefix G learns by MLE
    assert all(torch.equal(group[0], group[j]) for group in groups for j in range(1, 4))
    rewards, _ = trainer.token_rewards(trainer.generate(rows, ends, trainer.rng_draw(len(rows), rows.shape[1])), ends,
                                       torch.ones_like(rows, dtype=torch.bool))
    assert torch.allclose(rewards[:, 0].view(-1, 4).sum(1), torch.zeros(len(groups)), atol=1e-6)  # weights - 1/n, per prefix
