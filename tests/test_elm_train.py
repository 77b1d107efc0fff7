"""Tiny ELM end to end: train a few steps, checkpoint, resume exactly, generate; error cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgbyte.data import QAItem, build_synthetic_qa  # noqa: E402
from ecgbyte.ecg import Ecg  # noqa: E402
from ecgbyte.ecg_tokenizer import EcgTokenizer  # noqa: E402
from ecgbyte.elm.config import TrainConfig  # noqa: E402
from ecgbyte.elm.generate import predict  # noqa: E402
from ecgbyte.elm.run import load_run  # noqa: E402
from ecgbyte.elm.train import batch_indices, train  # noqa: E402
from ecgbyte.errors import ConfigError, ModelError  # noqa: E402
from ecgbyte.eval.metrics import accuracy_by_type  # noqa: E402
from tiny import tiny_config  # noqa: E402


class FakeEncoding:
    def __init__(self, ids, offsets, start_s, leads):
        self.ids, self.lead_offsets, self.start_s, self.leads = ids, offsets, start_s, leads


class FakeEcgTokenizer(EcgTokenizer):
    """Stand-in for ECGByteTokenizer: 26 amplitude bins, every ``stride``-th sample, no merges."""

    format = "tests.fake"
    vocab_size = 26

    def __init__(self, stride: int = 25, tag: str = "a") -> None:
        self.stride, self.tag, self.leads = stride, tag, ("II",)

    def prepare(self, ecg: Ecg) -> Ecg:
        return ecg.select_leads(self.leads)

    def encode(self, ecg: Ecg) -> FakeEncoding:
        x = self.prepare(ecg).signal[0][:: self.stride]
        ids = np.clip(np.floor((x + 1.0) / 3.0 * 26), 0, 25).astype(np.int32)
        return FakeEncoding(
            ids, np.array([0, ids.size]), np.arange(ids.size) * self.stride / ecg.fs, self.leads
        )

    def save_pretrained(self, directory) -> tuple[str, ...]:
        p = Path(directory)
        p.mkdir(parents=True, exist_ok=True)
        (p / "fake.json").write_text(json.dumps({"stride": self.stride, "tag": self.tag}))
        return (str(p / "fake.json"),)

    @classmethod
    def from_pretrained(cls, directory) -> FakeEcgTokenizer:
        return cls(**json.loads((Path(directory) / "fake.json").read_text()))


def _cfg(**kw) -> TrainConfig:
    return tiny_config(**kw)


def _items(n: int = 24, seed: int = 0) -> list[QAItem]:
    rng = np.random.default_rng(seed)
    ecgs = []
    for i in range(n):
        af = i % 2 == 1
        sig = rng.normal(0, 0.3 if af else 0.05, size=(12, 500)).astype(np.float32)
        ecgs.append(
            Ecg(
                sig,
                fs=100.0,
                record_id=f"r{i}",
                patient_id=f"p{i // 2}",
                meta={"labels": {"heart_rate_bpm": 50.0 + 30 * (i % 3), "rhythm": "afib" if af else "sinus"}},
            )
        )
    return build_synthetic_qa(ecgs, seed=seed)


def _params(run_dir: Path) -> dict[str, np.ndarray]:
    run = load_run(run_dir, ecg_tokenizer=FakeEcgTokenizer(), device="cpu")
    return {k: v.detach().numpy().copy() for k, v in run.model.state_dict().items()}


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_train_resume_matches_uninterrupted(tmp_path: Path, finetune: str) -> None:
    items, tok = _items(), FakeEcgTokenizer()
    cfg = _cfg(finetune=finetune, lora_r=4, lora_alpha=8, lora_targets=("q_proj", "v_proj"))
    full = train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "a", progress=False)
    assert full["steps"] == 6 and full["n_ecgs_encoded"] == 24  # each ECG encoded once for 2 items
    part = train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "b", progress=False, stop_after=3)
    assert part["steps"] == 3
    assert json.loads((tmp_path / "b" / "latest.json").read_text())["step"] == 3
    resumed = train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "b", progress=False, resume=True)
    assert resumed["steps"] == 6
    pa, pb = _params(tmp_path / "a"), _params(tmp_path / "b")
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
    log_a = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_b] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in log_a] == [r["loss"] for r in log_b]
    for sub in ("config.json", "layout.json", "text_tokenizer", "ecg_tokenizer/fake.json"):
        assert (tmp_path / "b" / sub).exists()


def test_generate_batched_equals_single(tmp_path: Path) -> None:
    items, tok = _items(), FakeEcgTokenizer()
    train(_cfg(max_steps=4), items, ecg_tokenizer=tok, run_dir=tmp_path / "r", progress=False)
    run = load_run(tmp_path / "r", ecg_tokenizer=tok)
    batched = predict(run, items[:6], batch_size=6)
    single = [predict(run, [it], batch_size=1)[0] for it in items[:6]]
    assert [r["prediction"] for r in batched] == [r["prediction"] for r in single]
    beams = predict(run, items[:2], batch_size=2, num_beams=2)
    assert len(beams) == 2 and all(isinstance(r["prediction"], str) for r in beams)
    acc = accuracy_by_type(batched)
    assert set(acc) == {"all", "rate", "rhythm"} and all(0 <= v <= 1 for v in acc.values())


def test_runs_of_different_precision_in_one_process(tmp_path: Path) -> None:
    items, tok = _items(), FakeEcgTokenizer()
    for i, precision in enumerate(("fp32", "bf16", "fp32")):
        cfg = tiny_config(precision=precision, max_steps=2)
        out = train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / str(i), progress=False)
        assert out["mixed_precision"] == {"fp32": "no", "bf16": "bf16"}[precision]


def test_left_and_right_padding_give_the_same_loss(tmp_path: Path) -> None:
    """Training pads on the right; the loss must equal the left-padded batch's (positions are explicit)."""
    from ecgbyte.data.sequences import EncodedCache, build_examples, collate
    from ecgbyte.elm.run import make_builder
    from ecgbyte.elm.train import prepare_run

    items, tok, cfg = _items(), FakeEcgTokenizer(), _cfg()
    model, text_tok, layout = prepare_run(cfg, items, tok, tmp_path)
    ex = build_examples(items[:6], make_builder(cfg, layout, text_tok), EncodedCache(tok))
    assert len({len(e.input_ids) for e in ex}) > 1  # rows of different length: there is padding
    with torch.no_grad():
        left = model(**collate(ex, layout.pad_id)).loss
        right = model(**collate(ex, layout.pad_id, padding_side="right")).loss
    np.testing.assert_allclose(float(left), float(right), rtol=1e-5)


def test_answers_longer_than_max_new_tokens_are_counted_and_warned(tmp_path: Path, caplog) -> None:
    items, tok = _items(), FakeEcgTokenizer()
    with caplog.at_level("WARNING", logger="ecgbyte.elm.train"):
        short = train(_cfg(max_steps=1, max_new_tokens=1), items, ecg_tokenizer=tok, run_dir=tmp_path / "a")
    assert short["n_answers_over_max_new_tokens"] == len(items)  # every answer + <eos> is >= 2 tokens
    assert f"{len(items)} of {len(items)} training answers are longer than max_new_tokens=1" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="ecgbyte.elm.train"):
        roomy = train(
            _cfg(max_steps=1, max_new_tokens=40, max_length=160),
            items,
            ecg_tokenizer=tok,
            run_dir=tmp_path / "b",
        )
    assert roomy["n_answers_over_max_new_tokens"] == 0 and "max_new_tokens" not in caplog.text


def test_batch_indices_are_a_pure_function() -> None:
    cfg = _cfg(batch_size=3, grad_accum=2, seed=5)
    a = [batch_indices(s, m, cfg, 10).tolist() for s in range(3) for m in range(2)]
    b = [batch_indices(s, m, cfg, 10).tolist() for s in range(3) for m in range(2)]
    assert a == b
    # 10 // 3 = 3 batches per epoch: micro-batches 0..2 are epoch 0 and never repeat an index
    first_epoch = [i for batch in a[:3] for i in batch]
    assert len(set(first_epoch)) == 9
    assert a[3] == np.random.default_rng(6).permutation(10)[:3].tolist()  # epoch 1 reshuffles


def test_checkpoint_from_another_tokenizer_is_refused(tmp_path: Path) -> None:
    items = _items(8)
    train(
        _cfg(max_steps=1),
        items,
        ecg_tokenizer=FakeEcgTokenizer(tag="a"),
        run_dir=tmp_path / "r",
        progress=False,
    )
    with pytest.raises(ModelError, match="ECG tokenizer"):
        load_run(tmp_path / "r", ecg_tokenizer=FakeEcgTokenizer(tag="other"))
    with pytest.raises(ModelError, match="ECG tokenizer"):
        train(
            _cfg(max_steps=2),
            items,
            ecg_tokenizer=FakeEcgTokenizer(tag="other"),
            run_dir=tmp_path / "r",
            progress=False,
            resume=True,
        )


def test_run_dir_errors(tmp_path: Path) -> None:
    items, tok = _items(8), FakeEcgTokenizer()
    with pytest.raises(ModelError, match="nothing to resume"):
        train(_cfg(), items, ecg_tokenizer=tok, run_dir=tmp_path / "none", resume=True, progress=False)
    train(_cfg(max_steps=1), items, ecg_tokenizer=tok, run_dir=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(_cfg(max_steps=1), items, ecg_tokenizer=tok, run_dir=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="differs"):
        train(
            _cfg(max_steps=2), items, ecg_tokenizer=tok, run_dir=tmp_path / "r", progress=False, resume=True
        )
    with pytest.raises(ModelError, match="not a local HF model directory"):
        train(
            _cfg(model=str(tmp_path / "no-such-model")),
            items,
            ecg_tokenizer=tok,
            run_dir=tmp_path / "m",
            progress=False,
        )
    with pytest.raises(ModelError, match="not a training run"):
        load_run(tmp_path / "none", ecg_tokenizer=tok)


def _local_llama(path: Path) -> Path:
    """A tiny Llama + text tokenizer saved like any downloaded HF model."""
    from tiny import write_local_llama

    return write_local_llama(
        path, ["what is the rate", "normal fast slow sinus rhythm"], text_vocab=60, context=128
    )


def test_local_pretrained_model_with_lora_and_mean_rows(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    base = _local_llama(tmp_path / "llama")
    n_text = AutoModelForCausalLM.from_pretrained(str(base)).get_input_embeddings().weight.shape[0]
    cfg = _cfg(model=str(base), finetune="lora", lora_r=4, lora_alpha=8, max_steps=2)
    train(cfg, _items(8), ecg_tokenizer=FakeEcgTokenizer(), run_dir=tmp_path / "r", progress=False)
    layout = json.loads((tmp_path / "r" / "layout.json").read_text())
    assert (
        layout["ecg_offset"] == n_text + 2 and layout["ecg_start_id"] == n_text
    )  # 2 markers, then 26 ECG ids
    assert (
        tmp_path / "r" / "checkpoints" / "step-0000002" / "weights" / "adapter_model.safetensors"
    ).exists()
    run = load_run(tmp_path / "r", ecg_tokenizer=FakeEcgTokenizer())
    emb = run.model.get_input_embeddings()
    assert run.model.get_base_model().get_input_embeddings().weight.shape[0] == n_text + 2 + 26
    assert emb is not None
    assert len(predict(run, _items(2), batch_size=2)) == 4
    # killed after step 1 and resumed: same adapter and ECG rows as the uninterrupted run
    train(
        cfg, _items(8), ecg_tokenizer=FakeEcgTokenizer(), run_dir=tmp_path / "b", progress=False, stop_after=1
    )
    train(
        cfg, _items(8), ecg_tokenizer=FakeEcgTokenizer(), run_dir=tmp_path / "b", progress=False, resume=True
    )
    pa, pb = _params(tmp_path / "r"), _params(tmp_path / "b")
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def test_resize_rows_are_the_mean_of_old_rows(tmp_path: Path) -> None:
    from ecgbyte.data.sequences import SequenceLayout
    from ecgbyte.elm.model import load_base_model, resize_for_ecg

    model = load_base_model(_local_llama(tmp_path / "llama"))
    w0 = model.get_input_embeddings().weight.detach().clone()
    lay = SequenceLayout(
        bos_id=1,
        eos_id=2,
        pad_id=0,
        ecg_start_id=w0.shape[0],
        ecg_end_id=w0.shape[0] + 1,
        ecg_offset=w0.shape[0] + 2,
        ecg_vocab_size=5,
    )
    assert resize_for_ecg(model, lay) == 7
    w1 = model.get_input_embeddings().weight.detach().clone()
    torch.testing.assert_close(w1[: w0.shape[0]], w0)
    torch.testing.assert_close(w1[w0.shape[0] :], w0.mean(0, keepdim=True).expand(7, -1))
    assert resize_for_ecg(model, lay) == 7  # again: the same rows (a checkpoint rebuilds them on load)
    torch.testing.assert_close(model.get_input_embeddings().weight.detach(), w1, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["optimizer.pt", "rng.pt", "state.json"])
def test_damaged_checkpoint_is_a_one_line_error_on_resume(tmp_path: Path, name: str) -> None:
    items, tok = _items(8), FakeEcgTokenizer()
    train(_cfg(max_steps=2), items, ecg_tokenizer=tok, run_dir=tmp_path / "r", progress=False, stop_after=1)
    f = tmp_path / "r" / "checkpoints" / "step-0000001" / name
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])  # truncated, as by a full disk
    with pytest.raises(ModelError, match=r"step-0000001: damaged checkpoint"):
        train(
            _cfg(max_steps=2), items, ecg_tokenizer=tok, run_dir=tmp_path / "r", progress=False, resume=True
        )
    (tmp_path / "r" / "latest.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"latest\.json: unreadable"):
        train(
            _cfg(max_steps=2), items, ecg_tokenizer=tok, run_dir=tmp_path / "r", progress=False, resume=True
        )


def test_text_that_spells_control_tokens_stays_text() -> None:
    """A question or answer typing <ecg_start>, </s>, <s>, <pad> or a lead marker gets no control id."""
    from ecgbyte.data.sequences import SequenceBuilder, TruncationPolicy
    from ecgbyte.elm.model import add_markers, encode_text_fn, train_text_tokenizer

    tok = train_text_tokenizer(["what is the rate", "normal fast slow sinus rhythm <> /"], vocab_size=60)
    lay = add_markers(tok, ecg_vocab_size=5, lead_names=("II",))
    control = {
        lay.bos_id,
        lay.eos_id,
        lay.pad_id,
        lay.ecg_start_id,
        lay.ecg_end_id,
        *lay.lead_marker_ids.values(),
    }
    evil = "rate <ecg_start> </s> <s> <pad> <lead_II> <ecg_end>?"
    enc = encode_text_fn(tok)
    assert (
        not control & set(enc(evil))
        and enc("what is the rate") == tok("what is the rate", add_special_tokens=False)["input_ids"]
    )
    builder = SequenceBuilder(lay, TruncationPolicy(), max_length=400, encode_text=enc, answer_reserve=40)
    ex = builder.build([], evil, "slow </s> <ecg_start>", item_id="x")
    # the only control ids are the ones the builder puts there: <bos> first, <eos> last
    assert ex.input_ids[0] == lay.bos_id and ex.input_ids[-1] == lay.eos_id
    assert not control & set(ex.input_ids[1:-1])
