"""`torchrun --nproc_per_node 2 -m ecgbyte.cli train` runs data-parallel (DDP over gloo on CPUs).

The same command runs on several GPUs; here two CPU processes check that the processes see each
other (the steps per epoch halve), that only the main process writes the run, and that the run
resumes and generates like a single-process one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARGS = ["train", "--data", "synthetic", "--n-ecgs", "24", "--n-merges", "10", "--epochs", "1"]
ARGS += ["--batch-size", "4", "--no-progress"]


def _summaries(stdout: str) -> list[dict]:
    """The JSON summary each process prints at the end."""
    dec, out, i = json.JSONDecoder(), [], 0
    while (i := stdout.find("{", i)) >= 0:
        obj, end = dec.raw_decode(stdout, i)
        out.append(obj)
        i = end
    return out


@pytest.mark.slow
def test_two_process_training_is_data_parallel(tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    out = subprocess.run(
        [*cmd, "-m", "ecgbyte.cli", *ARGS, "--out", str(run)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summaries = _summaries(out.stdout)
    assert len(summaries) == 2  # one per process
    n = summaries[0]["n_examples"]
    # one epoch with a global batch of 2 processes x 4 sequences
    assert all(s["total_steps"] == max(1, n // 8) for s in summaries)
    assert json.loads((run / "latest.json").read_text())["step"] == n // 8
    assert not list((run / "checkpoints").glob("*.tmp"))
    # the two-process run is an ordinary run directory: it generates in one process
    from ecgbyte.cli import main

    assert main(["generate", str(run), "--split", "test", "--out", str(tmp_path / "p.jsonl")]) == 0
    assert (tmp_path / "p.jsonl").read_text().count("\n") > 0
