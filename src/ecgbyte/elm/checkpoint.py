"""Training checkpoints: ``RUN/checkpoints/step-N/{weights/, optimizer.pt, rng.pt, state.json}``.

A checkpoint is written into ``step-N.tmp`` and renamed when complete; ``latest.json`` then
points at it and older ones beyond ``keep`` are removed, so a run killed at any moment leaves its
last complete checkpoint intact. It holds everything exact resume needs: the weights (adapter or
full model, plus whatever the ECG tokenizer adds, e.g. a two-stage projector), the optimizer
state and the torch RNG state (CPU, and CUDA where present: dropout draws from those there).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ecgbyte.elm import model as M
from ecgbyte.errors import ModelError
from ecgbyte.fileio import write_json


def save_checkpoint(
    acc: Any, model: Any, opt: Any, run_dir: Path, step: int, total: int, keep: int = 2
) -> Path:
    """Write ``checkpoints/step-N`` via a temp dir + rename, point ``latest.json`` at it, prune old ones."""
    import torch

    acc.wait_for_everyone()
    final = run_dir / "checkpoints" / f"step-{step:07d}"
    if acc.is_main_process:
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        M.save_weights(acc.unwrap_model(model), tmp / "weights")
        torch.save(opt.state_dict(), tmp / "optimizer.pt")
        torch.save(rng_state(), tmp / "rng.pt")
        write_json(tmp / "state.json", {"step": step, "total_steps": total})
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        write_json(run_dir / "latest.json", {"checkpoint": final.name, "step": step})
        old = sorted(p for p in final.parent.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
        for p in old[:-keep]:
            shutil.rmtree(p, ignore_errors=True)
    acc.wait_for_everyone()
    return final


def load_training_state(ckpt: Path, opt: Any) -> int:
    """Restore the optimizer and RNG state of checkpoint ``ckpt``; returns its step."""
    import torch

    try:
        step = int(json.loads((ckpt / "state.json").read_text())["step"])
        opt.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
        set_rng_state(torch.load(ckpt / "rng.pt", map_location="cpu", weights_only=True))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as exc:
        raise ModelError(
            f"{ckpt}: damaged checkpoint ({type(exc).__name__}: {exc}); resume from an earlier one "
            "by pointing latest.json at it, or start a new run"
        ) from exc
    return step


def rng_state() -> dict[str, Any]:
    """PyTorch's CPU generator and, on a GPU, the CUDA generators."""
    import torch

    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Any) -> None:
    import torch

    if not isinstance(state, dict):  # checkpoints written before the CUDA state was saved
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


__all__ = ["load_training_state", "rng_state", "save_checkpoint", "set_rng_state"]
