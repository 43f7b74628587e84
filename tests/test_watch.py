"""The watcher in a thread: started, fed files, and always stopped and joined."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

import helpers
from conftest import load_example
from ehforms.pipeline import Postroom
from ehforms.watch import Settling, Watcher
from helpers import drop, make_root, primary, sha, wait_for

FAST = {
    "EHFORMS_WATCH__QUIET_SECONDS": "0.5",
    "EHFORMS_WATCH__RESCAN_SECONDS": "0.5",
    "EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.2",
}


def Running(root: Path, **kwargs) -> helpers.Running:  # noqa: N802 - used as a class
    return helpers.Running(root, FAST, **kwargs)


def routed(root: Path, data: bytes) -> bool:
    return sha(data) in primary(root)


class TestSettling:
    def test_a_file_settles_after_the_quiet_time(self, tmp_path):
        path = tmp_path / "a.json"
        path.write_text("{")
        settling = Settling(quiet=1.0)
        settling.observe(path, now=100.0)
        assert settling.ready(100.5) == []
        assert settling.ready(101.0) == [path]

    def test_a_change_restarts_the_quiet_time(self, tmp_path):
        path = tmp_path / "a.json"
        path.write_text("{")
        settling = Settling(quiet=1.0)
        settling.observe(path, now=100.0)
        with path.open("a") as handle:
            handle.write('"a": 1}')
        assert settling.ready(100.9) == []  # it changed: the clock starts again at 100.9
        assert settling.ready(101.5) == []
        assert settling.ready(101.9) == [path]

    def test_a_closed_write_lets_it_go_at_once(self, tmp_path):
        path = tmp_path / "a.json"
        path.write_text("{}")
        settling = Settling(quiet=60.0)
        settling.observe(path, now=100.0, closed=True)
        assert settling.ready(100.0) == [path]

    def test_a_file_already_old_when_found_needs_only_a_second_look(self, tmp_path):
        import os as _os

        path = tmp_path / "a.json"
        path.write_text("{}")
        written = path.stat().st_mtime
        _os.utime(path, (written - 60, written - 60))
        settling = Settling(quiet=30.0)
        settling.observe(path, now=100.0)
        assert settling.ready(100.0, wall=written) == [path]  # one more look, unchanged

    def test_a_recent_file_found_by_a_scan_waits(self, tmp_path):
        path = tmp_path / "a.json"
        path.write_text("{}")
        settling = Settling(quiet=30.0)
        settling.observe(path, now=100.0)
        assert settling.ready(100.1, wall=path.stat().st_mtime + 0.1) == []

    def test_a_vanished_file_is_forgotten(self, tmp_path):
        path = tmp_path / "a.json"
        path.write_text("{}")
        settling = Settling(quiet=0.0)
        settling.observe(path, now=100.0)
        path.unlink()
        assert settling.ready(101.0) == []
        assert settling.files == {}


@pytest.mark.parametrize("polling", [None, 0.2], ids=["events", "polling"])
def test_a_dropped_file_is_routed(tmp_path, polling):
    data = json.dumps(load_example("rfas")).encode()
    with Running(tmp_path, polling=polling):
        drop(tmp_path, "rfas.json", data)
        assert wait_for(lambda: routed(tmp_path, data))
    assert primary(tmp_path)[sha(data)][0]["status"] == "routed"


def test_files_already_in_the_inbox_are_taken_at_start_up(tmp_path):
    make_root(tmp_path)
    data = json.dumps(load_example("closure")).encode()
    drop(tmp_path, "closure.json", data)
    with Running(tmp_path):
        assert wait_for(lambda: routed(tmp_path, data))


@pytest.mark.slow
@pytest.mark.parametrize("polling", [None, 0.2], ids=["events", "polling"])
def test_a_slow_writer_is_never_read_early(tmp_path, polling):
    data = json.dumps(load_example("transfer"), indent=2).encode()
    chunks = [data[i : i + 400] for i in range(0, len(data), 400)]
    environ = {"EHFORMS_WATCH__QUIET_SECONDS": "1.5"}
    with Running(tmp_path, polling=polling, environ=environ) as running:
        path = tmp_path / "inbox" / "transfer.json"
        with path.open("wb") as handle:  # open for the whole copy, as a slow share copy is
            for chunk in chunks:
                handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
                time.sleep(0.4)  # well over 3 seconds in all, each pause under the quiet time
                assert path.exists(), "the file was claimed while still being written"
        assert wait_for(lambda: routed(tmp_path, data))
        # the ledger records an outcome just after its delivery (a group at a time)
        assert wait_for(lambda: running.postroom.ledger.counts() == {"routed": 1})
    (receipt,) = primary(tmp_path)[sha(data)]
    assert receipt["status"] == "routed"


def test_the_watcher_survives_a_failing_batch(tmp_path, monkeypatch):
    data = json.dumps(load_example("rfas")).encode()
    with Running(tmp_path) as running:
        real = running.postroom.run
        failures = {"n": 0}

        def flaky(*args, **kwargs):
            if failures["n"] < 2:
                failures["n"] += 1
                raise OSError(5, "the share dropped")
            return real(*args, **kwargs)

        monkeypatch.setattr(running.postroom, "run", flaky)
        drop(tmp_path, "rfas.json", data)
        assert wait_for(lambda: routed(tmp_path, data))
        assert failures["n"] == 2
        assert running.thread.is_alive()


def test_the_handler_never_raises(tmp_path):
    from ehforms.watch import _watchdog_handler_class

    hints = __import__("queue").SimpleQueue()
    handler = _watchdog_handler_class()(tmp_path, hints)

    class Broken:
        is_directory = False

        @property
        def src_path(self):
            raise RuntimeError("a strange event")

    class BrokenCreated(Broken):
        event_type = "created"

    class BrokenClosed(Broken):
        event_type = "closed"

    handler.dispatch(BrokenCreated())
    handler.dispatch(BrokenClosed())
    assert hints.empty()


def test_a_vanished_and_recreated_inbox_is_watched_again(tmp_path):
    data = json.dumps(load_example("rfas")).encode()
    with Running(tmp_path):
        time.sleep(0.3)
        inbox = tmp_path / "inbox"
        inbox.rename(tmp_path / "inbox-gone")
        time.sleep(0.8)  # the watcher sees it gone, and carries on
        inbox.mkdir()
        drop(tmp_path, "rfas.json", data)
        assert wait_for(lambda: routed(tmp_path, data))


def test_a_failed_delivery_is_retried_until_it_lands(tmp_path, monkeypatch):
    data = json.dumps(load_example("rfas")).encode()
    environ = {"EHFORMS_WATCH__RETRY_MAX_SECONDS": "0.5"}
    mailbox = tmp_path / "outbox" / "eh-central"
    with Running(tmp_path, environ=environ) as running:
        (mailbox / "done").rmdir()
        mailbox.rmdir()  # a hub's folder is missing for a while
        drop(tmp_path, "rfas.json", data)
        assert wait_for(lambda: running.postroom.retries)
        assert not routed(tmp_path, data)
        mailbox.mkdir()
        assert wait_for(lambda: routed(tmp_path, data))
        # the folder lands in the worker before the main thread records it and drops the retry
        assert wait_for(lambda: running.postroom.retries == {})


def test_the_heartbeat_shows_the_watcher_alive(tmp_path):
    import datetime as dt

    from ehforms.status import summarise

    with Running(tmp_path) as running:
        assert wait_for(lambda: running.postroom.mailroom.heartbeat() is not None)
        summary = summarise(running.postroom.mailroom, dt.datetime.now(dt.UTC))
        assert summary["watcher"]["alive"] is True
        assert summary["watcher"]["mode"] == "events"


def test_a_signal_during_the_wait_never_leaves_the_loop_waiting(tmp_path):
    """SIGTERM arriving just before the loop's short wait ends must not make it wait for ever
    (Python 3.11's SimpleQueue.get recomputes a passed timeout as "block")."""
    import signal

    config = make_root(tmp_path, FAST)
    stopped = threading.Event()
    with Postroom(tmp_path, config, workers=1) as postroom:
        watcher = Watcher(postroom, stop=stopped, tick=0.05)
        rescue = threading.Timer(3.0, lambda: watcher.hints.put((tmp_path / "x", False)))
        rescue.start()

        def slow_handler(signum, frame):
            time.sleep(0.01)  # the wait's deadline passes while the handler runs
            stopped.set()

        previous = signal.signal(signal.SIGALRM, slow_handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.045)
            started = time.monotonic()
            watcher._wait()
            elapsed = time.monotonic() - started
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            rescue.cancel()
    assert stopped.is_set()
    assert elapsed < 1.0, f"the wait lasted {elapsed:.1f} s after the signal"
