"""The application core: one API over a working root, for every face (the CLI, the web pages).

A face parses what it is given, calls a :class:`Root` method, and presents what comes back; it
holds no logic of its own. Every method here works on typed values (a :class:`Validation`, a
:class:`~ehforms.receipts.Receipt`, a :class:`Waiting`), raises only :class:`EhformsError`
subclasses for what a person can act on, and never changes the root when it only reads.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from ehforms.config import Config, load_config
from ehforms.errors import EhformsError, NotFound, RootError
from ehforms.forms import SCHEMAS, FieldError, Validation
from ehforms.mailroom import DONE, LEDGER, LOCK, STATE, Mailroom
from ehforms.names import safe_part
from ehforms.receipts import Receipt

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ehforms.accounts import Accounts
    from ehforms.audit import Audit
    from ehforms.casefile import CaseFile
    from ehforms.database import Where
    from ehforms.handling import FileRef, FormView
    from ehforms.report import Report
    from ehforms.retention import Purged

PRACTITIONER_INTRO = (
    "Fill in what you know; * marks what the form needs. Dates are DD/MM/YYYY. Save the file and "
    "send it to business support for the Early Help inbox."
)


class RootBusy(EhformsError):
    """Another ehforms process owns the root (``process`` or ``watch``)."""


@dataclass(frozen=True)
class BundleCheck:
    """What ``validate`` says of a bundle (a ZIP file or a folder): its form's validation, and
    what the bundle itself brings, lacks or leaves out."""

    validation: Validation | None  # None: no one readable form
    problem: str | None  # why the bundle would be turned away as a whole
    attachments: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]  # (entry, what is wrong)
    missing: tuple[str, ...]
    safeguarding: bool

    @property
    def form_type(self) -> str | None:
        return self.validation.form_type if self.validation is not None else None

    @property
    def errors(self) -> tuple[FieldError, ...]:
        found = (FieldError(None, self.problem),) if self.problem else ()
        return found + (self.validation.errors if self.validation is not None else ())

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Rendering:
    """``ehforms render``: the documents made, or why there are none."""

    validation: Validation
    files: dict[str, bytes]
    notes: tuple[str, ...]
    none_because: str | None = None


@dataclass(frozen=True)
class Batch:
    """One run through the inbox: each file's result, and what waits to be tried again."""

    results: list[Any]
    waiting: list[str]


@dataclass(frozen=True)
class Waiting:
    """A form waiting in a mailbox, as a listing shows it (from the ledger, where it knows
    the form; else from the folder's receipt; None fields when neither can be read)."""

    folder: str
    submission_id: str | None
    form_type: str | None
    priority: str
    received_at: dt.datetime | None
    due_at: dt.datetime | None
    case: str | None = None  # the case reference, when the form has one
    child: str | None = None  # the first child's name: filled in by ``Root.listing`` only

    @property
    def urgent(self) -> bool:
        return self.priority == "urgent"

    def overdue(self, at: dt.datetime) -> bool:
        return self.due_at is not None and self.due_at < at

    @classmethod
    def from_receipt(cls, folder: str, receipt: Receipt | None, mailbox: str = "") -> Waiting:
        """From the folder's receipt; a due belongs to the primary mailbox only (a copy
        elsewhere is never overdue), as ``status`` counts."""
        if receipt is None:
            return cls(folder, None, None, "normal", None, None)
        primary = not mailbox or receipt.mailboxes[:1] == (mailbox,)
        due = min((d.by for d in receipt.due), default=None) if primary else None
        return cls(
            folder,
            receipt.submission_id,
            receipt.form_type,
            receipt.priority.value,
            receipt.received_at,
            due,
        )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def init(directory: Path, profile: str | None = None) -> list[str]:
    """Make (or complete) a working root from a council profile; a line for each thing made."""
    from ehforms.setup import init_root

    return init_root(directory, profile)


def profiles() -> list[tuple[str, str]]:
    """The council profiles ehforms ships: (name, what it is)."""
    from ehforms.profiles import profile_names, profile_summary

    return [(name, profile_summary(name)) for name in profile_names()]


def export_schemas(folder: Path) -> list[Path]:
    from ehforms.schemas import export

    return export(folder)


class Root:
    """A working root: its configuration, folders and ledger."""

    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self.config = config
        self.mailroom = Mailroom(path, config)
        self._reader: Any = None
        self._store: Any = None
        self._accounts: Accounts | None = None
        self._audit: Audit | None = None
        self._opening = threading.Lock()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._accounts = self._audit = None

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def reader(self) -> Any:
        """The ledger, opened once for reading (never migrated or written by a reader); None
        until the root's owner has made it."""
        from ehforms.ledger import Ledger

        with self._opening:  # the web's threads share one
            if self._reader is None and self.has_ledger:
                self._reader = Ledger(self.ledger_at, migrate_schema=False)
            return self._reader

    def store(self) -> Engine:
        """The ledger's engine for the web's writes (accounts, sessions, the audit trail,
        who handled what), opened once and brought up to the newest schema."""
        from ehforms.ledger import Ledger

        with self._opening:
            if self._store is None:
                if not (self.path / STATE).is_dir():
                    raise RootError(
                        f"{self.path} is not a working root: make it with "
                        f"`ehforms init {self.path}`"
                    )
                self._store = Ledger(self.ledger_at)
            return cast("Engine", self._store.engine)

    @property
    def accounts(self) -> Accounts:
        """The root's accounts, sessions and sign-ins (see ``ehforms.accounts``)."""
        if self._accounts is None:
            from ehforms.accounts import Accounts

            self._accounts = Accounts(
                self.store(),
                self.config.mailboxes,
                idle_minutes=self.config.idle_minutes,
                session_hours=self.config.session_hours,
            )
        return self._accounts

    @property
    def audit(self) -> Audit:
        """The root's audit trail (see ``ehforms.audit``)."""
        if self._audit is None:
            from ehforms.audit import Audit

            self._audit = Audit(self.store())
        return self._audit

    @classmethod
    def open(cls, path: Path, environ: dict[str, str] | None = None) -> Root:
        """The root at ``path`` with its configuration (defaults when there is no root yet:
        ``validate`` and ``render`` work anywhere)."""
        return cls(path, load_config(path, environ=environ))

    @property
    def ledger_path(self) -> Path:
        """The SQLite ledger's file (with a PostgreSQL ledger, where it would be)."""
        return self.path / STATE / LEDGER

    @property
    def ledger_at(self) -> Where:
        """The root's ledger: the SQLite file, or the PostgreSQL database ``[ledger] url``
        names."""
        from ehforms.database import ledger_of

        return ledger_of(self.path / STATE, self.config)

    @property
    def has_ledger(self) -> bool:
        """Whether the ledger has been made: the SQLite file exists, or (PostgreSQL) the root
        has been made (its database is the council's, made by its administrator)."""
        if self.config.ledger_url:
            return (self.path / STATE).is_dir()
        return self.ledger_path.exists()

    # -- reading forms (changes nothing) -------------------------------------------------

    def check(self, name: str, data: bytes, received_at: dt.datetime) -> Validation:
        from ehforms.submission import check

        return check(name, data, received_at, self.config)

    def check_bundle(self, path: Path, received_at: dt.datetime) -> BundleCheck:
        """A bundle checked as the mailroom would take it, changing nothing."""
        from ehforms.bundles import Bundle, Limits, missing_from, read_folder, read_zip
        from ehforms.submission import check

        limits = Limits.of(self.config)
        if path.is_dir():
            bundle = read_folder(path, limits)
        else:
            with path.open("rb") as handle:
                data = handle.read(limits.bundle_bytes + 1)
            bundle = (
                read_zip(data, limits)
                if len(data) <= limits.bundle_bytes
                else Bundle(None, problem="The ZIP file is larger than a bundle may be")
            )
        checked = [check(f.name, f.data, received_at, self.config) for f in bundle.forms]
        validation = checked[0] if bundle.form is not None and checked else None
        missing: tuple[str, ...] = ()
        if validation is not None:
            content = validation.data if validation.data is not None else validation.raw
            missing = missing_from(bundle, content)
        return BundleCheck(
            validation=validation,
            problem=bundle.problem,
            attachments=tuple(a.name for a in bundle.attachments),
            left_out=tuple((x.name, x.reason) for x in bundle.left_out),
            missing=missing,
            safeguarding=any(v.safeguarding or v.form_type == "marf" for v in checked),
        )

    def render(self, name: str, data: bytes, received_at: dt.datetime) -> Rendering:
        """A form's documents, made on the same path as when it is routed."""
        from ehforms.outcomes import documents_for
        from ehforms.render import renderer_for
        from ehforms.routing import REDIRECTED, route

        validation = self.check(name, data, received_at)
        if not validation.valid or validation.data is None:
            return Rendering(validation, {}, ())
        decision = route(validation, self.config, received_at)
        made = documents_for(
            validation,
            decision,
            self.config,
            received_at,
            renderer_for(self.path),
            self.withheld,
        )
        because = None
        if not made.planned:
            because = (
                f"it goes to {self.front_door} as a safeguarding concern, and no letter is "
                "written"
                if decision.status == REDIRECTED
                else f"a {validation.form_type} form has none"
            )
        return Rendering(validation, made.files, made.notes, because)

    @property
    def front_door(self) -> str:
        """What the council calls the mailbox safeguarding goes to ("MASH" unless it says)."""
        return self.config.council.front_door_name

    def withheld(self, case_id: str) -> list[str] | None:
        from ehforms.ledger import case_history_at, withheld_in

        return withheld_in(case_history_at(self.ledger_at, case_id) if self.has_ledger else [])

    def practitioner_form(
        self, form_type: str, fmt: str, case_id: str | None = None, *, by: str | None = None
    ) -> tuple[str, bytes]:
        """(title, file) of a blank form, or one prefilled from what the ledger knows of a
        case. ``fmt``: pdf, docx or json. A prefilled form is recorded in the audit trail,
        as made by ``by`` (default: the operating-system user, for the command line)."""
        from ehforms.ledger import case_history_at
        from ehforms.prefill import carried, sections, skeleton
        from ehforms.render import renderer_for

        values: dict[str, Any] = {"form_type": form_type}
        if case_id:
            history = case_history_at(self.ledger_at, case_id) if self.has_ledger else []
            values = carried(form_type, history, case_id)
            if self.has_ledger:  # no ledger: nothing of the family was shown
                from ehforms.audit import Action, os_user

                self.audit.record(
                    by or os_user(),
                    Action.PREFILLED_FORM,
                    case=case_id,
                    detail=f"{form_type} ({fmt})" + ("" if by else ", command line"),
                )
        title = self.config.council.rules(form_type).title or SCHEMAS[form_type].title
        if fmt == "json":
            text = json.dumps(skeleton(form_type, values), indent=2, ensure_ascii=False)
            return title, (text + "\n").encode()
        context = {
            "title": title,
            "intro": PRACTITIONER_INTRO,
            "sections": sections(form_type, values),
        }
        renderer = renderer_for(self.path)
        if fmt == "pdf":
            return title, renderer.pdf("form", context, forms=True)
        return title, renderer.docx("form", context)

    @staticmethod
    def form_file_name(form_type: str, fmt: str, case_id: str | None) -> str:
        return f"{form_type}{'-' + safe_part(case_id) if case_id else ''}.{fmt}"

    # -- the mailroom (the process that owns the root) ---------------------------------

    @contextmanager
    def owned(self) -> Iterator[None]:
        """One process at a time works the inbox (a second would take over the first's claims),
        unless the ledger is PostgreSQL's: then a claim is worked by the process holding its
        lock in the ledger, and any number may share the root."""
        from filelock import FileLock, Timeout

        state = self.path / STATE
        if not state.is_dir():
            raise RootError(
                f"{self.path} is not a working root: make it with `ehforms init {self.path}`"
            )
        if self.config.ledger_url:
            # a PostgreSQL ledger: several watchers share the root, each claim locked in the
            # ledger (ehforms.locks), the root's jobs run once
            yield
            return
        lock = FileLock(state / LOCK, timeout=0)
        try:
            with lock:
                yield
        except Timeout:
            raise RootBusy(
                f"Another ehforms process is already working on {self.path}: stop it first, or "
                "wait for it to finish"
            ) from None

    def process(
        self,
        *,
        workers: int | None = None,
        received_at: dt.datetime | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_claimed: Callable[[int], None] | None = None,
    ) -> Batch:
        """Everything in the inbox (and left claimed) through to its outcome, once."""
        from ehforms.overrides import check_overrides
        from ehforms.pipeline import Postroom

        check_overrides(self.path, self.config)
        clock = now if received_at is None else (lambda: received_at)
        with (
            self.owned(),
            Postroom(
                self.path, self.config, workers=worker_count(workers), clock=clock, warm=False
            ) as room,
        ):
            results = room.run(on_result=on_result, on_claimed=on_claimed)
            return Batch(results, [line for line in room.faults() if "inbox" in line])

    def watch(
        self,
        *,
        polling: float | None = None,
        workers: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Process files as they arrive, until ``stop`` is set."""
        from ehforms.overrides import check_overrides
        from ehforms.pipeline import Postroom
        from ehforms.watch import Watcher

        check_overrides(self.path, self.config)
        with (
            self.owned(),
            Postroom(self.path, self.config, workers=worker_count(workers)) as room,
        ):
            Watcher(room, polling=polling, stop=stop).run()

    def demo(self, received_at: dt.datetime) -> tuple[list[str], Batch]:
        """Make the root if needed, drop the sample forms in, and process them."""
        from ehforms.content import sample_bundles, samples

        made = init(self.path)
        for name, data in [*samples(), *sample_bundles()]:
            (self.mailroom.inbox / name).write_bytes(data)
        return made, self.process(received_at=received_at)

    # -- what waits where (reading only) ------------------------------------------------

    def status(self, at: dt.datetime) -> dict[str, Any]:
        from ehforms.status import summarise

        self.mailroom.check(create=False)
        summary = summarise(self.mailroom, at)
        summary["alerts_unsent"] = self.alerts_unsent()
        summary["alerts_set_up"] = self.config.alerts is not None
        return summary

    def alerts_unsent(self) -> int:
        """Alerts (and digests) by email that wait to be sent: 0 without a ledger yet."""
        from ehforms.alerts import Queue
        from ehforms.errors import LedgerError

        ledger = self.reader()
        if ledger is None:
            return 0
        try:
            return Queue(ledger.engine).count_unsent()
        except LedgerError:
            return 0  # a ledger not yet upgraded has queued none

    def alerts_unsent_by_mailbox(self) -> dict[str, int]:
        """Urgent alerts not yet sent, per mailbox (a mailbox with none is left out), for the
        mailbox pages."""
        from ehforms.alerts import Queue
        from ehforms.errors import LedgerError

        ledger = self.reader()
        if ledger is None:
            return {}
        try:
            return Queue(ledger.engine).unsent_by_mailbox()
        except LedgerError:
            return {}

    def digest(self, at: dt.datetime) -> list[tuple[str, int, str | None]]:
        """``ehforms digest``: what is overdue in each mailbox with alert addresses, emailed
        now (none to a mailbox where nothing is). Per mailbox: (mailbox, forms overdue, why
        it was not sent or None); ``watch`` tries a failed one again."""
        from ehforms.alerting import Dispatcher

        if self.config.alerts is None or not self.config.alerts.to:
            raise NotFound(
                "Alerts by email are not set up: add an [alerts] table with host, from and "
                "to addresses to ehforms.toml (see docs/alerts.md)"
            )
        return Dispatcher(self.path, self.config, self.store()).digest_now(at)

    def mailbox(self, mailbox: str, at: dt.datetime | None = None) -> list[Waiting]:
        """The forms waiting in a mailbox: urgent first, then overdue (as of ``at``), then
        oldest. The ledger says what each is; the folder on the share says whether it still
        waits (hub staff may have moved it into ``done/`` by hand)."""
        from ehforms.errors import LedgerError

        self._known(mailbox)
        base = self.mailroom.outbox / mailbox
        try:
            present = {
                entry.name
                for entry in os.scandir(base)
                if entry.name != DONE
                and not entry.name.startswith(".")
                and entry.is_dir(follow_symlinks=False)
            }
        except FileNotFoundError:
            return []
        found: dict[str, Waiting] = {}
        ledger = self.reader()
        if ledger is not None:
            try:
                for row in ledger.delivered_to(f"outbox/{mailbox}", present):
                    if row.folder in present:  # (asked for these only)
                        found[row.folder] = Waiting(
                            row.folder,
                            row.submission_id,
                            row.form_type,
                            row.priority,
                            row.received_at,
                            row.due_at,
                            row.case_id,
                        )
            except LedgerError:
                pass  # a ledger not yet upgraded: the receipts say the same
        for folder in present - set(found):  # copied in by hand, or an older ledger
            found[folder] = Waiting.from_receipt(
                folder, self.mailroom.receipt(mailbox, folder), mailbox
            )
        when = at or now()
        return sorted(
            found.values(),
            key=lambda w: (not w.urgent, not w.overdue(when), w.received_at or when, w.folder),
        )

    def listing(self, mailbox: str, rows: list[Waiting]) -> list[Waiting]:
        """The rows of one page of a listing with each form's first child's name (read from
        their folders: call it for a page, not the whole mailbox)."""
        from dataclasses import replace

        from ehforms.handling import first_child

        self._known(mailbox)
        named = []
        for row in rows:
            try:
                path = self.mailroom.outbox / mailbox / row.folder / "form.json"
                data = json.loads(path.read_bytes())
            except (OSError, ValueError):
                data = None
            named.append(replace(row, child=first_child(data if isinstance(data, dict) else None)))
        return named

    def counts(self, at: dt.datetime) -> dict[str, dict[str, int]]:
        """Per mailbox: waiting, urgent, overdue, as ``ehforms status`` counts them."""
        from ehforms.handling import counts

        return counts(self, at)

    def form_view(self, mailbox: str, submission_id: str) -> FormView:
        """A mailbox's copy of a submission as its page shows it; NotFound when there is none
        (an unknown mailbox, an id that is not one, a copy in neither the mailbox nor done/)."""
        from ehforms.handling import form_view

        return form_view(self, mailbox, submission_id)

    def form_file(self, mailbox: str, submission_id: str, n: int) -> tuple[FileRef, Path]:
        """The ``n``th file the receipt names (documents, then attachments), from 1."""
        from ehforms.handling import form_file

        return form_file(self, mailbox, submission_id, n)

    def open_form_file(self, mailbox: str, submission_id: str, n: int) -> tuple[FileRef, BinaryIO]:
        """As ``form_file``, opened (never through a link): the safer call for serving."""
        from ehforms.handling import open_form_file

        return open_form_file(self, mailbox, submission_id, n)

    def mark_handled(self, mailbox: str, folder: str, *, by: str | None = None) -> Path:
        """Move a form's folder into the mailbox's ``done/``, as hub staff would on the share.

        With ``by`` (a person, for the pages and the audit trail), ``folder`` is the
        submission id: AlreadyHandled the second time, FolderBusy when it cannot be moved,
        NotFinished while the watcher works on it, NotFound when it is not there."""
        if by is not None:
            from ehforms.handling import mark_handled

            return mark_handled(self, mailbox, folder, by, now())
        self._known(mailbox)
        missing = NotFound(f"There is no form {folder!r} waiting in {mailbox}")
        if folder != safe_part(folder, 255) or folder.startswith(".") or folder == DONE:
            raise missing
        source = self.mailroom.outbox / mailbox / folder
        target = self.mailroom.outbox / mailbox / DONE / folder
        if not source.is_dir() or target.exists():
            raise missing
        try:
            os.rename(source, target)
        except FileNotFoundError:  # handled by someone else a moment ago
            raise missing from None
        return target

    def _known(self, mailbox: str) -> None:
        if mailbox not in self.config.mailboxes:
            raise NotFound(f"There is no mailbox called {mailbox}")

    # -- accepting a form ---------------------------------------------------------------

    def send(
        self,
        form: tuple[str, bytes],
        attachments: list[tuple[str, bytes]] | None = None,
        *,
        sent_by: str | None = None,
        received_at: dt.datetime | None = None,
    ) -> str:
        """A form sent with its attachments (the web's ``/send``): given its submission id and
        time of receipt now, and claimed at once for the watcher to finish (a bundle's folder
        when it has attachments: the same path as one dropped in the inbox). Returns the
        submission id."""
        self.mailroom.check()
        claim = self.mailroom.accept(form, attachments or [], received_at or now(), sent_by)
        return claim.submission_id

    def submit(self, name: str, data: bytes) -> Path:
        """Put a form into the inbox whole: written under a temporary name the watcher
        ignores, then renamed in (so it is never read half-written)."""
        from ehforms.files import display_name

        safe = safe_part(display_name(name), 80) or "form"
        inbox = self.mailroom.inbox
        temporary = inbox / f".incoming-{safe}-{os.getpid()}-{threading.get_ident()}.part"
        self.mailroom.write_file(temporary, data)
        for n in range(1000):
            target = inbox / (safe if n == 0 else f"{n}-{safe}")
            try:
                os.link(temporary, target)  # never replaces a file already waiting
            except FileExistsError:
                continue
            except OSError:  # a share without hard links: a rename, if the name is free
                if target.exists():
                    continue
                os.rename(temporary, target)
                return target
            os.unlink(temporary)
            return target
        os.unlink(temporary)
        raise RootError("The inbox has too many files of that name: try again later")

    # -- the weekly report (counts only) ---------------------------------------------------

    def report(self, weeks: int = 8, at: dt.datetime | None = None) -> Report:
        """The weekly report as of ``at`` (default now): the last ``weeks`` complete weeks
        and the current one, from the ledger, with what waits and is overdue now as
        ``status`` counts it (see ``ehforms.report``)."""
        from ehforms.registry import NAMES
        from ehforms.report import figures

        when = at or now()
        values: dict[str, Any] = {
            "at": when,
            "zone": self.config.timezone,
            "weeks": weeks,
            "mailboxes": list(self.config.mailboxes),
            "form_types": list(NAMES),
            # what waits and is overdue, as ``ehforms status`` counts it (the folders' receipts)
            "waiting": self.status(when)["mailboxes"],
        }
        ledger = self.reader()
        if ledger is None:
            return figures(None, **values)
        with ledger.reading() as connection:
            return figures(connection, **values)

    def report_as(
        self,
        report: Report,
        fmt: str,
        names: Mapping[str, str] | None = None,
        downloads: Sequence[tuple[str, str]] = (),
    ) -> str | bytes:
        """The report as ``csv`` (text), ``html`` (the body of the web page, with its charts),
        ``page`` (a page of its own, its stylesheet within) or ``pdf`` (bytes, through
        WeasyPrint), from the root's ``report-body.html``.
        ``names``: what people call each mailbox; ``downloads``: (text, address) links."""
        from ehforms.report import csv_text

        if fmt == "csv":
            return csv_text(report)
        from ehforms import report_render
        from ehforms.render import renderer_for

        values = report_render.context(
            report, names or {}, council=self.config.council_name, downloads=downloads
        )
        renderer = renderer_for(self.path)
        if fmt == "pdf":
            return report_render.pdf(renderer, values)
        if fmt == "page":
            return report_render.page(renderer, values)
        return report_render.html(renderer, values)

    # -- keeping and deleting (forms.md "Keeping and deleting") -------------------------

    def purge(self, at: dt.datetime, dry_run: bool = False, *, by: str | None = None) -> Purged:
        """Delete what is past its retention time as of ``at`` (``dry_run``: say what would
        go, changing nothing). Owns the root (RootBusy while ``watch`` runs; with a PostgreSQL
        ledger, while another process purges), except for a dry run, which writes nothing.
        ``by``: who, for the audit row (default: the operating-system user)."""
        from ehforms.locks import PURGE, once
        from ehforms.purging import Purge

        if dry_run:
            return Purge(self.path, self.config, self.store()).run(at, dry_run=True)
        with self.owned():
            engine = self.store()
            # a PostgreSQL ledger's root is shared: one purge at a time, by the job's lock that
            # the watchers' daily purge takes too (always ours on SQLite, owned above)
            with once(engine, PURGE) as mine:
                if not mine:
                    raise RootBusy(
                        f"Another ehforms process is purging {self.path}: wait for it to finish"
                    )
                return Purge(self.path, self.config, engine).run(at, who=by)

    def case(self, ref: str) -> CaseFile:
        """Everything the root holds about a case, for a subject access request; NotFound
        when it holds nothing."""
        from ehforms.casefile import find

        reader = self.reader()
        found = find(self.path, self.config, reader.engine if reader else None, ref)
        if found.empty:
            raise NotFound(f"ehforms holds nothing about case {ref.strip()}")
        return found

    def export_case(
        self, ref: str, folder: Path, *, by: str | None = None
    ) -> tuple[CaseFile, list[str]]:
        """Copy everything held about a case into ``folder`` (new or empty), with an index
        and a README for the data protection officer; recorded in the audit trail as done by
        ``by`` (default: the operating-system user)."""
        from ehforms.audit import Action, os_user
        from ehforms.casefile import check_target, export

        found = self.case(ref)
        check_target(folder, self.path)
        self.audit.record(
            by or os_user(),
            Action.EXPORTED_CASE,
            case=found.ref,
            detail=None if by else "command line",  # not the folder: it may carry a name
        )
        found = self.case(ref)  # with the export's own audit row
        written = export(self.path, found, folder, now())
        return found, written


    # -- the practitioners' pages (see ehforms.practitioners) ---------------------------

    def private_temporary(self) -> Path:
        """A folder under the root (0700) for a face's own temporary files."""
        return self.mailroom.private_temporary()

    def case_history(self, case_id: str) -> list[tuple[str, Any]]:
        """What routed forms said of a case, oldest first (none without a ledger)."""
        from ehforms.ledger import case_history_at

        return case_history_at(self.ledger_at, case_id)

    def prefill(
        self,
        account: Any,
        form_type: str,
        fmt: str,
        case_id: str,
        date_of_birth: dt.date,
        at: dt.datetime | None = None,
    ) -> tuple[str, bytes]:
        """A form prefilled for a case ``account`` works on: CaseRefused (one for every
        reason), TooManyTries after ten look-ups in an hour."""
        from ehforms.practitioners import prefill

        return prefill(self, account, form_type, fmt, case_id, date_of_birth, at or now())

    def allow_prefill(self, mailbox: str, submission_id: str, email: str, *, by: str) -> None:
        from ehforms.practitioners import allow_prefill

        allow_prefill(self, mailbox, submission_id, email, by=by)

    def prefill_allowed(self, mailbox: str, submission_id: str) -> set[str]:
        from ehforms.practitioners import practice

        return practice(self).allowed(submission_id, mailbox)

    def incoming(self, at: dt.datetime | None = None) -> tuple[str, Path]:
        """A new submission id and the private folder to stream a sent form into."""
        from ehforms.practitioners import incoming

        return incoming(self, at or now())

    def send_upload(self, upload: Any, *, sent_by: str) -> Any:
        """A streamed form checked and, unless it has problems (or whatever they are, when it
        is a safeguarding concern), claimed for the watcher (``practitioners.Sending``)."""
        from ehforms.practitioners import send

        return send(self, upload, sent_by)

    def discard_upload(self, home: Path) -> None:
        self.mailroom.discard_incoming(home)

    def sent_forms(self, email: str) -> list[Any]:
        from ehforms.practitioners import sent_forms

        return sent_forms(self, email)

    def sent_form(self, email: str, submission_id: str) -> Any:
        from ehforms.practitioners import sent_form

        return sent_form(self, email, submission_id)

    def taken(self, submission_id: str) -> bool:
        """Whether the watcher has taken a sent form."""
        from ehforms.practitioners import taken

        return taken(self, submission_id)

    def watcher_alive(self, at: dt.datetime | None = None) -> bool:
        from ehforms.practitioners import watcher_alive

        return watcher_alive(self, at or now())


def worker_count(workers: int | None) -> int:
    return workers or os.cpu_count() or 1
