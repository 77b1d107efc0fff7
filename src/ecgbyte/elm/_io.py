"""Small file helpers shared by the ELM modules: atomic JSON/JSONL writes (re-exported from
:mod:`ecgbyte.fileio`) and content hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ecgbyte.fileio import write_json, write_jsonl

__all__ = ["hash_directory", "write_json", "write_jsonl"]


def hash_directory(path: str | Path) -> str:
    """SHA-256 (first 16 hex digits) over the names and bytes of every file under ``path``."""
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted(x for x in root.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
