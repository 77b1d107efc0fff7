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

Loading never executes pickle code: the opcodes are first scanned (``pickletools.genops``, pure
Python, which checks every length a pickle claims against the bytes that remain, so a pickle
claiming a 2**60-byte string is refused without allocating it) and any opcode that could call
or build something other than plain data is refused; :class:`_PlainUnpickler` then refuses every
global and persistent id again. The result is checked to be plain containers of
``int``/``str``/``bytes`` by one walk that visits each object once (shared references, the
"memo bomb", are not walked again) within :data:`~ecgbyte.limits.MAX_PICKLE_DEPTH` levels. The
file size, the number of merges and the symbols in them are bounded (:mod:`ecgbyte.limits`), and
so is the work of rebuilding the merge pairs.

Id mapping to ecgbyte: symbol ``chr(97 + s)`` (their id ``97 + s``) is our id ``s`` (0..25); their
merge ids ``256 + i`` map in rank order to ``26 + (number of distinct new strings before it)``
(a merge whose string already exists keeps the existing id, as in HF ``tokenizers``).
:attr:`OriginalTokenizer.id_map` holds the mapping (theirs → ours) and is saved in
``ecgbyte_config.json`` under ``merges.converted_from.id_map``.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.errors import TokenizerError
from ecgbyte.limits import MAX_MERGES, MAX_PICKLE_BYTES, MAX_PICKLE_DEPTH, MAX_TOKEN_SYMBOLS

MAX_MERGE_SYMBOLS = 1 << 24
"""Symbols over all merged tokens of a pickle (a 5000-merge tokenizer has tens of thousands)."""
MAX_SPLIT_WORK = 1 << 32
"""Sum of squared token lengths: the work of :func:`split_pairs` (characters compared)."""

ORIGINAL_SYMBOL_OFFSET = 97  # their id of symbol 'a'
ORIGINAL_FIRST_MERGE_ID = 256
_N_SYMBOLS = 26
_MAX_ORIGINAL_ID = 2**31 - 1  # their ids are int32 in every file they wrote


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain data: no globals, no persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only plain containers, str, bytes and int are allowed"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids")


# opcodes that resolve a name, call something or build an object: never in a plain-data pickle
_REFUSED_OPCODES = frozenset(
    (
        "GLOBAL",
        "STACK_GLOBAL",
        "INST",
        "OBJ",
        "NEWOBJ",
        "NEWOBJ_EX",
        "REDUCE",
        "BUILD",
        "PERSID",
        "BINPERSID",
        "EXT1",
        "EXT2",
        "EXT4",
        "BYTEARRAY8",
        "NEXT_BUFFER",
        "READONLY_BUFFER",
    )
)


def safe_load_pickle(data: bytes, *, where: str = "<bytes>") -> Any:
    """Unpickle ``data`` admitting plain containers (dict/list/tuple/set), str, bytes, int only.

    Raises :class:`TokenizerError` naming ``where`` for anything else (a class, a function, a
    ``__reduce__`` payload, a truncated or non-pickle file, a length the file does not hold,
    more than :data:`~ecgbyte.limits.MAX_PICKLE_BYTES` or deeper than
    :data:`~ecgbyte.limits.MAX_PICKLE_DEPTH` nested containers).
    """
    if len(data) > MAX_PICKLE_BYTES:
        raise TokenizerError(
            f"{where}: {len(data)} bytes, more than an ECG-Byte tokenizer pickle holds ({MAX_PICKLE_BYTES})"
        )
    hint = (
        "only (vocab, merges) pickles of dicts, lists, strings and ints are accepted, and no pickle code "
        "is ever run"
    )
    try:
        for op, _arg, _pos in pickletools.genops(data):
            if op.name in _REFUSED_OPCODES:
                raise pickle.UnpicklingError(f"refusing to load global or run code (opcode {op.name})")
        obj = _PlainUnpickler(io.BytesIO(data)).load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        MemoryError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise TokenizerError(f"{where}: not a plain-data pickle ({str(exc)[:200]}); {hint}") from None
    _check_plain(obj, where)
    return obj


def _check_plain(obj: Any, where: str) -> None:
    """Plain data only, walked once per object (iteratively): no exponential walk over shared references."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (str, bytes, int)) and not isinstance(item, bool):
            continue
        if depth >= MAX_PICKLE_DEPTH:
            raise TokenizerError(f"{where}: pickle nests deeper than a (vocab, merges) tokenizer can")
        if id(item) in seen:  # a shared reference (or a cycle): its content was checked already
            continue
        if isinstance(item, dict):
            seen.add(id(item))
            stack.extend((x, depth + 1) for kv in item.items() for x in kv)
        elif isinstance(item, (list, tuple, set, frozenset)):
            seen.add(id(item))
            stack.extend((x, depth + 1) for x in item)
        else:
            raise TokenizerError(
                f"{where}: pickle holds a {type(item).__name__}; expected only containers, str, bytes, int"
            )


def _short(obj: Any) -> str:
    """A bounded description of a pickled value (``repr`` of a shared-reference bomb never ends)."""
    if isinstance(obj, (int, str, bytes)) and not isinstance(obj, bool):
        text = repr(obj[:40] if isinstance(obj, (str, bytes)) else obj)
        return text if len(text) <= 60 else text[:57] + "..."
    size = f" of {len(obj)}" if isinstance(obj, (list, tuple, dict, set, frozenset)) else ""
    return f"a {type(obj).__name__}{size}"


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
        if path.stat().st_size > MAX_PICKLE_BYTES:
            raise TokenizerError(
                f"{path}: {path.stat().st_size} bytes, more than an ECG-Byte tokenizer pickle holds "
                f"({MAX_PICKLE_BYTES}); this is not a tokenizer pickle"
            )
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
    if len(merges) > MAX_MERGES:
        raise TokenizerError(f"{where}: {len(merges)} merges, more than ecgbyte accepts ({MAX_MERGES})")
    strings: dict[int, str] = {b: (chr(b) if b <= 127 else f"<{b}>") for b in range(256)}
    tokens: list[str] = []
    original_ids: list[int] = []
    n_symbols = work = 0
    for i, item in enumerate(merges):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], int)):
            raise TokenizerError(f"{where}: merge #{i} is not a (byte sequence, id) pair: {_short(item)}")
        seq, tid = item
        if not isinstance(seq, (list, tuple, bytes)) or not 2 <= len(seq) <= MAX_TOKEN_SYMBOLS:
            raise TokenizerError(
                f"{where}: merge #{i} has no byte sequence of length >= 2 (and <= {MAX_TOKEN_SYMBOLS}): {_short(seq)}"
            )
        n_symbols, work = n_symbols + len(seq), work + len(seq) ** 2
        if n_symbols > MAX_MERGE_SYMBOLS:
            raise TokenizerError(
                f"{where}: the merged tokens hold more symbols than a tokenizer has ({n_symbols} by merge #{i}, "
                f"at most {MAX_MERGE_SYMBOLS}); this is not an ECG-Byte tokenizer"
            )
        if work > MAX_SPLIT_WORK:
            raise TokenizerError(
                f"{where}: the merged tokens are too long to rebuild their pairs (sum of squared lengths "
                f"{work} by merge #{i}, at most {MAX_SPLIT_WORK}); this is not an ECG-Byte tokenizer"
            )
        if not all(isinstance(b, int) for b in seq):
            raise TokenizerError(f"{where}: merge #{i} holds a byte that is not an int: {_short(seq)}")
        bad = [b for b in seq if not ORIGINAL_SYMBOL_OFFSET <= b < ORIGINAL_SYMBOL_OFFSET + _N_SYMBOLS]
        if bad:
            raise TokenizerError(
                f"{where}: merge #{i} holds byte {bad[0]}, outside the ECG symbols 'a'..'z' (97..122); "
                "this is not an ECG-Byte tokenizer"
            )
        text = "".join(chr(b) for b in seq)
        if isinstance(tid, bool) or not ORIGINAL_FIRST_MERGE_ID <= tid <= _MAX_ORIGINAL_ID:
            raise TokenizerError(
                f"{where}: merge #{i} has id {_short(tid)}, outside {ORIGINAL_FIRST_MERGE_ID}..{_MAX_ORIGINAL_ID}; "
                "the file is damaged"
            )
        if tid in strings:
            raise TokenizerError(f"{where}: merge #{i} reuses id {tid}; the file is damaged")
        strings[tid] = text
        tokens.append(text)
        original_ids.append(tid)
    if isinstance(vocab, dict):
        for tid, text in zip(original_ids, tokens):
            if tid in vocab and vocab[tid] != text:
                raise TokenizerError(
                    f"{where}: vocab[{tid}] = {_short(vocab[tid])} but merges say {_short(text)}; the file is damaged"
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
