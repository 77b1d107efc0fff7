"""The ECG language model: a causal LM whose vocabulary is text ids + markers + ECG token ids.

- :func:`train_text_tokenizer`: a small BPE text tokenizer (HF ``tokenizers``) trained on the
  dataset's text, wrapped as ``PreTrainedTokenizerFast`` so it saves/loads like any HF tokenizer.
- :func:`add_markers`: adds ``<ecg_start>``, ``<ecg_end>`` (and optional ``<lead_X>``) as special
  text tokens and returns the :class:`~ecgbyte.data.sequences.SequenceLayout` (ECG id ``k`` is LLM
  id ``len(text_tokenizer) + k``).
- :func:`build_tiny_llama` (from config, random init, CPU demo/tests) or :func:`load_base_model`
  (any local HF causal LM, e.g. Llama-3.2-1B as in the paper).
- :func:`resize_for_ecg`: one embedding row per marker/ECG token from ``len(text_tokenizer)`` on,
  initialised to the mean of the text rows (plus seeded noise: distinct rows, needed when they stay
  frozen); :func:`apply_finetuning`: LoRA via PEFT (paper: r 16, alpha 32, dropout 0.05 on q k v o
  gate up down; new rows frozen as in the original, or trainable through PEFT trainable tokens) or
  full fine-tuning.
- :func:`save_weights` / :func:`load_weights`: PEFT adapter or full safetensors model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ecgbyte.data.sequences import SequenceLayout
from ecgbyte.elm.config import TrainConfig
from ecgbyte.errors import ModelError

SPECIALS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
ECG_START, ECG_END = "<ecg_start>", "<ecg_end>"


def default_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``: where training and inference run."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_text_tokenizer(texts: Iterable[str], *, vocab_size: int) -> Any:
    """Train a BPE text tokenizer (Metaspace, like SentencePiece) on ``texts``; returns a HF fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIALS["unk_token"]))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    tok.decoder = decoders.Metaspace(prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIALS.values()), show_progress=False
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIALS)


def load_text_tokenizer(path: str | Path) -> Any:
    """``AutoTokenizer.from_pretrained`` on a local directory, with a clear error if it is absent."""
    from transformers import AutoTokenizer

    p = check_tokenizer_files(path)
    try:
        return AutoTokenizer.from_pretrained(str(p))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{p}: cannot load the tokenizer ({type(exc).__name__}: {exc})") from exc


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def check_tokenizer_files(path: str | Path) -> Path:
    """``path`` if it is a folder with a Hugging Face tokenizer in it, else a one-line ``ModelError``."""
    p = Path(path)
    if not p.is_dir():
        raise ModelError(f"{p}: no such model/tokenizer directory; give a local HF model directory or 'tiny'")
    if not any((p / n).exists() for n in TOKENIZER_FILES):
        raise ModelError(
            f"{p}: no tokenizer in the model folder (none of {', '.join(TOKENIZER_FILES)}); copy the model's "
            "tokenizer files into it (a downloaded Hugging Face model has them)"
        )
    return p


def add_markers(
    text_tokenizer: Any,
    *,
    ecg_vocab_size: int,
    tokenizer_hash: str = "",
    lead_names: Sequence[str] | None = None,
) -> SequenceLayout:
    """Add the marker tokens to ``text_tokenizer`` (in place) and return the sequence layout."""
    markers = [ECG_START, ECG_END] + [f"<lead_{n}>" for n in (lead_names or ())]
    text_tokenizer.add_special_tokens({"additional_special_tokens": markers})
    if text_tokenizer.pad_token_id is None:
        text_tokenizer.pad_token = text_tokenizer.eos_token
    if text_tokenizer.eos_token_id is None:
        raise ModelError("the text tokenizer has no eos token; answers need an end-of-sequence id")
    ids = text_tokenizer.convert_tokens_to_ids(markers)
    return SequenceLayout(
        bos_id=text_tokenizer.bos_token_id,
        eos_id=text_tokenizer.eos_token_id,
        pad_id=text_tokenizer.pad_token_id,
        ecg_start_id=ids[0],
        ecg_end_id=ids[1],
        ecg_offset=len(text_tokenizer),
        ecg_vocab_size=int(ecg_vocab_size),
        lead_marker_ids={n: i for n, i in zip(lead_names, ids[2:])} if lead_names else None,
        tokenizer_hash=tokenizer_hash,
    )


def encode_text_fn(text_tokenizer: Any):
    """``str -> list[int]`` without special tokens (what :class:`SequenceBuilder` needs).

    Text stays text: a question or answer that spells a control token (``<ecg_start>``, ``</s>``,
    ``<pad>``, a lead marker) is split like any other characters, so no input can produce a
    marker, end-of-sequence or padding id.
    """
    return lambda s: list(text_tokenizer(s, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def build_tiny_llama(config: TrainConfig, layout: SequenceLayout) -> Any:
    """A randomly initialised ``LlamaForCausalLM`` (seeded by ``config.seed``) over the full vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=layout.vocab_size,
        hidden_size=config.tiny_hidden,
        intermediate_size=config.tiny_intermediate,
        num_hidden_layers=config.tiny_layers,
        num_attention_heads=config.tiny_heads,
        num_key_value_heads=config.tiny_heads,
        max_position_embeddings=config.max_length,
        bos_token_id=layout.bos_id,
        eos_token_id=layout.eos_id,
        pad_token_id=layout.pad_id,
        tie_word_embeddings=True,
        attention_dropout=0.0,
    )
    torch.manual_seed(config.seed)
    return LlamaForCausalLM(cfg)


def check_model_path(path: str | Path) -> Path:
    """Return ``path`` if it is a local HF model directory (has ``config.json``), else raise ``ModelError``."""
    p = Path(path)
    if not p.is_dir() or not (p / "config.json").exists():
        raise ModelError(
            f"{p}: not a local HF model directory (no config.json); "
            "download the model first or use --model tiny"
        )
    return p


def load_base_model(path: str | Path, *, dtype: Any = None) -> Any:
    """Load a local HF causal LM directory (``AutoModelForCausalLM``); ``ModelError`` if it is missing."""
    from transformers import AutoModelForCausalLM

    p = check_model_path(path)
    try:
        return AutoModelForCausalLM.from_pretrained(str(p), dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{p}: cannot load the model ({exc})") from exc


def first_new_row(layout: SequenceLayout) -> int:
    """The first embedding row that is not a text token: ``len(text_tokenizer)`` before the markers.

    The markers are appended to the text tokenizer, then the ECG ids follow them, so every row from
    here on is new, whatever the size of the model's embedding matrix (many are padded beyond
    their tokenizer: those padding rows are untrained and must not carry ECG ids as they are).
    """
    return min(layout.ecg_start_id, layout.ecg_end_id)


def resize_for_ecg(model: Any, layout: SequenceLayout, *, init: str = "mean", seed: int = 0) -> int:
    """Give the markers and ECG ids their own initialised rows; returns the number of rows set.

    The embeddings (and an untied output head) grow to ``layout.vocab_size`` if smaller. Every
    row from :func:`first_new_row` to ``layout.vocab_size`` is then set from the text rows before
    it: ``"mean"``, their mean (all new rows equal: fine when they are trained, useless when frozen);
    ``"noise"``, the mean plus seeded Gaussian noise with the text rows' per-dimension standard
    deviation, so that frozen ECG rows are as distinct as real tokens. Deterministic in ``seed``
    (a checkpoint rebuilds the same rows on load).
    """
    import torch

    first = first_new_row(layout)
    if model.get_input_embeddings().weight.shape[0] < layout.vocab_size:
        model.resize_token_embeddings(layout.vocab_size, mean_resizing=False)
    n = layout.vocab_size - first
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for emb in {
            id(m.weight): m
            for m in (model.get_input_embeddings(), model.get_output_embeddings())
            if m is not None
        }.values():
            text = emb.weight[:first].float()
            rows = text.mean(dim=0, keepdim=True).expand(n, -1).clone()
            if init == "noise":
                rows += torch.randn(n, text.shape[1], generator=gen) * text.std(dim=0, keepdim=True)
            emb.weight[first : layout.vocab_size] = rows.to(emb.weight.dtype)
    return n


def apply_finetuning(model: Any, config: TrainConfig, *, new_rows: Sequence[int] | None = None) -> Any:
    """Full fine-tuning (returned as is) or a PEFT LoRA model with the config's settings.

    ``new_rows``: the marker and ECG rows; with ``train_ecg_rows`` they are trainable (PEFT
    ``trainable_token_indices``) so the new tokens can be learned under LoRA, else frozen.
    """
    if config.finetune == "full":
        return model
    from peft import LoraConfig, get_peft_model

    extra: dict[str, Any] = {}
    if config.train_ecg_rows and new_rows:
        extra["trainable_token_indices"] = list(new_rows)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_targets),
        task_type="CAUSAL_LM",
        **extra,
    )
    return get_peft_model(model, lora)


def save_weights(model: Any, directory: str | Path) -> Path:
    """Save a PEFT adapter or the full model (safetensors) into ``directory``."""
    d = Path(directory)
    if hasattr(model, "peft_config"):
        # New rows are rebuilt deterministically (mean init) on load and the trained ones live in
        # the adapter (trainable tokens), so the full embedding matrix is not copied into it.
        model.save_pretrained(str(d), safe_serialization=True, save_embedding_layers=False)
    else:
        model.save_pretrained(str(d), safe_serialization=True)
    return d


def load_weights(
    directory: str | Path,
    config: TrainConfig,
    *,
    base_dir: str | Path,
    layout: SequenceLayout,
    is_trainable: bool = False,
) -> Any:
    """Rebuild the trained LLM from a weights directory written by :func:`save_weights`.

    Only the LLM: parts an ECG tokenizer adds (the two-stage projector) come back through its
    ``restore_model`` hook, which the caller applies next.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ModelError(f"{d}: checkpoint weights directory not found")
    if config.finetune == "full":
        model = load_base_model(d)
    else:
        from peft import PeftModel

        base = load_base_model(base_dir)
        resize_for_ecg(base, layout, init=config.new_rows_init, seed=config.seed)
        model = PeftModel.from_pretrained(base, str(d), is_trainable=is_trainable)
    return model


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean next-token cross-entropy over the labelled positions, with logits computed only there.

    The same value as ``model(**batch).loss`` (the causal-LM loss of HF: targets shifted by one,
    ``IGNORE_INDEX`` skipped, mean over the rest), but the LM head runs on the positions whose next
    token is labelled (the answers), not on the whole ECG prompt: with a 1,024-token context and a
    few answer tokens per example that is most of the head's work and of its logits' memory. A
    model that ignores ``logits_to_keep`` returns every position's logits; those are sliced instead.
    """
    import torch.nn.functional as F

    from ecgbyte.data.sequences import IGNORE_INDEX

    labels = batch["labels"]
    keep = (labels[:, 1:] != IGNORE_INDEX).any(0).nonzero().squeeze(1)  # positions predicting a label
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, logits_to_keep=keep).logits
    if logits.shape[1] != keep.numel():
        logits = logits[:, keep]
    target = labels[:, keep + 1]
    return F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX)
