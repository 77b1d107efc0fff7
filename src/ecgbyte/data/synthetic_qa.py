"""Synthetic ECG question answering built from the labels of ``ecgbyte.signal.synth``.

The embedded default dataset: every synthetic ECG carries ``meta["labels"]`` (heart rate,
rhythm, ...) and a ``patient_id``; this module turns each ECG into one item per question type:

- ``rate``: "What is the heart rate class of this ECG?" -> ``bradycardia`` (< 60 bpm),
  ``normal`` (60-100 bpm) or ``tachycardia`` (> 100 bpm);
- ``rhythm``: "What is the rhythm of this ECG?" -> ``sinus rhythm`` or ``atrial fibrillation``.

Question wording is drawn from a few paraphrases with a seeded generator, so a model cannot
key on one fixed string. Labels never reach the model input: they only become answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgbyte.data.items import QAItem
from ecgbyte.ecg import Ecg
from ecgbyte.errors import DatasetError
from ecgbyte.signal.synth import rate_class

QUESTIONS: dict[str, tuple[str, ...]] = {
    "rate": (
        "What is the heart rate class of this ECG?",
        "Is the heart rate slow, normal or fast?",
        "Classify the rate of this ECG.",
    ),
    "rhythm": (
        "What is the rhythm of this ECG?",
        "Which rhythm does this ECG show?",
        "Name the cardiac rhythm.",
    ),
}
RATE_ANSWERS = ("bradycardia", "normal", "tachycardia")
RHYTHM_ANSWERS = ("sinus rhythm", "atrial fibrillation")


def _labels(ecg: Ecg) -> dict[str, Any]:
    labels = ecg.meta.get("labels")
    if not isinstance(labels, dict):
        raise DatasetError(
            f"ECG {ecg.name}: no meta['labels'] dict; synthetic QA needs synth.synthesize output"
        )
    return labels


def rate_answer(ecg: Ecg) -> str:
    """The rate-class answer of a synthetic ECG (``rate_class`` label, else from the heart rate)."""
    labels = _labels(ecg)
    cls = labels.get("rate_class")
    if isinstance(cls, str) and cls.lower() in RATE_ANSWERS:
        return cls.lower()
    for key in ("heart_rate_bpm", "heart_rate", "hr_bpm", "hr", "rate_bpm"):
        if key in labels:
            return rate_class(float(labels[key]))
    raise DatasetError(f"ECG {ecg.name}: labels have no rate_class or heart rate ({sorted(labels)})")


def rhythm_answer(ecg: Ecg) -> str:
    """``sinus rhythm`` or ``atrial fibrillation`` from the ``rhythm`` label (any spelling)."""
    labels = _labels(ecg)
    raw = labels.get("rhythm")
    if raw is None:
        raw = "afib" if labels.get("af") or labels.get("atrial_fibrillation") else None
    if raw is None:
        raise DatasetError(f"ECG {ecg.name}: labels have no rhythm ({sorted(labels)})")
    text = str(raw).lower().replace("_", " ")
    if "fib" in text or text in ("af", "afib"):
        return "atrial fibrillation"
    if "sinus" in text or text in ("sr", "nsr", "normal"):
        return "sinus rhythm"
    raise DatasetError(f"ECG {ecg.name}: rhythm label {raw!r} is neither sinus nor atrial fibrillation")


ANSWERERS = {"rate": rate_answer, "rhythm": rhythm_answer}


def build_synthetic_qa(
    ecgs: Sequence[Ecg],
    *,
    seed: int,
    question_types: Sequence[str] = ("rate", "rhythm"),
) -> list[QAItem]:
    """One ``QAItem`` per ECG and question type, with a seeded choice of paraphrase.

    Parameters
    ----------
    ecgs : synthetic ECGs with ``meta["labels"]`` and ``patient_id`` (``synth.synthesize``).
    seed : seeds the paraphrase choice.
    question_types : subset of ``QUESTIONS`` keys.

    Returns
    -------
    list of QAItem, ``item_id = "<record_id>/<type>"``, ``meta["question_type"]`` set.
    """
    unknown = [q for q in question_types if q not in QUESTIONS]
    if unknown:
        raise DatasetError(f"unknown synthetic question type(s) {unknown}; choose from {sorted(QUESTIONS)}")
    rng = np.random.default_rng(seed)
    items: list[QAItem] = []
    for i, ecg in enumerate(ecgs):
        rid = ecg.record_id or f"synth-{i:06d}"
        if ecg.record_id is None:
            ecg = ecg.replace(record_id=rid)
        pid = ecg.patient_id or rid
        for qt in question_types:
            phrasings = QUESTIONS[qt]
            q = phrasings[int(rng.integers(len(phrasings)))]
            items.append(
                QAItem(
                    item_id=f"{rid}/{qt}",
                    patient_id=pid,
                    ecgs=(ecg,),
                    question=q,
                    answer=ANSWERERS[qt](ecg),
                    meta={"question_type": qt},
                )
            )
    return items


def synthetic_splits(
    n_ecgs: int,
    *,
    seed: int,
    target_fs: float = 50.0,
    leads: Sequence[str] = ("II",),
    fractions: Sequence[float] = (0.8, 0.0, 0.2),
    balanced: bool = True,
) -> dict[str, list[QAItem]]:
    """Synthesize, preprocess and split the synthetic QA dataset (deterministic in ``seed``).

    ECGs are 10 s at 500 Hz from ``synth.synthesize`` (``balanced``: half atrial fibrillation,
    a third per rate class), restricted to ``leads`` and preprocessed to ``target_fs`` Hz
    (band-pass upper edge ``min(40, 0.4 * target_fs)`` Hz); the split is by patient.
    """
    from ecgbyte.data.splits import split_by_patient
    from ecgbyte.signal import preprocess
    from ecgbyte.signal.synth import SynthConfig, synthesize

    cfg = SynthConfig(p_af=0.5, rate_class_probs=(1 / 3, 1 / 3, 1 / 3)) if balanced else None
    raw = synthesize(n_ecgs, seed=seed, fs=500.0, duration_s=10.0, config=cfg)
    pre = preprocess_config_for(target_fs)
    ecgs = [preprocess(e.select_leads(tuple(leads)), pre) for e in raw]
    return split_by_patient(build_synthetic_qa(ecgs, seed=seed), fractions=fractions, seed=seed)


def preprocess_config_for(target_fs: float) -> Any:
    """The ``PreprocessConfig`` :func:`synthetic_splits` uses (so a tokenizer can be trained to match)."""
    from ecgbyte.signal import PreprocessConfig

    return PreprocessConfig(
        target_fs=target_fs, bandpass_high=min(40.0, 0.4 * target_fs), segment_length=None
    )
