"""SeqGAN trainer: the policy-gradient step, prompted sampling, all phases, resume, bad inputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from textgan.api import build_data, train
from textgan.checkpoint import RunDirectory, load_checkpoint
from textgan.cli import main
from textgan.config import Config, load_config
from textgan.data.encoding import scored_mask
from textgan.models import build_generator
from textgan.models.lstm import LSTMGenerator
from textgan.training import TRAINERS
from textgan.training.base import Trainer, evaluate_nll
from textgan.training.policy_gradient import policy_gradient_loss
from textgan.training.runtime import make_runtime

from conftest import recomputed_oracle_metrics

TINY_SEQGAN = {
    "train.trainer": "seqgan", "train.device": "cpu", "train.batch_size": 32, "train.epochs": 2,
    "model.embedding_dim": 16, "model.hidden_dim": 16, "model.num_heads": 2,
    "discriminator.embedding_dim": 8, "discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [8, 8],
    "seqgan.pretrain_d_steps": 1, "seqgan.adversarial_rounds": 2, "seqgan.d_steps": 1, "seqgan.d_epochs": 1,
    "seqgan.d_samples": 64, "seqgan.rollout_count": 2, "seqgan.nll_oracle_samples": 128, "seqgan.eval_every": 1,
    "sample.num_samples": 3,
}
TINY_ORACLE = {"data.corpus": "oracle", "data.oracle_vocab_size": 20, "data.oracle_seq_len": 8,
               "data.oracle_samples": 320, "data.oracle_embedding_dim": 8, "data.oracle_hidden_dim": 8}


def tiny_seqgan_config(**overrides: object) -> Config:
    sets = {**TINY_SEQGAN, **TINY_ORACLE, **overrides}
    return load_config(None, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sets.items()])


def build_trainer(cfg: Config, out: Path) -> Trainer:
    """The configured trainer on its data, in one CPU process, without training it."""
    torch.manual_seed(cfg.train.seed)
    data = build_data(cfg)
    tokenizer = data.tokenizer
    generator = build_generator(cfg.model, tokenizer.vocab_size, data.train.tokens.shape[1],
                                tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id)
    return TRAINERS[cfg.train.trainer](cfg, RunDirectory(out), make_runtime("cpu", "fp32"), data, generator)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("baseline", [False, True])
def test_policy_gradient_step_raises_the_rewarded_token(baseline: bool):
    torch.manual_seed(0)
    generator = LSTMGenerator(vocab_size=6, max_length=3, embedding_dim=8, hidden_dim=8)
    samples = generator.sample(256, generator=torch.Generator().manual_seed(0))
    rewards = (samples == 4).float()  # D likes token 4, wherever it appears
    mask = torch.ones_like(samples, dtype=torch.bool)

    def first_token_log_prob() -> float:
        with torch.no_grad():
            return float(torch.log_softmax(generator(torch.zeros(1, 1, dtype=torch.long)), -1)[0, 0, 4])

    before = first_token_log_prob()
    optimizer = torch.optim.SGD(generator.parameters(), lr=0.5)
    policy_gradient_loss(generator.log_prob(samples), rewards, mask, baseline).backward()
    optimizer.step()
    assert first_token_log_prob() > before + 0.05


def test_baseline_leaves_each_rows_own_reward_out():
    """b_t of row i is the mean reward at t of the *other* active rows; a row alone has none."""
    log_probs = torch.zeros(3, 3, requires_grad=True)
    rewards = torch.tensor([[0.2, 0.4, 0.9], [0.6, 0.8, 0.0], [1.0, 0.3, 0.5]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    policy_gradient_loss(log_probs, rewards, mask, baseline=True).backward()
    # column 0: baselines (0.6+1.0)/2, (0.2+1.0)/2, (0.2+0.6)/2; column 1: 0.8, 0.4; column 2: row 0 alone
    advantages = torch.tensor([[0.2 - 0.8, 0.4 - 0.8, 0.9], [0.6 - 0.6, 0.8 - 0.4, 0.0], [1.0 - 0.4, 0.0, 0.0]])
    assert torch.allclose(log_probs.grad, -advantages / 6, atol=1e-7)


def test_policy_gradient_scores_the_samples_under_the_policy_that_drew_them(tmp_path: Path):
    """Samples are drawn without dropout, so log pi must be too: with dropout on, the update
    would depend on the dropout masks (the global stream), i.e. on another policy."""
    trainer = build_trainer(tiny_seqgan_config(**{"model.dropout": 0.5}), tmp_path / "run")
    trainer.rollout.update(trainer.generator, 0.0)
    weights = copy.deepcopy(trainer.generator.state_dict())
    optimizer, stream = copy.deepcopy(trainer.pg_optimizer.state_dict()), trainer.rng.get_state()
    updated = []
    for global_seed in (1, 2):
        trainer.generator.load_state_dict(weights)
        trainer.pg_optimizer.load_state_dict(optimizer)
        trainer.rng.set_state(stream)
        torch.manual_seed(global_seed)
        trainer.policy_gradient_step()
        updated.append(copy.deepcopy(trainer.generator.state_dict()))
    assert all(torch.equal(updated[0][k], updated[1][k]) for k in weights)
    assert not all(torch.equal(updated[0][k], weights[k]) for k in weights)


def test_adversarial_phase_starts_from_the_best_pretraining_epoch(tmp_path: Path):
    """Early stopping after worse epochs hands the best epoch's weights (not the last) to the
    next phase; the kept copy is part of the checkpoint while pretraining runs."""
    trainer = build_trainer(tiny_seqgan_config(**{"train.epochs": 5, "train.patience": 2}), tmp_path / "run")
    scripted = iter([9.0, 3.0, 2.0, 2.5, 2.6])  # the untrained G, then epochs 1-4: epoch 2 is the best
    snapshots, kept = [], []

    def evaluate(with_oracle: bool) -> dict[str, float]:
        snapshots.append(copy.deepcopy(trainer.generator.state_dict()))
        kept.append(trainer.extra_state()["best_pretrained"] is not None)
        return {"val_nll": next(scripted, 0.0)}

    trainer.evaluate = evaluate
    trainer.pretrain_generator()
    assert trainer.epoch == 4 and len(snapshots) == 6  # stopped by patience; one more for the restored G
    best, last = snapshots[2], snapshots[4]
    assert not all(torch.equal(best[k], last[k]) for k in best)
    assert all(torch.equal(v, best[k]) for k, v in trainer.generator.state_dict().items())
    assert kept[3] and trainer.extra_state()["best_pretrained"] is None
    assert records(tmp_path / "run")[-1]["restored_epoch"] == 2


def test_a_fixed_pretraining_schedule_hands_its_last_epoch_to_the_next_phase(tmp_path: Path):
    """patience 0 (the papers' fixed schedule): worse validation epochs do not bring back an earlier one."""
    trainer = build_trainer(tiny_seqgan_config(**{"train.epochs": 4, "train.patience": 0}), tmp_path / "run")
    scripted = iter([9.0, 3.0, 2.0, 2.5, 2.6])
    snapshots = []

    def evaluate(with_oracle: bool) -> dict[str, float]:
        snapshots.append(copy.deepcopy(trainer.generator.state_dict()))
        return {"val_nll": next(scripted, 0.0)}

    trainer.evaluate = evaluate
    trainer.pretrain_generator()
    assert trainer.epoch == 4 and trainer.extra_state()["best_pretrained"] is None
    assert all(torch.equal(v, snapshots[-1][k]) for k, v in trainer.generator.state_dict().items())
    assert not any("restored_epoch" in r for r in records(tmp_path / "run"))


def test_mean_reward_pools_the_tokens_of_a_rounds_updates(tmp_path: Path):
    """One definition: the mean over every chosen token of the round, not a mean of batch means."""
    trainer = build_trainer(tiny_seqgan_config(**{"seqgan.g_steps": 2, "seqgan.adversarial_rounds": 1,
                                                  "seqgan.d_steps": 0}), tmp_path / "run")
    steps = iter([(1.0, 3.0, 4.0), (1.0, 1.0, 6.0)])  # (loss, reward sum, tokens) of each update
    trainer.policy_gradient_step = lambda: next(steps)
    trainer.adversarial_training()
    assert records(tmp_path / "run")[-1]["mean_reward"] == pytest.approx(0.4)


def test_replies_keep_their_prompts_and_pad_after_eos():
    torch.manual_seed(0)
    generator = LSTMGenerator(vocab_size=8, max_length=7, bos_id=1, eos_id=2, pad_id=0,
                              embedding_dim=8, hidden_dim=8)
    rows = torch.tensor([[5, 6, 7, 3, 0, 0, 0], [4, 3, 0, 0, 0, 0, 0]])
    prompt_lengths = torch.tensor([4, 2])
    out = generator.sample(2, 7, prefix=rows, prefix_lengths=prompt_lengths, generator=torch.Generator().manual_seed(0))
    assert out[0, :4].tolist() == [5, 6, 7, 3] and out[1, :2].tolist() == [4, 3]
    mask = scored_mask(out, prompt_lengths, eos_id=2)
    assert not mask[0, :4].any() and not mask[1, :2].any() and mask[0, 4] and mask[1, 2]
    for row in out.tolist():
        if 2 in row[2:]:
            end = row.index(2, 2)
            assert all(token == 0 for token in row[end + 1 :])


def test_oracle_run_goes_through_every_phase_and_mle_lowers_nll_oracle(tmp_path: Path):
    stabilisers = {"seqgan.instance_noise": 0.5, "seqgan.instance_noise_rounds": 2,
                   "seqgan.label_smoothing": 0.1, "seqgan.baseline": True}
    result = train(tiny_seqgan_config(**{"train.epochs": 3}, **stabilisers), tmp_path / "run")
    log = records(tmp_path / "run")
    assert [r["phase"] for r in log][:1] == ["pretrain_g"]
    assert {r["phase"] for r in log} == {"pretrain_g", "pretrain_d", "adversarial"}
    pretrain = [r for r in log if r["phase"] == "pretrain_g"]
    assert pretrain[-1]["nll_oracle"] < pretrain[0]["nll_oracle"] - 0.3  # the untrained G is the first record
    adversarial = [r for r in log if r["phase"] == "adversarial"]
    assert [r["round"] for r in adversarial] == [1, 2]
    assert [r["instance_noise"] for r in adversarial] == [0.5, 0.25]  # annealed linearly over 2 rounds
    assert all(0.0 <= r["mean_reward"] <= 1.0 and "nll_oracle" in r and "d_accuracy" in r for r in adversarial)
    assert (tmp_path / "run" / "samples" / "pretrain_g.txt").is_file() and len(result.samples) == 3
    checkpoint = load_checkpoint(RunDirectory(tmp_path / "run").pointed("latest"))
    assert checkpoint.state["extra"]["phase"] == "adversarial" and checkpoint.state["extra"]["round"] == 2
    assert {"discriminator.safetensors", "rollout.safetensors"} <= {p.name for p in checkpoint.path.iterdir()}


def test_resume_continues_exactly(tmp_path: Path):
    train(tiny_seqgan_config(**{"seqgan.eval_every": 5}), tmp_path / "straight")
    train(tiny_seqgan_config(**{"seqgan.adversarial_rounds": 1, "seqgan.eval_every": 5}), tmp_path / "resumed")
    train(tiny_seqgan_config(**{"seqgan.eval_every": 5}), tmp_path / "resumed", resume=True)
    straight, resumed = (load_checkpoint(RunDirectory(tmp_path / name).pointed("latest"))
                         for name in ("straight", "resumed"))
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)
    assert straight.state["extra"]["round"] == resumed.state["extra"]["round"] == 2
    assert torch.equal(straight.state["extra"]["rng"]["state"], resumed.state["extra"]["rng"]["state"])
    rounds = [r["round"] for r in records(tmp_path / "resumed") if r["phase"] == "adversarial"]
    assert rounds == [1, 2]


def test_transformer_generator_and_prompted_dialogues(tmp_path: Path, dialogue_corpus: Path):
    overrides = {"data.corpus": str(dialogue_corpus), "data.prompt_field": "prompt", "data.reply_field": "reply",
                 "tokenizer.kind": "word", "tokenizer.max_length": 12, "model.kind": "transformer",
                 "train.epochs": 1, "seqgan.adversarial_rounds": 1}
    sets = {**TINY_SEQGAN, **overrides}
    cfg = load_config(None, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sets.items()])
    train(cfg, tmp_path / "dialogues")
    log = records(tmp_path / "dialogues")
    assert {r["phase"] for r in log} == {"pretrain_g", "pretrain_d", "adversarial"}
    assert "nll_oracle" not in log[-1] and "val_nll" in log[-1]
    written = (tmp_path / "dialogues" / "samples" / "adversarial.txt").read_text(encoding="utf-8").splitlines()
    prompts = {"how are you ?", "what is your name ?", "where do you live ?"}
    assert len(written) == 3 and all(line.split(" → ")[0] in prompts for line in written)  # prompt → reply


@pytest.mark.parametrize(("setting", "message"), [
    ("seqgan.rollout_count=0", "seqgan.rollout_count must be >= 1"),
    ("discriminator.filter_sizes=[2,9]", "discriminator.filter_sizes has 9 but sequences are 8 tokens"),
])
def test_bad_settings_exit_2_with_one_line(tmp_path: Path, capsys, setting: str, message: str):
    sets = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in {**TINY_SEQGAN, **TINY_ORACLE}.items()]
    argv = ["train", "--out", str(tmp_path / "run")]
    for item in sets + [setting]:
        argv += ["--set", item]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("textgan: error: ") and message in err and "\n" not in err



@pytest.mark.parametrize("trainer", ["seqgan", "gumbel", "cot"])
def test_val_nll_counts_the_prompt_when_train_nll_include_prompt(tmp_path: Path, dialogue_corpus: Path, trainer: str):
    overrides = {"train.trainer": trainer, "data.corpus": str(dialogue_corpus), "data.prompt_field": "prompt",
                 "data.reply_field": "reply", "tokenizer.kind": "word", "tokenizer.max_length": 12}
    figures = {}
    for include in (False, True):
        sets = {**TINY_SEQGAN, **overrides, "train.nll_include_prompt": include}
        cfg = load_config(None, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sets.items()])
        trainer_ = build_trainer(cfg, tmp_path / f"{trainer}-{include}")
        expected = evaluate_nll(trainer_.generator, trainer_.data.validation, trainer_.runtime, cfg.train.batch_size,
                                cfg.train.eval_batches, include_prompt=include)
        figures[include] = trainer_.evaluate(with_oracle=False)["val_nll"]
        assert figures[include] == pytest.approx(expected)
    assert figures[True] != pytest.approx(figures[False])


@pytest.mark.parametrize("trainer", ["seqgan", "gumbel"])
def test_pretrain_time_fraction_ends_mle_early_so_a_short_budget_reaches_the_second_phase(tmp_path: Path, trainer: str):
    # a budget share of 0.6 microseconds is spent before the first of 50 MLE epochs ends: phase two follows
    overrides = {"train.trainer": trainer, "train.epochs": 50, "train.time_limit_minutes": 10,
                 "train.pretrain_time_fraction": 1e-9, "gumbel.adversarial_steps": 2, "gumbel.d_steps": 1,
                 "gumbel.eval_every": 1, "gumbel.nll_oracle_samples": 32}
    train(tiny_seqgan_config(**overrides), tmp_path / "run")
    log = records(tmp_path / "run")
    assert max(r["epoch"] for r in log if r["phase"] == "pretrain_g") <= 1
    assert log[-1]["phase"] != "pretrain_g" and "train" not in log[-1]["phase"]


@pytest.mark.parametrize("trainer", ["seqgan", "cot"])
def test_a_spent_time_budget_ends_with_an_evaluation_where_the_model_stands(tmp_path: Path, trainer: str):
    overrides = {"train.trainer": trainer, "train.epochs": 1000, "train.time_limit_minutes": 0.01, "train.patience": 0,
                 "train.pretrain_time_fraction": 0, "cot.steps": 1_000_000, "cot.eval_every": 1_000_000, "seqgan.eval_every": 1000}
    train(tiny_seqgan_config(**overrides), tmp_path / "run")
    log = records(tmp_path / "run")
    assert log[-1]["step"] == max(r["step"] for r in log) and "nll_oracle" in log[-1] and "val_nll" in log[-1]
    assert log[-1]["nll_oracle"] == pytest.approx(recomputed_oracle_metrics(tmp_path / "run")["nll_oracle"], rel=1e-6)
    oracle = [r for r in log if "nll_oracle" in r]
    # the untrained generator's, the last, and between them at most one where the budget ended
    # MLE pretraining (its next epoch would have overrun the limit)
    assert oracle[0]["step"] == 0 and oracle[-1] == log[-1] and len(oracle) <= 3
    assert all(r["phase"] == "pretrain_g" for r in oracle[1:-1])
