"""Train and open ECG-Byte tokenizers of a named representation (:mod:`ecgbyte.presets`).

- :func:`train_preset`: a preset's tokenizer from ECGs (what ``train-tokenizer --preset`` runs);
- :func:`load_preset_tokenizer`: open a tokenizer folder, optionally requiring a preset, so a run
  that expects one representation refuses a folder of another with a one-line error;
- :func:`prepare_for`: an ECG as a preset reads it (checked, its leads, preprocessed).

Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ecgbyte.ecg import Ecg
from ecgbyte.errors import TokenizerError
from ecgbyte.presets import Preset, check_preset, get_preset
from ecgbyte.tokenizer import ECGByteTokenizer


def prepare_for(ecg: Ecg, preset: Preset) -> Ecg:
    """``ecg`` as ``preset`` encodes it: checked (:meth:`Preset.check_record`), its leads, preprocessed."""
    from ecgbyte.signal import preprocess

    if not isinstance(ecg, Ecg):
        raise TokenizerError(f"expected an ecgbyte.Ecg, got {type(ecg).__name__}")
    preset.check_record(ecg)
    ecg = ecg.select_leads(preset.leads)
    done, want = ecg.meta.get("preprocess_hash"), preset.preprocess.hash()
    if done == want:
        return ecg
    if done is not None:
        raise TokenizerError(
            f"{ecg.name}: already preprocessed with another config (hash {done}, the {preset.name!r} "
            f"preset's is {want}); pass the raw record"
        )
    return preprocess(ecg, preset.preprocess)


def train_preset(
    ecgs: Iterable[Ecg],
    preset: str | Preset = "compact",
    *,
    seed: int = 0,
    progress: bool = False,
    threads: int | None = None,
    encoder: str = "bpe",
    max_token_length: int | None = None,
    **overrides: Any,
) -> ECGByteTokenizer:
    """Fit a preset's quantizer on ``ecgs`` and train its BPE merges; the tokenizer keeps the preset.

    Parameters
    ----------
    ecgs : raw records (any rate >= the preset's, with its encoded leads) or records already
        preprocessed with the preset's pipeline.
    preset : a name in :data:`ecgbyte.presets.PRESETS` or a :class:`~ecgbyte.presets.Preset`.
    seed : seeds the quantizer's percentile sample.
    threads : BPE training threads (the merges do not depend on it).
    overrides : preset fields to change (e.g. ``n_merges=8000``); stored with the tokenizer.

    Raises
    ------
    RecordError : a record lacks an encoded lead or has too low a rate (one line, naming it).
    TokenizerError : no ECGs.
    """
    from ecgbyte.bpe import train as train_bpe
    from ecgbyte.symbols.registry import quantizer_class

    p = get_preset(preset, **overrides)
    signals = [prepare_for(ecg, p).signal for ecg in ecgs]
    if not signals:
        raise TokenizerError(f"no ECGs to train the {p.name!r} tokenizer on; check the source directory")
    extra = {"hysteresis": p.hysteresis} if p.quantizer == "ecgbyte.hysteresis_quantizer" else {}
    quant = quantizer_class(p.quantizer).fit(
        signals, percentiles=p.percentiles, seed=seed, n_symbols=p.n_symbols, **extra
    )
    sequences = [row for sig in signals for row in quant.symbolize(sig)]
    merges = train_bpe(
        sequences,
        n_merges=p.n_merges,
        min_frequency=p.min_frequency,
        max_token_length=max_token_length,
        alphabet_size=p.n_symbols,
        progress=progress,
        threads=threads,
    )
    info = {
        "n_ecgs": len(signals),
        "n_symbols": int(sum(s.size for s in signals)),
        "n_merges_requested": int(p.n_merges),
        "min_frequency": int(p.min_frequency),
        "max_token_length": max_token_length,
        "percentiles": list(p.percentiles),
        "seed": int(seed),
    }
    return ECGByteTokenizer(
        quantizer=quant,
        merges=merges,
        preprocess=p.preprocess,
        leads=p.leads,
        encoder=encoder,
        info=info,
        preset=p,
    )


def load_preset_tokenizer(directory: str | Path, *, expect: str | None = None) -> ECGByteTokenizer:
    """Open an ECG-Byte tokenizer folder; with ``expect``, refuse one of another representation.

    A folder made before presets loads as before; with ``expect="paper"`` it is accepted when
    its leads and preprocessing are the paper's.
    """
    from ecgbyte.ecg_tokenizer import ECGBYTE_FORMAT, format_of, load_ecg_tokenizer

    fmt = format_of(directory)
    if fmt != ECGBYTE_FORMAT:
        raise TokenizerError(
            f"{directory}: holds a {fmt!r} tokenizer, not an ECG-Byte one; pass a directory written by "
            "`ecgbyte train-tokenizer`"
        )
    tok = load_ecg_tokenizer(directory, expect=ECGBYTE_FORMAT)
    assert isinstance(tok, ECGByteTokenizer)
    if expect is not None:
        get_preset(expect)  # an unknown name fails as such
        check_preset(tok, expect, where=str(directory))
    return tok


__all__ = ["load_preset_tokenizer", "prepare_for", "train_preset"]
