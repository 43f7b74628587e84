"""A PostgreSQL ledger ([ledger] url): the settings, a server out of reach, the password from
the environment only, the same migrations, and several processes on one root (claims locked
per claim, the root's jobs once, a session made by one web server used on another).

The tests marked ``postgresql`` run against the throwaway server of ``--ledger=postgresql``
(tests/ledgers.py); the others need no server."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
import tomli_w
from click.testing import CliRunner

from conftest import REPO, council_file, load_example
from ehforms.cli import cli
from ehforms.config import load_config
from ehforms.core import Root
from ehforms.database import HEAD, metadata, where
from ehforms.errors import ConfigError, LedgerUnreachable
from ehforms.ledger import Ledger
from ehforms.locks import Claims, once
from ehforms.pipeline import Postroom
from ehforms.profiles import check_keys
from helpers import drop, make_root, primary, wait_for
from ledgers import PASSWORD, PASSWORD_ROLE, ensure_database

SECRET = "s3cret-Value-that-must-not-show"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


# -- the setting --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(p.name for p in (REPO / "profiles").glob("*.toml")))
def test_every_profile_takes_a_postgresql_url(tmp_path, profile):
    text = (REPO / "profiles" / profile).read_text(encoding="utf-8")
    assert '[ledger]\nurl = ""' in text  # each profile shows the setting, SQLite by default
    url = "postgresql://ehforms@db.council.example:5432/ehforms"
    data = tomllib.loads(text.replace('[ledger]\nurl = ""', f'[ledger]\nurl = "{url}"'))
    check_keys(data)  # a known key in every profile
    if profile == "example.toml":  # the one profile that loads as it is
        (tmp_path / "ehforms.toml").write_text(tomli_w.dumps(data))
        assert load_config(tmp_path, environ={}).ledger_url == url


def test_the_sqlite_file_is_the_default(tmp_path, ledger_database):
    config = load_config(tmp_path, environ={})
    assert config.ledger_url == (ledger_database or "")
    if ledger_database is None:
        assert where(tmp_path / ".ehforms", config.ledger_url) == tmp_path / ".ehforms" / "ledger.sqlite3"


@pytest.mark.parametrize(
    "ledger",
    [
        f'url = "postgresql://ehforms:{SECRET}@db.example:5432/ehforms"',
        f'url = "postgresql://ehforms@db.example/ehforms"\npassword = "{SECRET}"',
    ],
    ids=["in the url", "a key of its own"],
)
def test_a_password_in_the_file_is_refused_and_never_shown(tmp_path, ledger):
    (tmp_path / "ehforms.toml").write_text(council_file(f"\n[ledger]\n{ledger}\n"))
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, environ={})
    assert "EHFORMS_LEDGER_PASSWORD" in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    ["mysql://ehforms@db.example/ehforms", "postgresql://db.example", "postgresql:///ehforms"],
)
def test_a_url_that_names_no_postgresql_database_is_refused(tmp_path, url):
    (tmp_path / "ehforms.toml").write_text(council_file(f'\n[ledger]\nurl = "{url}"\n'))
    with pytest.raises(ConfigError, match="ledger.url must be a PostgreSQL address"):
        load_config(tmp_path, environ={})


def test_the_password_comes_from_the_environment_and_is_never_printed(tmp_path):
    url = "postgresql://ehforms@db.example:5432/ehforms"
    environ = {"EHFORMS_LEDGER__URL": url, "EHFORMS_LEDGER_PASSWORD": SECRET}
    config = load_config(tmp_path, environ=environ)
    assert config.ledger_password == SECRET
    assert SECRET not in repr(config)
    place = where(tmp_path, config.ledger_url, config.ledger_password)
    assert place.password == SECRET and SECRET not in str(place)  # SQLAlchemy masks it


def test_a_server_out_of_reach_is_said_plainly(tmp_path):
    port = closed_port()
    make_root(tmp_path)
    environ = {
        "EHFORMS_LEDGER__URL": f"postgresql://ehforms@127.0.0.1:{port}/ehforms",
        "EHFORMS_LEDGER_PASSWORD": SECRET,
    }
    result = CliRunner().invoke(cli, ["process", "--root", str(tmp_path)], env=environ)
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: The ledger cannot be reached at 127.0.0.1:{port}: check [ledger] url and "
        "that PostgreSQL is running\n"
    )
    assert SECRET not in result.output


# -- against a server ---------------------------------------------------------------------


@pytest.mark.postgresql
def test_the_same_migrations_make_a_postgresql_ledger_from_nothing(postgres):
    name = postgres.fresh(template="template0", name="from_nothing")
    try:
        ledger = Ledger(where(Path("/nonexistent"), postgres.url(name)))
        with ledger.reading() as connection:
            version = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            assert version.scalar() == HEAD
            tables = set(sa.inspect(connection).get_table_names())
            assert set(metadata.tables) <= tables
            for table in metadata.tables.values():
                columns = {c["name"] for c in sa.inspect(connection).get_columns(table.name)}
                assert columns == set(table.columns.keys()), table.name
        ledger.close()
    finally:
        postgres.drop(name)


@pytest.mark.postgresql
def test_the_password_from_the_environment_signs_in_and_a_wrong_one_is_said(
    tmp_path, postgres, ledger_database
):
    """The throwaway server asks this role for its password (scram-sha-256)."""
    name = ledger_database.rsplit("/", 1)[1]
    ensure_database()
    with postgres.admin() as admin:
        admin.execute(f'GRANT ALL ON DATABASE "{name}" TO {PASSWORD_ROLE}')
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=postgres.port, user="ehforms_test", dbname=name, autocommit=True
    ) as connection:
        connection.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {PASSWORD_ROLE}")
        connection.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {PASSWORD_ROLE}")
    url = ledger_database.replace("ehforms_test@", f"{PASSWORD_ROLE}@")
    make_root(tmp_path)
    good = {"EHFORMS_LEDGER__URL": url, "EHFORMS_LEDGER_PASSWORD": PASSWORD}
    root = Root.open(tmp_path, environ=good)
    root.accounts.add("a@example.gov.uk", "practitioner", password="plum-orbit-lantern-47")
    assert [a.email for a in root.accounts.list()] == ["a@example.gov.uk"]
    root.close()
    wrong = Root.open(tmp_path, environ={**good, "EHFORMS_LEDGER_PASSWORD": SECRET})
    with pytest.raises(LedgerUnreachable) as raised:
        wrong.accounts.list()
    assert "EHFORMS_LEDGER_PASSWORD" in str(raised.value)
    assert SECRET not in str(raised.value) and PASSWORD not in str(raised.value)
    wrong.close()


@pytest.mark.postgresql
def test_two_watchers_share_a_root_one_claim_each(tmp_path):
    """A claim held by one process is left alone by the other; let go, it is taken."""
    config = make_root(tmp_path)
    first = Postroom(tmp_path, config)
    second = Postroom(tmp_path, config)
    try:
        drop(tmp_path, "rfas.json", load_example("rfas"))
        claimed = first.claim(tmp_path / "inbox" / "rfas.json")
        assert claimed is not None
        submission_id = claimed.claim.submission_id
        assert submission_id in first.claims.held
        # the second watcher looks in processing/: the first's claim is not for it
        assert second.recovered(0.0) == []
        assert second.claims.take(submission_id) is False
        # the first dies (its connection, and so its locks, go): the second finishes it
        first.claims.close()
        found: list = []  # the server lets the locks go as it ends the connection: a moment
        assert wait_for(lambda: found.extend(second.recovered(0.0)) or found, timeout=10)
        assert [j.claim.submission_id for j in found] == [submission_id]
        results = second.run()
        assert [r.claim.submission_id for r in results] == [submission_id]
        assert results[0].outcome is not None
        assert submission_id not in second.claims.held  # let go once recorded and archived
        assert len(primary(tmp_path)) == 1
    finally:
        first.close()
        second.close()


@pytest.mark.postgresql
def test_claims_are_taken_and_let_go_many_at_a_time(tmp_path):
    """A look in processing/ asks for every claim there in one round trip, and a burst lets
    its recorded claims go together: the same locks as one at a time."""
    config = make_root(tmp_path)
    with Postroom(tmp_path, config) as room:
        one, two = Claims(room.ledger.engine), Claims(room.ledger.engine)
        try:
            assert one.take_many(["01A", "01B"]) == {"01A", "01B"}
            assert one.take_many(["01A", "01C"]) == {"01A", "01C"}  # held already, and new
            assert two.take_many(["01A", "01B", "01C", "01D"]) == {"01D"}
            assert two.take("01B") is False
            one.release_many(["01A", "01B", "01X"])  # one never held: nothing happens
            assert one.held == {"01C"}
            assert two.take_many(["01A", "01B", "01C"]) == {"01A", "01B"}
            two.release_many(["01A"])
            assert one.take("01A") is True and two.take("01A") is False
            # one's connection is lost, and its locks with it: it must not answer from memory
            assert one._connection is not None
            one._connection.invalidate()
            assert wait_for(lambda: two.take("01C"), timeout=10)
            assert one.take("01C") is False and one.take_many(["01A", "01C"]) == {"01A"}
            assert "01C" not in one.held
        finally:
            one.close()
            two.close()


@pytest.mark.postgresql
def test_a_look_in_processing_that_cannot_read_the_ledger_lets_its_claims_go(
    tmp_path, monkeypatch
):
    """The locks were taken for every claim found there at once: a ledger that does not
    answer then must not leave them all held while this watcher backs off."""
    from ehforms.errors import LedgerBusy

    config = make_root(tmp_path)
    first, second = Postroom(tmp_path, config), Postroom(tmp_path, config)
    try:
        drop(tmp_path, "rfas.json", load_example("rfas"))
        claimed = first.claim(tmp_path / "inbox" / "rfas.json")
        assert claimed is not None
        first.claims.close()  # as if the first watcher had stopped: the claim waits
        third = Postroom(tmp_path, config)

        asked: list[list[str]] = []

        def busy(ids):
            asked.append(list(ids))
            raise LedgerBusy("The ledger is busy")

        monkeypatch.setattr(third.ledger, "recovering", busy)
        sid = claimed.claim.submission_id  # its lock is let go as the server ends the session
        assert wait_for(lambda: _raises(third) and asked[-1] == [sid], timeout=10)
        assert third.claims.held == set()
        assert [j.claim.submission_id for j in second.recovered(0.0)] == [
            claimed.claim.submission_id
        ]
        third.close()
    finally:
        first.close()
        second.close()


def _raises(room: Postroom) -> bool:
    from ehforms.errors import LedgerBusy

    try:
        room.recovered(0.0)
    except LedgerBusy:
        return True
    return False


@pytest.mark.postgresql
def test_the_roots_jobs_run_in_one_process_at_a_time(tmp_path):
    config = make_root(tmp_path)
    one, two = Root(tmp_path, config), Root(tmp_path, config)
    try:
        with once(one.store(), "purge") as first:
            with once(two.store(), "purge") as second:
                assert (first, second) == (True, False)
            with once(two.store(), "digest") as other:
                assert other is True  # another job is not held by the first
        with once(two.store(), "purge") as later:
            assert later is True  # let go when the first finished
    finally:
        one.close()
        two.close()


@pytest.mark.postgresql
def test_a_session_made_by_one_web_server_works_on_another(tmp_path):
    """Two `serve` processes behind one proxy: sessions, sign-in throttling and the audit
    trail live in the ledger, so a person's cookie works on either, and signing out on one
    ends it on both."""
    from web.web_support import PASSWORD as GOOD
    from web.web_support import app_for, post, sign_in

    make_root(tmp_path)
    setup = Root.open(tmp_path, environ={})
    setup.accounts.add("a@example.gov.uk", "manager", password=GOOD)
    setup.accounts.set_password("a@example.gov.uk", GOOD, one_time=False)
    setup.close()
    one = app_for(tmp_path, insecure_http=True)
    two = app_for(tmp_path, insecure_http=True)
    try:
        first, second = one.test_client(), two.test_client()
        assert sign_in(first, "a@example.gov.uk").status_code == 302
        token = first.get_cookie("ehforms-session")
        assert token is not None
        second.set_cookie("ehforms-session", token.value)
        page = second.get("/", follow_redirects=True)
        assert page.status_code == 200 and page.request.path != "/sign-in"
        assert "Sign out" in page.get_data(as_text=True)
        assert post(second, "/sign-out", page=page.request.path).status_code == 302
        after = first.get("/")
        assert after.status_code == 302 and "/sign-in" in after.headers["Location"]
        trail = Root.open(tmp_path, environ={})
        actions = [row.action for row in trail.audit.rows()]
        trail.close()
        assert "signed in" in actions
    finally:
        one.extensions["ehforms.root"].close()
        two.extensions["ehforms.root"].close()


def test_claims_on_sqlite_are_all_this_processs(tmp_path, ledger_database):
    if ledger_database:
        pytest.skip("SQLite only: the root-wide file lock")
    config = make_root(tmp_path)
    with Postroom(tmp_path, config) as room:
        claims = Claims(room.ledger.engine)
        assert claims.shared is False
        assert claims.take("01ANY") is True and claims.held == set()
