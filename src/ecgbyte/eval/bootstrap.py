"""Intervals for a single run: seeded percentile bootstrap over the test set's patients.

With one trained run there is nothing to put a t-interval on (:mod:`ecgbyte.eval.stats` needs
several seeds), but the test set is itself a sample: resampling it shows how much a score would
move on another test set of the same size. Test items are not independent, though: one patient
has several ECGs and one ECG several questions, and their answers go right or wrong together.
Resampling items one by one would treat 40 questions about 10 patients as 40 independent draws
and give too narrow an interval. So this module resamples *patients* (``QAItem.patient_id``,
the clusters), each drawn patient bringing all of its items:

- draw ``B`` resamples of the ``P`` patients once (``np.random.default_rng(seed)``, patients in
  order of first appearance) and turn them into an item weight matrix ``W [B, n]``: how often
  item ``i``'s patient is in resample ``b``;
- per-item metrics (accuracy, token F1, ROUGE, METEOR, BERTScore, the original's per-pair BLEU
  and ROUGE) resample their per-item scores: ``score_b = W[b] @ x / W[b].sum()`` (a resample
  holds as many items as its drawn patients have, not exactly ``n``);
- corpus metrics (BLEU-4, sacreBLEU) resample their per-item *sufficient statistics* (n-gram
  matches and totals, lengths), weighted by ``W[b]``, summed and turned into a corpus score per
  resample, exactly as NLTK's ``corpus_bleu`` / sacreBLEU do on the whole set;
- the interval is the 2.5th and 97.5th percentile of the ``B`` resampled scores (NumPy's
  linear interpolation); the point estimate stays the score on the full set;
- ablation drops are *paired*: the same ``W`` rows score the baseline and the ablated answers,
  and the interval is over ``baseline_b - ablated_b``.

With one item per patient this is the plain item bootstrap, draw for draw (the same ``W``). Every
such interval has ``method="bootstrap"`` and ``n`` = number of patients, never to be confused
with the t-interval over runs (``method="t"``, ``n`` = runs); :func:`interval_label` words both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ecgbyte.errors import ConfigError
from ecgbyte.eval.stats import Interval

CORPUS_METRICS: tuple[str, ...] = ("bleu4", "sacrebleu")
_NLTK_EPSILON = 0.1  # SmoothingFunction().method1's epsilon


def interval_label(
    method: str,
    n: int,
    *,
    confidence: float = 0.95,
    n_items: int | None = None,
    unit: str = "runs",
    each: str = "",
) -> str:
    """What an interval is, in words.

    ``"95% bootstrap CI over 120 patients (500 test items), 1 run"`` (``n`` patients,
    ``n_items`` items), ``"95% t-interval over 3 runs"`` (``unit`` names what ``n`` counts, e.g.
    ``"sampling seeds (1 run)"``; ``each`` is appended, e.g. ``" (each the mean of 5 sampling
    seeds)"``), or ``"single run, no interval"`` when there is none.
    """
    pct = f"{100 * confidence:g}%"
    if method == "bootstrap":
        items = n if n_items is None else n_items
        return f"{pct} bootstrap CI over {n} patients ({items} test items), 1 run"
    if method == "t":
        return f"{pct} t-interval over {n} {unit}{each}"
    return "single run, no interval"


# ---------------------------------------------------------------------------- BLEU statistics
def nltk_bleu_stats(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-item statistics of NLTK corpus BLEU-4 on whitespace tokens, ``int64 [n, 10]``.

    Columns: clipped n-gram matches for n = 1..4, n-gram totals ``max(1, count)`` for n = 1..4
    (NLTK's ``modified_precision`` numerator and denominator), hypothesis length, reference length.
    """
    from nltk.translate.bleu_score import modified_precision

    rows = []
    for p, r in zip(predictions, references):
        hyp, ref = str(p).split(), str(r).split()
        mp = [modified_precision([ref], hyp, k) for k in range(1, 5)]
        rows.append([m.numerator for m in mp] + [m.denominator for m in mp] + [len(hyp), len(ref)])
    return np.asarray(rows, dtype=np.int64).reshape(-1, 10)


def nltk_bleu_from_stats(stats: np.ndarray) -> np.ndarray:
    """NLTK corpus BLEU-4 (method1 smoothing), 0-100, from summed statistics ``[..., 10]``.

    Same arithmetic as ``corpus_bleu``: 0 when no unigram matches; a zero match count becomes
    ``0.1 / total``; brevity penalty ``exp(1 - ref/hyp)`` when ``hyp < ref`` (0 for ``hyp = 0``).
    """
    s = np.asarray(stats, dtype=np.float64)
    num, den, hyp, ref = s[..., 0:4], s[..., 4:8], s[..., 8], s[..., 9]
    p = np.where(num > 0, num, _NLTK_EPSILON) / den
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(hyp > ref, 1.0, np.exp(1.0 - ref / np.where(hyp > 0, hyp, 1.0)))
    bp = np.where(hyp == 0, 0.0, bp)
    score = bp * np.exp(0.25 * np.log(p).sum(axis=-1))
    return 100.0 * np.where(num[..., 0] > 0, score, 0.0)


def sacrebleu_stats(predictions: Sequence[str], references: Sequence[str]) -> tuple[Any, np.ndarray]:
    """sacreBLEU's per-sentence statistics ``int64 [n, 10]`` and the ``BLEU`` object to score sums."""
    from sacrebleu.metrics.bleu import BLEU

    bleu = BLEU()
    st = bleu._extract_corpus_statistics([str(p) for p in predictions], [[str(r) for r in references]])
    return bleu, np.asarray(st, dtype=np.int64).reshape(-1, 10)


def sacrebleu_from_stats(bleu: Any, stats: np.ndarray) -> np.ndarray:
    """sacreBLEU scores (0-100) of summed statistics ``[B, 10]``, one per row."""
    return np.asarray([bleu._compute_score_from_stats([int(v) for v in row]).score for row in stats])


# ---------------------------------------------------------------------------- resampling
def resample_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``float64 [n_resamples, n]``: how many times each item is drawn in each resample.

    Row ``b`` comes from ``default_rng(seed).integers(0, n, size=(n_resamples, n))[b]``; every
    row sums to ``n``.
    """
    if n < 1:
        raise ConfigError("the bootstrap needs at least one item")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be >= 1, got {n_resamples}")
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    flat = (np.arange(n_resamples)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def cluster_counts(groups: Sequence[Any], n_resamples: int, seed: int) -> tuple[np.ndarray, int]:
    """``(W, P)``: item weights ``float64 [n_resamples, n]`` of a cluster bootstrap, and ``P``.

    ``groups[i]`` is item ``i``'s cluster (its patient). The ``P`` distinct clusters are numbered
    in order of first appearance; resample ``b`` draws ``P`` of them with replacement
    (:func:`resample_counts` ``(P, n_resamples, seed)``) and item ``i`` gets its cluster's count.
    With one item per cluster (all ``groups`` distinct) ``W`` equals ``resample_counts(n, ...)``.
    """
    index: dict[Any, int] = {}
    codes = np.asarray([index.setdefault(g, len(index)) for g in groups], dtype=np.int64)
    if codes.size == 0:
        raise ConfigError("the bootstrap needs at least one item")
    per_cluster = resample_counts(len(index), n_resamples, seed)
    return per_cluster[:, codes], len(index)


def item_statistics(
    predictions: Sequence[str], references: Sequence[str], per_item: Mapping[str, Sequence[float]]
) -> dict[str, Any]:
    """What :func:`resampled_scores` needs for one set of answers: ``{metric: array}``.

    ``per_item`` is ``compute_metrics_items(...)["per_item"]`` (``float64 [n]`` per metric).
    When the NLG metrics were computed (ROUGE present), BLEU-4's ``[n, 10]`` statistics and
    sacreBLEU's ``(BLEU, [n, 10])`` are added.
    """
    out: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in per_item.items()}
    if "rouge1" in per_item:
        out["bleu4"] = nltk_bleu_stats(predictions, references)
        try:
            out["sacrebleu"] = sacrebleu_stats(predictions, references)
        except ImportError:
            pass
    return out


def resampled_scores(stats: Mapping[str, Any], counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of ``stats`` on every resample of the item weights ``counts [B, n]``: ``{metric: [B]}``.

    A per-item metric is the weighted mean ``counts[b] @ x / counts[b].sum()``; a corpus metric
    is computed from the weighted sum of its statistics.
    """
    size = counts.sum(axis=1)
    out: dict[str, np.ndarray] = {}
    for k, v in stats.items():
        if k == "bleu4":
            out[k] = nltk_bleu_from_stats(counts @ v)
        elif k == "sacrebleu":
            bleu, st = v
            out[k] = sacrebleu_from_stats(bleu, np.rint(counts @ st).astype(np.int64))
        else:
            out[k] = counts @ v / size
    return out


def percentile_interval(
    point: float, boot: np.ndarray, *, n: int | None = None, confidence: float = 0.95
) -> Interval:
    """Percentile interval of the resampled values ``boot [B]`` around the full-set ``point``.

    ``n`` is the number of units resampled (patients; stored in the interval; default ``B``);
    ``std`` is the bootstrap standard error.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    a = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(boot, [a, 100 - a])
    return Interval(
        float(point),
        None,
        int(boot.size if n is None else n),
        float(np.std(boot, ddof=1)) if boot.size > 1 else 0.0,
        confidence,
        method="bootstrap",
        bounds=(float(lo), float(hi)),
    )


def bootstrap_run(
    baseline: Mapping[str, Any],
    ablated: Mapping[str, Mapping[str, Any]],
    points: Mapping[str, Any],
    *,
    n_items: int,
    groups: Sequence[Any] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Cluster-bootstrap intervals of one run: baseline metrics, ablated metrics and paired drops.

    Parameters
    ----------
    baseline : :func:`item_statistics` of the baseline answers.
    ablated : ``{ablation: item_statistics}`` of the same items' ablated answers.
    points : ``{"baseline": scores, ablation: scores}``, the full-set scores (0-100) used as
        point estimates (drop point = baseline - ablated).
    n_items : number of test items ``n``.
    groups : each item's patient (``n`` values); ``None``: every item its own patient (the plain
        item bootstrap).
    n_resamples, seed, confidence : ``B``, the RNG seed and the coverage.

    Returns
    -------
    ``{"metrics": {m: Interval dict}, "ablations": {k: {"scores": {...}, "drop": {...}}},
    "n_items", "n_patients", "n_resamples", "seed", "label"}``; the ``n`` of each interval is the
    patient count.
    """
    groups = list(range(n_items)) if groups is None else list(groups)
    if len(groups) != n_items:
        raise ConfigError(f"{len(groups)} patient ids for {n_items} items; pass one per item")
    counts, n_patients = cluster_counts(groups, n_resamples, seed)
    base = resampled_scores(baseline, counts)

    def iv(point: Any, boot: np.ndarray) -> dict[str, Any] | None:
        if point is None or not math.isfinite(point):
            return None
        return percentile_interval(point, boot, n=n_patients, confidence=confidence).to_dict()

    metrics = {m: iv(points["baseline"].get(m), b) for m, b in base.items()}
    abl: dict[str, Any] = {}
    for kind, st in ablated.items():
        res = resampled_scores(st, counts)
        sc, dr = {}, {}
        for m, b in res.items():
            p_abl, p_base = points[kind].get(m), points["baseline"].get(m)
            sc[m] = iv(p_abl, b)
            if m in base and p_abl is not None and p_base is not None:
                dr[m] = iv(p_base - p_abl, base[m] - b)
        abl[kind] = {"scores": sc, "drop": dr}
    return {
        "metrics": metrics,
        "ablations": abl,
        "n_items": n_items,
        "n_patients": n_patients,
        "n_resamples": n_resamples,
        "seed": seed,
        "label": interval_label("bootstrap", n_patients, n_items=n_items, confidence=confidence),
    }


__all__ = [
    "CORPUS_METRICS",
    "bootstrap_run",
    "cluster_counts",
    "interval_label",
    "item_statistics",
    "nltk_bleu_from_stats",
    "nltk_bleu_stats",
    "percentile_interval",
    "resample_counts",
    "resampled_scores",
    "sacrebleu_from_stats",
    "sacrebleu_stats",
]
