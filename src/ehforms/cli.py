"""The ``ehforms`` command. Turns the library's errors into messages and exit codes.

Heavy libraries (marshmallow schemas, WeasyPrint, watchdog) are imported inside commands, so
``ehforms --help`` stays quick.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ehforms.cliparts import (
    EXIT_INVALID,
    EXIT_TOOL,
    ToolError,
    open_root,
    parse_time,
    root_option,
)
from ehforms.present import bundle_lines, message_for, validation_lines
from ehforms.registry import NAMES as FORM_TYPES


class Ehforms(click.Group):
    """The command group: whatever a command fails on ends as one line and exit status 2,
    never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            raise ToolError(message_for(error)) from error


@click.group(cls=Ehforms, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ehforms")
def cli() -> None:
    """Early Help forms: validate, route to hub mailboxes, render documents.

    Business support drop forms into inbox/; `ehforms watch` (or `process`) routes each to
    its hub mailbox under outbox/, or to rejected/ with a receipt saying what to fix.
    """


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--received-at",
    metavar="TIMESTAMP",
    help="Check the form as if received at this time (default: now), like 2026-11-24T09:00Z.",
)
@root_option
def validate(files: tuple[Path, ...], as_json: bool, received_at: str | None, root: Path) -> None:
    """Say what is wrong with each form FILE, changing nothing.

    A ZIP file or a folder is checked as a bundle: its form, its attachments, what the form
    names that it lacks, and what would be left out.

    Exit status: 0 when every form is valid, 1 when any is not, 2 when a file cannot be read.
    """
    when = parse_time(received_at)
    opened = open_root(root)
    results: list[dict[str, Any]] = []
    unreadable = False
    for path in files:
        if path.is_dir() or path.name.lower().endswith(".zip"):  # a bundle
            try:
                bundle = opened.check_bundle(path, when)
            except OSError as error:
                click.echo(f"{path}: cannot be read ({error.strerror})", err=True)
                unreadable = True
                continue
            results.append(
                {
                    "file": str(path),
                    "valid": bundle.valid,
                    "form_type": bundle.form_type,
                    "safeguarding": bundle.safeguarding,
                    "errors": [e.as_dict() for e in bundle.errors],
                    "attachments": list(bundle.attachments),
                    "missing_attachments": list(bundle.missing),
                    "left_out": [{"entry": e, "message": m} for e, m in bundle.left_out],
                }
            )
            if not as_json:
                lines = validation_lines(str(path), bundle, opened.front_door)
                click.echo("\n".join(lines + bundle_lines(bundle)))
            continue
        try:
            data = path.read_bytes()
        except OSError as error:
            click.echo(f"{path}: cannot be read ({error.strerror})", err=True)
            unreadable = True
            continue
        checked = opened.check(path.name, data, when)
        results.append(
            {
                "file": str(path),
                "valid": checked.valid,
                "form_type": checked.form_type,
                "safeguarding": checked.safeguarding,
                "errors": [e.as_dict() for e in checked.errors],
            }
        )
        if not as_json:
            click.echo("\n".join(validation_lines(str(path), checked, opened.front_door)))
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    if unreadable:
        sys.exit(EXIT_TOOL)
    if not all(result["valid"] for result in results):
        sys.exit(EXIT_INVALID)


@cli.group()
def schema() -> None:
    """JSON Schema for the five forms, for online form builders."""


@schema.command("export")
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="The folder to write <form_type>.schema.json into.",
)
def schema_export(folder: Path) -> None:
    """Write a JSON Schema (draft 7) for each form."""
    from ehforms.core import export_schemas

    for path in export_schemas(folder):
        click.echo(f"Wrote {path}")


@cli.command()
@click.argument("form_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write the documents into.",
)
@click.option("--received-at", metavar="TIMESTAMP", help="As if received at this time.")
@root_option
def render(form_file: Path, folder: Path, received_at: str | None, root: Path) -> None:
    """Render a form's documents (PDF and DOCX) without routing it.

    Exit status 1 when the form has problems (nothing is rendered), 2 when it cannot be read.
    """
    made = open_root(root).render(form_file.name, form_file.read_bytes(), parse_time(received_at))
    if not made.validation.valid:
        for problem in made.validation.errors:
            click.echo(f"{form_file}: {problem}")
        sys.exit(EXIT_INVALID)
    if made.none_because:
        click.echo(f"{form_file}: no documents: {made.none_because}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in made.files.items():
        (folder / name).write_bytes(content)
        click.echo(f"Wrote {folder / name}")
    for note in made.notes:
        click.echo(f"Note: {note}")


@cli.command()
@click.argument("form_type", type=click.Choice(FORM_TYPES))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pdf", "docx", "json"]),
    required=True,
    help="A fillable PDF, a Word document, or JSON.",
)
@click.option(
    "--case",
    "case_id",
    metavar="CASE_ID",
    help="Prefill from what this root's ledger knows of the case.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: <form_type>[-<case>].<format> here).",
)
@root_option
def template(
    form_type: str, fmt: str, case_id: str | None, output: Path | None, root: Path
) -> None:
    """A blank form for a practitioner, or one prefilled from a case, so a family tells its
    story once.

    A filled-in PDF dropped into the inbox is read back and processed like JSON.
    """
    opened = open_root(root)
    title, content = opened.practitioner_form(form_type, fmt, case_id)
    target = output or Path(opened.form_file_name(form_type, fmt, case_id))
    target.write_bytes(content)
    prefilled = f", prefilled from case {case_id}" if case_id else ""
    click.echo(f"Wrote {target}: {title}{prefilled}")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--profile",
    metavar="NAME",
    help="The council profile to start from (see ehforms profiles; default: example).",
)
def init(directory: Path, profile: str | None) -> None:
    """Make a working root in DIRECTORY: ehforms.toml, inbox/, outbox/<mailbox>/, rejected/.

    ehforms.toml is a council profile (--profile NAME, or example), with its templates.
    Nothing that exists already is changed, so it is safe to run again (after adding a hub to
    ehforms.toml, say, to make its mailboxes).
    """
    from ehforms.core import init as init_root

    for line in init_root(directory, profile):
        click.echo(line)


@cli.command("profiles")
def list_profiles() -> None:
    """List the council profiles ehforms ships, for ehforms init --profile NAME."""
    from ehforms.core import profiles

    for name, summary in profiles():
        click.echo(f"{name}: {summary}")


# The other commands live in modules of their own, which share ehforms.cliparts with this
# one: the mailroom's runs (ehforms.running), the web service's (ehforms.commands) and what
# a root keeps (ehforms.keeping).
from ehforms.commands import audit, serve, users  # noqa: E402
from ehforms.keeping import case, purge  # noqa: E402
from ehforms.keeping import report as report_command  # noqa: E402
from ehforms.running import demo, digest, process, status, watch  # noqa: E402

for command in (process, watch, status, demo, digest, users, audit, serve, purge, case):
    cli.add_command(command)
cli.add_command(report_command)


def main() -> None:
    import os

    os.umask(0o027)  # nothing ehforms writes is readable by everyone
    cli(prog_name="ehforms")
