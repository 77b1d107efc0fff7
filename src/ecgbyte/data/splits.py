"""Patient-level train/validation/test splits, with a hard check that no patient leaks.

Either honour a fold column already in the data (PTB-XL ``strat_fold``: by default folds 1-8
train, 9 validation, 10 test, as PTB-XL recommends) or draw a seeded split over patients.
:func:`check_disjoint` raises :class:`~ecgbyte.errors.DatasetError` if any patient appears in two
splits; both split functions call it before returning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ecgbyte.data.items import QAItem
from ecgbyte.errors import DatasetError

SPLITS = ("train", "valid", "test")
PTBXL_FOLDS: dict[str, tuple[int, ...]] = {"train": (1, 2, 3, 4, 5, 6, 7, 8), "valid": (9,), "test": (10,)}


def check_disjoint(splits: Mapping[str, Sequence[QAItem]]) -> None:
    """Raise ``DatasetError`` naming the first patients found in more than one split."""
    owner: dict[str, str] = {}
    clashes: list[str] = []
    for name, items in splits.items():
        for it in items:
            prev = owner.setdefault(it.patient_id, name)
            if prev != name:
                clashes.append(f"{it.patient_id} ({prev} and {name})")
    if clashes:
        shown = ", ".join(sorted(set(clashes))[:5])
        raise DatasetError(
            f"patient-level split violated: {len(set(clashes))} patient(s) in two splits: {shown}"
        )


def split_by_patient(
    items: Sequence[QAItem],
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int,
) -> dict[str, list[QAItem]]:
    """Seeded split of the patients into train/valid/test with the given fractions.

    Patients are sorted, shuffled with ``np.random.default_rng(seed)`` and cut by cumulative
    fraction; each item follows its patient. Items keep their input order inside a split.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise DatasetError(
            f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}"
        )
    patients = sorted({it.patient_id for it in items})
    order = np.random.default_rng(seed).permutation(len(patients))
    cuts = np.round(np.cumsum(fractions) * len(patients)).astype(int)
    where: dict[str, str] = {}
    for rank, idx in enumerate(order):
        name = SPLITS[int(np.searchsorted(cuts, rank, side="right"))] if rank < cuts[-1] else SPLITS[-1]
        where[patients[idx]] = name
    out: dict[str, list[QAItem]] = {s: [] for s in SPLITS}
    for it in items:
        out[where[it.patient_id]].append(it)
    check_disjoint(out)
    return out


def split_by_fold(
    items: Sequence[QAItem],
    *,
    fold_key: str = "fold",
    folds: Mapping[str, Sequence[int]] = PTBXL_FOLDS,
) -> dict[str, list[QAItem]]:
    """Split by a fold number stored in ``item.meta[fold_key]`` (e.g. PTB-XL ``strat_fold``).

    An item without the key, or with a fold not listed in ``folds``, raises ``DatasetError``.
    PTB-XL assigns folds per patient, so the result is checked to be patient-disjoint.
    """
    lookup = {int(f): name for name, fs in folds.items() for f in fs}
    out: dict[str, list[QAItem]] = {name: [] for name in folds}
    for it in items:
        if fold_key not in it.meta:
            raise DatasetError(
                f"QA item {it.item_id!r} has no meta[{fold_key!r}]; use split_by_patient instead"
            )
        try:
            fold = int(it.meta[fold_key])
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                f"QA item {it.item_id!r}: fold {it.meta[fold_key]!r} is not an integer"
            ) from exc
        if fold not in lookup:
            raise DatasetError(f"QA item {it.item_id!r}: fold {fold} is in no split of {dict(folds)}")
        out[lookup[fold]].append(it)
    check_disjoint(out)
    return out
