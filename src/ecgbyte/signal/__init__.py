"""ECG-Byte signal pipeline: checks, gap filling, filters, wavelet denoise, resampling, segmentation.

Arrays are ``float32 [leads, samples]`` in mV with the sampling rate ``fs`` in Hz
always passed explicitly. :func:`preprocess` runs the whole chain on an
:class:`~ecgbyte.ecg.Ecg` as a :class:`PreprocessConfig` says; :func:`segment` cuts
the result into windows. Stage modules: :mod:`.filters`, :mod:`.wavelet`,
:mod:`.resample`, :mod:`.gaps`, :mod:`.checks`, :mod:`.segment`; synthetic ECGs in
:mod:`.synth` (imported on first use).
"""

from __future__ import annotations

from typing import Any

from ecgbyte.signal.config import PreprocessConfig
from ecgbyte.signal.pipeline import preprocess, preprocess_array, segment

__all__ = ["PreprocessConfig", "preprocess", "preprocess_array", "segment", "synthesize"]


def __getattr__(name: str) -> Any:  # lazy: the synthetic generator is not needed to preprocess
    if name == "synthesize":
        from ecgbyte.signal.synth import synthesize

        return synthesize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
