"""Datasets for ECG language models: the ``QAItem`` type, loaders, patient splits, sequences.

Torch is imported lazily (only :mod:`ecgbyte.data.sequences` collation needs it).
"""

from __future__ import annotations

from ecgbyte.data.items import QAItem, ecg_key, load_ecg
from ecgbyte.data.splits import check_disjoint, split_by_fold, split_by_patient
from ecgbyte.data.synthetic_qa import build_synthetic_qa

__all__ = [
    "QAItem",
    "build_synthetic_qa",
    "check_disjoint",
    "ecg_key",
    "load_ecg",
    "split_by_fold",
    "split_by_patient",
]
