"""The ledger every test runs against: SQLite (the default), or PostgreSQL with
``pytest --ledger=postgresql``.

Under PostgreSQL a throwaway cluster is started once per session (Debian's ``postgresql``
package, ``initdb`` and ``postgres`` run as an unprivileged user, a loopback port, fsync off),
a template database is migrated once, and every test gets a fresh database copied from it
(``CREATE DATABASE … TEMPLATE``). Every root a test makes uses that database: the default
ledger URL is pointed at it in this process, and ``EHFORMS_LEDGER__URL`` in the environment
carries it to the ``ehforms`` processes a test starts. Nothing is mocked: it is a real server.

A test about the SQLite file itself (pragmas, a locked file, its mode) is marked
``@pytest.mark.sqlite_only("why")`` and skipped under PostgreSQL with that reason.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "ehforms_test"
# a role that signs in with a password (the EHFORMS_LEDGER_PASSWORD tests); others are trusted
PASSWORD_ROLE = "ehforms_secret"
PASSWORD = "correct-horse-battery-staple-7"
TEMPLATE = "ehforms_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ledger",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("EHFORMS_TEST_LEDGER", "sqlite"),
        help="the ledger every test's root uses: the SQLite file (default) or a throwaway "
        "PostgreSQL database (Debian's postgresql package must be installed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about the SQLite file itself; skipped under PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "postgresql: needs a PostgreSQL server (runs under --ledger=postgresql only)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = config.getoption("--ledger")
    for item in items:
        only = item.get_closest_marker("sqlite_only")
        if backend == "postgresql" and only is not None:
            reason = only.args[0] if only.args else "about the SQLite ledger file"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
        if backend == "sqlite" and item.get_closest_marker("postgresql") is not None:
            item.add_marker(pytest.mark.skip(reason="needs --ledger=postgresql"))


def pytest_report_header(config: pytest.Config) -> str:
    return f"ledger: {config.getoption('--ledger')}"


# -- the throwaway cluster ------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    which = shutil.which("postgres")
    return Path(which).parent if which else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A running PostgreSQL server on 127.0.0.1:``port``; ``url(db)`` to reach a database."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    counter: itertools.count = itertools.count(1)  # type: ignore[assignment]

    def url(self, database: str, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def fresh(self, template: str = TEMPLATE, name: str | None = None) -> str:
        """A new database copied from the migrated template (or another); its name."""
        name = name or f"t{os.getpid()}_{next(self.counter)}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop(self, name: str) -> None:
        with self.admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # a fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_user() -> tuple[list[str], int, int]:
    """How to run the server's programs: as ourselves, or (as root, which PostgreSQL refuses)
    as ``nobody``."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    account = pwd.getpwnam("nobody")
    prefix = [
        "setpriv",
        f"--reuid={account.pw_uid}",
        f"--regid={account.pw_gid}",
        "--clear-groups",
        "--",
    ]
    return prefix, account.pw_uid, account.pw_gid


def start_cluster(*, fsync: bool = False) -> Cluster:
    """A throwaway cluster; ``fsync``: durable as a real server (the benchmarks), else fast."""
    programs = postgres_bin()
    if programs is None:
        raise RuntimeError(
            "PostgreSQL is not installed: install Debian's postgresql package "
            "(./dev does), or run the tests without --ledger=postgresql"
        )
    prefix, uid, gid = _as_user()
    folder = Path(tempfile.mkdtemp(prefix="ehforms-pg-"))
    folder.chmod(0o755)  # the server's user passes through; its own folders are 0700
    data, sockets = folder / "data", folder / "sockets"
    for each in (data, sockets):
        each.mkdir(mode=0o700)
        os.chown(each, uid, gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
    subprocess.run(
        [
            *prefix,
            str(programs / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=folder,
    )
    hba = data / "pg_hba.conf"
    hba.write_text(
        f"local all all trust\n"
        f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
        f"host all all 127.0.0.1/32 trust\n"
    )
    os.chown(hba, uid, gid)
    port = free_port()
    process = subprocess.Popen(
        [
            *prefix,
            str(programs / "postgres"),
            "-D",
            str(data),
            "-k",
            str(sockets),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            *(
                []
                if fsync
                else [
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ]
            ),
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=64MB",
            "-c",
            "log_min_messages=fatal",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=folder,
    )
    cluster = Cluster(port, folder, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with cluster.admin() as connection:
                connection.execute("SELECT 1")
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                cluster.stop()
                raise RuntimeError("the throwaway PostgreSQL server did not start") from None
            time.sleep(0.1)
    with cluster.admin() as connection:
        connection.execute(f"CREATE DATABASE {TEMPLATE}")
        connection.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
    _migrate(cluster.url(TEMPLATE))
    with cluster.admin() as connection:
        connection.execute(f"GRANT ALL ON DATABASE {TEMPLATE} TO {PASSWORD_ROLE}")
    return cluster


def _migrate(url: str) -> None:
    """The template made by the same Alembic migrations as every ledger."""
    from ehforms.database import where
    from ehforms.ledger import Ledger

    ledger = Ledger(where(Path("/nonexistent"), url))
    ledger.close()


RUNNING: Cluster | None = None  # the session's cluster, for own_database()
CURRENT: str | None = None  # the running test's database
KEPT: dict[Path, str] = {}  # roots made once for a session (copied by tests): their databases


def keep_ledger(root: Path) -> contextlib.AbstractContextManager[None]:
    """Around making a root once for the whole session (a fixture's template root): its
    ledger is a database of its own, kept until the session ends (see :func:`copy_ledger`)."""
    return own_database(keep=root)


def copy_ledger(template: Path, target: Path) -> None:
    """A folder copied from a kept root (``keep_ledger``) to ``target`` gets a copy of its
    ledger too: on SQLite that is in the folder; on PostgreSQL, in a test, the test's own
    database becomes a copy of the kept one; outside a test (a module's fixture), the copy is
    a database of its own, named in the copy's ``ehforms.toml``."""
    name = KEPT.get(template)
    if RUNNING is None or name is None:
        return
    if CURRENT is not None:
        global MADE
        RUNNING.drop(CURRENT)
        RUNNING.fresh(template=name, name=CURRENT)
        MADE = True
        return
    copy = KEPT[target] = RUNNING.fresh(template=name)
    settings = target / "ehforms.toml"
    text = settings.read_text(encoding="utf-8") if settings.exists() else ""
    line = f'url = "{RUNNING.url(copy)}"'
    # ``ehforms init`` writes an empty ``[ledger] url`` (the SQLite file): it names the copy
    section = re.search(r'^\[ledger\]\n(?:(?!\[).*\n)*?url = ""$', text, re.MULTILINE)
    if section is not None:
        text = text[: section.end() - len('url = ""')] + line + text[section.end() :]
    else:
        assert "[ledger]" not in text, "a kept root names no ledger of its own"
        text += f"\n[ledger]\n{line}\n"
    settings.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def own_database(keep: Path | None = None) -> Iterator[None]:
    """A database of its own for a part of a test that makes a root of its own (one example
    of a property test, a session's template root); nothing on SQLite, whose ledger is in the
    root."""
    if RUNNING is None:
        yield
        return
    import ehforms.config

    name = RUNNING.fresh()
    url = RUNNING.url(name)
    before = ehforms.config.DEFAULT_LEDGER_URL, os.environ.get("EHFORMS_LEDGER__URL")
    ehforms.config.DEFAULT_LEDGER_URL = os.environ["EHFORMS_LEDGER__URL"] = url
    try:
        yield
    finally:
        ehforms.config.DEFAULT_LEDGER_URL = before[0]
        if before[1] is None:
            os.environ.pop("EHFORMS_LEDGER__URL", None)
        else:
            os.environ["EHFORMS_LEDGER__URL"] = before[1]
        if keep is not None:
            KEPT[keep] = name
        else:
            with contextlib.suppress(Exception):
                RUNNING.drop(name)


@pytest.fixture(scope="session", autouse=True)  # first: a session's fixtures may make roots
def postgres(request: pytest.FixtureRequest) -> Iterator[Cluster | None]:
    """The session's PostgreSQL cluster (None when the tests run on SQLite)."""
    if request.config.getoption("--ledger") != "postgresql":
        yield None
        return
    global RUNNING
    cluster = RUNNING = start_cluster()
    try:
        yield cluster
    finally:
        RUNNING = None
        KEPT.clear()
        cluster.stop()


@pytest.fixture(autouse=True)
def ledger_database(
    request: pytest.FixtureRequest,
    clean_environment: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str | None]:
    """Under PostgreSQL: this test's own fresh database, the ledger of every root it makes
    (its URL; None on SQLite)."""
    cluster = request.getfixturevalue("postgres")
    if cluster is None:
        yield None
        return
    import ehforms.config
    import ehforms.database

    global CURRENT, MADE
    name = CURRENT = f"t{os.getpid()}_{next(cluster.counter)}"
    MADE = False
    url = cluster.url(name)
    monkeypatch.setattr(ehforms.config, "DEFAULT_LEDGER_URL", url)
    monkeypatch.setenv("EHFORMS_LEDGER__URL", url)
    # made when first needed: most tests never open a ledger, and a database costs ~0.1 s
    server_engine = ehforms.database._server_engine

    def engine(place, timeout):
        if place.database == name:
            ensure_database()
        return server_engine(place, timeout)

    class Popen(subprocess.Popen):  # an ehforms process the test starts may open it
        def __init__(self, *args, **kwargs) -> None:
            ensure_database()
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ehforms.database, "_server_engine", engine)
    monkeypatch.setattr(subprocess, "Popen", Popen)
    try:
        yield url
    finally:
        made, CURRENT, MADE = MADE, None, False
        if made:
            with contextlib.suppress(Exception):
                cluster.drop(name)


MADE = False  # whether the running test's database has been made


def ensure_database() -> None:
    """The running test's database, made now if it is not yet."""
    global MADE
    if RUNNING is not None and CURRENT is not None and not MADE:
        RUNNING.fresh(name=CURRENT)
        MADE = True


# -- a test's look inside a root's ledger, whichever it is ------------------------------------


def ledger_at(root: Path):
    """The ledger of the root at ``root``, as ehforms opens it (a path or a server's URL)."""
    from ehforms.config import load_config
    from ehforms.database import ledger_of

    return ledger_of(root / ".ehforms", load_config(root, environ={}))


class Sql:
    """A plain connection to a root's ledger for a test to read or change rows behind
    ehforms' back: ``?`` placeholders on both SQLite and PostgreSQL."""

    def __init__(self, root: Path) -> None:
        place = ledger_at(root)
        self.server = not isinstance(place, Path)
        if self.server:
            ensure_database()
            import psycopg

            self.db = psycopg.connect(
                host=place.host,
                port=place.port,
                user=place.username,
                dbname=place.database,
                password=place.password,
            )
        else:
            import sqlite3

            self.db = sqlite3.connect(place)
        # a test that never closes it (as sqlite3 lets it) closes it when it is dropped
        weakref.finalize(self, self.db.close)

    def execute(self, sql: str, params: tuple | list = ()):
        if self.server:
            sql = sql.replace("?", "%s")
        return self.db.execute(sql, params)

    def tables(self) -> list[str]:
        """Every table of the ledger (on PostgreSQL, of its schema)."""
        if self.server:
            sql = (
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return sorted(name for (name,) in self.execute(sql).fetchall())

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Sql:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.db.commit()
        self.db.close()
