"""Interpretability pictures from a tokenizer trained on a few synthetic ECGs, and attention mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgbyte.elm import attention as A
from ecgbyte.errors import ConfigError
from ecgbyte.viz import interpret as I

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tok_and_ecgs():
    from ecgbyte.signal import PreprocessConfig
    from ecgbyte.signal.synth import synthesize
    from ecgbyte.tokenizer import ECGByteTokenizer

    ecgs = synthesize(4, seed=0, fs=500.0, duration_s=10.0)
    pre = PreprocessConfig(target_fs=100.0, bandpass_high=40.0, segment_length=None)
    tok = ECGByteTokenizer.train(ecgs, n_merges=50, leads=("I", "II"), preprocess=pre, seed=0)
    return tok, ecgs


def _png(p: Path) -> None:
    assert p.exists() and p.read_bytes()[:8] == PNG and p.stat().st_size > 5000


def test_token_spans_and_reconstruction_pngs(tok_and_ecgs, tmp_path: Path) -> None:
    tok, ecgs = tok_and_ecgs
    _png(I.plot_token_spans(ecgs[0], tok, tmp_path / "spans.png"))
    _png(I.plot_token_spans(ecgs[0], tok, tmp_path / "spans_ii.png", leads=["II"], seconds=None))
    _png(I.plot_reconstruction(ecgs[0], tok, tmp_path / "rec.png"))
    with pytest.raises(ConfigError, match="V1"):
        I.plot_token_spans(ecgs[0], tok, tmp_path / "x.png", leads=["V1"])


def test_token_usage_counts_and_gallery(tok_and_ecgs, tmp_path: Path) -> None:
    tok, ecgs = tok_and_ecgs
    encs = [tok.encode(e) for e in ecgs]
    usage = I.token_usage(encs)
    assert sum(usage.values()) == sum(len(e) for e in encs)
    top_id, top_n = usage.most_common(1)[0]
    assert top_n == sum(int(np.sum(e.ids == top_id)) for e in encs)
    _png(I.plot_token_usage(encs, tok, tmp_path / "usage.png", top_k=8))
    _png(I.plot_token_usage(encs, tok, tmp_path / "shapes.png", top_k=8, shapes_only=True))
    with pytest.raises(ConfigError, match="top_k"):
        I.plot_token_usage(encs, tok, tmp_path / "u.png", top_k=0)


def test_kept_counts_follow_the_water_filling_rule() -> None:
    """Leads of 5, 3 and 8 tokens; 9 tokens in the prompt means c = 3 per lead (3 + 3 + 3)."""
    assert A._kept_counts([5, 3, 8], 16) == [5, 3, 8]
    assert A._kept_counts([5, 3, 8], 9) == [3, 3, 3]
    assert A._kept_counts([5, 3, 8], 11) == [4, 3, 4]
    with pytest.raises(ConfigError):
        A._kept_counts([5, 3, 8], 10)  # no equal cut gives 10


@pytest.mark.slow
def test_answer_attention_maps_to_every_prompt_token(tmp_path: Path) -> None:
    """A tiny run (2 steps) on 16 synthetic ECGs: attention weights land on exactly the ECG
    tokens the policy keeps (here all), are non-negative and sum with the rest to 1 per query."""
    pytest.importorskip("torch")
    from ecgbyte.data.items import load_ecg
    from ecgbyte.elm.run import load_run
    from tiny import train_synthetic_run

    _, splits = train_synthetic_run(
        tmp_path / "run",
        n_ecgs=16,
        seed=1,
        n_merges=30,
        batch_size=8,
        max_steps=2,
        warmup_steps=1,
        schedule="constant",
        lr=1e-3,
        log_every=10,
        max_length=400,
        max_new_tokens=3,
    )
    run = load_run(tmp_path / "run")
    item = splits["test"][0]
    ecg = load_ecg(item.ecgs[0])
    amap = A.answer_attention(run, ecg, item.question)
    assert amap.weights.shape == (len(amap.encoding),)
    assert np.all(np.isfinite(amap.weights)) and np.all(amap.weights >= 0)
    assert 0 < amap.ecg_share <= 1
    assert amap.weights.sum() == pytest.approx(amap.ecg_share, rel=1e-4)
    _png(I.plot_attention(ecg, run.ecg_tokenizer, amap, tmp_path / "att.png"))
    from ecgbyte.report import explain

    paths = explain(ecg, run, tmp_path / "explain", question=item.question)
    assert {"token_spans", "reconstruction", "token_usage", "attention"} <= set(paths)
    for p in paths.values():
        _png(p)
