"""Stage 1 of the two-stage baseline: a 1-D ResNet ECG encoder and its self-supervised pretraining.

The two-stage systems ECG-Byte is compared against (paper, Section 2) first pretrain an ECG
encoder, then project its features into the LLM. This module is that encoder:

- :class:`EncoderConfig`: input (leads, rate, length, the same ``PreprocessConfig`` as the
  tokenizer path), network widths, pretraining objective and optimisation, JSON round-trip.
- :class:`ResNet1d`: stem conv + residual stages (BatchNorm, ReLU), input ``[batch, leads,
  samples]`` float32, output a feature map ``[batch, channels, samples / stride]``;
  :meth:`ResNet1d.tokens` pools it into ``k`` feature vectors ``[batch, k, channels]`` (the
  patches a projection turns into soft tokens).
- :func:`pretrain_encoder`: ECG-text contrastive (CLIP loss, in the style of MERL; texts are
  encoded by a small hashed bag-of-words encoder trained jointly, since no pretrained text model
  may be downloaded) when texts are given, masked-signal reconstruction otherwise (random time
  patches zeroed on every lead, MSE on the masked samples through a 1x1-conv decoder).
- :func:`save_encoder` / :func:`load_encoder`: ``encoder.safetensors`` + ``encoder_config.json``
  + ``pretrain.json`` (objective, loss per epoch, wall time in seconds).
- :func:`encode_features`: frozen encoder, ``[n_ecgs, k, channels]`` float32 features.

Imports torch at module level: only the LLM side imports this module.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.elm.model import default_device
from ecgbyte.errors import ConfigError, ModelError, RecordError
from ecgbyte.fileio import write_json

OBJECTIVES = ("auto", "masked", "contrastive")
FORMAT_VERSION = 1


@dataclass
class EncoderConfig:
    """Input, network and pretraining settings of the ECG encoder (plain values, JSON round-trip)."""

    fs: float  # sampling rate (Hz) the encoder reads (after preprocessing); required
    leads: tuple[str, ...] = STANDARD_LEADS  # leads it reads, in this order
    duration_s: float = 10.0  # input length (s): longer ECGs are cropped, shorter zero-padded
    preprocess: dict[str, Any] | None = None  # PreprocessConfig.to_dict() applied first (None: as given)
    scale_mv: float = 1.0  # amplitudes are divided by this (set by pretraining: 99th pct of |x|)
    widths: tuple[int, ...] = (32, 64, 128)  # channels of the residual stages
    strides: tuple[int, ...] = (1, 2, 2)  # stride of each stage (the stem adds 2)
    kernel: int = 7  # conv kernel size (samples)
    objective: str = "auto"  # "auto" (contrastive if texts else masked), "masked" or "contrastive"
    mask_ratio: float = 0.4  # masked: fraction of time patches zeroed
    text_buckets: int = 4096  # contrastive: hashed word vocabulary of the text encoder
    embed_dim: int = 64  # contrastive: joint embedding size
    temperature: float = 0.07  # contrastive: initial softmax temperature (learned)
    time_tokens: int = 1  # contrastive: ECG embedding from this many time windows (1: the mean over time)
    epochs: float = 5.0  # pretraining passes over the ECGs
    batch_size: int = 32
    lr: float = 1e-3  # AdamW, cosine to 10% after 5% warmup
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("leads", "widths", "strides"):
            if isinstance(getattr(self, name), list):
                setattr(self, name, tuple(getattr(self, name)))
        if not (self.fs > 0 and math.isfinite(self.fs)):
            raise ConfigError(f"EncoderConfig.fs must be a positive rate in Hz, got {self.fs!r}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"EncoderConfig.objective={self.objective!r} is not one of {', '.join(OBJECTIVES)}"
            )
        if not self.leads or not self.widths or len(self.widths) != len(self.strides):
            raise ConfigError("EncoderConfig needs leads, and one stride per width")
        if min(self.widths) < 1 or min(self.strides) < 1 or self.kernel < 1 or self.batch_size < 1:
            raise ConfigError("EncoderConfig widths, strides, kernel and batch_size must be >= 1")
        if not 0 < self.mask_ratio < 1:
            raise ConfigError(f"EncoderConfig.mask_ratio must be in (0, 1), got {self.mask_ratio!r}")
        if self.n_samples < self.stride:
            raise ConfigError(
                f"duration_s * fs = {self.n_samples} samples < the encoder stride {self.stride}"
            )
        if self.time_tokens < 1:
            raise ConfigError(f"EncoderConfig.time_tokens must be >= 1, got {self.time_tokens!r}")
        if not (self.epochs > 0 and self.lr > 0 and self.scale_mv > 0):
            raise ConfigError("EncoderConfig epochs, lr and scale_mv must be > 0")

    @property
    def n_samples(self) -> int:
        """Input samples per lead: ``round(duration_s * fs)``."""
        return round(self.duration_s * self.fs)

    @property
    def stride(self) -> int:
        """Samples per feature-map step: 2 (stem) times every stage stride."""
        return 2 * int(np.prod(self.strides))

    @property
    def feature_dim(self) -> int:
        return int(self.widths[-1])

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown EncoderConfig field(s) {', '.join(unknown)}")
        return cls(**d)


# ---------------------------------------------------------------------------- network
def _norm(c: int) -> nn.Module:
    """BatchNorm (measured on the synthetic QA: 73% vs 64% accuracy downstream with GroupNorm)."""
    return nn.BatchNorm1d(c)


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, k: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)
        self.bn1 = _norm(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, k, padding=k // 2, bias=False)
        self.bn2 = _norm(c_out)
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), _norm(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.skip(x))


class ResNet1d(nn.Module):
    """1-D ResNet over ``[batch, leads, samples]``; ``forward`` gives ``[batch, C, ceil(samples/stride)]``."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        k, w = config.kernel, config.widths
        self.stem = nn.Sequential(
            nn.Conv1d(len(config.leads), w[0], k, stride=2, padding=k // 2, bias=False),
            _norm(w[0]),
            nn.ReLU(),
        )
        chans = (w[0], *w)
        self.stages = nn.Sequential(
            *[_Block(chans[i], chans[i + 1], config.strides[i], k) for i in range(len(w))]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def tokens(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """``k`` feature vectors per ECG, ``[batch, k, C]`` (adaptive average over time)."""
        return F.adaptive_avg_pool1d(self(x), k).transpose(1, 2)


class _MaskedHead(nn.Module):
    """1x1 conv from each feature step back to its ``stride`` samples on every lead."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.n_leads, self.stride = len(config.leads), config.stride
        self.out = nn.Conv1d(config.feature_dim, self.n_leads * self.stride, 1)

    def forward(self, feats: torch.Tensor, n_samples: int) -> torch.Tensor:
        b, _, t = feats.shape
        y = self.out(feats).view(b, self.n_leads, self.stride, t).permute(0, 1, 3, 2)
        return y.reshape(b, self.n_leads, t * self.stride)[..., :n_samples]


class _TextEncoder(nn.Module):
    """Hashed bag of words -> mean embedding -> linear; a stand-in for MERL's frozen text model."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.buckets = config.text_buckets
        self.bag = nn.EmbeddingBag(config.text_buckets, config.embed_dim, mode="mean")
        self.proj = nn.Linear(config.embed_dim, config.embed_dim)

    def ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        flat, offsets = [], []
        for t in texts:
            offsets.append(len(flat))
            words = "".join(c if c.isalnum() else " " for c in t.lower()).split() or ["<empty>"]
            flat.extend(zlib.crc32(w.encode()) % self.buckets for w in words)
        return torch.tensor(flat, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        flat, offsets = self.ids(texts)
        dev = self.proj.weight.device
        return self.proj(self.bag(flat.to(dev), offsets.to(dev)))


# ---------------------------------------------------------------------------- input
def prepare_signal(ecg: Ecg, config: EncoderConfig) -> np.ndarray:
    """The encoder input of one ECG: float32 ``[len(leads), n_samples]``, scaled by ``scale_mv``.

    Selects ``config.leads``, applies ``config.preprocess`` unless the ECG already carries its hash
    (the tokenizer's rule), then crops or zero-pads to ``duration_s``.
    """
    if not isinstance(ecg, Ecg):
        raise RecordError(f"expected an ecgbyte.Ecg, got {type(ecg).__name__}")
    missing = [n for n in config.leads if n not in ecg.leads]
    if missing:
        raise RecordError(
            f"{ecg.name}: the encoder reads leads {missing} that the ECG lacks ({list(ecg.leads)})"
        )
    ecg = ecg.select_leads(config.leads)
    if config.preprocess is not None:
        from ecgbyte.signal import PreprocessConfig, preprocess

        pre = PreprocessConfig.from_dict(config.preprocess)
        if ecg.meta.get("preprocess_hash") != pre.hash():
            ecg = preprocess(ecg, pre)
    if abs(ecg.fs - config.fs) > 1e-6:
        raise RecordError(
            f"{ecg.name}: sampled at {ecg.fs} Hz but the encoder reads {config.fs} Hz; "
            "give EncoderConfig.preprocess with that target_fs"
        )
    x = np.zeros((len(config.leads), config.n_samples), np.float32)
    n = min(config.n_samples, ecg.n_samples)
    x[:, :n] = np.nan_to_num(ecg.signal[:, :n]) / config.scale_mv
    return x


def _stack(ecgs: Sequence[Ecg], config: EncoderConfig) -> np.ndarray:
    return (
        np.stack([prepare_signal(e, config) for e in ecgs]) if ecgs else np.zeros((0, len(config.leads), 1))
    )


def _mask(shape: tuple[int, int, int], config: EncoderConfig, rng: np.random.Generator) -> torch.Tensor:
    """Boolean ``[batch, 1, samples]``: True on the zeroed patches (``stride`` samples each)."""
    b, _, n = shape
    steps = math.ceil(n / config.stride)
    pick = rng.random((b, steps)) < config.mask_ratio
    pick[np.arange(b), rng.integers(steps, size=b)] = True  # at least one patch per ECG
    return torch.from_numpy(np.repeat(pick, config.stride, axis=1)[:, None, :n])


# ---------------------------------------------------------------------------- pretraining
def pretrain_encoder(
    ecgs: Sequence[Ecg],
    config: EncoderConfig,
    *,
    texts: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    max_steps: int | None = None,
    progress: bool = False,
) -> tuple[ResNet1d, EncoderConfig, dict[str, Any]]:
    """Pretrain a :class:`ResNet1d` self-supervised on ``ecgs``; returns (encoder, config, info).

    Parameters
    ----------
    ecgs : training ECGs (never the test split); each read through :func:`prepare_signal`.
    config : settings; the returned copy has ``scale_mv`` fitted (99th percentile of ``|x|``, mV)
        and ``objective`` resolved.
    texts : one report per ECG (contrastive objective); ``None`` for masked reconstruction.
    out_dir : if given, the checkpoint is written there (:func:`save_encoder`).
    max_steps : stop after this many optimizer steps (tests); ``None``: ``epochs`` passes.

    Returns
    -------
    encoder in eval mode; config; info ``{"objective", "losses" (one per step), "epoch_losses",
    "steps", "n_ecgs", "wall_s"}``.
    """
    t0 = time.perf_counter()
    objective = config.objective
    if objective == "auto":
        objective = "contrastive" if texts is not None else "masked"
    if objective == "contrastive" and (texts is None or len(texts) != len(ecgs)):
        raise ConfigError("the contrastive objective needs one text per ECG (texts=...)")
    if len(ecgs) < 2:
        raise ConfigError(f"pretraining needs at least 2 ECGs, got {len(ecgs)}")
    raw = _stack(ecgs, dataclasses.replace(config, scale_mv=1.0))
    scale = float(np.percentile(np.abs(raw), 99)) or 1.0
    config = dataclasses.replace(config, scale_mv=scale, objective=objective)
    dev = default_device()
    x_all = torch.from_numpy(raw / scale).to(dev)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    enc = ResNet1d(config)
    head: nn.Module = _MaskedHead(config) if objective == "masked" else _TextEncoder(config)
    ecg_proj = (
        nn.Linear(config.time_tokens * config.feature_dim, config.embed_dim)
        if objective == "contrastive"
        else None
    )
    log_t = nn.Parameter(torch.tensor(math.log(1 / config.temperature), device=dev))
    enc.to(dev)
    head.to(dev)
    params = [*enc.parameters(), *head.parameters()]
    if ecg_proj is not None:
        ecg_proj.to(dev)
        params += [*ecg_proj.parameters(), log_t]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    n, bs = len(ecgs), min(config.batch_size, len(ecgs))
    per_epoch = max(n // bs, 1)
    total = max_steps or max(1, math.ceil(config.epochs * per_epoch))
    warm = max(1, total // 20)
    losses: list[float] = []
    enc.train()
    head.train()
    from tqdm.auto import tqdm

    for step in tqdm(range(total), disable=not progress, desc="pretrain encoder"):
        epoch, pos = divmod(step, per_epoch)
        idx = np.random.default_rng(config.seed + epoch).permutation(n)[pos * bs : (pos + 1) * bs]
        frac = min(max(step + 1 - warm, 0) / max(total - warm, 1), 1.0)
        lr = (
            config.lr * (step + 1) / warm
            if step < warm
            else config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        )
        for g in opt.param_groups:
            g["lr"] = lr
        x = x_all[idx]
        if objective == "masked":
            m = _mask(tuple(x.shape), config, rng).to(dev)
            recon = head(enc(x.masked_fill(m, 0.0)), x.shape[-1])
            mm = m.expand_as(x)
            loss = F.mse_loss(recon[mm], x[mm])
        else:
            z_e = F.normalize(ecg_proj(enc.tokens(x, config.time_tokens).flatten(1)), dim=-1)
            z_t = F.normalize(head([texts[i] for i in idx]), dim=-1)
            logits = log_t.exp().clamp(max=100) * z_e @ z_t.T
            target = torch.arange(len(idx), device=dev)
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    enc.cpu().eval()  # frozen from here on: features, hash and files come from the CPU copy
    epoch_losses = [float(np.mean(losses[i : i + per_epoch])) for i in range(0, len(losses), per_epoch)]
    info = {
        "objective": objective,
        "losses": losses,
        "epoch_losses": epoch_losses,
        "steps": total,
        "n_ecgs": n,
        "n_parameters": sum(p.numel() for p in enc.parameters()),
        "wall_s": time.perf_counter() - t0,
    }
    if out_dir is not None:
        save_encoder(enc, config, out_dir, info=info)
    return enc, config, info


# ---------------------------------------------------------------------------- files
def save_encoder(
    encoder: ResNet1d, config: EncoderConfig, directory: str | Path, *, info: dict[str, Any] | None = None
) -> tuple[str, ...]:
    """Write ``encoder.safetensors``, ``encoder_config.json`` (+ ``pretrain.json``); returns the paths."""
    from safetensors.torch import save

    from ecgbyte.fileio import atomic_write_bytes

    d = Path(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    atomic_write_bytes(d / "encoder.safetensors", save(tensors))
    paths = [str(d / "encoder.safetensors")]
    paths.append(
        str(write_json(d / "encoder_config.json", {"format_version": FORMAT_VERSION, **config.to_dict()}))
    )
    if info is not None:
        paths.append(str(write_json(d / "pretrain.json", info)))
    return tuple(paths)


def load_encoder(directory: str | Path) -> tuple[ResNet1d, EncoderConfig]:
    """Rebuild an encoder written by :func:`save_encoder` (eval mode, no gradients)."""
    from safetensors.torch import load_file

    d = Path(directory)
    if not (d / "encoder.safetensors").exists() or not (d / "encoder_config.json").exists():
        raise ModelError(f"{d}: no encoder checkpoint (encoder.safetensors + encoder_config.json)")
    raw = json.loads((d / "encoder_config.json").read_text())
    raw.pop("format_version", None)
    config = EncoderConfig.from_dict(raw)
    enc = ResNet1d(config)
    enc.load_state_dict(load_file(str(d / "encoder.safetensors")))
    enc.eval().requires_grad_(False)
    return enc, config


def encode_features(
    encoder: ResNet1d, config: EncoderConfig, ecgs: Sequence[Ecg], *, k: int, batch_size: int = 64
) -> np.ndarray:
    """Frozen features of ``ecgs``: float32 ``[n_ecgs, k, feature_dim]``."""
    encoder.eval()
    dev = next(encoder.parameters()).device
    out = []
    with torch.no_grad():
        for s in range(0, len(ecgs), batch_size):
            x = torch.from_numpy(_stack(ecgs[s : s + batch_size], config)).to(dev)
            out.append(encoder.tokens(x, k).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, k, config.feature_dim), np.float32)


__all__ = [
    "EncoderConfig",
    "ResNet1d",
    "encode_features",
    "load_encoder",
    "prepare_signal",
    "pretrain_encoder",
    "save_encoder",
]
