"""``train_elm``: what ``ecgbyte train`` does, as one function (dataset -> ECG tokenizer -> training loop).

1. Build the dataset's splits from its spec (``{"name": ..., options}``, see
   :mod:`ecgbyte.data.registry`); the spec is stored in the run's config (``extra["data"]``) so
   generation and evaluation rebuild the same splits.
2. Get the ECG tokenizer: the one given (an object or a folder of any registered format), the
   run's own on resume, or a new one trained on the training split's ECGs by the class that
   ``ecgbyte.ecg_tokenizer.ECG_INPUTS`` names for ``cfg.ecg_input``: an ECG-Byte tokenizer
   (``n_merges`` BPE merges over the dataset's leads) for ``"tokens"``, the two-stage baseline's
   stage 1 (a pretrained encoder) for ``"encoder"``.
3. Run the training loop (:func:`ecgbyte.elm.train.train`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ecgbyte.data.items import QAItem
from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.ecg_tokenizer import ECG_INPUTS, EcgTokenizer, load_ecg_tokenizer, tokenizer_class
from ecgbyte.elm.config import TrainConfig
from ecgbyte.errors import ConfigError

log = logging.getLogger(__name__)


def representation_defaults(preset: str, dataset: str) -> dict[str, Any]:
    """The ECG representation a preset implies, where the command line leaves it open.

    ``paper``: the original's: 12 leads at 250 Hz, 3,500 merges, 2 s segments (each its own
    example). ``baby``: leads II and V1, 1,000 merges, whole 10 s ECGs, at 50 Hz for synthetic
    data and 250 Hz (the paper's filters) for real records. Keys are those of the dataset spec
    (``leads``, ``target_fs``, ``segment_seconds``) plus ``n_merges``.
    """
    from ecgbyte.data.registry import SYNTHETIC_DATASETS

    if preset == "paper":
        return {"leads": list(STANDARD_LEADS), "target_fs": 250.0, "n_merges": 3500, "segment_seconds": 2.0}
    fs = 50.0 if dataset in SYNTHETIC_DATASETS else 250.0
    return {"leads": ["II", "V1"], "target_fs": fs, "n_merges": 1000, "segment_seconds": None}


def dataset_leads(data: dict[str, Any], cfg: TrainConfig) -> tuple[str, ...]:
    """The leads a new ECG tokenizer encodes: the spec's ``leads``, else the config's ``keep_leads``."""
    leads = data.get("leads") or cfg.keep_leads
    if not leads:
        raise ConfigError("no leads for the ECG tokenizer: put 'leads' in the dataset spec or set keep_leads")
    return tuple(leads)


def training_items(data: dict[str, Any], items: list[QAItem], *, mode: str = "all") -> list[QAItem]:
    """``items`` over the spec's ``segment_seconds`` segments (``mode`` as in ``segment_items``)."""
    from ecgbyte.data.items import segment_items

    return segment_items(
        items, data.get("segment_seconds"), record_seconds=float(data.get("record_seconds", 10.0)), mode=mode
    )


def fit_ecg_tokenizer(
    cfg: TrainConfig,
    train_items: list[QAItem],
    *,
    data: dict[str, Any],
    seed: int,
    progress: bool = True,
    **options: Any,
) -> EcgTokenizer:
    """A new ECG tokenizer for ``cfg.ecg_input`` trained on the ECGs of ``train_items``.

    The class is the one :data:`ecgbyte.ecg_tokenizer.ECG_INPUTS` names for the input kind
    (``tokens``: ECG-Byte, ``options["n_merges"]`` merges; ``encoder``: the two-stage baseline's
    stage 1, ``options["encoder_epochs"]`` / ``["encoder_steps"]``); it preprocesses as the dataset
    prescribes (:func:`ecgbyte.data.registry.preprocess_config_of`). A spec with a
    ``"representation"`` (a preset name of :mod:`ecgbyte.presets`, e.g. ``"compact"``) trains that
    preset's ECG-Byte tokenizer on the raw ECGs instead.
    """
    from ecgbyte.data.items import unique_ecgs
    from ecgbyte.data.registry import preprocess_config_of

    if data.get("representation") is not None and cfg.ecg_input == "tokens":
        from ecgbyte.preset_tokenizer import train_preset

        # a named representation (ecgbyte.presets) brings its own leads, pipeline, quantizer and merges
        return train_preset(unique_ecgs(train_items), data["representation"], seed=seed, progress=progress)
    pre = preprocess_config_of(data)
    cls = tokenizer_class(ECG_INPUTS[cfg.ecg_input])
    return cls.fit(
        unique_ecgs(train_items),
        cfg,
        leads=dataset_leads(data, cfg),
        fs=float(pre.target_fs),
        preprocess=pre,
        seed=seed,
        progress=progress,
        **options,
    )


def representation_of(tok: EcgTokenizer, data: dict[str, Any]) -> dict[str, Any]:
    """What the model reads, as stored in a run's config (``extra["representation"]``)."""
    pre = getattr(tok, "preprocess", None)
    merges = getattr(tok, "merges", None)
    preset = getattr(tok, "preset", None)
    return {
        "preset": preset.name if preset is not None else None,
        "ecg_tokenizer_format": tok.format,
        "leads": list(tok.leads),
        "preprocess": pre.to_dict() if pre is not None else None,
        "n_merges": len(merges) if merges is not None else None,
        "segment_seconds": data.get("segment_seconds"),
    }


def describe_run(cfg: TrainConfig, data: dict[str, Any], tok: EcgTokenizer) -> str:
    """What a run trains on and how, in a few lines (printed at its start)."""
    pre = getattr(tok, "preprocess", None)
    if pre is not None:
        band = f"band-pass {pre.bandpass_low:g}-{pre.bandpass_high:g} Hz" if pre.bandpass else "no band-pass"
        notch = f"notch {'/'.join(f'{f:g}' for f in pre.notch_freqs)} Hz" if pre.notch else "no notch"
        filt = f"{notch}, {band}, " + (f"wavelet {pre.wavelet}" if pre.denoise else "no denoising")
        signal = f"{len(tok.leads)} leads ({','.join(tok.leads)}) at {pre.target_fs:g} Hz; {filt}"
    else:
        signal = f"{type(tok).__name__} ({tok.format})"
    seg = data.get("segment_seconds")
    seg_text = f"{seg:g} s segments, each its own example" if seg else "whole ECGs"
    n_merges = representation_of(tok, data)["n_merges"]
    merges = f", {n_merges} merges" if n_merges is not None else ""
    opt = f"{cfg.optimizer} (betas {cfg.betas[0]:g}/{cfg.betas[1]:g}, weight decay {cfg.weight_decay:g})"
    if cfg.schedule == "noam":
        sched = f"noam (warmup {cfg.warmup_steps}, d_model {cfg.noam_d_model or 'from the model'})"
    else:
        sched = f"{cfg.schedule} (peak {cfg.lr:g}, warmup {cfg.warmup_steps})"
    ft = (
        f"LoRA r{cfg.lora_r}/alpha {cfg.lora_alpha}/dropout {cfg.lora_dropout:g} on {','.join(cfg.lora_targets)}, "
        f"new embedding rows {'trained' if cfg.train_ecg_rows else 'frozen'} ({cfg.new_rows_init} init)"
        if cfg.finetune == "lora"
        else "full fine-tuning"
    )
    return (
        f"dataset {data.get('name')}: {signal}; {seg_text}; ECG tokens {tok.vocab_size}{merges}\n"
        f"model {cfg.model}: {ft}; {opt}; schedule {sched}; batch {cfg.batch_size} x {cfg.grad_accum}, "
        f"context {cfg.max_length}, grad clip {cfg.grad_clip:g}"
    )


def train_elm(
    cfg: TrainConfig,
    out: str | os.PathLike[str],
    *,
    data: dict[str, Any],
    ecg_tokenizer: EcgTokenizer | str | os.PathLike[str] | None = None,
    n_merges: int = 1000,
    encoder_epochs: float = 5.0,
    encoder_steps: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train an ECG language model on a named dataset into run directory ``out`` (``ecgbyte train``).

    Parameters
    ----------
    cfg : the run's ``TrainConfig``; ``data`` is stored in its ``extra["data"]``.
    out : run directory.
    data : dataset spec, e.g. ``{"name": "synthetic", "n_ecgs": 1200, "seed": 0, "target_fs": 50,
        "leads": ["II", "V1"]}`` or ``{"name": "ecgqa", "ecgqa_dir": ..., "records": ...}``.
    ecg_tokenizer : an ECG tokenizer object or folder; ``None`` trains one (or, on resume, reuses
        the run's own).
    n_merges : BPE merges of a new ECG-Byte tokenizer.
    encoder_epochs, encoder_steps : stage-1 pretraining of a new two-stage encoder.
    seed : seeds a new ECG tokenizer (default: ``cfg.seed``).
    resume : continue the run in ``out`` from its latest checkpoint.
    cache_dir : optional on-disk cache of encoded ECGs.

    Returns
    -------
    The training summary of :func:`ecgbyte.elm.train.train`.
    """
    from ecgbyte.data.registry import load_splits
    from ecgbyte.elm.run import claim_run_dir
    from ecgbyte.elm.train import train

    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(f"the dataset spec needs a 'name' (e.g. 'synthetic'), got {data!r}")
    out = Path(out)
    claim_run_dir(out, resume=resume)  # a foreign non-empty folder is refused before any work
    if cfg.model != "tiny" and not resume:  # before any data or tokenizer work
        from ecgbyte.elm.model import check_model_path, check_tokenizer_files

        check_tokenizer_files(check_model_path(cfg.model))
    cfg.extra = {**cfg.extra, "data": data}
    splits = load_splits(data)
    train_items = training_items(data, splits["train"])
    saved = out / "ecg_tokenizer"
    if isinstance(ecg_tokenizer, (str, os.PathLike)):
        tok = load_ecg_tokenizer(ecg_tokenizer)
    elif ecg_tokenizer is not None:
        tok = ecg_tokenizer
    elif resume and saved.is_dir():
        tok = load_ecg_tokenizer(saved)
    else:
        tok = fit_ecg_tokenizer(
            cfg,
            splits["train"],
            data=data,
            seed=cfg.seed if seed is None else seed,
            n_merges=n_merges,
            encoder_epochs=encoder_epochs,
            encoder_steps=encoder_steps,
            progress=progress,
        )
        if cfg.ecg_input == "encoder":
            from ecgbyte.fileio import write_json

            keep = ("objective", "steps", "n_ecgs", "n_parameters", "wall_s")
            write_json(out / "stage1.json", {k: tok.info[k] for k in keep})
    if data.get("representation") is not None:
        from ecgbyte.presets import check_preset

        where = str(ecg_tokenizer) if isinstance(ecg_tokenizer, (str, os.PathLike)) else "the ECG tokenizer"
        check_preset(tok, data["representation"], where=where)  # a folder of another representation: one line
    cfg.extra = {**cfg.extra, "representation": representation_of(tok, data)}
    log.info("%s", describe_run(cfg, data, tok))
    return train(
        cfg,
        train_items,
        ecg_tokenizer=tok,
        run_dir=out,
        resume=resume,
        progress=progress,
        cache_dir=cache_dir,
    )


__all__ = [
    "dataset_leads",
    "describe_run",
    "fit_ecg_tokenizer",
    "representation_defaults",
    "train_elm",
    "training_items",
]
