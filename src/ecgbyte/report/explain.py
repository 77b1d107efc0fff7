"""``explain``: every interpretability picture of one record under a trained run.

Token spans, reconstruction from tokens, token usage and the token gallery come from the run's
ECG tokenizer alone; the attention picture needs the model (:mod:`ecgbyte.elm.attention`). The
drawing is :mod:`ecgbyte.viz.interpret`'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ecgbyte.ecg import Ecg
from ecgbyte.elm.run import RunDir
from ecgbyte.errors import ConfigError
from ecgbyte.viz.interpret import plot_attention, plot_reconstruction, plot_token_spans, plot_token_usage

DEFAULT_QUESTION = "What is the rhythm of this ECG?"


def explain(
    record: str | os.PathLike[str] | Ecg,
    run_dir: RunDir | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    question: str = DEFAULT_QUESTION,
    seconds: float | None = 4.0,
    top_k: int = 12,
    usage_ecgs: Sequence[Ecg] | None = None,
) -> dict[str, Path]:
    """Write every interpretability picture of one record under a trained run into ``out_dir``.

    Parameters
    ----------
    record : a record file (anything :func:`ecgbyte.io.read_record` reads) or an ``Ecg``.
    run_dir : training run directory or open :class:`~ecgbyte.elm.run.RunDir` (its ECG tokenizer
        and checkpoint are used; an open one is not loaded again).
    out_dir : folder for the PNGs.
    question : the question whose answer's attention is drawn.
    seconds : time window of the span and reconstruction plots (``None``: whole record).
    top_k : size of the token galleries.
    usage_ecgs : count token usage over these ECGs (e.g. a test split) instead of the record alone.

    Returns
    -------
    ``{"token_spans", "reconstruction", "token_usage", "token_shapes", "attention": path}``
    (``token_shapes`` is absent when the record has no multi-symbol token).

    Raises
    ------
    ConfigError
        for a two-stage run (``--ecg-input encoder``): every picture needs ECG-Byte tokens.
    """
    from ecgbyte.elm.attention import answer_attention

    run = RunDir.open(run_dir)
    if run.config.ecg_input == "encoder":
        raise ConfigError(
            f"{run.path}: a two-stage run (--ecg-input encoder) reads the ECG as {run.config.soft_tokens} "
            "soft tokens from a frozen encoder, not as ECG-Byte tokens, so there are no token spans, "
            "token gallery or attention onto token spans to draw; explain an end-to-end run instead"
        )
    if isinstance(record, Ecg):
        ecg = record
    else:
        from ecgbyte.io import read_record

        ecg = read_record(record, leads=run.ecg_tokenizer.leads)
    tok = run.ecg_tokenizer
    out = Path(out_dir)
    encs = [tok.encode(ecg)] if not usage_ecgs else [tok.encode(e) for e in usage_ecgs]
    paths = {
        "token_spans": plot_token_spans(ecg, tok, out / "token_spans.png", seconds=seconds),
        "reconstruction": plot_reconstruction(ecg, tok, out / "reconstruction.png", seconds=seconds),
        "token_usage": plot_token_usage(encs, tok, out / "token_usage.png", top_k=top_k),
    }
    try:
        paths["token_shapes"] = plot_token_usage(
            encs, tok, out / "token_shapes.png", top_k=top_k, shapes_only=True
        )
    except ConfigError:
        pass
    amap = answer_attention(run, ecg, question)
    paths["attention"] = plot_attention(ecg, tok, amap, out / "attention.png")
    return paths


__all__ = ["DEFAULT_QUESTION", "explain"]
