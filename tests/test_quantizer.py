"""Quantizer: the paper's formula, round trips (hypothesis), seeded fit, JSON save/load, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, RecordError, TokenizerError
from ecgbyte.symbols import ALPHABET, Quantizer, codes_to_str, str_to_codes

MAX_EXAMPLES = int(os.environ.get("ECGBYTE_MAX_EXAMPLES", "50"))

quantizers = st.builds(
    Quantizer,
    p1=st.floats(-5.0, 0.9),
    p99=st.floats(1.0, 6.0),
    n_symbols=st.integers(2, 26),
    margin=st.sampled_from([0.0, 0.25, 0.5]),
)


def test_formula_matches_the_paper_by_hand():
    # p1 = -1, p99 = 2 -> range [-1.5, 2.5] = 4 mV, 26 bins of 4/26 mV
    q = Quantizer(p1=-1.0, p99=2.0)
    assert (q.lo, q.hi) == (-1.5, 2.5)
    x = np.array([-9.0, -1.5, -1.5 + 4 / 26 * 0.999, -1.5 + 4 / 26 * 1.001, 0.5, 2.5, 7.0])
    expected = [0, 0, 0, 1, 13, 25, 25]  # 0.5 mV -> x' = 0.5 -> floor(13) = 13
    assert q.symbolize(x).tolist() == expected
    ref = np.minimum(np.floor(np.clip((x - (-1 - 0.5)) / ((2 + 0.5) - (-1 - 0.5)), 0, 1) * 26), 25)
    assert q.symbolize(x).tolist() == ref.astype(int).tolist()
    assert q.symbolize(x).dtype == np.uint8


def test_dequantize_gives_bin_centres():
    q = Quantizer(p1=0.0, p99=1.6)  # range [-0.5, 2.1], bin 0.1 mV
    centres = q.dequantize(np.arange(26, dtype=np.uint8))
    assert centres.dtype == np.float32
    np.testing.assert_allclose(centres, -0.45 + 0.1 * np.arange(26), atol=1e-6)
    np.testing.assert_allclose(q.edges[[0, -1]], [-0.5, 2.1])


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(q=quantizers, data=st.data())
def test_symbols_dequantize_symbolize_is_identity(q, data):
    codes = data.draw(arrays(np.uint8, st.integers(0, 64), elements=st.integers(0, q.n_symbols - 1)))
    np.testing.assert_array_equal(q.symbolize(q.dequantize(codes)), codes)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(q=quantizers, u=arrays(np.float64, st.integers(1, 64), elements=st.floats(0.0, 1.0)))
def test_reconstruction_error_at_most_half_a_bin(q, u):
    x = q.lo + u * (q.hi - q.lo)
    err = np.abs(q.dequantize(q.symbolize(x)).astype(np.float64) - x)
    assert err.max() <= q.bin_width / 2 + 1e-5 * max(1.0, abs(q.lo), abs(q.hi))


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(q=quantizers, d=st.floats(1e-6, 1e6))
def test_values_past_the_extremes_clip(q, d):
    assert q.symbolize(np.array([q.lo - d, q.hi + d])).tolist() == [0, q.n_symbols - 1]


def test_fit_is_deterministic_by_seed_and_bounded():
    rng = np.random.default_rng(0)
    data = [rng.normal(0.0, 0.3, size=(12, 1000)) for _ in range(20)]
    a = Quantizer.fit(data, max_values=5000, seed=1)
    b = Quantizer.fit(iter(data), max_values=5000, seed=1)
    c = Quantizer.fit(data, max_values=5000, seed=2)
    assert a == b and a != c
    full = Quantizer.fit(data, max_values=10**7)
    allv = np.concatenate([d.ravel() for d in data])
    assert full.p1 == pytest.approx(np.percentile(allv, 1)) and full.p99 == pytest.approx(
        np.percentile(allv, 99)
    )
    assert a.p1 == pytest.approx(full.p1, abs=0.05) and a.p99 == pytest.approx(full.p99, abs=0.05)


def test_fit_takes_ecgs_and_percentiles():
    ecgs = [
        Ecg(np.tile(np.linspace(-1, 1, 101, dtype=np.float32), (12, 1)), 100.0, record_id=f"r{i}")
        for i in range(3)
    ]
    q = Quantizer.fit(ecgs, percentiles=(0.0, 100.0))
    assert (q.p1, q.p99, q.percentiles) == (-1.0, 1.0, (0.0, 100.0))


def test_nan_input_gives_clear_error():
    bad = Ecg(np.full((12, 10), np.nan, dtype=np.float32), 100.0, record_id="rec42")
    with pytest.raises(RecordError, match=r"rec42.*NaN"):
        Quantizer.fit([np.zeros((12, 10)), bad])
    with pytest.raises(RecordError, match=r"signals\[1\]"):
        Quantizer.fit([np.zeros(3), np.array([0.0, np.inf])])
    with pytest.raises(RecordError, match="non-finite"):
        Quantizer(0.0, 1.0).symbolize(np.array([0.0, np.nan]))


@pytest.mark.parametrize(
    "kwargs",
    [{"percentiles": (99.0, 1.0)}, {"percentiles": (-1.0, 99.0)}, {"max_values": 0}],
)
def test_fit_bad_options(kwargs):
    with pytest.raises(ConfigError):
        Quantizer.fit([np.zeros(5)], **kwargs)


def test_fit_empty_corpus():
    with pytest.raises(ConfigError, match="empty"):
        Quantizer.fit([])


@pytest.mark.parametrize(
    "kwargs",
    [{"p1": 2.0, "p99": 1.0}, {"p1": float("nan"), "p99": 1.0}, {"p1": 0, "p99": 1, "n_symbols": 27}],
)
def test_bad_constructor_args(kwargs):
    with pytest.raises(ConfigError):
        Quantizer(**kwargs)


def test_dequantize_rejects_bad_codes():
    q = Quantizer(0.0, 1.0, n_symbols=10)
    with pytest.raises(TokenizerError, match=r"0\.\.9"):
        q.dequantize(np.array([3, 10]))
    with pytest.raises(TokenizerError):
        q.dequantize(np.array([0.5]))


def test_save_load_roundtrip_atomic(tmp_path):
    q = Quantizer(p1=-0.4123456789, p99=0.9, n_symbols=20, percentiles=(2.0, 98.0))
    path = q.save(tmp_path / "sub" / "quantizer.json")
    assert path == tmp_path / "sub" / "quantizer.json"
    assert [p.name for p in path.parent.iterdir()] == ["quantizer.json"]  # no temp file left
    data = json.loads(path.read_text())
    assert data["format"] == "ecgbyte.quantizer" and data["format_version"] == 1
    assert Quantizer.load(path) == q
    assert Quantizer.from_dict(q.to_dict()) == q


def test_load_damaged_files_name_the_file(tmp_path):
    p = tmp_path / "q.json"
    p.write_text('{"format": "ecgbyte.quantizer", "format_vers')
    with pytest.raises(TokenizerError, match=r"q\.json.*damaged.*line 1"):
        Quantizer.load(p)
    with pytest.raises(TokenizerError, match="not found"):
        Quantizer.load(tmp_path / "missing.json")
    good = Quantizer(0.0, 1.0).to_dict()
    for change, msg in [
        ({"format_version": 99}, "upgrade"),
        ({"format": "x"}, "not an ecgbyte"),
        ({"p99": -5.0}, "invalid"),
        ({"p1": None}, "invalid"),
    ]:
        p.write_text(json.dumps({**good, **change}))
        with pytest.raises(TokenizerError, match=msg):
            Quantizer.load(p)
    del good["p1"]
    p.write_text(json.dumps(good))
    with pytest.raises(TokenizerError, match="missing the key 'p1'"):
        Quantizer.load(p)


def test_alphabet_and_string_conversion():
    assert ALPHABET == "abcdefghijklmnopqrstuvwxyz"
    codes = np.arange(26, dtype=np.uint8)
    assert codes_to_str(codes) == ALPHABET
    np.testing.assert_array_equal(str_to_codes(ALPHABET), codes)
    assert str_to_codes("").dtype == np.uint8 and codes_to_str(np.array([], dtype=np.uint8)) == ""


@pytest.mark.parametrize(
    "text,bad", [("abcA", "'A' at position 3"), ("ab c", "' ' at position 2"), ("aé", "'é' at position 1")]
)
def test_str_to_codes_bad_char(text, bad):
    with pytest.raises(TokenizerError, match=bad):
        str_to_codes(text)


def test_codes_to_str_bad_codes():
    with pytest.raises(TokenizerError, match="26 at position 1"):
        codes_to_str(np.array([0, 26]))
    with pytest.raises(TokenizerError, match="1-D"):
        codes_to_str(np.zeros((2, 2), dtype=np.uint8))


def test_quantizer_stack_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, ecgbyte.symbols; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run():
    import doctest

    import ecgbyte.symbols.quantizer as mod

    result = doctest.testmod(mod)
    assert result.attempted >= 5 and result.failed == 0


@pytest.mark.parametrize(
    ("sizes", "max_values"),
    [([1000] * 40, 5000), ([7, 0, 3000, 1, 2500] * 9, 999), ([50] * 10, 10**6), ([1] * 30, 1), ([4000], 3)],
)
def test_fit_keeps_the_values_with_the_smallest_keys(sizes, max_values):
    # the reservoir is the max_values values whose keys (rng.random per item, in order) are smallest,
    # however the items are sized and whenever it is pruned
    rng = np.random.default_rng(3)
    data = [rng.normal(0.0, 0.3, size=n) for n in sizes]
    key_rng = np.random.default_rng(7)
    keys = np.concatenate([key_rng.random(d.size) for d in data])
    kept = np.concatenate(data)[np.argsort(keys)[:max_values]]
    q = Quantizer.fit(data, max_values=max_values, seed=7, percentiles=(2.5, 97.5))
    assert (q.p1, q.p99) == tuple(np.percentile(kept, [2.5, 97.5]))
