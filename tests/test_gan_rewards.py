"""MaliGAN's and RankGAN's rewards on hand-built batches against the papers' formulas."""

from __future__ import annotations

import math

import pytest

import torch

from textgan.training.discrete_gan_rewards import (cosine_relevance, log_rank, maligan_sentence_rewards,
                                                   maligan_token_rewards, mixed_mle_mali_loss, mixing_prefix_length,
                                                   ranker_loss)


def test_maligan_sentence_reward_is_the_normalised_odds_minus_their_mean():
    d = [0.5, 0.8, 0.2, 0.9]  # D(x_i)
    odds = [0.5 / 0.5, 0.8 / 0.2, 0.2 / 0.8, 0.9 / 0.1]  # r_D = D / (1 - D) = 1, 4, 0.25, 9
    expected = [r / sum(odds) - 1 / 4 for r in odds]  # Che et al. 2017, Algorithm 1, b = 1/m
    logits = torch.tensor([math.log(p / (1 - p)) for p in d])
    assert torch.allclose(maligan_sentence_rewards(logits), torch.tensor(expected), atol=1e-7)


def test_maligan_algorithm_2_normalises_within_each_real_prefixs_continuations():
    odds = [1.0, 4.0, 0.25, 9.0]  # rows 0, 1 continue one real prefix, rows 2, 3 another
    logits = torch.tensor([math.log(r) for r in odds])
    expected = [1 / 5 - 1 / 2, 4 / 5 - 1 / 2, 0.25 / 9.25 - 1 / 2, 9 / 9.25 - 1 / 2]
    assert torch.allclose(maligan_sentence_rewards(logits, group_size=2), torch.tensor(expected), atol=1e-7)
    assert torch.allclose(maligan_sentence_rewards(logits, group_size=4), maligan_sentence_rewards(logits))


def test_maligan_rollout_rewards_normalise_per_position_over_the_rows_that_chose_a_token():
    q = torch.tensor([[0.5, 0.8], [0.2, 0.6], [0.9, 0.3]])
    mask = torch.tensor([[1, 1], [1, 0], [1, 1]], dtype=torch.bool)
    column0 = [1.0, 0.25, 9.0]  # Q / (1 - Q)
    column1 = [4.0, 0.3 / 0.7]  # rows 0 and 2
    expected = torch.tensor([[1.0 / sum(column0) - 1 / 3, 4.0 / sum(column1) - 1 / 2],
                             [0.25 / sum(column0) - 1 / 3, 0.0],
                             [9.0 / sum(column0) - 1 / 3, (0.3 / 0.7) / sum(column1) - 1 / 2]])
    assert torch.allclose(maligan_token_rewards(q, mask), expected, atol=1e-6)


def test_maligan_mixing_prefix_shrinks_by_k_tokens_every_few_rounds_down_to_zero():
    # Algorithm 2: N starts at T and loses K tokens each epoch; here start 7, K = 3, every 2 rounds
    assert [mixing_prefix_length(7, 3, 2, r) for r in range(8)] == [7, 7, 4, 4, 1, 1, 0, 0]


def test_maligan_mixed_loss_is_mle_on_the_real_prefix_plus_mali_on_the_generated_tokens():
    log_probs = torch.tensor([[-1.0, -2.0, -3.0, -4.0], [-0.5, -1.5, -2.5, -3.5]])
    rewards = torch.tensor([[0.0, 0.0, 0.3, 0.3], [0.0, -0.3, -0.3, 0.0]])
    prefix = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    generated = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.bool)  # row 1 ended at its third token
    mle = 1.0 + 2.0 + 0.5  # -log pi of the three prefix tokens
    mali = -(0.3 * -3.0 + 0.3 * -4.0 + -0.3 * -1.5 + -0.3 * -2.5)
    assert mixed_mle_mali_loss(log_probs, rewards, generated, prefix).item() == pytest.approx((mle + mali) / 7)


def test_rankgan_log_rank_is_the_mean_over_references_of_the_softmax_share_against_the_comparison_set():
    references = torch.tensor([[1.0, 0.0], [0.0, 3.0]])  # u1, u2
    sentences = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    comparison = torch.tensor([[3.0, 0.0], [-1.0, 0.0]])
    gamma = 2.0
    relevance = cosine_relevance(sentences, references, gamma)  # gamma * alpha(s | u), one column per u
    r2 = 2.0 / math.sqrt(2)
    assert torch.allclose(relevance, torch.tensor([[2.0, 0.0], [0.0, 2.0], [r2, r2]]), atol=1e-6)
    compared = cosine_relevance(comparison, references, gamma)  # [[2, 0], [-2, 0]]
    others = [math.exp(2.0) + math.exp(-2.0), math.exp(0.0) + math.exp(0.0)]  # sum over C, per reference

    def rank(g_u1: float, g_u2: float) -> float:  # R(s | U, C) = E_u exp(g) / (exp(g) + sum_C exp(g_c)), eq. 3
        return (math.exp(g_u1) / (math.exp(g_u1) + others[0]) + math.exp(g_u2) / (math.exp(g_u2) + others[1])) / 2

    expected = [math.log(rank(2.0, 0.0)), math.log(rank(0.0, 2.0)), math.log(rank(r2, r2))]
    assert torch.allclose(log_rank(relevance, compared), torch.tensor(expected), atol=1e-6)
    # neither the cosine to the mean reference feature nor the mean cosine (Texygen) gives it
    mean_feature = cosine_relevance(sentences, references.mean(0, keepdim=True), gamma)
    assert not torch.allclose(log_rank(mean_feature, cosine_relevance(comparison, references.mean(0, keepdim=True), gamma)),
                              torch.tensor(expected), atol=1e-3)


def test_ranker_loss_ranks_real_against_generated_and_generated_against_real():
    relevance = torch.tensor([[1.5], [-0.5], [0.5], [0.0]])  # gamma * alpha of rows real, fake, real, fake; one reference
    is_real = torch.tensor([True, False, True, False])
    fake_sum, real_sum = math.exp(-0.5) + math.exp(0.0), math.exp(1.5) + math.exp(0.5)
    real_terms = [g - math.log(math.exp(g) + fake_sum) for g in (1.5, 0.5)]  # log R(s | C-)
    fake_terms = [g - math.log(math.exp(g) + real_sum) for g in (-0.5, 0.0)]  # log R(s | C+)
    expected = -(sum(real_terms) / 2 - sum(fake_terms) / 2)  # Lin et al. 2017, eq. 4, negated to minimise
    assert float(ranker_loss(relevance, is_real)) == pytest.approx(expected, abs=1e-6)
