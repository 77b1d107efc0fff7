"""``ecgbyte serve`` over loopback HTTP: throughput and latency with dynamic batching off and on.

1. **A run.** ``--run RUN`` serves that run; otherwise a demo-like run is trained here (the
   ``baby`` preset: a tiny Llama, leads II and V1 at 50 Hz, ``--merges`` merges, ``--steps``
   steps on synthetic rate/rhythm QA). Throughput depends on the model and the prompt length,
   not on how well it was trained.
2. **The text-tokenizer route.** The exported text tokenizer (``ecgbyte export``: the run's
   tokenizer plus one added token ``<ecg_K>`` per ECG id) encodes a prompt that spells out about
   1,000 ECG tokens; median time over 20 encodes, for the run's ECG vocabulary and for 5,000 and
   10,000 ECG tokens (the paper's 3,500 merges and its successors' 5-10k).
3. **Serving.** For each mode (``--no-batching``; batching with ``--max-batch`` and
   ``--batch-wait-ms``), ``ecgbyte serve`` starts in its own process on 127.0.0.1; after a
   warm-up, ``C`` clients (1, 8, 32) each post requests back to back (one WFDB record, .hea + .dat,
   and one question; a new request as soon as the last one is answered) until ``--requests``
   requests are done or ``--time-limit`` seconds have passed. ``--rounds`` rounds go over every
   level, the two modes interleaved, and are pooled. Client-side latency p50/p95,
   requests/s, and the mean batch size from the server's ``/health``. The server runs torch on
   ``--threads`` threads (1: on a shared 2-core CPU a second thread made tiny-model generation
   3x slower, measured), and the clients share the machine with it.

Prints markdown tables and writes JSON (``--out``). Usage::

    .venv/bin/python benchmarks/serve_bench.py                    # trains a run (~1-2 min), then ~2 min
    .venv/bin/python benchmarks/serve_bench.py --run demo_out/with_signal --requests 96
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
QUESTION = "What is the rhythm of this ECG?"


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run", default=None, help="serve this run (default: train a demo-like one)")
    p.add_argument(
        "--record", default=None, help="WFDB .hea to upload (default: a PTB-XL fixture or a synthetic one)"
    )
    p.add_argument("--clients", default="1,8,32", help="concurrent clients per level (default: %(default)s)")
    p.add_argument(
        "--rounds", type=int, default=3, help="rounds over all levels, pooled (default: %(default)s)"
    )
    p.add_argument(
        "--requests", type=int, default=96, help="requests per level and round (default: %(default)s)"
    )
    p.add_argument(
        "--time-limit", type=float, default=90.0, help="seconds per level at most (default: %(default)s)"
    )
    p.add_argument(
        "--max-batch", type=int, default=16, help="batching mode: --max-batch (default: %(default)s)"
    )
    p.add_argument(
        "--batch-wait-ms", type=float, default=5.0, help="batching mode: wait in ms (default: %(default)s)"
    )
    p.add_argument("--threads", type=int, default=1, help="the server's torch threads (default: %(default)s)")
    p.add_argument(
        "--steps", type=int, default=60, help="steps when training the run here (default: %(default)s)"
    )
    p.add_argument(
        "--merges", type=int, default=1000, help="merges when training the run here (default: %(default)s)"
    )
    p.add_argument("--out", default=str(HERE / "results" / "serve_bench.json"), help="JSON output")
    return p.parse_args()


def _train_run(out: Path, *, steps: int, merges: int) -> Path:
    from ecgbyte.data.synthetic_qa import synthetic_splits
    from ecgbyte.elm.config import TrainConfig
    from ecgbyte.elm.pipeline import fit_ecg_tokenizer
    from ecgbyte.elm.train import train

    leads = ("II", "V1")
    splits = synthetic_splits(300, seed=0, target_fs=50.0, leads=leads)
    cfg = TrainConfig.preset("baby", keep_leads=leads, max_steps=steps, warmup_steps=5)
    tok = fit_ecg_tokenizer(cfg, splits["train"], leads=leads, fs=50.0, seed=0, n_merges=merges)
    train(cfg, splits["train"], ecg_tokenizer=tok, run_dir=out, progress=False)
    return out


def _record(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    shared = Path(os.environ.get("ECGBYTE_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
    ptbxl = shared / "ptb-xl" / "records500" / "00000" / "00002_hr.hea"
    if ptbxl.is_file():
        return ptbxl
    import numpy as np
    import wfdb

    from ecgbyte.signal.synth import synthesize

    ecg = synthesize(1, seed=0, fs=500.0, duration_s=10.0)[0]
    wfdb.wrsamp(
        "synth",
        fs=500,
        units=["mV"] * 12,
        sig_name=list(ecg.leads),
        p_signal=ecg.signal.T.astype(np.float64),
        fmt=["16"] * 12,
        write_dir=str(tmp),
    )
    return tmp / "synth.hea"


def tokenizer_route(run_dir: Path) -> list[dict[str, Any]]:
    """Median time to encode a spelled-out prompt of about 1,000 ECG tokens with the export's tokenizer."""
    import numpy as np

    from ecgbyte.data.sequences import SequenceLayout
    from ecgbyte.elm.model import load_text_tokenizer
    from ecgbyte.elm.run import RunDir
    from ecgbyte.serve.export import add_ecg_tokens

    run = RunDir(run_dir)
    rows = []
    rng = np.random.default_rng(0)
    for n_ecg in sorted({run.layout.ecg_vocab_size, 5000, 10000}):
        tok = load_text_tokenizer(run.text_tokenizer_dir)
        lay = SequenceLayout.from_dict({**run.layout.to_dict(), "ecg_vocab_size": n_ecg})
        t = time.perf_counter()
        add_ecg_tokens(tok, lay)
        add_s = time.perf_counter() - t
        ids = rng.integers(0, n_ecg, 1000)
        text = "<s><ecg_start>" + "".join(f"<ecg_{k}>" for k in ids) + "<ecg_end>" + QUESTION
        times = []
        for _ in range(20):
            t = time.perf_counter()
            enc = tok(text, add_special_tokens=False)["input_ids"]
            times.append(time.perf_counter() - t)
        assert enc[2:1002] == [lay.ecg_offset + int(k) for k in ids]
        rows.append(
            {
                "ecg_vocab": n_ecg,
                "prompt_tokens": len(enc),
                "encode_ms_median": 1e3 * statistics.median(times),
                "encode_ms_max": 1e3 * max(times),
                "add_tokens_s": add_s,
            }
        )
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(run_dir: Path, port: int, extra: list[str]) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "ecgbyte.cli",
        "serve",
        str(run_dir),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ecgbyte serve exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("ecgbyte serve did not come up")


async def _level(
    url: str, files: list[tuple[str, bytes]], clients: int, n_requests: int, limit: float
) -> dict[str, Any]:
    """``clients`` workers post back to back until ``n_requests`` are sent or ``limit`` s have passed."""
    import httpx

    lat: list[float] = []
    failures = 0
    started = 0
    async with httpx.AsyncClient(
        base_url=url, timeout=120, limits=httpx.Limits(max_connections=clients)
    ) as client:
        before = (await client.get("/health")).json()["batches"]
        t0 = time.perf_counter()

        async def worker() -> None:
            nonlocal started, failures
            while started < n_requests and time.perf_counter() - t0 < limit:
                started += 1
                t = time.perf_counter()
                r = await client.post(
                    "/api/ask", files=[("file", f) for f in files], data={"question": QUESTION}
                )
                if r.status_code == 200:
                    lat.append(time.perf_counter() - t)
                else:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
        after = (await client.get("/health")).json()["batches"]
    sizes = {int(k): v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    return {"latencies": lat, "failures": failures, "wall_s": wall, "batches": sizes}


def _summary(clients: int, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the rounds of one (mode, clients) level."""
    lat = sorted(x for p in parts for x in p["latencies"])
    wall = sum(p["wall_s"] for p in parts)
    sizes: dict[int, int] = {}
    for p in parts:
        for k, v in p["batches"].items():
            sizes[k] = sizes.get(k, 0) + v
    n_batches = sum(sizes.values())
    return {
        "clients": clients,
        "requests": len(lat),
        "failures": sum(p["failures"] for p in parts),
        "wall_s": wall,
        "req_per_s": len(lat) / wall,
        "p50_ms": 1e3 * lat[len(lat) // 2] if lat else None,
        "p95_ms": 1e3 * lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
        "mean_batch": sum(k * v for k, v in sizes.items()) / n_batches if n_batches else None,
        "batches": dict(sorted(sizes.items())),
        "rounds_req_per_s": [len(p["latencies"]) / p["wall_s"] for p in parts],
    }


def main() -> int:
    args = _parse()
    with tempfile.TemporaryDirectory(prefix="serve_bench_") as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        run_dir = (
            Path(args.run) if args.run else _train_run(tmp / "run", steps=args.steps, merges=args.merges)
        )
        train_s = None if args.run else time.perf_counter() - t
        record = _record(args.record, tmp)
        files = [(p.name, p.read_bytes()) for p in (record, record.with_suffix(".dat"))]
        tok_rows = tokenizer_route(run_dir)
        modes = {
            "off": ["--no-batching"],
            "on": ["--max-batch", str(args.max_batch), "--batch-wait-ms", str(args.batch_wait_ms)],
        }
        procs, urls = {}, {}
        try:
            for mode, extra in modes.items():  # both servers up; the idle one costs nothing
                port = _free_port()
                urls[mode] = f"http://127.0.0.1:{port}"
                procs[mode] = _start(run_dir, port, [*extra, "--threads", str(args.threads)])
            for mode in modes:
                _wait_healthy(urls[mode], procs[mode])
                asyncio.run(_level(urls[mode], files, 4, 16, args.time_limit))  # warm-up: JIT, caches
            clients = [int(x) for x in args.clients.split(",")]
            parts: dict[tuple[str, int], list[dict[str, Any]]] = {(m, c): [] for m in modes for c in clients}
            for r in range(args.rounds):  # interleaved, so a change in the machine's load hits both modes
                for c in clients:
                    for mode in modes:
                        part = asyncio.run(_level(urls[mode], files, c, args.requests, args.time_limit))
                        parts[mode, c].append(part)
                        print(
                            f"round {r + 1} batching {mode:3s} clients {c:2d}: "
                            f"{len(part['latencies']) / part['wall_s']:.1f} req/s",
                            flush=True,
                        )
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(30)
        results = {m: [_summary(c, parts[m, c]) for c in clients] for m in modes}
    import torch

    lines = [
        "| text tokenizer: ECG tokens in the vocabulary | prompt tokens | encode, median ms | add tokens, s |",
        "|---:|---:|---:|---:|",
        *(
            f"| {r['ecg_vocab']} | {r['prompt_tokens']} | {r['encode_ms_median']:.2f} | {r['add_tokens_s']:.3f} |"
            for r in tok_rows
        ),
        "",
        "| batching | clients | requests | req/s | p50 ms | p95 ms | mean batch | failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, rows in results.items():
        for r in rows:
            lines.append(
                f"| {mode} | {r['clients']} | {r['requests']} | {r['req_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} "
                f"| {r['mean_batch']:.1f} | {r['failures']} |"
            )
    table = "\n".join(lines)
    print("\n" + table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": " ".join(sys.argv),
        "run": args.run
        or f"trained here: baby preset, leads II+V1 at 50 Hz, {args.merges} merges, {args.steps} steps",
        "train_s": train_s,
        "record": str(record),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "settings": {
            "server_threads": args.threads,
            "rounds": args.rounds,
            "max_batch": args.max_batch,
            "batch_wait_ms": args.batch_wait_ms,
            "requests": args.requests,
            "time_limit_s": args.time_limit,
        },
    }
    out.write_text(json.dumps({**meta, "tokenizer_route": tok_rows, "serving": results}, indent=2) + "\n")
    out.with_suffix(".md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
