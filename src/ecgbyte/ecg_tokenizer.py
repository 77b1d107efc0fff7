"""The ECG-tokenizer protocol: one interface for every way an ECG becomes LLM tokens.

:class:`EcgTokenizer` is what the language-model side (``data``, ``elm``, ``eval``) relies on.
ECG-Byte's :class:`~ecgbyte.tokenizer.ECGByteTokenizer` (BPE over symbols) and the two-stage
baseline's :class:`~ecgbyte.elm.two_stage.SoftTokenizer` (a frozen encoder giving ``k`` soft
tokens) both subclass it:

- ``vocab_size``, ``leads``: the ECG token ids are ``0..vocab_size-1``; ``leads`` names the
  per-lead blocks of an encoding (empty when the tokens cover every lead at once);
- ``prepare(ecg)``: the ECG as the tokenizer reads it (its leads, preprocessed, carrying
  ``meta["preprocess_hash"]``), so an ablation can change that signal and encode it as given;
- ``encode(ecg)``: a :class:`TokenEncoding`; ``encode_ecg(ecg)``: the same as an :class:`EncodedEcg`,
  what sequences and caches hold;
- ``hash()``: a content hash, stored in a run's ``layout.json`` to check a reloaded tokenizer;
- ``save_pretrained(dir)`` / ``from_pretrained(dir)``: a folder whose ``ecgbyte_config.json``
  names the class's ``format``;
- ``wrap_model`` / ``restore_model``: hooks the training loop and the run loader call, so a
  tokenizer that needs model parts of its own (the baseline's projector) plugs in here and the
  language-model code never asks which kind of tokenizer it holds.

:func:`load_ecg_tokenizer` reads any such folder: :func:`format_of` reads the stored format and
:data:`FORMATS` maps it to ``"module:Class"``, imported only then (so the soft-token class and
torch load only for a soft-token folder). A new representation is one module with one subclass plus
one :data:`FORMATS` entry (or a :func:`register_format` call from its own package).

This module never imports torch, transformers or peft.
"""

from __future__ import annotations

import abc
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, TokenizerError
from ecgbyte.fileio import hash_directory
from ecgbyte.plugins import check_target, load_target

CONFIG_NAME = "ecgbyte_config.json"
"""The file of a tokenizer folder that names its ``format`` (ECG-Byte's full config lives in it)."""
SOFT_TOKENS_NAME = "soft_tokens.json"
"""A soft-token folder's ``{"k": ...}``; older runs have it and no :data:`CONFIG_NAME`."""
ECGBYTE_FORMAT = "ecgbyte.tokenizer"
SOFT_TOKENS_FORMAT = "ecgbyte.soft_tokens"

FORMATS: dict[str, str] = {
    ECGBYTE_FORMAT: "ecgbyte.tokenizer:ECGByteTokenizer",
    SOFT_TOKENS_FORMAT: "ecgbyte.elm.two_stage:SoftTokenizer",
}
"""Stored format key -> ``"module:Class"`` of the :class:`EcgTokenizer` that loads it."""

ECG_INPUTS: dict[str, str] = {"tokens": ECGBYTE_FORMAT, "encoder": SOFT_TOKENS_FORMAT}
"""``TrainConfig.ecg_input`` (``ecgbyte train --ecg-input``) -> the format a new run's tokenizer has.

``ecgbyte train`` without ``--ecg-tokenizer`` trains one with that class's :meth:`EcgTokenizer.fit`.
"""


class TokenEncoding(Protocol):
    """What :meth:`EcgTokenizer.encode` returns (read-only attributes or properties).

    ``ids`` int ``[n_tokens]``; ``lead_offsets`` int ``[n_blocks + 1]`` (block ``i`` is
    ``ids[lead_offsets[i]:lead_offsets[i+1]]``); ``leads`` a name per block; ``start_s`` float
    ``[n_tokens]`` start of each token in its lead in seconds, or ``None``; ``features`` float
    ``[n_tokens, dim]`` to put in the tokens' places, or ``None``.
    """

    @property
    def ids(self) -> np.ndarray: ...

    @property
    def lead_offsets(self) -> np.ndarray: ...

    @property
    def leads(self) -> tuple[str, ...]: ...

    @property
    def start_s(self) -> np.ndarray | None: ...

    @property
    def features(self) -> np.ndarray | None: ...


@dataclass(frozen=True, eq=False)
class EncodedEcg:
    """ECG token ids of one record, leads concatenated in lead order.

    ``ids`` int64 ``[n_tokens]``; ``lead_offsets`` int64 ``[n_leads + 1]`` (lead ``i`` is
    ``ids[lead_offsets[i]:lead_offsets[i+1]]``); ``start_s`` float32 ``[n_tokens]`` start time
    of each token within its lead in seconds (``None`` if unknown). ``features`` float32
    ``[n_tokens, dim]``: frozen-encoder features of the soft-token slots (two-stage path only).
    """

    ids: np.ndarray
    lead_offsets: np.ndarray
    leads: tuple[str, ...]
    start_s: np.ndarray | None = None
    features: np.ndarray | None = None

    def lead_ids(self, i: int) -> np.ndarray:
        return self.ids[self.lead_offsets[i] : self.lead_offsets[i + 1]]

    @classmethod
    def from_encoding(cls, enc: TokenEncoding, leads: Sequence[str] = ()) -> EncodedEcg:
        """Adapt an :meth:`EcgTokenizer.encode` result; ``leads``: names if the encoding has none."""
        ids = np.asarray(enc.ids, dtype=np.int64)
        offsets = np.asarray(enc.lead_offsets, dtype=np.int64)
        start = getattr(enc, "start_s", None)
        start = None if start is None or callable(start) else np.asarray(start, dtype=np.float32)
        if start is not None and start.shape != ids.shape:
            start = None
        leads = tuple(getattr(enc, "leads", ()) or leads)
        feats = getattr(enc, "features", None)
        feats = None if feats is None else np.asarray(feats, dtype=np.float32)
        return cls(ids=ids, lead_offsets=offsets, leads=tuple(leads), start_s=start, features=feats)


class EcgTokenizer(abc.ABC):
    """An ECG tokenizer: ECG -> ids ``0..vocab_size-1`` (+ optional features); see the module doc.

    Subclasses set ``format`` (the key :func:`load_ecg_tokenizer` dispatches on, written by
    ``save_pretrained`` into ``ecgbyte_config.json``) and implement the abstract members.
    """

    format: ClassVar[str]
    leads: tuple[str, ...] = ()

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of ECG token ids."""

    @abc.abstractmethod
    def prepare(self, ecg: Ecg) -> Ecg:
        """The ECG as :meth:`encode` reads it, with ``meta["preprocess_hash"]`` when preprocessed."""

    @abc.abstractmethod
    def encode(self, ecg: Ecg) -> TokenEncoding:
        """Tokenize one ECG (raw, or already :meth:`prepare` d: then it is not preprocessed again)."""

    def encode_ecg(self, ecg: Ecg) -> EncodedEcg:
        """:meth:`encode` as an :class:`EncodedEcg` (what sequences and the encoded cache hold)."""
        return EncodedEcg.from_encoding(self.encode(ecg), ecg.leads)

    def hash(self) -> str:
        """Content hash (16 hex): by default :func:`~ecgbyte.fileio.hash_directory` of the saved folder.

        Subclasses may compute it another way (in memory); it only has to change when what the
        tokenizer does changes, and stay the same across save and load.
        """
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            return hash_directory(tmp)

    @abc.abstractmethod
    def save_pretrained(self, directory: str | Path) -> tuple[str, ...]:
        """Write the tokenizer into ``directory`` (with ``ecgbyte_config.json`` naming ``format``)."""

    @classmethod
    @abc.abstractmethod
    def from_pretrained(cls, directory: str | Path) -> EcgTokenizer:
        """Load a folder written by :meth:`save_pretrained`."""

    # -- hooks of the language-model side ------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        ecgs: Sequence[Ecg],
        cfg: Any,
        *,
        leads: tuple[str, ...],
        fs: float,
        preprocess: Any,
        seed: int,
        progress: bool = True,
        **options: Any,
    ) -> EcgTokenizer:
        """A new tokenizer for a run (``ecgbyte train`` without ``--ecg-tokenizer``).

        ``ecgs`` are the training split's ECGs, ``cfg`` the run's ``TrainConfig``, ``leads`` /
        ``fs`` / ``preprocess`` the dataset's leads, rate and preprocessing config; ``options``
        are the command's tokenizer options (``n_merges``, ``encoder_epochs``, ``encoder_steps``),
        each class reading those it knows. Default: this format cannot be trained here.
        """
        raise TokenizerError(
            f"a {cls.format!r} tokenizer cannot be trained by `ecgbyte train`; train it on its own "
            "and pass its folder with --ecg-tokenizer"
        )

    def wrap_model(self, llm: Any, cfg: Any, layout: Any) -> Any:
        """A fresh run's model around the prepared LLM (called once by ``prepare_run``); default: ``llm``."""
        return llm

    def restore_model(self, llm: Any, weights_dir: str | Path, *, is_trainable: bool = False) -> Any:
        """The model of a checkpoint, from the LLM loaded from ``weights_dir``; default: ``llm``."""
        return llm


# -- the format registry ---------------------------------------------------------------------------
def register_format(key: str, target: str, *, replace: bool = False) -> None:
    """Make :func:`load_ecg_tokenizer` load folders of format ``key`` with ``target`` (``"module:Class"``).

    The class is imported when such a folder is first loaded. Registering a key again with
    another target needs ``replace=True``.
    """
    if not isinstance(key, str) or not key:
        raise ConfigError(f"a tokenizer format key must be a non-empty string, got {key!r}")
    check_target(target, error=ConfigError)
    if FORMATS.get(key, target) != target and not replace:
        raise ConfigError(
            f"tokenizer format {key!r} is already registered to {FORMATS[key]}; pass replace=True to change it"
        )
    FORMATS[key] = target


def tokenizer_class(key: str) -> type[EcgTokenizer]:
    """The :class:`EcgTokenizer` subclass registered for format ``key`` (imported now)."""
    if key not in FORMATS:
        raise TokenizerError(
            f"unknown ECG tokenizer format {key!r} (known: {', '.join(sorted(FORMATS))}); upgrade ecgbyte "
            "or import the package that registers it (ecgbyte.ecg_tokenizer.register_format)"
        )
    cls = load_target(FORMATS[key], what=f"ECG tokenizer format {key!r}", error=TokenizerError)
    if not (isinstance(cls, type) and issubclass(cls, EcgTokenizer)):
        raise TokenizerError(
            f"ECG tokenizer format {key!r}: {FORMATS[key]} is not an ecgbyte.ecg_tokenizer.EcgTokenizer "
            "subclass; register the tokenizer class"
        )
    return cls


def format_of(directory: str | Path) -> str:
    """The stored format of a tokenizer folder: ``ecgbyte_config.json``'s ``format``.

    A folder with ``soft_tokens.json`` and no config is a soft-token tokenizer (runs written
    before soft-token folders got a config). Anything else raises :class:`TokenizerError`.
    """
    d = Path(directory)
    if not d.is_dir():
        raise TokenizerError(
            f"{d}: not a directory; pass a local ECG tokenizer directory written by save_pretrained"
        )
    cfg_path = d / CONFIG_NAME
    if not cfg_path.is_file():
        if (d / SOFT_TOKENS_NAME).is_file():
            return SOFT_TOKENS_FORMAT
        raise TokenizerError(
            f"{cfg_path}: not found; {d} is not an ECG tokenizer directory (pass one written by "
            "save_pretrained, `ecgbyte train-tokenizer` or `ecgbyte train`)"
        )
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"{cfg_path}: cannot read ({exc}); the file is damaged") from exc
    except json.JSONDecodeError as exc:
        raise TokenizerError(
            f"{cfg_path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); the file is "
            "damaged, save the tokenizer again"
        ) from exc
    fmt = cfg.get("format") if isinstance(cfg, dict) else None
    if not isinstance(fmt, str) or not fmt:
        raise TokenizerError(
            f"{cfg_path}: no 'format' naming the tokenizer kind; the file is damaged, save the tokenizer again"
        )
    return fmt


def load_ecg_tokenizer(directory: str | Path, *, expect: str | None = None) -> EcgTokenizer:
    """Load any ECG tokenizer folder through the class its stored format names.

    ``expect``: the format the caller needs (e.g. ``"ecgbyte.tokenizer"`` for spans); a folder of
    another format raises :class:`TokenizerError`.
    """
    fmt = format_of(directory)
    if expect is not None and fmt != expect:
        raise TokenizerError(
            f"{directory}: holds a {fmt!r} tokenizer, but this needs a {expect!r} one; pass a "
            f"{expect!r} tokenizer directory"
        )
    tok = tokenizer_class(fmt).from_pretrained(directory)
    if not isinstance(tok, EcgTokenizer):  # pragma: no cover - a subclass's from_pretrained misbehaving
        raise TokenizerError(
            f"{directory}: format {fmt!r} loaded a {type(tok).__name__}, not an EcgTokenizer"
        )
    return tok


__all__ = [
    "CONFIG_NAME",
    "ECGBYTE_FORMAT",
    "FORMATS",
    "SOFT_TOKENS_FORMAT",
    "EcgTokenizer",
    "EncodedEcg",
    "TokenEncoding",
    "format_of",
    "load_ecg_tokenizer",
    "register_format",
    "tokenizer_class",
]
