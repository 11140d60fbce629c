"""Relaxed-sampling GANs (RelGAN, GSGAN): beta schedules, Gumbel-softmax statistics, the
relaxed samples D sees, training on every objective, oracle figures, precision, NaN stop."""

from __future__ import annotations

import json
import math

import pytest
import torch

from textgan import api
from textgan.checkpoint import RunDirectory
from textgan.training.gan_objectives import OBJECTIVES, Objective
from textgan.training.base import NonFiniteLossError
from textgan.training.gumbel import GumbelTrainer, gumbel_noise, inverse_temperature, relaxed_one_hot

from conftest import cli_error, recomputed_oracle_metrics, tiny_config

SETTINGS = {"train.trainer": "gumbel", "train.epochs": 1, "discriminator.embedding_dim": 8,
            "discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [6, 6],
            "gumbel.adversarial_steps": 4, "gumbel.d_steps": 2, "gumbel.eval_every": 2, "gumbel.beta_max": 10.0,
            "gan.began_hidden_dim": 8}


def gumbel_config(corpus, **overrides):
    return tiny_config(corpus, **{**SETTINGS, **overrides})


def records(run, phase):
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["phase"] == phase]


def reference_temperature(temper, i, n, adapt):
    """RelGAN's get_fixed_temperature (real/real_gan/real_train.py) with its N as an argument."""
    return {
        "exp": lambda: temper ** (i / n),
        "lin": lambda: 1 + i / (n - 1) * (temper - 1),
        "log": lambda: 1 + (temper - 1) / math.log(n) * math.log(i + 1),
        "sigmoid": lambda: (temper - 1) * 1 / (1 + math.exp((n / 2 - i) * 20 / n)) + 1,
        "quad": lambda: (temper - 1) / (n - 1) ** 2 * i ** 2 + 1,
        "sqrt": lambda: (temper - 1) / math.sqrt(n - 1) * math.sqrt(i) + 1,
    }[adapt]()


OURS = {"exp": "exponential", "lin": "linear", "log": "log", "sigmoid": "sigmoid", "quad": "quad", "sqrt": "sqrt"}


@pytest.mark.parametrize("adapt", list(OURS))
def test_beta_at_step_i_is_the_references_formula(adapt):
    for temper in (2.0, 100.0, 1000.0):
        for i in (0, 1, 17, 1999, 2999, 4999):
            assert inverse_temperature(i, temper, 5000, OURS[adapt]) == pytest.approx(
                reference_temperature(temper, i, 5000, adapt), rel=1e-12), (adapt, temper, i)


def test_known_betas_and_where_relgans_published_runs_end():
    assert inverse_temperature(2500, 100.0, 5000, "exponential") == pytest.approx(10.0, rel=1e-12)
    assert inverse_temperature(0, 100.0, 5000, "exponential") == 1.0
    # past N, beta holds at beta_max; the constant schedule is beta_max throughout
    assert inverse_temperature(7000, 100.0, 5000, "exponential") == 100.0
    assert inverse_temperature(7000, 100.0, 5000, "linear") == 100.0
    assert inverse_temperature(0, 100.0, 5000, "constant") == 100.0
    # the oracle runs stop after 3,000 steps, COCO after 2,000, far warmer than beta_max
    assert inverse_temperature(2999, 100.0, 5000, "exponential") == pytest.approx(100 ** (2999 / 5000))
    assert 15.8 < inverse_temperature(2999, 100.0, 5000, "exponential") < 15.9
    assert 6.30 < inverse_temperature(1999, 100.0, 5000, "exponential") < 6.32
    assert 15.8 < inverse_temperature(1999, 1000.0, 5000, "exponential") < 15.9


def test_every_schedule_rises_from_one_toward_beta_max():
    for schedule in OURS.values():
        values = [inverse_temperature(i, 1000.0, 50, schedule) for i in range(51)]
        assert values[0] == pytest.approx(1.0, abs=0.05) and values[-1] == pytest.approx(1000.0, rel=1e-4)
        assert all(b >= a for a, b in zip(values, values[1:])), schedule


def test_the_trainer_trains_step_i_at_the_temperature_the_reference_set_after_step_i_minus_1(tmp_path, txt_corpus):
    """RelGAN's loop updates its temperature variable (initially 1) after each step: step 0 runs
    at 1, step i at get_fixed_temperature(i - 1); `beta` in the records follows it."""
    run = tmp_path / "run"
    api.train(gumbel_config(txt_corpus, **{"gumbel.adversarial_steps": 4, "gumbel.beta_steps": 10}), run)
    betas = [r["beta"] for r in records(run, "adversarial")]
    expected = [1.0] + [reference_temperature(10.0, i - 1, 10, "exp") for i in range(1, 4)]
    assert betas == pytest.approx(expected, rel=1e-12)


def test_gumbel_max_follows_the_softmax_and_the_relaxation_hardens_with_beta():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0, 0.5])
    draws = 200_000
    noise = gumbel_noise(torch.rand(draws, 5, generator=torch.Generator().manual_seed(0)))
    counts = torch.bincount((logits + noise).argmax(-1), minlength=5).float() / draws
    torch.testing.assert_close(counts, torch.softmax(logits, -1), atol=4e-3, rtol=0)
    peaks = []
    for beta in (1.0, 10.0, 100.0, 1000.0):
        relaxed = relaxed_one_hot(logits.expand(draws, 5), noise, beta)
        assert torch.equal(relaxed.argmax(-1), (logits + noise).argmax(-1))
        torch.testing.assert_close(relaxed.sum(-1), torch.ones(draws))
        peaks.append(float(relaxed.max(-1).values.mean()))
    assert peaks == sorted(peaks) and peaks[0] < 0.8 and peaks[-1] > 0.999


def make_trainer(tmp_path, corpus, **overrides):
    from textgan.models import build_generator
    from textgan.training import TRAINERS
    from textgan.training.runtime import Runtime

    cfg = gumbel_config(corpus, **overrides)
    data = api.build_data(cfg)
    tok = data.tokenizer
    torch.manual_seed(0)
    generator = build_generator(cfg.model, tok.vocab_size, data.train.tokens.shape[1], tok.bos_id, tok.eos_id, tok.pad_id)
    return TRAINERS["gumbel"](cfg, RunDirectory(tmp_path / "run"), Runtime(torch.device("cpu")), data, generator)


def test_relaxed_rows_carry_the_hard_tokens_and_the_gradient(tmp_path, dialogue_corpus):
    trainer = make_trainer(tmp_path, dialogue_corpus, **{"data.prompt_field": "prompt", "data.reply_field": "reply",
                                                        "tokenizer.max_length": 12})
    rows, lengths, noise, _ = trainer.batch()
    assert int(lengths.min()) > 0
    tokens, relaxed = trainer.relaxed_samples(rows, lengths, noise, beta=3.0)
    positions = torch.arange(tokens.shape[1])
    prompt = positions < lengths[:, None]
    assert torch.equal(tokens[prompt], rows[prompt])  # the prompt is kept
    assert torch.equal(relaxed.argmax(-1), tokens)  # G's choices, the prompt and the padding
    assert torch.equal(relaxed[prompt].max(-1).values, torch.ones(int(prompt.sum())))  # one-hot prompt
    chosen = ~prompt & (relaxed.max(-1).values < 1)
    assert chosen.any()
    relaxed[chosen].sum().backward()
    assert trainer.generator.output.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_objective_trains_and_logs(tmp_path, txt_corpus, objective):
    run = tmp_path / "run"
    api.train(gumbel_config(txt_corpus, **{"gumbel.objective": objective}), run)
    adversarial = records(run, "adversarial")
    assert [r["adversarial_step"] for r in adversarial] == [1, 2, 3, 4]
    assert [r["beta"] for r in adversarial] == pytest.approx([10 ** (i / 5000) for i in (0, 0, 1, 2)])
    assert all(math.isfinite(r["g_loss"]) and math.isfinite(r["d_loss"]) for r in adversarial)
    assert "val_nll" in adversarial[1] and "val_nll" not in adversarial[0]
    assert (run / "samples" / "adversarial.txt").is_file()


def test_relgan_on_oracle_data_reports_nll_oracle_and_nll_test(tmp_path):
    oracle = {"data.corpus": "oracle", "data.oracle_vocab_size": 30, "data.oracle_samples": 64,
              "data.oracle_seq_len": 8, "data.oracle_hidden_dim": 8, "data.oracle_embedding_dim": 8}
    run = tmp_path / "run"
    api.train(gumbel_config("oracle", **oracle, **{
        "model.kind": "relational_memory", "model.num_heads": 2, "discriminator.representations": 4,
        "discriminator.style": "relgan", "gumbel.nll_oracle_samples": 50, "gumbel.beta_schedule": "sigmoid",
        "gumbel.beta_steps": 4}), run)
    last = records(run, "adversarial")[-1]  # step 3 trains at the reference's temperature after step 2
    again = recomputed_oracle_metrics(run)
    assert last["nll_oracle"] == pytest.approx(again["nll_oracle"], rel=1e-6)
    assert last["nll_test"] == pytest.approx(again["nll_test"], rel=1e-5)
    assert last["beta"] == pytest.approx(1 + 9 / (1 + math.exp((2 - 2) * 20 / 4)))


def test_gsgan_fixed_temperature_under_bf16(tmp_path, txt_corpus):
    run = tmp_path / "run"
    api.train(gumbel_config(txt_corpus, **{"gumbel.beta_schedule": "constant", "gumbel.beta_max": 2.0,
                                           "train.precision": "bf16"}), run)
    adversarial = records(run, "adversarial")
    assert {r["beta"] for r in adversarial} == {2.0}
    assert all(math.isfinite(r["g_loss"]) for r in adversarial)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, txt_corpus, monkeypatch):
    calls = {"n": 0}

    def poisoned_g_loss(fake, real=None):
        calls["n"] += 1
        loss = OBJECTIVES["hinge"].g_loss(fake, real)
        return loss * float("nan") if calls["n"] > 2 else loss  # the 3rd generator update

    poisoned = Objective("hinge", OBJECTIVES["hinge"].d_loss, poisoned_g_loss, False, False, 0.0)
    monkeypatch.setattr("textgan.training.gumbel.get_objective", lambda name: poisoned)
    monkeypatch.setattr(GumbelTrainer, "plan_run", lambda self: None)  # its measured steps would be counted calls
    run = tmp_path / "run"
    cfg = gumbel_config(txt_corpus, **{"gumbel.objective": "hinge", "train.checkpoint_every_steps": 1})
    with pytest.raises(NonFiniteLossError, match="generator loss became non-finite at step"):
        api.train(cfg, run)
    state = api.load(run, prefer="latest").state
    assert state["extra"]["phase_steps"] == 2 and not state["finished"]
    assert RunDirectory(run).pointed("latest") is not None


def test_relaxed_and_cot_presets_load():
    from pathlib import Path

    from textgan.config import load_config

    root = Path(__file__).parents[1] / "examples"
    for corpus in ("oracle", "coco", "poems", "dialogues"):
        relgan = load_config(root / f"{corpus}_gumbel_relgan.yaml")
        assert relgan.train.trainer == "gumbel" and relgan.model.kind == "relational_memory"
        assert relgan.discriminator.representations == 64 and relgan.gumbel.objective == "rsgan"
        gsgan = load_config(root / f"{corpus}_gumbel_gsgan.yaml")
        assert gsgan.model.kind == "lstm" and gsgan.gumbel.beta_schedule == "constant"
        assert relgan.discriminator.style == "relgan" and relgan.gumbel.d_grad_clip == 5.0
        cot = load_config(root / f"{corpus}_cot.yaml")
        assert cot.train.trainer == "cot" and cot.model.init_std == 0.1 and cot.train.grad_clip == 0.0
        assert (cot.cot.mediator_width, cot.cot.mediator_dropout, cot.cot.adam_beta2) == (2.0, 0.5, 0.95)
        assert (cot.cot.g_learning_rate, cot.cot.mediator_learning_rate) == (1e-3, 3e-3)
    # the papers' schedules (RelGAN's experiment scripts; CoT's TOTAL_BATCH)
    for name, epochs, steps in (("oracle", 150, 3000), ("coco", 150, 2000)):
        relgan = load_config(root / f"{name}_gumbel_relgan.yaml")
        assert (relgan.train.epochs, relgan.gumbel.adversarial_steps, relgan.gumbel.beta_steps) == (epochs, steps, 5000)
    assert load_config(root / "oracle_cot.yaml").cot.steps == 200_000


def test_an_adversarial_step_updates_g_first_then_d(tmp_path, txt_corpus, monkeypatch):
    """RelGAN's loop: gsteps G updates, then dsteps D updates, all at the step's beta."""
    from textgan.training.gumbel import GumbelTrainer

    calls = []
    monkeypatch.setattr(GumbelTrainer, "generator_step", lambda self, beta: calls.append(("G", beta)) or {"g_loss": 0.0})
    monkeypatch.setattr(GumbelTrainer, "discriminator_step",
                        lambda self, beta: calls.append(("D", beta)) or {"d_loss": 0.0})
    api.train(gumbel_config(txt_corpus, **{"gumbel.adversarial_steps": 2, "gumbel.d_steps": 3}), tmp_path / "run")
    kinds = [kind for kind, _ in calls]  # every step is G, D, D, D
    assert len(kinds) >= 8 and kinds == ["G", "D", "D", "D"] * (len(kinds) // 4)
    assert len({beta for _, beta in calls[-4:]}) == 1


@pytest.mark.parametrize("setting", [{"gan.label_smoothing": 0.2}, {"gan.instance_noise": 0.5}])
def test_label_smoothing_and_instance_noise_reach_the_discriminator(tmp_path, txt_corpus, setting):
    """gumbel ignored both: the same D update with and without them."""
    plain = make_trainer(tmp_path / "plain", txt_corpus, **{"gumbel.objective": "minimax"})
    changed = make_trainer(tmp_path / "changed", txt_corpus, **{"gumbel.objective": "minimax"}, **setting)
    assert plain.discriminator_step(1.0)["d_loss"] != changed.discriminator_step(1.0)["d_loss"]


def test_instance_noise_falls_over_its_steps(tmp_path, txt_corpus):
    trainer = make_trainer(tmp_path, txt_corpus, **{"gan.instance_noise": 0.4, "gan.instance_noise_steps": 4})
    stds = []
    for step in range(6):
        trainer.phase_steps = step
        stds.append(trainer.instance_noise())
    assert stds == pytest.approx([0.4, 0.3, 0.2, 0.1, 0.0, 0.0])


def test_label_smoothing_with_an_objective_without_a_real_label_is_refused(tmp_path, txt_corpus, capsys):
    argv = ["train", "--corpus", str(txt_corpus), "--tokenizer", "word", "--out", str(tmp_path / "run"),
            "--device", "cpu", "--trainer", "gumbel", "--set", "gumbel.objective=wgan_gp",
            "--set", "gan.label_smoothing=0.1", "--set", "train.epochs=1"]
    err = cli_error(argv, capsys)
    assert "gan.label_smoothing applies to" in err and "not gumbel.objective=wgan_gp" in err
