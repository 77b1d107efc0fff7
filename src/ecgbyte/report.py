"""``build_report``: one self-contained HTML page for a trained run (metrics, ablations, pictures).

The page holds the metrics table (mean ± 95% t-interval over the evaluated runs), the
signal-use ablation table (score and drop per metric, with a red banner when no ablation hurts:
the model ignores the ECG), the warnings of the metric computation (METEOR without WordNet,
BERTScore not computed, ...) and every PNG of ``RUN_DIR/explain/`` embedded as base64, so the
file can be mailed or attached as is. Inputs are reused when present
(``RUN_DIR/evaluation_<split>.json``, ``RUN_DIR/explain/*.png``) and computed otherwise.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from ecgbyte.errors import ConfigError
from ecgbyte.fileio import atomic_write_text

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.bad{background:#fde0dc}.good{background:#e3f4e1}.banner{padding:.8em 1em;font-weight:600;border-radius:4px}
.warn{color:#8a5a00}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}code{background:#f5f5f5;padding:0 3px}
"""
_PICTURES = (
    ("token_spans", "Every ECG token drawn on the signal as the span it covers"),
    ("attention", "Attention from the generated answer to the ECG tokens, in time"),
    ("reconstruction", "Reconstruction from tokens (bin centres) against the input"),
    ("token_usage", "Token usage and the most used tokens as waveforms"),
    ("token_shapes", "The most used non-flat tokens as waveforms"),
)


def _cell(iv: dict[str, Any] | None, signed: bool = False) -> str:
    from ecgbyte.eval.evaluate import fmt_interval

    return html.escape(fmt_interval(iv, signed=signed))


def render_html(summary: dict[str, Any], pictures: dict[str, Path], *, title: str) -> str:
    """The report page from an ``evaluate_run`` summary and ``{name: png path}``."""
    from ecgbyte.eval.metrics import METRICS

    esc = html.escape
    n = summary["n_runs"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>",
        f"<p>Split <code>{esc(summary['split'])}</code>, {n} run(s) "
        f"({esc(', '.join(summary['run_dirs']))}), items per run: {esc(str(summary['n_items']))}. Scores in "
        f"points (0-100); {'mean ± 95% t-interval over runs' if n > 1 else 'one run: no interval'}.</p>",
    ]
    if summary.get("ablations"):
        cls = "bad" if summary["ignores_ecg"] else "good"
        parts.append(f"<p class='banner {cls}'>{esc(summary['flag'])}</p>")
    parts.append("<h2>Metrics</h2><table><tr><th>metric</th><th>score</th><th>note</th></tr>")
    for m in METRICS:
        note = summary["notes"].get(m, "")
        parts.append(
            f"<tr><td>{esc(summary['labels'].get(m, m))}</td><td>{_cell(summary['metrics'].get(m))}</td>"
            f"<td>{esc(note)}</td></tr>"
        )
    parts.append("</table>")
    from ecgbyte.eval.ablations import ABLATIONS

    abl = {k: summary["ablations"][k] for k in ABLATIONS if k in (summary.get("ablations") or {})}
    if abl:
        thr, primary = summary["flag_threshold"], summary["primary"]
        parts.append(
            f"<h2>Signal-use ablations</h2><p>Same trained model, prompts changed; drop = baseline − "
            f"ablated (points). A drop of {esc(primary)} under {thr:g} points is marked red "
            "(that ablation did not hurt the model).</p>"
            "<table><tr><th>metric</th><th>baseline</th>"
            + "".join(f"<th>{esc(k)}</th><th>drop</th>" for k in abl)
            + "</tr>"
        )
        for m in METRICS:
            if summary["metrics"].get(m) is None:
                continue
            row = [f"<tr><td>{esc(m)}</td><td>{_cell(summary['metrics'][m])}</td>"]
            for k in abl:
                drop = abl[k]["drop"].get(m)
                cls = ""
                if m == primary and drop is not None:
                    cls = " class='bad'" if drop["mean"] < thr else " class='good'"
                row.append(
                    f"<td>{_cell(abl[k]['scores'].get(m))}</td><td{cls}>{_cell(drop, signed=True)}</td>"
                )
            parts.append("".join(row) + "</tr>")
        parts.append("</table>")
    for w in summary.get("warnings", []):
        parts.append(f"<p class='warn'>warning: {esc(w)}</p>")
    if pictures:
        parts.append("<h2>Interpretability</h2>")
        for name, caption in _PICTURES:
            p = pictures.get(name)
            if p is None:
                continue
            data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
            parts.append(f"<h3>{esc(caption)}</h3><img alt='{esc(name)}' src='data:image/png;base64,{data}'>")
    parts.append(
        "<h2>Reproduce</h2><pre>"
        + esc(
            f"ecgbyte evaluate {' '.join(summary['run_dirs'])} --split {summary['split']}\n"
            f"ecgbyte explain RECORD --run {summary['run_dirs'][0]} --out DIR\n"
            f"ecgbyte report {summary['run_dirs'][0]}"
        )
        + "</pre></body></html>"
    )
    return "\n".join(parts)


def build_report(
    run_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    record: Any = None,
    out: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    **evaluate_kwargs: Any,
) -> Path:
    """Write ``RUN_DIR/report.html`` (or ``out``); returns its path.

    Parameters
    ----------
    run_dir : a training run directory.
    split : split to evaluate when ``RUN_DIR/evaluation_<split>.json`` is missing.
    record : record file or ``Ecg`` for the pictures (default: the first ECG of the split).
    out : HTML path (default ``RUN_DIR/report.html``).
    refresh : recompute the evaluation and the pictures even if present.
    evaluate_kwargs : passed to :func:`ecgbyte.eval.evaluate.evaluate_run` (``limit``, ``ablations``...).
    """
    from ecgbyte.eval.evaluate import evaluate_run, items_for_run, load_evaluation

    run = Path(run_dir)
    if not (run / "config.json").exists():
        raise ConfigError(
            f"{run}: not a training run directory (no config.json); pass the folder `ecgbyte train` wrote"
        )
    ev_path = run / f"evaluation_{split}.json"
    if ev_path.exists() and not refresh:
        summary = load_evaluation(ev_path)
    else:
        summary = evaluate_run([run], split, out=ev_path, **evaluate_kwargs)
    pic_dir = run / "explain"
    pictures = {name: pic_dir / f"{name}.png" for name, _ in _PICTURES if (pic_dir / f"{name}.png").exists()}
    if refresh or not pictures:
        from ecgbyte.elm.generate import load_run
        from ecgbyte.viz.interpret import explain

        if record is None:
            items = items_for_run(load_run(run), split)
            record, question = items[0].ecgs[0], items[0].question
        else:
            from ecgbyte.viz.interpret import DEFAULT_QUESTION as question
        if not hasattr(record, "signal") and hasattr(record, "path"):
            from ecgbyte.data.items import load_ecg

            record = load_ecg(record)
        pictures = explain(record, run, pic_dir, question=question)
    page = render_html(summary, pictures, title=f"ecgbyte report: {run.name}")
    dest = Path(out) if out is not None else run / "report.html"
    atomic_write_text(dest, page)
    return dest


__all__ = ["build_report", "render_html"]
