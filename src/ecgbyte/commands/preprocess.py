"""Preprocess a dataset of ECG records into segment shards with a manifest.

SRC is a plain directory of WFDB/.npy/.npz records, a PTB-XL folder (ptbxl_database.csv)
or a MIMIC-IV-ECG folder (record_list.csv, files/p.../s.../). OUT receives
shards/shard-NNNNN.npy (float32 [segments, leads, samples]), manifest.jsonl (one row per
segment), errors.jsonl (one row per rejected record), summary.json and config.json.
Run it again with the same arguments to resume after an interruption.

Example:
  ecgbyte preprocess ../shared/data/ptb-xl out/ptbxl --workers 2 --segment-seconds 5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ecgbyte import cli_args, limits

NAME = "preprocess"
HELP = "filter, resample and segment a dataset of ECG records into shards"
ORDER = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC", help="dataset directory or one record file")
    p.add_argument("out", metavar="OUT", help="output directory (resumed if it holds the same run)")
    p.add_argument(
        "--layout", default="auto", choices=("auto", "dir", "ptbxl", "mimic"), help="dataset layout"
    )
    p.add_argument(
        "--ptbxl-fs", type=int, default=500, choices=(100, 500), help="PTB-XL records500 or records100"
    )
    p.add_argument("--workers", type=cli_args.workers, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--shard-size",
        type=cli_args.int_range(1, 1_000_000),
        default=None,
        help="records per shard (default 256)",
    )
    p.add_argument("--config", type=Path, default=None, help="PreprocessConfig JSON; flags below override it")
    p.add_argument(
        "--segment-seconds", type=float, choices=(2.0, 5.0, 10.0), default=None, help="segment length"
    )
    p.add_argument(
        "--segment-length",
        type=cli_args.int_range(1, limits.MAX_SEGMENT_SAMPLES),
        default=None,
        help="segment length in samples at target fs",
    )
    p.add_argument(
        "--target-fs", type=cli_args.rate_hz, default=None, help="output sampling rate in Hz (default 250)"
    )
    for step in ("notch", "bandpass", "highpass", "denoise", "resample", "fill-gaps"):
        p.add_argument(f"--no-{step}", action="store_true", help=f"skip the {step} step")
    p.add_argument(
        "--leads",
        type=cli_args.lead_list,
        default=None,
        help="comma-separated leads to keep (default: the 12 standard)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an OUT made with other settings")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _build_config(args: argparse.Namespace):
    """PreprocessConfig from ``--config`` plus the override flags."""
    from ecgbyte.errors import ConfigError
    from ecgbyte.signal.config import PreprocessConfig

    data: dict = {}
    if args.config is not None:
        try:
            data = json.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.config}: cannot read the config JSON ({exc})") from exc
        if isinstance(data, dict) and "preprocess" in data and "format" in data:
            data = data["preprocess"]  # an OUT/config.json of an earlier run
        if not isinstance(data, dict):
            raise ConfigError(f"{args.config}: expected a JSON object")
    base = PreprocessConfig.from_dict(data)
    over = base.to_dict()
    if args.target_fs is not None:
        over["target_fs"] = args.target_fs
    for step in ("notch", "bandpass", "highpass", "denoise", "resample", "fill_gaps"):
        if getattr(args, f"no_{step}"):
            over[step] = False
    if args.segment_seconds is not None and args.segment_length is not None:
        raise ConfigError("give --segment-seconds or --segment-length, not both")
    if args.segment_seconds is not None:
        over["segment_length"] = round(args.segment_seconds * over["target_fs"])
    if args.segment_length is not None:
        over["segment_length"] = args.segment_length
    return PreprocessConfig.from_dict(over)


def run(args: argparse.Namespace) -> int:
    from ecgbyte.batch import DEFAULT_SHARD_SIZE, preprocess_dataset
    from ecgbyte.ecg import STANDARD_LEADS

    leads = tuple(x.strip() for x in args.leads.split(",") if x.strip()) if args.leads else STANDARD_LEADS
    summary = preprocess_dataset(
        args.src,
        args.out,
        _build_config(args),
        layout=args.layout,
        workers=args.workers,
        shard_size=args.shard_size or DEFAULT_SHARD_SIZE,
        leads=leads,
        ptbxl_fs=args.ptbxl_fs,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    skipped = ", ".join(f"{k}={v}" for k, v in summary.skipped.items()) or "none"
    print(
        f"read {summary.read} records: wrote {summary.written} ({summary.segments} segments in "
        f"{summary.shards} shards, {summary.shards_resumed} resumed), skipped {skipped}; output in {args.out}"
    )
    return 0
