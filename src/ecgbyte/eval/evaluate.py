"""``evaluate_run``: score one or more trained runs (seeds / checkpoints) on a split, with ablations.

For each run directory: rebuild the split from the run's dataset spec (``config.extra["data"]``,
see :mod:`ecgbyte.data.registry`) unless items are given, generate answers in length-sorted
batches, score them with :func:`ecgbyte.eval.metrics.compute_metrics`, then do the same for each
signal-use ablation (:mod:`ecgbyte.eval.ablations`). Across runs every metric, every ablated
metric and every drop (baseline minus ablated, in points) is summarised as mean ± 95%
t-interval (:mod:`ecgbyte.eval.stats`); a single run gets a seeded 95% percentile bootstrap
interval over its test items instead, paired for the drops (:mod:`ecgbyte.eval.bootstrap`).
``summary["interval"]`` says which, in words. ``ignores_ecg`` is set when no ablation lowers the
primary metric by at least ``flag_threshold`` points: the model answers without the ECG.

Outputs: ``evaluation_<split>.json`` (everything) and, per run,
``RUN_DIR/eval/<split>_predictions.jsonl`` (baseline and ablated answers per item); the report
layer (:mod:`ecgbyte.report`) turns the summary into Markdown tables and the HTML page.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecgbyte.data.items import QAItem
from ecgbyte.elm.run import RunDir
from ecgbyte.errors import ConfigError
from ecgbyte.eval.ablations import ABLATION_TITLES, ABLATIONS, ablation_examples, generate_sorted
from ecgbyte.eval.bootstrap import bootstrap_run, interval_label, item_statistics
from ecgbyte.eval.metrics import METRICS, accuracy_by_type, compute_metrics_items
from ecgbyte.eval.stats import format_interval, summarize_runs


def items_for_run(run: RunDir | str | os.PathLike[str], split: str) -> list[QAItem]:
    """The QA items of ``split`` of a run, rebuilt from its stored dataset spec (once per ``RunDir``)."""
    return RunDir.open(run).items(split)


def generate_split(
    run: RunDir | str | os.PathLike[str],
    split: str,
    out: str | os.PathLike[str],
    *,
    limit: int | None = None,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
) -> dict[str, Any]:
    """Answer every item of ``split`` (``ecgbyte generate``): predictions JSONL at ``out``.

    Returns ``{"n", "out", "exact_match"}`` with the exact-match accuracy per question type.
    """
    from ecgbyte.elm.generate import predict
    from ecgbyte.fileio import write_jsonl

    run = RunDir.open(run)
    items = run.items(split)[:limit]
    rows = predict(run, items, batch_size=batch_size, max_new_tokens=max_new_tokens, num_beams=num_beams)
    write_jsonl(out, rows)
    return {"n": len(rows), "out": str(out), "exact_match": accuracy_by_type(rows)}


def evaluate_one(
    run: RunDir,
    items: Sequence[QAItem],
    *,
    ablations: Sequence[str] = ABLATIONS,
    batch_size: int = 32,
    seed: int = 0,
    noise_std_mv: float = 0.1,
    bertscore_model: str | Path | None = "auto",
    ablation_nlg: bool = True,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Baseline and ablated scores of one loaded run on ``items``; also the per-item rows.

    With ``n_resamples > 0`` the result also holds ``"bootstrap"``: percentile intervals over the
    items (seeded by ``seed``) of every score and paired intervals of every ablation drop.
    """
    from ecgbyte.data.sequences import EncodedCache

    cache = EncodedCache(run.ecg_tokenizer)
    refs = [it.answer for it in items]
    rows = [
        {
            "item_id": it.item_id,
            "question_type": it.question_type,
            "question": it.question,
            "reference": it.answer,
        }
        for it in items
    ]
    out: dict[str, Any] = {"run_dir": str(run.run_dir), "n": len(items), "ablations": {}, "wall_s": {}}
    stats: dict[str, Any] = {}
    points: dict[str, Any] = {}
    for kind in ("baseline", *ablations):
        t = time.perf_counter()
        exs = ablation_examples(run, items, kind, seed=seed, noise_std_mv=noise_std_mv, cache=cache)
        preds = generate_sorted(run, exs, batch_size=batch_size)
        full = kind == "baseline" or ablation_nlg
        res = compute_metrics_items(preds, refs, bertscore_model=bertscore_model, nlg=full)
        if n_resamples > 0 and items:
            stats[kind] = item_statistics(preds, refs, res.pop("per_item"))
        points[kind] = res["scores"]
        for r, p in zip(rows, preds):
            r[kind] = p
        if kind == "baseline":
            out.update(
                scores=res["scores"], labels=res["labels"], notes=res["notes"], warnings=res["warnings"]
            )
        else:
            out["ablations"][kind] = res["scores"]
        out["wall_s"][kind] = round(time.perf_counter() - t, 3)
    if stats:
        t = time.perf_counter()
        base = stats.pop("baseline")
        out["bootstrap"] = bootstrap_run(
            base, stats, points, n_items=len(items), n_resamples=n_resamples, seed=seed
        )
        out["wall_s"]["bootstrap"] = round(time.perf_counter() - t, 3)
    out["rows"] = rows
    out["mean_reference_words"] = sum(len(r.split()) for r in refs) / max(len(refs), 1)
    return out


def evaluate_run(
    run_dirs: RunDir | str | os.PathLike[str] | Sequence[RunDir | str | os.PathLike[str]],
    split: str = "test",
    *,
    items: Sequence[QAItem] | None = None,
    ablations: Sequence[str] = ABLATIONS,
    limit: int | None = None,
    batch_size: int = 32,
    seed: int = 0,
    noise_std_mv: float = 0.1,
    bertscore_model: str | Path | None = "auto",
    ablation_nlg: bool = True,
    primary: str = "accuracy",
    flag_threshold: float = 2.0,
    n_resamples: int = 1000,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate runs (one per seed or checkpoint) on ``split``; returns the summary dict.

    Parameters
    ----------
    run_dirs : one or several training run directories (paths or open :class:`RunDir` s).
    split : split name of the run's dataset spec (``train``/``valid``/``test``).
    items : evaluate these ``QAItem`` s instead of rebuilding the split.
    ablations : which of :data:`~ecgbyte.eval.ablations.ABLATIONS` to run (``()``: none).
    limit : only the first ``limit`` items (a quick look).
    batch_size : prompts per generation batch.
    seed, noise_std_mv : seeds the ablations and the bootstrap; noise level (mV).
    bertscore_model : see :func:`~ecgbyte.eval.metrics.compute_metrics`.
    ablation_nlg : also compute the NLG metrics for ablations (else accuracy and token F1 only).
    primary : the metric whose drop decides ``ignores_ecg``.
    flag_threshold : minimum drop (points) of ``primary`` that counts as "the model uses the ECG".
    n_resamples : bootstrap resamples of the test items for a single run (0: no interval).
    out : JSON path to write; ``None`` writes nothing but the per-run rows. The Markdown tables
        are :func:`ecgbyte.report.to_markdown` (``ecgbyte evaluate`` writes them beside the JSON).

    Returns
    -------
    dict with ``runs`` (per-run scores), ``metrics`` / ``ablations`` (intervals, as dicts),
    ``interval`` (``method`` "t", "bootstrap" or "none", and its ``label`` in words), ``labels``,
    ``notes``, ``warnings``, ``ignores_ecg``, ``flag`` (one sentence: does the model use the
    ECG, and which ablation hurts most) and ``wall_s``.
    """
    from ecgbyte.fileio import write_json, write_jsonl

    dirs = [run_dirs] if isinstance(run_dirs, (str, os.PathLike, RunDir)) else list(run_dirs)
    if not dirs:
        raise ConfigError("evaluate_run needs at least one run directory")
    bad = [a for a in ablations if a not in ABLATIONS]
    if bad:
        raise ConfigError(f"unknown ablation(s) {bad}; choose from {', '.join(ABLATIONS)}")
    if n_resamples < 0:
        raise ConfigError(f"n_resamples must be >= 0 (0: no bootstrap), got {n_resamples}")
    if primary not in METRICS:
        raise ConfigError(f"primary metric {primary!r} is not one of {', '.join(METRICS)}")
    t0 = time.perf_counter()
    per_run = []
    runs = [RunDir.open(d) for d in dirs]
    for run in runs:
        its = list(items) if items is not None else run.items(split)
        its = its[:limit] if limit else its
        res = evaluate_one(
            run,
            its,
            ablations=ablations,
            batch_size=batch_size,
            seed=seed,
            noise_std_mv=noise_std_mv,
            bertscore_model=bertscore_model,
            ablation_nlg=ablation_nlg,
            n_resamples=n_resamples,
        )
        write_jsonl(run.predictions_path(split), res.pop("rows"))
        per_run.append(res)
    summary = _summarize(per_run, ablations, primary, flag_threshold)
    summary.update(
        split=split,
        run_dirs=[str(r.path) for r in runs],
        seed=seed,
        noise_std_mv=noise_std_mv,
        wall_s=round(time.perf_counter() - t0, 3),
    )
    if out is not None:
        write_json(out, summary)
    return summary


def _summarize(
    per_run: list[dict[str, Any]], ablations: Sequence[str], primary: str, threshold: float
) -> dict[str, Any]:
    base = _dicts(summarize_runs([r["scores"] for r in per_run]))
    abl: dict[str, Any] = {}
    for kind in ablations:
        scores = summarize_runs([r["ablations"][kind] for r in per_run])
        drops = summarize_runs(
            [
                {
                    m: (r["scores"][m] - r["ablations"][kind][m])
                    if r["scores"].get(m) is not None and r["ablations"][kind].get(m) is not None
                    else None
                    for m in METRICS
                }
                for r in per_run
            ]
        )
        abl[kind] = {"scores": _dicts(scores), "drop": _dicts(drops)}
    n_items = [r["n"] for r in per_run]
    boot = per_run[0].get("bootstrap") if len(per_run) == 1 else None
    if boot:  # one run: the bootstrap over its items replaces the (undefined) t-interval
        base = {m: boot["metrics"].get(m) or iv for m, iv in base.items()}
        for kind in ablations:
            b = boot["ablations"].get(kind, {})
            for part in ("scores", "drop"):
                cur = abl[kind][part]
                abl[kind][part] = {m: (b.get(part) or {}).get(m) or iv for m, iv in cur.items()}
        interval = {"method": "bootstrap", "label": boot["label"], "n_resamples": boot["n_resamples"]}
    elif len(per_run) > 1:
        interval = {"method": "t", "label": interval_label("t", len(per_run))}
    else:
        interval = {"method": "none", "label": interval_label("none", 1)}
    drops_primary = {k: (v["drop"].get(primary) or {}).get("mean") for k, v in abl.items()}
    known = {k: v for k, v in drops_primary.items() if v is not None}
    ignores = bool(known) and all(v < threshold for v in known.values())
    listed = ", ".join(f"{k} {v:+.1f}" for k, v in known.items())
    if not known:
        flag = "no ablations run"
    elif ignores:
        flag = (
            f"MODEL IGNORES THE ECG: no ablation lowers {primary} by {threshold:g} points or more "
            f"(drops: {listed})"
        )
    else:
        worst = max(known, key=lambda k: known[k])
        iv = abl[worst]["drop"][primary]
        base_mean = base[primary]["mean"] if base.get(primary) else float("nan")
        flag = (
            f"The model uses the ECG: {primary} is {base_mean:.1f} with the ECG; "
            f"{ABLATION_TITLES.get(worst, worst)} hurts most, {primary} "
            f"{base_mean - known[worst]:.1f} (drop {format_interval(iv, 1, signed=True)} points). "
            f"Drops: {listed} points."
        )
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
        "n_items": n_items,
        "interval": interval,
        "metrics": base,
        "ablations": abl,
        "labels": first["labels"],
        "notes": first["notes"],
        "warnings": warnings,
        "primary": primary,
        "flag_threshold": threshold,
        "ignores_ecg": ignores,
        "flag": flag,
        "drops_primary": drops_primary,
    }


def _dicts(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.to_dict() if v is not None else None) for k, v in d.items()}


def load_evaluation(path: str | Path) -> dict[str, Any]:
    """Read an ``evaluation_<split>.json`` written by :func:`evaluate_run`."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{p}: cannot read an evaluation JSON ({exc}); run `ecgbyte evaluate` again"
        ) from exc


__all__ = ["evaluate_one", "evaluate_run", "generate_split", "items_for_run", "load_evaluation"]
