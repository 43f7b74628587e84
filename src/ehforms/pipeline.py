"""One submission from bytes to outcome, and the batch that takes the inbox through it.

:func:`prepare` is pure: bytes, name, id and time of receipt in; an :class:`Outcome` (receipt,
folder name, normalised form, errors) out. :class:`Postroom` does the I/O around it: claims
files, records them in the ledger, spots duplicates, hands the work to a pool of processes
where the work is heavy, delivers, and retries a delivery that failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import multiprocessing
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
from ehforms.errors import DeliveryError
from ehforms.forms import FieldError, Validation
from ehforms.ledger import Ledger, Seen
from ehforms.mailroom import LEDGER, Claim, Mailroom, Outcome, folder_name
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
    sha256: str,
    received_at: dt.datetime,
    form_type: str | None,
    decision: routing.Decision,
    errors: Iterable[FieldError] = (),
    duplicate_of: str | None = None,
    documents: Iterable[str] = (),
) -> dict[str, Any]:
    return {
        "submission_id": submission_id,
        "source": source,
        "sha256": sha256,
        "received_at": received_at.astimezone(dt.UTC).isoformat(),
        "status": decision.status,
        "duplicate_of": duplicate_of,
        "form_type": form_type,
        "mailboxes": list(decision.mailboxes),
        "priority": decision.priority,
        "errors": [e.as_dict() for e in errors],
        "notes": list(decision.notes),
        "documents": list(documents),
        "due": [d.as_dict() for d in decision.due],
    }


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
    sha256: str,
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
    sha256: str,
    submission_id: str,
    received_at: dt.datetime,
    first: Seen,
    config: Config,
) -> Outcome:
    """The outcome of bytes seen before: ``rejected/``, saying when and where they went."""
    where = (
        f"outbox/{first.mailboxes[0]}/{first.folder}"
        if first.mailboxes
        else f"rejected/{first.folder or ''}"
    )
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
            f"submission {first.submission_id} and went to {where}. It has not been sent on "
            "again. If it is a new form, change it and send it again"
        ),
    )


def fault(
    *,
    name: str,
    data: bytes,
    sha256: str,
    submission_id: str,
    received_at: dt.datetime,
    config: Config,
    error: BaseException,
) -> Outcome:
    """When ehforms itself fails on a file: MASH if it may be urgent, else ``rejected/``."""
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
        message=(
            f"ehforms could not process this file because of a fault in ehforms itself "
            f"({type(error).__name__}). The file is kept here: tell the system administrator, "
            f"quoting submission {submission_id}"
        ),
    )


@dataclass
class Job:
    claim: Claim
    sha256: str
    first: Seen | None = None


@dataclass
class Result:
    """What the ledger needs after a delivery (and what ``--json`` prints)."""

    claim: Claim
    outcome: Outcome | None = None
    error: str | None = None


# -- the work one process does for one file --------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(root: Path, config: Config) -> None:
    bind_to_parent()
    mailroom = Mailroom(root, config)
    _worker["mailroom"] = mailroom
    _worker["ledger"] = Ledger(mailroom.state / LEDGER, config.file_mode)
    renderer_for(mailroom.root).warm()


def _ready() -> bool:
    """Submitted once per worker at the start of a batch: starts (and warms) the pool early."""
    return True


def work(job: Job, mailroom: Mailroom | None = None, ledger: Ledger | None = None) -> Result:
    """Prepare and deliver one claimed file. Runs in a pool process or in-line."""
    mailroom = mailroom or _worker["mailroom"]
    ledger = ledger or _worker["ledger"]
    config = mailroom.config
    claim = job.claim
    try:
        with claim.path.open("rb") as handle:  # past the size limit, the rest is not read
            data = handle.read(config.max_file_bytes + 1)
    except OSError as error:
        return Result(claim, error=f"Could not read the claimed file: {error.strerror}")
    try:
        if job.first is not None:
            outcome = duplicate(
                name=claim.source,
                sha256=job.sha256,
                submission_id=claim.submission_id,
                received_at=claim.received_at,
                first=job.first,
                config=config,
            )
        else:
            outcome = prepare(
                name=claim.source,
                data=data,
                submission_id=claim.submission_id,
                received_at=claim.received_at,
                config=config,
                renderer=renderer_for(mailroom.root),
                withheld_for=ledger.withheld,
                sha256=job.sha256,
            )
    except Exception as error:  # a bug must not lose the file: give it an outcome
        where = traceback.extract_tb(error.__traceback__)[-1]
        # the type and place only: an exception's message may quote the form
        log.error(
            "submission %s: fault while preparing (%s at %s:%s)",
            claim.submission_id,
            type(error).__name__,
            Path(where.filename).name,
            where.lineno,
        )
        outcome = fault(
            name=claim.source,
            data=data,
            sha256=job.sha256,
            submission_id=claim.submission_id,
            received_at=claim.received_at,
            config=config,
            error=error,
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


@dataclass
class Postroom:
    """Takes what is in the inbox (and what was in flight) through to an outcome."""

    root: Path
    config: Config
    workers: int = 1
    clock: Callable[[], dt.datetime] = utcnow
    mailroom: Mailroom = field(init=False)
    ledger: Ledger = field(init=False)
    retries: dict[str, Retry] = field(default_factory=dict, init=False)
    _executor: Executor | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.mailroom = Mailroom(self.root, self.config)
        self.mailroom.check()
        self.ledger = Ledger(self.mailroom.state / LEDGER, self.config.file_mode)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=False)
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

    # -- claiming ---------------------------------------------------------------------

    def backlog(self) -> list[Path]:
        """The inbox's files, urgent-looking ones first, then oldest first."""
        return self._urgent_first(self.mailroom.candidates())

    @staticmethod
    def _urgent_first(paths: Iterable[Path]) -> list[Path]:
        def order(path: Path) -> tuple[int, float]:
            try:
                with path.open("rb") as handle:
                    head = handle.read(65536)
                return (0 if looks_urgent(head) else 1, path.stat().st_mtime)
            except OSError:
                return (1, 0.0)

        return sorted(paths, key=order)

    def claim(self, path: Path) -> Job | None:
        claim = self.mailroom.claim(path, self.clock())
        return None if claim is None else self._job(claim)

    def _job(self, claim: Claim) -> Job:
        with claim.path.open("rb") as handle:
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
                self.mailroom.archive_claim(claim)  # stopped after the ledger, before archive
                continue
            jobs.append(self._job(claim))
        return jobs

    # -- processing -------------------------------------------------------------------

    def run(
        self,
        paths: Iterable[Path] | None = None,
        on_result: Callable[[Result], None] | None = None,
        on_claimed: Callable[[int], None] | None = None,
    ) -> list[Result]:
        """Process what was in flight and then ``paths`` (default: the whole inbox), once."""
        jobs = self.recovered(time.monotonic())
        backlog = self.backlog() if paths is None else self._urgent_first(paths)
        if self.workers > 1 and len(jobs) + len(backlog) > 1:
            for _ in range(self.workers):  # workers start while this process claims
                self.executor().submit(_ready)
        for path in backlog:
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
            elif looks_like_closure(job.claim.path):
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
        return results

    def _execute(self, jobs: list[Job], on_result: Callable[[Result], None] | None) -> list[Result]:
        """Run jobs in the pool (in order, a few per worker in flight at once) or in-line."""
        results: list[Result] = []
        if self.workers > 1 and len(jobs) > 1:
            window: deque[Future[Result]] = deque()
            pending = iter(jobs)
            for job in pending:
                window.append(self.executor().submit(work, job))
                if len(window) >= self.workers * 4:
                    results.append(self._finish(window.popleft().result(), on_result))
            while window:
                results.append(self._finish(window.popleft().result(), on_result))
        else:
            for job in jobs:
                results.append(self._finish(work(job, self.mailroom, self.ledger), on_result))
        return results

    def _finish(self, result: Result, on_result: Callable[[Result], None] | None) -> Result:
        claim = result.claim
        if result.error is not None or result.outcome is None:
            retry = self.retries.setdefault(claim.submission_id, Retry())
            retry.attempts += 1
            delay = min(2.0**retry.attempts, self.config.retry_max_seconds)
            retry.not_before = time.monotonic() + delay
            log.error(
                "submission %s: %s (try %d)", claim.submission_id, result.error, retry.attempts
            )
        else:
            outcome = result.outcome
            self.ledger.done(outcome.receipt, outcome.folder, outcome.case_id, outcome.case_data)
            self.mailroom.archive_claim(claim)
            # what is written is written: keep only the receipt, so a backlog costs no memory
            result.outcome = dataclasses.replace(
                outcome, form_json=None, documents=None, case_data=None
            )
            self.retries.pop(claim.submission_id, None)
            log.info(
                "submission %s%s: %s to %s",
                claim.submission_id,
                f" (case {outcome.case_id})" if outcome.case_id else "",
                outcome.receipt["status"],
                ", ".join(outcome.mailboxes) or "rejected",
            )
        if on_result is not None:
            on_result(result)
        return result
