"""``QAItem``: one dataset example = ECG(s) + question + answer + ids, shared by every loader.

Loaders (synthetic QA, ECG-QA, ECG-Chat, PTB-XL reports) all yield ``QAItem``; sequence
building (:mod:`ecgbyte.data.sequences`) and splitting (:mod:`ecgbyte.data.splits`) only read
these fields. An ECG is either an in-memory :class:`~ecgbyte.ecg.Ecg` or a reference to a record
file (anything with a ``path`` and ``record_id``, e.g. ``ecgbyte.io.RecordRef``), read lazily.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgbyte.ecg import Ecg
from ecgbyte.errors import DatasetError


@dataclass(frozen=True)
class QAItem:
    """One question about one or more ECGs, with its reference answer.

    Attributes
    ----------
    item_id : unique id of the example within its dataset.
    patient_id : patient of the (first) ECG; splits keep each patient in one split.
    ecgs : the ECGs the question is about, in sequence order (comparison questions have two),
        each an ``Ecg`` or a record reference with ``.path`` and ``.record_id``.
    question, answer : text; the answer is the training target and the reference for scoring.
    meta : free-form fields (``question_type``, ``fold``, ...); never fed to the model.
    """

    item_id: str
    patient_id: str
    ecgs: tuple[Any, ...]
    question: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ecgs", tuple(self.ecgs))
        where = f"QA item {self.item_id!r}"
        if not isinstance(self.question, str) or not self.question.strip():
            raise DatasetError(f"{where}: empty question; every item needs question text")
        if not isinstance(self.answer, str) or not self.answer.strip():
            raise DatasetError(f"{where}: empty answer; drop the item or give it a reference answer")
        if self.patient_id is None or str(self.patient_id) == "":
            raise DatasetError(f"{where}: missing patient_id (needed for patient-level splits)")
        object.__setattr__(self, "patient_id", str(self.patient_id))

    @property
    def question_type(self) -> str:
        """``meta["question_type"]`` or ``"unknown"``."""
        return str(self.meta.get("question_type", "unknown"))

    def ecg_keys(self) -> list[str]:
        """Record id of each ECG (the cache key), in order."""
        return [ecg_key(e) for e in self.ecgs]


@dataclass(frozen=True)
class EcgSegment:
    """Seconds ``[index * seconds, (index + 1) * seconds)`` of an ECG, cut AFTER preprocessing.

    ``ecg`` is an ``Ecg`` or a record reference. The original ECG-Byte trains on such segments:
    each record is preprocessed whole, cut into non-overlapping 2 s windows, and each window is
    tokenized and paired with the record's question as its own example. The cut happens where the
    ECG tokenizer's preprocessing ends (:func:`ecgbyte.data.sequences.prepared`), so the filters
    see the whole record.
    """

    ecg: Any
    index: int
    seconds: float

    @property
    def record_id(self) -> str:
        return f"{ecg_key(self.ecg)}#{self.index}@{self.seconds:g}s"

    @property
    def patient_id(self) -> str | None:
        return getattr(self.ecg, "patient_id", None)


SEGMENT_MODES = ("all", "first")


def segment_items(
    items: Iterable[QAItem], seconds: float | None, *, record_seconds: float = 10.0, mode: str = "all"
) -> list[QAItem]:
    """Items over ``seconds``-long segments of their ECGs (``None`` or ``>= record_seconds``: as is).

    ``mode="all"``: every segment ``k`` of a record is its own item (id ``<item>#k``, same question
    and answer, ``meta["segment"] = k``), as the original trains; ``"first"``: each item once, on
    its first segment (its id unchanged): how an item is scored once. Comparison items cut every
    ECG at the same ``k``. ``record_seconds`` is the records' length (10 s in PTB-XL and MIMIC-IV-ECG).
    """
    from ecgbyte.errors import ConfigError

    if mode not in SEGMENT_MODES:
        raise ConfigError(f"segment mode {mode!r} is not one of {', '.join(SEGMENT_MODES)}")
    items = list(items)
    if seconds is None or seconds >= record_seconds:
        return items
    if not seconds > 0:
        raise ConfigError(f"segment seconds must be > 0, got {seconds!r}")
    n = int(record_seconds // seconds + 1e-9)
    out = []
    for it in items:
        for k in range(n if mode == "all" else 1):
            out.append(
                QAItem(
                    it.item_id if mode == "first" else f"{it.item_id}#{k}",
                    it.patient_id,
                    tuple(EcgSegment(e, k, float(seconds)) for e in it.ecgs),
                    it.question,
                    it.answer,
                    {**it.meta, "segment": k, "parent_item": it.item_id},
                )
            )
    return out


def ecg_key(ecg: Any) -> str:
    """Stable id of an ``Ecg`` or record reference, used to cache its encoding."""
    rid = getattr(ecg, "record_id", None)
    if rid:
        return str(rid)
    src = getattr(ecg, "source", None) or getattr(ecg, "path", None)
    if src:
        return str(src)
    raise DatasetError("an ECG without record_id or source cannot be cached; give it a record_id")


def load_ecg(ecg: Any) -> Ecg:
    """Return ``ecg`` itself if it is an ``Ecg``, else read the referenced record file.

    An :class:`EcgSegment` gives its whole record (cut after preprocessing, by
    :func:`ecgbyte.data.sequences.prepared`).
    """
    if isinstance(ecg, EcgSegment):
        return load_ecg(ecg.ecg)
    if isinstance(ecg, Ecg):
        return ecg
    path = getattr(ecg, "path", None)
    if path is None:
        raise DatasetError(f"cannot read ECG {ecg!r}: neither an Ecg nor a reference with .path")
    from ecgbyte.io import read_record  # lazy: reading records pulls in wfdb

    rec = read_record(path)
    return rec.replace(
        record_id=getattr(ecg, "record_id", None) or rec.record_id,
        patient_id=getattr(ecg, "patient_id", None) or rec.patient_id,
    )


def question_types(items: Iterable[QAItem]) -> list[str]:
    """Sorted distinct question types."""
    return sorted({it.question_type for it in items})


def read_json_list(path: str | Path, what: str) -> list[Any]:
    """Read a JSON file whose top level must be a list (of ``what``); ``DatasetError`` naming the file.

    Shared by the ECG-QA and ECG-Chat loaders; they validate the items themselves.
    """
    import json

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read the file ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{p}: not valid JSON ({exc}); expected a list of {what}") from exc
    if not isinstance(data, list):
        raise DatasetError(f"{p}: top level is {type(data).__name__}; expected a list of {what}")
    return data


def unique_ecgs(items: Iterable[QAItem]) -> list[Ecg]:
    """The distinct ECGs of ``items`` in first-seen order, read from disk where items hold references.

    This is what a tokenizer or encoder is trained on: each ECG once, whatever number of
    questions it has.
    """
    unique: dict[str, Any] = {}
    for it in items:
        for e in it.ecgs:
            e = e.ecg if isinstance(e, EcgSegment) else e  # a tokenizer learns from whole records
            unique.setdefault(ecg_key(e), e)
    return [load_ecg(e) for e in unique.values()]
