"""HF ``tokenizer.json`` export: plain ``tokenizers`` gives exactly the ids of ``encode_bpe``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from ecgbyte.bpe import train
from ecgbyte.bpe.encoders import encode_bpe, encode_bpe_batch
from ecgbyte.bpe.hf import hf_tokenizer_json, leads_to_text, to_hf_tokenizer
from ecgbyte.bpe.merges import Merges
from ecgbyte.errors import TokenizerError
from strategies import random_merges

MAX_EXAMPLES = int(os.environ.get("ECGBYTE_MAX_EXAMPLES", "150"))


def random_walk(n: int, length: int, seed: int) -> np.ndarray:
    """ECG-like symbol codes: a clipped random walk around 'n', uint8 [n, length]."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-1, 0, 0, 0, 1], size=(n, length))
    return np.clip(13 + np.cumsum(steps, axis=1), 0, 25).astype(np.uint8)


@pytest.fixture(scope="module")
def trained() -> Merges:
    return train(list(random_walk(40, 1000, seed=1)), n_merges=400)


def hf_ids(tok: Tokenizer, leads, merges: Merges) -> list[int]:
    return tok.encode(leads_to_text(leads, merges)).ids


# ---------------------------------------------------------------------------- equality with encode_bpe


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(random_merges(), st.lists(st.lists(st.integers(0, 3), max_size=60), min_size=1, max_size=4))
def test_hf_equals_encode_bpe_on_random_merges(m, leads):
    leads = [np.array(s, dtype=np.uint8) % m.alphabet_size for s in leads]
    tok = Tokenizer.from_str(hf_tokenizer_json(m))
    expected = np.concatenate([encode_bpe(x, m) for x in leads]).tolist()
    assert hf_ids(tok, leads, m) == expected


@st.composite
def run_leads(draw, alphabet_size: int) -> list[np.ndarray]:
    """Leads made of long runs of one symbol (what most ECG samples are), empty and length 1 included."""
    runs = st.lists(st.tuples(st.integers(0, alphabet_size - 1), st.integers(1, 40)), max_size=8)
    return [
        np.array([c for c, k in lead for _ in range(k)], dtype=np.uint8)
        for lead in draw(st.lists(runs, min_size=1, max_size=4))
    ]


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(st.data())
def test_hf_equals_encode_bpe_on_long_runs(data):
    m = data.draw(random_merges(max_alphabet=3, max_merges=40))
    leads = data.draw(run_leads(m.alphabet_size))
    tok = Tokenizer.from_str(hf_tokenizer_json(m))
    expected = encode_bpe_batch(leads, m).ids.tolist()
    assert hf_ids(tok, [x for x in leads if x.size], m) == expected


def test_hf_equals_encode_bpe_on_runs_whose_merge_result_was_built_before():
    """'abab' is built by aba+b and again by ab+ab; the ranks around it sit below ab+ab."""
    rows = [[0, 1], [26, 0], [27, 1], [2, 28], [28, 26], [26, 26]]  # a+b ab+a aba+b c+abab abab+ab ab+ab
    m = Merges(np.array(rows), np.array([26, 27, 28, 29, 30, 28]))
    tok = Tokenizer.from_str(hf_tokenizer_json(m))
    for k in range(1, 14):
        for text in ("ab" * k, "c" + "ab" * k, "ab" * k + "c", "cab" + "ab" * k + "abc", "ab" * k + "a"):
            lead = np.frombuffer(text.encode(), np.uint8) - 97
            assert tok.encode(text).ids == encode_bpe(lead, m).tolist(), text


def test_hf_equals_encode_bpe_on_a_trained_tokenizer(trained):
    held_out = random_walk(24, 2500, seed=2)  # 2 ECGs x 12 leads, words far past HF's cache limit
    tok = to_hf_tokenizer(trained)
    res = encode_bpe_batch(held_out, trained)
    for e in range(2):
        leads = held_out[12 * e : 12 * e + 12]
        ids = res.ids[res.offsets[12 * e] : res.offsets[12 * e + 12]]
        assert hf_ids(tok, leads, trained) == ids.tolist()
    assert res.ids.size < held_out.size / 2  # the merges do compress


def test_words_longer_than_the_hf_cache_give_the_same_ids_every_time(trained):
    """HF caches words under 256 characters only; longer ones are merged again on each call."""
    tok = to_hf_tokenizer(trained)
    for length in (255, 256, 257, 5000):
        lead = random_walk(1, length, seed=length)[0]
        expected = encode_bpe(lead, trained).tolist()
        assert hf_ids(tok, lead, trained) == expected
        assert hf_ids(tok, lead, trained) == expected  # second call: cached (short) or not (long)


def test_repeated_merge_results_share_one_id():
    """'abc' is built twice (ab+c, then a+bc); HF keeps one vocab entry and both merges."""
    rows = [[1, 2], [0, 1], [27, 2], [28, 3], [0, 26]]  # b+c, a+b, ab+c, abc+d, a+bc
    m = Merges(np.array(rows), np.array([26, 27, 28, 29, 28]))
    data = json.loads(hf_tokenizer_json(m))
    assert data["model"]["vocab"]["abc"] == 28 and len(data["model"]["vocab"]) == 30
    assert data["model"]["merges"] == [["b", "c"], ["a", "b"], ["ab", "c"], ["abc", "d"], ["a", "bc"]]
    tok = Tokenizer.from_str(json.dumps(data))
    for text in ("abcdabcd", "abcabcd", "abc", "bcd"):
        lead = np.frombuffer(text.encode(), np.uint8) - 97
        assert tok.encode(text).ids == encode_bpe(lead, m).tolist()
    assert tok.encode("abcdabcd").tokens == ["abcd", "abcd"]


# ---------------------------------------------------------------------------- file layout


def test_json_layout_is_plain_bpe():
    m = Merges(np.array([[0, 0], [26, 0]]), np.array([26, 27]))
    data = json.loads(hf_tokenizer_json(m))
    model = data["model"]
    assert model["type"] == "BPE"
    assert model["dropout"] is None and model["unk_token"] is None
    assert model["byte_fallback"] is False and model["ignore_merges"] is False
    assert model["continuing_subword_prefix"] is None and model["end_of_word_suffix"] is None
    assert data["normalizer"] is None and data["pre_tokenizer"] == {"type": "WhitespaceSplit"}
    assert data["added_tokens"] == []
    assert model["vocab"] == {**{chr(97 + i): i for i in range(26)}, "aa": 26, "aaa": 27}
    assert model["merges"] == [["a", "a"], ["aa", "a"]]


def test_leads_are_words_and_decode_fuses():
    m = Merges(np.array([[0, 1]]), np.array([26]))  # a+b
    tok = to_hf_tokenizer(m)
    text = leads_to_text([np.array([0]), np.array([1, 0, 1])], m)
    assert text == "a bab"  # 'a' and 'b' of different leads do not merge
    enc = tok.encode(text)
    assert enc.ids == [0, 1, 26]
    assert tok.decode(enc.ids) == "abab"
    assert leads_to_text(np.array([[0, 1], [1, 1]]), m) == "ab bb"
    assert leads_to_text(np.array([2, 3]), m) == "cd"


def test_special_tokens_come_after_the_vocab():
    m = Merges(np.array([[0, 1]]), np.array([26]))
    tok = to_hf_tokenizer(m, special_tokens=["<sig_start>", "<sig_end>"])
    assert tok.token_to_id("<sig_start>") == 27 and tok.token_to_id("<sig_end>") == 28
    assert tok.encode("<sig_start> ab <sig_end>").ids == [27, 26, 28]
    with pytest.raises(TokenizerError, match=r"\['ab'\] are already ECG tokens"):
        to_hf_tokenizer(m, special_tokens=["ab"])


def test_saved_file_loads_without_ecgbyte(tmp_path, trained):
    path = tmp_path / "tok" / "tokenizer.json"
    path.parent.mkdir()
    to_hf_tokenizer(trained).save(str(path))
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]
    lead = random_walk(1, 700, seed=9)[0]
    text = leads_to_text(lead, trained)
    code = (
        "import sys\n"
        "sys.modules['ecgbyte'] = None  # make any ecgbyte import fail\n"
        "from tokenizers import Tokenizer\n"
        f"print(Tokenizer.from_file({str(path)!r}).encode({text!r}).ids)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    assert json.loads(out.stdout) == encode_bpe(lead, trained).tolist()


def test_export_errors():
    m = Merges(np.array([[0, 1]]), np.array([26]))
    with pytest.raises(TokenizerError, match=r"expects ecgbyte\.bpe\.Merges"):
        to_hf_tokenizer({"pairs": [[0, 1]]})
    with pytest.raises(TokenizerError, match="contains whitespace"):
        to_hf_tokenizer(Merges(np.zeros((0, 2)), np.zeros(0), 2, alphabet="a "))
    with pytest.raises(TokenizerError, match=r"lead 1: expected 1-D integer codes in 0\.\.25"):
        leads_to_text([np.array([0]), np.array([26])], m)
