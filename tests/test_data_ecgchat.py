"""ECG-Chat style instruction JSON: flattening of multi-turn conversations, record joins, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecgbyte.data.ecgchat import clean_turn, load_ecgchat, patient_of
from ecgbyte.data.splits import split_by_patient
from ecgbyte.errors import DatasetError

wfdb = pytest.importorskip("wfdb")
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _record(root: Path, rel: str, seed: int) -> None:
    d = (root / rel).parent
    d.mkdir(parents=True, exist_ok=True)
    sig = np.random.default_rng(seed).normal(0, 0.1, size=(500, 12))
    wfdb.wrsamp(
        Path(rel).name,
        fs=500,
        units=["mV"] * 12,
        sig_name=LEADS,
        p_signal=sig,
        fmt=["16"] * 12,
        write_dir=str(d),
    )


def _turn(who: str, text: str) -> dict:
    return {"from": who, "value": text}


@pytest.fixture
def chat(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "mimic"
    _record(root, "files/p1000/p10000032/s40689238/40689238", 0)
    _record(root, "files/p1000/p10000032/s44458630/44458630", 1)
    _record(root, "other/rec7", 2)
    data = [
        {
            "id": "c1",
            "ecg": "files/p1000/p10000032/s40689238/40689238",
            "conversations": [
                _turn("human", "<ecg>\nPlease interpret this ECG."),
                _turn("gpt", "Sinus rhythm. Normal ECG."),
                _turn("human", "Is there atrial fibrillation?"),
                _turn("gpt", "No."),
            ],
        },
        {
            "id": "c2",
            "ecg": "files/p1000/p10000032/s44458630/44458630",
            "conversations": [
                _turn("human", "What is the rhythm?\n<ecg>"),
                _turn("gpt", "Sinus bradycardia."),
            ],
        },
        {
            "id": "c3",
            "ecg": "files/p1000/p10000099/s49999999/49999999",
            "conversations": [
                _turn("human", "<ecg>\nDescribe."),
                _turn("gpt", "Missing record."),
                _turn("human", "More?"),
                _turn("gpt", "Still missing."),
            ],
        },
        {
            "id": "c4",
            "ecg": "other/rec7.hea",
            "patient_id": "P7",
            "conversations": [
                _turn("user", "<image>\nRate?"),
                _turn("assistant", "Normal rate."),
                _turn("human", "And axis?"),
            ],
        },
        {
            "id": "c5",
            "ecg": "other/rec7",
            "conversations": [_turn("human", "<ecg>\nAnything?"), _turn("gpt", "  ")],
        },
    ]
    path = tmp_path / "pretrain_mimic.json"
    path.write_text(json.dumps(data))
    return path, root


def test_flattening_and_joins(chat: tuple[Path, Path]) -> None:
    items, report = load_ecgchat(*chat)
    assert [it.item_id for it in items] == ["c1#0", "c1#1", "c2#0", "c4#0"]
    q0, q1, q2, q4 = (it.question for it in items)
    assert q0 == "Please interpret this ECG."
    assert (
        q1
        == "User: Please interpret this ECG.\nAssistant: Sinus rhythm. Normal ECG.\nUser: Is there atrial fibrillation?"
    )
    assert q2 == "What is the rhythm?" and q4 == "Rate?"
    assert [it.answer for it in items] == [
        "Sinus rhythm. Normal ECG.",
        "No.",
        "Sinus bradycardia.",
        "Normal rate.",
    ]
    assert [it.patient_id for it in items] == ["10000032", "10000032", "10000032", "P7"]
    assert (
        items[3].meta["patient_id_source"] == "field" and items[0].meta["patient_id_source"] == "mimic_path"
    )
    assert items[0].ecgs[0].path == chat[1] / "files/p1000/p10000032/s40689238/40689238.hea"
    assert items[3].ecgs[0].path == chat[1] / "other/rec7.hea"
    # c1: 2 turns, c2: 1, c3: 2 (missing record), c4: 1 + 1 unanswered, c5: 1 empty answer
    assert report.n_read == 8 and report.n_loaded == 4
    assert report.counts == {"empty_answer": 1, "missing_record": 1, "unanswered_turn": 1}
    miss = next(s for s in report.skipped if s.reason == "missing_record")
    assert miss.index == 2 and miss.item_id == "c3" and "2 turn(s)" in miss.detail


def test_no_history_and_strict(chat: tuple[Path, Path]) -> None:
    items, _ = load_ecgchat(*chat, history=False)
    assert items[1].question == "Is there atrial fibrillation?"
    with pytest.raises(DatasetError, match=r"item 2 \(c3\): missing_record"):
        load_ecgchat(*chat, strict=True)


def test_items_read_records_and_split_by_patient(chat: tuple[Path, Path]) -> None:
    from ecgbyte.data.items import load_ecg

    items, _ = load_ecgchat(*chat)
    ecg = load_ecg(items[0].ecgs[0])
    assert ecg.signal.shape == (12, 500) and ecg.fs == 500
    splits = split_by_patient(items, fractions=(0.5, 0.5, 0.0), seed=0)
    where = {it.patient_id: name for name, v in splits.items() for it in v}
    assert sum(len(v) for v in splits.values()) == 4 and len(where) == 2  # c1, c2 turns stay together


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('[{"id": 1,', r"not valid JSON"),
        ({"id": "x"}, r"top level is dict"),
        (
            [{"id": "a", "conversations": [_turn("human", "q"), _turn("gpt", "a")]}],
            r"item 0: missing or empty 'ecg'",
        ),
        ([{"id": "a", "ecg": "r", "conversations": []}], r"item 0: 'conversations' must be a non-empty list"),
        (
            [{"id": "a", "ecg": "r", "conversations": [_turn("human", "q"), {"from": "gpt"}]}],
            r"item 0: turn 1 needs string 'from' and 'value'",
        ),
        (
            [{"id": "a", "ecg": "r", "conversations": [_turn("system", "q")]}],
            r"item 0: turn 0 has unknown role",
        ),
        (
            [{"id": "a", "ecg": "r", "conversations": [_turn("gpt", "a"), _turn("human", "q")]}],
            r"item 0: turn 0 is from 'gpt'; turns must alternate",
        ),
        (
            [
                {"id": "a", "ecg": "r", "conversations": [_turn("human", "q"), _turn("gpt", "a")]},
                {"id": "a", "ecg": "r", "conversations": [_turn("human", "q"), _turn("gpt", "a")]},
            ],
            r"item 1: duplicate id 'a'",
        ),
    ],
)
def test_malformed_files(tmp_path: Path, payload: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    with pytest.raises(DatasetError, match=r"bad\.json: " + message):
        load_ecgchat(path, tmp_path)


def test_helpers() -> None:
    assert clean_turn("<ecg>\n  What is this?  ") == "What is this?"
    assert clean_turn("Look at <IMAGE> here") == "Look at here"
    assert patient_of("files/p1000/p10000032/s40689238/40689238", {}) == ("10000032", "mimic_path")
    assert patient_of("x/y", {"patient_id": 5}) == ("5", "field")
    assert patient_of("x/y", {}) == ("x/y", "record")


def test_registry_spec(chat: tuple[Path, Path]) -> None:
    from ecgbyte.data.ecgchat import splits_from_spec

    spec = {
        "name": "ecgchat",
        "json": str(chat[0]),
        "root": str(chat[1]),
        "seed": 0,
        "fractions": [0.5, 0.5, 0.0],
    }
    splits = splits_from_spec(spec)
    assert sorted(it.item_id for v in splits.values() for it in v) == ["c1#0", "c1#1", "c2#0", "c4#0"]
    assert splits == splits_from_spec(spec)  # seeded
    with pytest.raises(DatasetError, match="needs 'root'"):
        splits_from_spec({"name": "ecgchat", "json": str(chat[0])})
