"""Monte-Carlo rollout rewards for policy-gradient text GANs (SeqGAN and kin), batched.

Q(prefix y_1..y_t) is the mean over `rollout_count` completions, sampled by the rollout
network from the prefix, of sigmoid(D(completion)); the full sequence is scored by D directly.

The peers loop over rollouts and prefix lengths, rerunning the generator over each prefix:
O(N * T^2) generator steps in thousands of small calls. Here every prefix and every rollout
advance together, T - 1 sequential steps in all. The B sample rows are teacher-forced one
token per step, which yields the generator state after every prefix; when step s is reached,
N rollout rows per sequence copy the state after prefix s (`select_state` with repeated rows)
and from then on sample one token per step. Rollout rows run in blocks of `block_rows` rows,
each with its own state, so each step's (rows, V) logits stay in cache; every row of a block
has consumed the same number of tokens, so an LSTM state and a Transformer KV cache work
alike. Rows that sample <eos> leave their block. Tokens are drawn by `inverse_cdf_sample`
(no per-row Python loop, no multinomial). The completions are scored by D in a few large
chunks and averaged per (sequence, prefix) in float64.

Rewards are 0 where the token was not the generator's choice: inside a prompt
(`prompt_lengths`) and on the padding after <eos>; the <eos> position gets sigmoid(D(sample)).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Callable, ContextManager

import torch
from torch import nn

from textgan.data.encoding import eos_positions, fill_id, pad_after_eos, scored_mask
from textgan.errors import ConfigError
from textgan.models.base import Generator, eval_mode, untie_parameters

AutocastFactory = Callable[[], ContextManager[object]]


class RolloutNetwork(nn.Module):
    """A delayed copy of the generator that samples the rollouts (SeqGAN's ROLLOUT).

    `update(generator, rate)` sets every weight to rate * own + (1 - rate) * generator's, except
    the embedding tables (`nn.Embedding` weights), which are copied outright as in SeqGAN's
    rollout.py. Weights the generator ties (GPT-2's output layer and token embedding) are
    untied here, so the output layer is delayed like SeqGAN's output unit and the state dict
    holds no shared tensors (safetensors refuses them).
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.network = copy.deepcopy(generator)
        untie_parameters(self.network)
        for module in self.network.modules():  # a copy's cuDNN weights are no longer one packed buffer
            if isinstance(module, nn.RNNBase):
                module.flatten_parameters()
        self.eval()
        self.network.requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: Generator, rate: float) -> None:
        """rollout = rate * rollout + (1 - rate) * generator; embeddings copied (rate 0.8 canonical)."""
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"rollout update rate must be in [0, 1] (0.8 in SeqGAN), got {rate}")
        source = dict(generator.named_parameters(remove_duplicate=False))
        embedding_names = _embedding_weight_names(self.network)
        for name, own in self.network.named_parameters():
            if name in embedding_names:
                own.copy_(source[name])
            else:
                own.lerp_(source[name].to(own.dtype), 1.0 - rate)
        for own, theirs in zip(self.network.buffers(), generator.buffers()):
            own.copy_(theirs)

    def train(self, mode: bool = True) -> "RolloutNetwork":
        """The rollout network only samples: it stays in eval mode (no dropout)."""
        return super().train(False)


def _embedding_weight_names(module: nn.Module) -> set[str]:
    """Parameter names of the embedding tables inside `module`."""
    return {f"{name}.weight" if name else "weight" for name, sub in module.named_modules()
            if isinstance(sub, nn.Embedding)}


def inverse_cdf_sample(logits: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                       group: int = 64, uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row of (N, V) logits: `sample_tokens`' inverse-CDF draw, searched in two levels.

    The same uniform per row picks a group of `group` tokens from the groups' cumulative mass,
    then a token from the cumulative mass inside that group, so no cumsum runs over the whole
    vocabulary (the costliest step of `sample_tokens` on CPU); the fused softmax also reads
    bf16 logits without a separate cast. `uniforms` (N,) are the draws (from `generator` when absent).
    """
    rows, vocab = logits.shape
    if temperature != 1.0:
        logits = logits.float() / temperature
    probs = torch.softmax(logits, dim=1, dtype=torch.float32)
    full_groups = vocab // group
    mass = probs[:, : full_groups * group].view(rows, full_groups, group).sum(dim=2)
    if full_groups * group < vocab:
        mass = torch.cat([mass, probs[:, full_groups * group :].sum(dim=1, keepdim=True)], dim=1)
    cdf = mass.cumsum(dim=1)
    if uniforms is None:
        uniforms = torch.rand(rows, generator=generator, device=probs.device)
    u = uniforms.reshape(rows, 1).float() * cdf[:, -1:]
    chosen = torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.shape[1] - 1)
    mass_before = cdf.gather(1, chosen) - mass.gather(1, chosen)
    columns = chosen * group + torch.arange(group, device=probs.device)
    inner = probs.gather(1, columns.clamp(max=vocab - 1)).masked_fill_(columns >= vocab, 0.0)
    offset = torch.searchsorted(inner.cumsum(dim=1), u - mass_before, right=True).clamp_(max=group - 1)
    return (chosen * group + offset).squeeze(1).clamp_(max=vocab - 1)


def rollout_uniforms(batch: int, length: int, rollout_count: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, T-1, N, T) uniform draws for the rollouts of B rows of length T (see `rollout_rewards`)."""
    return torch.rand(batch, max(length - 1, 0), rollout_count, length, generator=generator, device=device)


def _check_rollout_count(rollout_count: int) -> None:
    if rollout_count < 1:
        raise ConfigError(f"rollout count must be >= 1 (SeqGAN uses 16), got {rollout_count}")


@torch.no_grad()
def score_sequences(discriminator: nn.Module, sequences: torch.Tensor, chunk_size: int,
                    autocast: AutocastFactory = contextlib.nullcontext) -> torch.Tensor:
    """(R,) sigmoid(D(sequence)) in float32, D called on chunks of `chunk_size` rows."""
    with autocast():
        scores = [torch.sigmoid(discriminator(chunk).float()) for chunk in torch.split(sequences, chunk_size)]
    return torch.cat(scores) if scores else sequences.new_zeros(0, dtype=torch.float32)


@torch.no_grad()
def _score_completions_and_samples(discriminator: nn.Module, samples: torch.Tensor, completions: torch.Tensor,
                                   pair_positions: torch.Tensor, rollout_count: int, chunk_size: int,
                                   autocast: AutocastFactory) -> torch.Tensor:
    """sigmoid(D) of the completions, then of the samples. A D with `shared_prefix_logits` (the
    TextCNN) skips the windows inside each completion's prefix, which the sample already scored."""
    network = getattr(discriminator, "module", discriminator)  # under DistributedDataParallel
    if not hasattr(network, "shared_prefix_logits") or not completions.shape[0]:
        return score_sequences(discriminator, torch.cat([completions, samples]), chunk_size, autocast)
    length = samples.shape[1]
    pairs = pair_positions.repeat_interleave(rollout_count)  # completion rows come N per pair, in order
    with autocast():
        logits = network.shared_prefix_logits(samples, completions, pairs // length, pairs % length + 1)
    return torch.cat([torch.sigmoid(logits.float()), score_sequences(discriminator, samples, chunk_size, autocast)])


@torch.no_grad()
def rollout_rewards(
    rollout_generator: Generator | RolloutNetwork,
    discriminator: nn.Module,
    samples: torch.Tensor,
    rollout_count: int,
    *,
    prompt_lengths: torch.Tensor | None = None,
    temperature: float = 1.0,
    chunk_size: int = 4096,
    block_rows: int = 2048,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
    autocast: AutocastFactory = contextlib.nullcontext,
    score: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """(B, T) SeqGAN Q-values of `samples` (B, T): all prefixes and rollouts stepped together.

    Q[:, t-1] for t < T is the mean over `rollout_count` completions of the prefix
    samples[:, :t] of sigmoid(D(completion)); Q[:, T-1] is sigmoid(D(samples)). Positions inside
    the prompt and after <eos> get 0; rollouts of prompted rows start from the prompt.
    `chunk_size` sequences go to D per call; `block_rows` rollout rows go to the generator per call.
    `uniforms` (B, T-1, N, T), from `rollout_uniforms` (drawn from `generator` when absent), are
    the draws of rollout n of prefix length s of row b at [b, s-1, n]: a row's rewards then do
    not depend on the other rows, so processes can split the batch. `score`, when given, maps
    (R, T) complete sequences to (R,) rewards in place of sigmoid(D) (RankGAN's log-rank score).
    """
    _check_rollout_count(rollout_count)
    model = rollout_generator.network if isinstance(rollout_generator, RolloutNetwork) else rollout_generator
    batch, length = samples.shape
    device = samples.device
    fill = fill_id(model.pad_id, model.eos_id)
    mask = scored_mask(samples, prompt_lengths, model.eos_id)
    # Q of prefix length t (reward column t-1) needs rollouts when that column is a generated,
    # non-final token before <eos>: columns 0..T-2 of the mask, without the <eos> column.
    eos_at = eos_positions(samples, model.eos_id)
    prefix_lengths = torch.arange(1, length, device=device).unsqueeze(0)  # (1, T-1)
    needs_rollout = mask[:, : length - 1] & (prefix_lengths <= eos_at.unsqueeze(1))  # (B, T-1)

    if uniforms is None:
        uniforms = rollout_uniforms(batch, length, rollout_count, generator, device)
    with eval_mode(model, discriminator):
        rollout_pairs = int(needs_rollout.sum())
        completions = torch.full((rollout_pairs * rollout_count, length), fill, dtype=torch.long, device=device)
        pair_positions = torch.empty(rollout_pairs, dtype=torch.long, device=device)  # flat b * T + t - 1
        if rollout_pairs:
            _run_rollouts(model, samples, needs_rollout, rollout_count, completions, pair_positions,
                          temperature, uniforms, autocast, block_rows)
        if score is None:
            scores = _score_completions_and_samples(discriminator, samples, completions, pair_positions,
                                                    rollout_count, chunk_size, autocast)
        else:
            sequences = torch.cat([completions, samples])
            scores = torch.cat([score(chunk).float() for chunk in torch.split(sequences, chunk_size)])

    full_scores = scores[completions.shape[0]:]
    rewards = full_scores.unsqueeze(1).expand(batch, length).clone()
    if rollout_pairs:
        # float64 mean: N equal scores average to exactly that score, whatever the order
        means = scores[: completions.shape[0]].double().view(rollout_pairs, rollout_count).mean(dim=1)
        rewards.view(-1)[pair_positions] = means.float()
    return rewards * mask


def _run_rollouts(
    model: Generator,
    samples: torch.Tensor,
    needs_rollout: torch.Tensor,
    rollout_count: int,
    completions: torch.Tensor,
    pair_positions: torch.Tensor,
    temperature: float,
    uniforms: torch.Tensor,
    autocast: AutocastFactory,
    block_rows: int,
) -> None:
    """Fill `completions` (rows grouped per (sequence, prefix), N each) and their pair positions.

    The sample rows advance one teacher-forced token per step; when step s is reached, the
    rollouts of prefix length s start from a copy of their state. Rollout rows live in blocks
    of at most `block_rows` rows with their own state, so each step's (rows, V) logits stay in
    cache; every row of a block has consumed <bos> and s tokens when position s is sampled.
    """
    length = samples.shape[1]
    device = samples.device
    eos_id = model.eos_id
    active_steps = needs_rollout.any(dim=0).nonzero().squeeze(1) + 1  # prefix lengths with rollouts
    first_step, last_step = int(active_steps[0]), int(active_steps[-1])
    start = torch.full((samples.shape[0], 1), model.bos_id, dtype=torch.long, device=device)
    with autocast():
        sample_logits, sample_state = model.logits(torch.cat([start, samples[:, :first_step]], dim=1))
    sample_logits = sample_logits[:, -1]
    blocks: list[_RolloutBlock] = []
    next_row = next_pair = 0
    for step in range(first_step, length):
        if step <= last_step:
            # sequences whose prefix of length `step` needs rollouts start rollout_count rows each
            starting = needs_rollout[:, step - 1].nonzero().squeeze(1)
            pair_positions[next_pair : next_pair + starting.numel()] = starting * length + step - 1
            next_pair += starting.numel()
            rollout_index = torch.arange(rollout_count, device=device).repeat(starting.numel())
            for source, index in zip(starting.repeat_interleave(rollout_count).split(block_rows),
                                     rollout_index.split(block_rows)):
                rows = torch.arange(next_row, next_row + source.numel(), device=device)
                completions[rows, :step] = samples[source, :step]
                blocks.append(_RolloutBlock(model.select_state(sample_state, source), sample_logits[source], rows,
                                            uniforms[source, step - 1, index]))
                next_row += source.numel()
            if step < last_step:
                with autocast():
                    sample_logits, sample_state = model.logits(samples[:, step : step + 1], sample_state)
                sample_logits = sample_logits[:, -1]
        for block in blocks:
            tokens = inverse_cdf_sample(block.logits, temperature, uniforms=block.uniforms[:, step])
            completions[block.rows, step] = tokens
            if step < length - 1:
                block.advance(model, tokens, eos_id, autocast)
        blocks = [block for block in blocks if block.rows.numel()]


class _RolloutBlock:
    """Rollout rows advanced together: their generator state, next-token logits, completion rows
    and the (rows, T) draws that pick their tokens."""

    def __init__(self, state: object, logits: torch.Tensor, rows: torch.Tensor, uniforms: torch.Tensor) -> None:
        self.state, self.logits, self.rows, self.uniforms = state, logits, rows, uniforms

    def advance(self, model: Generator, tokens: torch.Tensor, eos_id: int | None,
                autocast: AutocastFactory) -> None:
        """Feed the sampled tokens; rows that sampled <eos> are complete and leave the block."""
        if eos_id is not None:
            running = tokens != eos_id
            if not bool(running.all()):
                keep = running.nonzero().squeeze(1)
                self.rows, tokens, self.uniforms = self.rows[keep], tokens[keep], self.uniforms[keep]
                if keep.numel() == 0:
                    return
                self.state = model.select_state(self.state, keep)
        with autocast():
            logits, self.state = model.logits(tokens.unsqueeze(1), self.state)
        self.logits = logits[:, -1]


@torch.no_grad()
def reference_rollout_rewards(
    rollout_generator: Generator | RolloutNetwork,
    discriminator: nn.Module,
    samples: torch.Tensor,
    rollout_count: int,
    *,
    prompt_lengths: torch.Tensor | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
) -> torch.Tensor:
    """The peers' loop, for tests and benchmarks: per rollout, per prefix, resample and call D.

    Same definition as `rollout_rewards` (masking, float64 mean) and the same draws for the
    same `uniforms`, computed the slow way.
    """
    _check_rollout_count(rollout_count)
    model = rollout_generator.network if isinstance(rollout_generator, RolloutNetwork) else rollout_generator
    batch, length = samples.shape
    fill = fill_id(model.pad_id, model.eos_id)
    if uniforms is None:
        uniforms = rollout_uniforms(batch, length, rollout_count, generator, samples.device)
    with eval_mode(model, discriminator):
        totals = torch.zeros(batch, length - 1, dtype=torch.float64, device=samples.device)
        for rollout in range(rollout_count):
            for prefix_length in range(1, length):
                completed = model.sample(batch, length, temperature, prefix=samples[:, :prefix_length],
                                         uniforms=uniforms[:, prefix_length - 1, rollout])
                # a prefix that already holds <eos> is complete: nothing after it is sampled
                completed = pad_after_eos(completed, model.eos_id, fill)
                totals[:, prefix_length - 1] += torch.sigmoid(discriminator(completed).float()).double()
        final = torch.sigmoid(discriminator(samples).float())
    rewards = torch.cat([(totals / rollout_count).float(), final.unsqueeze(1)], dim=1)
    eos_at = eos_positions(samples, model.eos_id).unsqueeze(1)
    rewards = torch.where(torch.arange(length, device=samples.device) >= eos_at, final.unsqueeze(1), rewards)
    return rewards * scored_mask(samples, prompt_lengths, model.eos_id)
