"""A load test of ``ecgbyte serve`` over loopback HTTP: many concurrent clients, good and bad uploads mixed.

Bounded: 72 requests, at most 12 in flight, within a time limit. Every request must get the status
its upload calls for (good ones the answer ``ecgbyte ask`` gives), none may be lost, the server
stays healthy, batches form, and no upload leaves a file behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("wfdb")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from ecgbyte.elm.generate import ask  # noqa: E402
from ecgbyte.elm.run import RunDir  # noqa: E402
from ecgbyte.io import read_record  # noqa: E402
from ecgbyte.serve.app import ServeSettings, make_app  # noqa: E402
from serving import multipart, npy_bytes, running_server, wfdb_files, write_wfdb  # noqa: E402

N_REQUESTS = 72
CONCURRENCY = 12
TIME_LIMIT_S = 120.0


def test_concurrent_mixed_load(tmp_path: Path, serve_run_dir: Path) -> None:
    run = RunDir(serve_run_dir).load()
    records = [write_wfdb(tmp_path / "rec", f"r{i}", seed=i) for i in range(3)]
    questions = ["What is the rhythm of this ECG?", "Is the heart rate slow, normal or fast?"]
    expected = {(r.stem, q): ask(run, r, q)["answer"] for r in records for q in questions}
    signal = read_record(records[0], leads=None).signal
    kinds = [
        ("wfdb", 200),
        ("npy", 200),
        ("two questions", 200),
        ("unknown type", 415),
        ("empty question", 400),
        ("too large", 413),
        ("header only", 422),
        ("wfdb", 200),
        ("transposed", 422),
    ]

    def request(i: int) -> tuple[list, dict, int, list[str] | None]:
        kind, status = kinds[i % len(kinds)]
        rec = records[i % len(records)]
        q = questions[i % 2]
        if kind == "wfdb":
            return multipart(wfdb_files(rec)), {"question": q}, status, [expected[rec.stem, q]]
        if kind == "npy":
            files = [(f"{rec.stem}.npy", npy_bytes(read_record(rec, leads=None).signal))]
            return multipart(files), {"question": q, "fs": "500"}, status, [expected[rec.stem, q]]
        if kind == "two questions":
            return (
                multipart(wfdb_files(rec)),
                {"question": questions},
                status,
                [expected[rec.stem, x] for x in questions],
            )
        files = {
            "unknown type": [("r.csv", b"1,2,3")],
            "empty question": wfdb_files(rec),
            "too large": [("big.npy", b"\0" * 500_000)],
            "header only": wfdb_files(rec)[:1],
            "transposed": [("t.npy", npy_bytes(signal.T))],
        }[kind]
        data = {"question": "  " if kind == "empty question" else q, "fs": "500"}
        return multipart(files), data, status, None

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    settings = ServeSettings(max_upload_bytes=400_000, max_batch=8, batch_wait_ms=20, tmp_root=str(uploads))

    async def load(url: str) -> list[tuple[int, int, object]]:
        gate = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            async def one(i: int) -> tuple[int, int, object]:
                files, data, _, _ = request(i)
                async with gate:
                    r = await client.post("/api/ask", files=files, data=data)
                body = r.json()
                return (
                    i,
                    r.status_code,
                    [a["answer"] for a in body["answers"]] if r.status_code == 200 else body,
                )

            return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(N_REQUESTS))), TIME_LIMIT_S)

    with running_server(make_app(run, settings)) as url:
        results = asyncio.run(load(url))
        health = httpx.get(url + "/health").json()

    assert sorted(i for i, _, _ in results) == list(range(N_REQUESTS))  # none lost
    for i, status, body in results:
        _, _, want_status, want_answers = request(i)
        assert status == want_status, (i, body)
        if want_answers is not None:
            assert body == want_answers, i
        else:
            assert body["error"]["status"] == status and body["error"]["message"]
    assert health["status"] == "ok" and health["queued"] == 0
    sizes = {int(k): v for k, v in health["batches"].items()}
    n_prompts = sum(len(request(i)[3] or []) for i in range(N_REQUESTS))
    assert sum(k * v for k, v in sizes.items()) == n_prompts  # every good prompt generated exactly once
    assert max(sizes) > 1  # concurrent requests were batched
    assert list(uploads.iterdir()) == []
