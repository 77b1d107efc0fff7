"""Peak memory of the whole ``ecgbyte train-tokenizer`` command against the trainer's own.

Issue 16, item 2: the command streams its source (``ecgbyte.tokenizer_stream``), so its peak should
be at most 1.2 x the trainer's. Run through ``benchmarks/scale_bench.py --command`` (or this file).

For each size (symbols at 250 Hz, 12 leads, 10 s: 30,000 per ECG):

1. **Source**: synthetic 12-lead ECGs (``ecgbyte.signal.synth.synthesize``, 500 Hz, written as .npy
   files in batches of 200), run through ``ecgbyte preprocess --fs 500`` (its default pipeline:
   filters, resampling to 250 Hz, 10 s segments). The raw files are deleted once the shards exist;
   everything is deleted at the end.
2. **Command**: ``python -m ecgbyte.cli train-tokenizer SHARDS OUT --merges M --threads T
   --no-progress`` in a child process; its peak RSS is ``ru_maxrss`` from ``os.wait4``.
3. **The same symbols**: the same command line again, in a child whose ``ecgbyte.bpe.train`` is
   replaced by one that saves the sequences it is given and stops; so the trainer-only case trains on
   exactly the command's symbols.
4. **Trainer only**: a child loads those symbols (uint8, 1 byte per symbol), warms the kernels up,
   trains ``M`` merges with the same threads and reports its ``VmHWM`` (the whole process: Python,
   numpy, numba, the corpus and the trainer; nothing else of ecgbyte is imported before it) and ``VmHWM - VmRSS(before training)`` (the trainer's
   own beyond the corpus, ``scale_bench.py``'s measure). It checks that its merges are those in the
   command's ``tokenizer.json``.

Reported: command peak / trainer-process peak (the issue's ratio: what the command adds beyond a
process that holds the symbols and trains), command peak / (trainer beyond corpus + corpus), and
all of them in bytes per symbol. Each peak is measured ``--repeats`` times, alternated (medians; the
worst ratio is the largest command peak over the smallest trainer peak). MB are 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
SYMBOLS_PER_ECG = 12 * 2500  # 12 leads, 10 s at 250 Hz


class _Captured(BaseException):  # passes through the CLI's error handling
    pass


def _env() -> dict:
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ecgbyte.cli", *args]


def build_source(dest: Path, n_ecgs: int, seed: int, *, batch: int = 200) -> Path:
    """Shards of ``n_ecgs`` synthetic ECGs made by ``ecgbyte preprocess`` (returns their folder)."""
    from ecgbyte.signal.synth import synthesize

    raw = dest / "raw"
    raw.mkdir(parents=True)
    for start in range(0, n_ecgs, batch):
        for ecg in synthesize(min(batch, n_ecgs - start), seed=seed + start, fs=500.0):
            np.save(raw / f"{ecg.record_id}.npy", ecg.signal)
    shards = dest / "shards"
    cmd = _cli("preprocess", str(raw), str(shards), "--fs", "500", "--no-progress")
    subprocess.run(cmd, env=_env(), check=True, capture_output=True)
    shutil.rmtree(raw)
    return shards


def run_command(argv: list[str], timeout: float) -> dict:
    """Run the CLI with ``argv`` in a child; its seconds and peak RSS (``ru_maxrss``, bytes)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(_cli(*argv), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    # communicate() has reaped the child; its resource use is in RUSAGE_CHILDREN, but that is the
    # maximum over every child so far, so the figure comes from a fresh process per measurement
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    return {"seconds": seconds, "stdout": out.decode().strip()}


def _peak_of(argv: list[str], timeout: float) -> dict:
    """``run_command`` in a fresh Python child, so ``RUSAGE_CHILDREN`` is this command's alone."""
    code = (
        "import json, resource, sys; sys.path.insert(0, sys.argv[1]); import command_peak as c; "
        "r = c.run_command(json.loads(sys.argv[2]), float(sys.argv[3])); "
        "r['peak_bytes'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024; print(json.dumps(r))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(HERE), json.dumps(argv), str(timeout)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# children
# ---------------------------------------------------------------------------------------------
def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child_dump(argv: list[str], dest: Path) -> int:
    """Run the CLI with ``argv`` but save the sequences given to the BPE trainer and stop."""
    import ecgbyte.bpe
    from ecgbyte.cli import main

    def capture(seqs, **_kw):
        np.save(dest, np.stack(seqs))
        raise _Captured

    ecgbyte.bpe.train = capture
    try:
        main(argv)
    except _Captured:
        return 0
    raise RuntimeError("the command never called the BPE trainer")


def child_trainer(codes_npy: Path, merges: int, threads: int, tok_dir: Path, result: Path) -> int:
    """Train on the saved symbols; the process's peak, the trainer's own, and whether the merges
    are the command's."""
    from ecgbyte.bpe import train

    codes = np.load(codes_npy)
    seqs = list(codes)
    train(seqs[:8], n_merges=20, threads=threads, alphabet_size=26)  # kernels loaded, threads up
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    base = _kib("VmRSS") * 1024
    t0 = time.perf_counter()
    learned = train(seqs, n_merges=merges, min_frequency=2, alphabet_size=26, threads=threads)
    seconds = time.perf_counter() - t0
    peak = _kib("VmHWM") * 1024
    from ecgbyte.tokenizer import ECGByteTokenizer  # after the peak: the trainer does not need it

    tok = ECGByteTokenizer.from_pretrained(tok_dir)
    same = bool(
        np.array_equal(tok.merges.pairs, learned.pairs) and np.array_equal(tok.merges.ids, learned.ids)
    )
    res = {
        "symbols": int(codes.size),
        "corpus_bytes": int(codes.nbytes),
        "train_s": seconds,
        "rss_before_train": base,
        "process_peak": peak,
        "trainer_beyond_corpus": peak - base,
        "n_learned": len(learned),
        "same_merges_as_command": same,
    }
    result.write_text(json.dumps(res))
    return 0


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def measure(shards: Path, tmp: Path, merges: int, threads: int, timeout: float, repeats: int = 1) -> dict:
    """The command's peak and the trainer's on the same symbols (one size), each measured
    ``repeats`` times, alternated."""
    out_dir = tmp / "tok"
    argv = ["train-tokenizer", str(shards), str(out_dir), "--merges", str(merges)]
    argv += ["--threads", str(threads), "--no-progress"]
    codes = tmp / "codes.npy"
    me = str(Path(__file__).resolve())
    cmds, trs = [], []
    for rep in range(repeats):
        shutil.rmtree(out_dir, ignore_errors=True)
        cmds.append(_peak_of(argv, timeout))
        if rep == 0:  # the symbols the command trains on (the same in every repeat: seeded)
            dump_argv = [*argv[:2], str(tmp / "tok_dump"), *argv[3:]]
            subprocess.run([sys.executable, me, "--child", "dump", "--codes", str(codes), "--", *dump_argv],
                           env=_env(), check=True, capture_output=True, timeout=timeout)  # fmt: skip
        result = tmp / "trainer.json"
        proc = subprocess.run(
            [sys.executable, me, "--child", "trainer", "--codes", str(codes), "--merges", str(merges),
             "--threads", str(threads), "--tok", str(out_dir), "--result", str(result)],
            env=_env(), capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        trs.append(json.loads(result.read_text()))
    codes.unlink()
    shutil.rmtree(out_dir)
    cmd_peaks = [c["peak_bytes"] for c in cmds]
    tr_peaks = [t["process_peak"] for t in trs]
    cmd_peak, tr_peak = int(np.median(cmd_peaks)), int(np.median(tr_peaks))
    beyond = int(np.median([t["trainer_beyond_corpus"] for t in trs]))
    tr = trs[0]
    n = tr["symbols"]
    own = beyond + tr["corpus_bytes"]
    return {
        "symbols": n,
        "ecgs": n // SYMBOLS_PER_ECG,
        "merges": merges,
        "threads": threads,
        "repeats": repeats,
        "command": "ecgbyte " + " ".join(argv),
        "command_s": float(np.median([c["seconds"] for c in cmds])),
        "command_peak": cmd_peak,
        "command_peaks": cmd_peaks,
        "trainer_s": float(np.median([t["train_s"] for t in trs])),
        "trainer_process_peak": tr_peak,
        "trainer_process_peaks": tr_peaks,
        "trainer_rss_before": [t["rss_before_train"] for t in trs],
        "trainer_beyond_corpus": beyond,
        "corpus_bytes": tr["corpus_bytes"],
        "ratio_vs_trainer_process": cmd_peak / tr_peak,
        "ratio_worst": max(cmd_peaks) / min(tr_peaks),
        "ratio_vs_trainer_own_plus_corpus": cmd_peak / own,
        "bps_command": cmd_peak / n,
        "bps_trainer_process": tr_peak / n,
        "bps_trainer_beyond_corpus": beyond / n,
        "same_merges": all(t["same_merges_as_command"] for t in trs),
        "n_learned": tr["n_learned"],
    }


def markdown(rows: list[dict]) -> str:
    mb = 1e6
    lines = [
        "| symbols | ECGs | merges | command s | command peak MB (B/sym) | trainer process peak MB (B/sym) "
        "| trainer beyond corpus MB (B/sym) | command / trainer process (worst) "
        "| command / (trainer + corpus) | same merges |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['symbols']:.3g} | {r['ecgs']} | {r['merges']} | {r['command_s']:.1f} | "
            f"{r['command_peak'] / mb:.0f} ({r['bps_command']:.2f}) | "
            f"{r['trainer_process_peak'] / mb:.0f} ({r['bps_trainer_process']:.2f}) | "
            f"{r['trainer_beyond_corpus'] / mb:.0f} ({r['bps_trainer_beyond_corpus']:.2f}) | "
            f"{r['ratio_vs_trainer_process']:.3f} ({r['ratio_worst']:.3f}) | "
            f"{r['ratio_vs_trainer_own_plus_corpus']:.3f} | "
            f"{r['same_merges']} |"
        )
    return "\n".join(lines)


def run(sizes: list[int], merges: int, threads: int, seed: int, timeout: float, out: Path | None,
        evidence: Path | None = None, argv_text: str = "", repeats: int = 1) -> list[dict]:  # fmt: skip
    """Measure every size (symbols), print the table, write JSON (and the evidence)."""
    rows: list[dict] = []
    warm = Path(tempfile.mkdtemp(prefix="command_peak_warm_"))
    try:  # fills numba's disk cache: a first run compiles the kernels (about 1.2 GB and minutes here)
        run_command(["train-tokenizer", str(build_source(warm, 8, seed)), str(warm / "tok"), "--merges",
                     "20", "--threads", str(threads), "--no-progress"], timeout)  # fmt: skip
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    for size in sizes:
        n_ecgs = max(1, round(size / SYMBOLS_PER_ECG))
        tmp = Path(tempfile.mkdtemp(prefix="command_peak_"))
        try:
            t0 = time.perf_counter()
            shards = build_source(tmp, n_ecgs, seed)
            built = time.perf_counter() - t0
            row = measure(shards, tmp, merges, threads, timeout, repeats)
            row["source_build_s"] = built
            rows.append(row)
            print(f"{row['symbols']:.3g} symbols: command {row['command_peak'] / 1e6:.0f} MB, trainer "
                  f"{row['trainer_process_peak'] / 1e6:.0f} MB, ratio {row['ratio_vs_trainer_process']:.3f}",
                  flush=True)  # fmt: skip
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    text = markdown(rows)
    print(text)
    doc = {"args": {"sizes": sizes, "merges": merges, "threads": threads, "seed": seed, "repeats": repeats},
           "rows": rows}  # fmt: skip
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1))
    if evidence is not None:
        write_evidence(doc, evidence, argv_text)
    return rows


def write_evidence(doc: dict, evidence: Path, argv_text: str) -> None:
    """``command_peak.json`` and ``.md`` under ``evidence``."""
    repeats = doc["args"]["repeats"]
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / "command_peak.json").write_text(json.dumps(doc, indent=1))
    (evidence / "command_peak.md").write_text(
        "# Peak memory of `ecgbyte train-tokenizer` against the trainer's own\n\n"
        f"Measured on a shared 2-core, 24 GB machine with `{argv_text}`. Source: synthetic 12-lead "
        "ECGs at 500 Hz through `ecgbyte preprocess --fs 500` (250 Hz, 10 s segments). The command "
        "is the one in each row; peaks are the process's maximum RSS. The trainer process loads "
        "the command's own symbols (uint8) and trains with the same threads. Each peak was measured "
        f"{repeats} times, alternated: medians, and in brackets the largest command peak over the "
        "smallest trainer peak. 'Trainer beyond corpus' is `scale_bench.py`'s measure (VmHWM minus "
        "VmRSS before training). MB are 10^6 bytes.\n\n"
        f"{markdown(doc['rows'])}\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="3e7,1e8", help="symbols per case (30,000 per ECG)")
    p.add_argument("--merges", type=int, default=3500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke run: 40 ECGs, 100 merges")
    p.add_argument("--repeats", type=int, default=3, help="measurements of each peak (the median is shown)")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--out", default=str(HERE / "results" / "command_peak.json"))
    p.add_argument("--evidence", action="store_true")
    p.add_argument("--child", choices=("dump", "trainer"), help=argparse.SUPPRESS)
    p.add_argument("--codes", help=argparse.SUPPRESS)
    p.add_argument("--tok", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child == "dump":
        return child_dump([a for a in args.rest if a != "--"], Path(args.codes))
    if args.child == "trainer":
        return child_trainer(Path(args.codes), args.merges, args.threads, Path(args.tok), Path(args.result))
    if args.quick:
        args.sizes, args.merges, args.repeats = "1.2e6", 100, 1
    sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    evidence = HERE / "evidence" / "scale_bench" if args.evidence else None
    run(sizes, args.merges, args.threads, args.seed, args.timeout, Path(args.out), evidence,
        "benchmarks/scale_bench.py --command " + " ".join(argv if argv is not None else sys.argv[1:]),
        args.repeats)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
