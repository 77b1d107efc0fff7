"""Named representations (ecgbyte.presets): saved with the tokenizer, derived leads rebuilt, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecgbyte.cli import main
from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.errors import RecordError, TokenizerError
from ecgbyte.io import discover, read_record
from ecgbyte.preset_tokenizer import load_preset_tokenizer, prepare_for, train_preset
from ecgbyte.presets import DERIVED_LEADS, INDEPENDENT_LEADS, PRESETS, Preset, get_preset
from ecgbyte.signal.config import PreprocessConfig
from ecgbyte.symbols.hysteresis import HysteresisQuantizer
from ecgbyte.tokenizer import ECGByteTokenizer

RAW = PreprocessConfig(
    notch=False, bandpass=False, highpass=False, denoise=False, resample=False, segment_length=None
)


@pytest.fixture(scope="module")
def records(ptbxl_dir: Path) -> list[Ecg]:
    return [read_record(r.path) for r in discover(ptbxl_dir)[:6]]


@pytest.fixture(scope="module")
def compact(records: list[Ecg]) -> ECGByteTokenizer:
    return train_preset(records[:4], "compact", n_merges=300, threads=1)


def test_compact_round_trip_stores_every_parameter(compact, records, tmp_path):
    compact.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "ecgbyte_config.json").read_text())
    stored = cfg["preset"]
    assert stored["name"] == "compact"
    assert stored["leads"] == list(INDEPENDENT_LEADS) == cfg["leads"]
    assert stored["derived"] == ["III", "aVR", "aVL", "aVF"]
    assert stored["preprocess"]["target_fs"] == 100.0 and stored["preprocess"]["bandpass_high"] == 40.0
    assert (stored["n_merges"], stored["n_symbols"], stored["hysteresis"]) == (300, 22, 0.25)
    assert stored["quantizer"] == cfg["quantizer"]["format"] == "ecgbyte.hysteresis_quantizer"
    assert cfg["quantizer"]["hysteresis"] == 0.25 and cfg["fs"] == 100.0
    back = ECGByteTokenizer.from_pretrained(tmp_path)
    assert back.preset == compact.preset and isinstance(back.quantizer, HysteresisQuantizer)
    assert back.hash() == compact.hash()
    enc, enc2 = compact.encode(records[5]), back.encode(records[5])
    np.testing.assert_array_equal(enc.ids, enc2.ids)
    assert enc.leads == INDEPENDENT_LEADS and enc.fs == 100.0 and enc.n_samples == 1000
    rec = back.decode(enc2)
    assert rec.shape == (12, 1000) and np.isfinite(rec).all()


def test_old_folder_without_preset_loads_as_before(records, tmp_path):
    tok = ECGByteTokenizer.train(records[:3], n_merges=50, leads=("II", "V1"))
    tok.save_pretrained(tmp_path)
    assert "preset" not in json.loads((tmp_path / "ecgbyte_config.json").read_text())
    back = ECGByteTokenizer.from_pretrained(tmp_path)
    assert back.preset is None and back.hash() == tok.hash()
    assert back.decode(back.encode(records[4])).shape == (2, 2500)  # its own leads, no rebuilding


def test_paper_preset_is_todays_recipe(records):
    tok = train_preset(records[:2], "paper", n_merges=40, threads=1)
    plain = ECGByteTokenizer.train(records[:2], n_merges=40, threads=1)
    # same quantizer, merges and preprocessing as train-tokenizer without a preset
    assert tok.quantizer == plain.quantizer and tok.merges.pairs.tolist() == plain.merges.pairs.tolist()
    assert tok.preprocess == plain.preprocess and tok.leads == STANDARD_LEADS
    np.testing.assert_array_equal(tok.decode(tok.encode(records[3])), plain.decode(plain.encode(records[3])))


def test_derived_leads_rebuilt_within_quantisation_error(records):
    """An ECG whose limb leads are exact combinations of I and II decodes them to within quantisation."""
    preset = get_preset("compact", preprocess=RAW, n_merges=200, name="raw8")
    base = records[0]
    i, ii = base.signal[0].astype(np.float64), base.signal[1].astype(np.float64)
    rows = {"I": i, "II": ii} | {n: w1 * i + w2 * ii for n, (w1, w2) in DERIVED_LEADS.items()}
    rows |= {n: base.signal[STANDARD_LEADS.index(n)] for n in INDEPENDENT_LEADS[2:]}
    ecg = Ecg(np.stack([rows[n] for n in STANDARD_LEADS]).astype(np.float32), fs=500.0, leads=STANDARD_LEADS)
    tok = train_preset([ecg], preset, threads=1)
    q = tok.quantizer
    rec = tok.decode(tok.encode(ecg))
    assert rec.shape == (12, 5000)
    err = np.abs(rec - ecg.signal)
    clipped = (ecg.signal < q.lo) | (ecg.signal > q.hi)
    ok = ~(clipped[0] | clipped[1])  # samples where neither I nor II was clipped
    assert ok.mean() > 0.9
    assert err[:2][~clipped[:2]].max() <= q.max_error + 1e-6
    for n, (w1, w2) in DERIVED_LEADS.items():
        k = STANDARD_LEADS.index(n)
        # exactly the combination of the decoded I and II ...
        np.testing.assert_allclose(rec[k], w1 * rec[0] + w2 * rec[1], atol=1e-6)
        # ... so within the two leads' quantisation error of the true lead
        assert err[k, ok].max() <= (abs(w1) + abs(w2)) * q.max_error + 1e-5


def test_spans_cover_every_token(compact, records):
    enc = compact.encode(records[4])
    assert len(enc.spans()) == len(enc) > 0
    for lead in range(len(enc.leads)):
        sel = enc.lead == lead
        start, end = enc.start[sel], enc.end[sel]
        assert start[0] == 0 and end[-1] == enc.n_samples == 1000
        np.testing.assert_array_equal(start[1:], end[:-1])  # contiguous, no gap, no overlap
    np.testing.assert_allclose(enc.start_s, enc.start / 100.0)
    d = enc.to_dict()
    assert d["spans"][-1]["end_s"] == 10.0 and len(d["spans"]) == len(enc)


def test_hysteresis_quantizer_bounds_and_json():
    q = HysteresisQuantizer(p1=-1.0, p99=1.0, n_symbols=22, hysteresis=0.25)
    x = np.sin(np.linspace(0, 20, 2000)) * 1.2 + np.random.default_rng(0).normal(0, 0.02, 2000)
    codes = q.symbolize(x)
    assert np.abs(q.dequantize(codes) - x).max() <= q.max_error + 1e-9
    plain = np.count_nonzero(np.diff(q.symbolize(x[None])[0].astype(int)))
    uniform = np.count_nonzero(np.diff(super(HysteresisQuantizer, q).symbolize(x).astype(int)))
    assert plain < uniform  # fewer symbol changes: the flicker at bin edges is gone
    np.testing.assert_array_equal(q.symbolize(q.dequantize(codes)), codes)
    assert HysteresisQuantizer.from_dict(q.to_dict()) == q
    with pytest.raises(TokenizerError, match="hysteresis"):
        HysteresisQuantizer.from_dict({**q.to_dict(), "hysteresis": 3})


def test_missing_lead_one_line_error(compact, records, tmp_path, capsys):
    no_i = records[0].select_leads(STANDARD_LEADS[1:])
    with pytest.raises(RecordError, match=r"lead\(s\) I missing .*'compact' representation") as err:
        compact.encode(no_i)
    assert err.value.reason == "missing_lead" and "\n" not in str(err.value)
    import wfdb

    wfdb.wrsamp(
        "noI",
        fs=500,
        units=["mV"] * 11,
        sig_name=list(STANDARD_LEADS[1:]),
        p_signal=no_i.signal.T.astype(np.float64),
        fmt=["16"] * 11,
        adc_gain=[1000.0] * 11,
        baseline=[0] * 11,
        write_dir=str(tmp_path),
    )
    tok_dir = tmp_path / "tok"
    compact.save_pretrained(tok_dir)
    assert main(["encode", str(tok_dir), str(tmp_path / "noI.hea")]) == 2
    err_text = capsys.readouterr().err.strip()
    assert len(err_text.splitlines()) == 1 and "noI" in err_text and "I" in err_text


def test_rate_below_the_preset_refused(compact, ptbxl_dir):
    low = read_record(discover(ptbxl_dir, ptbxl_fs=100)[0].path)  # PTB-XL records100: 100 Hz
    assert compact.decode(compact.encode(low)).shape == (12, 1000)  # compact's own rate: fine
    paper = get_preset("paper")
    with pytest.raises(RecordError, match=r"100 Hz, below the 250 Hz of the 'paper' representation") as err:
        prepare_for(low, paper)
    assert err.value.reason == "rate"
    half = low.replace(signal=low.signal[:, ::2], fs=50.0)
    with pytest.raises(RecordError, match="below the 100 Hz of the 'compact'"):
        compact.encode(half)


def test_folder_of_another_representation_refused(compact, records, tmp_path):
    compact.save_pretrained(tmp_path / "c")
    assert load_preset_tokenizer(tmp_path / "c", expect="compact").preset.name == "compact"
    with pytest.raises(TokenizerError, match=r"'compact' representation, but this run expects 'paper'"):
        load_preset_tokenizer(tmp_path / "c", expect="paper")
    old = ECGByteTokenizer.train(records[:2], n_merges=30)  # made before presets, with the paper's settings
    old.save_pretrained(tmp_path / "old")
    assert load_preset_tokenizer(tmp_path / "old", expect="paper").preset is None
    with pytest.raises(TokenizerError, match="made before presets"):
        load_preset_tokenizer(tmp_path / "old", expect="compact")


def test_train_tokenizer_cli_preset(ptbxl_dir, tmp_path, capsys):
    out = tmp_path / "tok"
    argv = ["train-tokenizer", str(ptbxl_dir), str(out), "--preset", "compact", "--num-ecgs", "5"]
    assert main([*argv, "--merges", "120", "--no-progress"]) == 0
    assert "compact representation" in capsys.readouterr().out
    tok = ECGByteTokenizer.from_pretrained(out)
    assert tok.preset == get_preset("compact", n_merges=120) and len(tok.merges) <= 120
    with pytest.raises(SystemExit) as exc:  # argparse: exit status 2 as well
        main(["train-tokenizer", str(ptbxl_dir), str(out), "--preset", "tiny"])
    assert exc.value.code == 2
    from ecgbyte.commands.train_tokenizer import PRESET_NAMES

    assert set(PRESET_NAMES) == set(PRESETS)  # the command's choices follow the registry


def test_preset_validation():
    with pytest.raises(Exception, match="derived leads need I and II"):
        Preset(name="x", leads=("V1",), derived=("III",))
    with pytest.raises(Exception, match="unknown preset"):
        get_preset("nope")
    assert PRESETS["compact"].output_leads == STANDARD_LEADS
