"""Helpers for the server tests: a tiny run, WFDB/NumPy fixtures, and uvicorn on a loopback port in a thread."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tiny import train_synthetic_run

TRAIN = dict(
    n_ecgs=12,
    seed=0,
    n_merges=20,
    text_vocab_size=120,
    batch_size=4,
    max_steps=3,
    warmup_steps=1,
    max_length=640,
    max_new_tokens=4,
    log_every=1,
)


def tiny_run(path: Path) -> Path:
    """A tiny run (lead II at 50 Hz, 3 steps): seconds to train, answers deterministic."""
    return train_synthetic_run(path, **TRAIN)[0]


def write_wfdb(folder: Path, name: str = "r1", *, seed: int = 5) -> Path:
    """A synthetic 12-lead, 10 s, 500 Hz WFDB record (format 16); returns the ``.hea`` path."""
    import wfdb

    from ecgbyte.signal.synth import synthesize

    ecg = synthesize(1, seed=seed, fs=500.0, duration_s=10.0)[0]
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name,
        fs=500,
        units=["mV"] * ecg.n_leads,
        sig_name=list(ecg.leads),
        p_signal=ecg.signal.T.astype(np.float64),
        fmt=["16"] * ecg.n_leads,
        write_dir=str(folder),
    )
    return folder / f"{name}.hea"


def wfdb_files(hea: Path) -> list[tuple[str, bytes]]:
    """The ``(name, bytes)`` of a record's header and signal file."""
    return [(p.name, p.read_bytes()) for p in (hea, hea.with_suffix(".dat"))]


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npz_bytes(**arrays: Any) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def zip_bytes(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in files:
            zf.writestr(name, blob)
    return buf.getvalue()


def multipart(files: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes]]]:
    """``files=`` for an httpx request: every file under the form name ``file``."""
    return [("file", (n, b)) for n, b in files]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(app: Any, *, timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yields the base URL, stops on exit."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
