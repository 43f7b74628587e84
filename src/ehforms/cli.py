"""The ``ehforms`` command. Turns the library's errors into messages and exit codes.

Heavy libraries (marshmallow schemas, WeasyPrint, watchdog) are imported inside commands, so
``ehforms --help`` stays quick.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ehforms.errors import EhformsError

if TYPE_CHECKING:
    from ehforms.config import Config

EXIT_INVALID = 1
EXIT_TOOL = 2


class ToolError(click.ClickException):
    """The tool itself could not work: exit status 2, as the contract says."""

    exit_code = EXIT_TOOL


@contextmanager
def user_errors() -> Iterator[None]:
    """Library errors become one line on stderr and exit status 2: never a traceback."""
    try:
        yield
    except EhformsError as error:
        raise ToolError(str(error)) from error


def root_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        show_default="the current folder",
        help="The working root: ehforms.toml, inbox/, outbox/, rejected/, templates/.",
    )(function)


def load(root: Path) -> Config:
    from ehforms.config import load_config

    return load_config(root)


def parse_time(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use a date and time like 2026-11-24T09:00:00+00:00") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("include a time zone, like 2026-11-24T09:00:00Z")
    return parsed


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ehforms")
def cli() -> None:
    """Early Help forms: validate, route to hub mailboxes, render documents.

    Business support drop forms into inbox/; `ehforms watch` (or `process`) routes each to
    its hub mailbox under outbox/, or to rejected/ with a receipt saying what to fix.
    """


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--received-at",
    metavar="TIMESTAMP",
    help="Check the form as if received at this time (default: now), like 2026-11-24T09:00Z.",
)
@root_option
def validate(files: tuple[Path, ...], as_json: bool, received_at: str | None, root: Path) -> None:
    """Say what is wrong with each form FILE, changing nothing.

    Exit status: 0 when every form is valid, 1 when any is not, 2 when a file cannot be read.
    """
    from ehforms.errors import IntakeError
    from ehforms.forms import FieldError, validate
    from ehforms.intake import read_form

    when = parse_time(received_at)
    with user_errors():
        config = load(root)
    hubs = [hub.key for hub in config.hubs]
    results: list[dict[str, Any]] = []
    unreadable = False
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as error:
            click.echo(f"{path}: cannot be read ({error.strerror})", err=True)
            unreadable = True
            continue
        try:
            raw = read_form(
                path.name, data, max_bytes=config.max_file_bytes, max_depth=config.max_json_depth
            )
            checked = validate(raw, when, timezone=config.timezone, hubs=hubs)
            form_type, errors, mash = checked.form_type, checked.errors, checked.safeguarding
        except IntakeError as error:
            form_type, errors, mash = None, (FieldError(None, str(error)),), False
        results.append(
            {
                "file": str(path),
                "valid": not errors,
                "form_type": form_type,
                "safeguarding": mash,
                "errors": [e.as_dict() for e in errors],
            }
        )
        if as_json:
            continue
        if not errors:
            click.echo(f"{path}: ok")
        else:
            click.echo(f"{path}: {len(errors)} problem{'s' if len(errors) > 1 else ''}")
            for problem in errors:
                click.echo(f"  {problem}")
        if mash:
            click.echo("  Safeguarding: this form goes to MASH at once, whatever else is wrong.")
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
    from ehforms.schemas import export

    for path in export(folder):
        click.echo(f"Wrote {path}")


def main() -> None:
    cli(prog_name="ehforms")
