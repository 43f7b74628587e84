"""Worker processes that never outlive the process that started them.

When the OOM killer (or anyone) sends SIGKILL to ``watch``, its pool workers are not told: they
would go on rendering and delivering files for ever, holding memory, racing the restarted
watcher for the same claims. Each worker therefore watches its parent from a daemon thread and
exits at once when the parent is gone. Two signs are watched:

- the parent's *sentinel*, which multiprocessing gives every child it starts (spawn and
  forkserver): a pipe whose writing end only the parent process holds, so it reads as closed
  the moment the parent dies, whichever of the parent's threads started the worker. The thread
  sleeps on it, so the worker goes within milliseconds; and a parent that died while the worker
  was still starting up (before ``getppid()`` could be noted) is seen too;
- ``getppid()`` changing (the worker handed on to another process), checked every ``every``
  seconds: the fallback for a worker started some other way, with no sentinel.

Linux's ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that started the worker
ends, and ``ProcessPoolExecutor`` starts workers from whichever thread submits work (a watcher
on its own thread in a test, a web request), while the process and the pool live on.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from multiprocessing.connection import wait

CHECK_SECONDS = 0.25
EXIT_ORPHANED = 70  # the worker's exit status, were anyone left to read it


def _orphaned() -> None:
    os._exit(EXIT_ORPHANED)  # no clean-up: what was half written is the restarted watcher's


def _watch_parent(sentinel: int | None, ppid: int, every: float) -> None:
    while True:
        if sentinel is not None:
            try:
                if wait([sentinel], timeout=every):
                    break  # the parent's end of the pipe is closed: it is dead
            except (OSError, ValueError):  # the sentinel was closed under us: poll instead
                sentinel = None
                continue
        else:
            time.sleep(every)
        if os.getppid() != ppid:
            break
    _orphaned()


def _parent_signs() -> tuple[int | None, bool]:
    """The parent's sentinel (None without one), and whether this process was handed on
    already: started straight from its parent, its parent pid is no longer that parent's."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return None, False
    try:
        sentinel: int | None = parent.sentinel
    except ValueError:  # a closed process object
        sentinel = None
    return sentinel, os.getppid() != parent.pid


def bind_to_parent(every: float = CHECK_SECONDS) -> None:
    """Exit this process as soon as its parent dies (within ``every`` s without a sentinel).

    Call it first in a pool's initializer. A parent that is already gone is seen here, and the
    process exits there and then.
    """
    ppid = os.getppid()
    sentinel, handed_on = _parent_signs()
    if sentinel is not None:
        if wait([sentinel], timeout=0):
            _orphaned()
    elif handed_on:  # no sentinel to ask (under forkserver there always is one)
        _orphaned()
    thread = threading.Thread(
        target=_watch_parent, args=(sentinel, ppid, every), name="ehforms-parent-watch", daemon=True
    )
    thread.start()
