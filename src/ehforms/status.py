"""``ehforms status``: what waits in each mailbox, and whether the watcher is alive."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

from ehforms.files import NotARegularFile, open_regular
from ehforms.mailroom import Mailroom
from ehforms.routing import Priority
from ehforms.watch import heartbeat_age


def summarise(mailroom: Mailroom, now: dt.datetime) -> dict[str, Any]:
    mailboxes = {}
    waited_long: dict[str, int] = {}  # longer than review_days: nothing deletes them
    long_ago = now - dt.timedelta(days=mailroom.config.review_days)
    for mailbox in mailroom.config.mailboxes:
        waiting = urgent = overdue = 0
        for _folder, receipt in mailroom.waiting(mailbox):
            waiting += 1
            if receipt is not None:
                if receipt.received_at < long_ago:
                    waited_long[mailbox] = waited_long.get(mailbox, 0) + 1
                urgent += receipt.priority == Priority.URGENT
                # a due belongs to the primary mailbox: a copy elsewhere is never overdue
                overdue += bool(receipt.past_due(now)) and receipt.mailboxes[:1] == (mailbox,)
        mailboxes[mailbox] = {"waiting": waiting, "urgent": urgent, "overdue": overdue}
    heartbeat = mailroom.heartbeat()
    age = heartbeat_age(heartbeat, now)
    limit = 3 * mailroom.config.heartbeat_seconds
    in_processing = sum(1 for _ in mailroom.claims_in_processing(tidy=False))
    candidates = mailroom.candidates()
    return {
        "mailboxes": mailboxes,
        "watcher": {
            "alive": age is not None and age <= limit,
            "last_seen": heartbeat.get("at") if heartbeat else None,
            "seconds_ago": None if age is None else round(age, 1),
            "mode": heartbeat.get("mode") if heartbeat else None,
            "faults": list(heartbeat.get("faults") or []) if heartbeat else [],
        },
        "in_processing": in_processing,
        "inbox": len(candidates),
        "unreadable": sum(1 for path in candidates if not _readable(path)),
        # subfolders (bundles) still changing, or holding a copy's temporary file, after an hour
        "unsettled_folders": mailroom.unsettled(now.timestamp()),
        "disk_full": _disk_full(mailroom.root),
        "review_days": mailroom.config.review_days,
        "waited_long": waited_long,
    }


def _disk_full(root: Path) -> bool:
    """Whether the disk holding the root is full (the watcher cannot then say so itself)."""
    try:
        return shutil.disk_usage(root).free < 1024 * 1024
    except OSError:
        return False


def _readable(path: Path) -> bool:
    """Whether ehforms could take this inbox entry: a file it may read, or a link or pipe it
    would set aside. Opening never follows a link nor blocks on a pipe; nothing is read."""
    try:
        os.close(open_regular(path))
    except NotARegularFile:
        return True
    except PermissionError:
        return False
    except OSError:
        return True  # gone since the listing, or another fault the watcher reports
    return True
