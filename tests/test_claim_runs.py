"""benchmarks/claim_runs.py: the two-stage system's separate stage-1 corpus (issue 14), on small data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from claim_runs import Setup, load_data, stage1_for
from ecgbyte.data.items import unique_ecgs

SETUP = Setup(leads=("II", "V1"), pretrain_ecgs=6, enc_epochs=1.0, n_merges=5)


@pytest.fixture(scope="module")
def data():
    return load_data(20, SETUP)


def test_the_corpus_is_other_records_and_patients_with_one_report_each(data) -> None:
    corpus, train = data["corpus"], unique_ecgs(data["train_qa"])
    test = unique_ecgs(data["test_qa"])
    assert len(corpus) == 6 and len(data["corpus_texts"]) == 6
    assert all(e.leads == ("II", "V1") and e.fs == 50.0 for e in corpus)
    seen = {e.record_id for e in train + test}
    assert not seen & {e.record_id for e in corpus}
    assert not {e.patient_id for e in train + test} & {e.patient_id for e in corpus}
    for e, text in zip(corpus, data["corpus_texts"]):  # each report states its own ECG's rate
        assert f"{round(e.meta['labels']['heart_rate_bpm'])} bpm" in text
    assert load_data(20, Setup(leads=("II", "V1")))["corpus"] == []  # 0: no corpus


def test_the_corpus_encoder_is_trained_once_per_seed_and_charged_to_every_run(data) -> None:
    train = unique_ecgs(data["train_qa"])
    tok, cost, n = stage1_for("two_stage", data, train, SETUP, seed=0)
    again = stage1_for("two_stage", data, train[:5], SETUP, seed=0)  # another data fraction
    assert n == 6 and again[0] is tok and again[1] == cost and again[2] == 6
    assert cost["steps"] == tok.info["steps"] > 0
    assert cost["tokens"] == 6 * 2 * 500 * 1.0  # ECGs x leads x samples x epochs
    assert stage1_for("two_stage", data, train, SETUP, seed=1)[0] is not tok
    _, e2e_cost, n_e2e = stage1_for("end_to_end", data, train[:5], SETUP, seed=0)  # no corpus
    assert n_e2e == 5 and e2e_cost["steps"] == 0 and e2e_cost["tokens"] == 5 * 2 * 500
