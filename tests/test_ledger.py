"""The ledger on SQLAlchemy Core and Alembic: made new at the newest version, upgraded in place
from a ledger an earlier ehforms made, never changed by a reader."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import FIXTURES, RECEIVED, load_example
from ehforms.ledger import Ledger, case_history_at
from ehforms.pipeline import Postroom
from helpers import drop, make_root, primary, sha

# Made by ehforms 0.1.0 (commit 1740b5e): its demo, then a rejected form and a repeated MARF.
OLD = FIXTURES / "ledger-0.1.0.sqlite3"
OLD_MARF = "01M86CH3M06ZMQQJAKTPK57G3X"


def head() -> str:
    versions = Path(__file__).parent.parent / "src" / "ehforms" / "migrations" / "versions"
    return max(p.name.split("_")[0] for p in versions.glob("[0-9]*.py"))


def version(path: Path) -> str | None:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()


@pytest.fixture
def old_ledger(tmp_path) -> Path:
    path = tmp_path / "ledger.sqlite3"
    shutil.copyfile(OLD, path)
    return path


@pytest.mark.sqlite_only("the SQLite file's journal mode")
def test_a_new_ledger_is_made_at_the_newest_version_in_wal_mode(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    assert version(path) == head()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"submissions", "case_data", "deliveries", "events", "alembic_version"} <= tables
    assert (path.stat().st_mode & 0o777) == 0o600


@pytest.mark.sqlite_only("ehforms 0.1.0 made SQLite ledgers only")
def test_a_ledger_made_by_ehforms_0_1_0_upgrades_itself_on_open(old_ledger):
    assert version(old_ledger) is None
    ledger = Ledger(old_ledger)
    try:
        assert version(old_ledger) == head()
        assert ledger.counts() == {"routed": 5, "rejected": 1, "duplicate": 1}
        # claim order carried over from the old row order
        db = sqlite3.connect(old_ledger)
        order = [r[0] for r in db.execute("SELECT claim_seq FROM submissions ORDER BY rowid")]
        assert order == list(range(1, 8))
        marf = ledger.get(OLD_MARF)
        assert marf is not None and marf.mailboxes == ("mash", "sw-north")
        assert [t for t, _ in ledger.case_history("MC204811")] == ["transfer", "closure"]
        assert ledger.failures(OLD_MARF) == 0
        # where earlier versions delivered, rebuilt from their outcomes
        assert [p for p, _ in ledger.deliveries(OLD_MARF)] == ["outbox/mash", "outbox/sw-north"]
        assert [d.submission_id for d in ledger.delivered_to("outbox/mash")] == [OLD_MARF]
    finally:
        ledger.close()
    Ledger(old_ledger).close()  # and opening it again changes nothing
    assert version(old_ledger) == head()


@pytest.mark.sqlite_only("ehforms 0.1.0 made SQLite ledgers only")
def test_a_reader_never_changes_an_old_ledger(old_ledger):
    before = hashlib.sha256(old_ledger.read_bytes()).hexdigest()
    assert [t for t, _ in case_history_at(old_ledger, "MC204811")] == ["transfer", "closure"]
    assert hashlib.sha256(old_ledger.read_bytes()).hexdigest() == before


@pytest.mark.sqlite_only("ehforms 0.1.0 made SQLite ledgers only")
def test_a_root_made_by_0_1_0_still_knows_its_duplicates_after_the_upgrade(tmp_path):
    """The same bytes the old version routed are a duplicate under the new one."""
    config = make_root(tmp_path)
    shutil.copyfile(OLD, tmp_path / ".ehforms" / "ledger.sqlite3")
    marf = (FIXTURES / "marf.json").read_bytes()
    db = sqlite3.connect(tmp_path / ".ehforms" / "ledger.sqlite3")
    db.execute("UPDATE submissions SET sha256 = ? WHERE submission_id = ?", (sha(marf), OLD_MARF))
    db.commit()
    db.close()
    drop(tmp_path, "marf.json", marf)
    new = json.dumps(load_example("rfas")).encode()
    drop(tmp_path, "rfas.json", new)
    later = RECEIVED + dt.timedelta(days=1)
    with Postroom(tmp_path, config, clock=lambda: later) as room:
        results = {r.outcome.receipt.source: r.outcome.receipt.as_dict() for r in room.run()}
    assert results["marf.json"]["status"] == "duplicate"
    assert results["marf.json"]["duplicate_of"] == OLD_MARF
    assert results["rfas.json"]["status"] == "routed"
    assert primary(tmp_path)[sha(new)][0]["mailboxes"] == ["eh-central"]


def test_duplicates_follow_the_claim_order_not_the_ids(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        # the second claim has the smaller id (two claims in one millisecond)
        ledger.claimed([("01B", "abc", "a.json", RECEIVED), ("01A", "abc", "b.json", RECEIVED)])
        first = ledger.first_with_hash("abc", "01A")
        assert first is not None and first.submission_id == "01B"
        assert ledger.first_with_hash("abc", "01B") is None
        assert ledger.first_with_hash(None, "01A") is None
    finally:
        ledger.close()


def test_head_names_the_newest_migration():
    """Opening a ledger skips Alembic when the ledger is at ``HEAD``: it must be the newest."""
    from ehforms.database import HEAD

    assert head() == HEAD


def test_first_copies_of_a_batch_follow_the_claim_order(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        ledger.claimed(
            [
                ("01C", "abc", "a.json", RECEIVED),
                ("01A", "abc", "b.json", RECEIVED),
                ("01B", "def", "c.json", RECEIVED),
                ("01D", "abc", "d.json", RECEIVED),
            ]
        )
        found = ledger.first_copies(
            [("01A", "abc"), ("01B", "def"), ("01C", "abc"), ("01D", "abc")]
        )
        assert {k: v.submission_id for k, v in found.items()} == {"01A": "01C", "01D": "01C"}
        for sid, sha in (("01A", "abc"), ("01B", "def"), ("01D", "abc")):
            one = ledger.first_with_hash(sha, sid)
            assert (one.submission_id if one else None) == (
                found[sid].submission_id if sid in found else None
            )
    finally:
        ledger.close()


def test_the_migrations_make_the_schema_the_code_describes(tmp_path):
    """Alembic's own comparison: nothing in ``database.metadata`` that the migrations lack."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ehforms import database

    engine = database.engine_for(tmp_path / "ledger.sqlite3")
    with engine.begin() as connection:
        database.migrate(connection)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, database.metadata) == []
    engine.dispose()


@pytest.mark.sqlite_only("the SQLite file's mode (a server's database is its administrator's)")
def test_the_state_folder_and_the_ledger_are_the_service_users_alone(tmp_path):
    """web.md: `.ehforms/` is mode 0700 and the ledger 0600 (the share group reads mailboxes,
    never the accounts or the audit trail); its WAL files take the ledger's mode."""
    import os
    import stat

    root = tmp_path / "root"
    config = make_root(root)
    Postroom(root, config, workers=1).close()
    state = root / ".ehforms"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for folder in (state / "processing", state / "archive"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        if (state / name).exists():
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    # the mailboxes keep the configured modes, for the share group
    assert stat.S_IMODE((root / "outbox" / "mash").stat().st_mode) == 0o750
    assert os.stat(root / "inbox").st_mode & 0o070


@pytest.mark.sqlite_only("the SQLite file's mode")
def test_a_root_made_by_an_earlier_version_is_tightened_when_its_owner_opens_it(tmp_path):
    import os
    import stat

    root = tmp_path / "root"
    config = make_root(root)
    Postroom(root, config, workers=1).close()
    state = root / ".ehforms"
    os.chmod(state, 0o750)
    os.chmod(state / "ledger.sqlite3", 0o640)
    Postroom(root, config, workers=1).close()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "ledger.sqlite3").stat().st_mode) == 0o600


def test_a_look_in_processing_asks_the_ledger_once_for_every_claim_there(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        ledger.claimed([("01A", "abc", "a.json", RECEIVED), ("01B", "def", "b.json", RECEIVED)])
        ledger.failed("01A")
        ids = ["01A", "01B", "01Z"] + [f"02{n:04d}" for n in range(1200)]  # chunked
        assert ledger.recovering(ids) == {"01A": ("claimed", 1), "01B": ("claimed", 0)}
        assert ledger.recovering([]) == {}
    finally:
        ledger.close()


def test_a_listing_asks_for_the_folders_that_still_wait_only(tmp_path):
    config = make_root(tmp_path)
    for n in range(3):
        form = load_example("rfas")
        form["children"][0]["given_name"] = f"Child{n}"
        drop(tmp_path, f"rfas-{n}.json", form)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        room.run()
        everything = room.ledger.delivered_to("outbox/eh-central")
        assert len(everything) == 3
        folders = [row.folder for row in everything]
        assert room.ledger.delivered_to("outbox/eh-central", {folders[1]}) == [everything[1]]
        many = set(folders) | {f"no-such-folder-{n}" for n in range(1100)}  # chunked
        assert room.ledger.delivered_to("outbox/eh-central", many) == everything
        assert room.ledger.delivered_to("outbox/eh-central", set()) == []
        assert room.ledger.delivered_to("outbox/mash", set(folders)) == []
