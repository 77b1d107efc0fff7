"""``ecgbyte prompt``: the prompt of one question about one ECG as token ids, for any engine.

An inference engine's token-id prompt API (``generate(input_ids=...)`` in transformers,
``{"prompt_token_ids": [...]}`` in vLLM-style servers, a list of ints as a completion prompt)
takes these ids as they are, so the server needs neither ecgbyte nor the ECG tokenizer: build
the ids where ecgbyte is installed and send them. The ids are those ``ecgbyte ask`` generates
from (:func:`ecgbyte.elm.generate.ask_prompt`), and an exported folder (``ecgbyte export``)
decodes with the same ``generation_config.json``.

:func:`spell_prompt` writes the same prompt as text in the exported tokenizer's names
(``<s><ecg_start><ecg_17>...<ecg_end>question``), which that tokenizer encodes back to the ids.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ecgbyte.elm.run import RunDir


def spell_prompt(run: RunDir, ids: Sequence[int]) -> str:
    """``ids`` as text: ECG ids as ``<ecg_K>``, every other run of ids decoded by the text tokenizer."""
    from ecgbyte.serve.export import ECG_TOKEN

    off = run.layout.ecg_offset
    parts: list[str] = []
    text: list[int] = []
    for i in [*list(ids), None]:
        if (i is None or i >= off) and text:
            parts.append(run.text_tokenizer.decode(text, skip_special_tokens=False))
            text = []
        if i is None:
            break
        if i >= off:
            parts.append(ECG_TOKEN.format(i - off))
        else:
            text.append(int(i))
    return "".join(parts)


def prompt_ids(
    run: RunDir | str | os.PathLike[str],
    records: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    question: str,
    *,
    fs: float | None = None,
    text: bool = False,
) -> dict[str, Any]:
    """The prompt of ``question`` about the record(s) as ids, with what a generator needs to decode.

    Parameters
    ----------
    run : a training run directory or an open :class:`RunDir` (its model is not loaded).
    records : one record (WFDB ``.hea``/stem, ``.npy`` with ``fs``, ``.npz``), or two for a comparison.
    question : the question (non-empty).
    fs : sampling rate in Hz, for ``.npy`` records.
    text : also return the prompt spelled out (``prompt_text``, see :func:`spell_prompt`).

    Returns
    -------
    dict with ``prompt_token_ids``, ``n_prompt_tokens``, ``n_cut`` (ECG tokens the run's policy
    removed), ``max_new_tokens``, ``num_beams``, ``eos_token_id``, ``pad_token_id`` and
    ``suppress_token_ids`` (``[first, last]``: the marker and ECG ids, never generated), plus
    ``question`` and ``records``.
    """
    from ecgbyte.elm.generate import ask_prompt

    run = RunDir.open(run)
    example, paths = ask_prompt(run, records, question, fs=fs)
    lay, cfg = run.layout, run.config
    ids = [int(i) for i in example.input_ids[: example.prompt_len]]
    out: dict[str, Any] = {
        "prompt_token_ids": ids,
        "n_prompt_tokens": len(ids),
        "n_cut": example.n_cut,
        "max_new_tokens": cfg.max_new_tokens,
        "num_beams": cfg.num_beams,
        "eos_token_id": lay.eos_id,
        "pad_token_id": lay.pad_id,
        "suppress_token_ids": [lay.ecg_start_id, lay.vocab_size - 1],
        "question": question.strip(),
        "records": [str(p) for p in paths],
    }
    if text:
        out["prompt_text"] = spell_prompt(run, ids)
    return out


__all__ = ["prompt_ids", "spell_prompt"]
