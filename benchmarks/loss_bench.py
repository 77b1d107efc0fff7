"""Training-step time of the causal-LM loss on every position vs on the answer positions only.

One forward + backward + AdamW step of the same randomly initialised Llama on the same batch
(right-padded rows of ``--length`` tokens whose last ``--answer`` tokens are labelled, as
``collate`` makes QA examples), with the loss computed two ways:

- ``full``: ``model(**batch).loss`` (HF: logits for every position);
- ``answer``: :func:`ecgbyte.elm.model.answer_loss` (logits only where the next token is labelled).

Both give the same loss (checked here on every configuration, and in ``tests/test_elm_answer_loss.py``).
Rows: the ``baby`` model (hidden 128, 2 layers) at the ``paper`` tokenizer's vocabulary (~3,700
rows with 3,500 merges), contexts 512 and 1,024 (batch ``--batch-size``), and at a Llama-3-size
vocabulary (128,256 rows; 256 tokens, batch 4).
Median of ``--repeats`` timed steps after one warm-up step; CPU threads fixed by ``--threads``.

Usage::

    .venv/bin/python benchmarks/loss_bench.py            # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/loss_bench.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _model(vocab: int, hidden: int, layers: int, length: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=length, pad_token_id=0,
        tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(cfg)


def _batch(batch: int, length: int, answer: int, vocab: int) -> dict:
    import torch

    from ecgbyte.data.sequences import IGNORE_INDEX

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    labels = torch.full_like(ids, IGNORE_INDEX)
    for i in range(batch):  # rows end at different places, as right padding leaves them
        end = length - 13 * i % (length // 4)
        ids[i, end:], mask[i, end:] = 0, 0
        labels[i, end - answer : end] = ids[i, end - answer : end]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _time(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    times, loss = [], 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        loss = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), loss


def _row(
    vocab: int, hidden: int, layers: int, length: int, batch_size: int, *, answer: int, repeats: int
) -> dict:
    """Both losses on one configuration: median step seconds, the first loss, whether they agree."""
    import torch

    from ecgbyte.elm.model import answer_loss

    model = _model(vocab, hidden, layers, length)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = _batch(batch_size, length, answer, vocab)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    losses = {"full": lambda: model(**batch).loss, "answer": lambda: answer_loss(model, batch)}

    def step(name: str) -> float:
        loss = losses[name]()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    out = {}
    for name in losses:
        model.load_state_dict(state)
        opt.state.clear()
        with torch.no_grad():
            first = float(losses[name]())
        out[name] = (*_time(lambda name=name: step(name), repeats), first)
    same = abs(out["full"][2] - out["answer"][2]) <= 1e-4 * max(1.0, abs(out["full"][2]))
    return {
        "vocab": vocab, "hidden": hidden, "layers": layers, "length": length, "batch": batch_size,
        "answer_tokens": answer, "full_s": out["full"][0], "answer_s": out["answer"][0],
        "speedup": out["full"][0] / out["answer"][0], "loss_full": out["full"][2],
        "loss_answer": out["answer"][2], "same_loss": same,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small configuration, 2 repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--answer", type=int, default=4, help="labelled tokens per row (answer + <eos>)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "loss_bench.json")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    configs = (
        [(3_700, 128, 2, 512, args.batch_size)]
        if args.quick
        else [
            (3_700, 128, 2, 512, args.batch_size),
            (3_700, 128, 2, 1024, args.batch_size),
            (128_256, 128, 2, 256, 4),
        ]
    )  # fmt: skip (the large vocabulary at batch 4 x 256: its full logits alone are 0.5 GB in float32)
    repeats = 2 if args.quick else args.repeats
    rows = [_row(*c, answer=args.answer, repeats=repeats) for c in configs]
    lines = [
        "| vocab | hidden x layers | context | batch | full loss s/step | answer loss s/step | speed-up | same loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['vocab']:,} | {r['hidden']} x {r['layers']} | {r['length']} | {r['batch']} | {r['full_s']:.3f} | "
            f"{r['answer_s']:.3f} | {r['speedup']:.2f}x | {r['same_loss']} |"
        )
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "rows": rows, "threads": args.threads, "repeats": repeats,
        "machine": f"{platform.machine()}, {platform.system()}, torch {torch.__version__}",
    }  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["same_loss"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
