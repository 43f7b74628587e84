"""The root as every face calls it: :class:`Root`, its areas composed (``core.mailboxes``,
``core.practitioners``, ``core.records``) over ``core.base``, with what is the root's own:
checking and rendering a form, the mailroom's runs (process, watch, demo), what waits where
(status), the digest; and making a root.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ehforms.core.mailboxes import Mailboxes
from ehforms.core.practitioners import Practitioners
from ehforms.core.records import Records
from ehforms.core.values import Batch, BundleCheck, Rendering, now
from ehforms.errors import NotFound
from ehforms.forms import Validation


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


class Root(Mailboxes, Practitioners, Records):
    """A working root: its configuration, folders and ledger."""

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

    # -- the mailroom (the process that owns the root) ---------------------------------

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


def worker_count(workers: int | None) -> int:
    return workers or os.cpu_count() or 1
