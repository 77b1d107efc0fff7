"""ecgbyte.bpe: byte-pair encoding over ECG symbol strings.

- :class:`Merges` (``merges.py``): the trained merges, the single source of truth of a vocabulary.
- :func:`train` (``trainer.py`` over the numba kernels in ``_train_*.py``): the fast,
  incremental trainer; :func:`ecgbyte.bpe.reference.train` is the pure-Python spec it is tested
  against.
- Encoders (``encoders.py``): rank-ordered BPE and the original greedy longest match.

Names load lazily so ``import ecgbyte.bpe`` does not compile numba kernels.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_LAZY = {
    "Merges": "ecgbyte.bpe.merges",
    "train": "ecgbyte.bpe.trainer",
    "encode_bpe": "ecgbyte.bpe.encoders",
    "encode_greedy": "ecgbyte.bpe.encoders",
    "encode_bpe_batch": "ecgbyte.bpe.encoders",
    "encode_greedy_batch": "ecgbyte.bpe.encoders",
    "decode_ids": "ecgbyte.bpe.encoders",
    "encoder_tables": "ecgbyte.bpe.encoders",
    "EncodedBatch": "ecgbyte.bpe.encoders",
    "to_hf_tokenizer": "ecgbyte.bpe.hf",
    "hf_tokenizer_json": "ecgbyte.bpe.hf",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ecgbyte.bpe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
