"""Claiming, delivering and safe names: the only code that writes under the root."""

from __future__ import annotations

import datetime as dt
import errno
import stat

import pytest

from conftest import RECEIVED
from ehforms.errors import DeliveryError
from ehforms.mailroom import Mailroom, Outcome
from ehforms.names import folder_name, ignored, received_at_of, safe_file_name, safe_part
from ehforms.receipts import Receipt
from ehforms.routing import Status
from helpers import make_root


@pytest.mark.parametrize(
    "name",
    [
        "~$form.docx",
        "form.tmp",
        "upload.part",
        ".hidden",
        "Thumbs.db",
        "desktop.ini",
        "DESKTOP.INI",
        "thumbs.db",
        "x.crdownload",
    ],
)
def test_temporary_and_system_names_are_ignored(name):
    assert ignored(name)


@pytest.mark.parametrize("name", ["form.json", "Hughes notification.json", "form.pdf"])
def test_form_names_are_not_ignored(name):
    assert not ignored(name)


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("MC204811", "MC204811"),
        ("../../etc/passwd", "etc-passwd"),
        ("..\\..\\Windows", "Windows"),
        ("C:\\evil", "C-evil"),
        ("CON", "_CON"),
        ("com1", "_com1"),
        ("a/../b", "a-.-b"),
        ("EH 00388", "EH-00388"),
        ("....", ""),
    ],
)
def test_safe_part_removes_separators_dots_and_reserved_names(text, safe):
    assert safe_part(text) == safe


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("notification.json", "notification.json"),
        ("..\\..\\x.json", "x.json"),
        ("receipt.json", "original-receipt.json"),
        ("form.json", "original-form.json"),
        ("NUL.json", "_NUL.json"),
        ("Hughes: Amelia?.json", "Hughes-Amelia.json"),
        ("noext", "noext"),
        (".json", "original-form.json"),
    ],
)
def test_safe_file_name(name, safe):
    assert safe_file_name(name) == safe


def test_folder_names_sort_by_time_and_say_what_they_are():
    assert (
        folder_name(RECEIVED, "transfer", "MC204811", "01ABC")
        == "20261124-090000_transfer_MC204811_01ABC"
    )
    assert folder_name(RECEIVED, None, None, "01ABC") == "20261124-090000_unknown_01ABC"
    assert folder_name(RECEIVED, "marf", "../../../etc", "01ABC") == (
        "20261124-090000_marf_etc_01ABC"
    )


def test_the_submission_id_carries_the_time_of_receipt(tmp_path):
    config = make_root(tmp_path)
    mailroom = Mailroom(tmp_path, config)
    (tmp_path / "inbox" / "a.json").write_text("{}")
    claim = mailroom.claim(tmp_path / "inbox" / "a.json", RECEIVED)
    assert claim.received_at == RECEIVED
    assert received_at_of(claim.submission_id) == RECEIVED


def test_a_claim_is_an_atomic_rename_and_only_one_process_gets_it(tmp_path):
    config = make_root(tmp_path)
    mailroom = Mailroom(tmp_path, config)
    path = tmp_path / "inbox" / "a.json"
    path.write_text("{}")
    claim = mailroom.claim(path, RECEIVED)
    assert not path.exists()
    assert claim.path.read_text() == "{}"
    assert claim.path.parent.parent == tmp_path / ".ehforms" / "processing"
    assert mailroom.claim(path, RECEIVED) is None
    assert [c.submission_id for c in mailroom.claims_in_processing()] == [claim.submission_id]


def test_candidates_leave_subfolders_and_temporary_files_alone(tmp_path):
    config = make_root(tmp_path)
    mailroom = Mailroom(tmp_path, config)
    inbox = tmp_path / "inbox"
    (inbox / "bundle").mkdir()
    (inbox / "bundle" / "form.json").write_text("{}")
    (inbox / "~$draft.docx").write_text("x")
    (inbox / "copying.part").write_text("x")
    (inbox / "form.json").write_text("{}")
    assert [p.name for p in mailroom.candidates()] == ["form.json"]


def outcome(mailboxes=("eh-north",), folder="20261124-090000_rfas_X_01A"):
    return Outcome(
        receipt=Receipt(
            submission_id="01A",
            source="receipt.json",
            sha256=None,
            received_at=RECEIVED,
            status=Status.ROUTED,
            form_type="rfas",
            mailboxes=tuple(mailboxes),
        ),
        folder=folder,
        form_json=b"{}\n",
        errors_txt=None,
    )


@pytest.fixture
def claimed(tmp_path):
    config = make_root(tmp_path)
    mailroom = Mailroom(tmp_path, config)
    path = tmp_path / "inbox" / "receipt.json"
    path.write_text('{"form_type": "rfas"}')
    return mailroom, mailroom.claim(path, RECEIVED)


def test_delivery_writes_every_mailbox_with_safe_modes(claimed, tmp_path):
    mailroom, claim = claimed
    written = mailroom.deliver(claim, outcome(("mash", "sw-north")))
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "outbox/mash/20261124-090000_rfas_X_01A",
        "outbox/sw-north/20261124-090000_rfas_X_01A",
    ]
    for folder in written:
        assert sorted(p.name for p in folder.iterdir()) == [
            "form.json",
            "original-receipt.json",
            "receipt.json",
        ]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750
        for file in folder.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o640
    assert claim.path.exists()  # the claim is archived by the caller, after the ledger


def test_delivery_skips_a_mailbox_already_written_and_replaces_a_partial_one(claimed, tmp_path):
    mailroom, claim = claimed
    mailroom.deliver(claim, outcome(("mash",)))
    marker = tmp_path / "outbox/mash/20261124-090000_rfas_X_01A/form.json"
    marker.write_text("first delivery")
    partial = tmp_path / "outbox/sw-north/.partial-20261124-090000_rfas_X_01A"
    partial.mkdir()
    (partial / "half").write_text("x")
    mailroom.deliver(claim, outcome(("mash", "sw-north")))
    assert marker.read_text() == "first delivery"
    assert not partial.exists()
    assert (tmp_path / "outbox/sw-north/20261124-090000_rfas_X_01A/receipt.json").exists()


def test_a_missing_mailbox_folder_is_a_delivery_error(claimed, tmp_path):
    mailroom, claim = claimed
    (tmp_path / "outbox" / "eh-north" / "done").rmdir()
    (tmp_path / "outbox" / "eh-north").rmdir()
    with pytest.raises(DeliveryError) as raised:
        mailroom.deliver(claim, outcome(("eh-north",)))
    assert str(raised.value) == (
        "The outbox/eh-north folder is missing: make it again (or run `ehforms init`); "
        f"submission {claim.submission_id} waits until then"
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "ehforms is not allowed to write there")],
)
def test_a_write_that_fails_is_a_delivery_error(claimed, monkeypatch, code, reason):
    mailroom, claim = claimed

    def fail(path, data, **kwargs):
        raise OSError(code, "injected")

    monkeypatch.setattr(mailroom, "write_file", fail)
    with pytest.raises(DeliveryError) as raised:
        mailroom.deliver(claim, outcome())
    assert str(raised.value) == (
        f"Could not write submission {claim.submission_id} to outbox/eh-north: {reason}. "
        "It stays claimed and will be tried again"
    )


def test_nothing_is_written_outside_the_root(claimed, tmp_path):
    mailroom, claim = claimed
    with pytest.raises(DeliveryError, match="Refused to write outside the working root"):
        mailroom.write_file(tmp_path.parent / "escape.txt", b"x")
    with pytest.raises(DeliveryError, match="Refused to write outside the working root"):
        mailroom.deliver(claim, outcome(folder="../../../escape"))
    assert not (tmp_path.parent / "escape").exists()


def test_archive_keeps_the_original(claimed, tmp_path):
    mailroom, claim = claimed
    mailroom.archive_claim(claim)
    archived = tmp_path / ".ehforms" / "archive" / claim.submission_id / "receipt.json"
    assert archived.read_text() == '{"form_type": "rfas"}'
    assert list(mailroom.claims_in_processing()) == []


def test_an_empty_claim_folder_left_by_a_crash_is_tidied(tmp_path):
    config = make_root(tmp_path)
    mailroom = Mailroom(tmp_path, config)
    (tmp_path / ".ehforms" / "processing" / "01M86CH3M0GGC8MX6QDB7G9EAY").mkdir()
    assert list(mailroom.claims_in_processing()) == []
    assert list((tmp_path / ".ehforms" / "processing").iterdir()) == []


def test_the_heartbeat(tmp_path):
    config = make_root(tmp_path)
    mailroom = Mailroom(tmp_path, config)
    assert mailroom.heartbeat() is None
    mailroom.beat("events", dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC))
    assert mailroom.heartbeat()["at"] == "2026-11-24T09:00:00+00:00"


def test_a_share_that_refuses_modes_still_gets_the_form(claimed, monkeypatch, caplog):
    mailroom, claim = claimed

    def refuse(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("ehforms.files._warned_modes", set())
    monkeypatch.setattr("os.chmod", refuse)
    monkeypatch.setattr("os.fchmod", refuse)
    with caplog.at_level("WARNING", logger="ehforms"):
        written = mailroom.deliver(claim, outcome(("mash", "sw-north")))
    assert all((folder / "receipt.json").exists() for folder in written)
    assert caplog.messages == ["cannot set file modes here (EPERM): the share's permissions apply"]


def test_a_form_named_like_its_own_document_is_kept_beside_it(tmp_path):
    # a notification sent as "consent-letter.pdf" gets a consent letter of that very name:
    # the letter is written, and the form's own file kept under a name of its own
    import json

    from conftest import load_example
    from ehforms.core import Root
    from helpers import drop

    make_root(tmp_path)
    form = json.dumps(load_example("notification")).encode()
    drop(tmp_path, "Consent-Letter.pdf", form)
    with Root.open(tmp_path, environ={}) as root:
        root.process(workers=1, received_at=RECEIVED)
        (row,) = root.mailbox("eh-central")
        view = root.form_view("eh-central", row.submission_id)
    folder = tmp_path / "outbox" / "eh-central" / row.folder
    assert (folder / "consent-letter.pdf").read_bytes().startswith(b"%PDF")
    assert (folder / "Consent-Letter-2.pdf").read_bytes() == form
    # the form page serves the original under the name it was kept as, first
    assert view.files[0].name == "Consent-Letter-2.pdf"
    assert "consent-letter.pdf" in [f.name for f in view.files[1:]]
