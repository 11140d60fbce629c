"""LeakGAN: the rescaled activation, goal handling, the Worker's logits, the Manager's and
Worker's rewards by hand, save/load and sampling, a whole run, one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from textgan.api import load, sample, train
from textgan.cli import main
from textgan.training.discrete_gan_rewards import goal_cosines, intrinsic_rewards, rescaled_activation
from textgan.models import load_generator
from textgan.models.leakgan import LeakGANGenerator, renewed_goals

from test_policy_gradient import records, tiny_seqgan_config

sigmoid = lambda x: 1.0 / (1.0 + math.exp(-x))


def tiny_generator(**overrides: object) -> LeakGANGenerator:
    torch.manual_seed(0)
    options = dict(vocab_size=7, max_length=6, bos_id=5, eos_id=6, pad_id=None, embedding_dim=8, hidden_dim=8,
                   manager_hidden_dim=8, goal_size=3, step_size=2, discriminator_embedding_dim=4,
                   filter_sizes=[2, 3], num_filters=[4, 5])
    return LeakGANGenerator(**{**options, **overrides}).eval()


def test_rescaled_activation_ranks_each_column_by_value_with_ties_sharing_their_mean_rank():
    # column 0: 0.9 > 0.7 > 0.2 > 0.1 (inserted out of order); column 1: a tie for the top two
    rewards = torch.tensor([[0.2, 0.5], [0.9, 0.5], [0.1, 0.3], [0.7, 0.1]])
    mask = torch.ones(4, 2, dtype=torch.bool)
    out = rescaled_activation(rewards, mask, delta=16.0)
    expected_0 = [sigmoid(16 * (rank / 4 - 0.5)) for rank in (2, 4, 1, 3)]
    tied = sigmoid(16 * (3.5 / 4 - 0.5))
    expected_1 = [tied, tied, sigmoid(16 * (2 / 4 - 0.5)), sigmoid(16 * (1 / 4 - 0.5))]
    assert torch.allclose(out[:, 0], torch.tensor(expected_0))
    assert torch.allclose(out[:, 1], torch.tensor(expected_1))
    # only the scale-free rank counts: any increasing map of the rewards gives the same result
    assert torch.equal(rescaled_activation(rewards * 100 - 3, mask, 16.0), out)


def test_rescaled_activation_ranks_only_the_rows_that_chose_a_token():
    rewards = torch.tensor([[0.4], [0.1], [0.8]])
    mask = torch.tensor([[True], [True], [False]])  # row 2 ended before this position
    out = rescaled_activation(rewards, mask, delta=4.0)
    assert torch.allclose(out[:, 0], torch.tensor([sigmoid(4 * (2 / 2 - 0.5)), sigmoid(4 * (1 / 2 - 0.5)), 0.0]))


def test_worker_goal_is_renewed_every_c_steps_to_the_sum_of_the_last_c_goals():
    subgoals = torch.arange(1.0, 8.0).view(1, 7, 1)  # g_0..g_6 = 1..7
    first = torch.tensor([[100.0]])
    used, running, goal = renewed_goals(subgoals, torch.zeros(1, 1), first, first_step=0, step_size=3)
    # steps 0-2 use the first goal, steps 3-5 g_0 + g_1 + g_2, step 6 g_3 + g_4 + g_5
    assert used.flatten().tolist() == [100, 100, 100, 6, 6, 6, 15]
    assert goal.item() == 15 and running.item() == 7  # g_6 waits for the next renewal


def test_incremental_decoding_matches_the_teacher_forced_pass():
    """The state carries the prefix, both LSTMs and the goal bookkeeping across calls."""
    generator = tiny_generator()
    targets = torch.randint(0, 5, (3, 6), generator=torch.Generator().manual_seed(1))
    inputs = generator.inputs_for(targets)
    whole, _ = generator.logits(inputs)
    assert whole.shape == (3, 6, 7)  # the Worker's logits: one row of V per step
    pieces, state = generator.logits(inputs[:, :2])
    steps = [pieces]
    for t in range(2, 6):
        step_logits, state = generator.logits(inputs[:, t : t + 1], state)
        steps.append(step_logits)
    assert torch.allclose(torch.cat(steps, dim=1), whole, atol=1e-5)


def padded_prefix_features(cnn: torch.nn.Module, tokens: torch.Tensor, length: int, fill: int) -> torch.Tensor:
    """D's plain pass over the first `length` tokens padded with `fill` to max_length."""
    prefix = torch.full((tokens.shape[0], cnn.max_length), fill)
    prefix[:, :length] = tokens[:, :length]
    return cnn.sentence_features(cnn.features(cnn.embed(prefix))).flatten(1)


@pytest.mark.parametrize("sizes", [([2, 3], [4, 5]), ([1, 2, 6], [3, 4, 2])], ids=["canonical", "size-1-and-full-row"])
def test_features_grown_token_by_token_equal_the_plain_pass_over_each_padded_prefix(sizes):
    generator = tiny_generator(filter_sizes=sizes[0], num_filters=sizes[1])
    cnn, fill = generator.discriminator, generator.fill_id
    targets = torch.randint(0, 5, (3, 6), generator=torch.Generator().manual_seed(2))
    targets[1, 3:5] = fill  # a fill token inside a prefix leaves its padded form, so its features, as they were
    state = cnn.start_prefix(3, fill)
    state, first = cnn.grow_prefix(state, targets[:, :2], fill, include_start=True)  # lengths 0, 1, 2
    state, rest = cnn.grow_prefix(state, targets[:, 2:], fill)  # lengths 3..6
    grown = torch.cat([first, rest], dim=1)
    plain = torch.stack([padded_prefix_features(cnn, targets, length, fill) for length in range(7)], dim=1)
    assert state.length == 6 and torch.allclose(grown, plain, atol=1e-5)
    assert torch.equal(grown[1, 3], grown[1, 4]) and torch.equal(grown[1, 4], grown[1, 5])  # bit for bit
    # LeakGAN's teacher-forced pass over real tokens leaks exactly these features (f_0..f_T)
    targets[1, 3:5] = 4
    plain = torch.stack([padded_prefix_features(cnn, targets, length, fill) for length in range(7)], dim=1)
    _, _, leaked = generator.leak(targets)
    assert torch.allclose(leaked, plain, atol=1e-5)
    _, state = generator.logits(generator.inputs_for(targets)[:, :3])  # <bos> and a prefix of 2 tokens
    picked = generator.select_state(state, torch.tensor([2, 0]))
    _, after = cnn.grow_prefix(picked.prefix, targets[[2, 0], 2:3], fill)
    assert torch.allclose(after[:, 0], plain[[2, 0], 3], atol=1e-5)


def test_worker_logits_are_the_v_by_k_output_times_the_projected_goal():
    generator = tiny_generator()
    hidden, w = torch.randn(2, 8), torch.randn(2, 3)
    o_t = generator.worker_output(hidden).view(2, 7, 3)  # O_t: V x k per row
    assert torch.allclose(generator.goal_logits(hidden, w), (o_t @ w.unsqueeze(-1)).squeeze(-1), atol=1e-5)


def test_goal_cosines_and_intrinsic_rewards_by_hand():
    torch.manual_seed(0)
    features, goals = torch.randn(1, 4, 5), torch.randn(1, 3, 5)  # T = 3, c = 2
    cos = lambda a, b: float(F.cosine_similarity(a, b, dim=0))
    f, g = features[0], goals[0]
    expected_goal = [cos(f[2] - f[0], g[0]), cos(f[3] - f[1], g[1]), cos(f[3] - f[2], g[2])]
    assert torch.allclose(goal_cosines(features, goals, 2)[0], torch.tensor(expected_goal), atol=1e-6)
    expected_intrinsic = [cos(f[1] - f[0], g[0]) / 2,
                          (cos(f[2] - f[1], g[1]) + cos(f[2] - f[0], g[0])) / 2,
                          (cos(f[3] - f[2], g[2]) + cos(f[3] - f[1], g[1])) / 2]
    assert torch.allclose(intrinsic_rewards(features, goals, 2)[0], torch.tensor(expected_intrinsic), atol=1e-6)


def test_save_and_load_round_trip_keeps_the_discriminator_and_the_samples(tmp_path: Path):
    generator = tiny_generator()
    generator.save_pretrained(tmp_path)
    loaded = load_generator(tmp_path).eval()
    assert isinstance(loaded, LeakGANGenerator)
    a = generator.sample(5, generator=torch.Generator().manual_seed(3))
    b = loaded.sample(5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (5, 6)
    assert torch.equal(loaded.discriminator.embedding.weight, generator.discriminator.embedding.weight)


def test_a_whole_run_trains_samples_and_loads(tmp_path: Path, capsys):
    cfg = tiny_seqgan_config(**{"train.trainer": "leakgan", "model.dropout": 0.1, "leakgan.mle_every": 1,
                                "leakgan.mle_epochs": 1, "leakgan.pretrain_rounds": 2, "seqgan.pretrain_d_steps": 4})
    train(cfg, tmp_path / "run")
    log = records(tmp_path / "run")
    assert "nll_oracle" in log[0] and log[0]["step"] == 0 and log[0]["phase"] == "pretrain_d"
    # pretraining alternates {D updates, MLE epochs}, D first (G reads its features): 2 x {2 D updates, 1 epoch}
    pretraining = [(r["phase"], r.get("d_update"), r.get("epoch")) for r in log[1:] if "train_nll" in r or "d_update" in r]
    assert [(phase, d or epoch) for phase, d, epoch in pretraining] == [
        ("pretrain_d", 1), ("pretrain_d", 2), ("pretrain_g", 1), ("pretrain_d", 3), ("pretrain_d", 4), ("pretrain_g", 2)]
    adversarial = [r for r in log if r["phase"] == "adversarial"]
    assert [r["round"] for r in adversarial] == [1, 2]
    assert all(0.0 <= r["mean_reward"] <= 1.0 and math.isfinite(r["nll_oracle"]) for r in adversarial)
    checkpoint = load(tmp_path / "run", prefer="latest")
    assert isinstance(checkpoint.generator, LeakGANGenerator)
    assert sorted(p.name for p in checkpoint.path.glob("*.safetensors")) == ["model.safetensors", "rollout.safetensors"]
    assert len(sample(tmp_path / "run", n=4)) == 4
    assert main(["sample", str(tmp_path / "run"), "-n", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_non_finite_policy_loss_stops_with_the_last_good_checkpoint(tmp_path: Path, monkeypatch):
    import textgan.training.leakgan as leakgan
    from textgan.errors import TextGanError

    monkeypatch.setattr(leakgan, "intrinsic_rewards", lambda features, goals, c: goals.new_full(goals.shape[:2], math.nan))
    cfg = tiny_seqgan_config(**{"train.trainer": "leakgan", "train.epochs": 1})
    with pytest.raises(TextGanError, match=r"policy-gradient loss became non-finite at step \d+; the last good checkpoint is"):
        train(cfg, tmp_path / "run")
    good = load(tmp_path / "run", prefer="latest")
    assert good.state["extra"]["phase"] == "adversarial" and good.state["extra"]["round"] == 0
    assert all(torch.isfinite(p).all() for p in good.generator.parameters())


def test_the_fill_id_is_no_vocabulary_id_and_a_generated_token_always_moves_the_prefix_feature():
    generator = tiny_generator()
    assert generator.fill_id not in range(generator.vocab_size)
    assert generator.discriminator.embedding.num_embeddings == generator.vocab_size + 1
    cnn = generator.discriminator
    state = cnn.start_prefix(generator.vocab_size, generator.fill_id)
    _, features = cnn.grow_prefix(state, torch.arange(generator.vocab_size).unsqueeze(1), generator.fill_id,
                                  include_start=True)
    # every id, 0 included (the old fill: a real oracle token), changes D's feature of the empty prefix
    assert (features[:, 1] - features[:, 0]).abs().amax(dim=1).gt(0).all()


def test_the_goal_embedding_w_has_unit_norm():
    generator = tiny_generator()
    seen = []
    handle = generator.goal_projection.register_forward_hook(lambda module, inputs, out: seen.append(out))
    captured = []
    original = generator.goal_logits
    generator.goal_logits = lambda hidden, w: captured.append(w) or original(hidden, w)
    generator.logits(generator.inputs_for(torch.randint(0, 5, (4, 6), generator=torch.Generator().manual_seed(3))))
    handle.remove()
    assert seen[0].norm(dim=-1).sub(1).abs().amax() > 1e-3  # W_psi's output itself is not unit-length
    assert torch.allclose(captured[0].norm(dim=-1), torch.ones(4, 6), atol=1e-5)


def leakgan_trainer(out: Path, **overrides: object):
    """LeakGAN's trainer on the tiny oracle, with its own generator, untrained."""
    from textgan.api import build_data
    from textgan.checkpoint import RunDirectory
    from textgan.training.leakgan import LeakGANTrainer
    from textgan.training.runtime import make_runtime

    cfg = tiny_seqgan_config(**{"train.trainer": "leakgan", **overrides})
    torch.manual_seed(cfg.train.seed)
    data = build_data(cfg)
    return LeakGANTrainer(cfg, RunDirectory(out), make_runtime("cpu", "fp32"), data,
                          LeakGANTrainer.new_generator(cfg, data))


def _policy_gradients(trainer, samples: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    trainer.model.zero_grad(set_to_none=True)
    trainer.policy_loss(samples, rewards, mask).backward()
    return {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}


def test_the_workers_gradient_does_not_depend_on_ds_reward_and_the_managers_does(tmp_path: Path):
    trainer = leakgan_trainer(tmp_path / "run")
    samples = trainer.model.sample(8, generator=torch.Generator().manual_seed(4))
    mask = torch.ones_like(samples, dtype=torch.bool)
    low = _policy_gradients(trainer, samples, torch.full(samples.shape, 0.1), mask)
    high = _policy_gradients(trainer, samples, torch.rand(samples.shape, generator=torch.Generator().manual_seed(5)), mask)
    manager = ("manager.", "manager_output.")
    worker = [name for name in low if not name.startswith(manager)]
    assert {"embedding.weight", "worker_output.weight", "goal_projection.weight"} <= set(worker)
    for name in worker:
        assert torch.equal(low[name], high[name]), name
    assert any(not torch.equal(low[name], high[name]) for name in low if name.startswith(manager))
    assert not any(name.startswith("discriminator.") for name in low)  # D learns from its own loss only


def test_ds_negatives_are_sampled_with_the_logits_scaled_by_negative_logit_scale(tmp_path: Path, monkeypatch):
    trainer = leakgan_trainer(tmp_path / "run", **{"leakgan.negative_logit_scale": 2.0})
    temperatures = []
    original = trainer.model.sample
    monkeypatch.setattr(trainer.model, "sample", lambda *a, **k: temperatures.append(k["temperature"]) or original(*a, **k))
    trainer.real_and_generated()
    assert temperatures and set(temperatures) == {0.5}
