"""Atomic file writes shared by every layer: a killed job never leaves a half-written file.

Everything goes through :func:`atomic_write_bytes`: write a temporary file in the destination's
folder, flush and fsync it, then ``os.replace`` it onto the destination (atomic on POSIX and
Windows). JSON is written with sorted keys so the same object gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any


def _temp_affixes(name: str) -> tuple[str, str]:
    """Prefix and suffix of the temporary file that :func:`atomic_write_bytes` writes ``name`` through."""
    return f".{name}.", ".tmp"


def is_temp_of(entry: str, name: str) -> bool:
    """Whether the folder entry ``entry`` is an in-flight temporary file of an atomic write of ``name``."""
    prefix, suffix = _temp_affixes(name)
    return len(entry) > len(prefix) + len(suffix) and entry.startswith(prefix) and entry.endswith(suffix)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temp_affixes(path.name)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; a written file follows the umask like open()
            os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process umask, read without changing it where the OS tells it (Linux ``/proc``).

    Elsewhere it is read by setting and restoring it (``os.umask``), which is not thread-safe.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (sorted keys, trailing newline) atomically; returns the path."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> Path:
    """Write one compact JSON object per line (sorted keys) atomically; returns the path."""
    text = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in rows)
    return atomic_write_text(path, text)


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Render a matplotlib figure to PNG in memory, then write it atomically; returns the path.

    Works without a global backend switch (an Agg canvas is attached if the figure has none).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not hasattr(fig.canvas, "print_png"):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def hash_directory(path: str | os.PathLike[str]) -> str:
    """SHA-256 (first 16 hex digits) over the names and bytes of every file under ``path``."""
    root = Path(path)
    files = sorted(x for x in root.rglob("*") if x.is_file())
    return _hash_in_order((str(f.relative_to(root)), f.read_bytes()) for f in files)


def hash_files(files: Iterable[tuple[str, bytes]]) -> str:
    """:func:`hash_directory` of a folder holding ``files`` (relative name, bytes), without writing it.

    Files are hashed in path order (as ``hash_directory`` sorts them), whatever order they come in.
    """
    return _hash_in_order(sorted(files, key=lambda f: PurePath(f[0])))


def _hash_in_order(files: Iterable[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in files:
        h.update(name.encode())
        h.update(data)
    return h.hexdigest()[:16]
