"""Batch preprocessing: shards + manifest, worker-independent output, resume, errors, CLI, iter_segments."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgbyte.batch import preprocess_dataset
from ecgbyte.cli import main
from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.errors import ConfigError, DatasetError
from ecgbyte.io.shards import iter_segments, load_shard, read_manifest
from ecgbyte.signal import PreprocessConfig

CFG = PreprocessConfig(segment_length=500)  # 2 s at 250 Hz: a 4 s record gives 2 segments


def _ecg_like(seed: int, n: int = 2000, fs: float = 500.0) -> np.ndarray:
    """Seeded ``[samples, 12]`` mV signal with beats (not a real ECG, but not flat)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    beat = np.exp(-(((t % 0.8) - 0.4) ** 2) / (2 * 0.01**2))
    gains = rng.uniform(-1.5, 1.5, 12)
    return beat[:, None] * gains + 0.02 * rng.standard_normal((n, 12))


def _dataset(root: Path, n: int = 7, bad: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        wfdb.wrsamp(f"rec{i:02d}", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
                    p_signal=_ecg_like(i), fmt=["16"] * 12, write_dir=str(root))  # fmt: skip
    if bad:
        flat = np.zeros((2000, 12))
        wfdb.wrsamp("bad_flat", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=flat,
                    fmt=["16"] * 12, write_dir=str(root))  # fmt: skip
        nan = _ecg_like(99)
        nan[200:1200, 3] = np.nan  # a 2 s gap: rejected, not interpolated
        wfdb.wrsamp("bad_nan", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=nan,
                    fmt=["16"] * 12, write_dir=str(root))  # fmt: skip
        short = _ecg_like(5, n=400)  # 0.8 s: shorter than one 2 s segment
        wfdb.wrsamp("bad_short", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=short,
                    fmt=["16"] * 12, write_dir=str(root))  # fmt: skip
        (root / "bad_orphan.dat").write_bytes(b"\0" * 48)
    return root


def _snapshot(out: Path) -> tuple[list[dict], list[np.ndarray], str, str]:
    rows = read_manifest(out)
    n = json.loads((out / "summary.json").read_text())["shards"]
    arrays = [np.array(load_shard(out, k)) for k in range(n)]
    return rows, arrays, (out / "errors.jsonl").read_text(), (out / "summary.json").read_text()


def test_outputs_counts_and_iter_segments(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    s = preprocess_dataset(src, tmp_path / "out", CFG, shard_size=3, progress=False)
    assert (s.read, s.written, s.shards, s.segments, s.complete) == (11, 7, 4, 14, True)
    assert s.skipped == {"flat": 1, "missing_header": 1, "nan_gap": 1, "too_short": 1}
    assert s.read == s.written + sum(s.skipped.values())
    out = tmp_path / "out"
    cfg = json.loads((out / "config.json").read_text())
    assert PreprocessConfig.from_dict(cfg["preprocess"]) == CFG and cfg["config_hash"] == CFG.hash()
    rows = read_manifest(out)
    assert len(rows) == 14 and [r["segment"] for r in rows[:2]] == [0, 1]
    assert {r["config_hash"] for r in rows} == {CFG.hash()}
    assert sum(load_shard(out, k).shape[0] for k in range(4)) == 14
    assert load_shard(out, 0).dtype == np.float32 and load_shard(out, 0).shape[1:] == (12, 500)
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    assert {e["reason"] for e in errors} == set(s.skipped)
    assert all(Path(e["path"]).stem in e["message"] for e in errors)
    segs = list(iter_segments(out))
    assert len(segs) == 14
    first = segs[0]
    assert (first.fs, first.leads, first.signal.shape) == (250.0, STANDARD_LEADS, (12, 500))
    assert first.record_id == rows[0]["record_id"] and first.meta["segment"] == 0
    assert segs[1].meta["segment"] == 1 and segs[1].meta["preprocess_hash"] == CFG.hash()
    assert segs[1].meta["dropped_signals"] == [] and "meta" not in segs[1].meta
    np.testing.assert_array_equal(first.signal, load_shard(out, rows[0]["shard"])[rows[0]["row"]])
    assert not list(out.rglob("*.tmp"))


def test_output_does_not_depend_on_workers(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    preprocess_dataset(src, tmp_path / "w1", CFG, shard_size=4, workers=1, progress=False)
    preprocess_dataset(src, tmp_path / "w2", CFG, shard_size=4, workers=2, progress=False)
    a, b = _snapshot(tmp_path / "w1"), _snapshot(tmp_path / "w2")
    assert a[0] == b[0] and a[2] == b[2]
    assert a[3].replace("w1", "w2") == b[3]
    for x, y in zip(a[1], b[1], strict=True):
        np.testing.assert_array_equal(x, y)


def test_resume_after_kill_equals_uninterrupted_run(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    preprocess_dataset(src, tmp_path / "ref", CFG, shard_size=3, progress=False)
    out = tmp_path / "out"
    s1 = preprocess_dataset(src, out, CFG, shard_size=3, progress=False, max_shards=2)
    assert not s1.complete and not (out / "manifest.jsonl").exists()
    done = {k: os.stat(out / "shards" / f"shard-{k:05d}.npy").st_mtime_ns for k in (0, 1)}
    assert not (out / "shards" / "shard-00002.npy").exists()
    with pytest.raises(DatasetError, match="did not finish"):
        list(iter_segments(out))
    (out / "shards" / "shard-00002.npy").write_bytes(b"half-written")  # array without its part file
    s2 = preprocess_dataset(src, out, CFG, shard_size=3, progress=False)
    assert (s2.complete, s2.shards_resumed) == (True, 2)
    assert {k: os.stat(out / "shards" / f"shard-{k:05d}.npy").st_mtime_ns for k in (0, 1)} == done
    ref, got = _snapshot(tmp_path / "ref"), _snapshot(out)
    assert ref[0] == got[0] and ref[2] == got[2]
    for x, y in zip(ref[1], got[1], strict=True):
        np.testing.assert_array_equal(x, y)
    # a deleted last shard is redone; a rerun of a finished job changes nothing
    (out / "shards" / "shard-00003.json").unlink()
    s3 = preprocess_dataset(src, out, CFG, shard_size=3, progress=False)
    assert s3.shards_resumed == 3 and _snapshot(out)[0] == ref[0]


def test_other_settings_on_existing_out_need_overwrite(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src", n=2, bad=False)
    out = tmp_path / "out"
    preprocess_dataset(src, out, CFG, progress=False)
    other = PreprocessConfig(segment_length=250)
    with pytest.raises(ConfigError, match=r"config_hash differ.*--overwrite"):
        preprocess_dataset(src, out, other, progress=False)
    with pytest.raises(ConfigError, match="shard_size"):
        preprocess_dataset(src, out, CFG, shard_size=1, progress=False)
    s = preprocess_dataset(src, out, other, progress=False, overwrite=True)
    assert s.segments == 8 and read_manifest(out)[0]["config_hash"] == other.hash()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        preprocess_dataset(src, tmp_path / "busy", CFG, progress=False)


def test_bad_settings(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src", n=1, bad=False)
    with pytest.raises(ConfigError, match="workers"):
        preprocess_dataset(src, tmp_path / "o", CFG, workers=0)
    with pytest.raises(ConfigError, match="segment_length"):
        preprocess_dataset(src, tmp_path / "o", PreprocessConfig(segment_length=None))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no records found"):
        preprocess_dataset(tmp_path / "empty", tmp_path / "o", CFG)


def test_cli_on_ptbxl_counts_add_up(full_shared_data, ptbxl_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["preprocess", str(ptbxl_dir), str(out), "--no-progress", "--shard-size", "20",
               "--segment-seconds", "5", "--workers", "2"])  # fmt: skip
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = read_manifest(out)
    assert summary["read"] == 67 == summary["written"] + sum(summary["skipped"].values())
    assert summary["segments"] == len(rows) == 2 * summary["written"]  # 10 s -> two 5 s segments
    assert summary["shards"] == 4
    assert rows[0]["record_id"] == "2" and rows[0]["patient_id"] == "13243" and rows[0]["strat_fold"] == 2
    assert rows[0]["meta"]["scp_codes"] == {"NORM": 80.0, "SBRAD": 0.0}
    seg = next(iter_segments(out))
    assert (seg.meta["strat_fold"], seg.meta["report"]) == (2, "sinusbradykardie sonst normales ekg")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["layout"] == "ptbxl" and cfg["preprocess"]["segment_length"] == 1250
    assert "read 67 records" in capsys.readouterr().out
    # --config takes an earlier run's config.json; --no-notch changes the hash -> clash without --overwrite
    rc = main(["preprocess", str(ptbxl_dir), str(out), "--no-progress", "--shard-size", "20",
               "--config", str(out / "config.json"), "--no-notch"])  # fmt: skip
    assert rc == 2 and "--overwrite" in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["preprocess", str(tmp_path / "empty"), str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no records found" in err and "Traceback" not in err
