"""SIGKILL of the watcher's main process, as the OOM killer sends it: its pool workers go with
it, and a restarted watcher finishes every file the killed one had claimed.

The daemons run for real (``python -m ehforms watch``). Every process a test starts, and every
process those start, is found through /proc and killed by the ``watchers`` fixture however the
test ends. While a test runs, pytest's process is made a child subreaper, so a worker orphaned
by a kill is handed to it (not to init): not even a worker started a moment before the kill
escapes being counted.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfWriter

from conftest import load_example
from helpers import drop, make_root, outcomes, primary, sha, wait_for
from ledgers import Sql

FAST = {
    "EHFORMS_WATCH__BUNDLE_SETTLE_SECONDS": "0.5",
    "EHFORMS_WATCH__QUIET_SECONDS": "0.2",
    "EHFORMS_WATCH__RESCAN_SECONDS": "0.5",
    "EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.5",
}
PR_SET_CHILD_SUBREAPER = 36
GONE_WITHIN = 5.0  # seconds a killed watcher's processes may outlive it


# -- processes, through /proc --------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time in clock ticks) of a process, None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def processes() -> dict[int, tuple[str, int, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := proc_stat(int(entry))) is not None:
            table[int(entry)] = found
    return table


def kind(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "gone"
    if b"spawn_main" in command:
        return "worker"
    if b"resource_tracker" in command:
        return "resource tracker"
    return command.decode(errors="replace")[:80]


def running(pid: int, started: int) -> bool:
    """The very process (not a later one given the same pid) is alive: not a zombie."""
    found = proc_stat(pid)
    return found is not None and found[2] == started and found[0] not in "ZXx"


def descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid``: pid -> start time."""
    table = processes()
    children = collections.defaultdict(list)
    for child, (_, parent, _) in table.items():
        children[parent].append(child)
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child in children[todo.pop()]:
            if child not in found:
                found[child] = table[child][2]
                todo.append(child)
    return found


def clock_ticks() -> int:
    """Now, in the units of a process's start time in /proc (ticks since boot)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return int(uptime * os.sysconf("SC_CLK_TCK"))


def _subreaper(on: bool) -> bool:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    return False


class Watchers:
    """Starts ``ehforms watch`` on a root, kills it, and knows every process it started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root.parent / f"{root.name}-watch.log"
        self.daemons: list[subprocess.Popen[bytes]] = []
        self.family: dict[int, int] = {}  # every process below a watcher: pid -> start time
        self.kills: list[dict[int, str]] = []  # per kill: what was below it, and what kind
        self.killed_at = time.monotonic()
        self.orphaned: dict[int, float] = {}  # pid -> when its watcher was killed
        self.died: dict[int, float] = {}  # pid -> when it was first seen gone
        # children this process had before (another test's): never taken for orphans
        self._born_after = clock_ticks()
        self.subreaper = _subreaper(True)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        """Notes when each process of a killed watcher is first seen gone."""
        while not self._stop.wait(0.02):
            for pid in list(self.orphaned):
                if pid not in self.died and not running(pid, self.family[pid]):
                    self.died[pid] = time.monotonic()

    def exit_times(self) -> dict[int, float | None]:
        """Seconds from each kill until each process below the killed watcher was gone (give
        or take 20 ms); None for one still running."""
        return {
            pid: self.died[pid] - killed if pid in self.died else None
            for pid, killed in self.orphaned.items()
        }

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("a") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "ehforms", "watch", "--root", str(self.root)]
                + ["--workers", "2"],
                env={**os.environ, **FAST},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.daemons.append(daemon)
        return daemon

    def note_family(self, daemon: subprocess.Popen[bytes]) -> dict[int, int]:
        found = descendants(daemon.pid)
        self.family.update(found)
        return found

    def _adopted(self) -> dict[int, int]:
        """Processes handed to this one (the subreaper) by a dead watcher."""
        ours = {d.pid for d in self.daemons}
        me = os.getpid()
        return {
            pid: started
            for pid, (_, parent, started) in processes().items()
            if parent == me and pid not in ours and started >= self._born_after
        }

    def kill(self, daemon: subprocess.Popen[bytes]) -> dict[int, str]:
        """SIGKILL the main process only; what was below it is returned (pid -> kind)."""
        below = self.note_family(daemon)
        kinds = {pid: kind(pid) for pid in below}
        daemon.send_signal(signal.SIGKILL)
        self.killed_at = time.monotonic()
        daemon.wait(timeout=10)
        for pid, started in self._adopted().items():  # started just before the kill
            if pid not in self.family:
                self.family[pid] = started
                below[pid] = started
                kinds[pid] = kind(pid)
        for pid in below:
            self.orphaned[pid] = self.killed_at
        self.kills.append(kinds)
        return kinds

    def left_behind(self) -> dict[int, str]:
        """Processes of watchers that are no longer running, still alive."""
        self._reap()
        self.family.update(self._adopted())
        live_daemons = {d.pid for d in self.daemons if d.poll() is None}
        spared = set()
        for pid in live_daemons:
            spared |= set(descendants(pid))
        return {
            pid: kind(pid)
            for pid, started in self.family.items()
            if pid not in spared and running(pid, started)
        }

    def wait_gone(self, timeout: float = GONE_WITHIN) -> float | None:
        """Seconds from the last kill until no process of a dead watcher is left (waiting up to
        ``timeout`` seconds from now); None if some stay."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.left_behind():
                return time.monotonic() - self.killed_at
            time.sleep(0.005)
        return None

    def _reap(self) -> None:
        ours = {d.pid for d in self.daemons}
        for pid in list(self.family):
            if pid in ours:
                continue
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # zombies handed to us; not our child: no-op

    def close(self) -> None:
        """Kill whatever is left, main processes first; reap; stop being a subreaper."""
        for daemon in self.daemons:
            if daemon.poll() is None:  # not reaped yet: its pid is still its own
                self.note_family(daemon)
                with contextlib.suppress(ProcessLookupError):
                    daemon.kill()
            daemon.wait(timeout=30)
            if daemon.stdout is not None:
                daemon.stdout.close()
        deadline = time.monotonic() + 10
        while (left := self.left_behind()) and time.monotonic() < deadline:
            for pid in left:
                started = self.family[pid]
                if running(pid, started):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        self._reap()
        self._stop.set()
        self._sampler.join(timeout=5)
        if self.subreaper:
            _subreaper(False)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture
def watchers(tmp_path: Path) -> Iterator[Watchers]:
    make_root(tmp_path / "root")
    running_watchers = Watchers(tmp_path / "root")
    try:
        yield running_watchers
    finally:
        running_watchers.close()


# -- forms and their outcomes --------------------------------------------------------------

# Most forms render nothing (rfas, marf); some render documents; every ninth is invalid.
MIX = ("rfas", "marf", "notification", "rfas", "marf", "closure", "rfas", "marf", "transfer")
MIX += ("rfas", "marf", "notification", "rfas", "marf", "closure", "rfas", "marf", "notification")


def form(n: int, form_type: str | None = None) -> bytes:
    """A synthetic form whose bytes no other form here has."""
    form_type = form_type or MIX[n % len(MIX)]
    data: dict[str, Any] = load_example(form_type)
    if form_type == "notification":
        data["reasons"] = f"{data['reasons']} (chaos {n:04d})"
    else:
        data["case_id"] = f"CHAOS-{n:04d}"
    if n % 9 == 4:
        data.pop("children")  # rejected (an invalid MARF goes to MASH)
    return json.dumps(data).encode()


def attachment(n: int) -> bytes:
    """A PDF no other attachment here is."""
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.add_metadata({"/Title": f"chaos {n:04d}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def identity(*parts: bytes) -> str:
    """The contract's bundle identity, worked out here by hand."""
    return sha("".join(sorted(sha(p) + "\n" for p in parts)).encode())


def drop_forms(root: Path, numbers: range, sent: dict[str, int], **kw: str) -> None:
    """Forms on their own, and one in five as a bundle with an attachment: a ZIP file, or a
    folder moved into the inbox whole (as saving to a new folder elsewhere and moving it does)."""
    for n in numbers:
        data = form(n, **kw)
        if n % 10 == 3:
            extra = attachment(n)
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("form.json", data)
                archive.writestr("assessment.pdf", extra)
            drop(root, f"bundle-{n:04d}.zip", out.getvalue())
            sent[identity(data, extra)] = n
        elif n % 10 == 7:
            extra = attachment(n)
            folder = root.parent / f"bundle-{n:04d}"
            folder.mkdir()
            (folder / "form.json").write_bytes(data)
            (folder / "assessment.pdf").write_bytes(extra)
            old = time.time() - 5
            for entry in (folder / "form.json", folder / "assessment.pdf", folder):
                os.utime(entry, (old, old))
            os.rename(folder, root / "inbox" / folder.name)
            sent[identity(data, extra)] = n
        else:
            drop(root, f"form-{n:04d}.json", data)
            sent[sha(data)] = n


def listing(root: Path, name: str) -> list[Path]:
    return sorted((root / ".ehforms" / name).iterdir())


def finished(root: Path, count: int) -> bool:
    return (
        len(listing(root, "archive")) >= count
        and not any((root / "inbox").iterdir())
        and not listing(root, "processing")
    )


def submission_of(folder: str) -> str:
    return folder.rsplit("_", 1)[-1]


def assert_exactly_once(root: Path, sent: dict[str, int]) -> None:
    """Every file dropped has one outcome: no loss, no double delivery, nothing half done."""
    found = primary(root)
    lost = sorted(n for s, n in sent.items() if s not in found)
    doubled = sorted(n for s, n in sent.items() if len(found.get(s, [])) > 1)
    assert (lost, doubled) == ([], []), "forms lost / delivered twice"
    assert set(found) == set(sent), "an outcome for a file never dropped"

    # each mailbox the receipt names holds exactly one copy, and no other place holds any
    for digest, receipts in outcomes(root).items():
        mailboxes = receipts[0]["mailboxes"] or ["rejected"]
        homes = sorted(r["_folder"].parent.name for r in receipts)
        assert homes == sorted(mailboxes), f"form {sent[digest]}: copies in {homes}"
        assert {r["submission_id"] for r in receipts} == {receipts[0]["submission_id"]}
        for receipt in receipts:  # a bundle's copy holds every attachment, whole
            for item in receipt["attachments"]:
                copy = receipt["_folder"] / "attachments" / item["name"]
                assert sha(copy.read_bytes()) == item["sha256"], f"form {sent[digest]}"

    bases = [p for p in (root / "outbox").iterdir() if p.is_dir()] + [root / "rejected"]
    for base in bases:
        names = [p.name for p in base.iterdir() if p.name != "done"]
        names += [p.name for p in (base / "done").glob("*")]
        partial = [n for n in names if n.startswith(".partial-")]
        assert partial == [], f"half-written folders left in {base.name}"
        ids = collections.Counter(submission_of(n) for n in names if not n.startswith("."))
        assert [i for i, c in ids.items() if c > 1] == [], f"two folders in {base.name}"

    with Sql(root) as db:
        rows = db.execute("SELECT submission_id, sha256, state FROM submissions").fetchall()
    per_file = collections.Counter(digest for _, digest, _ in rows)
    assert set(per_file) == set(sent)
    assert [sent[d] for d, c in per_file.items() if c > 1] == [], "a file claimed twice"
    assert {s for _, _, s in rows} == {"done"}
    ledger_ids = {digest: submission_id for submission_id, digest, _ in rows}
    assert {d: r[0]["submission_id"] for d, r in found.items()} == ledger_ids

    assert listing(root, "processing") == []
    assert sorted(p.name for p in listing(root, "archive")) == sorted(ledger_ids.values())
    assert list((root / "inbox").iterdir()) == []


# -- the worker's side: bind_to_parent in a pool ----------------------------------------------

PARENT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ehforms.workers import bind_to_parent


def initializer(marks, delay):
    time.sleep(delay)
    (Path(marks) / f"binding-{os.getpid()}").touch()
    bind_to_parent()


def busy(marks):
    (Path(marks) / f"busy-{os.getpid()}").touch()
    while True:  # Python code, as rendering is: it lets the watching thread in
        sum(i * i for i in range(1000))


if __name__ == "__main__":
    pool = ProcessPoolExecutor(
        2, mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer, initargs=(sys.argv[1], float(sys.argv[2])),
    )
    futures = [pool.submit(busy, sys.argv[1]) for _ in range(4)]
    time.sleep(120)
"""


@pytest.mark.slow
@pytest.mark.parametrize("late", [False, True], ids=["busy", "not-yet-bound"])
def test_pool_workers_exit_when_their_parent_is_killed(watchers, tmp_path, late):
    """A worker busy with a job goes at once; so does one whose parent died while it was
    still starting, before it could see who its parent was."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    marks = tmp_path / "marks"
    marks.mkdir()
    with (tmp_path / "parent.log").open("w") as log:  # the pool's leak warnings go here
        parent = subprocess.Popen(
            [sys.executable, str(script), str(marks), "1.5" if late else "0"], stderr=log
        )
    watchers.daemons.append(parent)  # killed and reaped by the fixture whatever happens
    if late:  # both workers started, neither bound to its parent yet
        assert wait_for(lambda: len(descendants(parent.pid)) >= 3, timeout=30)
    else:
        assert wait_for(lambda: len(list(marks.glob("busy-*"))) == 2, timeout=30)
    killed = watchers.kill(parent)
    assert sorted(killed.values()).count("worker") == 2, killed
    if late:
        assert not list(marks.glob("binding-*")), "a worker bound before the kill"
    took = watchers.wait_gone()
    assert took is not None, f"left behind: {watchers.left_behind()}"
    print(f"\nworkers gone {took:.3f} s after their parent was killed")
    if late:
        assert len(list(marks.glob("binding-*"))) == 2  # they went only once they looked


# -- the daemon ------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_of_the_watcher_takes_its_workers_and_a_restart_finishes_the_files(watchers):
    root = watchers.root
    sent: dict[str, int] = {}
    daemon = watchers.start()
    # forms that render documents, so that the workers are busy when the watcher dies
    for n, form_type in enumerate(("notification", "transfer", "closure") * 12):
        data = form(n, form_type)
        drop(root, f"form-{n:04d}.json", data)
        sent[sha(data)] = n
    assert wait_for(lambda: len(listing(root, "archive")) >= 4, timeout=60), watchers.tail()
    kinds = watchers.kill(daemon)
    in_flight = len(listing(root, "processing"))
    assert sorted(kinds.values()).count("worker") == 2, kinds
    assert in_flight, "nothing was in hand when the watcher was killed: the test proves nothing"

    took = watchers.wait_gone(GONE_WITHIN)
    assert took is not None, (
        f"still running {GONE_WITHIN} s after the kill: {watchers.left_behind()}"
    )
    print(f"\n{len(kinds)} processes gone {took:.3f} s after the watcher; {in_flight} in hand")

    daemon = watchers.start()
    assert wait_for(lambda: finished(root, len(sent)), timeout=120), watchers.tail()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0
    assert watchers.wait_gone(GONE_WITHIN) is not None, watchers.left_behind()
    assert_exactly_once(root, sent)


@pytest.mark.slow
@pytest.mark.sqlite_only(
    "its kill points are timed for a SQLite watcher's start-up; a PostgreSQL watcher restarted "
    "on a loaded machine has its first outcomes after the next kill, so the kills hit no "
    "claims. PostgreSQL's chaos test is the two-watcher one below"
)
def test_chaos_twenty_sigkills_during_a_burst_lose_nothing_and_double_nothing(watchers):
    """300 files, 150 at once and the rest in small waves, while the watcher is killed 20
    times at random points, each time restarted at once (as systemd would); then the last
    watcher finishes. The points are seeded: a third are at a random time after the start
    (start-up, recovery, the pool starting), the rest a random number of outcomes later (in
    the middle of a batch, workers busy), so what they hit does not depend on the machine's
    speed, only exactly when."""
    root = watchers.root
    rng = random.Random(20261126)
    sent: dict[str, int] = {}
    kills = 20
    waves = [range(150 + 150 * k // kills, 150 + 150 * (k + 1) // kills) for k in range(kills)]
    daemon = watchers.start()
    drop_forms(root, range(150), sent)
    at_kill = []
    for k, wave in enumerate(waves):
        early = rng.random() < 0.5 and k < kills - 1  # the last wave comes just before a kill
        if early:
            drop_forms(root, wave, sent)
        if rng.random() < 1 / 3:
            time.sleep(rng.uniform(0.0, 2.0))
        else:
            target = len(listing(root, "archive")) + rng.randint(1, 12)
            wait_for(lambda n=target: len(listing(root, "archive")) >= n, timeout=10)
            time.sleep(rng.uniform(0.0, 0.2))
        if not early:
            drop_forms(root, wave, sent)
        watchers.kill(daemon)
        at_kill.append((len(listing(root, "processing")), len(listing(root, "archive"))))
        daemon = watchers.start()
    # what the kills hit (not exactly when) is the same on any machine
    assert sum(1 for in_processing, _ in at_kill if in_processing) >= kills // 2, at_kill
    assert any("worker" in family.values() for family in watchers.kills), "no worker was hit"

    assert wait_for(lambda: finished(root, len(sent)), timeout=150), (
        f"{len(listing(root, 'processing'))} claims left in processing/:\n{watchers.tail()}"
    )
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0
    assert watchers.wait_gone(GONE_WITHIN) is not None, watchers.left_behind()
    assert_exactly_once(root, sent)
    exits = watchers.exit_times()
    slow = {pid: t for pid, t in exits.items() if t is None or t > GONE_WITHIN}
    assert slow == {}, f"outlived their killed watcher by more than {GONE_WITHIN} s"
    with_workers = sum(1 for family in watchers.kills if "worker" in family.values())
    worker_exits = sorted(
        t
        for family in watchers.kills
        for pid, k in family.items()
        if k == "worker"
        for t in [exits[pid]]
        if t is not None
    )
    print(
        f"\n{len(watchers.kills)} kills, {with_workers} with workers running; "
        f"(claims in processing/, archived) at each kill: {at_kill}; workers gone after "
        f"(s): {[round(t, 2) for t in worker_exits]}"
    )


@pytest.mark.slow
@pytest.mark.postgresql
def test_two_watchers_on_one_root_through_a_burst_one_killed_lose_nothing_and_double_nothing(
    watchers,
):
    """Two `ehforms watch` processes share one root and a PostgreSQL ledger (a claim each,
    locked in the ledger) through a 1,000-form burst; one of them, chosen at random, is
    SIGKILLed at a random point. The other finishes everything, the dead one's claims too."""
    root = watchers.root
    rng = random.Random(20261126)
    sent: dict[str, int] = {}
    daemons = [watchers.start(), watchers.start()]
    forms = 1000
    kill_after = rng.randint(50, 600)  # outcomes archived before the kill
    victim = rng.choice(daemons)
    dropper = threading.Thread(target=drop_forms, args=(root, range(forms), sent))
    dropper.start()
    assert wait_for(lambda: len(listing(root, "archive")) >= kill_after, timeout=300), (
        watchers.tail()
    )
    watchers.kill(victim)
    in_processing = len(listing(root, "processing"))
    dropper.join()
    survivor = next(d for d in daemons if d is not victim)
    assert survivor.poll() is None
    assert wait_for(lambda: finished(root, len(sent)), timeout=600), (
        f"{len(listing(root, 'processing'))} claims left in processing/:\n{watchers.tail()}"
    )
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=60) == 0
    assert len(sent) == forms
    assert_exactly_once(root, sent)
    print(f"\nkilled after {kill_after} outcomes, {in_processing} claims in processing/ then")
