"""From per-run scores to the evaluation summary: intervals, the primary metric, the ECG-use flag.

- **Intervals.** Several runs (seeds or checkpoints): mean ± 95% t-interval over the runs. One
  run decoded with several sampling seeds (``--decode sample``): t-interval over the seeds, as
  the original ECG-Byte evaluation does; several runs each decoded with several seeds: t over the
  runs, each run's score the mean over its seeds. One run, one decoding: the seeded 95% cluster
  bootstrap over its patients (:mod:`ecgbyte.eval.bootstrap`), paired for the drops, or no
  interval at all when the bootstrap was switched off. ``summary["interval"]["label"]`` says
  which, in words.
- **Primary metric** (:func:`default_primary`): the metric the flag and the report's chart use.
  Accuracy for question answering (short answers), ROUGE-L (``rouge-score``) for free text
  (reports, conversations).
- **The flag** (:func:`drop_hurts`): an ablation *hurts* when the interval of its drop of the
  primary metric lies above 0. ``ignores_ecg`` is set when no ablation hurts: every drop's interval
  includes 0 or lies below it. Where a drop has no interval (one run without bootstrap), the old
  rule stands in, and the flag sentence says so: a drop under ``flag_threshold`` points is no
  effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ecgbyte.eval.ablations import ABLATION_TITLES
from ecgbyte.eval.bootstrap import interval_label
from ecgbyte.eval.metrics import METRICS
from ecgbyte.eval.stats import format_interval, summarize_runs

# datasets whose answers are free text (reports, conversation replies): primary metric ROUGE-L
FREE_TEXT_DATASETS: tuple[str, ...] = ("ptbxl_reports", "ecgchat", "synthetic_report")
# datasets of short answers (a word, a few words, a list of leads): primary metric accuracy
SHORT_ANSWER_DATASETS: tuple[str, ...] = ("synthetic", "ecgqa")
# any other data: free text when the reference answers average more words than this
FREE_TEXT_WORDS = 8.0


def default_primary(dataset: str | None, references: Sequence[str]) -> tuple[str, str]:
    """The primary metric for a dataset, and why: ``("accuracy" | "rougeL", reason)``.

    A dataset of :data:`FREE_TEXT_DATASETS` gets ``rougeL``, one of
    :data:`SHORT_ANSWER_DATASETS` gets ``accuracy``; any other (or items passed directly) gets
    ``rougeL`` when its reference answers average more than :data:`FREE_TEXT_WORDS` words,
    else ``accuracy`` (exact match means little for a sentence, ROUGE-L little for "yes").
    """
    if dataset in FREE_TEXT_DATASETS:
        return "rougeL", f"dataset {dataset} has free-text answers"
    if dataset in SHORT_ANSWER_DATASETS:
        return "accuracy", f"dataset {dataset} has short answers"
    words = sum(len(r.split()) for r in references) / max(len(references), 1)
    if words > FREE_TEXT_WORDS:
        return "rougeL", f"reference answers average {words:.1f} words (> {FREE_TEXT_WORDS:g}): free text"
    return "accuracy", f"reference answers average {words:.1f} words (<= {FREE_TEXT_WORDS:g}): short answers"


def drop_hurts(drop: Mapping[str, Any] | None, threshold: float) -> bool | None:
    """Does this drop (an interval dict of baseline − ablated, points) show the model uses the ECG?

    With an interval: ``True`` when its low end is above 0. Without one (a single run, no
    bootstrap): ``True`` when the drop is at least ``threshold`` points. ``None``: no drop.
    """
    if drop is None:
        return None
    if drop.get("low") is not None:
        return bool(drop["low"] > 0)
    return bool(drop["mean"] >= threshold)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def mean_over_seeds(by_seed: Sequence[Mapping[str, Any]], ablations: Sequence[str]) -> dict[str, Any]:
    """``{"scores", "ablations"}``: each metric's mean over the seeds' scores (``None`` if no seed has it)."""
    keys = [k for k in METRICS if any(k in s["scores"] for s in by_seed)]
    return {
        "scores": {k: _mean([s["scores"].get(k) for s in by_seed]) for k in keys},
        "ablations": {
            a: {k: _mean([s["ablations"][a].get(k) for s in by_seed]) for k in keys} for a in ablations
        },
    }


def _dicts(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.to_dict() if v is not None else None) for k, v in d.items()}


def _drop(scores: Mapping[str, Any], ablated: Mapping[str, Any], m: str) -> float | None:
    a, b = scores.get(m), ablated.get(m)
    return a - b if a is not None and b is not None else None


def summarize_evaluation(
    per_run: list[dict[str, Any]], ablations: Sequence[str], primary: str, threshold: float
) -> dict[str, Any]:
    """The summary of :func:`ecgbyte.eval.evaluate.evaluate_run` from its per-run results.

    Each run result has ``scores``, ``ablations`` (``{kind: scores}``), ``n``, ``labels``,
    ``notes``, ``warnings``, and optionally ``by_seed`` (one ``{"seed", "scores", "ablations"}``
    per sampling seed) and ``bootstrap`` (:func:`ecgbyte.eval.bootstrap.bootstrap_run`).
    """
    seeds = per_run[0].get("by_seed") or []
    over_seeds = len(per_run) == 1 and len(seeds) > 1
    units = seeds if over_seeds else per_run
    base = _dicts(summarize_runs([u["scores"] for u in units]))
    abl: dict[str, Any] = {}
    for kind in ablations:
        scores = summarize_runs([u["ablations"][kind] for u in units])
        drops = summarize_runs(
            [{m: _drop(u["scores"], u["ablations"][kind], m) for m in METRICS} for u in units]
        )
        abl[kind] = {"scores": _dicts(scores), "drop": _dicts(drops)}
    boot = per_run[0].get("bootstrap") if len(units) == 1 else None
    if boot:  # one run, one decoding: the bootstrap over its patients replaces the undefined t-interval
        base = {m: boot["metrics"].get(m) or iv for m, iv in base.items()}
        for kind in ablations:
            b = boot["ablations"].get(kind, {})
            for part in ("scores", "drop"):
                cur = abl[kind][part]
                abl[kind][part] = {m: (b.get(part) or {}).get(m) or iv for m, iv in cur.items()}
        interval = {"method": "bootstrap", "label": boot["label"], "n_resamples": boot["n_resamples"]}
        for key in ("n_patients", "n_items"):
            if key in boot:
                interval[key] = boot[key]
    elif over_seeds:
        interval = {
            "method": "t",
            "label": interval_label("t", len(seeds), unit="sampling seeds (1 run)"),
            "n_seeds": len(seeds),
        }
    elif len(per_run) > 1:
        each = f" (each the mean of {len(seeds)} sampling seeds)" if len(seeds) > 1 else ""
        interval = {"method": "t", "label": interval_label("t", len(per_run), each=each)}
    else:
        interval = {"method": "none", "label": interval_label("none", 1)}
    flag = ecg_use_flag(base, abl, primary, threshold, interval["label"])
    first = per_run[0]
    warnings = sorted({w for r in per_run for w in r.get("warnings", [])})
    words = first.get("mean_reference_words")
    if words is not None and words < 4:
        warnings.append(
            f"reference answers average {words:.1f} words: BLEU-4 and sacreBLEU count 4-grams, so "
            "they sit near 0 here and say little; read accuracy, token F1 and ROUGE-1"
        )
    return {
        "runs": per_run,
        "n_runs": len(per_run),
        "n_items": [r["n"] for r in per_run],
        "interval": interval,
        "metrics": base,
        "ablations": abl,
        "labels": first["labels"],
        "notes": first["notes"],
        "warnings": warnings,
        "primary": primary,
        "flag_threshold": threshold,
        **flag,
    }


def ecg_use_flag(
    base: Mapping[str, Any],
    abl: Mapping[str, Mapping[str, Any]],
    primary: str,
    threshold: float,
    interval: str,
) -> dict[str, Any]:
    """``{"ignores_ecg", "flag", "drops_primary", "flag_rule"}`` from the summary's intervals.

    ``flag`` is one sentence: does the model use the ECG, which ablation hurts most (the largest
    mean drop of ``primary``) with its interval, and every drop. ``flag_rule`` is ``"interval"``,
    ``"threshold"`` (some drop had no interval: see :func:`drop_hurts`) or ``None`` (no ablation).
    """
    drops = {k: v["drop"].get(primary) for k, v in abl.items()}
    known = {k: iv for k, iv in drops.items() if iv is not None}
    drops_primary = {k: (iv or {}).get("mean") for k, iv in drops.items()}
    if not known:
        return {
            "ignores_ecg": False,
            "flag": "no ablations run",
            "drops_primary": drops_primary,
            "flag_rule": None,
        }
    rule = "interval" if all(iv.get("low") is not None for iv in known.values()) else "threshold"
    hurts = {k: drop_hurts(iv, threshold) for k, iv in known.items()}
    ignores = not any(hurts.values())
    listed = ", ".join(f"{k} {format_interval(iv, 1, signed=True)}" for k, iv in known.items())
    worst = max(known, key=lambda k: known[k]["mean"])
    wiv = known[worst]
    base_mean = base[primary]["mean"] if base.get(primary) else float("nan")
    title = ABLATION_TITLES.get(worst, worst)
    after = f"{primary} {base_mean - wiv['mean']:.1f} (drop {format_interval(wiv, 1, signed=True)} points)"
    if rule == "interval":
        why = f"every drop's {interval} includes 0 or lies below it"
        note = ""
    else:
        why = f"no ablation lowers {primary} by {threshold:g} points or more"
        note = f" No interval ({interval}): a drop under {threshold:g} points counts as no effect."
    if ignores:
        flag = (
            f"MODEL IGNORES THE ECG: {why} (drops of {primary}: {listed} points); the largest is "
            f"{title}, {after}.{note}"
        )
    else:
        flag = (
            f"The model uses the ECG: {primary} is {base_mean:.1f} with the ECG; {title} hurts most, "
            f"{after}. "
            f"Drops: {listed} points.{note}"
        )
    return {"ignores_ecg": ignores, "flag": flag, "drops_primary": drops_primary, "flag_rule": rule}


__all__ = [
    "FREE_TEXT_DATASETS",
    "FREE_TEXT_WORDS",
    "SHORT_ANSWER_DATASETS",
    "default_primary",
    "drop_hurts",
    "ecg_use_flag",
    "mean_over_seeds",
    "summarize_evaluation",
]
