"""The ``ecgbyte demo`` job: the whole pipeline on embedded synthetic data, on a CPU, no download.

Stage 1, the signal (seconds; :func:`run_demo`): :func:`generate` labelled synthetic 12-lead ECGs
-> :func:`preprocess_all` with the paper's recipe -> :func:`fit_quantizer` and symbolize ->
:func:`summarize` (counts, label balance, symbol histogram, reconstruction error) -> :func:`plot`.
Written to one folder: ``summary.json``, ``labels.jsonl`` (one line per ECG), ``quantizer.json``,
``synth_config.json``, ``preprocess_config.json``, ``signals.png``, ``symbol_histogram.png``.

Stage 2, the language model (minutes; :func:`run_elm_demo`): synthetic 12-lead ECGs with labels -> preprocess -> train an ``ECGByteTokenizer`` -> synthetic
QA (rate class: bradycardia / normal / tachycardia; rhythm: sinus rhythm / atrial fibrillation)
-> patient-level split -> train a tiny Llama on ECG tokens + text -> greedy answers for held-out
patients -> accuracy per question type, beside a *no-signal* model trained the same way with the
ECG tokens removed. If the first beats the second by a wide margin, the model reads the ECG.

Choices for a 2-core CPU and about 10 minutes (and why):

- **Leads II and V1, 10 s, resampled to 50 Hz** (band-pass 0.5-20 Hz). Rate and rhythm are
  rhythm-strip questions: lead II shows every R peak (rate), V1 shows atrial activity best
  (P waves in sinus rhythm, their absence and the f-waves in AF). The whole 10 s is needed to
  count beats and judge RR irregularity. 50 Hz still resolves a QRS (~5 samples) and the 4-9 Hz
  f-waves, and gives 2 x 500 symbols per ECG instead of 12 x 2500 at 250 Hz. Measured with a
  bag-of-tokens logistic probe (same split): rhythm 84% from lead II alone, 92-97% with V1.
- **1000 BPE merges**: about 190 tokens per ECG (II + V1), and the vocabulary stays small
  enough (1026 ECG rows) that embeddings do not dominate the step time.
- **Tiny Llama** (hidden 128, 2 layers, 4 heads, MLP 256, tied embeddings; about 0.5 M
  parameters), built from a config with a 128-token BPE text tokenizer trained on the QA text,
  fully fine-tuned in fp32 with AdamW (lr 2e-3, cosine, warmup 30), batch 8, 5 epochs of
  1200 ECGs x 2 questions (about 1200 steps). One torch thread (see ``num_threads``).
- **Balanced labels** (half AF; a third per rate class), so a text-only model sits at chance
  (50% rhythm, 33% rate) and the gap measures what the ECG tokens contribute.

Measured (seed 0, torch 2.13 fp32, 2-core CPU, 2026-12-04; results are bit-identical across
runs): rate 90.1%, rhythm 91.0% on 233 held-out ECGs of 119 patients (466 questions) vs 30.9% /
49.4% without the signal. Wall time 256 s on a quiet machine (tokenizer 54 s of it, numba's
compile included; ECG model 176 s) and about 10 minutes when other jobs loaded both cores.

The paper's full recipe (12 leads, 250 Hz, 3500 merges, Llama-3.2-1B with LoRA r 16 / alpha 32,
inverse-sqrt warmup 500, ~1k context) is ``TrainConfig.preset("paper")`` plus
``n_merges=3500, target_fs=250, leads=all`` here: one config away, same code path.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
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


# -- stage 2: the language model ---------------------------------------------------------------------
def run_elm_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    n_ecgs: int = 1200,
    epochs: float = 5.0,
    target_fs: float = 50.0,
    leads: tuple[str, ...] = ("II", "V1"),
    n_merges: int = 1000,
    train_overrides: dict[str, Any] | None = None,
    num_threads: int | None = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the demo end to end and write ``results.json``, predictions and ``accuracy.png``.

    Parameters
    ----------
    out_dir : output directory (runs ``with_signal/`` and ``no_signal/`` go inside).
    seed : seeds the synthetic data, splits, tokenizer sample, model init and data order.
    n_ecgs : number of synthetic 10 s ECGs (several per synthetic patient).
    epochs : passes over the training split for each of the two models.
    target_fs : sampling rate (Hz) after preprocessing.
    leads : leads the tokenizer encodes (and the model sees).
    n_merges : BPE merges of the ECG tokenizer.
    train_overrides : extra ``TrainConfig`` fields (e.g. ``max_steps`` for a fast test).
    num_threads : torch intra-op threads during the demo (restored afterwards); ``None`` keeps
        torch's default. 1 by default: at this model size a step is many tiny matrix products,
        and on a loaded 2-core machine a second thread made steps 10x slower (measured).
    progress : show tqdm bars.

    Returns
    -------
    dict with ``accuracy`` (``with_signal`` / ``no_signal`` per question type), ``margin``,
    ``wall_s`` per stage and in total, data sizes and token counts.
    """
    from ecgbyte.errors import ConfigError

    if not isinstance(n_ecgs, int) or n_ecgs < 10:
        raise ConfigError(
            f"n_ecgs must be an integer >= 10 (got {n_ecgs!r}); the demo needs patients to split"
        )
    if not epochs > 0:
        raise ConfigError(f"epochs must be > 0 (got {epochs!r})")
    import torch

    threads_before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _run(
            Path(out_dir),
            seed=seed,
            n_ecgs=n_ecgs,
            epochs=epochs,
            target_fs=target_fs,
            leads=leads,
            n_merges=n_merges,
            train_overrides=train_overrides or {},
            progress=progress,
        )
    finally:
        torch.set_num_threads(threads_before)


def _run(
    out: Path,
    *,
    seed: int,
    n_ecgs: int,
    epochs: float,
    target_fs: float,
    leads: tuple[str, ...],
    n_merges: int,
    train_overrides: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    from ecgbyte.data.synthetic_qa import synthetic_splits
    from ecgbyte.elm.config import TrainConfig
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.pipeline import fit_ecg_tokenizer
    from ecgbyte.elm.run import RunDir
    from ecgbyte.elm.train import train
    from ecgbyte.eval.metrics import accuracy_by_type
    from ecgbyte.viz.charts import plot_accuracy_by_type

    out.mkdir(parents=True, exist_ok=True)
    wall: dict[str, float] = {}
    t_all = t = time.perf_counter()
    data = {"name": "synthetic", "n_ecgs": n_ecgs, "seed": seed, "target_fs": target_fs, "leads": list(leads)}
    splits = synthetic_splits(n_ecgs, seed=seed, target_fs=target_fs, leads=leads)
    wall["data_s"] = time.perf_counter() - t

    base: dict[str, Any] = dict(epochs=epochs, seed=seed, keep_leads=tuple(leads), extra={"data": data})
    base.update(train_overrides)
    t = time.perf_counter()
    tok = fit_ecg_tokenizer(
        TrainConfig.preset("baby", **base),
        splits["train"],
        data=data,
        seed=seed,
        n_merges=n_merges,
    )
    wall["tokenizer_s"] = time.perf_counter() - t

    results: dict[str, Any] = {"accuracy": {}, "train": {}}
    for name, no_signal in (("with_signal", False), ("no_signal", True)):
        t = time.perf_counter()
        cfg = TrainConfig.preset("baby", **base, no_signal=no_signal)
        summary = train(cfg, splits["train"], ecg_tokenizer=tok, run_dir=out / name, progress=progress)
        wall[f"train_{name}_s"] = time.perf_counter() - t
        t = time.perf_counter()
        rows = predict(RunDir(out / name, ecg_tokenizer=tok), splits["test"], batch_size=32)
        write_jsonl(out / name / "predictions_test.jsonl", rows)
        wall[f"eval_{name}_s"] = time.perf_counter() - t
        results["accuracy"][name] = accuracy_by_type(rows)
        results["train"][name] = summary
    acc = results["accuracy"]
    results["margin"] = {k: acc["with_signal"][k] - acc["no_signal"].get(k, 0.0) for k in acc["with_signal"]}
    wall["total_s"] = time.perf_counter() - t_all
    results.update(
        wall_s=wall,
        seed=seed,
        n_ecgs=n_ecgs,
        n_items={k: len(v) for k, v in splits.items()},
        n_patients={k: len({it.patient_id for it in v}) for k, v in splits.items()},
        ecg_tokenizer={
            "vocab_size": tok.vocab_size,
            "n_merges": n_merges,
            "leads": list(leads),
            "fs": target_fs,
        },
        passed=bool(
            min(acc["with_signal"][q] for q in ("rate", "rhythm")) >= 0.85
            and min(results["margin"][q] for q in ("rate", "rhythm")) >= 0.25
        ),
    )
    write_json(out / "results.json", results)
    plot_accuracy_by_type(acc, out / "accuracy.png", title="ECG-Byte demo: held-out patients", bar_pct=85.0)
    return results


def run_full_demo(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    n_ecgs: int = 1200,
    epochs: float = 5.0,
    signal_only: bool = False,
    make_plots: bool = True,
    progress: bool = True,
    on_stage: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """What ``ecgbyte demo`` does: :func:`run_demo` on 64 ECGs into ``OUT/signal``, then
    :func:`run_elm_demo` into ``OUT`` (unless ``signal_only``).

    ``on_stage(name, result)`` is called after each stage (``"signal"``, ``"elm"``), e.g. to print
    the first stage's summary while the second one runs. Returns ``{"signal": ..., "elm": ...}``.
    """
    if isinstance(n_ecgs, bool) or not isinstance(n_ecgs, int) or n_ecgs < 10 or not epochs > 0:
        raise ConfigError(f"n_ecgs must be an integer >= 10 and epochs > 0 (got {n_ecgs!r}, {epochs!r})")
    out = Path(out_dir)
    result: dict[str, Any] = {"signal": run_demo(out / "signal", n_ecgs=64, seed=seed, make_plots=make_plots)}
    if on_stage is not None:
        on_stage("signal", result["signal"])
    if not signal_only:
        result["elm"] = run_elm_demo(out, seed=seed, n_ecgs=n_ecgs, epochs=epochs, progress=progress)
        if on_stage is not None:
            on_stage("elm", result["elm"])
    return result
