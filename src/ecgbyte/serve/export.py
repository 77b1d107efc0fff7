"""``ecgbyte export``: a trained run as a standard Hugging Face folder that needs no ecgbyte to run.

What the folder holds (``OUT``)::

    config.json, model.safetensors     the LLM, LoRA merged into the weights (merge_and_unload)
      or adapter_config.json,          with --adapter: the PEFT adapter, naming its base model
         adapter_model.safetensors
    generation_config.json             greedy (or the run's beams), max_new_tokens, eos/pad ids, and
                                       every marker and ECG id suppressed, exactly as ``ecgbyte ask``
    tokenizer.json, tokenizer_config.json
                                       the run's text tokenizer plus one token per ECG id, named
                                       ``<ecg_K>``, at LLM id ``layout.ecg_offset + K`` (checked)
    ecg_tokenizer/                     the ECG-Byte tokenizer (record -> ECG ids K)
    ecgbyte.json                       the sequence layout, the training config, where it came from
    README.md                          the model card

``AutoModelForCausalLM.from_pretrained(OUT)`` (or peft's ``AutoPeftModelForCausalLM`` for an
adapter) and ``AutoTokenizer.from_pretrained(OUT)`` load it; greedy ``generate`` from the prompt
ids ``ecgbyte prompt`` prints gives the answer ``ecgbyte ask`` gives. A two-stage run (encoder
features, not token ids) is not a plain causal LM and is refused.

The folder is written beside ``OUT`` under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ecgbyte.elm.run import RunDir
from ecgbyte.errors import ConfigError, ModelError
from ecgbyte.fileio import atomic_write_text, write_json
from ecgbyte.ownership import claim

ECG_TOKEN = "<ecg_{}>"
"""Name of ECG token ``K`` in the exported text tokenizer (``<ecg_17>``)."""
LAYOUT_NAME = "ecgbyte.json"


def ecg_token_names(n: int) -> list[str]:
    """``["<ecg_0>", ..., "<ecg_{n-1}>"]``: the exported names of ECG ids ``0..n-1``."""
    return [ECG_TOKEN.format(k) for k in range(n)]


def add_ecg_tokens(text_tokenizer: Any, layout: Any) -> Any:
    """Add ``<ecg_K>`` for every ECG id to ``text_tokenizer`` (in place) at ids ``ecg_offset + K``.

    The tokens are special (``decode(..., skip_special_tokens=True)`` drops them) and not
    normalized, like the markers. Raises ``ModelError`` if the ids would not line up.
    """
    from transformers import AddedToken

    if len(text_tokenizer) != layout.ecg_offset:
        raise ModelError(
            f"the run's text tokenizer has {len(text_tokenizer)} tokens but its layout puts ECG id 0 at "
            f"{layout.ecg_offset}; the run is inconsistent, train it again"
        )
    names = ecg_token_names(layout.ecg_vocab_size)
    text_tokenizer.add_tokens(
        [AddedToken(n, special=True, normalized=False) for n in names], special_tokens=True
    )
    ids = text_tokenizer.convert_tokens_to_ids(names)
    if ids != list(range(layout.ecg_offset, layout.vocab_size)) or len(text_tokenizer) != layout.vocab_size:
        raise ModelError(
            f"adding {len(names)} ECG tokens did not give ids {layout.ecg_offset}..{layout.vocab_size - 1}; "
            "the text tokenizer already holds some of these names"
        )
    return text_tokenizer


def generation_config(run: RunDir) -> Any:
    """The decoding of ``ecgbyte ask`` as a ``GenerationConfig``: greedy or beams, markers/ECG suppressed."""
    from transformers import GenerationConfig

    lay, cfg = run.layout, run.config
    return GenerationConfig(
        bos_token_id=lay.bos_id,
        eos_token_id=lay.eos_id,
        pad_token_id=lay.pad_id,
        max_new_tokens=cfg.max_new_tokens,
        num_beams=cfg.num_beams,
        do_sample=False,
        suppress_tokens=[i for i in range(lay.ecg_start_id, lay.vocab_size) if i != lay.eos_id],
    )


def export_run(
    run: RunDir | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    adapter: bool = False,
    base_model: str | None = None,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """Write ``run`` as a Hugging Face folder ``out`` (see the module docstring); returns a summary.

    Parameters
    ----------
    run : a training run directory (``ecgbyte train --out``) or an open :class:`RunDir`.
    out : a new folder (it must not exist, or be empty).
    adapter : keep a LoRA run's adapter (plus a reference to its base model) instead of merging it.
    base_model : with ``adapter``, what ``adapter_config.json`` names as the base model (a local
        folder or a hub name); default: the run's ``--model`` folder (``RUN/base`` for a tiny run).
    checkpoint : a checkpoint name under ``RUN/checkpoints`` (default: the latest).

    Returns
    -------
    dict with ``out``, ``mode`` (``"merged"``, ``"full"`` or ``"adapter"``), ``files`` (relative
    names written), ``checkpoint``, ``n_ecg_tokens``, ``vocab_size`` and ``base_model`` (adapter).
    """
    from ecgbyte.elm import model as M
    from ecgbyte.serve.card import model_card

    run = RunDir.open(run, checkpoint=checkpoint)
    cfg = run.config
    if cfg.ecg_input != "tokens":
        raise ModelError(
            f"{run.path}: a two-stage run (ecg_input {cfg.ecg_input!r}) feeds encoder features, not token "
            "ids, so it is no plain causal LM; export runs trained on ECG tokens (--ecg-input tokens)"
        )
    if adapter and cfg.finetune != "lora":
        raise ConfigError(
            f"{run.path}: --adapter needs a LoRA run, this one was fully fine-tuned; export it without --adapter"
        )
    if base_model is not None and not adapter:
        raise ConfigError("--base-model names the base of an adapter; use it with --adapter")
    lay = run.layout
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: already exists and is not an empty folder; choose a new OUT or delete it")
    ckpt = run.checkpoint_path()
    ecg_tok = run.ecg_tokenizer  # checks the hash against layout.json
    text_tok = add_ecg_tokens(M.load_text_tokenizer(run.text_tokenizer_dir), lay)
    model = M.load_weights(ckpt / "weights", cfg, base_dir=run.base_dir, layout=lay).eval()
    gen = generation_config(run)
    mode = "adapter" if adapter else ("merged" if cfg.finetune == "lora" else "full")
    base_ref = None
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if adapter:
            base_ref = base_model or str(run.base_dir.resolve())
            model.peft_config["default"].base_model_name_or_path = base_ref
            # the adapter restores the ECG rows itself when they were trained as PEFT trainable
            # tokens of tied embeddings; otherwise the resized embeddings go with it (a plain
            # resize on load would initialise the new rows at random)
            tied = bool(getattr(model.get_base_model().config, "tie_word_embeddings", False))
            model.save_pretrained(
                str(tmp), safe_serialization=True, save_embedding_layers=not (cfg.train_ecg_rows and tied)
            )
            gen.save_pretrained(str(tmp))
        else:
            if cfg.finetune == "lora":
                model = model.merge_and_unload()
            model.generation_config = gen
            model.save_pretrained(str(tmp), safe_serialization=True)
        text_tok.save_pretrained(str(tmp))
        ecg_tok.save_pretrained(tmp / "ecg_tokenizer")
        write_json(
            tmp / LAYOUT_NAME,
            {
                "format": "ecgbyte.export",
                "format_version": 1,
                "mode": mode,
                "source_run": str(run.path.resolve()),
                "checkpoint": ckpt.name,
                "ecg_token_name": ECG_TOKEN,
                "layout": lay.to_dict(),
                "train_config": cfg.to_dict(),
            },
        )
        atomic_write_text(
            tmp / "README.md",
            model_card(run, mode=mode, checkpoint=ckpt.name, base_ref=base_ref, n_ecg=lay.ecg_vocab_size),
        )
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        claim(tmp, "export", files)  # ecgbyte's manifest (ecgbyte.ownership)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "out": str(out),
        "mode": mode,
        "files": files,
        "checkpoint": ckpt.name,
        "n_ecg_tokens": lay.ecg_vocab_size,
        "vocab_size": lay.vocab_size,
        "base_model": base_ref,
    }


__all__ = ["ECG_TOKEN", "add_ecg_tokens", "ecg_token_names", "export_run", "generation_config"]
