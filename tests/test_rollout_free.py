"""Rollout-free adversarial trainers: ScratchGAN's dense rewards, returns and baseline, GAD's group
advantages, k3 KL, discriminator losses and clipping, with known answers; their networks; and
both trainers end to end (same seed = same run, --init-from a run folder, prompt -> reply data)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from textgan import api
from textgan.checkpoint import RunDirectory, read_state
from textgan.cli import main
from textgan.data import build_data
from textgan.data.tokenizer import vocabulary_tokenizer
from textgan.errors import ConfigError
from textgan.models import load_generator
from textgan.models.scratchgan import RecurrentDiscriminator, TiedLSTMGenerator, read_word_vectors
from textgan.training.gad import (binary_loss, bradley_terry_loss, clipped_surrogate, group_advantages,
                                  k3_kl)
from textgan.training.scratchgan import dense_rewards, discounted_returns, moving_baseline

SMALL_D = {"discriminator.embedding_dim": 8, "discriminator.filter_sizes": [2, 3], "discriminator.num_filters": [6, 6],
           "discriminator.dropout": 0.0}
SCRATCHGAN = {"train.trainer": "scratchgan", "scratchgan.steps": 4, "scratchgan.eval_every": 2,
              "scratchgan.d_hidden_dim": 8, "scratchgan.d_embedding_dim": 8, "scratchgan.d_embedding_dropout": 0.0}
GAD = {"train.trainer": "gad", "gad.steps": 4, "gad.eval_every": 2, "gad.group_size": 4, "gad.pretrain_epochs": 1,
       **SMALL_D}


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# -- ScratchGAN's rules ------------------------------------------------------------------------------
def test_dense_reward_is_two_sigmoid_minus_one():
    logits = torch.tensor([[0.0, math.log(3.0), -math.log(3.0), 50.0]])
    assert torch.allclose(dense_rewards(logits), torch.tensor([[0.0, 0.5, -0.5, 1.0]]))


def test_discounted_returns_by_hand():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]])
    assert torch.allclose(discounted_returns(rewards, 0.5), torch.tensor([[2.75, 3.5, 3.0], [1.0, 0.0, 0.0]]))
    assert torch.equal(discounted_returns(rewards, 0.0), rewards)


def test_moving_baseline_by_hand():
    assert moving_baseline(1.0, 3.0, 0.08) == pytest.approx(0.08 * 1.0 + 0.92 * 3.0)
    assert moving_baseline(1.0, 3.0, 1.0) == 1.0 and moving_baseline(1.0, 3.0, 0.0) == 3.0


# -- GAD's rules ---------------------------------------------------------------------------------
def test_grpo_advantages_are_normalised_within_each_group():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    advantages = group_advantages(rewards, "grpo")
    assert torch.allclose(advantages[0], torch.tensor([-1.0, 0.0, 1.0]) / (1.0 + 1e-4))
    assert torch.equal(advantages[1], torch.zeros(3))  # equal rewards: nothing to learn
    assert torch.allclose(advantages.sum(dim=1), torch.zeros(2), atol=1e-6)


def test_rloo_advantage_is_reward_minus_the_others_mean():
    rewards = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    expected = torch.tensor([[1 - 11 / 3, 2 - 10 / 3, 3 - 9 / 3, 6 - 6 / 3]])
    assert torch.allclose(group_advantages(rewards, "rloo"), expected)
    assert float(group_advantages(rewards, "rloo").sum()) == pytest.approx(0.0, abs=1e-6)


def test_k3_is_zero_for_equal_policies_nonnegative_and_unbiased_for_the_kl():
    torch.manual_seed(0)
    log_pi = torch.log_softmax(torch.randn(7), dim=0)
    log_ref = torch.log_softmax(torch.randn(7), dim=0)
    assert torch.equal(k3_kl(log_pi, log_pi), torch.zeros(7))
    assert bool((k3_kl(log_pi, log_ref) >= 0).all())
    # its expectation under pi is KL(pi || ref) exactly
    expectation = (log_pi.exp() * k3_kl(log_pi, log_ref)).sum()
    kl = (log_pi.exp() * (log_pi - log_ref)).sum()
    assert float(expectation) == pytest.approx(float(kl), rel=1e-5)


def test_bradley_terry_and_binary_losses_by_hand():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    assert torch.allclose(bradley_terry_loss(real, fake), torch.tensor([math.log1p(math.exp(-2.0)), math.log(2.0)]))
    assert torch.allclose(binary_loss(real, fake),
                          torch.tensor([0.5 * (math.log1p(math.exp(-2.0)) + math.log(2.0)), math.log(2.0)]))


def test_clipping_keeps_the_pessimistic_side_and_stops_its_gradient():
    log_probs = torch.tensor([0.5, 0.5, -0.5], requires_grad=True)
    old = torch.zeros(3)
    advantages = torch.tensor([1.0, -1.0, 1.0])
    loss = clipped_surrogate(log_probs, old, advantages, 0.2)
    ratio = math.exp(0.5)
    assert torch.allclose(loss, torch.tensor([-1.2, ratio, -math.exp(-0.5)]))
    loss.sum().backward()
    # clipped (ratio 1.65 > 1.2 with A > 0): no gradient; the others: -A * ratio
    assert torch.allclose(log_probs.grad, torch.tensor([0.0, ratio, -math.exp(-0.5)]))
    assert torch.allclose(clipped_surrogate(log_probs, old, advantages, 0.0).detach(),
                          torch.tensor([-ratio, ratio, -math.exp(-0.5)]))


# -- networks --------------------------------------------------------------------------------------
def test_recurrent_discriminator_is_causal_and_silent_after_eos():
    torch.manual_seed(0)
    d = RecurrentDiscriminator(12, eos_id=1, embedding_dim=4, hidden_dim=6, num_layers=2, embedding_dropout=0.0).eval()
    rows = torch.tensor([[5, 6, 7, 1, 9, 9], [5, 6, 8, 3, 4, 1]])
    logits = d.token_logits(rows)
    assert logits.shape == (2, 6) and torch.equal(logits[0, 4:], torch.zeros(2))
    assert torch.allclose(logits[0, :2], logits[1, :2])  # the same prefix, whatever follows
    assert torch.allclose(d(rows), torch.stack([logits[0, 3], logits[1, 5]]))


def test_tied_generator_scores_against_its_input_table_and_round_trips(tmp_path: Path):
    torch.manual_seed(0)
    g = TiedLSTMGenerator(10, 6, bos_id=0, eos_id=1, embedding_dim=4, hidden_dim=5, num_layers=2, frozen_dim=3).eval()
    g.table.set_frozen(torch.randn(10, 3))
    assert g.table.dim == 7 and "table.frozen" in g.state_dict()
    assert all(p is not g.table.frozen for p in g.parameters())  # frozen: a buffer, never trained
    tokens = torch.tensor([[0, 4, 5]])
    hidden, table, bias = g.output_features(tokens)
    assert torch.allclose(g.logits(tokens)[0], hidden @ table.T + bias)
    rows = g.sample(3, generator=torch.Generator().manual_seed(0))
    g.save_pretrained(tmp_path)
    loaded = load_generator(tmp_path).eval()
    assert isinstance(loaded, TiedLSTMGenerator)
    assert torch.equal(loaded.log_prob(rows), g.log_prob(rows))


def test_word_vectors_are_read_by_token_and_zero_where_missing(tmp_path: Path):
    tokenizer = vocabulary_tokenizer(6)
    words = tokenizer.tokens(range(6))
    path = tmp_path / "vectors.txt"
    path.write_text(f"2 3\n{words[3]} 1 2 3\nunknownword 9 9 9\n{words[4]} -1 0 0.5\n", encoding="utf-8")
    table = read_word_vectors(path, tokenizer)
    assert table.shape == (6, 3)
    assert table[3].tolist() == [1.0, 2.0, 3.0] and table[4].tolist() == [-1.0, 0.0, 0.5]
    assert float(table[5].abs().sum()) == 0.0
    path.write_text(f"{words[3]} 1 2 3\n{words[4]} 1 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        read_word_vectors(path, tokenizer)


# -- trainers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", [SCRATCHGAN, GAD], ids=["scratchgan", "gad"])
def test_same_seed_same_run(tmp_path: Path, txt_corpus: Path, settings: dict):
    for name in ("a", "b"):
        api.train(tiny_config(txt_corpus, **settings), tmp_path / name)
    strip = lambda run: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records(run)]
    assert strip(tmp_path / "a") == strip(tmp_path / "b")
    assert [r["adversarial_step"] for r in records(tmp_path / "a") if r["phase"] == "adversarial"] == [1, 2, 3, 4]


def test_scratchgan_trains_g_from_scratch_with_frozen_word_vectors(tmp_path: Path, txt_corpus: Path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the 1 0\ncat 0 1\n", encoding="utf-8")
    api.train(tiny_config(txt_corpus, **SCRATCHGAN, **{"scratchgan.word_vectors": str(vectors)}), tmp_path / "run")
    log = records(tmp_path / "run")
    assert "train_nll" not in json.dumps(log)  # no MLE epoch
    adversarial = [r for r in log if r["phase"] == "adversarial"]
    assert all(0 <= r["d_real"] <= 1 and -1 <= r["reward"] <= 1 for r in adversarial)
    state = read_state(RunDirectory(tmp_path / "run", write=False).pointed("latest"))
    assert state["extra"]["baseline"] == pytest.approx(adversarial[-1]["baseline"])
    generator = api.load(tmp_path / "run", prefer="latest").generator
    token = api.load(tmp_path / "run").tokenizer.token_id("the")
    assert generator.table.frozen[token].tolist() == [1.0, 0.0]  # untouched by four G updates


def test_gad_from_an_mle_run_folder_on_dialogues_then_sample_and_chat(tmp_path: Path, dialogue_corpus: Path, capsys):
    fields = {"data.prompt_field": "prompt", "data.reply_field": "reply", "tokenizer.max_length": 12}
    api.train(tiny_config(dialogue_corpus, **fields), tmp_path / "mle")
    sets = {**GAD, **fields, "gad.pretrain_epochs": 0, "gad.discriminator": "recurrent", "gad.d_hidden_dim": 8,
            "gad.d_loss": "binary", "gad.advantage": "rloo", "gad.inner_epochs": 2}
    argv = ["train", "--out", str(tmp_path / "gad"), "--init-from", str(tmp_path / "mle")]
    for key, value in {**sets, "data.corpus": str(dialogue_corpus), "tokenizer.kind": "word", "train.batch_size": 8,
                       "model.embedding_dim": 16, "model.hidden_dim": 16, "train.device": "cpu"}.items():
        argv += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    assert main(argv) == 0
    log = records(tmp_path / "gad")
    adversarial = [r for r in log if r["phase"] == "adversarial"]
    assert len(adversarial) == 4 and all(r["kl"] >= 0 and 0 <= r["d_pair_accuracy"] <= 1 for r in adversarial)
    # the KL starts from the MLE run's generator: its first update is from the reference itself
    start = api.load(tmp_path / "mle").generator
    reference = api.load(tmp_path / "gad", prefer="latest").path / "reference.safetensors"
    from safetensors.torch import load_file

    saved = load_file(str(reference))
    assert all(torch.equal(saved[k], v) for k, v in start.state_dict().items())
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "gad"), "--prompt", "how are you ?", "-n", "2"]) == 0


def test_gad_refuses_a_batch_that_splits_a_group_and_a_start_it_lacks(tmp_path: Path, txt_corpus: Path, capsys):
    from conftest import cli_error

    base = ["train", "--corpus", str(txt_corpus), "--trainer", "gad", "--out", str(tmp_path / "r")]
    assert "--init-from" in cli_error(base, capsys)
    message = cli_error([*base, "--set", "gad.pretrain_epochs=1", "--batch-size", "10"], capsys)
    assert "multiple of gad.group_size" in message


def test_gad_records_the_log_probs_its_samples_were_drawn_with(tmp_path: Path, txt_corpus: Path):
    from textgan.training.gad import token_log_probs

    cfg = tiny_config(txt_corpus, **GAD)
    data = build_data(cfg)
    from textgan.training import TRAINERS
    from textgan.training.runtime import make_runtime

    torch.manual_seed(0)
    trainer = TRAINERS["gad"](cfg, RunDirectory(tmp_path / "run"), make_runtime("cpu", "fp32"), data,
                              TRAINERS["gad"].new_generator(cfg, data))
    rows, lengths = data.train.tokens[:6], torch.tensor([0, 0, 1, 2, 3, 0])
    draws = torch.rand(6, rows.shape[1], generator=torch.Generator().manual_seed(1))
    fake, drawn = trainer.sample_with_log_probs(rows, lengths, draws)
    assert torch.equal(fake, trainer.generate(rows, lengths, draws))  # the same tokens as every other trainer
    from textgan.data.encoding import scored_mask

    mask = scored_mask(fake, lengths, trainer.generator.eos_id)
    teacher_forced = trainer.generator.eval().log_prob(fake)
    assert torch.allclose(drawn[mask], teacher_forced[mask], atol=1e-5)
    assert torch.allclose(token_log_probs(trainer.generator, fake, block_rows=5), teacher_forced, atol=1e-5)


def test_gad_fine_tunes_a_pretrained_causal_lm_on_replies_and_exports_it(tmp_path: Path, dialogue_corpus: Path,
                                                                          tiny_pretrained: Path):
    sets = {**GAD, "gad.pretrain_epochs": 0, "model.init_from": str(tiny_pretrained), "data.prompt_field": "prompt",
            "data.reply_field": "reply", "tokenizer.max_length": 48, "gad.steps": 2, "gad.inner_epochs": 1,
            "gad.discriminator": "recurrent", "gad.d_hidden_dim": 8, "gad.g_learning_rate": 1e-3}
    api.train(tiny_config(dialogue_corpus, **sets), tmp_path / "gad")
    adversarial = [r for r in records(tmp_path / "gad") if r["phase"] == "adversarial"]
    assert len(adversarial) == 2 and adversarial[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # starts at the reference
    assert main(["export", str(tmp_path / "gad"), "--out", str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "config.json").is_file()
