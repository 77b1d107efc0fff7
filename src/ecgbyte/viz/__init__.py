"""ecgbyte.viz: plots and reports (matplotlib on an Agg canvas; nothing is displayed).

Submodules are imported on use so ``import ecgbyte.viz`` stays light:
:mod:`ecgbyte.viz.signals` (signal stages, symbol histogram).
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_signal_stages", "plot_symbol_histogram"]


def __getattr__(name: str) -> Any:
    if name in ("plot_signal_stages", "plot_symbol_histogram"):
        from ecgbyte.viz import signals

        return getattr(signals, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
