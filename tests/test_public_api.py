"""`import ecgbyte` is light, and every public name it advertises resolves."""

from __future__ import annotations

import subprocess
import sys

import ecgbyte


def test_every_public_name_resolves():
    for name in ecgbyte.__all__:
        assert getattr(ecgbyte, name) is not None, name
    assert ecgbyte.train_bpe is __import__("ecgbyte.bpe", fromlist=["train"]).train


def test_import_and_tokenizer_names_do_not_load_torch():
    code = (
        "import sys, ecgbyte\n"
        "for n in ['ECGByteTokenizer', 'Quantizer', 'read_record', 'preprocess', 'train_bpe', 'preprocess_dataset',"
        " 'train_tokenizer', 'convert_original_tokenizer', 'run_demo']:\n"
        "    getattr(ecgbyte, n)\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'accelerate') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
