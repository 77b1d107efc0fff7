"""``ecgbyte train --preset paper`` on the real ECG-QA + PTB-XL fixtures with a local Llama-style folder.

The folder is written here (random weights, its own text tokenizer, an embedding matrix padded
beyond the tokenizer as many released models have); the run trains for 2 steps and its stored
configs must show the original's recipe: the paper's preprocessing at 250 Hz, 12 leads, 2 s
segments, Adam with L2 1e-2 and betas 0.9/0.99, the noam schedule, LoRA with frozen, distinct
new rows that start at ``len(text_tokenizer)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgbyte.cli import main  # noqa: E402
from ecgbyte.ecg import STANDARD_LEADS  # noqa: E402
from tiny import write_local_llama  # noqa: E402

PAD_ROWS = 6  # the model's embedding matrix is this much larger than its tokenizer


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("paper")
    from ecgbyte.data.ecgqa import load_ecgqa

    splits, _ = load_ecgqa(shared_data / "ecg-qa" / "ptbxl", shared_data / "ptb-xl")
    texts = [t for items in splits.values() for it in items for t in (it.question, it.answer)]
    llama = write_local_llama(tmp / "llama", texts, pad_rows=PAD_ROWS)
    out = tmp / "run"
    args = ["train", "--data", "ecgqa", "--data-arg", f"ecgqa_dir={shared_data / 'ecg-qa' / 'ptbxl'}"]
    args += ["--data-arg", f"records={shared_data / 'ptb-xl'}", "--preset", "paper", "--model", str(llama)]
    args += ["--out", str(out), "--steps", "2", "--max-new-tokens", "8", "--no-progress"]
    assert main(args) == 0
    return out, llama


def test_paper_preset_stores_the_originals_recipe(paper_run: tuple[Path, Path]) -> None:
    out, _ = paper_run
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["optimizer"], cfg["betas"], cfg["weight_decay"]) == ("adam", [0.9, 0.99], 0.01)
    assert (cfg["schedule"], cfg["warmup_steps"], cfg["noam_d_model"]) == ("noam", 500, 32)
    assert (cfg["batch_size"], cfg["grad_clip"], cfg["epochs"], cfg["max_length"]) == (2, 1.0, 1.0, 1024)
    assert (cfg["finetune"], cfg["lora_r"], cfg["lora_alpha"], cfg["lora_dropout"]) == ("lora", 16, 32, 0.05)
    assert cfg["lora_targets"] == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert (cfg["train_ecg_rows"], cfg["new_rows_init"]) == (False, "noise")
    data, rep = cfg["extra"]["data"], cfg["extra"]["representation"]
    assert data["segment_seconds"] == 2.0 and data["target_fs"] == 250.0
    assert data["leads"] == list(STANDARD_LEADS) == rep["leads"] == cfg["keep_leads"]
    pre = rep["preprocess"]
    assert (pre["bandpass_low"], pre["bandpass_high"], pre["notch_freqs"]) == (0.5, 100.0, [50.0, 60.0])
    assert (pre["highpass_cutoff"], pre["wavelet"], pre["target_fs"]) == (0.05, "db6", 250.0)
    tok_cfg = json.loads((out / "ecg_tokenizer" / "ecgbyte_config.json").read_text())
    assert tok_cfg["preprocess"] == pre and tok_cfg["merges"]["n_merges"] == rep["n_merges"] == 3500
    # the first two steps of noam: d^-0.5 * s * w^-1.5 for s = 1, 2
    lrs = [json.loads(x)["lr"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert lrs[-1] == pytest.approx(32**-0.5 * 2 * 500**-1.5)
    # 2 s segments at 250 Hz: every lead of every example fits into the 1024-token context or is
    # counted as cut; the coverage of each lead is stored
    cov = json.loads((out / "coverage.json").read_text())
    assert cov["full_seconds"] == 2.0 and set(cov["leads"]) == set(STANDARD_LEADS)


def test_new_rows_start_at_the_tokenizer_and_stay_frozen_and_distinct(paper_run: tuple[Path, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ecgbyte.elm.run import RunDir

    out, llama = paper_run
    n_text = len(AutoTokenizer.from_pretrained(str(llama)))
    base_rows = AutoModelForCausalLM.from_pretrained(str(llama)).get_input_embeddings().weight.shape[0]
    assert base_rows == n_text + PAD_ROWS
    run = RunDir(out)
    lay = run.layout
    assert lay.ecg_start_id == n_text  # the markers follow the tokenizer, not the padded matrix
    emb = run.model.get_input_embeddings().weight.detach()
    assert emb.shape[0] == lay.vocab_size
    new = emb[n_text : lay.vocab_size]
    # distinct: no two new rows (markers and ECG ids) are equal
    assert torch.cdist(new.float(), new.float()).fill_diagonal_(1.0).min() > 1e-3
    # frozen: the trained model's rows are exactly the seeded initialisation
    from ecgbyte.elm.model import load_base_model, resize_for_ecg

    fresh = load_base_model(llama)
    resize_for_ecg(fresh, lay, init="noise", seed=run.config.seed)
    torch.testing.assert_close(fresh.get_input_embeddings().weight[: lay.vocab_size], emb, rtol=0, atol=0)
    adapter = out / "checkpoints" / "step-0000002" / "weights"
    assert (adapter / "adapter_model.safetensors").exists()
    assert "trainable_token_indices" not in json.loads((adapter / "adapter_config.json").read_text()) or (
        json.loads((adapter / "adapter_config.json").read_text())["trainable_token_indices"] is None
    )


def test_paper_run_answers_on_the_first_segment(paper_run: tuple[Path, Path], shared_data: Path) -> None:
    from ecgbyte.data.items import EcgSegment
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.run import RunDir

    run = RunDir(paper_run[0])
    items = run.items("train")[:3]
    assert all(
        isinstance(e, EcgSegment) and e.index == 0 and e.seconds == 2.0 for it in items for e in it.ecgs
    )
    assert len(run.items("train", segments="all")) == 5 * len(run.items("train"))
    rows = predict(run, items, batch_size=3)
    assert [r["item_id"] for r in rows] == [it.item_id for it in items]
    assert all(isinstance(r["prediction"], str) for r in rows)


def test_paper_preset_without_a_model_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--preset", "paper", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--model" in err and not (tmp_path / "r").exists()


def test_segment_seconds_out_of_range_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--segment-seconds", "12", "--out", str(tmp_path / "r")]) == 2
    assert "--segment-seconds" in capsys.readouterr().err


def test_new_rows_init_noise_is_seeded_and_distinct() -> None:
    """mean + per-dimension-std noise: the same seed gives the same rows, another seed others."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from ecgbyte.data.sequences import SequenceLayout
    from ecgbyte.elm.model import resize_for_ecg

    def fresh() -> LlamaForCausalLM:
        torch.manual_seed(0)
        cfg = LlamaConfig(
            vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
        )
        return LlamaForCausalLM(cfg)

    # 40 text tokens, a matrix padded to 50, markers at 40-41, 12 ECG ids up to 54
    lay = SequenceLayout(
        bos_id=1, eos_id=2, pad_id=0, ecg_start_id=40, ecg_end_id=41, ecg_offset=42, ecg_vocab_size=12
    )
    a, b, c = fresh(), fresh(), fresh()
    text = a.get_input_embeddings().weight[:40].detach().clone()
    assert resize_for_ecg(a, lay, init="noise", seed=3) == 14
    resize_for_ecg(b, lay, init="noise", seed=3)
    resize_for_ecg(c, lay, init="noise", seed=4)
    wa, wb, wc = (m.get_input_embeddings().weight.detach() for m in (a, b, c))
    assert wa.shape[0] == 54
    torch.testing.assert_close(wa[:40], text, rtol=0, atol=0)  # text rows untouched
    torch.testing.assert_close(wa, wb, rtol=0, atol=0)
    assert not torch.equal(wa[40:], wc[40:])
    new = wa[40:54]
    # as far apart as text tokens are: the nearest pair at least a quarter of the text rows' median distance
    assert torch.cdist(new, new).fill_diagonal_(1e9).min() > 0.25 * torch.cdist(text, text).median()
    # the padding rows 40-49 are overwritten: no ECG id keeps an untrained padding row
    np.testing.assert_allclose(new.mean(0).numpy(), text.mean(0).numpy(), atol=3 * float(text.std()))
    m = fresh()
    resize_for_ecg(m, lay, init="mean")
    torch.testing.assert_close(
        m.get_input_embeddings().weight[40:54].detach(), text.mean(0, keepdim=True).expand(14, -1)
    )


def test_paper_run_evaluates_with_the_originals_metrics_and_a_vote_over_segments(
    paper_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = paper_run
    argv = ["evaluate", str(out), "--split", "train", "--limit", "4", "--ablations", "no_signal"]
    assert main([*argv, "--no-bertscore", "--n-resamples", "20", "--segments", "majority"]) == 0
    s = json.loads((out / "evaluation_train.json").read_text())
    assert s["segments"] == "majority" and s["n_items"] == [4]
    for m in ("bleu4_paper", "rouge1_paper", "rougeL_paper", "bleu4", "rougeL"):
        assert s["metrics"][m] is not None and 0 <= s["metrics"][m]["mean"] <= 100
    md = (out / "evaluation_train.md").read_text()
    assert "the original's" in md and "majority answer over its segments" in md
    rows = [json.loads(x) for x in (out / "eval" / "train_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all("#" not in r["item_id"] for r in rows)  # one row per question


def test_majority_answers_vote_per_item_with_ties_to_the_earliest() -> None:
    from ecgbyte.eval.evaluate import majority_answers

    answers = ["Yes", "no", "no.", "yes", "maybe", "unsure"]
    owner = [0, 0, 0, 1, 1, 1]
    # item 0: "no" twice beats "yes" once (normalised: case and punctuation); item 1: a 1-1-1 tie
    assert majority_answers(answers, owner, 2) == ["no", "yes"]


def test_a_model_folder_without_a_tokenizer_is_a_one_line_error(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llama = write_local_llama(tmp_path / "llama", ["what is the rate", "normal fast slow"], text_vocab=60)
    for f in llama.glob("*token*"):
        f.unlink()
    args = ["train", "--data", "ecgqa", "--data-arg", f"ecgqa_dir={shared_data / 'ecg-qa' / 'ptbxl'}"]
    args += ["--data-arg", f"records={shared_data / 'ptb-xl'}", "--preset", "paper", "--model", str(llama)]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "r"), "--steps", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no tokenizer in the model folder" in err[0]
