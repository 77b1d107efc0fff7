"""ECG-Chat style instruction data (LLaVA-like conversations about one ECG record).

The format of ECG-Chat's ``pretrain_mimic.json`` and ``ecg_instruct_45k.json`` (Zhao et al.,
YubaoZhao/ECG-Chat; ECG-Bench reads the same keys)::

    [{"id": "...",
      "ecg": "files/p1000/p10000032/s40689238/40689238",      # record path under the root
      "conversations": [{"from": "human", "value": "<ecg>\\nPlease interpret this ECG."},
                        {"from": "gpt", "value": "Sinus rhythm. Normal ECG."}, ...]}, ...]

Flattening (documented choice): every (human, gpt) pair becomes one
:class:`~ecgbyte.data.items.QAItem`, id ``"<id>#<turn>"`` (turn from 0), with the gpt reply as
the answer. With ``history=True`` (default) the question of turn ``k > 0`` carries the earlier
turns as plain text, ``"User: q0\\nAssistant: a0\\n...User: qk"``, so a follow-up keeps its
context; with ``history=False`` each turn's question stands alone. The image/ECG placeholders
``<ecg>`` and ``<image>`` are removed from the text: the ECG itself goes in as ECG tokens between
its markers. All turns of a conversation share the record and the patient, so a patient split
keeps them together.

Records are resolved as ``root / ecg`` (a WFDB stem, ``.hea``, ``.npy`` or ``.npz``). The patient
is the MIMIC-IV-ECG subject from ``files/pNNNN/p<subject>/s<study>/``; else an item's own
``patient_id`` field; else the record path itself (one patient per record, marked
``meta["patient_id_source"] = "record"``, which only keeps a split honest if records of one
person are never under two paths). A missing record, an empty reply or an unanswered last
question is a counted skip in the :class:`~ecgbyte.data.ecgqa.LoadReport` (an error with
``strict=True``); a malformed file always raises, naming the file and the item index.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ecgbyte.data.ecgqa import LoadReport
from ecgbyte.data.items import QAItem, read_json_list
from ecgbyte.errors import DatasetError

HUMAN_ROLES = ("human", "user")
GPT_ROLES = ("gpt", "assistant")
_PLACEHOLDER = re.compile(r"\s*<(?:ecg|image)>\s*", re.IGNORECASE)
_MIMIC_PATH = re.compile(r"(?:^|/)files/p\d+/p(\d+)/s(\d+)(?:/|$)")


def clean_turn(text: str) -> str:
    """Remove ``<ecg>`` / ``<image>`` placeholders and surrounding whitespace from one turn's text."""
    return _PLACEHOLDER.sub(" ", text).strip()


def resolve_record(root: str | Path, ecg: str) -> Path | None:
    """The readable record for ``ecg`` under ``root`` (``.hea`` for a WFDB stem), or ``None`` if absent."""
    p = Path(root) / ecg
    if p.suffix.lower() in (".hea", ".npy", ".npz") and p.is_file():
        return p
    for suffix in (".hea", ".npy", ".npz"):
        cand = p.with_name(p.name + suffix)
        if cand.is_file():
            return cand
    return None


def patient_of(ecg: str, raw: dict[str, Any]) -> tuple[str, str]:
    """(patient id, where it came from: ``"mimic_path"``, ``"field"`` or ``"record"``)."""
    m = _MIMIC_PATH.search(ecg.replace("\\", "/"))
    if m:
        return m.group(1), "mimic_path"
    if raw.get("patient_id") not in (None, ""):
        return str(raw["patient_id"]), "field"
    return ecg, "record"


def read_ecgchat_file(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate an ECG-Chat JSON file; returns its conversations (dicts) in order.

    Raises ``DatasetError`` naming the file and item index for invalid JSON, a missing ``ecg`` or
    ``conversations`` field, a turn without ``from``/``value`` strings, or an unknown role.
    """
    p = Path(path)
    data = read_json_list(p, "conversations")
    for i, item in enumerate(data):
        where = f"{p}: item {i}"
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: is {type(item).__name__}, expected an object")
        if not isinstance(item.get("ecg"), str) or not item["ecg"].strip():
            raise DatasetError(f"{where}: missing or empty 'ecg' (the record path under the root)")
        conv = item.get("conversations")
        if not isinstance(conv, list) or not conv:
            raise DatasetError(f"{where}: 'conversations' must be a non-empty list of turns")
        for t, turn in enumerate(conv):
            if (
                not isinstance(turn, dict)
                or not isinstance(turn.get("from"), str)
                or not isinstance(turn.get("value"), str)
            ):
                raise DatasetError(f"{where}: turn {t} needs string 'from' and 'value', got {turn!r}"[:300])
            if turn["from"].lower() not in HUMAN_ROLES + GPT_ROLES:
                raise DatasetError(
                    f"{where}: turn {t} has unknown role {turn['from']!r}; "
                    f"expected one of {', '.join(HUMAN_ROLES + GPT_ROLES)}"
                )
    return data


def load_ecgchat(
    json_path: str | Path,
    root: str | Path,
    *,
    history: bool = True,
    strict: bool = False,
) -> tuple[list[QAItem], LoadReport]:
    """Flatten an ECG-Chat style JSON into QA items joined to records under ``root``.

    Parameters
    ----------
    json_path : the instruction JSON (e.g. ``pretrain_mimic.json``).
    root : directory the ``ecg`` paths are relative to (the MIMIC-IV-ECG root for ECG-Chat).
    history : prefix each follow-up question with the earlier turns (see module docstring).
    strict : raise on the first unusable conversation or turn instead of counting it.

    Returns
    -------
    (items, report) : items in file and turn order (split them with
        :func:`ecgbyte.data.splits.split_by_patient`), and the :class:`LoadReport`
        (``n_read`` counts (human, gpt) turns, plus unanswered questions).
    """
    from ecgbyte.io import RecordRef

    path = Path(json_path)
    report = LoadReport(dataset=f"ecgchat/{path.stem}")
    items: list[QAItem] = []
    seen: set[str] = set()
    for index, raw in enumerate(read_ecgchat_file(path)):
        conv_id = str(raw.get("id", f"{path.stem}:{index}"))
        if conv_id in seen:
            raise DatasetError(f"{path}: item {index}: duplicate id {conv_id!r}")
        seen.add(conv_id)
        turns = _pairs(raw["conversations"], path, index)
        record = resolve_record(root, raw["ecg"].strip())
        if record is None:
            report.n_read += len(turns)
            report.skip(
                path,
                index,
                conv_id,
                "missing_record",
                f"{Path(root) / raw['ecg']} (.hea/.npy/.npz) not found; {len(turns)} turn(s) skipped",
                strict=strict,
            )
            continue
        patient, pid_source = patient_of(raw["ecg"].strip(), raw)
        ref = RecordRef(path=record, record_id=raw["ecg"].strip(), patient_id=patient)
        context: list[str] = []
        for k, (question, answer) in enumerate(turns):
            report.n_read += 1
            item_id = f"{conv_id}#{k}"
            if answer is None:
                report.skip(
                    path,
                    index,
                    item_id,
                    "unanswered_turn",
                    "the last human turn has no gpt reply",
                    strict=strict,
                )
                continue
            if not question or not answer:
                what = "question" if not question else "answer"
                report.skip(
                    path, index, item_id, f"empty_{what}", f"turn {k} has an empty {what}", strict=strict
                )
                context += [f"User: {question}", f"Assistant: {answer}"]
                continue
            full = "\n".join([*context, f"User: {question}"]) if history and context else question
            meta = {
                "dataset": "ecgchat",
                "question_type": "chat",
                "conversation_id": conv_id,
                "turn": k,
                "patient_ids": [patient],
                "patient_id_source": pid_source,
                "source": str(path),
                "index": index,
            }
            items.append(
                QAItem(
                    item_id=item_id, patient_id=patient, ecgs=(ref,), question=full, answer=answer, meta=meta
                )
            )
            report.n_loaded += 1
            context += [f"User: {question}", f"Assistant: {answer}"]
    return items, report


def _pairs(conv: list[dict[str, str]], path: Path, index: int) -> list[tuple[str, str | None]]:
    """(human, gpt) pairs in order; a final human turn gets ``None`` as its answer."""
    out: list[tuple[str, str | None]] = []
    for t in range(0, len(conv), 2):
        human = conv[t]
        if human["from"].lower() not in HUMAN_ROLES:
            raise DatasetError(
                f"{path}: item {index}: turn {t} is from {human['from']!r}; turns must "
                "alternate human, gpt, human, gpt, ..."
            )
        if t + 1 == len(conv):
            out.append((clean_turn(human["value"]), None))
            break
        gpt = conv[t + 1]
        if gpt["from"].lower() not in GPT_ROLES:
            raise DatasetError(
                f"{path}: item {index}: turn {t + 1} is from {gpt['from']!r}; turns must "
                "alternate human, gpt, human, gpt, ..."
            )
        out.append((clean_turn(human["value"]), gpt["value"].strip()))
    return out


def splits_from_spec(spec: dict[str, Any]) -> dict[str, list[QAItem]]:
    """Registry entry: ``{"name": "ecgchat", "json": ..., "root": ..., "seed": 0, "fractions"?, "history"?}``.

    ECG-Chat has no official split: patients are split with
    :func:`ecgbyte.data.splits.split_by_patient` (default 0.8 / 0.1 / 0.1, seeded).
    """
    import logging

    from ecgbyte.data.splits import split_by_patient

    for key in ("json", "root"):
        if not spec.get(key):
            raise DatasetError(f"ECG-Chat dataset spec needs {key!r} (got keys {sorted(spec)})")
    items, report = load_ecgchat(
        spec["json"],
        spec["root"],
        history=bool(spec.get("history", True)),
        strict=bool(spec.get("strict", False)),
    )
    logging.getLogger(__name__).info(report.summary())
    return split_by_patient(
        items, fractions=tuple(spec.get("fractions", (0.8, 0.1, 0.1))), seed=int(spec.get("seed", 0))
    )


__all__ = [
    "clean_turn",
    "load_ecgchat",
    "patient_of",
    "read_ecgchat_file",
    "resolve_record",
    "splits_from_spec",
]
