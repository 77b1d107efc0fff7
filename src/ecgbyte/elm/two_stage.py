"""Stage 2 of the two-stage baseline: frozen encoder features -> projection -> k soft LLM tokens.

LLaVA-style wiring on the *same* training loop as end-to-end ECG-Byte (``ecgbyte train
--ecg-input encoder``): each ECG becomes ``k`` placeholder ids between the signal markers::

    <bos> <ecg_start> p_0 ... p_{k-1} <ecg_end> question answer <eos>

and :class:`TwoStageModel` replaces the embeddings of ``p_0..p_{k-1}`` by
``projector(features)``, where ``features`` ``[k, C]`` are the frozen encoder's pooled feature
map of that ECG (:func:`ecgbyte.elm.encoder.encode_features`). Features are computed once per
ECG (the encoder is frozen) and ride along with each example (``Example.ecg_features``), so the
data order, optimizer, schedule, checkpoints and generation are the end-to-end path's.

:class:`SoftTokenizer` is the encoder as an ECG tokenizer (an
:class:`~ecgbyte.ecg_tokenizer.EcgTokenizer` of format ``"ecgbyte.soft_tokens"``: ``vocab_size = k``,
``encode``, ``hash``, ``save_pretrained``/``from_pretrained``), so ``train``/``load_run``/
``predict`` take it where they take an ``ECGByteTokenizer``; its ``wrap_model``/``restore_model``
hooks add the projector. Files in a run directory: ``ecg_tokenizer/`` holds the encoder checkpoint
+ ``soft_tokens.json`` + ``ecgbyte_config.json`` (the format; older runs lack it) + ``pretrain.json``
(stage 1 wall time); each checkpoint's ``weights/`` holds the LLM (full or LoRA, as end to end)
plus ``projector.safetensors`` and ``projector.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ecgbyte.ecg_tokenizer import CONFIG_NAME, SOFT_TOKENS_FORMAT, SOFT_TOKENS_NAME, EcgTokenizer
from ecgbyte.elm.encoder import (
    EncoderConfig,
    ResNet1d,
    encode_features,
    load_encoder,
    pretrain_encoder,
    save_encoder,
)
from ecgbyte.errors import ConfigError, ModelError, RecordError
from ecgbyte.fileio import write_json

PROJECTORS = ("linear", "mlp")


class SoftEncoding:
    """What :meth:`SoftTokenizer.encode` returns: ``k`` placeholder ids and the ECG's features."""

    def __init__(self, k: int, features: np.ndarray) -> None:
        self.ids = np.arange(k, dtype=np.int64)
        self.lead_offsets = np.array([0, k], dtype=np.int64)
        self.start_s = None
        self.leads = ("ecg",)
        self.features = features


class SoftTokenizer(EcgTokenizer):
    """A frozen pretrained encoder that "tokenizes" an ECG into ``k`` soft-token slots + features.

    Plugs the baseline into the language model through the protocol's hooks: :meth:`wrap_model`
    puts a fresh projector around the LLM, :meth:`restore_model` the checkpoint's.
    """

    format: ClassVar[str] = SOFT_TOKENS_FORMAT

    def __init__(
        self, encoder: ResNet1d, config: EncoderConfig, *, k: int, info: dict[str, Any] | None = None
    ) -> None:
        if int(k) < 1:
            raise ConfigError(f"soft tokens per ECG must be >= 1, got {k!r}")
        self.encoder, self.config, self.k = encoder.eval().requires_grad_(False), config, int(k)
        self.info = dict(info or {})
        self.leads: tuple[str, ...] = ()  # no per-lead markers: the soft tokens cover every lead
        self._hash: str | None = None

    @property
    def vocab_size(self) -> int:
        return self.k

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    def hash(self) -> str:
        """SHA-256 (16 hex) of the weights, the encoder config and ``k``."""
        if self._hash is None:
            d = {"k": self.k, **self.config.to_dict()}
            if d.get("time_tokens") == 1:  # the old default: runs saved before the field keep their hash
                d.pop("time_tokens")
            h = hashlib.sha256(json.dumps(d, sort_keys=True).encode())
            for name, t in sorted(self.encoder.state_dict().items()):
                h.update(name.encode())
                h.update(t.detach().cpu().numpy().tobytes())
            self._hash = h.hexdigest()[:16]
        return self._hash

    def prepare(self, ecg: Any) -> Any:
        """The ECG as :meth:`encode` reads it: the encoder's leads, preprocessed with its config.

        Mirrors ``ECGByteTokenizer.prepare``: the result carries ``meta["preprocess_hash"]``, so
        a signal changed after this step (the blackout / noise ablations) is encoded as given,
        not preprocessed again. Signal float32 ``[n_leads, samples]`` in mV at ``config.fs``.
        """
        missing = [n for n in self.config.leads if n not in ecg.leads]
        if missing:
            raise RecordError(
                f"{ecg.name}: the encoder reads leads {missing} that the ECG lacks ({list(ecg.leads)})"
            )
        ecg = ecg.select_leads(self.config.leads)
        if self.config.preprocess is not None:
            from ecgbyte.signal import PreprocessConfig, preprocess

            pre = PreprocessConfig.from_dict(self.config.preprocess)
            if ecg.meta.get("preprocess_hash") != pre.hash():
                ecg = preprocess(ecg, pre)
        return ecg

    def encode(self, ecg: Any) -> SoftEncoding:
        """Placeholder ids ``0..k-1`` and features float32 ``[k, feature_dim]`` of one ``Ecg``."""
        return SoftEncoding(self.k, encode_features(self.encoder, self.config, [ecg], k=self.k)[0])

    def save_pretrained(self, directory: str | Path) -> tuple[str, ...]:
        """The encoder checkpoint, ``soft_tokens.json`` (``k``) and ``ecgbyte_config.json`` (the format)."""
        d = Path(directory)
        paths = save_encoder(self.encoder, self.config, d, info=self.info or None)
        soft = write_json(d / SOFT_TOKENS_NAME, {"k": self.k})
        cfg = write_json(d / CONFIG_NAME, {"format": self.format, "format_version": 1})
        return (*paths, str(soft), str(cfg))

    @classmethod
    def fit(
        cls,
        ecgs: Sequence[Any],
        cfg: Any,
        *,
        leads: tuple[str, ...],
        fs: float,
        preprocess: Any,
        seed: int,
        progress: bool = True,
        **options: Any,
    ) -> SoftTokenizer:
        """A run's new encoder: stage 1 (:func:`pretrain_stage1`) with ``cfg.soft_tokens`` soft tokens,
        ``options["encoder_epochs"]`` (default 5) or ``options["encoder_steps"]`` of pretraining."""
        return pretrain_stage1(
            ecgs,
            fs=fs,
            leads=leads,
            k=cfg.soft_tokens,
            preprocess=preprocess,
            epochs=options.get("encoder_epochs", 5.0),
            max_steps=options.get("encoder_steps"),
            seed=seed,
            progress=progress,
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> SoftTokenizer:
        """Load a folder written by :meth:`save_pretrained` (or an older one without ``ecgbyte_config.json``)."""
        d = Path(directory)
        if not (d / SOFT_TOKENS_NAME).exists():
            raise ModelError(f"{d}: not a two-stage ECG encoder directory (soft_tokens.json missing)")
        enc, cfg = load_encoder(d)
        info = json.loads((d / "pretrain.json").read_text()) if (d / "pretrain.json").exists() else {}
        return cls(enc, cfg, k=json.loads((d / SOFT_TOKENS_NAME).read_text())["k"], info=info)

    def wrap_model(self, llm: Any, cfg: Any, layout: Any) -> TwoStageModel:
        """A fresh :class:`TwoStageModel`: the LLM plus a seeded projector (:func:`wrap_llm`)."""
        return wrap_llm(llm, cfg, layout, self)

    def restore_model(
        self, llm: Any, weights_dir: str | Path, *, is_trainable: bool = False
    ) -> TwoStageModel:
        """The checkpoint's :class:`TwoStageModel`: the LLM plus the projector saved beside it."""
        return attach_projector(llm, weights_dir, is_trainable=is_trainable)


def report_texts(ecgs: Sequence[Any]) -> list[str] | None:
    """Each ECG's ``meta["report"]`` if every ECG has a non-empty one (then: contrastive), else ``None``."""
    texts = [str((getattr(e, "meta", None) or {}).get("report") or "").strip() for e in ecgs]
    return texts if texts and all(texts) else None


def pretrain_stage1(
    ecgs: Sequence[Any],
    *,
    fs: float,
    leads: Sequence[str],
    k: int,
    preprocess: Any = None,
    texts: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    max_steps: int | None = None,
    **encoder_overrides: Any,
) -> SoftTokenizer:
    """Stage 1: pretrain the encoder on the training ECGs; returns it as a :class:`SoftTokenizer`.

    ``ecgs``: ``Ecg`` objects or record references (read with ``load_ecg``); ``preprocess``: the
    ``PreprocessConfig`` of the tokenizer path (so both systems see the same signal);
    ``texts``: reports for the contrastive objective (default: :func:`report_texts`).
    ``info["wall_s"]`` (seconds) is stage 1's wall time, saved as ``pretrain.json``.
    The contrastive ECG embedding is MERL's mean over time by default (``time_tokens=1``), which
    cannot tell "sinus, then AF from 4 s" from AF throughout; ``time_tokens=k`` makes it read the
    ``k`` windows the LLM gets (not the default: its gain was within seed noise, measured in
    ``benchmarks/evidence/claim_bench/README.md``).
    """
    from ecgbyte.data.items import load_ecg

    recs = [load_ecg(e) for e in ecgs]
    cfg = EncoderConfig(
        fs=float(fs),
        leads=tuple(leads),
        preprocess=None if preprocess is None else preprocess.to_dict(),
        **encoder_overrides,
    )
    if texts is None and cfg.objective != "masked":
        texts = report_texts(recs)
    enc, cfg, info = pretrain_encoder(recs, cfg, texts=texts, max_steps=max_steps, progress=progress)
    tok = SoftTokenizer(enc, cfg, k=k, info=info)
    if out_dir is not None:
        tok.save_pretrained(out_dir)
    return tok


class TwoStageModel(nn.Module):
    """A causal LM whose ECG placeholder embeddings are replaced by projected encoder features."""

    def __init__(
        self, llm: Any, projector: nn.Module, *, ecg_offset: int, k: int, meta: dict[str, Any]
    ) -> None:
        super().__init__()
        self.llm, self.projector = llm, projector
        self.ecg_offset, self.k, self.meta = int(ecg_offset), int(k), dict(meta)

    def _embeds(self, input_ids: torch.Tensor, ecg_features: torch.Tensor | None) -> torch.Tensor:
        emb = self.llm.get_input_embeddings()(input_ids)
        slots = (input_ids >= self.ecg_offset) & (input_ids < self.ecg_offset + self.k)
        n_slots = int(slots.sum())
        if n_slots == 0:
            return emb
        n_ecg = 0 if ecg_features is None else ecg_features.shape[0]
        if n_slots != n_ecg * self.k:
            raise ModelError(
                f"{n_slots} soft-token slots in the batch but {n_ecg} ECG feature sets x k={self.k}; "
                "the context cut some slots: raise max_length"
            )
        soft = self.projector(ecg_features.to(emb.dtype)).reshape(-1, emb.shape[-1])
        return emb.masked_scatter(slots.unsqueeze(-1), soft.to(emb.dtype))

    def forward(self, input_ids: torch.Tensor, ecg_features: torch.Tensor | None = None, **kw: Any) -> Any:
        return self.llm(inputs_embeds=self._embeds(input_ids, ecg_features), **kw)

    def generate(self, input_ids: torch.Tensor, ecg_features: torch.Tensor | None = None, **kw: Any) -> Any:
        """``llm.generate`` from the mixed embeddings; returns prompt ids + new ids like the LLM does."""
        return self.llm.generate(
            input_ids=input_ids, inputs_embeds=self._embeds(input_ids, ecg_features), **kw
        )

    def save_pretrained(self, directory: str | Path, safe_serialization: bool = True) -> None:
        """The LLM as the end-to-end path saves it, plus ``projector.safetensors`` / ``projector.json``."""
        from safetensors.torch import save_file

        from ecgbyte.elm import model as M

        d = Path(directory)
        M.save_weights(self.llm, d)
        save_file(
            {k: v.detach().contiguous() for k, v in self.projector.state_dict().items()},
            str(d / "projector.safetensors"),
        )
        write_json(d / "projector.json", {"ecg_offset": self.ecg_offset, "k": self.k, **self.meta})


def build_projector(kind: str, feature_dim: int, hidden: int, *, norm: bool = False) -> nn.Module:
    """``linear``: one ``Linear(C, H)``; ``mlp``: ``Linear(C, H) -> GELU -> Linear(H, H)`` (LLaVA-1.5).

    ``norm``: a ``LayerNorm(C)`` on each feature vector first. Contrastive pretraining leaves the
    frozen features on an arbitrary scale (measured: a linear probe reads rate, rhythm, QRS, ST and
    ectopy off them, 73-100%, but without the norm the tiny LLM answered them at chance).
    """
    if kind not in PROJECTORS:
        raise ConfigError(f"projector {kind!r} is not one of {', '.join(PROJECTORS)}")
    if kind == "linear":
        layers: list[nn.Module] = [nn.Linear(feature_dim, hidden)]
    else:
        layers = [nn.Linear(feature_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden)]
    if not norm:
        return layers[0] if len(layers) == 1 else nn.Sequential(*layers)
    return nn.Sequential(nn.LayerNorm(feature_dim), *layers)


def wrap_llm(llm: Any, cfg: Any, layout: Any, ecg_tokenizer: SoftTokenizer) -> TwoStageModel:
    """A fresh :class:`TwoStageModel` around a prepared LLM (seeded projector init)."""
    hidden = int(llm.get_input_embeddings().weight.shape[1])
    torch.manual_seed(cfg.seed)
    proj = build_projector(cfg.projector, ecg_tokenizer.feature_dim, hidden, norm=True)
    meta = {
        "projector": cfg.projector,
        "feature_dim": ecg_tokenizer.feature_dim,
        "hidden": hidden,
        "norm": True,
    }
    return TwoStageModel(llm, proj, ecg_offset=layout.ecg_offset, k=ecg_tokenizer.k, meta=meta)


def attach_projector(llm: Any, directory: str | Path, *, is_trainable: bool = False) -> TwoStageModel:
    """Rebuild a :class:`TwoStageModel` from an LLM and the projector files in ``directory``."""
    from safetensors.torch import load_file

    d = Path(directory)
    if not (d / "projector.json").exists():
        raise ModelError(
            f"{d}: no projector.json; this checkpoint is not a two-stage (--ecg-input encoder) run"
        )
    meta = json.loads((d / "projector.json").read_text())
    proj = build_projector(
        meta["projector"], meta["feature_dim"], meta["hidden"], norm=bool(meta.get("norm", False))
    )  # checkpoints from before the norm have none
    proj.load_state_dict(load_file(str(d / "projector.safetensors")))
    proj.requires_grad_(is_trainable)
    rest = {k: v for k, v in meta.items() if k not in ("ecg_offset", "k")}
    return TwoStageModel(llm, proj, ecg_offset=meta["ecg_offset"], k=meta["k"], meta=rest)


__all__ = [
    "PROJECTORS",
    "SoftTokenizer",
    "TwoStageModel",
    "attach_projector",
    "build_projector",
    "pretrain_stage1",
    "report_texts",
    "wrap_llm",
]
