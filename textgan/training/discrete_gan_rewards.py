"""Rewards of SeqGAN's kin as pure functions: MaliGAN's normalised importance weights,
RankGAN's log-rank score and LeakGAN's rescaled activation, goal cosines and intrinsic reward
(the rollouts that turn them into per-token rewards are `rollouts.py`).

Every function takes plain tensors, so a test can check it against the paper's formula on a
hand-built batch.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

Reduce = Callable[[torch.Tensor], torch.Tensor]


def maligan_sentence_rewards(logits: torch.Tensor, group_size: int = 0) -> torch.Tensor:
    """(B,) MaliGAN rewards of a batch from D's logits: r_i / sum_j r_j - 1/n, r = D / (1 - D),
    normalised over each group of `group_size` consecutive rows (0: the whole batch, n = B).

    D / (1 - D) = exp(logit), so the normalised weights are softmax(logits), computed without
    overflow; the baseline b = 1/n is their mean (Che et al. 2017, Algorithm 1; Algorithm 2
    normalises over the continuations of one real prefix).
    """
    groups = logits.double().view(-1, group_size or logits.shape[0])
    return (torch.softmax(groups, dim=1) - 1.0 / groups.shape[1]).view(-1).float()


def maligan_token_rewards(q_values: torch.Tensor, mask: torch.Tensor,
                          reduce: Reduce = lambda x: x, eps: float = 1e-6) -> torch.Tensor:
    """(B, T) MaliGAN rewards from rollout Q-values (mean D of completions): at each position,
    r = Q / (1 - Q) normalised over the rows that chose a token there, minus 1/n_t.

    `reduce` sums the per-position totals over processes; Q is kept below 1 - eps.
    """
    weights = mask.float()
    q = q_values.float().clamp(max=1.0 - eps)
    odds = q / (1.0 - q) * weights
    sums = reduce(torch.stack([odds.sum(0), weights.sum(0)]))
    normalised = odds / sums[0].clamp(min=torch.finfo(torch.float32).tiny)
    return (normalised - 1.0 / sums[1].clamp(min=1)) * weights


def mixing_prefix_length(start: int, decrease: int, every: int, rounds_done: int) -> int:
    """MaliGAN's real-prefix length N after `rounds_done` rounds: start, less `decrease` tokens
    every `every` rounds, never below 0 (Che et al. 2017, Algorithm 2)."""
    return max(start - decrease * (rounds_done // every), 0)


def mixed_mle_mali_loss(log_probs: torch.Tensor, rewards: torch.Tensor, generated: torch.Tensor,
                        prefix: torch.Tensor, reduce: Reduce = lambda x: x) -> torch.Tensor:
    """MaliGAN's mixed loss on (B, T) rows that start with a real prefix: -log pi on the prefix
    tokens (MLE) plus -(reward * log pi) on the tokens G generated, averaged over both kinds.

    `reduce` sums the token count over processes, so each process returns its share.
    """
    weights = generated.float()
    teacher = prefix.float()
    total = (log_probs * (rewards.detach() * weights + teacher)).sum()
    return -total / reduce((weights + teacher).sum()).clamp(min=1)


def cosine_relevance(features: torch.Tensor, references: torch.Tensor, gamma: float) -> torch.Tensor:
    """(B, U) gamma * cos(feature of each sentence, feature of each reference sentence u): RankGAN's
    gamma * alpha(s | u) (Lin et al. 2017, eq. 2), one column per reference."""
    return gamma * (F.normalize(features.float(), dim=1) @ F.normalize(references.float(), dim=1).t())


def log_rank(relevance: torch.Tensor, comparison_relevance: torch.Tensor) -> torch.Tensor:
    """(B,) log R(s | U, C): the log of the expectation over the references u of each sentence's
    softmax share against the comparison set C, C' = C + {s} (Lin et al. 2017, eq. 2-3):
    R(s) = mean_u exp(g(s, u)) / (exp(g(s, u)) + sum_{c in C} exp(g(c, u))), g = gamma * alpha.

    relevance: (B, U); comparison_relevance: (|C|, U), against the same references.
    """
    if comparison_relevance.numel() == 0:
        return torch.zeros(relevance.shape[0], dtype=relevance.dtype, device=relevance.device)
    shares = relevance - torch.logaddexp(relevance, torch.logsumexp(comparison_relevance, dim=0, keepdim=True))
    return torch.logsumexp(shares, dim=1) - math.log(relevance.shape[1])


def ranker_loss(relevance: torch.Tensor, is_real: torch.Tensor) -> torch.Tensor:
    """RankGAN's ranker objective on one batch, to minimise: -(E_real log R(s | U, C-) - E_fake log R(s | U, C+)).

    A real sentence is ranked against the batch's generated ones (C-), a generated one against
    the batch's real ones (C+) (Lin et al. 2017, eq. 4); relevance is (N, U); a class absent from
    the batch adds 0.
    """
    real, fake = relevance[is_real], relevance[~is_real]
    loss = relevance.new_zeros(())
    if len(real):
        loss = loss - log_rank(real, fake).mean()
    if len(fake):
        loss = loss + log_rank(fake, real).mean()
    return loss


def rescaled_activation(rewards: torch.Tensor, mask: torch.Tensor, delta: float) -> torch.Tensor:
    """LeakGAN's bootstrapped rescaled activation of a (B, T) reward matrix: in each column, the
    n rows of `mask` get sigma(delta * (rank / n - 0.5)), rank 1..n by increasing reward.

    Ranks are by value (sorted), tied rewards share the mean of their ranks; the top reward gets
    sigma(delta / 2) whatever its scale (Guo et al. 2018, with the paper's rank counted from 0 at the top).
    """
    valid = mask.bool()
    values = rewards.double()
    # per column: rows below (strictly) and rows equal, among the valid ones
    below = ((values.unsqueeze(0) < values.unsqueeze(1)) & valid.unsqueeze(0)).sum(1)
    equal = ((values.unsqueeze(0) == values.unsqueeze(1)) & valid.unsqueeze(0)).sum(1)
    rank = below + (equal + 1) / 2.0
    count = valid.sum(0, keepdim=True).clamp(min=1)
    return (torch.sigmoid(delta * (rank / count - 0.5)) * valid).to(rewards.dtype)


def goal_cosines(features: torch.Tensor, goals: torch.Tensor, step_size: int) -> torch.Tensor:
    """(B, T) cos(f_min(t+c, T) - f_t, g_t): how well each Manager goal g_t pointed where D's
    feature of the prefix moved over the next c tokens (features: (B, T + 1, F) for prefixes of
    0..T tokens; goals: (B, T, F)). LeakGAN's Manager maximises it, weighted by Q."""
    length = goals.shape[1]
    ahead = torch.arange(length, device=goals.device).add(step_size).clamp(max=length)
    return F.cosine_similarity(features[:, ahead] - features[:, :length], goals, dim=-1)


def intrinsic_rewards(features: torch.Tensor, goals: torch.Tensor, step_size: int) -> torch.Tensor:
    """(B, T) the Worker's intrinsic reward for the token at each position t (which makes the
    prefix of t + 1 tokens): (1/c) sum_{i=1..c, i <= t+1} cos(f_{t+1} - f_{t+1-i}, g_{t+1-i})."""
    batch, length, _ = goals.shape
    total = goals.new_zeros(batch, length)
    for i in range(1, step_size + 1):
        if i > length:
            break
        # position t in i-1..T-1: the prefix of t + 1 tokens against the goal emitted i steps before
        moved = features[:, i:] - features[:, : length + 1 - i]
        total[:, i - 1 :] += F.cosine_similarity(moved, goals[:, : length + 1 - i], dim=-1)
    return total / step_size
