"""Training checkpoints: ``RUN/checkpoints/step-N/{weights/, optimizer.pt, rng.pt, state.json, checksums.json}``.

A checkpoint is written into ``step-N.tmp``, its files' sizes and SHA-256 go into its
``checksums.json``, and the folder is renamed when complete; ``latest.json`` then points at it
(with the same sizes and checksums) and the checkpoints beyond the newest ``keep`` (2) are removed,
so a run killed at any moment leaves its last complete checkpoint intact. It holds everything exact
resume needs: the weights (adapter or full model, plus whatever the ECG tokenizer adds, e.g. a
two-stage projector), the optimizer state and the torch RNG state (CPU, and CUDA where present).

Nothing is trusted unchecked: :func:`latest_checkpoint` verifies the checkpoint ``latest.json``
names against the recorded sizes and checksums and, when it (or ``latest.json`` itself) is
damaged, falls back to the newest earlier checkpoint that verifies against its own
``checksums.json``, with a warning. Checkpoints written before checksums existed are used as they
are (their loading errors are still one-line :class:`~ecgbyte.errors.ModelError`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ecgbyte.errors import EcgbyteError, ModelError
from ecgbyte.fileio import write_json

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
_STEP = re.compile(r"^step-(\d+)$")


def save_checkpoint(
    acc: Any, model: Any, opt: Any, run_dir: Path, step: int, total: int, keep: int = 2
) -> Path:
    """Write ``checkpoints/step-N`` via a temp dir + rename, point ``latest.json`` at it, prune old ones."""
    import torch

    from ecgbyte.elm import model as M

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
        files = file_checksums(tmp)
        write_json(tmp / CHECKSUMS, {"step": step, "files": files})
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        write_json(run_dir / "latest.json", {"checkpoint": final.name, "step": step, "files": files})
        _prune(final.parent, step, keep)
    acc.wait_for_everyone()
    return final


def _prune(root: Path, step: int, keep: int) -> None:
    """Keep the ``keep`` newest checkpoints up to ``step``; drop later ones (from a damaged future)."""
    done = [(s, p) for s, p in _checkpoints(root) if s <= step]
    for s, p in _checkpoints(root):
        if s > step:
            shutil.rmtree(p, ignore_errors=True)
    for _, p in done[keep:]:
        shutil.rmtree(p, ignore_errors=True)


def _checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoint folders under ``root``, newest first."""
    if not root.is_dir():
        return []
    out = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP.match(p.name))]
    return sorted(out, reverse=True)


def file_checksums(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size": bytes, "sha256": hex}}`` of every file under ``folder`` (but checksums.json)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != CHECKSUMS:
            h = hashlib.sha256()
            with p.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[rel] = {"size": p.stat().st_size, "sha256": h.hexdigest()}
    return out


def verify_checkpoint(ckpt: Path, expected: Any = None, *, scope: str = "all") -> str | None:
    """Why checkpoint ``ckpt`` cannot be trusted, or ``None`` when it verifies.

    ``expected``: the ``files`` map from ``latest.json``; default: the checkpoint's own
    ``checksums.json``. ``scope``: ``"all"`` (resuming training) or ``"weights"`` (loading the
    model: the optimizer state, the largest file, is not read). A checkpoint without checksums
    (written before them) only needs its ``state.json`` to read.
    """
    if scope not in ("all", "weights"):
        raise ValueError(f"scope must be 'all' or 'weights', got {scope!r}")
    if not ckpt.is_dir():
        return "missing"
    if expected is None:
        try:
            expected = json.loads((ckpt / CHECKSUMS).read_text())["files"]
        except FileNotFoundError:
            return _legacy_check(ckpt)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"{CHECKSUMS} unreadable ({type(exc).__name__})"
    if not isinstance(expected, dict) or not expected:
        return "no file list to check against"
    for rel, want in sorted(expected.items()):
        if scope == "weights" and not str(rel).startswith("weights/"):
            continue
        p = ckpt / rel
        try:
            size = p.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if not isinstance(want, dict) or size != want.get("size"):
            return f"{rel} has {size} bytes, {want.get('size') if isinstance(want, dict) else '?'} expected"
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != want.get("sha256"):
            return f"{rel} fails its sha256 checksum"
    return None


def _legacy_check(ckpt: Path) -> str | None:
    try:
        int(json.loads((ckpt / "state.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"state.json unreadable ({type(exc).__name__})"
    return None if (ckpt / "weights").is_dir() else "weights/ is missing"


def latest_checkpoint(run_dir: str | os.PathLike[str], *, scope: str = "all") -> Path | None:
    """The newest checkpoint of ``run_dir`` that verifies, or ``None`` when the run has none yet.

    The one ``latest.json`` names, checked against its sizes and checksums; when that (or
    ``latest.json``) is damaged, the newest earlier checkpoint that verifies, with a warning; when
    none does, a one-line :class:`~ecgbyte.errors.ModelError`. ``scope`` as in
    :func:`verify_checkpoint`.
    """
    run_dir = Path(run_dir)
    p = run_dir / "latest.json"
    found = _checkpoints(run_dir / "checkpoints")
    if not p.exists() and not found:
        return None
    named, step = None, None
    try:
        info = json.loads(p.read_text())
        named = run_dir / "checkpoints" / str(info["checkpoint"])
        if not _STEP.match(named.name):
            raise ValueError(f"{info['checkpoint']!r} is not a checkpoint name")
        step = int(_STEP.match(named.name).group(1))
        reason = verify_checkpoint(named, info.get("files"), scope=scope)
        if reason is None:
            return named
        problem = f"{named}: damaged checkpoint ({reason})"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = f"{p}: unreadable ({type(exc).__name__}: {exc})"
    for s, c in found:
        if (step is None or s < step) and verify_checkpoint(c, scope=scope) is None:
            log.warning("%s; falling back to the previous checkpoint %s", problem, c.name)
            return c
    raise ModelError(
        f"{problem}, and no intact earlier checkpoint to fall back on; restore the files or start a new run"
    )


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


def load_checkpoint_weights(load: Any, ckpt: Path) -> Any:
    """``load()`` (which reads ``ckpt``'s weights) with any failure as a one-line ModelError."""
    try:
        return load()
    except EcgbyteError:
        raise
    except Exception as exc:  # safetensors, peft and transformers raise their own types
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(
            f"{ckpt}: damaged checkpoint weights ({type(exc).__name__}: {msg}); restore the files, "
            "or start a new run"
        ) from exc


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


__all__ = [
    "file_checksums",
    "latest_checkpoint",
    "load_checkpoint_weights",
    "load_training_state",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "verify_checkpoint",
]
