"""Issue 12, adversarially: `ecgbyte train` is resumable by default and trusts no damaged checkpoint.

- kill -9 of a real ``ecgbyte train`` (the tiny model of tests/tiny.py) at random steps, twice,
  then ``--resume``: the final weights equal an uninterrupted run's, tensor for tensor;
- a damaged newest checkpoint (any of its files, or ``latest.json``) is detected by its sizes and
  SHA-256 and the previous one is used, with a warning; nothing intact is one line, no traceback;
- checkpoints come every ``save_every`` steps or ``save_minutes`` minutes (10 by default);
- run folders from before manifests and checksums still resume and load.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgbyte.cli import main  # noqa: E402
from ecgbyte.elm.config import TrainConfig  # noqa: E402
from ecgbyte.elm.run import load_run  # noqa: E402
from ecgbyte.elm.train import train  # noqa: E402
from ecgbyte.errors import ConfigError, EcgbyteError, ModelError  # noqa: E402
from ecgbyte.ownership import MANIFEST_NAME, read_manifest  # noqa: E402
from test_elm_train import FakeEcgTokenizer, _items  # noqa: E402
from tiny import tiny_config, toy_ecgs  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
STEPS = 6


def _cfg(**kw) -> TrainConfig:
    return tiny_config(**{"max_steps": STEPS, "save_every": 1, "save_minutes": 0.0, **kw})


def _train(run_dir: Path, **kw):
    return train(_cfg(), _items(8), ecg_tokenizer=FakeEcgTokenizer(), run_dir=run_dir, progress=False, **kw)


def _tensors(run_dir: Path, ckpt: str | None = None) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    name = ckpt or json.loads((run_dir / "latest.json").read_text())["checkpoint"]
    return load_file(str(run_dir / "checkpoints" / name / "weights" / "model.safetensors"))


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """The weights of an uninterrupted 6-step run."""
    run = tmp_path_factory.mktemp("ref") / "run"
    _train(run)
    return _tensors(run)


# ---------------------------------------------------------------- damaged checkpoints


def _flip_middle_byte(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


DAMAGE = {
    "weights flipped byte": lambda c, r: _flip_middle_byte(c / "weights" / "model.safetensors"),
    "weights truncated": lambda c, r: (c / "weights" / "model.safetensors").write_bytes(b"\0" * 10),
    "optimizer truncated": lambda c, r: (c / "optimizer.pt").write_bytes(
        (c / "optimizer.pt").read_bytes()[:99]
    ),
    "rng truncated": lambda c, r: (c / "rng.pt").write_bytes((c / "rng.pt").read_bytes()[:50]),
    "state.json garbage": lambda c, r: (c / "state.json").write_text("{not json"),
    "weights missing": lambda c, r: (c / "weights" / "model.safetensors").unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, reference, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=4)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000003", "step-0000004"]
    DAMAGE[damage](run / "checkpoints" / "step-0000004", run)
    with caplog.at_level("WARNING", logger="ecgbyte.elm.checkpoint"):
        summary = _train(run, resume=True)
    assert "step-0000004: damaged checkpoint" in caplog.text
    assert "falling back to the previous checkpoint step-0000003" in caplog.text
    assert summary["steps"] == STEPS
    _assert_same(_tensors(run), reference)  # resumed from step 3: still the uninterrupted weights
    log_steps = [json.loads(ln)["step"] for ln in (run / "log.jsonl").read_text().splitlines()]
    assert log_steps == list(range(1, STEPS + 1))


@pytest.mark.parametrize("how", ["garbage", "missing", "points outside"])
def test_unreadable_latest_json_falls_back_to_the_newest_intact_checkpoint(
    tmp_path: Path, reference, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=4)
    latest = run / "latest.json"
    if how == "garbage":
        latest.write_text("{not json")
    elif how == "missing":
        latest.unlink()
    else:
        latest.write_text(json.dumps({"checkpoint": "../../elsewhere", "step": 9}))
    with caplog.at_level("WARNING", logger="ecgbyte.elm.checkpoint"):
        _train(run, resume=True)
    assert "latest.json: unreadable" in caplog.text and "falling back" in caplog.text
    _assert_same(_tensors(run), reference)


def test_nothing_intact_is_one_line_not_a_traceback(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=4)
    for c in ("step-0000003", "step-0000004"):
        (run / "checkpoints" / c / "optimizer.pt").write_bytes(b"")
    with pytest.raises(
        ModelError, match=r"step-0000004: damaged checkpoint \(optimizer\.pt has 0 bytes"
    ) as e:
        _train(run, resume=True)
    assert "no intact earlier checkpoint to fall back on" in str(e.value) and "\n" not in str(e.value)
    (run / "latest.json").write_text("[]")
    with pytest.raises(ModelError, match=r"latest\.json: unreadable .*no intact earlier checkpoint"):
        _train(run, resume=True)


@pytest.mark.parametrize("name", ["layout.json", "config.json"])
def test_damaged_run_files_are_one_line_errors_on_resume(tmp_path: Path, name: str) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=2)
    (run / name).write_text('{"truncated": ')
    with pytest.raises(EcgbyteError) as e:
        _train(run, resume=True)
    assert name in str(e.value) and "\n" not in str(e.value)


def test_loading_a_run_falls_back_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=4)
    _flip_middle_byte(run / "checkpoints" / "step-0000004" / "weights" / "model.safetensors")
    with caplog.at_level("WARNING", logger="ecgbyte.elm.checkpoint"):
        loaded = load_run(run, ecg_tokenizer=FakeEcgTokenizer(), device="cpu")
    assert loaded.checkpoint_path().name == "step-0000003" and "falling back" in caplog.text
    with pytest.raises(ModelError, match=r"step-0000004: damaged checkpoint .*choose another --checkpoint"):
        load_run(run, ecg_tokenizer=FakeEcgTokenizer(), checkpoint="step-0000004", device="cpu")


def test_loading_for_inference_checks_the_weights_only(tmp_path: Path, caplog) -> None:
    """A damaged optimizer state does not matter to `ask`/`evaluate`: the newest weights are used
    (and the optimizer state, the largest file, is not hashed for them)."""
    run = tmp_path / "run"
    _train(run, stop_after=4)
    (run / "checkpoints" / "step-0000004" / "optimizer.pt").write_bytes(b"")
    with caplog.at_level("WARNING", logger="ecgbyte.elm.checkpoint"):
        loaded = load_run(run, ecg_tokenizer=FakeEcgTokenizer(), device="cpu")
    assert loaded.checkpoint_path().name == "step-0000004" and "falling back" not in caplog.text


def test_latest_json_records_sizes_and_checksums(tmp_path: Path) -> None:
    import hashlib

    run = tmp_path / "run"
    _train(run, stop_after=2)
    latest = json.loads((run / "latest.json").read_text())
    ckpt = run / "checkpoints" / latest["checkpoint"]
    assert latest["step"] == 2 and set(latest["files"]) >= {
        "weights/model.safetensors", "optimizer.pt", "rng.pt", "state.json"
    }  # fmt: skip
    for rel, want in latest["files"].items():
        data = (ckpt / rel).read_bytes()
        assert want == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert json.loads((ckpt / "checksums.json").read_text())["files"] == latest["files"]


# ---------------------------------------------------------------- checkpoint cadence


def test_checkpoints_every_save_minutes_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ecgbyte.elm.train as T

    assert TrainConfig().save_minutes == 10.0 and TrainConfig().save_every == 0
    clock = {"t": 0.0}

    def monotonic() -> float:  # every reading is 4 minutes after the previous one
        clock["t"] += 240.0
        return clock["t"]

    monkeypatch.setattr(T, "time", SimpleNamespace(perf_counter=time.perf_counter, monotonic=monotonic))
    run = tmp_path / "run"
    cfg = tiny_config(max_steps=STEPS)  # the defaults: save_every 0, save_minutes 10
    train(cfg, _items(8), ecg_tokenizer=FakeEcgTokenizer(), run_dir=run, progress=False, stop_after=5)
    # start t=4; after step 1: 8, 2: 12 (8 min), 3: 16 (12 min: save, then t=20), 4: 24, 5: 28 (end)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000003", "step-0000005"]


def test_resume_may_change_the_checkpoint_cadence(tmp_path: Path, reference) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=2)
    train(_cfg(save_every=0, save_minutes=3.0), _items(8), ecg_tokenizer=FakeEcgTokenizer(), run_dir=run,
          progress=False, resume=True)  # fmt: skip
    _assert_same(_tensors(run), reference)
    with pytest.raises(ConfigError, match="differs"):  # anything else must match
        train(_cfg(lr=1e-2), _items(8), ecg_tokenizer=FakeEcgTokenizer(), run_dir=run, progress=False,
              resume=True)  # fmt: skip


# ---------------------------------------------------------------- runs from before manifests/checksums


def test_a_run_from_before_manifests_and_checksums_resumes_and_loads(tmp_path: Path, reference) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=3)
    (run / MANIFEST_NAME).unlink()
    for c in (run / "checkpoints").iterdir():
        (c / "checksums.json").unlink()
    latest = json.loads((run / "latest.json").read_text())
    (run / "latest.json").write_text(json.dumps({"checkpoint": latest["checkpoint"], "step": latest["step"]}))
    assert (
        load_run(run, ecg_tokenizer=FakeEcgTokenizer(), device="cpu").checkpoint_path().name == "step-0000003"
    )
    _train(run, resume=True)
    _assert_same(_tensors(run), reference)
    assert read_manifest(run)["kind"] == "run"  # adopted


@pytest.mark.parametrize("name", ["weights/model.safetensors", "optimizer.pt", "rng.pt"])
def test_a_damaged_checkpoint_without_checksums_is_one_line(tmp_path: Path, name: str) -> None:
    """Old checkpoints cannot be verified: their loading errors are still one-line ModelErrors."""
    run = tmp_path / "run"
    _train(run, stop_after=1)
    ckpt = run / "checkpoints" / "step-0000001"
    (ckpt / "checksums.json").unlink()
    (run / "latest.json").write_text(json.dumps({"checkpoint": "step-0000001", "step": 1}))
    (ckpt / name).write_bytes((ckpt / name).read_bytes()[:64])  # truncated, as by a full disk
    with pytest.raises(ModelError, match="step-0000001: damaged checkpoint") as e:
        _train(run, resume=True)
    assert "\n" not in str(e.value)
    if name.startswith("weights"):
        with pytest.raises(ModelError, match="step-0000001: damaged checkpoint weights"):
            load_run(run, ecg_tokenizer=FakeEcgTokenizer(), device="cpu")


def test_checkpoints_stay_inside_their_run(tmp_path: Path) -> None:
    """`ask --checkpoint ../other_run/...` (issue 12, item 7; fixed on main): refused."""
    a, b = tmp_path / "a", tmp_path / "b"
    _train(a, stop_after=1)
    _train(b, stop_after=1)
    for name in ("../../b/checkpoints/step-0000001", str(b / "checkpoints" / "step-0000001"), ".."):
        with pytest.raises(ModelError, match="is not a checkpoint name under"):
            load_run(a, ecg_tokenizer=FakeEcgTokenizer(), checkpoint=name, device="cpu")


def test_a_finished_run_is_not_restarted_over(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _train(run, stop_after=1)
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        _train(run)


# ---------------------------------------------------------------- kill -9 of the real command


@pytest.fixture(scope="module")
def cli_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """An ECG-Byte tokenizer folder and the `ecgbyte train` arguments of a 12-step tiny run."""
    from ecgbyte.data.synthetic_qa import preprocess_config_for
    from ecgbyte.tokenizer import ECGByteTokenizer

    root = tmp_path_factory.mktemp("cli")
    tok = ECGByteTokenizer.train(
        toy_ecgs(8, leads=("II", "V1")), n_merges=20, leads=("II", "V1"), seed=0,
        preprocess=preprocess_config_for(50.0),
    )  # fmt: skip
    tok.save_pretrained(root / "tok")
    tiny_config(max_steps=12, keep_leads=("II", "V1")).save(root / "tiny.json")
    args = ["train", "--data", "synthetic", "--n-ecgs", "24", "--fs", "50", "--config", str(root / "tiny.json"),
            "--ecg-tokenizer", str(root / "tok"), "--save-every", "1", "--save-minutes", "0", "--no-progress"]  # fmt: skip
    return root, args


def _kill_at(args: list[str], run: Path, step: int, rng: random.Random) -> int:
    """Start `ecgbyte train`, kill -9 it once its log shows ``step`` (plus a random fraction of a
    step); returns the step of the checkpoint it left."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, "-m", "ecgbyte.cli", *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while _logged(run) < step:
            assert p.poll() is None, "ecgbyte train ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    return json.loads((run / "latest.json").read_text())["step"]


def _logged(run: Path) -> int:
    try:
        lines = (run / "log.jsonl").read_text().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (OSError, ValueError, IndexError):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_kill9_at_random_steps_then_resume_gives_the_uninterrupted_weights(
    tmp_path: Path, cli_setup, seed: int
) -> None:
    root, args = cli_setup
    rng = random.Random(seed)
    ref = root / "ref"
    if not (ref / "latest.json").exists():  # the uninterrupted run, once for both seeds
        assert main([*args, "--out", str(ref)]) == 0
    run = tmp_path / "run"
    k1 = rng.randint(1, 5)
    left = _kill_at([*args, "--out", str(run)], run, k1, rng)
    assert left >= k1 - 1  # at most one interval (one step here) lost
    if left <= 8:  # a loaded machine can run past k1 before the kill lands: then one kill only
        k2 = rng.randint(left + 2, 10)
        left2 = _kill_at([*args, "--out", str(run), "--resume"], run, k2, rng)
        assert left2 >= k2 - 1
    assert main([*args, "--out", str(run), "--resume"]) == 0
    _assert_same(_tensors(run), _tensors(ref))
    assert (run / "checkpoints" / "step-0000012" / "weights" / "model.safetensors").read_bytes() == (
        ref / "checkpoints" / "step-0000012" / "weights" / "model.safetensors"
    ).read_bytes()
    steps = [json.loads(ln)["step"] for ln in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))
    assert np.isfinite([json.loads(ln)["loss"] for ln in (run / "log.jsonl").read_text().splitlines()]).all()
