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


def to_markdown(summary: dict[str, Any]) -> str:
    """Markdown tables: metrics and ablations (score and drop), intervals labelled by kind."""
    n = summary["n_runs"]
    ci = interval_text(summary)
    lines = [
        f"# Evaluation on `{summary['split']}` ({n} run{'s' if n > 1 else ''}, "
        f"{', '.join(map(str, summary['n_items']))} items)",
        "",
        f"**{summary['flag']}**" if summary.get("ablations") else "",
        "",
        f"Scores in points (0-100); intervals: {ci}.",
        "",
        "| metric | score |",
        "|---|---|",
    ]
    for m in METRICS:
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
        for m in METRICS:
            if summary["metrics"].get(m) is None:
                continue
            cells = []
            for k in kinds:
                s, dr = summary["ablations"][k]["scores"].get(m), summary["ablations"][k]["drop"].get(m)
                cells.append(
                    "—" if s is None else f"{format_interval(s)} ({format_interval(dr, signed=True)})"
                )
            lines.append(f"| {m} | {format_interval(summary['metrics'][m])} | " + " | ".join(cells) + " |")
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


__all__ = ["default_evaluation_path", "evaluation_report", "interval_text", "to_markdown", "write_evaluation"]
