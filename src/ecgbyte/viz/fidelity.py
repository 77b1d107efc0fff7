"""Fidelity figures: tokens per ECG, RMSE per lead, clinical-measurement errors, one record overlaid.

Draws what :func:`ecgbyte.eval.fidelity.fidelity` measured (a JSON-ready dict) and, for the
overlay, two signal arrays; computes nothing. Matplotlib's object API on an Agg canvas, written
atomically as PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.fileio import save_figure


def plot_fidelity(result: dict[str, Any], path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Three panels: sequence tokens per ECG (with the 1,024 context), RMSE per lead (% of p1-p99),
    and the absolute errors of QRS, PR and QT (ms) over records."""
    from matplotlib.figure import Figure

    records = result["records"]
    summary = result["summary"]
    name = result["tokenizer"].get("preset") or "tokenizer"
    fig = Figure(figsize=(12, 3.4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    seq = [r["n_sequence_tokens"] for r in records]
    ax1.hist(seq, bins=20, color="#4477aa")
    ctx = summary.get("within_context", {}).get("context", 1024)
    ax1.axvline(ctx, color="k", ls="--", lw=0.8)
    frac = summary.get("within_context", {}).get("fraction", float("nan"))
    ax1.set_title(f"{name}: {100 * frac:.0f}% of ECGs <= {ctx} tokens")
    ax1.set_xlabel("LLM tokens per 10 s ECG (markers incl.)")
    ax1.set_ylabel("records")
    leads = list(summary.get("rmse_pct_range", {}))
    ax2.bar(range(len(leads)), [summary["rmse_pct_range"][n] or 0 for n in leads], color="#66aa55")
    ax2.set_xticks(range(len(leads)), leads, rotation=60)
    ax2.set_ylabel("RMSE (% of p1-p99 range)")
    ax2.set_title(f"RMSE per lead; overall {summary.get('rmse_mv_overall', float('nan')):.3f} mV")
    keys = ("qrs_ms", "pr_ms", "qt_ms")
    errs = []
    for k in keys:
        e = [
            abs(r["reconstruction"][k] - r["original"][k])
            for r in records
            if r.get("original")
            and r.get("reconstruction")
            and r["original"][k] is not None
            and r["reconstruction"][k] is not None
        ]
        errs.append(e or [np.nan])
    ax3.boxplot(errs, showfliers=True)
    ax3.set_xticks(range(1, len(keys) + 1), [k.replace("_ms", "").upper() for k in keys])
    ax3.set_ylabel("|reconstruction - original| (ms)")
    ax3.set_title("NeuroKit2 intervals, tokens vs original")
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def plot_overlay(
    original: np.ndarray,
    reconstruction: np.ndarray,
    leads: Sequence[str],
    fs: float,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    dpi: int = 80,
) -> Path:
    """Every lead of one record: the preprocessed signal and its token reconstruction, stacked."""
    from matplotlib.figure import Figure

    n = len(leads)
    fig = Figure(figsize=(11, 0.9 * n + 0.6))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(original.shape[1]) / fs
    for ax, name, x, y in zip(axes, leads, original, reconstruction):
        ax.plot(t, x, color="k", lw=0.7, label="preprocessed")
        ax.plot(t[: y.size], y[: t.size], color="#cc3311", lw=0.7, label="from tokens")
        ax.set_ylabel(name, rotation=0, labelpad=14)
        ax.tick_params(labelsize=7)
    axes[0].legend(loc="upper right", fontsize=7, ncol=2)
    axes[0].set_title(title)
    axes[-1].set_xlabel("s")
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


__all__ = ["plot_fidelity", "plot_overlay"]
