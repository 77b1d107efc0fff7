"""``ecgbyte ask``: one question about one record with a (tiny, briefly trained) run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
wfdb = pytest.importorskip("wfdb")

from ecgbyte.cli import main  # noqa: E402
from ecgbyte.data.items import QAItem  # noqa: E402
from ecgbyte.elm.generate import ask  # noqa: E402
from ecgbyte.errors import DatasetError, ModelError, RecordError  # noqa: E402
from tiny import train_synthetic_run  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, _ = train_synthetic_run(
        tmp_path_factory.mktemp("ask") / "run",
        n_ecgs=12,
        seed=0,
        n_merges=20,
        text_vocab_size=120,
        batch_size=4,
        max_steps=2,
        warmup_steps=1,
        max_length=640,
        max_new_tokens=4,
        log_every=1,
    )
    return out


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ecgbyte.signal.synth import synthesize

    ecg = synthesize(1, seed=5, fs=500.0, duration_s=10.0)[0]
    d = tmp_path_factory.mktemp("rec")
    wfdb.wrsamp(
        "r1",
        fs=500,
        units=["mV"] * ecg.n_leads,
        sig_name=list(ecg.leads),
        p_signal=ecg.signal.T.astype(np.float64),
        fmt=["16"] * ecg.n_leads,
        write_dir=str(d),
    )
    return d / "r1.hea"


def test_ask_matches_batched_generation(run_dir: Path, record: Path) -> None:
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.run import load_run
    from ecgbyte.io import read_record

    q = "What is the rhythm of this ECG?"
    run = load_run(run_dir)
    res = ask(run, record, q)
    assert set(res) == {"answer", "question", "records", "n_prompt_tokens", "n_cut", "checkpoint"}
    assert res["checkpoint"] == "step-0000002" and res["records"] == [str(record)] and res["n_cut"] == 0
    item = QAItem("x", "p", (read_record(record, leads=None),), q, "unused")
    [row] = predict(run, [item], batch_size=1)
    assert res["answer"] == row["prediction"]
    assert res["n_prompt_tokens"] > 2 + len(run.text_tokenizer(q, add_special_tokens=False)["input_ids"])
    # a comparison question takes two records: the prompt holds both ECGs
    two = ask(run, [record, record], q)
    ecg_part = res["n_prompt_tokens"] - len(run.text_tokenizer(q, add_special_tokens=False)["input_ids"]) - 1
    assert two["n_prompt_tokens"] == res["n_prompt_tokens"] + ecg_part


def test_cli_prints_the_answer(run_dir: Path, record: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = ask(run_dir, record, "Is the heart rate slow, normal or fast?")["answer"]
    capsys.readouterr()
    assert main(["ask", str(run_dir), str(record), "Is the heart rate slow, normal or fast?"]) == 0
    assert capsys.readouterr().out == expected + "\n"


def test_ask_errors(run_dir: Path, record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DatasetError, match="question is empty"):
        ask(run_dir, record, "  ")
    with pytest.raises(RecordError, match="no such file"):
        ask(run_dir, tmp_path / "nope.hea", "Rate?")
    with pytest.raises(DatasetError, match="one record"):
        ask(run_dir, [record] * 3, "Rate?")
    with pytest.raises(ModelError, match="not a training run directory"):
        ask(tmp_path / "no_run", record, "Rate?")
    assert main(["ask", str(tmp_path / "no_run"), str(record), "Rate?"]) == 2
    assert "ecgbyte ask: error:" in capsys.readouterr().err
