"""``ecgbyte fidelity``: measure a tokenizer's fidelity on records and write JSON, Markdown and plots.

:func:`fidelity_report` reads the records, runs :func:`ecgbyte.eval.fidelity.fidelity` and writes
``fidelity.json`` (summary, every record, skipped records), ``fidelity.md`` (the tables),
``fidelity.png`` (tokens, RMSE per lead, interval errors) and ``overlay.png`` (the first record, every
lead, preprocessed vs reconstructed). Records that cannot be read or encoded are skipped and listed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecgbyte.errors import ConfigError, EcgbyteError

log = logging.getLogger(__name__)


def _fmt(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def to_markdown(result: dict[str, Any]) -> str:
    """The fidelity tables: overall numbers, then one row per lead."""
    s = result["summary"]
    tok = result["tokenizer"]
    name = tok.get("preset") or "(no preset)"
    if not s.get("n_records"):
        return f"# Fidelity of `{name}`\n\nNo record could be measured.\n"
    c = s["clinical"]
    ctx = s["within_context"]
    lines = [
        f"# Fidelity of `{name}` ({len(tok['leads'])} encoded leads at {tok['fs']:g} Hz, "
        f"{tok['vocab_size']} ECG tokens)",
        "",
        f"{s['n_records']} records ({len(result['skipped'])} skipped); delineator: NeuroKit2 "
        f"(ecg_clean, Kalidas 2017 R peaks, DWT delineation, at >= 250 Hz, on each record's tallest lead), "
        f"{s['delineator_failures']} failure(s), "
        f"{s['records_measured_both']} records measured on both signals.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| ECG tokens per ECG, mean / p95 | {s['tokens']['mean']:.0f} / {s['tokens']['p95']:.0f} |",
        f"| LLM tokens per ECG (with <ecg_start>, lead markers, <ecg_end>), mean / p95 | "
        f"{s['sequence_tokens']['mean']:.0f} / {s['sequence_tokens']['p95']:.0f} |",
        f"| ECGs within {ctx['context']} tokens | {100 * ctx['fraction']:.1f}% |",
        f"| RMSE, all leads (mV) | {_fmt(s['rmse_mv_overall'], 4)} |",
        f"| RMSE, all leads (% of each lead's p1-p99 range) | {_fmt(s['rmse_pct_range_overall'], 2)} |",
    ]
    lines += [
        "",
        "| clinical measure (NeuroKit2) | from tokens vs original | floor: original + noise of equal RMSE |",
        "|---|---|---|",
    ]
    f = s["noise_floor"]

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    lines.append(f"| same number of beats | {pct(c.get('beats_agree'))} | {pct(f.get('beats_agree'))} |")
    lines.append(
        f"| heart rate within 1 bpm | {pct(c['hr_bpm'].get('within_1_bpm'))} | {pct(f['hr_bpm'].get('within_1_bpm'))} |"
    )
    lines.append(
        f"| heart rate, median abs error (bpm) | {_fmt(c['hr_bpm']['median'], 2)} | {_fmt(f['hr_bpm']['median'], 2)} |"
    )
    for key, label in (("qrs_ms", "QRS"), ("pr_ms", "PR"), ("qt_ms", "QT")):
        lines.append(
            f"| {label}, median abs error (ms) [p95]; original median {_fmt(c[key]['original_median'], 0)} ms | "
            f"{_fmt(c[key]['median'], 1)} [{_fmt(c[key]['p95'], 0)}] | {_fmt(f[key]['median'], 1)} [{_fmt(f[key]['p95'], 0)}] |"
        )
    lines += [
        "",
        "| lead | RMSE (mV) | RMSE (% p1-p99) | R amplitude: median abs error (mV) | ST level: median abs error (mV) |",
        "|---|---|---|---|---|",
    ]
    r_err = c["r_mv"]["median_abs_error_per_lead"]
    st_err = c["st_mv"]["median_abs_error_per_lead"]
    for lead, v in s["rmse_mv"].items():
        lines.append(
            f"| {lead} | {_fmt(v, 4)} | {_fmt(s['rmse_pct_range'][lead], 2)} | {_fmt(r_err.get(lead), 3)} | "
            f"{_fmt(st_err.get(lead), 3)} |"
        )
    return "\n".join(lines) + "\n"


def fidelity_report(
    tokenizer_dir: str | Path,
    records: Sequence[str | Path],
    out_dir: str | Path,
    *,
    expect_preset: str | None = None,
    max_records: int | None = None,
    delineate: bool = True,
    plots: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure the tokenizer in ``tokenizer_dir`` on ``records`` (files or dataset folders); write ``out_dir``.

    ``expect_preset``: refuse a tokenizer of another representation. Returns the result dict
    (also in ``out_dir/fidelity.json``).
    """
    from ecgbyte.eval.fidelity import fidelity, output_leads
    from ecgbyte.fileio import atomic_write_text, write_json
    from ecgbyte.io import discover, read_record
    from ecgbyte.preset_tokenizer import load_preset_tokenizer

    tok = load_preset_tokenizer(tokenizer_dir, expect=expect_preset)
    if not records:
        raise ConfigError("no RECORDS given; pass record files or a dataset folder (e.g. ptb-xl)")
    refs = [ref for src in records for ref in discover(src)]
    refs = refs if max_records is None else refs[:max_records]
    ecgs, unreadable = [], []
    for ref in refs:
        try:
            ecgs.append(read_record(ref.path, leads=None))
        except EcgbyteError as exc:
            log.warning("skipping %s", exc)
            unreadable.append({"record": str(ref.path), "error": str(exc)})
    result = fidelity(tok, ecgs, delineate=delineate, progress=progress)
    result["skipped"] = unreadable + result["skipped"]
    result["tokenizer"]["directory"] = str(tokenizer_dir)
    out = Path(out_dir)
    write_json(out / "fidelity.json", _rounded(result))
    atomic_write_text(out / "fidelity.md", to_markdown(result))
    if plots and result["records"]:
        from ecgbyte.viz.fidelity import plot_fidelity, plot_overlay

        plot_fidelity(result, out / "fidelity.png")
        first = next(e for e in ecgs if e.name == result["records"][0]["record"])
        original, rec = _signals(tok, first, output_leads(tok))
        plot_overlay(original.signal, rec, original.leads, original.fs, out / "overlay.png", title=first.name)
    return result


def _rounded(obj: Any, digits: int = 5) -> Any:
    """``obj`` with every float rounded to ``digits`` decimals (a smaller, readable JSON)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v, digits) for v in obj]
    return obj


def _signals(tok: Any, ecg: Any, want: tuple[str, ...]) -> tuple[Any, Any]:
    from ecgbyte.signal import preprocess

    have = [n for n in want if n in ecg.leads]
    original = (
        preprocess(ecg.select_leads(have), tok.preprocess) if tok.preprocess else ecg.select_leads(have)
    )
    rec = tok.decode(tok.encode(original))
    return original, rec[[want.index(n) for n in have]]


__all__ = ["fidelity_report", "to_markdown"]
