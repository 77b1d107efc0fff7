"""The tokenizer stack and its commands import without torch, transformers or peft."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "peft")

MODULES = [
    "ecgbyte.ecg_tokenizer",
    "ecgbyte.plugins",
    "ecgbyte.symbols.registry",
    "ecgbyte.tokenizer",
    "ecgbyte.tokenizer_io",
    "ecgbyte.corpus",
    "ecgbyte.tokenizer_tasks",
    "ecgbyte.data.sequences",
    "ecgbyte.sampling",
    "ecgbyte.convert",
    "ecgbyte.viz.tokenizer_report",
    "ecgbyte.commands.train_tokenizer",
    "ecgbyte.commands.encode",
    "ecgbyte.commands.tokenizer_report",
    "ecgbyte.commands.convert_tokenizer",
]

CODE = """
import sys
import numpy as np
{imports}
from ecgbyte.bpe.merges import Merges
from ecgbyte.symbols import Quantizer
from ecgbyte.tokenizer import ECGByteTokenizer
from ecgbyte.signal import synthesize
m = Merges(pairs=np.array([[0, 0]]), ids=np.array([26]))
tok = ECGByteTokenizer(quantizer=Quantizer(p1=-1, p99=1), merges=m)
ecg = synthesize(1, seed=0, duration_s=10.0)[0]
enc = tok.encode(ecg)
tok.decode(enc)
tok.to_tokenizers()
heavy = sorted(n for n in sys.modules if n.split(".")[0] in {heavy!r})
print("HEAVY:" + ",".join(heavy))
"""


def test_tokenizer_stack_and_commands_import_and_encode_without_heavy_packages():
    code = CODE.format(imports="\n".join(f"import {m}" for m in MODULES), heavy=set(HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_cli_parser_builds_without_heavy_imports():
    code = (
        "import sys\nfrom ecgbyte.cli import build_parser\nbuild_parser()\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {set(HEAVY)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
