"""The batch that takes the inbox through to outcomes: :class:`Postroom`.

It claims files (that half is :mod:`ehforms.claiming`), records them in the ledger, spots
duplicates in claim order, hands the work (:func:`ehforms.jobs.work`) to a pool of processes
where it is heavy, records each outcome, and retries what failed. One file never stops the
rest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ehforms.claiming import Claiming
from ehforms.config import Config
from ehforms.database import ledger_of
from ehforms.jobs import Job, Result, _init_worker, _ready, log_safe, work
from ehforms.ledger import Ledger
from ehforms.locks import Claims
from ehforms.mailroom import Mailroom
from ehforms.names import ignored
from ehforms.outcomes import utcnow
from ehforms.retries import Retry, fault_lines, urgent_first
from ehforms.routing import FAILURES_ALLOWED

log = logging.getLogger("ehforms")

# Delivered outcomes are recorded in the ledger this many at a time (and at the end of each
# group of jobs), in one transaction.
RECORD_EVERY = 32


@dataclass
class Postroom(Claiming):
    """Takes what is in the inbox (and what was in flight) through to an outcome.

    One file never stops the rest: a file that cannot be taken stays in the inbox and is tried
    again with backoff (``inbox_faults``); a claim whose delivery failed is tried again with
    backoff (``retries``); a file ehforms fails on twice gets a plain outcome. ``stop`` ends a
    batch early: what is claimed and not started stays claimed for the next run.
    """

    root: Path
    config: Config
    workers: int = 1
    clock: Callable[[], dt.datetime] = utcnow
    stop: threading.Event = field(default_factory=threading.Event)
    ledger_timeout: float = 30.0  # seconds to wait for a ledger another program holds
    warm: bool = True  # workers load the PDF engine when they start (see jobs._init_worker)
    mailroom: Mailroom = field(init=False)
    ledger: Ledger = field(init=False)
    retries: dict[str, Retry] = field(default_factory=dict, init=False)
    inbox_faults: dict[Path, Retry] = field(default_factory=dict, init=False)
    _executor: Executor | None = field(default=None, init=False)
    _closures: set[str] = field(default_factory=set, init=False)  # names, from their first bytes
    _delivered: list[Result] = field(default_factory=list, init=False)  # not yet in the ledger

    def __post_init__(self) -> None:
        self.mailroom = Mailroom(self.root, self.config)
        self.mailroom.check()
        if self.workers > 1 and self._several_waiting():
            self.start_workers()  # they start (and import) while this process opens the ledger
        try:
            self.ledger = Ledger(
                ledger_of(self.mailroom.state, self.config), timeout=self.ledger_timeout
            )
        except BaseException:  # no Postroom to close: its workers must not outlive this call
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
            raise
        if self.config.alerts is not None:  # urgent outcomes queue alerts (ehforms.alerts)
            self.ledger.alert_to = frozenset(self.config.alerts.to)
        # the claims this process works (several watchers share a root on PostgreSQL)
        self.claims = Claims(self.ledger.engine)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.claims.close()
        self.ledger.close()

    def __enter__(self) -> Postroom:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.root, self.config, self.warm),
            )
        return self._executor

    def start_workers(self) -> None:
        """Start the pool's processes now, once, rather than at the first job: a worker's
        start (a new interpreter and its imports) then overlaps this process's own work."""
        if self._executor is None:
            for _ in range(self.workers):
                self.executor().submit(_ready)

    def _several_waiting(self) -> bool:
        """Whether the inbox and ``processing/`` hold more than one entry between them: a
        look at the names only, to start the workers early for a batch that needs them."""
        count = 0
        for folder in (self.mailroom.inbox, self.mailroom.processing):
            try:
                with os.scandir(folder) as entries:
                    names = (entry.name for entry in entries if not ignored(entry.name))
                    count += len(list(itertools.islice(names, 2)))
            except OSError:
                continue
        return count > 1

    def _drop_executor(self) -> None:
        """After a worker died: the pool is broken, a new one is made when next needed."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def faults(self) -> list[str]:
        """What is waiting to be tried again, in words for ``status`` (no names)."""
        return fault_lines(self.inbox_faults.values(), self.retries.items())

    # -- processing -------------------------------------------------------------------

    def run(
        self,
        paths: Iterable[Path] | None = None,
        on_result: Callable[[Result], None] | None = None,
        on_claimed: Callable[[int], None] | None = None,
    ) -> list[Result]:
        """Process what was in flight and then ``paths`` (default: the whole inbox), once.

        Raises only for faults of the whole root (the ledger locked or unwritable); a fault of
        one file never stops the others."""
        self._delivered = []  # what a failed run left unrecorded is found again in processing/
        try:
            return self._run(paths, on_result, on_claimed)
        except BaseException:
            # jobs in flight finish (or are cancelled) now, so the next batch, which finds
            # their claims in processing/ again, never runs one twice at the same time
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
            raise

    def _run(
        self,
        paths: Iterable[Path] | None,
        on_result: Callable[[Result], None] | None,
        on_claimed: Callable[[int], None] | None,
    ) -> list[Result]:
        for gone in [p for p in self.inbox_faults if not os.path.lexists(p)]:
            del self.inbox_faults[gone]  # taken away by business support: nothing waits
        jobs = self.recovered(time.monotonic())
        backlog = self.backlog() if paths is None else urgent_first(self._closures, paths)
        if self.workers > 1 and len(jobs) + len(backlog) > 1:
            self.start_workers()  # they start while this process claims
        for path in backlog:
            if self.stop.is_set():
                break
            job = self.claim(path)
            if job is not None:
                jobs.append(job)
        self._record(jobs)
        if on_claimed is not None:
            on_claimed(len(jobs))
        firsts: list[Job] = []
        closures: list[Job] = []
        repeats: list[Job] = []
        earlier = self.ledger.first_copies((j.claim.submission_id, j.sha256) for j in jobs)
        same_form = self.ledger.first_forms(
            (j.claim.submission_id, j.sha256, j.form_sha256 or j.sha256)
            for j in jobs
            if j.claim.submission_id not in earlier
        )
        for job in jobs:
            job.first = earlier.get(job.claim.submission_id)
            job.same_form_as = same_form.get(job.claim.submission_id)
            if job.first is not None:
                repeats.append(job)
            elif job.kind is None and self._looks_like_closure(job):
                closures.append(job)
            else:
                firsts.append(job)
        results = self._execute(firsts, on_result)
        # a closure note shows what the family withheld, which a transfer in this same batch
        # may tell the ledger: closures go once the other forms have their outcomes
        results += self._execute(closures, on_result)
        self._closures.clear()
        for job in repeats:  # after the first of the same bytes has its outcome
            job.first = self.ledger.first_with_hash(job.sha256, job.claim.submission_id)
            results += self._execute([job], on_result)
        return self._again(jobs, results, on_result)

    def _again(
        self, jobs: list[Job], results: list[Result], on_result: Callable[[Result], None] | None
    ) -> list[Result]:
        """Files ehforms failed on go again, one at a time, so that a failure is the file's own;
        after :data:`FAILURES_ALLOWED` they are delivered plainly. The rest of the batch has its
        outcomes already."""
        by_id = {job.claim.submission_id: job for job in jobs}
        final = {r.claim.submission_id: r for r in results}
        for _ in range(FAILURES_ALLOWED + 2):
            failed = [by_id[i] for i, r in final.items() if r.failure is not None]
            if not failed or self.stop.is_set():
                break
            for job in failed:
                job.poisoned = self.ledger.failures(job.claim.submission_id) >= FAILURES_ALLOWED
                for result in self._execute([job], on_result, alone=True):
                    final[result.claim.submission_id] = result
        return [final[r.claim.submission_id] for r in results]

    def _execute(
        self,
        jobs: list[Job],
        on_result: Callable[[Result], None] | None,
        alone: bool = False,
    ) -> list[Result]:
        """Run jobs in the pool (in order, a few per worker in flight at once) or in-line.

        ``alone``: one job in flight, so a worker that dies was killed by that job's file."""
        results: list[Result] = []
        if self.workers > 1 and (len(jobs) > 1 or alone):
            window: deque[tuple[Job, Future[Result]]] = deque()
            size = 1 if alone else self.workers * 4
            for job in jobs:
                if self.stop.is_set():
                    break
                window.append((job, self.executor().submit(work, job)))
                if len(window) >= size:
                    results.append(self._collect(*window.popleft(), on_result, alone))
            while window:
                job, future = window.popleft()
                if self.stop.is_set() and future.cancel():
                    continue  # not started when told to stop: stays claimed for the next run
                results.append(self._collect(job, future, on_result, alone))
        else:
            for job in jobs:
                if self.stop.is_set():
                    break
                result = work(job, self.mailroom, self.ledger)
                results.append(self._finish(result, on_result, counted=True))
        self._record_delivered()
        return results

    def _collect(
        self,
        job: Job,
        future: Future[Result],
        on_result: Callable[[Result], None] | None,
        alone: bool,
    ) -> Result:
        try:
            result = future.result()
        except Exception as error:  # the worker died (a crash, the OOM killer): a new pool
            self._drop_executor()
            log.error(
                "submission %s: the worker process stopped (%s)",
                job.claim.submission_id,
                type(error).__name__,
            )
            return self._finish(
                Result(job.claim, failure="the worker process stopped"), on_result, alone
            )
        return self._finish(result, on_result, counted=True)

    def _finish(
        self, result: Result, on_result: Callable[[Result], None] | None, counted: bool
    ) -> Result:
        """Record an outcome, or note a retry. ``counted``: a failure is this file's own."""
        claim = result.claim
        now = time.monotonic()
        if result.failure is not None:
            if counted:
                self.ledger.failed(claim.submission_id)
            self._retry(
                claim.submission_id, now, f"ehforms failed on it ({result.failure}): tried again"
            )
        elif result.error is not None or result.outcome is None:
            self._retry(claim.submission_id, now, result.error or "not delivered")
            log.error(
                "submission %s: %s (try %d)",
                claim.submission_id,
                result.error,
                self.retries[claim.submission_id].attempts,
            )
        else:
            self._delivered.append(result)
            if len(self._delivered) >= RECORD_EVERY:
                self._record_delivered()
        if on_result is not None:
            on_result(result)
        return result

    def _record_delivered(self) -> None:
        """The ledger learns the delivered outcomes in one transaction, and only then are their
        originals archived: a crash in between leaves them claimed, and the next run finds them
        delivered (their folders, or their marks) and records them without writing again."""
        delivered, self._delivered = self._delivered, []
        if not delivered:
            return
        self.ledger.done_many(
            (r.outcome.receipt, r.outcome.folder, r.outcome.case_id, r.outcome.case_data)
            for r in delivered
            if r.outcome is not None
        )
        for result in delivered:
            self._archive(result.claim)
        self.claims.release_many([result.claim.submission_id for result in delivered])
        for result in delivered:
            outcome = result.outcome
            assert outcome is not None
            # what is written is written: keep only the receipt, so a backlog costs no memory
            result.outcome = dataclasses.replace(
                outcome, form_json=None, documents=None, case_data=None
            )
            self.retries.pop(result.claim.submission_id, None)
            log.info(
                "submission %s%s: %s to %s",
                result.claim.submission_id,
                f" (case {log_safe(outcome.case_id)})" if outcome.case_id else "",
                outcome.receipt.status,
                ", ".join(outcome.mailboxes) or "rejected",
            )
