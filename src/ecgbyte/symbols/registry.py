"""Quantizer kinds: the stored ``format`` of a quantizer dict -> the class that reads it.

Every quantizer serialises to a dict whose ``"format"`` names its kind; the uniform
:class:`~ecgbyte.symbols.quantizer.Quantizer` (ECG-Byte's 26 bins) writes ``"ecgbyte.quantizer"``,
as it always has, so stored tokenizers and their hashes are unchanged. :func:`quantizer_from_dict`
dispatches on that key; a new quantizer is one module (a class with the members of
:class:`QuantizerLike`) plus one :data:`QUANTIZERS` entry, or a :func:`register_quantizer` call
from its own package. Classes are imported only when a dict of their kind is read.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ecgbyte.errors import ConfigError, TokenizerError
from ecgbyte.plugins import check_target, load_target
from ecgbyte.symbols.quantizer import FORMAT as UNIFORM

QUANTIZERS: dict[str, str] = {
    UNIFORM: "ecgbyte.symbols.quantizer:Quantizer",
    "ecgbyte.hysteresis_quantizer": "ecgbyte.symbols.hysteresis:HysteresisQuantizer",
}
"""Stored quantizer ``format`` -> ``"module:Class"``."""


class QuantizerLike(Protocol):
    """What a tokenizer needs of a quantizer: mV -> codes ``0..n_symbols-1`` and back, and JSON."""

    @property
    def n_symbols(self) -> int: ...

    def symbolize(self, x: Any) -> np.ndarray: ...

    def dequantize(self, codes: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


# A class trained by ``ECGByteTokenizer.train(quantizer=KIND)`` / ``train-tokenizer --quantizer KIND``
# also has ``fit(signals, *, percentiles, seed, n_symbols) -> instance`` (a classmethod).


def register_quantizer(kind: str, target: str, *, replace: bool = False) -> None:
    """Read quantizer dicts whose ``"format"`` is ``kind`` with ``target`` (``"module:Class"``).

    The class needs ``from_dict(data, *, where)`` and the members of :class:`QuantizerLike`, and
    its ``to_dict`` must write ``"format": kind``. A kind registered to another target needs
    ``replace=True``.
    """
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"a quantizer kind must be a non-empty string, got {kind!r}")
    check_target(target, error=ConfigError)
    if QUANTIZERS.get(kind, target) != target and not replace:
        raise ConfigError(
            f"quantizer kind {kind!r} is already registered to {QUANTIZERS[kind]}; pass replace=True to change it"
        )
    QUANTIZERS[kind] = target


def quantizer_from_dict(data: Any, *, where: str = "<dict>") -> QuantizerLike:
    """Rebuild a quantizer from its ``to_dict()`` through the class its ``"format"`` names.

    A dict without ``"format"`` goes to the uniform quantizer (whose ``from_dict`` reports what
    is wrong); an unregistered kind raises :class:`TokenizerError`.
    """
    kind = data.get("format", UNIFORM) if isinstance(data, dict) else UNIFORM
    return quantizer_class(kind, where=where).from_dict(data, where=where)


def quantizer_class(kind: str, *, where: str = "quantizer") -> Any:
    """The class registered for quantizer ``kind`` (imported now); :class:`TokenizerError` if unknown."""
    if kind not in QUANTIZERS:
        raise TokenizerError(
            f"{where}: unknown quantizer kind {kind!r} (known: {', '.join(sorted(QUANTIZERS))}); upgrade "
            "ecgbyte or import the package that registers it (ecgbyte.symbols.register_quantizer)"
        )
    return load_target(QUANTIZERS[kind], what=f"quantizer kind {kind!r}", error=TokenizerError)


__all__ = ["QUANTIZERS", "QuantizerLike", "quantizer_class", "quantizer_from_dict", "register_quantizer"]
