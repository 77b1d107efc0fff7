"""A faithful single-thread NumPy port of the original ECG-Byte BPE trainer and greedy encoder.

This is the *baseline* the benchmark compares against, not a product path. It reproduces the
algorithm of ``byte_pair_encoding`` / ``encode_text`` in the paper's Rust extension
(``willxxy/ECG-Byte: ecg_byte/rust_bpe/src/lib.rs``; the same code ships as
``encode_symbol`` in ``willxxy/ECG-Bench: ecg_bench/representation/bpe/src/lib.rs``):

Trainer (``byte_pair_encoding(text, num_merges, num_threads)``)
    - the whole corpus is **one string**: every ECG's ``[leads, samples]`` symbol array is
      flattened row-major and all ECGs are joined (``process_large_file``), so merges run across
      lead and ECG boundaries;
    - ids start as the *bytes* of that string (``'a'`` = 97 ... ``'z'`` = 122); merge ``i``
      produces id ``256 + i``, even when its string already exists (no id reuse);
    - before **every** merge all adjacent pairs of the whole corpus are recounted
      (``get_stats`` over ``windows(2)``), so runs are counted with overlap: ``"aaaa"`` holds three
      ``"aa"``; the cost is O(merges x N);
    - the most frequent pair wins with **no minimum frequency** (a pair seen once is merged);
      the merge then rewrites the corpus left to right without overlap (``"aaaa"`` -> two ``aa``);
    - it stops early only when no pair is left (one id remains).

    Ties: the original takes ``max_by_key`` over a ``HashMap`` with rayon, so among equally
    frequent pairs the winner depends on hash iteration order and the parallel reduction (random
    per process with std ``HashMap`` in ECG-Byte, fixed but arbitrary with ``FxHashMap`` in
    ECG-Bench). This port must be deterministic, so it picks the **lowest** ``(left, right)``
    pair, which is one of the outcomes the original can produce. Only tied choices can differ.

Encoder (``encode_text(text, merges)``)
    Greedy longest match with a trie over the 256 single bytes plus every merged token (a token
    string inserted twice keeps the id inserted last), applied to the ECG's whole flattened
    string, so a token can span two leads.

Implementation: the corpus is kept as dense codes (symbol ``d`` -> ``d``, merge ``i`` ->
``alphabet_size + i``) so the pair key ``left * A + right`` stays small enough for one
``np.bincount`` per merge; the mapping to the original ids is monotonic, so "lowest pair" is the
same in both numberings (ids absent from the corpus are squeezed out of the key the same
monotonic way before each count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
FIRST_MERGE_ID = 256  # the original's first new id (ids 0..255 are bytes)


@dataclass
class OriginalBPE:
    """What the original trainer returns, in its own numbering.

    Attributes
    ----------
    pairs : int64 ``[n, 2]``
        ``(left id, right id)`` of each merge in original ids (byte values, ``256 + i``).
    counts : int64 ``[n]``
        The overlapping count of the chosen pair at the time it was merged.
    merges : list of ``(list[int], int)``
        Exactly the original's third return value: (token as byte values, new id).
    final_length : int
        Length of the merged corpus (the original's ``ids``) after the last merge.
    merge_times : float64 ``[n]``
        Seconds since the start of training at the end of each merge (for extrapolation).
    alphabet : str
        One character per symbol code.
    """

    pairs: np.ndarray
    counts: np.ndarray
    merges: list[tuple[list[int], int]]
    final_length: int
    merge_times: np.ndarray
    alphabet: str = ALPHABET
    vocab: dict[int, str] = field(default_factory=dict)


def concat_corpus(sequences: Sequence[np.ndarray]) -> np.ndarray:
    """Join symbol arrays into the original's single corpus array (uint8 ``[sum of lengths]``).

    Pass one array per ECG flattened row-major (leads one after another), as the original does.
    """
    if not sequences:
        return np.zeros(0, dtype=np.uint8)
    return np.concatenate([np.asarray(s, dtype=np.uint8).reshape(-1) for s in sequences])


def _orig_id(dense: int, alphabet: str) -> int:
    n = len(alphabet)
    return ord(alphabet[dense]) if dense < n else FIRST_MERGE_ID + dense - n


def _merge(ids: np.ndarray, left: int, right: int, new: int) -> np.ndarray:
    """Replace ``(left, right)`` by ``new`` scanning left to right without overlap (Rust ``merge``)."""
    pos = np.flatnonzero((ids[:-1] == left) & (ids[1:] == right))
    if left == right and pos.size > 1:
        # In a run "aaaa" the hits 0,1,2 chain; a left-to-right scan takes 0 and 2.
        idx = np.arange(pos.size)
        chain_start = np.maximum.accumulate(np.where(np.r_[True, pos[1:] != pos[:-1] + 1], idx, 0))
        pos = pos[((idx - chain_start) & 1) == 0]
    ids[pos] = new
    keep = np.ones(ids.size, dtype=bool)
    keep[pos + 1] = False
    return ids[keep]


def train(
    corpus: np.ndarray,
    n_merges: int,
    *,
    alphabet: str = ALPHABET,
    stop_after: int | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> OriginalBPE:
    """Train BPE the original way on one corpus array.

    Parameters
    ----------
    corpus : uint8 array ``[N]``
        Symbol codes ``0 .. len(alphabet) - 1`` of the whole corpus (see :func:`concat_corpus`).
    n_merges : int
        Merges to learn (the original's ``num_merges``); fewer if the corpus collapses to one id.
    alphabet : str
        One character per symbol code; ids of the single symbols are their byte values.
    stop_after : int, optional
        Stop after this many merges (to time a subset and extrapolate); ``None`` runs them all.
    callback : callable, optional
        Called as ``callback(merge_index, current_length)`` after each merge (progress).

    Returns
    -------
    OriginalBPE
    """
    a = len(alphabet)
    ids = np.asarray(corpus).reshape(-1)
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= a):
        raise ValueError(f"corpus codes must lie in 0..{a - 1}")
    dtype = np.uint16 if a + n_merges <= np.iinfo(np.uint16).max else np.int32
    ids = ids.astype(dtype, copy=True)
    limit = n_merges if stop_after is None else min(n_merges, stop_after)
    pairs, counts, times = [], [], []
    vocab_tokens: dict[int, list[int]] = {}
    merges: list[tuple[list[int], int]] = []
    key_dtype = np.int32 if (a + n_merges) ** 2 < 2**31 else np.int64
    t0 = time.perf_counter()
    for i in range(limit):
        if ids.size < 2:  # the original breaks when get_stats finds no pair
            break
        width = a + i  # dense ids defined so far: 0 .. a + i - 1
        # Count every adjacent pair (overlapping windows). Ids absent from the corpus are
        # squeezed out first (a monotonic relabelling) so the bincount table stays small.
        present = np.flatnonzero(np.bincount(ids, minlength=width))
        rank = np.zeros(width, dtype=key_dtype)
        rank[present] = np.arange(present.size, dtype=key_dtype)
        r = rank[ids]
        stats = np.bincount(r[:-1] * present.size + r[1:])
        best = int(np.argmax(stats))  # first maximum = lowest (left, right)
        left, right = (int(present[k]) for k in divmod(best, present.size))
        ids = _merge(ids, left, right, width)
        ol, orr, new = _orig_id(left, alphabet), _orig_id(right, alphabet), FIRST_MERGE_ID + i
        pairs.append((ol, orr))
        counts.append(int(stats[best]))
        token = vocab_tokens.get(ol, [ol]) + vocab_tokens.get(orr, [orr])
        vocab_tokens[new] = token
        merges.append((token, new))
        times.append(time.perf_counter() - t0)
        if callback is not None:
            callback(i, int(ids.size))
    vocab = {new: bytes(tok).decode("latin-1") for tok, new in merges}
    return OriginalBPE(
        pairs=np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
        counts=np.asarray(counts, dtype=np.int64),
        merges=merges,
        final_length=int(ids.size),
        merge_times=np.asarray(times, dtype=np.float64),
        alphabet=alphabet,
        vocab=vocab,
    )


class GreedyEncoder:
    """The original ``encode_text``: greedy longest match over the trained tokens.

    The trie is represented by a dict of token strings (last insertion wins, as in the trie)
    plus the set of their prefixes (the trie's nodes); the walk stops at the first prefix that
    is not a node, exactly where the trie walk stops.
    """

    def __init__(self, bpe: OriginalBPE) -> None:
        self.alphabet = bpe.alphabet
        self.token_id: dict[str, int] = {ch: ord(ch) for ch in bpe.alphabet}
        for token, new in bpe.merges:
            self.token_id[bytes(token).decode("latin-1")] = new
        self.nodes = {t[:k] for t in self.token_id for k in range(1, len(t) + 1)}

    def encode_text(self, text: str) -> list[int]:
        """Original ids for ``text`` (a string over the alphabet)."""
        out: list[int] = []
        i, n = 0, len(text)
        token_id, nodes = self.token_id, self.nodes
        while i < n:
            j, match, match_id = i + 1, 1, ord(text[i])
            while j <= n and text[i:j] in nodes:
                tid = token_id.get(text[i:j])
                if tid is not None:
                    match, match_id = j - i, tid
                j += 1
            out.append(match_id)
            i += match
        return out

    def encode_codes(self, codes: np.ndarray) -> list[int]:
        """Encode symbol codes (an ECG flattened row-major, as the original does)."""
        return self.encode_text(codes_to_text(codes, self.alphabet))


def codes_to_text(codes: np.ndarray, alphabet: str = ALPHABET) -> str:
    """Symbol codes -> the original's text (one character per code)."""
    table = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    return table[np.asarray(codes, dtype=np.uint8).reshape(-1)].tobytes().decode("ascii")


def to_merge_pairs(bpe: OriginalBPE) -> tuple[np.ndarray, np.ndarray]:
    """The merges in ``ecgbyte.bpe.Merges`` numbering: ``(pairs [n, 2], ids [n])``.

    Symbols become ids ``0 .. len(alphabet) - 1``; a merge whose string already exists keeps that
    string's id, a new string takes the next free id (the ``Merges`` id rule). Build the object
    with ``Merges(pairs, ids, len(alphabet), alphabet)``.
    """
    string_of = {ord(ch): ch for ch in bpe.alphabet}
    index = {ch: k for k, ch in enumerate(bpe.alphabet)}
    pairs, ids = [], []
    for (left, right), (_, new) in zip(bpe.pairs.tolist(), bpe.merges):
        ls, rs = string_of[left], string_of[right]
        token = ls + rs
        string_of[new] = token
        if token not in index:
            index[token] = len(index)
        pairs.append((index[ls], index[rs]))
        ids.append(index[token])
    return np.asarray(pairs, dtype=np.int32).reshape(-1, 2), np.asarray(ids, dtype=np.int32)
