"""Random and morphology-stratified sampling (ecgbyte.sampling)."""

from __future__ import annotations

import numpy as np
import pytest

from ecgbyte.errors import ConfigError
from ecgbyte.sampling import (
    _even_quotas,
    ecg_features,
    kmeans,
    pca_reduce,
    sample_ecgs,
    silhouette_score,
    stratified_sample,
)


def blobs(sizes, *, seed=0, dim=6, spread=0.3):
    """Gaussian blobs far apart; returns (features, true labels)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, size=(len(sizes), dim))
    x = np.concatenate([c + rng.normal(0, spread, size=(n, dim)) for c, n in zip(centers, sizes)])
    y = np.repeat(np.arange(len(sizes)), sizes)
    return x, y


def test_stratified_finds_rare_cluster_and_samples_it_fully():
    x, y = blobs([300, 250, 8])
    res = stratified_sample(x, 30, seed=1, k_range=(2, 6))
    assert res.k == 3
    assert sorted(res.silhouette) == [2, 3, 4, 5, 6]
    assert max(res.silhouette, key=res.silhouette.get) == 3
    picked = y[res.indices]
    # quotas 10/10/10 but the rare cluster has 8: all 8 taken, the 2 left split evenly (11/11)
    assert np.bincount(picked, minlength=3).tolist() == [11, 11, 8]
    assert len(set(res.indices.tolist())) == 30
    assert np.all(np.diff(res.indices) > 0)


def test_random_sampling_misses_rare_cluster_that_stratified_keeps():
    x, y = blobs([500, 400, 10])
    rare_random = np.mean([np.sum(y[sample_ecgs(x, 30, method="random", seed=s)] == 2) for s in range(20)])
    rare_strat = np.sum(y[sample_ecgs(x, 30, method="stratified", seed=0, k_range=(2, 5))] == 2)
    assert rare_random < 2  # expectation 30 * 10 / 910 = 0.33
    assert rare_strat == 10


def test_deterministic_by_seed():
    x, _ = blobs([60, 40, 20], seed=3)
    a = sample_ecgs(x, 25, method="stratified", seed=7, k_range=(2, 5))
    b = sample_ecgs(x, 25, method="stratified", seed=7, k_range=(2, 5))
    assert np.array_equal(a, b)
    r1 = sample_ecgs(x, 25, method="random", seed=7)
    assert np.array_equal(r1, sample_ecgs(x, 25, method="random", seed=7))
    assert not np.array_equal(r1, sample_ecgs(x, 25, method="random", seed=8))


def test_sample_all_and_zero():
    x, _ = blobs([10, 10])
    assert sample_ecgs(x, 20, method="random", seed=0).tolist() == list(range(20))
    assert sample_ecgs(x, 20, method="stratified", seed=0).tolist() == list(range(20))
    assert sample_ecgs(x, 0, method="random", seed=0).tolist() == []


def test_errors():
    x, _ = blobs([5, 5])
    with pytest.raises(ConfigError, match="cannot sample 11 ECGs from 10"):
        sample_ecgs(x, 11, seed=0)
    with pytest.raises(ConfigError, match=r"unknown sampling method 'kmeans'.*random, stratified"):
        sample_ecgs(x, 3, method="kmeans", seed=0)
    with pytest.raises(ConfigError, match="non-negative"):
        sample_ecgs(x, -1, seed=0)
    with pytest.raises(ConfigError, match="expected an Ecg"):
        sample_ecgs(["a", "b", "c"], 2, method="stratified", seed=0)


def test_even_quotas_water_filling():
    assert _even_quotas(np.array([8, 300, 250]), 30).tolist() == [8, 11, 11]
    assert _even_quotas(np.array([1, 1, 100]), 10).tolist() == [1, 1, 8]
    assert _even_quotas(np.array([5, 5]), 10).tolist() == [5, 5]
    assert _even_quotas(np.array([4, 4, 4]), 7).sum() == 7


def test_silhouette_matches_hand_computation():
    # 1-D points: cluster 0 = {0, 1}, cluster 1 = {10}
    x = np.array([[0.0], [1.0], [10.0]])
    labels = np.array([0, 0, 1])
    # point 0: a=1, b=10 -> 0.9; point 1: a=1, b=9 -> 8/9; point 2: singleton -> 0
    assert silhouette_score(x, labels) == pytest.approx((0.9 + 8 / 9 + 0) / 3)
    assert silhouette_score(x, np.zeros(3, dtype=int)) == 0.0


def test_kmeans_recovers_blobs():
    x, y = blobs([50, 50, 50], seed=2)
    labels, inertia = kmeans(x, 3, rng=np.random.default_rng(0))
    # same partition up to renaming
    pairs = {(int(a), int(b)) for a, b in zip(labels, y)}
    assert len(pairs) == 3
    assert inertia > 0


def test_pca_keeps_variance_components():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 2))
    x = np.concatenate([base, base @ rng.normal(size=(2, 4))], axis=1)  # rank 2 in 6-D
    z = pca_reduce(x, variance=0.999)
    assert z.shape == (200, 2)


def test_stratified_on_synthetic_ecgs():
    from ecgbyte.signal import synthesize

    ecgs = synthesize(12, seed=0, fs=250.0, duration_s=2.0)
    f = ecg_features(ecgs[0].signal, ecgs[0].fs)
    assert f.shape == (12 * 12,) and np.all(np.isfinite(f))
    idx = sample_ecgs(ecgs, 6, method="stratified", seed=0, k_range=(2, 4))
    assert idx.shape == (6,) and len(set(idx.tolist())) == 6
