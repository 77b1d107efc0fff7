"""Training an ECG-Byte tokenizer from a source in bounded memory (``ecgbyte train-tokenizer``).

The source (shards or records, :func:`ecgbyte.corpus.training_segments`) is read one segment at a
time, in three passes:

1. count the segments (``sampling="random"``) or compute their morphology features
   (``"stratified"``, a few dozen numbers each), and choose the sample from those alone;
2. fit the quantizer on the chosen segments (:meth:`Quantizer.fit` keeps a seeded reservoir of
   at most a million values);
3. symbolize the chosen segments straight into one packed ``uint8 [n, leads, samples]`` array,
   whose rows the BPE trainer takes as its sequences without copying them.

So the memory held is the chosen corpus at one byte per symbol, plus one shard or record at a
time, plus the trainer's own; never the float signals of the whole source. Under torchrun
(:func:`ecgbyte.bpe.distributed.partitioned`) every process reads the source and fits the same
quantizer, but symbolizes and trains on every ``size``-th chosen segment only, so each holds its
share of the corpus. The tokenizer is the
one :meth:`ECGByteTokenizer.train` gives on the same chosen segments (same quantizer, symbols,
merges and info): the passes read the same segments in the same order. Records are preprocessed
in each pass (three times), shards are only read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.bpe.trainer import PARTITIONED
from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.errors import ConfigError, TokenizerError
from ecgbyte.tokenizer import ECGByteTokenizer, _prepare


def train_streaming(
    src: str | Path,
    *,
    n_merges: int = 3500,
    num_ecgs: int | None = None,
    sampling: str = "random",
    seed: int = 0,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    segment_seconds: float | None = None,
    layout: str = "auto",
    progress: bool = False,
    threads: int | None = None,
    quantizer: str = "ecgbyte.quantizer",
) -> ECGByteTokenizer:
    """Train on ``num_ecgs`` segments of ``src`` sampled with ``seed`` (see the module docstring).

    Options as :func:`ecgbyte.tokenizer_tasks.train_tokenizer`; the result equals training
    :meth:`ECGByteTokenizer.train` on :func:`ecgbyte.corpus.load_training_ecgs`'s sample.
    """
    from ecgbyte.bpe import train as train_bpe
    from ecgbyte.corpus import training_segments
    from ecgbyte.sampling import ecg_features, sample_ecgs
    from ecgbyte.symbols.registry import quantizer_class

    q_cls = quantizer_class(quantizer)  # an unknown kind fails before any reading
    read, cfg, info = training_segments(src, segment_seconds=segment_seconds, layout=layout)
    passes = _bars(read, progress)
    feats: list[np.ndarray] = []
    count, samples = 0, 0
    for ecg in passes("reading the source (1/3)"):
        if count == 0:
            samples = int(ecg.n_samples)
        if sampling == "stratified":
            feats.append(ecg_features(ecg.signal, ecg.fs))
        count += 1
    if count == 0:
        if info["source_kind"] == "records":
            from ecgbyte.errors import DatasetError

            raise DatasetError(
                f"{src}: no record could be read and preprocessed (skipped: {info['skipped']})"
            )
        raise TokenizerError("no ECGs to train the tokenizer on; check the source directory or --num-ecgs")
    n = count if num_ecgs is None else num_ecgs
    skipped = dict(info["skipped"]) if "skipped" in info else None  # the full pass's count
    items: Any = range(count)
    if sampling == "stratified":
        widths = {f.size for f in feats}
        if len(widths) != 1:  # as ecgbyte.sampling.features_matrix
            raise ConfigError(
                f"ECGs have different lead counts (feature widths {sorted(widths)}); select leads first"
            )
        items = np.stack(feats)
    chosen = sample_ecgs(items, n, method=sampling, seed=seed)
    del feats
    leads = tuple(STANDARD_LEADS)

    def chosen_signals(desc: str, positions: np.ndarray) -> Iterator[np.ndarray]:
        want = iter(positions.tolist())
        nxt = next(want, None)
        for i, ecg in enumerate(passes(desc)):
            if nxt is None:
                break
            if i == nxt:
                yield _prepare(ecg, cfg, leads).signal
                nxt = next(want, None)

    if len(chosen) == 0:
        raise TokenizerError("no ECGs to train the tokenizer on; check the source directory or --num-ecgs")
    n_values = [0]

    def counted(signals: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for sig in signals:
            n_values[0] += int(sig.size)
            yield sig

    fit_on = counted(chosen_signals("fitting the quantizer (2/3)", chosen))
    quant = q_cls.fit(fit_on, percentiles=(1, 99), seed=seed, n_symbols=26)
    # in a distributed run (ecgbyte.bpe.distributed.partitioned) each process symbolizes and trains
    # on every size-th chosen ECG only; the merges do not depend on how the corpus is split
    hook = PARTITIONED.get()
    rank, size = getattr(hook, "share", (0, 1))
    mine = chosen[rank::size]
    codes = _symbolize_all(quant, chosen_signals("symbolizing (3/3)", mine), len(mine))
    train_share = getattr(hook, "train_share", None) or train_bpe
    merges = train_share(
        [row for ecg_codes in codes for row in ecg_codes],
        n_merges=n_merges,
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        alphabet_size=26,
        progress=progress,
        threads=threads,
    )
    tok_info = {
        "n_ecgs": len(chosen),
        "n_symbols": n_values[0],
        "n_merges_requested": int(n_merges),
        "min_frequency": int(min_frequency),
        "max_token_length": max_token_length,
        "percentiles": [1.0, 99.0],
        "seed": int(seed),
    }
    tok = ECGByteTokenizer(quantizer=quant, merges=merges, preprocess=cfg, leads=leads, info=tok_info)
    if skipped is not None:
        info["skipped"] = skipped  # (passes 2 and 3 stop after the last chosen segment)
    tok.info.update(info)
    tok.info.update({"sampling": sampling, "n_available": count, "segment_samples": samples})
    return tok


def _symbolize_all(quant: Any, signals: Iterator[np.ndarray], n: int) -> Any:
    """The segments' codes in one packed ``uint8 [n, leads, samples]`` array (a list of arrays if
    segments differ in shape)."""
    packed: np.ndarray | None = None
    ragged: list[np.ndarray] = []
    for k, sig in enumerate(signals):
        sym = quant.symbolize(sig)
        if packed is None and not ragged:
            packed = np.empty((n, *sym.shape), np.uint8)
        if packed is not None and sym.shape == packed.shape[1:]:
            packed[k] = sym
            continue
        if packed is not None:  # a segment of another shape: fall back to one array per segment
            ragged, packed = [packed[i] for i in range(k)], None
        ragged.append(sym.astype(np.uint8, copy=False))
    return packed if packed is not None else ragged


def _bars(read: Callable[[], Iterator[Ecg]], progress: bool) -> Callable[[str], Iterator[Ecg]]:
    def passes(desc: str) -> Iterator[Ecg]:
        if not progress:
            return read()
        from tqdm.auto import tqdm

        return iter(tqdm(read(), desc=desc, unit="segment"))

    return passes
