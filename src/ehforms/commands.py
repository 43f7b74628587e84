"""The commands for the web service: ``users`` (accounts), ``audit`` (the trail) and
``serve`` (the pages). Like ``cli``: parse, call the core, print; errors become one line and
an exit status (1: the email exists, or there is no such account; 2: the tool cannot run).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ehforms.cliparts import ToolError, fail, open_root, root_option
from ehforms.errors import AccountExists, EhformsError, UnknownAccount

if TYPE_CHECKING:
    from ehforms.core import Root

ROLES = ("practitioner", "hub", "manager")


def _password(from_stdin: bool, weakness: object) -> str:
    """A one-time password: one line from standard input, or asked twice (hidden) until it
    is strong enough."""
    check = weakness if callable(weakness) else (lambda _p: None)
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        problem = check(password)
        if problem:
            raise ToolError(str(problem))
        return password
    while True:
        password = click.prompt(
            "One-time password", hide_input=True, confirmation_prompt=True, err=True
        )
        problem = check(password)
        if not problem:
            return str(password)
        click.echo(str(problem), err=True)


@click.group()
def users() -> None:
    """Accounts for the web pages: add, list, disable, and set a one-time password.

    Accounts live in the root's ledger. Emails are trimmed and compared case-insensitively;
    passwords are at least 12 characters, not a common one, and stored only as Argon2id hashes.
    """


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the person may do.")
@click.option(
    "--mailbox",
    "mailboxes",
    multiple=True,
    metavar="NAME",
    help="A mailbox a hub account works (a configured one); repeat for more.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the one-time password from standard input."
)
@root_option
def users_add(
    email: str, role: str, mailboxes: tuple[str, ...], password_stdin: bool, root: Path
) -> None:
    """Add an account with a one-time password, which the person changes at their first
    sign-in. Exit status 1 when the email has an account already."""
    opened = open_root(root)
    if opened.accounts.get(email) is not None:
        fail(f"There is already an account for {email.strip().lower()}")
    password = _password(password_stdin, opened.accounts.weakness)
    try:
        account = opened.accounts.add(email, role, mailboxes, password=password)
    except AccountExists as error:
        fail(str(error))
        return
    boxes = f" for {', '.join(account.mailboxes)}" if account.mailboxes else ""
    click.echo(
        f"Added {account.email} ({account.role}{boxes}) with a one-time password: they choose "
        "their own at their first sign-in"
    )


@users.command("list")
@root_option
def users_list(root: Path) -> None:
    """List the accounts: email, role, mailboxes, and whether each is active."""
    found = open_root(root).accounts.list()
    if not found:
        click.echo("No accounts yet: add one with `ehforms users add`")
        return
    width = max(len(a.email) for a in found) + 2
    click.echo(f"{'email':<{width}}{'role':<14}{'state':<26}mailboxes")
    for account in found:
        state = "disabled" if not account.active else "active"
        if account.active and account.must_change_password:
            state += ", one-time password"
        click.echo(
            f"{account.email:<{width}}{account.role:<14}{state:<26}"
            + (", ".join(account.mailboxes) or "-")
        )


@users.command("disable")
@click.argument("email")
@root_option
def users_disable(email: str, root: Path) -> None:
    """Disable an account: it can no longer sign in, and its sessions end at once. Exit
    status 1 when there is no such account."""
    try:
        open_root(root).accounts.disable(email)
    except UnknownAccount as error:
        fail(str(error))
    click.echo(f"Disabled {email.strip().lower()}: their sessions have ended")


@users.command("password")
@click.argument("email")
@click.option(
    "--password-stdin", is_flag=True, help="Read the one-time password from standard input."
)
@root_option
def users_password(email: str, password_stdin: bool, root: Path) -> None:
    """Set a one-time password (for a person who forgot theirs): they choose their own at
    their next sign-in, and their sessions end now. Exit status 1 when there is no such
    account."""
    opened = open_root(root)
    if opened.accounts.get(email) is None:
        fail(f"There is no account for {email.strip().lower()}")
    password = _password(password_stdin, opened.accounts.weakness)
    try:
        opened.accounts.set_password(email, password, one_time=True)
    except UnknownAccount as error:
        fail(str(error))
    click.echo(f"Set a one-time password for {email.strip().lower()}: their sessions have ended")


def parse_since(value: str | None, opened: Root) -> dt.datetime | None:
    """A day (its midnight in the configured time zone) or a time with its zone."""
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None and len(value) == 10:
        return dt.datetime.combine(day, dt.time(), tzinfo=opened.config.timezone)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "use a day like 2026-11-24, or a time like 2026-11-24T09:00Z", param_hint="--since"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=opened.config.timezone)
    return parsed


@click.command("audit")
@click.option("--case", "case", metavar="REF", help="Only rows for this case reference.")
@click.option("--user", metavar="EMAIL", help="Only what this person did (or tried to).")
@click.option("--since", metavar="DATE", help="Only rows from this day (or time) on.")
@root_option
def audit(case: str | None, user: str | None, since: str | None, root: Path) -> None:
    """Print the audit trail, newest first: who saw, downloaded, prefilled, exported or
    handled which submission or case, and when; account changes and sign-ins. Times are in
    the configured time zone."""
    opened = open_root(root)
    start = parse_since(since, opened)
    zone = opened.config.timezone
    offset, page = 0, 500
    shown = 0
    while True:
        rows = opened.audit.rows(case=case, user=user, since=start, limit=page, offset=offset)
        for row in rows:
            parts = [row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), row.who, row.action]
            if row.submission_id:
                parts.append(f"submission {row.submission_id}")
            if row.case:
                parts.append(f"case {row.case}")
            if row.detail:
                parts.append(row.detail)
            click.echo("  ".join(parts))
        shown += len(rows)
        if len(rows) < page:
            break
        offset += page
    if not shown:
        click.echo("Nothing recorded" + (" that matches" if case or user or since else " yet"))


@click.command("serve")
@root_option
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Plain HTTP cookies (no Secure flag), for trying the pages on this machine: only "
    "with a loopback --host.",
)
@click.option(
    "--trusted-proxy",
    metavar="IP",
    help="The reverse proxy's address: the only one whose X-Forwarded-* headers are believed.",
)
def serve(root: Path, host: str, port: int, insecure_http: bool, trusted_proxy: str | None) -> None:
    """Serve the web pages for a working root (beside `ehforms watch` on the same root),
    behind the council's HTTPS reverse proxy. Stops on Ctrl-C or SIGTERM."""
    from ehforms.web import serve as serve_pages
    from ehforms.web.server import loopback

    if insecure_http and not loopback(host):
        raise ToolError(
            f"--insecure-http is accepted only with a loopback --host such as 127.0.0.1, "
            f"not {host}: behind the council's reverse proxy, serve over HTTPS"
        )
    if trusted_proxy is not None:
        try:
            ipaddress.ip_address(trusted_proxy)
        except ValueError:
            raise ToolError(f"--trusted-proxy must be an IP address, not {trusted_proxy}") from None
    if not (root / ".ehforms").is_dir():
        raise ToolError(f"{root} is not a working root: make it with `ehforms init {root}`")
    try:
        serve_pages(root, host, port, insecure_http, trusted_proxy)
    except EhformsError as error:
        raise ToolError(str(error)) from error
