"""The two-stage baseline's encoder (issue 14): contrastive stage 1 is seeded, and its soft tokens keep time."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgbyte.ecg import Ecg  # noqa: E402
from ecgbyte.elm.encoder import EncoderConfig, ResNet1d, encode_features, pretrain_encoder  # noqa: E402
from ecgbyte.elm.two_stage import pretrain_stage1  # noqa: E402
from ecgbyte.signal.synth import synthesize  # noqa: E402

LEADS = ("I", "II", "V1", "V5")


def _ecgs(n: int, seed: int = 0) -> list:
    from ecgbyte.data.synthetic_qa import preprocess_config_for
    from ecgbyte.signal import preprocess

    pre = preprocess_config_for(50.0)
    return [
        preprocess(e.select_leads(LEADS), pre) for e in synthesize(n, seed=seed, fs=500.0, duration_s=10.0)
    ]


def _texts(ecgs: list) -> list[str]:
    return [f"{e.meta['labels']['rate_class']} {e.meta['labels']['rhythm']}" for e in ecgs]


def _cfg(**kw) -> EncoderConfig:
    return EncoderConfig(fs=50.0, leads=LEADS, widths=(8, 16, 16), strides=(1, 2, 2), batch_size=8, **kw)


def test_contrastive_stage1_is_deterministic_by_seed() -> None:
    ecgs = _ecgs(12)
    runs = [pretrain_encoder(ecgs, _cfg(seed=s), texts=_texts(ecgs), max_steps=3) for s in (0, 0, 1)]
    (e0, c0, i0), (e1, _, i1), (e2, _, i2) = runs
    assert i0["objective"] == "contrastive" and i0["losses"] == i1["losses"] != i2["losses"]
    f0, f1, f2 = (encode_features(e, c0, ecgs, k=5) for e in (e0, e1, e2))
    assert f0.shape == (12, 5, 16) and f0.dtype == np.float32
    np.testing.assert_array_equal(f0, f1)
    assert not np.allclose(f0, f2)


def test_stage1_takes_report_texts_and_keeps_k_tokens() -> None:
    ecgs = _ecgs(10)
    tok = pretrain_stage1(
        ecgs, fs=50.0, leads=LEADS, k=6, texts=_texts(ecgs), max_steps=2, widths=(8, 16), strides=(1, 2)
    )
    assert tok.info["objective"] == "contrastive" and tok.k == 6
    enc = tok.encode(ecgs[0])
    assert enc.features.shape == (6, 16) and list(enc.ids) == [0, 1, 2, 3, 4, 5]


def test_soft_tokens_carry_time() -> None:
    """A change in the last 2 s moves the last soft tokens and leaves the first ones exactly as they were.

    Receptive field of widths (32, 64, 128), strides (1, 2, 2), kernel 7: 139 samples (+-70 around a
    feature step of 8 samples). 500 samples -> 63 feature steps -> 8 tokens; token 4 pools steps
    31..39, whose inputs end at sample 39 * 8 + 70 = 382 < 400: tokens 0-4 cannot see samples >= 400.
    """
    cfg = EncoderConfig(fs=50.0, leads=LEADS)
    torch.manual_seed(0)
    enc = ResNet1d(cfg).eval()
    x = torch.randn(1, len(LEADS), 500)
    y = x.clone()
    y[..., 400:] += 2.0 * torch.randn(1, len(LEADS), 100)
    with torch.no_grad():
        tx, ty = enc.tokens(x, 8), enc.tokens(y, 8)
    assert tx.shape == (1, 8, 128)
    torch.testing.assert_close(tx[:, :5], ty[:, :5], rtol=0, atol=1e-6)
    assert (tx[:, 7] - ty[:, 7]).abs().max() > 1e-3
    # a change at the start moves the first token, not the last ones
    z = x.clone()
    z[..., :60] = 0.0
    with torch.no_grad():
        tz = enc.tokens(z, 8)
    assert (tx[:, 0] - tz[:, 0]).abs().max() > 1e-3
    torch.testing.assert_close(tx[:, 3:], tz[:, 3:], rtol=0, atol=1e-6)


def test_projector_normalizes_features_and_old_checkpoints_load_without_the_norm(tmp_path) -> None:
    """New projectors put a LayerNorm on each feature vector (scale-free); a projector.json without
    "norm" (written before it existed) is rebuilt without one, so its weights load."""
    from safetensors.torch import save_file

    from ecgbyte.elm.two_stage import attach_projector, build_projector
    from ecgbyte.fileio import write_json

    torch.manual_seed(0)
    proj = build_projector("linear", 16, 32, norm=True)
    f = torch.randn(2, 5, 16)
    torch.testing.assert_close(proj(f), proj(100.0 * f + 3.0), rtol=1e-4, atol=1e-4)  # scale and shift free
    plain = build_projector("mlp", 16, 32)
    assert not isinstance(plain[0], torch.nn.LayerNorm) and plain(f).shape == (2, 5, 32)
    old = build_projector("linear", 16, 32)
    save_file(
        {k: v.contiguous() for k, v in old.state_dict().items()}, str(tmp_path / "projector.safetensors")
    )
    write_json(
        tmp_path / "projector.json",
        {"ecg_offset": 10, "k": 5, "projector": "linear", "feature_dim": 16, "hidden": 32},
    )

    class _Llm(torch.nn.Module):
        pass

    model = attach_projector(_Llm(), tmp_path)
    assert isinstance(model.projector, torch.nn.Linear)
    torch.testing.assert_close(model.projector(f), old(f))


def _early_late(n: int) -> tuple[list, list[str]]:
    """``n`` one-lead ECGs: an 8 Hz burst at 1.2-4.0 s ("early") or at 6.0-8.8 s ("late"), zero elsewhere.

    The two kinds are the same signal shifted by 240 samples (a multiple of the encoder stride),
    far from both ends, so their features differ only in where along time they lie.
    """
    t = np.arange(140) / 50.0
    burst = np.sin(2 * np.pi * 8 * t).astype(np.float32)
    ecgs, texts = [], []
    for i in range(n):
        sig = np.zeros((1, 500), np.float32)
        start = 300 if i % 2 else 60
        sig[0, start : start + 140] = burst
        ecgs.append(Ecg(signal=sig, fs=50.0, leads=("II",), record_id=f"b{i}"))
        texts.append("burst late" if i % 2 else "burst early")
    return ecgs, texts


def test_contrastive_embedding_reads_time_windows() -> None:
    """Reports that say *when* something happens ("AF from 4 s") can only be matched by an ECG
    embedding that keeps time. Batch of 16: 8 "early" and 8 "late" texts, so the CLIP loss is
    log 16 = 2.77 when the ECG side cannot tell the two apart and log 8 = 2.08 when it can.
    The mean over time (time_tokens=1, MERL) cannot; stage 1 reads the k soft-token windows and can."""
    ecgs, texts = _early_late(16)
    kw = dict(
        fs=50.0, leads=("II",), texts=texts, max_steps=40, widths=(8, 16), strides=(1, 2), batch_size=16
    )
    tok = pretrain_stage1(ecgs, k=4, time_tokens=4, **kw)
    assert tok.config.time_tokens == 4
    assert tok.info["losses"][-1] < np.log(8) + 0.05
    mean = pretrain_stage1(ecgs, k=4, **kw)  # the default: MERL's mean over time
    assert mean.config.time_tokens == 1
    assert mean.info["losses"][-1] > np.log(16) - 0.05


def test_time_tokens_is_checked_and_round_trips(tmp_path) -> None:
    from ecgbyte.elm.encoder import load_encoder, save_encoder
    from ecgbyte.errors import ConfigError

    with pytest.raises(ConfigError, match="time_tokens"):
        _cfg(time_tokens=0)
    cfg = _cfg(time_tokens=3)
    save_encoder(ResNet1d(cfg), cfg, tmp_path)
    assert load_encoder(tmp_path)[1].time_tokens == 3
    assert EncoderConfig.from_dict({"fs": 50.0}).time_tokens == 1  # configs written before the field


def test_soft_tokenizer_hash_of_default_time_tokens_is_unchanged() -> None:
    """Runs saved before ``time_tokens`` existed check their encoder's hash on load: with the old
    default (1) the hash is the one computed before the field (f70287afd168c612 at commit 93b6e4b);
    another value changes it."""
    from ecgbyte.elm.two_stage import SoftTokenizer

    torch.manual_seed(0)
    c = EncoderConfig(fs=50.0, leads=("II",), widths=(8,), strides=(1,))
    enc = ResNet1d(c)
    assert SoftTokenizer(enc, c, k=3).hash() == "f70287afd168c612"
    c3 = EncoderConfig(fs=50.0, leads=("II",), widths=(8,), strides=(1,), time_tokens=3)
    assert SoftTokenizer(enc, c3, k=3).hash() != "f70287afd168c612"
