"""One submission from bytes to outcome, and the batch that takes the inbox through it.

:func:`prepare` is pure: bytes, name, id and time of receipt in; an :class:`Outcome` (receipt,
folder name, normalised form, errors) out. :class:`Postroom` does the I/O around it: claims
files, records them in the ledger, spots duplicates, hands the work to a pool of processes
where the work is heavy, delivers, and retries a delivery that failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehforms import routing
from ehforms.config import Config
from ehforms.documents import PRO_FORMA, TITLES, Planned
from ehforms.documents import plan as plan_documents
from ehforms.errors import ClaimError, DeliveryError
from ehforms.files import NotARegularFile, display_name, open_regular
from ehforms.forms import FieldError, Validation
from ehforms.ledger import Ledger, Seen
from ehforms.mailroom import LEDGER, Claim, Mailroom, Outcome, folder_name
from ehforms.receipts import Receipt
from ehforms.render import PRO_FORMA_MAX_PAGES, Renderer, renderer_for
from ehforms.submission import (
    check,
    errors_text,
    form_json,
    looks_like_closure,
    looks_urgent,
    may_be_urgent,
)
from ehforms.workers import bind_to_parent

log = logging.getLogger("ehforms")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def human_time(moment: dt.datetime, config: Config) -> str:
    local = moment.astimezone(config.timezone)
    return f"{local.day} {local:%B %Y} at {local:%H:%M}"


def receipt(
    *,
    submission_id: str,
    source: str,
    sha256: str | None,
    received_at: dt.datetime,
    form_type: str | None,
    decision: routing.Decision,
    errors: Iterable[FieldError] = (),
    duplicate_of: str | None = None,
    documents: Iterable[str] = (),
) -> Receipt:
    return Receipt(
        submission_id=submission_id,
        source=source,
        sha256=sha256,
        received_at=received_at.astimezone(dt.UTC),
        status=decision.status,
        duplicate_of=duplicate_of,
        form_type=form_type,
        mailboxes=tuple(decision.mailboxes),
        priority=decision.priority,
        errors=tuple(errors),
        notes=tuple(decision.notes),
        documents=tuple(documents),
        due=tuple(decision.due),
    )


def render_documents(
    planned: Iterable[Planned], renderer: Renderer
) -> tuple[dict[str, bytes], list[str]]:
    """PDF and DOCX of each planned document, and notes on anything that did not fit or fail.

    A broken template never holds a form back: the form is delivered without that document,
    and the receipt says so.
    """
    files: dict[str, bytes] = {}
    notes: list[str] = []
    for plan in planned:
        title = TITLES[plan.name]
        limit = PRO_FORMA_MAX_PAGES if plan.name == PRO_FORMA else None
        try:
            made = renderer.document(plan.name, plan.context, max_pages=limit)
        except Exception as error:  # a council's template edit must not lose the form
            log.error("could not render %s (%s)", plan.name, type(error).__name__)
            notes.append(
                f"The {title.lower()} could not be made ({type(error).__name__}: {error}). "
                "Fix the template, then make it with `ehforms render`"
            )
            continue
        files[f"{plan.name}.pdf"] = made.pdf
        files[f"{plan.name}.docx"] = made.docx
        if limit is not None and made.pages > limit:
            notes.append(
                f"The {title.lower()} runs to {made.pages} pages, more than {limit}, even in "
                "smaller type: read it all before the allocations meeting"
            )
        elif made.shrunk:
            notes.append(f"The {title.lower()} is set in smaller type to fit on {limit} pages")
    return files, notes


def prepare(
    *,
    name: str,
    data: bytes,
    submission_id: str,
    received_at: dt.datetime,
    config: Config,
    renderer: Renderer | None = None,
    withheld_for: Callable[[str], list[str] | None] = lambda case_id: None,
    sha256: str | None = None,
) -> Outcome:
    """Everything about one submission but the writing: validate, route, render, receipt.

    With no ``renderer`` no documents are made (``ehforms validate`` and tests of routing).
    ``sha256`` is the whole file's, where ``data`` was cut short at the size limit.
    """
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    validation = check(name, data, received_at, config)
    decision = routing.route(validation, config, received_at)
    form = validation.data if validation.valid else validation.raw
    case_id = _case_id(validation)
    files: dict[str, bytes] = {}
    if renderer is not None:
        planned = plan_documents(
            validation.form_type,
            validation.data,
            decision,
            config,
            received_at,
            withheld=withheld_for(case_id)
            if case_id and validation.form_type == "closure"
            else None,
        )
        files, notes = render_documents(planned, renderer)
        decision = dataclasses.replace(decision, notes=decision.notes + tuple(notes))
    built = receipt(
        submission_id=submission_id,
        source=name,
        sha256=sha256,
        received_at=received_at,
        form_type=validation.form_type,
        decision=decision,
        errors=validation.errors,
        documents=files,
    )
    return Outcome(
        receipt=built,
        folder=folder_name(received_at, validation.form_type, case_id, submission_id),
        form_json=form_json(form) if decision.delivered and form is not None else None,
        errors_txt=errors_text(validation.errors) or None,
        documents=files,
        case_id=case_id,
        case_data=validation.data if decision.status == routing.ROUTED else None,
    )


def _case_id(validation: Validation) -> str | None:
    source = validation.data if validation.data is not None else validation.raw
    value = source.get("case_id") if isinstance(source, dict) else None
    return value.strip() or None if isinstance(value, str) else None


def _problem(
    *,
    name: str,
    sha256: str | None,
    submission_id: str,
    received_at: dt.datetime,
    form_type: str | None,
    decision: routing.Decision,
    message: str,
    duplicate_of: str | None = None,
) -> Outcome:
    """An outcome that is one problem: a duplicate, or a fault in ehforms itself."""
    errors = (FieldError(None, message),)
    return Outcome(
        receipt=receipt(
            submission_id=submission_id,
            source=name,
            sha256=sha256,
            received_at=received_at,
            form_type=form_type,
            decision=decision,
            errors=errors,
            duplicate_of=duplicate_of,
        ),
        folder=folder_name(received_at, form_type, None, submission_id),
        errors_txt=errors_text(errors),
    )


def duplicate(
    *,
    name: str,
    sha256: str | None,
    submission_id: str,
    received_at: dt.datetime,
    first: Seen,
    where: str,
    config: Config,
) -> Outcome:
    """The outcome of bytes seen before: ``rejected/``, saying when they came and where the
    first copy is now (``where``, from :meth:`Mailroom.whereabouts`)."""
    return _problem(
        name=name,
        sha256=sha256,
        submission_id=submission_id,
        received_at=received_at,
        form_type=first.form_type,
        decision=routing.Decision(routing.DUPLICATE),
        duplicate_of=first.submission_id,
        message=(
            f"This file was already received on {human_time(first.received_at, config)} as "
            f"submission {first.submission_id}, which {where}. It has not been sent on "
            "again. If it is a new form, change it and send it again"
        ),
    )


def fault(
    *,
    name: str,
    data: bytes,
    sha256: str | None,
    submission_id: str,
    received_at: dt.datetime,
    config: Config,
    error: BaseException | None = None,
    message: str | None = None,
) -> Outcome:
    """When ehforms itself fails on a file: MASH if it may be urgent, else ``rejected/``.

    ``message`` replaces the one naming ``error``'s type (a file that failed twice)."""
    decision = (
        routing.Decision(routing.REDIRECTED, (config.mash_mailbox,), routing.URGENT)
        if may_be_urgent(data)
        else routing.Decision(routing.REJECTED)
    )
    return _problem(
        name=name,
        sha256=sha256,
        submission_id=submission_id,
        received_at=received_at,
        form_type=None,
        decision=decision,
        message=message
        or (
            f"ehforms could not process this file because of a fault in ehforms itself "
            f"({type(error).__name__}). The file is kept here: tell the system administrator, "
            f"quoting submission {submission_id}"
        ),
    )


def set_aside(*, name: str, kind: str, submission_id: str, received_at: dt.datetime) -> Outcome:
    """An inbox entry that is not a file (a link, a pipe, a socket, a device): never opened,
    moved to the archive, and a receipt in ``rejected/`` saying what it was."""
    return _problem(
        name=name,
        sha256=None,
        submission_id=submission_id,
        received_at=received_at,
        form_type=None,
        decision=routing.Decision(routing.REJECTED),
        message=(
            f"This entry in the inbox was {kind}. ehforms never opens links, pipes or devices, "
            f"so it has been set aside (kept in .ehforms/archive/{submission_id}). Put the "
            "form itself in the inbox as a file"
        ),
    )


@dataclass
class Job:
    claim: Claim
    sha256: str | None  # None: an entry that is never read (a link, a pipe)
    kind: str | None = None  # what such an entry is
    first: Seen | None = None
    poisoned: bool = False  # ehforms failed on it twice: deliver it plainly, with a message


@dataclass
class Result:
    """What the ledger needs after a delivery (and what ``--json`` prints).

    ``error``: the outcome could not be written for a reason outside the file (a full disk, a
    missing mailbox): tried again with backoff. ``failure``: ehforms itself failed on the file
    (an exception, a worker that died): counted, and after two a plain outcome is delivered.
    """

    claim: Claim
    outcome: Outcome | None = None
    error: str | None = None
    failure: str | None = None


# -- the work one process does for one file --------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(root: Path, config: Config) -> None:
    bind_to_parent()
    mailroom = Mailroom(root, config)
    _worker["mailroom"] = mailroom
    _worker["ledger"] = Ledger(mailroom.state / LEDGER, config.file_mode, migrate_schema=False)
    renderer_for(mailroom.root).warm()


def _ready() -> bool:
    """Submitted once per worker at the start of a batch: starts (and warms) the pool early."""
    return True


def _log_fault(submission_id: str, doing: str, error: BaseException) -> None:
    """The type and place only: an exception's message may quote the form."""
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    log.error(
        "submission %s: fault while %s (%s at %s:%s)",
        submission_id,
        doing,
        type(error).__name__,
        Path(where.filename).name if where else "?",
        where.lineno if where else "?",
    )


def read_claimed(path: Path, limit: int) -> tuple[bytes, str]:
    """Up to ``limit`` bytes of a claimed file, and the SHA-256 of the whole of it, read in one
    pass through one descriptor that never follows a link: the hash is of the bytes read."""
    digest = hashlib.sha256()
    kept = bytearray()
    with os.fdopen(open_regular(path), "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            if len(kept) < limit:
                kept += chunk[: limit - len(kept)]
    return bytes(kept), digest.hexdigest()


def work(job: Job, mailroom: Mailroom | None = None, ledger: Ledger | None = None) -> Result:
    """Prepare and deliver one claimed file. Runs in a pool process or in-line; never raises."""
    try:
        return _work(job, mailroom or _worker["mailroom"], ledger or _worker["ledger"])
    except Exception as error:  # the file is kept claimed, and counted
        _log_fault(job.claim.submission_id, "delivering", error)
        return Result(job.claim, failure=type(error).__name__)


def _work(job: Job, mailroom: Mailroom, ledger: Ledger) -> Result:
    config = mailroom.config
    claim = job.claim
    sid, received_at = claim.submission_id, claim.received_at
    data = b""
    if job.kind is None:
        try:  # past the size limit, the rest is hashed but not kept
            data, sha256 = read_claimed(claim.path, config.max_file_bytes + 1)
        except NotARegularFile as odd:  # swapped for a link since it was claimed
            job = dataclasses.replace(job, kind=odd.kind, sha256=None)
        except OSError as error:
            return Result(claim, error=f"Could not read the claimed file: {error.strerror}")
        else:
            if sha256 != job.sha256:
                return Result(
                    claim,
                    error="The file changed after it was taken from the inbox (still being "
                    "written?): it is read again",
                )
    if job.kind is not None:
        outcome = set_aside(
            name=claim.source, kind=job.kind, submission_id=sid, received_at=received_at
        )
    elif job.poisoned:
        outcome = fault(
            name=claim.source,
            data=data,
            sha256=job.sha256,
            config=config,
            message=(
                "ehforms failed twice on this file (a fault in ehforms, or in a library it "
                "uses) and has stopped trying. The file is kept here: tell the system "
                f"administrator, quoting submission {claim.submission_id}"
            ),
            submission_id=sid,
            received_at=received_at,
        )
    elif job.first is not None:
        first = job.first
        outcome = duplicate(
            name=claim.source,
            sha256=job.sha256,
            first=first,
            where=mailroom.whereabouts(first.state, first.mailboxes, first.folder),
            config=config,
            submission_id=sid,
            received_at=received_at,
        )
    else:
        try:
            outcome = prepare(
                name=claim.source,
                data=data,
                config=config,
                renderer=renderer_for(mailroom.root),
                withheld_for=ledger.withheld,
                sha256=job.sha256,
                submission_id=sid,
                received_at=received_at,
            )
        except Exception as error:  # a bug must not lose the file: give it an outcome
            _log_fault(claim.submission_id, "preparing", error)
            outcome = fault(
                name=claim.source,
                data=data,
                sha256=job.sha256,
                config=config,
                error=error,
                submission_id=sid,
                received_at=received_at,
            )
    try:
        mailroom.deliver(claim, outcome)
    except DeliveryError as error:
        return Result(claim, error=str(error))
    # the documents are written: send back only what the ledger needs
    return Result(claim, dataclasses.replace(outcome, form_json=None, documents=None))


@dataclass
class Retry:
    attempts: int = 0
    not_before: float = 0.0
    reason: str = ""


def _backoff(retry: Retry, now: float, most: float) -> None:
    retry.attempts += 1
    retry.not_before = now + min(2.0**retry.attempts, most)


@dataclass
class Postroom:
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
    mailroom: Mailroom = field(init=False)
    ledger: Ledger = field(init=False)
    retries: dict[str, Retry] = field(default_factory=dict, init=False)
    inbox_faults: dict[Path, Retry] = field(default_factory=dict, init=False)
    _executor: Executor | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.mailroom = Mailroom(self.root, self.config)
        self.mailroom.check()
        self.ledger = Ledger(
            self.mailroom.state / LEDGER, self.config.file_mode, timeout=self.ledger_timeout
        )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
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
                initargs=(self.root, self.config),
            )
        return self._executor

    def _drop_executor(self) -> None:
        """After a worker died: the pool is broken, a new one is made when next needed."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def faults(self) -> list[str]:
        """What is waiting to be tried again, in words for ``status`` (no names)."""
        lines = []
        unreadable = sum(1 for r in self.inbox_faults.values() if r.reason)
        if unreadable:
            reasons = sorted({r.reason for r in self.inbox_faults.values()})
            lines.append(
                f"{unreadable} file{'s' if unreadable > 1 else ''} in the inbox cannot be "
                f"taken: {'; '.join(reasons)}"
            )
        for submission_id, retry in sorted(self.retries.items()):
            if retry.reason:
                lines.append(f"submission {submission_id}: {retry.reason}")
        return lines

    # -- claiming ---------------------------------------------------------------------

    def backlog(self) -> list[Path]:
        """The inbox's files, urgent-looking ones first, then oldest first."""
        return self._urgent_first(self.mailroom.candidates())

    @staticmethod
    def _urgent_first(paths: Iterable[Path]) -> list[Path]:
        def order(path: Path) -> tuple[int, float]:
            try:
                mtime = os.lstat(path).st_mtime
                with os.fdopen(open_regular(path), "rb") as handle:
                    head = handle.read(65536)
                return (0 if looks_urgent(head) else 1, mtime)
            except NotARegularFile:
                return (1, 0.0)  # set aside at once: nothing to wait for
            except OSError:
                return (1, 0.0)

        return sorted(paths, key=order)

    def claim(self, path: Path) -> Job | None:
        """Take one file from the inbox; None when it is gone or must wait (see faults)."""
        retry = self.inbox_faults.get(path)
        now = time.monotonic()
        if retry is not None and retry.not_before > now:
            return None
        try:
            # a file that cannot be read stays where business support can put it right
            fd = open_regular(path)
        except NotARegularFile:
            fd = None
        except FileNotFoundError:
            return None
        except OSError as error:
            self._inbox_fault(path, now, _unreadable(error))
            return None
        try:
            claim = self.mailroom.claim(path, self.clock())
            if claim is None:
                self.inbox_faults.pop(path, None)
                return None
            job = self._job(claim, fd)
        except (ClaimError, OSError) as error:
            self._inbox_fault(path, now, _claim_reason(error))
            return None
        finally:
            if fd is not None:
                os.close(fd)
        self.inbox_faults.pop(path, None)
        return job

    def _inbox_fault(self, path: Path, now: float, reason: str) -> None:
        retry = self.inbox_faults.setdefault(path, Retry())
        _backoff(retry, now, self.config.retry_max_seconds)
        if retry.reason != reason:
            log.info("a file in the inbox cannot be taken (%s): tried again later", reason)
        retry.reason = reason

    def _job(self, claim: Claim, fd: int | None = None) -> Job:
        """Hash a claimed file (through ``fd``, opened before the claim, where given)."""
        kind = claim.kind
        if kind is not None:
            log.info("submission %s: claimed (not a file: set aside)", claim.submission_id)
            return Job(claim, None, kind)
        if fd is None:
            with os.fdopen(open_regular(claim.path), "rb") as handle:
                sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            with os.fdopen(os.dup(fd), "rb") as handle:
                sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        log.info("submission %s: claimed", claim.submission_id)
        return Job(claim, sha256)

    def _record(self, jobs: list[Job]) -> None:
        self.ledger.claimed(
            (j.claim.submission_id, j.sha256, j.claim.source, j.claim.received_at) for j in jobs
        )

    def recovered(self, now: float) -> list[Job]:
        """Claims left in ``processing/`` (a stop, a crash, a failed delivery) that are due."""
        jobs = []
        for claim in self.mailroom.claims_in_processing():
            retry = self.retries.get(claim.submission_id)
            if retry is not None and retry.not_before > now:
                continue
            seen = self.ledger.get(claim.submission_id)
            if seen is not None and seen.state == "done":
                self._archive(claim)  # stopped after the ledger, before archive
                continue
            try:
                job = self._job(claim)
            except OSError as error:
                self._retry(claim.submission_id, now, _unreadable(error))
                continue
            job.poisoned = self.ledger.failures(claim.submission_id) >= FAILURES_ALLOWED
            jobs.append(job)
        return jobs

    def _retry(self, submission_id: str, now: float, reason: str) -> None:
        retry = self.retries.setdefault(submission_id, Retry())
        _backoff(retry, now, self.config.retry_max_seconds)
        retry.reason = reason

    def _archive(self, claim: Claim) -> None:
        try:
            self.mailroom.archive_claim(claim)
        except OSError as error:  # delivered and recorded: archived at the next run
            log.error(
                "submission %s: could not archive the original (%s)",
                claim.submission_id,
                error.strerror,
            )

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
        jobs = self.recovered(time.monotonic())
        backlog = self.backlog() if paths is None else self._urgent_first(paths)
        if self.workers > 1 and len(jobs) + len(backlog) > 1:
            for _ in range(self.workers):  # workers start while this process claims
                self.executor().submit(_ready)
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
        for job in jobs:
            job.first = self.ledger.first_with_hash(job.sha256, job.claim.submission_id)
            if job.first is not None:
                repeats.append(job)
            elif job.kind is None and looks_like_closure(job.claim.path):
                closures.append(job)
            else:
                firsts.append(job)
        results = self._execute(firsts, on_result)
        # a closure note shows what the family withheld, which a transfer in this same batch
        # may tell the ledger: closures go once the other forms have their outcomes
        results += self._execute(closures, on_result)
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
                results.append(self._collect(*window.popleft(), on_result, alone))
        else:
            for job in jobs:
                if self.stop.is_set():
                    break
                result = work(job, self.mailroom, self.ledger)
                results.append(self._finish(result, on_result, counted=True))
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
            outcome = result.outcome
            self.ledger.done(outcome.receipt, outcome.folder, outcome.case_id, outcome.case_data)
            self._archive(claim)
            # what is written is written: keep only the receipt, so a backlog costs no memory
            result.outcome = dataclasses.replace(
                outcome, form_json=None, documents=None, case_data=None
            )
            self.retries.pop(claim.submission_id, None)
            log.info(
                "submission %s%s: %s to %s",
                claim.submission_id,
                f" (case {log_safe(outcome.case_id)})" if outcome.case_id else "",
                outcome.receipt.status,
                ", ".join(outcome.mailboxes) or "rejected",
            )
        if on_result is not None:
            on_result(result)
        return result


# A file that ehforms fails on this many times gets a plain outcome instead of a third try.
FAILURES_ALLOWED = 2


def log_safe(text: str, limit: int = 40) -> str:
    """Text from a file, fit for one log line: control characters escaped, cut short."""
    escaped = display_name(text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def _unreadable(error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM):
        return "ehforms may not read it: check its permissions"
    return f"it cannot be read ({error.strerror or type(error).__name__})"


def _claim_reason(error: Exception) -> str:
    if isinstance(error, ClaimError):
        return str(error)
    if isinstance(error, OSError):
        return _unreadable(error)
    return type(error).__name__
