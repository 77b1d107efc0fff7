"""Batch preprocessing of a dataset into segment shards (the API behind ``ecgbyte preprocess``).

:func:`preprocess_dataset` discovers the records of ``src`` (:func:`ecgbyte.io.discover`),
reads each one, runs :func:`ecgbyte.signal.preprocess` and :func:`ecgbyte.signal.segment`
in worker processes, and writes the format described in :mod:`ecgbyte.io.shards`.

Resume rule: records are assigned to shards by position in discovery order
(shard ``k`` = records ``k*shard_size .. (k+1)*shard_size - 1``), so a shard's content
depends only on the source, the config and ``shard_size``. A shard is complete iff its
array and its part file exist; a restarted run with the same settings skips complete
shards and redoes the others. The output is therefore identical whatever ``workers`` is
and whether the run was interrupted. Different settings on an existing ``OUT`` raise
:class:`~ecgbyte.errors.ConfigError` unless ``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.errors import ConfigError, EcgbyteError
from ecgbyte.io import shards as sh
from ecgbyte.io.layouts import RecordRef, detect_layout, discover
from ecgbyte.limits import cap_workers
from ecgbyte.signal.config import PreprocessConfig

log = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 256  # records per shard
_OUTPUTS = ("manifest.jsonl", "errors.jsonl", "summary.json", "config.json")
# run settings that must match for a resume (everything in config.json except informational keys)
_IDENTITY = (
    "format",
    "version",
    "config_hash",
    "layout",
    "ptbxl_fs",
    "leads",
    "shard_size",
    "records_digest",
)


@dataclass
class PreprocessSummary:
    """What a :func:`preprocess_dataset` run did (also written to ``OUT/summary.json``).

    ``read`` = records attempted = ``written + sum(skipped.values())``; ``segments`` =
    rows in the manifest; ``shards_resumed`` = shards found complete at start;
    ``complete`` is False when the run stopped early (``max_shards``).
    """

    out_dir: str
    read: int = 0
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    shards: int = 0
    shards_resumed: int = 0
    complete: bool = False
    config_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce_config(config: PreprocessConfig | dict[str, Any] | None) -> PreprocessConfig:
    if config is None:
        config = PreprocessConfig()
    elif isinstance(config, dict):
        config = PreprocessConfig.from_dict(config)
    elif not isinstance(config, PreprocessConfig):
        raise ConfigError(f"config must be a PreprocessConfig or a dict, got {type(config).__name__}")
    if config.segment_length is None:
        raise ConfigError("batch preprocessing needs segment_length (samples per segment, e.g. 2500)")
    return config


def _records_digest(refs: Sequence[RecordRef]) -> str:
    h = hashlib.sha256()
    for ref in refs:
        h.update(f"{ref.record_id}\t{ref.path.as_posix()}\n".encode())
    return h.hexdigest()[:16]


def _prepare_out(out: Path, run_cfg: dict[str, Any], overwrite: bool) -> int:
    """Create or validate ``out``; return the number of complete shards kept."""
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        old = sh.read_run_config(out)
        diff = [k for k in _IDENTITY if old.get(k) != run_cfg.get(k)]
        if diff and not overwrite:
            raise ConfigError(
                f"{out} holds a run with other settings ({', '.join(diff)} differ); "
                "use another output directory or pass --overwrite (overwrite=True)"
            )
        if diff:
            _clear(out)
    elif out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"{out} is not empty and is not an `ecgbyte preprocess` output; "
                "choose an empty directory or pass --overwrite"
            )
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    if not cfg_path.is_file():
        sh.atomic_write_json(cfg_path, run_cfg)
    n = -(-run_cfg["n_records"] // run_cfg["shard_size"])
    return sum(sh.is_complete(out, k) for k in range(n))


def _clear(out: Path) -> None:
    """Remove only what this module writes."""
    shutil.rmtree(out / "shards", ignore_errors=True)
    for name in _OUTPUTS:
        (out / name).unlink(missing_ok=True)


def process_record(ref: RecordRef, config: PreprocessConfig, leads: tuple[str, ...]) -> dict[str, Any]:
    """Read, preprocess and segment one record (runs in a worker process).

    Returns ``{"ok": True, "segments": float32 [n, leads, samples], "meta": dict}`` or
    ``{"ok": False, "reason": tag, "message": text}``; errors never escape.
    """
    from ecgbyte.io import read_record
    from ecgbyte.signal import preprocess, segment

    try:
        ecg = read_record(ref.path, leads=leads, fs=None if config.resample else config.target_fs)
        ecg = ecg.replace(record_id=ref.record_id, patient_id=ref.patient_id)
        ecg = preprocess(ecg, config)
        parts = segment(ecg, config.segment_length)
    except EcgbyteError as exc:
        return {"ok": False, "reason": getattr(exc, "reason", "invalid"), "message": str(exc)}
    except Exception as exc:  # a bug or an exotic file: log it, keep the batch going
        return {"ok": False, "reason": "unexpected_error", "message": f"{type(exc).__name__}: {exc}"}
    if not parts:
        return {
            "ok": False,
            "reason": "too_short",
            "message": f"{ref.path}: {ecg.n_samples} samples at {ecg.fs:g} Hz is shorter than one "
            f"segment of {config.segment_length}",
        }
    meta = {k: v for k, v in ecg.meta.items() if k != "comments"}
    return {"ok": True, "segments": np.stack([p.signal for p in parts]), "meta": sh.jsonable(meta)}


def _star(args: tuple[RecordRef, PreprocessConfig, tuple[str, ...]]) -> dict[str, Any]:
    return process_record(*args)


def preprocess_dataset(
    src: str | Path,
    out_dir: str | Path,
    config: PreprocessConfig | dict[str, Any] | None = None,
    *,
    layout: str = "auto",
    workers: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    leads: Sequence[str] = STANDARD_LEADS,
    ptbxl_fs: int = 500,
    overwrite: bool = False,
    progress: bool = True,
    max_shards: int | None = None,
) -> PreprocessSummary:
    """Preprocess every record of ``src`` into segment shards under ``out_dir``.

    Parameters
    ----------
    src : dataset directory (plain, PTB-XL or MIMIC-IV-ECG) or one record file.
    out_dir : output directory (created); see :mod:`ecgbyte.io.shards` for its layout.
    config : :class:`~ecgbyte.signal.PreprocessConfig` (or its dict); default config if None.
        ``segment_length`` (samples at ``target_fs``) is required. With ``resample`` off,
        records not already at ``target_fs`` are rejected (``fs_mismatch``).
    layout : ``"auto"``, ``"dir"``, ``"ptbxl"`` or ``"mimic"``.
    workers : worker processes (1 = in this process). Output does not depend on it.
    shard_size : records per shard (a shard holds all segments of its records).
    leads : leads kept, in this order (every shard is ``[n, len(leads), segment_length]``).
    ptbxl_fs : 500 (``records500/``) or 100 (``records100/``) for PTB-XL.
    overwrite : replace an existing output made with other settings.
    progress : show a tqdm progress bar (records).
    max_shards : stop after writing this many new shards (simulates a kill; for tests).

    Returns
    -------
    PreprocessSummary

    Raises
    ------
    ConfigError for bad settings or a settings clash with an existing ``out_dir``;
    DatasetError for a missing/empty source. Per-record problems never raise: they are
    counted in the summary and logged to ``errors.jsonl``.
    """
    cfg = _coerce_config(config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    workers = cap_workers(workers)  # more processes than CPUs only fork-storm the machine
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ConfigError(f"shard_size must be a positive number of records, got {shard_size!r}")
    if leads is None or isinstance(leads, str) or not leads:
        raise ConfigError("leads must be a non-empty list of lead names (every shard has the same leads)")
    leads = tuple(leads)
    src, out = Path(src), Path(out_dir)
    refs = discover(src, layout=layout, ptbxl_fs=ptbxl_fs)
    resolved = layout if layout != "auto" else ("file" if src.is_file() else detect_layout(src))
    run_cfg = {
        "format": sh.FORMAT,
        "version": sh.VERSION,
        "preprocess": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "src": str(src),
        "layout": resolved,
        "ptbxl_fs": ptbxl_fs if resolved == "ptbxl" else None,
        "leads": list(leads),
        "fs": cfg.target_fs,
        "segment_length": cfg.segment_length,
        "shard_size": shard_size,
        "n_records": len(refs),
        "records_digest": _records_digest(refs),
    }
    n_shards = -(-len(refs) // shard_size)
    resumed = _prepare_out(out, run_cfg, overwrite)
    pending = [k for k in range(n_shards) if not sh.is_complete(out, k)]
    done_records = len(refs) - sum(len(refs[k * shard_size : (k + 1) * shard_size]) for k in pending)
    if resumed:
        log.info("resuming %s: %d of %d shards already complete", out, resumed, n_shards)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(refs), initial=done_records, unit="rec", desc="preprocess", disable=not progress)
    written_now = 0
    executor = ProcessPoolExecutor(max_workers=workers) if workers > 1 and pending else None
    try:
        jobs = [(ref, cfg, leads) for k in pending for ref in refs[k * shard_size : (k + 1) * shard_size]]
        results: Iterator[dict[str, Any]] = (
            executor.map(_star, jobs, chunksize=max(1, min(16, len(jobs) // (workers * 4) or 1)))
            if executor
            else map(_star, jobs)
        )
        for k in pending:
            if max_shards is not None and written_now >= max_shards:
                break
            chunk = refs[k * shard_size : (k + 1) * shard_size]
            outcomes = []
            for _ in chunk:
                outcomes.append(next(results))
                bar.update(1)
            _write_shard(out, k, chunk, outcomes, run_cfg)
            written_now += 1
    finally:
        bar.close()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    summary = PreprocessSummary(out_dir=str(out), shards=n_shards, shards_resumed=resumed)
    summary.config_hash = run_cfg["config_hash"]
    if any(not sh.is_complete(out, k) for k in range(n_shards)):
        return summary  # stopped early: nothing merged, a rerun resumes
    _merge(out, n_shards, summary)
    return summary


def _write_shard(
    out: Path, k: int, refs: Sequence[RecordRef], outcomes: Sequence[dict[str, Any]], run_cfg: dict[str, Any]
) -> None:
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    arrays = []
    for ref, res in zip(refs, outcomes, strict=True):
        if not res["ok"]:
            errors.append(
                {
                    "record_id": ref.record_id,
                    "path": str(ref.path),
                    "reason": res["reason"],
                    "message": res["message"],
                }
            )
            continue
        segs = res["segments"]
        meta = {**sh.jsonable(ref.meta), **res["meta"]}
        for i in range(segs.shape[0]):
            row = {
                "record_id": ref.record_id,
                "patient_id": ref.patient_id,
                "source": str(ref.path),
                "segment": i,
                "n_segments": int(segs.shape[0]),
                "shard": k,
                "row": len(rows),
                "config_hash": run_cfg["config_hash"],
                "fs": run_cfg["fs"],
                "n_samples": int(segs.shape[2]),
                "meta": meta,
            }
            if "strat_fold" in ref.meta:
                row["strat_fold"] = ref.meta["strat_fold"]
            rows.append(row)
        arrays.append(segs.astype(np.float32, copy=False))
    shape = (0, len(run_cfg["leads"]), int(run_cfg["segment_length"]))
    data = np.concatenate(arrays, axis=0) if arrays else np.zeros(shape, np.float32)
    npy, part = sh.shard_paths(out, k)
    sh.atomic_save_npy(npy, data)
    written = sum(1 for res in outcomes if res["ok"])
    sh.atomic_write_json(
        part,
        {"shard": k, "records": len(refs), "written": written, "segments": rows, "errors": errors},
    )


def _merge(out: Path, n_shards: int, summary: PreprocessSummary) -> None:
    manifest: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for k in range(n_shards):
        part = sh.read_part(out, k)
        manifest.extend(part["segments"])
        errors.extend({**e, "shard": k} for e in part["errors"])
        summary.read += part["records"]
        summary.written += part["written"]
    for e in errors:
        summary.skipped[e["reason"]] = summary.skipped.get(e["reason"], 0) + 1
    summary.skipped = dict(sorted(summary.skipped.items()))
    summary.segments = len(manifest)
    summary.complete = True
    sh.atomic_write_jsonl(out / "manifest.jsonl", manifest)
    sh.atomic_write_jsonl(out / "errors.jsonl", errors)
    sh.atomic_write_json(out / "summary.json", summary.to_dict())
    log.info("preprocess summary: %s", json.dumps(summary.to_dict()))
