"""The ledger's database: the engine, transactions, and its errors translated.

SQLAlchemy Core over SQLite (WAL, a busy timeout, secure deletes, short transactions) by
default, or over PostgreSQL (``[ledger] url``, psycopg 3) when several machines share a root;
the schema is made and upgraded by the same Alembic migrations in ``ehforms/migrations``.

The rooms of this package: the engines are here (where a ledger is, :func:`engine_for`,
:func:`transaction`, database errors as ``LedgerBusy``/``LedgerFull``/``LedgerUnreachable``/
``LedgerError``); the tables in :mod:`~ehforms.database.tables`; the schema brought up to date
on open in :mod:`~ehforms.database.migrating`; the statements built once, and the upserts, in
:mod:`~ehforms.database.statements`. Every name of those is importable from here.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.config import Config
from ehforms.database.migrating import HEAD, _at_head, migrate
from ehforms.database.statements import (
    _CLAIM,
    _DONE,
    _EVENT,
    _FIRST,
    _GET,
    _ID,
    _REHASH,
    _STATE,
    SEEN,
    upserts,
)
from ehforms.database.tables import (
    accounts,
    alert_attempts,
    alerts,
    audit,
    audit_purge,
    case_data,
    deliveries,
    digests,
    done_seen,
    events,
    handled,
    metadata,
    prefill_allowed,
    sent,
    sessions,
    sign_in_failures,
    submissions,
    withdrawals,
)
from ehforms.errors import LedgerBusy, LedgerError, LedgerFull, LedgerUnreachable

__all__ = [
    # the engines (this module)
    "SQLITE_FILE",
    "WRITER_LOCK",
    "Where",
    "engine_for",
    "exists",
    "is_file",
    "ledger_of",
    "shown",
    "transaction",
    "where",
    "_server_engine",
    "_translated",
    # migrating
    "HEAD",
    "migrate",
    "_at_head",
    # the statements
    "SEEN",
    "upserts",
    "_CLAIM",
    "_DONE",
    "_EVENT",
    "_FIRST",
    "_GET",
    "_ID",
    "_REHASH",
    "_STATE",
    # the tables
    "metadata",
    "accounts",
    "alert_attempts",
    "alerts",
    "audit",
    "audit_purge",
    "case_data",
    "deliveries",
    "digests",
    "done_seen",
    "events",
    "handled",
    "prefill_allowed",
    "sent",
    "sessions",
    "sign_in_failures",
    "submissions",
    "withdrawals",
]

SQLITE_FILE = "ledger.sqlite3"  # in the root's .ehforms/ (mailroom.LEDGER)

# Where a ledger is: the SQLite file's path, or a PostgreSQL server's URL (password set).
Where = Path | sa.engine.URL

# PostgreSQL: the advisory lock every write transaction takes first, so that writers take
# turns as they do on SQLite (BEGIN IMMEDIATE), whichever machine they run on.
WRITER_LOCK = 0x656866_01  # "ehf", 1


def where(state: Path, url: str = "", password: str = "") -> Where:
    """The ledger of a root whose state folder is ``state``: the SQLite file in it, or the
    PostgreSQL database ``url`` names (``[ledger] url``; the password from the environment)."""
    if not url:
        return state / SQLITE_FILE
    parsed = sa.engine.make_url(url)
    return parsed.set(drivername="postgresql+psycopg", password=password or None)


def ledger_of(state: Path, config: Config) -> Where:
    """A root's ledger, as its configuration says."""
    return where(state, config.ledger_url, config.ledger_password)


def is_file(place: Where) -> bool:
    return isinstance(place, Path)


def exists(place: Where) -> bool:
    """Whether the ledger has been made (a server's database is made by its administrator)."""
    return place.exists() if isinstance(place, Path) else True


def shown(place: Where) -> str:
    """Where the ledger is, for a message: never its password."""
    if isinstance(place, Path):
        return ".ehforms/ledger.sqlite3"
    return f"{place.host or 'localhost'}:{place.port or 5432}"


def engine_for(place: Where, *, timeout: float = 30.0, owner: bool = True) -> Engine:
    """An engine on a ledger. SQLite: WAL, a busy timeout, secure deletes, and transactions
    that ehforms begins itself (``BEGIN IMMEDIATE`` for writes, so a writer waits its turn
    instead of failing half-way); only the ``owner`` sets the journal mode, which changes the
    file. PostgreSQL: a write transaction takes the writers' advisory lock first (the same
    turns), waiting at most ``timeout`` for it."""
    if not isinstance(place, Path):
        return _server_engine(place, timeout)
    engine = sa.create_engine(
        f"sqlite:///{place}",
        connect_args={"timeout": timeout, "check_same_thread": False},
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite's own BEGIN handling is off
        cursor = dbapi_connection.cursor()
        if owner:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _server_engine(url: sa.engine.URL, timeout: float) -> Engine:
    waits = max(1, int(timeout * 1000))
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=8,
        connect_args={
            "connect_timeout": max(2, min(int(timeout), 30)),
            "application_name": "ehforms",
            # a lock (the writers' turn, a claim's row) waited for at most the timeout
            "options": f"-c lock_timeout={waits}",
        },
    )

    # an engine dropped without dispose() (a Root never closed) closes its connections
    # properly when it goes, instead of leaving them to the garbage collector
    weakref.finalize(engine, engine.pool.dispose)

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get("immediate", False):
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")

    return engine


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One short transaction on a connection of its own (safe from any thread): a write
    begins ``IMMEDIATE``, so writers take turns instead of failing half-way."""
    with _translated(engine), engine.connect() as connection:
        if write:
            connection = connection.execution_options(immediate=True)
        with connection.begin():
            yield connection


@contextmanager
def _translated(engine: Engine | None = None) -> Iterator[None]:
    """The database's errors as ehforms' own: busy, full, out of reach, or not usable."""
    try:
        yield
    except sa.exc.DBAPIError as error:
        text = str(error.orig).lower()
        server = engine is not None and engine.dialect.name == "postgresql"
        if "locked" in text or "busy" in text or "lock timeout" in text:
            raise LedgerBusy("the ledger is locked by another program") from error
        if "full" in text or "no space left" in text:
            raise LedgerFull("the disk is full (the ledger cannot be written)") from error
        if server and engine is not None and _unreachable(error):
            place = shown(engine.url)
            raise LedgerUnreachable(
                f"The ledger cannot be reached at {place}: check [ledger] url and that "
                "PostgreSQL is running"
            ) from error
        if server and engine is not None and ("password" in text or "authentication" in text):
            raise LedgerUnreachable(
                "The ledger's server refused ehforms' sign-in: check the user in [ledger] url "
                "and the EHFORMS_LEDGER_PASSWORD environment variable"
            ) from error
        where_ = "on its server" if server else "(.ehforms/ledger.sqlite3)"
        advice = (
            "check the server, or restore the database from a backup"
            if server
            else "restore it from a backup, or move it aside to start a new one"
        )
        raise LedgerError(
            f"The ledger {where_} cannot be used ({_first_line(error.orig)}): {advice}"
        ) from error


def _unreachable(error: sa.exc.DBAPIError) -> bool:
    text = str(error.orig).lower()
    return (
        isinstance(error, sa.exc.OperationalError)
        and (
            "connection" in text or "could not translate host" in text or "timeout expired" in text
        )
        and "password" not in text
        and "authentication" not in text
    )


def _first_line(orig: BaseException | None) -> str:
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
