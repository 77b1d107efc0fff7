"""Attention of a trained run's generated answer to the ECG tokens of its prompt.

:func:`answer_attention` decodes an answer greedily, then runs one forward pass over prompt +
answer with eager attention; the attention of the answer positions (mean over layers, heads and
answer tokens) is mapped back onto the ECG tokens of the tokenizer's encoding, so that
:func:`ecgbyte.viz.interpret.plot_attention` can paint it over the time each token covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.elm.run import RunDir
from ecgbyte.errors import ConfigError


@dataclass
class AttentionMap:
    """Attention of the generated answer to the ECG tokens of one prompt.

    ``encoding`` is the full tokenizer encoding of the (first) ECG; ``weights`` float64
    ``[n_tokens]`` is the mean attention each token received (NaN where the truncation policy
    kept it out of the prompt); ``answer`` the generated text; ``ecg_share`` the fraction of all
    attention that went to ECG tokens.
    """

    encoding: Any
    weights: np.ndarray
    answer: str
    question: str
    ecg_share: float


def _kept_counts(lengths: Sequence[int], n_in_prompt: int) -> list[int]:
    """Per-lead prefix lengths whose sum is ``n_in_prompt`` (the builder's water-filling rule)."""
    lengths = list(lengths)
    if sum(lengths) == n_in_prompt:
        return lengths
    for c in range(max(lengths, default=0) + 1):
        if sum(min(x, c) for x in lengths) == n_in_prompt:
            return [min(x, c) for x in lengths]
    raise ConfigError(f"cannot map {n_in_prompt} prompt ECG tokens back onto leads of {lengths} tokens")


def answer_attention(
    run: RunDir,
    ecg: Ecg,
    question: str,
    *,
    max_new_tokens: int | None = None,
    answer: str | None = None,
) -> AttentionMap:
    """Generate an answer for ``(ecg, question)`` with a loaded run and collect its attention to the ECG.

    ``run`` is an open :class:`~ecgbyte.elm.run.RunDir`. The answer is decoded greedily,
    then one forward pass over prompt + answer with eager attention gives, for every answer
    position, the attention over the prompt; it is averaged over layers, heads and answer
    positions and each ECG token's share is mapped back to its span in the encoding.
    ``answer``: an answer already generated for this prompt (e.g. by a batch); it is then not
    decoded again, and only the forward pass runs.
    """
    import torch

    from ecgbyte.data.sequences import EncodedEcg
    from ecgbyte.elm.generate import generate_answers

    lay = run.layout
    enc = run.ecg_tokenizer.encode(ecg)
    eenc = EncodedEcg.from_encoding(enc, enc.leads)
    ex = run.builder().build([eenc], question, None, item_id=ecg.name)
    if answer is None:
        answer = generate_answers(
            run.model,
            run.text_tokenizer,
            [ex],
            lay,
            batch_size=1,
            max_new_tokens=max_new_tokens or run.config.max_new_tokens,
        )[0]
    a_ids = run.text_tokenizer(answer, add_special_tokens=False)["input_ids"] if answer else []
    ids = ex.input_ids[: ex.prompt_len] + list(a_ids) + [lay.eos_id]
    model = run.model
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
        except Exception:  # older transformers: fall back to the config flag
            model.config._attn_implementation = "eager"
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    att = torch.stack([a[0] for a in out.attentions]).float()  # [layers, heads, q, k]
    q = np.arange(ex.prompt_len - 1, len(ids) - 1)  # positions that predict the answer tokens
    per_key = att[:, :, q, :].mean(dim=(0, 1, 2)).numpy()  # [k]
    ids_arr = np.asarray(ids[: ex.prompt_len])
    ecg_pos = np.flatnonzero(ids_arr >= lay.ecg_offset)
    ecg_pos = (
        ecg_pos[: int(np.argmax(ids_arr == lay.ecg_end_id))] if np.any(ids_arr == lay.ecg_end_id) else ecg_pos
    )
    names, lengths = _prompt_leads(run, eenc)
    kept = _kept_counts(lengths, ecg_pos.size)
    weights = np.full(len(enc), np.nan)
    pos = iter(per_key[ecg_pos].tolist())
    for name, k in zip(names, kept):
        i = list(enc.leads).index(name)
        o = int(enc.lead_offsets[i])
        weights[o : o + k] = [next(pos) for _ in range(k)]
    share = float(per_key[ecg_pos].sum() / max(per_key.sum(), 1e-12))
    return AttentionMap(enc, weights, answer, question, share)


def _prompt_leads(run: RunDir, eenc: Any) -> tuple[list[str], list[int]]:
    per_lead, names, _ = run.policy.select(eenc)
    return names, [int(x.size) for x in per_lead]


__all__ = ["AttentionMap", "answer_attention"]
