"""Export a trained run as a standard Hugging Face folder that loads and answers without ecgbyte.

Example::

    ecgbyte export runs/tiny exported/tiny
    ecgbyte export runs/lora exported/lora-adapter --adapter --base-model /models/Llama-3.2-1B

The folder holds the LLM (LoRA merged into the weights, or with --adapter the PEFT adapter and a
reference to its base model), a tokenizer.json whose vocabulary names every ECG token
(<ecg_0> ... at the ids the model uses) and the markers, generation_config.json (the decoding of
`ecgbyte ask`), the ECG-Byte tokenizer in ecg_tokenizer/, ecgbyte.json (the sequence layout) and
a model card (README.md). `AutoModelForCausalLM.from_pretrained(OUT)` loads it; `ecgbyte prompt`
prints the prompt ids to generate from. Two-stage runs (--ecg-input encoder) are refused: they
are no plain causal LM. Python: ``ecgbyte.export_run``.
"""

from __future__ import annotations

import argparse

NAME = "export"
HELP = (
    "export a trained run as a Hugging Face folder (merged weights or a PEFT adapter, tokenizer, model card)"
)
ORDER = 66


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory (from `ecgbyte train --out`)")
    p.add_argument("out", help="new output folder (must not exist, or be empty)")
    p.add_argument(
        "--adapter", action="store_true", help="LoRA runs: keep the PEFT adapter instead of merging it"
    )
    p.add_argument(
        "--base-model",
        default=None,
        help="with --adapter: the base model the adapter names (default: the run's --model folder)",
    )
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint name under RUN_DIR/checkpoints (default: latest)"
    )


def run(args: argparse.Namespace) -> int:
    from ecgbyte.locks import writer_lock
    from ecgbyte.serve.export import export_run

    with writer_lock(args.out, command=NAME, create=False):  # OUT appears by a rename
        res = export_run(
            args.run_dir,
            args.out,
            adapter=args.adapter,
            base_model=args.base_model,
            checkpoint=args.checkpoint,
        )
    print(
        f"exported {args.run_dir} ({res['checkpoint']}, {res['mode']}) to {res['out']}: "
        f"{len(res['files'])} files, {res['n_ecg_tokens']} ECG tokens, vocabulary {res['vocab_size']}"
    )
    if res["base_model"]:
        print(f"the adapter's base model: {res['base_model']}")
    return 0
