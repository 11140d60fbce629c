"""Image-style text GAN: generator contract, every objective training end to end, clipping, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from textgan import api
from textgan.checkpoint import RunDirectory
from textgan.cli import main
from textgan.errors import TextGanError
from textgan.evaluate import text_metrics
from textgan.metrics import bleu
from textgan.models import build_generator, load_generator
from textgan.models.continuous import AutoencoderDiscriminator, ContinuousGenerator, NoLikelihoodError, ResidualCritic
from textgan.training.gan_objectives import OBJECTIVES, Objective
from textgan.training import TRAINERS
from textgan.training.base import NonFiniteLossError
from textgan.training.continuous_gan import ContinuousGANTrainer
from textgan.training.runtime import make_runtime

from conftest import cli_error, tiny_config

GAN_SETTINGS = {
    "train.trainer": "gan", "train.learning_rate": 0.002, "train.epochs": 2,
    "discriminator.learning_rate": 0.002, "discriminator.embedding_dim": 8,
    "discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [6, 6], "discriminator.l2": 0.0,
    "gan.noise_dim": 8, "gan.hidden_dim": 8, "gan.num_blocks": 1, "gan.d_steps": 2,
    "gan.eval_every": 2, "gan.eval_samples": 8, "gan.began_hidden_dim": 8,
}


def gan_config(corpus: Path, **overrides: object):
    return tiny_config(corpus, **{**GAN_SETTINGS, **overrides})


def records(run: Path, phase: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["phase"] == phase]


def make_trainer(cfg, run: Path) -> ContinuousGANTrainer:
    data = api.build_data(cfg)
    generator = ContinuousGANTrainer.new_generator(cfg, data)
    return ContinuousGANTrainer(cfg, RunDirectory(run), make_runtime("cpu", "fp32"), data, generator)


def test_registered_as_gan():
    assert TRAINERS["gan"] is ContinuousGANTrainer


def test_a_transformer_is_refused_in_one_line(tmp_path, txt_corpus, capsys):
    # The image-style generator is not a model.kind: asking for a Transformer must not train it silently.
    err = cli_error(["train", "--trainer", "gan", "--model", "transformer", "--corpus", str(txt_corpus),
                     "--out", str(tmp_path / "run")], capsys)
    assert "train.trainer=gan" in err and "model.kind=transformer" in err and "drop --model transformer" in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(TypeError, match="ContinuousGANTrainer.new_generator"):
        cfg = gan_config(txt_corpus)
        data = api.build_data(cfg)
        tok = data.tokenizer
        plain = build_generator(cfg.model, tok.vocab_size, 10, tok.bos_id, tok.eos_id, tok.pad_id)
        ContinuousGANTrainer(cfg, RunDirectory(tmp_path / "other"), make_runtime("cpu", "fp32"), data, plain)


@pytest.mark.parametrize("architecture, output", [("conv", "softmax"), ("mlp", "embedding")])
def test_generator_emits_whole_sentences_from_noise(architecture, output):
    torch.manual_seed(0)
    model = ContinuousGenerator(11, 6, bos_id=1, eos_id=2, pad_id=0, noise_dim=4, hidden_dim=8,
                                architecture=architecture, output=output, embedding_dim=5)
    z = model.noise(3, torch.Generator().manual_seed(0))
    generated = model.generate(z)
    assert generated.shape == (3, 6, 11 if output == "softmax" else 5)
    if output == "softmax":
        assert torch.allclose(generated.sum(-1), torch.ones(3, 6))
    real = model.encode_real(torch.tensor([[3, 4, 2, 0, 0, 0]]))
    assert real.shape == (1, 6, model.feature_dim)
    rows = model.sample(50, generator=torch.Generator().manual_seed(1))
    assert rows.shape == (50, 6)
    assert torch.equal(rows, model.sample(50, generator=torch.Generator().manual_seed(1)))
    for row in rows.tolist():  # padding, and only padding, after the first <eos>
        if 2 in row:
            assert set(row[row.index(2) + 1 :]) <= {0}
    assert model.sample(2, max_len=9).shape == (2, 9)


def test_argmax_decoding_pads_after_the_first_end_token():
    model = ContinuousGenerator(5, 5, bos_id=1, eos_id=2, pad_id=0)
    scores = torch.full((1, 5, 5), -5.0)
    for position, token in enumerate([3, 2, 4, 2, 3]):
        scores[0, position, token] = 5.0
    assert model.decode_scores(scores).tolist() == [[3, 2, 0, 0, 0]]


def test_generator_has_no_likelihood_and_no_prompt():
    model = ContinuousGenerator(11, 6, eos_id=2, pad_id=0, noise_dim=4, hidden_dim=8)
    with pytest.raises(NoLikelihoodError, match="defines no token likelihood"):
        model.log_prob(torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(TextGanError, match="cannot continue a prompt"):
        model.sample(2, prefix=[3, 4])


@pytest.mark.parametrize("output", ["softmax", "embedding"])
def test_save_and_load_give_the_same_samples(tmp_path, output):
    model = ContinuousGenerator(11, 6, eos_id=2, pad_id=0, noise_dim=4, hidden_dim=8, output=output,
                                embedding_dim=5, decode="sample")
    model.save_pretrained(tmp_path)
    loaded = load_generator(tmp_path)
    assert isinstance(loaded, ContinuousGenerator) and loaded.decode == "sample"
    first = model.sample(7, temperature=0.7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, loaded.sample(7, temperature=0.7, generator=torch.Generator().manual_seed(3)))


def test_began_energy_is_a_reconstruction_error():
    torch.manual_seed(0)
    autoencoder = AutoencoderDiscriminator(feature_dim=7, max_length=4, hidden_dim=6)
    x = torch.softmax(torch.randn(3, 4, 7), dim=-1)
    energy = autoencoder(x)
    assert energy.shape == (3,)
    assert torch.allclose(energy, (autoencoder.reconstruct(x) - x).abs().sum(-1).mean(-1))
    assert bool((energy >= 0).all() and (energy <= 2).all())  # L1 between distributions


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_objective_trains_and_its_losses_move(tmp_path, txt_corpus, capsys, objective):
    run = tmp_path / "run"
    api.train(gan_config(txt_corpus, **{"gan.objective": objective}), run)
    steps = records(run, "gan")
    assert len(steps) == 6  # 7 real batches per epoch, 2 per round: 3 generator steps per epoch
    for key in ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "g_grad_norm"):
        assert all(isinstance(r[key], float) for r in steps)
    assert len({r["d_loss"] for r in steps}) > 1 and len({r["g_loss"] for r in steps}) > 1
    assert ("wasserstein" in steps[0]) == (objective in ("wgan", "wgan_gp"))
    assert ("gradient_penalty" in steps[0]) == (objective == "wgan_gp")
    assert ("began_k" in steps[0]) == (objective == "began")
    health = records(run, "gan_eval")
    assert [r["step"] for r in health] == [2, 4, 6]
    assert {"unique", "distinct_2", "bleu_2", "mean_length"} <= set(health[0])
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_embedding_mlp_generator_with_gan_practice_knobs(tmp_path, txt_corpus):
    run = tmp_path / "run"
    cfg = gan_config(txt_corpus, **{"gan.objective": "non_saturating", "gan.architecture": "mlp",
                                    "gan.output": "embedding", "gan.decode": "sample", "gan.label_smoothing": 0.1,
                                    "gan.instance_noise": 0.5, "gan.instance_noise_steps": 4})
    api.train(cfg, run)
    noise = [r["instance_noise"] for r in records(run, "gan")]
    assert noise[:5] == pytest.approx([0.5, 0.375, 0.25, 0.125, 0.0])
    assert isinstance(api.load(run).generator, ContinuousGenerator)


def test_health_bleu_scores_empty_samples_as_evaluate_does(tmp_path, txt_corpus, monkeypatch):
    # Half the fixed-noise sample is empty (<eos> first): those score 0, as in `textgan evaluate`.
    trainer = make_trainer(gan_config(txt_corpus, **{"gan.eval_samples": 8}), tmp_path / "run")
    real = trainer.data.train.tokens[:4]
    empty = torch.full_like(real, trainer.tokenizer.pad_id)
    empty[:, 0] = trainer.tokenizer.eos_id
    monkeypatch.setattr(trainer.model, "decode_scores", lambda scores, generator=None: torch.cat([real, empty]))
    health = trainer.health_metrics()
    samples = [trainer.tokenizer.tokens(r) for r in torch.cat([real, empty]).tolist()]
    assert health["bleu_2"] == pytest.approx(text_metrics(samples, trainer.references, 2, False)["bleu2"])
    assert health["bleu_2"] == pytest.approx(bleu(samples[:4], trainer.references, 2) / 2)
    assert health["mean_length"] == pytest.approx(sum(map(len, samples[:4])) / 8)


def test_residual_critic_scores_whole_sequences_and_trains_under_wgan_gp(tmp_path, txt_corpus):
    # Gulrajani et al.'s critic: width-1 conv to the residual blocks, one score per sequence whose
    # gradient reaches every position (the penalty needs it), trained and resumed with the run.
    torch.manual_seed(0)
    critic = ResidualCritic(feature_dim=7, max_length=4, hidden_dim=6, num_blocks=2)
    x = torch.softmax(torch.randn(3, 4, 7), dim=-1).requires_grad_(True)
    scores = critic(x)
    assert scores.shape == (3,)
    (grad,) = torch.autograd.grad(scores[0], x)
    assert bool((grad[0].abs().sum(-1) > 0).all()) and not grad[1:].any()  # rows do not mix
    with pytest.raises(ValueError, match=r"\(B, T, 7\)"):
        critic(torch.zeros(3, 4, dtype=torch.long))
    run = tmp_path / "run"
    cfg = gan_config(txt_corpus, **{"gan.critic": "resnet", "gan.d_steps": 2})
    trainer = make_trainer(cfg, run)
    assert isinstance(trainer.discriminator, ResidualCritic) and len(trainer.discriminator.body) == 1
    before = [p.detach().clone() for p in trainer.discriminator.parameters()]
    stats = trainer.discriminator_step(torch.arange(8))
    assert stats["gradient_penalty"] > 0
    moved = [not torch.equal(a, b) for a, b in zip(before, trainer.discriminator.parameters()) if a.dim() > 1]
    assert all(moved)  # every weight (a bias may not: the critic loss is blind to a constant)
    api.train(cfg, run)
    assert [r["step"] for r in records(run, "gan_eval")] == [2, 4, 6]


def test_embedding_output_with_the_residual_critic(tmp_path, txt_corpus):
    cfg = gan_config(txt_corpus, **{"gan.critic": "resnet", "gan.output": "embedding", "gan.objective": "hinge"})
    trainer = make_trainer(cfg, tmp_path / "run")
    assert trainer.discriminator.feature_dim == cfg.discriminator.embedding_dim
    assert isinstance(trainer.generator_step(torch.arange(8))["g_loss"], float)


def test_weight_clipping_holds_after_every_step(tmp_path, txt_corpus):
    trainer = make_trainer(gan_config(txt_corpus, **{"gan.objective": "wgan", "gan.clip": 0.02,
                                                     "discriminator.learning_rate": 0.5}), tmp_path / "run")
    assert isinstance(trainer.d_optimizer, torch.optim.RMSprop)
    for step in range(4):
        trainer.discriminator_step(torch.arange(8) + 8 * step)
        largest = max(float(p.detach().abs().max()) for p in trainer.discriminator.parameters())
        assert largest <= 0.02


def test_wgan_gp_uses_adam_with_its_betas(tmp_path, txt_corpus):
    trainer = make_trainer(gan_config(txt_corpus), tmp_path / "run")
    assert isinstance(trainer.g_optimizer, torch.optim.Adam)
    assert trainer.d_optimizer.defaults["betas"] == (0.5, 0.9)


def test_resume_repeats_the_run_exactly(tmp_path, txt_corpus):
    straight, split = tmp_path / "straight", tmp_path / "split"
    api.train(gan_config(txt_corpus, **{"train.epochs": 2}), straight)
    api.train(gan_config(txt_corpus, **{"train.epochs": 1}), split)
    api.train(gan_config(txt_corpus, **{"train.epochs": 2}), split, resume=True)
    a, b = api.load(straight, "latest"), api.load(split, "latest")
    for (name, x), (_, y) in zip(a.generator.state_dict().items(), b.generator.state_dict().items()):
        assert torch.equal(x, y), name
    assert records(straight, "gan") == records(split, "gan")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, txt_corpus, monkeypatch, capsys):
    calls = {"n": 0}

    def poisoned_d_loss(real, fake, target=1.0):
        calls["n"] += 1
        loss = OBJECTIVES["hinge"].d_loss(real, fake, target)
        return loss * float("nan") if calls["n"] > 5 else loss  # the 6th D step: generator step 3

    poisoned = Objective("hinge", poisoned_d_loss, OBJECTIVES["hinge"].g_loss, False, False, 0.0)
    monkeypatch.setattr("textgan.training.continuous_gan.get_objective", lambda name: poisoned)
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="discriminator loss became non-finite at step 3"):
        api.train(gan_config(txt_corpus, **{"gan.objective": "hinge"}), run)
    assert RunDirectory(run).pointed("latest").name == "step-00000002"
    calls["n"] = 0
    capsys.readouterr()
    code = main(["train", "--trainer", "gan", "--corpus", str(txt_corpus), "--tokenizer", "word",
                 "--max-length", "10", "--batch-size", "8", "--out", str(tmp_path / "cli"),
                 *[arg for key, value in GAN_SETTINGS.items() if key != "train.trainer"
                   for arg in ("--set", f"{key}={json.dumps(value)}")]])
    err = capsys.readouterr().err
    assert code == 2 and "non-finite" in err and err.count("\n") == 1


ORACLE_SETTINGS = {"data.corpus": "oracle", "data.oracle_vocab_size": 30, "data.oracle_samples": 64,
                   "data.oracle_seq_len": 8, "data.oracle_hidden_dim": 8, "data.oracle_embedding_dim": 8}


def test_gan_on_oracle_data_reports_nll_oracle(tmp_path):
    run = tmp_path / "run"
    api.train(gan_config("oracle", **ORACLE_SETTINGS, **{"gan.objective": "lsgan"}), run)
    health = records(run, "gan_eval")
    assert all(r["nll_oracle"] > 0 for r in health)
    rows = api.load(run).generator.sample(4)
    assert rows.shape == (4, 8) and int(rows.max()) < 30
