"""Sequence building on hand-made examples: exact ids, labels, positions, padding, truncation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecgbyte.data import QAItem
from ecgbyte.data.sequences import (
    IGNORE_INDEX,
    EncodedCache,
    EncodedEcg,
    SequenceBuilder,
    SequenceLayout,
    TruncationPolicy,
    build_examples,
    collate,
)
from ecgbyte.ecg import Ecg
from ecgbyte.ecg_tokenizer import EcgTokenizer
from ecgbyte.errors import ConfigError, DatasetError, ModelError

WORDS = {"rate?": 7, "fast": 8, "slow": 9}
LAYOUT = SequenceLayout(
    bos_id=1,
    eos_id=2,
    pad_id=0,
    ecg_start_id=5,
    ecg_end_id=6,
    ecg_offset=10,
    ecg_vocab_size=20,
    tokenizer_hash="abc",
)
# lead I: ECG ids 3 4 5 (at 0, 1, 2 s); lead II: ids 1 2 (at 0, 1 s)
ENC = EncodedEcg(np.array([3, 4, 5, 1, 2]), np.array([0, 3, 5]), ("I", "II"), np.array([0, 1, 2, 0, 1.0]))


def words(s: str) -> list[int]:
    return [WORDS[w] for w in s.split()]


def builder(
    policy: TruncationPolicy | None = None,
    *,
    max_length: int = 64,
    layout=LAYOUT,
    no_signal: bool = False,
) -> SequenceBuilder:
    return SequenceBuilder(
        layout,
        policy or TruncationPolicy(),
        max_length=max_length,
        encode_text=words,
        answer_reserve=2,
        no_signal=no_signal,
    )


def test_paper_sequence_exact_ids_and_labels() -> None:
    ex = builder().build([ENC], "rate?", "fast", item_id="x")
    #                    bos start  I: 3 4 5 -> +10   II: 1 2 -> +10  end  q  answer eos
    assert ex.input_ids == [1, 5, 13, 14, 15, 11, 12, 6, 7, 8, 2]
    assert ex.labels == [IGNORE_INDEX] * 9 + [8, 2]
    assert ex.prompt_len == 9 and ex.n_cut == 0


def test_two_ecgs_each_between_markers_and_lead_markers() -> None:
    lay = SequenceLayout(**{**LAYOUT.to_dict(), "lead_marker_ids": {"I": 3, "II": 4}})
    ex = builder(layout=lay).build([ENC, ENC], "rate?", "slow")
    one = [5, 3, 13, 14, 15, 4, 11, 12, 6]
    assert ex.input_ids == [1, *one, *one, 7, 9, 2]


def test_no_signal_drops_ecg_and_markers() -> None:
    assert builder(no_signal=True).build([ENC], "rate?", "fast").input_ids == [1, 7, 8, 2]


def test_prompt_without_answer() -> None:
    ex = builder().build([ENC], "rate?", None)
    assert ex.input_ids == [1, 5, 13, 14, 15, 11, 12, 6, 7] and ex.prompt_len == 9


@pytest.mark.parametrize(
    ("policy", "ecg_ids", "n_cut"),
    [
        (TruncationPolicy(keep_leads=("II",)), [11, 12], 3),
        (TruncationPolicy(keep_leads=("II", "I")), [11, 12, 13, 14, 15], 0),
        (TruncationPolicy(max_seconds=1.5), [13, 14, 11, 12], 1),
        (TruncationPolicy(max_ecg_tokens=3), [13, 11], 3),  # the first c=1 token per lead (2 <= 3 < 4)
        (TruncationPolicy(max_ecg_tokens=4), [13, 14, 11, 12], 1),
    ],
)
def test_truncation_policy(policy: TruncationPolicy, ecg_ids: list[int], n_cut: int) -> None:
    ex = builder(policy).build([ENC], "rate?", "fast")
    assert ex.input_ids == [1, 5, *ecg_ids, 6, 7, 8, 2]
    assert ex.n_cut == n_cut


def test_context_overflow_cuts_evenly_or_raises() -> None:
    # text + markers take 6 tokens; max_length 9 leaves 3 ECG tokens -> one per lead
    ex = builder(max_length=9).build([ENC], "rate?", "fast")
    assert ex.input_ids == [1, 5, 13, 11, 6, 7, 8, 2] and ex.n_cut == 3
    with pytest.raises(DatasetError, match="truncate"):
        builder(TruncationPolicy(truncate=False), max_length=9).build([ENC], "rate?", "fast")
    with pytest.raises(DatasetError, match="answer reserve alone"):
        builder(max_length=5).build([ENC], "rate?", "fast")
    # the generation prompt keeps exactly the ECG tokens training kept (the answer room is reserved)
    prompt = builder(max_length=9).build([ENC], "rate?", None)
    assert prompt.input_ids == ex.input_ids[: ex.prompt_len] and prompt.n_cut == 3


def test_answer_longer_than_reserve_is_cut_and_counted_or_raises() -> None:
    ex = builder().build([], "rate?", "fast slow fast")  # 3 words + eos > reserve 2
    assert ex.input_ids == [1, 7, 8, 9] and ex.labels == [IGNORE_INDEX, IGNORE_INDEX, 8, 9]
    assert ex.n_answer_cut == 2
    with pytest.raises(DatasetError, match="answer_reserve"):
        builder(TruncationPolicy(truncate=False)).build([], "rate?", "fast slow fast")


def test_unknown_lead_and_missing_times() -> None:
    with pytest.raises(DatasetError, match="keep_leads"):
        builder(TruncationPolicy(keep_leads=("V1",))).build([ENC], "rate?", "fast")
    no_times = EncodedEcg(ENC.ids, ENC.lead_offsets, ENC.leads, None)
    with pytest.raises(DatasetError, match="start times"):
        builder(TruncationPolicy(max_seconds=1.0)).build([no_times], "rate?", "fast")


def test_empty_answers_are_errors() -> None:
    with pytest.raises(DatasetError, match="empty answer"):
        QAItem("i1", "p1", (), "rate?", "  ")
    b = SequenceBuilder(LAYOUT, TruncationPolicy(), max_length=64, encode_text=lambda s: [], answer_reserve=2)
    with pytest.raises(DatasetError, match="no tokens"):
        b.build([ENC], "rate?", "fast", item_id="i2")


def test_collate_left_pads_with_positions_from_first_real_token() -> None:
    short = builder(no_signal=True).build([ENC], "rate?", "fast")
    long = builder().build([ENC], "rate?", "fast")
    batch = collate([short, long], LAYOUT.pad_id)
    assert batch["input_ids"].tolist()[0] == [0] * 7 + [1, 7, 8, 2]
    assert batch["attention_mask"].tolist()[0] == [0] * 7 + [1] * 4
    assert batch["position_ids"].tolist()[0] == [0] * 7 + [0, 1, 2, 3]
    assert batch["position_ids"].tolist()[1] == list(range(11))
    assert batch["labels"].tolist()[0] == [IGNORE_INDEX] * 9 + [8, 2]
    prompt = collate([short, long], LAYOUT.pad_id, prompt_only=True)
    assert prompt["input_ids"].tolist()[0] == [0] * 7 + [1, 7] and "labels" not in prompt
    right = collate([short, long], LAYOUT.pad_id, padding_side="right")
    assert right["input_ids"].tolist()[0] == [1, 7, 8, 2] + [0] * 7
    assert right["attention_mask"].tolist()[0] == [1] * 4 + [0] * 7
    assert right["position_ids"].tolist()[0] == [0, 1, 2, 3] + [0] * 7
    assert right["labels"].tolist()[0] == [IGNORE_INDEX] * 2 + [8, 2] + [IGNORE_INDEX] * 7
    assert right["input_ids"].tolist()[1] == batch["input_ids"].tolist()[1]  # the longest row: no pads
    with pytest.raises(ConfigError, match="padding_side"):
        collate([short], LAYOUT.pad_id, padding_side="middle")


def test_layout_refuses_other_tokenizer() -> None:
    LAYOUT.check_tokenizer("abc")
    with pytest.raises(ModelError, match="ECG tokenizer"):
        LAYOUT.check_tokenizer("zzz")
    assert SequenceLayout.from_dict(json.loads(json.dumps(LAYOUT.to_dict()))) == LAYOUT
    assert LAYOUT.vocab_size == 30


class CountingTokenizer(EcgTokenizer):
    format = "tests.counting"
    vocab_size = 26

    def __init__(self) -> None:
        self.calls = 0

    def prepare(self, ecg: Ecg) -> Ecg:
        return ecg

    def encode(self, ecg: Ecg):
        self.calls += 1
        ids = np.arange(ecg.n_samples * ecg.n_leads, dtype=np.int32) % 26
        return type(
            "E",
            (),
            {
                "ids": ids,
                "lead_offsets": np.arange(ecg.n_leads + 1) * ecg.n_samples,
                "start_s": np.tile(np.arange(ecg.n_samples) / ecg.fs, ecg.n_leads),
                "leads": ecg.leads,
            },
        )()

    def save_pretrained(self, d) -> tuple[str, ...]:
        Path(d).mkdir(parents=True, exist_ok=True)
        (Path(d) / "t.json").write_text("{}")
        return (str(Path(d) / "t.json"),)

    @classmethod
    def from_pretrained(cls, d) -> CountingTokenizer:
        return cls()


def test_cache_encodes_each_ecg_once_in_memory_and_on_disk(tmp_path: Path) -> None:
    ecg = Ecg(np.zeros((2, 4), np.float32), fs=2.0, leads=("I", "II"), record_id="r1", patient_id="p1")
    items = [QAItem(f"q{i}", "p1", (ecg,), "rate?", "fast") for i in range(3)]
    tok = CountingTokenizer()
    cache = EncodedCache(tok, tmp_path / "cache")
    exs = build_examples(items, builder(), cache)
    assert tok.calls == 1 and cache.n_encoded == 1 and len(exs) == 3
    assert exs[0].input_ids[2:6] == [10, 11, 12, 13]
    again = EncodedCache(tok, tmp_path / "cache")
    enc = again.get(ecg)
    assert tok.calls == 1 and again.n_encoded == 0
    np.testing.assert_array_equal(enc.ids, np.arange(8) % 26)
    np.testing.assert_array_equal(enc.start_s, [0, 0.5, 1, 1.5] * 2)
