"""``ecgbyte serve``: a trained run behind an HTTP API with dynamic batching, and a page to try it.

Endpoints (JSON unless said otherwise):

- ``GET /``: the page (``static/index.html`` + ``app.js`` + ``style.css``; nothing from the
  internet): pick an ECG file, see its leads with token boundaries, ask, read the answer and the
  attention over time.
- ``GET /health``: ``{"status": "ok", ...}`` with the queue and the batch sizes so far.
- ``GET /api/info``: the run, its ECG tokenizer, the accepted files and the limits.
- ``POST /api/record`` (multipart: ``file`` parts, optional ``fs``): the record's leads, tokens
  and preprocessing, without the model (what the page plots).
- ``POST /api/ask`` (multipart: ``file`` parts, one or more ``question`` fields, optional ``fs``
  and ``attention=1``): answers, tokens per lead, preprocessing, timings.

Every error is ``{"error": {"status", "code", "message"}}`` with a 4xx status naming the problem
(413 upload too large, 415 unknown file type, 422 unreadable or wrong-shaped record, 400 empty,
overlong or too many questions, 503 queue full); anything unexpected is a 500 of the same
shape, logged, and the server carries on. The body limit is checked on the bytes as they
arrive, before any parsing. Generation runs in one worker thread fed by
:class:`~ecgbyte.serve.batcher.Batcher`; reading and encoding records run in other threads.

FastAPI (over Starlette) and uvicorn: a small, maintained ASGI stack that gives full control of
limits, error bodies and the batching loop, serves a hand-written offline page, and adds no
browser assets from a CDN (the interactive API docs, which load them, are off).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ecgbyte.elm.run import RunDir
from ecgbyte.errors import ConfigError, EcgbyteError, RequestError, require
from ecgbyte.limits import MAX_FS_HZ, MIN_FS_HZ
from ecgbyte.serve.uploads import ACCEPTED, UploadLimits, read_upload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of one server (``ecgbyte serve`` flags)."""

    max_upload_bytes: int = 16 * 2**20  # request body, in bytes (--max-upload-mb)
    max_questions: int = 8  # questions in one request
    max_question_chars: int = 500  # characters in one question
    batching: bool = True  # False: one prompt at a time (--no-batching)
    max_batch: int = 16  # prompts generated together (--max-batch)
    batch_wait_ms: float = 5.0  # how long a batch waits for more prompts (--batch-wait-ms)
    max_queue: int = 256  # prompts waiting; more get 503 (--max-queue)
    attention: bool = True  # allow attention=1 (one more forward pass per question)
    threads: int | None = None  # torch CPU threads (--threads); None keeps torch's default
    tmp_root: str | None = None  # where upload folders go (default: the system's temp folder)
    uploads: UploadLimits = field(default_factory=UploadLimits)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_questions", "max_question_chars", "max_batch", "max_queue"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"ServeSettings.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"ServeSettings.threads must be >= 1 or None, got {self.threads!r}")
        if not self.batch_wait_ms >= 0:
            raise ConfigError(f"ServeSettings.batch_wait_ms must be >= 0, got {self.batch_wait_ms!r}")


@dataclass
class _Job:
    encodings: list[Any]
    question: str


def _error(exc: RequestError) -> Any:
    from fastapi.responses import JSONResponse

    body = {"error": {"status": exc.status, "code": exc.code, "message": str(exc)}}
    return JSONResponse(body, status_code=exc.status)


class _BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets a 413 before the app parses it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = RequestError(
            f"the upload is over the limit of {self.max_bytes / 2**20:g} MiB; send a smaller record "
            "(the server's --max-upload-mb)",
            status=413,
            code="upload_too_large",
        )
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _drain(receive, cap=8 * self.max_bytes)  # let the client finish sending, then answer
            return await _error(too_big)(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise too_big
            return message

        await self.app(scope, counted, send)


async def _drain(receive: Any, *, cap: int) -> None:
    seen = 0
    while seen <= cap:
        message = await receive()
        seen += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return


def _process(run: RunDir, jobs: list[_Job]) -> list[Any]:
    """Worker thread: build every prompt, then generate them as one batch (bad items fail alone)."""
    from ecgbyte.elm.generate import generate_answers, prompt_example

    results: list[Any] = [None] * len(jobs)
    examples, where = [], []
    for i, job in enumerate(jobs):
        try:
            examples.append(prompt_example(run, job.encodings, job.question, item_id=f"q{i}"))
            where.append(i)
        except EcgbyteError as exc:
            results[i] = RequestError(str(exc), status=422, code="bad_prompt")
    if examples:
        answers = generate_answers(
            run.model,
            run.text_tokenizer,
            examples,
            run.layout,
            batch_size=len(examples),
            max_new_tokens=run.config.max_new_tokens,
            num_beams=run.config.num_beams,
        )
        for i, ex, answer in zip(where, examples, answers):
            results[i] = {"answer": answer, "n_prompt_tokens": ex.prompt_len, "n_cut": ex.n_cut}
    return results


def _attention(run: RunDir, ecg: Any, question: str, answer: str) -> dict[str, Any]:
    """Worker thread, alone: the answer's attention over the ECG tokens (eager attention, then restored)."""
    from ecgbyte.elm.attention import answer_attention
    from ecgbyte.serve.views import attention_view

    model = run.model
    before = getattr(model.config, "_attn_implementation", None)
    try:
        return attention_view(answer_attention(run, ecg, question, answer=answer))
    finally:
        if before and before != "eager" and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(before)


def _questions(form: Any, settings: ServeSettings) -> list[str]:
    raw = form.getlist("question")
    if not raw:
        raise RequestError(
            "no question; send one or more 'question' fields", status=400, code="missing_question"
        )
    if len(raw) > settings.max_questions:
        raise RequestError(
            f"{len(raw)} questions, the limit is {settings.max_questions} per request",
            status=400,
            code="too_many_questions",
        )
    out = []
    for q in raw:
        if not isinstance(q, str):
            raise RequestError("a 'question' field holds a file; send text", status=400, code="bad_question")
        q = q.strip()
        if not q:
            raise RequestError(
                "a question is empty; ask something about the ECG", status=400, code="empty_question"
            )
        if len(q) > settings.max_question_chars:
            raise RequestError(
                f"a question has {len(q)} characters, the limit is {settings.max_question_chars}",
                status=400,
                code="question_too_long",
            )
        out.append(q)
    return out


def _fs(form: Any) -> float | None:
    raw = form.get("fs")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        fs = float(raw)
    except (TypeError, ValueError):
        fs = math.nan
    if not (math.isfinite(fs) and MIN_FS_HZ <= fs <= MAX_FS_HZ):
        raise RequestError(
            f"fs {raw!r} is not a sampling rate in Hz ({MIN_FS_HZ:g}..{MAX_FS_HZ:g})",
            status=400,
            code="bad_fs",
        )
    return fs


def make_app(run: RunDir | str | os.PathLike[str], settings: ServeSettings | None = None) -> Any:
    """The ASGI app (FastAPI) serving ``run`` (loaded now, once); see the module docstring.

    Run it with any ASGI server (:func:`serve` uses uvicorn); the batcher starts and stops with
    the app's lifespan.
    """
    require("fastapi", "serve")
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException

    from ecgbyte.serve.batcher import Batcher
    from ecgbyte.serve.card import WARNING
    from ecgbyte.serve.views import (
        encode_record,
        preprocessing_info,
        record_info,
        record_view,
        tokens_per_lead,
    )

    settings = settings or ServeSettings()
    if settings.threads is not None:
        import torch

        torch.set_num_threads(settings.threads)
    run = RunDir.open(run).load()
    tokenizer = run.ecg_tokenizer
    batcher = Batcher(
        lambda jobs: _process(run, jobs),
        max_batch=settings.max_batch if settings.batching else 1,
        wait_ms=settings.batch_wait_ms if settings.batching else 0.0,
        max_queue=settings.max_queue,
    )
    static = os.path.join(os.path.dirname(__file__), "static")
    can_attend = tokenizer.format == "ecgbyte.tokenizer"

    @asynccontextmanager
    async def lifespan(app: Any):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="ecgbyte", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.run, app.state.batcher, app.state.settings = run, batcher, settings
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        return _error(RequestError(str(exc.detail), status=exc.status_code, code="http"))

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> Any:
        return _error(exc)

    async def upload(request: Request) -> tuple[Any, list[tuple[str, bytes]]]:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise RequestError(
                "send multipart/form-data: the record as 'file' part(s), 'question' field(s)",
                status=415,
                code="not_multipart",
            )
        try:
            form = await request.form(max_files=256, max_fields=256)  # counts are checked below, by name
        except RequestError:
            raise
        except Exception as exc:  # malformed multipart, too many parts
            detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
            raise RequestError(
                f"cannot parse the form ({detail}); send multipart/form-data", code="bad_form"
            ) from None
        try:
            files = [
                (f.filename or "", await f.read()) for f in form.getlist("file") if not isinstance(f, str)
            ]
        finally:
            await form.close()
        return form, files

    async def encoded(form: Any, files: list[tuple[str, bytes]], timings: dict[str, float]) -> Any:
        t = time.perf_counter()
        ecg = await asyncio.to_thread(
            read_upload, files, fs=_fs(form), limits=settings.uploads, tmp_root=settings.tmp_root
        )
        timings["read"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        rec = await asyncio.to_thread(encode_record, tokenizer, ecg)
        timings["encode"] = (time.perf_counter() - t) * 1e3
        return rec

    def guarded(fn: Any) -> Any:
        async def endpoint(request: Request) -> Any:
            try:
                return await fn(request)
            except RequestError as exc:
                return _error(exc)
            except EcgbyteError as exc:
                return _error(RequestError(str(exc), status=422, code="bad_input"))
            except Exception:
                log.exception("ecgbyte serve: unexpected error on %s", request.url.path)
                return _error(RequestError("internal error; see the server log", status=500, code="internal"))

        endpoint.__name__ = fn.__name__
        endpoint.__annotations__ = {"request": Request}  # resolved here: this module imports no FastAPI
        return endpoint

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(os.path.join(static, "index.html"), media_type="text/html")

    @app.get("/health")
    async def health():
        return {
            "status": "ok",
            "run": run.path.name,
            "checkpoint": run.checkpoint_path().name,
            "queued": batcher.queued,
            "batching": {
                "on": settings.batching,
                "max_batch": batcher.max_batch,
                "wait_ms": batcher.wait_s * 1e3,
            },
            "batches": {str(k): v for k, v in sorted(batcher.batch_sizes.items())},
        }

    @app.get("/api/info")
    async def info():
        limits = {k: v for k, v in asdict(settings).items() if k not in ("tmp_root", "uploads", "threads")}
        return {
            "run": run.path.name,
            "checkpoint": run.checkpoint_path().name,
            "ecg_input": run.config.ecg_input,
            "max_new_tokens": run.config.max_new_tokens,
            "preprocessing": preprocessing_info(tokenizer),
            "accepted": list(ACCEPTED),
            "limits": {**limits, **asdict(settings.uploads)},
            "attention": settings.attention and can_attend,
            "warning": WARNING.replace("**", ""),
        }

    async def record_endpoint(request: Request) -> Any:
        timings: dict[str, float] = {}
        form, files = await upload(request)
        rec = await encoded(form, files, timings)
        return {
            "record": record_info(rec.ecg),
            "tokens_per_lead": tokens_per_lead(rec),
            "preprocessing": preprocessing_info(tokenizer),
            "leads": record_view(rec),
            "timings_ms": {k: round(v, 2) for k, v in timings.items()},
        }

    async def ask_endpoint(request: Request) -> Any:
        start = time.perf_counter()
        timings: dict[str, float] = {}
        with batcher.expect():  # a batch forming now waits for this request's prompts
            form, files = await upload(request)
            questions = _questions(form, settings)
            attend = str(form.get("attention", "")).lower() in ("1", "true", "yes", "on")
            if attend and not (settings.attention and can_attend):
                raise RequestError("attention is not available on this server or run", code="no_attention")
            rec = await encoded(form, files, timings)
        done = await batcher.submit([_Job([rec.encoded], q) for q in questions])
        answers = []
        for q, d in zip(questions, done):
            row = {"question": q, **d.result, "batch_size": d.batch_size}
            if attend:
                row["attention"] = (
                    await batcher.call(lambda q=q, a=d.result["answer"]: _attention(run, rec.ecg, q, a))
                ).result
            answers.append(row)
        timings["queue"] = max(d.queue_ms for d in done)
        timings["generate"] = max(d.run_ms for d in done)
        timings["total"] = (time.perf_counter() - start) * 1e3
        return JSONResponse(
            {
                "answers": answers,
                "record": record_info(rec.ecg),
                "tokens_per_lead": tokens_per_lead(rec),
                "preprocessing": preprocessing_info(tokenizer),
                "run": {"name": run.path.name, "checkpoint": run.checkpoint_path().name},
                "timings_ms": {k: round(v, 2) for k, v in timings.items()},
            }
        )

    app.add_api_route("/api/record", guarded(record_endpoint), methods=["POST"])
    app.add_api_route("/api/ask", guarded(ask_endpoint), methods=["POST"])
    app.add_middleware(_BodyLimit, max_bytes=settings.max_upload_bytes)
    return app


def serve_run(
    run: RunDir | str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServeSettings | None = None,
    checkpoint: str | None = None,
    log_level: str = "info",
) -> None:
    """What ``ecgbyte serve`` does: load ``run`` (at ``checkpoint``) and serve :func:`make_app` with
    uvicorn on ``host:port`` until stopped (Ctrl-C)."""
    require("uvicorn", "serve")
    import uvicorn

    app = make_app(RunDir.open(run, checkpoint=checkpoint), settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


__all__ = ["ServeSettings", "make_app", "serve_run"]
