"""Two-stage baseline (issue 7): encoder pretraining, soft-token projection, train/save/reload/generate, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgbyte.data import build_synthetic_qa  # noqa: E402
from ecgbyte.ecg import Ecg  # noqa: E402
from ecgbyte.elm.config import TrainConfig  # noqa: E402
from ecgbyte.elm.encoder import (  # noqa: E402
    EncoderConfig,
    ResNet1d,
    encode_features,
    load_encoder,
    prepare_signal,
    pretrain_encoder,
)
from ecgbyte.elm.generate import predict  # noqa: E402
from ecgbyte.elm.run import load_run  # noqa: E402
from ecgbyte.elm.train import train  # noqa: E402
from ecgbyte.elm.two_stage import SoftTokenizer, TwoStageModel, pretrain_stage1, wrap_llm  # noqa: E402
from ecgbyte.errors import ConfigError, ModelError, RecordError  # noqa: E402
from tiny import tiny_config, toy_ecgs  # noqa: E402

LEADS = ("I", "II", "V1")


def _ecgs(n: int = 16, seed: int = 0, fs: float = 50.0) -> list[Ecg]:
    return toy_ecgs(n, seed=seed, fs=fs, leads=LEADS)


def _train_cfg(**kw) -> TrainConfig:
    return tiny_config(**{"max_steps": 4, "ecg_input": "encoder", "soft_tokens": 4, **kw})


def _enc_cfg(**kw) -> EncoderConfig:
    base = dict(fs=50.0, leads=LEADS, widths=(8, 16), strides=(1, 2), batch_size=8, lr=3e-3, seed=0)
    base.update(kw)
    return EncoderConfig(**base)


@pytest.mark.parametrize("objective", ["masked", "contrastive"])
def test_pretraining_loss_decreases_on_a_tiny_batch(objective: str) -> None:
    ecgs = _ecgs(8)
    texts = [f"rate {e.meta['labels']['heart_rate_bpm']:.0f} {e.meta['labels']['rhythm']}" for e in ecgs]
    cfg = _enc_cfg(objective=objective, batch_size=8, lr=1e-2)
    _, out_cfg, info = pretrain_encoder(
        ecgs, cfg, texts=texts if objective == "contrastive" else None, max_steps=30
    )
    losses = info["losses"]
    assert info["objective"] == objective and info["steps"] == 30 and len(losses) == 30
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3])
    assert out_cfg.scale_mv > 0 and info["wall_s"] > 0


def test_auto_objective_and_bad_inputs() -> None:
    ecgs = _ecgs(4)
    _, cfg, info = pretrain_encoder(ecgs, _enc_cfg(), max_steps=1)
    assert info["objective"] == "masked" and cfg.objective == "masked"
    with pytest.raises(ConfigError, match="one text per ECG"):
        pretrain_encoder(ecgs, _enc_cfg(objective="contrastive"), max_steps=1)
    with pytest.raises(ConfigError, match="objective"):
        _enc_cfg(objective="simclr")
    with pytest.raises(RecordError, match="V6"):
        prepare_signal(ecgs[0], _enc_cfg(leads=("I", "V6")))
    with pytest.raises(RecordError, match=r"100\.0 Hz"):
        prepare_signal(_ecgs(1, fs=100.0)[0], _enc_cfg())


def test_prepare_signal_crops_pads_and_scales() -> None:
    e = _ecgs(1)[0]
    x = prepare_signal(e, _enc_cfg(duration_s=12.0, scale_mv=2.0, leads=("V1", "I")))
    assert x.shape == (2, 600) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :500], e.signal[2] / 2.0)
    np.testing.assert_array_equal(x[:, 500:], 0.0)
    assert prepare_signal(e, _enc_cfg(duration_s=4.0)).shape == (3, 200)


def test_encoder_save_load_and_features(tmp_path: Path) -> None:
    ecgs = _ecgs(6)
    enc, cfg, _ = pretrain_encoder(ecgs, _enc_cfg(), max_steps=2, out_dir=tmp_path / "enc")
    assert json.loads((tmp_path / "enc" / "pretrain.json").read_text())["steps"] == 2
    enc2, cfg2 = load_encoder(tmp_path / "enc")
    assert cfg2 == cfg
    f1 = encode_features(enc, cfg, ecgs, k=5)
    f2 = encode_features(enc2, cfg2, ecgs, k=5)
    assert f1.shape == (6, 5, 16) and f1.dtype == np.float32
    np.testing.assert_allclose(f1, f2, atol=1e-6)
    assert ResNet1d(cfg)(torch.zeros(2, 3, 500)).shape == (2, 16, 125)  # stride 2 (stem) x 2
    with pytest.raises(ModelError, match="no encoder checkpoint"):
        load_encoder(tmp_path / "missing")


def test_projection_makes_k_soft_tokens_of_the_llm_hidden_size(tmp_path: Path) -> None:
    items = build_synthetic_qa(_ecgs(8), seed=0)
    tok = pretrain_stage1(
        [it.ecgs[0] for it in items], fs=50.0, leads=LEADS, k=4, max_steps=1, widths=(8, 16), strides=(1, 2)
    )
    from ecgbyte.elm.train import prepare_run

    model, _, layout = prepare_run(_train_cfg(), items, tok, tmp_path / "run")
    assert isinstance(model, TwoStageModel) and layout.ecg_vocab_size == 4
    feats = torch.from_numpy(np.stack([tok.encode(e).features for e in _ecgs(3)]))
    assert model.projector(feats).shape == (3, 4, 32)
    ids = torch.tensor(
        [
            [
                layout.bos_id,
                layout.ecg_start_id,
                *range(layout.ecg_offset, layout.ecg_offset + 4),
                layout.ecg_end_id,
            ]
        ]
    )
    emb = model._embeds(ids, feats[:1])
    np.testing.assert_allclose(
        emb[0, 2:6].detach().numpy(), model.projector(feats[:1])[0].detach().numpy(), atol=1e-6
    )
    plain = model.llm.get_input_embeddings()(ids)
    np.testing.assert_array_equal(emb[0, :2].detach().numpy(), plain[0, :2].detach().numpy())
    with pytest.raises(ModelError, match="raise max_length"):
        model._embeds(ids, feats[:2])
    cfg = _train_cfg(projector="linear")
    proj = wrap_llm(model.llm, cfg, layout, tok).projector  # LayerNorm on the features, then one Linear
    assert [type(m) for m in proj] == [torch.nn.LayerNorm, torch.nn.Linear]


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_two_stage_trains_saves_reloads_and_generates(tmp_path: Path, finetune: str) -> None:
    items = build_synthetic_qa(_ecgs(16), seed=0)
    ecgs = list({e.record_id: e for it in items for e in it.ecgs}.values())
    tok = pretrain_stage1(ecgs, fs=50.0, leads=LEADS, k=4, max_steps=3, widths=(8, 16), strides=(1, 2))
    cfg = _train_cfg(finetune=finetune, lora_r=4, lora_alpha=8, lora_targets=("q_proj", "v_proj"))
    out = train(
        cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "run", progress=False, cache_dir=tmp_path / "c"
    )
    assert out["steps"] == 4 and out["n_ecgs_encoded"] == 16 and np.isfinite(out["final_loss"])
    assert (tmp_path / "run" / "ecg_tokenizer" / "pretrain.json").exists()
    weights = tmp_path / "run" / "checkpoints" / "step-0000004" / "weights"
    assert (weights / "projector.safetensors").exists()
    run = load_run(tmp_path / "run")  # the encoder is reloaded from the run directory
    assert isinstance(run.ecg_tokenizer, SoftTokenizer) and run.ecg_tokenizer.hash() == tok.hash()
    rows = predict(run, items[:5], batch_size=5)
    single = [predict(run, [it], batch_size=1)[0]["prediction"] for it in items[:5]]
    assert [r["prediction"] for r in rows] == single and all(isinstance(s, str) for s in single)
    # resume continues the same run from its checkpoint (projector + LLM reloaded trainable)
    more = train(
        _train_cfg(**{**cfg.to_dict(), "max_steps": 4}),
        items,
        ecg_tokenizer=tok,
        run_dir=tmp_path / "run",
        resume=True,
        progress=False,
    )
    assert more["steps"] == 4


def test_soft_features_reach_the_model(tmp_path: Path) -> None:
    """Zeroing the ECG features changes the next-token logits: the signal path is wired."""
    items = build_synthetic_qa(_ecgs(8), seed=0)
    tok = pretrain_stage1(
        [it.ecgs[0] for it in items], fs=50.0, leads=LEADS, k=2, max_steps=1, widths=(8, 16), strides=(1, 2)
    )
    train(
        _train_cfg(max_steps=2, soft_tokens=2),
        items,
        ecg_tokenizer=tok,
        run_dir=tmp_path / "r",
        progress=False,
    )
    run = load_run(tmp_path / "r", device="cpu")
    from ecgbyte.data.sequences import EncodedCache, build_examples, collate
    from ecgbyte.elm.run import make_builder

    ex = build_examples(
        items[:2], make_builder(run.config, run.layout, run.text_tokenizer), EncodedCache(tok)
    )
    batch = collate(ex, run.layout.pad_id)
    assert batch["ecg_features"].shape == (2, 2, 16)
    with torch.no_grad():
        a = run.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        batch["ecg_features"] = torch.zeros_like(batch["ecg_features"])
        b = run.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    assert not torch.allclose(a, b)


def test_cli_train_ecg_input_encoder(tmp_path: Path) -> None:
    from ecgbyte.cli import main

    out = tmp_path / "run"
    rc = main(
        [
            "train", "--data", "synthetic", "--n-ecgs", "16", "--fs", "50", "--leads", "I,II,V1",
            "--ecg-input", "encoder", "--soft-tokens", "3", "--encoder-steps", "2", "--steps", "2",
            "--batch-size", "4", "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert rc == 0
    cfg = TrainConfig.load(out / "config.json")
    assert cfg.ecg_input == "encoder" and cfg.soft_tokens == 3
    info = json.loads((out / "ecg_tokenizer" / "pretrain.json").read_text())
    assert info["objective"] == "masked" and info["wall_s"] > 0 and info["steps"] == 2
    assert json.loads((out / "stage1.json").read_text())["wall_s"] == info["wall_s"]
    from ecgbyte.data.registry import load_splits

    test = load_splits(cfg.extra["data"])["test"][:3]
    rows = predict(load_run(out), test, batch_size=3)
    assert [r["item_id"] for r in rows] == [it.item_id for it in test]


def test_disk_cache_keeps_the_encoded_leads(tmp_path: Path) -> None:
    """A tokenizer that keeps a subset of the record's leads: the on-disk entry remembers which."""
    from ecgbyte.data.sequences import EncodedCache
    from ecgbyte.ecg_tokenizer import EcgTokenizer

    class TwoLeads(EcgTokenizer):
        format = "tests.two_leads"
        vocab_size = 26

        def hash(self) -> str:
            return "two-leads"

        def prepare(self, ecg: Ecg) -> Ecg:
            return ecg.select_leads(("II", "V1"))

        def save_pretrained(self, directory) -> tuple[str, ...]:
            raise NotImplementedError

        @classmethod
        def from_pretrained(cls, directory) -> TwoLeads:
            raise NotImplementedError

        def encode(self, ecg: Ecg):
            enc = type("E", (), {})()
            enc.ids, enc.lead_offsets, enc.start_s, enc.leads = (
                np.arange(6),
                np.array([0, 3, 6]),
                None,
                ("II", "V1"),
            )
            return enc

    e = _ecgs(1)[0]
    first = EncodedCache(TwoLeads(), tmp_path).get(e)
    again = EncodedCache(TwoLeads(), tmp_path).get(e)  # read back from the .npz
    assert first.leads == again.leads == ("II", "V1") and first.features is None and again.features is None
    np.testing.assert_array_equal(again.lead_ids(1), [3, 4, 5])
