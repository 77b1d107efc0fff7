"""One BPE vocabulary over several processes: the same merges as one process on the whole corpus.

Ranks run as threads of this process (``ThreadComm``) for the property tests against the spec,
and as two real processes under torchrun (gloo) for ``train-tokenizer``'s byte-identical output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgbyte.bpe import reference, train
from ecgbyte.bpe.distributed import ThreadComm, partitioned, train_distributed
from strategies import bpe_corpora

MAX_EXAMPLES = int(os.environ.get("ECGBYTE_MAX_EXAMPLES", "50"))


def run_ranks(shares: list[list], **options) -> list:
    """``train_distributed`` with one thread per rank; each rank's result (or exception)."""
    comms = ThreadComm.group(len(shares))
    out: list = [None] * len(shares)

    def one(r: int) -> None:
        try:
            out[r] = train_distributed(shares[r], comm=comms[r], return_stats=True, **options)
        except Exception as exc:  # handed to the test
            out[r] = exc

    threads = [threading.Thread(target=one, args=(r,)) for r in range(len(shares))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for res in out:
        if isinstance(res, Exception):
            raise res
    return out


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bpe_corpora(max_seqs=8), st.integers(1, 3), st.integers(1, 2))
def test_ranks_together_learn_the_reference_merges(case, world, threads):
    seqs, options = case
    shares = [seqs[r::world] for r in range(world)]  # a rank may hold nothing
    results = run_ranks(shares, threads=threads, **options)
    spec = reference.train(seqs, **options)
    for merges, stats in results:
        assert merges.pairs.tolist() == spec.pairs.tolist()
        assert merges.ids.tolist() == spec.ids.tolist()
        assert stats["merges"] == len(spec)


def test_uneven_shares_and_a_larger_corpus_match_one_process():
    rng = np.random.default_rng(8)
    seqs = [
        np.repeat(rng.integers(0, 6, 400), rng.integers(1, 5, 400))[:500].astype(np.uint8) for _ in range(60)
    ]
    seqs += seqs[:7]  # duplicates across ranks: their weights add up
    options = {"n_merges": 300, "min_frequency": 2, "alphabet_size": 6}
    one = train(seqs, threads=1, **options)
    assert len(one) == 300
    shares = [seqs[:5], seqs[5:50], seqs[50:]]
    for merges, stats in run_ranks(shares, threads=2, **options):
        assert merges == one
        # per merge: one all_reduce per queue entry popped, two gathers and one all_reduce to requeue
        assert stats["calls"] >= 4 * stats["merges"] and stats["bytes"] > 0


def test_partitioned_makes_train_use_this_ranks_share():
    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 3, 200).astype(np.uint8) for _ in range(9)]
    options = {"n_merges": 50, "alphabet_size": 3}
    expected = train(seqs, **options)
    comms = ThreadComm.group(2)
    out: list = [None, None]

    def one(r: int) -> None:
        with partitioned(comms[r]):
            out[r] = train(seqs, **options)  # every rank passes everything; each trains on its share

    threads = [threading.Thread(target=one, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert out[0] == expected and out[1] == expected
    assert train(seqs, **options) == expected  # outside the context: the ordinary trainer


def test_distributed_trainer_keeps_torch_out_until_it_is_used():
    code = (
        "import sys, ecgbyte.bpe.distributed, ecgbyte.tokenizer_tasks; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


@pytest.mark.slow
def test_two_processes_write_the_single_process_tokenizer_byte_for_byte(ptbxl_dir, tmp_path: Path):
    records = tmp_path / "recs"
    records.mkdir()
    src = ptbxl_dir / "records500" / "00000"
    for name in ("00002_hr", "00006_hr", "00008_hr", "00010_hr", "00015_hr", "00021_hr"):
        for suffix in (".hea", ".dat"):
            (records / f"{name}{suffix}").write_bytes((src / f"{name}{suffix}").read_bytes())
    args = [str(records), "--merges", "400", "--segment-seconds", "5", "--seed", "4", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, "-m", "ecgbyte.cli", "train-tokenizer", args[0], str(tmp_path / "one"), *args[1:]],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547"]
    two = subprocess.run(
        [*cmd, "-m", "ecgbyte.cli", "train-tokenizer", args[0], str(tmp_path / "two"), *args[1:]],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    one_json = (tmp_path / "one" / "tokenizer.json").read_bytes()
    assert (tmp_path / "two" / "tokenizer.json").read_bytes() == one_json
    assert (tmp_path / "two" / "ecgbyte_config.json").read_bytes() == (
        tmp_path / "one" / "ecgbyte_config.json"
    ).read_bytes()
    assert one_json.count(b'"merges"') == 1 and len(one_json) > 10_000
