"""The model card (``README.md``) of an exported run: what it is, how it was trained, how to use it.

Everything comes from the run folder: ``config.json`` (model, fine-tuning, optimisation, the
dataset spec in ``extra["data"]``), the ECG tokenizer's config, the checkpoint's ``state.json``
and the ``evaluation_<split>.md`` tables ``ecgbyte evaluate`` wrote. Nothing is measured here,
so the same run gives the same card.
"""

from __future__ import annotations

import json

from ecgbyte.elm.run import RunDir

WARNING = (
    "**Not for clinical use.** This is a research model. Its answers have not been validated for "
    "diagnosis, triage or any decision about a patient, and it can be confidently wrong."
)


def _steps(run: RunDir, checkpoint: str) -> str:
    try:
        state = json.loads((run.path / "checkpoints" / checkpoint / "state.json").read_text())
        return f"{state['step']} of {state['total_steps']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def _evaluation(run: RunDir) -> str:
    tables = sorted(run.path.glob("evaluation_*.md"))
    if not tables:
        return (
            "The run folder holds no evaluation. `ecgbyte evaluate RUN` writes one "
            "(`RUN/evaluation_test.md`); export again afterwards to include it here.\n"
        )
    parts = []
    for p in tables:
        lines = [("##" + line) if line.startswith("#") else line for line in p.read_text().splitlines()]
        parts.append(f"From `{p.name}` (written by `ecgbyte evaluate`):\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def _tokenizer_facts(run: RunDir) -> list[tuple[str, str]]:
    tok = run.ecg_tokenizer
    rows = [("ECG vocabulary", f"{tok.vocab_size} tokens (`{type(tok).__name__}`)")]
    leads = list(getattr(tok, "leads", ()) or ())
    if leads:
        rows.append(("leads encoded", ", ".join(leads)))
    fs = getattr(tok, "fs", None)
    if fs:
        rows.append(("sampling rate after preprocessing", f"{fs:g} Hz"))
    merges = getattr(tok, "merges", None)
    if merges is not None:
        rows.append(("BPE merges", str(merges.n_merges)))
    return rows


def model_card(run: RunDir, *, mode: str, checkpoint: str, base_ref: str | None, n_ecg: int) -> str:
    """The Markdown model card of ``run`` exported in ``mode`` (``full``, ``merged`` or ``adapter``)."""
    cfg, lay = run.config, run.layout
    base = "a tiny Llama built from a config (random init)" if cfg.model == "tiny" else f"`{cfg.model}`"
    tune = (
        "full fine-tuning"
        if cfg.finetune == "full"
        else f"LoRA r {cfg.lora_r}, alpha {cfg.lora_alpha}, dropout {cfg.lora_dropout} on "
        f"{', '.join(cfg.lora_targets)}" + (" (ECG rows trained)" if cfg.train_ecg_rows else "")
    )
    weights = {
        "full": "the fine-tuned weights",
        "merged": "the base weights with the LoRA adapter merged in",
        "adapter": f"the PEFT adapter; its base model is `{base_ref}` (adapter_config.json)",
    }[mode]
    data = cfg.extra.get("data") or {}
    data_text = (
        "\n".join(f"- `{k}`: `{json.dumps(v)}`" for k, v in sorted(data.items()))
        if data
        else "- not recorded in the run's config"
    )
    train_rows = [
        ("base model", base),
        ("fine-tuning", tune),
        ("optimizer steps", _steps(run, checkpoint)),
        ("learning rate", f"{cfg.lr:g}, {cfg.schedule} schedule, warmup {cfg.warmup_steps}"),
        ("batch", f"{cfg.batch_size} x {cfg.grad_accum} accumulation"),
        ("context", f"{cfg.max_length} tokens; answers up to {cfg.max_new_tokens} new tokens"),
        ("leads the model sees", ", ".join(cfg.keep_leads) if cfg.keep_leads else "all the tokenizer's"),
        ("seed", str(cfg.seed)),
        *_tokenizer_facts(run),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in train_rows)
    lib = "peft" if mode == "adapter" else "transformers"
    loader = (
        "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer, GenerationConfig\n\n"
        "model = AutoPeftModelForCausalLM.from_pretrained(OUT)  # loads the base model it names\n"
        "model.generation_config = GenerationConfig.from_pretrained(OUT)  # else the base's decoding"
        if mode == "adapter"
        else "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        "model = AutoModelForCausalLM.from_pretrained(OUT)"
    )
    return f"""---
library_name: {lib}
pipeline_tag: text-generation
tags: [ecg, ecg-byte, ecgbyte, electrocardiogram]
---

# ECG-Byte language model: `{run.path.name}`

> {WARNING}

A causal language model that answers questions about a 12-lead ECG, trained end to end on ECG
tokens plus text with ecgbyte (an implementation of ECG-Byte, Han et al.,
MLHC 2025, arXiv 2412.14373). This folder holds {weights}, exported from checkpoint
`{checkpoint}` by `ecgbyte export`.

## How to use it (no ecgbyte needed at generation time)

A prompt is `<bos> <ecg_start> ECG tokens <ecg_end> question`; the answer follows. ECG token `K`
(from the ECG-Byte tokenizer in `ecg_tokenizer/`) is LLM id `{lay.ecg_offset} + K`, and the text
tokenizer names it `<ecg_K>` ({n_ecg} ECG tokens, ids {lay.ecg_offset}..{lay.vocab_size - 1}).
`generation_config.json` holds the decoding `ecgbyte ask` uses (greedy, at most
{cfg.max_new_tokens} new tokens, marker and ECG ids suppressed).

**The ids route (supported):** build the prompt ids where ecgbyte is installed
(`ecgbyte prompt RUN RECORD "question"` prints them as JSON), then generate anywhere:

```python
import torch
{loader}
tok = AutoTokenizer.from_pretrained(OUT)  # OUT: this folder
ids = torch.tensor([prompt_token_ids])  # from `ecgbyte prompt`
out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids))
print(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
```

Any engine that takes token ids as a prompt can serve this folder the same way.

**The text route** also works: `tok("<s><ecg_start><ecg_17><ecg_3>...<ecg_end>question",
add_special_tokens=False)` gives the same ids (the ECG names are added tokens, matched before
the text model runs); a prompt of about 1,000 ECG tokens encodes in milliseconds.

## Training

| | |
|---|---|
{table}

## Data

{data_text}

## Evaluation

{_evaluation(run)}
## Intended use and limits

- Research on ECG language models: reproducing and probing ECG-Byte, comparing tokenizers and
  training recipes, demonstrations.
- The model answers only the kinds of questions and data it was trained on (see Data); an ECG
  from another device, population or sampling rate, or another kind of question, can give
  fluent nonsense. Preprocess records with the tokenizer in `ecg_tokenizer/` (ecgbyte does this).
- {WARNING}
"""


__all__ = ["WARNING", "model_card"]
