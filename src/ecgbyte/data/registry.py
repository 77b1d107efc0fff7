"""Named datasets for ``ecgbyte train`` / ``ecgbyte generate``: a spec dict -> patient-level splits.

A run stores its dataset spec in ``TrainConfig.extra["data"]`` (e.g. ``{"name": "synthetic",
"n_ecgs": 1200, "seed": 0, "target_fs": 50, "leads": ["II", "V1"]}``) so that generation rebuilds exactly
the same splits. Loaders for real datasets register here with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecgbyte.data.items import QAItem
from ecgbyte.errors import DatasetError

Loader = Callable[[dict[str, Any]], dict[str, list[QAItem]]]
_LOADERS: dict[str, Loader] = {}


def register(name: str, loader: Loader) -> None:
    """Make ``loader(spec) -> {"train": [...], "valid": [...], "test": [...]}`` available as ``name``."""
    _LOADERS[name] = loader


def load_splits(spec: dict[str, Any]) -> dict[str, list[QAItem]]:
    """Build the splits a dataset spec describes; ``DatasetError`` for an unknown name."""
    name = spec.get("name")
    if name not in _LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(_LOADERS))}")
    return _LOADERS[name](spec)


def _synthetic(spec: dict[str, Any]) -> dict[str, list[QAItem]]:
    from ecgbyte.data.synthetic_qa import synthetic_splits

    return synthetic_splits(
        int(spec.get("n_ecgs", 1200)),
        seed=int(spec.get("seed", 0)),
        target_fs=float(spec.get("target_fs", 50.0)),
        leads=tuple(spec.get("leads", ("II", "V1"))),
        question_types=tuple(spec.get("question_types", ("rate", "rhythm"))),
    )


def _synthetic_report(spec: dict[str, Any]) -> dict[str, list[QAItem]]:
    from ecgbyte.data.synthetic_report import synthetic_report_splits

    return synthetic_report_splits(
        int(spec.get("n_ecgs", 1200)),
        seed=int(spec.get("seed", 0)),
        target_fs=float(spec.get("target_fs", 50.0)),
        leads=tuple(spec.get("leads", ("II", "V1"))),
    )


# {"name": "synthetic", ..., "question_types": ["rate", "rhythm", "qrs", "st", "ectopic", "rhythm_change"]}
# (default rate + rhythm); {"name": "synthetic_report", ...}: one free-text report per ECG
register("synthetic", _synthetic)
register("synthetic_report", _synthetic_report)


def _lazy(module: str) -> Loader:
    """A loader that imports ``module`` and calls its ``splits_from_spec`` when first used."""

    def load(spec: dict[str, Any]) -> dict[str, list[QAItem]]:
        import importlib

        return importlib.import_module(module).splits_from_spec(spec)

    return load


# Real datasets; each spec names its files, e.g.
#   {"name": "ecgqa", "ecgqa_dir": ".../ecg-qa/ptbxl", "records": ".../ptb-xl", "variant": "template"}
#   {"name": "ecgchat", "json": ".../pretrain_mimic.json", "root": ".../mimic-iv-ecg"}
#   {"name": "ptbxl_reports", "ptbxl_dir": ".../ptb-xl"}
register("ecgqa", _lazy("ecgbyte.data.ecgqa"))
register("ecgchat", _lazy("ecgbyte.data.ecgchat"))
register("ptbxl_reports", _lazy("ecgbyte.data.ptbxl_reports"))


SYNTHETIC_DATASETS = frozenset({"synthetic", "synthetic_report"})


def preprocess_config_of(spec: dict[str, Any]) -> Any:
    """The preprocessing a dataset's ECGs get (the representation is part of the recipe).

    Real records: the paper's ``PreprocessConfig`` (notch 50/60 Hz, band-pass 0.5-100 Hz, baseline
    high-pass 0.05 Hz, db6 wavelet denoising, resampled to ``spec["target_fs"]``, 250 Hz by
    default; the band-pass top is lowered to 0.4 x the rate below 250 Hz, under Nyquist).
    Synthetic data: the demo's low-rate config
    (:func:`ecgbyte.data.synthetic_qa.preprocess_config_for`, 50 Hz by default).
    """
    from ecgbyte.signal import PreprocessConfig

    if spec.get("name") in SYNTHETIC_DATASETS:
        from ecgbyte.data.synthetic_qa import preprocess_config_for

        return preprocess_config_for(float(spec.get("target_fs", 50.0)))
    fs = float(spec.get("target_fs", 250.0))
    return PreprocessConfig(target_fs=fs, bandpass_high=min(100.0, 0.4 * fs), segment_length=None)


def known_datasets() -> list[str]:
    """Names accepted by :func:`load_splits`."""
    return sorted(_LOADERS)
