"""ecgbyte.eval: the paper's metrics, seeds and confidence intervals, signal-use ablations.

- :mod:`ecgbyte.eval.metrics`: BLEU-4, sacreBLEU, ROUGE-1/2/L, METEOR, BERTScore, QA accuracy
  and token F1 (offline, pinned; :func:`~ecgbyte.eval.metrics.compute_metrics`), and the
  original ECG-Byte code's per-pair BLEU-4 and ROUGE beside them (``*_paper``);
- :mod:`ecgbyte.eval.stats`: mean ± 95% t-interval over seeds/checkpoints;
- :mod:`ecgbyte.eval.bootstrap`: for a single run, seeded 95% percentile cluster-bootstrap
  intervals over the test patients (paired for ablation drops);
- :mod:`ecgbyte.eval.ablations`: no signal, blackout, noise, shuffled ECGs;
- :mod:`ecgbyte.eval.summary`: which interval, the primary metric, the interval-based
  "ignores the ECG" flag;
- :mod:`ecgbyte.eval.evaluate`: :func:`~ecgbyte.eval.evaluate.evaluate_run`, greedy or the
  original's sampling over seeds (torch, imported lazily).
"""

from __future__ import annotations

from ecgbyte.eval.metrics import METRICS, compute_metrics
from ecgbyte.eval.stats import Interval, summarize_runs, t_interval

__all__ = ["METRICS", "Interval", "compute_metrics", "evaluate_run", "summarize_runs", "t_interval"]


def __getattr__(name: str):
    if name == "evaluate_run":
        from ecgbyte.eval.evaluate import evaluate_run

        return evaluate_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
