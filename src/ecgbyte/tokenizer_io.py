"""Files of an ECG-Byte tokenizer: ``tokenizer.json`` + ``ecgbyte_config.json`` (the pure file layer).

- ``tokenizer.json``: the Hugging Face ``tokenizers`` file (from :func:`ecgbyte.bpe.hf.to_hf_tokenizer`),
  loadable by ``tokenizers.Tokenizer.from_file`` and ``PreTrainedTokenizerFast(tokenizer_file=...)``
  with no ecgbyte installed; it encodes one lead's symbol string exactly as ``encoder="bpe"``.
- ``ecgbyte_config.json``: ``{"format_version": 1, ...}`` with the quantizer, the preprocessing
  config, the alphabet, the lead order, the default encoder, the output rate ``fs`` and the merges
  (pairs and ids, the source of truth) with their metadata; a tokenizer made from a named
  representation also stores ``"preset"`` (:class:`ecgbyte.presets.Preset`, every parameter). A
  config without that key (written before presets) loads as it always did.

This module knows files and JSON, not the tokenizer class: :class:`TokenizerParts` holds what the
two files store, :func:`file_texts` renders them, :func:`save` writes them, :func:`from_config`
parses and :func:`load` reads and cross-checks them. :class:`~ecgbyte.tokenizer.ECGByteTokenizer`
builds itself from the parts. Loading checks that the two files agree (same vocabulary, same
merges) and that the format is not newer than this code; anything wrong raises
:class:`~ecgbyte.errors.TokenizerError` naming the file and what to do. Writes are atomic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgbyte import fileio
from ecgbyte.bpe.merges import Merges
from ecgbyte.ecg_tokenizer import CONFIG_NAME, ECGBYTE_FORMAT
from ecgbyte.errors import ConfigError, EcgbyteError, TokenizerError
from ecgbyte.presets import Preset
from ecgbyte.signal.config import PreprocessConfig
from ecgbyte.symbols.registry import QuantizerLike, quantizer_from_dict

FORMAT = ECGBYTE_FORMAT
FORMAT_VERSION = 1
TOKENIZER_NAME = "tokenizer.json"


@dataclass(frozen=True, eq=False)
class TokenizerParts:
    """What an ECG-Byte tokenizer folder stores: the constructor arguments of ``ECGByteTokenizer``."""

    quantizer: QuantizerLike
    merges: Merges
    preprocess: PreprocessConfig | None
    leads: tuple[str, ...]
    encoder: str
    info: dict[str, Any] = field(default_factory=dict)
    preset: Preset | None = None

    @property
    def fs(self) -> float | None:
        """The rate (Hz) the tokenizer symbolises at; ``None`` if it is the input's."""
        return output_fs(self.preprocess)


def output_fs(preprocess: PreprocessConfig | None) -> float | None:
    """The rate (Hz) of what ``preprocess`` outputs; ``None`` if it keeps the input's."""
    if preprocess is not None and preprocess.resample:
        return preprocess.target_fs
    return None


def to_config(parts: TokenizerParts) -> dict[str, Any]:
    """The content of ``ecgbyte_config.json`` (``format_version`` first)."""
    from ecgbyte import __version__

    merges = parts.merges.to_dict()
    merges.update({"n_merges": len(parts.merges), "vocab_size": parts.merges.vocab_size})
    merges.update({k: v for k, v in parts.info.items() if k == "converted_from"})
    preset = {} if parts.preset is None else {"preset": parts.preset.to_dict()}  # absent: as before presets
    return {
        "format_version": FORMAT_VERSION,
        "format": FORMAT,
        "ecgbyte_version": __version__,
        "encoder": parts.encoder,
        "fs": parts.fs,
        "leads": list(parts.leads),
        "alphabet": parts.merges.alphabet,
        "quantizer": parts.quantizer.to_dict(),
        "preprocess": parts.preprocess.to_dict() if parts.preprocess is not None else None,
        "preprocess_hash": parts.preprocess.hash() if parts.preprocess is not None else None,
        **preset,
        "training": {k: v for k, v in parts.info.items() if k != "converted_from"},
        "merges": merges,
    }


def from_config(cfg: Any, *, where: str) -> TokenizerParts:
    """Parse :func:`to_config` output back into parts; damaged content → :class:`TokenizerError`."""
    if not isinstance(cfg, dict):
        raise TokenizerError(
            f"{where}: expected a JSON object, got {type(cfg).__name__}; the file is damaged"
        )
    version = cfg.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TokenizerError(f"{where}: no integer 'format_version'; this is not an ecgbyte tokenizer config")
    if version > FORMAT_VERSION:
        raise TokenizerError(
            f"{where}: format_version {version} is newer than this ecgbyte reads ({FORMAT_VERSION}); "
            "upgrade ecgbyte (pip install -U ecgbyte)"
        )
    if cfg.get("format", FORMAT) != FORMAT:
        raise TokenizerError(
            f"{where}: holds a {cfg['format']!r} tokenizer, not an ECG-Byte one ({FORMAT!r}); load it with "
            "ecgbyte.ecg_tokenizer.load_ecg_tokenizer"
        )
    missing = [k for k in ("quantizer", "merges", "leads") if k not in cfg]
    if missing:
        raise TokenizerError(
            f"{where}: missing key(s) {', '.join(missing)}; the file is damaged, save it again"
        )
    try:
        merges = Merges.from_dict(cfg["merges"])
        quantizer = quantizer_from_dict(cfg["quantizer"])
        preprocess = (
            PreprocessConfig.from_dict(cfg["preprocess"]) if cfg.get("preprocess") is not None else None
        )
        alphabet = cfg.get("alphabet", merges.alphabet)
        if alphabet != merges.alphabet:
            raise TokenizerError(f"alphabet {alphabet!r} differs from the merges' {merges.alphabet!r}")
        info = dict(cfg.get("training") or {})
        preset = None if cfg.get("preset") is None else Preset.from_dict(cfg["preset"], where=where)
        if preset is not None and tuple(cfg["leads"]) != preset.leads:
            raise TokenizerError(f"leads {cfg['leads']} differ from the preset's {list(preset.leads)}")
        if "converted_from" in cfg["merges"]:
            info["converted_from"] = cfg["merges"]["converted_from"]
        return TokenizerParts(
            quantizer=quantizer,
            merges=merges,
            preprocess=preprocess,
            leads=tuple(cfg["leads"]),
            encoder=cfg.get("encoder", "bpe"),
            info=info,
            preset=preset,
        )
    except (EcgbyteError, TypeError, KeyError, AttributeError) as exc:
        if isinstance(exc, (TokenizerError, ConfigError)) and where in str(exc):
            raise
        raise TokenizerError(f"{where}: {exc}; the file is damaged or inconsistent, save it again") from exc


def file_texts(parts: TokenizerParts) -> dict[str, str]:
    """The two files' texts, by file name: what :func:`save` writes and the tokenizer hash covers."""
    from ecgbyte.bpe.hf import to_hf_tokenizer

    return {
        TOKENIZER_NAME: to_hf_tokenizer(parts.merges).to_str(pretty=True),
        CONFIG_NAME: json.dumps(to_config(parts), indent=2) + "\n",
    }


def content_hash(parts: TokenizerParts) -> str:
    """:func:`ecgbyte.fileio.hash_directory` of the folder :func:`save` would write, computed in memory."""
    return fileio.hash_files((name, text.encode("utf-8")) for name, text in file_texts(parts).items())


def save(parts: TokenizerParts, directory: str | Path) -> tuple[str, ...]:
    """Write both files into ``directory`` (created if needed); return their paths."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise TokenizerError(f"{directory}: exists and is not a directory; choose another output path")
    texts = file_texts(parts)
    return tuple(
        str(fileio.atomic_write_text(directory / name, texts[name])) for name in (TOKENIZER_NAME, CONFIG_NAME)
    )


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenizerError(
            f"{path}: not found; pass a directory written by ECGByteTokenizer.save_pretrained "
            "or `ecgbyte train-tokenizer`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"{path}: cannot read ({exc}); the file is damaged") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenizerError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); the file is damaged, "
            "save the tokenizer again"
        ) from exc


def _hf_merge_strings(model: dict[str, Any], where: Path) -> list[tuple[str, str]]:
    out = []
    for m in model.get("merges", []):
        if isinstance(m, str):
            parts = m.split(" ")
        elif isinstance(m, list):
            parts = m
        else:
            parts = []
        if len(parts) != 2:
            raise TokenizerError(f"{where}: merge {m!r} is not a pair; the file is damaged")
        out.append((str(parts[0]), str(parts[1])))
    return out


def load(directory: str | Path) -> TokenizerParts:
    """Read a tokenizer directory (local paths only), check its two files agree; return the parts."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TokenizerError(
            f"{directory}: not a directory; from_pretrained takes a local directory written by "
            "save_pretrained (hub names are not supported)"
        )
    cfg_path = directory / CONFIG_NAME
    parts = from_config(_read_json(cfg_path), where=str(cfg_path))
    hf_path = directory / TOKENIZER_NAME
    hf = _read_json(hf_path)
    model = hf.get("model") if isinstance(hf, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("vocab"), dict):
        raise TokenizerError(
            f"{hf_path}: no model.vocab; not a tokenizers BPE file, save the tokenizer again"
        )
    vocab = parts.merges.vocab()
    vocab_size = parts.merges.vocab_size
    expected_vocab = {s: i for i, s in enumerate(vocab)}
    hf_vocab = {
        k: v
        for k, v in model["vocab"].items()
        if k in expected_vocab or not isinstance(v, int) or v < vocab_size
    }
    if hf_vocab != expected_vocab:
        raise TokenizerError(
            f"{hf_path}: vocabulary ({len(hf_vocab)} tokens) does not match the merges in {cfg_path} "
            f"({vocab_size} tokens); the two files come from different tokenizers, save it again"
        )
    expected_merges = [(vocab[a], vocab[b]) for a, b in parts.merges.pairs.tolist()]
    if _hf_merge_strings(model, hf_path) != expected_merges:
        raise TokenizerError(
            f"{hf_path}: merges do not match those in {cfg_path}; the two files come from different "
            "tokenizers, save it again"
        )
    return parts
