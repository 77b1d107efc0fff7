"""The ``ecgbyte demo`` job: the whole pipeline on embedded synthetic data, no download.

Stages, one function each (later stages, BPE and the language model, are appended by
their own modules): :func:`generate` synthetic labelled ECGs -> :func:`preprocess_all`
with the paper's recipe -> :func:`fit_quantizer` and symbolize -> :func:`summarize`
(counts, label balance, symbol histogram, reconstruction error) -> :func:`plot`.
:func:`run_demo` chains them and writes everything to one output folder:

``summary.json``, ``labels.jsonl`` (one line per ECG), ``quantizer.json``,
``synth_config.json``, ``preprocess_config.json``, ``signals.png``,
``symbol_histogram.png``.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, RecordError
from ecgbyte.fileio import write_json, write_jsonl
from ecgbyte.signal import PreprocessConfig, preprocess
from ecgbyte.signal.synth import SynthConfig, synthesize
from ecgbyte.symbols import ALPHABET, Quantizer

log = logging.getLogger(__name__)

BALANCE_LABELS = ("rate_class", "rhythm", "noise", "baseline_wander", "wide_qrs", "st_deviation")


# -- stages -----------------------------------------------------------------------------------------
def generate(
    n_ecgs: int, *, seed: int, fs: float = 500.0, duration_s: float = 10.0, config: SynthConfig | None = None
) -> list[Ecg]:
    """Stage 1: ``n_ecgs`` labelled synthetic 12-lead ECGs (see :func:`ecgbyte.signal.synth.synthesize`)."""
    return synthesize(n_ecgs, seed=seed, fs=fs, duration_s=duration_s, config=config)


def preprocess_all(ecgs: Sequence[Ecg], config: PreprocessConfig) -> tuple[list[Ecg], dict[str, str]]:
    """Stage 2: preprocess every ECG; returns ``(kept, {record_id: reason})`` for rejected ones."""
    kept: list[Ecg] = []
    rejected: dict[str, str] = {}
    for ecg in ecgs:
        try:
            kept.append(preprocess(ecg, config))
        except RecordError as exc:
            log.warning("%s", exc)
            rejected[ecg.name] = exc.reason
    return kept, rejected


def fit_quantizer(
    ecgs: Sequence[Ecg],
    *,
    seed: int,
    percentiles: tuple[float, float] = (1.0, 99.0),
    max_values: int = 1_000_000,
) -> tuple[Quantizer, list[np.ndarray]]:
    """Stage 3: fit the dataset percentiles and symbolize every ECG (uint8 ``[leads, samples]`` each)."""
    quantizer = Quantizer.fit(ecgs, percentiles=percentiles, max_values=max_values, seed=seed)
    return quantizer, [quantizer.symbolize(e) for e in ecgs]


def summarize(
    raw: Sequence[Ecg],
    pre: Sequence[Ecg],
    rejected: dict[str, str],
    quantizer: Quantizer,
    codes: Sequence[np.ndarray],
) -> dict[str, Any]:
    """Stage 4: counts, label balance, symbol histogram and reconstruction error (JSON-ready)."""
    balance = {
        k: dict(sorted(Counter(str(e.meta["labels"][k]) for e in raw).items())) for k in BALANCE_LABELS
    }
    hr = np.array([e.meta["labels"]["heart_rate_bpm"] for e in raw], dtype=float)
    hist = np.zeros(quantizer.n_symbols, dtype=np.int64)
    sq_err, n_vals, n_clipped, max_err_in = 0.0, 0, 0, 0.0
    for ecg, c in zip(pre, codes):
        hist += np.bincount(c.ravel(), minlength=quantizer.n_symbols)
        x = ecg.signal.astype(np.float64)
        err = np.abs(quantizer.dequantize(c) - x)
        inside = (x >= quantizer.lo) & (x <= quantizer.hi)
        sq_err += float(np.sum(err**2))
        n_vals += x.size
        n_clipped += int(x.size - inside.sum())
        if inside.any():
            max_err_in = max(max_err_in, float(err[inside].max()))
    n_pat = len({e.patient_id for e in raw})
    return {
        "n_ecgs": len(raw),
        "n_patients": n_pat,
        "n_preprocessed": len(pre),
        "n_rejected": len(rejected),
        "rejected": rejected,
        "raw_fs": raw[0].fs if raw else None,
        "preprocessed_fs": pre[0].fs if pre else None,
        "samples_per_lead": pre[0].n_samples if pre else 0,
        "heart_rate_bpm": {"min": float(hr.min()), "mean": round(float(hr.mean()), 1), "max": float(hr.max())}
        if hr.size
        else None,
        "label_balance": balance,
        "quantizer": quantizer.to_dict(),
        "symbol_histogram": {ALPHABET[k]: int(v) for k, v in enumerate(hist)},
        "reconstruction": {
            "rmse_mv": round(float(np.sqrt(sq_err / max(n_vals, 1))), 5),
            "max_abs_error_in_range_mv": round(max_err_in, 5),
            "half_bin_mv": round(quantizer.bin_width / 2, 5),
            "clipped_fraction": round(n_clipped / max(n_vals, 1), 6),
        },
    }


def plot(
    raw: Ecg, pre: Ecg, quantizer: Quantizer, histogram: dict[str, int], out_dir: Path
) -> dict[str, Path]:
    """Stage 5: ``signals.png`` (raw / preprocessed / dequantized) and ``symbol_histogram.png``."""
    from ecgbyte.viz.signals import plot_signal_stages, plot_symbol_histogram

    deq = pre.replace(signal=quantizer.dequantize(quantizer.symbolize(pre)))
    labels = raw.meta.get("labels", {})
    title = f"{raw.name}: {labels.get('rhythm', '?')}, {labels.get('heart_rate_bpm', '?')} bpm"
    return {
        "signals_png": plot_signal_stages(
            [("raw", raw), ("preprocessed", pre), ("dequantized", deq)], out_dir / "signals.png", title=title
        ),
        "symbol_histogram_png": plot_symbol_histogram(
            list(histogram.values()), out_dir / "symbol_histogram.png"
        ),
    }


# -- the job ----------------------------------------------------------------------------------------
def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    n_ecgs: int = 64,
    seed: int = 0,
    fs: float = 500.0,
    duration_s: float = 10.0,
    synth_config: SynthConfig | None = None,
    preprocess_config: PreprocessConfig | None = None,
    make_plots: bool = True,
) -> dict[str, Any]:
    """Generate, preprocess, quantize, summarize and plot; write everything to ``out_dir``.

    Parameters
    ----------
    out_dir : output folder (created; existing files of the same names are replaced).
    n_ecgs : number of synthetic ECGs (>= 1).
    seed : seeds the generator and the quantizer sample; same seed -> same outputs.
    fs, duration_s : sampling rate (Hz) and length (s) of the synthetic ECGs.
    synth_config, preprocess_config : defaults if None (the paper's preprocessing,
        with ``segment_length`` capped to what ``duration_s`` yields).
    make_plots : write the PNG figures.

    Returns
    -------
    dict with ``summary`` (as in ``summary.json``), ``paths`` (name -> Path written),
    and the in-memory results ``ecgs``, ``preprocessed``, ``quantizer``, ``codes``
    for later stages.
    """
    if isinstance(n_ecgs, bool) or not isinstance(n_ecgs, int) or n_ecgs < 1:
        raise ConfigError(f"n_ecgs must be a positive integer, got {n_ecgs!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    synth_config = synth_config or SynthConfig()
    if preprocess_config is None:
        preprocess_config = PreprocessConfig()
        n_out = int(duration_s * preprocess_config.target_fs)
        if preprocess_config.segment_length and n_out < preprocess_config.segment_length:
            preprocess_config = PreprocessConfig(segment_length=None)
    raw = generate(n_ecgs, seed=seed, fs=fs, duration_s=duration_s, config=synth_config)
    pre, rejected = preprocess_all(raw, preprocess_config)
    if not pre:
        raise RecordError(
            f"all {len(raw)} ECGs were rejected by preprocessing: {rejected}", path=str(out), reason="empty"
        )
    quantizer, codes = fit_quantizer(pre, seed=seed)
    summary = summarize(raw, pre, rejected, quantizer, codes)
    summary.update(seed=seed, duration_s=duration_s)
    paths: dict[str, Path] = {
        "synth_config": write_json(
            out / "synth_config.json",
            {"fs": fs, "duration_s": duration_s, "seed": seed, **synth_config.to_dict()},
        ),
        "preprocess_config": write_json(out / "preprocess_config.json", preprocess_config.to_dict()),
        "quantizer": quantizer.save(out / "quantizer.json"),
        "labels": write_jsonl(
            out / "labels.jsonl",
            [{"record_id": e.record_id, "patient_id": e.patient_id, **e.meta["labels"]} for e in raw],
        ),
    }
    if make_plots:
        by_id = {e.record_id: e for e in raw}
        paths.update(plot(by_id[pre[0].record_id], pre[0], quantizer, summary["symbol_histogram"], out))
    summary["files"] = {k: p.name for k, p in paths.items()}
    paths["summary"] = write_json(out / "summary.json", summary)
    return {
        "summary": summary,
        "paths": paths,
        "ecgs": raw,
        "preprocessed": pre,
        "quantizer": quantizer,
        "codes": codes,
    }
