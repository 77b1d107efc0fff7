"""What ecgbyte wrote in a folder: the ``.ecgbyte-manifest.json`` every output folder carries.

Every folder ecgbyte creates (a preprocess output, a tokenizer, a training run, an export) holds
a small manifest: its ``kind``, the ecgbyte version and the relative paths ecgbyte writes there.
A path is added *before* its file is written, so a job killed between the two still owns it.
Two rules follow:

- ``--overwrite`` removes only what the manifest lists (:func:`remove_owned`), never a file
  somebody else put in the folder (a note under ``OUT/shards/``, say);
- a command that needs a folder of its own (``train --out``, ``preprocess OUT``) refuses a
  non-empty folder that is not an ecgbyte output of its kind (:func:`check_folder`).

Folders written before manifests existed are recognised by a ``legacy`` test the caller passes
(e.g. a ``config.json`` that ``ecgbyte train`` wrote) and adopted: the manifest is added the
next time ecgbyte writes there. The writer lock (:mod:`ecgbyte.locks`) makes ecgbyte the only
writer of the manifest while it runs. Torch-free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from ecgbyte.errors import ConfigError
from ecgbyte.fileio import is_temp_of, write_json

MANIFEST_NAME = ".ecgbyte-manifest.json"
MANIFEST_FORMAT = "ecgbyte.manifest"
KINDS = ("preprocess", "tokenizer", "run", "export")
_OWN = (MANIFEST_NAME, ".ecgbyte.lock")  # bookkeeping files that never make a folder "non-empty"


def _bookkeeping(name: str) -> bool:
    """One of :data:`_OWN`, or the temporary file :func:`ecgbyte.fileio.write_json` writes one through:
    under ``torchrun`` another process may be writing the manifest while this one checks the folder."""
    return name in _OWN or any(is_temp_of(name, own) for own in _OWN)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of ``folder``, or ``None`` when it has none (or an unreadable one)."""
    try:
        data = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT and data.get("kind") in KINDS):
        return None
    files = data.get("files")
    data["files"] = sorted({str(f) for f in files if isinstance(f, str)}) if isinstance(files, list) else []
    return data


def claim(folder: str | os.PathLike[str], kind: str, paths: Iterable[str | os.PathLike[str]]) -> Path:
    """Record that ecgbyte writes ``paths`` (relative to ``folder``, or inside it) there, as ``kind``.

    Call it before writing the files; creates the folder and the manifest if needed. Returns the
    manifest's path.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    root = Path(folder)
    old = read_manifest(root)
    if old is not None and old["kind"] != kind:
        raise ConfigError(
            f"{root} holds an ecgbyte {old['kind']} output, not a {kind}; choose another folder"
        )
    files = set(old["files"]) if old else set()
    files.update(_relative(root, p) for p in paths)
    if old is not None and files == set(old["files"]):
        return root / MANIFEST_NAME
    from ecgbyte import __version__

    return write_json(
        root / MANIFEST_NAME,
        {"format": MANIFEST_FORMAT, "kind": kind, "ecgbyte_version": __version__, "files": sorted(files)},
    )


def owned_files(folder: str | os.PathLike[str]) -> list[str]:
    """The relative paths the manifest of ``folder`` lists (``[]`` without one)."""
    m = read_manifest(folder)
    return m["files"] if m else []


def remove_owned(folder: str | os.PathLike[str]) -> list[str]:
    """Delete the files the manifest lists, and the folders that this leaves empty; returns the
    relative paths removed. Files ecgbyte did not write stay, with their folders."""
    root = Path(folder)
    m = read_manifest(root)
    if m is None:
        return []
    removed = []
    for rel in m["files"]:
        p = root / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
            removed.append(rel)
    for rel in sorted({str(PurePosixPath(f).parent) for f in m["files"]}, key=len, reverse=True):
        d = root / rel
        while rel not in ("", ".") and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
            rel, d = str(PurePosixPath(rel).parent), d.parent
    write_json(root / MANIFEST_NAME, {**m, "files": []})
    return removed


def foreign_entries(folder: str | os.PathLike[str]) -> list[str]:
    """Entries directly in ``folder`` that its manifest does not account for (all of them without one)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    tops = {PurePosixPath(f).parts[0] for f in owned_files(root)}
    return sorted(p.name for p in root.iterdir() if not _bookkeeping(p.name) and p.name not in tops)


def check_folder(
    folder: str | os.PathLike[str],
    kind: str,
    *,
    legacy: Callable[[Path], bool] | None = None,
    what: str = "output folder",
) -> str:
    """Whether ``folder`` may receive a ``kind`` output; returns ``"new"``, ``"ours"`` or ``"legacy"``.

    ``"new"``: missing or empty; ``"ours"``: its manifest says ``kind``; ``"legacy"``: no
    manifest but ``legacy(folder)`` recognises an output from before manifests. Anything else
    raises a one-line :class:`~ecgbyte.errors.ConfigError` naming a few of the foreign entries.
    """
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: is a file, not a folder; pass a folder path as the {what}")
    if not root.is_dir() or not any(not _bookkeeping(p.name) for p in root.iterdir()):
        return "new"
    m = read_manifest(root)
    if m is not None:
        if m["kind"] != kind:
            raise ConfigError(
                f"{root} holds an ecgbyte {m['kind']} output, not a {kind}; choose another {what}"
            )
        return "ours"
    if legacy is not None and legacy(root):
        return "legacy"
    names = foreign_entries(root)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise ConfigError(
        f"{root} is not empty ({shown}) and was not written by ecgbyte ({MANIFEST_NAME} is missing); "
        f"choose a new or empty {what}, or move those files away"
    )


def _relative(root: Path, p: str | os.PathLike[str]) -> str:
    """``p`` (inside ``root``, or already relative to it) as a POSIX path relative to ``root``."""
    q = Path(p)
    try:
        q = q.relative_to(root)
    except ValueError:
        if q.is_absolute():
            try:
                q = q.resolve().relative_to(root.resolve())
            except ValueError:
                raise ValueError(f"{p} is not inside {root}") from None
    rel = PurePosixPath(q.as_posix())
    if rel.is_absolute() or ".." in rel.parts or str(rel) in ("", "."):
        raise ValueError(f"{p} is not a path inside {root}")
    return str(rel)


__all__ = [
    "KINDS",
    "MANIFEST_NAME",
    "check_folder",
    "claim",
    "foreign_entries",
    "owned_files",
    "read_manifest",
    "remove_owned",
]
