"""Taking files for a batch (:class:`Claiming`, a part of :class:`ehforms.pipeline.Postroom`):
from the inbox (urgent-looking first, each renamed into ``processing/`` and locked for this
process), and what an earlier run left claimed there; a file that cannot be taken waits in
the inbox with backoff, a claim that failed waits in ``processing/``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ehforms.bundles import Limits, settle_state
from ehforms.errors import ClaimError
from ehforms.files import NotARegularFile, open_regular
from ehforms.jobs import Job, job_for
from ehforms.retries import Retry, _claim_reason, _unreadable, note, urgent_first
from ehforms.routing import FAILURES_ALLOWED
from ehforms.submission import looks_like_closure

if TYPE_CHECKING:
    import datetime as dt

    from ehforms.config import Config
    from ehforms.ledger import Ledger
    from ehforms.locks import Claims
    from ehforms.mailroom import Claim, Mailroom

log = logging.getLogger("ehforms")

# several watchers on one root: an empty claim folder is removed once this old (another
# watcher may be between making it and renaming its file in)
TIDY_SHARED_SECONDS = 60.0


class Claiming:
    """The claiming half of the Postroom: what it needs of it is named here."""

    config: Config
    clock: Callable[[], dt.datetime]
    stop: threading.Event
    mailroom: Mailroom
    ledger: Ledger
    claims: Claims
    retries: dict[str, Retry]
    inbox_faults: dict[Path, Retry]
    _closures: set[str]

    def backlog(self) -> list[Path]:
        """The inbox's files, urgent-looking ones first, then oldest first."""
        return urgent_first(self._closures, self.mailroom.candidates())

    def _looks_like_closure(self, job: Job) -> bool:
        name = job.claim.path.name
        if name in self._closures:
            self._closures.discard(name)
            return True
        return job.recovered and looks_like_closure(job.claim.path)  # not looked at yet

    def claim(self, path: Path) -> Job | None:
        """Take one file from the inbox; None when it is gone or must wait (see faults)."""
        retry = self.inbox_faults.get(path)
        now = time.monotonic()
        if retry is not None and retry.not_before > now:
            return None
        if path.is_dir() and not path.is_symlink():
            # a bundle's folder is taken whole, once settled, never half-copied; a later scan
            # finds it again when it has
            settled, _ = settle_state(path, time.time(), self.config.bundle_settle_seconds)
            if not settled:
                return None
        try:
            # a file that cannot be read stays where business support can put it right
            fd = open_regular(path)
        except NotARegularFile:
            fd = None
        except FileNotFoundError:
            self.inbox_faults.pop(path, None)  # gone (taken, moved or deleted): nothing waits
            return None
        except OSError as error:
            self._inbox_fault(path, now, _unreadable(error))
            return None
        try:
            try:
                claim = self.mailroom.claim(path, self.clock())
            except (ClaimError, OSError) as error:
                self._inbox_fault(path, now, _claim_reason(error))
                return None
            self.inbox_faults.pop(path, None)
            if claim is None:
                return None
            if not self.claims.take(claim.submission_id):
                return None  # another watcher found it in processing/ first: it finishes it
            try:
                return self._job(claim, fd)
            except OSError as error:  # claimed already: finished from processing/ later
                self._retry(claim.submission_id, now, _unreadable(error))
                return None
        finally:
            if fd is not None:
                os.close(fd)

    def _inbox_fault(self, path: Path, now: float, reason: str) -> None:
        retry = self.inbox_faults.setdefault(path, Retry())
        if retry.reason != reason:
            log.info("a file in the inbox cannot be taken (%s): tried again later", reason)
        note(retry, now, self.config.retry_max_seconds, reason)

    def _job(self, claim: Claim, fd: int | None = None) -> Job:
        return job_for(claim, fd, Limits.of(self.config))

    def _record(self, jobs: list[Job]) -> None:
        self.ledger.claimed(
            (
                j.claim.submission_id,
                j.sha256,
                j.claim.source,
                j.claim.received_at,
                j.form_sha256 or j.sha256,
            )
            for j in jobs
        )

    def recovered(self, now: float) -> list[Job]:
        """Claims left in ``processing/`` (a stop, a crash, a failed delivery) that are due.

        Their locks (several watchers) and their ledger rows are asked for all at once: a
        watcher that shares the root finds the other's claims there at every look."""
        # with other watchers, an empty claim folder may be one being filled: left a while
        quiet = TIDY_SHARED_SECONDS if self.claims.shared else 0.0
        due = [
            claim
            for claim in self.mailroom.claims_in_processing(tidy_after=quiet)
            if (retry := self.retries.get(claim.submission_id)) is None or retry.not_before <= now
        ]
        mine = self.claims.take_many([claim.submission_id for claim in due])
        due = [claim for claim in due if claim.submission_id in mine]  # the rest: another's
        try:
            known = self.ledger.recovering([claim.submission_id for claim in due])
        except BaseException:  # (a busy ledger) let them go: another watcher may finish them
            self.claims.release_many(list(mine))
            raise
        jobs = []
        for claim in due:
            if not claim.path.parent.is_dir():  # finished by another watcher meanwhile
                self.claims.release(claim.submission_id)
                continue
            state, failures = known.get(claim.submission_id, (None, 0))
            if state == "done":
                self._archive(claim)  # stopped after the ledger, before archive
                self.claims.release(claim.submission_id)
                continue
            try:
                job = self._job(claim)
            except OSError as error:
                self._retry(claim.submission_id, now, _unreadable(error))
                continue
            job.poisoned = failures >= FAILURES_ALLOWED
            job.recovered = True
            jobs.append(job)
        return jobs

    def _retry(self, submission_id: str, now: float, reason: str) -> None:
        note(
            self.retries.setdefault(submission_id, Retry()),
            now,
            self.config.retry_max_seconds,
            reason,
        )

    def _archive(self, claim: Claim) -> None:
        try:
            self.mailroom.archive_claim(claim)
        except OSError as error:  # delivered and recorded: archived at the next run
            log.error(
                "submission %s: could not archive the original (%s)",
                claim.submission_id,
                error.strerror,
            )
