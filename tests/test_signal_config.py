"""PreprocessConfig: defaults follow the paper, validation, JSON round trip, stable hash."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ecgbyte.errors import ConfigError
from ecgbyte.signal import PreprocessConfig

# The hash of the default recipe. It identifies preprocessed shards on disk, so it
# must not change by accident: a change here means old shards no longer match.
DEFAULT_HASH = "b92bcb97daa5"


def test_defaults_are_the_paper_recipe():
    c = PreprocessConfig()
    assert c.notch_freqs == (50.0, 60.0) and c.notch_q == 30.0
    assert (c.bandpass_low, c.bandpass_high, c.bandpass_order) == (0.5, 100.0, 4)
    assert (c.highpass_cutoff, c.highpass_order) == (0.05, 4)
    assert (c.wavelet, c.wavelet_level, c.wavelet_noise_detail) == ("db6", 4, "coarsest")
    assert (c.target_fs, c.segment_length) == (250.0, 2500)


def test_round_trip_through_json():
    c = PreprocessConfig(notch_freqs=(50,), denoise=False, segment_length=500, max_gap_s=0.2)
    d = json.loads(json.dumps(c.to_dict()))
    back = PreprocessConfig.from_dict(d)
    assert back == c
    assert back.hash() == c.hash()
    assert d["notch_freqs"] == [50.0]


def test_hash_is_stable_and_normalised():
    assert PreprocessConfig().hash() == DEFAULT_HASH
    # ints, numpy scalars and floats with equal values give the same config and hash
    a = PreprocessConfig(target_fs=250, bandpass_order=np.int64(4), notch_freqs=[50, 60.0])
    assert a == PreprocessConfig() and a.hash() == DEFAULT_HASH
    assert PreprocessConfig(target_fs=500).hash() != DEFAULT_HASH
    assert PreprocessConfig(notch=False).hash() != PreprocessConfig().hash()
    assert len(DEFAULT_HASH) == 12 and int(DEFAULT_HASH, 16) >= 0


def test_hash_is_the_same_in_a_fresh_process():
    code = "from ecgbyte.signal import PreprocessConfig; print(PreprocessConfig().hash())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == DEFAULT_HASH


def test_from_dict_rejects_unknown_keys_and_fills_missing():
    with pytest.raises(ConfigError, match=r"unknown preprocess config key.*notch_hz"):
        PreprocessConfig.from_dict({"notch_hz": 50})
    assert PreprocessConfig.from_dict({}) == PreprocessConfig()
    assert PreprocessConfig.from_dict({"segment_length": None}).segment_length is None
    with pytest.raises(ConfigError, match="JSON object"):
        PreprocessConfig.from_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"segment_length": 0}, "segment_length"),
        ({"segment_length": -500}, "segment_length"),
        ({"segment_length": 2.5}, "whole number"),
        ({"bandpass_low": 100.0, "bandpass_high": 0.5}, "low < high"),
        ({"bandpass_low": 0.0}, "low < high"),
        ({"highpass_cutoff": -1}, "highpass_cutoff"),
        ({"target_fs": 0}, "target_fs"),
        ({"target_fs": float("nan")}, "finite"),
        ({"notch_freqs": (50, -60)}, "notch_freqs"),
        ({"notch_q": 0}, "notch_q"),
        ({"bandpass_order": 0}, "bandpass_order"),
        ({"wavelet": "nope"}, "unknown wavelet"),
        ({"wavelet_noise_detail": "middle"}, "coarsest, finest"),
        ({"max_gap_s": -0.1}, "max_gap_s"),
        ({"denoise": "yes"}, "true or false"),
        ({"target_fs": "250"}, "must be a number"),
    ],
)
def test_invalid_values_raise_config_error(kw, match):
    with pytest.raises(ConfigError, match=match):
        PreprocessConfig(**kw)


def test_band_edge_above_some_nyquist_is_valid_config():
    # 100 Hz is above the Nyquist of 100 Hz PTB-XL input; that is handled at run time.
    assert PreprocessConfig(bandpass_high=100.0).bandpass_high == 100.0


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        PreprocessConfig().target_fs = 100.0  # type: ignore[misc]
