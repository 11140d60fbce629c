"""Distances between two sets of sentence features: the Fréchet distance and MAUVE.

* Fréchet distance (FD; FED in ScratchGAN, de Masson d'Autume et al. 2019): fit a Gaussian to each
  set of feature vectors and take ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). 0 for
  identical sets; lower is closer.
* MAUVE (Pillutla et al. 2021): quantise both sets jointly (PCA, k-means), compare the two
  histograms along the divergence frontier; the area under it, 1 for identical sets, near 0 for
  disjoint ones. Computed by the authors' `mauve-text` package (an optional extra:
  `pip install "textgan[mauve]"`, GPL-licensed, hence not a core dependency).

Both read the features only: which model gives them (textgan.metrics.features) decides what the
figures mean, so compare figures made with the same feature model alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from textgan.errors import ConfigError, DataError

__all__ = ["frechet_distance", "mauve_score"]


def _check_features(features: np.ndarray, what: str, minimum: int = 2) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < minimum or not np.isfinite(array).all():
        raise DataError(f"{what} must be a finite (N, D) array with N >= {minimum}, got shape {array.shape}")
    return array


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets (sample covariances).

    Tr((S_a S_b)^(1/2)) is computed as Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), which has the same
    eigenvalues and stays symmetric, so no complex round-off arises (scipy's sqrtm is not needed).
    """
    a = _check_features(features_a, "the first feature set")
    b = _check_features(features_b, "the second feature set")
    if a.shape[1] != b.shape[1]:
        raise DataError(f"feature sets of different widths ({a.shape[1]} and {b.shape[1]}); use one feature model")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(cov_a)
    cross = np.trace(_sqrt_psd(root_a @ cov_b @ root_a))
    distance = float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(distance, 0.0)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: faiss's C++ k-means warns there whenever a bucket has fewer than
    39 points, which MAUVE's N / 10 buckets always do by design."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def mauve_score(p_features: np.ndarray, q_features: np.ndarray, seed: int = 25, num_buckets: int | str = "auto",
                kmeans_num_redo: int = 5) -> float:
    """MAUVE of two (N, D) feature sets (p: the real text, q: the samples) with the authors'
    defaults (k-means buckets = N / 10, scaling 5), seeded; needs the `mauve-text` package."""
    try:
        import mauve
    except ImportError:
        raise ConfigError('MAUVE needs the mauve-text package: pip install "textgan[mauve]" (or pip install '
                          'mauve-text)') from None
    p = _check_features(p_features, "the real text's features", minimum=10)
    q = _check_features(q_features, "the samples' features", minimum=10)
    if p.shape[1] != q.shape[1]:
        raise DataError(f"feature sets of different widths ({p.shape[1]} and {q.shape[1]}); use one feature model")
    with _quiet_stderr():
        result = mauve.compute_mauve(p_features=p.astype(np.float32), q_features=q.astype(np.float32),
                                     num_buckets=num_buckets, seed=seed, kmeans_num_redo=kmeans_num_redo,
                                     verbose=False)
    return float(result.mauve)
