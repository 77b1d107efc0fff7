"""From ``QAItem`` to LLM token sequences: ECG-token cache, truncation policy, layout, collation.

Sequence (ECG-Byte paper)::

    <bos> <ecg_start> [<lead_X>] ECG tokens ... <ecg_end> [<ecg_start> ... <ecg_end>] question answer <eos>

- ECG token id ``k`` becomes LLM id ``layout.ecg_offset + k``; ECG strings never pass through
  the text tokenizer.
- Labels are ``-100`` everywhere except the answer tokens and ``<eos>`` (loss on the answer only).
- Left padding for generation, right padding for training (same loss; see :func:`collate`);
  ``position_ids`` count from the first real token (``cumsum(mask) - 1``).
- :class:`TruncationPolicy` is the one rule used in training *and* evaluation: keep the leads
  ``keep_leads`` (in that order), the tokens that start in the first ``max_seconds`` of each lead,
  at most ``max_ecg_tokens`` per ECG, and then, if the sequence is still longer than the context,
  the same number of leading tokens per lead (water-filling) so that it fits. Every cut token is
  counted in ``Example.n_cut``. With ``truncate=False`` a too-long sequence raises instead.
- :class:`EncodedCache` encodes each ECG once per tokenizer (memory, optionally ``.npz`` on disk)
  through the ECG-tokenizer protocol (:class:`~ecgbyte.ecg_tokenizer.EcgTokenizer`).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.data.items import EcgSegment, QAItem, ecg_key, load_ecg
from ecgbyte.ecg_tokenizer import EcgTokenizer, EncodedEcg  # EncodedEcg re-exported: older imports
from ecgbyte.errors import ConfigError, DatasetError, ModelError
from ecgbyte.fileio import atomic_write_bytes

IGNORE_INDEX = -100


def tokenizer_hash(tokenizer: EcgTokenizer) -> str:
    """The content hash of an ECG tokenizer: ``tokenizer.hash()`` (kept for older callers)."""
    return tokenizer.hash()


class EncodedCache:
    """Encode each ECG once per (record, leads, tokenizer); keep it in memory and optionally on disk.

    Disk entries are ``<dir>/<sha>.npz`` (uint32 ids, int64 offsets, float32 starts; loaded
    with ``allow_pickle=False``), written atomically.
    """

    def __init__(self, tokenizer: EcgTokenizer, directory: str | Path | None = None) -> None:
        self.tokenizer = tokenizer
        self.tok_hash = tokenizer.hash()
        self.directory = Path(directory) if directory is not None else None
        self._mem: dict[str, EncodedEcg] = {}
        self.n_encoded = 0

    def get(self, ecg: Any) -> EncodedEcg:
        rec = None if hasattr(ecg, "signal") else load_ecg(ecg)
        rec = rec or ecg
        key = f"{ecg_key(ecg)}|{','.join(rec.leads)}|{self.tok_hash}"
        if key in self._mem:
            return self._mem[key]
        path = None
        if self.directory is not None:
            path = self.directory / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".npz")
            if path.exists():
                with np.load(path, allow_pickle=False) as z:
                    start = z["start_s"] if z["start_s"].size == z["ids"].size else None
                    feats = z["features"] if "features" in z.files else None
                    # the encoded leads (a tokenizer may keep a subset of the record's leads)
                    leads = tuple(z["leads"].tolist()) if "leads" in z.files else rec.leads
                    enc = EncodedEcg(z["ids"].astype(np.int64), z["lead_offsets"], leads, start, feats)
                self._mem[key] = enc
                return enc
        enc = self.tokenizer.encode_ecg(prepared(self.tokenizer, ecg) if isinstance(ecg, EcgSegment) else rec)
        self.n_encoded += 1
        self._mem[key] = enc
        if path is not None:
            buf = io.BytesIO()
            np.savez(
                buf,
                ids=enc.ids.astype(np.uint32),
                lead_offsets=enc.lead_offsets,
                start_s=enc.start_s if enc.start_s is not None else np.zeros(0, np.float32),
                leads=np.array(enc.leads, dtype=str),
                **({} if enc.features is None else {"features": enc.features}),
            )
            atomic_write_bytes(path, buf.getvalue())
        return enc


def prepared(tokenizer: EcgTokenizer, ecg: Any) -> Any:
    """The ECG as ``tokenizer`` reads it (``tokenizer.prepare``), cut to the segment for an
    :class:`~ecgbyte.data.items.EcgSegment`; the result keeps ``meta["preprocess_hash"]``, so
    encoding it does not preprocess it again."""
    prep = tokenizer.prepare(load_ecg(ecg))
    if not isinstance(ecg, EcgSegment):
        return prep
    n = round(ecg.seconds * prep.fs)
    start, end = ecg.index * n, (ecg.index + 1) * n
    if end > prep.n_samples:
        from ecgbyte.errors import RecordError

        raise RecordError(
            f"segment {ecg.index} of {ecg.seconds:g} s needs {end / prep.fs:g} s but the record has "
            f"{prep.n_samples / prep.fs:g} s; choose a --segment-seconds the records can give",
            path=ecg_key(ecg.ecg),
            reason="too_short",
        )
    return prep.replace(signal=prep.signal[:, start:end])


@dataclass(frozen=True)
class SequenceLayout:
    """Where things live in the LLM vocabulary: text ids, markers, then ECG ids from ``ecg_offset``."""

    bos_id: int | None
    eos_id: int
    pad_id: int
    ecg_start_id: int
    ecg_end_id: int
    ecg_offset: int
    ecg_vocab_size: int
    lead_marker_ids: dict[str, int] | None = None
    tokenizer_hash: str = ""

    @property
    def vocab_size(self) -> int:
        return self.ecg_offset + self.ecg_vocab_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SequenceLayout:
        return cls(**d)

    def check_tokenizer(self, tok_hash: str, where: str = "checkpoint") -> None:
        """Raise ``ModelError`` if the ECG tokenizer differs from the one the model was trained with."""
        if self.tokenizer_hash and tok_hash != self.tokenizer_hash:
            raise ModelError(
                f"{where} was trained with ECG tokenizer {self.tokenizer_hash}, but the given "
                f"tokenizer hashes to {tok_hash}; use the ecg_tokenizer/ saved in the run directory"
            )


@dataclass(frozen=True)
class TruncationPolicy:
    """Which ECG tokens survive (see the module docstring); shared by training and evaluation."""

    keep_leads: tuple[str, ...] | None = None
    max_seconds: float | None = None
    max_ecg_tokens: int | None = None
    truncate: bool = True

    def select(self, enc: EncodedEcg) -> tuple[list[np.ndarray], list[str], int]:
        """Apply lead, seconds and per-ECG caps; returns (per-lead ids, lead names, n cut)."""
        names = list(self.keep_leads) if self.keep_leads is not None else list(enc.leads)
        missing = [n for n in names if n not in enc.leads]
        if missing:
            raise DatasetError(f"keep_leads {missing} not in the encoded ECG's leads {list(enc.leads)}")
        per_lead: list[np.ndarray] = []
        for n in names:
            i = enc.leads.index(n)
            ids = enc.lead_ids(i)
            if self.max_seconds is not None:
                if enc.start_s is None:
                    raise DatasetError("max_seconds needs token start times (spans) from the ECG tokenizer")
                ids = ids[enc.start_s[enc.lead_offsets[i] : enc.lead_offsets[i + 1]] < self.max_seconds]
            per_lead.append(ids)
        if self.max_ecg_tokens is not None:
            per_lead = _water_fill(per_lead, self.max_ecg_tokens)
        return per_lead, names, int(enc.ids.size - sum(x.size for x in per_lead))


def _water_fill(per_lead: list[np.ndarray], budget: int) -> list[np.ndarray]:
    """Keep the first ``c`` tokens of every lead, with the largest ``c`` whose total fits ``budget``."""
    lengths = np.array([x.size for x in per_lead])
    if lengths.sum() <= budget:
        return per_lead
    lo, hi = 0, int(lengths.max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if np.minimum(lengths, mid).sum() <= budget else (lo, mid - 1)
    return [x[:lo] for x in per_lead]


@dataclass
class Example:
    """One built sequence: ``input_ids`` and ``labels`` (python ints), prompt length, ECG/answer tokens cut."""

    item_id: str
    input_ids: list[int]
    labels: list[int]
    prompt_len: int
    n_cut: int
    answer: str
    question_type: str
    n_answer_cut: int = 0
    ecg_features: np.ndarray | None = None  # two-stage: float32 [n_ecgs, k, dim] in sequence order
    # per ECG lead in the prompt: (lead, start in s of its first cut token), None when none was cut
    cut_at_s: tuple[tuple[str, float | None], ...] = ()


class SequenceBuilder:
    """Build :class:`Example` s from ECG encodings and text with one layout and one policy.

    ``answer_reserve`` tokens (answer + ``<eos>``; use ``max_new_tokens + 1``) are kept free for
    the answer whether or not it is given, so the ECG tokens that survive a context cut are the
    same in training and in generation. A training answer longer than the reserve is cut to it
    (counted in ``Example.n_answer_cut``) or, with ``truncate=False``, raises.
    """

    def __init__(
        self,
        layout: SequenceLayout,
        policy: TruncationPolicy,
        *,
        max_length: int,
        encode_text: Callable[[str], list[int]],
        answer_reserve: int,
        no_signal: bool = False,
    ) -> None:
        self.layout, self.policy, self.max_length = layout, policy, max_length
        self.encode_text, self.no_signal, self.answer_reserve = encode_text, no_signal, answer_reserve

    def build(
        self,
        encodings: Sequence[EncodedEcg],
        question: str,
        answer: str | None,
        *,
        item_id: str = "",
        question_type: str = "unknown",
    ) -> Example:
        """Build one sequence; ``answer=None`` gives the generation prompt (no answer, no ``<eos>``)."""
        lay = self.layout
        q_ids = self.encode_text(question)
        a_ids = [] if answer is None else [*self.encode_text(answer), lay.eos_id]
        if answer is not None and len(a_ids) == 1:
            raise DatasetError(
                f"QA item {item_id!r}: the answer encodes to no tokens; give a non-empty answer"
            )
        head = [] if lay.bos_id is None else [lay.bos_id]
        chosen: list[tuple[list[np.ndarray], list[str]]] = []
        n_cut = 0
        if not self.no_signal:
            for enc in encodings:
                per_lead, names, cut = self.policy.select(enc)
                chosen.append((per_lead, names))
                n_cut += cut
        n_answer_cut = max(len(a_ids) - self.answer_reserve, 0)
        if n_answer_cut:
            if not self.policy.truncate:
                raise DatasetError(
                    f"QA item {item_id!r}: answer + <eos> is {len(a_ids)} tokens > answer_reserve "
                    f"{self.answer_reserve}; raise max_new_tokens or enable truncation"
                )
            a_ids = a_ids[: self.answer_reserve]
        fixed = len(head) + len(q_ids) + self.answer_reserve
        fixed += sum(2 + (len(names) if lay.lead_marker_ids else 0) for _, names in chosen)
        n_ecg = sum(x.size for per_lead, _ in chosen for x in per_lead)
        if fixed + n_ecg > self.max_length:
            if not self.policy.truncate:
                raise DatasetError(
                    f"QA item {item_id!r}: {fixed + n_ecg} tokens (with {self.answer_reserve} reserved for the "
                    f"answer) > max_length {self.max_length}; enable truncation (truncate=True, i.e. drop "
                    "--no-truncate) or raise max_length"
                )
            if fixed > self.max_length:
                raise DatasetError(
                    f"QA item {item_id!r}: text, markers and the answer reserve alone take {fixed} tokens > "
                    f"max_length {self.max_length}; raise max_length"
                )
            flat = _water_fill([x for per_lead, _ in chosen for x in per_lead], self.max_length - fixed)
            n_cut += n_ecg - sum(x.size for x in flat)
            it = iter(flat)
            chosen = [([next(it) for _ in per_lead], names) for per_lead, names in chosen]
        cut_at = _cut_times(encodings, chosen) if chosen else ()
        ids = list(head)
        for per_lead, names in chosen:
            ids.append(lay.ecg_start_id)
            for arr, name in zip(per_lead, names):
                if lay.lead_marker_ids:
                    ids.append(lay.lead_marker_ids[name])
                ids.extend((arr + lay.ecg_offset).tolist())
            ids.append(lay.ecg_end_id)
        ids.extend(q_ids)
        prompt_len = len(ids)
        ids.extend(a_ids)
        labels = [IGNORE_INDEX] * prompt_len + a_ids
        return Example(
            item_id,
            ids,
            labels,
            prompt_len,
            n_cut,
            answer or "",
            question_type,
            n_answer_cut,
            cut_at_s=cut_at,
        )


def _cut_times(
    encodings: Sequence[EncodedEcg], chosen: Sequence[tuple[list[np.ndarray], list[str]]]
) -> tuple[tuple[str, float | None], ...]:
    """For every lead in the prompt, where its kept tokens stop: the start time of its first cut token."""
    out = []
    for enc, (per_lead, names) in zip(encodings, chosen):
        for arr, name in zip(per_lead, names):
            i = enc.leads.index(name)
            lo, hi = int(enc.lead_offsets[i]), int(enc.lead_offsets[i + 1])
            cut = arr.size < hi - lo and enc.start_s is not None
            out.append((name, float(enc.start_s[lo + arr.size]) if cut else None))
    return tuple(out)


def lead_coverage(examples: Sequence[Example], full_seconds: float) -> dict[str, dict[str, float]]:
    """How much of each lead the model sees: per lead, over every ECG of every example,
    ``mean_seconds`` (the time its kept tokens reach: ``full_seconds`` when none was cut) and
    ``whole_fraction`` (the share of ECGs in which nothing of the lead was cut)."""
    seen: dict[str, list[float]] = {}
    whole: dict[str, list[bool]] = {}
    for ex in examples:
        for name, cut in ex.cut_at_s:
            seen.setdefault(name, []).append(full_seconds if cut is None else min(cut, full_seconds))
            whole.setdefault(name, []).append(cut is None)
    return {
        n: {"mean_seconds": round(float(np.mean(v)), 3), "whole_fraction": round(float(np.mean(whole[n])), 4)}
        for n, v in seen.items()
    }


def build_examples(
    items: Sequence[QAItem], builder: SequenceBuilder, cache: EncodedCache | None, *, with_answer: bool = True
) -> list[Example]:
    """Build every item once (ECGs through ``cache``); training then reuses these lists each epoch."""
    out = []
    for it in items:
        encs = [] if builder.no_signal or cache is None else [cache.get(e) for e in it.ecgs]
        ex = builder.build(
            encs,
            it.question,
            it.answer if with_answer else None,
            item_id=it.item_id,
            question_type=it.question_type,
        )
        if encs and encs[0].features is not None:
            ex.ecg_features = np.stack([e.features for e in encs])
        out.append(ex)
    return out


def collate(
    examples: Sequence[Example], pad_id: int, *, prompt_only: bool = False, padding_side: str = "left"
) -> dict[str, Any]:
    """Pad a batch into torch tensors ``[batch, max_len]``.

    Returns ``input_ids`` (pad ``pad_id``), ``attention_mask`` (0 on padding), ``position_ids``
    (``cumsum(mask) - 1``, 0 on padding) and, unless ``prompt_only``, ``labels`` (-100 on padding).
    ``prompt_only`` keeps only each example's first ``prompt_len`` tokens (generation input).

    ``padding_side``: ``"left"`` for generation (every prompt ends at the last column);
    ``"right"`` for training, which gives the same loss (positions come from ``position_ids``)
    and leaves no query row with nothing to attend to: a left pad sees no key at all, and on a
    GPU the backward pass of PyTorch's fused attention turns such rows into NaN gradients in bf16.
    """
    import torch

    if padding_side not in ("left", "right"):
        raise ConfigError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = [ex.input_ids[: ex.prompt_len] if prompt_only else ex.input_ids for ex in examples]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    labels = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)
    for row, (s, ex) in enumerate(zip(seqs, examples)):
        cols = slice(width - len(s), width) if padding_side == "left" else slice(0, len(s))
        ids[row, cols] = torch.tensor(s, dtype=torch.long)
        mask[row, cols] = 1
        if not prompt_only:
            labels[row, cols] = torch.tensor(ex.labels, dtype=torch.long)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0) * mask
    batch = {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids}
    if not prompt_only:
        batch["labels"] = labels
    feats = [ex.ecg_features for ex in examples if ex.ecg_features is not None]
    if feats:  # two-stage: every ECG's soft-token features, in batch then sequence order
        batch["ecg_features"] = torch.from_numpy(np.concatenate(feats)).float()
    return batch
