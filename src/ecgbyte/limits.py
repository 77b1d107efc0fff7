"""Bounds on everything a user or a file controls, in one place.

A number that sizes memory or work (beams, batch sizes, new tokens, workers, sampling rates,
record lengths, question length) is checked against these limits before anything is allocated,
so that one typo (``--num-beams 100000``, ``target_fs: 1e12``) gives a one-line
:class:`~ecgbyte.errors.ConfigError` naming the option instead of exhausting the machine. The
limits are far above every real use (the paper decodes with 1 beam and 128 new tokens, reads
10 s records at 500 Hz and resamples to 250 Hz); each one is a module constant, so a caller
with a real need can raise it (``ecgbyte.limits.MAX_BEAMS = 64``).

:func:`check_int` / :func:`check_float` are the checks; :mod:`ecgbyte.cli_args` wraps them as
``argparse`` types so that a bad flag names itself. :func:`cap_workers` caps a worker count at
the CPU count, with a warning. This module imports nothing heavy.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from ecgbyte.errors import ConfigError

# -- decoding and batches ----------------------------------------------------------------------
MAX_BEAMS = 32
"""Beam search width (the paper: 1, greedy); memory grows with batch x beams."""
MAX_NEW_TOKENS = 4096
"""New text tokens per generated answer (the paper: 128)."""
MAX_BATCH_SIZE = 4096
"""Sequences per batch, for training and generation."""
MAX_QUESTION_CHARS = 4000
"""Characters in one question to ``ask`` (a question is a sentence; the context is ~1k tokens)."""
MAX_CONTEXT_TOKENS = 1 << 17
"""Context length of a model, in tokens (``--max-length``)."""

# -- signals -----------------------------------------------------------------------------------
MAX_FS_HZ = 10_000.0
"""Highest sampling rate accepted anywhere (Hz); clinical ECGs are 100..1000 Hz, research ones up to 10 kHz."""
MIN_FS_HZ = 1.0
"""Lowest sampling rate accepted (Hz)."""
MAX_RECORD_VALUES = 1 << 26
"""Samples x signals in one record (67 M: 12 leads at 1 kHz for 93 min); a 10 s 12-lead ECG at
500 Hz has 60 000. Longer recordings: cut them into records first."""
MAX_SEGMENT_SAMPLES = 1 << 24
"""Samples in one segment (``segment_length``)."""
MAX_HEADER_BYTES = 1 << 20
"""Size of a WFDB ``.hea`` header (they are a few hundred bytes)."""

# -- tokenizers --------------------------------------------------------------------------------
PHYSIOLOGICAL_MV = 50.0
"""|percentile| and margin of a quantizer, in mV: ECG amplitudes are a few mV; a larger value
means the data was not in mV (uV read as mV) or the file was tampered with."""
MAX_MERGES = 1 << 20
"""BPE merges in one tokenizer (the paper: 3500; successors 5000..10000)."""
MAX_TOKEN_SYMBOLS = 1 << 16
"""Symbols in one merged token (a 10 s lead at 250 Hz has 2500)."""
MAX_VOCAB_SYMBOLS = 1 << 26
"""Symbols over all tokens of a vocabulary (what the vocabulary strings take in memory)."""
MAX_PICKLE_BYTES = 256 << 20
"""Size of an original ECG-Byte tokenizer pickle (ECG-Bench's 5000-merge one is well under 1 MiB)."""
MAX_PICKLE_DEPTH = 20
"""Nesting of containers in such a pickle (``(vocab, merges)`` needs 4)."""

# -- processes ---------------------------------------------------------------------------------
MAX_SEED = 2**32 - 1
"""Seeds are 0..2**32-1 (what NumPy, torch and Python's random all take)."""


def check_int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]``, or :class:`ConfigError` naming ``name``.

    >>> check_int(3, "--num-beams", 1, MAX_BEAMS)
    3
    >>> check_int(0, "--batch-size", 1)
    Traceback (most recent call last):
    ...
    ecgbyte.errors.ConfigError: --batch-size must be an integer >= 1, got 0
    """
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok and hasattr(value, "__index__") and not isinstance(value, bool):
        try:
            value, ok = int(value.__index__()), True
        except (TypeError, ValueError):
            ok = False
    if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name} must be an integer {describe_range(lo, hi)}, got {value!r}")
    return int(value)


def check_float(
    value: Any,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    unit: str = "",
) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), else :class:`ConfigError`.

    >>> check_float(250, "target_fs", 0, MAX_FS_HZ, lo_open=True, unit="Hz")
    250.0
    >>> check_float(float("nan"), "--lr", 0, lo_open=True)
    Traceback (most recent call last):
    ...
    ecgbyte.errors.ConfigError: --lr must be a finite number > 0, got nan
    """
    try:
        v = float(value) if not isinstance(value, (bool, str, bytes)) else math.nan
    except (TypeError, ValueError, OverflowError):
        v = math.nan
    bad = not math.isfinite(v)
    if not bad and lo is not None:
        bad = v <= lo if lo_open else v < lo
    if not bad and hi is not None:
        bad = v > hi
    if bad:
        rng = describe_range(lo, hi, lo_open=lo_open)
        raise ConfigError(f"{name} must be a finite number {rng}{' ' + unit if unit else ''}, got {value!r}")
    return v


def describe_range(lo: float | None, hi: float | None, *, lo_open: bool = False) -> str:
    """``"in 1..32"``, ``">= 1"``, ``"> 0 and <= 10000"``: the words for a range, in messages."""

    def g(x: float) -> str:
        return f"{x:g}" if isinstance(x, float) else str(x)

    if lo is not None and hi is not None:
        return f"{'>' if lo_open else 'in'} {g(lo)}{' and <= ' if lo_open else '..'}{g(hi)}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {g(lo)}"
    if hi is not None:
        return f"<= {g(hi)}"
    return ""


def cpu_count() -> int:
    """The CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def cap_workers(workers: int, name: str = "workers") -> int:
    """``workers`` (>= 1) capped at :func:`cpu_count`, with a warning when it is capped.

    More processes than CPUs only adds memory and context switches; 100 000 of them fork-storm
    the machine. The result does not depend on the worker count anywhere in ecgbyte.
    """
    n = check_int(workers, name, 1)
    cores = cpu_count()
    if n > cores:
        warnings.warn(f"{name}={n} is more than the {cores} CPUs available; using {cores}", stacklevel=2)
        return cores
    return n


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed in ``0..2**32-1``."""
    return check_int(seed, name, 0, MAX_SEED)


__all__ = [
    "MAX_BATCH_SIZE",
    "MAX_BEAMS",
    "MAX_CONTEXT_TOKENS",
    "MAX_FS_HZ",
    "MAX_HEADER_BYTES",
    "MAX_MERGES",
    "MAX_NEW_TOKENS",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_DEPTH",
    "MAX_QUESTION_CHARS",
    "MAX_RECORD_VALUES",
    "MAX_SEED",
    "MAX_SEGMENT_SAMPLES",
    "MAX_TOKEN_SYMBOLS",
    "MAX_VOCAB_SYMBOLS",
    "MIN_FS_HZ",
    "PHYSIOLOGICAL_MV",
    "cap_workers",
    "check_float",
    "check_int",
    "check_seed",
    "cpu_count",
    "describe_range",
]
