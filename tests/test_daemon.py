"""The real daemon in its own process: killed mid-burst, restarted, nothing lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FORM_TYPES, load_example
from helpers import drop, make_root, primary, sha, wait_for

pytestmark = pytest.mark.slow

FAST = {
    "EHFORMS_WATCH__QUIET_SECONDS": "0.3",
    "EHFORMS_WATCH__RESCAN_SECONDS": "0.5",
    "EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.5",
}


def start(root: Path, *extra: str) -> subprocess.Popen:
    """The daemon, logging to a file beside the root (appended across restarts)."""
    with log_path(root).open("a") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ehforms",
                "watch",
                "--root",
                str(root),
                "--workers",
                "2",
                *extra,
            ],
            env={**os.environ, **FAST},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def log_path(root: Path) -> Path:
    return root.parent / f"{root.name}-watch.log"


def archived(root: Path) -> int:
    return len(list((root / ".ehforms" / "archive").iterdir()))


def burst(root: Path, count: int) -> dict[str, int]:
    sent = {}
    for n in range(count):
        form = load_example(FORM_TYPES[n % 5])
        form["case_id"] = f"BURST-{n:04d}"
        if n % 9 == 0:
            form.pop("children")  # some are rejected
        data = json.dumps(form).encode()
        drop(root, f"form-{n:04d}.json", data)
        sent[sha(data)] = n
    return sent


def test_sigkill_mid_burst_then_restart_gives_every_file_exactly_one_outcome(tmp_path):
    make_root(tmp_path)
    daemon = start(tmp_path)
    try:
        sent = burst(tmp_path, 300)
        assert wait_for(lambda: archived(tmp_path) >= 40, timeout=120)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    killed_at = archived(tmp_path)
    assert killed_at < 300, "the burst finished before the kill: the test proves nothing"
    daemon = start(tmp_path)
    try:
        assert wait_for(
            lambda: archived(tmp_path) >= 300 and not any((tmp_path / "inbox").iterdir()),
            timeout=240,
        )
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    found = primary(tmp_path)
    assert set(found) == set(sent)
    doubled = {sent[s]: len(r) for s, r in found.items() if len(r) != 1}
    assert doubled == {}
    assert list((tmp_path / ".ehforms" / "processing").iterdir()) == []
    statuses = {r[0]["status"] for r in found.values()}
    assert statuses == {"routed", "rejected", "redirected"}  # invalid MARFs go to MASH
    # copies to second mailboxes are never doubled either
    marf_copies = list((tmp_path / "outbox" / "sw-north").glob("2026*"))
    assert len(marf_copies) == sum(1 for n in sent.values() if n % 5 == 3 and n % 9 != 0)


def test_sigterm_stops_cleanly_and_logs_no_personal_data(tmp_path):
    make_root(tmp_path)
    daemon = start(tmp_path)
    try:
        for form_type in FORM_TYPES:
            drop(tmp_path, f"{form_type}.json", load_example(form_type))
        assert wait_for(lambda: archived(tmp_path) == 5, timeout=60)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        log = log_path(tmp_path).read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert "stopped watching" in log
    assert "(case MC204811): routed to eh-central" in log
    for personal in ("Amelia", "Hughes", "2016-04-12", "M13 9PL", "Kai", "marf.json"):
        assert personal not in log
