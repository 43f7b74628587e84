"""A working root for the keeping-and-deleting tests, made once and copied for each test.

One synthetic family (the Quillfeathers: names, a date of birth and an address found nowhere
else) sends four things, all received at ``RECEIVED``:
- a notification without a case reference, which stays waiting in eh-central;
- an rfas for case QF-0001;
- a transfer for case QF-0001 as a ZIP bundle with its assessment attached;
- a notification for case QF-0001 with no reasons given, which is rejected;
and another family's transfer (case MC204811, the example form) goes to eh-central too.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from pypdf import PdfWriter

from conftest import RECEIVED, load_example
from ehforms.core import Root
from helpers import drop, make_root
from ledgers import copy_ledger, keep_ledger

CASE = "QF-0001"
CHILD = {
    "given_name": "Zephyrine",
    "family_name": "Quillfeather",
    "date_of_birth": "2015-03-17",
    "person_id": "QF-0001",
}
PARENT = {
    "given_name": "Barnaby",
    "family_name": "Quillfeather",
    "date_of_birth": "1984-07-09",
    "relationship": "father",
    "lives_with_child": True,
}
ADDRESS = {"line1": "7 Marigoldpatch Lane", "town": "Manchester", "postcode": "M13 9PL"}
# What the family's forms say, which nothing may hold once their time has passed.
PERSONAL = ("Zephyrine", "Quillfeather", "2015-03-17", "1984-07-09", "Marigoldpatch", "Barnaby")
ASSESSMENT = "quillfeather-cafa.pdf"


def family(form_type: str, **changes: Any) -> dict[str, Any]:
    form = copy.deepcopy(load_example(form_type))
    form["children"] = [dict(CHILD)]
    form["address"] = dict(ADDRESS)
    if "family" in form:
        form["family"] = [dict(PARENT)]
    if isinstance(form.get("consent"), dict) and form["consent"].get("given"):
        form["consent"]["given_by"] = "Barnaby Quillfeather"
        form["consent"]["relationship"] = "father"
        form["consent"].pop("document", None)
    form.update(changes)
    return form


def pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def bundle(form: dict[str, Any], *attachments: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("transfer.json", json.dumps(form))
        for name, data in attachments:
            archive.writestr(name, data)
    return out.getvalue()


def build(path: Path) -> None:
    """The template root, made once (a module's fixture): under PostgreSQL its ledger is a
    database kept for the copies (``copy_root``)."""
    with keep_ledger(path):
        _build(path)


def _build(path: Path) -> None:
    make_root(path)
    notification = family("notification")
    notification.pop("case_id", None)
    drop(path, "quillfeather-notification.json", notification)
    drop(path, "quillfeather-rfas.json", family("rfas", case_id=CASE))
    transfer = family("transfer", case_id=CASE)
    transfer["most_recent_assessment"]["document"] = ASSESSMENT
    drop(path, "quillfeather-transfer.zip", bundle(transfer, (ASSESSMENT, pdf())))
    bad = family("notification", case_id=CASE)
    del bad["reasons"]
    drop(path, "quillfeather-bad.json", bad)
    drop(path, "hughes-transfer.json", load_example("transfer"))
    with Root.open(path, environ={}) as root:
        root.process(workers=1, received_at=RECEIVED)


def copy_root(template: Path, target: Path) -> Root:
    shutil.copytree(template, target, symlinks=True)
    copy_ledger(template, target)  # the ledger with it (a PostgreSQL one is not in the folder)
    return Root.open(target, environ={})


def receipts(root: Path) -> dict[str, dict[str, Any]]:
    """Every primary receipt by its original's name (the source)."""
    found = {}
    for path in sorted(root.glob("outbox/*/*/receipt.json")) + sorted(
        root.glob("rejected/*/receipt.json")
    ):
        receipt = json.loads(path.read_text())
        receipt["_folder"] = path.parent
        if receipt["source"] not in found:
            found[receipt["source"]] = receipt
    return found


def handle_by_hand(root: Path, mailbox: str, *submission_ids: str) -> None:
    """Move forms' folders into the mailbox's done/, as hub staff do on the share."""
    base = root / "outbox" / mailbox
    for folder in list(base.iterdir()):
        if folder.name != "done" and folder.name.rsplit("_", 1)[-1] in submission_ids:
            folder.rename(base / "done" / folder.name)
