"""Issue 12, items 4 and 7: bounds on everything a user or a file controls, one-line errors naming the flag.

Every numeric flag of every command is given a value that is nonsense or would exhaust the
machine (``ask --num-beams 100000``, ``preprocess --target-fs 1e12``, ``--shard-size 0``,
``--limit -1``...): the command must stop while parsing, with exit status 2, one line on stderr
that names the flag, and nothing written. The library functions behind the commands refuse the
same values themselves. The bombs: a 1.4 KB pickle of shared references (exponential to walk
naively), a pickle that claims a 2**60-byte string, merges whose tokens double at every step, a
pickle whose merges repeat one long sequence, integer overflow in stored merges.
"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgbyte import cli_args, limits
from ecgbyte.bpe.merges import Merges
from ecgbyte.cli import main
from ecgbyte.convert import parse_original, read_original, safe_load_pickle
from ecgbyte.errors import ConfigError, DatasetError, TokenizerError

REPO = Path(__file__).resolve().parents[1]
CLI = (sys.executable, "-m", "ecgbyte.cli")
REC = "ptb-xl/records500/00000/00002_hr"

# (argv, the flag the message must name); positional paths need not exist: parsing comes first
BAD_FLAGS = [
    (["ask", "RUN", "REC", "Q", "--num-beams", "100000"], "--num-beams"),
    (["ask", "RUN", "REC", "Q", "--max-new-tokens", "-5"], "--max-new-tokens"),
    (["ask", "RUN", "REC", "Q", "--fs", "0"], "--fs"),
    (["ask", "RUN", "REC", "Q", "--fs", "nan"], "--fs"),
    (["generate", "RUN", "--out", "P", "--batch-size", "0"], "--batch-size"),
    (["generate", "RUN", "--out", "P", "--limit", "-1"], "--limit"),
    (["generate", "RUN", "--out", "P", "--num-beams", "0"], "--num-beams"),
    (["generate", "RUN", "--out", "P", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["generate", "RUN", "--out", "P", "--batch-size", "1.5"], "--batch-size"),
    (["preprocess", "SRC", "OUT", "--shard-size", "0"], "--shard-size"),
    (["preprocess", "SRC", "OUT", "--workers", "0"], "--workers"),
    (["preprocess", "SRC", "OUT", "--target-fs", "1e12"], "--target-fs"),
    (["preprocess", "SRC", "OUT", "--target-fs", "-250"], "--target-fs"),
    (["preprocess", "SRC", "OUT", "--segment-length", "-1"], "--segment-length"),
    (["evaluate", "RUN", "--limit", "0"], "--limit"),
    (["evaluate", "RUN", "--batch-size", "100000"], "--batch-size"),
    (["evaluate", "RUN", "--noise-std", "nan"], "--noise-std"),
    (["evaluate", "RUN", "--seed", "-1"], "--seed"),
    (["evaluate", "RUN", "--n-resamples", "-1"], "--n-resamples"),
    (["evaluate", "RUN", "--flag-threshold", "inf"], "--flag-threshold"),
    (["report", "RUN", "--limit", "-1"], "--limit"),
    (["report", "RUN", "--n-resamples", "-5"], "--n-resamples"),
    (["train", "--out", "OUT", "--lr", "0"], "--lr"),
    (["train", "--out", "OUT", "--lr", "inf"], "--lr"),
    (["train", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
    (["train", "--out", "OUT", "--steps", "0"], "--steps"),
    (["train", "--out", "OUT", "--epochs", "-1"], "--epochs"),
    (["train", "--out", "OUT", "--max-length", "0"], "--max-length"),
    (["train", "--out", "OUT", "--grad-accum", "0"], "--grad-accum"),
    (["train", "--out", "OUT", "--n-ecgs", "0"], "--n-ecgs"),
    (["train", "--out", "OUT", "--fs", "1e12"], "--fs"),
    (["train", "--out", "OUT", "--segment-seconds", "0"], "--segment-seconds"),
    (["train", "--out", "OUT", "--n-merges", "-1"], "--n-merges"),
    (["train", "--out", "OUT", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["train", "--out", "OUT", "--soft-tokens", "0"], "--soft-tokens"),
    (["train", "--out", "OUT", "--encoder-epochs", "nan"], "--encoder-epochs"),
    (["train", "--out", "OUT", "--encoder-steps", "0"], "--encoder-steps"),
    (["train", "--out", "OUT", "--seed", "-1"], "--seed"),
    (["train", "--out", "OUT", "--seed", str(2**64)], "--seed"),
    (["train-tokenizer", "SRC", "OUT", "--merges", "-1"], "--merges"),
    (["train-tokenizer", "SRC", "OUT", "--num-ecgs", "0"], "--num-ecgs"),
    (["train-tokenizer", "SRC", "OUT", "--seed", "-1"], "--seed"),
    (["train-tokenizer", "SRC", "OUT", "--min-frequency", "0"], "--min-frequency"),
    (["train-tokenizer", "SRC", "OUT", "--max-token-length", "1"], "--max-token-length"),
    (["train-tokenizer", "SRC", "OUT", "--segment-seconds", "0"], "--segment-seconds"),
    (["train-tokenizer", "SRC", "OUT", "--threads", "0"], "--threads"),
    (["serve", "RUN", "--port", "70000"], "--port"),
    (["serve", "RUN", "--max-batch", "0"], "--max-batch"),
    (["serve", "RUN", "--batch-wait-ms", "-1"], "--batch-wait-ms"),
    (["serve", "RUN", "--max-queue", "0"], "--max-queue"),
    (["serve", "RUN", "--max-upload-mb", "1e12"], "--max-upload-mb"),
    (["serve", "RUN", "--max-questions", "0"], "--max-questions"),
    (["serve", "RUN", "--max-question-chars", "0"], "--max-question-chars"),
    (["serve", "RUN", "--threads", "0"], "--threads"),
    (["tokenizer-report", "TOK", "--out", "OUT", "--max-ecgs", "0"], "--max-ecgs"),
    (["encode", "TOK", "REC", "--fs", "-1"], "--fs"),
    (["prompt", "RUN", "REC", "Q", "--fs", "inf"], "--fs"),
    (["prompt", "RUN", "REC", "Q", "--indent", "-1"], "--indent"),
    (["explain", "REC", "--run", "RUN", "--out", "OUT", "--seconds", "0"], "--seconds"),
    (["demo", "--out", "OUT", "--seed", "-1"], "--seed"),
    (["demo", "--out", "OUT", "--n-ecgs", "0"], "--n-ecgs"),
    (["demo", "--out", "OUT", "--epochs", "0"], "--epochs"),
    (["preprocess", "SRC", "OUT", "--leads", "II,XX"], "--leads"),
    (["train", "--out", "OUT", "--leads", "II,ii"], "--leads"),
    (["convert-tokenizer", "P.pkl", "OUT", "--p1", "1e308", "--p99", "1"], "--p1"),
    (["convert-tokenizer", "P.pkl", "OUT", "--p1", "0", "--p99", "nan"], "--p99"),
]


@pytest.mark.parametrize(("argv", "flag"), BAD_FLAGS, ids=[f"{a[0]} {f} {a[-1]}" for a, f in BAD_FLAGS])
def test_every_numeric_flag_rejects_nonsense_with_one_line_naming_it(
    tmp_path, monkeypatch, capsys, argv, flag
):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the output names are relative
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"ecgbyte {argv[0]}: error: argument {flag}")
    assert all(part in err for part in argv[-1].split(","))  # the value is quoted back
    assert list(tmp_path.iterdir()) == []


def test_the_real_process_exits_with_status_2_and_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ecgbyte.cli", "generate", "r", "--out", "p", "--batch-size", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "ecgbyte generate: error: argument --batch-size: must be an integer in 1..4096, got '0' "
        "(see `ecgbyte generate --help`)"
    ]


def test_good_values_still_parse():
    args = cli_args.Parser(prog="x")
    args.add_argument("--n", type=cli_args.num_beams)
    args.add_argument("--fs", type=cli_args.rate_hz)
    args.add_argument("--seed", type=cli_args.seed)
    ns = args.parse_args(["--n", "32", "--fs", "250", "--seed", str(2**32 - 1)])
    assert (ns.n, ns.fs, ns.seed) == (32, 250.0, 2**32 - 1)


def test_workers_are_capped_at_the_cpus_with_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(limits, "cpu_count", lambda: 3)
    assert cli_args.workers("100000") == 3
    assert "100000 workers is more than the 3 CPUs available; using 3" in capsys.readouterr().err
    assert cli_args.workers("2") == 2
    with pytest.warns(UserWarning, match="workers=100000 is more than the 3 CPUs"):
        assert limits.cap_workers(100000) == 3


def test_preprocess_library_caps_workers_instead_of_forking_100000(tmp_path, shared_data, monkeypatch):
    from ecgbyte.batch import preprocess_dataset

    src = tmp_path / "src"
    src.mkdir()
    for suffix in (".hea", ".dat"):
        (src / f"r{suffix}").write_bytes((shared_data / REC).with_suffix(suffix).read_bytes())
    (src / "r.hea").write_text((src / "r.hea").read_text().replace("00002_hr", "r"))
    monkeypatch.setattr(limits, "cpu_count", lambda: 1)  # capped to 1: runs in this process
    with pytest.warns(UserWarning, match="workers=100000 is more than the 1 CPUs available; using 1"):
        summary = preprocess_dataset(src, tmp_path / "out", None, workers=100000, progress=False)
    assert summary.read == 1 and summary.written == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_beams": 100000}, "num_beams"),
        ({"num_beams": 0}, "num_beams"),
        ({"max_new_tokens": -5}, "max_new_tokens"),
        ({"max_new_tokens": 0}, "max_new_tokens"),  # 0 no longer silently means "the run's default"
    ],
)
def test_ask_refuses_decoding_bounds_before_loading_anything(tmp_path, shared_data, kwargs, name):
    from ecgbyte.elm.generate import ask

    with pytest.raises(ConfigError, match=rf"^{name} must be an integer in 1\.\.\d+, got -?\d+$"):
        ask(tmp_path / "no_run", shared_data / REC, "What is the rhythm?", **kwargs)


def test_generate_split_refuses_negative_limit_and_zero_batch(tmp_path):
    from ecgbyte.eval.evaluate import generate_split, parse_seeds

    with pytest.raises(ConfigError, match=r"^limit must be an integer >= 1, got -1$"):
        generate_split(tmp_path / "no_run", "test", tmp_path / "p.jsonl", limit=-1)
    with pytest.raises(ConfigError, match=r"^batch_size must be an integer in 1\.\.4096, got 0$"):
        generate_split(tmp_path / "no_run", "test", tmp_path / "p.jsonl", batch_size=0)
    with pytest.raises(ConfigError, match=r"--seeds '0,-1': not comma-separated integers in 0\.\.2\*\*32-1"):
        parse_seeds("0,-1")
    assert parse_seeds("0,42") == [0, 42]


def test_an_overlong_question_is_refused(shared_data):
    from ecgbyte.elm.generate import ask_prompt

    with pytest.raises(DatasetError, match=r"the question has 4001 characters, more than 4000"):
        ask_prompt(None, shared_data / REC, "x" * 4001)  # type: ignore[arg-type]


# -- the pickle reader ---------------------------------------------------------------------------


def memo_bomb(depth: int = 19, width: int = 35) -> bytes:
    """Protocol-2 pickle: list L0 = [], L(k) = [L(k-1)] * width via memo references, depth levels.

    1.4 KB; a walk that follows every reference visits width**depth (35**19 ~ 2e29) nodes.
    """
    out = bytearray(b"\x80\x02]q\x00")  # PROTO 2, EMPTY_LIST, BINPUT 0
    for k in range(1, depth + 1):
        out += b"](" + (b"h" + bytes([k - 1])) * width + b"eq" + bytes([k])  # MARK, BINGETs, APPENDS
    return bytes(out + b".")


def test_memo_bomb_is_walked_once_per_object(tmp_path):
    bomb = memo_bomb()
    assert 1300 < len(bomb) < 1500
    obj = safe_load_pickle(bomb)  # plain data, so it is admitted: the walk must not explode
    inner = obj
    for _ in range(19):
        assert len(inner) == 35 and all(x is inner[0] for x in inner)
        inner = inner[0]
    assert inner == []
    with pytest.raises(TokenizerError, match=r"expected a \(vocab, merges\) pair"):
        parse_original(obj, where="bomb.pkl")


def test_memo_bomb_through_the_cli_ends_with_one_line(tmp_path):
    # as a (vocab, merges) pair whose vocab is the bomb; run in a process with a bound on its life
    path = tmp_path / "bomb.pkl"
    path.write_bytes(b"\x80\x02" + memo_bomb(depth=18)[2:-1] + b"]\x86.")  # (bomb, []) via TUPLE2
    proc = subprocess.run(
        [*CLI, "convert-tokenizer", str(path), str(tmp_path / "o"), "--p1", "-0.3", "--p99", "0.6"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "vocab is a list, expected a dict" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_deeper_than_the_limit_is_refused():
    deep: list = []
    for _ in range(limits.MAX_PICKLE_DEPTH + 1):
        deep = [deep]
    with pytest.raises(TokenizerError, match="nests deeper"):
        safe_load_pickle(pickle.dumps(deep, protocol=2))


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x04\x8e" + struct.pack("<Q", 2**60) + b"ab.",  # BINBYTES8 claiming 2**60 bytes
        b"\x80\x04\x8d" + struct.pack("<Q", 2**60) + b"ab.",  # BINUNICODE8
        b"\x80\x04B" + struct.pack("<I", 2**31) + b"ab.",  # BINBYTES claiming 2 GiB
        b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b"\x01.",  # LONG4 claiming 2 GiB of digits
    ],
    ids=["bytes8-2^60", "unicode8-2^60", "bytes-2^31", "long4-2^31"],
)
def test_a_pickle_claiming_a_huge_object_is_one_line_not_memoryerror(tmp_path, payload):
    path = tmp_path / "huge.pkl"
    path.write_bytes(payload)
    with pytest.raises(
        TokenizerError, match=r"huge\.pkl: not a plain-data pickle \((expected \d+ bytes|not enough data)"
    ):
        read_original(path)


def _merges_pickle(seqs_and_ids) -> bytes:
    return pickle.dumps(({}, list(seqs_and_ids)), protocol=4)


def test_pickle_merge_ids_that_overflow_int32_are_refused():
    with pytest.raises(
        TokenizerError, match=r"merge #0 has id 10000000000000000000000, outside 256\.\.2147483647"
    ):
        parse_original(({}, [([97, 97], 10**22)]))
    with pytest.raises(TokenizerError, match=r"merge #1 has id -1"):
        parse_original(({}, [([97, 97], 256), ([97, 98], -1)]))


def test_pickle_repeating_one_long_sequence_is_bounded():
    # 20 000 merges that all reference one 1000-symbol sequence: 20 M symbols from a small pickle, and
    # rebuilding their pairs would compare 2e10 characters
    seq = [97] * 1000
    data = _merges_pickle((seq, 256 + i) for i in range(20_000))
    assert len(data) < 400_000
    with pytest.raises(
        TokenizerError,
        match=r"too long to rebuild their pairs \(sum of squared lengths 4295000000 by merge #4294, at most 4294967296\)",
    ):
        parse_original(safe_load_pickle(data), where="x.pkl")


def test_pickle_token_longer_than_the_limit_is_refused():
    with pytest.raises(
        TokenizerError, match=r"merge #0 has no byte sequence of length >= 2 \(and <= 65536\)"
    ):
        parse_original(({}, [([97] * 65537, 256)]))


# -- stored merges ---------------------------------------------------------------------------------


def test_merges_that_double_a_token_every_step_are_refused_before_allocating():
    # 0+0 -> "aa" (26), 26+26 -> "aaaa" (27), ...: 2**61 symbols after 60 merges
    pairs = [[0, 0]] + [[26 + k, 26 + k] for k in range(59)]
    ids = list(range(26, 86))
    with pytest.raises(TokenizerError, match=r"merge 16 \(41, 41\) makes a token of 131072 symbols"):
        Merges.from_dict({"alphabet_size": 26, "pairs": pairs, "ids": ids})


@pytest.mark.parametrize(
    ("pairs", "ids", "match"),
    [
        ([[0, 2**70]], [26], "not integer lists of int32 ids"),
        ([[0, 2**40]], [26], r"outside 0\.\.2\*\*31-1"),
        ([[0, 1]], [2**63], "outside 0..2"),
        ([[0.5, 1]], [26], "not integer lists of int32 ids"),
        ([[0, 1], [2]], [26, 27], "not integer lists of int32 ids"),
        ("01", [26], r"'pairs' must be a list"),
    ],
    ids=["2^70", "2^40", "id-2^63", "float", "ragged", "string"],
)
def test_damaged_merge_numbers_are_one_tokenizer_error(pairs, ids, match):
    with pytest.raises(TokenizerError, match=match):
        Merges.from_dict({"alphabet_size": 26, "pairs": pairs, "ids": ids})


def test_integer_overflow_in_a_saved_tokenizer_is_one_line_from_the_cli(tmp_path, shared_data, capsys):
    from ecgbyte.symbols import Quantizer
    from ecgbyte.tokenizer import ECGByteTokenizer

    merges = Merges(np.array([[0, 0]]), np.array([26]))
    tok = ECGByteTokenizer(quantizer=Quantizer(p1=-1, p99=1), merges=merges)
    tok.save_pretrained(tmp_path / "tok")
    cfg_path = tmp_path / "tok" / "ecgbyte_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["merges"]["pairs"] = [[0, 2**70]]
    cfg_path.write_text(json.dumps(cfg))
    assert main(["encode", str(tmp_path / "tok"), str(shared_data / REC)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ecgbyte_config.json" in err and "int32 ids" in err
