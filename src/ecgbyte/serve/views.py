"""What the server sends about a record: its leads for plotting, its tokens, the preprocessing.

Plain functions from a run's ECG tokenizer and an :class:`~ecgbyte.ecg.Ecg` to JSON-ready dicts
(no web framework here). :func:`encode_record` prepares and encodes an ECG once and keeps what
the API and the page need; :func:`attention_view` turns an
:class:`~ecgbyte.elm.attention.AttentionMap` into per-lead weights aligned with those tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.ecg_tokenizer import EcgTokenizer, EncodedEcg
from ecgbyte.errors import RequestError

DISPLAY_POINTS = 1000  # at most this many samples per raw lead go to the page (display only)


@dataclass
class EncodedRecord:
    """An uploaded ECG as the model reads it: the record, its preparation and its encoding."""

    ecg: Ecg
    prepared: Ecg
    encoded: EncodedEcg
    end_s: np.ndarray | None  # end time of each token in its lead (s), when the tokenizer knows spans


def _round(x: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in x]


def encode_record(tokenizer: EcgTokenizer, ecg: Ecg) -> EncodedRecord:
    """Prepare (leads, preprocessing) and encode ``ecg`` once; ``RequestError`` 422 if the model cannot read it."""
    missing = [lead for lead in tokenizer.leads if lead not in ecg.leads]
    if missing:
        raise RequestError(
            f"{ecg.name}: the record has no lead {', '.join(missing)}, which this model reads "
            f"(the record has {', '.join(ecg.leads) or 'none'})",
            status=422,
            code="missing_lead",
        )
    try:
        prepared = tokenizer.prepare(ecg)
        enc = tokenizer.encode(prepared)
    except Exception as exc:  # the record's content (too short, flat...) is the upload's problem
        raise RequestError(
            f"{ecg.name}: the model's tokenizer cannot encode this record ({exc})",
            status=422,
            code="unencodable",
        ) from None
    end = getattr(enc, "end_s", None)
    end = None if end is None or callable(end) else np.asarray(end, dtype=np.float64)
    return EncodedRecord(ecg, prepared, EncodedEcg.from_encoding(enc, prepared.leads), end)


def preprocessing_info(tokenizer: EcgTokenizer) -> dict[str, Any]:
    """The tokenizer's format, vocabulary, leads, output rate and preprocessing config."""
    pre = getattr(tokenizer, "preprocess", None)
    fs = getattr(tokenizer, "fs", None)
    return {
        "tokenizer": tokenizer.format,
        "vocab_size": int(tokenizer.vocab_size),
        "leads": list(tokenizer.leads),
        "fs": float(fs) if fs else None,
        "config": pre.to_dict() if pre is not None else None,
    }


def tokens_per_lead(rec: EncodedRecord) -> dict[str, int]:
    """ECG tokens of each encoded lead (before the run's truncation policy)."""
    enc = rec.encoded
    return {name: int(enc.lead_offsets[i + 1] - enc.lead_offsets[i]) for i, name in enumerate(enc.leads)}


def record_info(ecg: Ecg) -> dict[str, Any]:
    return {
        "name": ecg.name,
        "fs": float(ecg.fs),
        "n_samples": int(ecg.n_samples),
        "duration_s": round(float(ecg.duration_s), 4),
        "leads": list(ecg.leads),
    }


def record_view(rec: EncodedRecord) -> list[dict[str, Any]]:
    """One entry per lead of the record, in its order, for the page to draw.

    Every lead carries its raw signal (mV, decimated to at most :data:`DISPLAY_POINTS` samples,
    ``raw_fs`` Hz). A lead the model reads also carries the prepared signal the tokens cover
    (``fs`` Hz) and each token's ``id``, ``start_s`` and ``end_s``.
    """
    ecg, prep, enc = rec.ecg, rec.prepared, rec.encoded
    step = max(1, math.ceil(ecg.n_samples / DISPLAY_POINTS))
    out = []
    for i, name in enumerate(ecg.leads):
        lead: dict[str, Any] = {
            "name": name,
            "raw_fs": float(ecg.fs) / step,
            "raw": _round(ecg.signal[i, ::step]),
            "tokenized": name in enc.leads,
        }
        if lead["tokenized"] and name in prep.leads:
            j = enc.leads.index(name)
            sl = slice(int(enc.lead_offsets[j]), int(enc.lead_offsets[j + 1]))
            lead.update(fs=float(prep.fs), signal=_round(prep.signal[prep.leads.index(name)]))
            lead["token_ids"] = [int(t) for t in enc.ids[sl]]
            if enc.start_s is not None:
                start = enc.start_s[sl].astype(np.float64)
                end = rec.end_s[sl] if rec.end_s is not None else np.append(start[1:], prep.duration_s)
                lead.update(start_s=_round(start), end_s=_round(end))
        out.append(lead)
    return out


def attention_view(amap: Any) -> dict[str, Any]:
    """Per-lead attention weights of an ``AttentionMap`` (``None`` where a token was cut), and the ECG share."""
    enc = amap.encoding
    w = np.asarray(amap.weights, dtype=np.float64)
    leads = {}
    for i, name in enumerate(enc.leads):
        part = w[int(enc.lead_offsets[i]) : int(enc.lead_offsets[i + 1])]
        leads[name] = [None if not np.isfinite(v) else round(float(v), 6) for v in part]
    return {"ecg_share": round(float(amap.ecg_share), 4), "leads": leads}


__all__ = [
    "EncodedRecord",
    "attention_view",
    "encode_record",
    "preprocessing_info",
    "record_info",
    "record_view",
    "tokens_per_lead",
]
