"""Issue 12, items 4, 5 and 8: files that lie. Headers that do not match their signal files, tokenizer
configs tampered with, and hypothesis fuzzing of the readers and the config loader.

Every case ends in either the correct result or one :class:`~ecgbyte.errors.EcgbyteError` (one
line naming the file), never another exception, never garbage read silently, never a read or an
allocation beyond what the header describes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ecgbyte import limits, tokenizer_io
from ecgbyte.bpe.merges import Merges
from ecgbyte.cli import main
from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.errors import ConfigError, EcgbyteError, RecordError, TokenizerError
from ecgbyte.io import numpy_reader, read_numpy, read_wfdb
from ecgbyte.symbols import Quantizer
from ecgbyte.tokenizer import ECGByteTokenizer

MAX_EXAMPLES = int(os.environ.get("ECGBYTE_MAX_EXAMPLES", "60"))
VENDORED = Path(__file__).resolve().parent / "data"  # always present, also without ../shared/data
BASE = VENDORED / "ptb-xl" / "records500" / "00000" / "00002_hr"


def _copy(tmp: Path, name: str = "r", *, n_sig: int | None = None, edit=None) -> Path:
    """Copy 00002_hr to ``tmp/name.{hea,dat}``; ``n_sig`` keeps the first signal lines; ``edit`` maps lines."""
    (tmp / f"{name}.dat").write_bytes(BASE.with_suffix(".dat").read_bytes())
    lines = BASE.with_suffix(".hea").read_text().splitlines()
    head = lines[0].split()
    head[0] = name
    body = [ln.replace("00002_hr.dat", f"{name}.dat") for ln in lines[1:13]]
    if n_sig is not None:
        head[1], body = str(n_sig), body[:n_sig]
    lines = [" ".join(head), *body, *lines[13:]]
    if edit is not None:
        lines = edit(lines)
    (tmp / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return tmp / name


# -- headers against signal files ---------------------------------------------------------------


def test_eleven_signals_over_a_twelve_channel_file_is_an_error_not_garbage(tmp_path):
    stem = _copy(tmp_path, n_sig=11)
    with pytest.raises(
        RecordError,
        match=r"r\.dat: header describes 11 signal\(s\) x 5000 samples in format 16 "
        r"\(110000 bytes\) but the signal file holds 120000 bytes",
    ) as err:
        read_wfdb(stem, leads=None)
    assert err.value.reason == "size_mismatch" and "\n" not in str(err.value)


def test_a_mismatched_record_is_skipped_and_counted_by_preprocess(tmp_path):
    from ecgbyte.batch import preprocess_dataset

    src = tmp_path / "src"
    src.mkdir()
    _copy(src, "good")
    _copy(src, "bad", n_sig=11)
    summary = preprocess_dataset(src, tmp_path / "out", None, progress=False)
    assert (summary.read, summary.written, summary.skipped) == (2, 1, {"size_mismatch": 1})


def test_a_2gb_signal_file_under_a_10s_header_is_never_read(tmp_path, monkeypatch):
    stem = _copy(tmp_path)
    with open(stem.with_suffix(".dat"), "r+b") as f:
        f.truncate(2 * 2**30)  # sparse: costs no disk

    def no_read(*a, **k):
        raise AssertionError("samples were read before the size check")

    monkeypatch.setattr(np, "fromfile", no_read)
    with pytest.raises(
        RecordError, match=r"\(120000 bytes\) but the signal file holds 2147483648 bytes"
    ) as err:
        read_wfdb(stem)
    assert err.value.reason == "size_mismatch"


def test_a_2gb_file_under_a_header_without_length_is_refused(tmp_path):
    stem = _copy(tmp_path, edit=lambda ls: [" ".join(ls[0].split()[:3]), *ls[1:]])
    with open(stem.with_suffix(".dat"), "r+b") as f:
        f.truncate(2 * 2**30)
    with pytest.raises(
        RecordError, match="holds more than 67108864 samples and the header gives no length"
    ) as err:
        read_wfdb(stem)
    assert err.value.reason == "too_long"


@pytest.mark.parametrize(("delta", "reason"), [(-1, "truncated"), (-2, "truncated"), (2, "size_mismatch")])
def test_the_signal_file_size_must_match_exactly(tmp_path, delta, reason):
    stem = _copy(tmp_path)
    data = stem.with_suffix(".dat").read_bytes()
    stem.with_suffix(".dat").write_bytes(data[:delta] if delta < 0 else data + b"\0" * delta)
    with pytest.raises(RecordError) as err:
        read_wfdb(stem)
    assert err.value.reason == reason and f"holds {120000 + delta} bytes" in str(err.value)


def test_a_header_announcing_a_billion_samples_is_refused_before_reading(tmp_path):
    stem = _copy(tmp_path, edit=lambda ls: [ls[0].replace(" 5000", " 1000000000"), *ls[1:]])
    with pytest.raises(RecordError, match=r"1000000000 samples x 12 signals, more than ecgbyte reads") as err:
        read_wfdb(stem)
    assert err.value.reason == "too_long"


def test_a_signal_count_of_100000_is_refused(tmp_path):
    stem = _copy(tmp_path, edit=lambda ls: [ls[0].replace(" 12 ", " 100000 "), *ls[1:]])
    with pytest.raises(RecordError, match="announces 100000 signals, more than 256") as err:
        read_wfdb(stem)
    assert err.value.reason == "lead_count"


def test_an_infinite_gain_is_refused(tmp_path):
    stem = _copy(tmp_path, edit=lambda ls: [ls[0], ls[1].replace("1000.0", "1e999"), *ls[2:]])
    with pytest.raises(RecordError, match=r"signal 'I' has gain '1e999\(0\)/mV', not a finite number") as err:
        read_wfdb(stem)
    assert err.value.reason == "bad_gain"


def test_a_negative_gain_reads_inverted_with_a_warning(tmp_path):
    plain = read_wfdb(_copy(tmp_path, "p"))
    stem = _copy(tmp_path, edit=lambda ls: [ls[0], ls[1].replace("1000.0", "-1000.0"), *ls[2:]])
    with pytest.warns(UserWarning, match=r"signal 'I' has a negative gain \(-1000\): it is read inverted"):
        ecg = read_wfdb(stem)
    np.testing.assert_array_equal(ecg.signal[0], -plain.signal[0])
    np.testing.assert_array_equal(ecg.signal[1:], plain.signal[1:])


def test_a_checksum_that_disagrees_is_listed(tmp_path):
    assert "checksum_mismatch" not in read_wfdb(_copy(tmp_path, "p")).meta  # PTB-XL's unsigned ones agree
    stem = _copy(tmp_path)
    raw = bytearray(stem.with_suffix(".dat").read_bytes())
    raw[2 * 12 * 7 + 2] ^= 1  # one bit of lead II, sample 7
    stem.with_suffix(".dat").write_bytes(bytes(raw))
    assert read_wfdb(stem).meta["checksum_mismatch"] == ["II"]


@pytest.mark.parametrize("fs", ["0.001", "1e12"])
def test_a_sampling_rate_outside_1_to_10000_hz_is_refused(tmp_path, fs):
    # 0.001 Hz would make preprocessing upsample 250 000-fold
    stem = _copy(tmp_path, edit=lambda ls: [ls[0].replace(" 500 ", f" {fs} "), *ls[1:]])
    with pytest.raises(
        RecordError, match=rf"sampling rate '{fs}' in the record line is not a number of Hz in 1\.\.10000"
    ):
        read_wfdb(stem)
    np.savez(tmp_path / "x.npz", signal=np.zeros((12, 10), np.float32), fs=np.array(float(fs)))
    with pytest.raises(RecordError, match=r"is not a number of Hz in 1\.\.10000") as err:
        read_numpy(tmp_path / "x.npz")
    assert err.value.reason == "bad_fs"


def test_a_tampered_run_config_cannot_ask_for_100000_beams():
    from ecgbyte.elm.config import TrainConfig

    good = TrainConfig().to_dict()
    for key, value, match in [
        ("num_beams", 100000, r"TrainConfig\.num_beams must be an integer in 1\.\.32, got 100000"),
        ("batch_size", 10**9, r"TrainConfig\.batch_size must be an integer in 1\.\.4096"),
        ("max_new_tokens", 10**7, r"TrainConfig\.max_new_tokens must be an integer in 1\.\.4096"),
        ("seed", -1, r"TrainConfig\.seed must be an integer in 0\.\.4294967295"),
    ]:
        with pytest.raises(ConfigError, match=match):
            TrainConfig.from_dict({**good, key: value})


def test_an_oversized_header_is_refused(tmp_path):
    stem = _copy(tmp_path, edit=lambda ls: [*ls, *["# " + "x" * 1000] * 1100])
    with pytest.raises(RecordError, match=r"header is \d+ bytes, more than a WFDB header holds \(1048576\)"):
        read_wfdb(stem)


@pytest.mark.parametrize("n_samples", [100, 101])
def test_packed_format_212_sizes_are_exact(tmp_path, n_samples):
    d = (np.arange(3 * n_samples).reshape(n_samples, 3) % 2000 - 1000).astype(np.int16)
    wfdb.wrsamp(
        "rec",
        fs=500,
        units=["mV"] * 3,
        sig_name=["I", "II", "III"],
        d_signal=d,
        fmt=["212"] * 3,
        adc_gain=[200.0] * 3,
        baseline=[0] * 3,
        write_dir=str(tmp_path),
    )
    ecg = read_wfdb(tmp_path / "rec", leads=None)
    np.testing.assert_allclose(ecg.signal, (d.T / 200.0).astype(np.float32))
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes() + b"\0\0\0\0")
    with pytest.raises(RecordError, match="in format 212") as err:
        read_wfdb(tmp_path / "rec", leads=None)
    assert err.value.reason == "size_mismatch"


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    from ecgbyte.batch import preprocess_dataset

    root = tmp_path_factory.mktemp("shards")
    (root / "src").mkdir()
    _copy(root / "src")
    preprocess_dataset(root / "src", root / "out", None, progress=False)
    return root / "out"


@pytest.mark.parametrize(
    ("file", "edit", "match"),
    [
        ("config.json", {"leads": "II"}, r"leads must be a list of lead names .* got the string 'II'"),
        ("config.json", {"fs": 1e12}, r"fs must be a finite number in 1\.\.10000 Hz"),
        ("config.json", {"version": "1"}, r"format version '1' is not one this ecgbyte reads"),
        ("manifest.jsonl", {"row": -1}, r"manifest\.jsonl:1: no valid shard/row numbers"),
        ("manifest.jsonl", {"shard": 2**40}, r"manifest\.jsonl:1: no valid shard/row numbers"),
    ],
)
def test_a_tampered_preprocess_output_is_one_dataset_error(tmp_path, shards, file, edit, match):
    from ecgbyte.errors import DatasetError
    from ecgbyte.io import iter_segments

    out = tmp_path / "out"
    shutil.copytree(shards, out)
    lines = (out / file).read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), **edit}) if file.endswith("jsonl") else lines[0]
    text = (
        json.dumps({**json.loads((out / file).read_text()), **edit})
        if file == "config.json"
        else "\n".join(lines)
    )
    (out / file).write_text(text + "\n")
    assert len(list(iter_segments(shards))) == 1  # the untouched copy reads: one 10 s segment
    with pytest.raises(DatasetError, match=match):
        list(iter_segments(out))


# -- NumPy files ------------------------------------------------------------------------------------


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def test_npy_with_trailing_bytes_is_refused(tmp_path):
    p = tmp_path / "x.npy"
    p.write_bytes(_npy_bytes(np.zeros((12, 100), np.float32)) + b"\0" * 8)
    with pytest.raises(RecordError, match=r"\(4928 bytes\) but 4936 bytes are stored") as err:
        read_numpy(p, fs=500)
    assert err.value.reason == "size_mismatch"


def test_npy_header_claiming_2_to_the_40_values_is_refused_without_allocating(tmp_path):
    good = _npy_bytes(np.zeros((12, 100), np.float32))
    p = tmp_path / "x.npy"
    p.write_bytes(good.replace(b"(12, 100)", b"(12, 1099511627776)", 1))
    with pytest.raises(RecordError, match=r"holds 13194139533312 values, more than ecgbyte reads") as err:
        read_numpy(p, fs=500)
    assert err.value.reason == "too_long"


def test_npz_member_bigger_than_a_record_is_refused_before_inflating(tmp_path, monkeypatch):
    p = tmp_path / "x.npz"
    np.savez_compressed(p, signal=np.zeros((12, 5000), np.float32), fs=np.array(500.0))
    assert read_numpy(p).signal.shape == (12, 5000)
    monkeypatch.setattr(numpy_reader, "MAX_RECORD_VALUES", 1000)
    with pytest.raises(RecordError, match=r"member signal\.npy unpacks to 240128 bytes") as err:
        read_numpy(p)
    assert err.value.reason == "too_long"


def test_npz_member_lying_about_its_shape_is_refused(tmp_path):
    p = tmp_path / "x.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr(
            "signal.npy", _npy_bytes(np.zeros((12, 10), np.float32)).replace(b"(12, 10)", b"(12, 99)", 1)
        )
        zf.writestr("fs.npy", _npy_bytes(np.array(500.0)))
    with pytest.raises(RecordError, match=r"but 608 bytes are stored") as err:
        read_numpy(p)
    assert err.value.reason == "truncated"


# -- tokenizer configs ---------------------------------------------------------------------------


def _tokenizer(tmp: Path) -> Path:
    merges = Merges(np.array([[0, 0], [26, 1]]), np.array([26, 27]))
    ECGByteTokenizer(quantizer=Quantizer(p1=-0.4, p99=0.9), merges=merges).save_pretrained(tmp / "tok")
    return tmp / "tok"


def _tamper(tok: Path, path: str, value) -> Path:
    cfg_path = tok / "ecgbyte_config.json"
    cfg = json.loads(cfg_path.read_text())
    *parents, key = path.split(".")
    node = cfg
    for k in parents:
        node = node[k]
    node[key] = value
    cfg_path.write_text(json.dumps(cfg))
    return cfg_path


TAMPERED = [
    ("leads", "II", r"leads must be a list of lead names such as \[\"II\", \"V1\"\], got the string 'II'"),
    ("leads", ["II", "XX"], r"leads: 'XX' is not a standard lead"),
    ("leads", ["II", "ii"], r"lead II is listed twice"),
    ("leads", [], r"leads must be a non-empty list"),
    ("leads", [1, 2], r"leads: 1 is not a standard lead"),
    (
        "quantizer.p1",
        1e308,
        r"p1 = 1e\+308 mV is outside the physiological range of an ECG \(\|x\| <= 50 mV\)",
    ),
    ("quantizer.p99", -1e308, r"p99 = -1e\+308 mV is outside the physiological range"),
    ("quantizer.p1", float("nan"), r"Quantizer\.p1 must be a finite number"),
    ("quantizer.percentiles", [99, 1], r"percentiles must be \(low, high\) with 0 <= low < high <= 100"),
    ("quantizer.percentiles", [1, float("inf")], r"percentiles must be \(low, high\)"),
    ("quantizer.n_symbols", 1000, r"n_symbols must be an integer in 2\.\.26"),
    ("format_version", -5, r"format_version -5 is not a version ecgbyte ever wrote"),
    ("format_version", 0, r"format_version 0 is not a version ecgbyte ever wrote"),
    ("format_version", 2, r"format_version 2 is newer than this ecgbyte reads"),
    ("format_version", "1", r"no integer 'format_version'"),
    ("preprocess.target_fs", 1e12, r"target_fs must be in 1\.\.10000 Hz \(the paper: 250\), got 1e\+12"),
    ("preprocess.target_fs", 0, r"target_fs must be in 1\.\.10000 Hz"),
    ("preprocess.segment_length", 10**9, r"segment_length must be a number of samples in 1\.\.16777216"),
    ("preprocess.notch_freqs", [50.0] * 1000, r"notch_freqs must be a list of at most 16"),
    ("preprocess.bandpass_high", 1e300, r"band-pass edges must satisfy 0 < low < high <= 10000 Hz"),
    ("fs", 500.0, r"fs 500\.0 differs from the preprocess config's output rate 250\.0"),
    ("merges.format_version", -1, r"merges format_version -1 is not one ecgbyte ever wrote"),
    ("merges.pairs", [[0, 0], [26, 2**70]], r"not integer lists of int32 ids"),
    ("merges.pairs", [[0, 0], [26, 1.0]], r"not integer lists of int32 ids"),
    ("merges.alphabet_size", "26", r"'alphabet_size' must be an integer"),
    ("encoder", "evil", r"unknown encoder 'evil'"),
    ("training", [1], r"'training' must be an object"),
]


@pytest.mark.parametrize(("path", "value", "match"), TAMPERED, ids=[f"{p}={v!r:.20}" for p, v, _ in TAMPERED])
def test_a_tampered_config_is_one_tokenizer_error_naming_the_file(tmp_path, path, value, match):
    cfg_path = _tamper(_tokenizer(tmp_path), path, value)
    with pytest.raises(TokenizerError, match=match) as err:
        ECGByteTokenizer.from_pretrained(cfg_path.parent)
    assert str(cfg_path) in str(err.value) and "\n" not in str(err.value)


def test_an_untampered_config_loads_and_leads_keep_their_spelling(tmp_path):
    tok = ECGByteTokenizer.from_pretrained(_tokenizer(tmp_path))
    assert tok.leads == STANDARD_LEADS and tok.quantizer.p1 == -0.4


def test_a_tampered_config_through_the_cli_is_one_line_exit_2(tmp_path, capsys):
    tok = _tokenizer(tmp_path)
    _tamper(tok, "leads", "II")
    assert main(["encode", str(tok), str(BASE)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "got the string 'II'" in err


def test_fitting_a_quantizer_on_microvolts_says_so():
    uv = Ecg(np.random.default_rng(0).normal(0, 400, (12, 5000)).astype(np.float32), fs=500)
    with pytest.raises(
        ConfigError, match=r"outside the physiological range.*are the signals in mV \(not uV\)\?"
    ):
        Quantizer.fit([uv])


def test_the_constructor_refuses_a_string_of_leads():
    merges = Merges(np.zeros((0, 2), np.int64), np.zeros(0, np.int64))
    with pytest.raises(ConfigError, match="got the string 'II'"):
        ECGByteTokenizer(quantizer=Quantizer(p1=0, p99=1), merges=merges, leads="II")


# -- hypothesis fuzzing ----------------------------------------------------------------------------

NASTY = [
    "0",
    "-1",
    "1e999",
    "nan",
    "inf",
    "",
    "99999999999999999999",
    "16x3",
    "212",
    "80",
    "16+24",
    "abc",
    "-0",
    "2147483648",
    "1000.0(-5)/uV",
    "1000.0/V",
    "1e-300",
    "/",
    "(",
    "12",
    "5000",
    "500/",
]
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def header_mutations(draw):
    lines = BASE.with_suffix(".hea").read_text().splitlines()
    edits = draw(
        st.lists(
            st.tuples(
                st.integers(0, 12), st.integers(0, 9), st.one_of(st.sampled_from(NASTY), st.text(max_size=6))
            ),
            max_size=3,
        )
    )
    delta = draw(st.one_of(st.just(0), st.integers(-8, 8), st.sampled_from([-120000, 120000, -60000])))
    return lines, edits, delta


@FUZZ
@given(header_mutations())
def test_fuzz_wfdb_reader_gives_a_correct_result_or_one_ecgbyte_error(case):
    lines, edits, delta = case
    lines = list(lines)
    for li, fi, value in edits:
        fields = lines[li].split()
        if fi < len(fields):
            fields[fi] = value
            lines[li] = " ".join(fields)
    with tempfile.TemporaryDirectory() as d:
        stem = Path(d) / "00002_hr"
        stem.with_suffix(".hea").write_text("\n".join(lines) + "\n")
        data = BASE.with_suffix(".dat").read_bytes()
        stem.with_suffix(".dat").write_bytes(data[:delta] if delta < 0 else data + b"\x01" * delta)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ecg = read_wfdb(stem, leads=None)
        except EcgbyteError as exc:
            assert "\n" not in str(exc)
            return
    assert isinstance(ecg, Ecg) and ecg.signal.dtype == np.float32 and ecg.signal.ndim == 2
    if not edits and delta == 0:
        np.testing.assert_array_equal(ecg.signal, read_wfdb(BASE, leads=None).signal)


NUMPY_DTYPES = st.sampled_from([np.float32, np.float64, np.int16, np.int64, np.uint8, np.bool_, np.complex64])


@FUZZ
@given(
    hnp.arrays(NUMPY_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, max_side=14)),
    st.sampled_from(["none", "truncate", "append", "flip"]),
    st.integers(0, 400),
)
def test_fuzz_numpy_reader_gives_a_correct_result_or_one_ecgbyte_error(arr, damage, k):
    data = _npy_bytes(arr)
    if damage == "truncate":
        data = data[: max(0, len(data) - 1 - k)]
    elif damage == "append":
        data += b"\x07" * (k + 1)
    elif damage == "flip":
        pos = k % len(data)
        data = data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1 :]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.npy"
        p.write_bytes(data)
        try:
            ecg = read_numpy(p, fs=500.0)
        except EcgbyteError as exc:
            assert "\n" not in str(exc)
            return
    assert isinstance(ecg, Ecg)
    if damage == "none":  # then it was a numeric [12, n >= 1] array, read exactly
        assert arr.ndim == 2 and arr.shape[0] == 12 and arr.shape[1] >= 1 and arr.dtype.kind in "fiu"
        np.testing.assert_array_equal(ecg.signal, arr.astype(np.float32))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
CONFIG_PATHS = [
    "format_version",
    "format",
    "encoder",
    "fs",
    "leads",
    "alphabet",
    "quantizer",
    "quantizer.p1",
    "quantizer.p99",
    "quantizer.n_symbols",
    "quantizer.margin",
    "quantizer.percentiles",
    "quantizer.format_version",
    "quantizer.format",
    "preprocess",
    "preprocess.target_fs",
    "preprocess.segment_length",
    "preprocess.notch_freqs",
    "preprocess.wavelet",
    "preprocess.bandpass_order",
    "preprocess.resample",
    "merges",
    "merges.pairs",
    "merges.ids",
    "merges.alphabet_size",
    "merges.alphabet",
    "merges.format_version",
    "training",
    "new_key",
]
_CFG_TEXT = json.dumps(
    ECGByteTokenizer(
        quantizer=Quantizer(p1=-0.4, p99=0.9), merges=Merges(np.array([[0, 0], [26, 1]]), np.array([26, 27]))
    ).to_config()
)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(CONFIG_PATHS), JSON), min_size=1, max_size=3))
def test_fuzz_tokenizer_config_loader_gives_a_valid_tokenizer_or_one_ecgbyte_error(edits):
    cfg = json.loads(_CFG_TEXT)
    for path, value in edits:
        *parents, key = path.split(".")
        node = cfg
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[key] = value
    try:
        tok = ECGByteTokenizer._from_parts(tokenizer_io.from_config(cfg, where="cfg.json"), where="cfg.json")
    except EcgbyteError as exc:
        assert "\n" not in str(exc) and "cfg.json" in str(exc)
        return
    # a loaded tokenizer is valid and survives its own round trip
    assert tok.leads and all(
        x in STANDARD_LEADS or x.lower() in {s.lower() for s in STANDARD_LEADS} for x in tok.leads
    )
    q = tok.quantizer
    assert abs(q.p1) <= limits.PHYSIOLOGICAL_MV and abs(q.p99) <= limits.PHYSIOLOGICAL_MV and q.p1 <= q.p99
    again = ECGByteTokenizer._from_parts(tokenizer_io.from_config(tok.to_config(), where="x"), where="x")
    assert again.hash() == tok.hash()


def test_fuzz_fixtures_exist():
    # the fuzzers read the vendored record: fail loudly if it moved rather than fuzz nothing
    assert BASE.with_suffix(".hea").is_file() and BASE.with_suffix(".dat").stat().st_size == 120000
