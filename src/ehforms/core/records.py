"""What a root keeps, for the managers and the data protection officer: the weekly report
(``ehforms.report``), the purge of what is past its time (``ehforms.purging``), and
everything held about a case and its export (``ehforms.casefile``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ehforms.core.base import RootBase, RootBusy
from ehforms.core.values import now
from ehforms.errors import NotFound

if TYPE_CHECKING:
    from ehforms.casefile import CaseFile
    from ehforms.report import Report
    from ehforms.retention import Purged


class Records(RootBase):
    """``Root``'s report, purge and case files."""

    if TYPE_CHECKING:  # in ``Root`` itself (core.root)

        def status(self, at: dt.datetime) -> dict[str, Any]: ...

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

    def case_history(self, case_id: str) -> list[tuple[str, Any]]:
        """What routed forms said of a case, oldest first (none without a ledger)."""
        from ehforms.ledger import case_history_at

        return case_history_at(self.ledger_at, case_id)
