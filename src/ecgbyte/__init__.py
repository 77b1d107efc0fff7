"""ecgbyte: ECG-Byte tokenization of 12-lead ECGs and end-to-end ECG language models.

The tokenizer stack (``io -> signal -> symbols -> bpe -> tokenizer``) imports without
torch. Public names are loaded lazily so ``import ecgbyte`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it. The Python API mirrors the CLI:
#   ecgbyte demo              -> run_full_demo (run_demo: the signal stage, run_elm_demo: the model)
#   ecgbyte preprocess        -> preprocess_dataset
#   ecgbyte train-tokenizer   -> train_tokenizer / ECGByteTokenizer.train
#   ecgbyte encode            -> encode_record / ECGByteTokenizer.encode
#   ecgbyte tokenizer-report  -> report_tokenizer
#   ecgbyte convert-tokenizer -> convert_original_tokenizer
#   ecgbyte train             -> TrainConfig + train_elm
#   ecgbyte generate          -> generate_split (RunDir / load_run + predict)
#   ecgbyte ask               -> ask
#   ecgbyte evaluate          -> evaluation_report (evaluate_run + Markdown)
#   ecgbyte explain           -> explain;  report -> build_report
#   ecgbyte export            -> export_run
#   ecgbyte prompt            -> prompt_ids
#   ecgbyte serve             -> serve_run (make_app: the ASGI app alone, ServeSettings)
_LAZY = {
    # records and errors
    "Ecg": "ecgbyte.ecg",
    "STANDARD_LEADS": "ecgbyte.ecg",
    "EcgbyteError": "ecgbyte.errors",
    "RecordError": "ecgbyte.errors",
    "ConfigError": "ecgbyte.errors",
    "TokenizerError": "ecgbyte.errors",
    "DatasetError": "ecgbyte.errors",
    "ModelError": "ecgbyte.errors",
    # reading and preprocessing
    "read_record": "ecgbyte.io",
    "discover": "ecgbyte.io",
    "iter_segments": "ecgbyte.io.shards",
    "PreprocessConfig": "ecgbyte.signal",
    "preprocess": "ecgbyte.signal",
    "segment": "ecgbyte.signal",
    "synthesize": "ecgbyte.signal.synth",
    "preprocess_dataset": "ecgbyte.batch",
    # symbols, BPE and the tokenizer
    "Quantizer": "ecgbyte.symbols",
    "Merges": "ecgbyte.bpe",
    "encode_bpe": "ecgbyte.bpe",
    "encode_greedy": "ecgbyte.bpe",
    "ECGByteTokenizer": "ecgbyte.tokenizer",
    "Encoding": "ecgbyte.tokenizer",
    "sample_ecgs": "ecgbyte.sampling",
    "train_tokenizer": "ecgbyte.tokenizer_tasks",
    "encode_record": "ecgbyte.tokenizer_tasks",
    "report_tokenizer": "ecgbyte.tokenizer_tasks",
    "convert_original_tokenizer": "ecgbyte.convert",
    "run_demo": "ecgbyte.demo",
    "run_full_demo": "ecgbyte.demo",
    # language model, evaluation (these import torch when first used)
    "TrainConfig": "ecgbyte.elm.config",
    "train_elm": "ecgbyte.elm.pipeline",
    "RunDir": "ecgbyte.elm.run",
    "load_run": "ecgbyte.elm.run",
    "predict": "ecgbyte.elm.generate",
    "ask": "ecgbyte.elm.generate",
    "run_elm_demo": "ecgbyte.demo",
    "compute_metrics": "ecgbyte.eval.metrics",
    "evaluate_run": "ecgbyte.eval.evaluate",
    "generate_split": "ecgbyte.eval.evaluate",
    "evaluation_report": "ecgbyte.report",
    "explain": "ecgbyte.report",
    "build_report": "ecgbyte.report",
    # using a trained run elsewhere: export, prompt ids, HTTP server
    "export_run": "ecgbyte.serve.export",
    "prompt_ids": "ecgbyte.serve.prompt",
    "ServeSettings": "ecgbyte.serve.app",
    "make_app": "ecgbyte.serve.app",
    "serve_run": "ecgbyte.serve.app",
}
# names that differ from the attribute in their module
_RENAMED = {"train_bpe": ("ecgbyte.bpe", "train")}

__all__ = ["__version__", *_LAZY, *_RENAMED]


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        module, attr = _RENAMED[name]
    elif name in _LAZY:
        module, attr = _LAZY[name], name
    else:
        raise AttributeError(f"module 'ecgbyte' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
