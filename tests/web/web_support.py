"""Helpers for the web tests: a processed root with accounts for each role, copied afresh
for each test (made once per session), and a signed-in Flask test client."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

from ehforms.accounts import Role
from ehforms.core import Root
from ehforms.web import create_app
from ledgers import copy_ledger

RECEIVED = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
PASSWORD = "Tangerine-Lamp-Orbit-42"
HUB = "hub@example.gov.uk"  # eh-central, sw-north
MASH = "mash.hub@example.gov.uk"  # mash, triage
MANAGER = "manager@example.gov.uk"
PRACTITIONER = "practitioner@example.gov.uk"
NEWCOMER = "newcomer@example.gov.uk"  # a one-time password, to change at sign-in
ACCOUNTS = {
    HUB: (Role.HUB, ("eh-central", "sw-north")),
    MASH: (Role.HUB, ("mash", "triage")),
    MANAGER: (Role.MANAGER, ()),
    PRACTITIONER: (Role.PRACTITIONER, ()),
    NEWCOMER: (Role.HUB, ("eh-central",)),
}
# Extra notifications to the Central hub, so its mailbox has pages at a page size of 2.
NORTH_EXTRA = 3


def build(folder: Path, samples: Path) -> Path:
    """A root with the sample forms (and a few more for the North hub) processed, and the
    accounts above (all with PASSWORD; NEWCOMER's is one-time)."""
    root = Root.open(folder)
    root.demo(RECEIVED)
    notification = json.loads((samples / "notification.json").read_text(encoding="utf-8"))
    for n in range(NORTH_EXTRA):
        extra = copy.deepcopy(notification)
        extra["case_id"] = f"EH-9{n:04d}"
        extra["children"][0]["given_name"] = f"Extra{n}"
        (folder / "inbox" / f"extra-{n}.json").write_text(json.dumps(extra), encoding="utf-8")
    root.process(received_at=RECEIVED + dt.timedelta(minutes=5))
    for email, (role, mailboxes) in ACCOUNTS.items():
        root.accounts.add(email, role, mailboxes=mailboxes, password=PASSWORD)
        if email != NEWCOMER:
            root.accounts.set_password(email, PASSWORD, one_time=False)
    root.close()
    return folder


def clone(template: Path, target: Path) -> Path:
    shutil.copytree(template, target, symlinks=True)
    copy_ledger(template, target)  # the ledger with it (a PostgreSQL one is not in the folder)
    return target


def app_for(folder: Path, **overrides: Any):
    overrides.setdefault("environ", {})
    return create_app(folder, **overrides)


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def post(client, path: str, data: dict[str, str] | None = None, *, page: str | None = None):
    """POST like a browser: the CSRF token from the page the form is on."""
    form_page = client.get(page or path)
    fields = {"csrf_token": csrf_token(form_page.get_data(as_text=True)), **(data or {})}
    return client.post(path, data=fields)


def sign_in(client, email: str, password: str = PASSWORD, *, next_path: str | None = None):
    path = "/sign-in" + (f"?next={next_path}" if next_path else "")
    return post(client, path, {"email": email, "password": password})


def waiting_ids(folder: Path, mailbox: str) -> list[tuple[str, dict[str, Any]]]:
    """(submission id, receipt) of each form waiting in a mailbox, oldest first."""
    found = []
    for receipt in sorted((folder / "outbox" / mailbox).glob("*/receipt.json")):
        data = json.loads(receipt.read_text(encoding="utf-8"))
        found.append((data["submission_id"], data))
    return found


def text(response) -> str:
    return response.get_data(as_text=True)
