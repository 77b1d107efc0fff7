"""``ecgbyte serve``'s API in-process: answers equal ``ecgbyte ask``'s, every file kind reads the same
record, and every bad request gets its 4xx with a named code and leaves no file behind."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("wfdb")
pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from ecgbyte.elm.generate import ask  # noqa: E402
from ecgbyte.elm.run import RunDir  # noqa: E402
from ecgbyte.io import read_record  # noqa: E402
from ecgbyte.serve.app import ServeSettings, make_app  # noqa: E402
from ecgbyte.serve.uploads import UploadLimits  # noqa: E402
from serving import multipart, npy_bytes, npz_bytes, wfdb_files, write_wfdb, zip_bytes  # noqa: E402

QUESTIONS = ["What is the rhythm of this ECG?", "Is the heart rate slow, normal or fast?"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, serve_run_dir: Path):
    root = tmp_path_factory.mktemp("serve")
    run = RunDir(serve_run_dir).load()
    hea = write_wfdb(root / "rec")
    uploads = root / "uploads"
    uploads.mkdir()
    settings = ServeSettings(
        max_upload_bytes=400_000,
        max_questions=3,
        max_question_chars=80,
        max_queue=4,
        tmp_root=str(uploads),
        uploads=UploadLimits(max_zip_members=4, max_record_seconds=60.0),
    )
    with TestClient(make_app(run, settings)) as client:
        yield {"run": run, "hea": hea, "client": client, "uploads": uploads}


def test_answers_equal_ask_and_describe_the_record(setup) -> None:
    run, hea, client = setup["run"], setup["hea"], setup["client"]
    r = client.post("/api/ask", files=multipart(wfdb_files(hea)), data={"question": QUESTIONS})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = [ask(run, hea, q) for q in QUESTIONS]
    assert [a["answer"] for a in body["answers"]] == [e["answer"] for e in expected]
    assert [a["n_prompt_tokens"] for a in body["answers"]] == [e["n_prompt_tokens"] for e in expected]
    assert [a["question"] for a in body["answers"]] == QUESTIONS
    assert {a["batch_size"] for a in body["answers"]} == {2}  # one request's questions go in one batch
    enc = run.ecg_tokenizer.encode(read_record(hea, leads=None))
    assert body["tokens_per_lead"] == {"II": len(enc)}
    assert body["record"] == {
        "name": "r1",
        "fs": 500.0,
        "n_samples": 5000,
        "duration_s": 10.0,
        "leads": ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
    }
    pre = body["preprocessing"]
    assert (pre["tokenizer"], pre["leads"], pre["fs"]) == ("ecgbyte.tokenizer", ["II"], 50.0)
    assert pre["config"] == run.ecg_tokenizer.preprocess.to_dict()
    assert set(body["timings_ms"]) == {"read", "encode", "queue", "generate", "total"}
    assert body["run"] == {"name": run.path.name, "checkpoint": "step-0000003"}


def test_every_file_kind_gives_the_same_answer(setup) -> None:
    hea, client = setup["hea"], setup["client"]
    ecg = read_record(hea, leads=None)
    kinds = {
        "wfdb": (wfdb_files(hea), {}),
        "npy": ([("r1.npy", npy_bytes(ecg.signal))], {"fs": "500"}),
        "npz": ([("r1.npz", npz_bytes(signal=ecg.signal, fs=500.0, leads=np.array(ecg.leads)))], {}),
        "zip": ([("r1.zip", zip_bytes([(f"r1/{n}", b) for n, b in wfdb_files(hea)]))], {}),
    }
    answers = {}
    for kind, (files, extra) in kinds.items():
        r = client.post("/api/ask", files=multipart(files), data={"question": QUESTIONS[0], **extra})
        assert r.status_code == 200, (kind, r.text)
        answers[kind] = (r.json()["answers"][0]["answer"], r.json()["tokens_per_lead"])
    assert len(set(map(str, answers.values()))) == 1, answers


def test_record_view_plots_every_lead_with_token_spans(setup) -> None:
    run, hea, client = setup["run"], setup["hea"], setup["client"]
    r = client.post("/api/record", files=multipart(wfdb_files(hea)))
    assert r.status_code == 200, r.text
    leads = r.json()["leads"]
    assert [x["name"] for x in leads] == r.json()["record"]["leads"]
    assert [x["name"] for x in leads if x["tokenized"]] == ["II"]
    assert all(len(x["raw"]) == 1000 and x["raw_fs"] == 100.0 for x in leads)  # 5000 samples shown 1 in 5
    ii = next(x for x in leads if x["tokenized"])
    enc = run.ecg_tokenizer.encode(read_record(hea, leads=None))
    assert ii["token_ids"] == enc.ids.tolist()
    assert ii["start_s"] == [round(float(v), 4) for v in enc.start_s]
    assert ii["end_s"] == [round(float(v), 4) for v in enc.end_s]
    assert ii["fs"] == 50.0 and len(ii["signal"]) == 500
    assert ii["start_s"][0] == 0.0 and ii["end_s"][-1] == 10.0


def test_attention_covers_the_tokens_in_the_prompt(setup) -> None:
    run, hea, client = setup["run"], setup["hea"], setup["client"]
    r = client.post(
        "/api/ask", files=multipart(wfdb_files(hea)), data={"question": QUESTIONS[0], "attention": "1"}
    )
    assert r.status_code == 200, r.text
    a = r.json()["answers"][0]
    assert a["answer"] == ask(run, hea, QUESTIONS[0])["answer"]
    weights = a["attention"]["leads"]["II"]
    assert len(weights) == r.json()["tokens_per_lead"]["II"] and all(w is not None and w > 0 for w in weights)
    assert 0 < a["attention"]["ecg_share"] <= 1
    assert run.model.config._attn_implementation != "eager"  # restored after the attention pass


def test_health_info_page_and_static_files(setup) -> None:
    client = setup["client"]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["run"] == setup["run"].path.name and health["queued"] == 0
    info = client.get("/api/info").json()
    assert info["limits"]["max_questions"] == 3 and info["accepted"] == [
        ".hea",
        ".dat",
        ".mat",
        ".xyz",
        ".npy",
        ".npz",
        ".zip",
    ]
    assert "not for clinical use" in info["warning"].lower()
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("static/app.js", "static/style.css"):
        assert asset in page.text
        assert client.get("/" + asset).status_code == 200
    # offline: no script, style or font from anywhere else
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert client.get("/docs").status_code == 404  # the interactive docs would load a CDN


def _header_naming(target: str) -> bytes:
    return f"r1 1 500 5000\n{target} 16 1000/mV 16 0 0 0 0 I\n".encode()


def _error_cases(hea: Path) -> list[tuple[str, list[tuple[str, bytes]], dict, int, str]]:
    ecg = read_record(hea, leads=None)
    wfdb = wfdb_files(hea)
    many = [(f"f{i}.dat", b"x") for i in range(5)]
    return [
        ("no file", [], {"question": "Rate?"}, 400, "missing_file"),
        ("unknown type", [("r1.txt", b"hello")], {"question": "Rate?"}, 415, "unsupported_type"),
        ("bad file name", [("my record.hea", wfdb[0][1])], {"question": "Rate?"}, 400, "bad_filename"),
        (
            "over the size limit",
            [("big.npy", b"0" * 500_000)],
            {"question": "Rate?"},
            413,
            "upload_too_large",
        ),
        ("header without its .dat", wfdb[:1], {"question": "Rate?"}, 422, "missing_file"),
        (
            "header naming another path",
            [("r1.hea", _header_naming("../../etc/passwd"))],
            {"question": "R?"},
            422,
            "missing_file",
        ),
        ("two headers", [*wfdb, ("r2.hea", wfdb[0][1])], {"question": "Rate?"}, 400, "too_many_files"),
        (
            "truncated .dat",
            [wfdb[0], ("r1.dat", wfdb[1][1][:1000])],
            {"question": "Rate?"},
            422,
            "unreadable_record",
        ),
        (
            ".npy without fs",
            [("a.npy", npy_bytes(ecg.signal))],
            {"question": "Rate?"},
            422,
            "unreadable_record",
        ),
        (
            ".npy transposed",
            [("a.npy", npy_bytes(ecg.signal.T))],
            {"question": "Rate?", "fs": "500"},
            422,
            "unreadable_record",
        ),
        (
            ".npy of one dimension",
            [("a.npy", npy_bytes(ecg.signal[0]))],
            {"question": "Rate?", "fs": "500"},
            422,
            "unreadable_record",
        ),
        (
            "not a .npy",
            [("a.npy", b"\x93NUMPY garbage")],
            {"question": "Rate?", "fs": "500"},
            422,
            "unreadable_record",
        ),
        ("not a zip", [("a.zip", b"PK garbage")], {"question": "Rate?"}, 422, "unreadable_record"),
        ("zip of too many files", [("a.zip", zip_bytes(many))], {"question": "Rate?"}, 413, "too_many_files"),
        (
            "too many files",
            [(f"f{i}.dat", b"x") for i in range(9)],
            {"question": "Rate?"},
            413,
            "too_many_files",
        ),
        (
            "no lead the model reads",
            [("a.npz", npz_bytes(signal=ecg.signal[:1], fs=500.0, leads=np.array(["I"])))],
            {"question": "Rate?"},
            422,
            "missing_lead",
        ),
        (
            "record too long",
            [("a.npz", npz_bytes(signal=np.zeros((12, 6100), np.float32), fs=100.0))],
            {"question": "Rate?"},
            413,
            "record_too_long",
        ),
        ("no question", wfdb, {}, 400, "missing_question"),
        ("empty question", wfdb, {"question": "   "}, 400, "empty_question"),
        ("overlong question", wfdb, {"question": "x" * 81}, 400, "question_too_long"),
        ("too many questions", wfdb, {"question": ["a?", "b?", "c?", "d?"]}, 400, "too_many_questions"),
        ("bad fs", wfdb, {"question": "Rate?", "fs": "fast"}, 400, "bad_fs"),
    ]


def test_bad_requests_get_named_4xx_and_leave_no_files(setup) -> None:
    client, uploads = setup["client"], setup["uploads"]
    cases = _error_cases(setup["hea"])
    got = []
    for name, files, data, _, _ in cases:
        parts = multipart(files) or [("note", ("note.txt", b"a part that is no 'file'"))]
        r = client.post("/api/ask", files=parts, data=data)
        err = r.json()["error"]
        assert err["status"] == r.status_code and err["message"] and "\n" not in err["message"]
        assert str(uploads) not in err["message"]  # the temporary folder never shows
        got.append((name, r.status_code, err["code"]))
    assert got == [(name, status, code) for name, _, _, status, code in cases]
    assert list(uploads.iterdir()) == []
    assert client.get("/health").json()["status"] == "ok"


def test_streamed_body_over_the_limit_and_non_form_bodies(setup) -> None:
    client = setup["client"]

    def chunks():  # no Content-Length: the limit is counted on the bytes as they arrive
        for _ in range(50):
            yield b"x" * 10_000

    r = client.post("/api/ask", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "upload_too_large")
    r = client.post("/api/ask", json={"question": "Rate?"})
    assert (r.status_code, r.json()["error"]["code"]) == (415, "not_multipart")
    r = client.post(
        "/api/ask", content=b"--b\r\nbroken", headers={"content-type": "multipart/form-data; boundary=b"}
    )
    # the parser reads a broken multipart body as an empty form: the first thing missing is named
    assert (r.status_code, r.json()["error"]["code"]) == (400, "missing_question")
    r = client.get("/api/ask")
    assert (r.status_code, r.json()["error"]["code"]) == (405, "http")


def test_a_full_queue_answers_503(setup) -> None:
    client = setup["client"]
    # max_queue 4, max_questions 3: two requests' worth would fit, but the queue admits all or none
    settings = ServeSettings(max_queue=2, max_questions=3)
    with TestClient(make_app(setup["run"], settings)) as small:
        r = small.post(
            "/api/ask", files=multipart(wfdb_files(setup["hea"])), data={"question": ["a?", "b?", "c?"]}
        )
    assert (r.status_code, r.json()["error"]["code"]) == (503, "queue_full")
    assert client.get("/health").json()["queued"] == 0


def test_zip_members_are_unpacked_by_base_name_only(tmp_path: Path, setup) -> None:
    from ecgbyte.errors import RequestError
    from ecgbyte.serve.uploads import read_upload

    hea = setup["hea"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, b in wfdb_files(hea):
            zf.writestr(f"../../escape/{n}", b)
        zf.writestr("README.txt", "not part of the record")
        zf.writestr("__MACOSX/._r1.hea", "junk")
    ecg = read_upload([("r.zip", buf.getvalue())], tmp_root=tmp_path)
    assert ecg.name == "r1" and ecg.n_samples == 5000
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "escape").exists()
    bomb = zip_bytes([("r1.hea", wfdb_files(hea)[0][1]), ("r1.dat", b"\0" * 3_000_000)])
    with pytest.raises(RequestError, match="unpacks to more than 2 MiB") as info:
        read_upload([("b.zip", bomb)], limits=UploadLimits(max_unzipped_bytes=2 * 2**20), tmp_root=tmp_path)
    assert info.value.status == 413 and list(tmp_path.iterdir()) == []
