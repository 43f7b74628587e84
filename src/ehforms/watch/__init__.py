"""The daemon: watches ``inbox/`` and hands each settled file to the :class:`Postroom`.

Small parts, after paperless-ngx's consumer:

- :class:`InboxEvents` (the watchdog handler, :mod:`.events`) only queues paths: an exception in
  a handler would kill watchdog's thread, so it does nothing that can fail.
- :class:`Settling` (:mod:`.settling`) tracks each path's size and mtime and lets it go once they
  have not changed for the quiet time, or at once on a closed-after-write event (inotify). A
  file still being copied is never read.
- :class:`Watcher` runs the loop: events are hints, so it also scans the inbox at start-up and
  every ``rescan_seconds``; it restarts the observer when the inbox vanishes and comes back or
  the share drops; it beats a heartbeat for ``ehforms status``; and it stops when its ``stop``
  event is set, after finishing the batch in hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ehforms.alerting import sending_for
from ehforms.errors import LedgerError
from ehforms.pipeline import Postroom, Result
from ehforms.purging import DailyPurge
from ehforms.watch.events import (
    CLAIMED,
    _claims_handler_class,
    _shorten_move_pairing,
    _watchdog_handler_class,
)
from ehforms.watch.settling import Settling, looks_complete

__all__ = [
    "CLAIMED",
    "Settling",
    "Watcher",
    "heartbeat_age",
    "looks_complete",
]

log = logging.getLogger("ehforms")


class Watcher:
    """Runs until ``stop`` is set. ``polling`` (seconds) polls instead of native events."""

    def __init__(
        self,
        postroom: Postroom,
        *,
        polling: float | None = None,
        stop: threading.Event | None = None,
        on_result: Callable[[Result], None] | None = None,
        tick: float = 0.05,
    ) -> None:
        self.postroom = postroom
        self.config = postroom.config
        self.inbox = postroom.mailroom.inbox
        self.polling = polling
        self.stop = stop or threading.Event()
        self.on_result = on_result
        self.tick = tick
        # queue.Queue, not SimpleQueue: in Python 3.11 a signal arriving while SimpleQueue.get
        # waits with a timeout can leave it waiting for ever (the timeout is recomputed as
        # negative, which means "block"), so SIGTERM would never be seen.
        self.hints: queue.Queue[tuple[Path, bool]] = queue.Queue()
        self.settling = Settling(self.config.quiet_seconds)
        self.observer: Any = None
        self._inbox_id: tuple[int, int] | None = None
        postroom.stop = self.stop  # a stop ends the batch in hand early
        # a fault of the whole root (the ledger locked, the disk full): wait, then try again
        self.fault: str | None = None
        self._failures = 0
        self._not_before = 0.0
        self._claims_waiting = True  # claims left in processing/: finished at the next batch
        # alerts by email go from a thread of their own, never delaying a batch
        self.alerts = sending_for(postroom.root, self.config, postroom.ledger.engine)
        # what is past its retention time is purged once a day, on a thread of its own
        self.purging = DailyPurge(postroom.root, self.config, postroom.ledger.engine)

    # -- the observer -----------------------------------------------------------------

    def _start_observer(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self._stop_observer()
        try:
            stat = self.inbox.stat()
        except OSError:
            return  # no inbox now: the loop tries again
        if not self.polling:
            _shorten_move_pairing()
        observer = PollingObserver(timeout=self.polling) if self.polling else Observer()
        observer.schedule(_watchdog_handler_class()(self.inbox, self.hints), str(self.inbox))
        processing = self.postroom.mailroom.processing
        if processing.is_dir():  # a form sent from the web pages, claimed: finish it at once
            observer.schedule(_claims_handler_class()(processing, self.hints), str(processing))
        observer.daemon = True
        try:
            observer.start()
        except OSError as error:
            log.error("cannot watch the inbox (%s): scanning only, trying again", error.strerror)
            return
        self.observer = observer
        self._inbox_id = (stat.st_dev, stat.st_ino)

    def _stop_observer(self, wait: float = 2.0) -> None:
        """Stop the observer, waiting ``wait`` seconds at most.

        watchdog's inotify emitter joins its reading thread without a timeout when it stops,
        and that thread waits for the kernel's last event: on a share that went away it may
        never come. Stopping runs on a daemon thread of its own, so neither a restart of the
        observer nor SIGTERM can hang on it."""
        observer, self.observer = self.observer, None
        if observer is None:
            return

        def stop() -> None:
            with contextlib.suppress(Exception):  # a broken observer is replaced either way
                observer.stop()
                observer.join(timeout=wait)

        stopping = threading.Thread(target=stop, name="ehforms-observer-stop", daemon=True)
        stopping.start()
        stopping.join(timeout=wait)
        if stopping.is_alive():
            log.warning("the inbox observer did not stop in %.0f s: left behind", wait)

    def _observer_healthy(self) -> bool:
        if self.observer is None or not self.observer.is_alive():
            return False
        try:
            stat = self.inbox.stat()
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self._inbox_id

    # -- the loop ---------------------------------------------------------------------

    def scan(self, now: float) -> None:
        try:
            for path in self.postroom.mailroom.candidates():
                self.settling.observe(path, now)
        except OSError as error:
            log.warning("cannot read the inbox (%s): trying again", error.strerror)

    def beat(self) -> None:
        faults = self.postroom.faults()
        if self.fault:
            faults.insert(0, self.fault)
        try:
            self.postroom.mailroom.beat(
                "polling" if self.polling else "events", dt.datetime.now(dt.UTC), faults
            )
        except OSError as error:
            log.warning("cannot write the heartbeat (%s)", error.strerror)

    def run(self) -> None:
        """Watch until stopped. Every batch in hand is finished before it returns."""
        log.info("watching %s (%s)", self.inbox, "polling" if self.polling else "events")
        self._start_observer()
        if self.alerts is not None:
            self.alerts.start()
        self.purging.start()
        self._warm()
        self._process([])  # finish whatever a stopped or crashed run left claimed
        next_scan = 0.0
        next_beat = 0.0
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if now >= next_beat:
                    self.beat()
                    next_beat = now + self.config.heartbeat_seconds
                if now >= next_scan:
                    if not self._observer_healthy():
                        self._start_observer()
                    self.scan(now)
                    self._claims_waiting = self._claims_waiting or self._stranded(now)
                    next_scan = now + self.config.rescan_seconds
                self._drain(now)
                if now < self._not_before:  # backing off after a fault of the whole root
                    self._wait()
                    continue
                ready = self.settling.ready(now, time.time())
                for path in ready:
                    self.settling.forget(path)
                if ready or self._claims_waiting or self._retries_due(now):
                    self._claims_waiting = False
                    self._process(ready)
                self._wait()
        finally:
            self._stop_observer()
            if self.alerts is not None:
                self.alerts.stop()
            self.purging.stop()
            log.info("stopped watching")

    def _warm(self) -> None:
        """Fonts and templates now, not when the first form is waiting."""
        from ehforms.render import renderer_for

        try:
            renderer_for(self.postroom.mailroom.root).warm()
        except Exception as error:  # a broken template folder shows itself per form instead
            log.warning("could not load the templates at start-up (%s)", type(error).__name__)

    def _wait(self) -> None:
        """Sleep a tick, or less: an event wakes the loop at once."""
        try:
            hint = self.hints.get(timeout=self.tick)
        except queue.Empty:
            return
        self.hints.put(hint)

    def _drain(self, now: float) -> None:
        while True:
            try:
                path, closed = self.hints.get_nowait()
            except queue.Empty:
                return
            if path == CLAIMED:
                self._claims_waiting = True
                continue
            self.settling.observe(path, now, closed=closed)

    def _stranded(self, now: float) -> bool:
        """A safety net, like the rescan: a claim in ``processing/`` that no retry is waiting
        for (a batch that failed half-way, a process that stopped) is finished at once."""
        waiting = {i for i, r in self.postroom.retries.items() if r.not_before > now}
        try:
            return any(
                c.submission_id not in waiting
                for c in self.postroom.mailroom.claims_in_processing(tidy=False)
            )
        except OSError:
            return False

    def _retries_due(self, now: float) -> bool:
        return any(r.not_before <= now for r in self.postroom.retries.values()) or any(
            r.not_before <= now and path.parent == self.inbox
            for path, r in self.postroom.inbox_faults.items()
        )

    def _process(self, paths: list[Path]) -> None:
        """One batch. A fault of the whole root (the share dropped, the disk full, the ledger
        locked by another program) is waited out with backoff: what was claimed is recovered
        at the next batch, and the watcher never exits for it."""
        due = [p for p, r in self.postroom.inbox_faults.items() if r.not_before <= time.monotonic()]
        try:
            self.postroom.run(paths + [p for p in due if p not in paths], on_result=self.on_result)
        except Exception as error:
            self._failures += 1
            delay = min(2.0**self._failures, self.config.retry_max_seconds)
            self._not_before = time.monotonic() + delay
            self.fault = _root_fault(error)
            self._claims_waiting = True  # what this batch claimed is finished by the next
            log.error("%s: trying again in %.0f s", self.fault, delay)
            for path in paths:  # looked at again once the fault clears
                self.settling.observe(path, time.monotonic())
            self.beat()
        else:
            if self.fault:
                log.warning("working again after: %s", self.fault)
                self.fault = None
                self.beat()
            self._failures = 0


def _root_fault(error: Exception) -> str:
    """A fault of the whole root, in words for the log and ``status`` (no file names)."""
    import errno

    if isinstance(error, LedgerError):
        return str(error)
    if isinstance(error, OSError):
        if error.errno == errno.ENOSPC:
            return "the disk is full"
        return f"the working root could not be read or written ({error.strerror})"
    return f"a fault in ehforms itself ({type(error).__name__})"


def heartbeat_age(heartbeat: dict[str, Any] | None, now: dt.datetime) -> float | None:
    if not heartbeat:
        return None
    try:
        return (now - dt.datetime.fromisoformat(heartbeat["at"])).total_seconds()
    except (KeyError, ValueError, TypeError):
        return None
