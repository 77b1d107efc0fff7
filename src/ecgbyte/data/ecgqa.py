"""ECG-QA (Oh et al., NeurIPS 2023) question answering, joined to PTB-XL or MIMIC-IV-ECG records.

The released dataset is a tree of JSON chunks::

    ecgqa/<version>/<variant>/<split>/<chunk>.json    version: ptbxl | mimic-iv-ecg
                                                      variant: template | paraphrased
                                                      split:   train | valid | test

Each chunk is a list of objects with ``template_id, question_id, sample_id, question_type,
attribute_type, question, answer (list of str), ecg_id (list of int), attribute``. ``ecg_id`` is
the PTB-XL ``ecg_id`` (ptbxl) or the MIMIC-IV-ECG ``study_id`` (mimic-iv-ecg); comparison
questions carry two, and both ECGs go into :attr:`QAItem.ecgs` in the JSON order (the question
speaks of "the first" and "the second" ECG).

Rules of this loader (all documented choices):

- **Answer text**: the answer list becomes one target string, the distinct non-blank entries
  sorted and joined with ``", "`` (``["rr interval", "p duration"]`` -> ``"p duration, rr
  interval"``), so the target does not depend on the order the generator listed a set in. The
  original list stays in ``meta["answers"]`` for set-based scoring.
- **Splits**: ``split_by="ecgqa"`` (default) keeps ECG-QA's own split (the folder of the chunk,
  which ECG-QA drew per patient), checked against ``<split>_ecgs.tsv`` where present;
  ``split_by="strat_fold"`` re-splits PTB-XL items by ``strat_fold`` (1-8 train, 9 valid, 10 test),
  and a comparison item whose two ECGs fall in different splits is skipped (``cross_split``).
  Either way :func:`check_disjoint_patients` then asserts that no patient of *any* ECG of an item
  is in two splits.
- **No silent drops**: an item that cannot be used (a missing record, an empty answer, a split
  conflict, an ECG without patient id) is a counted skip in the returned :class:`LoadReport`, or
  a :class:`~ecgbyte.errors.DatasetError` with ``strict=True``. A malformed file (bad JSON, a
  missing field, a wrong type, a duplicate ``sample_id``) always raises, naming the file and the
  item index.
- **No leakage**: the record references in ``QAItem.ecgs`` keep only ids and the fold
  (:data:`KEPT_RECORD_META`); PTB-XL columns that give answers away (``report``, ``scp_codes``,
  ``static_noise``, ``baseline_drift``, ...) are dropped there, and ``QAItem.meta`` is never fed
  to the model (sequence building reads only the ECGs, the question and the answer).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgbyte.data.items import QAItem, read_json_list
from ecgbyte.data.splits import PTBXL_FOLDS, SPLITS, check_disjoint
from ecgbyte.errors import DatasetError

VERSIONS = ("ptbxl", "mimic-iv-ecg")
VARIANTS = ("template", "paraphrased")
SPLIT_MODES = ("ecgqa", "strat_fold")
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "sample_id": int,
    "question_type": str,
    "question": str,
    "answer": list,
    "ecg_id": list,
}
#: RecordRef.meta keys that survive into QAItem.ecgs (ids and the fold; nothing that answers a question).
KEPT_RECORD_META = ("ecg_id", "strat_fold", "study_id", "subject_id")


# ---------------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Skip:
    """One item that a loader could not use: where it was and why."""

    source: str  # file (or dataset) the item came from
    index: int  # position of the item in that file (-1 if not applicable)
    item_id: str
    reason: str  # short tag: missing_record, empty_answer, cross_split, ...
    detail: str


@dataclass
class LoadReport:
    """What a loader read, kept and skipped (with reasons); log it with :meth:`summary`."""

    dataset: str
    n_read: int = 0
    n_loaded: int = 0
    skipped: list[Skip] = field(default_factory=list)

    def skip(
        self, source: str | Path, index: int, item_id: str, reason: str, detail: str, *, strict: bool = False
    ) -> None:
        """Record a skip, or raise ``DatasetError`` right away when ``strict``."""
        s = Skip(str(source), int(index), str(item_id), reason, detail)
        if strict:
            raise DatasetError(
                f"{s.source}: item {s.index} ({s.item_id}): {s.reason}: {s.detail} "
                "(pass strict=False to skip and count such items)"
            )
        self.skipped.append(s)

    @property
    def counts(self) -> dict[str, int]:
        """Number of skips per reason, sorted by reason."""
        out: dict[str, int] = {}
        for s in self.skipped:
            out[s.reason] = out.get(s.reason, 0) + 1
        return dict(sorted(out.items()))

    def summary(self) -> str:
        """One line, e.g. ``ecgqa: 133 read, 130 loaded, 3 skipped (missing_record: 3)``."""
        line = f"{self.dataset}: {self.n_read} read, {self.n_loaded} loaded, {len(self.skipped)} skipped"
        if self.skipped:
            line += " (" + ", ".join(f"{k}: {v}" for k, v in self.counts.items()) + ")"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "n_read": self.n_read,
            "n_loaded": self.n_loaded,
            "counts": self.counts,
            "skipped": [vars(s) for s in self.skipped],
        }


# ---------------------------------------------------------------------------------------- helpers
def answer_text(answers: Sequence[str]) -> str:
    """ECG-QA answer list -> one target string: distinct non-blank entries, sorted, joined by ``", "``.

    Returns ``""`` when no entry is left (the caller counts that as an empty answer).
    """
    return ", ".join(sorted({str(a).strip() for a in answers if str(a).strip()}))


def strip_record_meta(ref: Any) -> Any:
    """A copy of a ``RecordRef`` whose ``meta`` keeps only :data:`KEPT_RECORD_META`."""
    from dataclasses import replace

    return replace(ref, meta={k: v for k, v in ref.meta.items() if k in KEPT_RECORD_META})


def read_ecgqa_file(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate one ECG-QA JSON chunk; returns its items (dicts) in file order.

    Raises
    ------
    DatasetError
        Naming the file (and the item index) for unreadable or invalid JSON, a top level that
        is not a list, an item that is not an object, a missing field or a field of the wrong
        type (``answer`` must be a list of strings, ``ecg_id`` a list of 1 or 2 integers).
    """
    p = Path(path)
    data = read_json_list(p, "ECG-QA items")
    for i, item in enumerate(data):
        where = f"{p}: item {i}"
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: is {type(item).__name__}, expected an object")
        for name, kind in REQUIRED_FIELDS.items():
            if name not in item:
                raise DatasetError(
                    f"{where}: missing field {name!r} (ECG-QA items need {', '.join(REQUIRED_FIELDS)})"
                )
            if not isinstance(item[name], kind) or isinstance(item[name], bool):
                raise DatasetError(
                    f"{where}: field {name!r} is {type(item[name]).__name__}, expected {kind.__name__}"
                )
        if not all(isinstance(a, str) for a in item["answer"]):
            raise DatasetError(f"{where}: 'answer' must be a list of strings, got {item['answer']!r}")
        ids = item["ecg_id"]
        if not 1 <= len(ids) <= 2 or not all(isinstance(e, int) and not isinstance(e, bool) for e in ids):
            raise DatasetError(f"{where}: 'ecg_id' must be a list of 1 or 2 integers, got {ids!r}")
    return data


def _read_split_tsv(path: Path) -> dict[str, str]:
    """``<split>_ecgs.tsv`` (index, ecg_id per line) -> {ecg_id: split}."""
    split = path.name.split("_")[0]
    out: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row:
                continue
            if len(row) < 2 or not row[1].strip().isdigit():
                raise DatasetError(f"{path}:{line}: expected '<index>\\t<ecg_id>', got {row!r}")
            out[row[1].strip()] = split
    return out


def _version_dir(ecgqa_dir: Path, version: str) -> Path:
    if version not in VERSIONS:
        raise DatasetError(f"unknown ECG-QA version {version!r}; choose one of {', '.join(VERSIONS)}")
    if (ecgqa_dir / version).is_dir():
        return ecgqa_dir / version
    if any((ecgqa_dir / v).is_dir() for v in VARIANTS):
        return ecgqa_dir
    raise DatasetError(
        f"{ecgqa_dir}: no ECG-QA tree here (expected {version}/<variant>/<split>/*.json "
        f"or <variant>/<split>/*.json)"
    )


def _chunk_key(p: Path) -> tuple[int, str]:
    return (int(p.stem), p.name) if p.stem.isdigit() else (1 << 62, p.name)


def check_disjoint_patients(splits: Mapping[str, Sequence[QAItem]]) -> None:
    """Raise ``DatasetError`` if a patient of *any* ECG of an item (``meta["patient_ids"]``) is in two splits.

    Extends :func:`ecgbyte.data.splits.check_disjoint`, which looks at ``QAItem.patient_id`` only
    (the first ECG's patient); comparison items carry a second patient.
    """
    check_disjoint(splits)
    owner: dict[str, str] = {}
    clashes: set[str] = set()
    for name, items in splits.items():
        for it in items:
            for pid in it.meta.get("patient_ids", [it.patient_id]):
                prev = owner.setdefault(str(pid), name)
                if prev != name:
                    clashes.add(f"{pid} ({prev} and {name})")
    if clashes:
        raise DatasetError(
            f"patient-level split violated: {len(clashes)} patient(s) in two splits: "
            f"{', '.join(sorted(clashes)[:5])}"
        )


# ---------------------------------------------------------------------------------------- loader
def load_ecgqa(
    ecgqa_dir: str | Path,
    records: str | Path | Iterable[Any],
    *,
    version: str = "ptbxl",
    variant: str = "template",
    splits: Sequence[str] = SPLITS,
    split_by: str = "ecgqa",
    strict: bool = False,
    ptbxl_fs: int = 500,
) -> tuple[dict[str, list[QAItem]], LoadReport]:
    """Load ECG-QA items joined to their ECG records, split by patient.

    Parameters
    ----------
    ecgqa_dir : the ECG-QA ``ecgqa/`` directory (holding ``ptbxl/``, ``mimic-iv-ecg/``) or one
        version's directory (holding ``template/``, ``paraphrased/``).
    records : the PTB-XL or MIMIC-IV-ECG root (read with :func:`ecgbyte.io.discover`), or
        already discovered ``RecordRef`` s. Joined on ``record_id`` (PTB-XL ``ecg_id``, MIMIC
        ``study_id``).
    version : ``"ptbxl"`` or ``"mimic-iv-ecg"``.
    variant : ``"template"`` or ``"paraphrased"`` question wording.
    splits : which split folders to read.
    split_by : ``"ecgqa"`` (the folder) or ``"strat_fold"`` (PTB-XL folds; see module docstring).
    strict : raise on the first unusable item instead of counting it as a skip.
    ptbxl_fs : 500 or 100, which PTB-XL records to point at.

    Returns
    -------
    (splits, report) : ``{"train": [...], "valid": [...], "test": [...]}`` of :class:`QAItem`
        (file order, chunks in numeric order) and the :class:`LoadReport`.
    """
    from ecgbyte.io import discover

    if variant not in VARIANTS:
        raise DatasetError(f"unknown ECG-QA variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if split_by not in SPLIT_MODES:
        raise DatasetError(f"unknown split_by {split_by!r}; choose one of {', '.join(SPLIT_MODES)}")
    if split_by == "strat_fold" and version != "ptbxl":
        raise DatasetError(
            "split_by='strat_fold' needs PTB-XL records; use split_by='ecgqa' for mimic-iv-ecg"
        )
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise DatasetError(f"unknown split(s) {bad}; choose from {', '.join(SPLITS)}")
    root = _version_dir(Path(ecgqa_dir), version)
    files = [(s, f) for s in splits for f in sorted((root / variant / s).glob("*.json"), key=_chunk_key)]
    if not files:
        raise DatasetError(f"{root / variant}: no <split>/*.json files for splits {list(splits)}")
    refs = discover(records, ptbxl_fs=ptbxl_fs) if isinstance(records, (str, Path)) else list(records)
    by_id = {str(r.record_id): r for r in refs}
    tsv: dict[str, str] = {}
    for s in SPLITS:
        if (root / f"{s}_ecgs.tsv").is_file():
            tsv.update(_read_split_tsv(root / f"{s}_ecgs.tsv"))

    report = LoadReport(dataset=f"ecgqa/{version}/{variant}")
    out: dict[str, list[QAItem]] = {s: [] for s in SPLITS}
    seen: dict[str, str] = {}
    for folder, path in files:
        for index, raw in enumerate(read_ecgqa_file(path)):
            report.n_read += 1
            item_id = f"{version}/{variant}/{raw['sample_id']}"
            if item_id in seen:
                raise DatasetError(
                    f"{path}: item {index}: sample_id {raw['sample_id']} also in {seen[item_id]}"
                )
            seen[item_id] = f"{path}"
            item = _make_item(raw, item_id, folder, path, index, by_id, tsv, split_by, report, strict)
            if item is not None:
                out[item.meta["split"]].append(item)
                report.n_loaded += 1
    check_disjoint_patients(out)
    return out, report


def _make_item(
    raw: dict[str, Any],
    item_id: str,
    folder: str,
    path: Path,
    index: int,
    by_id: dict[str, Any],
    tsv: dict[str, str],
    split_by: str,
    report: LoadReport,
    strict: bool,
) -> QAItem | None:
    def skip(reason: str, detail: str) -> None:
        report.skip(path, index, item_id, reason, detail, strict=strict)

    answer = answer_text(raw["answer"])
    if not answer:
        skip("empty_answer", f"answer {raw['answer']!r} has no non-blank entry")
        return None
    if not raw["question"].strip():
        skip("empty_question", "question is blank")
        return None
    ids = [str(e) for e in raw["ecg_id"]]
    missing = [e for e in ids if e not in by_id or not Path(by_id[e].path).exists()]
    if missing:
        skip("missing_record", f"ECG record(s) {', '.join(missing)} not found among the records")
        return None
    refs = [strip_record_meta(by_id[e]) for e in ids]
    no_patient = [e for e, r in zip(ids, refs) if not r.patient_id]
    if no_patient:
        skip("missing_patient", f"record(s) {', '.join(no_patient)} have no patient id (needed for splits)")
        return None
    if split_by == "ecgqa":
        split = folder
        other = [e for e in ids if e in tsv and tsv[e] != folder]
        if other:
            skip(
                "split_mismatch",
                f"record(s) {', '.join(other)} are in another split's _ecgs.tsv than {folder}",
            )
            return None
    else:
        lookup = {f: name for name, fs in PTBXL_FOLDS.items() for f in fs}
        folds = [r.meta.get("strat_fold") for r in refs]
        names = {lookup.get(int(f)) if isinstance(f, (int, float)) else None for f in folds}
        if None in names:
            skip("missing_fold", f"strat_fold {folds} of record(s) {ids} is not in 1..10")
            return None
        if len(names) > 1:
            skip("cross_split", f"the ECGs {ids} are in different strat_fold splits ({folds})")
            return None
        split = names.pop()
    meta = {
        "dataset": "ecgqa",
        "split": split,
        "question_type": raw["question_type"],
        "attribute_type": raw.get("attribute_type"),
        "template_id": raw.get("template_id"),
        "question_id": raw.get("question_id"),
        "sample_id": raw["sample_id"],
        "attribute": raw.get("attribute"),
        "answers": list(raw["answer"]),
        "ecg_ids": [int(e) for e in ids],
        "patient_ids": [str(r.patient_id) for r in refs],
        "source": str(path),
        "index": index,
    }
    if "strat_fold" in refs[0].meta:
        meta["fold"] = refs[0].meta["strat_fold"]
    return QAItem(
        item_id=item_id,
        patient_id=str(refs[0].patient_id),
        ecgs=tuple(refs),
        question=raw["question"].strip(),
        answer=answer,
        meta=meta,
    )


def splits_from_spec(spec: Mapping[str, Any]) -> dict[str, list[QAItem]]:
    """Registry entry (``ecgbyte.data.registry``): ``{"name": "ecgqa", "ecgqa_dir", "records", ...}``.

    Optional keys: ``version``, ``variant``, ``split_by``, ``strict``, ``ptbxl_fs``. The load
    report is logged (one INFO line) so skips stay visible.
    """
    import logging

    for key in ("ecgqa_dir", "records"):
        if not spec.get(key):
            raise DatasetError(f"ECG-QA dataset spec needs {key!r} (got keys {sorted(spec)})")
    splits, report = load_ecgqa(
        spec["ecgqa_dir"],
        spec["records"],
        version=spec.get("version", "ptbxl"),
        variant=spec.get("variant", "template"),
        split_by=spec.get("split_by", "ecgqa"),
        strict=bool(spec.get("strict", False)),
        ptbxl_fs=int(spec.get("ptbxl_fs", 500)),
    )
    logging.getLogger(__name__).info(report.summary())
    return splits


__all__ = [
    "KEPT_RECORD_META",
    "LoadReport",
    "Skip",
    "answer_text",
    "check_disjoint_patients",
    "load_ecgqa",
    "read_ecgqa_file",
    "splits_from_spec",
    "strip_record_meta",
]
