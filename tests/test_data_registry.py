"""Every real dataset loader is reachable by name through the registry used by `ecgbyte train`."""

from __future__ import annotations

import pytest

from ecgbyte.data.registry import known_datasets, load_splits
from ecgbyte.errors import DatasetError


def test_known_names():
    assert known_datasets() == ["ecgchat", "ecgqa", "ptbxl_reports", "synthetic", "synthetic_report"]
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        load_splits({"name": "nope"})


def test_ecgqa_by_spec_matches_the_fixture_counts(full_shared_data, shared_data):
    splits = load_splits(
        {
            "name": "ecgqa",
            "ecgqa_dir": str(shared_data / "ecg-qa" / "ptbxl"),
            "records": str(shared_data / "ptb-xl"),
        }
    )
    # template/train: 110 single-verify + 22 comparison items; valid: 1 (see shared/data/README.md)
    assert len(splits["train"]) == 132 and len(splits["valid"]) == 1
    comparison = [it for it in splits["train"] if len(it.ecgs) == 2]
    assert len(comparison) == 22


def test_ptbxl_reports_by_spec(full_shared_data, shared_data):
    splits = load_splits({"name": "ptbxl_reports", "ptbxl_dir": str(shared_data / "ptb-xl")})
    assert {k: len(v) for k, v in splits.items()} == {"train": 50, "valid": 6, "test": 11}
    assert all(it.answer for v in splits.values() for it in v)


def test_spec_missing_a_path_is_a_clear_error():
    with pytest.raises(DatasetError, match="needs 'ecgqa_dir'"):
        load_splits({"name": "ecgqa"})


def test_train_command_on_real_ecgqa(shared_data, tmp_path):
    """`ecgbyte train --data ecgqa` reads the PTB-XL records behind the questions and trains."""
    import json

    from ecgbyte.cli import main

    out = tmp_path / "run"
    args = ["train", "--data", "ecgqa", "--data-arg", f"ecgqa_dir={shared_data / 'ecg-qa' / 'ptbxl'}"]
    args += ["--data-arg", f"records={shared_data / 'ptb-xl'}", "--steps", "2", "--n-merges", "20"]
    args += ["--batch-size", "4", "--max-new-tokens", "24", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["max_new_tokens"] == 24
    spec = json.loads((out / "config.json").read_text())["extra"]["data"]
    assert spec["name"] == "ecgqa" and spec["records"].endswith("ptb-xl")
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r][-1] == 2
