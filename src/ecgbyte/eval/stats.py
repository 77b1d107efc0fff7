"""Seeds and confidence: mean ± 95% Student-t interval of a metric over runs (seeds/checkpoints).

The paper reports each metric as the mean over 5 seeds with a 95% confidence interval. For
values ``x_1..x_n`` (one per run): mean ``m``, sample standard deviation ``s`` (``ddof=1``) and
half-width ``h = t_{0.975, n-1} * s / sqrt(n)``; the interval is ``[m - h, m + h]``. With a
single run the half-width is undefined and reported as ``None`` (never as 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ecgbyte.errors import ConfigError


@dataclass(frozen=True)
class Interval:
    """Mean and confidence half-width of one metric over ``n`` runs (``half_width=None`` if n < 2)."""

    mean: float
    half_width: float | None
    n: int
    std: float | None
    confidence: float = 0.95

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "low": self.low, "high": self.high}

    def format(self, digits: int = 2) -> str:
        """``"12.34 ± 0.56"`` (or ``"12.34"`` for a single run)."""
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def t_interval(values: Sequence[float], *, confidence: float = 0.95) -> Interval:
    """Mean ± Student-t half-width of ``values`` (floats, one per seed or checkpoint).

    >>> t_interval([1.0, 2.0, 3.0]).format()
    '2.00 ± 2.48'
    """
    from scipy.stats import t

    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if x.size == 0:
        raise ConfigError("t_interval needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"t_interval got non-finite values {x.tolist()}")
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, None, 1, None, confidence)
    std = float(x.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, df=x.size - 1) * std / math.sqrt(x.size))
    return Interval(mean, half, int(x.size), std, confidence)


def summarize_runs(
    per_run: Sequence[Mapping[str, float | None]], *, confidence: float = 0.95
) -> dict[str, Interval | None]:
    """Per metric, the interval over runs; ``None`` for a metric no run computed.

    ``per_run`` is one ``{metric: score}`` dict per run; a metric missing (``None``) in some runs
    is summarised over the runs that have it.
    """
    keys: list[str] = []
    for d in per_run:
        keys.extend(k for k in d if k not in keys)
    out: dict[str, Interval | None] = {}
    for k in keys:
        vals = [d.get(k) for d in per_run]
        vals = [float(v) for v in vals if v is not None]
        out[k] = t_interval(vals, confidence=confidence) if vals else None
    return out


__all__ = ["Interval", "summarize_runs", "t_interval"]
