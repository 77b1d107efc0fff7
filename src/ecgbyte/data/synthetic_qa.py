"""Synthetic ECG question answering built from the labels of ``ecgbyte.signal.synth``.

The embedded default dataset: every synthetic ECG carries ``meta["labels"]`` (heart rate,
rhythm, ...) and a ``patient_id``; this module turns each ECG into one item per question type:

- ``rate``: "What is the heart rate class of this ECG?" -> ``bradycardia`` (< 60 bpm),
  ``normal`` (60-100 bpm) or ``tachycardia`` (> 100 bpm);
- ``rhythm``: "What is the rhythm of this ECG?" -> ``sinus rhythm`` or ``atrial fibrillation``;

and, on request (``question_types``), morphology across leads and findings confined in time:

- ``qrs``: "Is the QRS complex wide or normal?" -> ``wide`` (>= 120 ms) or ``normal``;
- ``st``: "Is the ST segment elevated, depressed or neither?" -> ``elevation``, ``depression`` or ``none``;
- ``ectopic``: "Is there an ectopic beat in this ECG?" -> ``yes`` (one premature ventricular
  complex somewhere in the strip) or ``no``;
- ``rhythm_change``: "Does the rhythm change during the recording?" -> ``yes`` (atrial
  fibrillation starting mid-strip) or ``no``.

Every item's ``meta`` says where its evidence lies: ``evidence_after_s`` is the earliest time
(seconds from the record's start) from which the answer can be read: the time of a localized
finding (the ectopic beat, the AF onset), 0.0 for properties of every beat (rate, QRS width, ST,
AF throughout), and the record's length for an absence (``no`` to ``ectopic`` or
``rhythm_change``: only the whole strip shows that nothing happens); ``late_evidence`` is
``evidence_after_s >= LATE_EVIDENCE_S`` (3 s, about what a 1,024-token context shows of a
12-lead ECG with the paper's tokenizer), so benchmarks can split "late" from "early" questions.

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
    "qrs": (
        "Is the QRS complex wide or normal?",
        "Is the QRS duration wide or normal?",
        "Are the QRS complexes wide or of normal width?",
    ),
    "st": (
        "Is the ST segment elevated, depressed or neither?",
        "Does this ECG show ST elevation, ST depression or none?",
        "Classify the ST deviation: elevation, depression or none.",
    ),
    "ectopic": (
        "Is there an ectopic beat in this ECG?",
        "Does this ECG contain a premature ventricular complex?",
        "Is any beat premature and wide, an ectopic beat?",
    ),
    "rhythm_change": (
        "Does the rhythm change during the recording?",
        "Does atrial fibrillation start during this ECG?",
        "Is there a change of rhythm within the strip?",
    ),
}
BASIC_TYPES: tuple[str, ...] = ("rate", "rhythm")
MORPHOLOGY_TYPES: tuple[str, ...] = ("qrs", "st", "ectopic", "rhythm_change")
ALL_TYPES: tuple[str, ...] = BASIC_TYPES + MORPHOLOGY_TYPES
LATE_EVIDENCE_S = 3.0
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


def qrs_answer(ecg: Ecg) -> str:
    """``wide`` or ``normal`` from ``wide_qrs`` (else ``qrs_duration_ms >= 120``)."""
    labels = _labels(ecg)
    if "wide_qrs" in labels:
        return "wide" if labels["wide_qrs"] else "normal"
    if "qrs_duration_ms" in labels:
        return "wide" if float(labels["qrs_duration_ms"]) >= 120.0 else "normal"
    raise DatasetError(f"ECG {ecg.name}: labels have no wide_qrs or qrs_duration_ms ({sorted(labels)})")


def st_answer(ecg: Ecg) -> str:
    """``elevation``, ``depression`` or ``none`` from the ``st_deviation`` label."""
    raw = _labels(ecg).get("st_deviation")
    if raw not in ("none", "elevation", "depression"):
        raise DatasetError(f"ECG {ecg.name}: st_deviation label {raw!r} is not none/elevation/depression")
    return str(raw)


def _flag(ecg: Ecg, key: str) -> bool:
    labels = _labels(ecg)
    if key not in labels:
        raise DatasetError(
            f"ECG {ecg.name}: labels have no {key!r}; regenerate with ecgbyte.signal.synth.synthesize"
        )
    return bool(labels[key])


def ectopic_answer(ecg: Ecg) -> str:
    """``yes`` when the ECG holds an ectopic beat (``ectopic_beat`` label), else ``no``."""
    return "yes" if _flag(ecg, "ectopic_beat") else "no"


def rhythm_change_answer(ecg: Ecg) -> str:
    """``yes`` when atrial fibrillation starts mid-strip (``paroxysmal_af`` label), else ``no``."""
    return "yes" if _flag(ecg, "paroxysmal_af") else "no"


ANSWERERS = {
    "rate": rate_answer,
    "rhythm": rhythm_answer,
    "qrs": qrs_answer,
    "st": st_answer,
    "ectopic": ectopic_answer,
    "rhythm_change": rhythm_change_answer,
}


def evidence_after_s(ecg: Ecg, question_type: str) -> float:
    """Earliest time (s) from which the answer to ``question_type`` can be read off ``ecg``.

    See the module docstring: a localized finding's time, 0.0 for a property of every beat, the
    record's length for an absence.
    """
    labels = _labels(ecg)
    length = round(ecg.signal.shape[-1] / ecg.fs, 3)
    if question_type == "ectopic":
        return float(labels["ectopic_beat_s"]) if _flag(ecg, "ectopic_beat") else length
    if question_type == "rhythm_change":
        return float(labels["af_onset_s"]) if _flag(ecg, "paroxysmal_af") else length
    if question_type == "rhythm" and labels.get("paroxysmal_af"):
        return float(labels["af_onset_s"])
    return 0.0


def evidence_meta(ecg: Ecg, question_type: str) -> dict[str, Any]:
    """``{"evidence_after_s": ..., "late_evidence": ...}`` for an item's ``meta``."""
    after = evidence_after_s(ecg, question_type)
    return {"evidence_after_s": after, "late_evidence": bool(after >= LATE_EVIDENCE_S)}


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
    list of QAItem, ``item_id = "<record_id>/<type>"``, ``meta`` with ``question_type``,
    ``evidence_after_s`` and ``late_evidence``.
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
                    meta={"question_type": qt, **evidence_meta(ecg, qt)},
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
    question_types: Sequence[str] = BASIC_TYPES,
) -> dict[str, list[QAItem]]:
    """Synthesize, preprocess and split the synthetic QA dataset (deterministic in ``seed``).

    ECGs are 10 s at 500 Hz from ``synth.synthesize`` (``balanced``: half atrial fibrillation,
    a third per rate class; with any of :data:`MORPHOLOGY_TYPES` asked, :func:`synth_config_for`'s
    morphology balance instead), restricted to ``leads`` and preprocessed to ``target_fs`` Hz
    (band-pass upper edge ``min(40, 0.4 * target_fs)`` Hz); the split is by patient. The default
    ``question_types`` (rate, rhythm) give exactly the dataset of earlier versions.
    """
    from ecgbyte.data.splits import split_by_patient

    ecgs = synthetic_ecgs(
        n_ecgs,
        seed=seed,
        target_fs=target_fs,
        leads=leads,
        balanced=balanced,
        morphology=any(q in MORPHOLOGY_TYPES for q in question_types),
    )
    items = build_synthetic_qa(ecgs, seed=seed, question_types=question_types)
    return split_by_patient(items, fractions=fractions, seed=seed)


def synth_config_for(*, balanced: bool = True, morphology: bool = False) -> Any:
    """The ``SynthConfig`` of the synthetic datasets (None: the generator's defaults).

    ``balanced``: half AF, a third per rate class. ``morphology`` adds balance for the morphology
    and late-finding questions: half the patients with a wide QRS, a third per ST class, one
    ectopic beat in half the ECGs, AF starting mid-strip in 80% of the AF ECGs (times uniform in 1-9 s).
    """
    from ecgbyte.signal.synth import SynthConfig

    if not balanced and not morphology:
        return None
    cfg: dict[str, Any] = {"p_af": 0.5, "rate_class_probs": (1 / 3, 1 / 3, 1 / 3)} if balanced else {}
    if morphology:
        cfg.update(
            p_wide_qrs=0.5,
            st_probs=(1 / 3, 1 / 3, 1 / 3),
            p_ectopic=0.5,
            p_paroxysmal_af=0.8,
            ectopic_window_s=(1.0, 9.0),
            af_onset_window_s=(1.0, 9.0),
        )
    return SynthConfig(**cfg)


def synthetic_ecgs(
    n_ecgs: int,
    *,
    seed: int,
    target_fs: float = 50.0,
    leads: Sequence[str] = ("II",),
    balanced: bool = True,
    morphology: bool = False,
) -> list[Ecg]:
    """The preprocessed ECGs of the synthetic datasets (10 s, 500 Hz synthesized, then ``leads`` at ``target_fs``)."""
    from ecgbyte.signal import preprocess
    from ecgbyte.signal.synth import synthesize

    cfg = synth_config_for(balanced=balanced, morphology=morphology)
    raw = synthesize(n_ecgs, seed=seed, fs=500.0, duration_s=10.0, config=cfg)
    pre = preprocess_config_for(target_fs)
    return [preprocess(e.select_leads(tuple(leads)), pre) for e in raw]


def preprocess_config_for(target_fs: float) -> Any:
    """The ``PreprocessConfig`` :func:`synthetic_splits` uses (so a tokenizer can be trained to match)."""
    from ecgbyte.signal import PreprocessConfig

    return PreprocessConfig(
        target_fs=target_fs, bandpass_high=min(40.0, 0.4 * target_fs), segment_length=None
    )
