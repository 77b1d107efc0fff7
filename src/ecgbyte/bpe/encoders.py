"""Encoders: symbol codes -> token ids, with a compiled fast path and a pure-Python twin.

Two encoders, named for what they do (tiktoken style, the reference twin next to the fast one):

- :func:`encode_bpe`: canonical, rank-ordered BPE. Repeatedly merge the adjacent pair with the
  lowest merge rank, the leftmost one among equal ranks. This is exactly what HF ``tokenizers``
  does with the ``tokenizer.json`` from :func:`ecgbyte.bpe.hf.to_hf_tokenizer` (tested).
  ``"aaa"`` with the single merge ``a+a`` gives ``[aa, a]``.
- :func:`encode_greedy`: the original ECG-Byte encoder (``encode_text`` / ``encode_symbol`` in
  the Rust extension of willxxy/ECG-Byte and ECG-Bench): from the current position, walk a trie
  of every token string (all single symbols plus every merged string), emit the *longest* token
  that matches, continue right after it. A token reached only through a longer walk that then
  fails still counts (the last token seen on the walk wins). When nothing matches the original
  emits the raw symbol; here every single symbol is a token, so a match of length >= 1 always
  exists. The original encodes the 12 leads of an ECG concatenated into one string, so its
  tokens may straddle leads; here each sequence is encoded alone (pass the concatenation to get
  the original behaviour).

Both are lossless: ``decode_ids(encode_*(codes, m), m) == codes``. The ``*_batch`` variants
encode many sequences (leads of many ECGs) in one compiled call and return an
:class:`EncodedBatch` (flat int32 ids + int64 offsets); ``num_workers > 1`` splits the
sequences over threads (the kernels release the GIL); results do not depend on it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ecgbyte.bpe._encode_bpe import bpe_encode_flat
from ecgbyte.bpe._encode_greedy import build_trie, decode_flat, greedy_encode_flat
from ecgbyte.bpe._encode_table import RANK_BITS, build_pair_table, build_rank_tables
from ecgbyte.bpe.merges import Merges
from ecgbyte.errors import TokenizerError
from ecgbyte.limits import cap_workers

__all__ = [
    "EncodedBatch",
    "EncoderTables",
    "decode_ids",
    "encode_bpe",
    "encode_bpe_batch",
    "encode_bpe_reference",
    "encode_greedy",
    "encode_greedy_batch",
    "encode_greedy_reference",
    "encoder_tables",
]


class EncodedBatch(NamedTuple):
    """Token ids of many sequences packed flat: sequence ``i`` is ``ids[offsets[i]:offsets[i + 1]]``.

    ``ids`` is int32 ``[total]``, ``offsets`` int64 ``[n_sequences + 1]``.
    """

    ids: np.ndarray
    offsets: np.ndarray

    def split(self) -> list[np.ndarray]:
        """One int32 id array per sequence (views into ``ids``)."""
        return [self.ids[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]


@dataclass(frozen=True, eq=False)
class EncoderTables:
    """Arrays compiled once per :class:`Merges` for the kernels (see :func:`encoder_tables`)."""

    merges: Merges
    vocab_size: int
    pair_table: np.ndarray  # int64 open-addressing table (left, right) -> rank, see the kernels
    pair_first: np.ndarray  # int32 [alphabet_size ** 2] rank of each pair of single symbols
    self_rank: np.ndarray  # int32 [vocab_size] rank of the pair (t, t) of each token t, -1: none
    rank_lz: np.ndarray  # int32 [n_merges] rank of (left[r], new_ids[r]), -1: none
    rank_zr: np.ndarray  # int32 [n_merges] rank of (new_ids[r], right[r]), -1: none
    left: np.ndarray  # int32 [n_merges]
    right: np.ndarray  # int32 [n_merges]
    new_ids: np.ndarray  # int32 [n_merges]
    token_codes: np.ndarray  # int32: symbol codes of every token, concatenated by id
    token_offsets: np.ndarray  # int64 [vocab_size + 1]
    token_lengths: np.ndarray  # int32 [vocab_size] symbols per token
    trie_child: np.ndarray  # int32 [n_nodes, alphabet_size]
    trie_token: np.ndarray  # int32 [n_nodes]


_CACHE: list[tuple[Merges, EncoderTables]] = []
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def encoder_tables(merges: Merges | EncoderTables) -> EncoderTables:
    """Compile (or fetch from a small cache) the lookup tables the kernels need.

    Parameters
    ----------
    merges : Merges or EncoderTables
        The merges; tables are returned unchanged. The last few ``Merges`` objects are cached
        by identity (a ``Merges`` is immutable), so repeated calls cost nothing.
    """
    if isinstance(merges, EncoderTables):
        return merges
    if not isinstance(merges, Merges):
        raise TokenizerError(f"expected ecgbyte.bpe.Merges, got {type(merges).__name__}")
    with _CACHE_LOCK:
        for cached, tables in _CACHE:
            if cached is merges:
                return tables
    tables = _build_tables(merges)
    with _CACHE_LOCK:
        _CACHE.insert(0, (merges, tables))
        del _CACHE[_CACHE_SIZE:]
    return tables


def _build_tables(merges: Merges) -> EncoderTables:
    vocab_size = merges.vocab_size
    left = np.ascontiguousarray(merges.pairs[:, 0], dtype=np.int32)
    right = np.ascontiguousarray(merges.pairs[:, 1], dtype=np.int32)
    new_ids = np.ascontiguousarray(merges.ids, dtype=np.int32)
    if len(merges) >= 1 << RANK_BITS or vocab_size**2 >= 1 << (63 - RANK_BITS):
        raise TokenizerError(
            f"{len(merges)} merges / vocabulary of {vocab_size} are past the encoders' limits "
            f"({(1 << RANK_BITS) - 1} merges); use fewer merges"
        )
    table_size = 1 << max(4, (2 * max(len(merges), 1) - 1).bit_length())  # load factor <= 1/2
    table, first = build_pair_table(left, right, np.int64(vocab_size), table_size, merges.alphabet_size)
    self_rank, rank_lz, rank_zr = build_rank_tables(table, np.int64(vocab_size), left, right, new_ids)
    # symbol codes of each token, by id (a reused id keeps its first, identical, string)
    lengths = merges.token_lengths().astype(np.int64)
    offsets = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = np.empty(int(offsets[-1]), dtype=np.int32)
    codes[: merges.alphabet_size] = np.arange(merges.alphabet_size, dtype=np.int32)
    seen = np.zeros(vocab_size, dtype=bool)
    seen[: merges.alphabet_size] = True
    for (a, b), z in zip(merges.pairs.tolist(), merges.ids.tolist()):
        if not seen[z]:
            la = offsets[a + 1] - offsets[a]
            codes[offsets[z] : offsets[z] + la] = codes[offsets[a] : offsets[a + 1]]
            codes[offsets[z] + la : offsets[z + 1]] = codes[offsets[b] : offsets[b + 1]]
            seen[z] = True
    child, token = build_trie(codes, offsets, merges.alphabet_size)
    tables = EncoderTables(
        merges,
        vocab_size,
        pair_table=table,
        pair_first=first,
        self_rank=self_rank,
        rank_lz=rank_lz,
        rank_zr=rank_zr,
        left=left,
        right=right,
        new_ids=new_ids,
        token_codes=codes,
        token_offsets=offsets,
        token_lengths=lengths.astype(np.int32),
        trie_child=child,
        trie_token=token,
    )
    for arr in vars(tables).values():
        if isinstance(arr, np.ndarray):
            arr.setflags(write=False)
    return tables


# ---------------------------------------------------------------------------- input checks


def _code_dtype(alphabet_size: int) -> type:
    """uint8 codes while the alphabet fits a byte (the quantizer's output goes in uncopied), else int32."""
    return np.uint8 if alphabet_size <= 256 else np.int32


def _as_codes(codes: np.ndarray | Sequence[int], alphabet_size: int, where: str) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.ndim != 1:
        raise TokenizerError(
            f"{where}: symbol codes must be 1-D (one lead), got shape {arr.shape}; "
            "encode leads one at a time or use the *_batch functions"
        )
    if arr.size == 0:
        return np.zeros(0, dtype=_code_dtype(alphabet_size))
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise TokenizerError(f"{where}: symbol codes must be integers, got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= alphabet_size:
        bad = int(np.flatnonzero((arr < 0) | (arr >= alphabet_size))[0])
        raise TokenizerError(
            f"{where}: symbol code {int(arr[bad])} at position {bad} is outside the alphabet "
            f"0..{alphabet_size - 1}; symbolize the signal with the tokenizer's quantizer"
        )
    return np.ascontiguousarray(arr, dtype=_code_dtype(alphabet_size))


def _flatten(
    sequences: Sequence[np.ndarray] | np.ndarray, alphabet_size: int
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(sequences, np.ndarray) and sequences.ndim == 2:  # [n_sequences, n_symbols]: no copy per row
        n, length = sequences.shape
        try:
            flat = _as_codes(sequences.reshape(-1), alphabet_size, "sequences")
        except TokenizerError:
            if not np.issubdtype(sequences.dtype, np.integer):
                raise
            row = int(np.flatnonzero(((sequences < 0) | (sequences >= alphabet_size)).any(axis=1))[0])
            _as_codes(sequences[row], alphabet_size, f"sequence {row}")  # raises with the position
            raise
        return flat, np.arange(n + 1, dtype=np.int64) * length
    if isinstance(sequences, np.ndarray) and sequences.ndim == 1 and sequences.dtype != object:
        raise TokenizerError(
            "batch encoders take a list of 1-D code arrays (or a 2-D [sequences, symbols] array); "
            "got one 1-D array: wrap it in a list or call the single-sequence encoder"
        )
    arrays = [_as_codes(s, alphabet_size, f"sequence {i}") for i, s in enumerate(sequences)]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.size for a in arrays], out=offsets[1:])
    dtype = _code_dtype(alphabet_size)
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
    return np.ascontiguousarray(flat, dtype=dtype), offsets


# ---------------------------------------------------------------------------- compiled encoders


def _run(kind: str, flat: np.ndarray, offsets: np.ndarray, t: EncoderTables) -> EncodedBatch:
    out = np.empty(flat.size, dtype=np.int32)
    out_offsets = np.empty(offsets.size, dtype=np.int64)
    if kind == "bpe":
        n = bpe_encode_flat(
            flat,
            offsets,
            t.pair_table,
            t.pair_first,
            t.self_rank,
            t.rank_lz,
            t.rank_zr,
            t.token_lengths,
            np.int64(t.merges.alphabet_size),
            np.int64(t.vocab_size),
            t.left,
            t.right,
            t.new_ids,
            out,
            out_offsets,
        )
    else:
        n = greedy_encode_flat(flat, offsets, t.trie_child, t.trie_token, out, out_offsets)
    return EncodedBatch(out[:n].copy() if n < out.size // 2 else out[:n], out_offsets)


def _batch(kind: str, sequences, merges, num_workers: int) -> EncodedBatch:
    t = encoder_tables(merges)
    if not isinstance(num_workers, (int, np.integer)) or num_workers < 1:
        raise TokenizerError(f"num_workers must be a positive integer, got {num_workers!r}")
    num_workers = cap_workers(int(num_workers), "num_workers")
    flat, offsets = _flatten(sequences, t.merges.alphabet_size)
    n_seq = offsets.size - 1
    if num_workers == 1 or n_seq < 2:
        return _run(kind, flat, offsets, t)
    # contiguous chunks of about equal symbol counts, one per worker
    cuts = np.searchsorted(offsets, np.linspace(0, offsets[-1], num_workers + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], cuts, [n_seq]]))
    chunks = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]

    def work(ab: tuple[int, int]) -> EncodedBatch:
        a, b = ab
        return _run(kind, flat[offsets[a] : offsets[b]], offsets[a : b + 1] - offsets[a], t)

    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        parts = list(pool.map(work, chunks))
    ids = np.concatenate([p.ids for p in parts])
    out_offsets = np.zeros(n_seq + 1, dtype=np.int64)
    base = 0
    for (a, b), p in zip(chunks, parts):
        out_offsets[a + 1 : b + 1] = p.offsets[1:] + base
        base += p.offsets[-1]
    return EncodedBatch(ids, out_offsets)


def encode_bpe(codes: np.ndarray | Sequence[int], merges: Merges | EncoderTables) -> np.ndarray:
    """Rank-ordered BPE of one symbol sequence (one lead).

    Parameters
    ----------
    codes : array of int, shape ``[n_symbols]``
        Symbol codes ``0 .. alphabet_size - 1`` (uint8 from the quantizer, or any integer type).
    merges : Merges or EncoderTables
        The trained merges.

    Returns
    -------
    numpy.ndarray
        int32 ``[n_tokens]`` token ids, identical to HF ``tokenizers`` on the exported file.

    Raises
    ------
    TokenizerError
        If ``codes`` is not 1-D integers inside the alphabet.
    """
    t = encoder_tables(merges)
    flat = _as_codes(codes, t.merges.alphabet_size, "encode_bpe")
    return _run("bpe", flat, np.array([0, flat.size], dtype=np.int64), t).ids


def encode_greedy(codes: np.ndarray | Sequence[int], merges: Merges | EncoderTables) -> np.ndarray:
    """Greedy longest-match encoding of one symbol sequence (the original ECG-Byte encoder).

    Parameters and errors as :func:`encode_bpe`; returns int32 ``[n_tokens]`` token ids.
    """
    t = encoder_tables(merges)
    flat = _as_codes(codes, t.merges.alphabet_size, "encode_greedy")
    return _run("greedy", flat, np.array([0, flat.size], dtype=np.int64), t).ids


def encode_bpe_batch(
    sequences: Sequence[np.ndarray] | np.ndarray, merges: Merges | EncoderTables, num_workers: int = 1
) -> EncodedBatch:
    """:func:`encode_bpe` over many sequences (e.g. every lead of many ECGs) in one call.

    Parameters
    ----------
    sequences : list of 1-D int arrays, or 2-D array ``[n_sequences, n_symbols]``
        One entry per lead; merges never cross two entries.
    merges : Merges or EncoderTables
    num_workers : int
        Threads to split the sequences over (1 = this thread). The result does not depend on it.

    Returns
    -------
    EncodedBatch
        ``(ids int32 [total], offsets int64 [n_sequences + 1])``.
    """
    return _batch("bpe", sequences, merges, num_workers)


def encode_greedy_batch(
    sequences: Sequence[np.ndarray] | np.ndarray, merges: Merges | EncoderTables, num_workers: int = 1
) -> EncodedBatch:
    """:func:`encode_greedy` over many sequences; arguments and result as :func:`encode_bpe_batch`."""
    return _batch("greedy", sequences, merges, num_workers)


def decode_ids(ids: np.ndarray | Sequence[int], merges: Merges | EncoderTables) -> np.ndarray:
    """Token ids -> symbol codes (lossless inverse of both encoders).

    Parameters
    ----------
    ids : array of int, shape ``[n_tokens]``
    merges : Merges or EncoderTables

    Returns
    -------
    numpy.ndarray
        uint8 ``[n_symbols]`` symbol codes (the concatenated token strings).

    Raises
    ------
    TokenizerError
        If an id is outside ``0 .. vocab_size - 1``.
    """
    t = encoder_tables(merges)
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TokenizerError(
            f"decode_ids: ids must be a 1-D integer array, got shape {arr.shape}, dtype {arr.dtype}"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= t.vocab_size):
        bad = int(np.flatnonzero((arr < 0) | (arr >= t.vocab_size))[0])
        raise TokenizerError(
            f"decode_ids: token id {int(arr[bad])} at position {bad} is outside the vocabulary "
            f"0..{t.vocab_size - 1}; were these ids made with other merges?"
        )
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    lengths = np.diff(t.token_offsets)
    out = np.empty(int(lengths[arr].sum()) if arr.size else 0, dtype=np.int32)
    decode_flat(arr, t.token_codes, t.token_offsets, out)
    return out.astype(_code_dtype(t.merges.alphabet_size))


# ---------------------------------------------------------------------------- reference twins


def encode_bpe_reference(codes: Sequence[int] | np.ndarray, merges: Merges) -> list[int]:
    """Pure-Python rank-ordered BPE, the executable spec of :func:`encode_bpe`.

    >>> m = Merges(pairs=np.array([[0, 0]]), ids=np.array([26]))  # a+a -> aa (id 26)
    >>> encode_bpe_reference([0, 0, 0], m)  # "aaa": the leftmost pair merges first
    [26, 0]
    """
    rank = {}
    for r, (pair, z) in enumerate(zip(map(tuple, merges.pairs.tolist()), merges.ids.tolist())):
        rank.setdefault(pair, (r, z))  # a repeated pair keeps its first rank
    ids = [int(c) for c in codes]
    while len(ids) > 1:
        # the lowest-ranked adjacent pair; min() keeps the leftmost among equal ranks
        best = min(range(len(ids) - 1), key=lambda i: rank.get((ids[i], ids[i + 1]), (np.inf, 0))[0])
        if (ids[best], ids[best + 1]) not in rank:
            break
        ids[best : best + 2] = [rank[ids[best], ids[best + 1]][1]]
    return ids


def encode_greedy_reference(codes: Sequence[int] | np.ndarray, merges: Merges) -> list[int]:
    """Pure-Python greedy longest match, the executable spec of :func:`encode_greedy`.

    >>> m = Merges(pairs=np.array([[0, 1], [26, 2]]), ids=np.array([26, 27]))  # ab, abc
    >>> encode_greedy_reference([0, 1, 2, 0, 1, 0], m)  # "abc" "ab" "a"
    [27, 26, 0]
    """
    token_of = {s: i for i, s in enumerate(merges.vocab())}  # one id per string
    alphabet = merges.alphabet
    text = "".join(alphabet[int(c)] for c in codes)
    longest = max(map(len, token_of))
    out, i = [], 0
    while i < len(text):
        n = max(k for k in range(1, min(longest, len(text) - i) + 1) if text[i : i + k] in token_of)
        out.append(token_of[text[i : i + n]])
        i += n
    return out
