"""``ehforms purge`` and the daily purge beside ``watch`` (forms.md "Keeping and deleting"):
what is past its time goes, what waits or is on hold stays, a killed purge finishes next time
and deletes nothing else, links are never followed, and afterwards nothing personal remains.
Every time is a parameter: nothing sleeps until a retention time passes."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import retention_helpers as rh
from conftest import RECEIVED
from ehforms.cli import cli
from ehforms.core import Root
from ehforms.purging import WATCH, DailyPurge
from helpers import drop, wait_for
from ledgers import Sql

FIRST = RECEIVED + dt.timedelta(days=1)  # a purge first sees folders moved into done/
LATER = FIRST + dt.timedelta(days=91)  # past done_days (90) from FIRST, and archive_days


def iso(at: dt.datetime) -> str:
    return at.isoformat()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("retention") / "root"
    rh.build(path)
    return path


@pytest.fixture
def root(template, tmp_path):
    opened = rh.copy_root(template, tmp_path / "root")
    yield opened
    opened.close()


@pytest.fixture
def ids(root) -> dict[str, str]:
    return {name: r["submission_id"] for name, r in rh.receipts(root.path).items()}


def purge(root: Root, at: dt.datetime, *extra: str):
    root.close()  # the command opens the root itself
    result = CliRunner().invoke(cli, ["purge", "--root", str(root.path), "--now", iso(at), *extra])
    return result


def ledger_rows(root: Path, sql: str, *args) -> list[tuple]:
    with Sql(root) as connection:
        return [tuple(row) for row in connection.execute(sql, args).fetchall()]


def present(root: Path) -> set[str]:
    """Every form folder and archive entry, as place/name."""
    found = set()
    for pattern in ("outbox/*/*", "outbox/*/done/*", "rejected/*", ".ehforms/archive/*"):
        found |= {str(p.relative_to(root)) for p in root.glob(pattern) if p.name != "done"}
    return found


def lines(*kinds: tuple[str, list[str]], cases=0, audit=0, blanked=0, verb="Deleted") -> str:
    out = []
    for name, found in kinds:
        label = name if len(found) == 1 else name + "s"
        out.append(
            f"{verb} {len(found)} {label}" + (f": {', '.join(sorted(found))}" if found else "")
        )
    erase = "Would erase" if verb == "Would delete" else "Erased"
    blank = "Would blank" if verb == "Would delete" else "Blanked"
    out.append(f"{erase} the prefill data of {cases} case{'' if cases == 1 else 's'}")
    out.append(f"{verb} {audit} audit row{'' if audit == 1 else 's'}")
    out.append(
        f"{blank} the ledger's details of {blanked} submission{'' if blanked == 1 else 's'} "
        "(their hashes, outcomes and dates are kept)"
    )
    return "\n".join(out) + "\n"


def report(handled=(), rejected=(), archived=(), **counts) -> str:
    return lines(
        ("handled folder", list(handled)),
        ("rejected folder", list(rejected)),
        ("archived original", list(archived)),
        **counts,
    )


def test_what_is_past_its_time_goes_and_the_purge_says_so_by_id(root, ids):
    rfas, transfer = ids["quillfeather-rfas.json"], ids["hughes-transfer.json"]
    bad, waiting = ids["quillfeather-bad.json"], ids["quillfeather-notification.json"]
    bundle = ids["quillfeather-transfer.zip"]
    rh.handle_by_hand(root.path, "eh-central", rfas, transfer)
    stray = root.path / "outbox" / "eh-central" / "done" / "Thumbs.db"
    stray.write_bytes(b"not a form")
    first = purge(root, FIRST)
    assert first.exit_code == 0, first.output
    assert first.output == report()  # handled time recorded now: nothing is due yet
    # rejected_days (30) have passed for the rejected form, not done_days for the others
    middle = purge(root, RECEIVED + dt.timedelta(days=31))
    assert middle.output == report(rejected=[bad])
    result = purge(root, LATER)
    assert result.exit_code == 0 and result.stderr == ""
    assert stray.read_bytes() == b"not a form"  # not a form's folder: not the purge's
    stray.unlink()
    # the waiting form's original stays in the archive with it; the bundle waits, too
    assert result.output == report(
        handled=[rfas, transfer], archived=[bad, rfas, transfer], blanked=3
    )
    left = present(root.path)
    assert sorted(p.rsplit("_", 1)[-1] for p in left if p.startswith("outbox")) == sorted(
        [waiting, bundle]
    )
    assert sorted(p.rsplit("/", 1)[-1] for p in left if p.startswith(".ehforms")) == sorted(
        [waiting, bundle]
    )
    # the ledger keeps what duplicate detection needs, and blanks the rest
    rows = ledger_rows(
        root.path,
        "SELECT submission_id, sha256 != '', source, case_id, folder, status, form_type "
        "FROM submissions ORDER BY submission_id",
    )
    blanked = {row[0]: row[1:] for row in rows if row[0] in (rfas, transfer, bad)}
    assert blanked == {
        rfas: (1, "", None, None, "routed", "rfas"),
        transfer: (1, "", None, None, "routed", "transfer"),
        bad: (1, "", None, None, "rejected", "notification"),
    }
    kept = {row[0]: row[2] for row in rows}
    assert kept[waiting] == "quillfeather-notification.json"
    assert ledger_rows(root.path, "SELECT action, who, detail FROM audit WHERE action = 'purged'")[
        -1
    ] == (
        "purged",
        root_user(),
        "handled 2, rejected 0, archived 3, cases 0, audit_rows 0, blanked 3",
    )


def root_user() -> str:
    from ehforms.audit import os_user

    return os_user()


def test_mark_as_handled_starts_the_clock(root, ids):
    from ehforms.handling import mark_handled

    rfas = ids["quillfeather-rfas.json"]
    handled_at = RECEIVED + dt.timedelta(days=2)
    mark_handled(root, "eh-central", rfas, "hub@example.gov.uk", handled_at)
    assert purge(root, handled_at + dt.timedelta(days=89, hours=23)).output.startswith(
        "Deleted 0 handled folders\n"
    )
    assert purge(root, handled_at + dt.timedelta(days=90)).output.startswith(
        f"Deleted 1 handled folder: {rfas}\n"
    )


def test_a_dry_run_changes_and_records_nothing(root, ids):
    rfas = ids["quillfeather-rfas.json"]
    rh.handle_by_hand(root.path, "eh-central", rfas)
    before = present(root.path)
    dry = purge(root, LATER, "--dry-run")
    assert dry.exit_code == 0
    # first seen in done/ now, and a dry run does not record it: nothing is due
    assert dry.output == lines(
        ("handled folder", []),
        ("rejected folder", [ids["quillfeather-bad.json"]]),
        # archive_days run from receipt: the handled form's original is due before its folder
        ("archived original", [ids["quillfeather-bad.json"], rfas]),
        blanked=1,
        verb="Would delete",
    )
    assert ledger_rows(root.path, "SELECT count(*) FROM done_seen") == [(0,)]
    assert ledger_rows(root.path, "SELECT count(*) FROM audit WHERE action = 'purged'") == [(0,)]
    purge(root, FIRST)
    later = purge(root, LATER, "--dry-run")
    assert later.output.startswith(f"Would delete 1 handled folder: {rfas}\n")
    assert present(root.path) - before == set() and before - present(root.path) == set()


def test_a_form_still_waiting_ten_years_on_is_never_purged(root, ids):
    waiting = ids["quillfeather-notification.json"]
    folder = rh.receipts(root.path)["quillfeather-notification.json"]["_folder"]
    files = sorted(p.name for p in folder.iterdir())
    result = purge(root, RECEIVED + dt.timedelta(days=3653))
    assert result.exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == files
    assert (root.path / ".ehforms" / "archive" / waiting).is_dir()
    assert ledger_rows(
        root.path, "SELECT source, folder FROM submissions WHERE submission_id = ?", waiting
    ) == [("quillfeather-notification.json", folder.name)]
    # its prefill data (it has no case) and the mailbox's listing are untouched
    with Root.open(root.path, environ={}) as again:
        assert [w.submission_id for w in again.mailbox("eh-central")].count(waiting) == 1


def test_a_legal_hold_keeps_everything_of_the_case(root, ids):
    with (root.path / "ehforms.toml").open("a") as config:
        config.write(f'\n[retention]\nhold = ["{rh.CASE}"]\n')
    root = Root.open(root.path, environ={})
    held = [ids[n] for n in ("quillfeather-rfas.json", "quillfeather-transfer.zip")]
    rh.handle_by_hand(root.path, "eh-central", *held, ids["hughes-transfer.json"])
    with root.store().begin() as connection:
        from ehforms.audit import add

        add(
            connection,
            RECEIVED - dt.timedelta(days=2200),
            "hub@example.gov.uk",
            "viewed form",
            held[0],
            rh.CASE,
        )
        add(
            connection,
            RECEIVED - dt.timedelta(days=2200),
            "hub@example.gov.uk",
            "viewed form",
            ids["hughes-transfer.json"],
            "MC204811",
        )
    purge(root, FIRST)
    result = purge(root, RECEIVED + dt.timedelta(days=5000))
    assert result.exit_code == 0
    assert result.output.startswith(
        f"Deleted 1 handled folder: {ids['hughes-transfer.json']}\n"
        "Deleted 0 rejected folders\n"  # the rejected form names the held case
    )
    assert "Erased the prefill data of 1 case\nDeleted 1 audit row\n" in result.output
    for sid in held + [ids["quillfeather-bad.json"]]:
        assert any(p.endswith(sid) for p in present(root.path) if "archive" not in p), sid
        assert (root.path / ".ehforms" / "archive" / sid).is_dir()
    assert ledger_rows(root.path, "SELECT count(*) FROM case_data WHERE case_id = ?", rh.CASE) == [
        (2,)
    ]
    assert ledger_rows(root.path, "SELECT case_ref FROM audit WHERE action = 'viewed form'") == [
        (rh.CASE,)
    ]


KILLER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from pathlib import Path
    import ehforms.purging.folders as purging
    from ehforms.core import Root

    real, calls = purging._remove_tree, []

    def remove_tree(path):
        calls.append(path)
        if len(calls) == 2:  # renamed .purging-, not yet deleted: killed
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path)

    purging._remove_tree = remove_tree
    Root.open(Path(sys.argv[1]), environ=dict(os.environ)).purge(dt.datetime.fromisoformat(sys.argv[2]))
    """
)


def test_a_purge_killed_half_way_finishes_next_time_and_deletes_nothing_else(root, ids):
    handled = sorted(ids[n] for n in ("quillfeather-rfas.json", "hughes-transfer.json"))
    rh.handle_by_hand(root.path, "eh-central", *handled)
    purge(root, FIRST)
    before = present(root.path)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(root.path), iso(LATER)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert killed.returncode == -9, killed.stderr
    done = root.path / "outbox" / "eh-central" / "done"
    # the first folder went, the second was renamed and then the process died
    leftover = [p.name for p in done.iterdir()]
    assert len(leftover) == 1 and leftover[0].startswith(".purging-"), leftover
    assert leftover[0].endswith(handled[1])
    again = purge(root, LATER)
    assert again.exit_code == 0, again.output
    # the second run finishes the folder and the rest that is due, nothing it should keep
    assert again.output.startswith(f"Deleted 1 handled folder: {handled[1]}\n")
    assert list(done.iterdir()) == []
    waiting = {p for p in before if "eh-central/2026" in p}
    assert waiting <= present(root.path)
    assert {p.rsplit("/", 1)[-1] for p in present(root.path) if "archive" in p} == {
        ids["quillfeather-notification.json"],
        ids["quillfeather-transfer.zip"],
    }
    assert ledger_rows(
        root.path,
        "SELECT count(*) FROM submissions WHERE folder IS NULL AND submission_id IN (?, ?)",
        *handled,
    ) == [(2,)]


def test_a_folder_replaced_by_a_link_is_never_followed(root, ids, tmp_path):
    rfas, transfer = ids["quillfeather-rfas.json"], ids["hughes-transfer.json"]
    rh.handle_by_hand(root.path, "eh-central", rfas, transfer)
    purge(root, FIRST)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not ehforms' to delete")
    done = root.path / "outbox" / "eh-central" / "done"
    (folder,) = [p for p in done.iterdir() if p.name.endswith(rfas)]
    import shutil

    shutil.rmtree(folder)
    folder.symlink_to(outside, target_is_directory=True)
    result = CliRunner().invoke(cli, ["purge", "--root", str(root.path), "--now", iso(LATER)])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Deleted 1 handled folder: {transfer}\n")
    assert result.stderr == (
        f"A handled folder of submission {rfas} is not a folder (a link?): left alone\n"
    )
    assert (outside / "precious.txt").read_text() == "not ehforms' to delete"
    assert folder.is_symlink()


def test_a_done_folder_that_is_a_link_is_left_alone(root, ids, tmp_path):
    outside = tmp_path / "elsewhere"
    name = f"20200101-000000_rfas_{ids['quillfeather-rfas.json']}"
    (outside / name).mkdir(parents=True)
    (outside / name / "form.json").write_text("{}")
    done = root.path / "outbox" / "eh-central" / "done"
    done.rmdir()
    done.symlink_to(outside, target_is_directory=True)
    purge(root, FIRST)
    result = purge(root, RECEIVED + dt.timedelta(days=4000))
    assert result.exit_code == 0
    assert result.stderr == "outbox/eh-central/done is not a folder (a link?): left alone\n"
    assert (outside / name / "form.json").read_text() == "{}"


def test_a_file_that_cannot_be_removed_is_reported_and_the_rest_goes_on(root, ids, monkeypatch):
    import shutil

    import ehforms.purging.folders as purging

    rfas, transfer = ids["quillfeather-rfas.json"], ids["hughes-transfer.json"]
    rh.handle_by_hand(root.path, "eh-central", rfas, transfer)
    purge(root, FIRST)
    real = shutil.rmtree

    def stuck(path, onerror=None):  # a file held open on the share (Windows locks it)
        if Path(path).name.endswith(f"_{rfas}"):  # the folder, not its archived original
            onerror(
                os.unlink,
                str(Path(path) / "form.json"),
                (PermissionError, PermissionError(13, "Permission denied"), None),
            )
            return
        real(path, onerror=onerror)

    monkeypatch.setattr(purging.shutil, "rmtree", stuck)
    result = purge(root, LATER)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Deleted 1 handled folder: {transfer}\n")
    assert result.stderr == (
        f"The handled folder of submission {rfas} could not be deleted (Permission denied): "
        "close what holds it; the next purge tries again\n"
    )
    # its ledger details stay while a file of it remains
    assert ledger_rows(
        root.path, "SELECT folder IS NOT NULL FROM submissions WHERE submission_id = ?", rfas
    ) == [(1,)]
    monkeypatch.setattr(purging.shutil, "rmtree", real)
    again = purge(root, LATER)
    assert again.output.startswith(f"Deleted 1 handled folder: {rfas}\n")
    assert list((root.path / "outbox" / "eh-central" / "done").iterdir()) == []


@pytest.mark.sqlite_only("a SQLite root is owned by one process; a PostgreSQL one is shared")
def test_purge_while_watch_owns_the_root_exits_2(root):
    runner = CliRunner()
    args = ["purge", "--root", str(root.path), "--now", iso(LATER)]
    with root.owned():
        result = runner.invoke(cli, args)
        dry = runner.invoke(cli, [*args, "--dry-run"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: Another ehforms process is already working on {root.path}: stop it first, or "
        "wait for it to finish\n"
    )
    assert dry.exit_code == 0  # a dry run writes nothing the watcher owns


@pytest.mark.postgresql
def test_on_postgresql_one_purge_at_a_time_across_processes(root, ids):
    """Watchers share a PostgreSQL ledger's root: a purge takes the job's advisory lock, so
    ``ehforms purge`` exits 2 while another process purges, and a watcher's daily purge skips
    its turn; a dry run writes nothing and goes ahead."""
    from ehforms.locks import PURGE, once

    rh.handle_by_hand(root.path, "eh-central", ids["quillfeather-rfas.json"])
    args = ["purge", "--root", str(root.path), "--now", iso(LATER)]
    other = Root.open(root.path, environ={})  # another process's engine: its own connection
    try:
        with once(other.store(), PURGE) as mine:
            assert mine
            daily = DailyPurge(root.path, root.config, root.store())
            assert daily.tick(FIRST) is None
            root.close()
            result = CliRunner().invoke(cli, args)
            dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    finally:
        other.close()
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: Another ehforms process is purging {root.path}: wait for it to finish\n"
    )
    assert dry.exit_code == 0
    assert ledger_rows(root.path, "SELECT count(*) FROM audit WHERE action = 'purged'") == [(0,)]
    assert any("/done/" in p for p in present(root.path))
    # once it is let go, the next one purges
    assert purge(root, FIRST).exit_code == 0


@pytest.mark.postgresql
def test_on_postgresql_a_purge_vacuums_what_it_deleted(root, ids):
    """PostgreSQL keeps deleted rows as dead tuples until a VACUUM: the purge runs one."""
    rh.handle_by_hand(root.path, "eh-central", *ids.values())
    purge(root, FIRST)
    assert purge(root, RECEIVED + dt.timedelta(days=400)).exit_code == 0

    def vacuumed() -> bool:
        with Sql(root.path) as sql:
            sql.execute("SELECT pg_stat_clear_snapshot()")
            rows = sql.execute(
                "SELECT relname, last_vacuum, n_dead_tup FROM pg_stat_user_tables "
                "WHERE relname IN ('case_data', 'submissions', 'events')"
            ).fetchall()
        return len(rows) == 3 and all(at is not None and dead == 0 for _, at, dead in rows)

    assert wait_for(vacuumed)


def test_a_purge_time_needs_an_offset(root):
    result = CliRunner().invoke(cli, ["purge", "--root", str(root.path), "--now", "2027-01-01"])
    assert result.exit_code == 2
    assert "include a time zone, like 2026-11-24T09:00:00Z" in result.output


def test_nothing_personal_remains_once_everything_is_past_its_time(root, ids):
    for mailbox in ("eh-central",):
        rh.handle_by_hand(root.path, mailbox, *ids.values())
    purge(root, FIRST)
    result = purge(root, RECEIVED + dt.timedelta(days=400))
    assert result.exit_code == 0, result.output
    assert "Erased the prefill data of 2 cases\n" in result.output
    leaks = []
    for path in root.path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            leaks += [
                f"{path.relative_to(root.path)}: {w}" for w in rh.PERSONAL if w.encode() in data
            ]
    connection = Sql(root.path)
    tables = connection.tables()
    assert {"submissions", "events", "case_data", "audit", "deliveries"} <= set(tables)
    for table in tables:
        for row in connection.execute(f"SELECT * FROM {table}"):  # noqa: S608 - our own names
            leaks += [f"{table}: {w}" for w in rh.PERSONAL if w in repr(row)]
    # what duplicate detection needs is kept: every submission's hash and outcome
    assert connection.execute(
        "SELECT count(*) FROM submissions WHERE sha256 != '' AND status IS NOT NULL"
    ).fetchone() == (5,)
    assert connection.execute(
        "SELECT count(*) FROM submissions WHERE case_id IS NOT NULL"
    ).fetchone() == (0,)
    connection.close()
    assert leaks == []
    # the same bytes again: still a duplicate, whose first copy was deleted
    data = json.dumps(rh.family("rfas", case_id=rh.CASE)).encode()
    drop(root.path, "again.json", data)
    with Root.open(root.path, environ={}) as again:
        again.process(workers=1, received_at=RECEIVED + dt.timedelta(days=401))
    (errors,) = list((root.path / "rejected").glob("*/errors.txt"))
    assert "has since been deleted under the retention policy" in errors.read_text()


def test_audit_rows_go_after_audit_days_and_the_trail_stays_append_only(root):
    from ehforms.audit import add

    with root.store().begin() as connection:
        add(connection, RECEIVED - dt.timedelta(days=2191), "hub@example.gov.uk", "viewed mailbox")
        add(connection, RECEIVED - dt.timedelta(days=2189), "hub@example.gov.uk", "viewed form")
    result = purge(root, RECEIVED)
    assert "Deleted 1 audit row\n" in result.output
    assert ledger_rows(root.path, "SELECT action FROM audit ORDER BY id") == [
        ("viewed form",),
        ("purged",),
    ]
    # SQLite's triggers (0004, 0006) and PostgreSQL's trigger function (0007) refuse both
    connection = Sql(root.path)
    refused: type[Exception] = sqlite3.IntegrityError
    if connection.server:
        import psycopg

        refused = psycopg.errors.RaiseException
    for change in ("DELETE FROM audit", "UPDATE audit SET who = 'someone else'"):
        with pytest.raises(refused, match="append-only"):
            connection.execute(change)
        connection.db.rollback()
    connection.close()
    assert ledger_rows(root.path, "SELECT count(*) FROM audit") == [(2,)]


@pytest.mark.sqlite_only("PRAGMA secure_delete and the write-ahead log are the SQLite file's")
def test_the_ledger_deletes_securely_and_checkpoints(root):
    purge(root, FIRST)
    with Root.open(root.path, environ={}) as again, again.store().connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    wal = root.path / ".ehforms" / "ledger.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_watch_purges_once_a_day(root, ids):
    rh.handle_by_hand(root.path, "eh-central", ids["quillfeather-rfas.json"])
    daily = DailyPurge(root.path, root.config, root.store())
    first = daily.tick(FIRST)
    assert first is not None and first.counts()["handled"] == 0
    assert daily.tick(FIRST + dt.timedelta(hours=6)) is None  # the same local day
    later = daily.tick(LATER)
    assert later is not None and later.deleted["handled"] == [ids["quillfeather-rfas.json"]]
    assert ledger_rows(root.path, "SELECT who FROM audit WHERE action = 'purged'") == [
        (WATCH,),
        (WATCH,),
    ]


def test_the_watcher_runs_the_daily_purge(tmp_path):
    from helpers import Running

    running = Running(tmp_path, {"EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.2"})
    running.watcher.purging.delay = 0  # not a minute after it starts
    with running:
        assert wait_for(
            lambda: (
                ledger_rows(tmp_path, "SELECT count(*) FROM audit WHERE action = 'purged'")
                == [(1,)]
            )
        )


def test_a_purge_stops_between_folders_when_watch_stops(root, ids):
    import threading

    from ehforms.purging import Purge

    rfas = ids["quillfeather-rfas.json"]
    rh.handle_by_hand(root.path, "eh-central", rfas)
    purge(root, FIRST)
    halt = threading.Event()
    halt.set()
    cut_short = Purge(root.path, root.config, root.store()).run(LATER, halt=halt)
    assert cut_short.deleted["handled"] == [] and cut_short.blanked == 0
    assert any(p.endswith(rfas) for p in present(root.path) if "/done/" in p)
    assert purge(root, LATER).output.startswith(f"Deleted 1 handled folder: {rfas}\n")
