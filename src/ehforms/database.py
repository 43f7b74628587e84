"""The ledger's database: its tables, the engine, errors translated, migrations on open.

SQLAlchemy Core over SQLite (WAL, a busy timeout, secure deletes, short transactions) by
default, or over PostgreSQL (``[ledger] url``, psycopg 3) when several machines share a root;
the schema is made and upgraded by the same Alembic migrations in ``ehforms/migrations``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.config import Config
from ehforms.errors import LedgerBusy, LedgerError, LedgerFull, LedgerUnreachable

log = logging.getLogger("ehforms")

metadata = sa.MetaData()

submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("received_at", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("status", sa.Text),
    sa.Column("form_type", sa.Text),
    sa.Column("case_id", sa.Text),
    sa.Column("mailboxes", sa.Text),
    sa.Column("folder", sa.Text),
    sa.Column("priority", sa.Text),
    sa.Column("duplicate_of", sa.Text),
    sa.Column("completed_at", sa.Text),
    sa.Column("claim_seq", sa.Integer),  # claim order: which of two copies came first
    sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
    # a bundle's form's own hash (sha256 is the bundle's identity); a lone file's is its sha256
    sa.Column("form_sha256", sa.Text),
    sa.Column("sent_by", sa.Text),  # the account that sent it through the web pages
    sa.CheckConstraint("state IN ('claimed', 'done')", name="submissions_state"),
)
sa.Index("submissions_sha256", submissions.c.sha256, submissions.c.received_at)
sa.Index("submissions_case", submissions.c.case_id, submissions.c.received_at)
sa.Index("submissions_claim_seq", submissions.c.claim_seq, unique=True)
sa.Index("submissions_form_sha256", submissions.c.form_sha256, submissions.c.claim_seq)

case_data = sa.Table(
    "case_data",
    metadata,
    sa.Column(
        "submission_id", sa.Text, sa.ForeignKey("submissions.submission_id"), primary_key=True
    ),
    sa.Column("case_id", sa.Text, nullable=False),
    sa.Column("form_type", sa.Text, nullable=False),
    sa.Column("received_at", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)
sa.Index("case_data_case", case_data.c.case_id, case_data.c.received_at)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column(
        "submission_id", sa.Text, sa.ForeignKey("submissions.submission_id"), primary_key=True
    ),
    sa.Column("place", sa.Text, primary_key=True),  # outbox/<mailbox>, or rejected
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("delivered_at", sa.Text, nullable=False),
    sa.Column("priority", sa.Text),
    sa.Column("due_at", sa.Text),  # the earliest due, in the primary mailbox only
)
sa.Index("deliveries_place", deliveries.c.place, deliveries.c.delivered_at)

events = sa.Table(
    "events",
    metadata,
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("submission_id", sa.Text),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
)


# -- the web service: accounts, their sessions, failed sign-ins, the audit trail -----------

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("email", sa.Text, primary_key=True),  # trimmed and lower-cased
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("mailboxes", sa.Text, nullable=False),  # a JSON list (hub accounts only)
    sa.Column("password_hash", sa.Text, nullable=False),  # Argon2id, PHC string
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("must_change_password", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("changed_at", sa.Text, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_sha256", sa.Text, primary_key=True),  # the token itself is never stored
    sa.Column("email", sa.Text, sa.ForeignKey("accounts.email"), nullable=False),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("last_seen", sa.Text, nullable=False),
    sa.Column("ended_at", sa.Text),
    sa.Column("ended_because", sa.Text),  # signed out, inactive, expired, disabled, password
)
sa.Index("sessions_email", sessions.c.email, sessions.c.ended_at)

sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("email_hash", sa.Text, nullable=False),  # keyed hash of the email typed
    sa.Column("address", sa.Text, nullable=False),
)
sa.Index("sign_in_failures_email", sign_in_failures.c.email_hash, sign_in_failures.c.at)
sa.Index("sign_in_failures_address", sign_in_failures.c.address, sign_in_failures.c.at)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("submission_id", sa.Text),
    sa.Column("case_ref", sa.Text),
    sa.Column("detail", sa.Text),
)
sa.Index("audit_at", audit.c.at)
sa.Index("audit_case", audit.c.case_ref, audit.c.at)
sa.Index("audit_who", audit.c.who, audit.c.at)

handled = sa.Table(
    "handled",
    metadata,
    sa.Column("mailbox", sa.Text, primary_key=True),
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("handled_by", sa.Text, nullable=False),
    sa.Column("handled_at", sa.Text, nullable=False),
)


# -- alerts by email (ehforms.alerts): the queue, every attempt, the daily digests ----------

alerts = sa.Table(
    "alerts",
    metadata,
    # one alert per submission and mailbox, ever
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("mailbox", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),  # the form type's title
    sa.Column("received_at", sa.Text, nullable=False),
    sa.Column("queued_at", sa.Text, nullable=False),
    sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_at", sa.Text),  # not tried again before this time (after a failure)
    sa.Column("message_id", sa.Text),  # set just before its email goes to the server
    sa.Column("sent_at", sa.Text),  # once the server accepted it
)
sa.Index("alerts_unsent", alerts.c.sent_at, alerts.c.mailbox)

digests = sa.Table(
    "digests",
    metadata,
    sa.Column("day", sa.Text, primary_key=True),  # the local date, YYYY-MM-DD
    sa.Column("mailbox", sa.Text, primary_key=True),
    sa.Column("made_at", sa.Text, nullable=False),
    sa.Column("items", sa.Text, nullable=False),  # JSON: what was overdue (no personal data)
    sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_at", sa.Text),
    sa.Column("message_id", sa.Text),
    sa.Column("sent_at", sa.Text),  # null while it waits; a digest of nothing is never sent
)

alert_attempts = sa.Table(
    "alert_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # alert or digest
    sa.Column("mailbox", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),  # forms listed in the email
    sa.Column("result", sa.Text, nullable=False),  # sent, failed, refused
    sa.Column("reply", sa.Text, nullable=False),  # the server's reply, addresses taken out
)
sa.Index(
    "alert_attempts_mailbox", alert_attempts.c.mailbox, alert_attempts.c.kind, alert_attempts.c.at
)


# -- the practitioners' pages (ehforms.practice): what each person sent, and prefill allowed --

sent = sa.Table(
    "sent",
    metadata,
    # written by the web when a form is sent, before the watcher has seen it
    sa.Column("submission_id", sa.Text, primary_key=True),
    sa.Column("sent_by", sa.Text, nullable=False),  # the account (trimmed, lower-cased)
    sa.Column("sent_at", sa.Text, nullable=False),  # the time of receipt
    sa.Column("form_type", sa.Text),  # as the check on /send read it
    sa.Column("case_id", sa.Text),
)
sa.Index("sent_by_at", sent.c.sent_by, sent.c.sent_at)

prefill_allowed = sa.Table(
    "prefill_allowed",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),  # who may now prefill the case
    sa.Column("case_id", sa.Text, nullable=False),
    sa.Column("allowed_by", sa.Text, nullable=False),  # the hub user who pressed the button
    sa.Column("allowed_at", sa.Text, nullable=False),
    sa.Column("submission_id", sa.Text, nullable=False),  # the form it was allowed from
    sa.Column("mailbox", sa.Text, nullable=False),
)
sa.Index("prefill_allowed_email", prefill_allowed.c.email, prefill_allowed.c.case_id)


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


# The newest migration: a ledger already at it is opened without loading Alembic at all.
HEAD = "0008"


def _at_head(connection: Connection) -> bool:
    if connection.dialect.name != "sqlite" and not sa.inspect(connection).has_table(
        "alembic_version"
    ):
        return False  # (asked first: on PostgreSQL a failed statement ends the transaction)
    try:
        found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except sa.exc.DBAPIError:
        return False  # no version table: a new ledger, or one made before migrations
    return found == HEAD


def migrate(connection: Connection) -> None:
    """Bring the ledger's schema to the newest version (a new ledger is made from nothing)."""
    if _at_head(connection):
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    names = set(sa.inspect(connection).get_table_names())
    settings = AlembicConfig()
    settings.set_main_option("script_location", "ehforms:migrations")
    settings.attributes["connection"] = connection
    if current is None and "submissions" in names:
        # made by ehforms 0.1.0, before migrations: its schema is revision 0001
        command.stamp(settings, "0001")
        log.info("the ledger was made by ehforms 0.1.0: upgrading it")
    command.upgrade(settings, "head")


SEEN = (
    submissions.c.submission_id,
    submissions.c.source,
    submissions.c.received_at,
    submissions.c.state,
    submissions.c.status,
    submissions.c.folder,
    submissions.c.mailboxes,
    submissions.c.form_type,
)


# The statements run once or more per form, built once: SQLAlchemy then reuses their compiled
# form, and a burst spends its time on the forms, not on building SQL.
_ID: sa.BindParameter[str] = sa.bindparam("b_submission_id")
_EVENT = events.insert().values(
    at=sa.bindparam("b_at"),
    submission_id=_ID,
    event=sa.bindparam("b_event"),
    detail=sa.bindparam("b_detail"),
)
_STATE = sa.select(submissions.c.state).where(submissions.c.submission_id == _ID)
_CLAIM = submissions.insert().values(
    submission_id=_ID,
    sha256=sa.bindparam("b_sha256"),
    source=sa.bindparam("b_source"),
    received_at=sa.bindparam("b_received_at"),
    state="claimed",
    claim_seq=sa.bindparam("b_claim_seq"),
    form_sha256=sa.bindparam("b_form_sha256"),
)
_REHASH = (
    submissions.update()
    .where(submissions.c.submission_id == _ID)
    .values(sha256=sa.bindparam("b_sha256"), form_sha256=sa.bindparam("b_form_sha256"))
)
_FIRST = (
    sa.select(*SEEN)
    .where(
        submissions.c.sha256 == sa.bindparam("b_sha256"),
        submissions.c.claim_seq
        < sa.select(submissions.c.claim_seq)
        .where(submissions.c.submission_id == _ID)
        .scalar_subquery(),
    )
    .order_by(submissions.c.claim_seq)
    .limit(1)
)
_GET = sa.select(*SEEN).where(submissions.c.submission_id == _ID)
_DONE = (
    submissions.update()
    .where(submissions.c.submission_id == _ID)
    .values(
        state="done",
        status=sa.bindparam("b_status"),
        form_type=sa.bindparam("b_form_type"),
        case_id=sa.bindparam("b_case_id"),
        mailboxes=sa.bindparam("b_mailboxes"),
        folder=sa.bindparam("b_folder"),
        priority=sa.bindparam("b_priority"),
        duplicate_of=sa.bindparam("b_duplicate_of"),
        completed_at=sa.bindparam("b_completed_at"),
        sent_by=sa.bindparam("b_sent_by"),
    )
)


def upserts(dialect: str) -> tuple[Any, Any]:
    """(case data written or replaced, a delivery recorded unless it is already): one statement
    each, in the dialect's own words (SQLite and PostgreSQL say them the same way)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    data = insert(case_data).values(
        submission_id=_ID,
        case_id=sa.bindparam("b_case_id"),
        form_type=sa.bindparam("b_form_type"),
        received_at=sa.bindparam("b_received_at"),
        data=sa.bindparam("b_data"),
    )
    data = data.on_conflict_do_update(
        index_elements=[case_data.c.submission_id],
        set_={
            name: data.excluded[name] for name in ("case_id", "form_type", "received_at", "data")
        },
    )
    delivery = (
        insert(deliveries)
        .values(
            submission_id=_ID,
            place=sa.bindparam("b_place"),
            folder=sa.bindparam("b_folder"),
            delivered_at=sa.bindparam("b_delivered_at"),
            priority=sa.bindparam("b_priority"),
            due_at=sa.bindparam("b_due_at"),
        )
        .on_conflict_do_nothing(index_elements=[deliveries.c.submission_id, deliveries.c.place])
    )
    return data, delivery


# -- keeping and deleting (ehforms.purging): forms.md "Keeping and deleting" ----------------

# When a purge first saw a folder in a mailbox's done/ that no one marked handled through
# ehforms (moved by hand on the share): its handled time. Removed with the folder.
done_seen = sa.Table(
    "done_seen",
    metadata,
    sa.Column("place", sa.Text, primary_key=True),  # outbox/<mailbox>
    sa.Column("folder", sa.Text, primary_key=True),
    sa.Column("seen_at", sa.Text, nullable=False),
)

# A family withdrew consent (a consent_withdrawn closure): the case's prefill data is erased
# and stays erased until a form arrives with consent dated after ``withdrawn_on``. Content-free.
withdrawals = sa.Table(
    "withdrawals",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("withdrawn_on", sa.Text, nullable=False),  # the closure's date, YYYY-MM-DD
)

# While a purge deletes audit rows older than ``before``, a row here lets it (the ledger's
# trigger refuses any other delete from the append-only trail); removed in the same transaction.
audit_purge = sa.Table(
    "audit_purge",
    metadata,
    sa.Column("before", sa.Text, primary_key=True),
)
