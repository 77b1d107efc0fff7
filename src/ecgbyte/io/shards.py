"""The on-disk format written by ``ecgbyte preprocess``, and :func:`iter_segments` to read it back.

Layout of an output directory ``OUT``::

    OUT/config.json              run description: format, version, preprocess config + hash,
                                 source, layout, leads, shard_size, segment shape
    OUT/shards/shard-00000.npy   float32 [n_segments, leads, samples] (may hold 0 segments)
    OUT/shards/shard-00000.json  that shard's part: manifest rows, error rows, counts
    OUT/manifest.jsonl           one JSON row per segment (merged parts, shard order)
    OUT/errors.jsonl             one JSON row per rejected record: path, reason, message
    OUT/summary.json             read, written, skipped by reason, segments, shards

A shard is complete iff both its ``.npy`` and its ``.json`` part exist; the part is
written last, and every file is written to a temporary name and moved into place
(:func:`atomic_write_bytes`), so a killed run leaves only complete shards behind.
Unlike :mod:`ecgbyte.io.layouts` (raw datasets) this module only handles our own output.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg, check_lead_names
from ecgbyte.errors import ConfigError, DatasetError
from ecgbyte.fileio import atomic_write_bytes, write_json, write_jsonl
from ecgbyte.limits import MAX_FS_HZ, MIN_FS_HZ, check_float

FORMAT = "ecgbyte-shards"
VERSION = 1


def shard_name(index: int) -> str:
    """``shard-00000`` style stem of shard ``index``."""
    return f"shard-{index:05d}"


def shard_paths(out_dir: str | Path, index: int) -> tuple[Path, Path]:
    """Return ``(array .npy, part .json)`` paths of shard ``index``."""
    base = Path(out_dir) / "shards" / shard_name(index)
    return base.with_suffix(".npy"), base.with_suffix(".json")


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_json(path, obj)


def atomic_write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write one compact JSON object per line, atomically."""
    write_jsonl(path, rows)


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    """Save ``array`` as ``.npy`` (no pickle), atomically."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and tuples into JSON types (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array {value.dtype} {list(value.shape)}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def is_complete(out_dir: str | Path, index: int) -> bool:
    """True when shard ``index`` has both its array and its part file."""
    npy, part = shard_paths(out_dir, index)
    return npy.is_file() and part.is_file()


def read_part(out_dir: str | Path, index: int) -> dict[str, Any]:
    """Load the part file (manifest rows, errors, counts) of shard ``index``."""
    _, part = shard_paths(out_dir, index)
    try:
        return json.loads(part.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{part}: unreadable shard part ({exc}); delete it to redo the shard") from exc


def read_run_config(out_dir: str | Path) -> dict[str, Any]:
    """Load ``OUT/config.json`` and check it is a shard directory of a known version."""
    path = Path(out_dir) / "config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: not found; is {out_dir} an `ecgbyte preprocess` output?") from exc
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise DatasetError(f"{path}: not an {FORMAT} config")
    version = cfg.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version > VERSION:
        raise DatasetError(f"{path}: format version {version!r} is not one this ecgbyte reads (<= {VERSION})")
    try:  # what iter_segments builds every Ecg from: a tampered value must not become wrong data
        check_lead_names(cfg.get("leads"), what="leads")
        check_float(cfg.get("fs"), "fs", MIN_FS_HZ, MAX_FS_HZ, unit="Hz")
    except ConfigError as exc:
        raise DatasetError(f"{path}: {exc}; the file is damaged") from None
    return cfg


def read_manifest(out_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``OUT/manifest.jsonl`` (one per segment, in shard/row order)."""
    path = Path(out_dir) / "manifest.jsonl"
    rows = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise DatasetError(f"{path}:{n}: invalid JSON ({exc})") from exc
    except FileNotFoundError as exc:
        raise DatasetError(
            f"{path}: not found; the run did not finish (run `ecgbyte preprocess` again to resume)"
        ) from exc
    return rows


def load_shard(out_dir: str | Path, index: int, *, mmap: bool = True) -> np.ndarray:
    """float32 ``[n_segments, leads, samples]`` array of shard ``index`` (memory-mapped by default)."""
    npy, _ = shard_paths(out_dir, index)
    try:
        return np.load(npy, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{npy}: unreadable shard ({exc})") from exc


def iter_segments(out_dir: str | Path) -> Iterator[Ecg]:
    """Yield every preprocessed segment of an ``ecgbyte preprocess`` output as an :class:`Ecg`.

    Segments come in manifest order (shard, then row). Each :class:`Ecg` has the run's
    ``fs`` (Hz) and ``leads``, a float32 ``[leads, samples]`` copy of its row,
    ``record_id``/``patient_id``/``source`` from the manifest, and ``meta`` with
    the record's dataset/reader metadata (``strat_fold``, ``scp_codes``, ``header``...,
    flattened from the manifest row's ``meta``) plus ``segment`` (index within its
    record), ``n_segments``, ``shard``, ``row`` and ``config_hash``.

    Raises
    ------
    DatasetError
        If the directory is not a finished output or a shard disagrees with the manifest.
    """
    cfg = read_run_config(out_dir)
    fs, leads = float(cfg["fs"]), tuple(cfg["leads"])
    cache: tuple[int, np.ndarray] | None = None
    for n, row in enumerate(read_manifest(out_dir), start=1):
        shard, r = (
            row.get("shard") if isinstance(row, dict) else None,
            row.get("row") if isinstance(row, dict) else None,
        )
        if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**31 for x in (shard, r)):
            raise DatasetError(
                f"{Path(out_dir) / 'manifest.jsonl'}:{n}: no valid shard/row numbers; the file is damaged"
            )
        if cache is None or cache[0] != shard:
            cache = (shard, load_shard(out_dir, shard))
        arr = cache[1]
        if r >= arr.shape[0]:
            raise DatasetError(f"{shard_paths(out_dir, shard)[0]}: manifest row {r} is past the shard's end")
        meta = dict(row.get("meta") or {})  # dataset + reader metadata (strat_fold, header...)
        meta.update({k: v for k, v in row.items() if k not in ("record_id", "patient_id", "source", "meta")})
        yield Ecg(
            signal=np.array(arr[r], dtype=np.float32),
            fs=fs,
            leads=leads,
            record_id=row.get("record_id"),
            patient_id=row.get("patient_id"),
            source=row.get("source"),
            meta=meta,
        )
