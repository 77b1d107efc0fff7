"""Reading the original ECG-Byte / ECG-Bench tokenizer pickles safely, and converting them.

The paper's code (``willxxy/ECG-Byte``, ``utils/tokenizer_utils.save_vocab_and_merges``) and
ECG-Bench (``ecg_byte_tokenizer_5000_500000.pkl`` and friends) store a tokenizer as
``pickle.dump((vocab, merges))`` of what their Rust trainer returns:

- ``vocab``: ``dict[int, str]``; ids 0..255 are bytes (``chr(b)`` for b <= 127, ``"<b>"`` above),
  id ``256 + i`` is the string of the i-th merge;
- ``merges``: ``list[tuple[list[int], int]]``; the i-th item is ``(byte sequence of the merged
  token, 256 + i)``. The pair that was merged is not stored, only the flattened bytes.

Their corpus is the symbols ``'a'..'z'`` (bytes 97..122), so every merged token is a string of
those letters. Their encoder is greedy longest match over all tokens (a trie).

Loading never executes pickle code: :class:`_PlainUnpickler` refuses every global (so no
``__reduce__`` payload, class or function can be resolved) and every persistent id, and the
result is then checked to be plain containers of ``int``/``str``/``bytes``.

Id mapping to ecgbyte: symbol ``chr(97 + s)`` (their id ``97 + s``) is our id ``s`` (0..25); their
merge ids ``256 + i`` map in rank order to ``26 + (number of distinct new strings before it)``
(a merge whose string already exists keeps the existing id, as in HF ``tokenizers``).
:attr:`OriginalTokenizer.id_map` holds the mapping (theirs → ours) and is saved in
``ecgbyte_config.json`` under ``merges.converted_from.id_map``.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.errors import TokenizerError

ORIGINAL_SYMBOL_OFFSET = 97  # their id of symbol 'a'
ORIGINAL_FIRST_MERGE_ID = 256
_N_SYMBOLS = 26


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain data: no globals, no persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only plain containers, str, bytes and int are allowed"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids")


def safe_load_pickle(data: bytes, *, where: str = "<bytes>") -> Any:
    """Unpickle ``data`` admitting plain containers (dict/list/tuple/set), str, bytes, int only.

    Raises :class:`TokenizerError` naming ``where`` for anything else (a class, a function, a
    ``__reduce__`` payload, a truncated or non-pickle file).
    """
    try:
        obj = _PlainUnpickler(io.BytesIO(data)).load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
    ) as exc:
        raise TokenizerError(
            f"{where}: not a plain-data pickle ({exc}); only (vocab, merges) pickles of dicts, lists, "
            "strings and ints are accepted, and no pickle code is ever run"
        ) from exc
    _check_plain(obj, where)
    return obj


def _check_plain(obj: Any, where: str, depth: int = 0) -> None:
    if depth > 20:
        raise TokenizerError(f"{where}: pickle nests deeper than a (vocab, merges) tokenizer can")
    if isinstance(obj, (str, bytes, int)) and not isinstance(obj, bool):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, where, depth + 1)
            _check_plain(v, where, depth + 1)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _check_plain(v, where, depth + 1)
        return
    raise TokenizerError(
        f"{where}: pickle holds a {type(obj).__name__}; expected only containers, str, bytes, int"
    )


@dataclass(frozen=True)
class OriginalTokenizer:
    """A tokenizer read from an original ECG-Byte pickle, in both id spaces.

    Attributes
    ----------
    tokens : the merged token strings in their merge order (``'a'..'z'`` letters).
    original_ids : their id of each merged token (``256 + i``).
    pairs : int32 ``[n, 2]`` our (left id, right id) for each merge (a reconstruction, see
        :func:`split_pairs`).
    ids : int32 ``[n]`` our id of each merge's string.
    id_map : ``{their id: our id}`` for the 26 symbols and every merge.
    """

    tokens: tuple[str, ...]
    original_ids: tuple[int, ...]
    pairs: np.ndarray
    ids: np.ndarray
    id_map: dict[int, int]


def read_original(path: str | Path) -> OriginalTokenizer:
    """Read an original ``(vocab, merges)`` pickle without running pickle code."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TokenizerError(f"{path}: cannot read the pickle ({exc.strerror}); check the path") from exc
    obj = safe_load_pickle(data, where=str(path))
    return parse_original(obj, where=str(path))


def parse_original(obj: Any, *, where: str = "<pickle>") -> OriginalTokenizer:
    """Validate the unpickled ``(vocab, merges)`` and map it to ecgbyte ids."""
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2 and isinstance(obj[1], (list, tuple))):
        raise TokenizerError(
            f"{where}: expected a (vocab, merges) pair as saved by ECG-Byte's save_vocab_and_merges, "
            f"got {type(obj).__name__}"
        )
    vocab, merges = obj
    strings: dict[int, str] = {b: (chr(b) if b <= 127 else f"<{b}>") for b in range(256)}
    tokens: list[str] = []
    original_ids: list[int] = []
    for i, item in enumerate(merges):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], int)):
            raise TokenizerError(f"{where}: merge #{i} is not a (byte sequence, id) pair: {item!r:.80}")
        seq, tid = item
        if not (
            isinstance(seq, (list, tuple, bytes)) and len(seq) >= 2 and all(isinstance(b, int) for b in seq)
        ):
            raise TokenizerError(f"{where}: merge #{i} has no byte sequence of length >= 2: {seq!r:.80}")
        bad = [b for b in seq if not ORIGINAL_SYMBOL_OFFSET <= b < ORIGINAL_SYMBOL_OFFSET + _N_SYMBOLS]
        if bad:
            raise TokenizerError(
                f"{where}: merge #{i} holds byte {bad[0]}, outside the ECG symbols 'a'..'z' (97..122); "
                "this is not an ECG-Byte tokenizer"
            )
        text = "".join(chr(b) for b in seq)
        if tid in strings or tid < ORIGINAL_FIRST_MERGE_ID:
            raise TokenizerError(f"{where}: merge #{i} reuses id {tid}; the file is damaged")
        strings[tid] = text
        tokens.append(text)
        original_ids.append(tid)
    if isinstance(vocab, dict):
        for tid, text in zip(original_ids, tokens):
            if tid in vocab and vocab[tid] != text:
                raise TokenizerError(
                    f"{where}: vocab[{tid}] = {vocab[tid]!r:.40} but merges say {text!r:.40}; the file is damaged"
                )
    elif vocab is not None:
        raise TokenizerError(f"{where}: vocab is a {type(vocab).__name__}, expected a dict of id -> string")
    pairs, ids = split_pairs(tokens, where=where)
    id_map = {ORIGINAL_SYMBOL_OFFSET + s: s for s in range(_N_SYMBOLS)}
    id_map.update({tid: int(our) for tid, our in zip(original_ids, ids)})
    return OriginalTokenizer(tuple(tokens), tuple(original_ids), pairs, ids, id_map)


def split_pairs(
    tokens: list[str] | tuple[str, ...], *, where: str = "<pickle>"
) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild (left, right) merge pairs for merged token strings given in merge order.

    The original files keep only each merged token's letters, so the pair is reconstructed: of
    all splits of the string into two tokens that existed before it, the one whose newer half
    was created last is taken (ties: the longer left half). Greedy encoding depends only on the
    set of strings and is exact; rank-ordered BPE with reconstructed pairs may differ from a
    BPE that knew the true pairs where a string had several possible splits.

    Returns ``(pairs int32 [n, 2], ids int32 [n])`` in ecgbyte ids.
    """
    rank: dict[str, int] = {chr(ORIGINAL_SYMBOL_OFFSET + s): s for s in range(_N_SYMBOLS)}
    pairs = np.zeros((len(tokens), 2), dtype=np.int32)
    ids = np.zeros(len(tokens), dtype=np.int32)
    next_id = _N_SYMBOLS
    for i, text in enumerate(tokens):
        best: tuple[int, int, int, int] | None = None
        for cut in range(1, len(text)):
            left, right = rank.get(text[:cut]), rank.get(text[cut:])
            if left is None or right is None:
                continue
            key = (max(left, right), cut, left, right)
            if best is None or key > best:
                best = key
        if best is None:
            raise TokenizerError(
                f"{where}: merged token #{i} {text!r:.40} is not the join of two earlier tokens; the file is damaged"
            )
        pairs[i] = best[2], best[3]
        if text in rank:
            ids[i] = rank[text]
        else:
            ids[i] = rank[text] = next_id
            next_id += 1
    return pairs, ids


def convert_original_tokenizer(
    pickle_path: str | Path,
    out_dir: str | Path | None = None,
    *,
    p1: float,
    p99: float,
    preprocess: Any = "default",
    encoder: str = "greedy",
) -> tuple[Any, tuple[str, ...]]:
    """Convert an original ``(vocab, merges)`` pickle into an :class:`ECGByteTokenizer`.

    Parameters
    ----------
    pickle_path : the original tokenizer pickle (never executed, see :func:`safe_load_pickle`).
    out_dir : where to save the converted tokenizer (``save_pretrained``); ``None`` saves nothing.
    p1, p99 : the dataset percentiles (mV) the original was trained with; the pickle does not
        hold them (ECG-Bench keeps them in a separate ``*_percentiles_*.npy``).
    preprocess : ``PreprocessConfig`` to attach (default: the paper's recipe), or ``None``.
    encoder : default encoder of the result; ``"greedy"`` reproduces the original exactly.

    Returns
    -------
    ``(tokenizer, paths written)``; ``tokenizer.info["converted_from"]`` holds the source path and
    the id map (their id → ours, as string keys in JSON).
    """
    from ecgbyte.bpe.merges import Merges
    from ecgbyte.signal.config import PreprocessConfig
    from ecgbyte.symbols import Quantizer
    from ecgbyte.tokenizer import ECGByteTokenizer

    orig = read_original(pickle_path)
    merges = Merges(orig.pairs, orig.ids)
    cfg = PreprocessConfig() if isinstance(preprocess, str) and preprocess == "default" else preprocess
    tok = ECGByteTokenizer(
        quantizer=Quantizer(p1=p1, p99=p99),
        merges=merges,
        preprocess=cfg,
        encoder=encoder,
        info={
            "converted_from": {
                "path": str(pickle_path),
                "format": "ECG-Byte (vocab, merges) pickle",
                "n_original_merges": len(orig.tokens),
                "id_map": {str(k): v for k, v in sorted(orig.id_map.items())},
            }
        },
    )
    paths = tok.save_pretrained(out_dir) if out_dir is not None else ()
    return tok, paths
