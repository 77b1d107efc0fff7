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

import contextlib
from collections.abc import Iterator
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
    n_merges: int | None = None,
    num_ecgs: int | None = None,
    sampling: str = "random",
    seed: int = 0,
    min_frequency: int | None = None,
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
    by morphology (:func:`ecgbyte.sampling.sample_ecgs`). ``n_merges`` and ``min_frequency``
    default to the preset's, else 3,500 and 2 (the paper's). Without a preset the source is read in
    bounded memory (:func:`ecgbyte.tokenizer_stream.train_streaming`) and, under torchrun, BPE is split
    over the processes (rank 0 writes).

    ``preset`` (a name in :data:`ecgbyte.presets.PRESETS`): train that representation instead; its
    preprocessing, leads, quantizer and merges apply (``n_merges`` overrides its merges when given),
    records go through its pipeline and shards must have been made with it.
    """
    from ecgbyte.ownership import check_folder, claim

    check_folder(out_dir, "tokenizer", legacy=_is_old_tokenizer, what="OUT_DIR")  # before any work
    if preset is not None:
        tok = _train_preset_in_memory(
            src,
            preset,
            n_merges=n_merges,
            num_ecgs=num_ecgs,
            sampling=sampling,
            seed=seed,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            segment_seconds=segment_seconds,
            layout=layout,
            progress=progress,
            threads=threads,
            quantizer=quantizer,
        )
        rank = 0
    else:
        from ecgbyte.tokenizer_stream import train_streaming

        with _bpe_processes() as rank:
            tok = train_streaming(
                src,
                n_merges=3500 if n_merges is None else n_merges,
                num_ecgs=num_ecgs,
                sampling=sampling,
                seed=seed,
                min_frequency=2 if min_frequency is None else min_frequency,
                max_token_length=max_token_length,
                segment_seconds=segment_seconds,
                layout=layout,
                progress=progress,
                threads=threads,
                quantizer=quantizer,
            )
    if rank != 0:  # one writer in a distributed run
        return tok, ()
    claim(out_dir, "tokenizer", ("tokenizer.json", "ecgbyte_config.json"))
    paths = tok.save_pretrained(out_dir)
    return tok, paths


def _train_preset_in_memory(
    src: str | Path,
    preset: str,
    *,
    n_merges: int | None,
    num_ecgs: int | None,
    sampling: str,
    seed: int,
    min_frequency: int | None,
    max_token_length: int | None,
    segment_seconds: float | None,
    layout: str,
    progress: bool,
    threads: int | None,
    quantizer: str,
) -> ECGByteTokenizer:
    """A named representation's tokenizer; its segments are held in memory (presets do not stream
    or split over processes yet)."""
    import dataclasses

    from ecgbyte.corpus import load_training_ecgs
    from ecgbyte.errors import ConfigError
    from ecgbyte.preset_tokenizer import train_preset
    from ecgbyte.presets import get_preset
    from ecgbyte.sampling import sample_ecgs

    if quantizer != "ecgbyte.quantizer":
        raise ConfigError(
            f"--quantizer {quantizer} does not combine with --preset {preset}: the preset names its own"
        )
    pre = get_preset(preset).preprocess
    if pre.segment_length is None:  # the segment length to cut records into
        pre = dataclasses.replace(pre, segment_length=round(10 * pre.target_fs))
    ecgs, _cfg, info = load_training_ecgs(src, segment_seconds=segment_seconds, layout=layout, preprocess=pre)
    chosen = sample_ecgs(ecgs, len(ecgs) if num_ecgs is None else num_ecgs, method=sampling, seed=seed)
    over: dict[str, Any] = {} if n_merges is None else {"n_merges": n_merges}
    if min_frequency is not None:
        over["min_frequency"] = min_frequency
    # the segments went through the preset's pipeline but for the segment length (which only sets
    # the too-short check; shards made with another pipeline were refused): they are the preset's
    same = {"preprocess_hash": get_preset(preset).preprocess.hash()}
    tok = train_preset(
        [ecgs[i].replace(meta={**ecgs[i].meta, **same}) for i in chosen],
        preset,
        seed=seed,
        progress=progress,
        threads=threads,
        max_token_length=max_token_length,
        **over,
    )
    tok.info.update(info)
    tok.info.update(
        {"sampling": sampling, "n_available": len(ecgs), "segment_samples": int(ecgs[0].n_samples)}
    )
    return tok


def _is_old_tokenizer(directory: Path) -> bool:
    """A tokenizer folder written before manifests (its ecgbyte_config.json names a format)."""
    try:
        format_of(directory)
    except TokenizerError:
        return False
    return True


@contextlib.contextmanager
def _bpe_processes() -> Iterator[int]:
    """Under torchrun (``WORLD_SIZE`` > 1), BPE training split over the processes (each trains on
    its share of the sampled ECGs' leads, the merges are the single-process ones); yields the rank."""
    from ecgbyte.bpe.distributed import env_world

    _, world = env_world()
    if world <= 1:
        yield 0
        return
    from ecgbyte.bpe.distributed import partitioned

    with partitioned() as comm:
        yield comm.rank


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
