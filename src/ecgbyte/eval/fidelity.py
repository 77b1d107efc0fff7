"""How faithful ECG tokens are: each record's preprocessed signal against its token reconstruction.

For every record, :func:`measure_record` preprocesses the record's leads with the tokenizer's
pipeline (the *original*), encodes and decodes it (the *reconstruction*: for a named
representation the 12 standard leads, derived leads rebuilt from I and II), and measures

- tokens per ECG: the ECG tokens, and the LLM sequence cost of the ECG as
  :class:`~ecgbyte.data.sequences.SequenceBuilder` lays it out (``<ecg_start>``, one marker per
  lead, the tokens, ``<ecg_end>``): the same code path the model trains on;
- RMSE per lead in mV and as a percentage of the original lead's p1-p99 range;
- clinical measurements by an independent delineator (NeuroKit2: ``ecg_clean``, ``ecg_peaks`` with
  the Kalidas 2017 detector, ``ecg_delineate`` with the DWT method, at >= 250 Hz, on the lead with
  the tallest QRS in the original) taken on the original and on the reconstruction separately: the
  number of beats, heart rate (60 / median RR),
  QRS, PR and QT durations (medians over beats), and per lead the R amplitude and the ST level
  (60 ms after the QRS offset), both against the PR baseline.

A delineator that fails on a record (too few beats, a flat lead, NeuroKit raising) is reported in
that record's ``failures`` and its measurements are ``None``; the run goes on. The same
measurements on the original plus seeded white noise of the reconstruction's RMSE per lead
(``perturbed``) give the delineator's own noise floor (``summary["noise_floor"]``): how much of an
error is the tokens' and how much the delineator's instability. :func:`fidelity`
adds :func:`summarize` over records (means, p95, median absolute errors, the share of records whose
heart rate agrees within 1 bpm). NeuroKit2 (``pip install ecgbyte[fidelity]``) is imported here
only when measuring, never on the tokenizer's import path.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import EcgbyteError

log = logging.getLogger(__name__)

INTERVALS = ("hr_bpm", "qrs_ms", "pr_ms", "qt_ms")
AMPLITUDES = ("r_mv", "st_mv")
CLEAN = "neurokit"
"""NeuroKit2's cleaning before delineation (``nk.ecg_clean`` method), on both signals alike."""
PEAKS = "kalidas2017"
"""NeuroKit2's R-peak detector (``nk.ecg_peaks`` method): the stationary-wavelet detector of Kalidas
& Tamil 2017. On the PTB-XL fixtures it is the steadiest of those tried (``neurokit``, ``elgendi2010``,
``rodrigues2021``, ``hamilton2002``): under white noise of the tokens' RMSE it keeps its heart rate
within 1 bpm most often (see ``benchmarks/evidence/fidelity/README.md``)."""
DELINEATE_FS = 250.0
"""Signals sampled below this are upsampled to it (cubic, original and reconstruction alike) before
delineation: the detectors and the DWT delineator are built for such rates."""
CONTEXT = 1024
"""The context the issue asks a whole ECG to fit in (tokens incl. markers)."""


def output_leads(tokenizer: Any) -> tuple[str, ...]:
    """The leads ``tokenizer.decode`` returns for a whole encoding (:func:`ecgbyte.presets.decoded_leads`)."""
    from ecgbyte.presets import decoded_leads

    return decoded_leads(tokenizer)


def sequence_tokens(encoding: Any, vocab_size: int, *, lead_markers: bool = True) -> int:
    """LLM tokens one ECG takes in a sequence (markers included), counted by ``SequenceBuilder``."""
    from ecgbyte.data.sequences import SequenceBuilder, SequenceLayout, TruncationPolicy
    from ecgbyte.ecg_tokenizer import EncodedEcg

    enc = EncodedEcg.from_encoding(encoding)
    markers = {name: 3 + i for i, name in enumerate(enc.leads)} if lead_markers else None
    layout = SequenceLayout(
        bos_id=None,
        eos_id=0,
        pad_id=0,
        ecg_start_id=1,
        ecg_end_id=2,
        ecg_offset=3 + len(enc.leads),
        ecg_vocab_size=vocab_size,
        lead_marker_ids=markers,
    )
    builder = SequenceBuilder(
        layout,
        TruncationPolicy(truncate=False),
        max_length=10**9,
        encode_text=lambda _text: [],
        answer_reserve=0,
    )
    return len(builder.build([enc], "", None).input_ids)


def clinical_measures(
    signal: np.ndarray,
    leads: Sequence[str],
    fs: float,
    *,
    lead: str | None = None,
    clean: str | None = CLEAN,
    peaks: str = PEAKS,
) -> dict[str, Any]:
    """Heart rate, QRS/PR/QT (ms) from one lead and per-lead R / ST amplitudes (mV).

    ``lead``: the lead to detect and delineate beats in (default: the one with the largest p1-p99
    range, i.e. the tallest QRS; :func:`measure_record` picks it on the original and uses it on
    both signals). Signals below :data:`DELINEATE_FS` are upsampled to it first; heart rate is
    60 / the median RR interval.

    Raises :class:`ValueError` when the delineator finds fewer than 2 beats; other NeuroKit
    errors pass through (the caller records them).
    """
    import neurokit2 as nk

    from ecgbyte.signal.resample import resample

    x = np.asarray(signal, dtype=np.float64)
    if fs < DELINEATE_FS:
        x, fs = resample(x, fs, DELINEATE_FS).astype(np.float64), DELINEATE_FS
    k = list(leads).index(lead) if lead is not None else tallest_lead(x)
    rate = round(fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if clean is not None:
            x = np.stack([nk.ecg_clean(row, sampling_rate=rate, method=clean) for row in x])
        _, info = nk.ecg_peaks(x[k], sampling_rate=rate, method=peaks)
        rpeaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        if rpeaks.size < 2:
            raise ValueError(f"{rpeaks.size} R peak(s) found in lead {leads[k]}")
        _, d = nk.ecg_delineate(x[k], rpeaks, sampling_rate=rate, method="dwt")

    def fid(key: str) -> np.ndarray:
        v = np.asarray(d.get(key, []), dtype=np.float64)
        return v if v.size == rpeaks.size else np.full(rpeaks.size, np.nan)

    p_on, r_on, r_off, t_off = (fid(f"ECG_{n}") for n in ("P_Onsets", "R_Onsets", "R_Offsets", "T_Offsets"))
    ms = 1000.0 / fs

    def med(v: np.ndarray) -> float | None:
        v = v[np.isfinite(v) & (v > 0)]
        return float(np.median(v)) if v.size else None

    out: dict[str, Any] = {
        "lead": leads[k],
        "n_beats": int(rpeaks.size),
        "hr_bpm": 60.0 * fs / float(np.median(np.diff(rpeaks))),
        "qrs_ms": med((r_off - r_on) * ms),
        "pr_ms": med((r_on - p_on) * ms),
        "qt_ms": med((t_off - r_on) * ms),
    }
    n = x.shape[1]
    w40, w60 = round(0.04 * fs), round(0.06 * fs)
    onset = np.where(np.isfinite(r_on), r_on, rpeaks - w60).astype(np.int64)
    j = np.where(np.isfinite(r_off), r_off, rpeaks + w60).astype(np.int64)
    r_amp: dict[str, float | None] = {}
    st: dict[str, float | None] = {}
    for i, name in enumerate(leads):
        rs, sts = [], []
        for b in range(rpeaks.size):
            lo = max(onset[b] - w40, 0)
            if onset[b] <= lo or j[b] + w60 >= n or j[b] <= onset[b]:
                continue
            base = float(np.median(x[i, lo : onset[b]]))
            rs.append(float(np.max(x[i, onset[b] : j[b] + 1])) - base)
            sts.append(float(x[i, j[b] + w60]) - base)
        r_amp[name] = float(np.median(rs)) if rs else None
        st[name] = float(np.median(sts)) if sts else None
    out["r_mv"], out["st_mv"] = r_amp, st
    return out


def tallest_lead(signal: np.ndarray) -> int:
    """Index of the lead with the largest p1-p99 range (the tallest QRS complexes)."""
    p1, p99 = np.percentile(np.asarray(signal, dtype=np.float64), [1, 99], axis=-1)
    return int(np.argmax(p99 - p1))


def measure_record(tokenizer: Any, ecg: Ecg, *, delineate: bool = True) -> dict[str, Any]:
    """Tokens, RMSE and clinical measurements of one record (see the module doc); JSON-ready.

    Raises :class:`~ecgbyte.errors.EcgbyteError` if the record cannot be preprocessed or
    encoded (the caller skips and reports it); delineator failures are returned in ``failures``.
    """
    from ecgbyte.signal import preprocess

    want = output_leads(tokenizer)
    have = [name for name in want if name in ecg.leads]
    if getattr(tokenizer, "preset", None) is not None:
        tokenizer.preset.check_record(ecg)  # a missing I/II or too low a rate: one line, naming the record
    if tokenizer.preprocess is not None:
        original = preprocess(ecg.select_leads(have), tokenizer.preprocess)
    else:
        original = ecg.select_leads(have)
    enc = tokenizer.encode(original)
    rec_all = tokenizer.decode(enc)
    rec = rec_all[[want.index(name) for name in have]]
    n = min(rec.shape[1], original.n_samples)
    x, y = original.signal[:, :n].astype(np.float64), rec[:, :n].astype(np.float64)
    rmse = np.sqrt(np.mean((y - x) ** 2, axis=1))
    p1, p99 = np.percentile(x, [1, 99], axis=1)
    span = np.maximum(p99 - p1, 1e-9)
    out: dict[str, Any] = {
        "record": ecg.name,
        "fs": float(original.fs),
        "leads": list(have),
        "n_tokens": len(enc),
        "n_sequence_tokens": sequence_tokens(enc, tokenizer.vocab_size),
        "rmse_mv": {name: float(v) for name, v in zip(have, rmse)},
        "rmse_pct_range": {name: float(v) for name, v in zip(have, 100.0 * rmse / span)},
        "rmse_mv_overall": float(np.sqrt(np.mean((y - x) ** 2))),
        "rmse_pct_range_overall": float(np.mean(100.0 * rmse / span)),
        "failures": [],
    }
    if delineate:
        # the delineator's own floor: the original plus seeded white noise of the reconstruction's RMSE
        noisy = x + np.random.default_rng(0).normal(size=x.shape) * rmse[:, None]
        lead = have[tallest_lead(x)]  # chosen on the original, used on all three
        for which, sig in (("original", x), ("reconstruction", y), ("perturbed", noisy)):
            try:
                out[which] = clinical_measures(sig, have, original.fs, lead=lead)
            except Exception as exc:  # the delineator's failures are data, reported per record
                out[which] = None
                out["failures"].append({"signal": which, "error": f"{type(exc).__name__}: {exc}"[:300]})
    return out


def _stats(v: list[float]) -> dict[str, float | int | None]:
    a = np.asarray([x for x in v if x is not None and np.isfinite(x)], dtype=np.float64)
    if not a.size:
        return {"n": 0, "mean": None, "median": None, "p95": None}
    return {
        "n": int(a.size),
        "mean": float(a.mean()),
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
    }


def summarize(records: Sequence[dict[str, Any]], *, context: int = CONTEXT) -> dict[str, Any]:
    """Over records: tokens (mean, p95, share within ``context``), RMSE per lead and overall, and
    the clinical measurements' absolute errors (reconstruction vs original)."""
    if not records:
        return {"n_records": 0}
    leads = list(records[0]["leads"])
    seq = [r["n_sequence_tokens"] for r in records]
    out: dict[str, Any] = {
        "n_records": len(records),
        "tokens": _stats([r["n_tokens"] for r in records]),
        "sequence_tokens": _stats(seq),
        "within_context": {"context": context, "fraction": float(np.mean([s <= context for s in seq]))},
        "rmse_mv": {name: _stats([r["rmse_mv"].get(name) for r in records])["mean"] for name in leads},
        "rmse_pct_range": {
            name: _stats([r["rmse_pct_range"].get(name) for r in records])["mean"] for name in leads
        },
        "rmse_mv_overall": _stats([r["rmse_mv_overall"] for r in records])["mean"],
        "rmse_pct_range_overall": _stats([r["rmse_pct_range_overall"] for r in records])["mean"],
    }
    out["clinical"] = _clinical_errors(records, leads, "reconstruction")
    out["noise_floor"] = _clinical_errors(records, leads, "perturbed")
    out["delineator_failures"] = sum(len(r["failures"]) for r in records)
    out["records_measured_both"] = out["clinical"].pop("n_both")
    out["noise_floor"].pop("n_both")
    return out


def _clinical_errors(records: Sequence[dict[str, Any]], leads: list[str], other: str) -> dict[str, Any]:
    """Absolute errors of the measurements on ``other`` (``reconstruction`` or ``perturbed``) vs the original."""
    both = [r for r in records if r.get("original") and r.get(other)]
    errors: dict[str, Any] = {"n_both": len(both)}
    for key in INTERVALS:
        pairs = [(r["original"][key], r[other][key]) for r in both]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        err = [abs(b - a) for a, b in pairs]
        errors[key] = {**_stats(err), "original_median": _stats([a for a, _ in pairs])["median"]}
    hr = [abs(r[other]["hr_bpm"] - r["original"]["hr_bpm"]) for r in both]
    errors["hr_bpm"]["within_1_bpm"] = float(np.mean([e <= 1.0 for e in hr])) if hr else None
    same = [r[other]["n_beats"] == r["original"]["n_beats"] for r in both]
    errors["beats_agree"] = float(np.mean(same)) if same else None
    for key in AMPLITUDES:
        per_lead = {}
        for name in leads:
            err = [
                abs(r[other][key][name] - r["original"][key][name])
                for r in both
                if r["original"][key].get(name) is not None and r[other][key].get(name) is not None
            ]
            per_lead[name] = _stats(err)["median"]
        errors[key] = {"median_abs_error_per_lead": per_lead}
    return errors


def fidelity(
    tokenizer: Any, ecgs: Iterable[Ecg], *, delineate: bool = True, progress: bool = False
) -> dict[str, Any]:
    """:func:`measure_record` over ``ecgs`` plus :func:`summarize`; bad records are skipped and listed.

    Returns ``{"tokenizer": {...}, "summary": {...}, "records": [...], "skipped": [...]}``.
    """
    from tqdm.auto import tqdm

    if delineate:
        from ecgbyte.errors import require

        require("neurokit2", "fidelity")
    records, skipped = [], []
    for ecg in tqdm(list(ecgs), desc="fidelity", unit="ECG", disable=not progress):
        try:
            records.append(measure_record(tokenizer, ecg, delineate=delineate))
        except EcgbyteError as exc:
            log.warning("skipping %s", exc)
            skipped.append({"record": ecg.name, "error": str(exc)})
    preset = getattr(tokenizer, "preset", None)
    about = {
        "preset": preset.name if preset is not None else None,
        "leads": list(tokenizer.leads),
        "output_leads": list(output_leads(tokenizer)),
        "fs": tokenizer.fs,
        "vocab_size": tokenizer.vocab_size,
        "hash": tokenizer.hash(),
    }
    return {"tokenizer": about, "summary": summarize(records), "records": records, "skipped": skipped}


__all__ = [
    "clinical_measures",
    "fidelity",
    "measure_record",
    "output_leads",
    "sequence_tokens",
    "summarize",
    "tallest_lead",
]
