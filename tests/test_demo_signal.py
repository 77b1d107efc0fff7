"""`ecgbyte demo` (first stage): synthetic ECGs -> preprocess -> quantizer -> summary + plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgbyte.cli import main
from ecgbyte.errors import ConfigError
from ecgbyte.symbols import Quantizer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from ecgbyte.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, n_ecgs=10, seed=4)


def test_writes_every_output(demo):
    out, result = demo
    names = {
        "summary.json",
        "labels.jsonl",
        "quantizer.json",
        "synth_config.json",
        "preprocess_config.json",
        "signals.png",
        "symbol_histogram.png",
    }
    assert {p.name for p in out.iterdir()} == names  # and no temp files left behind
    assert {p.name for p in result["paths"].values()} == names
    for png in ("signals.png", "symbol_histogram.png"):
        data = (out / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_summary_counts_add_up(demo):
    out, result = demo
    s = json.loads((out / "summary.json").read_text())
    assert s == json.loads(json.dumps(result["summary"], default=str))
    assert s["n_ecgs"] == 10 and s["n_preprocessed"] + s["n_rejected"] == 10
    assert s["raw_fs"] == 500.0 and s["preprocessed_fs"] == 250.0 and s["samples_per_lead"] == 2500
    for counts in s["label_balance"].values():
        assert sum(counts.values()) == 10
    assert s["label_balance"]["rhythm"] == {"atrial fibrillation": 3, "sinus": 7}
    assert list(s["symbol_histogram"]) == list("abcdefghijklmnopqrstuvwxyz")
    assert sum(s["symbol_histogram"].values()) == s["n_preprocessed"] * 12 * 2500
    rec = s["reconstruction"]
    assert rec["max_abs_error_in_range_mv"] <= rec["half_bin_mv"] + 1e-4
    assert 0 < rec["rmse_mv"] < rec["half_bin_mv"]
    assert rec["clipped_fraction"] < 0.02
    lines = (out / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 10 and json.loads(lines[0])["record_id"] == "synth-s4-000000"


def test_quantizer_file_matches_and_codes_consistent(demo):
    out, result = demo
    q = Quantizer.load(out / "quantizer.json")
    assert q == result["quantizer"]
    assert q.p1 < 0 < q.p99
    pre, codes = result["preprocessed"], result["codes"]
    assert len(codes) == len(pre)
    np.testing.assert_array_equal(codes[0], q.symbolize(pre[0].signal))
    assert codes[0].dtype == np.uint8 and codes[0].shape == (12, 2500)
    assert all(e.meta["preprocess_hash"] for e in pre)


def test_same_seed_same_summary(tmp_path, demo):
    from ecgbyte.demo import run_demo

    _, first = demo
    again = run_demo(tmp_path, n_ecgs=10, seed=4, make_plots=False)
    keep = ("label_balance", "quantizer", "symbol_histogram", "reconstruction")
    assert {k: again["summary"][k] for k in keep} == {k: first["summary"][k] for k in keep}
    other = run_demo(tmp_path / "o", n_ecgs=10, seed=5, make_plots=False)
    assert other["summary"]["quantizer"] != first["summary"]["quantizer"]


def test_short_ecgs_drop_the_segment_length_check(tmp_path):
    from ecgbyte.demo import run_demo

    r = run_demo(tmp_path, n_ecgs=3, seed=0, duration_s=4.0, make_plots=False)
    assert r["summary"]["samples_per_lead"] == 1000 and r["summary"]["n_rejected"] == 0
    cfg = json.loads((tmp_path / "preprocess_config.json").read_text())
    assert cfg["segment_length"] is None and cfg["target_fs"] == 250.0


def test_bad_n_ecgs(tmp_path):
    from ecgbyte.demo import run_demo

    with pytest.raises(ConfigError, match="n_ecgs"):
        run_demo(tmp_path, n_ecgs=0)


def test_cli_demo_signal_stage(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "o"), "--seed", "1", "--no-plots", "--signal-only"]) == 0
    printed = capsys.readouterr().out
    assert "[1/2] signal: 64 synthetic ECGs" in printed and "quantizer p1" in printed
    assert "[2/2]" not in printed
    sig = tmp_path / "o" / "signal"
    assert (sig / "summary.json").is_file() and not (sig / "signals.png").exists()
    assert main(["demo", "--out", str(tmp_path / "x"), "--n-ecgs", "0"]) == 2
    err = capsys.readouterr().err
    assert "argument --n-ecgs: must be an integer in 10.." in err and not (tmp_path / "x").exists()
