"""Worker processes that never outlive the process that started them.

When the OOM killer (or anyone) sends SIGKILL to ``watch``, its pool workers are not told: they
would go on rendering and delivering files for ever, holding memory, racing the restarted
watcher for the same claims. Each worker therefore watches its parent: once the parent is gone
(the worker has been handed to another process, so ``getppid()`` changes), it exits at once.

Linux's ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that started the worker
ends, and a pool is often started from a short-lived thread (a watcher in a test, a web request)
while the process and the pool live on.
"""

from __future__ import annotations

import os
import threading
import time

CHECK_SECONDS = 0.25


def _watch_parent(parent: int, every: float) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # no clean-up: what was half written is the restarted watcher's to finish
        time.sleep(every)


def bind_to_parent(every: float = CHECK_SECONDS) -> None:
    """Exit this process within ``every`` seconds of its parent's death."""
    parent = os.getppid()
    thread = threading.Thread(
        target=_watch_parent, args=(parent, every), name="ehforms-parent-watch", daemon=True
    )
    thread.start()
