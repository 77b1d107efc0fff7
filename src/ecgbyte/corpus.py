"""Reading an ECG source into what the tokenizer trains on or is measured with.

A *source* is either the output of ``ecgbyte preprocess`` (shards with a ``config.json`` and a
``manifest.jsonl``: :func:`is_shards`) or a directory / dataset of records (PTB-XL,
MIMIC-IV-ECG, WFDB or NumPy files, found by :func:`ecgbyte.io.discover`).

- :func:`load_training_ecgs`: every preprocessed segment of a source, with the
  ``PreprocessConfig`` they were made with (the shards' own, or the default recipe for records);
- :func:`read_records`: the raw records of a source, at most ``max_records``, for a tokenizer to
  preprocess itself.

Unreadable records are skipped, logged and counted. Torch-free.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.errors import ConfigError, DatasetError, RecordError
from ecgbyte.signal.config import PreprocessConfig

log = logging.getLogger(__name__)


def is_shards(src: str | Path) -> bool:
    """Whether ``src`` is an ``ecgbyte preprocess`` output (``config.json`` + ``manifest.jsonl``)."""
    src = Path(src)
    return (src / "config.json").is_file() and (src / "manifest.jsonl").is_file()


def load_training_ecgs(
    src: str | Path,
    *,
    segment_seconds: float | None = None,
    layout: str = "auto",
    preprocess: PreprocessConfig | None = None,
) -> tuple[list[Ecg], PreprocessConfig, dict[str, Any]]:
    """Preprocessed segments of ``src`` with the preprocessing config they were made with.

    Returns ``(ecgs, PreprocessConfig, info)``; every ``Ecg`` carries ``meta["preprocess_hash"]``.
    Shards keep their segments (or are cut into ``segment_seconds`` pieces); records are
    preprocessed with ``preprocess`` (default: the paper's recipe) and cut into ``segment_seconds``
    (default 10 s) segments; shards made with another config than a given ``preprocess`` raise
    :class:`ConfigError`.
    Records that fail to read or preprocess are skipped and counted in ``info["skipped"]``.
    """
    from ecgbyte.signal import preprocess as run_preprocess
    from ecgbyte.signal import segment

    src = Path(src)
    if segment_seconds is not None and not segment_seconds > 0:
        raise ConfigError(f"--segment-seconds must be > 0, got {segment_seconds}")
    info: dict[str, Any] = {"source": str(src)}
    if src.is_dir() and is_shards(src):
        from ecgbyte.io.shards import iter_segments, read_run_config

        run_cfg = read_run_config(src)
        cfg = PreprocessConfig.from_dict(run_cfg["preprocess"])
        if preprocess is not None and dataclasses.replace(cfg, segment_length=None) != dataclasses.replace(
            preprocess, segment_length=None
        ):
            raise ConfigError(
                f"{src}: the shards were preprocessed with another config (hash {cfg.hash()}) than the one "
                f"asked for ({preprocess.hash()}); run `ecgbyte preprocess` with it or pass the raw records"
            )
        info["source_kind"] = "shards"
        ecgs, cfg_hash = [], cfg.hash()
        for ecg in iter_segments(src):
            ecg = ecg.replace(meta={**ecg.meta, "preprocess_hash": cfg_hash})
            if segment_seconds is not None:
                length = round(segment_seconds * ecg.fs)
                if length > ecg.n_samples:
                    raise ConfigError(
                        f"--segment-seconds {segment_seconds} is longer than the shards' segments "
                        f"({ecg.n_samples / ecg.fs:g} s); omit it or preprocess again"
                    )
                ecgs.extend(segment(ecg, length))
            else:
                ecgs.append(ecg)
        return ecgs, cfg, info
    from ecgbyte.io import discover, read_record

    cfg = preprocess or PreprocessConfig()
    seconds = segment_seconds if segment_seconds is not None else cfg.segment_length / cfg.target_fs
    length = round(seconds * cfg.target_fs)
    cfg = dataclasses.replace(cfg, segment_length=length)
    info["source_kind"] = "records"
    ecgs, skipped = [], {}
    for ref in discover(src, layout=layout):
        try:
            ecgs.extend(segment(run_preprocess(read_record(ref.path), cfg), length))
        except RecordError as exc:
            skipped[exc.reason] = skipped.get(exc.reason, 0) + 1
            log.warning("skipping %s", exc)
    info["skipped"] = skipped
    if not ecgs:
        raise DatasetError(f"{src}: no record could be read and preprocessed (skipped: {skipped})")
    return ecgs, cfg, info


def read_records(
    src: str | Path, *, leads: Sequence[str] | None = STANDARD_LEADS, max_records: int | None = None
) -> Iterator[Ecg]:
    """Raw records of ``src`` (the first ``max_records`` found), with ``leads`` in that order.

    ``leads=None`` keeps each record's own leads (as :func:`ecgbyte.io.read_record`).
    Records that cannot be read are logged and skipped (they still count toward ``max_records``).
    """
    from ecgbyte.io import discover, read_record

    refs = discover(src)
    for ref in refs if max_records is None else refs[:max_records]:
        try:
            yield read_record(ref.path, leads=leads)
        except RecordError as exc:
            log.warning("skipping %s", exc)


__all__ = ["is_shards", "load_training_ecgs", "read_records"]
