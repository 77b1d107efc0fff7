"""Safe reading of the original ECG-Byte ``(vocab, merges)`` pickles and their conversion.

The helpers ``original_train`` / ``original_encode`` re-implement, in plain Python, what the
original Rust extension (willxxy/ECG-Byte ``rust_bpe``, ECG-Bench ``ecg_byte``) does:
``byte_pair_encoding`` (whole corpus as bytes, overlapping pair counts, full recount per merge,
new ids 256 + i, merges stored as (flattened byte list, id)) and ``encode_text`` (a trie of all
256 bytes plus every merged byte sequence, longest match, later ids overwrite earlier ones).
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
from collections import Counter

import numpy as np
import pytest

from ecgbyte.cli import main
from ecgbyte.convert import (
    convert_original_tokenizer,
    parse_original,
    read_original,
    safe_load_pickle,
    split_pairs,
)
from ecgbyte.errors import TokenizerError


# -- faithful re-implementation of the original algorithms (the spec for these tests) ----------
def original_train(text: str, num_merges: int):
    ids = list(text.encode("utf-8"))
    vocab = {b: (chr(b) if b <= 127 else f"<{b}>") for b in range(256)}
    tokens = {b: [b] for b in range(256)}
    merges = []
    for i in range(num_merges):
        stats = Counter(itertools.pairwise(ids))  # overlapping windows, as par_windows(2)
        if not stats:
            break
        best = max(stats.items(), key=lambda kv: (kv[1], kv[0]))[0]  # theirs: hash order on ties
        new_id = 256 + i
        out, j = [], 0
        while j < len(ids):
            if j < len(ids) - 1 and (ids[j], ids[j + 1]) == best:
                out.append(new_id)
                j += 2
            else:
                out.append(ids[j])
                j += 1
        ids = out
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        tokens[new_id] = tokens[best[0]] + tokens[best[1]]
        merges.append((list(tokens[new_id]), new_id))  # PyO3: Vec<(Vec<u32>, u32)> -> list of tuples
    return vocab, merges


def original_encode(text: str, merges) -> list[int]:
    trie: dict = {}
    for b in range(256):
        trie.setdefault(b, [None, {}])[0] = b
    for seq, tid in merges:
        node = None
        children = trie
        for b in seq:
            node = children.setdefault(b, [None, {}])
            children = node[1]
        node[0] = tid
    ids = list(text.encode("utf-8"))
    out, i = [], 0
    while i < len(ids):
        children, match_len, match_id = trie, 0, None
        for j in range(i, len(ids)):
            node = children.get(ids[j])
            if node is None:
                break
            if node[0] is not None:
                match_len, match_id = j - i + 1, node[0]
            children = node[1]
        out.append(match_id)
        i += match_len
    return out


def ecg_like_text(seed: int, n: int = 3000) -> str:
    """Symbol strings with long runs and repeated shapes, like quantized ECG leads."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 0.6, size=n)) * 0.3 + 3 * np.sin(np.arange(n) / 9.0)
    codes = np.clip(np.round(x - x.min()), 0, 25).astype(int)
    return "".join(chr(97 + c) for c in codes)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    text = ecg_like_text(0)
    vocab, merges = original_train(text, 60)
    path = tmp_path_factory.mktemp("orig") / "ecg_byte_tokenizer_60.pkl"
    path.write_bytes(pickle.dumps((vocab, merges)))
    return path, vocab, merges


# -- tests ---------------------------------------------------------------------------------------
def test_greedy_matches_original_token_strings(original):
    path, vocab, merges = original
    tok, paths = convert_original_tokenizer(path, None, p1=-0.5, p99=1.0, preprocess=None)
    assert paths == () and tok.encoder == "greedy"
    for seed in (1, 2, 3):
        text = ecg_like_text(seed, 1500)
        theirs = original_encode(text, merges)
        codes = np.frombuffer(text.encode(), dtype=np.uint8) - 97
        enc = tok.encode_symbols(codes)
        assert enc.tokens == [vocab[i] for i in theirs]
        # ids map one to one through the stored id map
        id_map = read_original(path).id_map
        assert enc.ids.tolist() == [id_map[i] for i in theirs]
        assert tok.decode_symbols(enc.ids) == text


def test_id_map_symbols_and_merges(original):
    path, _, merges = original
    orig = read_original(path)
    assert orig.id_map[97] == 0 and orig.id_map[122] == 25
    assert orig.original_ids == tuple(range(256, 256 + len(merges)))
    assert [orig.id_map[i] for i in orig.original_ids] == orig.ids.tolist()
    assert orig.ids[0] == 26


def test_split_pairs_hand_example():
    # "abc" could be a+bc or ab+c; "bc" (id 27) is newer than "ab" (26), so a+bc is taken.
    pairs, ids = split_pairs(["ab", "bc", "abc", "aa", "aaa", "aaa"])
    assert pairs.tolist() == [[0, 1], [1, 2], [0, 27], [0, 0], [29, 0], [29, 0]]
    assert ids.tolist() == [26, 27, 28, 29, 30, 30]  # a repeated string keeps its id


def test_duplicate_strings_map_to_one_id(tmp_path):
    vocab = {256: "aa", 257: "aaa", 258: "aaa"}
    merges = [([97, 97], 256), ([97, 97, 97], 257), ([97, 97, 97], 258)]
    orig = parse_original((vocab, merges))
    assert orig.id_map[257] == orig.id_map[258] == 27
    tok, _ = convert_original_tokenizer(_dump(tmp_path, (vocab, merges)), tmp_path / "out", p1=0, p99=1)
    assert tok.vocab_size == 28
    assert tok.encode_symbols(np.zeros(7, dtype=np.uint8)).tokens == ["aaa", "aaa", "a"]


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol(tmp_path, original, protocol):
    _, vocab, merges = original
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps((vocab, merges), protocol=protocol))
    assert read_original(path).tokens == tuple(vocab[i] for _, i in merges)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


class _Plain:
    def __init__(self):
        self.x = 1


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda: (_Evil(), []), id="reduce-os-system"),
        pytest.param(lambda: ({}, [(_Evil(), 256)]), id="reduce-inside-merges"),
        pytest.param(lambda: (_Plain(), []), id="class-instance"),
        pytest.param(lambda: ({}, np.arange(3)), id="numpy-array"),
        pytest.param(lambda: ({}, [([97, 97], 256)], print), id="function"),
    ],
)
def test_code_carrying_pickles_are_refused(tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    data = pickle.dumps(payload())
    with pytest.raises(TokenizerError, match=r"not a plain-data pickle.*refusing to load global"):
        safe_load_pickle(data, where="evil.pkl")
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_cli_refuses_malicious_pickle(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(({}, [_Evil()])))
    assert main(["convert-tokenizer", str(path), str(tmp_path / "out"), "--p1", "0", "--p99", "1"]) == 2
    err = capsys.readouterr().err
    assert "evil.pkl" in err and "refusing to load global" in err
    assert not (tmp_path / "PWNED_BY_PICKLE").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"a": 1}, "expected a \\(vocab, merges\\) pair"),
        (({}, [([97], 256)]), "no byte sequence of length >= 2"),
        (({}, [([97, 32], 256)]), "byte 32, outside the ECG symbols"),
        (({}, [([97, 97], 256), ([97, 97, 98], 256)]), "reuses id 256"),
        (({256: "ab"}, [([97, 97], 256)]), "vocab\\[256\\] = 'ab' but merges say 'aa'"),
        (({}, [([97, 98, 99], 256)]), "not the join of two earlier tokens"),
        (({}, [("aa", 256)]), "no byte sequence"),
        (([], [([97, 97], 256)]), "vocab is a list"),
        (({}, [([97, 97], 1.5)]), "not a \\(byte sequence, id\\) pair"),
    ],
)
def test_damaged_structures(obj, match):
    with pytest.raises(TokenizerError, match=match):
        parse_original(obj, where="x.pkl")


def test_truncated_and_missing_files(tmp_path, original):
    path = tmp_path / "cut.pkl"
    path.write_bytes(original[0].read_bytes()[:40])
    with pytest.raises(TokenizerError, match=r"cut.pkl: not a plain-data pickle"):
        read_original(path)
    with pytest.raises(TokenizerError, match=r"nope.pkl: cannot read"):
        read_original(tmp_path / "nope.pkl")
    with pytest.raises(TokenizerError, match="holds a float"):
        safe_load_pickle(pickle.dumps(({}, [1.5])))


def test_cli_convert_then_load_with_plain_tokenizers(tmp_path, original, capsys):
    from tokenizers import Tokenizer

    from ecgbyte.tokenizer import ECGByteTokenizer

    path, vocab, merges = original
    out = tmp_path / "converted"
    assert main(["convert-tokenizer", str(path), str(out), "--p1", "-0.4", "--p99", "0.9"]) == 0
    assert "converted ECGByteTokenizer" in capsys.readouterr().out
    tok = ECGByteTokenizer.from_pretrained(out)
    assert tok.encoder == "greedy"
    assert (tok.quantizer.p1, tok.quantizer.p99) == (-0.4, 0.9)
    cfg = json.loads((out / "ecgbyte_config.json").read_text())
    assert cfg["merges"]["converted_from"]["id_map"]["256"] == 26
    assert cfg["merges"]["converted_from"]["n_original_merges"] == len(merges)
    hf = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert hf.get_vocab_size() == tok.vocab_size
    text = ecg_like_text(9, 500)
    codes = np.frombuffer(text.encode(), dtype=np.uint8) - 97
    assert hf.encode(text).ids == tok.encode_symbols(codes, encoder="bpe").ids.tolist()
    assert tok.encode_symbols(codes).tokens == [vocab[i] for i in original_encode(text, merges)]


def _dump(tmp_path, obj):
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(obj))
    return path
