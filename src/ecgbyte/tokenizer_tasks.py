"""What the tokenizer commands do, as Python functions (the CLI only parses arguments and prints).

- :func:`train_tokenizer` (``ecgbyte train-tokenizer``): read a source, sample ECGs, train and save
  an :class:`~ecgbyte.tokenizer.ECGByteTokenizer`;
- :func:`encode_record` (``ecgbyte encode``): the JSON-ready tokens and spans of one record;
- :func:`report_tokenizer` (``ecgbyte tokenizer-report``): vocabulary statistics and a plot.

Tokenizer folders are opened through :func:`ecgbyte.ecg_tokenizer.load_ecg_tokenizer`; encoding and
the report need token strings and spans, which only ECG-Byte tokenizers have, so a folder of
another format is refused with a :class:`~ecgbyte.errors.TokenizerError`. Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecgbyte.ecg_tokenizer import ECGBYTE_FORMAT, format_of, load_ecg_tokenizer
from ecgbyte.errors import TokenizerError

if TYPE_CHECKING:
    from ecgbyte.tokenizer import ECGByteTokenizer


def train_tokenizer(
    src: str | Path,
    out_dir: str | Path,
    *,
    n_merges: int | None = 3500,
    num_ecgs: int | None = None,
    sampling: str = "random",
    seed: int = 0,
    min_frequency: int | None = 2,
    max_token_length: int | None = None,
    segment_seconds: float | None = None,
    layout: str = "auto",
    progress: bool = False,
    threads: int | None = None,
    quantizer: str = "ecgbyte.quantizer",
    preset: str | None = None,
) -> tuple[ECGByteTokenizer, tuple[str, ...]]:
    """Train an ECG-Byte tokenizer on ``src`` and save it into ``out_dir``; returns ``(tokenizer, paths)``.

    ``src``: shards (their preprocessing config is adopted) or records (preprocessed and cut into
    ``segment_seconds`` segments here; see :func:`ecgbyte.corpus.load_training_ecgs`).
    ``num_ecgs`` segments (default: all) are drawn with ``seed``, at random or ``"stratified"``
    by morphology (:func:`ecgbyte.sampling.sample_ecgs`).

    ``preset`` (a name in :data:`ecgbyte.presets.PRESETS`): train that representation instead; its
    preprocessing, leads, quantizer and merges apply (``n_merges`` overrides its merges when given),
    records go through its pipeline and shards must have been made with it.
    """
    from ecgbyte.corpus import load_training_ecgs
    from ecgbyte.sampling import sample_ecgs
    from ecgbyte.tokenizer import ECGByteTokenizer

    pre = None
    if preset is not None:
        from ecgbyte.presets import get_preset

        pre = get_preset(preset).preprocess
    ecgs, cfg, info = load_training_ecgs(src, segment_seconds=segment_seconds, layout=layout, preprocess=pre)
    n = len(ecgs) if num_ecgs is None else num_ecgs
    chosen = sample_ecgs(ecgs, n, method=sampling, seed=seed)
    if preset is not None:
        from ecgbyte.preset_tokenizer import train_preset

        over: dict[str, Any] = {"preprocess": cfg}  # the preset's, with the segment length used here
        if n_merges is not None:
            over["n_merges"] = n_merges
        tok = train_preset(
            [ecgs[i] for i in chosen],
            preset,
            seed=seed,
            progress=progress,
            threads=threads,
            max_token_length=max_token_length,
            **({"min_frequency": min_frequency} if min_frequency is not None else {}),
            **over,
        )
    else:
        tok = ECGByteTokenizer.train(
            [ecgs[i] for i in chosen],
            n_merges=3500 if n_merges is None else n_merges,
            min_frequency=2 if min_frequency is None else min_frequency,
            max_token_length=max_token_length,
            seed=seed,
            preprocess=cfg,
            progress=progress,
            threads=threads,
            quantizer=quantizer,
        )
    tok.info.update(info)
    tok.info.update(
        {"sampling": sampling, "n_available": len(ecgs), "segment_samples": int(ecgs[0].n_samples)}
    )
    paths = tok.save_pretrained(out_dir)
    return tok, paths


def encode_record(
    tokenizer_dir: str | Path, record: str | Path, *, encoder: str | None = None, fs: float | None = None
) -> dict[str, Any]:
    """The JSON-ready encoding of one record: ids, tokens, lead offsets, spans, compression.

    ``encoder``: ``"bpe"`` or ``"greedy"`` (default: the tokenizer's); ``fs``: the rate of a
    ``.npy`` record.
    """
    from ecgbyte.io import read_record

    tok = load_ecgbyte_tokenizer(tokenizer_dir, what="encode")
    ecg = read_record(record, leads=tok.leads, fs=fs)
    enc = tok.encode(ecg, encoder=encoder)
    return {
        "record": str(record),
        "record_id": ecg.record_id,
        "encoder": encoder or tok.encoder,
        **enc.to_dict(),
    }


def report_tokenizer(
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    max_ecgs: int = 200,
    encoder: str | None = None,
) -> dict[str, Any]:
    """Vocabulary statistics of a tokenizer (``out_dir/report.json`` + ``report.png``); returns the report.

    With ``data`` (shards or records), at most ``max_ecgs`` of its ECGs are encoded for the
    per-lead and per-10 s counts.
    """
    from ecgbyte.corpus import is_shards, load_training_ecgs, read_records
    from ecgbyte.viz.tokenizer_report import tokenizer_report

    tok = load_ecgbyte_tokenizer(tokenizer_dir, what="the tokenizer report")
    ecgs = None
    if data is not None:
        src = Path(data)
        if is_shards(src):
            ecgs, _, _ = load_training_ecgs(src)
            ecgs = ecgs[:max_ecgs]
        else:
            ecgs = list(read_records(src, leads=tok.leads, max_records=max_ecgs))
    return tokenizer_report(tok, out_dir, ecgs=ecgs, encoder=encoder)


def load_ecgbyte_tokenizer(directory: str | Path, *, what: str = "this") -> ECGByteTokenizer:
    """Load an ECG-Byte tokenizer folder; another format raises :class:`TokenizerError` naming ``what``."""
    fmt = format_of(directory)
    if fmt != ECGBYTE_FORMAT:
        raise TokenizerError(
            f"{directory}: holds a {fmt!r} tokenizer, but {what} needs an ECG-Byte tokenizer (tokens with "
            "signal spans); pass a directory written by `ecgbyte train-tokenizer`"
        )
    return load_ecg_tokenizer(directory, expect=ECGBYTE_FORMAT)  # type: ignore[return-value]


__all__ = ["encode_record", "load_ecgbyte_tokenizer", "report_tokenizer", "train_tokenizer"]
