"""The HTML report: metrics table with intervals, ablation table with drops and flag, embedded PNGs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ecgbyte.cli import main
from ecgbyte.errors import ConfigError
from ecgbyte.eval.summary import summarize_evaluation as _summarize
from ecgbyte.report import ablation_chart, build_report, render_html


def _run(acc: float, abl: dict[str, float]) -> dict:
    base = {"accuracy": acc, "token_f1": acc - 5, "bleu4": 10.0, "bertscore_f1": None}
    return {
        "n": 20,
        "labels": {"accuracy": "Accuracy (normalised exact match)", "bleu4": "BLEU-4 <NLTK>"},
        "notes": {"bertscore_f1": "not computed: no model"},
        "warnings": ["METEOR without WordNet"],
        "scores": base,
        "ablations": {
            k: {"accuracy": v, "token_f1": v - 5, "bleu4": 9.0, "bertscore_f1": None} for k, v in abl.items()
        },
    }


def _summary(ignores: bool) -> dict:
    kinds = ("no_signal", "blackout", "noise", "shuffled")
    if ignores:
        runs = [_run(60.0, dict.fromkeys(kinds, 59.5)), _run(62.0, dict.fromkeys(kinds, 61.0))]
    else:
        runs = [_run(90.0, dict.fromkeys(kinds, 50.0)), _run(94.0, dict.fromkeys(kinds, 48.0))]
    s = _summarize(runs, kinds, "accuracy", 2.0)
    s.update(split="test", run_dirs=["runs/s0", "runs/s1"])
    return s


def _png(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    fig.savefig(path, format="png")
    return path


def test_render_html_tables_flag_and_images(tmp_path: Path) -> None:
    s = _summary(ignores=False)
    img = _png(tmp_path / "token_spans.png")
    page = render_html(s, {"token_spans": img}, title="r <1>")
    assert page.startswith("<!doctype html>") and "<title>r &lt;1&gt;</title>" in page
    # accuracy over two runs, 90 and 94: mean 92, s = 2.828, t_{0.975,1} = 12.706 -> ± 25.41
    assert "<td>Accuracy (normalised exact match)</td><td>92.00 ± 25.41</td>" in page
    assert "BLEU-4 &lt;NLTK&gt;" in page  # labels are escaped
    assert "not computed: no model" in page
    # drops 40 and 46 -> +43.00 ± 38.12 (one decimal in the ablation table), marked as a real effect
    assert "<td class='good'>+43.0 ± 38.1</td>" in page
    assert "banner good" in page and "uses the ECG" in page
    assert [k in page for k in ("no_signal", "blackout", "noise", "shuffled")] == [True] * 4
    assert page.index("<th>no_signal</th>") < page.index("<th>shuffled</th>")
    b64 = base64.b64encode(img.read_bytes()).decode()
    assert f"src='data:image/png;base64,{b64}'" in page
    assert "warning: METEOR without WordNet" in page


def test_render_html_flags_a_model_that_ignores_the_ecg() -> None:
    page = render_html(_summary(ignores=True), {}, title="r")
    assert "banner bad" in page and "MODEL IGNORES THE ECG" in page
    assert page.count("class='bad'>+") == 4  # each ablation's accuracy drop is red


def _fake_run(tmp_path: Path, ignores: bool) -> Path:
    run = tmp_path / "run"
    (run / "explain").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "evaluation_test.json").write_text(json.dumps(_summary(ignores)))
    for name in ("token_spans", "attention", "reconstruction", "token_usage"):
        _png(run / "explain" / f"{name}.png")
    return run


def test_build_report_reuses_evaluation_and_pictures(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, ignores=True)
    path = build_report(run)
    assert path == run / "report.html"
    page = path.read_text()
    assert page.count("data:image/png;base64,") == 5  # the 4 pictures and the ablation chart
    assert "intervals: <b>95% t-interval over 2 runs</b>" in page
    assert "MODEL IGNORES THE ECG" in page
    assert "ecgbyte report" in page  # the commands to reproduce


def test_report_command_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _fake_run(tmp_path, ignores=False)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().count("<table") == 2
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not a training run directory" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        build_report(tmp_path)


def _one_run_summary() -> dict:
    """One run with bootstrap intervals as ``evaluate_one`` stores them (accuracy 80 [70, 90])."""

    def iv(mean: float, lo: float, hi: float) -> dict:
        return {
            "mean": mean,
            "half_width": None,
            "n": 50,
            "std": 5.0,
            "confidence": 0.95,
            "method": "bootstrap",
            "low": lo,
            "high": hi,
        }

    run = _run(80.0, {"no_signal": 30.0, "noise": 79.0})
    run["bootstrap"] = {
        "metrics": {"accuracy": iv(80.0, 70.0, 90.0)},
        "ablations": {
            "no_signal": {
                "scores": {"accuracy": iv(30.0, 20.0, 40.0)},
                "drop": {"accuracy": iv(50.0, 38.0, 62.0)},
            },
            "noise": {"scores": {"accuracy": iv(79.0, 69.0, 89.0)}, "drop": {"accuracy": iv(1.0, -2.0, 4.0)}},
        },
        "n_items": 50,
        "n_resamples": 1000,
        "seed": 0,
        "label": "95% bootstrap CI over 50 test items (1 run)",
    }
    s = _summarize([run], ("no_signal", "noise"), "accuracy", 2.0)
    s.update(split="test", run_dirs=["runs/s0"])
    return s


def test_render_html_single_run_bootstrap_is_labelled_and_charted() -> None:
    s = _one_run_summary()
    page = render_html(s, {}, title="r")
    assert "intervals: <b>95% bootstrap CI over 50 test items (1 run)</b>" in page
    assert "not over training seeds" in page and "t-interval" not in page
    # bootstrap cells: the score, then its interval on a second, smaller line
    assert (
        "<td>Accuracy (normalised exact match)</td><td>80.00<br><span class='ci'>[70.00, 90.00]</span></td>"
        in page
    )
    assert "<td class='good'>+50.0<br><span class='ci'>[+38.0, +62.0]</span></td>" in page  # no_signal hurts
    assert "<td class='bad'>+1.0<br><span class='ci'>[-2.0, +4.0]</span></td>" in page  # noise does not
    # the headline names the ablation that hurts most, with its interval
    assert (
        "no signal (ECG tokens removed) hurts most, accuracy 30.0 (drop +50.0 [+38.0, +62.0] points)" in page
    )
    assert page.index("banner good") < page.index("<h2>Metrics</h2>")
    assert page.count("data:image/png;base64,") == 1  # the ablation chart
    png = ablation_chart(s)
    assert png is not None and png.startswith(b"\x89PNG")
    assert ablation_chart({**s, "ablations": {}}) is None


@pytest.mark.slow
def test_report_on_a_fresh_run_loads_the_model_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ecgbyte report`` evaluates, runs the ablations and draws the pictures (attention included)
    from one ``RunDir``: one model load and one build of the splits for the whole page."""
    pytest.importorskip("torch")
    import ecgbyte.data.registry as registry
    import ecgbyte.elm.model as model_module
    from tiny import train_synthetic_run

    spec = {"name": "synthetic", "n_ecgs": 16, "seed": 1, "target_fs": 50.0, "leads": ["II"]}
    run_dir, _ = train_synthetic_run(
        tmp_path / "run",
        n_ecgs=16,
        seed=1,
        n_merges=30,
        batch_size=8,
        max_steps=2,
        warmup_steps=1,
        schedule="constant",
        max_length=400,
        max_new_tokens=3,
        extra={"data": spec},
    )
    calls = {"load_weights": 0, "load_splits": 0}

    def counting(name: str, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(model_module, "load_weights", counting("load_weights", model_module.load_weights))
    monkeypatch.setattr(registry, "load_splits", counting("load_splits", registry.load_splits))
    assert main(["report", str(run_dir), "--limit", "4", "--no-bertscore", "--n-resamples", "20"]) == 0
    assert calls == {"load_weights": 1, "load_splits": 1}
    page = (run_dir / "report.html").read_text()
    assert (run_dir / "evaluation_test.json").exists() and (run_dir / "evaluation_test.md").exists()
    assert (
        page.count("data:image/png;base64,") >= 5
    )  # ablation chart + spans, attention, reconstruction, usage


def test_old_evaluation_json_still_renders(tmp_path: Path) -> None:
    """A summary written before the original's metrics, --decode and the cluster bootstrap (no
    decoding, primary_reason, *_paper scores; the old item-bootstrap label) renders as before."""
    from ecgbyte.report import to_markdown

    s = _one_run_summary()
    for key in ("decoding", "primary_reason", "flag_rule"):
        s.pop(key, None)
    s["interval"] = {
        "method": "bootstrap",
        "label": "95% bootstrap CI over 50 test items (1 run)",
        "n_resamples": 1000,
    }
    s["metrics"] = {k: v for k, v in s["metrics"].items() if not k.endswith("_paper")}
    md = to_markdown(s)
    assert "intervals: 95% bootstrap CI over 50 test items (1 run)" in md
    assert (
        "Decoding: the run's configured decoding (greedy unless num_beams > 1). Primary metric: accuracy."
        in md
    )
    # only the metrics the file has: no empty rows for the newer ones (sacreBLEU, ROUGE, *_paper)
    assert "| Accuracy (normalised exact match) | 80.00 [70.00, 90.00] |" in md
    assert "sacrebleu" not in md and "paper" not in md
    page = render_html(s, {}, title="r")
    assert "<td>Accuracy (normalised exact match)</td><td>80.00<br>" in page
    assert "sacrebleu" not in page and "paper" not in page


def test_render_html_sampled_seeds_patients_and_interval_colours() -> None:
    """A drop of +1.0 [+0.2, +1.8] is under the 2-point threshold but its interval lies above 0: it
    counts (green); the per-seed table lists the seeds; the page says what was resampled."""
    s = _one_run_summary()
    s["ablations"]["noise"]["drop"]["accuracy"].update(low=0.2, high=1.8)
    s["interval"] = {
        "method": "bootstrap",
        "label": "95% bootstrap CI over 20 patients (50 test items), 1 run",
        "n_resamples": 1000,
    }
    s["decoding"] = {"method": "sample", "seeds": [0, 42], "label": "sampling as the original (...)"}
    s["runs"][0]["by_seed"] = [
        {"seed": 0, "scores": {"accuracy": 79.0, "token_f1": 70.0}, "ablations": {}},
        {"seed": 42, "scores": {"accuracy": 81.0, "token_f1": 72.0}, "ablations": {}},
    ]
    page = render_html(s, {}, title="r")
    assert "<td class='good'>+1.0<br><span class='ci'>[+0.2, +1.8]</span></td>" in page
    assert "intervals: <b>95% bootstrap CI over 20 patients (50 test items), 1 run</b>" in page
    assert "resampling whole patients with all their questions" in page
    assert "Decoding: sampling as the original (...)." in page
    assert "<tr><td>seed 42</td><td>81.00</td><td>72.00</td></tr>" in page
    assert "--decode sample --seeds 0,42" in page  # the command that reproduces it
