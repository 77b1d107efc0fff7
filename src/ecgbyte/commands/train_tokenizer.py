"""Train an ECG-Byte tokenizer (quantizer + BPE merges) and save it as a directory.

SRC is the output of `ecgbyte preprocess` (shards; their preprocessing config is adopted) or a
directory / dataset of records (PTB-XL, MIMIC-IV-ECG, WFDB/.npy files), which are preprocessed
and cut into segments here. NUM_ECGS segments are sampled with SEED, at random or stratified by
morphology as in the paper (PCA + k-means, k by silhouette, an even share per cluster).
OUT_DIR receives tokenizer.json (Hugging Face format) and ecgbyte_config.json.

Example:
  ecgbyte train-tokenizer ../shared/data/ptb-xl tok/ --merges 3500 --num-ecgs 50 --sampling stratified
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

NAME = "train-tokenizer"
HELP = "train an ECG-Byte BPE tokenizer from shards or records"
ORDER = 30

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "src", metavar="SRC", help="`ecgbyte preprocess` output, or a directory/dataset of records"
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="directory for tokenizer.json + ecgbyte_config.json")
    p.add_argument("--merges", type=int, default=3500, help="number of BPE merges (default 3500, the paper)")
    p.add_argument("--num-ecgs", type=int, default=None, help="ECG segments to train on (default: all)")
    p.add_argument("--sampling", choices=("random", "stratified"), default="random", help="how to pick them")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the quantizer fit")
    p.add_argument("--min-frequency", type=int, default=2, help="a pair must occur this often to merge")
    p.add_argument("--max-token-length", type=int, default=None, help="longest token in symbols")
    p.add_argument(
        "--segment-seconds", type=float, default=None, help="segment length in s (default: shards' or 10 s)"
    )
    p.add_argument(
        "--layout", default="auto", choices=("auto", "dir", "ptbxl", "mimic"), help="records layout"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="BPE training threads (default: all cores; same merges)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _is_shards(src: Path) -> bool:
    return (src / "config.json").is_file() and (src / "manifest.jsonl").is_file()


def load_training_ecgs(
    src: str | Path, *, segment_seconds: float | None = None, layout: str = "auto"
) -> tuple[list[Any], Any, dict[str, Any]]:
    """Preprocessed segments of ``src`` with the preprocessing config they were made with.

    Returns ``(ecgs, PreprocessConfig, info)``; every ``Ecg`` carries ``meta["preprocess_hash"]``.
    Records that fail to read or preprocess are skipped and counted in ``info["skipped"]``.
    """
    from ecgbyte.errors import ConfigError, DatasetError, RecordError
    from ecgbyte.signal import PreprocessConfig, preprocess, segment

    src = Path(src)
    if segment_seconds is not None and not segment_seconds > 0:
        raise ConfigError(f"--segment-seconds must be > 0, got {segment_seconds}")
    info: dict[str, Any] = {"source": str(src)}
    if src.is_dir() and _is_shards(src):
        from ecgbyte.io.shards import iter_segments, read_run_config

        run_cfg = read_run_config(src)
        cfg = PreprocessConfig.from_dict(run_cfg["preprocess"])
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

    cfg = PreprocessConfig()
    seconds = segment_seconds if segment_seconds is not None else cfg.segment_length / cfg.target_fs
    length = round(seconds * cfg.target_fs)
    import dataclasses

    cfg = dataclasses.replace(cfg, segment_length=length)
    info["source_kind"] = "records"
    ecgs, skipped = [], {}
    for ref in discover(src, layout=layout):
        try:
            ecgs.extend(segment(preprocess(read_record(ref.path), cfg), length))
        except RecordError as exc:
            skipped[exc.reason] = skipped.get(exc.reason, 0) + 1
            log.warning("skipping %s", exc)
    info["skipped"] = skipped
    if not ecgs:
        raise DatasetError(f"{src}: no record could be read and preprocessed (skipped: {skipped})")
    return ecgs, cfg, info


def train_tokenizer(
    src: str | Path,
    out_dir: str | Path,
    *,
    n_merges: int = 3500,
    num_ecgs: int | None = None,
    sampling: str = "random",
    seed: int = 0,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    segment_seconds: float | None = None,
    layout: str = "auto",
    progress: bool = False,
    threads: int | None = None,
) -> tuple[Any, tuple[str, ...]]:
    """What ``ecgbyte train-tokenizer`` does; returns ``(tokenizer, paths written)``."""
    from ecgbyte.sampling import sample_ecgs
    from ecgbyte.tokenizer import ECGByteTokenizer

    ecgs, cfg, info = load_training_ecgs(src, segment_seconds=segment_seconds, layout=layout)
    n = len(ecgs) if num_ecgs is None else num_ecgs
    chosen = sample_ecgs(ecgs, n, method=sampling, seed=seed)
    tok = ECGByteTokenizer.train(
        [ecgs[i] for i in chosen],
        n_merges=n_merges,
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        seed=seed,
        preprocess=cfg,
        progress=progress,
        threads=threads,
    )
    tok.info.update(info)
    tok.info.update(
        {"sampling": sampling, "n_available": len(ecgs), "segment_samples": int(ecgs[0].n_samples)}
    )
    paths = tok.save_pretrained(out_dir)
    return tok, paths


def run(args: argparse.Namespace) -> int:
    tok, paths = train_tokenizer(
        args.src,
        args.out_dir,
        n_merges=args.merges,
        num_ecgs=args.num_ecgs,
        sampling=args.sampling,
        seed=args.seed,
        min_frequency=args.min_frequency,
        max_token_length=args.max_token_length,
        segment_seconds=args.segment_seconds,
        layout=args.layout,
        progress=not args.no_progress,
        threads=args.threads,
    )
    print(f"trained {tok!r} on {tok.info['n_ecgs']} ECG segments; wrote {', '.join(paths)}")
    return 0
