"""The training loss with logits on the answer positions only equals the full causal-LM loss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ecgbyte.data.sequences import IGNORE_INDEX  # noqa: E402
from ecgbyte.elm.model import answer_loss  # noqa: E402


def _llama(vocab: int = 97, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128, pad_token_id=0,
        tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(cfg)


def _batch(seed: int = 1, b: int = 3, n: int = 40, vocab: int = 97) -> dict:
    """Right-padded rows whose answers (labels) end at different positions, as ``collate`` makes them."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (b, n), generator=g)
    mask = torch.ones(b, n, dtype=torch.long)
    labels = torch.full((b, n), IGNORE_INDEX)
    for i, (end, answer) in enumerate([(n, 4), (n - 7, 2), (n - 15, 6)][:b]):
        ids[i, end:], mask[i, end:] = 0, 0
        labels[i, end - answer : end] = ids[i, end - answer : end]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class _IgnoresKeep(torch.nn.Module):
    """A causal LM that takes ``logits_to_keep`` but returns every position's logits."""

    def __init__(self, llm) -> None:
        super().__init__()
        self.llm = llm

    def forward(self, logits_to_keep=None, **kw):
        return self.llm(**kw)


def test_equals_the_full_loss_and_its_gradients():
    model, batch = _llama(), _batch()
    full = model(**batch).loss
    grads_full = torch.autograd.grad(full, list(model.parameters()))
    fast = answer_loss(model, batch)
    grads_fast = torch.autograd.grad(fast, list(model.parameters()))
    assert torch.allclose(fast, full, atol=1e-6, rtol=1e-6)
    for a, b in zip(grads_fast, grads_full):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_a_model_that_ignores_logits_to_keep_gives_the_same_loss():
    model, batch = _llama(), _batch(seed=2)
    assert torch.allclose(answer_loss(_IgnoresKeep(model), batch), model(**batch).loss, atol=1e-6)


def test_lora_model_gives_the_same_loss():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_llama(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    batch = _batch(seed=3)
    assert torch.allclose(answer_loss(model, batch), model(**batch).loss, atol=1e-6)


def test_head_runs_only_on_answer_positions():
    """The LM head sees the positions whose next token is labelled, not the whole prompt."""
    model, batch = _llama(), _batch()
    seen = []
    hook = model.lm_head.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    answer_loss(model, batch)
    hook.remove()
    n_keep = int((batch["labels"][:, 1:] != IGNORE_INDEX).any(0).sum())
    assert seen == [(3, n_keep, 97)] and n_keep == 4 + 2 + 6


def test_no_labels_gives_nan_like_the_full_loss():
    model, batch = _llama(), _batch()
    batch["labels"][:] = IGNORE_INDEX
    assert torch.isnan(answer_loss(model, batch)) and torch.isnan(model(**batch).loss)
