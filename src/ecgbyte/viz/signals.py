"""Signal plots: raw vs preprocessed vs dequantized leads, and the symbol histogram.

Figures are drawn with matplotlib's object API on an Agg canvas (no display, no
change to the global backend) and written atomically as PNG. Each function returns
the path it wrote.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError
from ecgbyte.fileio import save_figure


def plot_signal_stages(
    stages: Sequence[tuple[str, Ecg]],
    path: str | os.PathLike[str],
    *,
    leads: Sequence[str] = ("I", "II", "V1", "V5"),
    seconds: float | None = 4.0,
    title: str | None = None,
    dpi: int = 110,
) -> Path:
    """Overlay several versions of one ECG (e.g. raw, preprocessed, dequantized).

    Parameters
    ----------
    stages : ``(label, ecg)`` pairs; each ECG may have its own ``fs`` (time axis in s).
    path : PNG file to write.
    leads : leads to draw, one panel each (leads missing from an ECG are skipped).
    seconds : draw the first ``seconds`` of each ECG (``None``: everything).
    title : figure title.
    dpi : resolution.

    Returns
    -------
    The path written.
    """
    from matplotlib.figure import Figure

    if not stages:
        raise ConfigError("plot_signal_stages needs at least one (label, ecg) pair")
    fig = Figure(figsize=(11, 2.0 * len(leads) + 0.6), layout="constrained")
    axes = fig.subplots(len(leads), 1, sharex=True, squeeze=False)[:, 0]
    for ax, lead in zip(axes, leads):
        for i, (label, ecg) in enumerate(stages):
            if lead not in ecg.leads:
                continue
            y = ecg.signal[ecg.leads.index(lead)]
            n = y.size if seconds is None else min(y.size, round(seconds * ecg.fs))
            t = np.arange(n) / ecg.fs
            drawstyle = "steps-post" if "quant" in label.lower() else "default"
            ax.plot(t, y[:n], lw=0.9, alpha=0.85, label=label, drawstyle=drawstyle, zorder=3 - i * 0.1)
        ax.set_ylabel(f"{lead} (mV)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize="small", ncols=len(stages))
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=dpi)


def plot_symbol_histogram(
    counts: Sequence[int] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    alphabet: str = "abcdefghijklmnopqrstuvwxyz",
    title: str | None = None,
    dpi: int = 110,
) -> Path:
    """Bar chart of symbol frequencies (``counts[k]`` = occurrences of symbol ``k``).

    Returns
    -------
    The path written.
    """
    from matplotlib.figure import Figure

    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or counts.size > len(alphabet):
        raise ConfigError(f"counts must be 1-D with 1..{len(alphabet)} entries, got shape {counts.shape}")
    total = counts.sum()
    freq = counts / total if total > 0 else counts
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.bar(np.arange(counts.size), freq, color="tab:blue")
    ax.set_xticks(np.arange(counts.size), list(alphabet[: counts.size]))
    ax.set_xlabel("symbol")
    ax.set_ylabel("fraction of samples")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or f"symbol histogram ({int(total):,} samples)")
    return save_figure(fig, path, dpi=dpi)
