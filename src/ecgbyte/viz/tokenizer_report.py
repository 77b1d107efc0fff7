"""Vocabulary statistics of an ECG-Byte tokenizer, as JSON and one PNG figure.

:func:`vocab_stats` looks at the vocabulary alone (token lengths, single-symbol run tokens such
as ``"aaaa"``, which ECG-Byte learns for flat stretches of signal); :func:`data_stats` encodes
some ECGs and counts tokens per lead, per 10 s of ECG and how much of the vocabulary is used;
:func:`tokenizer_report` writes both to ``report.json`` and ``report.png`` (matplotlib, Agg).
No torch is needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg


def is_run(token: str) -> bool:
    """True for a token of two or more copies of one symbol (``"aaaa"``)."""
    return len(token) >= 2 and token == token[0] * len(token)


def vocab_stats(tokenizer: Any) -> dict[str, Any]:
    """Statistics of the vocabulary of ``tokenizer`` (an :class:`~ecgbyte.tokenizer.ECGByteTokenizer`).

    Returns a JSON-ready dict: ``vocab_size``, ``n_merges``, ``length_histogram``
    (``{length in symbols: count}``, str keys), ``mean_token_length``, ``max_token_length``,
    ``longest_tokens`` (up to 10), ``run_tokens`` (count), ``run_fraction`` (of merged tokens),
    ``run_tokens_by_symbol`` (``{symbol: longest run length}``).
    """
    vocab = tokenizer.vocab
    alphabet_size = tokenizer.merges.alphabet_size
    lengths = np.array([len(t) for t in vocab], dtype=np.int64)
    hist = {str(int(k)): int(v) for k, v in zip(*np.unique(lengths, return_counts=True))}
    merged = vocab[alphabet_size:]
    runs = [t for t in merged if is_run(t)]
    longest_run: dict[str, int] = {}
    for t in runs:
        longest_run[t[0]] = max(longest_run.get(t[0], 0), len(t))
    order = sorted(range(len(vocab)), key=lambda i: (-lengths[i], i))[:10]
    return {
        "vocab_size": len(vocab),
        "n_merges": len(tokenizer.merges),
        "length_histogram": hist,
        "mean_token_length": float(lengths.mean()) if lengths.size else 0.0,
        "max_token_length": int(lengths.max()) if lengths.size else 0,
        "longest_tokens": [vocab[i] for i in order],
        "run_tokens": len(runs),
        "run_fraction": len(runs) / len(merged) if merged else 0.0,
        "run_tokens_by_symbol": dict(sorted(longest_run.items())),
    }


def data_stats(tokenizer: Any, ecgs: Iterable[Ecg], *, encoder: str | None = None) -> dict[str, Any]:
    """Encode ``ecgs`` and count tokens per lead, per 10 s of ECG, and vocabulary use.

    Returns a JSON-ready dict: ``n_ecgs``, ``encoder``, ``tokens_per_lead`` (``{lead: mean}``),
    ``tokens_per_10s`` (mean, median, min, max over ECGs, each scaled to 10 s),
    ``symbols_per_token`` (compression), ``vocab_used`` (fraction of ids seen),
    ``top_tokens`` (the 20 most frequent, with counts).
    """
    counts = np.zeros(tokenizer.vocab_size, dtype=np.int64)
    per_lead: list[np.ndarray] = []
    per_10s: list[float] = []
    n_symbols = n_tokens = 0
    leads: tuple[str, ...] = tuple(tokenizer.leads)
    for ecg in ecgs:
        enc = tokenizer.encode(ecg, encoder=encoder)
        counts += np.bincount(enc.ids, minlength=tokenizer.vocab_size)
        per_lead.append(np.diff(enc.lead_offsets))
        duration = enc.n_samples / enc.fs if np.isfinite(enc.fs) and enc.fs > 0 else float("nan")
        per_10s.append(len(enc) * 10.0 / duration if duration > 0 else float("nan"))
        n_symbols += enc.n_symbols
        n_tokens += len(enc)
        leads = enc.leads or leads
    if not per_lead:
        return {"n_ecgs": 0}
    lead_means = np.mean(np.stack(per_lead), axis=0)
    t10 = np.array(per_10s, dtype=np.float64)
    top = np.argsort(-counts, kind="stable")[:20]
    return {
        "n_ecgs": len(per_lead),
        "encoder": encoder or tokenizer.encoder,
        "tokens_per_lead": {name: float(v) for name, v in zip(leads, lead_means)},
        "tokens_per_10s": {
            "mean": float(np.nanmean(t10)),
            "median": float(np.nanmedian(t10)),
            "min": float(np.nanmin(t10)),
            "max": float(np.nanmax(t10)),
        },
        "symbols_per_token": n_symbols / n_tokens if n_tokens else 0.0,
        "vocab_used": float((counts > 0).mean()),
        "top_tokens": [
            {"token": tokenizer.vocab[i], "id": int(i), "count": int(counts[i])} for i in top if counts[i]
        ],
    }


def plot_report(report: dict[str, Any], path: str | Path) -> str:
    """Draw the token length histogram and, with data, tokens per lead; save a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    vs = report["vocab"]
    ds = report.get("data") or {}
    has_data = bool(ds.get("n_ecgs"))
    fig, axes = plt.subplots(1, 2 if has_data else 1, figsize=(11 if has_data else 6, 4), squeeze=False)
    ax = axes[0, 0]
    lengths = sorted(int(k) for k in vs["length_histogram"])
    ax.bar(lengths, [vs["length_histogram"][str(k)] for k in lengths], color="tab:blue")
    ax.set_xlabel("token length (symbols)")
    ax.set_ylabel("tokens in vocabulary")
    ax.set_title(f"vocab {vs['vocab_size']}, {vs['run_tokens']} run tokens ({vs['run_fraction']:.0%})")
    if has_data:
        ax = axes[0, 1]
        names = list(ds["tokens_per_lead"])
        ax.bar(range(len(names)), [ds["tokens_per_lead"][n] for n in names], color="tab:orange")
        ax.set_xticks(range(len(names)), names, rotation=45)
        ax.set_ylabel("tokens per lead (mean)")
        ax.set_title(
            f"{ds['n_ecgs']} ECGs: {ds['tokens_per_10s']['mean']:.0f} tokens / 10 s, "
            f"{ds['symbols_per_token']:.2f} symbols/token"
        )
    fig.tight_layout()
    from ecgbyte.fileio import save_figure

    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return str(path)


def tokenizer_report(
    tokenizer: Any, out_dir: str | Path, *, ecgs: Iterable[Ecg] | None = None, encoder: str | None = None
) -> dict[str, Any]:
    """Write ``report.json`` and ``report.png`` into ``out_dir``; return the report dict.

    The dict has ``vocab`` (:func:`vocab_stats`), ``data`` (:func:`data_stats`, or ``None``
    without ``ecgs``) and ``files`` (the paths written).
    """
    from ecgbyte.fileio import atomic_write_text

    out = Path(out_dir)
    report: dict[str, Any] = {
        "vocab": vocab_stats(tokenizer),
        "data": data_stats(tokenizer, ecgs, encoder=encoder) if ecgs is not None else None,
    }
    png = plot_report(report, out / "report.png")
    report["files"] = [str(out / "report.json"), png]
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    return report
