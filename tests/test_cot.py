"""CoT: the generator's loss is the exact per-step KL to the mediator; training end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch

from textgan import api
from textgan.training.cot import cot_generator_loss

from conftest import recomputed_oracle_metrics, tiny_config

SETTINGS = {"train.trainer": "cot", "cot.steps": 4, "cot.eval_every": 2, "cot.pretrain_epochs": 1}


def records(run, phase):
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["phase"] == phase]


def test_generator_loss_is_the_kl_computed_by_hand():
    """Vocabulary of 3, two rows of two positions, the last position of row 2 masked out."""
    g_logits = [[[0.0, 1.0, 2.0], [1.0, 1.0, 0.0]], [[-1.0, 0.5, 0.0], [3.0, 0.0, 0.0]]]
    m_logits = [[[0.0, 0.0, 0.0], [2.0, 0.0, 1.0]], [[0.0, 1.0, -2.0], [0.0, 0.0, 9.0]]]
    mask = [[True, True], [True, False]]

    def softmax(row):
        total = sum(math.exp(v) for v in row)
        return [math.exp(v) / total for v in row]

    kls = []
    for b in range(2):
        for t in range(2):
            if mask[b][t]:
                p, q = softmax(g_logits[b][t]), softmax(m_logits[b][t])
                kls.append(sum(p_v * math.log(p_v / q_v) for p_v, q_v in zip(p, q)))
    expected = sum(kls) / len(kls)
    loss = cot_generator_loss(torch.tensor(g_logits), torch.tensor(m_logits), torch.tensor(mask))
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert float(cot_generator_loss(torch.tensor(g_logits), torch.tensor(g_logits), torch.tensor(mask))) == pytest.approx(0.0, abs=1e-7)


def test_kl_gradient_points_the_generator_at_the_mediator():
    """A step down the loss's gradient moves G's distribution toward the mediator's."""
    g_logits = torch.tensor([[[0.0, 2.0, -1.0, 0.5]]], requires_grad=True)
    m_logits = torch.tensor([[[1.0, -1.0, 0.0, 0.0]]])
    mask = torch.ones(1, 1, dtype=torch.bool)
    loss = cot_generator_loss(g_logits, m_logits, mask)
    loss.backward()
    with torch.no_grad():
        assert float(cot_generator_loss(g_logits - 0.1 * g_logits.grad, m_logits, mask)) < float(loss)


def test_trains_and_saves_the_mediator(tmp_path, txt_corpus):
    run = tmp_path / "run"
    api.train(tiny_config(txt_corpus, **SETTINGS), run)
    steps = records(run, "cooperative")
    assert [r["cooperative_step"] for r in steps] == [1, 2, 3, 4]
    assert all(r["g_kl"] >= 0 and math.isfinite(r["mediator_nll"]) for r in steps)
    assert "val_nll" in steps[1] and "val_nll" not in steps[0]
    latest = api.load(run, prefer="latest").path
    assert (latest / "mediator.safetensors").is_file()
    assert (run / "samples" / "cooperative.txt").is_file()


def test_transformer_replies_to_prompts_without_pretraining(tmp_path, dialogue_corpus):
    run = tmp_path / "run"
    api.train(tiny_config(dialogue_corpus, **{**SETTINGS, "cot.pretrain_epochs": 0, "model.kind": "transformer",
                                              "data.prompt_field": "prompt", "data.reply_field": "reply",
                                              "tokenizer.max_length": 12}), run)
    assert [r["epoch"] for r in records(run, "pretrain_g")] == [0]
    assert len(records(run, "cooperative")) == 4


def test_on_oracle_data_reports_nll_oracle_and_nll_test(tmp_path):
    run = tmp_path / "run"
    api.train(tiny_config("oracle", **SETTINGS, **{
        "data.oracle_vocab_size": 30, "data.oracle_samples": 64, "data.oracle_seq_len": 8,
        "data.oracle_hidden_dim": 8, "data.oracle_embedding_dim": 8, "cot.nll_oracle_samples": 40}), run)
    last = records(run, "cooperative")[-1]
    again = recomputed_oracle_metrics(run)
    assert last["nll_oracle"] == pytest.approx(again["nll_oracle"], rel=1e-6)
    assert last["nll_test"] == pytest.approx(again["nll_test"], rel=1e-5)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, txt_corpus, monkeypatch):
    from textgan.training import cot
    from textgan.training.base import NonFiniteLossError

    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = cot_generator_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 2 else loss  # the 3rd generator update

    monkeypatch.setattr(cot, "cot_generator_loss", poisoned)
    monkeypatch.setattr(cot.CoTTrainer, "plan_run", lambda self: None)  # its measured steps would be counted calls
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="generator loss became non-finite"):
        api.train(tiny_config(txt_corpus, **SETTINGS, **{"train.checkpoint_every_steps": 1}), run)
    state = api.load(run, prefer="latest").state
    assert state["extra"]["phase_steps"] == 2 and not state["finished"]


def test_bf16_autocast_trains(tmp_path, txt_corpus):
    run = tmp_path / "run"
    api.train(tiny_config(txt_corpus, **SETTINGS, **{"train.precision": "bf16"}), run)
    assert all(math.isfinite(r["g_kl"]) and math.isfinite(r["mediator_nll"]) for r in records(run, "cooperative"))


def make_trainer(cfg, run):
    from textgan.checkpoint import RunDirectory
    from textgan.training.cot import CoTTrainer
    from textgan.training.runtime import make_runtime

    data = api.build_data(cfg)
    return CoTTrainer(cfg, RunDirectory(run), make_runtime("cpu", "fp32"), data, CoTTrainer.new_generator(cfg, data))


def test_mediator_is_twice_the_generators_width_with_dropout_and_the_references_adam(tmp_path, txt_corpus):
    """CoT's reference: the mediator has twice G's embedding and hidden sizes, dropout 0.5 on
    its outputs, Adam at 3e-3; both networks use Adam beta2 = 0.95 (G at 1e-3)."""
    trainer = make_trainer(tiny_config(txt_corpus, **{"train.trainer": "cot"}), tmp_path / "run")
    g, m = trainer.generator, trainer.mediator
    vocab = g.vocab_size
    assert g.embedding.weight.shape == (vocab, 16) and m.embedding.weight.shape == (vocab, 32)
    assert m.lstm.weight_hh_l0.shape == (4 * 32, 32) and m.output.weight.shape == (vocab, 32)
    assert m.dropout.p == 0.5 and g.dropout.p == 0.0
    assert trainer.m_optimizer.param_groups[0]["lr"] == 3e-3 and trainer.g_optimizer.param_groups[0]["lr"] == 1e-3
    assert trainer.m_optimizer.param_groups[0]["betas"] == (0.9, 0.95) == trainer.g_optimizer.param_groups[0]["betas"]


def test_a_cooperative_step_updates_g_first_then_the_mediator(tmp_path, txt_corpus, monkeypatch):
    from textgan.training.cot import CoTTrainer

    calls = []
    monkeypatch.setattr(CoTTrainer, "generator_step", lambda self: calls.append("G") or 0.0)
    monkeypatch.setattr(CoTTrainer, "mediator_step", lambda self: calls.append("M") or 0.0)
    api.train(tiny_config(txt_corpus, **{**SETTINGS, "cot.steps": 2, "cot.mediator_steps": 2}), tmp_path / "run")
    assert len(calls) >= 6 and calls == ["G", "M", "M"] * (len(calls) // 3)


def test_the_cosine_schedule_spans_cot_pretraining_not_train_epochs(tmp_path):
    """It was sized by train.epochs: with fewer cot.pretrain_epochs the rate never reached its end."""
    from test_policy_gradient import build_trainer, tiny_seqgan_config

    cfg = tiny_seqgan_config(**{"train.trainer": "cot", "train.epochs": 4, "cot.pretrain_epochs": 1,
                                "train.lr_schedule": "cosine"})
    trainer = build_trainer(cfg, tmp_path / "run")
    schedule = trainer.mle_scheduler.lr_lambdas[0]
    assert schedule(0) == 1.0 and schedule(trainer.steps_per_epoch) == pytest.approx(0.0, abs=1e-12)
