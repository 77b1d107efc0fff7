"""The :class:`Merges` type: the single source of truth of a trained BPE vocabulary.

Every trainer (:func:`ecgbyte.bpe.train`, :func:`ecgbyte.bpe.reference.train`) returns a
``Merges``, and every encoder takes one. The vocabulary is *derived* from the merges (minbpe):

- ids ``0 .. alphabet_size - 1`` are the single symbols ``alphabet[i]`` ('a', 'b', ...);
- merge ``k`` joins ``pairs[k] = (left id, right id)`` into ``ids[k]``. A merge whose
  concatenated string is already in the vocabulary reuses that id (as HF ``tokenizers``'
  ``BpeTrainer`` does: "ab"+"c" and later "a"+"bc" both give "abc"); otherwise it gets the next
  free id, so ids are dense: ``vocab_size == max(ids) + 1``.

Example
-------
>>> import numpy as np
>>> m = Merges(pairs=np.array([[0, 0], [26, 0], [0, 26]]), ids=np.array([26, 27, 27]))
>>> m.vocab()[26:]
['aa', 'aaa']
>>> m.token_lengths()[25:].tolist()
[1, 2, 3]
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgbyte.errors import TokenizerError
from ecgbyte.limits import MAX_MERGES, MAX_TOKEN_SYMBOLS, MAX_VOCAB_SYMBOLS

#: Default symbol alphabet, identical to ``ecgbyte.symbols.ALPHABET``.
DEFAULT_ALPHABET = string.ascii_lowercase

FORMAT = "ecgbyte.merges"
FORMAT_VERSION = 1


def default_alphabet(alphabet_size: int) -> str:
    """The first ``alphabet_size`` letters 'a', 'b', ...; raises if more than 26 are asked."""
    if not isinstance(alphabet_size, (int, np.integer)) or not 1 <= alphabet_size <= len(DEFAULT_ALPHABET):
        raise TokenizerError(
            f"alphabet_size must be an integer in 1..{len(DEFAULT_ALPHABET)} to use the default "
            f"alphabet, got {alphabet_size!r}; pass `alphabet=` with one character per symbol"
        )
    return DEFAULT_ALPHABET[: int(alphabet_size)]


@dataclass(frozen=True, eq=False)
class Merges:
    """Ordered BPE merges over a symbol alphabet.

    Parameters
    ----------
    pairs : array of int, shape ``[n_merges, 2]``
        ``(left id, right id)`` of each merge, in rank order (rank 0 first). Stored as a
        read-only int32 array.
    ids : array of int, shape ``[n_merges]``
        The id each merge produces (see the module docstring for the id rule). Read-only int32.
    alphabet_size : int
        Number of single symbols (ids ``0 .. alphabet_size - 1``). Default 26.
    alphabet : str
        One character per symbol id; default ``"abc...z"[:alphabet_size]``.

    Raises
    ------
    TokenizerError
        If shapes are wrong, a merge uses an id not yet defined, or an id breaks the id rule.
    """

    pairs: np.ndarray
    ids: np.ndarray
    alphabet_size: int = 26
    alphabet: str = field(default="")

    def __post_init__(self) -> None:
        alphabet = self.alphabet or default_alphabet(self.alphabet_size)
        if len(alphabet) != self.alphabet_size or len(set(alphabet)) != len(alphabet):
            raise TokenizerError(
                f"alphabet {alphabet!r} must hold exactly alphabet_size={self.alphabet_size} distinct characters"
            )
        pairs = _int32_array(self.pairs, "pairs")
        if pairs.size == 0:
            pairs = pairs.reshape(0, 2)
        ids = _int32_array(self.ids, "ids").reshape(-1)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] != ids.shape[0]:
            raise TokenizerError(
                f"merges need pairs of shape [n, 2] and ids of shape [n]; got {pairs.shape} and {ids.shape}"
            )
        if pairs.shape[0] > MAX_MERGES:
            raise TokenizerError(f"{pairs.shape[0]} merges, more than ecgbyte accepts ({MAX_MERGES})")
        pairs.setflags(write=False)
        ids.setflags(write=False)
        object.__setattr__(self, "alphabet", alphabet)
        object.__setattr__(self, "alphabet_size", int(self.alphabet_size))
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "_vocab", tuple(self._build_vocab()))

    def _build_vocab(self) -> list[str]:
        # Replays the id rule: this both derives the vocabulary and validates the merges.
        # Token lengths are summed before any string is built: merges that double a token at each
        # step (0+0, 26+26, 27+27, ...) would otherwise ask for 2**n characters.
        vocab = list(self.alphabet)
        index = {s: i for i, s in enumerate(vocab)}
        total = len(vocab)
        for k, ((left, right), new_id) in enumerate(zip(self.pairs.tolist(), self.ids.tolist())):
            if not (0 <= left < len(vocab) and 0 <= right < len(vocab)):
                raise TokenizerError(
                    f"merge {k} ({left}, {right}) uses an id not defined before it "
                    f"(vocabulary size so far {len(vocab)}); the merges are damaged or out of order"
                )
            length = len(vocab[left]) + len(vocab[right])
            if length > MAX_TOKEN_SYMBOLS or total + length > MAX_VOCAB_SYMBOLS:
                raise TokenizerError(
                    f"merge {k} ({left}, {right}) makes a token of {length} symbols (at most {MAX_TOKEN_SYMBOLS}, "
                    f"{MAX_VOCAB_SYMBOLS} over the vocabulary); the merges are damaged"
                )
            token = vocab[left] + vocab[right]
            expected = index.get(token, len(vocab))
            if new_id != expected:
                raise TokenizerError(
                    f"merge {k} ({left}, {right}) -> {token!r} has id {new_id}, expected {expected} "
                    "(an existing string keeps its id, a new one takes the next free id)"
                )
            if expected == len(vocab):
                vocab.append(token)
                index[token] = expected
                total += length
        return vocab

    # -- derived views -------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of merges (rows of ``pairs``)."""
        return int(self.pairs.shape[0])

    @property
    def n_merges(self) -> int:
        """Number of merges (rows of ``pairs``), including those that reuse an existing id."""
        return len(self)

    @property
    def vocab_size(self) -> int:
        """Number of distinct token ids: ``alphabet_size`` plus the new ids the merges made."""
        return len(self._vocab)  # type: ignore[attr-defined]

    def vocab(self) -> list[str]:
        """Token strings indexed by id; a merged token is the concatenation of its parts."""
        return list(self._vocab)  # type: ignore[attr-defined]

    def token_lengths(self) -> np.ndarray:
        """Length of each token in symbols, int32 ``[vocab_size]``."""
        return np.fromiter((len(s) for s in self._vocab), dtype=np.int32, count=self.vocab_size)  # type: ignore[attr-defined]

    def truncate(self, n_merges: int) -> Merges:
        """The first ``n_merges`` merges (a smaller vocabulary of the same training run)."""
        n = max(0, min(int(n_merges), len(self)))
        return Merges(self.pairs[:n], self.ids[:n], self.alphabet_size, self.alphabet)

    # -- comparison and (de)serialisation --------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Merges):
            return NotImplemented
        return (
            self.alphabet == other.alphabet
            and np.array_equal(self.pairs, other.pairs)
            and np.array_equal(self.ids, other.ids)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Merges(n_merges={len(self)}, vocab_size={self.vocab_size}, alphabet={self.alphabet!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: format tag and version, alphabet, pairs and ids as plain lists."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "alphabet_size": self.alphabet_size,
            "alphabet": self.alphabet,
            "pairs": self.pairs.tolist(),
            "ids": self.ids.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Merges:
        """Rebuild from :meth:`to_dict` output; raises :class:`TokenizerError` if it is damaged."""
        if not isinstance(data, dict):
            raise TokenizerError(f"merges must be a JSON object, got {type(data).__name__}")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise TokenizerError(
                f"merges format_version {version!r} is newer than this ecgbyte supports "
                f"({FORMAT_VERSION}); upgrade ecgbyte"
            )
        missing = [k for k in ("alphabet_size", "pairs", "ids") if k not in data]
        if missing:
            raise TokenizerError(f"merges dict is missing {missing}; the file is damaged")
        if isinstance(version, bool) or version < 1:
            raise TokenizerError(f"merges format_version {version!r} is not one ecgbyte ever wrote")
        for key in ("pairs", "ids"):
            if not isinstance(data[key], list) or len(data[key]) > MAX_MERGES:
                raise TokenizerError(f"merges '{key}' must be a list of at most {MAX_MERGES} entries")
        size = data["alphabet_size"]
        if isinstance(size, bool) or not isinstance(size, int):
            raise TokenizerError(f"merges 'alphabet_size' must be an integer, got {size!r:.40}")
        try:
            pairs, ids = np.asarray(data["pairs"]), np.asarray(data["ids"])
            if (pairs.size and pairs.dtype.kind not in "iu") or (ids.size and ids.dtype.kind not in "iu"):
                raise TypeError("they hold something else than integers")
            pairs = pairs.astype(np.int64).reshape(-1, 2)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TokenizerError(f"merges 'pairs'/'ids' are not integer lists of int32 ids ({exc})") from None
        alphabet = data.get("alphabet", "")
        if not isinstance(alphabet, str):
            raise TokenizerError(f"merges 'alphabet' must be a string, got {type(alphabet).__name__}")
        return cls(pairs, ids, size, alphabet)


def _int32_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.int32)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TokenizerError(f"merges '{name}' must hold integers, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() > np.iinfo(np.int32).max:
        raise TokenizerError(f"merges '{name}' holds ids outside 0..2**31-1")
    return np.array(arr, dtype=np.int32, copy=True)
