"""Seeds and confidence: mean ± 95% Student-t interval of a metric over runs (seeds/checkpoints).

The paper reports each metric as the mean over 5 seeds with a 95% confidence interval. For
values ``x_1..x_n`` (one per run): mean ``m``, sample standard deviation ``s`` (``ddof=1``) and
half-width ``h = t_{0.975, n-1} * s / sqrt(n)``; the interval is ``[m - h, m + h]``. With a
single run the half-width is undefined and reported as ``None`` (never as 0); a single run gets
a bootstrap interval over its test items instead (:mod:`ecgbyte.eval.bootstrap`), which uses
the same :class:`Interval` with ``method="bootstrap"`` and asymmetric ``bounds``.
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
    """A metric's point estimate and confidence interval.

    ``method="t"``: ``mean`` over ``n`` runs ± Student-t ``half_width`` (``None`` if n < 2).
    ``method="bootstrap"``: ``mean`` is the full-set score, ``bounds`` the percentile interval
    over ``n`` resampled test items, ``half_width`` is ``None`` (the interval is asymmetric).
    """

    mean: float
    half_width: float | None
    n: int
    std: float | None
    confidence: float = 0.95
    method: str = "t"
    bounds: tuple[float, float] | None = None

    @property
    def low(self) -> float | None:
        if self.bounds is not None:
            return self.bounds[0]
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        if self.bounds is not None:
            return self.bounds[1]
        return None if self.half_width is None else self.mean + self.half_width

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("bounds")
        return {**d, "low": self.low, "high": self.high}

    def format(self, digits: int = 2) -> str:
        """``"12.34 ± 0.56"`` (t), ``"12.34 [11.80, 12.90]"`` (bootstrap) or ``"12.34"`` (none)."""
        return format_interval(self.to_dict(), digits)


def format_interval(iv: Mapping[str, Any] | None, digits: int = 2, signed: bool = False) -> str:
    """An interval dict as text: ``"12.34 ± 0.56"`` (t-interval), ``"12.34 [11.80, 12.90]"``
    (bootstrap percentile interval), ``"12.34"`` (no interval), ``"—"`` (not computed)."""
    if iv is None:
        return "—"
    sign = "+" if signed else ""
    m = f"{iv['mean']:{sign}.{digits}f}"
    if iv.get("method") == "bootstrap" and iv.get("low") is not None:
        return f"{m} [{iv['low']:{sign}.{digits}f}, {iv['high']:{sign}.{digits}f}]"
    return m if iv.get("half_width") is None else f"{m} ± {iv['half_width']:.{digits}f}"


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


__all__ = ["Interval", "format_interval", "summarize_runs", "t_interval"]
