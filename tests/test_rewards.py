"""Batched rollout rewards: exact agreement with the peers' loop, placement, prompts, <eos>,
Transformer caches, sampling distribution, reproducibility, the rollout network, errors."""

from __future__ import annotations

import itertools

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from textgan.errors import ConfigError
from textgan.models.base import Generator
from textgan.models.cnn_discriminator import TextCNN
from textgan.models.lstm import LSTMGenerator
from textgan.training.rollouts import RolloutNetwork, reference_rollout_rewards, rollout_rewards, rollout_uniforms

BOS, PAD = 0, 1


class SuccessorGenerator(Generator):
    """Deterministic policy: after token t comes t + 1 (wrapping to 2), so every rollout is predictable."""

    def __init__(self, vocab_size: int, max_length: int, eos_id: int | None = None) -> None:
        super().__init__(vocab_size, max_length, BOS, eos_id, PAD)
        self.unused = nn.Parameter(torch.zeros(1))  # gives the module a device

    @staticmethod
    def successor(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
        return torch.where(tokens + 1 < vocab_size, tokens + 1, torch.full_like(tokens, 2))

    def logits(self, tokens: torch.Tensor, state=None):
        # softmax of these logits is exactly one-hot in float32, whatever the uniform draw
        logits = torch.full((*tokens.shape, self.vocab_size), -1e4)
        logits.scatter_(-1, self.successor(tokens, self.vocab_size).unsqueeze(-1), 0.0)
        return logits, tokens[:, -1]

    def select_state(self, state, index):
        return state[index]


class TokenAtPosition(nn.Module):
    """D whose logit is a per-token score of the token at one position: Q_t can be predicted."""

    def __init__(self, vocab_size: int, position: int) -> None:
        super().__init__()
        self.position = position
        self.scores = nn.Parameter(torch.linspace(-3.0, 3.0, vocab_size)[torch.randperm(vocab_size)])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.scores[tokens[:, self.position]]


def expected_rewards(samples: torch.Tensor, d: TokenAtPosition, model: SuccessorGenerator,
                     prompt_lengths: list[int]) -> torch.Tensor:
    """Q-values written out by hand: complete each prefix with successors, stop at <eos>, pad."""
    batch, length = samples.shape
    expected = torch.zeros(batch, length)
    for b, t in itertools.product(range(batch), range(1, length + 1)):
        row = samples[b].tolist()
        if model.eos_id in row[:t - 1] or t - 1 < prompt_lengths[b]:
            continue  # padding after <eos>, or a prompt token: not the generator's choice
        completion = row[:t]
        while len(completion) < length:
            if completion[-1] in (model.eos_id, PAD) and model.eos_id is not None:
                completion.append(PAD)
            else:
                completion.append(int(model.successor(torch.tensor(completion[-1]), model.vocab_size)))
        expected[b, t - 1] = torch.sigmoid(d.scores[completion[d.position]])
    return expected.detach()


@pytest.mark.parametrize("position", [0, 3, 6])
def test_each_reward_lands_on_its_sentence_and_step_and_equals_the_reference(position):
    torch.manual_seed(0)
    model = SuccessorGenerator(vocab_size=11, max_length=7)
    d = TokenAtPosition(11, position)
    samples = torch.randint(2, 11, (5, 7))
    batched = rollout_rewards(model, d, samples, 3, block_rows=4, chunk_size=7,
                              generator=torch.Generator().manual_seed(1))
    assert torch.equal(batched, expected_rewards(samples, d, model, [0] * 5))
    reference = reference_rollout_rewards(model, d, samples, 3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(batched, reference)


def test_eos_ends_rollouts_and_padding_gets_no_reward():
    torch.manual_seed(0)
    model = SuccessorGenerator(vocab_size=9, max_length=8, eos_id=8)
    d = TokenAtPosition(9, 6)
    samples = torch.tensor([
        [2, 3, 4, 5, 6, 7, 2, 3],  # rollouts from prefixes ending in 6 or 7 reach <eos> at once
        [5, 8, PAD, PAD, PAD, PAD, PAD, PAD],  # <eos> at position 1
        [8, PAD, PAD, PAD, PAD, PAD, PAD, PAD],  # <eos> first
        [4, 4, 4, 4, 4, 4, 4, 8],  # <eos> last
    ])
    batched = rollout_rewards(model, d, samples, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(batched, expected_rewards(samples, d, model, [0] * 4))
    assert torch.equal(batched[1, 2:], torch.zeros(6)) and torch.equal(batched[2, 1:], torch.zeros(7))
    assert batched[1, 1] == torch.sigmoid(d.scores[samples[1, 6]])
    reference = reference_rollout_rewards(model, d, samples, 2, generator=torch.Generator().manual_seed(2))
    assert torch.equal(batched, reference)


def test_prompt_positions_get_zero_and_rollouts_start_after_the_prompt():
    torch.manual_seed(0)
    model = SuccessorGenerator(vocab_size=10, max_length=6, eos_id=9)
    d = TokenAtPosition(10, 4)
    samples = torch.randint(2, 9, (4, 6))
    prompts = [0, 2, 5, 6]
    batched = rollout_rewards(model, d, samples, 2, prompt_lengths=torch.tensor(prompts),
                              generator=torch.Generator().manual_seed(1))
    for row, prompt in enumerate(prompts):
        assert torch.equal(batched[row, :prompt], torch.zeros(prompt))
    assert torch.equal(batched, expected_rewards(samples, d, model, prompts))
    reference = reference_rollout_rewards(model, d, samples, 2, prompt_lengths=torch.tensor(prompts))
    assert torch.equal(batched, reference)


def tiny_lstm(vocab_size: int = 13, length: int = 6, eos_id: int | None = None, sharpen: float = 1.0) -> LSTMGenerator:
    torch.manual_seed(0)
    model = LSTMGenerator(vocab_size, length, bos_id=BOS, eos_id=eos_id, pad_id=PAD, embedding_dim=8, hidden_dim=8)
    with torch.no_grad():
        model.output.weight.mul_(sharpen)
    return model


def tiny_textcnn(vocab_size: int = 13, length: int = 6) -> TextCNN:
    torch.manual_seed(1)
    return TextCNN(vocab_size, length, embedding_dim=8, filter_sizes=[1, 2, 3], num_filters=[4, 4, 4])


def test_shapes_range_and_last_column_from_d():
    model, d = tiny_lstm(), tiny_textcnn()
    samples = model.sample(7, 6, generator=torch.Generator().manual_seed(0))
    rewards = rollout_rewards(model, d, samples, 4, generator=torch.Generator().manual_seed(1))
    assert rewards.shape == (7, 6) and rewards.dtype == torch.float32
    assert bool(((rewards > 0) & (rewards < 1)).all())
    torch.testing.assert_close(rewards[:, -1], torch.sigmoid(d.eval()(samples)), rtol=0, atol=1e-6)


def test_same_seed_same_rewards_other_seed_other_rewards():
    model, d = tiny_lstm(eos_id=12), tiny_textcnn()
    samples = model.sample(6, 6, generator=torch.Generator().manual_seed(0))

    def rewards(seed: int) -> torch.Tensor:
        return rollout_rewards(model, d, samples, 3, block_rows=5, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(rewards(3), rewards(3))
    assert not torch.equal(rewards(3), rewards(4))


def test_near_greedy_lstm_and_textcnn_agree_with_the_reference():
    model, d = tiny_lstm(eos_id=12, sharpen=30.0), tiny_textcnn()
    samples = torch.randint(2, 13, (5, 6))
    samples[1, 3:] = torch.tensor([12, PAD, PAD])
    batched = rollout_rewards(model, d, samples, 2, temperature=1e-6, prompt_lengths=torch.tensor([0, 1, 0, 3, 0]))
    reference = reference_rollout_rewards(model, d, samples, 2, temperature=1e-6,
                                          prompt_lengths=torch.tensor([0, 1, 0, 3, 0]))
    torch.testing.assert_close(batched, reference, rtol=0, atol=1e-6)


def test_random_rollouts_with_the_same_draws_equal_the_reference_loop():
    """Ordinary temperature-1 sampling: the same uniforms give the reference loop's completions."""
    model, d = tiny_lstm(eos_id=12), tiny_textcnn()
    samples = model.sample(5, 6, generator=torch.Generator().manual_seed(0))
    prompts = torch.tensor([0, 2, 0, 1, 0])
    draws = rollout_uniforms(5, 6, 3, torch.Generator().manual_seed(1))
    batched = rollout_rewards(model, d, samples, 3, prompt_lengths=prompts, uniforms=draws, block_rows=4)
    reference = reference_rollout_rewards(model, d, samples, 3, prompt_lengths=prompts, uniforms=draws)
    torch.testing.assert_close(batched, reference, rtol=0, atol=1e-6)


def test_a_rows_rewards_do_not_depend_on_the_other_rows():
    """What lets processes split a batch: rows (and their draws) scored apart equal the whole."""
    model, d = tiny_lstm(eos_id=12), tiny_textcnn()
    samples = model.sample(6, 6, generator=torch.Generator().manual_seed(2))
    draws = rollout_uniforms(6, 6, 4, torch.Generator().manual_seed(3))
    whole = rollout_rewards(model, d, samples, 4, uniforms=draws)
    for part in (torch.arange(0, 6, 2), torch.arange(1, 6, 2)):
        torch.testing.assert_close(rollout_rewards(model, d, samples[part], 4, uniforms=draws[part]),
                                   whole[part], rtol=0, atol=1e-6)


def test_transformer_kv_caches_give_the_reference_rewards():
    from textgan.models.transformer import TransformerGenerator

    torch.manual_seed(0)
    model = TransformerGenerator(12, 7, bos_id=BOS, eos_id=3, pad_id=PAD, embedding_dim=16, num_layers=2, num_heads=2)
    with torch.no_grad():
        model.model.transformer.ln_f.weight.mul_(30.0)  # peaked logits: near-greedy sampling is stable
    d = tiny_textcnn(12, 7)
    samples = torch.randint(4, 12, (6, 7))
    samples[1, 4:] = torch.tensor([3, PAD, PAD])
    samples[2, :] = torch.tensor([3] + [PAD] * 6)
    prompts = torch.tensor([0, 0, 0, 2, 0, 5])
    batched = rollout_rewards(model, d, samples, 3, prompt_lengths=prompts, temperature=1e-6, block_rows=4)
    reference = reference_rollout_rewards(model, d, samples, 3, prompt_lengths=prompts, temperature=1e-6)
    torch.testing.assert_close(batched, reference, rtol=0, atol=1e-6)
    assert bool((batched[1, 5:] == 0).all()) and bool((batched[5, :5] == 0).all())


def test_random_rollouts_estimate_the_exact_q_values():
    """Q(y_1) = sum over y_2, y_3 of p(y_2 | y_1) p(y_3 | y_1, y_2) sigmoid(D(y)), by enumeration."""
    vocab, temperature, rollouts = 4, 0.7, 3000
    model = LSTMGenerator(vocab, 3, bos_id=BOS, embedding_dim=6, hidden_dim=6)
    d = TokenAtPosition(vocab, 2)
    samples = torch.tensor([[0, 1, 2], [3, 3, 3]])
    rewards = rollout_rewards(model, d, samples, rollouts, temperature=temperature,
                              generator=torch.Generator().manual_seed(0))
    for row in range(2):
        for prefix in (1, 2):
            completions = [samples[row, :prefix].tolist() + list(rest)
                           for rest in itertools.product(range(vocab), repeat=3 - prefix)]
            tokens = torch.tensor(completions)
            with torch.no_grad():
                logits = model(model.inputs_for(tokens)) / temperature
            log_p = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)[:, prefix:].sum(1)
            scores = torch.sigmoid(d(tokens)).detach()
            exact = float((log_p.exp() * scores).sum())
            spread = float(scores.max() - scores.min())
            assert abs(float(rewards[row, prefix - 1]) - exact) < 4 * spread / (2 * rollouts**0.5)


def test_bf16_autocast_rewards_stay_close():
    model, d = tiny_lstm(sharpen=30.0), tiny_textcnn()
    samples = torch.randint(2, 13, (4, 6))
    full = rollout_rewards(model, d, samples, 2, temperature=1e-6)
    low = rollout_rewards(model, d, samples, 2, temperature=1e-6,
                          autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    torch.testing.assert_close(low, full, rtol=0, atol=0.05)


def test_rollout_count_below_one_is_a_config_error():
    model, d = tiny_lstm(), tiny_textcnn()
    samples = torch.randint(2, 13, (2, 6))
    with pytest.raises(ConfigError, match="rollout count must be >= 1"):
        rollout_rewards(model, d, samples, 0)
    with pytest.raises(ConfigError, match="rollout count must be >= 1"):
        reference_rollout_rewards(model, d, samples, 0)


def test_rollout_network_update_delays_weights_and_copies_embeddings():
    model = tiny_lstm()
    rollout = RolloutNetwork(model)
    before = {k: v.clone() for k, v in rollout.network.state_dict().items()}
    with torch.no_grad():
        for param in model.parameters():
            param.add_(1.0)
    rollout.update(model, 0.8)
    after = rollout.network.state_dict()
    torch.testing.assert_close(after["embedding.weight"], model.embedding.weight)
    for name in ("lstm.weight_hh_l0", "output.weight", "output.bias"):
        torch.testing.assert_close(after[name], 0.8 * before[name] + 0.2 * model.state_dict()[name])
    assert not rollout.training and not any(p.requires_grad for p in rollout.parameters())
    with pytest.raises(ConfigError, match="rollout update rate must be in"):
        rollout.update(model, 1.5)


def test_rollout_network_of_a_tied_transformer_saves_and_loads(tmp_path):
    from textgan.models.transformer import TransformerGenerator

    torch.manual_seed(0)
    model = TransformerGenerator(12, 7, bos_id=BOS, eos_id=3, pad_id=PAD, embedding_dim=16, num_layers=1, num_heads=2)
    rollout = RolloutNetwork(model)
    rollout.update(model, 0.8)
    save_file(rollout.state_dict(), str(tmp_path / "rollout.safetensors"))  # refuses shared tensors
    restored = RolloutNetwork(model)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.5)
    restored.update(model, 0.5)
    restored.load_state_dict(load_file(str(tmp_path / "rollout.safetensors")))
    for name, value in rollout.state_dict().items():
        assert torch.equal(restored.state_dict()[name], value), name


def test_two_level_inverse_cdf_draws_the_same_tokens_as_sample_tokens():
    from textgan.models.sampling import sample_tokens
    from textgan.training.rollouts import inverse_cdf_sample

    logits = torch.randn(500, 1000) * 3  # 1000 tokens: 15 full groups of 64 and a partial one
    for temperature in (1.0, 0.6):
        ours = inverse_cdf_sample(logits, temperature, torch.Generator().manual_seed(7))
        theirs = sample_tokens(logits, temperature, generator=torch.Generator().manual_seed(7))
        # the same uniform per row; only float rounding at a token boundary could split them
        assert (ours == theirs).float().mean() > 0.99


def test_two_level_inverse_cdf_follows_the_softmax():
    from textgan.training.rollouts import inverse_cdf_sample

    logits = torch.tensor([[2.0, 0.0, -1.0, 1.0, -30.0, 0.5, 0.0]])
    draws = inverse_cdf_sample(logits.expand(40000, -1), 0.8, torch.Generator().manual_seed(0), group=3)
    frequencies = torch.bincount(draws, minlength=7).float() / 40000
    torch.testing.assert_close(frequencies, torch.softmax(logits[0] / 0.8, 0), rtol=0, atol=0.01)
    assert frequencies[4] == 0
