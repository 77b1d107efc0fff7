"""``PreprocessConfig``: every switch and parameter of the ECG-Byte signal pipeline.

A flat, frozen dataclass (chronos style) that is validated on construction, written
as JSON next to every output (:meth:`PreprocessConfig.to_dict`) and identified by a
short stable hash (:meth:`PreprocessConfig.hash`) that the batch job stores in its
manifest. Defaults follow the paper's code (Han et al. 2025, ``preprocess_utils.py``
of ``willxxy/ECG-Byte``): notch 50 and 60 Hz (Q=30), Butterworth band-pass
0.5-100 Hz order 4, Butterworth high-pass 0.05 Hz order 4, all zero-phase; db6
wavelet denoise at level 4; resample to 250 Hz; segments of 2500 samples.

Limits that depend on the input's sampling rate (a 100 Hz band-pass edge on a
100 Hz PTB-XL record) cannot be checked here; the filter stage handles them at run
time (see :mod:`ecgbyte.signal.filters`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from ecgbyte.errors import ConfigError
from ecgbyte.limits import MAX_FS_HZ, MAX_SEGMENT_SAMPLES, MIN_FS_HZ, PHYSIOLOGICAL_MV

#: Ways to estimate the wavelet noise threshold (see :func:`ecgbyte.signal.wavelet.denoise`).
NOISE_DETAILS = ("coarsest", "finest")


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of :func:`ecgbyte.signal.preprocess` (frequencies in Hz, durations in s).

    Attributes
    ----------
    check : reject empty, non-finite (inf), all-flat and too-short records.
    flat_tol_mv : a lead whose peak-to-peak amplitude is at most this (mV) is flat.
    fill_gaps : linearly interpolate NaN runs up to ``max_gap_s``; longer runs reject
        the record. When off, any NaN rejects the record.
    max_gap_s : longest NaN run (s) that is interpolated.
    notch, notch_freqs, notch_q : IIR notch filters (zero-phase) at these frequencies.
    bandpass, bandpass_low, bandpass_high, bandpass_order : Butterworth band-pass.
    highpass, highpass_cutoff, highpass_order : Butterworth high-pass (baseline wander).
    denoise, wavelet, wavelet_level, wavelet_noise_detail : soft-threshold wavelet
        denoising; ``"coarsest"`` takes the threshold from the coarsest detail band as
        the paper's code does, ``"finest"`` from the finest one (Donoho's estimate).
    resample, target_fs : resample to ``target_fs`` Hz (cubic; integer ratios decimate).
    segment_length : samples per segment at the output rate (500/1250/2500 in the
        paper); ``None`` disables the "too short for one segment" check.
    """

    check: bool = True
    flat_tol_mv: float = 1e-6
    fill_gaps: bool = True
    max_gap_s: float = 0.1
    notch: bool = True
    notch_freqs: tuple[float, ...] = (50.0, 60.0)
    notch_q: float = 30.0
    bandpass: bool = True
    bandpass_low: float = 0.5
    bandpass_high: float = 100.0
    bandpass_order: int = 4
    highpass: bool = True
    highpass_cutoff: float = 0.05
    highpass_order: int = 4
    denoise: bool = True
    wavelet: str = "db6"
    wavelet_level: int = 4
    wavelet_noise_detail: str = "coarsest"
    resample: bool = True
    target_fs: float = 250.0
    segment_length: int | None = 2500

    def __post_init__(self) -> None:
        # Normalise types first so that equal settings serialise (and hash) identically.
        floats = ("flat_tol_mv", "max_gap_s", "notch_q", "bandpass_low", "bandpass_high")
        floats += ("highpass_cutoff", "target_fs")
        for name in floats:
            self._set(name, _number(name, getattr(self, name), float))
        for name in ("bandpass_order", "highpass_order", "wavelet_level"):
            self._set(name, _number(name, getattr(self, name), int))
        for name in ("check", "fill_gaps", "notch", "bandpass", "highpass", "denoise", "resample"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"preprocess option {name} must be true or false, got {getattr(self, name)!r}"
                )
        freqs = self.notch_freqs
        if isinstance(freqs, (int, float)):
            freqs = (freqs,)
        if not isinstance(freqs, (list, tuple)) or len(freqs) > 16:
            raise ConfigError(
                f"preprocess option notch_freqs must be a list of at most 16 Hz values, got {freqs!r:.80}"
            )
        self._set("notch_freqs", tuple(_number("notch_freqs", f, float) for f in freqs))
        if self.segment_length is not None:
            self._set("segment_length", _number("segment_length", self.segment_length, int))

        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ConfigError(f"invalid preprocess config: {what}")

        need(
            0 <= self.flat_tol_mv <= PHYSIOLOGICAL_MV,
            f"flat_tol_mv must be in 0..{PHYSIOLOGICAL_MV:g} mV, got {self.flat_tol_mv}",
        )
        need(0 <= self.max_gap_s <= 3600, f"max_gap_s must be in 0..3600 s, got {self.max_gap_s}")
        need(
            all(0 < f <= MAX_FS_HZ for f in self.notch_freqs),
            f"notch_freqs must be > 0 and <= {MAX_FS_HZ:g} Hz, got {self.notch_freqs}",
        )
        need(0 < self.notch_q <= 1e4, f"notch_q must be > 0 and <= 10000, got {self.notch_q}")
        need(
            0 < self.bandpass_low < self.bandpass_high <= MAX_FS_HZ,
            f"band-pass edges must satisfy 0 < low < high <= {MAX_FS_HZ:g} Hz, got "
            f"{self.bandpass_low}..{self.bandpass_high} Hz",
        )
        need(
            0 < self.highpass_cutoff <= MAX_FS_HZ,
            f"highpass_cutoff must be > 0 and <= {MAX_FS_HZ:g} Hz, got {self.highpass_cutoff}",
        )
        for name in ("bandpass_order", "highpass_order"):
            need(1 <= getattr(self, name) <= 12, f"{name} must be 1..12, got {getattr(self, name)}")
        need(1 <= self.wavelet_level <= 12, f"wavelet_level must be 1..12, got {self.wavelet_level}")
        need(
            self.wavelet_noise_detail in NOISE_DETAILS,
            f"wavelet_noise_detail must be one of {', '.join(NOISE_DETAILS)}, got {self.wavelet_noise_detail!r}",
        )
        need(
            MIN_FS_HZ <= self.target_fs <= MAX_FS_HZ,
            f"target_fs must be in {MIN_FS_HZ:g}..{MAX_FS_HZ:g} Hz (the paper: 250), got {self.target_fs:g}",
        )
        need(
            self.segment_length is None or 0 < self.segment_length <= MAX_SEGMENT_SAMPLES,
            f"segment_length must be a number of samples in 1..{MAX_SEGMENT_SAMPLES} (the paper: 500, 1250, "
            f"2500), got {self.segment_length}",
        )
        if self.denoise:
            import pywt

            if self.wavelet not in pywt.wavelist(kind="discrete"):
                raise ConfigError(
                    f"unknown wavelet {self.wavelet!r}; use a discrete PyWavelets name such as 'db6' or 'sym8'"
                )

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["notch_freqs"] = list(self.notch_freqs)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`, missing keys take defaults."""
        if not isinstance(data, dict):
            raise ConfigError(f"a preprocess config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown preprocess config key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
            )
        kw = dict(data)
        if "notch_freqs" in kw and isinstance(kw["notch_freqs"], list):
            kw["notch_freqs"] = tuple(kw["notch_freqs"])
        return cls(**kw)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the text that :meth:`hash` digests."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        """Short stable hex id (12 hex digits of SHA-256 over :meth:`to_json`)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


def _number(name: str, value: Any, kind: type) -> Any:
    """Convert ``value`` to ``kind`` (int or float) or raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np

            if isinstance(value, (np.integer, np.floating)):
                value = value.item()
            else:
                raise TypeError
        except TypeError:
            raise ConfigError(f"preprocess option {name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"preprocess option {name} must be finite, got {value!r}")
    if kind is int:
        if float(value) != int(value):
            raise ConfigError(f"preprocess option {name} must be a whole number, got {value!r}")
        return int(value)
    return float(value)
