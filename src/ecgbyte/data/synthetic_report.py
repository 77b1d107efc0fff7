"""Free-text reports of synthetic ECGs, written from their labels in varied phrasings.

The free-text counterpart of :mod:`ecgbyte.data.synthetic_qa`: :func:`synthetic_report` turns the
labels of one :func:`ecgbyte.signal.synth.synthesize` ECG into a short report, one sentence per
finding, each drawn from a few paraphrases with a seeded generator, e.g.::

    Sinus rhythm at 72 bpm. Normal QRS duration. ST elevation in the inferior leads.
    One premature ventricular complex at 6.4 s.

Every report states the rhythm (with the AF onset time when AF starts mid-strip), the heart rate
in bpm (and the rate class where it is not normal), the QRS width, the ST deviation and the
ectopy (with the ectopic beat's time); so BLEU, METEOR and ROUGE compare content, not a template.
:func:`build_synthetic_reports` makes one item per ECG ("Write the report of this ECG." -> the
report), and :func:`synthetic_report_splits` is the dataset ``synthetic_report`` of the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ecgbyte.data.items import QAItem
from ecgbyte.data.synthetic_qa import LATE_EVIDENCE_S
from ecgbyte.ecg import Ecg
from ecgbyte.errors import DatasetError

REPORT_QUESTION = "Write the report of this ECG."
REPORT_KEYS: tuple[str, ...] = (
    "heart_rate_bpm",
    "rate_class",
    "rhythm",
    "wide_qrs",
    "qrs_duration_ms",
    "st_deviation",
    "st_deviation_mv",
)

_SINUS = {
    "normal": (
        "Sinus rhythm at {hr} bpm.",
        "Sinus rhythm, heart rate {hr} bpm.",
        "Normal sinus rhythm, {hr} bpm.",
    ),
    "bradycardia": (
        "Sinus bradycardia at {hr} bpm.",
        "Sinus rhythm with bradycardia, {hr} bpm.",
        "Slow sinus rhythm (bradycardia), {hr} bpm.",
    ),
    "tachycardia": (
        "Sinus tachycardia at {hr} bpm.",
        "Sinus rhythm with tachycardia, {hr} bpm.",
        "Fast sinus rhythm (tachycardia), {hr} bpm.",
    ),
}
_AF = (
    "Atrial fibrillation{rate} at {hr} bpm.",
    "Atrial fibrillation{rate}, ventricular rate {hr} bpm.",
    "Irregular rhythm: atrial fibrillation{rate}, {hr} bpm.",
)
_AF_ONSET = (
    "Sinus rhythm changing to atrial fibrillation at {onset} s{rate}; mean rate {hr} bpm.",
    "Atrial fibrillation starting at {onset} s after sinus rhythm{rate}, {hr} bpm on average.",
    "Sinus rhythm, then paroxysmal atrial fibrillation from {onset} s{rate}; heart rate {hr} bpm.",
)
_AF_RATE = {"normal": "", "bradycardia": " with bradycardia", "tachycardia": " with tachycardia"}
_QRS = {
    False: ("Normal QRS duration.", "Narrow QRS complexes ({qrs} ms), normal width.", "QRS width normal."),
    True: (
        "Wide QRS complexes ({qrs} ms).",
        "Wide QRS, duration {qrs} ms.",
        "QRS duration prolonged: wide QRS.",
    ),
}
_ST = {
    "none": (
        "No ST deviation.",
        "ST segments isoelectric, no ST deviation.",
        "No ST elevation or depression.",
    ),
    "elevation": (
        "ST elevation in the inferior leads.",
        "ST elevation of {mv} mV in II, III and aVF.",
        "Inferior ST elevation.",
    ),
    "depression": (
        "ST depression in the inferior leads.",
        "ST depression of {mv} mV in II, III and aVF.",
        "Inferior ST depression.",
    ),
}
_ECTOPIC = (
    "One premature ventricular complex at {t} s.",
    "A single ventricular ectopic beat at {t} s.",
    "Isolated premature ventricular complex (ectopic beat) at {t} s.",
)
_NO_ECTOPIC = ("No ectopic beats.", "No premature beats.", "No ectopy.")


def synthetic_report(labels: Mapping[str, Any], rng: np.random.Generator) -> str:
    """A short report of one synthetic ECG's labels, phrasings drawn from ``rng``.

    Parameters
    ----------
    labels : ``meta["labels"]`` of a :func:`ecgbyte.signal.synth.synthesize` ECG (needs
        :data:`REPORT_KEYS`; ``ectopic_beat``/``ectopic_beat_s`` and ``paroxysmal_af``/``af_onset_s``
        are read when present, absent meaning no such finding).
    rng : draws one paraphrase per sentence (four draws per report).

    Returns
    -------
    str : four sentences: rhythm and rate, QRS, ST, ectopy. Times are given to 0.1 s, the rate
    in whole bpm, the QRS duration in whole ms, the ST shift to 0.05 mV.

    Examples
    --------
    >>> labels = {"heart_rate_bpm": 71.6, "rate_class": "normal", "rhythm": "sinus", "wide_qrs": False,
    ...           "qrs_duration_ms": 92.0, "st_deviation": "elevation", "st_deviation_mv": 0.21,
    ...           "ectopic_beat": True, "ectopic_beat_s": 6.43}
    >>> synthetic_report(labels, np.random.default_rng(0)).count(".") >= 4
    True
    >>> "72 bpm" in synthetic_report(labels, np.random.default_rng(1))
    True
    """
    missing = [k for k in REPORT_KEYS if k not in labels]
    if missing:
        raise DatasetError(f"synthetic report: labels lack {missing}; regenerate with synth.synthesize")

    def pick(options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    hr, cls = round(float(labels["heart_rate_bpm"])), str(labels["rate_class"])
    if cls not in _SINUS:
        raise DatasetError(f"synthetic report: rate_class {cls!r} is not one of {sorted(_SINUS)}")
    rhythm = str(labels["rhythm"]).lower()
    if labels.get("paroxysmal_af"):
        first = pick(_AF_ONSET).format(hr=hr, onset=f"{float(labels['af_onset_s']):.1f}", rate=_AF_RATE[cls])
    elif "fib" in rhythm:
        first = pick(_AF).format(hr=hr, rate=_AF_RATE[cls])
    elif "sinus" in rhythm:
        first = pick(_SINUS[cls]).format(hr=hr)
    else:
        raise DatasetError(f"synthetic report: rhythm {labels['rhythm']!r} is neither sinus nor AF")
    qrs = pick(_QRS[bool(labels["wide_qrs"])]).format(qrs=round(float(labels["qrs_duration_ms"])))
    st_class = str(labels["st_deviation"])
    if st_class not in _ST:
        raise DatasetError(f"synthetic report: st_deviation {st_class!r} is not one of {sorted(_ST)}")
    mv = f"{round(abs(float(labels['st_deviation_mv'])) * 20) / 20:.2f}"
    st = pick(_ST[st_class]).format(mv=mv)
    if labels.get("ectopic_beat"):
        ectopy = pick(_ECTOPIC).format(t=f"{float(labels['ectopic_beat_s']):.1f}")
    else:
        ectopy = pick(_NO_ECTOPIC)
    return " ".join((first, qrs, st, ectopy))


def build_synthetic_reports(ecgs: Sequence[Ecg], *, seed: int) -> list[QAItem]:
    """One report item per ECG: :data:`REPORT_QUESTION` -> :func:`synthetic_report` of its labels.

    ``item_id = "<record_id>/report"``; ``meta`` holds ``question_type="report"``,
    ``evidence_after_s`` (the latest localized finding's time, 0.0 without one) and ``late_evidence``.
    """
    rng = np.random.default_rng(seed)
    items: list[QAItem] = []
    for i, ecg in enumerate(ecgs):
        labels = ecg.meta.get("labels")
        if not isinstance(labels, dict):
            raise DatasetError(f"ECG {ecg.name}: no meta['labels'] dict; synthetic reports need synth output")
        rid = ecg.record_id or f"synth-{i:06d}"
        times = [float(labels[k]) for k in ("ectopic_beat_s", "af_onset_s") if labels.get(k) is not None]
        after = max(times, default=0.0)
        items.append(
            QAItem(
                item_id=f"{rid}/report",
                patient_id=ecg.patient_id or rid,
                ecgs=(ecg if ecg.record_id else ecg.replace(record_id=rid),),
                question=REPORT_QUESTION,
                answer=synthetic_report(labels, rng),
                meta={
                    "question_type": "report",
                    "evidence_after_s": after,
                    "late_evidence": after >= LATE_EVIDENCE_S,
                },
            )
        )
    return items


def synthetic_report_splits(
    n_ecgs: int,
    *,
    seed: int,
    target_fs: float = 50.0,
    leads: Sequence[str] = ("II",),
    fractions: Sequence[float] = (0.8, 0.0, 0.2),
) -> dict[str, list[QAItem]]:
    """The ``synthetic_report`` dataset: the morphology-balanced synthetic ECGs of
    :func:`ecgbyte.data.synthetic_qa.synthetic_ecgs`, one report item each, split by patient."""
    from ecgbyte.data.splits import split_by_patient
    from ecgbyte.data.synthetic_qa import synthetic_ecgs

    ecgs = synthetic_ecgs(n_ecgs, seed=seed, target_fs=target_fs, leads=leads, morphology=True)
    return split_by_patient(build_synthetic_reports(ecgs, seed=seed), fractions=fractions, seed=seed)
