"""The ECG-Byte preprocessing chain on one record: checks, gaps, filters, denoise, resample.

:func:`preprocess` applies every step a :class:`PreprocessConfig` enables, in the
paper's order, to a whole record (all leads at once) and returns a new
:class:`~ecgbyte.ecg.Ecg` at ``config.target_fs``; :func:`segment` then cuts it into
windows. The three filters run fused as one zero-phase cascade
(:func:`ecgbyte.signal.filters.chain`). The stage functions live in their own
modules (``filters``, ``wavelet``, ``resample``, ``gaps``, ``checks``).
"""

from __future__ import annotations

import logging

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import RecordError
from ecgbyte.signal import checks, filters, gaps, wavelet
from ecgbyte.signal import resample as _resample
from ecgbyte.signal.config import PreprocessConfig
from ecgbyte.signal.segment import segment

log = logging.getLogger(__name__)

__all__ = ["preprocess", "preprocess_array", "segment"]


def preprocess_array(
    x: np.ndarray,
    fs: float,
    config: PreprocessConfig | None = None,
    *,
    where: str = "<array>",
    leads: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, float, dict]:
    """Array form of :func:`preprocess`.

    Parameters
    ----------
    x : array ``[leads, samples]`` in mV (NaN allowed where ``config.fill_gaps``).
    fs : sampling rate of ``x`` in Hz.
    config : the steps to run (default: the paper's recipe).
    where, leads : record and lead names for messages.

    Returns
    -------
    ``(y, out_fs, info)``: float32 ``y`` ``[leads, samples']`` at ``out_fs`` Hz and a dict
    with ``n_gap_filled`` (samples) and ``flat_leads`` (row indices of flat leads).
    """
    config = config or PreprocessConfig()
    x = np.asarray(x)
    if config.check:
        checks.check_signal(x, fs, flat_tol_mv=config.flat_tol_mv, where=where)
    elif x.ndim != 2 or x.size == 0:
        raise RecordError(f"empty signal (shape {x.shape})", path=where, reason="empty")
    out_fs = float(config.target_fs) if config.resample else float(fs)
    n_out = _resample.output_length(x.shape[-1], fs, out_fs)
    if config.check and config.segment_length is not None and n_out < config.segment_length:
        raise RecordError(
            f"too short: {x.shape[-1]} samples at {fs:g} Hz give {n_out} at {out_fs:g} Hz, "
            f"fewer than one segment of {config.segment_length}; lower segment_length or skip this record",
            path=where,
            reason="too_short",
        )
    info: dict = {"n_gap_filled": 0, "flat_leads": []}
    if config.fill_gaps:
        x, info["n_gap_filled"] = gaps.fill_gaps(x, fs, config.max_gap_s, where=where, leads=leads)
    elif np.isnan(x).any():
        raise RecordError(
            f"{int(np.isnan(x).sum())} missing (NaN) sample(s) and fill_gaps is off",
            path=where,
            reason="nan_gap",
        )
    if config.check:
        flat = np.flatnonzero(checks.flat_leads(x, config.flat_tol_mv))
        if flat.size:
            names = [leads[i] if leads else str(i) for i in flat]
            log.warning("%s: flat lead(s) %s kept (the other leads carry signal)", where, ", ".join(names))
            info["flat_leads"] = [int(i) for i in flat]
    y = filters.chain(x, fs, config)
    if config.denoise:
        y = wavelet.denoise(
            y, wavelet=config.wavelet, level=config.wavelet_level, noise_detail=config.wavelet_noise_detail
        )
    if config.resample:
        y = _resample.resample(y, fs, out_fs)
    return np.ascontiguousarray(y, dtype=np.float32), out_fs, info


def preprocess(ecg: Ecg, config: PreprocessConfig | None = None) -> Ecg:
    """Run checks, gap filling, notch/band-pass/high-pass, wavelet denoise and resampling.

    Parameters
    ----------
    ecg : record, signal ``[leads, samples]`` in mV at ``ecg.fs`` Hz.
    config : the steps to run (default: the paper's recipe).

    Returns
    -------
    A new record at ``config.target_fs`` (``ecg.fs`` if resampling is off) with
    ``meta["preprocess_hash"] = config.hash()``, plus ``meta["n_gap_filled"]`` and
    ``meta["flat_leads"]`` (names) when those are non-zero/non-empty.

    Raises
    ------
    RecordError
        With ``reason`` ``empty``, ``non_finite``, ``flat``, ``too_short`` or ``nan_gap``.
    """
    config = config or PreprocessConfig()
    y, out_fs, info = preprocess_array(ecg.signal, ecg.fs, config, where=ecg.name, leads=ecg.leads)
    meta = {**ecg.meta, "preprocess_hash": config.hash()}
    if info["n_gap_filled"]:
        meta["n_gap_filled"] = info["n_gap_filled"]
    if info["flat_leads"]:
        meta["flat_leads"] = [ecg.leads[i] for i in info["flat_leads"]]
    return ecg.replace(signal=y, fs=out_fs, meta=meta)
