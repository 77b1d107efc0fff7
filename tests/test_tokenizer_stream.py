"""``train-tokenizer`` reads its source in passes: the same tokenizer as training on the loaded
sample, and memory that does not grow with the size of the source (real PTB-XL records)."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import pytest

from ecgbyte.cli import main
from ecgbyte.corpus import load_training_ecgs
from ecgbyte.sampling import sample_ecgs
from ecgbyte.tokenizer import ECGByteTokenizer
from ecgbyte.tokenizer_stream import train_streaming


def _records(ptbxl_dir: Path, out: Path, n: int) -> Path:
    src = ptbxl_dir / "records100" / "00000"
    names = sorted(p.stem for p in src.glob("*.hea"))[:n]
    assert len(names) == n
    out.mkdir(parents=True)
    for name in names:
        for suffix in (".hea", ".dat"):
            shutil.copy(src / f"{name}{suffix}", out / f"{name}{suffix}")
    return out


def _in_memory(src, *, num_ecgs, sampling, seed, segment_seconds, n_merges):
    """What train-tokenizer did before: load every segment, sample, train on the sample."""
    ecgs, cfg, info = load_training_ecgs(src, segment_seconds=segment_seconds)
    chosen = sample_ecgs(ecgs, len(ecgs) if num_ecgs is None else num_ecgs, method=sampling, seed=seed)
    tok = ECGByteTokenizer.train([ecgs[i] for i in chosen], n_merges=n_merges, seed=seed, preprocess=cfg)
    tok.info.update(info)
    tok.info.update(
        {"sampling": sampling, "n_available": len(ecgs), "segment_samples": int(ecgs[0].n_samples)}
    )
    return tok


def _files(tok: ECGByteTokenizer, out: Path) -> dict[str, bytes]:
    tok.save_pretrained(out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def records(ptbxl_dir, tmp_path_factory):
    return _records(ptbxl_dir, tmp_path_factory.mktemp("r") / "recs", 8)


@pytest.mark.parametrize(("sampling", "num_ecgs"), [("random", 9), ("stratified", 10), ("random", None)])
def test_streaming_gives_the_in_memory_tokenizer_from_records(records, tmp_path, sampling, num_ecgs):
    options = {"num_ecgs": num_ecgs, "sampling": sampling, "seed": 5, "segment_seconds": 2.5, "n_merges": 150}
    old = _in_memory(records, **options)
    new = train_streaming(records, **options)
    assert new.info == old.info and new.info["n_ecgs"] == (num_ecgs or 32)
    assert _files(new, tmp_path / "new") == _files(old, tmp_path / "old")


def test_streaming_gives_the_in_memory_tokenizer_from_shards(records, tmp_path):
    shards = tmp_path / "shards"
    assert main(["preprocess", str(records), str(shards), "--segment-seconds", "2", "--no-progress"]) == 0
    options = {"num_ecgs": 12, "sampling": "stratified", "seed": 1, "segment_seconds": None, "n_merges": 120}
    old = _in_memory(shards, **options)
    new = train_streaming(shards, **options)
    assert _files(new, tmp_path / "new") == _files(old, tmp_path / "old")
    assert new.info["source_kind"] == "shards" and new.info["n_available"] == 40


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_a_streaming_pass_does_not_grow_with_the_source(ptbxl_dir, tmp_path):
    """Six times the records, the same sample size: the streaming peak stays put, while loading
    the whole source (the old way) grows with it (which shows the measure can tell)."""
    small = _records(ptbxl_dir, tmp_path / "small", 6)
    large = _records(ptbxl_dir, tmp_path / "large", 36)
    options = {"num_ecgs": 4, "sampling": "random", "seed": 0, "segment_seconds": 5.0, "n_merges": 20}
    train_streaming(small, **options)  # kernels compiled and imports done before measuring
    stream_small = _peak(lambda: train_streaming(small, **options))
    stream_large = _peak(lambda: train_streaming(large, **options))
    loaded_small = _peak(lambda: load_training_ecgs(small, segment_seconds=5.0))
    loaded_large = _peak(lambda: load_training_ecgs(large, segment_seconds=5.0))
    assert loaded_large > 2 * loaded_small  # holding the source grows with it...
    assert stream_large < 1.25 * stream_small  # ...reading it in passes does not
