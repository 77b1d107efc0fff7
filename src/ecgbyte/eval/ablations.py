"""Signal-use ablations: does a trained model read the ECG, or answer from the question alone?

Each ablation rebuilds the generation prompts of the same items for the *same* trained model,
with the ECG part changed; a model that uses the signal loses accuracy under every one of them:

- ``no_signal``: ECG tokens and their markers removed (question only);
- ``blackout``: each ECG replaced by a flat line at 0 mV after preprocessing, then tokenized
  (same prompt length class, no information);
- ``noise``: Gaussian noise (``noise_std_mv``, mV) added to the preprocessed signal before
  symbolising (seeded, one draw per ECG);
- ``shuffled``: each item gets the ECGs of another item from a *different patient* (a seeded
  permutation), so the prompt looks real but belongs to someone else.

Blackout and noise act on the signal as the tokenizer sees it (after its preprocessing), so the
filters cannot undo them and a flat record is not rejected by the signal checks.

Two-stage runs (``--ecg-input encoder``, :mod:`ecgbyte.elm.two_stage`) get the same four
ablations, meaning the same thing: ``no_signal`` has no soft-token slots and no features;
``blackout`` / ``noise`` change the encoder's preprocessed signal the same way and the frozen
encoder computes the features of the changed signal; ``shuffled`` takes another patient's
features. Every prompt carries its ECGs' features (``Example.ecg_features``) as training does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgbyte.errors import DatasetError

ABLATIONS: tuple[str, ...] = ("no_signal", "blackout", "noise", "shuffled")
# what each ablation does, in words (tables, the report, the flag sentence)
ABLATION_TITLES: dict[str, str] = {
    "no_signal": "no signal (ECG tokens removed)",
    "blackout": "blackout (flat 0 mV line)",
    "noise": "noise (Gaussian, added in mV)",
    "shuffled": "shuffled (another patient's ECG)",
}


def different_patient_permutation(patients: Sequence[str], *, seed: int) -> np.ndarray:
    """A seeded permutation ``p`` of ``range(n)`` with ``patients[p[i]] != patients[i]`` for all ``i``.

    Starts from ``default_rng(seed).permutation(n)`` and repairs each clash by swapping with a
    position whose swap removes it. Raises ``DatasetError`` if all items share one patient.
    """
    pts = np.asarray([str(p) for p in patients])
    n = pts.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if np.unique(pts).size < 2:
        raise DatasetError("the shuffled-ECG ablation needs items from at least two patients")
    if np.max(np.unique(pts, return_counts=True)[1]) > n / 2:
        # no derangement across patients exists when one patient owns more than half the items
        raise DatasetError("the shuffled-ECG ablation needs no patient with more than half of the items")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    for _ in range(10 * n):
        bad = np.flatnonzero(pts[perm] == pts)
        if bad.size == 0:
            return perm
        i = int(bad[0])
        for j in rng.permutation(n):
            if pts[perm[j]] != pts[i] and pts[perm[i]] != pts[j]:
                perm[i], perm[j] = perm[j], perm[i]
                break
    raise DatasetError("could not pair every item with another patient's ECG; check the patient ids")


def _perturbed(tokenizer: Any, ecg: Any, kind: str, rng: np.random.Generator, noise_std_mv: float) -> Any:
    """EncodedEcg of ``ecg`` after blackout or noise on its preprocessed signal.

    ECG-Byte tokenizer: the changed signal is symbolised and BPE-encoded. Two-stage soft
    tokenizer (has no ``quantizer``): the frozen encoder computes the changed signal's features.
    """
    from ecgbyte.data.sequences import EncodedEcg, prepared

    prep = prepared(tokenizer, ecg)  # the ECG as encoded: a segment stays a segment
    if kind == "blackout":
        sig = np.zeros_like(prep.signal)
    else:
        sig = prep.signal + rng.normal(0.0, noise_std_mv, size=prep.signal.shape).astype(np.float32)
    if not hasattr(tokenizer, "quantizer"):  # two-stage: prep carries its preprocess hash
        return EncodedEcg.from_encoding(tokenizer.encode(prep.replace(signal=sig)), prep.leads)
    enc = tokenizer.encode_symbols(tokenizer.quantizer.symbolize(sig), fs=prep.fs)
    return EncodedEcg.from_encoding(enc, prep.leads)


def _build(builder: Any, encs: Sequence[Any], item: Any) -> Any:
    """The generation prompt of ``item`` with ``encs``; two-stage features attached as in training."""
    ex = builder.build(encs, item.question, None, item_id=item.item_id, question_type=item.question_type)
    feats = [e.features for e in encs]
    if feats and all(f is not None for f in feats):
        ex.ecg_features = np.stack(feats)
    return ex


def ablation_examples(
    run: Any,
    items: Sequence[Any],
    kind: str,
    *,
    seed: int = 0,
    noise_std_mv: float = 0.1,
    cache: Any = None,
) -> list[Any]:
    """Generation prompts (``Example`` s, no answer) for ``items`` under ablation ``kind``.

    Parameters
    ----------
    run : an open :class:`~ecgbyte.elm.run.RunDir`.
    items : ``QAItem`` s.
    kind : ``"baseline"`` or one of :data:`ABLATIONS`.
    seed : seeds the noise and the shuffling.
    noise_std_mv : standard deviation of the added noise, mV (``noise`` only).
    cache : an ``EncodedCache`` of the run's ECG tokenizer (shared between calls to encode once).
    """
    from ecgbyte.data.sequences import EncodedCache

    if kind not in ("baseline", *ABLATIONS):
        raise DatasetError(f"unknown ablation {kind!r}; choose baseline or one of {', '.join(ABLATIONS)}")
    if kind == "noise" and not noise_std_mv > 0:
        raise DatasetError(f"noise_std_mv must be > 0 mV, got {noise_std_mv!r}")
    cfg = run.config
    cache = cache or EncodedCache(run.ecg_tokenizer)
    if kind == "no_signal":
        # the run's own builder (same truncation as training) with the ECG part left out
        builder = run.builder(no_signal=True)
        return [_build(builder, [], it) for it in items]
    builder = run.builder()
    if cfg.no_signal:  # a text-only run: every ablation equals the baseline
        return [_build(builder, [], it) for it in items]
    sources = list(items)
    if kind == "shuffled":
        perm = different_patient_permutation([it.patient_id for it in items], seed=seed)
        sources = [items[j] for j in perm]
    rng = np.random.default_rng(seed)
    memo: dict[str, Any] = {}
    out = []
    for it, src in zip(items, sources):
        if kind in ("blackout", "noise"):
            from ecgbyte.data.items import ecg_key

            encs = []
            for e in src.ecgs:
                key = ecg_key(e)
                if key not in memo:
                    memo[key] = _perturbed(run.ecg_tokenizer, e, kind, rng, noise_std_mv)
                encs.append(memo[key])
        else:
            encs = [cache.get(e) for e in src.ecgs]
        out.append(_build(builder, encs, it))
    return out


def generate_sorted(
    run: Any,
    examples: Sequence[Any],
    *,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    do_sample: bool = False,
    seed: int | None = None,
) -> list[str]:
    """Batched answers in input order, batching prompts of similar length (less left padding).

    ``do_sample`` / ``seed``: one sampled pass seeded by ``seed`` (the original's sampling
    settings, :data:`ecgbyte.elm.generate.PAPER_SAMPLING`); default: the run's greedy/beam decoding.
    """
    from ecgbyte.elm.generate import generate_answers

    order = sorted(range(len(examples)), key=lambda i: examples[i].prompt_len)
    answers = generate_answers(
        run.model,
        run.text_tokenizer,
        [examples[i] for i in order],
        run.layout,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens or run.config.max_new_tokens,
        num_beams=1 if do_sample else (num_beams or run.config.num_beams),
        do_sample=do_sample,
        seed=seed,
    )
    out = [""] * len(examples)
    for i, a in zip(order, answers):
        out[i] = a
    return out


__all__ = [
    "ABLATIONS",
    "ABLATION_TITLES",
    "ablation_examples",
    "different_patient_permutation",
    "generate_sorted",
]
