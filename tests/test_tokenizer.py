"""ECGByteTokenizer: encode/decode, spans, files (HF + config), errors, determinism."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from ecgbyte.bpe.merges import Merges
from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.errors import RecordError, TokenizerError
from ecgbyte.signal import PreprocessConfig, synthesize
from ecgbyte.symbols import Quantizer
from ecgbyte.tokenizer import ECGByteTokenizer, Encoding

PRE = PreprocessConfig(segment_length=1000)  # 4 s at 250 Hz
ENCODERS = [pytest.param("bpe", id="bpe"), pytest.param("greedy", id="greedy")]


@pytest.fixture(scope="module")
def ecgs():
    return synthesize(6, seed=0, fs=500.0, duration_s=4.0)


@pytest.fixture(scope="module")
def tok(ecgs):
    return ECGByteTokenizer.train(ecgs[:4], n_merges=120, seed=0, preprocess=PRE)


def hand_tokenizer(preprocess=None):
    # merges: a+a -> aa (26), aa+a -> aaa (27), a+aa -> aaa (27 again), b+c -> bc (28)
    m = Merges(pairs=np.array([[0, 0], [26, 0], [0, 26], [1, 2]]), ids=np.array([26, 27, 27, 28]))
    return ECGByteTokenizer(quantizer=Quantizer(p1=0.0, p99=2.5, margin=0.0), merges=m, preprocess=preprocess)


def test_hand_example_ids_tokens_spans():
    t = hand_tokenizer()
    assert t.vocab[26:] == ["aa", "aaa", "bc"] and t.vocab_size == 29
    # lead 0 "aaaabc", rank BPE: a+a twice (leftmost first) -> aa aa b c; (aa, aa) is no merge;
    # b+c -> [aa, aa, bc]. Greedy longest match: aaa, a, bc. Lead 1 "cbaaac": both give c b aaa c.
    codes = np.array([[0, 0, 0, 0, 1, 2], [2, 1, 0, 0, 0, 2]], dtype=np.uint8)
    e = t.encode_symbols(codes, fs=2.0)
    assert e.tokens == ["aa", "aa", "bc", "c", "b", "aaa", "c"]
    assert e.ids.tolist() == [26, 26, 28, 2, 1, 27, 2]
    assert e.lead_offsets.tolist() == [0, 3, 7]
    assert e.spans() == [(0, 0, 2), (0, 2, 4), (0, 4, 6), (1, 0, 1), (1, 1, 2), (1, 2, 5), (1, 5, 6)]
    assert e.start_s.tolist() == [0.0, 1.0, 2.0, 0.0, 0.5, 1.0, 2.5]
    assert e.end_s.tolist() == [1.0, 2.0, 3.0, 0.5, 1.0, 2.5, 3.0]
    g = t.encode_symbols(codes, encoder="greedy")
    assert g.tokens == ["aaa", "a", "bc", "c", "b", "aaa", "c"]
    assert e.n_symbols == 12 and e.compression == pytest.approx(12 / 7)
    assert e.ids.dtype == np.int32


@pytest.mark.parametrize("encoder", ENCODERS)
def test_symbols_round_trip_lossless(tok, ecgs, encoder):
    for ecg in ecgs:
        prepared = tok.prepare(ecg)
        codes = tok.quantizer.symbolize(prepared.signal)
        enc = tok.encode(ecg, encoder=encoder)
        assert tok.decode_symbols(enc.ids) == "".join(chr(97 + c) for c in codes.ravel())
        for i in range(codes.shape[0]):
            assert tok.decode_symbols(enc.lead_ids(i)) == "".join(chr(97 + c) for c in codes[i])


@pytest.mark.parametrize("encoder", ENCODERS)
def test_spans_tile_each_lead(tok, ecgs, encoder):
    enc = tok.encode(ecgs[5], encoder=encoder)
    assert enc.fs == 250.0 and enc.n_samples == 1000 and enc.leads == STANDARD_LEADS
    assert len(enc.lead_offsets) == 13
    lengths = np.array([len(s) for s in enc.tokens])
    assert np.array_equal(enc.end - enc.start, lengths)
    for i in range(12):
        a, b = enc.lead_offsets[i], enc.lead_offsets[i + 1]
        assert np.all(enc.lead[a:b] == i)
        assert enc.start[a] == 0 and enc.end[b - 1] == 1000
        assert np.array_equal(enc.start[a + 1 : b], enc.end[a : b - 1])  # no gaps, no overlaps
    assert enc.end_s.max() == pytest.approx(4.0)


def test_decode_to_bin_centres(tok, ecgs):
    enc = tok.encode(ecgs[0])
    sig = tok.decode(enc)
    codes = tok.quantizer.symbolize(tok.prepare(ecgs[0]).signal)
    assert sig.shape == (12, 1000) and sig.dtype == np.float32
    assert np.array_equal(sig, tok.quantizer.dequantize(codes))
    one = tok.decode(enc.ids)  # no offsets: one lead
    assert one.shape == (1, 12000)
    two = tok.decode(enc.ids, lead_offsets=enc.lead_offsets)
    assert np.array_equal(two, sig)
    with pytest.raises(TokenizerError, match="do not split"):
        tok.decode(enc.ids, lead_offsets=[0, 5])
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        tok.decode_symbols([0, tok.vocab_size])


def test_preprocessed_input_is_not_preprocessed_again(tok, ecgs):
    pre = tok.prepare(ecgs[1])
    assert pre.meta["preprocess_hash"] == tok.preprocess.hash()
    assert np.array_equal(tok.encode(pre).ids, tok.encode(ecgs[1]).ids)
    other = pre.replace(meta={**pre.meta, "preprocess_hash": "0123456789ab"})
    with pytest.raises(TokenizerError, match="already preprocessed with another config"):
        tok.encode(other)


def test_leads_are_reordered_and_required(tok, ecgs):
    ecg = ecgs[2]
    rev = Ecg(ecg.signal[::-1].copy(), fs=ecg.fs, leads=ecg.leads[::-1])
    assert np.array_equal(tok.encode(rev).ids, tok.encode(ecg).ids)
    with pytest.raises(RecordError, match="missing lead"):
        tok.encode(ecg.select_leads(["I", "II"]))
    with pytest.raises(TokenizerError, match=r"expected an ecgbyte.Ecg"):
        tok.encode(ecg.signal)


def test_save_load_identical_and_plain_tokenizers(tok, ecgs, tmp_path):
    from tokenizers import Tokenizer

    paths = tok.save_pretrained(tmp_path / "t")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["tokenizer.json", "ecgbyte_config.json"]
    assert not [p for p in (tmp_path / "t").iterdir() if p.name.endswith(".tmp")]
    text = (tmp_path / "t" / "ecgbyte_config.json").read_text()
    assert text.startswith('{\n  "format_version": 1,')
    cfg = json.loads(text)
    assert cfg["leads"] == list(STANDARD_LEADS) and cfg["fs"] == 250.0 and cfg["encoder"] == "bpe"
    assert cfg["alphabet"] == "abcdefghijklmnopqrstuvwxyz"
    assert cfg["merges"]["vocab_size"] == tok.vocab_size and cfg["training"]["n_ecgs"] == 4
    assert PreprocessConfig.from_dict(cfg["preprocess"]) == tok.preprocess
    loaded = ECGByteTokenizer.from_pretrained(tmp_path / "t")
    assert loaded.merges == tok.merges and loaded.quantizer == tok.quantizer
    hf = Tokenizer.from_file(paths[0])
    for ecg in ecgs:
        a, b = tok.encode(ecg), loaded.encode(ecg)
        assert np.array_equal(a.ids, b.ids) and a.spans() == b.spans()
        codes = tok.quantizer.symbolize(tok.prepare(ecg).signal)
        text = " ".join("".join(chr(97 + c) for c in row) for row in codes)
        assert hf.encode(text).ids == a.ids.tolist()


def test_pretrained_tokenizer_fast(tok, ecgs, tmp_path):
    transformers = pytest.importorskip("transformers")
    paths = tok.save_pretrained(tmp_path)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=paths[0])
    codes = tok.quantizer.symbolize(tok.prepare(ecgs[0]).signal)
    lead0 = "".join(chr(97 + c) for c in codes[0])
    want = tok.encode(ecgs[0]).lead_ids(0).tolist()
    assert fast(lead0, add_special_tokens=False)["input_ids"] == want
    assert tok.to_hf()(lead0, add_special_tokens=False)["input_ids"] == want


def _save(tok, tmp_path):
    d = tmp_path / "t"
    tok.save_pretrained(d)
    return d


def test_newer_format_version_is_refused(tok, tmp_path):
    d = _save(tok, tmp_path)
    cfg = json.loads((d / "ecgbyte_config.json").read_text())
    cfg["format_version"] = 2
    (d / "ecgbyte_config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        TokenizerError, match=r"ecgbyte_config.json: format_version 2 is newer.*upgrade ecgbyte"
    ):
        ECGByteTokenizer.from_pretrained(d)


@pytest.mark.parametrize(
    ("name", "edit", "match"),
    [
        ("ecgbyte_config.json", lambda t: t[:-20], "ecgbyte_config.json: invalid JSON at line"),
        ("tokenizer.json", lambda t: "{", "tokenizer.json: invalid JSON"),
        ("ecgbyte_config.json", lambda t: "[]", "expected a JSON object"),
        (
            "ecgbyte_config.json",
            lambda t: t.replace('"format_version": 1', '"format_version": "1"'),
            "no integer",
        ),
        ("tokenizer.json", lambda t: json.dumps({"model": {}}), "no model.vocab"),
    ],
)
def test_damaged_files(tok, tmp_path, name, edit, match):
    d = _save(tok, tmp_path)
    (d / name).write_text(edit((d / name).read_text()))
    with pytest.raises(TokenizerError, match=match):
        ECGByteTokenizer.from_pretrained(d)


def test_inconsistent_files(tok, tmp_path):
    d = _save(tok, tmp_path)
    other = ECGByteTokenizer(
        quantizer=tok.quantizer, merges=tok.merges.truncate(50), preprocess=tok.preprocess
    )
    other.to_tokenizers().save(str(d / "tokenizer.json"))
    with pytest.raises(TokenizerError, match=r"does not match the merges in .*different tokenizers"):
        ECGByteTokenizer.from_pretrained(d)
    d2 = _save(tok, tmp_path / "b")
    hf = json.loads((d2 / "tokenizer.json").read_text())
    m = hf["model"]["merges"]
    m[0], m[1] = m[1], m[0]
    (d2 / "tokenizer.json").write_text(json.dumps(hf))
    with pytest.raises(TokenizerError, match="merges do not match"):
        ECGByteTokenizer.from_pretrained(d2)
    d3 = _save(tok, tmp_path / "c")
    cfg = json.loads((d3 / "ecgbyte_config.json").read_text())
    cfg["merges"]["ids"][0] = 99
    (d3 / "ecgbyte_config.json").write_text(json.dumps(cfg))
    with pytest.raises(TokenizerError, match=r"ecgbyte_config.json: .*has id 99"):
        ECGByteTokenizer.from_pretrained(d3)


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(TokenizerError, match="not a directory; from_pretrained takes a local directory"):
        ECGByteTokenizer.from_pretrained(tmp_path / "nope")
    with pytest.raises(TokenizerError, match=r"ecgbyte_config.json: not found"):
        ECGByteTokenizer.from_pretrained(tmp_path)


def test_deterministic_by_seed(ecgs):
    a = ECGByteTokenizer.train(ecgs[:3], n_merges=40, seed=5, preprocess=PRE)
    b = ECGByteTokenizer.train(ecgs[:3], n_merges=40, seed=5, preprocess=PRE)
    assert a.merges == b.merges and a.quantizer == b.quantizer
    assert a.to_config() == b.to_config()


def test_train_options_and_info(ecgs):
    t = ECGByteTokenizer.train(
        ecgs[:2], n_merges=30, max_token_length=3, min_frequency=5, seed=1, preprocess=PRE
    )
    assert len(t.merges) <= 30 and max(len(s) for s in t.vocab) <= 3
    assert t.info["n_ecgs"] == 2 and t.info["n_symbols"] == 2 * 12 * 1000
    with pytest.raises(TokenizerError, match="no ECGs"):
        ECGByteTokenizer.train([], n_merges=3)


def test_constructor_checks():
    q = Quantizer(p1=0, p99=1, n_symbols=20)
    m = Merges(pairs=np.zeros((0, 2)), ids=np.zeros(0))
    with pytest.raises(TokenizerError, match="quantizer makes 20 symbols but the merges are over 26"):
        ECGByteTokenizer(quantizer=q, merges=m)
    with pytest.raises(TokenizerError, match="unknown encoder 'trie'; choose one of bpe, greedy"):
        ECGByteTokenizer(quantizer=Quantizer(p1=0, p99=1), merges=m, encoder="trie")
    with pytest.raises(TypeError):
        ECGByteTokenizer(Quantizer(p1=0, p99=1), m)  # keyword-only


def test_vocab_lookups():
    t = hand_tokenizer()
    assert t.id_to_token(27) == "aaa" and t.token_to_id("bc") == 28
    with pytest.raises(TokenizerError, match="not in the vocabulary"):
        t.token_to_id("zz")
    with pytest.raises(TokenizerError, match=r"outside the vocabulary 0..28"):
        t.id_to_token(29)


def test_pickle_state_and_batch(tok, ecgs):
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.merges == tok.merges and clone.preprocess == tok.preprocess
    state = tok.__getstate__()
    assert state["format_version"] == 1 and json.dumps(state)  # plain JSON, no objects
    batch = tok.encode_batch(ecgs[:3])
    assert [e.ids.tolist() for e in batch] == [tok.encode(e).ids.tolist() for e in ecgs[:3]]
    arr = tok.encode_to_numpy(ecgs[0])
    assert arr.dtype == np.uint32 and arr.tolist() == batch[0].ids.tolist()


@pytest.mark.slow
def test_encode_batch_processes(tok, ecgs):
    batch = tok.encode_batch(ecgs[:3], num_workers=2)
    assert [e.ids.tolist() for e in batch] == [tok.encode(e).ids.tolist() for e in ecgs[:3]]


def test_encoding_to_dict(tok, ecgs):
    d = tok.encode(ecgs[0]).to_dict()
    assert d["n_tokens"] == len(d["ids"]) == len(d["spans"]) == len(d["tokens"])
    s = d["spans"][1]
    assert set(s) == {"lead", "start", "end", "start_s", "end_s"} and s["start_s"] == s["start"] / 250.0
    assert d["compression"] == pytest.approx(12000 / d["n_tokens"])
    assert isinstance(Encoding, type)
