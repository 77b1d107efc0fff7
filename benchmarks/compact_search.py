"""How the `compact` representation was chosen: tokens per ECG against reconstruction error, measured.

Every candidate is a :class:`ecgbyte.presets.Preset` (leads, rate, quantizer, merges). Each is
trained with :func:`ecgbyte.preset_tokenizer.train_preset` on one half of the real PTB-XL fixtures
(even-indexed records, 500 Hz) and measured on the other half, then the other way round (2-fold:
every record is measured by a tokenizer that never saw it). Per record:

- LLM tokens per ECG, counted by ``SequenceBuilder`` with ``<ecg_start>``, one marker per encoded
  lead and ``<ecg_end>`` (:func:`ecgbyte.eval.fidelity.sequence_tokens`);
- RMSE (mV) of the 12 reconstructed leads (derived leads rebuilt) against the record preprocessed
  with the candidate's own pipeline (:func:`ecgbyte.eval.fidelity.measure_record`).

Prints a Markdown table and writes JSON (default ``benchmarks/results/compact_search.json``)::

    .venv/bin/python benchmarks/compact_search.py --data ../shared/data/ptb-xl
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.eval.fidelity import measure_record
from ecgbyte.io import discover, read_record
from ecgbyte.preset_tokenizer import train_preset
from ecgbyte.presets import INDEPENDENT_LEADS, get_preset
from ecgbyte.signal.config import PreprocessConfig

AT100 = PreprocessConfig(bandpass_high=40.0, target_fs=100.0, segment_length=1000)
HQ = "ecgbyte.hysteresis_quantizer"


def candidates() -> dict[str, dict]:
    """Name -> preset overrides of ``paper`` (the named alternatives of the search)."""
    eight = {"leads": INDEPENDENT_LEADS, "derived": ("III", "aVR", "aVL", "aVF")}
    return {
        "paper (12 leads, 250 Hz, 26 bins, 3500)": {},
        "12 leads, 250 Hz, 26 bins, 10000": {"n_merges": 10000},
        "8 leads, 250 Hz, 26 bins, 5000": {**eight, "n_merges": 5000},
        "12 leads, 100 Hz, 26 bins, 5000": {"preprocess": AT100, "n_merges": 5000},
        "8 leads, 100 Hz, 26 bins, 5000": {**eight, "preprocess": AT100, "n_merges": 5000},
        "8 leads, 100 Hz, 20 bins, 5000": {**eight, "preprocess": AT100, "n_merges": 5000, "n_symbols": 20},
        "8 leads, 100 Hz, 26 bins, hysteresis 0.5, 5000": {
            **eight,
            "preprocess": AT100,
            "n_merges": 5000,
            "quantizer": HQ,
            "hysteresis": 0.5,
        },
        "compact (8 leads, 100 Hz, 22 bins, hysteresis 0.25, 5000)": {"_preset": "compact"},
        "8 leads, 100 Hz, 22 bins, hysteresis 0.5, 5000": {
            **eight,
            "preprocess": AT100,
            "n_merges": 5000,
            "quantizer": HQ,
            "n_symbols": 22,
            "hysteresis": 0.5,
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/ptb-xl", help="PTB-XL fixtures (records500)")
    ap.add_argument("--out", default="benchmarks/results/compact_search.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=1024)
    args = ap.parse_args(argv)
    from tqdm.auto import tqdm

    records = [read_record(r.path) for r in discover(args.data)]
    folds = ((records[0::2], records[1::2]), (records[1::2], records[0::2]))
    rows = []
    for name, over in tqdm(candidates().items(), desc="candidates"):
        over = dict(over)
        preset = get_preset(over.pop("_preset", "paper"), **({"name": "candidate"} | over if over else {}))
        t0 = time.perf_counter()
        seq, rmse, vocab = [], [], []
        for train, test in folds:
            tok = train_preset(train, preset, threads=args.threads)
            vocab.append(tok.vocab_size)
            for ecg in test:
                m = measure_record(tok, ecg, delineate=False)
                seq.append(m["n_sequence_tokens"])
                rmse.append(m["rmse_mv_overall"])
        seq_a = np.array(seq)
        rows.append(
            {
                "name": name,
                "preset": preset.to_dict(),
                "vocab_size": vocab,
                "n_records": len(seq),
                "tokens_mean": float(seq_a.mean()),
                "tokens_p95": float(np.percentile(seq_a, 95)),
                "within_context": float(np.mean(seq_a <= args.context)),
                "rmse_mv": float(np.mean(rmse)),
                "wall_s": time.perf_counter() - t0,
            }
        )
    base = rows[0]["rmse_mv"]
    print(
        f"\n2-fold on {len(records)} PTB-XL fixtures; LLM tokens per ECG incl. markers; RMSE over 12 leads\n"
    )
    print(f"| candidate | vocab | tokens mean | p95 | <= {args.context} | RMSE mV | x paper |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        r["rmse_vs_paper"] = r["rmse_mv"] / base
        print(
            f"| {r['name']} | {max(r['vocab_size'])} | {r['tokens_mean']:.0f} | {r['tokens_p95']:.0f} | "
            f"{100 * r['within_context']:.0f}% | {r['rmse_mv']:.4f} | {r['rmse_vs_paper']:.2f} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "data": str(args.data),
        "protocol": "2-fold: train on even-indexed records, measure on odd, and vice versa",
        "python": platform.python_version(),
        "leads_out": list(STANDARD_LEADS),
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
