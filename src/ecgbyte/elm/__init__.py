"""End-to-end ECG language models: config, model wrapping, run folders, training loop, generation.

Modules (torch/transformers/peft/accelerate are imported inside functions, so importing this
package stays cheap):

- :mod:`ecgbyte.elm.config`: ``TrainConfig`` (presets ``baby`` and ``paper``) and ``lr_at``;
- :mod:`ecgbyte.elm.model`: text tokenizer, marker tokens, tiny Llama or local HF model,
  mean-initialised ECG rows, LoRA / full fine-tuning, weight save/load;
- :mod:`ecgbyte.elm.run`: ``RunDir``, a run's folder (files, tokenizers, splits, the model
  loaded once), and the sequence rules shared by training and inference;
- :mod:`ecgbyte.elm.train` + :mod:`ecgbyte.elm.checkpoint`: the accelerate training loop with
  exact resume;
- :mod:`ecgbyte.elm.pipeline`: ``train_elm``, what ``ecgbyte train`` does (dataset, ECG
  tokenizer, loop);
- :mod:`ecgbyte.elm.generate`: batched greedy/beam ``predict`` and ``ask``;
- :mod:`ecgbyte.elm.attention`: attention of a generated answer to the ECG tokens;
- :mod:`ecgbyte.elm.encoder` + :mod:`ecgbyte.elm.two_stage`: the two-stage baseline, which
  plugs in as an ECG tokenizer (:class:`ecgbyte.ecg_tokenizer.EcgTokenizer`).
"""

from __future__ import annotations

from ecgbyte.elm.config import TrainConfig, lr_at

__all__ = ["TrainConfig", "lr_at"]
