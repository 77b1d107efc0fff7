"""benchmarks/command_peak.py (``scale_bench.py --command``) on a tiny source: the source is a real
``ecgbyte preprocess`` output, the trainer-only case trains on exactly the command's symbols (its
merges are those in the command's tokenizer.json), and the peaks it reports are consistent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import command_peak as cp


def test_source_is_preprocess_output(tmp_path):
    shards = cp.build_source(tmp_path, 3, seed=5)
    assert not (tmp_path / "raw").exists()  # the raw records are deleted once the shards exist
    summary = json.loads((shards / "summary.json").read_text())
    assert summary["complete"] and summary["written"] == 3 and summary["segments"] == 3
    data = np.load(shards / "shards" / "shard-00000.npy")
    assert data.shape == (3, 12, 2500) and data.dtype == np.float32  # 10 s at 250 Hz, 12 leads


def test_measure_trains_on_the_commands_symbols(tmp_path):
    shards = cp.build_source(tmp_path, 4, seed=1)
    row = cp.measure(shards, tmp_path, merges=30, threads=1, timeout=600, repeats=2)
    assert row["symbols"] == 4 * cp.SYMBOLS_PER_ECG and row["ecgs"] == 4
    assert row["corpus_bytes"] == row["symbols"]  # uint8: one byte per symbol
    assert row["same_merges"] and row["n_learned"] == 30
    assert 0 < row["trainer_beyond_corpus"] < row["trainer_process_peak"]
    assert all(b < p for b, p in zip(row["trainer_rss_before"], row["trainer_process_peaks"], strict=True))
    assert len(row["command_peaks"]) == len(row["trainer_process_peaks"]) == 2
    assert row["command_peak"] == int(np.median(row["command_peaks"]))
    assert row["ratio_vs_trainer_process"] == row["command_peak"] / row["trainer_process_peak"]
    assert row["ratio_worst"] == max(row["command_peaks"]) / min(row["trainer_process_peaks"])
    assert row["command"].startswith(f"ecgbyte train-tokenizer {shards} ")
    assert not (tmp_path / "codes.npy").exists() and not (tmp_path / "tok").exists()


def test_markdown_has_one_row_per_case():
    row = {
        "symbols": 30000, "ecgs": 1, "merges": 10, "command_s": 1.0, "command_peak": 2e8,
        "bps_command": 6666.7, "trainer_process_peak": 1e8, "bps_trainer_process": 3333.3,
        "trainer_beyond_corpus": 1e7, "bps_trainer_beyond_corpus": 333.3,
        "ratio_vs_trainer_process": 2.0, "ratio_worst": 2.5, "ratio_vs_trainer_own_plus_corpus": 19.9,
        "same_merges": True,
    }  # fmt: skip
    lines = cp.markdown([row, row]).splitlines()
    assert len(lines) == 4
    assert "| 200 (6666.70) | 100 (3333.30) | 10 (333.30) | 2.000 (2.500) | 19.900 | True |" in lines[2]
