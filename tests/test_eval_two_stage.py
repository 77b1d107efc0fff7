"""Evaluation and report of a two-stage run (``--ecg-input encoder``): the four ablations, same meaning.

no_signal: no soft-token slots and no features; blackout / noise: features the frozen encoder
computes from the changed preprocessed signal; shuffled: another patient's features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgbyte.data import build_synthetic_qa  # noqa: E402
from ecgbyte.data.sequences import EncodedCache  # noqa: E402
from ecgbyte.elm.run import load_run  # noqa: E402
from ecgbyte.elm.train import train  # noqa: E402
from ecgbyte.elm.two_stage import pretrain_stage1  # noqa: E402
from ecgbyte.errors import ConfigError  # noqa: E402
from ecgbyte.eval.ablations import (  # noqa: E402
    ABLATIONS,
    ablation_examples,
    different_patient_permutation,
)
from ecgbyte.report.markdown import evaluation_report  # noqa: E402
from tiny import tiny_config, toy_ecgs  # noqa: E402

LEADS = ("I", "II", "V1")
K = 4


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A tiny two-stage run (3 encoder steps, 3 LLM steps) and its QA items."""
    items = build_synthetic_qa(toy_ecgs(12, leads=LEADS), seed=0)
    ecgs = list({e.record_id: e for it in items for e in it.ecgs}.values())
    tok = pretrain_stage1(ecgs, fs=50.0, leads=LEADS, k=K, max_steps=3, widths=(8, 16), strides=(1, 2))
    cfg = tiny_config(
        max_steps=3, warmup_steps=1, schedule="inv_sqrt", log_every=10, ecg_input="encoder", soft_tokens=K
    )
    run_dir = tmp_path_factory.mktemp("two_stage") / "run"
    train(cfg, items, ecg_tokenizer=tok, run_dir=run_dir, progress=False)
    return run_dir, items


def _slots(ex, lay) -> int:
    return sum(lay.ecg_offset <= i < lay.ecg_offset + K for i in ex.input_ids[: ex.prompt_len])


def test_ablation_prompts_carry_the_right_features(two_stage) -> None:
    run_dir, items = two_stage
    run = load_run(run_dir)
    tok, lay = run.ecg_tokenizer, run.layout
    cache = EncodedCache(tok)
    exs = {k: ablation_examples(run, items, k, seed=3, cache=cache) for k in ("baseline", *ABLATIONS)}
    base = exs["baseline"]
    for it, ex in zip(items[:4], base):
        assert ex.ecg_features.shape == (1, K, 16) and ex.ecg_features.dtype == np.float32
        np.testing.assert_array_equal(ex.ecg_features[0], tok.encode(it.ecgs[0]).features)
    assert all(_slots(ex, lay) == K for ex in base)
    # no_signal: question only, no slots, no markers, no features
    for ex in exs["no_signal"]:
        assert ex.ecg_features is None and _slots(ex, lay) == 0
        assert lay.ecg_start_id not in ex.input_ids and lay.ecg_end_id not in ex.input_ids
    # the other three keep the prompt ids (k placeholders) and change only the features
    for kind in ("blackout", "noise", "shuffled"):
        assert [e.input_ids for e in exs[kind]] == [e.input_ids for e in base]
    # blackout: the encoder's features of a flat 0 mV preprocessed signal, the same for every ECG
    prep = tok.prepare(items[0].ecgs[0])
    flat = tok.encode(prep.replace(signal=np.zeros_like(prep.signal))).features
    for ex in exs["blackout"]:
        np.testing.assert_array_equal(ex.ecg_features[0], flat)
    # noise: seeded, different from the clean features, one draw per ECG (shared by its questions)
    noisy = np.stack([e.ecg_features[0] for e in exs["noise"]])
    clean = np.stack([e.ecg_features[0] for e in base])
    assert not np.allclose(noisy, clean)
    again = ablation_examples(run, items, "noise", seed=3)
    np.testing.assert_array_equal(np.stack([e.ecg_features[0] for e in again]), noisy)
    other = ablation_examples(run, items[:2], "noise", seed=4)
    assert not np.array_equal(np.stack([e.ecg_features[0] for e in other]), noisy[:2])
    key = {it.ecgs[0].record_id: i for i, it in enumerate(items)}
    for it, f in zip(items, noisy):
        np.testing.assert_array_equal(f, noisy[key[it.ecgs[0].record_id]])
    # shuffled: exactly the baseline features of the permuted item, from another patient
    perm = different_patient_permutation([it.patient_id for it in items], seed=3)
    for i, ex in enumerate(exs["shuffled"]):
        assert items[perm[i]].patient_id != items[i].patient_id
        np.testing.assert_array_equal(ex.ecg_features, base[perm[i]].ecg_features)


def test_evaluate_run_runs_every_ablation(two_stage, tmp_path: Path) -> None:
    run_dir, items = two_stage
    out = tmp_path / "evaluation_test.json"
    s, _ = evaluation_report(
        run_dir, items=items, limit=8, bertscore_model=None, n_resamples=20, batch_size=4, out=out
    )
    assert s["n_runs"] == 1 and s["n_items"] == [8]
    assert set(s["ablations"]) == set(ABLATIONS)
    for kind in ABLATIONS:
        assert set(s["ablations"][kind]) == {"scores", "drop"}
        assert s["ablations"][kind]["scores"]["accuracy"] is not None
        assert 0.0 <= s["ablations"][kind]["scores"]["accuracy"]["mean"] <= 100.0
        assert s["drops_primary"][kind] is not None
    assert s["interval"]["method"] == "bootstrap"
    assert set(s["runs"][0]["wall_s"]) == {"baseline", *ABLATIONS, "bootstrap"}
    assert json.loads(out.read_text())["ablations"].keys() == s["ablations"].keys()
    assert out.with_suffix(".md").exists()
    rows = [
        json.loads(line) for line in (run_dir / "eval" / "test_predictions.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 8 and all(isinstance(r[k], str) for r in rows for k in ("baseline", *ABLATIONS))


def test_report_skips_token_pictures_with_a_note(two_stage, tmp_path: Path) -> None:
    from ecgbyte.report import TWO_STAGE_NOTE, build_report, explain

    run_dir, items = two_stage
    page = build_report(
        run_dir,
        items=items,
        limit=8,
        ablations=("no_signal", "shuffled"),
        bertscore_model=None,
        n_resamples=10,
        out=tmp_path / "report.html",
    ).read_text()
    assert "<h2>Interpretability</h2>" in page and "two-stage run (--ecg-input encoder)" in page
    assert TWO_STAGE_NOTE.split(":")[0] in page
    assert "alt='token_spans'" not in page and "alt='attention'" not in page
    assert "alt='ablation chart'" in page and not (run_dir / "explain").exists()
    with pytest.raises(ConfigError, match="two-stage run"):
        explain(items[0].ecgs[0], run_dir, tmp_path / "pics")
