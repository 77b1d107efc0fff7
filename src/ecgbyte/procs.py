"""Worker processes that die with their parent: a ``kill -9`` of a job leaves no orphan workers.

:func:`worker_pool` is a ``ProcessPoolExecutor`` whose workers run :func:`die_with_parent` first:
on Linux the kernel sends them SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``); on
every platform a daemon thread also checks once a second that the parent is still theirs
(``os.getppid()``) and exits the worker when it is not. ``ecgbyte preprocess --workers N`` uses
it. Torch-free.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL_S = 1.0


def worker_pool(workers: int, *, start_method: str | None = None) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes that exit when this process dies.

    ``start_method``: ``"spawn"`` for workers that run torch (a forked torch process can hang);
    ``None``: the platform's default."""
    import multiprocessing as mp

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(start_method),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def die_with_parent(parent: int) -> None:
    """Make the calling (worker) process exit as soon as process ``parent`` is gone.

    Call it first thing in a worker started by ``parent``, e.g. as a pool initializer.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - an exotic libc: the watchdog remains
            pass
    if os.getppid() != parent:  # the parent died before the line above: nobody to signal us
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="ecgbyte-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        if os.getppid() != parent:
            os._exit(1)


__all__ = ["die_with_parent", "worker_pool"]
