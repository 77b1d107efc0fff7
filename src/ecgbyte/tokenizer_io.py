"""Files of an :class:`~ecgbyte.tokenizer.ECGByteTokenizer`: ``tokenizer.json`` + ``ecgbyte_config.json``.

- ``tokenizer.json``: the Hugging Face ``tokenizers`` file (from :func:`ecgbyte.bpe.hf.to_hf_tokenizer`),
  loadable by ``tokenizers.Tokenizer.from_file`` and ``PreTrainedTokenizerFast(tokenizer_file=...)``
  with no ecgbyte installed; it encodes one lead's symbol string exactly as ``encoder="bpe"``.
- ``ecgbyte_config.json``: ``{"format_version": 1, ...}`` with the quantizer, the preprocessing
  config, the alphabet, the lead order, the default encoder, the output rate ``fs`` and the merges
  (pairs and ids, the source of truth) with their metadata.

Loading checks that the two files agree (same vocabulary, same merges) and that the format is
not newer than this code; anything wrong raises :class:`~ecgbyte.errors.TokenizerError` naming the
file and what to do. Writes are atomic (temp file + ``os.replace``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecgbyte import fileio
from ecgbyte.bpe.merges import Merges
from ecgbyte.errors import ConfigError, EcgbyteError, TokenizerError
from ecgbyte.signal.config import PreprocessConfig

if TYPE_CHECKING:
    from ecgbyte.tokenizer import ECGByteTokenizer

FORMAT = "ecgbyte.tokenizer"
FORMAT_VERSION = 1
CONFIG_NAME = "ecgbyte_config.json"
TOKENIZER_NAME = "tokenizer.json"


def to_config(tok: ECGByteTokenizer) -> dict[str, Any]:
    """The content of ``ecgbyte_config.json`` (``format_version`` first)."""
    from ecgbyte import __version__

    merges = tok.merges.to_dict()
    merges.update({"n_merges": len(tok.merges), "vocab_size": tok.vocab_size})
    merges.update({k: v for k, v in tok.info.items() if k == "converted_from"})
    return {
        "format_version": FORMAT_VERSION,
        "format": FORMAT,
        "ecgbyte_version": __version__,
        "encoder": tok.encoder,
        "fs": tok.fs,
        "leads": list(tok.leads),
        "alphabet": tok.merges.alphabet,
        "quantizer": tok.quantizer.to_dict(),
        "preprocess": tok.preprocess.to_dict() if tok.preprocess is not None else None,
        "preprocess_hash": tok.preprocess.hash() if tok.preprocess is not None else None,
        "training": {k: v for k, v in tok.info.items() if k != "converted_from"},
        "merges": merges,
    }


def from_config(cfg: Any, *, where: str) -> ECGByteTokenizer:
    """Rebuild a tokenizer from :func:`to_config` output; damaged content → :class:`TokenizerError`."""
    from ecgbyte.symbols import Quantizer
    from ecgbyte.tokenizer import ECGByteTokenizer

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
    missing = [k for k in ("quantizer", "merges", "leads") if k not in cfg]
    if missing:
        raise TokenizerError(
            f"{where}: missing key(s) {', '.join(missing)}; the file is damaged, save it again"
        )
    try:
        merges = Merges.from_dict(cfg["merges"])
        quantizer = Quantizer.from_dict(cfg["quantizer"])
        preprocess = (
            PreprocessConfig.from_dict(cfg["preprocess"]) if cfg.get("preprocess") is not None else None
        )
        alphabet = cfg.get("alphabet", merges.alphabet)
        if alphabet != merges.alphabet:
            raise TokenizerError(f"alphabet {alphabet!r} differs from the merges' {merges.alphabet!r}")
        info = dict(cfg.get("training") or {})
        if "converted_from" in cfg["merges"]:
            info["converted_from"] = cfg["merges"]["converted_from"]
        return ECGByteTokenizer(
            quantizer=quantizer,
            merges=merges,
            preprocess=preprocess,
            leads=tuple(cfg["leads"]),
            encoder=cfg.get("encoder", "bpe"),
            info=info,
        )
    except (EcgbyteError, TypeError, KeyError, AttributeError) as exc:
        if isinstance(exc, (TokenizerError, ConfigError)) and where in str(exc):
            raise
        raise TokenizerError(f"{where}: {exc}; the file is damaged or inconsistent, save it again") from exc


def save(tok: ECGByteTokenizer, directory: str | Path) -> tuple[str, ...]:
    """Write both files into ``directory`` (created if needed); return their paths."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise TokenizerError(f"{directory}: exists and is not a directory; choose another output path")
    hf_text = tok.to_tokenizers().to_str(pretty=True)
    cfg_text = json.dumps(to_config(tok), indent=2) + "\n"
    return (
        str(fileio.atomic_write_text(directory / TOKENIZER_NAME, hf_text)),
        str(fileio.atomic_write_text(directory / CONFIG_NAME, cfg_text)),
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


def load(directory: str | Path) -> ECGByteTokenizer:
    """Load a tokenizer directory (local paths only) and check its two files agree."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TokenizerError(
            f"{directory}: not a directory; from_pretrained takes a local directory written by "
            "save_pretrained (hub names are not supported)"
        )
    cfg_path = directory / CONFIG_NAME
    tok = from_config(_read_json(cfg_path), where=str(cfg_path))
    hf_path = directory / TOKENIZER_NAME
    hf = _read_json(hf_path)
    model = hf.get("model") if isinstance(hf, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("vocab"), dict):
        raise TokenizerError(
            f"{hf_path}: no model.vocab; not a tokenizers BPE file, save the tokenizer again"
        )
    expected_vocab = {s: i for i, s in enumerate(tok.vocab)}
    hf_vocab = {
        k: v
        for k, v in model["vocab"].items()
        if k in expected_vocab or not isinstance(v, int) or v < tok.vocab_size
    }
    if hf_vocab != expected_vocab:
        raise TokenizerError(
            f"{hf_path}: vocabulary ({len(hf_vocab)} tokens) does not match the merges in {cfg_path} "
            f"({tok.vocab_size} tokens); the two files come from different tokenizers, save it again"
        )
    vocab = tok.vocab
    expected_merges = [(vocab[a], vocab[b]) for a, b in tok.merges.pairs.tolist()]
    if _hf_merge_strings(model, hf_path) != expected_merges:
        raise TokenizerError(
            f"{hf_path}: merges do not match those in {cfg_path}; the two files come from different "
            "tokenizers, save it again"
        )
    return tok
