"""``build_report``: one self-contained HTML page for a trained run (metrics, ablations, pictures).

The page opens with one sentence saying whether the model uses the ECG and which ablation hurts
most (a red banner when none hurts: every drop's interval includes 0) and a bar chart of the
primary metric with and without the signal. Then the metrics table (mean ± 95% t-interval over
several runs or sampling seeds, or, for one run, the score with a 95% cluster-bootstrap interval
over its patients; the page says which, and how the answers were decoded), the signal-use
ablation table (score and drop per metric), the scores per sampling seed, the warnings of the
metric computation (METEOR without WordNet, BERTScore not computed, ...) and every PNG of ``RUN_DIR/explain/`` embedded as base64, so the
file can be mailed or attached as is. Inputs are reused when present
(``RUN_DIR/evaluation_<split>.json``, ``RUN_DIR/explain/*.png``) and computed otherwise. A
two-stage run (``--ecg-input encoder``) has no ECG-Byte tokens to draw: its page skips the
pictures and says so (:data:`TWO_STAGE_NOTE`).
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

from ecgbyte.elm.run import RunDir
from ecgbyte.errors import ConfigError, ModelError
from ecgbyte.eval.ablations import ABLATION_TITLES, ABLATIONS
from ecgbyte.eval.stats import format_interval
from ecgbyte.eval.summary import drop_hurts
from ecgbyte.fileio import atomic_write_text
from ecgbyte.report.explain import DEFAULT_QUESTION, explain
from ecgbyte.report.markdown import (
    decoding_text,
    interval_text,
    primary_text,
    seed_table,
    shown_metrics,
    write_evaluation,
)

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
table.abl td,table.abl th{padding:3px 7px;font-size:.92em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.bad{background:#fde0dc}.good{background:#e3f4e1}.banner{padding:.8em 1em;font-weight:600;border-radius:4px}
.warn{color:#8a5a00}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}code{background:#f5f5f5;padding:0 3px}
.banner{font-size:1.15em}.ci{color:#666;font-size:.85em;white-space:nowrap}.cap{color:#444;margin:.2em 0 .4em}
"""
_PICTURES = (
    (
        "token_spans",
        "Every ECG token drawn on the signal as the span it covers",
        "One colour per token (colours cycle); grey ticks mark token starts. Long flat stretches "
        "become one long token, QRS complexes several short ones.",
    ),
    (
        "attention",
        "Attention from the generated answer to the ECG tokens, in time",
        "Mean attention of the answer tokens to each ECG token (all layers and heads), painted over "
        "the time that token covers: where in the signal the model looked while answering.",
    ),
    (
        "reconstruction",
        "Reconstruction from tokens (bin centres) against the input",
        "The tokens decoded back to the signal (each symbol at its bin centre, red) over the "
        "preprocessed input (grey); the gap is the quantization error.",
    ),
    (
        "token_usage",
        "Token usage and the most used tokens as waveforms",
        "How often each token id is used (over the ECGs named in the title), by rank, and the most "
        "used tokens drawn as the waveforms they stand for (shared mV scale).",
    ),
    (
        "token_shapes",
        "The most used non-flat tokens as waveforms",
        "As above, leaving out tokens of one repeated symbol (flat stretches).",
    ),
)


def _cell(iv: dict[str, Any] | None, signed: bool = False, digits: int = 2) -> str:
    """An interval as table-cell HTML; a bootstrap interval goes on a second, smaller line."""
    text = format_interval(iv, digits, signed=signed)
    if iv is not None and iv.get("method") == "bootstrap" and " [" in text:
        point, bounds = text.split(" [", 1)
        return f"{html.escape(point)}<br><span class='ci'>[{html.escape(bounds)}</span>"
    return html.escape(text)


def ablation_chart(summary: dict[str, Any], *, dpi: int = 110) -> bytes | None:
    """PNG bytes: the primary metric with the ECG and under each ablation, with intervals.

    Horizontal bars (points, 0-100), whiskers from each interval's low to high when there is
    one, the baseline as a dashed line; an ablation whose drop hurts the model
    (:func:`~ecgbyte.eval.summary.drop_hurts`) is red, one that does not grey. ``None`` when no
    ablation was run.
    """
    primary = summary["primary"]
    base = summary["metrics"].get(primary)
    kinds = [k for k in ABLATIONS if k in (summary.get("ablations") or {})]
    thr = summary["flag_threshold"]
    rows = [("with the ECG (baseline)", base, False)] + [
        (
            ABLATION_TITLES.get(k, k),
            summary["ablations"][k]["scores"].get(primary),
            bool(drop_hurts(summary["ablations"][k]["drop"].get(primary), thr)),
        )
        for k in kinds
    ]
    rows = [(name, iv, hurt) for name, iv, hurt in rows if iv is not None]
    if base is None or len(rows) < 2:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 0.55 * len(rows) + 1.3))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    means = [iv["mean"] for _, iv, _ in rows]
    colors = ["#2b7bba"] + ["#c0392b" if hurt else "#999999" for _, _, hurt in rows[1:]]
    ax.barh(y, means, color=colors, height=0.6)
    for yi, (_, iv, _) in zip(y, rows):
        if iv.get("low") is not None:
            ax.errorbar(
                iv["mean"],
                yi,
                xerr=[[iv["mean"] - iv["low"]], [iv["high"] - iv["mean"]]],
                color="black",
                capsize=3,
                lw=1,
            )
        ax.text(
            min(iv.get("high") or iv["mean"], 100) + 1.2, yi, f"{iv['mean']:.1f}", va="center", fontsize=9
        )
    ax.axvline(base["mean"], color="#2b7bba", ls="--", lw=1)
    ax.set_yticks(y, [name for name, _, _ in rows], fontsize=9)
    ax.set_xlim(0, 110)
    ax.set_xlabel(
        f"{summary['labels'].get(primary, primary)}, points (0-100)\nwhiskers: {interval_text(summary)}",
        fontsize=9,
    )
    ax.set_title(f"{primary} with the ECG and under each ablation", fontsize=10, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


TWO_STAGE_NOTE = (
    "This is a two-stage run (--ecg-input encoder): the LLM reads each ECG as soft tokens "
    "projected from a frozen encoder's features, not as ECG-Byte tokens. The interpretability "
    "pictures (token spans, reconstruction from tokens, token usage and gallery, attention onto "
    "token spans) need ECG-Byte tokens and are skipped."
)


def render_html(
    summary: dict[str, Any], pictures: dict[str, Path], *, title: str, picture_note: str | None = None
) -> str:
    """The report page from an ``evaluate_run`` summary and ``{name: png path}``.

    ``picture_note``: a paragraph under "Interpretability" saying why pictures are missing.
    """
    esc = html.escape
    n = summary["n_runs"]
    ci = interval_text(summary)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>",
    ]
    if summary.get("ablations"):
        cls = "bad" if summary["ignores_ecg"] else "good"
        parts.append(f"<p class='banner {cls}'>{esc(summary['flag'])}</p>")
    boot_note = (
        " (percentile bootstrap, resampling whole patients with all their questions: it shows the "
        "spread over test sets of this size, not over training seeds)"
        if summary.get("interval", {}).get("method") == "bootstrap"
        else ""
    )
    parts.append(
        f"<p>Split <code>{esc(summary['split'])}</code>, {n} run{'s' if n > 1 else ''} "
        f"({esc(', '.join(summary['run_dirs']))}), {esc(', '.join(map(str, summary['n_items'])))} items"
        f"{' per run' if n > 1 else ''}. Scores in points (0-100); intervals: <b>{esc(ci)}</b>"
        f"{esc(boot_note)}. Decoding: {esc(decoding_text(summary))}. Primary metric: "
        f"{esc(primary_text(summary))}.</p>"
    )
    chart = ablation_chart(summary) if summary.get("ablations") else None
    if chart is not None:
        data = base64.b64encode(chart).decode("ascii")
        parts.append(f"<img alt='ablation chart' src='data:image/png;base64,{data}'>")
    iv_head = "score [95% CI]" if summary.get("interval", {}).get("method") == "bootstrap" else "score"
    parts.append(
        f"<h2>Metrics</h2><p class='ci'>{esc(ci)}</p><table><tr><th>metric</th><th>{iv_head}</th>"
        "<th>note</th></tr>"
    )
    for m in shown_metrics(summary):
        note = summary["notes"].get(m, "")
        parts.append(
            f"<tr><td>{esc(summary['labels'].get(m, m))}</td><td>{_cell(summary['metrics'].get(m))}</td>"
            f"<td>{esc(note)}</td></tr>"
        )
    parts.append("</table>")
    abl = {k: summary["ablations"][k] for k in ABLATIONS if k in (summary.get("ablations") or {})}
    if abl:
        thr, primary = summary["flag_threshold"], summary["primary"]
        paired = ", paired: the same resampled patients score both" if "bootstrap" in ci else ""
        has_iv = all(
            (v["drop"].get(primary) or {}).get("low") is not None
            for v in abl.values()
            if v["drop"].get(primary)
        )
        rule = (
            f"A {primary} drop whose interval includes 0 or lies below it is red (that ablation did "
            "not hurt the model), one whose interval lies above 0 green."
            if has_iv
            else f"No interval here: a {primary} drop under {thr:g} points is red (that ablation did not "
            "hurt the model), above it green."
        )
        parts.append(
            "<h2>Signal-use ablations</h2><p>Same trained model, same questions, ECG part of the prompt "
            "changed: "
            + "; ".join(f"<b>{esc(k)}</b>: {esc(ABLATION_TITLES.get(k, k))}" for k in abl)
            + f". Drop = baseline − ablated (points; {esc(ci)}{esc(paired)}). {esc(rule)}</p>"
            "<table class='abl'><tr><th>metric</th><th>baseline</th>"
            + "".join(f"<th>{esc(k)}</th><th>drop</th>" for k in abl)
            + "</tr>"
        )
        for m in shown_metrics(summary):
            if summary["metrics"].get(m) is None:
                continue
            row = [f"<tr><td>{esc(m)}</td><td>{_cell(summary['metrics'][m], digits=1)}</td>"]
            for k in abl:
                drop = abl[k]["drop"].get(m)
                cls = ""
                if m == primary and drop is not None:
                    cls = " class='good'" if drop_hurts(drop, thr) else " class='bad'"
                row.append(
                    f"<td>{_cell(abl[k]['scores'].get(m), digits=1)}</td>"
                    f"<td{cls}>{_cell(drop, signed=True, digits=1)}</td>"
                )
            parts.append("".join(row) + "</tr>")
        parts.append("</table>")
    metrics, rows = seed_table(summary)
    if rows:
        parts.append(
            "<h2>Scores per sampling seed</h2><p>Baseline answers, one sampled pass per seed; the "
            "intervals above are over these.</p><table><tr><th></th>"
            + "".join(f"<th>{esc(m)}</th>" for m in metrics)
            + "</tr>"
        )
        for name, vals in rows:
            cells = "".join(f"<td>{'—' if v is None else f'{v:.2f}'}</td>" for v in vals)
            parts.append(f"<tr><td>{esc(name)}</td>{cells}</tr>")
        parts.append("</table>")
    for w in summary.get("warnings", []):
        parts.append(f"<p class='warn'>warning: {esc(w)}</p>")
    if pictures or picture_note:
        parts.append("<h2>Interpretability</h2>")
    if picture_note:
        parts.append(f"<p class='warn'>{esc(picture_note)}</p>")
    if pictures:
        for name, caption, explain in _PICTURES:
            p = pictures.get(name)
            if p is None:
                continue
            data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
            parts.append(
                f"<h3>{esc(caption)}</h3><p class='cap'>{esc(explain)}</p>"
                f"<img alt='{esc(name)}' src='data:image/png;base64,{data}'>"
            )
    parts.append(
        "<h2>Reproduce</h2><pre>"
        + esc(
            f"ecgbyte evaluate {' '.join(summary['run_dirs'])} --split {summary['split']}"
            f"{_evaluate_flags(summary)}\n"
            f"ecgbyte explain RECORD --run {summary['run_dirs'][0]} --out DIR\n"
            f"ecgbyte report {summary['run_dirs'][0]}"
        )
        + "</pre></body></html>"
    )
    return "\n".join(parts)


def _evaluate_flags(summary: dict[str, Any]) -> str:
    """The ``ecgbyte evaluate`` options that reproduce this summary's decoding and primary metric."""
    out = ""
    dec = summary.get("decoding") or {}
    if dec.get("method") == "sample":
        out += f" --decode sample --seeds {','.join(map(str, dec['seeds']))}"
    if summary.get("primary_reason") == "given":
        out += f" --primary {summary['primary']}"
    return out


def build_report(
    run_dir: RunDir | str | os.PathLike[str],
    *,
    split: str = "test",
    record: Any = None,
    out: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    usage_ecgs: int = 200,
    **evaluate_kwargs: Any,
) -> Path:
    """Write ``RUN_DIR/report.html`` (or ``out``); returns its path.

    Parameters
    ----------
    run_dir : a training run directory (or an open :class:`~ecgbyte.elm.run.RunDir`). The model,
        the tokenizers and the splits are loaded once and shared by the evaluation and the pictures.
    split : split to evaluate when ``RUN_DIR/evaluation_<split>.json`` is missing.
    record : record file or ``Ecg`` for the pictures (default: the first ECG of the split).
    out : HTML path (default ``RUN_DIR/report.html``).
    refresh : recompute the evaluation and the pictures even if present.
    usage_ecgs : number of distinct ECGs of the split whose token usage is plotted.
    evaluate_kwargs : passed to :func:`ecgbyte.eval.evaluate.evaluate_run` (``limit``, ``ablations``...).
    """
    from ecgbyte.eval.evaluate import evaluate_run, load_evaluation

    try:
        run = RunDir.open(run_dir)
    except ModelError as exc:
        raise ConfigError(str(exc)) from None
    ev_path = run.evaluation_path(split)
    if ev_path.exists() and not refresh:
        summary = load_evaluation(ev_path)
    else:
        summary = evaluate_run([run], split, **evaluate_kwargs)
        write_evaluation(summary, ev_path)
    two_stage = run.config.ecg_input == "encoder"
    pic_dir = run.explain_dir
    pictures = {name: pic_dir / f"{name}.png" for name, *_ in _PICTURES if (pic_dir / f"{name}.png").exists()}
    if two_stage:  # no ECG-Byte tokens to draw (ecgbyte.report.explain refuses such runs)
        pictures = {}
    elif refresh or not pictures:
        from ecgbyte.data.items import ecg_key, load_ecg

        items = run.items(split)
        if record is None:
            record, question = items[0].ecgs[0], items[0].question
        else:
            question = DEFAULT_QUESTION
        if not hasattr(record, "signal") and hasattr(record, "path"):
            record = load_ecg(record)
        # token usage over (up to) the first usage_ecgs distinct ECGs of the split
        refs = list({ecg_key(e): e for it in items for e in it.ecgs}.values())[:usage_ecgs]
        pictures = explain(record, run, pic_dir, question=question, usage_ecgs=[load_ecg(e) for e in refs])
    page = render_html(
        summary,
        pictures,
        title=f"ecgbyte report: {run.path.name}",
        picture_note=TWO_STAGE_NOTE if two_stage else None,
    )
    dest = Path(out) if out is not None else run.path / "report.html"
    atomic_write_text(dest, page)
    return dest


__all__ = ["TWO_STAGE_NOTE", "ablation_chart", "build_report", "render_html"]
