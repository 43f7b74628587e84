"""The mailroom against hostile and unlucky input: odd entries, names that are not text, files
that cannot be read or moved, a locked ledger, a full disk, partial deliveries, a file ehforms
fails on. Every file ends in exactly one outcome, and one bad file never stops the rest."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import helpers
from conftest import RECEIVED, load_example
from ehforms.cli import cli
from ehforms.config import load_config
from ehforms.database import WRITER_LOCK
from ehforms.mailroom import Mailroom
from ehforms.pipeline import Postroom
from ehforms.present import status_text as render_status
from ehforms.status import summarise
from helpers import drop, make_root, outcomes, primary, sha, wait_for
from ledgers import Sql

FAST = {
    "EHFORMS_WATCH__QUIET_SECONDS": "0.3",
    "EHFORMS_WATCH__RESCAN_SECONDS": "0.3",
    "EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.2",
    "EHFORMS_WATCH__RETRY_MAX_SECONDS": "1",
}


def form(form_type: str = "rfas", **changes) -> bytes:
    data = load_example(form_type)
    data.update(changes)
    return json.dumps(data).encode()


def risk_form() -> bytes:
    return form("notification", risk_of_significant_harm=True)


def run_once(root: Path, **kwargs):
    config = load_config(root, environ={})
    with Postroom(root, config, workers=kwargs.pop("workers", 1), clock=lambda: RECEIVED) as room:
        return room.run(**kwargs)


def rejected_receipts(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "rejected").glob("*/receipt.json"))]


def Running(root: Path, **kwargs) -> helpers.Running:  # noqa: N802 - used as a class
    return helpers.Running(root, FAST, **kwargs)


# -- 3. names that are not text, and files ehforms fails on ---------------------------------


def test_a_file_name_that_is_not_utf8_gets_its_outcome(tmp_path):
    make_root(tmp_path)
    data = form()
    raw_name = b"caf\xe9-\xff form\n.json"  # CP1252 bytes and a newline: not UTF-8 text
    (tmp_path / "inbox").joinpath(os.fsdecode(raw_name)).write_bytes(data)
    risk = risk_form()
    drop(tmp_path, "risk.json", risk)
    results = run_once(tmp_path)
    assert len(results) == 2 and all(r.outcome for r in results)
    (receipt,) = primary(tmp_path)[sha(data)]
    assert receipt["status"] == "routed"
    assert receipt["source"] == "caf\\xe9-\\xff form\\n.json"
    folder = receipt["_folder"]
    (original,) = [p for p in folder.iterdir() if p.name not in ("form.json", "receipt.json")]
    assert original.name.isascii() and original.read_bytes() == data
    assert primary(tmp_path)[sha(risk)][0]["mailboxes"] == ["mash"]
    ledger = Sql(tmp_path)
    (source,) = ledger.execute(
        "SELECT source FROM submissions WHERE sha256 = ?", (sha(data),)
    ).fetchone()
    assert source == "caf\\xe9-\\xff form\\n.json"


def test_a_file_ehforms_fails_on_twice_is_rejected_and_the_rest_carries_on(tmp_path, monkeypatch):
    """A poison pill: delivery raises something unexpected for one file, every time."""
    make_root(tmp_path)
    poison = form(case_id="POISON-1")
    drop(tmp_path, "poison.json", poison)
    others = [form(case_id=f"EH-{n}") for n in range(3)]
    for n, data in enumerate(others):
        drop(tmp_path, f"other-{n}.json", data)
    real_deliver = Mailroom.deliver
    tries = []

    def deliver(self, claim, outcome):
        if outcome.case_id == "POISON-1":
            tries.append(claim.submission_id)
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "a fault in ehforms")
        return real_deliver(self, claim, outcome)

    monkeypatch.setattr(Mailroom, "deliver", deliver)
    results = run_once(tmp_path)
    assert len(results) == 4
    found = primary(tmp_path)
    for data in others:
        assert found[sha(data)][0]["status"] == "routed"
    (receipt,) = found[sha(poison)]
    assert receipt["status"] == "rejected" and receipt["_folder"].parent.name == "rejected"
    assert "failed twice" in receipt["errors"][0]["message"]
    assert len(tries) == 2  # tried twice, then delivered plainly
    assert not list((tmp_path / ".ehforms" / "processing").iterdir())
    # and the next run finds nothing left to do
    assert run_once(tmp_path) == []


def test_a_risk_form_ehforms_fails_on_twice_still_goes_to_mash(tmp_path, monkeypatch):
    make_root(tmp_path)
    risk = risk_form()
    drop(tmp_path, "risk.json", risk)
    real_deliver = Mailroom.deliver

    def deliver(self, claim, outcome):
        if outcome.receipt.form_type == "notification":
            raise RuntimeError("a fault in ehforms")
        return real_deliver(self, claim, outcome)

    monkeypatch.setattr(Mailroom, "deliver", deliver)
    run_once(tmp_path)
    (receipt,) = primary(tmp_path)[sha(risk)]
    assert receipt["mailboxes"] == ["mash"] and receipt["priority"] == "urgent"


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced_and_every_file_has_its_outcome(tmp_path):
    """SIGKILL one pool worker mid-batch (as the OOM killer would): a new pool takes over."""
    make_root(tmp_path)
    forms = [form("transfer", case_id=f"MC{n:06d}") for n in range(24)]
    for n, data in enumerate(forms):
        drop(tmp_path, f"t{n}.json", data)
    killed = []

    def kill_a_worker():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed:
            children = Path(f"/proc/{os.getpid()}/task/{threading.main_thread().native_id}")
            pids = (children / "children").read_text().split()
            # the pool's workers are our children that have rendered a few forms by now
            if len(pids) >= 2 and len(list((tmp_path / "outbox").glob("*/*/receipt.json"))) > 3:
                os.kill(int(pids[-1]), signal.SIGKILL)
                killed.append(pids[-1])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    results = run_once(tmp_path, workers=2)
    killer.join()
    assert killed, "no worker was killed: the test did not test anything"
    assert all(r.outcome is not None for r in results)
    found = primary(tmp_path)
    for data in forms:
        (receipt,) = found[sha(data)]
        assert receipt["status"] == "routed"  # nobody was blamed for the dead worker
    assert not list((tmp_path / ".ehforms" / "processing").iterdir())


# -- 4. links, pipes, sockets and devices -------------------------------------------------


def odd_entries(root: Path, outside: Path) -> dict[str, str]:
    """Every kind of entry that is not a regular file, and what its receipt must say."""
    inbox = root / "inbox"
    secret = outside / "secret.json"
    secret.write_bytes(form(case_id="SECRET-TARGET"))
    (outside / "folder").mkdir()
    os.symlink(secret, inbox / "link-to-file.json")
    os.symlink(outside / "folder", inbox / "link-to-folder")
    os.symlink(outside / "gone.json", inbox / "dangling.json")
    os.symlink("/dev/zero", inbox / "link-to-device.json")
    os.mkfifo(inbox / "pipe.json")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(inbox / "socket.json"))  # the socket file stays after the close
    expected = {
        "link-to-file.json": "a link",
        "link-to-folder": "a link",
        "dangling.json": "a link",
        "link-to-device.json": "a link",
        "pipe.json": "a named pipe",
        "socket.json": "a socket",
    }
    try:
        os.mknod(inbox / "device.json", 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero's
        expected["device.json"] = "a device"
    except PermissionError:
        pass  # not root: the links and pipes still cover the class
    return expected


def check_set_aside(root: Path, expected: dict[str, str]) -> None:
    receipts = {r["source"]: r for r in rejected_receipts(root)}
    assert set(receipts) == set(expected)
    for name, kind in expected.items():
        receipt = receipts[name]
        assert receipt["status"] == "rejected" and receipt["sha256"] is None
        message = receipt["errors"][0]["message"]
        assert kind in message and "set aside" in message
        folder = (
            root
            / "rejected"
            / next(
                p.name for p in (root / "rejected").iterdir() if receipt["submission_id"] in p.name
            )
        )
        assert sorted(p.name for p in folder.iterdir()) == ["errors.txt", "receipt.json"]
        # the entry itself is kept, unopened, in the archive
        (kept,) = list((root / ".ehforms" / "archive" / receipt["submission_id"]).glob("[!.]*"))
        assert not kept.is_file() or kept.is_symlink()
    written = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    assert not any(b"SECRET-TARGET" in p.read_bytes() for p in written)
    assert os.listdir(root / "inbox") == []


def test_links_pipes_sockets_and_devices_are_set_aside_unopened_by_process(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    make_root(root)
    expected = odd_entries(root, outside)
    data = form()
    drop(root, "real.json", data)
    finished = []
    worker = threading.Thread(target=lambda: finished.append(run_once(root)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert finished, "process hung on an odd entry"
    check_set_aside(root, expected)
    assert primary(root)[sha(data)][0]["status"] == "routed"
    mailroom = Mailroom(root, load_config(root, environ={}))
    text = render_status(summarise(mailroom, RECEIVED))
    assert "Waiting in the inbox: 0" in text


def test_links_pipes_and_sockets_are_set_aside_by_the_watcher(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    with Running(root) as running:
        expected = odd_entries(root, outside)
        data = form()
        drop(root, "real.json", data)
        assert wait_for(
            lambda: len(rejected_receipts(root)) == len(expected) and sha(data) in primary(root)
        )
        assert running.thread.is_alive()
    check_set_aside(root, expected)


@pytest.mark.slow
def test_the_daemon_answers_sigterm_within_five_seconds_with_a_pipe_in_the_inbox(tmp_path):
    make_root(tmp_path)
    os.mkfifo(tmp_path / "inbox" / "pipe.json")
    for n in range(60):
        drop(tmp_path, f"t{n}.json", form("transfer", case_id=f"MC{n:06d}"))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ehforms", "watch", "--root", str(tmp_path), "--workers", "2"],
        env={**os.environ, **FAST},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: len(outcomes(tmp_path)) >= 3, timeout=60)
        daemon.send_signal(signal.SIGTERM)
        started = time.monotonic()
        daemon.wait(timeout=5)
        assert time.monotonic() - started < 5
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        daemon.stderr.close()
    # what it had not started is still claimed, and a later run finishes it: nothing is lost
    run_once(tmp_path)
    found = primary(tmp_path)
    assert len(found[None]) == 1  # the pipe, set aside unread
    assert len(found) == 60 + 1 and all(len(receipts) == 1 for receipts in found.values())


# -- 5. a file that cannot be read or moved -------------------------------------------------


NOBODY = 65534


def as_nobody(function):
    """Run ``function`` in a child process as the unprivileged user, so file permissions
    apply as they do for a service account (root would read anything). Returns its exit code.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            function()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def shared_root():
    """A working root a service account owns, as on a council's server."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    base = Path(tempfile.mkdtemp(prefix="ehforms-share-"))  # pytest's own tmp is root's only
    os.chmod(base, 0o755)
    root = base / "root"
    make_root(root)
    # imports everything the child needs before it drops its privileges (the interpreter's
    # own library may be out of the service account's reach)
    CliRunner().invoke(cli, ["process", "--root", str(root)])
    for path in [root, *root.rglob("*")]:
        os.lchown(path, NOBODY, NOBODY)
    yield root
    shutil.rmtree(base)


def test_a_file_that_cannot_be_read_waits_in_the_inbox_and_the_rest_carries_on(shared_root):
    root = shared_root
    risk = risk_form()
    drop(root, "0-risk.json", risk)  # urgent: claimed first
    unreadable = drop(root, "1-locked.json", form(case_id="LOCKED"))
    os.chmod(unreadable, 0o600)  # root's own, mode 0600: the service account cannot read it
    fine = drop(root, "2-fine.json", form())
    os.lchown(root / "inbox" / "0-risk.json", NOBODY, NOBODY)
    os.lchown(fine, NOBODY, NOBODY)

    def child():
        config = load_config(root, environ={})
        with Postroom(root, config, workers=1, clock=lambda: RECEIVED) as room:
            room.run()
            room.run()  # again: still there, still no crash
            faults = room.faults()
        mailroom = Mailroom(root, config)
        status = render_status(summarise(mailroom, RECEIVED))
        (root / "faults.json").write_text(json.dumps({"faults": faults, "status": status}))

    assert as_nobody(child) == 0
    found = primary(root)
    assert found[sha(risk)][0]["mailboxes"] == ["mash"]
    assert found[sha(fine.read_bytes() if fine.exists() else form())][0]["status"] == "routed"
    assert unreadable.exists()  # left where business support can put it right
    report = json.loads((root / "faults.json").read_text())
    assert report["faults"] == [
        "1 file in the inbox cannot be taken: ehforms may not read it: check its permissions"
    ]
    assert "1 file in the inbox cannot be read: check its permissions" in report["status"]
    os.chmod(unreadable, 0o644)  # put right: taken at the next run
    run_once(root)
    assert not unreadable.exists()


def test_a_file_that_cannot_be_moved_waits_in_the_inbox(shared_root):
    """Held by another program (a Windows client's lock refuses the rename): here, a sticky
    inbox and a file the service account does not own, which it may read but not move."""
    root = shared_root
    held = drop(root, "held.json", form(case_id="HELD"))
    os.chmod(held, 0o644)
    os.lchown(root / "inbox", 0, 0)
    os.chmod(root / "inbox", 0o1777)  # sticky: only a file's owner may move it
    fine = drop(root, "fine.json", form())
    os.lchown(fine, NOBODY, NOBODY)

    def child():
        config = load_config(root, environ={})
        with Postroom(root, config, workers=1, clock=lambda: RECEIVED) as room:
            room.run()
            (root / "faults.json").write_text(json.dumps(room.faults()))

    assert as_nobody(child) == 0
    assert held.exists() and not fine.exists()
    assert json.loads((root / "faults.json").read_text()) == [
        "1 file in the inbox cannot be taken: it is open in another program, or ehforms may "
        "not move it: close it, or check its permissions"
    ]
    assert not list((root / ".ehforms" / "processing").iterdir())


def test_process_says_what_waits_and_exits_1(shared_root):
    root = shared_root
    held = drop(root, "held.json", form(case_id="HELD"))
    os.chmod(held, 0o600)

    def child():
        result = CliRunner().invoke(cli, ["process", "--root", str(root)])
        (root / "out.json").write_text(json.dumps([result.exit_code, result.output]))

    assert as_nobody(child) == 0
    code, output = json.loads((root / "out.json").read_text())
    assert code == 1, output
    assert output == (
        "1 file in the inbox cannot be taken: ehforms may not read it: check its permissions. "
        "Tried again at the next run\n"
    )


# -- 6. a locked ledger and a full disk under watch ----------------------------------------


def test_the_watcher_waits_out_a_locked_ledger(tmp_path, ledger_database):
    with Running(tmp_path, ledger_timeout=0.3) as running:
        if ledger_database:  # another program holds the writers' turn
            holder = Sql(tmp_path)
            holder.execute(f"SELECT pg_advisory_lock({WRITER_LOCK})")
        else:  # another program holds the ledger
            holder = sqlite3.connect(tmp_path / ".ehforms" / "ledger.sqlite3", isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
        data = form()
        drop(tmp_path, "rfas.json", data)
        assert wait_for(lambda: running.watcher.fault is not None, timeout=10)
        assert running.watcher.fault == "the ledger is locked by another program"
        heartbeat = json.loads((tmp_path / ".ehforms" / "heartbeat.json").read_text())
        assert "the ledger is locked by another program" in heartbeat["faults"]
        time.sleep(1.5)
        assert running.thread.is_alive()
        holder.execute(
            f"SELECT pg_advisory_unlock({WRITER_LOCK})" if ledger_database else "ROLLBACK"
        )
        holder.close()
        assert wait_for(lambda: sha(data) in primary(tmp_path), timeout=15)
        assert wait_for(lambda: running.watcher.fault is None)
    (receipt,) = primary(tmp_path)[sha(data)]
    assert receipt["status"] == "routed"


@pytest.fixture
def small_disk(tmp_path):
    """A real file system of 3 MB (tmpfs), to fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    # unbuffered: a buffered file would try again to write what did not fit when it is
    # closed, and fail there
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def test_the_watcher_waits_out_a_full_disk(small_disk):
    root = small_disk / "root"
    with Running(root) as running:
        data = form("transfer")  # its documents need room
        filler = fill(small_disk)
        drop_failed = False
        try:
            drop(root, "transfer.json", data)
        except OSError:
            drop_failed = True
        if drop_failed:  # the disk was too full to drop the form: make a little room for it
            filler.write_bytes(b"\0" * (filler.stat().st_size - 16384))
            drop(root, "transfer.json", data)
        assert wait_for(
            lambda: (
                any("disk is full" in f for f in running.postroom.faults())
                or (running.watcher.fault or "").find("disk is full") >= 0
            ),
            timeout=15,
        )
        time.sleep(1)
        assert running.thread.is_alive()
        status = render_status(summarise(Mailroom(root, running.config), RECEIVED))
        assert "Waiting to try again:" in status and "the disk is full" in status
        filler.unlink()
        assert wait_for(lambda: sha(data) in primary(root), timeout=20)
    (receipt,) = primary(root)[sha(data)]
    assert receipt["status"] == "routed"
    folder = receipt["_folder"]
    assert {"consent-letter.pdf", "allocations-pro-forma.pdf"} <= {p.name for p in folder.iterdir()}
    assert not list((root / "outbox").glob("*/.partial-*"))


# -- 7. a retry after a partial delivery writes only what is missing ------------------------


def test_a_retry_never_delivers_again_to_a_mailbox_that_has_the_form(tmp_path, monkeypatch):
    config = make_root(tmp_path)
    marf = load_example("marf")
    marf["previous_social_work"] = {"team": "north", "stepped_down_on": "2026-10-01"}
    data = json.dumps(marf).encode()
    drop(tmp_path, "marf.json", data)
    real_write = Mailroom.write_file

    def full_in_sw(self, path, content, *, checked=False):
        if "sw-north" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, path, content, checked=checked)

    monkeypatch.setattr(Mailroom, "write_file", full_in_sw)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (first,) = room.run()
    assert first.error and "disk is full" in first.error
    (mash_copy,) = list((tmp_path / "outbox" / "mash").glob("2*"))
    # MASH staff handle it before the retry
    mash_copy.rename(tmp_path / "outbox" / "mash" / "done" / mash_copy.name)
    monkeypatch.setattr(Mailroom, "write_file", real_write)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (second,) = room.run()
    assert second.outcome is not None
    assert list((tmp_path / "outbox" / "mash").glob("2*")) == []  # not delivered again
    assert len(list((tmp_path / "outbox" / "mash" / "done").iterdir())) == 1
    assert len(list((tmp_path / "outbox" / "sw-north").glob("2*"))) == 1
    ledger = Sql(tmp_path)
    places = ledger.execute("SELECT place FROM deliveries ORDER BY delivered_at, place").fetchall()
    assert places == [("outbox/mash",), ("outbox/sw-north",)]


# -- 10. a file written in several steps, and an empty file written a moment later --------


def test_a_file_written_in_several_steps_is_one_form(tmp_path):
    data = json.dumps(load_example("transfer"), indent=2).encode()
    with Running(tmp_path, environ={"EHFORMS_WATCH__QUIET_SECONDS": "1.0"}):
        path = tmp_path / "inbox" / "transfer.json"
        path.touch()  # an empty file first, written a moment later
        time.sleep(0.3)
        for start in range(0, len(data), 500):  # open, append, close, again
            with path.open("ab") as handle:
                handle.write(data[start : start + 500])
            time.sleep(0.15)
        assert wait_for(lambda: sha(data) in primary(tmp_path))
        time.sleep(0.5)
    found = outcomes(tmp_path)
    assert list(found) == [sha(data)], "the file was taken in pieces"
    (receipt,) = primary(tmp_path)[sha(data)]
    assert receipt["status"] == "routed"
    archived = tmp_path / ".ehforms" / "archive" / receipt["submission_id"] / "transfer.json"
    assert sha(archived.read_bytes()) == receipt["sha256"]


def test_a_file_changed_after_it_was_claimed_is_read_again(tmp_path, monkeypatch):
    """The hash in the receipt is always of the bytes that were read and archived."""
    config = make_root(tmp_path)
    start = form()
    path = drop(tmp_path, "rfas.json", start[:100])  # the writer is still at work
    final = form()
    room = Postroom(tmp_path, config, clock=lambda: RECEIVED)
    real_job = room._job

    def claimed_then_written(claim, fd=None):
        job = real_job(claim, fd)
        claim.path.write_bytes(final)  # the writer finishes after the claim
        return job

    monkeypatch.setattr(room, "_job", claimed_then_written)
    with room:
        (result,) = room.run()
        assert result.error and "changed after it was taken" in result.error
        monkeypatch.setattr(room, "_job", real_job)
        room.retries.clear()
        (result,) = room.run()
    assert not path.exists()
    (receipt,) = primary(tmp_path)[sha(final)]
    archived = tmp_path / ".ehforms" / "archive" / receipt["submission_id"] / "rfas.json"
    assert archived.read_bytes() == final and receipt["status"] == "routed"


# -- 11. logs carry no names and cannot be forged -------------------------------------------


def test_log_lines_carry_no_file_names_and_escape_case_references(tmp_path, caplog):
    make_root(tmp_path)
    data = form(case_id="EH-1\n2026-11-24 INFO forged line")
    drop(tmp_path, "Amelia Testperson referral.json", data)
    with caplog.at_level(logging.INFO, logger="ehforms"):
        run_once(tmp_path)
    text = caplog.text
    assert "Amelia" not in text and "Testperson" not in text
    assert all(
        "forged line" not in r.getMessage().split("\n", 1)[0] or "\\n" in r.getMessage()
        for r in caplog.records
    )
    assert not any("\n" in r.getMessage() for r in caplog.records)


# -- 14. errors are one line and exit status 2 ---------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["template", "rfas", "--format", "json", "-o", "/nonexistent/rfas.json"],
            "Error: Cannot use /nonexistent/rfas.json: No such file or directory\n",
        ),
        (["init", "{file}/root"], "Error: Cannot use {file}/root: Not a directory\n"),
        (
            ["process", "--root", "{root}"],
            "Error: The ledger (.ehforms/ledger.sqlite3) cannot be used (file is not a "
            "database): restore it from a backup, or move it aside to start a new one\n",
        ),
    ],
    ids=["unwritable output", "a file as a folder", "a damaged ledger"],
)
def test_errors_are_one_line_and_exit_2(tmp_path, arguments, message, ledger_database):
    if ledger_database and "ledger" in message:
        pytest.skip("SQLite only: a damaged SQLite file (a server's is test_postgres's)")
    make_root(tmp_path / "root")
    (tmp_path / "root" / ".ehforms" / "ledger.sqlite3").write_bytes(b"not a database" * 100)
    (tmp_path / "file").write_text("")
    names = {"file": tmp_path / "file", "root": tmp_path / "root"}
    arguments = [a.format(**names) for a in arguments]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2
    assert result.output == message.format(**names)
    assert "Traceback" not in result.output


# -- 15. a duplicate says where the first copy is now ---------------------------------------


def test_a_duplicate_says_where_the_first_copy_is_now(tmp_path):
    make_root(tmp_path)
    data = form()
    drop(tmp_path, "rfas.json", data)
    (first,) = run_once(tmp_path)
    folder = first.outcome.folder
    mailbox = tmp_path / "outbox" / "eh-central"
    (mailbox / folder).rename(mailbox / "done" / folder)  # handled by hub staff
    drop(tmp_path, "again.json", data)
    (again,) = run_once(tmp_path)
    message = again.outcome.receipt.errors[0].message
    assert f"which has been handled (outbox/eh-central/done/{folder})" in message
    bad = b'{"form_type": "rfas"}'
    drop(tmp_path, "bad.json", bad)
    (rejected,) = run_once(tmp_path)
    drop(tmp_path, "bad again.json", bad)
    (repeat,) = run_once(tmp_path)
    assert f"which is in rejected/{rejected.outcome.folder}" in (
        repeat.outcome.receipt.errors[0].message
    )


# -- found in review: transient faults are retried, never blamed on the file -----------------


def test_a_share_fault_while_delivering_is_retried_not_blamed_on_the_form(tmp_path, monkeypatch):
    """A mailbox folder that cannot be looked into for a moment (a share dropping) is a
    delivery to try again: the form is never rejected as one ehforms "failed twice" on."""
    from pathlib import Path as RealPath

    config = make_root(tmp_path)
    data = form("transfer")
    drop(tmp_path, "transfer.json", data)
    real_exists = RealPath.exists
    mailbox = tmp_path / "outbox" / "eh-central"

    def flaky_exists(self, *args, **kwargs):
        if self.parent == mailbox:
            raise PermissionError(13, "Permission denied")
        return real_exists(self, *args, **kwargs)

    monkeypatch.setattr(RealPath, "exists", flaky_exists)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
        assert result.error and result.failure is None
        assert room.ledger.failures(result.claim.submission_id) == 0
    monkeypatch.setattr(RealPath, "exists", real_exists)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
    (receipt,) = primary(tmp_path)[sha(data)]
    assert receipt["status"] == "routed" and receipt["mailboxes"] == ["eh-central"]


def test_a_held_file_that_is_then_removed_is_no_longer_waited_for(tmp_path, monkeypatch):
    config = make_root(tmp_path)
    held = drop(tmp_path, "held.json", form())
    real_rename = os.rename

    def locked(source, target, *args, **kwargs):
        if str(source) == str(held):
            raise PermissionError(13, "Permission denied")
        return real_rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", locked)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        assert room.run() == [] and room.faults()
        held.unlink()  # business support took it away
        room.inbox_faults[held].not_before = 0  # due again
        assert room.run() == []
        assert room.faults() == [] and room.inbox_faults == {}


def test_a_busy_ledger_while_preparing_a_closure_is_retried(tmp_path, monkeypatch):
    from ehforms.errors import LedgerBusy
    from ehforms.jobs import LazyLedger

    config = make_root(tmp_path)
    drop(tmp_path, "closure.json", form("closure"))

    def busy(self, case_id):
        raise LedgerBusy("the ledger is locked by another program")

    monkeypatch.setattr(LazyLedger, "withheld", busy)
    monkeypatch.setattr("ehforms.ledger.Ledger.withheld", busy)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
    assert result.error == "the ledger is locked by another program" and result.failure is None
    assert list((tmp_path / "rejected").iterdir()) == []  # not rejected, waiting
