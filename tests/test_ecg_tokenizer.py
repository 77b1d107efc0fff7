"""The ECG-tokenizer protocol: format registry, dispatch, content hash, hooks, quantizer registry."""

from __future__ import annotations

import json
import pickle
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ecgbyte import ecg_tokenizer as et
from ecgbyte.bpe.merges import Merges
from ecgbyte.ecg_tokenizer import (
    EcgTokenizer,
    EncodedEcg,
    format_of,
    load_ecg_tokenizer,
    register_format,
)
from ecgbyte.errors import ConfigError, TokenizerError
from ecgbyte.fileio import hash_directory
from ecgbyte.signal import PreprocessConfig, synthesize
from ecgbyte.symbols import QUANTIZERS, Quantizer, quantizer_from_dict, register_quantizer
from ecgbyte.tokenizer import ECGByteTokenizer

PRE = PreprocessConfig(segment_length=1000)


@pytest.fixture(scope="module")
def ecgs():
    return synthesize(4, seed=1, fs=500.0, duration_s=4.0)


@pytest.fixture(scope="module")
def trained(ecgs):
    return ECGByteTokenizer.train(ecgs[:3], n_merges=80, seed=0, preprocess=PRE)


@pytest.fixture()
def registries(monkeypatch):
    """Registrations made by a test are undone after it."""
    monkeypatch.setattr(et, "FORMATS", dict(et.FORMATS))
    quantizers = dict(QUANTIZERS)
    yield
    QUANTIZERS.clear()
    QUANTIZERS.update(quantizers)


def _converted(tmp_path: Path) -> ECGByteTokenizer:
    from ecgbyte.convert import convert_original_tokenizer

    vocab = {b: (chr(b) if b <= 127 else f"<{b}>") for b in range(256)} | {256: "aa", 257: "aab", 258: "bc"}
    merges = [([97, 97], 256), ([97, 97, 98], 257), ([98, 99], 258)]
    path = tmp_path / "orig.pkl"
    path.write_bytes(pickle.dumps((vocab, merges)))
    tok, _ = convert_original_tokenizer(path, p1=-0.3, p99=0.6)
    return tok


# -- the ECG-Byte format ------------------------------------------------------------------------
def test_content_hash_equals_the_saved_folders_hash(trained, tmp_path):
    """Runs store hash_directory(ecg_tokenizer/) in layout.json; hash() must give that value, in memory."""
    conv = _converted(tmp_path)
    assert conv.info["converted_from"]["id_map"]  # the id map is part of the stored files
    hand = ECGByteTokenizer(
        quantizer=Quantizer(p1=0.0, p99=2.5),
        merges=Merges(np.array([[0, 0]]), np.array([26])),
        preprocess=None,
    )
    for name, tok in (("trained", trained), ("converted", conv), ("hand", hand)):
        d = tmp_path / name
        tok.save_pretrained(d)
        assert tok.hash() == hash_directory(d), name
        assert load_ecg_tokenizer(d).hash() == tok.hash(), name
    assert len({trained.hash(), conv.hash(), hand.hash()}) == 3
    assert not list(tmp_path.glob("tmp*"))  # no temp folder left behind (none is written)


def test_ecgbyte_folder_dispatches_to_ecgbyte_tokenizer(trained, ecgs, tmp_path):
    trained.save_pretrained(tmp_path / "t")
    assert format_of(tmp_path / "t") == "ecgbyte.tokenizer" == ECGByteTokenizer.format
    tok = load_ecg_tokenizer(tmp_path / "t", expect="ecgbyte.tokenizer")
    assert type(tok) is ECGByteTokenizer and isinstance(tok, EcgTokenizer)
    enc = tok.encode(ecgs[3])
    assert enc.features is None
    e = tok.encode_ecg(ecgs[3])
    assert isinstance(e, EncodedEcg) and e.features is None and e.leads == tok.leads
    np.testing.assert_array_equal(e.ids, trained.encode(ecgs[3]).ids)
    np.testing.assert_array_equal(e.lead_offsets, enc.lead_offsets)
    np.testing.assert_allclose(e.start_s, enc.start_s, rtol=1e-6)
    # the default hooks leave the language model alone
    llm = object()
    assert tok.wrap_model(llm, None, None) is llm
    assert tok.restore_model(llm, tmp_path, is_trainable=True) is llm


def test_old_import_path_of_encoded_ecg():
    from ecgbyte.data.sequences import EncodedEcg as Old

    assert Old is EncodedEcg


def test_abstract_members_are_required():
    class Half(EcgTokenizer):
        format = "tests.half"

        def encode(self, ecg):
            raise NotImplementedError

    with pytest.raises(TypeError, match="abstract"):
        Half()


# -- errors ------------------------------------------------------------------------------------
def test_unknown_missing_and_damaged_folders(tmp_path):
    with pytest.raises(TokenizerError, match="not a directory"):
        load_ecg_tokenizer(tmp_path / "nope")
    with pytest.raises(TokenizerError, match=r"ecgbyte_config.json: not found; .* is not an ECG tokenizer"):
        load_ecg_tokenizer(tmp_path)
    (tmp_path / "ecgbyte_config.json").write_text(json.dumps({"format": "acme.wavelet", "format_version": 1}))
    with pytest.raises(
        TokenizerError, match=r"unknown ECG tokenizer format 'acme.wavelet' \(known: .*ecgbyte.tokenizer"
    ):
        load_ecg_tokenizer(tmp_path)
    (tmp_path / "ecgbyte_config.json").write_text(json.dumps({"format_version": 1}))
    with pytest.raises(TokenizerError, match="no 'format'"):
        format_of(tmp_path)
    (tmp_path / "ecgbyte_config.json").write_text("{")
    with pytest.raises(TokenizerError, match="invalid JSON at line 1"):
        format_of(tmp_path)


def test_expect_another_format_is_refused(trained, tmp_path):
    from ecgbyte.tokenizer_tasks import encode_record, report_tokenizer

    trained.save_pretrained(tmp_path / "t")
    with pytest.raises(
        TokenizerError, match=r"holds a 'ecgbyte.tokenizer' tokenizer, but this needs a 'ecgbyte.soft_tokens'"
    ):
        load_ecg_tokenizer(tmp_path / "t", expect="ecgbyte.soft_tokens")
    soft = tmp_path / "soft"  # only the format is read before refusing: no torch needed
    soft.mkdir()
    (soft / "ecgbyte_config.json").write_text(
        json.dumps({"format": "ecgbyte.soft_tokens", "format_version": 1})
    )
    with pytest.raises(TokenizerError, match="encode needs an ECG-Byte tokenizer"):
        encode_record(soft, tmp_path / "record.npy")
    with pytest.raises(TokenizerError, match="the tokenizer report needs an ECG-Byte tokenizer"):
        report_tokenizer(soft, tmp_path / "r")
    with pytest.raises(TokenizerError, match="not an ECG-Byte one"):
        ECGByteTokenizer.from_pretrained(soft)


def test_register_format_checks_its_arguments(registries):
    with pytest.raises(ConfigError, match="module:name"):
        register_format("acme.x", "acme_x.Tok")
    with pytest.raises(ConfigError, match="non-empty"):
        register_format("", "acme_x:Tok")
    register_format("acme.x", "acme_x:Tok")
    register_format("acme.x", "acme_x:Tok")  # the same again is fine
    with pytest.raises(ConfigError, match="already registered to acme_x:Tok; pass replace=True"):
        register_format("acme.x", "acme_x:Other")
    register_format("acme.x", "acme_x:Other", replace=True)
    assert et.FORMATS["acme.x"] == "acme_x:Other"
    with pytest.raises(TokenizerError, match="module 'acme_x' not found"):
        et.tokenizer_class("acme.x")
    register_format("acme.y", "ecgbyte.tokenizer:Encoding")
    with pytest.raises(TokenizerError, match=r"not an ecgbyte\.ecg_tokenizer\.EcgTokenizer subclass"):
        et.tokenizer_class("acme.y")


# -- a third-party representation and quantizer, registered from their own package -----------------
THIRD_PARTY = '''
import json
from pathlib import Path

import numpy as np

from ecgbyte.ecg_tokenizer import EcgTokenizer


class SlopeTokenizer(EcgTokenizer):
    """One token per 10 samples of lead II: the sign of the slope (0 down, 1 flat, 2 up)."""

    format = "acme.slope"
    vocab_size = 3
    leads = ("II",)

    def __init__(self, flat_mv=0.01):
        self.flat_mv = float(flat_mv)

    def prepare(self, ecg):
        return ecg.select_leads(self.leads)

    def encode(self, ecg):
        d = np.diff(self.prepare(ecg).signal[0][::10])
        enc = type("E", (), {})()
        enc.ids = np.where(d > self.flat_mv, 2, np.where(d < -self.flat_mv, 0, 1))
        enc.lead_offsets, enc.leads = np.array([0, d.size]), self.leads
        enc.start_s, enc.features = np.arange(d.size) * 10 / ecg.fs, None
        return enc

    def save_pretrained(self, directory):
        p = Path(directory)
        p.mkdir(parents=True, exist_ok=True)
        (p / "ecgbyte_config.json").write_text(json.dumps({"format": self.format, "flat_mv": self.flat_mv}))
        return (str(p / "ecgbyte_config.json"),)

    @classmethod
    def from_pretrained(cls, directory):
        return cls(json.loads((Path(directory) / "ecgbyte_config.json").read_text())["flat_mv"])

    @classmethod
    def fit(cls, ecgs, cfg, *, leads, fs, preprocess, seed, progress=True, **options):
        # "training": the flat threshold is the median absolute slope of the first ECG
        return cls(float(np.median(np.abs(np.diff(ecgs[0].select_leads(cls.leads).signal[0][::10])))))


class SignQuantizer:
    """26 bins of width ``step`` mV centred on 0."""

    n_symbols = 26

    def __init__(self, step):
        self.step = float(step)

    def symbolize(self, x, *, where=None):
        x = getattr(x, "signal", x)
        return np.clip(np.floor(np.asarray(x) / self.step) + 13, 0, 25).astype(np.uint8)

    def dequantize(self, codes):
        return ((np.asarray(codes, dtype=np.float32) - 13) + 0.5) * self.step

    def to_dict(self):
        return {"format": "acme.sign", "format_version": 1, "step": self.step}

    @classmethod
    def from_dict(cls, data, *, where="<dict>"):
        return cls(data["step"])

    @classmethod
    def fit(cls, signals, *, percentiles, seed, n_symbols):
        # the step that spreads the 99th percentile of |x| over the 13 bins above zero
        x = np.concatenate([np.abs(np.asarray(getattr(s, "signal", s))).ravel() for s in signals])
        return cls(float(np.percentile(x, percentiles[1])) / 13)
'''


@pytest.fixture()
def acme(tmp_path, monkeypatch, registries):
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "acme_ecg.py").write_text(textwrap.dedent(THIRD_PARTY))
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    yield
    import sys

    sys.modules.pop("acme_ecg", None)


@pytest.mark.slow
def test_third_party_representation_trains_with_the_cli(acme, tmp_path, monkeypatch):
    """A representation in its own package, registered in the two maps of ecg_tokenizer.py and
    nowhere else, is trained, used and loaded back by `ecgbyte train` / `ecgbyte ask`."""
    pytest.importorskip("torch")
    import ecgbyte.ecg_tokenizer as et
    from ecgbyte.cli import main
    from ecgbyte.elm.generate import ask

    register_format("acme.slope", "acme_ecg:SlopeTokenizer")
    monkeypatch.setitem(et.ECG_INPUTS, "slope", "acme.slope")
    out = tmp_path / "run"
    args = ["train", "--data", "synthetic", "--n-ecgs", "12", "--leads", "II", "--ecg-input", "slope"]
    args += ["--steps", "1", "--batch-size", "4", "--max-length", "160", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    assert format_of(out / "ecg_tokenizer") == "acme.slope"
    layout = json.loads((out / "layout.json").read_text())
    assert layout["ecg_vocab_size"] == 3
    np.save(tmp_path / "rec.npy", np.random.default_rng(0).normal(0, 0.1, (12, 5000)).astype(np.float32))
    res = ask(out, tmp_path / "rec.npy", "What is the rhythm of this ECG?", fs=500.0)
    assert res["n_prompt_tokens"] > 3 and res["checkpoint"] == "step-0000001"


def test_third_party_format_loads_through_the_registry(acme, ecgs, tmp_path):
    import acme_ecg

    register_format("acme.slope", "acme_ecg:SlopeTokenizer")
    acme_ecg.SlopeTokenizer(flat_mv=0.02).save_pretrained(tmp_path / "slope")
    tok = load_ecg_tokenizer(tmp_path / "slope", expect="acme.slope")
    assert type(tok) is acme_ecg.SlopeTokenizer and tok.flat_mv == 0.02
    e = tok.encode_ecg(ecgs[0])
    assert e.leads == ("II",) and e.ids.dtype == np.int64 and set(e.ids.tolist()) <= {0, 1, 2}
    assert e.ids.size == 199 and e.start_s[1] == pytest.approx(10 / 500)
    d = tmp_path / "slope"
    assert tok.hash() == hash_directory(d)  # the default hash: the saved folder's
    assert acme_ecg.SlopeTokenizer(flat_mv=0.03).hash() != tok.hash()


def test_third_party_quantizer_round_trips_in_a_tokenizer_folder(acme, ecgs, tmp_path):
    import acme_ecg

    with pytest.raises(TokenizerError, match=r"unknown quantizer kind 'acme\.sign'"):
        quantizer_from_dict({"format": "acme.sign", "step": 0.1})
    register_quantizer("acme.sign", "acme_ecg:SignQuantizer")
    with pytest.raises(ConfigError, match="already registered"):
        register_quantizer("acme.sign", "acme_ecg:Other")
    merges = Merges(np.array([[13, 13], [26, 13]]), np.array([26, 27]))
    tok = ECGByteTokenizer(quantizer=acme_ecg.SignQuantizer(0.05), merges=merges, preprocess=PRE)
    tok.save_pretrained(tmp_path / "t")
    loaded = load_ecg_tokenizer(tmp_path / "t")
    assert isinstance(loaded.quantizer, acme_ecg.SignQuantizer) and loaded.quantizer.step == 0.05
    assert loaded.hash() == tok.hash() == hash_directory(tmp_path / "t")
    a, b = tok.encode(ecgs[0]), loaded.encode(ecgs[0])
    np.testing.assert_array_equal(a.ids, b.ids)
    assert (a.ids == 27).any()  # the merges apply to this quantizer's codes


def test_third_party_quantizer_trains_with_the_cli(acme, shared_data, tmp_path):
    """A quantizer in its own package plus its registry entry, and nothing else: `train-tokenizer
    --quantizer KIND` fits it, trains BPE over its codes and saves a folder that loads it back."""
    import acme_ecg

    from ecgbyte.cli import main

    register_quantizer("acme.sign", "acme_ecg:SignQuantizer")
    out = tmp_path / "tok"
    argv = ["train-tokenizer", str(shared_data / "ptb-xl"), str(out), "--quantizer", "acme.sign"]
    assert main([*argv, "--merges", "30", "--num-ecgs", "6", "--no-progress"]) == 0
    tok = load_ecg_tokenizer(out)
    assert isinstance(tok.quantizer, acme_ecg.SignQuantizer) and tok.quantizer.step > 0
    assert json.loads((out / "ecgbyte_config.json").read_text())["quantizer"]["format"] == "acme.sign"
    assert len(tok.merges) == 30
    with pytest.raises(TokenizerError, match=r"unknown quantizer kind 'acme\.none'"):
        ECGByteTokenizer.train([], quantizer="acme.none")


def test_uniform_quantizer_dicts_are_unchanged():
    q = Quantizer(p1=-0.4, p99=0.9)
    d = q.to_dict()
    assert d["format"] == "ecgbyte.quantizer" and "kind" not in d
    assert quantizer_from_dict(d) == q
    with pytest.raises(TokenizerError, match="not an ecgbyte quantizer"):
        quantizer_from_dict({"p1": 0.0, "p99": 1.0})


# -- the soft-token format (two-stage baseline; needs torch) ----------------------------------------
@pytest.fixture(scope="module")
def soft():
    pytest.importorskip("torch")
    from ecgbyte.elm.two_stage import pretrain_stage1
    from tiny import toy_ecgs

    ecgs = toy_ecgs(4, leads=("I", "II", "V1"))
    tok = pretrain_stage1(
        ecgs, fs=50.0, leads=("I", "II", "V1"), k=3, max_steps=1, widths=(8, 16), strides=(1, 2)
    )
    return tok, ecgs


def test_soft_folder_dispatches_to_soft_tokenizer(soft, tmp_path):
    from ecgbyte.elm.two_stage import SoftTokenizer

    tok, ecgs = soft
    assert isinstance(tok, EcgTokenizer) and SoftTokenizer.format == "ecgbyte.soft_tokens"
    tok.save_pretrained(tmp_path / "s")
    cfg = json.loads((tmp_path / "s" / "ecgbyte_config.json").read_text())
    assert cfg == {"format": "ecgbyte.soft_tokens", "format_version": 1}
    assert json.loads((tmp_path / "s" / "soft_tokens.json").read_text()) == {"k": 3}
    loaded = load_ecg_tokenizer(tmp_path / "s", expect="ecgbyte.soft_tokens")
    assert type(loaded) is SoftTokenizer and loaded.hash() == tok.hash() and loaded.vocab_size == 3
    e = loaded.encode_ecg(ecgs[0])
    assert e.ids.tolist() == [0, 1, 2] and e.leads == ("ecg",) and e.features.shape == (3, 16)
    np.testing.assert_array_equal(e.features, tok.encode(ecgs[0]).features)
    with pytest.raises(TokenizerError, match=r"needs a 'ecgbyte\.tokenizer' one"):
        load_ecg_tokenizer(tmp_path / "s", expect="ecgbyte.tokenizer")


def test_legacy_soft_folder_without_config_still_loads(soft, tmp_path):
    from ecgbyte.elm.two_stage import SoftTokenizer

    tok, _ = soft
    tok.save_pretrained(tmp_path / "s")
    (tmp_path / "s" / "ecgbyte_config.json").unlink()  # as written before the protocol
    assert format_of(tmp_path / "s") == "ecgbyte.soft_tokens"
    loaded = load_ecg_tokenizer(tmp_path / "s")
    assert type(loaded) is SoftTokenizer and loaded.hash() == tok.hash()


def test_soft_hooks_wrap_and_restore_the_projector(soft, tmp_path):
    """A legacy two-stage run (ecg_tokenizer/ without a config) trains, resumes and loads through the hooks."""
    from ecgbyte.data import build_synthetic_qa
    from ecgbyte.elm.run import load_run
    from ecgbyte.elm.train import train
    from ecgbyte.elm.two_stage import TwoStageModel
    from tiny import tiny_config

    tok, ecgs = soft
    items = build_synthetic_qa(ecgs, seed=0)
    cfg = tiny_config(max_steps=2, batch_size=2, ecg_input="encoder", soft_tokens=3, log_every=1)
    run = tmp_path / "run"
    train(cfg, items, ecg_tokenizer=tok, run_dir=run, progress=False, stop_after=1)
    (run / "ecg_tokenizer" / "ecgbyte_config.json").unlink()
    shutil.copytree(run / "ecg_tokenizer", tmp_path / "copy")
    out = train(
        cfg,
        items,
        ecg_tokenizer=load_ecg_tokenizer(tmp_path / "copy"),
        run_dir=run,
        progress=False,
        resume=True,
    )
    assert out["steps"] == 2
    loaded = load_run(run, device="cpu")
    assert isinstance(loaded.model, TwoStageModel) and loaded.model.k == 3
    assert not any(p.requires_grad for p in loaded.model.projector.parameters())
