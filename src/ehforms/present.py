"""What the faces say: one line per result, the status table, an operating system error.

Plain text from the core's typed values; the CLI prints it, and the web face may reuse it.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from ehforms.errors import EhformsError


def os_message(error: OSError) -> str:
    """An operating system error as one line: what could not be used, and why."""
    where = f" {error.filename}" if error.filename else ""
    return f"Cannot use{where}: {error.strerror or type(error).__name__}"


def describe(result: Any) -> str:
    """One line for a person: where a file went (and the first problems, if any)."""
    outcome = result.outcome
    if result.error is not None or result.failure is not None or outcome is None:
        why = result.error or f"ehforms failed on it ({result.failure})"
        return f"{result.claim.source}: not delivered yet: {why}"
    receipt = outcome.receipt
    mailboxes = receipt.mailboxes
    where = f"outbox/{mailboxes[0]}/" if mailboxes else "rejected/"
    urgent = ", urgent" if receipt.priority == "urgent" else ""
    lines = [f"{receipt.source}: {receipt.status}{urgent} -> {where}{outcome.folder}"]
    lines += [f"    copy in outbox/{m}/" for m in mailboxes[1:]]
    if receipt.attachments or receipt.left_out or receipt.missing_attachments:
        count = len(receipt.attachments)
        parts = [f"{count} attachment{'' if count == 1 else 's'}"]
        if receipt.left_out:
            parts.append(f"{len(receipt.left_out)} left out (see errors.txt)")
        if receipt.missing_attachments:
            parts.append(f"{len(receipt.missing_attachments)} named on the form but missing")
        lines.append("    " + ", ".join(parts))
    lines += [f"    {problem.message}" for problem in receipt.errors[:3]]
    if len(receipt.errors) > 3:
        lines.append(f"    and {len(receipt.errors) - 3} more in errors.txt")
    return "\n".join(lines)


def status_text(summary: dict[str, Any]) -> str:
    width = max(len(name) for name in summary["mailboxes"]) + 2
    lines = [f"{'mailbox':<{width}}waiting  urgent  overdue"]
    for name, counts in summary["mailboxes"].items():
        lines.append(
            f"{name:<{width}}{counts['waiting']:>7}  {counts['urgent']:>6}  {counts['overdue']:>7}"
        )
    watcher = summary["watcher"]
    if watcher["alive"]:
        state = f"running ({watcher['mode']}, last seen {watcher['seconds_ago']:g} s ago)"
    elif watcher["last_seen"]:
        state = f"NOT RUNNING: last seen at {watcher['last_seen']}"
    else:
        state = "not started"
    lines.append(f"Watcher: {state}")
    lines.append(f"Waiting in the inbox: {summary['inbox']}")
    if summary.get("waited_long"):
        listed = ", ".join(f"{name} {n}" for name, n in summary["waited_long"].items())
        lines.append(
            f"Waiting more than {summary['review_days']:g} days: {listed} (nothing deletes "
            "them: review whether each is still needed)"
        )
    if summary.get("alerts_set_up") or summary.get("alerts_unsent"):
        lines.append(f"Unsent alerts: {summary.get('alerts_unsent', 0)}")
    unreadable = summary.get("unreadable", 0)
    if unreadable:
        lines.append(
            f"{unreadable} file{'s' if unreadable > 1 else ''} in the inbox cannot be read: "
            f"check {'their' if unreadable > 1 else 'its'} permissions"
        )
    unsettled = summary.get("unsettled_folders", 0)
    if unsettled:
        lines.append(
            f"{unsettled} folder{'s' if unsettled > 1 else ''} in the inbox "
            f"{'have' if unsettled > 1 else 'has'} been changing, or holding a file still "
            "being copied (.part, .tmp, ~$), for over an hour, and "
            f"{'are' if unsettled > 1 else 'is'} not taken: check the copy finished"
        )
    if summary.get("disk_full"):
        lines.append(
            "Waiting to try again: the disk is full: nothing can be delivered until room is made"
        )
    for fault in watcher.get("faults", []):
        lines.append(f"Waiting to try again: {fault}")
    if summary["in_processing"]:
        lines.append(
            f"Claimed but not yet delivered: {summary['in_processing']} (tried again "
            "automatically; see the watcher's log)"
        )
    return "\n".join(lines)


def message_for(error: Exception) -> str:
    """Any error a command fails on, as one line for a person (never a traceback)."""
    if isinstance(error, EhformsError):
        return str(error)
    if isinstance(error, OSError):
        return os_message(error)
    where = traceback.extract_tb(error.__traceback__)[-1]
    return (
        f"ehforms stopped because of a fault in ehforms itself ({type(error).__name__} at "
        f"{Path(where.filename).name}:{where.lineno}): tell the system administrator"
    )


def validation_lines(name: str, checked: Any, front_door: str = "MASH") -> list[str]:
    """``ehforms validate``'s words for one form."""
    errors = checked.errors
    if not errors:
        lines = [f"{name}: ok"]
    else:
        lines = [f"{name}: {len(errors)} problem{'s' if len(errors) > 1 else ''}"]
        lines += [f"  {problem}" for problem in errors]
    if checked.safeguarding:
        lines.append(
            f"  Safeguarding: this form goes to {front_door} at once, whatever else is wrong."
        )
    return lines


def bundle_lines(bundle: Any) -> list[str]:
    """``ehforms validate``'s words for what a bundle brings, lacks and leaves out."""
    lines = []
    if bundle.attachments:
        lines.append("  Attachments: " + ", ".join(bundle.attachments))
    if bundle.missing:
        lines.append("  Named on the form but not in the bundle: " + ", ".join(bundle.missing))
    lines += [f"  Left out: {entry}: {message}" for entry, message in bundle.left_out]
    return lines
