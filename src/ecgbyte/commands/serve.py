"""Serve a trained run over HTTP: a JSON API with dynamic batching and a page to try it.

Example::

    ecgbyte serve runs/tiny                  # http://127.0.0.1:8000/ (the page), /health, /api/ask
    curl -F file=@00002_hr.hea -F file=@00002_hr.dat -F "question=What is the rhythm?" \\
        http://127.0.0.1:8000/api/ask

POST /api/ask takes one ECG (WFDB .hea + .dat/.mat, .npy with an `fs` field, .npz, or a .zip of a
WFDB record) and one or more `question` fields, and answers with the answers, tokens per lead,
the preprocessing used and timings. Requests that arrive within --batch-wait-ms are generated
as one batch of up to --max-batch prompts (--no-batching: one at a time). Bad requests get a
4xx JSON error naming the problem; uploads go to a temporary folder that is always removed.
The server listens on loopback by default: it has no authentication, so do not expose it.
Python: ``ecgbyte.serve_run`` (``ecgbyte.make_app``: the ASGI app alone).
"""

from __future__ import annotations

import argparse

from ecgbyte import cli_args, limits

NAME = "serve"
HELP = "serve a trained run over HTTP (JSON API with dynamic batching, and a web page)"
ORDER = 68


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory (from `ecgbyte train --out`)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s, loopback only)"
    )
    p.add_argument(
        "--port", type=cli_args.int_range(0, 65535), default=8000, help="port (default: %(default)s)"
    )
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint name under RUN_DIR/checkpoints (default: latest)"
    )
    p.add_argument(
        "--max-batch",
        type=cli_args.positive_int(1024),
        default=16,
        help="most prompts generated together (default: %(default)s)",
    )
    p.add_argument(
        "--batch-wait-ms",
        type=cli_args.float_range(0, 60_000, unit="ms"),
        default=5.0,
        help="how long a batch waits for more prompts, in ms (default: %(default)s)",
    )
    p.add_argument("--no-batching", action="store_true", help="generate one prompt at a time")
    p.add_argument(
        "--max-queue",
        type=cli_args.positive_int(1_000_000),
        default=256,
        help="prompts waiting before 503 (default: %(default)s)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=cli_args.float_range(0, 4096, lo_open=True, unit="MiB"),
        default=16.0,
        help="request body limit in MiB (default: %(default)s)",
    )
    p.add_argument(
        "--max-questions",
        type=cli_args.positive_int(1000),
        default=8,
        help="questions per request (default: %(default)s)",
    )
    p.add_argument(
        "--max-question-chars",
        type=cli_args.positive_int(limits.MAX_QUESTION_CHARS),
        default=500,
        help="characters per question (default: %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=cli_args.workers,
        default=None,
        help="torch CPU threads (default: torch's; 1 is fastest for tiny models on a busy CPU)",
    )
    p.add_argument(
        "--no-attention", action="store_true", help="refuse attention=1 requests (they cost a forward pass)"
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from ecgbyte.serve.app import ServeSettings, serve_run

    settings = ServeSettings(
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_questions=args.max_questions,
        max_question_chars=args.max_question_chars,
        batching=not args.no_batching,
        max_batch=args.max_batch,
        batch_wait_ms=args.batch_wait_ms,
        max_queue=args.max_queue,
        attention=not args.no_attention,
        threads=args.threads,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {args.host}: the server has no authentication; anyone who reaches it can use it"
        )
    print(f"ecgbyte serve: {args.run_dir} on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    serve_run(
        args.run_dir,
        host=args.host,
        port=args.port,
        settings=settings,
        checkpoint=args.checkpoint,
        log_level=args.log_level,
    )
    return 0
