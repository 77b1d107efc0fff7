"""Find the records of a dataset: plain directories, PTB-XL and MIMIC-IV-ECG layouts.

:func:`discover` returns :class:`RecordRef` items (a path plus ids and metadata) in a
deterministic order; nothing is read here beyond the index files, so a broken record is
reported by the reader later (and logged by the batch job) instead of vanishing.

- ``dir``: every ``*.hea``, ``*.npy``, ``*.npz`` below ``src`` (sorted by relative path),
  plus signal files (``.dat``/``.mat``) that have no header, so that they are reported.
- ``ptbxl``: rows of ``ptbxl_database.csv`` (in file order) pointing at ``records500/``
  (default) or ``records100/``; ``meta`` holds ``ecg_id``, ``patient_id``, ``age``,
  ``sex``, ``strat_fold``, ``report``, ``scp_codes`` (a dict, parsed with
  ``ast.literal_eval``; never ``eval``) and the other columns that are not empty.
- ``mimic``: rows of ``record_list.csv`` (``subject_id, study_id, file_name, ecg_time,
  path``), or, without it, ``files/p*/p*/s*/*.hea`` with ids taken from the folder names.

An empty or missing source raises :class:`~ecgbyte.errors.DatasetError`: it is a problem
with the whole dataset, not with one record.
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgbyte.errors import ConfigError, DatasetError

LAYOUTS = ("auto", "dir", "ptbxl", "mimic")
_RECORD_SUFFIXES = {".hea", ".npy", ".npz"}
_SIGNAL_SUFFIXES = {".dat", ".mat"}


@dataclass(frozen=True)
class RecordRef:
    """Where one record lives and what the dataset index says about it.

    Attributes
    ----------
    path : file to pass to :func:`ecgbyte.io.read_record` (a ``.hea``, ``.npy``...).
    record_id : unique id within the dataset (PTB-XL ``ecg_id``, MIMIC ``study_id``,
        else the path relative to the source without suffix).
    patient_id : patient id where the index has one.
    meta : JSON-serializable metadata from the index (``strat_fold``, ``report``...).
    """

    path: Path
    record_id: str
    patient_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def detect_layout(src: str | Path) -> str:
    """Return ``"ptbxl"``, ``"mimic"`` or ``"dir"`` for the directory ``src``."""
    root = Path(src)
    if (root / "ptbxl_database.csv").is_file():
        return "ptbxl"
    files = root / "files"
    if (root / "record_list.csv").is_file() or (
        files.is_dir() and any(p.name.startswith("p") for p in files.iterdir())
    ):
        return "mimic"
    return "dir"


def discover(src: str | Path, *, layout: str = "auto", ptbxl_fs: int = 500) -> list[RecordRef]:
    """List the records under ``src``.

    Parameters
    ----------
    src : a dataset directory, or a single record file.
    layout : ``"auto"`` (detect), ``"dir"``, ``"ptbxl"`` or ``"mimic"``.
    ptbxl_fs : 500 (``records500/``, default) or 100 (``records100/``) for PTB-XL.

    Returns
    -------
    list of RecordRef, in a deterministic order (index-file order, else sorted paths).

    Raises
    ------
    ConfigError for an unknown layout or ``ptbxl_fs``; DatasetError for a missing
    source, a malformed index file, or a source holding no records.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    root = Path(src)
    if not root.exists():
        raise DatasetError(f"{root}: no such file or directory")
    if root.is_file():
        return [RecordRef(path=root, record_id=root.stem)]
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "ptbxl":
        refs = _discover_ptbxl(root, ptbxl_fs)
    elif layout == "mimic":
        refs = _discover_mimic(root)
    else:
        refs = _discover_dir(root)
    if not refs:
        raise DatasetError(
            f"{root}: no records found (layout {layout}; looked for .hea, .npy, .npz files or an index csv)"
        )
    return refs


def _discover_dir(root: Path) -> list[RecordRef]:
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    headers = {p.with_suffix("") for p in files if p.suffix.lower() == ".hea"}
    refs: list[RecordRef] = []
    seen: set[Path] = set()
    for p in files:
        suffix = p.suffix.lower()
        stem = p.with_suffix("")
        if suffix in _RECORD_SUFFIXES or (suffix in _SIGNAL_SUFFIXES and stem not in headers):
            key = stem if suffix in _SIGNAL_SUFFIXES | {".hea"} else p
            if key in seen:  # e.g. x.dat and x.mat both without header: report once
                continue
            seen.add(key)
            rel = p.relative_to(root).with_suffix("").as_posix()
            if suffix in (".npy", ".npz") and stem in headers:
                rel = p.relative_to(root).as_posix()
            refs.append(RecordRef(path=p, record_id=rel))
    return refs


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read index ({exc})") from exc


def _int_or_str(value: str) -> Any:
    if value in ("True", "False"):
        return value == "True"
    try:
        f = float(value)
    except ValueError:
        return value
    return int(f) if f.is_integer() else f


def parse_scp_codes(text: str, *, where: str = "<scp_codes>") -> dict[str, float]:
    """Parse a PTB-XL ``scp_codes`` cell like ``"{'NORM': 80.0, 'SBRAD': 0.0}"`` safely."""
    try:
        value = ast.literal_eval(text) if text.strip() else {}
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise DatasetError(f"{where}: scp_codes {text[:60]!r} is not a dict literal") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) for k, v in value.items()
    ):
        raise DatasetError(f"{where}: scp_codes must map code strings to numbers, got {text[:60]!r}")
    return {k: float(v) for k, v in value.items()}


def _discover_ptbxl(root: Path, ptbxl_fs: int) -> list[RecordRef]:
    if ptbxl_fs not in (100, 500):
        raise ConfigError(f"ptbxl_fs must be 100 or 500 (records100/ or records500/), got {ptbxl_fs!r}")
    column = "filename_hr" if ptbxl_fs == 500 else "filename_lr"
    index = root / "ptbxl_database.csv"
    rows = _read_csv(index, ("ecg_id", "patient_id", column))
    refs = []
    for line, row in enumerate(rows, start=2):
        where = f"{index}:{line}"
        if not row["ecg_id"] or not row[column]:
            raise DatasetError(f"{where}: empty ecg_id or {column}")
        meta: dict[str, Any] = {}
        for key, value in row.items():
            if key is None or value is None or value == "" or key in ("filename_lr", "filename_hr"):
                continue
            if key == "scp_codes":
                meta[key] = parse_scp_codes(value, where=where)
            elif key in ("report", "recording_date", "device", "heart_axis"):
                meta[key] = value
            else:
                meta[key] = _int_or_str(value)
        patient = meta.get("patient_id")
        refs.append(
            RecordRef(
                path=root / f"{row[column]}.hea",
                record_id=str(meta["ecg_id"]),
                patient_id=None if patient is None else str(patient),
                meta=meta,
            )
        )
    return refs


def _discover_mimic(root: Path) -> list[RecordRef]:
    index = root / "record_list.csv"
    if index.is_file():
        rows = _read_csv(index, ("subject_id", "study_id", "path"))
        refs = []
        for line, row in enumerate(rows, start=2):
            if not row["path"] or not row["study_id"]:
                raise DatasetError(f"{index}:{line}: empty study_id or path")
            meta = {k: _int_or_str(v) for k, v in row.items() if k and v and k not in ("path", "ecg_time")}
            if row.get("ecg_time"):
                meta["ecg_time"] = row["ecg_time"]
            refs.append(
                RecordRef(
                    path=root / f"{row['path']}.hea",
                    record_id=row["study_id"],
                    patient_id=row["subject_id"] or None,
                    meta=meta,
                )
            )
        return refs
    refs = []
    for hea in sorted((root / "files").glob("p*/p*/s*/*.hea"), key=lambda p: p.as_posix()):
        subject, study = hea.parent.parent.name[1:], hea.parent.name[1:]
        refs.append(
            RecordRef(
                path=hea,
                record_id=study,
                patient_id=subject,
                meta={"subject_id": _int_or_str(subject), "study_id": _int_or_str(study)},
            )
        )
    return refs
