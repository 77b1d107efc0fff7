"""ecgbyte: ECG-Byte tokenization of 12-lead ECGs and end-to-end ECG language models.

The tokenizer stack (``io -> signal -> symbols -> bpe -> tokenizer``) imports without
torch. Public names are loaded lazily so ``import ecgbyte`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Ecg": "ecgbyte.ecg",
    "STANDARD_LEADS": "ecgbyte.ecg",
    "EcgbyteError": "ecgbyte.errors",
    "RecordError": "ecgbyte.errors",
    "ConfigError": "ecgbyte.errors",
    "TokenizerError": "ecgbyte.errors",
    "DatasetError": "ecgbyte.errors",
    "ModelError": "ecgbyte.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ecgbyte' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
