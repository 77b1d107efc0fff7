"""``argparse`` pieces shared by the ``ecgbyte`` sub-commands: checked number types, one-line errors.

Every numeric flag takes one of the types below (``type=cli_args.positive_int(...)``), so a bad
value is refused while parsing with a message that names the flag::

    $ ecgbyte generate runs/tiny --out p.jsonl --batch-size 0
    ecgbyte generate: error: argument --batch-size: must be an integer in 1..4096, got '0' (see `ecgbyte generate --help`)

:class:`Parser` turns argparse's usage-plus-error into that one line, raised as
:class:`UsageError` (a :class:`~ecgbyte.errors.ConfigError`) that :func:`ecgbyte.cli.main` prints
with exit status 2, as every other ecgbyte error. The bounds come from :mod:`ecgbyte.limits`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from ecgbyte import limits
from ecgbyte.errors import ConfigError


class UsageError(ConfigError):
    """A command line that does not parse (unknown flag, missing argument, bad value)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (:class:`UsageError`) instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see `{self.prog} --help`)")


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def int_range(lo: int | None = None, hi: int | None = None, *, name: str = "int") -> Callable[[str], int]:
    """An argparse type: an integer in ``[lo, hi]``."""

    def parse(text: str) -> int:
        value = _int(text)
        try:
            return limits.check_int(value, "value", lo, hi)
        except ConfigError:
            raise argparse.ArgumentTypeError(
                f"must be an integer {limits.describe_range(lo, hi)}, got {text!r}"
            ) from None

    parse.__name__ = name
    return parse


def float_range(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    unit: str = "",
    name: str = "float",
) -> Callable[[str], float]:
    """An argparse type: a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""

    def parse(text: str) -> float:
        value = _float(text)
        try:
            return limits.check_float(value, "value", lo, hi, lo_open=lo_open)
        except ConfigError:
            rng = limits.describe_range(lo, hi, lo_open=lo_open)
            raise argparse.ArgumentTypeError(
                f"must be a finite number {rng}{' ' + unit if unit else ''}, got {text!r}"
            ) from None

    parse.__name__ = name
    return parse


def positive_int(hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer ``>= 1`` (and ``<= hi``)."""
    return int_range(1, hi)


def seed(text: str) -> int:
    """An argparse type: a seed in ``0..2**32-1``."""
    return int_range(0, limits.MAX_SEED)(text)


def rate_hz(text: str) -> float:
    """An argparse type: a sampling rate in Hz, ``MIN_FS_HZ..MAX_FS_HZ``."""
    return float_range(limits.MIN_FS_HZ, limits.MAX_FS_HZ, unit="Hz")(text)


def workers(text: str) -> int:
    """An argparse type: a process/thread count ``>= 1``, capped at the CPUs with a warning."""
    n = int_range(1)(text)
    cores = limits.cpu_count()
    if n > cores:
        import sys

        print(f"warning: {n} workers is more than the {cores} CPUs available; using {cores}", file=sys.stderr)
        return cores
    return n


def lead_list(text: str) -> str:
    """An argparse type: comma-separated distinct standard leads (``"II,V1"``), returned as given."""
    from ecgbyte.ecg import check_lead_names

    try:
        check_lead_names([x.strip() for x in text.split(",") if x.strip()], what="leads")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


# the bounds most flags share
batch_size = positive_int(limits.MAX_BATCH_SIZE)
num_beams = positive_int(limits.MAX_BEAMS)
max_new_tokens = positive_int(limits.MAX_NEW_TOKENS)
limit = positive_int()
count = positive_int()
non_negative = int_range(0)


__all__ = [
    "Parser",
    "UsageError",
    "batch_size",
    "count",
    "float_range",
    "int_range",
    "lead_list",
    "limit",
    "max_new_tokens",
    "non_negative",
    "num_beams",
    "positive_int",
    "rate_hz",
    "seed",
    "workers",
]
