"""The ledger: a SQLite database (WAL) of every file seen, by SHA-256, and its outcome.

It answers "have these bytes been seen before, and where did they go?", "what was in flight
when the process stopped?", and "what do we already know of this case?" (for prefilled forms).
Only the process that claims files writes to it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehforms.mailroom import set_mode

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    submission_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
    status TEXT,
    form_type TEXT,
    case_id TEXT,
    mailboxes TEXT,
    folder TEXT,
    priority TEXT,
    duplicate_of TEXT,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS submissions_sha256 ON submissions (sha256, received_at);
CREATE INDEX IF NOT EXISTS submissions_case ON submissions (case_id, received_at);
CREATE TABLE IF NOT EXISTS case_data (
    submission_id TEXT PRIMARY KEY REFERENCES submissions (submission_id),
    case_id TEXT NOT NULL,
    form_type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_data_case ON case_data (case_id, received_at);
CREATE TABLE IF NOT EXISTS deliveries (
    submission_id TEXT NOT NULL REFERENCES submissions (submission_id),
    place TEXT NOT NULL,
    folder TEXT NOT NULL,
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (submission_id, place)
);
CREATE TABLE IF NOT EXISTS events (
    at TEXT NOT NULL,
    submission_id TEXT,
    event TEXT NOT NULL,
    detail TEXT
);
"""


@dataclass(frozen=True)
class Seen:
    """A submission the ledger knows."""

    submission_id: str
    source: str
    received_at: dt.datetime
    state: str
    status: str | None
    folder: str | None
    mailboxes: tuple[str, ...]
    form_type: str | None


class Ledger:
    def __init__(self, path: Path, file_mode: int = 0o640, timeout: float = 30.0) -> None:
        self.path = path
        new = not path.exists()
        # One thread at a time uses a Ledger (the Postroom's), but not always the one that
        # opened it: a Watcher runs on its own thread.
        self.db = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        if new:
            set_mode(path, file_mode)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(submissions)")}
        if "failures" not in columns:  # a ledger made before failures were counted
            self.db.execute(
                "ALTER TABLE submissions ADD COLUMN failures INTEGER NOT NULL DEFAULT 0"
            )

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _event(self, submission_id: str | None, event: str, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO events (at, submission_id, event, detail) VALUES (?, ?, ?, ?)",
            (dt.datetime.now(dt.UTC).isoformat(), submission_id, event, detail),
        )

    def claimed(self, claims: Iterable[tuple[str, str | None, str, dt.datetime]]) -> None:
        """Record claimed files (id, sha256, source, received_at) in one transaction, in order.

        A claim already recorded is left as it is, so recovery may record one again.
        """
        with self.transaction():
            for submission_id, sha256, source, received_at in claims:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO submissions (submission_id, sha256, source, "
                    "received_at, state) VALUES (?, ?, ?, ?, 'claimed')",
                    (submission_id, sha256 or "", source, received_at.isoformat()),
                )
                if cursor.rowcount:
                    self._event(submission_id, "claimed")
                else:  # claimed again after a retry: the bytes may have changed since
                    self.db.execute(
                        "UPDATE submissions SET sha256 = ? WHERE submission_id = ? "
                        "AND state = 'claimed'",
                        (sha256 or "", submission_id),
                    )

    def failed(self, submission_id: str) -> int:
        """Count one more failure of ehforms on this submission; returns how many so far."""
        with self.transaction():
            self.db.execute(
                "UPDATE submissions SET failures = failures + 1 WHERE submission_id = ?",
                (submission_id,),
            )
            self._event(submission_id, "failed")
        return self.failures(submission_id)

    def failures(self, submission_id: str) -> int:
        row = self.db.execute(
            "SELECT failures FROM submissions WHERE submission_id = ?", (submission_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def deliveries(self, submission_id: str) -> list[tuple[str, str]]:
        """Where a submission was delivered: (place, folder), place ``outbox/<m>`` or
        ``rejected``."""
        rows = self.db.execute(
            "SELECT place, folder FROM deliveries WHERE submission_id = ? ORDER BY rowid",
            (submission_id,),
        ).fetchall()
        return [(place, folder) for place, folder in rows]

    def first_with_hash(self, sha256: str | None, submission_id: str) -> Seen | None:
        """The first submission of the same bytes claimed before this one (claim order)."""
        if not sha256:  # an entry that was never read (a link, a pipe)
            return None
        row = self.db.execute(
            "SELECT s.submission_id, s.source, s.received_at, s.state, s.status, s.folder, "
            "s.mailboxes, s.form_type FROM submissions s, submissions me "
            "WHERE me.submission_id = ? AND s.sha256 = ? AND s.rowid < me.rowid "
            "ORDER BY s.rowid LIMIT 1",
            (submission_id, sha256),
        ).fetchone()
        return _seen(row) if row else None

    def get(self, submission_id: str) -> Seen | None:
        row = self.db.execute(
            "SELECT submission_id, source, received_at, state, status, folder, mailboxes, "
            "form_type FROM submissions WHERE submission_id = ?",
            (submission_id,),
        ).fetchone()
        return _seen(row) if row else None

    def done(
        self,
        receipt: dict[str, Any],
        folder: str,
        case_id: str | None,
        case_data: Mapping[str, Any] | None,
    ) -> None:
        """Record an outcome, with what the form says of its case for prefill, in one go."""
        submission_id = receipt["submission_id"]
        with self.transaction():
            self.db.execute(
                "UPDATE submissions SET state = 'done', status = ?, form_type = ?, case_id = ?, "
                "mailboxes = ?, folder = ?, priority = ?, duplicate_of = ?, completed_at = ? "
                "WHERE submission_id = ?",
                (
                    receipt["status"],
                    receipt["form_type"],
                    case_id,
                    json.dumps(receipt["mailboxes"]),
                    folder,
                    receipt["priority"],
                    receipt["duplicate_of"],
                    dt.datetime.now(dt.UTC).isoformat(),
                    submission_id,
                ),
            )
            if case_id and case_data is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO case_data (submission_id, case_id, form_type, "
                    "received_at, data) VALUES (?, ?, ?, ?, ?)",
                    (
                        submission_id,
                        case_id,
                        receipt["form_type"],
                        receipt["received_at"],
                        json.dumps(case_data, default=str),
                    ),
                )
            now = dt.datetime.now(dt.UTC).isoformat()
            for place in [f"outbox/{m}" for m in receipt["mailboxes"]] or ["rejected"]:
                self.db.execute(
                    "INSERT OR IGNORE INTO deliveries (submission_id, place, folder, "
                    "delivered_at) VALUES (?, ?, ?, ?)",
                    (submission_id, place, folder, now),
                )
            self._event(submission_id, receipt["status"], folder)

    def case_history(self, case_id: str) -> History:
        """What routed forms said of a case, oldest first: (form_type, normalised form)."""
        rows = self.db.execute(
            "SELECT form_type, data FROM case_data WHERE case_id = ? ORDER BY received_at",
            (case_id,),
        ).fetchall()
        return [(form_type, json.loads(data)) for form_type, data in rows]

    def withheld(self, case_id: str) -> list[str] | None:
        return withheld_in(self.case_history(case_id))

    def in_flight(self) -> list[str]:
        rows = self.db.execute(
            "SELECT submission_id FROM submissions WHERE state = 'claimed' ORDER BY received_at"
        ).fetchall()
        return [row[0] for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT coalesce(status, state), count(*) FROM submissions GROUP BY 1"
        ).fetchall()
        return {status: count for status, count in rows}


def _seen(row: tuple[Any, ...]) -> Seen:
    submission_id, source, received_at, state, status, folder, mailboxes, form_type = row
    return Seen(
        submission_id,
        source,
        dt.datetime.fromisoformat(received_at),
        state,
        status,
        folder,
        tuple(json.loads(mailboxes)) if mailboxes else (),
        form_type,
    )


History = list[tuple[str, dict[str, Any]]]


def withheld_in(history: History) -> list[str] | None:
    """What the family last said it does not agree to share, or None if no form said."""
    for _form_type, data in reversed(history):
        consent = data.get("consent")
        if isinstance(consent, dict):
            return list(consent.get("withheld", []))
    return None


def case_history_at(path: Path, case_id: str) -> History:
    """A case's history from the ledger at ``path``; none when there is no ledger yet."""
    if not path.exists():
        return []
    ledger = Ledger(path)
    try:
        return ledger.case_history(case_id)
    finally:
        ledger.close()
