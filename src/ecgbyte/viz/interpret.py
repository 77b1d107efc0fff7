"""Interpretability pictures: which stretch of signal each ECG token covers and what the model reads.

Unlike :mod:`ecgbyte.viz.signals` (pipeline stages) and :mod:`ecgbyte.viz.tokenizer_report`
(tokenizer statistics), every picture here goes from tokens back to the signal:

- :func:`plot_token_spans`: the preprocessed signal per lead, each token's span a coloured segment;
- :func:`plot_reconstruction`: the signal rebuilt from tokens (bin centres) over the input;
- :func:`plot_token_usage`: rank-frequency of token ids and a gallery of the most used tokens
  drawn as waveforms (dequantized bin centres, time at the tokenizer's rate);
- :func:`plot_attention`: attention from the generated answer tokens to the ECG tokens of the
  prompt (an :class:`ecgbyte.elm.attention.AttentionMap`, computed by the model side), painted
  onto the signal over each token's time span.

The functions here only draw: they take signals, tokenizers, encodings and maps, never a model.
Figures use matplotlib's object API on an Agg canvas and are written atomically as PNG.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError
from ecgbyte.fileio import save_figure

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _lead_rows(leads: Sequence[str], wanted: Sequence[str] | None) -> list[int]:
    if wanted is None:
        return list(range(len(leads)))
    missing = [x for x in wanted if x not in leads]
    if missing:
        raise ConfigError(
            f"lead(s) {missing} not encoded by this tokenizer (it has {list(leads)}); pick from those"
        )
    return [list(leads).index(x) for x in wanted]


def plot_token_spans(
    ecg: Ecg,
    tokenizer: Any,
    path: str | os.PathLike[str],
    *,
    leads: Sequence[str] | None = None,
    seconds: float | None = 4.0,
    dpi: int = 110,
) -> Path:
    """Draw each ECG token as the span of preprocessed signal it covers, one panel per lead.

    Parameters
    ----------
    ecg : the record (any rate); it is prepared (leads, preprocessing) as the tokenizer encodes it.
    tokenizer : an ``ECGByteTokenizer``.
    path : PNG file to write.
    leads : leads to draw (default: all the tokenizer's leads).
    seconds : draw the first ``seconds`` s (``None``: everything).

    Returns
    -------
    The path written.
    """
    from matplotlib.collections import LineCollection

    prep = tokenizer.prepare(ecg)
    enc = tokenizer.encode(ecg)
    rows = _lead_rows(prep.leads, leads)
    fs = float(prep.fs)
    n = prep.n_samples if seconds is None else min(prep.n_samples, round(seconds * fs))
    fig = _figure(11, 1.6 * len(rows) + 0.8)
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    for ax, r in zip(axes, rows):
        x = prep.signal[r]
        sl = slice(int(enc.lead_offsets[r]), int(enc.lead_offsets[r + 1]))
        starts, ends = enc.start[sl], enc.end[sl]
        segs, colors = [], []
        for k, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            if s >= n:
                break
            e1 = min(e + 1, prep.n_samples, n)  # + 1: join each segment to the next one's first sample
            t = np.arange(s, e1) / fs
            segs.append(
                np.column_stack([t, x[s:e1]]) if e1 - s > 1 else np.array([[s / fs, x[s]], [s / fs, x[s]]])
            )
            colors.append(_PALETTE[k % len(_PALETTE)])
            ax.axvline(s / fs, color="0.85", lw=0.4, zorder=0)
        ax.add_collection(LineCollection(segs, colors=colors, linewidths=1.3))
        ax.set_xlim(0, n / fs)
        lo, hi = float(np.min(x[:n])), float(np.max(x[:n]))
        pad = 0.08 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
        n_tok = int(np.sum(starts < n))
        ax.set_ylabel(f"{prep.leads[r]} (mV)")
        ax.text(
            0.995,
            0.95,
            f"{n_tok} tokens, {n / max(n_tok, 1):.1f} samples/token",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
        )
    axes[-1].set_xlabel(f"time (s) at {fs:g} Hz")
    fig.suptitle(f"ECG tokens on the signal: {ecg.name} (one colour per token, cycling)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def plot_reconstruction(
    ecg: Ecg,
    tokenizer: Any,
    path: str | os.PathLike[str],
    *,
    leads: Sequence[str] | None = None,
    seconds: float | None = 4.0,
    dpi: int = 110,
) -> Path:
    """Overlay the signal rebuilt from tokens (bin centres, :meth:`decode`) on the preprocessed input.

    Each panel's title gives the RMSE (mV) over the whole lead; the residual is quantization only.
    """
    from ecgbyte.presets import decoded_leads

    prep = tokenizer.prepare(ecg)
    rec = tokenizer.decode(tokenizer.encode(ecg))
    out = decoded_leads(tokenizer)  # a preset decodes to its 12 leads: pick the encoded ones by name
    rec = rec[[out.index(n) for n in prep.leads]]
    rows = _lead_rows(prep.leads, leads)
    fs = float(prep.fs)
    n = prep.n_samples if seconds is None else min(prep.n_samples, round(seconds * fs))
    t = np.arange(n) / fs
    fig = _figure(11, 1.6 * len(rows) + 0.8)
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    for ax, r in zip(axes, rows):
        x, y = prep.signal[r], rec[r, : prep.n_samples]
        rmse = float(np.sqrt(np.nanmean((x - y) ** 2)))
        ax.plot(t, x[:n], color="0.3", lw=1.0, label="input (preprocessed)")
        ax.step(t, y[:n], where="mid", color="#d62728", lw=0.9, label="from tokens (bin centres)")
        ax.set_ylabel(f"{prep.leads[r]} (mV)")
        ax.set_title(f"lead {prep.leads[r]}: RMSE {rmse * 1000:.1f} µV", fontsize=9, loc="left")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel(f"time (s) at {fs:g} Hz")
    fig.suptitle(f"Reconstruction from ECG tokens: {ecg.name}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def token_usage(encodings: Iterable[Any]) -> Counter:
    """How often each token id occurs over ``encodings`` (anything with an ``ids`` array)."""
    c: Counter = Counter()
    for enc in encodings:
        ids, counts = np.unique(np.asarray(enc.ids), return_counts=True)
        c.update(dict(zip(ids.tolist(), counts.tolist())))
    return c


def plot_token_usage(
    encodings: Iterable[Any],
    tokenizer: Any,
    path: str | os.PathLike[str],
    *,
    top_k: int = 12,
    shapes_only: bool = False,
    dpi: int = 110,
) -> Path:
    """Rank-frequency of token ids (log-log) and the ``top_k`` most used tokens drawn as waveforms.

    A token of ``L`` symbols is drawn as ``L`` bin centres (mV), one sample each at the
    tokenizer's rate, so the gallery shows which shapes (flat baseline, QRS up-strokes, ...) the
    vocabulary spends ids on. ``shapes_only`` leaves out tokens of one repeated symbol (flat
    stretches, usually the most used) from the gallery.
    """
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    encodings = list(encodings)
    n_enc = len(encodings)
    usage = token_usage(encodings)
    if not usage:
        raise ConfigError("no tokens to count; pass at least one non-empty encoding")
    ranked = usage.most_common()
    fs = tokenizer.fs or float("nan")
    top = [(t, c) for t, c in ranked if not shapes_only or len(set(tokenizer.id_to_token(t))) > 1][:top_k]
    if not top:
        raise ConfigError("no multi-symbol tokens in these encodings; use shapes_only=False")
    ncol = min(4, len(top))
    nrow = -(-len(top) // ncol)
    fig = _figure(11, 2.8 + 1.7 * nrow)
    gs = fig.add_gridspec(1 + nrow, ncol, height_ratios=[1.6] + [1.0] * nrow)
    ax = fig.add_subplot(gs[0, :])
    counts = np.array([c for _, c in ranked], dtype=float)
    ax.loglog(np.arange(1, counts.size + 1), counts, ".-", color="#1f77b4", ms=3)
    total = counts.sum()
    share = counts[: min(top_k, counts.size)].sum() / total
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):  # plain numbers (1, 10, 100), no "6 x 10^0" minor labels
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("token rank")
    ax.set_ylabel("count")
    ax.set_title(
        f"{counts.size} of {tokenizer.vocab_size} token ids used, {int(total)} tokens "
        f"in {n_enc} ECG{'s' if n_enc != 1 else ''}; "
        f"top {min(top_k, counts.size)} = {100 * share:.0f}%",
        fontsize=9,
    )
    from ecgbyte.symbols import str_to_codes

    unit = 1000.0 / fs if np.isfinite(fs) else 1.0  # x unit per sample: ms, or samples if fs unknown
    longest = max(len(tokenizer.id_to_token(tid)) for tid, _ in top)
    # one mV scale for the whole gallery, zoomed to the shapes shown (at least 0.4 mV tall)
    vals = np.concatenate(
        [tokenizer.quantizer.dequantize(str_to_codes(tokenizer.id_to_token(t))) for t, _ in top]
    )
    mid, half = (float(vals.min()) + float(vals.max())) / 2, max(float(np.ptp(vals)) / 2, 0.2)
    ylo, yhi = mid - 1.1 * half, mid + 1.1 * half
    for k, (tid, cnt) in enumerate(top):
        a = fig.add_subplot(gs[1 + k // ncol, k % ncol])
        sym = tokenizer.id_to_token(tid)
        y = tokenizer.quantizer.dequantize(str_to_codes(sym))
        a.stairs(y, np.arange(len(y) + 1) * unit, color="#d62728", lw=1.8, baseline=None)
        a.set_xlim(0, longest * unit)
        a.set_ylim(ylo, yhi)
        label = sym if len(sym) <= 14 else sym[:12] + "…"
        a.set_title(f"#{k + 1} id {tid} '{label}' ×{cnt}", fontsize=8)
        a.tick_params(labelsize=7)
        if k % ncol == 0:
            a.set_ylabel("mV", fontsize=8)
    what = "most used non-flat tokens" if shapes_only else "most used tokens"
    fig.suptitle(f"Token usage and the {what} as waveforms (x: {'ms' if np.isfinite(fs) else 'samples'})")
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


# ---------------------------------------------------------------------------- attention
def plot_attention(
    ecg: Ecg,
    tokenizer: Any,
    amap: Any,
    path: str | os.PathLike[str],
    *,
    seconds: float | None = None,
    dpi: int = 110,
) -> Path:
    """Paint each ECG token's attention over its time span, under the signal, one panel per lead.

    ``amap`` is an :class:`ecgbyte.elm.attention.AttentionMap` (``encoding``, ``weights``,
    ``answer``, ``question``, ``ecg_share``).
    """
    prep = tokenizer.prepare(ecg)
    enc, w = amap.encoding, amap.weights
    fs = float(prep.fs)
    n = prep.n_samples if seconds is None else min(prep.n_samples, round(seconds * fs))
    rows = [
        i
        for i in range(len(enc.leads))
        if np.any(np.isfinite(w[enc.lead_offsets[i] : enc.lead_offsets[i + 1]]))
    ]
    rows = rows or list(range(len(enc.leads)))
    finite = w[np.isfinite(w)]
    rel = w / finite.mean() if finite.size and finite.mean() > 0 else w  # 1 = an average ECG token
    # colour scale up to the 98th percentile: a few tokens (often the first ECG token, an
    # attention sink) take many times the mean and would wash out everything else
    vmin, vmax = (0.0, float(np.nanpercentile(rel, 98))) if finite.size else (0.0, 1.0)
    clipped = bool(finite.size) and float(np.nanmax(rel)) > vmax
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 1.9 * len(rows) + 1.2), layout="constrained")
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(n) / fs
    import matplotlib

    cmap = matplotlib.colormaps["YlOrRd"].with_extremes(bad="0.85")
    im = None
    for ax, r in zip(axes, rows):
        dens = np.full(n, np.nan)
        for k in range(int(enc.lead_offsets[r]), int(enc.lead_offsets[r + 1])):
            s, e = int(enc.start[k]), min(int(enc.end[k]), n)
            if s < n:
                dens[s:e] = rel[k]
        x = prep.signal[r, :n]
        lo, hi = float(x.min()), float(x.max())
        pad = 0.1 * (hi - lo or 1.0)
        im = ax.imshow(
            dens[None, :],
            aspect="auto",
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            extent=(0, n / fs, lo - pad, hi + pad),
            interpolation="nearest",
        )
        ax.plot(t, x, color="k", lw=0.9)
        ax.set_ylabel(f"{prep.leads[r]} (mV)")
        ax.set_xlim(0, n / fs)
    axes[-1].set_xlabel("time (s); grey = token outside the model's context")
    cb = fig.colorbar(im, ax=list(axes), fraction=0.025, pad=0.01, extend="max" if clipped else "neither")
    top = f"; max {float(np.nanmax(rel)):.0f}x, clipped" if clipped else ""
    cb.set_label(f"attention / mean ECG token (1 = average{top})", fontsize=8)
    ans = amap.answer if len(amap.answer) < 60 else amap.answer[:57] + "…"
    fig.suptitle(
        f"Q: {amap.question}  A: {ans!r}  ({100 * amap.ecg_share:.0f}% of attention on ECG tokens)",
        fontsize=10,
    )
    return save_figure(fig, path, dpi=dpi)


__all__ = [
    "plot_attention",
    "plot_reconstruction",
    "plot_token_spans",
    "plot_token_usage",
    "token_usage",
]
