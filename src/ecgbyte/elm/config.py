"""``TrainConfig``: every knob of an ECG language-model run, in one flat JSON-able dataclass.

The config is written as ``config.json`` into every run directory and read back on resume and
generation, so a run describes itself. Two presets: ``baby`` (the CPU demo: a tiny Llama built
from a config, full fine-tuning, leads II and V1 at low rate) and ``paper`` (ECG-Byte's recipe:
Llama-3.2-1B, LoRA r 16 / alpha 32 / dropout 0.05 on q k v o gate up down, inverse-sqrt warmup
500, grad clip 1.0, about 1k tokens of context).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgbyte.ecg_tokenizer import ECG_INPUTS
from ecgbyte.errors import ConfigError
from ecgbyte.limits import (
    MAX_BATCH_SIZE,
    MAX_BEAMS,
    MAX_CONTEXT_TOKENS,
    MAX_NEW_TOKENS,
    check_int,
    check_seed,
)

SCHEDULES = ("inv_sqrt", "noam", "cosine", "constant")
OPTIMIZERS = ("adamw", "adam")
NEW_ROW_INITS = ("mean", "noise")
FINETUNE_MODES = ("full", "lora")
PRECISIONS = ("auto", "fp32", "bf16")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all plain values, JSON round-trip)."""

    # --- model ---
    model: str = "tiny"  # "tiny" (Llama built from the tiny_* fields) or a local HF causal-LM directory
    tiny_hidden: int = 128  # tiny Llama: hidden size
    tiny_layers: int = 2  # tiny Llama: number of decoder layers
    tiny_heads: int = 4  # tiny Llama: attention heads (hidden must divide by it)
    tiny_intermediate: int = 256  # tiny Llama: MLP width
    text_vocab_size: int = 512  # tiny Llama: size of the BPE text tokenizer trained on the dataset's text
    finetune: str = "full"  # "full" (all weights) or "lora" (PEFT adapters)
    lora_r: int = 16  # LoRA rank (paper: 16)
    lora_alpha: int = 32  # LoRA alpha (paper: 32)
    lora_dropout: float = 0.05  # LoRA dropout (paper: 0.05)
    lora_targets: tuple[str, ...] = LORA_TARGETS  # modules that get adapters (paper: q k v o gate up down)
    train_ecg_rows: bool = True  # LoRA only: train the new ECG/marker embedding rows (PEFT trainable tokens)
    new_rows_init: str = (
        "noise"  # new rows of a pretrained model: "noise" (mean + seeded noise, distinct) or "mean"
    )
    # --- sequence ---
    max_length: int = 1024  # context in tokens (prompt + answer); longer items: truncate or raise
    max_ecg_tokens: int | None = None  # per-ECG cap on ECG tokens after lead/second selection (None: no cap)
    keep_leads: tuple[str, ...] | None = None  # leads of each ECG that reach the model, in order (None: all)
    max_seconds: float | None = None  # keep tokens starting in the first T s of each lead (None: all)
    truncate: bool = True  # False: a sequence longer than max_length raises instead of cutting ECG tokens
    lead_markers: bool = False  # put a marker token before each lead's tokens
    no_signal: bool = False  # ablation: drop ECG tokens (and markers), text only
    # --- ECG input (issue 7: end-to-end vs two-stage) ---
    ecg_input: str = "tokens"  # "tokens" (ECG-Byte ids, end to end) or "encoder" (two-stage soft tokens)
    soft_tokens: int = 8  # encoder: soft tokens per ECG (= the ECG tokenizer's vocab size in that mode)
    projector: str = "mlp"  # encoder: "linear" or "mlp" (Linear-GELU-Linear) from features to the LLM
    # --- optimisation ---
    optimizer: str = (
        "adamw"  # "adamw" (decoupled weight decay) or "adam" (L2 in the gradient: the original's)
    )
    lr: float = (
        1e-3  # peak learning rate (ignored by "noam", whose peak is (noam_d_model * warmup_steps)^-0.5)
    )
    weight_decay: float = 0.01  # AdamW weight decay, or Adam's L2 coefficient
    betas: tuple[float, float] = (0.9, 0.98)  # Adam(W) betas
    schedule: str = (
        "inv_sqrt"  # "inv_sqrt", "noam" (the original's), "cosine" or "constant" (all with linear warmup)
    )
    noam_d_model: int | None = (
        None  # "noam": the model width in lr = d^-0.5 min(s^-0.5, s w^-1.5) (None: the model's)
    )
    warmup_steps: int = 50  # optimizer steps of linear warmup (paper: 500)
    min_lr_ratio: float = 0.1  # cosine: final lr as a fraction of lr
    batch_size: int = 8  # sequences per micro-batch (per device)
    grad_accum: int = 1  # micro-batches per optimizer step
    epochs: float = 1.0  # passes over the training split (used when max_steps is 0)
    max_steps: int = 0  # optimizer steps; 0: derived from epochs
    grad_clip: float = 1.0  # max global gradient norm (0: no clipping)
    precision: str = "auto"  # "auto" (bf16 on a GPU that has it, else fp32), "fp32" or "bf16"
    seed: int = 0  # seeds model init, data order, dropout
    # --- run bookkeeping ---
    save_every: int = 0  # optimizer steps between checkpoints (0: only at the end)
    log_every: int = 10  # optimizer steps between JSONL log lines
    max_new_tokens: int = 16  # generation: new tokens per answer (paper: 128)
    num_beams: int = 1  # generation: 1 = greedy, >1 = beam search
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes (dataset name, ...)

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, list):
            self.lora_targets = tuple(self.lora_targets)
        if isinstance(self.keep_leads, list):
            self.keep_leads = tuple(self.keep_leads)
        if isinstance(self.betas, list):
            self.betas = tuple(self.betas)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("new_rows_init", self.new_rows_init, NEW_ROW_INITS)
        _choice("finetune", self.finetune, FINETUNE_MODES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("ecg_input", self.ecg_input, tuple(ECG_INPUTS))  # input kind -> tokenizer format
        _choice("projector", self.projector, ("linear", "mlp"))
        for name in (
            "tiny_hidden",
            "tiny_layers",
            "tiny_heads",
            "tiny_intermediate",
            "text_vocab_size",
            "lora_r",
            "max_length",
            "batch_size",
            "grad_accum",
            "max_new_tokens",
            "num_beams",
            "soft_tokens",
        ):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        for name, hi in (
            ("batch_size", MAX_BATCH_SIZE),
            ("grad_accum", MAX_BATCH_SIZE),
            ("max_length", MAX_CONTEXT_TOKENS),
            ("max_new_tokens", MAX_NEW_TOKENS),
            ("num_beams", MAX_BEAMS),
        ):  # a config file is user input too: a tampered num_beams must not exhaust the machine
            check_int(getattr(self, name), f"TrainConfig.{name}", 1, hi)
        check_seed(self.seed, "TrainConfig.seed")
        if self.tiny_hidden % self.tiny_heads:
            raise ConfigError(
                f"tiny_hidden {self.tiny_hidden} must be divisible by tiny_heads {self.tiny_heads}"
            )
        for name in ("warmup_steps", "max_steps", "save_every", "log_every"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.schedule in ("inv_sqrt", "noam") and self.warmup_steps < 1:
            raise ConfigError(
                f"schedule {self.schedule!r} needs warmup_steps >= 1 (lr = peak*sqrt(warmup/step) after it)"
            )
        if self.noam_d_model is not None and int(self.noam_d_model) < 1:
            raise ConfigError(f"noam_d_model must be >= 1 or None, got {self.noam_d_model!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.max_steps == 0 and not self.epochs > 0:
            raise ConfigError("set max_steps > 0 or epochs > 0")
        if self.max_ecg_tokens is not None and self.max_ecg_tokens < 1:
            raise ConfigError(f"max_ecg_tokens must be >= 1 or None, got {self.max_ecg_tokens!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be > 0 or None, got {self.max_seconds!r}")

    # ------------------------------------------------------------------ presets and JSON
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """Return the ``baby`` (CPU demo) or ``paper`` (ECG-Byte recipe) config, with overrides."""
        presets: dict[str, dict[str, Any]] = {
            "baby": dict(
                model="tiny",
                finetune="full",
                max_length=512,
                keep_leads=("II", "V1"),
                text_vocab_size=128,
                epochs=5.0,
                lr=2e-3,
                schedule="cosine",
                warmup_steps=30,
                batch_size=8,
                max_new_tokens=8,
            ),
            # the original's main.py / scheduler.py: Adam (L2 1e-2, betas 0.9/0.99), the Noam schedule
            # with warmup 500 (it ignores --lr), batch 2, clip 1, 1 epoch, LoRA r16/a32/0.05 on the
            # seven projections, the new embedding rows frozen (here distinct: mean + seeded noise)
            "paper": dict(
                model="",  # a local model folder is required (--model); no hub names
                finetune="lora",
                train_ecg_rows=False,
                new_rows_init="noise",
                max_length=1024,
                optimizer="adam",
                betas=(0.9, 0.99),
                weight_decay=1e-2,
                schedule="noam",
                warmup_steps=500,
                batch_size=2,
                epochs=1.0,
                grad_clip=1.0,
                max_new_tokens=128,
                precision="auto",
            ),
        }
        if name not in presets:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
        merged = {**presets[name], **overrides}
        if not merged.get("model"):
            raise ConfigError(
                f"the {name!r} preset needs a local model folder: pass --model DIR (e.g. a downloaded "
                "Llama-3.2-1B with config.json, weights and tokenizer), or --model tiny for a tiny Llama"
            )
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """From :meth:`to_dict` output; runs saved before ``new_rows_init`` existed used the mean."""
        d = {"new_rows_init": "mean", **d} if "new_rows_init" not in d else d
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"unknown TrainConfig field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        """Write the config as JSON atomically; returns the path."""
        from ecgbyte.fileio import write_json

        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        p = Path(path)
        try:
            return cls.from_dict(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read a TrainConfig JSON ({exc})") from exc


def resolve_noam(config: TrainConfig) -> TrainConfig:
    """``config`` with ``noam_d_model`` filled in from the model (tiny: ``tiny_hidden``; a local
    folder: its ``config.json``'s ``hidden_size``) when the schedule is ``noam`` and it is unset."""
    if config.schedule != "noam" or config.noam_d_model:
        return config
    if config.model == "tiny":
        width = config.tiny_hidden
    else:
        p = Path(config.model) / "config.json"
        try:
            mc = json.loads(p.read_text())
            width = next(int(mc[k]) for k in ("hidden_size", "d_model", "n_embd") if k in mc)
        except (OSError, ValueError, StopIteration) as exc:
            raise ConfigError(
                f"{p}: cannot read the model width for the noam schedule ({exc!r}); set noam_d_model"
            ) from None
    return dataclasses.replace(config, noam_d_model=width)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"TrainConfig.{name}={value!r} is not one of {', '.join(choices)}")


def lr_at(step: int, config: TrainConfig, total_steps: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based); a pure function, nothing to checkpoint.

    ``s = step + 1``. ``noam`` (the original's scheduler.py): ``d^-0.5 * min(s^-0.5, s * w^-1.5)``
    with ``d = noam_d_model``, which is ``inv_sqrt`` with peak ``(d * w)^-0.5`` (9.9e-4 for
    Llama-3.2-1B's 2048 and w = 500). Otherwise warmup ``w``: ``lr * s / w`` for ``s <= w``. Then
    ``inv_sqrt`` (the Transformer schedule normalised to peak ``lr`` at ``s = w``): ``lr * sqrt(w / s)``;
    ``cosine``: from ``lr`` down to ``lr * min_lr_ratio`` at ``s = total_steps``; ``constant``: ``lr``.
    """
    s, w = step + 1, config.warmup_steps
    if config.schedule == "noam":  # Vaswani et al.: d^-0.5 min(s^-0.5, s w^-1.5), the original's
        if not config.noam_d_model:
            raise ConfigError("schedule 'noam' needs noam_d_model (the model width); see resolve_noam")
        return config.noam_d_model**-0.5 * min(s**-0.5, s * w**-1.5)
    if w and s <= w:
        return config.lr * s / w
    if config.schedule == "inv_sqrt":
        return config.lr * math.sqrt(w / s)
    if config.schedule == "cosine":
        span = max(total_steps - w, 1)
        frac = min(max(s - w, 0) / span, 1.0)
        floor = config.lr * config.min_lr_ratio
        return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * frac))
    return config.lr
