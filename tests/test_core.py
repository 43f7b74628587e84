"""The application core (``Root``): the calls every face makes, on a real working root."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from docx import Document

from conftest import RECEIVED, load_example
from ehforms.core import NotFound, Root, RootBusy
from ehforms.outcomes import prepare
from ehforms.render import renderer_for
from helpers import drop, make_root


def tree(root: Path) -> dict[str, str]:
    """Every entry under a root with its kind, size and content hash: any change shows."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if key.endswith(("-wal", "-shm")):  # SQLite's own shared memory for readers, no content
            continue
        if path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[key] = "folder"
    return found


@pytest.fixture
def root(tmp_path) -> Root:
    make_root(tmp_path)
    return Root.open(tmp_path, environ={})


def routed(root: Root, *form_types: str) -> None:
    for n, form_type in enumerate(form_types):
        drop(root.path, f"{n}-{form_type}.json", load_example(form_type))
    root.process(workers=1, received_at=RECEIVED)


def test_status_and_the_mailbox_listing_change_nothing(root):
    routed(root, "rfas", "transfer")
    (root.path / ".ehforms" / "processing" / "01ABCDEFGHJKMNPQRSTVWXYZ00").mkdir()  # empty
    before = tree(root.path)
    summary = root.status(RECEIVED)
    listing = root.mailbox("eh-central")
    assert tree(root.path) == before
    assert summary["mailboxes"]["eh-central"]["waiting"] == 2
    assert sorted(w.form_type for w in listing) == ["rfas", "transfer"]


def test_marking_handled_moves_the_folder_as_on_the_share(root):
    routed(root, "rfas")
    (waiting,) = root.mailbox("eh-central")
    target = root.mark_handled("eh-central", waiting.folder)
    assert target == root.path / "outbox" / "eh-central" / "done" / waiting.folder
    assert root.mailbox("eh-central") == []
    assert root.status(RECEIVED)["mailboxes"]["eh-central"]["waiting"] == 0
    with pytest.raises(NotFound):
        root.mark_handled("eh-central", waiting.folder)  # the same click twice
    for bad in ("../../etc", ".partial-x", "done"):
        with pytest.raises(NotFound):
            root.mark_handled("eh-central", bad)
    with pytest.raises(NotFound):
        root.mailbox("not-a-mailbox")


def test_a_submitted_form_enters_the_inbox_whole_and_never_replaces_one(root):
    data = json.dumps(load_example("rfas")).encode()
    first = root.submit("referral.json", data)
    second = root.submit("referral.json", b"{}")
    assert first != second and first.read_bytes() == data and second.read_bytes() == b"{}"
    assert sorted(p.name for p in root.mailroom.inbox.iterdir()) == sorted([first.name, second.name])
    assert (first.stat().st_mode & 0o777) == 0o640
    odd = root.submit("../../Amelia \u202e.json", b"{}")
    assert odd.parent == root.mailroom.inbox and ".." not in odd.name


@pytest.mark.sqlite_only("with a PostgreSQL ledger processes share the root, a claim each (test_postgres)")
def test_one_process_owns_the_root(root):
    with root.owned(), pytest.raises(RootBusy):
        root.process(workers=1)


def test_render_makes_the_same_documents_as_routing(root, tmp_path):
    """``ehforms render`` and the mailroom agree, the withheld list included."""
    routed(root, "transfer")  # tells the ledger what the family withholds
    closure = json.dumps(load_example("closure")).encode()
    rendering = root.render("closure.json", closure, RECEIVED)
    outcome = prepare(
        name="closure.json",
        data=closure,
        submission_id="01ABCDEFGHJKMNPQRSTVWXYZ00",
        received_at=RECEIVED,
        config=root.config,
        renderer=renderer_for(root.path),
        withheld_for=root.withheld,
    )
    assert set(rendering.files) == set(outcome.documents)

    def text(docx: bytes) -> str:
        return "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)

    name = "case-closure-note.docx"
    assert text(rendering.files[name]) == text(outcome.documents[name])
    withheld = load_example("transfer")["consent"]["withheld"]
    assert withheld and all(item in text(rendering.files[name]) for item in withheld)


def test_an_edited_docx_template_is_used_at_once(root):
    """A running watcher sees a council's edit to a Word template without a restart."""
    folder = root.path / "templates"
    renderer = renderer_for(root.path)

    def write(words: str) -> None:
        document = Document()
        document.add_paragraph(words + " {{ title }}")
        document.save(folder / "probe.docx")
        later = os.stat(folder / "probe.docx").st_mtime_ns + 1_000_000_000 * len(words)
        os.utime(folder / "probe.docx", ns=(later, later))

    def rendered() -> str:
        out = renderer.docx("probe", {"title": "ok"})
        return "\n".join(p.text for p in Document(io.BytesIO(out)).paragraphs)

    write("First")
    assert rendered() == "First ok"
    write("Second edit")
    assert rendered() == "Second edit ok"


def test_practitioner_forms_for_every_form_type(root):
    for form_type in ("notification", "rfas", "transfer", "marf", "closure"):
        title, content = root.practitioner_form(form_type, "json")
        assert json.loads(content)["form_type"] == form_type and title
    assert Root.form_file_name("rfas", "pdf", "EH/1 ..") == "rfas-EH-1.pdf"


def test_a_later_time_counts_overdue_without_changing_anything(root):
    marf = load_example("marf")
    drop(root.path, "marf.json", marf)
    root.process(workers=1, received_at=RECEIVED)
    before = tree(root.path)
    later = RECEIVED + dt.timedelta(hours=49)
    assert root.status(later)["mailboxes"]["mash"]["overdue"] == 1
    assert root.status(RECEIVED)["mailboxes"]["mash"]["overdue"] == 0
    assert tree(root.path) == before


def test_the_listing_puts_urgent_then_overdue_then_oldest_first(root):
    drop(root.path, "rfas.json", load_example("rfas"))
    root.process(workers=1, received_at=RECEIVED)
    marf = load_example("marf")
    marf["child_protection_concern"] = False  # normal, with a follow-up due in 48 hours
    marf["level_of_need"] = 4  # (level 5 is urgent whatever else it says)
    drop(root.path, "marf.json", marf)
    root.process(workers=1, received_at=RECEIVED + dt.timedelta(hours=1))
    urgent = load_example("marf")
    urgent["case_id"] = "EH-99999"
    drop(root.path, "urgent.json", urgent)
    root.process(workers=1, received_at=RECEIVED + dt.timedelta(hours=2))
    later = RECEIVED + dt.timedelta(days=3)
    listing = root.mailbox("mash", at=later)
    assert [(w.urgent, w.overdue(later)) for w in listing] == [(True, True), (False, True)]
    assert listing[0].received_at == RECEIVED + dt.timedelta(hours=2)
    # a folder copied in by hand, which the ledger never saw, is listed from its receipt
    (hand,) = [p for p in (root.path / "outbox" / "eh-central").iterdir() if p.name != "done"]
    copy = root.path / "outbox" / "eh-central" / ("20261120-090000_rfas_X_" + "0" * 26)
    copy.mkdir()
    (copy / "receipt.json").write_bytes((hand / "receipt.json").read_bytes())
    names = [w.folder for w in root.mailbox("eh-central", at=later)]
    assert names[0] == copy.name and len(names) == 2


def test_a_due_counts_as_overdue_only_in_the_primary_mailbox(root):
    """The contract: overdue means a due has passed while the form waits in the mailbox the
    due belongs to, the primary one; the copy in the sw- mailbox is not overdue."""
    marf = load_example("marf")
    marf["previous_social_work"] = {"team": "north", "stepped_down_on": "2026-10-01"}
    drop(root.path, "marf.json", marf)
    root.process(workers=1, received_at=RECEIVED)
    later = RECEIVED + dt.timedelta(hours=49)
    counts = root.status(later)["mailboxes"]
    assert (counts["mash"]["overdue"], counts["sw-north"]["overdue"]) == (1, 0)
    assert counts["sw-north"]["waiting"] == 1 and counts["sw-north"]["urgent"] == 1
