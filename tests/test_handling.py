"""The core calls behind hub staff's pages: a form as its page shows it, its files, marking it
handled (as on the share), and each mailbox's counts as `ehforms status` counts them."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import pytest

from conftest import RECEIVED, load_example
from ehforms.core import Root
from ehforms.errors import AlreadyHandled, FolderBusy, NotFinished, NotFound
from helpers import drop, make_root
from ledgers import Sql

GOOD = "plum-orbit-lantern-47"
HUB = "hub@example.gov.uk"


@pytest.fixture
def root(tmp_path) -> Root:
    make_root(tmp_path)
    for n, form_type in enumerate(("marf", "notification", "rfas", "closure")):
        drop(tmp_path, f"{n}-{form_type}.json", load_example(form_type))
    opened = Root.open(tmp_path, environ={})
    opened.process(workers=1, received_at=RECEIVED)
    yield opened
    opened.close()


def waiting(root: Root, mailbox: str, form_type: str):
    (row,) = [w for w in root.mailbox(mailbox) if w.form_type == form_type]
    return row


def test_a_form_as_its_page_shows_it(root):
    row = waiting(root, "eh-central", "notification")
    view = root.form_view("eh-central", row.submission_id)
    assert view.submission_id == row.submission_id and view.folder == row.folder
    assert view.receipt.form_type == "notification" and view.mailbox == "eh-central"
    assert view.form["referrer"]["email"] == load_example("notification")["referrer"]["email"]
    assert view.withheld == load_example("notification")["consent"]["withheld"]
    assert not view.handled and view.handled_by is None and view.finished
    # the original first, then the documents the receipt names, each with its content type
    names = [f.name for f in view.files]
    assert names[0] == "1-notification.json"
    assert names[1:] == list(view.receipt.documents) and len(names) > 1
    assert [f.n for f in view.files] == list(range(1, len(names) + 1))
    types = {f.name.rpartition(".")[2]: f.content_type for f in view.files}
    assert types["json"] == "application/json" and types["pdf"] == "application/pdf"


def test_a_form_that_records_no_consent_says_so(root):
    marf = waiting(root, "mash", "marf")
    view = root.form_view("mash", marf.submission_id)
    assert view.withheld is None  # "Not known: this form records no consent"
    assert [f.name for f in view.files] == ["0-marf.json"]  # a MARF gets no documents
    assert view.case == "EH-00388"


def test_prefill_may_be_allowed_only_for_emails_with_an_active_account(root):
    rfas = waiting(root, "eh-central", "rfas")
    lead = load_example("rfas")["lead_practitioner"]["email"]
    assert root.form_view("eh-central", rfas.submission_id).allow_prefill == []
    root.accounts.add(lead.upper(), "practitioner", password=GOOD)
    assert root.form_view("eh-central", rfas.submission_id).allow_prefill == [lead.lower()]
    root.accounts.disable(lead)
    assert root.form_view("eh-central", rfas.submission_id).allow_prefill == []


@pytest.mark.parametrize(
    "submission_id",
    ["../../etc", "01m86ch3m0hs8kvqcdjvkdb3s9", "01M86CH3M0HS8KVQCDJVKDB3S", "", "x" * 26],
)
def test_anything_but_an_id_is_not_found(root, submission_id):
    with pytest.raises(NotFound):
        root.form_view("eh-central", submission_id)
    with pytest.raises(NotFound):
        root.form_file("eh-central", submission_id, 1)


def test_another_mailboxs_form_an_unknown_id_or_mailbox_is_not_found(root):
    marf = waiting(root, "mash", "marf")
    rfas = waiting(root, "eh-central", "rfas")
    for mailbox, submission_id in [
        ("eh-central", marf.submission_id),  # in mash and sw-north, not here
        ("eh-north", rfas.submission_id),
        ("eh-central", "01M86CH3M0HS8KVQCDJVKDB3ZZ"),
        ("nowhere", rfas.submission_id),
    ]:
        with pytest.raises(NotFound):
            root.form_view(mailbox, submission_id)
    assert root.form_view("sw-north", marf.submission_id).folder == marf.folder  # the copy


def test_a_file_is_served_only_when_the_receipt_names_it(root):
    row = waiting(root, "eh-central", "notification")
    view = root.form_view("eh-central", row.submission_id)
    ref, path = root.form_file("eh-central", row.submission_id, 2)
    assert ref == view.files[1] and path.read_bytes()[:5] == b"%PDF-"
    for n in (0, -1, len(view.files) + 1):
        with pytest.raises(NotFound):
            root.form_file("eh-central", row.submission_id, n)
    # a receipt edited on the share to name the ledger, a link, or the receipt itself
    folder = root.mailroom.outbox / "eh-central" / row.folder
    receipt = json.loads((folder / "receipt.json").read_text())
    os.symlink(root.ledger_path, folder / "link.pdf")
    receipt["documents"] = [
        "../../../.ehforms/ledger.sqlite3",
        "link.pdf",
        "receipt.json",
        "form.json",
        "errors.txt",
    ]
    (folder / "receipt.json").write_text(json.dumps(receipt))
    assert [f.name for f in root.form_view("eh-central", row.submission_id).files] == [
        "1-notification.json"
    ]
    for n in range(2, 7):
        with pytest.raises(NotFound):
            root.form_file("eh-central", row.submission_id, n)


def test_marking_handled_moves_the_folder_and_records_who(root):
    row = waiting(root, "eh-central", "rfas")
    before = root.counts(RECEIVED)["eh-central"]["waiting"]
    target = root.mark_handled("eh-central", row.submission_id, by=HUB)
    assert target == root.mailroom.outbox / "eh-central" / "done" / row.folder
    assert target.is_dir() and not (root.mailroom.outbox / "eh-central" / row.folder).exists()
    assert root.counts(RECEIVED)["eh-central"]["waiting"] == before - 1
    assert root.status(RECEIVED)["mailboxes"]["eh-central"]["waiting"] == before - 1
    (audited,) = root.audit.rows(user=HUB)
    assert (audited.action, audited.submission_id, audited.detail) == (
        "marked handled",
        row.submission_id,
        "eh-central",
    )
    # the page's address keeps working, and says who
    view = root.form_view("eh-central", row.submission_id)
    assert view.handled and view.handled_by == HUB
    with pytest.raises(AlreadyHandled, match=f"Already marked as handled by {HUB}") as again:
        root.mark_handled("eh-central", row.submission_id, by="other@example.gov.uk")
    assert again.value.by == HUB


def test_a_copy_is_handled_per_mailbox(root):
    marf = waiting(root, "mash", "marf")
    root.mark_handled("mash", marf.submission_id, by=HUB)
    assert not root.form_view("sw-north", marf.submission_id).handled
    root.mark_handled("sw-north", marf.submission_id, by="sw@example.gov.uk")
    assert root.form_view("sw-north", marf.submission_id).handled_by == "sw@example.gov.uk"


def test_a_folder_moved_by_hand_on_the_share_is_handled_by_someone_unknown(root):
    row = waiting(root, "eh-central", "closure")
    base = root.mailroom.outbox / "eh-central"
    shutil.move(base / row.folder, base / "done" / row.folder)
    view = root.form_view("eh-central", row.submission_id)
    assert view.handled and view.handled_by is None
    with pytest.raises(AlreadyHandled, match="^Already marked as handled$"):
        root.mark_handled("eh-central", row.submission_id, by=HUB)
    assert root.counts(RECEIVED)["eh-central"] == root.status(RECEIVED)["mailboxes"]["eh-central"]


def test_a_folder_that_cannot_be_moved_stays(root, monkeypatch):
    row = waiting(root, "eh-central", "rfas")

    def refused(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("ehforms.handling.os.rename", refused)
    with pytest.raises(FolderBusy, match="could not be moved"):
        root.mark_handled("eh-central", row.submission_id, by=HUB)
    monkeypatch.undo()
    assert (root.mailroom.outbox / "eh-central" / row.folder).is_dir()
    assert root.audit.rows() == []
    assert not root.form_view("eh-central", row.submission_id).handled
    root.mark_handled("eh-central", row.submission_id, by=HUB)  # once it is closed


def test_a_form_the_watcher_has_not_finished_cannot_be_marked(root):
    row = waiting(root, "eh-central", "rfas")
    db = Sql(root.path)
    db.execute(
        "UPDATE submissions SET state = 'claimed' WHERE submission_id = ?", (row.submission_id,)
    )
    db.commit()
    db.close()
    assert root.form_view("eh-central", row.submission_id).finished is False
    with pytest.raises(NotFinished):
        root.mark_handled("eh-central", row.submission_id, by=HUB)
    assert (root.mailroom.outbox / "eh-central" / row.folder).is_dir()


def test_a_folder_copied_in_by_hand_is_found_by_its_name(root):
    row = waiting(root, "eh-central", "rfas")
    base = root.mailroom.outbox / "eh-central"
    shutil.copytree(base / row.folder, root.mailroom.outbox / "triage" / row.folder)
    view = root.form_view("triage", row.submission_id)
    assert view.folder == row.folder and view.finished
    # from the receipt alone, a due counts in the primary mailbox only, as status counts
    marf = waiting(root, "mash", "marf")
    shutil.copytree(base.parent / "mash" / marf.folder, base.parent / "triage" / marf.folder)
    db = Sql(root.path)
    db.execute("DELETE FROM deliveries WHERE submission_id = ?", (marf.submission_id,))
    db.commit()
    db.close()
    later = RECEIVED + dt.timedelta(days=60)
    counts = root.counts(later)
    assert counts == root.status(later)["mailboxes"]
    assert counts["triage"] == {"waiting": 2, "urgent": 1, "overdue": 0}
    assert counts["mash"] == {"waiting": 1, "urgent": 1, "overdue": 1}
    root.mark_handled("triage", row.submission_id, by=HUB)
    assert (root.mailroom.outbox / "triage" / "done" / row.folder).is_dir()


def test_counts_are_what_status_counts(root):
    later = RECEIVED + dt.timedelta(days=4)  # the MARF's written follow-up is overdue
    counts = root.counts(later)
    status = root.status(later)["mailboxes"]
    assert counts == status
    assert counts["mash"] == {"waiting": 1, "urgent": 1, "overdue": 1}
    assert counts["sw-north"] == {"waiting": 1, "urgent": 1, "overdue": 0}  # a copy


def test_a_listing_gives_each_rows_case_and_first_child(root):
    rows = root.listing("eh-central", root.mailbox("eh-central"))
    found = {r.form_type: (r.case, r.child) for r in rows}
    assert found["rfas"] == ("EH-00417", "Amelia Hughes")
    assert found["notification"][1] == "Amelia Hughes"


def test_two_people_marking_at_once_one_wins_and_the_other_is_told_who(root):
    import threading

    row = waiting(root, "eh-central", "rfas")
    start = threading.Barrier(4)
    results: dict[str, object] = {}

    def mark(person: str) -> None:
        start.wait()
        try:
            root.mark_handled("eh-central", row.submission_id, by=person)
            results[person] = "marked"
        except AlreadyHandled as error:
            results[person] = error

    people = [f"hub{n}@example.gov.uk" for n in range(4)]
    threads = [threading.Thread(target=mark, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (winner,) = [p for p, r in results.items() if r == "marked"]
    others = [r for r in results.values() if r != "marked"]
    assert len(others) == 3
    assert {o.by for o in others} == {winner}
    assert root.form_view("eh-central", row.submission_id).handled_by == winner
    assert [r.who for r in root.audit.rows()] == [winner]


def test_a_file_is_opened_never_through_a_link_swapped_in_after_the_check(root, monkeypatch):
    row = waiting(root, "eh-central", "notification")
    ref, handle = root.open_form_file("eh-central", row.submission_id, 2)
    with handle:
        assert handle.read(5) == b"%PDF-" and ref.content_type == "application/pdf"
    import ehforms.handling as handling

    checked = handling.form_file

    def swapped(*args):
        found = checked(*args)  # the check passes; then someone swaps the file for a link
        found[1].unlink()
        os.symlink(root.ledger_path, found[1])
        return found

    monkeypatch.setattr(handling, "form_file", swapped)
    with pytest.raises(NotFound):
        root.open_form_file("eh-central", row.submission_id, 2)


def test_an_id_that_is_not_one_is_refused_before_any_look_up(tmp_path, monkeypatch):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ehforms import handling

    make_root(tmp_path)
    opened = Root.open(tmp_path, environ={})

    def touched(*_args, **_kwargs):
        raise AssertionError("looked up")

    monkeypatch.setattr(opened, "reader", touched)
    monkeypatch.setattr(handling, "_by_name", touched)
    monkeypatch.setattr(handling.os, "scandir", touched)

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=40) | st.from_regex(r"[0-9A-Za-z./_-]{24,28}", fullmatch=True))
    def check(text):
        if handling.valid_id(text):
            return
        for call in (
            lambda: opened.form_view("eh-central", text),
            lambda: opened.form_file("eh-central", text, 1),
            lambda: opened.mark_handled("eh-central", text, by=HUB),
        ):
            with pytest.raises(NotFound):
                call()

    check()
    assert not handling.valid_id("01m86ch3m0hs8kvqcdjvkdb3s9")  # lower case: not canonical
    assert handling.valid_id("01M86CH3M0HS8KVQCDJVKDB3S9")


def test_a_bundles_page_serves_its_form_file_documents_and_attachments(tmp_path):
    import io
    import zipfile

    from pypdf import PdfWriter

    make_root(tmp_path)
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    scan = io.BytesIO()
    writer.write(scan)
    form = json.dumps(load_example("transfer")).encode()
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("transfer.json", form)
        archive.writestr("Hughes CAFA 2026-10.pdf", scan.getvalue())
    drop(tmp_path, "Hughes transfer.zip", bundle.getvalue())
    with Root.open(tmp_path, environ={}) as opened:
        opened.process(workers=1, received_at=RECEIVED)
        (row,) = opened.mailbox("eh-central")
        view = opened.form_view("eh-central", row.submission_id)
        names = [f.name for f in view.files]
        # the form's own file (the ZIP stays in the archive), its documents, its attachment
        assert names[0] == "transfer.json" and names[-1] == "Hughes-CAFA-2026-10.pdf"
        assert names[1:-1] == list(view.receipt.documents)
        last = view.files[-1]
        assert last.content_type == "application/pdf"
        ref, handle = opened.open_form_file("eh-central", row.submission_id, last.n)
        with handle:
            assert handle.read() == scan.getvalue() and ref.name == last.name
        ref, handle = opened.open_form_file("eh-central", row.submission_id, 1)
        with handle:
            assert handle.read() == form
        with pytest.raises(NotFound):
            opened.open_form_file("eh-central", row.submission_id, len(names) + 1)
        # someone adds a file to the folder on the share: it is never shown as the form, and
        # the files keep their positions
        folder = tmp_path / "outbox" / "eh-central" / row.folder
        (folder / "a note.txt").write_bytes(b"added by hand")
        again = opened.form_view("eh-central", row.submission_id)
        assert [f.name for f in again.files] == names
        ref, handle = opened.open_form_file("eh-central", row.submission_id, 1)
        with handle:
            assert handle.read() == form and ref.name == "transfer.json"


def test_a_mailbox_folder_swapped_for_a_link_never_shows_another_mailboxs_forms(root):
    # someone on the share replaces eh-central's done/ with a link to mash's done/: the
    # hub staff of eh-central must not reach MASH's forms through it, on any step of the path
    marf = waiting(root, "mash", "marf")
    root.mark_handled("mash", marf.submission_id, by=HUB)
    outbox = root.mailroom.outbox
    assert (outbox / "mash" / "done" / marf.folder).is_dir()
    shutil.rmtree(outbox / "eh-central" / "done", ignore_errors=True)
    os.symlink(outbox / "mash" / "done", outbox / "eh-central" / "done")
    with pytest.raises(NotFound):
        root.form_view("eh-central", marf.submission_id)
    with pytest.raises(NotFound):
        root.open_form_file("eh-central", marf.submission_id, 1)
    # and the mailbox itself replaced by a link to another
    shutil.rmtree(outbox / "eh-north", ignore_errors=True)
    os.symlink(outbox / "mash", outbox / "eh-north")
    with pytest.raises(NotFound):
        root.form_view("eh-north", marf.submission_id)
    # the real mailbox still serves its own form
    assert root.form_view("mash", marf.submission_id).handled


def test_a_done_folder_swapped_for_a_link_after_the_check_is_never_followed(root, monkeypatch):
    import ehforms.handling as handling

    row = waiting(root, "eh-central", "notification")
    root.mark_handled("eh-central", row.submission_id, by=HUB)
    outbox = root.mailroom.outbox
    checked = handling.form_file

    def swapped(*args):
        found = checked(*args)  # the check passes; then done/ becomes a link to a copy
        done = outbox / "eh-central" / "done"
        os.rename(done, outbox / "elsewhere")
        os.symlink(outbox / "elsewhere", done)
        return found

    monkeypatch.setattr(handling, "form_file", swapped)
    with pytest.raises(NotFound):
        root.open_form_file("eh-central", row.submission_id, 2)


def test_marking_handled_never_moves_a_form_through_a_done_folder_swapped_for_a_link(root):
    row = waiting(root, "eh-central", "notification")
    outbox = root.mailroom.outbox
    elsewhere = outbox / "mash" / "done"
    elsewhere.mkdir(exist_ok=True)
    shutil.rmtree(outbox / "eh-central" / "done", ignore_errors=True)
    os.symlink(elsewhere, outbox / "eh-central" / "done")
    with pytest.raises(FolderBusy):
        root.mark_handled("eh-central", row.submission_id, by=HUB)
    assert (outbox / "eh-central" / row.folder).is_dir()  # it stays where it was
    assert not (elsewhere / row.folder).exists()  # and never lands in MASH's done/
    assert root.audit.rows() == []
