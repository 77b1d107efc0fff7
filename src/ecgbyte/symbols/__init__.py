"""ecgbyte.symbols: signal values in mV -> symbol codes 0..25 ('a'..'z') and back.

See :mod:`ecgbyte.symbols.quantizer` for the formula and how it differs from the
original ECG-Byte code, and :mod:`ecgbyte.symbols.registry` for reading a stored quantizer of
any kind.
"""

from __future__ import annotations

from ecgbyte.symbols.quantizer import ALPHABET, FORMAT_VERSION, Quantizer, codes_to_str, str_to_codes
from ecgbyte.symbols.registry import QUANTIZERS, QuantizerLike, quantizer_from_dict, register_quantizer

__all__ = [
    "ALPHABET",
    "FORMAT_VERSION",
    "QUANTIZERS",
    "Quantizer",
    "QuantizerLike",
    "codes_to_str",
    "quantizer_from_dict",
    "register_quantizer",
    "str_to_codes",
]
