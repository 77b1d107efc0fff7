"""Markdown tables of an evaluation summary (``ecgbyte evaluate`` prints and writes them).

:func:`evaluation_report` is the ``ecgbyte evaluate`` job: :func:`ecgbyte.eval.evaluate.evaluate_run`,
then the summary as JSON and these tables as its Markdown twin.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecgbyte.elm.run import RunDir
from ecgbyte.eval.ablations import ABLATIONS
from ecgbyte.eval.bootstrap import interval_label
from ecgbyte.eval.metrics import METRICS
from ecgbyte.eval.stats import format_interval


def interval_text(summary: dict[str, Any]) -> str:
    """The summary's interval kind in words (older JSONs without ``interval`` included)."""
    iv = summary.get("interval")
    if iv:
        return iv["label"]
    n = summary["n_runs"]
    return interval_label("t", n) if n > 1 else interval_label("none", 1)


def decoding_text(summary: dict[str, Any]) -> str:
    """How the answers were decoded, in words (JSONs from before ``--decode``: the run's greedy/beam)."""
    dec = summary.get("decoding")
    return dec["label"] if dec else "the run's configured decoding (greedy unless num_beams > 1)"


def primary_text(summary: dict[str, Any]) -> str:
    """``"accuracy (dataset synthetic has short answers)"``: the primary metric and why."""
    why = summary.get("primary_reason")
    return (
        f"{summary['primary']} ({'chosen with --primary' if why == 'given' else why})"
        if why
        else summary["primary"]
    )


def shown_metrics(summary: dict[str, Any]) -> list[str]:
    """The metrics of :data:`METRICS` this summary has (older JSONs lack the newer ones), in order."""
    return [m for m in METRICS if m in summary["metrics"]]


def seed_table(summary: dict[str, Any]) -> tuple[list[str], list[tuple[str, list[float | None]]]]:
    """Per sampling seed, the score of every computed metric: ``(metrics, [(row name, scores)])``.

    One row per (run, seed), named ``"seed 42"`` (one run) or ``"run 2, seed 42"``; empty when the
    answers were not sampled with several seeds.
    """
    runs = [r for r in summary.get("runs", []) if len(r.get("by_seed") or []) > 1]
    if not runs:
        return [], []
    first = runs[0]["by_seed"][0]["scores"]
    metrics = [m for m in METRICS if first.get(m) is not None]
    rows = []
    for i, r in enumerate(runs):
        for s in r["by_seed"]:
            name = f"seed {s['seed']}" if len(runs) == 1 else f"run {i + 1}, seed {s['seed']}"
            rows.append((name, [s["scores"].get(m) for m in metrics]))
    return metrics, rows


def to_markdown(summary: dict[str, Any]) -> str:
    """Markdown tables: metrics, ablations (score and drop) and per-seed scores, intervals labelled."""
    n = summary["n_runs"]
    ci = interval_text(summary)
    lines = [
        f"# Evaluation on `{summary['split']}` ({n} run{'s' if n > 1 else ''}, "
        f"{', '.join(map(str, summary['n_items']))} items)",
        "",
        f"**{summary['flag']}**" if summary.get("ablations") else "",
        "",
        f"Scores in points (0-100); intervals: {ci}. Decoding: {decoding_text(summary)}. "
        f"Primary metric: {primary_text(summary)}."
        + (
            " Each item scored by the majority answer over its segments."
            if summary.get("segments") == "majority"
            else ""
        ),
        "",
        "| metric | score |",
        "|---|---|",
    ]
    for m in shown_metrics(summary):
        iv = summary["metrics"].get(m)
        note = summary["notes"].get(m, "")
        cell = format_interval(iv) if iv is not None else f"— ({note})" if note else "—"
        lines.append(f"| {summary['labels'].get(m, m)} | {cell} |")
    if summary["ablations"]:
        kinds = [k for k in ABLATIONS if k in summary["ablations"]]
        lines += [
            "",
            f"## Signal-use ablations (drop = baseline − ablated, points; flag on {summary['primary']}; "
            f"{ci}{', paired' if summary.get('interval', {}).get('method') == 'bootstrap' else ''})",
            "",
            "| metric | baseline | " + " | ".join(f"{k} (drop)" for k in kinds) + " |",
            "|---|---|" + "---|" * len(kinds),
        ]
        for m in shown_metrics(summary):
            if summary["metrics"].get(m) is None:
                continue
            cells = []
            for k in kinds:
                s, dr = summary["ablations"][k]["scores"].get(m), summary["ablations"][k]["drop"].get(m)
                cells.append(
                    "—" if s is None else f"{format_interval(s)} ({format_interval(dr, signed=True)})"
                )
            lines.append(f"| {m} | {format_interval(summary['metrics'][m])} | " + " | ".join(cells) + " |")
    metrics, rows = seed_table(summary)
    if rows:
        lines += [
            "",
            "## Scores per sampling seed (baseline)",
            "",
            "| | " + " | ".join(metrics) + " |",
            "|---|" + "---|" * len(metrics),
        ]
        for name, vals in rows:
            lines.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in vals) + " |")
    for w in summary["warnings"]:
        lines.append(f"\n> warning: {w}")
    return "\n".join(lines) + "\n"


def default_evaluation_path(run_dirs: Sequence[RunDir | str | os.PathLike[str]], split: str) -> Path:
    """``RUN/evaluation_<split>.json`` for one run, ``<common parent>/evaluation_<split>.json`` for several."""
    dirs = [os.path.abspath(r.path if isinstance(r, RunDir) else r) for r in run_dirs]
    base = Path(dirs[0]) if len(set(dirs)) == 1 else Path(os.path.commonpath(dirs))
    return base / f"evaluation_{split}.json"


def write_evaluation(summary: dict[str, Any], out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the summary as JSON at ``out`` and its Markdown tables beside it; returns both paths."""
    from ecgbyte.fileio import atomic_write_text, write_json

    p = write_json(out, summary)
    return p, atomic_write_text(p.with_suffix(".md"), to_markdown(summary))


def evaluation_report(
    run_dirs: RunDir | str | os.PathLike[str] | Sequence[RunDir | str | os.PathLike[str]],
    split: str = "test",
    *,
    out: str | os.PathLike[str] | None = None,
    **evaluate_kwargs: Any,
) -> tuple[dict[str, Any], Path]:
    """What ``ecgbyte evaluate`` does: evaluate, write ``out`` (JSON) and its ``.md`` twin.

    ``out`` defaults to :func:`default_evaluation_path`; ``evaluate_kwargs`` go to
    :func:`ecgbyte.eval.evaluate.evaluate_run`. Returns ``(summary, json path)``.
    """
    from ecgbyte.eval.evaluate import evaluate_run

    dirs = [run_dirs] if isinstance(run_dirs, (str, os.PathLike, RunDir)) else list(run_dirs)
    out = Path(out) if out is not None else default_evaluation_path(dirs, split)
    summary = evaluate_run(dirs, split, **evaluate_kwargs)
    path, _ = write_evaluation(summary, out)
    return summary, path


__all__ = [
    "decoding_text",
    "default_evaluation_path",
    "evaluation_report",
    "interval_text",
    "primary_text",
    "seed_table",
    "shown_metrics",
    "to_markdown",
    "write_evaluation",
]
