"""Who works what when several processes share one root: per claim, and the root's jobs
that run once (the alerts' round and the daily digest, the daily purge).

With the SQLite ledger one process owns the root (the root-wide file lock,
``core.Root.owned``): every claim is its own and every job runs, so nothing here locks.

With a PostgreSQL ledger several ``watch`` processes, on one machine or more, share the root.
A claim is worked by the process that holds its advisory lock in the ledger: taken right after
the rename that claimed the file (or, for a claim found in ``processing/``, before it is
looked at), on a connection of the process's own, and let go once the claim's outcome is
recorded and its original archived. A process that dies loses its connection and with it its
locks, so another takes its claims at its next look in ``processing/``: the claim's lease is
the life of its holder's connection (TCP keepalives end a lost machine's). A job of the whole
root runs in the process that gets its advisory lock first; the others skip that round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.database import _translated

log = logging.getLogger("ehforms")

CLAIMS = 0x6568_6601  # the first key of a claim's lock; the second is its id's hash
JOBS = 0x6568_6602  # the first key of a job's lock; the second names the job
PURGE = "purge"  # the job of ``ehforms purge`` and the watchers' daily purge
_TAKE = sa.text("SELECT pg_try_advisory_lock(:space, hashtext(:key))")
_LET_GO = sa.text("SELECT pg_advisory_unlock(:space, hashtext(:key))")
# many claims in one round trip: a burst lets go of its claims a few dozen at a time, and a
# watcher looking in processing/ asks for every claim it finds there at once
_TAKE_MANY = sa.text(
    "SELECT key FROM unnest(CAST(:keys AS text[])) AS key "
    "WHERE pg_try_advisory_lock(:space, hashtext(key))"
)
_LET_GO_MANY = sa.text(
    "SELECT count(*) FROM unnest(CAST(:keys AS text[])) AS key "
    "WHERE pg_advisory_unlock(:space, hashtext(key))"
)


def shared(engine: Engine) -> bool:
    """Whether processes on other machines may share this ledger (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


class Claims:
    """The claims this process works. On SQLite every claim is its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shared = shared(engine)
        self.held: set[str] = set()
        self._connection: Connection | None = None
        self._mutex = threading.Lock()

    def _locks(self) -> Connection:
        """The connection that holds this process's claims (autocommit: no transaction is left
        open). One that was lost lost its locks too: what it held is no longer ours."""
        if self._connection is not None and self._connection.invalidated:
            self._drop()
        if self._connection is None:
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            with suppress(Exception):
                self._connection.invalidate()
                self._connection.close()
        self._connection = None
        if self.held:
            log.warning(
                "the connection holding %d claims was lost: another process may finish them",
                len(self.held),
            )
        self.held.clear()

    def _forget_if_lost(self) -> None:
        """A connection seen lost (a failed statement invalidates it) took its locks with it:
        ``held`` must not answer for them any more. Called under the mutex."""
        if self._connection is not None and self._connection.invalidated:
            self._drop()

    def take(self, submission_id: str) -> bool:
        """Whether this process may work the claim: True when it holds its lock (now or
        already), False when another process does."""
        if not self.shared:
            return True
        with self._mutex, _translated(self.engine):
            self._forget_if_lost()
            if submission_id in self.held:
                return True
            try:
                taken = bool(
                    self._locks()
                    .execute(_TAKE, {"space": _int32(CLAIMS), "key": submission_id})
                    .scalar()
                )
            except sa.exc.DBAPIError:
                self._drop()
                raise
            if taken:
                self.held.add(submission_id)
        return taken

    def take_many(self, submission_ids: list[str]) -> set[str]:
        """The claims of ``submission_ids`` this process may work, asked in one round trip:
        those it holds already or takes now (another process holds the rest)."""
        if not self.shared:
            return set(submission_ids)
        with self._mutex, _translated(self.engine):
            self._forget_if_lost()
            wanted = [sid for sid in dict.fromkeys(submission_ids) if sid not in self.held]
            taken = set(submission_ids) & self.held
            if not wanted:
                return taken
            try:
                rows = self._locks().execute(_TAKE_MANY, {"space": _int32(CLAIMS), "keys": wanted})
                now = {str(row[0]) for row in rows}
            except sa.exc.DBAPIError:
                self._drop()
                raise
            self.held |= now
        return taken | now

    def release_many(self, submission_ids: list[str]) -> None:
        """Claims finished (recorded and archived), let go in one round trip."""
        mine = [sid for sid in dict.fromkeys(submission_ids) if sid in self.held]
        if not self.shared or not mine:
            return
        self.held.difference_update(mine)
        with self._mutex, suppress(sa.exc.DBAPIError):
            self._locks().execute(_LET_GO_MANY, {"space": _int32(CLAIMS), "keys": mine})

    def release(self, submission_id: str) -> None:
        """The claim is finished (recorded and archived): another process may look at it."""
        if not self.shared or submission_id not in self.held:
            return
        self.held.discard(submission_id)
        with self._mutex, suppress(sa.exc.DBAPIError):
            self._locks().execute(_LET_GO, {"space": _int32(CLAIMS), "key": submission_id})

    def close(self) -> None:
        with self._mutex:
            self.held.clear()
            if self._connection is not None:
                with suppress(Exception):
                    self._connection.invalidate()  # closed, not pooled: its locks go with it
                    self._connection.close()
                self._connection = None


@contextmanager
def once(engine: Engine, job: str) -> Iterator[bool]:
    """Whether this process runs ``job`` now (a round of the alerts, the daily purge): True
    on SQLite; on PostgreSQL, True in the one process that holds the job's lock meanwhile."""
    if not shared(engine):
        yield True
        return
    with _translated(engine), engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        params: dict[str, Any] = {"space": _int32(JOBS), "key": job}
        mine = bool(connection.execute(_TAKE, params).scalar())
        try:
            yield mine
        finally:
            if mine:
                connection.execute(_LET_GO, params)


def _int32(value: int) -> int:
    """A key as PostgreSQL's int4 takes it."""
    return value - (1 << 32) if value >= 1 << 31 else value
