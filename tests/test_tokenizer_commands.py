"""The tokenizer commands end to end: train-tokenizer, encode, tokenizer-report (real PTB-XL records)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ecgbyte.cli import main
from ecgbyte.errors import ConfigError, TokenizerError
from ecgbyte.tokenizer import ECGByteTokenizer

RECORDS = ["00002_hr", "00006_hr", "00008_hr", "00010_hr", "00015_hr"]


@pytest.fixture(scope="module")
def records(ptbxl_dir, tmp_path_factory):
    """Five PTB-XL 500 Hz records in a plain directory."""
    out = tmp_path_factory.mktemp("recs")
    src = ptbxl_dir / "records500" / "00000"
    for name in RECORDS:
        for suffix in (".hea", ".dat"):
            shutil.copy(src / f"{name}{suffix}", out / f"{name}{suffix}")
    return out


@pytest.fixture(scope="module")
def trained(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    argv = ["train-tokenizer", str(records), str(out), "--merges", "200", "--segment-seconds", "5"]
    assert main([*argv, "--num-ecgs", "8", "--seed", "3", "--no-progress"]) == 0
    return out


def test_train_from_records_writes_loadable_files(trained, records):
    from tokenizers import Tokenizer

    tok = ECGByteTokenizer.from_pretrained(trained)
    cfg = json.loads((trained / "ecgbyte_config.json").read_text())
    t = cfg["training"]
    assert (t["n_ecgs"], t["n_available"], t["segment_samples"], t["sampling"]) == (8, 10, 1250, "random")
    assert t["source_kind"] == "records" and t["seed"] == 3
    assert cfg["preprocess"]["segment_length"] == 1250
    assert len(tok.merges) == 200
    # plain `tokenizers` encodes every lead exactly as encoder="bpe"
    from ecgbyte.io import read_record

    hf = Tokenizer.from_file(str(trained / "tokenizer.json"))
    ecg = read_record(records / "00015_hr.hea")
    enc = tok.encode(ecg)
    codes = tok.quantizer.symbolize(tok.prepare(ecg).signal)
    text = " ".join("".join(chr(97 + c) for c in row) for row in codes)
    assert hf.encode(text).ids == enc.ids.tolist()


def test_train_deterministic_and_stratified(records, tmp_path):
    argv = [str(records), "--merges", "60", "--segment-seconds", "5", "--num-ecgs", "6", "--no-progress"]
    for name, threads in (("a", "1"), ("b", "3")):  # the thread count changes nothing
        out = str(tmp_path / name)
        assert (
            main(
                ["train-tokenizer", argv[0], out, *argv[1:], "--sampling", "stratified", "--threads", threads]
            )
            == 0
        )
    a = (tmp_path / "a" / "ecgbyte_config.json").read_text()
    assert a == (tmp_path / "b" / "ecgbyte_config.json").read_text()
    assert json.loads(a)["training"]["sampling"] == "stratified"
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (
        tmp_path / "b" / "tokenizer.json"
    ).read_bytes()


def test_train_from_shards_adopts_their_config(records, tmp_path):
    shards = tmp_path / "shards"
    assert main(["preprocess", str(records), str(shards), "--segment-seconds", "2", "--no-progress"]) == 0
    out = tmp_path / "tok"
    assert main(["train-tokenizer", str(shards), str(out), "--merges", "50", "--no-progress"]) == 0
    tok = ECGByteTokenizer.from_pretrained(out)
    run_cfg = json.loads((shards / "config.json").read_text())
    assert tok.preprocess.hash() == run_cfg["config_hash"]
    assert tok.info["source_kind"] == "shards" and tok.info["n_ecgs"] == 25  # 5 records x 5 segments
    from ecgbyte.io.shards import iter_segments

    seg = next(iter(iter_segments(shards)))
    enc = tok.encode(seg.replace(meta={**seg.meta, "preprocess_hash": tok.preprocess.hash()}))
    assert enc.n_samples == 500 and enc.lead_offsets[-1] == len(enc)
    with pytest.raises(ConfigError, match="longer than the shards' segments"):
        from ecgbyte.tokenizer_tasks import train_tokenizer

        train_tokenizer(shards, tmp_path / "x", n_merges=5, segment_seconds=5)


def test_train_errors(records, tmp_path, capsys):
    assert (
        main(["train-tokenizer", str(records), str(tmp_path / "o"), "--num-ecgs", "99", "--no-progress"]) == 2
    )
    assert "cannot sample 99 ECGs from 5" in capsys.readouterr().err
    assert main(["train-tokenizer", str(tmp_path / "none"), str(tmp_path / "o")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_encode_command(trained, records, tmp_path, capsys):
    rec = str(records / "00002_hr.hea")
    assert main(["encode", str(trained), rec]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["encoder"] == "bpe" and d["fs"] == 250.0 and d["n_samples"] == 2500
    assert d["n_tokens"] == len(d["ids"]) == len(d["tokens"]) == len(d["spans"])
    assert d["compression"] == pytest.approx(12 * 2500 / d["n_tokens"])
    assert d["spans"][0] == {
        "lead": 0,
        "start": 0,
        "end": len(d["tokens"][0]),
        "start_s": 0.0,
        "end_s": len(d["tokens"][0]) / 250.0,
    }
    out = tmp_path / "enc.json"
    assert main(["encode", str(trained), rec, "--encoder", "greedy", "--out", str(out)]) == 0
    g = json.loads(out.read_text())
    assert g["encoder"] == "greedy" and "".join(g["tokens"]) == "".join(d["tokens"])
    assert main(["encode", str(tmp_path), rec]) == 2
    assert "ecgbyte_config.json: not found" in capsys.readouterr().err


def test_tokenizer_report(trained, records, tmp_path, capsys):
    from ecgbyte.tokenizer_tasks import report_tokenizer

    rep = report_tokenizer(trained, tmp_path / "r", data=records, max_ecgs=3)
    v, d = rep["vocab"], rep["data"]
    tok = ECGByteTokenizer.from_pretrained(trained)
    assert v["vocab_size"] == tok.vocab_size and sum(v["length_histogram"].values()) == tok.vocab_size
    assert v["length_histogram"]["1"] == 26
    runs = [s for s in tok.vocab if len(s) > 1 and len(set(s)) == 1]
    assert v["run_tokens"] == len(runs)
    assert d["n_ecgs"] == 3 and list(d["tokens_per_lead"])[:2] == ["I", "II"]
    per_ecg = [
        len(tok.encode(__import__("ecgbyte.io", fromlist=["x"]).read_record(records / f"{r}.hea")))
        for r in RECORDS[:3]
    ]
    assert d["tokens_per_10s"]["mean"] == pytest.approx(np.mean(per_ecg))  # 10 s records
    assert (tmp_path / "r" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "r" / "report.json").read_text())["vocab"] == v
    assert main(["tokenizer-report", str(trained), "--out", str(tmp_path / "r2")]) == 0
    assert json.loads(capsys.readouterr().out)["vocab_size"] == tok.vocab_size
    assert json.loads((tmp_path / "r2" / "report.json").read_text())["data"] is None


def test_vocab_stats_runs():
    from ecgbyte.bpe.merges import Merges
    from ecgbyte.symbols import Quantizer
    from ecgbyte.viz.tokenizer_report import is_run, vocab_stats

    m = Merges(pairs=np.array([[0, 0], [26, 26], [1, 2], [3, 3]]), ids=np.array([26, 27, 28, 29]))
    tok = ECGByteTokenizer(quantizer=Quantizer(p1=0, p99=1), merges=m, preprocess=None)
    s = vocab_stats(tok)
    assert s["length_histogram"] == {"1": 26, "2": 3, "4": 1}
    assert s["run_tokens"] == 3 and s["run_fraction"] == 0.75
    assert s["run_tokens_by_symbol"] == {"a": 4, "d": 2}
    assert s["longest_tokens"][0] == "aaaa"
    assert is_run("aa") and not is_run("a") and not is_run("ab")
    with pytest.raises(TokenizerError):
        tok.token_to_id("q" * 3)
