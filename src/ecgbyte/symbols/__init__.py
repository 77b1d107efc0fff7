"""ecgbyte.symbols: signal values in mV -> symbol codes 0..25 ('a'..'z') and back.

See :mod:`ecgbyte.symbols.quantizer` for the formula and how it differs from the
original ECG-Byte code.
"""

from __future__ import annotations

from ecgbyte.symbols.quantizer import ALPHABET, FORMAT_VERSION, Quantizer, codes_to_str, str_to_codes

__all__ = ["ALPHABET", "FORMAT_VERSION", "Quantizer", "codes_to_str", "str_to_codes"]
