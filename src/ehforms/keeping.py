"""The commands for what a root keeps (forms.md "Keeping and deleting"): ``purge`` (what is
past its time), ``case`` (everything held about a case, and its export for a subject access
request) and ``report`` (the weekly figures). Like ``cli``: parse, call the core, print.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ehforms.cliparts import ToolError, fail, open_root, parse_time, root_option
from ehforms.errors import NotFound


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


PURGED_KINDS = {
    "handled": ("handled folder", None),
    "rejected": ("rejected folder", None),
    "archived": ("archived original", None),
}


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted, changing nothing.")
@click.option(
    "--now",
    "at",
    metavar="TIME",
    help="Judge ages as of this time (default: now), like 2026-11-27T02:00:00+00:00.",
)
@root_option
def purge(dry_run: bool, at: str | None, root: Path) -> None:
    """Delete what is past its retention time ([retention] in ehforms.toml): handled folders,
    rejected folders, archived originals, prefill data and audit rows. Forms still waiting in
    a mailbox and cases on legal hold are kept. Says what it deleted by submission id and
    count, never by name; watch runs it once a day.

    Exit status 2 when another ehforms (watch) is working on the root: stop it first.
    """
    report = open_root(root).purge(parse_time(at), dry_run=dry_run)
    verb = "Would delete" if dry_run else "Deleted"
    for kind, (one, many) in PURGED_KINDS.items():
        ids = report.deleted[kind]
        line = f"{verb} {_plural(len(ids), one, many)}"
        click.echo(line + (f": {', '.join(ids)}" if ids else ""))
    click.echo(
        f"{'Would erase' if dry_run else 'Erased'} the prefill data of "
        f"{_plural(report.cases, 'case')}"
    )
    click.echo(f"{verb} {_plural(report.audit_rows, 'audit row')}")
    click.echo(
        f"{'Would blank' if dry_run else 'Blanked'} the ledger's details of "
        f"{_plural(report.blanked, 'submission')} (their hashes, outcomes and dates are kept)"
    )
    for problem in report.problems:
        click.echo(problem, err=True)


@click.command("case")
@click.argument("ref")
@click.option(
    "--export",
    "folder",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Copy it all into DIR (new or empty), with an index, for a subject access request.",
)
@root_option
def case(ref: str, folder: Path | None, root: Path) -> None:
    """List everything the root holds about case REF: forms (and forms without a case
    reference naming the same child), documents, attachments, receipts, archived originals,
    prefill data and audit rows. With --export, copy it into DIR for review and redaction
    before disclosure (recorded in the audit trail).

    Exit status 1 when the root holds nothing about the case, or DIR is not new or empty.
    """
    from ehforms.errors import ExportRefused

    opened = open_root(root)
    try:
        if folder is not None:
            found, written = opened.export_case(ref, folder)
        else:
            found, written = opened.case(ref), []
    except (NotFound, ExportRefused) as error:
        fail(str(error))
        return
    zone = opened.config.timezone
    click.echo(f"Case {found.ref}")
    if found.on_hold:
        click.echo("On legal hold: the purge deletes nothing of it")
    click.echo(f"Forms: {len(found.forms)}")
    for form in found.forms:
        when = (
            form.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if form.received_at
            else "time unknown"
        )
        by = "" if form.matched_by == "case reference" else f" (matched by {form.matched_by})"
        click.echo(
            f"  {form.submission_id or 'no submission id'}  {form.form_type or 'not a form'}  "
            f"{form.status or 'status unknown'}  received {when}  {form.folder}{by}"
        )
        for held in form.files:
            click.echo(f"    {held.kind}: {held.path}")
    click.echo(f"Originals in the archive: {len(found.archived)}")
    for held in found.archived:
        click.echo(f"  {held.path}")
    click.echo(f"Prefill data: {_plural(len(found.prefill), 'form')}")
    if found.withdrawn_on:
        click.echo(
            f"Consent withdrawn on {found.withdrawn_on}: the prefill data from before then "
            "is erased"
        )
    click.echo(f"Audit rows: {len(found.audit)}")
    for row in found.audit:
        parts = [row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), row.who, row.action]
        if row.submission_id:
            parts.append(f"submission {row.submission_id}")
        if row.detail:
            parts.append(row.detail)
        click.echo("  " + "  ".join(parts))
    if folder is not None:
        click.echo(
            f"Exported {_plural(len(written), 'file')} to {folder}: start with index.txt, and "
            "review and redact it before disclosure (README.txt says why)"
        )


@click.command("report")
@root_option
@click.option(
    "--weeks",
    type=click.IntRange(1, 104),
    default=8,
    show_default=True,
    help="How many complete weeks before the current one.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "csv"]),
    default="html",
    show_default=True,
    help="A web page, a PDF (WeasyPrint, from the same HTML), or a CSV of one row per week, "
    "mailbox and form type.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: standard output; a PDF is not written to a terminal).",
)
@click.option(
    "--now",
    "at",
    metavar="TIME",
    help="Report as of this time (default: now), like 2026-11-27T08:00Z.",
)
def report(root: Path, weeks: int, fmt: str, output: Path | None, at: str | None) -> None:
    """The weekly report: forms received each week by form type and by mailbox, outcomes,
    hours from receipt to handled per mailbox, and what is overdue now (counts only, from the
    ledger). Weeks start Monday 00:00 in the council's time zone; the current week is the
    last, up to now."""
    opened = open_root(root)
    made = opened.report(weeks, parse_time(at))
    if fmt == "csv":
        content: str | bytes = opened.report_as(made, "csv")
    else:
        names = {m: opened.config.mailbox_name(m) for m in opened.config.mailboxes}
        content = opened.report_as(made, "page" if fmt == "html" else fmt, names)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if output is None:
        stream = sys.stdout.buffer
        if fmt == "pdf" and stream.isatty():
            raise ToolError("A PDF is not written to a terminal: give -o FILE")
        stream.write(data)
        stream.flush()
        return
    _write_private(output, data)
    click.echo(f"Wrote {output}", err=True)


def _write_private(path: Path, data: bytes) -> None:
    """The file the person asked for, readable by them alone (0600), replaced whole."""
    import os

    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
