"""``ECGByteTokenizer``: preprocessing config + quantizer + BPE merges in one object.

The entry class of the tokenizer stack. ``encode(ecg)`` preprocesses a 12-lead ECG (unless it
already carries this config's ``meta["preprocess_hash"]``), symbolises every lead with the
quantizer, and encodes each lead on its own with BPE, so no token straddles two leads. The result,
:class:`Encoding`, holds the ids (leads concatenated in lead order), the token strings and, for
every token, the lead and the samples it covers: the interpretability of ECG-Byte.

The merges are the single source of truth; the vocabulary is derived from them. Files:
``tokenizer.json`` (Hugging Face format, loads with plain ``tokenizers``) and
``ecgbyte_config.json`` (everything else; see :mod:`ecgbyte.tokenizer_io`). No pickle anywhere.
It implements the ECG-tokenizer protocol (:class:`~ecgbyte.ecg_tokenizer.EcgTokenizer`), format
``"ecgbyte.tokenizer"``.

Never imports torch/transformers/peft at module level (``to_hf`` imports transformers lazily).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ecgbyte import tokenizer_io
from ecgbyte.bpe.merges import Merges
from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.ecg_tokenizer import ECGBYTE_FORMAT, EcgTokenizer
from ecgbyte.errors import TokenizerError
from ecgbyte.presets import Preset
from ecgbyte.signal.config import PreprocessConfig

ENCODERS = ("bpe", "greedy")


@dataclass(frozen=True, eq=False)
class Encoding:
    """The tokens of one ECG and the stretch of signal each one covers.

    Attributes
    ----------
    ids : int32 ``[n_tokens]``, token ids, leads concatenated in lead order.
    tokens : the token strings (``'a'..'z'`` symbols), one per id.
    lead_offsets : int64 ``[n_leads + 1]``; lead ``i`` owns ``ids[lead_offsets[i]:lead_offsets[i+1]]``.
    lead : int32 ``[n_tokens]``, the lead index of each token.
    start, end : int64 ``[n_tokens]``, first and one-past-last sample of each token in its lead,
        at ``fs`` Hz.
    fs : sampling rate of the symbolised signal in Hz (``nan`` when unknown).
    leads : lead names, one per lead.
    """

    ids: np.ndarray
    tokens: list[str]
    lead_offsets: np.ndarray
    lead: np.ndarray
    start: np.ndarray
    end: np.ndarray
    fs: float = float("nan")
    leads: tuple[str, ...] = ()
    n_samples: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def start_s(self) -> np.ndarray:
        """Start time of each token in seconds, float64 ``[n_tokens]``."""
        return self.start / self.fs

    @property
    def end_s(self) -> np.ndarray:
        """End time (exclusive) of each token in seconds, float64 ``[n_tokens]``."""
        return self.end / self.fs

    @property
    def features(self) -> None:
        """No per-token features: ECG-Byte tokens are ids only (see :class:`~ecgbyte.ecg_tokenizer.TokenEncoding`)."""
        return None

    @property
    def n_symbols(self) -> int:
        """Number of symbols encoded (all leads)."""
        return int((self.end - self.start).sum())

    @property
    def compression(self) -> float:
        """Symbols per token (1.0 means no compression); 0 for an empty encoding."""
        return self.n_symbols / len(self) if len(self) else 0.0

    def lead_ids(self, i: int) -> np.ndarray:
        """The ids of lead ``i``."""
        return self.ids[self.lead_offsets[i] : self.lead_offsets[i + 1]]

    def spans(self) -> list[tuple[int, int, int]]:
        """``(lead, start sample, end sample)`` of every token."""
        return list(zip(self.lead.tolist(), self.start.tolist(), self.end.tolist()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ids, tokens, per-token spans (samples and seconds) and compression."""
        fs = None if not np.isfinite(self.fs) else self.fs
        return {
            "ids": self.ids.tolist(),
            "tokens": list(self.tokens),
            "lead_offsets": self.lead_offsets.tolist(),
            "leads": list(self.leads),
            "fs": fs,
            "n_samples": self.n_samples,
            "n_symbols": self.n_symbols,
            "n_tokens": len(self),
            "compression": self.compression,
            "spans": [
                {"lead": int(ld), "start": int(s), "end": int(e)}
                | ({"start_s": s / fs, "end_s": e / fs} if fs else {})
                for ld, s, e in self.spans()
            ],
        }


class ECGByteTokenizer(EcgTokenizer):
    """ECG-Byte tokenizer: preprocessing config + quantizer + merges (an :class:`~ecgbyte.ecg_tokenizer.EcgTokenizer`).

    Parameters
    ----------
    quantizer : :class:`ecgbyte.symbols.Quantizer`, mV → symbol codes.
    merges : :class:`ecgbyte.bpe.Merges`, the trained merges (the vocabulary derives from them).
    preprocess : signal pipeline applied by :meth:`encode`; ``None`` symbolises ECGs as given.
    leads : lead order; :meth:`encode` selects and reorders an ECG's leads to it.
    encoder : default encoder, ``"bpe"`` (rank-ordered, identical to HF ``tokenizers``) or
        ``"greedy"`` (longest match, the original ECG-Byte).
    preset : the named representation it was made from (:mod:`ecgbyte.presets`): records are checked
        against it and :meth:`decode` rebuilds its derived leads; ``None``: made without one.
    """

    format: ClassVar[str] = ECGBYTE_FORMAT

    def __init__(
        self,
        *,
        quantizer: Any,
        merges: Merges,
        preprocess: PreprocessConfig | None = PreprocessConfig(),  # noqa: B008 - frozen dataclass
        leads: Sequence[str] = STANDARD_LEADS,
        encoder: str = "bpe",
        info: dict[str, Any] | None = None,
        preset: Preset | None = None,
    ) -> None:
        if not isinstance(merges, Merges):
            raise TokenizerError(f"merges must be an ecgbyte.bpe.Merges, got {type(merges).__name__}")
        if preprocess is not None and not isinstance(preprocess, PreprocessConfig):
            raise TokenizerError(
                f"preprocess must be a PreprocessConfig or None, got {type(preprocess).__name__}"
            )
        n_symbols = int(getattr(quantizer, "n_symbols", -1))
        if n_symbols != merges.alphabet_size:
            raise TokenizerError(
                f"the quantizer makes {n_symbols} symbols but the merges are over {merges.alphabet_size}; "
                "train them together"
            )
        self.quantizer = quantizer
        self.merges = merges
        self.preprocess = preprocess
        self.leads = tuple(leads)
        self.encoder = _check_encoder(encoder)
        self.info: dict[str, Any] = dict(info or {})
        self.preset = preset
        self._derive()

    def _derive(self) -> None:
        self._vocab = self.merges.vocab()
        self._index = {s: i for i, s in enumerate(self._vocab)}
        self._lengths = self.merges.token_lengths().astype(np.int64)

    # -- training --------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        ecgs: Sequence[Ecg],
        cfg: Any,
        *,
        leads: tuple[str, ...],
        fs: float,
        preprocess: PreprocessConfig | None,
        seed: int,
        progress: bool = True,
        **options: Any,
    ) -> ECGByteTokenizer:
        """A run's new tokenizer: :meth:`train` with ``options["n_merges"]`` (default 1000) merges."""
        return cls.train(
            ecgs, n_merges=int(options.get("n_merges", 1000)), leads=leads, seed=seed, preprocess=preprocess
        )

    @classmethod
    def train(
        cls,
        ecgs: Iterable[Ecg],
        *,
        n_merges: int = 3500,
        min_frequency: int = 2,
        max_token_length: int | None = None,
        percentiles: tuple[float, float] = (1, 99),
        seed: int = 0,
        preprocess: PreprocessConfig | None = PreprocessConfig(),  # noqa: B008 - frozen dataclass
        leads: Sequence[str] = STANDARD_LEADS,
        encoder: str = "bpe",
        n_symbols: int = 26,
        progress: bool = False,
        threads: int | None = None,
        quantizer: str = "ecgbyte.quantizer",
    ) -> ECGByteTokenizer:
        """Fit the quantizer on ``ecgs`` and train BPE on their symbols, one sequence per lead.

        ECGs are preprocessed with ``preprocess`` unless already (same config hash); the
        quantizer's percentiles come from a seeded sample of their values; merges never span
        two leads or two ECGs. ``threads``: BPE training threads (None: all cores); the merges
        do not depend on it. ``quantizer``: the kind of quantizer to fit (a key of
        :data:`ecgbyte.symbols.registry.QUANTIZERS`; the default is ECG-Byte's uniform 26 bins).
        """
        from ecgbyte.bpe import train as train_bpe
        from ecgbyte.symbols.registry import quantizer_class

        q_cls = quantizer_class(quantizer)  # an unknown kind fails before any preprocessing
        leads = tuple(leads)
        signals = [_prepare(ecg, preprocess, leads).signal for ecg in ecgs]
        if not signals:
            raise TokenizerError(
                "no ECGs to train the tokenizer on; check the source directory or --num-ecgs"
            )
        quant = q_cls.fit(signals, percentiles=percentiles, seed=seed, n_symbols=n_symbols)
        sequences = [row for sig in signals for row in quant.symbolize(sig)]
        merges = train_bpe(
            sequences,
            n_merges=n_merges,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            alphabet_size=n_symbols,
            progress=progress,
            threads=threads,
        )
        info = {
            "n_ecgs": len(signals),
            "n_symbols": int(sum(s.size for s in signals)),
            "n_merges_requested": int(n_merges),
            "min_frequency": int(min_frequency),
            "max_token_length": max_token_length,
            "percentiles": [float(p) for p in percentiles],
            "seed": int(seed),
        }
        return cls(
            quantizer=quant, merges=merges, preprocess=preprocess, leads=leads, encoder=encoder, info=info
        )

    # -- vocabulary ------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.merges.vocab_size

    @property
    def vocab(self) -> list[str]:
        """Token strings indexed by id."""
        return list(self._vocab)

    @property
    def fs(self) -> float | None:
        """Sampling rate (Hz) of what :meth:`encode` symbolises; ``None`` if it is the input's."""
        return tokenizer_io.output_fs(self.preprocess)

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= int(token_id) < self.vocab_size:
            raise TokenizerError(f"token id {token_id} is outside the vocabulary 0..{self.vocab_size - 1}")
        return self._vocab[int(token_id)]

    def token_to_id(self, token: str) -> int:
        try:
            return self._index[token]
        except KeyError:
            raise TokenizerError(f"{token!r} is not in the vocabulary of {self.vocab_size} tokens") from None

    # -- encoding --------------------------------------------------------------------------------
    def prepare(self, ecg: Ecg) -> Ecg:
        """The ECG as :meth:`encode` symbolises it: these leads, preprocessed with this config."""
        if self.preset is not None and isinstance(ecg, Ecg):
            self.preset.check_record(ecg)
        return _prepare(ecg, self.preprocess, self.leads)

    def encode(self, ecg: Ecg, *, encoder: str | None = None) -> Encoding:
        """Tokenize one ECG (``Ecg``, any rate); see :class:`Encoding` for what comes back."""
        ecg = self.prepare(ecg)
        enc = self.encode_symbols(self.quantizer.symbolize(ecg.signal), encoder=encoder, fs=ecg.fs)
        return replace(enc, fs=ecg.fs, leads=ecg.leads, n_samples=ecg.n_samples)

    def encode_greedy(self, ecg: Ecg) -> Encoding:
        """:meth:`encode` with the original ECG-Byte longest-match encoder."""
        return self.encode(ecg, encoder="greedy")

    def encode_to_numpy(self, ecg: Ecg, *, encoder: str | None = None) -> np.ndarray:
        """Only the ids, uint32 ``[n_tokens]`` (what shard writers store)."""
        return self.encode(ecg, encoder=encoder).ids.astype(np.uint32)

    def encode_batch(
        self, ecgs: Sequence[Ecg], *, encoder: str | None = None, num_workers: int = 1
    ) -> list[Encoding]:
        """:meth:`encode` over many ECGs, in order; ``num_workers > 1`` uses processes."""
        if num_workers <= 1 or len(ecgs) < 2:
            return [self.encode(e, encoder=encoder) for e in ecgs]
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            return list(pool.map(_encode_one, [(self, e, encoder) for e in ecgs], chunksize=8))

    def encode_symbols(
        self, codes: np.ndarray | Sequence[np.ndarray], *, encoder: str | None = None, fs: float | None = None
    ) -> Encoding:
        """Encode symbol codes: one lead (1-D) or ``[leads, samples]`` (or a list of 1-D leads)."""
        from ecgbyte.bpe import encode_bpe, encode_greedy

        fn = encode_greedy if _check_encoder(encoder or self.encoder) == "greedy" else encode_bpe
        rows = [np.asarray(codes)] if np.ndim(codes) == 1 else list(codes)
        per_lead = []
        for i, row in enumerate(rows):
            row = np.asarray(row)
            if row.size and (row.min() < 0 or row.max() >= self.merges.alphabet_size):
                raise TokenizerError(f"lead {i}: symbol codes must be in 0..{self.merges.alphabet_size - 1}")
            per_lead.append(np.asarray(fn(row.astype(np.uint8), self.merges), dtype=np.int32))
        return self._encoding(per_lead, fs=fs if fs is not None else (self.fs or float("nan")))

    def _encoding(self, per_lead: list[np.ndarray], *, fs: float) -> Encoding:
        counts = np.array([len(x) for x in per_lead], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        ids = np.concatenate(per_lead).astype(np.int32) if per_lead else np.zeros(0, dtype=np.int32)
        lengths = self._lengths[ids]
        lead = np.repeat(np.arange(len(per_lead), dtype=np.int32), counts)
        end = np.cumsum(lengths)
        lead_start = (
            np.concatenate([[0], end])[offsets[:-1]] if len(ids) else np.zeros(len(per_lead), np.int64)
        )
        end = end - np.repeat(lead_start, counts)
        start = end - lengths
        n_samples = int(end[offsets[1:] - 1].max()) if len(ids) else 0
        return Encoding(
            ids, [self._vocab[i] for i in ids.tolist()], offsets, lead, start, end, fs, (), n_samples
        )

    # -- decoding --------------------------------------------------------------------------------
    def decode_symbols(self, ids: Iterable[int] | np.ndarray) -> str:
        """Token ids → symbol string ('a'..'z'), lossless (leads are simply concatenated)."""
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise TokenizerError(f"token id {bad} is outside the vocabulary 0..{self.vocab_size - 1}")
        return "".join(self._vocab[i] for i in ids.tolist())

    def decode(
        self, ids_or_encoding: Encoding | Iterable[int], *, lead_offsets: Sequence[int] | None = None
    ) -> np.ndarray:
        """Token ids → signal at bin centres, float32 ``[leads, samples]`` in mV.

        An :class:`Encoding` (or ``lead_offsets``) splits the ids into leads; plain ids give one
        lead. Leads of different lengths are padded with NaN at the end. With a :attr:`preset`, all
        the encoded leads decode to its 12 output leads (derived leads rebuilt from I and II).
        """
        if isinstance(ids_or_encoding, Encoding):
            ids, offsets = ids_or_encoding.ids, ids_or_encoding.lead_offsets
        else:
            ids = np.asarray(list(ids_or_encoding), dtype=np.int64)
            offsets = np.asarray(lead_offsets if lead_offsets is not None else [0, len(ids)], dtype=np.int64)
        if offsets[0] != 0 or offsets[-1] != len(ids) or np.any(np.diff(offsets) < 0):
            raise TokenizerError(f"lead_offsets {offsets.tolist()} do not split {len(ids)} ids")
        rows = []
        alphabet_index = {c: i for i, c in enumerate(self.merges.alphabet)}
        for a, b in itertools.pairwise(offsets.tolist()):
            text = self.decode_symbols(ids[a:b])
            codes = np.fromiter((alphabet_index[c] for c in text), dtype=np.uint8, count=len(text))
            rows.append(np.asarray(self.quantizer.dequantize(codes), dtype=np.float32))
        width = max((r.size for r in rows), default=0)
        out = np.full((len(rows), width), np.nan, dtype=np.float32)
        for i, r in enumerate(rows):
            out[i, : r.size] = r
        return out if self.preset is None or len(rows) != len(self.leads) else self.preset.rebuild(out)

    def token_spans(self, encoding: Encoding) -> list[tuple[int, int, int]]:
        """``(lead, start sample, end sample)`` of every token of ``encoding``."""
        return encoding.spans()

    # -- files -----------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> tuple[str, ...]:
        """Write ``tokenizer.json`` and ``ecgbyte_config.json`` into ``directory``; return their paths."""
        return tokenizer_io.save(self._parts(), directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ECGByteTokenizer:
        """Load a directory written by :meth:`save_pretrained` (local paths only)."""
        return cls._from_parts(
            tokenizer_io.load(directory), where=str(Path(directory) / tokenizer_io.CONFIG_NAME)
        )

    def to_config(self) -> dict[str, Any]:
        """The JSON-ready content of ``ecgbyte_config.json``."""
        return tokenizer_io.to_config(self._parts())

    def hash(self) -> str:
        """Content hash: :func:`~ecgbyte.fileio.hash_directory` of what :meth:`save_pretrained` writes.

        Computed in memory (no files written); a run stores it in ``layout.json``.
        """
        return tokenizer_io.content_hash(self._parts())

    def _parts(self) -> tokenizer_io.TokenizerParts:
        return tokenizer_io.TokenizerParts(
            quantizer=self.quantizer,
            merges=self.merges,
            preprocess=self.preprocess,
            leads=self.leads,
            encoder=self.encoder,
            info=self.info,
            preset=self.preset,
        )

    @classmethod
    def _from_parts(cls, parts: tokenizer_io.TokenizerParts, *, where: str) -> ECGByteTokenizer:
        try:
            return cls(
                quantizer=parts.quantizer,
                merges=parts.merges,
                preprocess=parts.preprocess,
                leads=parts.leads,
                encoder=parts.encoder,
                info=parts.info,
                preset=parts.preset,
            )
        except TokenizerError as exc:
            raise TokenizerError(
                f"{where}: {exc}; the file is damaged or inconsistent, save it again"
            ) from exc

    def to_tokenizers(self) -> Any:
        """A ``tokenizers.Tokenizer`` that encodes one lead's symbol string as ``encoder="bpe"``."""
        from ecgbyte.bpe.hf import to_hf_tokenizer

        return to_hf_tokenizer(self.merges)

    def to_hf(self) -> Any:
        """A ``transformers.PreTrainedTokenizerFast`` over :meth:`to_tokenizers` (needs ``ecgbyte[elm]``)."""
        from ecgbyte.errors import require

        transformers = require("transformers", "elm")
        return transformers.PreTrainedTokenizerFast(tokenizer_object=self.to_tokenizers())  # type: ignore[attr-defined]

    # -- pickling for DataLoader workers: rebuild from constructor arguments -------------------------
    def __getstate__(self) -> dict[str, Any]:
        return self.to_config()

    def __setstate__(self, state: dict[str, Any]) -> None:
        where = "<pickled state>"
        other = self._from_parts(tokenizer_io.from_config(state, where=where), where=where)
        self.__dict__.update(other.__dict__)

    def __repr__(self) -> str:
        return (
            f"ECGByteTokenizer(vocab_size={self.vocab_size}, n_merges={len(self.merges)}, "
            f"leads={len(self.leads)}, encoder={self.encoder!r}, fs={self.fs})"
        )


def _check_encoder(encoder: str) -> str:
    if encoder not in ENCODERS:
        raise TokenizerError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    return encoder


def _prepare(ecg: Ecg, preprocess: PreprocessConfig | None, leads: tuple[str, ...]) -> Ecg:
    if not isinstance(ecg, Ecg):
        raise TokenizerError(
            f"expected an ecgbyte.Ecg, got {type(ecg).__name__}; wrap arrays as Ecg(signal, fs=...) "
            "or use encode_symbols() for symbol codes"
        )
    if tuple(ecg.leads) != leads:
        ecg = ecg.select_leads(leads)
    done = ecg.meta.get("preprocess_hash")
    if preprocess is None or done == preprocess.hash():
        return ecg
    if done is not None:
        raise TokenizerError(
            f"{ecg.name}: already preprocessed with another config (hash {done}, the tokenizer's is "
            f"{preprocess.hash()}); preprocess the raw record with the tokenizer's config "
            "(ecgbyte_config.json 'preprocess') or pass the raw record"
        )
    from ecgbyte.signal import preprocess as run_preprocess

    return run_preprocess(ecg, preprocess)


def _encode_one(args: tuple[ECGByteTokenizer, Ecg, str | None]) -> Encoding:
    tok, ecg, encoder = args
    return tok.encode(ecg, encoder=encoder)
