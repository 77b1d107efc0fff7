"""Answer one question about one ECG record (or two, for comparison questions) with a trained run.

Example::

    ecgbyte ask runs/tiny ptb-xl/records500/00000/00002_hr "What is the rhythm of this ECG?"
    ecgbyte ask runs/qa first.hea "What changed in the second ECG?" --second-record second.hea

The run directory's ECG tokenizer, text tokenizer, layout, config (truncation policy, context
length, decoding defaults) and latest checkpoint are used exactly as in ``ecgbyte generate``:
the prompt is the training sequence without the answer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NAME = "ask"
HELP = "answer one question about one ECG record with a trained run"
ORDER = 62


def ask(
    run_dir: str | Path,
    records: str | Path | Sequence[str | Path],
    question: str,
    *,
    checkpoint: str | None = None,
    fs: float | None = None,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    run: Any = None,
) -> dict[str, Any]:
    """Answer ``question`` about the ECG record(s) with the model of ``run_dir``.

    Parameters
    ----------
    run_dir : a training run directory (``ecgbyte train --out``).
    records : one record path (WFDB ``.hea``/stem, ``.npy`` with ``fs``, ``.npz``), or two for a
        comparison question (in the order the question names them).
    question : the question text (non-empty).
    checkpoint : a checkpoint name under ``run_dir/checkpoints`` (default: the latest).
    fs : sampling rate in Hz, required for ``.npy`` records.
    max_new_tokens, num_beams : decoding (default: the run's config; 1 beam = greedy).
    run : an already loaded :class:`ecgbyte.elm.generate.ElmRun` (skips loading ``run_dir``).

    Returns
    -------
    dict with ``answer`` (text), ``question``, ``records``, ``n_prompt_tokens``, ``n_cut``
    (ECG tokens removed by the run's truncation policy) and ``checkpoint``.
    """
    from ecgbyte.data.sequences import EncodedCache
    from ecgbyte.elm.generate import generate_answers, load_run
    from ecgbyte.elm.train import latest_checkpoint, make_builder
    from ecgbyte.errors import DatasetError
    from ecgbyte.io import read_record

    if not isinstance(question, str) or not question.strip():
        raise DatasetError("the question is empty; ask something about the ECG")
    paths = [records] if isinstance(records, (str, Path)) else list(records)
    if not 1 <= len(paths) <= 2:
        raise DatasetError(f"give one record (or two for a comparison question), got {len(paths)}")
    ecgs = [read_record(p, leads=None, fs=fs) for p in paths]
    run = run if run is not None else load_run(run_dir, checkpoint=checkpoint)
    cfg = run.config
    cache = EncodedCache(run.ecg_tokenizer)
    builder = make_builder(cfg, run.layout, run.text_tokenizer)
    example = builder.build([cache.get(e) for e in ecgs], question.strip(), None, item_id="ask")
    [answer] = generate_answers(
        run.model,
        run.text_tokenizer,
        [example],
        run.layout,
        batch_size=1,
        max_new_tokens=max_new_tokens or cfg.max_new_tokens,
        num_beams=num_beams or cfg.num_beams,
    )
    ckpt = checkpoint or (latest_checkpoint(Path(run.run_dir)) or Path("")).name
    return {
        "answer": answer,
        "question": question.strip(),
        "records": [str(p) for p in paths],
        "n_prompt_tokens": example.prompt_len,
        "n_cut": example.n_cut,
        "checkpoint": ckpt,
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory (from `ecgbyte train --out`)")
    p.add_argument("record", help="ECG record: WFDB .hea or record stem, .npy (with --fs) or .npz")
    p.add_argument("question", help="question text, quoted")
    p.add_argument("--second-record", default=None, help="second ECG for a comparison question")
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint name under RUN_DIR/checkpoints (default: latest)"
    )
    p.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (required for .npy records)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: the run's config")
    p.add_argument("--num-beams", type=int, default=None, help="1 = greedy (default: the run's config)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON instead of the answer")


def run(args: argparse.Namespace) -> int:
    records = [args.record] + ([args.second_record] if args.second_record else [])
    result = ask(
        args.run_dir,
        records,
        args.question,
        checkpoint=args.checkpoint,
        fs=args.fs,
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
    )
    print(json.dumps(result, indent=2) if args.json else result["answer"])
    return 0
