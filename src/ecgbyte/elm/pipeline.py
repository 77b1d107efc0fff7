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

import os
from pathlib import Path
from typing import Any

from ecgbyte.data.items import QAItem
from ecgbyte.ecg_tokenizer import ECG_INPUTS, EcgTokenizer, load_ecg_tokenizer, tokenizer_class
from ecgbyte.elm.config import TrainConfig
from ecgbyte.errors import ConfigError


def dataset_leads(data: dict[str, Any], cfg: TrainConfig) -> tuple[str, ...]:
    """The leads a new ECG tokenizer encodes: the spec's ``leads``, else the config's ``keep_leads``."""
    leads = data.get("leads") or cfg.keep_leads
    if not leads:
        raise ConfigError("no leads for the ECG tokenizer: put 'leads' in the dataset spec or set keep_leads")
    return tuple(leads)


def fit_ecg_tokenizer(
    cfg: TrainConfig,
    train_items: list[QAItem],
    *,
    leads: tuple[str, ...],
    fs: float,
    seed: int,
    progress: bool = True,
    **options: Any,
) -> EcgTokenizer:
    """A new ECG tokenizer for ``cfg.ecg_input`` trained on the ECGs of ``train_items``.

    The class is the one :data:`ecgbyte.ecg_tokenizer.ECG_INPUTS` names for the input kind
    (``tokens``: ECG-Byte, ``options["n_merges"]`` merges; ``encoder``: the two-stage baseline's
    stage 1, ``options["encoder_epochs"]`` / ``["encoder_steps"]``); it preprocesses with the
    dataset's config at ``fs`` Hz.
    """
    from ecgbyte.data.items import unique_ecgs
    from ecgbyte.data.synthetic_qa import preprocess_config_for

    cls = tokenizer_class(ECG_INPUTS[cfg.ecg_input])
    return cls.fit(
        unique_ecgs(train_items),
        cfg,
        leads=leads,
        fs=fs,
        preprocess=preprocess_config_for(fs),
        seed=seed,
        progress=progress,
        **options,
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
    from ecgbyte.elm.train import train

    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(f"the dataset spec needs a 'name' (e.g. 'synthetic'), got {data!r}")
    out = Path(out)
    cfg.extra = {**cfg.extra, "data": data}
    splits = load_splits(data)
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
            leads=dataset_leads(data, cfg),
            fs=float(data.get("target_fs", 50.0)),
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
    return train(
        cfg,
        splits["train"],
        ecg_tokenizer=tok,
        run_dir=out,
        resume=resume,
        progress=progress,
        cache_dir=cache_dir,
    )


__all__ = ["dataset_leads", "fit_ecg_tokenizer", "train_elm"]
