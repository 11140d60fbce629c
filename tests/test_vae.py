"""Sentence VAE: KL term, annealing schedules, active units, interpolation, training end to end."""

from __future__ import annotations

import json

import pytest
import torch

from textgan import api
from textgan.cli import main
from textgan.errors import TextGanError
from textgan.models import load_generator
from textgan.models.vae import SentenceVAE, active_units, gaussian_kl, interpolate, interpolate_texts
from textgan.training import TRAINERS
from textgan.training.vae import VAETrainer, kl_weight

from conftest import tiny_config

VAE_SETTINGS = {"train.trainer": "vae", "train.learning_rate": 0.01, "vae.latent_dim": 4,
                "vae.kl_anneal_steps": 10, "train.epochs": 2}


DECODERS = ["lstm", "transformer"]


def tiny_vae(decoder: str = "lstm") -> SentenceVAE:
    torch.manual_seed(0)
    return SentenceVAE(12, 7, bos_id=1, eos_id=2, pad_id=0, embedding_dim=6, hidden_dim=8, latent_dim=3,
                       decoder=decoder, num_heads=2)


def test_registered_as_vae():
    assert TRAINERS["vae"] is VAETrainer


def test_kl_is_zero_at_the_prior_and_matches_torch():
    assert float(gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max()) == 0.0
    mean, log_variance = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.3, -0.7]])
    posterior = torch.distributions.Normal(mean, (0.5 * log_variance).exp())
    expected = torch.distributions.kl_divergence(posterior, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(gaussian_kl(mean, log_variance), expected)


def test_kl_weight_schedules():
    assert [kl_weight(s, "linear", 4) for s in (0, 2, 4, 9)] == [0.0, 0.5, 1.0, 1.0]
    # cyclical, period 4, rising over the first half of each cycle
    assert [kl_weight(s, "cyclical", 4, 0.5) for s in range(9)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 0.0]
    assert kl_weight(0, "constant", 4) == 1.0


def test_active_units_counts_dimensions_that_vary_across_sentences():
    g = torch.Generator().manual_seed(0)
    means = torch.zeros(100, 4)
    means[:, 1] = torch.randn(100, generator=g)
    means[:, 3] = 0.5 * torch.randn(100, generator=g)
    means[:, 2] = 0.01 * torch.randn(100, generator=g)  # variance 1e-4: inactive
    assert active_units(means, 0.01) == 2


@pytest.mark.parametrize("decoder", DECODERS)
def test_incremental_decoding_equals_teacher_forcing_given_z(decoder):
    model = tiny_vae(decoder).eval()
    inputs, z = model.inputs_for(torch.randint(3, 12, (3, 7))), torch.randn(3, 3)
    full = model.decode_logits(inputs, z)
    first, state = model.logits(inputs[:, :4], model.initial_state(z))
    state = model.select_state(state, torch.tensor([0, 1, 2]))
    rest, _ = model.logits(inputs[:, 4:], state)
    assert torch.allclose(torch.cat([first, rest], 1), full, atol=1e-5)
    assert not torch.allclose(model.decode_logits(inputs, torch.randn(3, 3)), full)  # the decoder reads z


@pytest.mark.parametrize("decoder", DECODERS)
def test_sampling_from_the_prior_is_seeded_and_padded(decoder):
    model = tiny_vae(decoder)
    rows = model.sample(20, temperature=0.8, generator=torch.Generator().manual_seed(1))
    assert rows.shape == (20, 7)
    assert torch.equal(rows, model.sample(20, temperature=0.8, generator=torch.Generator().manual_seed(1)))
    for row in rows.tolist():
        if 2 in row:
            assert set(row[row.index(2) + 1 :]) <= {0}
    assert model.log_prob(rows).shape == (20, 7)


@pytest.mark.parametrize("decoder", DECODERS)
def test_word_dropout_of_one_hides_every_input_but_bos(decoder):
    model = tiny_vae(decoder)
    z = torch.randn(2, 3)
    a = torch.tensor([[1, 3, 4, 5], [1, 6, 7, 8]])
    b = torch.tensor([[1, 9, 9, 9], [1, 10, 3, 4]])
    assert torch.allclose(model.decode_logits(a, z, 1.0), model.decode_logits(b, z, 1.0))
    assert not torch.allclose(model.decode_logits(a, z, 0.0), model.decode_logits(b, z, 0.0))


@pytest.mark.parametrize("decoder", DECODERS)
def test_save_and_load_round_trip(tmp_path, decoder):
    model = tiny_vae(decoder)
    model.save_pretrained(tmp_path)
    loaded = load_generator(tmp_path)
    assert isinstance(loaded, SentenceVAE) and loaded.decoder_kind == decoder
    seed = torch.Generator().manual_seed(4)
    assert torch.equal(model.sample(5, generator=seed), loaded.sample(5, generator=torch.Generator().manual_seed(4)))


def test_interpolation_runs_between_the_two_posterior_means():
    model = tiny_vae()
    first, second = torch.tensor([3, 4, 2, 0, 0, 0, 0]), torch.tensor([5, 6, 7, 2, 0, 0, 0])
    rows = interpolate(model, first, second, steps=4)
    assert rows.shape == (4, 7)
    means, _ = model.encode(torch.stack([first, second]))
    assert torch.equal(rows[0], model.decode(means[:1], greedy=True)[0])
    assert torch.equal(rows[-1], model.decode(means[1:], greedy=True)[0])
    with pytest.raises(TextGanError, match="at least 2 steps"):
        interpolate(model, first, second, steps=1)


def test_vae_trains_reports_its_bound_and_samples(tmp_path, txt_corpus, capsys):
    run = tmp_path / "run"
    api.train(tiny_config(txt_corpus, **VAE_SETTINGS), run)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert {"val_elbo", "val_reconstruction", "val_kl", "val_nll_bound", "val_active_units", "kl_weight",
            "train_reconstruction", "train_kl"} <= set(lines[0])
    assert lines[1]["train_reconstruction"] < lines[0]["train_reconstruction"]
    assert lines[0]["kl_weight"] < lines[1]["kl_weight"] == 1.0
    assert lines[0]["val_elbo"] == pytest.approx(-(lines[0]["val_reconstruction"] + lines[0]["val_kl"]))
    checkpoint = api.load(run)
    assert isinstance(checkpoint.generator, SentenceVAE)
    texts = interpolate_texts(checkpoint.generator, checkpoint.tokenizer, "the cat sat", "a dog ran far", 3)
    assert len(texts) == 3
    with pytest.raises(TextGanError, match="pass a shorter non-empty sentence"):
        interpolate_texts(checkpoint.generator, checkpoint.tokenizer, "the " * 20, "a dog", 3)
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "3", "--temperature", "0.7"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


@pytest.mark.parametrize("decoder", DECODERS)
def test_vae_resume_is_exact(tmp_path, txt_corpus, decoder):
    # model.kind picks the decoder: --model transformer trains a VAE with a Transformer decoder
    settings = {**VAE_SETTINGS, "model.kind": decoder}
    straight, split = tmp_path / "straight", tmp_path / "split"
    api.train(tiny_config(txt_corpus, **settings), straight)
    assert api.load(straight).generator.decoder_kind == decoder
    api.train(tiny_config(txt_corpus, **{**settings, "train.epochs": 1}), split)
    api.train(tiny_config(txt_corpus, **settings), split, resume=True)
    a, b = api.load(straight, "latest").generator, api.load(split, "latest").generator
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_bad_vae_settings_exit_2(tmp_path, capsys):
    assert main(["train", "--trainer", "vae", "--set", "vae.kl_schedule=sigmoid", "--out", str(tmp_path / "r")]) == 2
    assert "vae.kl_schedule must be one of linear, cyclical, constant" in capsys.readouterr().err


def test_vae_on_oracle_sequences_without_end_tokens(tmp_path):
    settings = {"data.corpus": "oracle", "data.oracle_vocab_size": 30, "data.oracle_samples": 64,
                "data.oracle_seq_len": 8, "data.oracle_hidden_dim": 8, "data.oracle_embedding_dim": 8}
    api.train(tiny_config("oracle", **VAE_SETTINGS, **settings), tmp_path / "run")
    model = api.load(tmp_path / "run").generator
    assert isinstance(model, SentenceVAE) and model.sample(3).shape == (3, 8)
