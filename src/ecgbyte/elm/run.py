"""``RunDir``: the one object that knows a training run's folder and loads its model once.

Layout of a run directory (written by :func:`ecgbyte.elm.train.train`)::

    RUN/config.json          TrainConfig (the dataset spec in extra["data"])
    RUN/layout.json          SequenceLayout (ECG offset, marker ids, ECG tokenizer hash)
    RUN/text_tokenizer/      HF tokenizer (with the marker tokens)
    RUN/ecg_tokenizer/       the ECG tokenizer (any registered format, see ecgbyte.ecg_tokenizer)
    RUN/base/                tiny model's initial weights (model="tiny" only)
    RUN/stage1.json          two-stage runs: how the encoder was pretrained
    RUN/log.jsonl            one line per log_every steps
    RUN/checkpoints/step-NNNNNNN/{weights/, optimizer.pt, rng.pt, state.json, checksums.json}
    RUN/latest.json          name of the newest complete checkpoint, its files' sizes and SHA-256
    RUN/.ecgbyte-manifest.json  marks the folder as an ecgbyte run (ecgbyte.ownership)
    RUN/eval/, RUN/evaluation_<split>.json|.md, RUN/explain/, RUN/report.html   evaluation outputs

Generation, ``ask``, evaluation, ablations, interpretability and the report take a ``RunDir``
(or a path they open with :meth:`RunDir.open`); each part is read on first use and kept, so a
report that evaluates, explains and plots loads the model once and builds the splits once.
The sequence rules shared by training and inference (:func:`policy_of`, :func:`make_builder`)
live here too, so nothing but the ``ecgbyte train`` pipeline imports the training loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from ecgbyte.data.items import QAItem
from ecgbyte.data.sequences import SequenceBuilder, SequenceLayout, TruncationPolicy
from ecgbyte.elm.checkpoint import latest_checkpoint, load_checkpoint_weights, verify_checkpoint
from ecgbyte.elm.config import TrainConfig
from ecgbyte.errors import DatasetError, EcgbyteError, ModelError


def policy_of(cfg: TrainConfig) -> TruncationPolicy:
    """The truncation policy a config describes (the same object rule for training and evaluation)."""
    if cfg.ecg_input == "encoder":  # k soft-token slots per ECG: no lead/second/token selection
        return TruncationPolicy(truncate=cfg.truncate)
    return TruncationPolicy(
        keep_leads=cfg.keep_leads,
        max_seconds=cfg.max_seconds,
        max_ecg_tokens=cfg.max_ecg_tokens,
        truncate=cfg.truncate,
    )


def make_builder(cfg: TrainConfig, layout: SequenceLayout, text_tokenizer: Any) -> SequenceBuilder:
    """The sequence builder of a run: its layout, truncation policy, context and answer reserve."""
    from ecgbyte.elm.model import encode_text_fn

    return SequenceBuilder(
        layout,
        policy_of(cfg),
        max_length=cfg.max_length,
        encode_text=encode_text_fn(text_tokenizer),
        answer_reserve=cfg.max_new_tokens + 1,
        no_signal=cfg.no_signal,
    )


def base_dir_of(cfg: TrainConfig, run_dir: str | os.PathLike[str]) -> Path:
    """Where a run's base model lives: ``RUN/base`` for the tiny model, else the model folder."""
    return Path(run_dir) / "base" if cfg.model == "tiny" else Path(cfg.model)


# what `ecgbyte train` writes in a run folder (its manifest's entries; see ecgbyte.ownership)
RUN_ENTRIES = (
    "config.json",
    "layout.json",
    "text_tokenizer",
    "ecg_tokenizer",
    "base",
    "stage1.json",
    "log.jsonl",
    "coverage.json",
    "checkpoints",
    "latest.json",
)


def is_old_run(path: Path) -> bool:
    """A run folder written before manifests: its ``config.json`` reads as a ``TrainConfig``."""
    try:
        TrainConfig.load(path / "config.json")
    except (EcgbyteError, TypeError, ValueError, AttributeError):
        return False
    return True


def claim_run_dir(run_dir: str | os.PathLike[str], *, resume: bool = False) -> str:
    """Check that ``run_dir`` may hold this run and record it as an ecgbyte run folder.

    New or empty folders and ecgbyte runs are fine (a run from before manifests, recognised by
    :func:`is_old_run`, gets one now); any other non-empty folder is refused with a one-line
    :class:`~ecgbyte.errors.ConfigError`, so no foreign ``config.json`` or ``log.jsonl`` is
    overwritten. Returns ``"new"``, ``"ours"`` or ``"legacy"``.
    """
    from ecgbyte.ownership import check_folder, claim

    state = check_folder(run_dir, "run", legacy=is_old_run, what="run folder (--out)")
    if not (resume and state == "new"):  # nothing to resume: leave the folder as it is
        claim(run_dir, "run", RUN_ENTRIES)
    return state


class RunDir:
    """A training run's folder: its files, its tokenizers, its splits and its model, each loaded once.

    Parameters
    ----------
    path : the run directory (``ecgbyte train --out``).
    ecg_tokenizer : use this ECG tokenizer instead of ``RUN/ecg_tokenizer`` (its hash must match).
    checkpoint : a checkpoint name under ``RUN/checkpoints`` (default: the latest).
    device : where the model runs (default: the GPU if PyTorch sees one).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ecg_tokenizer: Any = None,
        checkpoint: str | None = None,
        device: str | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.config_path.is_file():
            raise ModelError(
                f"{self.path}: not a training run directory (no config.json); "
                "pass the folder `ecgbyte train --out` wrote"
            )
        self._ecg_tokenizer = ecg_tokenizer
        self.checkpoint_name = checkpoint
        self.device = device
        self._splits: dict[str, list[QAItem]] | None = None
        self._checkpoint: Path | None = None
        self.n_model_loads = 0

    @classmethod
    def open(cls, run: RunDir | str | os.PathLike[str], **kwargs: Any) -> RunDir:
        """``run`` itself if it is a ``RunDir`` (keyword arguments must then be empty), else a new one."""
        if isinstance(run, RunDir):
            if any(v is not None for v in kwargs.values()):
                raise ModelError(f"{run.path}: already open; pass a path to open it with other options")
            return run
        return cls(run, **kwargs)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- files --------------------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        """The folder (the name older code used for it)."""
        return self.path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def layout_path(self) -> Path:
        return self.path / "layout.json"

    @property
    def text_tokenizer_dir(self) -> Path:
        return self.path / "text_tokenizer"

    @property
    def ecg_tokenizer_dir(self) -> Path:
        return self.path / "ecg_tokenizer"

    @property
    def base_dir(self) -> Path:
        return base_dir_of(self.config, self.path)

    @property
    def log_path(self) -> Path:
        return self.path / "log.jsonl"

    @property
    def explain_dir(self) -> Path:
        return self.path / "explain"

    def evaluation_path(self, split: str) -> Path:
        return self.path / f"evaluation_{split}.json"

    def predictions_path(self, split: str) -> Path:
        return self.path / "eval" / f"{split}_predictions.jsonl"

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint whose weights verify (see :func:`ecgbyte.elm.checkpoint.latest_checkpoint`)."""
        return latest_checkpoint(self.path, scope="weights")

    def checkpoint_path(self) -> Path:
        """The checkpoint this run loads: ``checkpoint`` (inside ``RUN/checkpoints``) or the latest.

        Its weights are verified against their checksums once; the answer is kept.
        """
        if self._checkpoint is None:
            self._checkpoint = self._find_checkpoint()
        return self._checkpoint

    def _find_checkpoint(self) -> Path:
        if self.checkpoint_name:
            root = (self.path / "checkpoints").resolve()
            p = (root / self.checkpoint_name).resolve()
            if p.parent != root:
                raise ModelError(
                    f"checkpoint {self.checkpoint_name!r} is not a checkpoint name under {root}; "
                    "pass a name such as step-0000100"
                )
            if p.is_dir() and (reason := verify_checkpoint(p, scope="weights")) is not None:
                raise ModelError(f"{p}: damaged checkpoint ({reason}); choose another --checkpoint")
        else:
            p = self.latest_checkpoint()
        if p is None or not p.is_dir():
            raise ModelError(f"{self.path}: no checkpoint found; train first (ecgbyte train)")
        return p

    # -- parts, each read once ----------------------------------------------------------------------
    @cached_property
    def config(self) -> TrainConfig:
        return TrainConfig.load(self.config_path)

    @cached_property
    def layout(self) -> SequenceLayout:
        if not self.layout_path.is_file():
            raise ModelError(f"{self.path}: no layout.json; the run is incomplete, train it again")
        try:
            return SequenceLayout.from_dict(json.loads(self.layout_path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{self.layout_path}: unreadable ({exc}); the run is damaged") from exc

    @cached_property
    def text_tokenizer(self) -> Any:
        from ecgbyte.elm.model import load_text_tokenizer

        return load_text_tokenizer(self.text_tokenizer_dir)

    @cached_property
    def ecg_tokenizer(self) -> Any:
        tok = self._ecg_tokenizer
        if tok is None:
            from ecgbyte.ecg_tokenizer import load_ecg_tokenizer

            tok = load_ecg_tokenizer(self.ecg_tokenizer_dir)
        self.layout.check_tokenizer(tok.hash(), where=str(self.path))
        return tok

    @cached_property
    def model(self) -> Any:
        """The trained model of :meth:`checkpoint_path`, in eval mode on ``device`` (loaded once)."""
        from ecgbyte.elm import model as M

        ckpt = self.checkpoint_path()
        tok = self.ecg_tokenizer
        weights = ckpt / "weights"
        model = load_checkpoint_weights(
            lambda: tok.restore_model(
                M.load_weights(weights, self.config, base_dir=self.base_dir, layout=self.layout), weights
            ),
            ckpt,
        )
        model.to(self.device or M.default_device()).eval()
        self.n_model_loads += 1
        return model

    def load(self) -> RunDir:
        """Load the model (and with it both tokenizers and the layout) now; returns ``self``."""
        _ = self.model, self.text_tokenizer
        return self

    # -- sequences and data -------------------------------------------------------------------------
    @property
    def policy(self) -> TruncationPolicy:
        return policy_of(self.config)

    def builder(self, *, no_signal: bool | None = None) -> SequenceBuilder:
        """The run's sequence builder; ``no_signal=True`` leaves the ECG out (the ablation)."""
        import dataclasses

        cfg = self.config if no_signal is None else dataclasses.replace(self.config, no_signal=no_signal)
        return make_builder(cfg, self.layout, self.text_tokenizer)

    @property
    def data_spec(self) -> dict[str, Any] | None:
        return self.config.extra.get("data") or None

    def splits(self) -> dict[str, list[QAItem]]:
        """The run's dataset splits, rebuilt once from its stored dataset spec."""
        if self._splits is None:
            from ecgbyte.data.registry import load_splits

            spec = self.data_spec
            if not spec:
                raise DatasetError(
                    f"{self.path}: config.json has no extra.data dataset spec, so its splits cannot be "
                    "rebuilt; pass the items explicitly (e.g. evaluate_run(..., items=...))"
                )
            self._splits = load_splits(spec)
        return self._splits

    def items(self, split: str, *, segments: str | None = "first") -> list[QAItem]:
        """The QA items of ``split`` (a non-empty split of the run's dataset).

        A run trained on segments (``segment_seconds`` in its dataset spec) is asked about
        segments too (:meth:`segment`): ``segments="first"`` gives each item once, on its records'
        first segment (how an item is scored once); ``"all"`` one item per segment (``<id>#k``),
        e.g. for a majority vote over segments; ``None`` the whole records.
        """
        splits = self.splits()
        if split not in splits:
            raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(splits)}")
        if not splits[split]:
            raise DatasetError(f"{self.path}: the {split!r} split is empty; choose another --split")
        return self.segment(splits[split], segments) if segments else list(splits[split])

    def segment(self, items: Sequence[QAItem], mode: str = "first") -> list[QAItem]:
        """``items`` cut as this run was trained (its spec's ``segment_seconds``; as is without one)."""
        from ecgbyte.data.items import segment_items

        spec = self.data_spec or {}
        return segment_items(
            items,
            spec.get("segment_seconds"),
            record_seconds=float(spec.get("record_seconds", 10.0)),
            mode=mode,
        )


def load_run(
    run_dir: RunDir | str | os.PathLike[str],
    *,
    ecg_tokenizer: Any = None,
    checkpoint: str | None = None,
    device: str | None = None,
) -> RunDir:
    """Open a run directory and load its model, tokenizers and layout (latest checkpoint by default)."""
    return RunDir.open(run_dir, ecg_tokenizer=ecg_tokenizer, checkpoint=checkpoint, device=device).load()


__all__ = [
    "RUN_ENTRIES",
    "RunDir",
    "base_dir_of",
    "claim_run_dir",
    "is_old_run",
    "latest_checkpoint",
    "load_run",
    "make_builder",
    "policy_of",
]
