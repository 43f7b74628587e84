"""The commands that run the mailroom over a root: ``process`` (the inbox once), ``watch``
(the daemon), ``status`` (what waits where), ``demo`` (the sample forms through a root) and
``digest`` (what is overdue, emailed). Like ``cli``: parse, call the core, print.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ehforms.cliparts import EXIT_INVALID, fail, open_root, parse_time, root_option
from ehforms.errors import NotFound
from ehforms.present import describe, status_text

if TYPE_CHECKING:
    from ehforms.core import Batch, Root


DEMO_TIME = "2026-11-24T09:00:00+00:00"


def configure_logging(verbose: bool) -> None:
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("ehforms")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


def print_receipt(result: Any) -> None:
    if result.outcome is not None and result.error is None:
        click.echo(json.dumps(result.outcome.receipt.as_dict(), ensure_ascii=False))


def run_batch(
    opened: Root, workers: int | None, as_json: bool, received_at: dt.datetime | None
) -> Batch:
    """One run through the inbox, with a progress bar on a terminal."""
    if as_json:
        return opened.process(workers=workers, received_at=received_at, on_result=print_receipt)
    if not sys.stderr.isatty():
        return opened.process(workers=workers, received_at=received_at)
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("Processing the inbox", total=None)
        return opened.process(
            workers=workers,
            received_at=received_at,
            on_claimed=lambda n: progress.update(task, total=n),
            on_result=lambda r: progress.advance(task),
        )


@click.command("process")
@root_option
@click.option("--json", "as_json", is_flag=True, help="Print one receipt per line as JSON.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Processes to use for heavy work (default: the machine's cores).",
)
@click.option(
    "--received-at",
    metavar="TIMESTAMP",
    help="Treat every file as received at this time (for demonstrations and replays).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each submission to stderr.")
def process(
    root: Path, as_json: bool, workers: int | None, received_at: str | None, verbose: bool
) -> None:
    """Process everything now in the inbox once, then exit.

    Exit status 0 when every file has its outcome (rejections included); 1 when a delivery
    failed or a file could not be taken (it is tried again at the next run); 2 when the tool
    cannot run.
    """
    configure_logging(verbose)
    when = parse_time(received_at) if received_at else None
    batch = run_batch(open_root(root), workers, as_json, when)
    if not as_json:
        for result in batch.results:
            click.echo(describe(result))
        if not batch.results and not batch.waiting:
            click.echo("The inbox is empty.")
    for line in batch.waiting:
        click.echo(f"{line}. Tried again at the next run", err=True)
    if batch.waiting or any(result.error or result.failure for result in batch.results):
        sys.exit(1)


@click.command("watch")
@root_option
@click.option(
    "--polling",
    type=click.FloatRange(0.1, 3600),
    metavar="SECONDS",
    help="Poll the inbox every SECONDS instead of waiting for events: for network shares "
    "(SMB, NFS), which send none.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Processes to use for heavy work (default: the machine's cores).",
)
def watch(root: Path, polling: float | None, workers: int | None) -> None:
    """The daemon: process files as they arrive in the inbox, until stopped.

    Stops cleanly on SIGTERM or Ctrl-C, finishing the files in hand. Logs (to stderr) name
    submission ids and case references only.
    """
    import signal
    import threading

    configure_logging(True)
    opened = open_root(root)
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    opened.watch(polling=polling, workers=workers, stop=stop)


@click.command("status")
@root_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option(
    "--at",
    metavar="TIMESTAMP",
    help="Count what is overdue as of this time (default: now), like 2026-11-27T09:00Z.",
)
def status(root: Path, as_json: bool, at: str | None) -> None:
    """Per mailbox: how many forms wait, how many are urgent, how many are overdue; files that
    cannot be read; what waits to be tried again; and whether the watcher is running.

    Changes nothing. A form stops counting once hub staff move its folder into the mailbox's
    done/ folder.
    """
    summary = open_root(root).status(parse_time(at))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(status_text(summary))


@click.command("demo")
@root_option
def demo(root: Path) -> None:
    """Put the sample forms through a working root (default: this folder) and show where
    each went.

    The samples are treated as received at 09:00 on 24 November 2026, so they route the same
    on any day. Run it again and the same files are filed as duplicates.
    """
    from ehforms.core import Root

    made, batch = Root.open(root).demo(dt.datetime.fromisoformat(DEMO_TIME))
    for line in made:
        click.echo(line)
    click.echo(f"Copied the sample forms into {root / 'inbox'}")
    for result in batch.results:
        click.echo(describe(result))


@click.command("digest")
@root_option
@click.option(
    "--now",
    "at",
    metavar="TIME",
    help="Count what is overdue as of this time (default: now), like 2026-11-27T08:00Z.",
)
def digest(root: Path, at: str | None) -> None:
    """Email each mailbox's alert addresses the digest of what is overdue there, now (watch
    sends it every day at [alerts] digest_time). No digest goes to a mailbox where nothing is
    overdue.

    Exit status 1 when alerts are not set up, or a digest could not be sent (watch tries it
    again).
    """
    try:
        done = open_root(root).digest(parse_time(at))
    except NotFound as error:
        fail(str(error))
    failed = False
    for mailbox, overdue, failure in done:
        if failure is None:
            click.echo(f"{mailbox}: sent the digest ({overdue} overdue)")
        else:
            failed = True
            click.echo(
                f"{mailbox}: the digest could not be sent ({failure}): watch tries it again",
                err=True,
            )
    if not done:
        click.echo("Nothing is overdue: no digest sent")
    if failed:
        sys.exit(EXIT_INVALID)
