"""2 s segments as the original trains on them: items per segment, the cut after preprocessing, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from ecgbyte.data.items import EcgSegment, QAItem, segment_items, unique_ecgs
from ecgbyte.data.sequences import EncodedCache, Example, lead_coverage, prepared
from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, RecordError


def _ecg(rid: str, seconds: float = 10.0, fs: float = 250.0) -> Ecg:
    n = int(seconds * fs)
    t = np.arange(n) / fs
    sig = np.stack([np.sin(2 * np.pi * 1.2 * t), np.cos(2 * np.pi * 0.7 * t)]).astype(np.float32)
    return Ecg(signal=sig, fs=fs, leads=("I", "II"), record_id=rid, patient_id="p" + rid)


def test_segment_items_all_and_first() -> None:
    a, b = _ecg("a"), _ecg("b")
    items = [QAItem("q1", "pa", (a,), "rate?", "normal"), QAItem("q2", "pa", (a, b), "same?", "yes")]
    every = segment_items(items, 2.0, mode="all")
    assert [it.item_id for it in every] == [f"q1#{k}" for k in range(5)] + [f"q2#{k}" for k in range(5)]
    assert [it.meta["segment"] for it in every[:5]] == [0, 1, 2, 3, 4]
    assert all(it.meta["parent_item"] == "q2" and it.answer == "yes" for it in every[5:])
    # comparison questions cut every ECG at the same k
    assert [(e.ecg.record_id, e.index) for e in every[7].ecgs] == [("a", 2), ("b", 2)]
    first = segment_items(items, 2.0, mode="first")
    assert [it.item_id for it in first] == ["q1", "q2"] and all(e.index == 0 for it in first for e in it.ecgs)
    assert segment_items(items, None) == items and segment_items(items, 10.0) == items
    assert len(segment_items(items, 3.0, mode="all")) == 6  # 3 whole 3 s windows in 10 s
    with pytest.raises(ConfigError, match="segment mode"):
        segment_items(items, 2.0, mode="middle")
    # a tokenizer learns from whole records, once each
    assert [e.record_id for e in unique_ecgs(every)] == ["a", "b"]
    assert every[6].ecgs[0].record_id == "a#1@2s" and every[6].ecgs[0].patient_id == "pa"


class _Identity:
    """A tokenizer-like object whose preprocessing doubles the signal (to see where the cut happens)."""

    def prepare(self, ecg: Ecg) -> Ecg:
        return ecg.replace(signal=2 * ecg.signal, meta={**ecg.meta, "preprocess_hash": "x2"})


def test_prepared_cuts_after_preprocessing() -> None:
    ecg = _ecg("a")
    seg = prepared(_Identity(), EcgSegment(ecg, 3, 2.0))
    np.testing.assert_array_equal(seg.signal, 2 * ecg.signal[:, 1500:2000])
    assert seg.meta["preprocess_hash"] == "x2" and seg.fs == 250.0
    with pytest.raises(RecordError, match="needs 12 s but the record has 10 s"):
        prepared(_Identity(), EcgSegment(ecg, 5, 2.0))


def test_encoded_cache_encodes_each_segment_on_its_own() -> None:
    from ecgbyte.bpe.merges import Merges
    from ecgbyte.symbols import Quantizer
    from ecgbyte.tokenizer import ECGByteTokenizer

    tok = ECGByteTokenizer(
        quantizer=Quantizer(p1=-1, p99=1),
        merges=Merges(np.array([[0, 0]]), np.array([26])),
        leads=("I", "II"),
        preprocess=None,  # so a raw cut and a cut after "preprocessing" are the same
    )
    ecg = _ecg("a")
    cache = EncodedCache(tok)
    whole = cache.get(ecg)
    seg = cache.get(EcgSegment(ecg, 1, 2.0))
    direct = tok.encode_ecg(ecg.replace(signal=ecg.signal[:, 500:1000]))
    np.testing.assert_array_equal(seg.ids, direct.ids)
    assert seg.start_s.max() < 2.0 <= whole.start_s.max()
    assert cache.n_encoded == 2 and cache.get(EcgSegment(ecg, 1, 2.0)) is seg


def test_lead_coverage_mean_seconds_and_whole_fraction() -> None:
    def ex(cuts):
        return Example("i", [], [], 0, 0, "", "t", cut_at_s=tuple(cuts))

    exs = [ex([("I", None), ("II", 3.0)]), ex([("I", 4.0), ("II", 1.0)])]
    cov = lead_coverage(exs, 10.0)
    assert cov == {
        "I": {"mean_seconds": 7.0, "whole_fraction": 0.5},
        "II": {"mean_seconds": 2.0, "whole_fraction": 0.0},
    }


def test_blackout_and_noise_ablations_perturb_the_segment_not_the_record() -> None:
    from ecgbyte.bpe.merges import Merges
    from ecgbyte.eval.ablations import _perturbed
    from ecgbyte.symbols import Quantizer
    from ecgbyte.tokenizer import ECGByteTokenizer

    tok = ECGByteTokenizer(
        quantizer=Quantizer(p1=-1, p99=1),
        merges=Merges(np.array([[0, 0]]), np.array([26])),
        leads=("I", "II"),
        preprocess=None,
    )
    seg = EcgSegment(_ecg("a"), 1, 2.0)
    for kind in ("blackout", "noise"):
        enc = _perturbed(tok, seg, kind, np.random.default_rng(0), 0.1)
        assert enc.start_s.max() < 2.0  # 500 samples per lead, as the baseline prompt has
        assert EncodedCache(tok).get(seg).lead_offsets.size == enc.lead_offsets.size
