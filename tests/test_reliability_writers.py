"""Issue 12, adversarially: one writer per output folder, ownership of files, umask, --fs, --seed.

Real processes where it matters: a second writer is a real ``ecgbyte`` process that must stop with
one line naming the first (pid, command, start time, host); the first is killed with SIGKILL and the
next writer takes its lock over; ``preprocess`` workers must not outlive a killed parent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgbyte.batch import preprocess_dataset
from ecgbyte.cli import main
from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.errors import ConfigError, EcgbyteError
from ecgbyte.locks import OutputLockedError, holder, lock_path, writer_lock
from ecgbyte.ownership import MANIFEST_NAME, read_manifest
from ecgbyte.signal import PreprocessConfig

SRC = str(Path(__file__).resolve().parents[1] / "src")
CFG = PreprocessConfig(segment_length=500)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ecgbyte.cli", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _records(root: Path, n: int, *, seconds: float = 4.0, fs: int = 500) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * fs)) / fs
    beat = np.exp(-(((t % 0.8) - 0.4) ** 2) / (2 * 0.01**2))
    for i in range(n):
        rng = np.random.default_rng(i)
        sig = beat[:, None] * rng.uniform(-1.5, 1.5, 12) + 0.02 * rng.standard_normal((t.size, 12))
        wfdb.wrsamp(f"rec{i:03d}", fs=fs, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=sig,
                    fmt=["16"] * 12, write_dir=str(root))  # fmt: skip
    return root


def _hold(folder: Path, command: str) -> subprocess.Popen:
    """A real process that holds ``folder``'s writer lock until killed."""
    code = (
        "import sys, time\n"
        "from ecgbyte.locks import writer_lock\n"
        f"with writer_lock({str(folder)!r}, command={command!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], env=_env(), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def _kill9(p: subprocess.Popen) -> None:
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)


# ---------------------------------------------------------------- one writer per folder


def test_second_writer_is_refused_in_one_line_naming_the_holder(tmp_path: Path) -> None:
    src, out = _records(tmp_path / "src", 3), tmp_path / "out"
    first = _hold(out, "preprocess")
    try:
        for args in (
            ("preprocess", str(src), str(out), "--no-progress"),
            ("train", "--out", str(out), "--no-progress"),
            ("train-tokenizer", str(src), str(out), "--no-progress"),
        ):
            res = _cli(*args)
            assert res.returncode == 2, res.stderr
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1, res.stderr
            msg = lines[0]
            assert msg.startswith(f"ecgbyte {args[0]}: error: {out} is being written by pid {first.pid} ")
            assert "(`ecgbyte preprocess`, started 20" in msg and f"on {socket.gethostname()})" in msg
        # the library's long writers hold the same lock (Python callers, the demo)
        with pytest.raises(OutputLockedError, match=f"being written by pid {first.pid} "):
            preprocess_dataset(src, out, CFG, progress=False)
        pytest.importorskip("torch")
        from ecgbyte.elm.config import TrainConfig
        from ecgbyte.elm.train import train

        with pytest.raises(OutputLockedError, match=f"being written by pid {first.pid} "):
            train(TrainConfig(), [], ecg_tokenizer=None, run_dir=out, progress=False)
        assert not any(out.iterdir())  # the refused writers wrote nothing
    finally:
        _kill9(first)


def test_stale_lock_after_kill9_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, out = _records(tmp_path / "src", 3), tmp_path / "out"
    first = _hold(out, "preprocess")
    dead = first.pid
    _kill9(first)
    assert holder(out)["pid"] == dead  # its description stays behind: the lock was never released
    with caplog.at_level("WARNING", logger="ecgbyte.locks"):
        assert main(["preprocess", str(src), str(out), "--segment-seconds", "2", "--no-progress"]) == 0
    assert f"taking over the lock of pid {dead} (`ecgbyte preprocess`" in caplog.text
    assert json.loads((out / "summary.json").read_text())["written"] == 3
    assert holder(out) is None  # a clean release leaves no description


def test_lock_is_reentrant_within_a_process_and_exclusive_across(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with writer_lock(out, command="report"):
        with writer_lock(out, tmp_path / "other", command="evaluate"):  # report -> evaluate
            assert holder(out)["command"] == "report"
            # another process cannot take it, even while this one holds it twice
            code = (
                "from ecgbyte.locks import writer_lock, OutputLockedError\n"
                f"try:\n    with writer_lock({str(out)!r}, command='export'):\n        print('got it')\n"
                "except OutputLockedError as e:\n    print('refused', e)\n"
            )
            res = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True)
            assert res.stdout.startswith(f"refused {out} is being written by pid {os.getpid()}"), res
        assert holder(out)["pid"] == os.getpid()  # the inner exit did not release it
    assert holder(out) is None
    assert lock_path(out) == tmp_path / ".run.ecgbyte.lock"
    assert sorted(p.name for p in out.iterdir()) == []  # the lock lives beside the folder...
    assert not lock_path(out).exists()  # ...and only while it is held


def test_an_output_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("mine")
    with pytest.raises(EcgbyteError, match="is a file, not a folder"):
        with writer_lock(f, command="preprocess"):
            pass
    assert f.read_text() == "mine"


@pytest.mark.slow
def test_workers_die_with_a_killed_preprocess(tmp_path: Path) -> None:
    """kill -9 of `ecgbyte preprocess --workers 2`: no worker survives it, and a rerun resumes."""
    src, out = _records(tmp_path / "src", 300, seconds=10.0), tmp_path / "out"
    args = ["preprocess", str(src), str(out), "--workers", "2", "--shard-size", "4", "--no-progress"]
    p = subprocess.Popen([sys.executable, "-m", "ecgbyte.cli", *args], env=_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(workers := [w for w in _children(p.pid) if _alive(w)]) < 2:
            assert p.poll() is None and time.monotonic() < deadline, "preprocess ended too early"
            time.sleep(0.02)
        assert len(workers) == 2
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "preprocess workers outlived their parent"
    assert (out / "summary.json").exists() is False  # killed before the end
    res = _cli(*args)  # the same command resumes (and takes the stale lock over)
    assert res.returncode == 0, res.stderr
    assert "taking over the lock" in res.stderr
    assert json.loads((out / "summary.json").read_text())["written"] == 300


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (nobody reaped it yet)


# ---------------------------------------------------------------- ownership


def test_a_manifest_being_written_does_not_make_the_folder_foreign(tmp_path: Path) -> None:
    """Under torchrun one process writes the manifest (through a temp file) while the other checks the
    run folder: the temp file is bookkeeping, not a foreign entry (a race seen once in CI)."""
    from ecgbyte.elm.run import claim_run_dir
    from ecgbyte.ownership import check_folder

    run = tmp_path / "ddp"
    run.mkdir()
    (run / f".{MANIFEST_NAME}.aax0rb5a.tmp").write_text("{")  # the other rank, mid-write
    (run / ".ecgbyte.lock").write_text("1234")
    assert check_folder(run, "run") == "new"
    assert claim_run_dir(run) == "new" and read_manifest(run)["kind"] == "run"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / f".{MANIFEST_NAME}.x.tmp").write_text("{")
    (foreign / ".notes.txt.x.tmp").write_text("mine")  # somebody else's temp file stays foreign
    with pytest.raises(ConfigError, match=r"is not empty \(\.notes\.txt\.x\.tmp\)"):
        check_folder(foreign, "run")


def test_overwrite_removes_only_what_ecgbyte_wrote(tmp_path: Path) -> None:
    src, out = _records(tmp_path / "src", 5), tmp_path / "out"
    preprocess_dataset(src, out, CFG, shard_size=2, progress=False)
    m = read_manifest(out)
    assert m["kind"] == "preprocess"
    assert {"config.json", "summary.json", "shards/shard-00000.npy", "shards/shard-00002.json"} <= set(
        m["files"]
    )
    (out / "shards" / "notes.txt").write_text("my notes")
    (out / "README.md").write_text("my readme")
    other = PreprocessConfig(segment_length=500, notch=False)
    with pytest.raises(ConfigError, match="--overwrite"):
        preprocess_dataset(src, out, other, shard_size=2, progress=False)
    s = preprocess_dataset(src, out, other, shard_size=3, progress=False, overwrite=True)
    assert s.written == 5 and s.shards == 2
    assert (out / "shards" / "notes.txt").read_text() == "my notes"
    assert (out / "README.md").read_text() == "my readme"
    assert sorted(p.name for p in (out / "shards").glob("shard-*.npy")) == [
        "shard-00000.npy",
        "shard-00001.npy",
    ]
    assert json.loads((out / "config.json").read_text())["shard_size"] == 3


def test_overwrite_of_an_output_from_before_manifests_spares_foreign_files(tmp_path: Path) -> None:
    src, out = _records(tmp_path / "src", 4), tmp_path / "out"
    preprocess_dataset(src, out, CFG, shard_size=2, progress=False)
    (out / MANIFEST_NAME).unlink()  # as written by ecgbyte before manifests
    (out / "shards" / "mine.npy").write_bytes(b"user data")
    other = PreprocessConfig(segment_length=500, notch=False)
    s = preprocess_dataset(src, out, other, shard_size=2, progress=False, overwrite=True)
    assert s.written == 4
    assert (out / "shards" / "mine.npy").read_bytes() == b"user data"
    assert read_manifest(out)["kind"] == "preprocess"


def test_overwrite_never_clears_a_foreign_folder(tmp_path: Path) -> None:
    src, out = _records(tmp_path / "src", 2), tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / "shards" / "shard-00000.npy").write_bytes(b"not ecgbyte's")
    (out / "config.json").write_text('{"mine": true}')
    rc = main(["preprocess", str(src), str(out), "--overwrite", "--no-progress"])
    assert rc == 2
    assert (out / "shards" / "shard-00000.npy").read_bytes() == b"not ecgbyte's"
    assert (out / "config.json").read_text() == '{"mine": true}'


def test_train_out_refuses_a_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "project"
    out.mkdir()
    (out / "config.json").write_text('{"lr": 0.1, "mine": true}\n')
    (out / "log.jsonl").write_text('{"step": 1, "loss": 3.0}\n')
    rc = main(["train", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "is not empty (config.json, log.jsonl) and was not written by ecgbyte" in err[0]
    assert "choose a new or empty run folder (--out), or move those files away" in err[0]
    assert (out / "config.json").read_text() == '{"lr": 0.1, "mine": true}\n'
    assert (out / "log.jsonl").read_text() == '{"step": 1, "loss": 3.0}\n'
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "log.jsonl"]


def test_train_out_refuses_another_kind_of_ecgbyte_output(tmp_path: Path) -> None:
    src, out = _records(tmp_path / "src", 2), tmp_path / "out"
    preprocess_dataset(src, out, CFG, progress=False)
    from ecgbyte.elm.run import claim_run_dir

    with pytest.raises(ConfigError, match="holds an ecgbyte preprocess output, not a run"):
        claim_run_dir(out)


# ---------------------------------------------------------------- files follow the umask


def test_atomic_files_follow_the_umask(tmp_path: Path) -> None:
    from ecgbyte.fileio import write_json

    old = os.umask(0o027)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        src = _records(tmp_path / "src", 2)
        preprocess_dataset(src, tmp_path / "out", CFG, progress=False)
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    for name in ("config.json", "manifest.jsonl", "summary.json", "shards/shard-00000.npy"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o640, name
    old = os.umask(0o002)
    try:
        write_json(tmp_path / "b.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o664


# ---------------------------------------------------------------- preprocess --fs


def test_preprocess_fs_gives_npy_records_their_rate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "npy"
    src.mkdir()
    t = np.arange(2000) / 500.0
    for i in range(3):
        sig = np.sin(2 * np.pi * 1.2 * t)[None, :] * np.linspace(0.5, 1.5, 12)[:, None]
        np.save(src / f"r{i}.npy", sig.astype(np.float32))
    out = tmp_path / "out"
    assert main(["preprocess", str(src), str(out), "--segment-seconds", "2", "--no-progress"]) == 0
    errors = [json.loads(ln) for ln in (out / "errors.jsonl").read_text().splitlines()]
    assert [e["reason"] for e in errors] == ["missing_fs"] * 3
    assert "--fs HZ" in errors[0]["message"]  # names the flag that exists
    out2 = tmp_path / "out2"
    rc = main(["preprocess", str(src), str(out2), "--segment-seconds", "2", "--fs", "500", "--no-progress"])
    assert rc == 0
    summary = json.loads((out2 / "summary.json").read_text())
    assert summary["written"] == 3 and summary["segments"] == 6  # 4 s at 500 Hz -> 2 segments of 2 s
    assert json.loads((out2 / "config.json").read_text())["source_fs"] == 500.0
    assert main(["preprocess", str(src), str(out2), "--fs", "0", "--no-progress"]) == 2
    assert "argument --fs: must be a finite number in 1..10000 Hz" in capsys.readouterr().err


# ---------------------------------------------------------------- --seed with and without --config


@pytest.mark.parametrize(
    ("config_seed", "flag", "expected"),
    [(None, None, 0), (None, "5", 5), (3, None, 3), (3, "7", 7)],
)
def test_seed_means_the_same_with_and_without_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_seed, flag, expected
) -> None:
    import ecgbyte.elm.pipeline as pipeline
    from ecgbyte.elm.config import TrainConfig

    seen = {}

    def fake_train_elm(cfg, out, *, data, seed, **kw):
        seen.update(cfg_seed=cfg.seed, data_seed=data["seed"], tokenizer_seed=seed)
        return {}

    monkeypatch.setattr(pipeline, "train_elm", fake_train_elm)
    args = ["train", "--out", str(tmp_path / "run"), "--no-progress"]
    if config_seed is not None:
        TrainConfig.preset("baby", seed=config_seed).save(tmp_path / "cfg.json")
        args += ["--config", str(tmp_path / "cfg.json")]
    if flag is not None:
        args += ["--seed", flag]
    assert main(args) == 0
    # one seed for the model init and data order (cfg), the dataset, and the ECG tokenizer
    assert seen == {"cfg_seed": expected, "data_seed": expected, "tokenizer_seed": expected}


def test_lock_refusal_is_an_ecgbyte_error() -> None:
    assert issubclass(OutputLockedError, EcgbyteError)
