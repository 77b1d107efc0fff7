"""Export :class:`~ecgbyte.bpe.Merges` as a HF ``tokenizers`` BPE tokenizer (``tokenizer.json``).

The file is plain HF format: ``tokenizers.Tokenizer.from_file(path)`` loads it with no ecgbyte
installed and gives exactly the ids of :func:`ecgbyte.bpe.encoders.encode_bpe`.

Layout of the exported tokenizer
--------------------------------
- model ``BPE``: ``vocab`` = {token string: id} from :meth:`Merges.vocab` (single symbols
  'a'..'z' are ids 0..25), ``merges`` = every merge in rank order as ``[left, right]`` strings.
  Two merges that build the same string ("ab"+"c" and "a"+"bc") both point at the one id of that
  string, which HF accepts. No ``unk_token`` (the alphabet is complete), no dropout, no byte
  fallback, no subword prefix/suffix, ``ignore_merges=False`` (a word that is itself a token is
  still built by merges, as ``encode_bpe`` does).
- no normalizer; pre-tokenizer ``WhitespaceSplit``: **a lead is one word**, and several leads
  are passed joined by single spaces (:func:`leads_to_text`), so no merge crosses two leads.
  The space is not a token, so ``encode("abc def").ids`` is the ids of lead "abc" followed by
  those of lead "def".
- decoder ``Fuse`` so ``decode(ids)`` gives the symbol string back (leads are not separated).
- ``special_tokens`` are added after the vocabulary (ids ``vocab_size, vocab_size + 1, ...``).

HF behaviours checked by ``tests/test_bpe_hf.py``: words longer than the BPE cache's word limit
(HF caches only words shorter than 256 characters; longer ones are merged afresh each time, with
the same result) and repeated merge results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ecgbyte.bpe.merges import Merges
from ecgbyte.errors import TokenizerError

__all__ = ["hf_tokenizer_json", "leads_to_text", "to_hf_tokenizer"]

#: Separator between leads in the text given to the HF tokenizer (split by ``WhitespaceSplit``).
LEAD_SEPARATOR = " "


def _check_alphabet(merges: Merges) -> None:
    if any(ch.isspace() for ch in merges.alphabet):
        raise TokenizerError(
            f"alphabet {merges.alphabet!r} contains whitespace, which the HF export uses to "
            "separate leads; use an alphabet of visible characters"
        )


def to_hf_tokenizer(merges: Merges, *, special_tokens: Iterable[str] = ()):  # -> tokenizers.Tokenizer
    """Build a ``tokenizers.Tokenizer`` (BPE model) equivalent to :func:`encode_bpe`.

    Parameters
    ----------
    merges : Merges
        The trained merges.
    special_tokens : iterable of str
        Extra special tokens, given ids after the vocabulary in this order.

    Returns
    -------
    tokenizers.Tokenizer
        Encoding :func:`leads_to_text` of some leads gives their ``encode_bpe`` ids, in order.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE

    if not isinstance(merges, Merges):
        raise TokenizerError(f"to_hf_tokenizer expects ecgbyte.bpe.Merges, got {type(merges).__name__}")
    _check_alphabet(merges)
    vocab = merges.vocab()
    model = BPE(
        vocab={s: i for i, s in enumerate(vocab)},
        merges=[(vocab[a], vocab[b]) for a, b in merges.pairs.tolist()],
        dropout=None,
        unk_token=None,
        fuse_unk=False,
        byte_fallback=False,
        ignore_merges=False,
    )
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.Fuse()
    specials = list(special_tokens)
    clash = sorted(set(specials) & set(vocab))
    if clash:
        raise TokenizerError(f"special tokens {clash} are already ECG tokens; choose other names")
    if specials:
        tok.add_special_tokens(specials)
    return tok


def hf_tokenizer_json(merges: Merges, *, special_tokens: Iterable[str] = ()) -> str:
    """The ``tokenizer.json`` text of :func:`to_hf_tokenizer` (compact JSON, str)."""
    return to_hf_tokenizer(merges, special_tokens=special_tokens).to_str()


def leads_to_text(leads: Sequence[np.ndarray] | np.ndarray, merges: Merges) -> str:
    """Symbol codes of one or more leads -> the text the HF tokenizer expects.

    Parameters
    ----------
    leads : 1-D int array (one lead), list of them, or 2-D array ``[leads, symbols]``
        Codes ``0 .. alphabet_size - 1``.
    merges : Merges
        Gives the alphabet.

    Returns
    -------
    str
        The leads' symbol strings joined by :data:`LEAD_SEPARATOR`.
    """
    table = np.array(list(merges.alphabet))
    if isinstance(leads, np.ndarray) and leads.ndim == 1:
        leads = [leads]
    parts = []
    for i, lead in enumerate(leads):
        arr = np.asarray(lead)
        if arr.ndim != 1 or (
            arr.size
            and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= len(table))
        ):
            raise TokenizerError(
                f"lead {i}: expected 1-D integer codes in 0..{len(table) - 1}, got shape {arr.shape}, dtype {arr.dtype}"
            )
        parts.append("".join(table[arr].tolist()) if arr.size else "")
    return LEAD_SEPARATOR.join(parts)
