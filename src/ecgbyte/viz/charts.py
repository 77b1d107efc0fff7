"""Result charts: accuracy per question type for several models, as grouped bars.

Matplotlib's object API on an Agg canvas (no pyplot state), written atomically as PNG, like every
figure of :mod:`ecgbyte.viz`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ecgbyte.fileio import save_figure


def plot_accuracy_by_type(
    accuracy: dict[str, dict[str, float]],
    path: str | os.PathLike[str],
    *,
    title: str = "accuracy per question type",
    bar_pct: float | None = None,
    dpi: int = 120,
) -> Path:
    """Grouped bars: ``accuracy[model][question_type]`` (0-1) in percent, one group per question type.

    The question types are those of the first model; a model without a type draws 0. ``bar_pct``
    draws a dashed reference line (e.g. the demo's pass bar).
    """
    from matplotlib.figure import Figure

    models = list(accuracy)
    kinds = list(accuracy[models[0]]) if models else []
    x = np.arange(len(kinds))
    width = 0.8 / max(len(models), 1)
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    for i, name in enumerate(models):
        off = (i - (len(models) - 1) / 2) * width
        ax.bar(
            x + off,
            [accuracy[name].get(k, 0.0) * 100 for k in kinds],
            width=width,
            label=name.replace("_", " "),
        )
    ax.set_xticks(x, kinds)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    if bar_pct is not None:
        ax.axhline(bar_pct, color="grey", lw=0.8, ls="--")
    ax.legend(loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


__all__ = ["plot_accuracy_by_type"]
