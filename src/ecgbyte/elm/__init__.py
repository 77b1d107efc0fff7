"""End-to-end ECG language models: config, model wrapping, training loop, generation, demo.

Modules (torch/transformers/peft/accelerate are imported inside functions, so importing this
package stays cheap):

- :mod:`ecgbyte.elm.config`: ``TrainConfig`` (presets ``baby`` and ``paper``) and ``lr_at``;
- :mod:`ecgbyte.elm.model`: text tokenizer, marker tokens, tiny Llama or local HF model,
  mean-initialised ECG rows, LoRA / full fine-tuning, weight save/load;
- :mod:`ecgbyte.elm.train`: the accelerate training loop with exact resume;
- :mod:`ecgbyte.elm.generate`: ``load_run``, batched greedy/beam ``predict``, accuracy;
- :mod:`ecgbyte.elm.demo`: ``run_elm_demo``, the CPU proof that the model reads the ECG.
"""

from __future__ import annotations

from ecgbyte.elm.config import TrainConfig, lr_at

__all__ = ["TrainConfig", "lr_at"]
