"""BPE training at dataset scale: seconds and peak bytes per symbol from 10^8 to 10^9 symbols.

Corpus: symbol streams drawn from an order-3 Markov chain fitted on quantized synthetic ECGs
(``ecgbyte.signal.synth -> preprocess -> Quantizer``, the corpus of ``bpe_bench.py``; 26 symbols),
cut into sequences of 2,500 symbols (one 10 s lead at 250 Hz). Every sequence is distinct, so
nothing deduplicates away; the chain keeps the ECGs' local statistics (pair and triple frequencies)
but not their beat-to-beat repetition, so its merges are shorter than a real corpus's.

Each case runs in a fresh child process (``--worker``): it draws its corpus (uint8, 1 byte per
symbol, the *corpus baseline*), warms the numba kernels up on a tiny corpus, resets the kernel's
high-water mark (``/proc/self/clear_refs`` 5) and keeps ``VmRSS``, trains, and reports
``VmHWM - VmRSS(before)``: everything the process held beyond the corpus while training (the
trainer's arrays, numba's runtime and threads, Python), divided by the corpus symbols.

Cases: 3,500 and 10,000 merges at 10^8, 3 x 10^8 and 10^9 symbols in one process; 10^8 symbols in
2 processes (``torch.distributed`` over gloo, one partition each; the per-merge communication is
reported); and the 30M-symbol time of the trainer at ``--compare-ref`` (default: the commit before
this work) against the current one, alternated in the same run, on the ``bpe_bench`` ECG corpus.
The projection to the paper's 200,000-ECG sample (6 x 10^9 symbols) and to all of MIMIC-IV-ECG
(2.4 x 10^10) on 1, 4 and 16 machines of 64 GB states its assumptions in the output.

Usage::

    .venv/bin/python benchmarks/scale_bench.py --quick          # smoke: 1M symbols, 200 merges
    nice -n 10 .venv/bin/python benchmarks/scale_bench.py --sizes 1e8,3e8
    nice -n 10 .venv/bin/python benchmarks/scale_bench.py       # adds 10^9 (about 12 GB)
    nice -n 10 .venv/bin/python benchmarks/scale_bench.py --command --sizes 3e7,1e8 --evidence

``--command`` (``benchmarks/command_peak.py``; its own options follow) measures instead the peak of
the whole ``ecgbyte train-tokenizer`` command on ``ecgbyte preprocess`` shards against the trainer's
own on the same symbols (issue 16, item 2).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
EVIDENCE = HERE / "evidence" / "scale_bench"
SEQ = 2500
ORDER = 3
N_SYM = 26
BASE_REF = "b5f780b"  # the trainer before lazy occurrence lists (doubly linked: 10 bytes per symbol)
PAPER_SAMPLE = 6e9  # 200,000 ECGs x 12 leads x 2,500 samples
MIMIC = 2.4e10  # about 800,000 ECGs
MACHINE_GB = 64


def parse_size(text: str) -> int:
    t = text.strip().lower()
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


# ---------------------------------------------------------------------------------------------
# corpus: an order-3 Markov chain fitted on quantized synthetic ECGs
# ---------------------------------------------------------------------------------------------
def fit_chain(n_ecgs: int, seed: int) -> dict[str, np.ndarray]:
    """Cumulative next-symbol probabilities per 3-symbol context (order-1 where a context is
    unseen) and the distribution of sequence starts, from ``n_ecgs`` synthetic ECGs."""
    sys.path.insert(0, str(HERE))
    from bpe_bench import build_corpus

    path, _ = build_corpus(None, n_ecgs, seed, quiet=True)
    codes = np.load(path).reshape(-1, SEQ).astype(np.int64)
    ctx = codes[:, :-3] * N_SYM * N_SYM + codes[:, 1:-2] * N_SYM + codes[:, 2:-1]
    nxt = codes[:, 3:]
    counts = np.zeros((N_SYM**ORDER, N_SYM), np.float64)
    np.add.at(counts, (ctx.ravel(), nxt.ravel()), 1.0)
    first = np.zeros((N_SYM, N_SYM), np.float64)
    np.add.at(first, (codes[:, :-1].ravel(), codes[:, 1:].ravel()), 1.0)
    seen = counts.sum(1) > 0
    fallback = first[np.arange(N_SYM**ORDER) % N_SYM]  # order 1: the context's last symbol
    counts[~seen] = fallback[~seen] + 1e-9
    cum = np.cumsum(counts / counts.sum(1, keepdims=True), axis=1)
    starts = np.bincount(codes[:, 0] * N_SYM * N_SYM + codes[:, 1] * N_SYM + codes[:, 2], minlength=N_SYM**3)
    return {"cum": cum.astype(np.float64), "start_cum": np.cumsum(starts / starts.sum())}


@njit(cache=True)
def _draw(cum, start_cum, out, seed):  # numba: the legacy np.random API, seeded per call
    np.random.seed(seed)  # noqa: NPY002
    n, length = out.shape
    for i in range(n):
        u = np.random.random()  # noqa: NPY002
        c = min(np.searchsorted(start_cum, u), start_cum.shape[0] - 1)
        out[i, 0] = c // (N_SYM * N_SYM)
        out[i, 1] = (c // N_SYM) % N_SYM
        out[i, 2] = c % N_SYM
        for j in range(3, length):
            row = cum[c]
            u = np.random.random() * row[N_SYM - 1]  # noqa: NPY002
            s = 0
            while s < N_SYM - 1 and row[s] < u:
                s += 1
            out[i, j] = s
            c = (c * N_SYM + s) % (N_SYM**ORDER)


def draw_corpus(chain: dict[str, np.ndarray], n_symbols: int, seed: int) -> np.ndarray:
    """``uint8 [n_symbols // 2500, 2500]`` drawn from the chain (deterministic by ``seed``)."""
    out = np.empty((max(1, n_symbols // SEQ), SEQ), np.uint8)
    _draw(chain["cum"], chain["start_cum"], out, seed)
    return out


# ---------------------------------------------------------------------------------------------
# workers (one child process per case)
# ---------------------------------------------------------------------------------------------
def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _mark() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    return _kib("VmRSS") * 1024


def worker(args: argparse.Namespace) -> int:
    from ecgbyte.bpe import train

    res: dict = {"size": args.size, "merges": args.merges}
    if args.corpus_npy:
        codes = np.load(args.corpus_npy)[: max(1, args.size // (12 * SEQ))].reshape(-1, SEQ)
    else:
        chain = dict(np.load(args.chain))
        t0 = time.perf_counter()
        codes = draw_corpus(chain, args.size, args.seed)
        res["draw_s"] = time.perf_counter() - t0
    seqs = list(codes)
    train(seqs[:8], n_merges=20, threads=args.threads)  # kernels compiled/loaded, thread pool up
    base = _mark()
    t0 = time.perf_counter()
    if args.nprocs > 1:
        from ecgbyte.bpe.distributed import train_distributed

        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        share = seqs[rank::world]
        merges, comm = train_distributed(share, n_merges=args.merges, threads=args.threads, return_stats=True)
        res.update(rank=rank, world=world, comm=comm, share_symbols=int(sum(s.size for s in share)))
    else:
        merges = train(seqs, n_merges=args.merges, threads=args.threads)
    res["train_s"] = time.perf_counter() - t0
    peak = _kib("VmHWM") * 1024
    import hashlib

    res["symbols"] = res.get("share_symbols", int(codes.size))  # what this process trained on
    res["corpus_bytes"] = int(codes.nbytes)
    res["peak_over_corpus"] = peak - base
    res["bytes_per_symbol"] = (peak - base) / res["symbols"]
    res["n_learned"] = len(merges)
    res["merges_sha256"] = hashlib.sha256(merges.pairs.tobytes() + merges.ids.tobytes()).hexdigest()
    out = Path(args.result)
    if args.nprocs > 1:
        out = out.with_name(f"{out.stem}.rank{res['rank']}.json")
    out.write_text(json.dumps(res))
    return 0


def _run(cmd: list[str], env: dict, timeout: float) -> None:
    proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... failed:\n{proc.stderr[-3000:]}")


def run_case(size: int, merges: int, chain_path: Path, tmp: Path, args, *, nprocs: int = 1, src=None,
             corpus_npy: Path | None = None) -> dict:  # fmt: skip
    result = tmp / f"case_{size}_{merges}_{nprocs}_{time.monotonic_ns()}.json"
    env = {**os.environ, "PYTHONPATH": str(src or (HERE.parent / "src"))}
    worker_args = [
        str(Path(__file__).resolve()), "--worker", "--size", str(size), "--merges", str(merges),
        "--chain", str(chain_path), "--result", str(result), "--seed", str(args.seed),
        "--threads", str(args.threads), "--nprocs", str(nprocs),
    ]  # fmt: skip
    if corpus_npy is not None:
        worker_args += ["--corpus-npy", str(corpus_npy)]
    if nprocs > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nprocs}"]
        _run(cmd + worker_args, env, args.timeout)
        ranks = [
            json.loads(result.with_name(f"{result.stem}.rank{r}.json").read_text()) for r in range(nprocs)
        ]
        shas = {r["merges_sha256"] for r in ranks}
        comm = ranks[0]["comm"]
        return {
            "size": size, "merges": merges, "processes": nprocs,
            "symbols": sum(r["symbols"] for r in ranks),
            "train_s": max(r["train_s"] for r in ranks),
            "bytes_per_symbol": max(r["peak_over_corpus"] / r["symbols"] for r in ranks),
            "peak_over_corpus_per_process": [r["peak_over_corpus"] for r in ranks],
            "n_learned": ranks[0]["n_learned"], "merges_sha256": ranks[0]["merges_sha256"],
            "ranks_agree": len(shas) == 1,
            "comm_bytes_per_merge": comm["bytes"] / max(1, comm["merges"]),
            "comm_s_per_merge": comm["seconds"] / max(1, comm["merges"]),
            "comm_calls_per_merge": comm["calls"] / max(1, comm["merges"]),
        }  # fmt: skip
    _run([sys.executable, *worker_args], env, args.timeout)
    res = json.loads(result.read_text())
    res["processes"] = 1
    return res


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def _old_src(ref: str, tmp: Path) -> Path:
    dest = tmp / "old"
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", ref, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def _fmt_s(x: float) -> str:
    return f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def project(cases: list[dict], distributed: list[dict] | None = None) -> dict:
    """Cost of the paper's sample and of all MIMIC-IV-ECG on 1, 4 and 16 machines of 64 GB."""
    comm_s = max((d["comm_s_per_merge"] for d in distributed or []), default=None)
    one = [c for c in cases if c["processes"] == 1]
    biggest = max(c["size"] for c in one)
    smallest = min(c["size"] for c in one)
    out: dict = {"assumptions": [], "rows": []}
    for merges in sorted({c["merges"] for c in one}):
        by_size = {c["size"]: c for c in one if c["merges"] == merges}
        hi, lo = by_size[biggest], by_size[smallest]
        measured = (
            np.log(hi["train_s"] / lo["train_s"]) / np.log(biggest / smallest) if biggest > smallest else 1.0
        )
        # at least linear: a merge's work is its occurrences, which grow with the corpus (a smaller
        # measured exponent comes from the shared machine's load varying between cases)
        exponent = max(1.0, measured)
        bps = hi["bytes_per_symbol"]
        for name, n in (("paper sample (200k ECGs)", PAPER_SAMPLE), ("MIMIC-IV-ECG (800k ECGs)", MIMIC)):
            for machines in (1, 4, 16):
                per = n / machines
                mem_gb = per * (bps + 1) / 1e9  # trainer + the corpus itself (1 byte per symbol)
                fits = mem_gb <= 0.9 * MACHINE_GB and per < 2**31 - 1
                seconds = hi["train_s"] * (per / biggest) ** exponent
                comm = comm_s * merges if machines > 1 and comm_s is not None else 0.0
                out["rows"].append({
                    "corpus": name, "symbols": n, "merges": merges, "machines": machines,
                    "symbols_per_machine": per, "memory_gb_per_machine": round(mem_gb, 1),
                    "fits": bool(fits), "hours_compute": round(seconds / 3600, 2),
                    "hours_communication": round(comm / 3600, 2), "hours": round((seconds + comm) / 3600, 2),
                })  # fmt: skip
        out["assumptions"].append(
            f"{merges} merges: time grows as n^{exponent:.2f} (measured n^{measured:.2f} from {smallest:.0e} "
            f"to {biggest:.0e} symbols; at least linear is assumed), memory {bps:.2f} bytes/symbol "
            f"(measured at {biggest:.0e}) + 1 byte/symbol corpus"
        )
    out["assumptions"] += [
        "one process per machine holds n / machines symbols (at most 2^31 - 1: the trainer's positions "
        "are int32); 'fits' asks for <= 90% of 64 GB",
        "compute hours are scaled from this 2-core machine (2 threads per process); on several machines "
        "each merge adds the communication measured here for 2 processes on one host (loopback gloo; "
        "a network adds latency, and more processes add gather volume)",
        "a merge's work spreads evenly over the partitions (each machine merges its own occurrences)",
    ]
    return out


def markdown(out: dict) -> str:
    lines = [
        "| symbols | merges | processes | seconds | peak bytes/symbol (beyond corpus) | merges learned |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c in out["cases"]:
        lines.append(
            f"| {c['size']:.0e} | {c['merges']} | {c['processes']} | {_fmt_s(c['train_s'])} | "
            f"{c['bytes_per_symbol']:.2f} | {c['n_learned']} |"
        )
    if out.get("growth"):
        lines += ["", "| merges | time growth | bytes/symbol growth |", "|---:|---|---|"]
        for g in out["growth"]:
            lines.append(f"| {g['merges']} | {g['from']:.0e} -> {g['to']:.0e}: x{g['time_ratio']:.2f} "
                         f"(size x{g['size_ratio']:.0f}) | {g['bps_from']:.2f} -> {g['bps_to']:.2f} |")  # fmt: skip
    for d in out.get("distributed", []):
        lines += [
            "",
            f"{d['processes']} processes at {d['size']:.0e} symbols, {d['merges']} merges: "
            f"{_fmt_s(d['train_s'])} s, {d['bytes_per_symbol']:.2f} bytes/symbol per process, merges "
            f"{'identical to' if d.get('same_as_single') else 'DIFFERENT from'} one process "
            f"(sha256 {d['merges_sha256'][:12]}); communication per merge: "
            f"{d['comm_bytes_per_merge']:.0f} bytes, {d['comm_s_per_merge'] * 1e3:.2f} ms, "
            f"{d['comm_calls_per_merge']:.1f} collectives",
        ]
    if out.get("ratio"):
        r = out["ratio"]
        lines += ["", f"30M symbols, 3,500 merges: {r['ref']} {_fmt_s(r['old_s'])} s vs now {_fmt_s(r['new_s'])} s "
                  f"(best of {r['repeats']}, alternated): ratio {r['ratio']:.2f}; bytes/symbol "
                  f"{r['old_bps']:.2f} -> {r['new_bps']:.2f}; merges identical: {r['same_merges']}"]  # fmt: skip
    if out.get("projection"):
        p = out["projection"]
        lines += ["", "| corpus | merges | machines | GB per machine | fits 64 GB | compute h | communication h | total h |",
                  "|---|---:|---:|---:|---|---:|---:|---:|"]  # fmt: skip
        for row in p["rows"]:
            lines.append(f"| {row['corpus']} | {row['merges']} | {row['machines']} | "
                         f"{row['memory_gb_per_machine']} | {'yes' if row['fits'] else 'no'} | "
                         f"{row['hours_compute']} | {row['hours_communication']} | {row['hours']} |")  # fmt: skip
        lines += ["", "Assumptions:"] + [f"- {a}" for a in p["assumptions"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--command" in argv:  # the whole train-tokenizer command against the trainer
        sys.path.insert(0, str(HERE))
        import command_peak

        return command_peak.main([a for a in argv if a != "--command"])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1M symbols, 200 merges, 2 processes")
    p.add_argument("--sizes", default="1e8,3e8,1e9")
    p.add_argument("--merges", default="3500,10000")
    p.add_argument("--dist-size", default="1e8", help="symbols of the multi-process case ('' to skip)")
    p.add_argument("--dist-merges", type=int, default=3500)
    p.add_argument("--nprocs", type=int, default=2)
    p.add_argument(
        "--compare-ref", default=BASE_REF, help="git ref of the trainer to time against ('' to skip)"
    )
    p.add_argument("--ratio-repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chain-ecgs", type=int, default=1050, help="synthetic ECGs the chain is fitted on")
    p.add_argument("--timeout", type=float, default=7200.0)
    p.add_argument("--out", default=str(RESULTS / "scale_bench.json"))
    p.add_argument("--evidence", action="store_true", help=f"also write the evidence under {EVIDENCE}")
    # worker
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--chain", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--corpus-npy", default=None, help=argparse.SUPPRESS)
    p.add_argument("--reproject", default=None, help="recompute the projection of a results JSON, no runs")
    args = p.parse_args(argv)
    if args.reproject:
        out = json.loads(Path(args.reproject).read_text())
        out["projection"] = project(out["cases"], out.get("distributed"))
        text = markdown(out)
        print(text)
        Path(args.reproject).write_text(json.dumps(out, indent=1))
        md = Path(args.reproject).with_suffix(".md")
        if md.exists():
            head = md.read_text().split("\n\n", 2)
            md.write_text(f"{head[0]}\n\n{head[1]} Projection recomputed with `--reproject`.\n\n{text}\n")
        return 0
    if args.worker:
        args.merges = int(args.merges)
        return worker(args)
    if args.quick:
        args.sizes, args.merges, args.dist_merges = "1e6,2e6", "200", 200
        args.dist_size = args.dist_size and "1e6"
        args.chain_ecgs, args.compare_ref = 20, ""
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    merges_list = [int(m) for m in args.merges.split(",") if m]
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="scale_bench_"))
    out: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()}, "args": vars(args), "cases": []}  # fmt: skip
    try:
        chain_path = tmp / "chain.npz"
        np.savez(chain_path, **fit_chain(args.chain_ecgs, args.seed))
        run_case(1_000_000, 100, chain_path, tmp, args)  # fills numba's disk cache before timing anything
        if args.compare_ref:
            sys.path.insert(0, str(HERE))
            from bpe_bench import build_corpus

            npy, _ = build_corpus(None, 1050, args.seed, quiet=True)
            old = _old_src(args.compare_ref, tmp)
            runs: dict[str, list[dict]] = {"old": [], "new": []}
            for _ in range(args.ratio_repeats):
                for name, src in (("old", old), ("new", None)):
                    runs[name].append(
                        run_case(30_000_000, 3500, chain_path, tmp, args, src=src, corpus_npy=npy)
                    )
                    print(f"30M {name}: {runs[name][-1]['train_s']:.2f} s", flush=True)
            best = {k: min(v, key=lambda r: r["train_s"]) for k, v in runs.items()}
            out["ratio"] = {
                "ref": args.compare_ref, "repeats": args.ratio_repeats, "corpus": "bpe_bench synthetic ECGs (30M)",
                "old_s": best["old"]["train_s"], "new_s": best["new"]["train_s"],
                "ratio": best["new"]["train_s"] / best["old"]["train_s"],
                "old_bps": best["old"]["bytes_per_symbol"], "new_bps": best["new"]["bytes_per_symbol"],
                "same_merges": best["old"]["merges_sha256"] == best["new"]["merges_sha256"],
                "all_s": {k: [r["train_s"] for r in v] for k, v in runs.items()},
            }  # fmt: skip
        for size in sizes:
            for m in merges_list:
                res = run_case(size, m, chain_path, tmp, args)
                out["cases"].append(res)
                Path(args.out).write_text(json.dumps(out, indent=1))  # partial results survive a failure
                print(f"{size:.0e} symbols, {m} merges: {res['train_s']:.1f} s, "
                      f"{res['bytes_per_symbol']:.2f} B/symbol", flush=True)  # fmt: skip
        if args.dist_size:
            size = parse_size(args.dist_size)
            single = next(
                (c for c in out["cases"] if c["size"] == size and c["merges"] == args.dist_merges), None
            )
            if single is None:
                single = run_case(size, args.dist_merges, chain_path, tmp, args)
            d = run_case(size, args.dist_merges, chain_path, tmp, args, nprocs=args.nprocs)
            d["same_as_single"] = d["merges_sha256"] == single["merges_sha256"] and d["ranks_agree"]
            d["single_s"] = single["train_s"]
            out["distributed"] = [d]
            print(
                f"{args.nprocs} processes: {d['train_s']:.1f} s, identical: {d['same_as_single']}", flush=True
            )
        growth = []
        for m in merges_list:
            by = {c["size"]: c for c in out["cases"] if c["merges"] == m}
            if len(by) >= 2:
                lo, hi = min(by), max(by)
                growth.append({"merges": m, "from": lo, "to": hi, "size_ratio": hi / lo,
                               "time_ratio": by[hi]["train_s"] / by[lo]["train_s"],
                               "bps_from": by[lo]["bytes_per_symbol"], "bps_to": by[hi]["bytes_per_symbol"]})  # fmt: skip
        out["growth"] = growth
        if out["cases"]:
            out["projection"] = project(out["cases"], out.get("distributed"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = markdown(out)
    print(text)
    Path(args.out).write_text(json.dumps(out, indent=1))
    if args.evidence:
        EVIDENCE.mkdir(parents=True, exist_ok=True)
        (EVIDENCE / "scale_bench.json").write_text(json.dumps(out, indent=1))
        (EVIDENCE / "scale_bench.md").write_text(
            "# scale_bench evidence\n\nMeasured on a shared 2-core, 24 GB machine "
            f"(`{' '.join(sys.argv[1:])}`).\n\n{text}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
