"""One writer per output folder: the advisory lock every writing command holds (``writer_lock``).

``ecgbyte preprocess``, ``train-tokenizer``, ``train``, ``evaluate``, ``report`` and ``export``
hold the lock of each folder they write for as long as they run. A second writer on the same
folder gets a one-line :class:`OutputLockedError` naming the holder (pid, command, start time,
host) instead of mixing its files with the first one's.

How it works. The lock of folder ``runs/tiny`` is the file ``runs/.tiny.ecgbyte.lock`` beside
it (beside, so that the folder itself may still be missing, must stay empty, or appears by a
rename, as in ``export``); where that parent is read-only, ``runs/tiny/.ecgbyte.lock`` inside it.
The file exists while a writer holds it and is removed when it ends. It is locked with POSIX
record locks (``fcntl.lockf``), which the kernel releases when the holding process dies, even by
``kill -9``, and which forked worker processes do not inherit: a stale lock is therefore never
"held", and the next writer takes it over at once. The file holds the holder's description as
JSON, so a writer that finds one left behind (with no live holder) knows the last holder was
killed, and says so.

Locks are per process and re-entrant within it (``report`` runs ``evaluate`` on the same run):
an inner ``writer_lock`` on a folder this process already holds only counts. Under a
multi-process launch (``accelerate launch``/``torchrun``: ``RANK`` > 0) only rank 0 locks.
Filesystems without POSIX locks get a warning and no lock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import inspect
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ecgbyte.errors import EcgbyteError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

LOCK_SUFFIX = ".ecgbyte.lock"  # beside the folder: PARENT/.NAME.ecgbyte.lock
INNER_LOCK = ".ecgbyte.lock"  # inside the folder, where its parent is read-only

_HELD: dict[str, list[Any]] = {}  # realpath of the folder -> [fd, lock path, depth]


class OutputLockedError(EcgbyteError):
    """Another ecgbyte process is writing the same output folder."""


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The lock file of ``folder`` (beside it): ``PARENT/.NAME.ecgbyte.lock``."""
    p = Path(os.path.realpath(folder))
    return p.parent / f".{p.name}{LOCK_SUFFIX}"


def holder(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The description the current (or last, killed) holder left in ``folder``'s lock, if any."""
    held = _HELD.get(os.path.realpath(folder))
    if held is not None:  # this process: read through its own descriptor
        return _parse_info(os.pread(held[0], 1 << 16, 0))
    for p in (lock_path(folder), Path(folder) / INNER_LOCK):
        info = _read_info(p)
        if info:
            return info
    return None


@contextlib.contextmanager
def writer_lock(*folders: str | os.PathLike[str] | None, command: str, create: bool = True) -> Iterator[None]:
    """Hold the writer lock of every folder in ``folders`` while the block runs.

    Parameters
    ----------
    folders : output folders this command writes (``None`` entries are skipped).
    command : the sub-command, e.g. ``"train"`` (shown to a second writer).
    create : create missing folders; ``False`` leaves them as they are (a run ``evaluate`` writes
        into, an ``export`` folder that appears by a rename): the lock beside is taken all the same
        where the parent folder exists.

    Raises
    ------
    OutputLockedError
        When another live process holds one of the locks; the message names it.
    EcgbyteError
        When a folder cannot be created (a file is in the way, permissions).
    """
    with contextlib.ExitStack() as stack:
        seen: set[str] = set()
        for folder in folders:
            if folder is None:
                continue
            key = os.path.realpath(folder)
            if not create and not Path(key).parent.is_dir():
                continue  # nowhere to put the lock; the command reports the missing path
            if key not in seen:
                seen.add(key)
                stack.enter_context(_one_lock(Path(folder), command, create))
        yield


def holds_writer_lock(param: str, command: str) -> Callable[[F], F]:
    """Decorator: the function holds :func:`writer_lock` on its argument ``param`` while it runs.

    The library's long writers (``preprocess_dataset``, ``train``) use it, so Python callers are
    protected as the commands are; the folder is not created here (the function does that).
    """

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            folder = sig.bind(*args, **kwargs).arguments.get(param)
            with writer_lock(folder, command=command, create=False):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


@contextlib.contextmanager
def _one_lock(folder: Path, command: str, create: bool) -> Iterator[None]:
    if folder.exists() and not folder.is_dir():
        raise EcgbyteError(f"{folder}: is a file, not a folder; pass a folder path for the output")
    if create:
        _make_folder(folder)
    key = os.path.realpath(folder)
    if key in _HELD:  # re-entrant within a process
        _HELD[key][2] += 1
        try:
            yield
        finally:
            _HELD[key][2] -= 1
        return
    if int(os.environ.get("RANK", "0") or 0) > 0:  # multi-process launch: rank 0 holds it
        yield
        return
    fd, path = _acquire(folder)
    if fd is None:
        yield
        return
    stale = _parse_info(os.pread(fd, 1 << 16, 0))  # never open+close another fd: that drops a POSIX lock
    if stale and stale.get("pid") != os.getpid():
        log.warning(
            "%s: taking over the lock of pid %s (`ecgbyte %s`, started %s on %s), which ended without "
            "releasing it (killed?); its partial outputs are resumed or replaced as usual",
            folder, stale.get("pid"), stale.get("command"), stale.get("started"), stale.get("host"),
        )  # fmt: skip
    _write_info(fd, _describe(command))
    _HELD[key] = [fd, path, 1]
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):  # a clean release leaves no lock file behind
            path.unlink()
        os.close(fd)  # releases the lock


def _acquire(folder: Path) -> tuple[int | None, Path]:
    """Open and lock ``folder``'s lock file; ``(None, path)`` where locks are not available.

    A lock file is removed on release, so the file locked must still be the one at its path
    (else a writer that opened it just before the removal would lock a deleted file): retried.
    """
    if os.name != "posix":  # pragma: no cover - Windows
        log.warning("%s: no advisory locks on this platform; make sure no other ecgbyte writes it", folder)
        return None, folder
    import fcntl

    for _ in range(50):
        fd, path = _open_lock_file(folder)
        if fd is None:
            return None, path
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            os.close(fd)
            raise OutputLockedError(_locked_message(folder, path)) from None
        except OSError as exc:  # no POSIX locks on this filesystem (some network mounts)
            os.close(fd)
            log.warning("%s: cannot lock %s (%s); make sure no other ecgbyte writes it", folder, path, exc)
            return None, path
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            return fd, path
        os.close(fd)  # its holder removed it on release: lock the new one
    raise OutputLockedError(f"{folder}: its lock file keeps changing; another ecgbyte is starting there")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EcgbyteError(
            f"{folder}: cannot create the output folder ({exc.strerror or exc}); choose a writable path"
        ) from None


def _open_lock_file(folder: Path) -> tuple[int, Path]:
    last: OSError | None = None
    for path in (lock_path(folder), folder / INNER_LOCK):
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o666), path
        except OSError as exc:
            last = exc
    raise EcgbyteError(
        f"{folder}: cannot create its lock file ({last.strerror if last else 'unknown error'}); "
        "the output folder (or its parent) must be writable"
    )


def _describe(command: str) -> dict[str, Any]:
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return {
        "pid": os.getpid(),
        "command": command,
        "started": now.isoformat().replace("+00:00", "Z"),
        "host": socket.gethostname(),
        "argv": sys.argv[1:],
    }


def _write_info(fd: int, info: dict[str, Any]) -> None:
    data = (json.dumps(info, sort_keys=True) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_info(path: Path) -> dict[str, Any] | None:
    """The description in lock file ``path``; never call it on a lock this process holds (closing
    any descriptor of a file drops the process's POSIX locks on it)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return _parse_info(data)


def _parse_info(data: bytes) -> dict[str, Any] | None:
    try:
        text = data.decode("utf-8", errors="replace").strip()
        info = json.loads(text) if text else None
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: Any) -> bool | None:
    """True/False for a pid on this host; None when it cannot be told."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return None
    return True


def _locked_message(folder: Path, path: Path) -> str:
    info = None
    for _ in range(20):  # the holder writes its description right after locking
        info = _read_info(path)
        if info:
            break
        time.sleep(0.025)
    if not info:
        who = "another ecgbyte process (it has not described itself yet)"
    else:
        who = (
            f"pid {info.get('pid')} (`ecgbyte {info.get('command')}`, started {info.get('started')} "
            f"on {info.get('host')})"
        )
        if info.get("host") == socket.gethostname() and _alive(info.get("pid")) is False:
            who += ", which is gone while the lock is still held (by a process it started?)"
    return (
        f"{folder} is being written by {who}; wait for it to finish or stop it, or choose another "
        f"output folder (lock: {path})"
    )


__all__ = [
    "INNER_LOCK",
    "LOCK_SUFFIX",
    "OutputLockedError",
    "holder",
    "holds_writer_lock",
    "lock_path",
    "writer_lock",
]
