"""What every command module shares: the exit statuses, the tool's own error, ``--root``, opening
a root and reading a time. Apart from :mod:`ehforms.cli` so that each command module can be
imported on its own, in any order."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ehforms.core import Root

EXIT_INVALID = 1
EXIT_TOOL = 2


class ToolError(click.ClickException):
    """The tool itself could not work: exit status 2, as the contract says."""

    exit_code = EXIT_TOOL


def root_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        show_default="the current folder",
        help="The working root: ehforms.toml, inbox/, outbox/, rejected/, templates/.",
    )(function)


def open_root(root: Path) -> Root:
    from ehforms.core import Root

    return Root.open(root)


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


def fail(message: str) -> None:
    """A command's answer that something is not so (no such account, nothing held): one line
    on standard error, and exit status 1."""
    click.echo(message, err=True)
    sys.exit(EXIT_INVALID)
