"""The work one process does for one claimed file: read it (hashing exactly the bytes read),
build its outcome, deliver it. Runs in a pool worker or in-line; never raises."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ehforms import routing
from ehforms.bundles import Bundle, Limits, read_folder, read_zip
from ehforms.config import Config
from ehforms.errors import DeliveryError, LedgerError
from ehforms.files import NotARegularFile, display_name, open_regular
from ehforms.mailroom import Claim, Mailroom, Outcome
from ehforms.outcomes import build, prepare, prepare_bundle
from ehforms.render import renderer_for
from ehforms.submission import may_be_urgent
from ehforms.workers import bind_to_parent

if TYPE_CHECKING:
    from ehforms.ledger import Ledger, Seen

log = logging.getLogger("ehforms")


@dataclass
class Job:
    claim: Claim
    sha256: str | None  # None: an entry that is never read (a link, a pipe)
    kind: str | None = None  # what such an entry is
    first: Seen | None = None
    poisoned: bool = False  # ehforms failed on it twice: deliver it plainly, with a message
    recovered: bool = False  # found in processing/ (its first bytes not looked at this run)
    # a bundle's form's own hash (``sha256`` is then the bundle's identity); for a lone file None
    form_sha256: str | None = None
    same_form_as: str | None = None  # the first submission of the same form, other attachments


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


def _init_worker(root: Path, config: Config, warm: bool = True) -> None:
    """A pool process's start. ``warm``: load the PDF engine and fonts now, so that a daemon's
    first form with documents does not wait for them; a batch leaves them to the first form
    that has documents, so a burst of forms that make none never holds them in memory."""
    bind_to_parent()
    mailroom = Mailroom(root, config)
    _worker["mailroom"] = mailroom
    _worker["ledger"] = LazyLedger(mailroom.state, config)
    if warm:
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


def read_bundle(claim: Claim, limits: Limits) -> tuple[Bundle, str, bytes]:
    """A claimed bundle read (a ZIP in memory, a folder entry by entry): the bundle, its
    identity, and the ZIP's own bytes (empty for a folder)."""
    if claim.bundle == "folder":
        bundle = read_folder(claim.path, limits)
        return bundle, _identity(bundle, None, claim.submission_id), b""
    data, sha256 = read_claimed(claim.path, limits.bundle_bytes + 1)
    if len(data) > limits.bundle_bytes:
        bundle = Bundle(
            None,
            problem=f"The ZIP file is larger than {limits.bundle_bytes // (1024 * 1024)} MB: "
            "send fewer or smaller attachments",
        )
    else:
        bundle = read_zip(data, limits)
    return bundle, _identity(bundle, sha256, claim.submission_id), data


def _identity(bundle: Bundle, sha256: str | None, submission_id: str) -> str:
    """The contract's identity, from what was read; a bundle with nothing readable in it is
    known by the ZIP's own hash (a folder's: never the same as another's)."""
    if bundle.forms or bundle.form is not None or bundle.attachments:
        return bundle.identity
    return sha256 or hashlib.sha256(f"folder {submission_id}".encode()).hexdigest()


def job_for(claim: Claim, fd: int | None = None, limits: Limits | None = None) -> Job:
    """A claimed file's job: its hash, through ``fd`` (opened before the claim) where given;
    an entry that is not a file gets none, and is set aside. A bundle's hash is its identity."""
    kind = claim.kind
    if kind is not None:
        log.info("submission %s: claimed (not a file: set aside)", claim.submission_id)
        return Job(claim, None, kind)
    if claim.bundle is not None:
        bundle, identity, _ = read_bundle(claim, limits or Limits())
        log.info("submission %s: claimed (a bundle)", claim.submission_id)
        return Job(claim, identity, form_sha256=bundle.form.sha256 if bundle.form else None)
    if fd is None:
        with os.fdopen(open_regular(claim.path), "rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(fd), "rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    log.info("submission %s: claimed", claim.submission_id)
    return Job(claim, sha256)


class LazyLedger:
    """A worker's view of the ledger, opened the first time it is asked (for a closure's
    withheld list): a burst without closures never loads the database layer (SQLAlchemy) in
    a worker, which saves each worker its import time and its memory."""

    def __init__(self, state: Path, config: Config) -> None:
        self.state, self.config = state, config
        self._ledger: Ledger | None = None

    def withheld(self, case_id: str) -> list[str] | None:
        if self._ledger is None:
            from ehforms.database import ledger_of
            from ehforms.ledger import Ledger

            self._ledger = Ledger(ledger_of(self.state, self.config), migrate_schema=False)
        return self._ledger.withheld(case_id)


def work(
    job: Job, mailroom: Mailroom | None = None, ledger: Ledger | LazyLedger | None = None
) -> Result:
    """Prepare and deliver one claimed file. Runs in a pool process or in-line; never raises."""
    try:
        return _work(job, mailroom or _worker["mailroom"], ledger or _worker["ledger"])
    except Exception as error:  # the file is kept claimed, and counted
        _log_fault(job.claim.submission_id, "delivering", error)
        return Result(job.claim, failure=type(error).__name__)


def _work(job: Job, mailroom: Mailroom, ledger: Ledger | LazyLedger) -> Result:
    config = mailroom.config
    claim = job.claim
    sid, received_at = claim.submission_id, claim.received_at
    data = b""
    bundle = None
    if job.kind is None and claim.bundle is not None:
        try:
            bundle, identity, data = read_bundle(claim, Limits.of(config))
        except NotARegularFile as odd:  # swapped for a link since it was claimed
            job = dataclasses.replace(job, kind=odd.kind, sha256=None)
        except OSError as error:
            return Result(claim, error=f"Could not read the claimed bundle: {error.strerror}")
        else:
            if identity != job.sha256:
                return Result(
                    claim,
                    error="The bundle changed after it was taken from the inbox (still being "
                    "copied?): it is read again",
                )
    elif job.kind is None:
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
    outcome = None
    facts = routing.Submission(sid, received_at)
    if job.kind is not None:
        facts = dataclasses.replace(facts, kind=job.kind)
    elif job.poisoned:
        # the thorough look (pypdf) may be what failed twice: the cheap one, failing safe
        pieces = [data] + ([f.data for f in bundle.forms] + list(bundle.unread) if bundle else [])
        facts = dataclasses.replace(
            facts,
            fault=routing.FAILED_TWICE,
            may_be_urgent=any(may_be_urgent(p, thorough=False) for p in pieces if p),
        )
    elif job.first is not None:
        first = job.first
        where = mailroom.whereabouts(first.state, first.mailboxes, first.folder)
        earlier = routing.Earlier(first.submission_id, first.received_at, first.form_type, where)
        facts = dataclasses.replace(facts, earlier=earlier)
    else:
        try:
            if bundle is not None:
                outcome = prepare_bundle(
                    bundle=bundle,
                    source=claim.source,
                    identity=job.sha256 or "",
                    raw=data,
                    config=config,
                    renderer=renderer_for(mailroom.root),
                    withheld_for=ledger.withheld,
                    submission_id=sid,
                    received_at=received_at,
                    same_form_as=job.same_form_as,
                )
            else:
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
        except LedgerError as error:  # busy for a closure's withheld list: try again later
            return Result(claim, error=str(error))
        except MemoryError:  # not the form's fault alone: counted, and tried again alone
            return Result(claim, failure="MemoryError")
        except Exception as error:  # a bug must not lose the file: give it an outcome
            _log_fault(claim.submission_id, "preparing", error)
            pieces = [data] + (
                [f.data for f in bundle.forms] + list(bundle.unread) if bundle else []
            )
            facts = dataclasses.replace(
                facts,
                fault=type(error).__name__,
                may_be_urgent=any(may_be_urgent(p) for p in pieces if p) or not any(pieces),
            )
    if outcome is None:
        outcome = build(
            facts, routing.decide(facts, config), source=claim.source, sha256=job.sha256
        )
    sent_by = claim.sent_by
    if sent_by is not None:
        outcome = dataclasses.replace(
            outcome, receipt=dataclasses.replace(outcome.receipt, sent_by=sent_by)
        )
    try:
        mailroom.deliver(claim, outcome)
    except DeliveryError as error:
        return Result(claim, error=str(error))
    # the documents are written: send back only what the ledger needs
    return Result(claim, dataclasses.replace(outcome, form_json=None, documents=None))


def log_safe(text: str, limit: int = 40) -> str:
    """Text from a file, fit for one log line: control characters escaped, cut short."""
    escaped = display_name(text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"
