"""The ECG record type and the canonical lead order.

Layout, stated once for the whole package: a signal is a ``float32`` array of
shape ``[leads, samples]`` in millivolts, sampled at ``fs`` Hz. Leads are kept in
the canonical 12-lead order ``I, II, III, aVR, aVL, aVF, V1..V6``; readers reorder
by the names found in the file (case-insensitive), so PTB-XL (``AVR``), CinC
(``aVR``) and PTB (``avr``) records end up identical.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgbyte.errors import ConfigError, RecordError
from ecgbyte.limits import MAX_FS_HZ, MIN_FS_HZ

STANDARD_LEADS: tuple[str, ...] = (
    "I",
    "II",
    "III",
    "aVR",
    "aVL",
    "aVF",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
)
_BY_KEY = {name.lower(): name for name in STANDARD_LEADS}
# Spellings seen in the wild beyond case changes.
_BY_KEY.update({"d1": "I", "d2": "II", "d3": "III", "lead i": "I", "lead ii": "II", "lead iii": "III"})


def canonical_lead_name(name: str) -> str | None:
    """Return the canonical spelling of a standard lead name, or ``None``.

    >>> canonical_lead_name("AVR"), canonical_lead_name("v1"), canonical_lead_name("vx")
    ('aVR', 'V1', None)
    """
    return _BY_KEY.get(name.strip().lower())


def check_lead_names(leads: Any, *, what: str = "leads") -> tuple[str, ...]:
    """``leads`` as a tuple of distinct standard lead names, spelled as given; else :class:`ConfigError`.

    A bare string is refused (``"II"`` would otherwise become the leads ``I, I``), as are unknown
    names, repeats (``II`` and ``ii``) and an empty list.

    >>> check_lead_names(["II", "V1"])
    ('II', 'V1')
    >>> check_lead_names("II")
    Traceback (most recent call last):
    ...
    ecgbyte.errors.ConfigError: leads must be a list of lead names such as ["II", "V1"], got the string 'II'
    """
    if isinstance(leads, (str, bytes)):
        raise ConfigError(
            f'{what} must be a list of lead names such as ["II", "V1"], got the string {leads!r}'
        )
    if not isinstance(leads, (list, tuple)) or not leads:
        raise ConfigError(f"{what} must be a non-empty list of lead names, got {leads!r:.80}")
    seen: dict[str, str] = {}
    for name in leads:
        canon = canonical_lead_name(name) if isinstance(name, str) else None
        if canon is None:
            raise ConfigError(
                f"{what}: {name!r:.40} is not a standard lead; use names from {', '.join(STANDARD_LEADS)}"
            )
        if canon in seen:
            raise ConfigError(f"{what}: lead {canon} is listed twice ({seen[canon]!r} and {name!r})")
        seen[canon] = name
    return tuple(leads)


def reorder_leads(
    signal: np.ndarray,
    names: Sequence[str],
    *,
    leads: Sequence[str] = STANDARD_LEADS,
    where: str = "<array>",
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Put the rows of ``signal`` ``[n_signals, samples]`` into the order ``leads``.

    Returns ``(signal [len(leads), samples], leads, dropped)`` where ``dropped``
    names the input signals that were not asked for (e.g. Frank leads ``vx``).
    A requested lead that is missing raises :class:`RecordError`.
    """
    wanted = [canonical_lead_name(x) or x for x in leads]
    index: dict[str, int] = {}
    dropped: list[str] = []
    for i, raw in enumerate(names):
        canon = canonical_lead_name(raw)
        if canon is None or canon not in wanted or canon in index:
            dropped.append(raw)
            continue
        index[canon] = i
    missing = [x for x in wanted if x not in index]
    if missing:
        raise RecordError(
            f"missing lead(s) {', '.join(missing)} (found {', '.join(names) or 'none'}); "
            "pass leads=[...] to read a subset",
            path=where,
            reason="missing_lead",
        )
    order = [index[x] for x in wanted]
    return np.ascontiguousarray(signal[order]), tuple(wanted), tuple(dropped)


@dataclass(frozen=True, eq=False)
class Ecg:
    """One recording.

    Attributes
    ----------
    signal : float32 array ``[leads, samples]`` in mV.
    fs : sampling rate in Hz.
    leads : lead names, one per row of ``signal``.
    record_id, patient_id : identifiers where the source has them.
    source : path of the file the record came from.
    meta : free-form metadata (header comments, dropped signals, labels...).
    """

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...] = STANDARD_LEADS
    record_id: str | None = None
    patient_id: str | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.source or self.record_id or "<ecg>"
        sig = np.asarray(self.signal)
        if sig.ndim != 2:
            raise RecordError(
                f"signal must be 2-D [leads, samples], got shape {sig.shape}", path=where, reason="shape"
            )
        if sig.dtype != np.float32:
            sig = sig.astype(np.float32)
        object.__setattr__(self, "signal", sig)
        object.__setattr__(self, "leads", tuple(self.leads))
        if len(self.leads) != sig.shape[0]:
            raise RecordError(
                f"{sig.shape[0]} signal rows but {len(self.leads)} lead names",
                path=where,
                reason="lead_count",
            )
        if not (
            isinstance(self.fs, (int, float, np.floating, np.integer))
            and np.isfinite(self.fs)
            and MIN_FS_HZ <= self.fs <= MAX_FS_HZ
        ):
            raise RecordError(
                f"sampling rate must be a number of Hz in {MIN_FS_HZ:g}..{MAX_FS_HZ:g}, got {self.fs!r}",
                path=where,
                reason="fs",
            )
        object.__setattr__(self, "fs", float(self.fs))

    @property
    def n_leads(self) -> int:
        return int(self.signal.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    @property
    def name(self) -> str:
        """Best human-readable identifier: record id, else source, else ``"<ecg>"``."""
        return self.record_id or self.source or "<ecg>"

    def replace(self, **changes: Any) -> Ecg:
        """Return a copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def select_leads(self, leads: Sequence[str]) -> Ecg:
        """Return the record restricted to ``leads`` (in that order)."""
        sig, names, _ = reorder_leads(self.signal, self.leads, leads=leads, where=self.name)
        return self.replace(signal=sig, leads=names)
