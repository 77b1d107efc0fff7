"""``TrainConfig`` invariants, presets, JSON round trip and the pure ``lr_at`` schedule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ecgbyte.elm.config import TrainConfig, lr_at
from ecgbyte.errors import ConfigError


def test_lr_inverse_sqrt_warmup_exact() -> None:
    cfg = TrainConfig(lr=1e-3, warmup_steps=4, schedule="inv_sqrt")
    got = [lr_at(s, cfg, 100) for s in range(8)]
    want = [
        1e-3 * 1 / 4,
        1e-3 * 2 / 4,
        1e-3 * 3 / 4,
        1e-3,
        1e-3 * math.sqrt(4 / 5),
        1e-3 * math.sqrt(4 / 6),
        1e-3 * math.sqrt(4 / 7),
        1e-3 * math.sqrt(4 / 8),
    ]
    assert got == pytest.approx(want, rel=1e-12)
    assert lr_at(15, cfg, 100) == pytest.approx(5e-4)  # s = 16 = 4w: half the peak


def test_lr_noam_is_the_originals_formula(tmp_path: Path) -> None:
    """scheduler.py of the original: d^-0.5 * min(s^-0.5, s * w^-1.5); peak at s = w is
    (d * w)^-0.5 = 9.88e-4 for d_model 2048 and w 500; --lr is ignored."""
    from ecgbyte.elm.config import resolve_noam

    cfg = TrainConfig(schedule="noam", warmup_steps=500, noam_d_model=2048, lr=123.0)
    assert lr_at(0, cfg, 10) == pytest.approx(2048**-0.5 * 1 * 500**-1.5, rel=1e-12)
    assert (
        lr_at(499, cfg, 10)
        == pytest.approx((2048 * 500) ** -0.5, rel=1e-12)
        == pytest.approx(9.882e-4, rel=1e-3)
    )
    assert lr_at(1999, cfg, 10) == pytest.approx(2048**-0.5 * 2000**-0.5, rel=1e-12)
    with pytest.raises(ConfigError, match="noam_d_model"):
        lr_at(0, TrainConfig(schedule="noam"), 10)
    # the width comes from the model: tiny_hidden, or hidden_size in a local folder's config.json
    assert resolve_noam(TrainConfig(schedule="noam", tiny_hidden=64)).noam_d_model == 64
    (tmp_path / "config.json").write_text('{"hidden_size": 2048}')
    assert resolve_noam(TrainConfig(schedule="noam", model=str(tmp_path))).noam_d_model == 2048
    assert resolve_noam(TrainConfig(schedule="cosine")).noam_d_model is None


def test_lr_cosine_exact() -> None:
    cfg = TrainConfig(lr=1.0, warmup_steps=2, schedule="cosine", min_lr_ratio=0.1)
    # total 12: warmup s=1,2; cosine over s = 2..12 (span 10)
    assert lr_at(0, cfg, 12) == 0.5 and lr_at(1, cfg, 12) == 1.0
    assert lr_at(6, cfg, 12) == pytest.approx(0.1 + 0.9 * 0.5)  # s = 7: halfway
    assert lr_at(11, cfg, 12) == pytest.approx(0.1) and lr_at(50, cfg, 12) == pytest.approx(0.1)
    assert lr_at(3, TrainConfig(lr=0.2, warmup_steps=0, schedule="constant"), 10) == 0.2


def test_presets_and_json_round_trip(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--model DIR"):
        TrainConfig.preset("paper")  # no hub names: a local folder is required
    paper = TrainConfig.preset("paper", model="/models/llama")
    assert (paper.finetune, paper.lora_r, paper.lora_alpha, paper.lora_dropout) == ("lora", 16, 32, 0.05)
    assert paper.lora_targets == ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    assert (paper.schedule, paper.warmup_steps, paper.grad_clip) == ("noam", 500, 1.0)
    assert (paper.optimizer, paper.betas, paper.weight_decay) == ("adam", (0.9, 0.99), 0.01)
    assert (paper.batch_size, paper.epochs, paper.train_ecg_rows) == (2, 1.0, False)
    # a config saved before new_rows_init existed keeps the mean initialisation it was trained with
    old = {k: v for k, v in paper.to_dict().items() if k != "new_rows_init"}
    assert TrainConfig.from_dict(old).new_rows_init == "mean" and paper.new_rows_init == "noise"
    baby = TrainConfig.preset("baby", seed=3)
    assert baby.model == "tiny" and baby.keep_leads == ("II", "V1") and baby.seed == 3
    baby.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == baby


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"schedule": "linear"}, "schedule"),
        ({"finetune": "qlora"}, "finetune"),
        ({"batch_size": 0}, "batch_size"),
        ({"tiny_hidden": 30, "tiny_heads": 4}, "divisible"),
        ({"schedule": "inv_sqrt", "warmup_steps": 0}, "warmup"),
        ({"schedule": "noam", "warmup_steps": 0}, "warmup"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"new_rows_init": "zeros"}, "new_rows_init"),
        ({"lr": -1.0}, "lr"),
        ({"max_ecg_tokens": 0}, "max_ecg_tokens"),
        ({"max_steps": 0, "epochs": 0}, "max_steps"),
    ],
)
def test_invalid_configs(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kw)


def test_unknown_preset_and_field() -> None:
    with pytest.raises(ConfigError, match="preset"):
        TrainConfig.preset("huge")
    with pytest.raises(ConfigError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"learning_rate": 1.0})
