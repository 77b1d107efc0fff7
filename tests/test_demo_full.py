"""The README's first command, `ecgbyte demo`, at its real size: it must prove the model reads the ECG."""

from __future__ import annotations

import json

import pytest

from ecgbyte.cli import main


@pytest.mark.slow
def test_full_demo_meets_its_bars(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--no-progress", "--no-plots"])
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    acc = results["accuracy"]
    for q in ("rate", "rhythm"):
        assert acc["with_signal"][q] >= 0.85, printed
        assert acc["with_signal"][q] - acc["no_signal"][q] >= 0.25, printed
    # held-out patients really are held out
    assert results["n_patients"]["test"] > 0
    assert code == 0 and "PASS" in printed
