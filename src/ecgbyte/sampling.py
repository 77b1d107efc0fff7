"""Choosing which ECGs a tokenizer is trained on: random or morphology-stratified samples.

The paper (ECG-Byte, ``preprocess/sample_ecg.py`` in the original code) trains BPE on a sample
drawn evenly across morphology clusters, so that rare morphologies contribute merges too:
per-ECG features → PCA → k-means for a range of k → k chosen by silhouette score → the same
number of ECGs from every cluster. This module does the same with numpy only (no scikit-learn):
a seeded k-means++ / Lloyd k-means, PCA by SVD and a (subsampled) silhouette score.

Differences from the original, on purpose:
- features are standardised *before* PCA (the original ran PCA on raw features, so the
  spectral power, in mV²/Hz, dominated every component);
- k is the silhouette maximum (the original took ``min(elbow, silhouette)``);
- when a cluster has fewer ECGs than its share, the shortfall is spread evenly over the other
  clusters (water-filling) rather than drawn at random from everything left, which would favour
  the largest clusters again;
- every random choice comes from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError

METHODS = ("random", "stratified")


@dataclass(frozen=True)
class SamplingResult:
    """What :func:`stratified_sample` chose and why.

    Attributes
    ----------
    indices : int64 ``[n]``, positions of the chosen ECGs in the input, sorted ascending.
    labels : int64 ``[n_items]``, cluster of every input ECG (0..k-1).
    k : the chosen number of clusters.
    silhouette : ``{k: mean silhouette score}`` for every k tried.
    """

    indices: np.ndarray
    labels: np.ndarray
    k: int
    silhouette: dict[int, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Per-ECG morphology features (a cheaper cousin of the original ``extract_features``)
# ----------------------------------------------------------------------------------------------


def ecg_features(signal: np.ndarray, fs: float) -> np.ndarray:
    """Morphology features of one ECG, computed per lead and concatenated.

    Parameters
    ----------
    signal : float array ``[leads, samples]`` in mV.
    fs : sampling rate in Hz.

    Returns
    -------
    float64 ``[leads * 12]``: per lead the mean, std, max, min, median, 25th and 75th percentile
    (mV), mean power, dominant frequency and spectral centroid (Hz) of the periodogram, mean
    absolute first difference and RMS of successive differences (mV/sample). Non-finite values
    become 0.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ConfigError(f"ecg_features needs a [leads, samples] signal with >= 2 samples, got {x.shape}")
    x = np.nan_to_num(x)
    q25, q50, q75 = np.percentile(x, [25, 50, 75], axis=1)
    spec = np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], d=1.0 / fs)
    power = spec.sum(axis=1)
    centroid = np.divide((spec * freqs).sum(axis=1), power, out=np.zeros_like(power), where=power > 0)
    diff = np.diff(x, axis=1)
    feats = np.stack(
        [
            x.mean(axis=1),
            x.std(axis=1),
            x.max(axis=1),
            x.min(axis=1),
            q50,
            q25,
            q75,
            power / x.shape[1] ** 2,
            freqs[np.argmax(spec, axis=1)],
            centroid,
            np.abs(diff).mean(axis=1),
            np.sqrt((diff**2).mean(axis=1)),
        ],
        axis=1,
    )
    return np.nan_to_num(feats.reshape(-1))


def features_matrix(ecgs: Sequence[Any], *, load: Callable[[Any], Ecg] | None = None) -> np.ndarray:
    """Stack :func:`ecg_features` of many ECGs (``Ecg`` or anything ``load`` turns into one).

    Returns float64 ``[n_ecgs, n_features]``; every ECG must have the same number of leads.
    """
    rows = []
    for item in ecgs:
        ecg = load(item) if load is not None else item
        if not isinstance(ecg, Ecg):
            raise ConfigError(f"expected an Ecg (or pass load=...), got {type(ecg).__name__}")
        rows.append(ecg_features(ecg.signal, ecg.fs))
    if not rows:
        return np.zeros((0, 0))
    widths = {r.size for r in rows}
    if len(widths) != 1:
        raise ConfigError(
            f"ECGs have different lead counts (feature widths {sorted(widths)}); select leads first"
        )
    return np.stack(rows)


# ----------------------------------------------------------------------------------------------
# PCA, k-means++, silhouette (numpy)
# ----------------------------------------------------------------------------------------------


def pca_reduce(features: np.ndarray, *, variance: float = 0.95) -> np.ndarray:
    """Standardise columns, then keep the principal components explaining ``variance`` of it.

    Returns float64 ``[n, n_components]`` (at least one component).
    """
    x = np.asarray(features, dtype=np.float64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    var = s**2
    total = var.sum()
    if total <= 0:
        return np.zeros((x.shape[0], 1))
    n_comp = int(np.searchsorted(np.cumsum(var) / total, variance) + 1)
    n_comp = min(n_comp, s.size)
    return u[:, :n_comp] * s[:n_comp]


def _sq_dists(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * x @ centers.T + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(
    x: np.ndarray, k: int, *, rng: np.random.Generator, n_init: int = 3, max_iter: int = 100
) -> tuple[np.ndarray, float]:
    """k-means (k-means++ seeding, Lloyd iterations); best of ``n_init`` runs by inertia.

    Returns ``(labels int64 [n], inertia)``.
    """
    n = x.shape[0]
    best_labels, best_inertia = np.zeros(n, dtype=np.int64), np.inf
    for _ in range(n_init):
        centers = np.empty((k, x.shape[1]))
        centers[0] = x[rng.integers(n)]
        d2 = _sq_dists(x, centers[:1])[:, 0]
        for j in range(1, k):
            total = d2.sum()
            idx = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
            centers[j] = x[idx]
            d2 = np.minimum(d2, _sq_dists(x, centers[j : j + 1])[:, 0])
        labels = np.full(n, -1, dtype=np.int64)
        for _ in range(max_iter):
            d = _sq_dists(x, centers)
            new = d.argmin(axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = labels == j
                if members.any():
                    centers[j] = x[members].mean(axis=0)
                else:  # empty cluster: move it to the point worst served
                    far = int(d[np.arange(n), labels].argmax())
                    centers[j] = x[far]
        inertia = float(_sq_dists(x, centers)[np.arange(n), labels].sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels, best_inertia


def silhouette_score(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient (Euclidean); points alone in their cluster count 0."""
    labels = np.asarray(labels)
    uniq = np.unique(labels)
    if uniq.size < 2:
        return 0.0
    d = np.sqrt(_sq_dists(x, x))
    onehot = (labels[:, None] == uniq[None, :]).astype(np.float64)
    sums = d @ onehot  # [n, k]: summed distance to each cluster
    sizes = onehot.sum(axis=0)
    own = np.searchsorted(uniq, labels)
    own_size = sizes[own]
    a = np.divide(
        sums[np.arange(len(labels)), own], own_size - 1, out=np.zeros(len(labels)), where=own_size > 1
    )
    means = sums / sizes[None, :]
    means[np.arange(len(labels)), own] = np.inf
    b = means.min(axis=1)
    s = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(s.mean())


# ----------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------


def _even_quotas(sizes: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over clusters as evenly as their sizes allow (water-filling, smallest first)."""
    quotas = np.zeros_like(sizes)
    left = n
    open_ = [int(i) for i in np.argsort(sizes, kind="stable")]
    while left > 0 and open_:
        share = left // len(open_)
        extra = left - share * len(open_)
        nxt = []
        for rank, c in enumerate(open_):
            want = share + (1 if rank >= len(open_) - extra else 0)
            take = min(want, sizes[c] - quotas[c])
            quotas[c] += take
            left -= take
            if quotas[c] < sizes[c]:
                nxt.append(c)
        if len(nxt) == len(open_) and share == 0 and extra == 0:
            break
        open_ = nxt
    return quotas


def stratified_sample(
    features: np.ndarray,
    n: int,
    *,
    seed: int = 0,
    k_range: tuple[int, int] = (2, 20),
    variance: float = 0.95,
    silhouette_max_points: int = 2000,
    n_init: int = 3,
) -> SamplingResult:
    """Morphology-stratified sample of ``n`` rows of ``features`` ``[n_items, n_features]``.

    k is searched over ``k_range`` (inclusive, capped at ``n_items - 1``) and chosen by the
    silhouette score on at most ``silhouette_max_points`` rows (a seeded subsample); each
    cluster then gives an equal share of the sample, as far as its size allows.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"features must be [n_items, n_features], got shape {x.shape}")
    n_items = x.shape[0]
    _check_n(n, n_items)
    rng = np.random.default_rng(seed)
    k_lo, k_hi = int(k_range[0]), min(int(k_range[1]), n_items - 1)
    if k_lo < 2 or k_hi < k_lo:
        if n_items < 3:
            idx = np.sort(rng.choice(n_items, size=n, replace=False)).astype(np.int64)
            return SamplingResult(indices=idx, labels=np.zeros(n_items, dtype=np.int64), k=1)
        raise ConfigError(f"k_range {k_range} is empty for {n_items} ECGs; use (2, k_max) with k_max >= 2")
    z = pca_reduce(x, variance=variance)
    sub = np.sort(rng.choice(n_items, size=min(n_items, silhouette_max_points), replace=False))
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    for k in range(k_lo, k_hi + 1):
        labels, _ = kmeans(z, k, rng=rng, n_init=n_init)
        score = silhouette_score(z[sub], labels[sub])
        scores[k] = score
        if best is None or score > best[0] + 1e-12:
            best = (score, k, labels)
    assert best is not None  # internal: the k loop ran at least once
    _, k, labels = best
    uniq, labels = np.unique(labels, return_inverse=True)
    sizes = np.bincount(labels, minlength=uniq.size)
    quotas = _even_quotas(sizes, n)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=int(q), replace=False) for c, q in enumerate(quotas)
    ]
    idx = np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
    return SamplingResult(indices=idx, labels=labels.astype(np.int64), k=int(uniq.size), silhouette=scores)


def _check_n(n: int, n_items: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"number of ECGs to sample must be a non-negative integer, got {n!r}")
    if n > n_items:
        raise ConfigError(f"cannot sample {n} ECGs from {n_items}; lower --num-ecgs to at most {n_items}")


def sample_ecgs(
    refs_or_features: Sequence[Any] | np.ndarray,
    n: int,
    *,
    method: str = "random",
    seed: int = 0,
    load: Callable[[Any], Ecg] | None = None,
    **stratified_options: Any,
) -> np.ndarray:
    """Choose ``n`` ECGs, at random or stratified by morphology; return their positions.

    Parameters
    ----------
    refs_or_features : a 2-D feature array ``[n_items, n_features]``, or a sequence of ``Ecg``
        (or of anything ``load`` turns into an ``Ecg``, e.g. ``RecordRef`` with ``read_record``).
    n : how many to choose (at most the number of items).
    method : ``"random"`` (uniform, without replacement) or ``"stratified"`` (see
        :func:`stratified_sample`, whose options pass through).
    seed : seed of ``np.random.default_rng``.

    Returns
    -------
    int64 ``[n]`` sorted positions into ``refs_or_features``.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown sampling method {method!r}; choose one of {', '.join(METHODS)}")
    n_items = len(refs_or_features)
    _check_n(n, n_items)
    if method == "random":
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(n_items, size=n, replace=False)).astype(np.int64)
    if isinstance(refs_or_features, np.ndarray) and refs_or_features.ndim == 2 and load is None:
        feats = refs_or_features
    else:
        feats = features_matrix(refs_or_features, load=load)
    return stratified_sample(feats, n, seed=seed, **stratified_options).indices
