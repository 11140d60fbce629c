"""Fréchet distance, MAUVE and the sentence-feature models behind them, on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textgan.errors import DataError
from textgan.metrics.features import FeatureModel, reference_lm
from textgan.metrics.frechet import frechet_distance, mauve_score
from textgan.metrics.lm_scores import LMBudget, Vocabulary

pytest.importorskip("mauve", reason="MAUVE needs the mauve extra")


def gaussian(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


def test_identical_sets_give_fd_zero_and_mauve_one():
    a = gaussian(600, np.zeros(6), np.eye(6), seed=0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert mauve_score(a, a) == pytest.approx(1.0, abs=1e-9)


def test_disjoint_clusters_give_mauve_near_zero_and_a_large_fd():
    a = gaussian(600, np.zeros(6), np.eye(6) * 0.1, seed=0)
    b = gaussian(600, np.full(6, 5.0), np.eye(6) * 0.1, seed=1)
    assert mauve_score(a, b) < 0.02
    assert frechet_distance(a, b) == pytest.approx(150.0, rel=0.02)  # ||mu_a - mu_b||^2 = 6 * 25


def test_two_draws_of_one_distribution_score_near_identical():
    a, b = gaussian(1000, np.zeros(4), np.eye(4), seed=0), gaussian(1000, np.zeros(4), np.eye(4), seed=1)
    assert mauve_score(a, b) > 0.9
    assert frechet_distance(a, b) < 0.05


def test_fd_equals_the_closed_form_for_two_gaussians():
    rotation, _ = np.linalg.qr(np.random.default_rng(7).normal(size=(3, 3)))
    scales_a, scales_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 1.0])
    cov_a, cov_b = rotation @ np.diag(scales_a) @ rotation.T, rotation @ np.diag(scales_b) @ rotation.T
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.0])
    # commuting covariances: Tr((S_a S_b)^(1/2)) is the sum of sqrt(a_i b_i)
    closed = ((mean_a - mean_b) ** 2).sum() + scales_a.sum() + scales_b.sum() - 2 * np.sqrt(scales_a * scales_b).sum()
    measured = frechet_distance(gaussian(200_000, mean_a, cov_a, 0), gaussian(200_000, mean_b, cov_b, 1))
    assert measured == pytest.approx(closed, rel=0.01)
    # and exactly the formula on the sample moments, for a non-commuting pair
    a, b = gaussian(500, mean_a, cov_a, 2), gaussian(500, mean_b, np.eye(3) + 0.5, 3)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values = np.linalg.eigvals(sa @ sb)  # the eigenvalues of S_a S_b are real and >= 0
    exact = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(values.real).sum()
    assert frechet_distance(a, b) == pytest.approx(exact, rel=1e-9)


def test_bad_feature_sets_are_refused():
    with pytest.raises(DataError, match="different widths"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(DataError, match="finite"):
        frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3)))


def test_reference_lm_is_cached_and_features_pool_real_tokens_only(tmp_path):
    vocabulary = Vocabulary(size=10, bos_id=0, eos_id=1, pad_id=2)
    rows = torch.randint(3, 10, (40, 6), generator=torch.Generator().manual_seed(0))
    rows[:, 4], rows[:, 5] = 1, 2  # four tokens, <eos>, <pad>
    budget = LMBudget(epochs=1, hidden_dim=8, embedding_dim=8)
    fitted = reference_lm(rows, vocabulary, budget, seed=0, cache_dir=tmp_path)
    assert len(list((tmp_path / "reference_lm").glob("*.safetensors"))) == 1
    cached = reference_lm(rows, vocabulary, budget, seed=0, cache_dir=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(fitted.state_dict().values(), cached.state_dict().values()))
    features = FeatureModel("test", generator=cached)
    padded = rows.clone()
    padded[:, 5] = 7  # a token after <eos> must not change the sentence's feature
    assert np.array_equal(features.rows(rows), features.rows(padded))
    assert features.rows(rows).shape == (40, 8)
