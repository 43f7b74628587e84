"""Bundles through the mailroom: a ZIP file or a settled subfolder of the inbox travels like a
form, with its attachments in ``attachments/`` of every mailbox folder it goes to, and every
entry left out named. The ZIPs are built here, not committed."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfWriter

from conftest import load_example
from ehforms.bundles import read_zip
from ehforms.pipeline import Postroom
from ehforms.status import summarise
from helpers import make_root, sha

RECEIVED = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
ASSESSMENT = "hughes-cafa-2026-10.pdf"
CONSENT = "hughes-consent-signed.pdf"


def pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zipped(*entries: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def form(form_type: str, **changes) -> bytes:
    data = load_example(form_type)
    data.update(changes)
    return json.dumps(data).encode()


TRANSFER = form("transfer")
ASSESSMENT_PDF = pdf(1)
CONSENT_PDF = pdf(2)


@pytest.fixture
def root(tmp_path):
    return tmp_path, make_root(tmp_path)


def run(root, received_at=RECEIVED):
    path, config = root
    with Postroom(path, config, workers=1, clock=lambda: received_at) as room:
        return [r.outcome.receipt for r in room.run() if r.outcome is not None]


def folder_of(root_path: Path, receipt) -> Path:
    place = receipt.mailboxes[0] if receipt.mailboxes else None
    base = root_path / "outbox" / place if place else root_path / "rejected"
    (found,) = [f for f in base.iterdir() if f.name.endswith(receipt.submission_id)]
    return found


def test_a_zip_bundle_is_routed_with_its_attachments_in_every_mailbox(root):
    path, _ = root
    data = zipped(("transfer.json", TRANSFER), (ASSESSMENT, ASSESSMENT_PDF), (CONSENT, CONSENT_PDF))
    (path / "inbox" / "Hughes transfer.zip").write_bytes(data)
    (receipt,) = run(root)
    assert receipt.status == "routed" and receipt.form_type == "transfer"
    assert receipt.source == "Hughes transfer.zip"
    expected = read_zip(data)
    assert receipt.sha256 == expected.identity
    assert sorted((a.name, a.sha256, a.bytes) for a in receipt.attachments) == sorted(
        [
            (ASSESSMENT, sha(ASSESSMENT_PDF), len(ASSESSMENT_PDF)),
            (CONSENT, sha(CONSENT_PDF), len(CONSENT_PDF)),
        ]
    )
    assert receipt.missing_attachments == () and receipt.left_out == ()
    for mailbox in receipt.mailboxes:
        folder = folder_of(path, receipt) if mailbox == receipt.mailboxes[0] else None
        folder = folder or next((path / "outbox" / mailbox).glob(f"*{receipt.submission_id}"))
        names = sorted(p.name for p in folder.iterdir())
        assert "transfer.json" in names and "form.json" in names and "attachments" in names
        assert not any(n.endswith(".zip") for n in names)  # the ZIP stays in the archive
        assert (folder / "attachments" / ASSESSMENT).read_bytes() == ASSESSMENT_PDF
        assert (folder / "attachments" / CONSENT).read_bytes() == CONSENT_PDF
        written = json.loads((folder / "receipt.json").read_text())
        assert written["attachments"] and written["left_out"] == []
    archived = list((path / ".ehforms" / "archive").glob("*/Hughes transfer.zip"))
    assert len(archived) == 1 and archived[0].read_bytes() == data
    assert list((path / "inbox").iterdir()) == []


def test_what_the_form_names_and_the_bundle_lacks_is_listed_and_the_form_still_goes(root):
    path, _ = root
    (path / "inbox" / "t.zip").write_bytes(zipped(("transfer.json", TRANSFER)))
    (receipt,) = run(root)
    assert receipt.status == "routed"
    assert receipt.missing_attachments == (CONSENT, ASSESSMENT)
    assert any(f"names {ASSESSMENT}, which is not in the bundle" in n for n in receipt.notes)
    assert not (folder_of(path, receipt) / "attachments").exists()


def test_names_are_matched_by_base_name_whatever_their_case(root):
    path, _ = root
    data = zipped(
        ("Transfer/transfer.json", TRANSFER),
        ("Transfer/" + ASSESSMENT.upper(), ASSESSMENT_PDF),
        ("Transfer/" + CONSENT, CONSENT_PDF),
    )
    (path / "inbox" / "t.zip").write_bytes(data)
    (receipt,) = run(root)
    assert receipt.missing_attachments == ()


def test_hostile_entries_are_left_out_and_named_and_the_form_is_delivered(root):
    path, _ = root
    data = zipped(
        ("transfer.json", TRANSFER),
        (ASSESSMENT, ASSESSMENT_PDF),
        ("../../etc/cron.d/evil.pdf", ASSESSMENT_PDF),
        ("inner.zip", zipped(("x.pdf", ASSESSMENT_PDF))),
        ("run.exe", b"MZ\x90\x00" + b"\0" * 100),
        ("bomb.pdf", b"%PDF-" + b"\0" * 2_000_000),
    )
    (path / "inbox" / "t.zip").write_bytes(data)
    (receipt,) = run(root)
    assert receipt.status == "routed"
    left = {x.entry: x.message for x in receipt.left_out}
    assert set(left) == {"../../etc/cron.d/evil.pdf", "inner.zip", "run.exe", "bomb.pdf"}
    assert "climbs out of the bundle" in left["../../etc/cron.d/evil.pdf"]
    assert "archive inside the bundle" in left["inner.zip"]
    assert "zip bomb" in left["bomb.pdf"]
    folder = folder_of(path, receipt)
    errors = (folder / "errors.txt").read_text()
    for entry in left:
        assert f"{entry}: left out of the bundle because" in errors
    assert [p.name for p in (folder / "attachments").iterdir()] == [ASSESSMENT]
    assert not (path / "etc").exists() and not Path("/etc/cron.d/evil.pdf").exists()


def test_a_bundle_refused_as_a_whole_goes_to_rejected_as_it_came(root):
    path, _ = root
    data = zipped(("transfer.json", TRANSFER), ("rfas.json", form("rfas")))
    (path / "inbox" / "two.zip").write_bytes(data)
    (receipt,) = run(root)
    assert receipt.status == "rejected" and receipt.mailboxes == ()
    assert "more than one form" in receipt.errors[0].message
    folder = folder_of(path, receipt)
    assert (folder / "two.zip").read_bytes() == data
    assert "send each form in a bundle of its own" in (folder / "errors.txt").read_text()


def test_a_risk_notification_in_a_bad_bundle_goes_to_mash_urgent_with_the_good_attachments(
    root,
):
    path, config = root
    risky = form("notification", risk_of_significant_harm=True)
    data = zipped(
        ("notification.json", risky),
        ("other.json", form("rfas")),
        ("consent.pdf", CONSENT_PDF),
        ("../x.pdf", CONSENT_PDF),
    )
    (path / "inbox" / "risk.zip").write_bytes(data)
    (receipt,) = run(root)
    assert receipt.status == "redirected" and receipt.mailboxes == (config.mash_mailbox,)
    assert receipt.priority == "urgent"
    assert [x.entry for x in receipt.left_out] == ["../x.pdf"]
    folder = folder_of(path, receipt)
    assert (folder / "attachments" / "consent.pdf").read_bytes() == CONSENT_PDF
    assert (folder / "notification.json").read_bytes() == risky
    assert (folder / "other.json").exists()  # nothing of the bundle is lost
    errors = (folder / "errors.txt").read_text()
    assert "more than one form" in errors and "../x.pdf: left out" in errors


def test_a_marf_in_a_bundle_over_the_limits_still_reaches_mash(root):
    path, config = root
    entries = [("marf.json", form("marf"))] + [(f"p{i}.pdf", ASSESSMENT_PDF) for i in range(25)]
    (path / "inbox" / "many.zip").write_bytes(zipped(*entries))
    (receipt,) = run(root)
    assert receipt.status == "redirected" and receipt.mailboxes == (config.mash_mailbox,)
    assert receipt.priority == "urgent" and "26 files" in receipt.errors[0].message


def test_a_damaged_zip_whose_bytes_say_risk_reaches_mash(root):
    path, config = root
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # stored: the text shows
        archive.writestr("n.json", form("notification", risk_of_significant_harm=True))
    damaged = out.getvalue()[:-30]  # the central directory cut off
    (path / "inbox" / "damaged.zip").write_bytes(damaged)
    (receipt,) = run(root)
    assert receipt.mailboxes == (config.mash_mailbox,) and receipt.priority == "urgent"
    assert "could not be opened" in receipt.errors[0].message
    assert receipt.sha256 == sha(damaged)


def test_the_same_bundle_again_is_a_duplicate_whatever_its_names_and_order(root):
    path, _ = root
    first = zipped(("transfer.json", TRANSFER), (ASSESSMENT, ASSESSMENT_PDF))
    (path / "inbox" / "a.zip").write_bytes(first)
    (one,) = run(root)
    again = zipped(("renamed.pdf", ASSESSMENT_PDF), ("form.json", TRANSFER))
    (path / "inbox" / "b.zip").write_bytes(again)
    (two,) = run(root, RECEIVED + dt.timedelta(minutes=5))
    assert one.status == "routed" and two.status == "duplicate"
    assert two.duplicate_of == one.submission_id and two.sha256 == one.sha256


def test_the_same_form_with_other_attachments_is_routed_again_with_a_note(root):
    path, _ = root
    (path / "inbox" / "transfer.json").write_bytes(TRANSFER)  # first alone
    (alone,) = run(root)
    (path / "inbox" / "a.zip").write_bytes(zipped(("t.json", TRANSFER), (ASSESSMENT, pdf(1))))
    (bundled,) = run(root, RECEIVED + dt.timedelta(minutes=5))
    (path / "inbox" / "b.zip").write_bytes(zipped(("t.json", TRANSFER), (ASSESSMENT, pdf(3))))
    (other,) = run(root, RECEIVED + dt.timedelta(minutes=10))
    assert alone.status == bundled.status == other.status == "routed"
    assert f"Same form as submission {alone.submission_id}" in bundled.notes
    assert f"Same form as submission {alone.submission_id}" in other.notes
    assert not any(n.startswith("Same form") for n in alone.notes)


def settle(folder: Path, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    for entry in [*folder.rglob("*"), folder]:
        os.utime(entry, (when, when), follow_symlinks=False)


def test_a_settled_subfolder_is_taken_as_a_bundle(root):
    path, _ = root
    folder = path / "inbox" / "Hughes from email"
    folder.mkdir()
    (folder / "transfer.json").write_bytes(TRANSFER)
    (folder / ASSESSMENT).write_bytes(ASSESSMENT_PDF)
    (folder / "Thumbs.db").write_bytes(b"\0\1")
    settle(folder, 120)
    (receipt,) = run(root)
    assert receipt.status == "routed" and receipt.source == "Hughes from email"
    assert [a.name for a in receipt.attachments] == [ASSESSMENT]
    delivered = folder_of(path, receipt)
    assert (delivered / "attachments" / ASSESSMENT).read_bytes() == ASSESSMENT_PDF
    assert (delivered / "transfer.json").read_bytes() == TRANSFER
    assert not folder.exists()
    archived = list((path / ".ehforms" / "archive").glob("*/Hughes from email"))
    assert len(archived) == 1 and (archived[0] / "transfer.json").read_bytes() == TRANSFER


def test_a_subfolder_still_changing_or_holding_a_partial_copy_is_never_half_taken(root):
    path, config = root
    fresh = path / "inbox" / "being copied"
    fresh.mkdir()
    (fresh / "transfer.json").write_bytes(TRANSFER)
    partial = path / "inbox" / "half done"
    partial.mkdir()
    (partial / "transfer.json").write_bytes(TRANSFER)
    (partial / "assessment.pdf.part").write_bytes(b"%PDF-1.4 half")
    settle(partial, 2 * 3600)
    empty = path / "inbox" / "New folder"
    empty.mkdir()
    assert run(root) == []
    assert (fresh / "transfer.json").exists() and (partial / "transfer.json").exists()
    status = summarise(Postroom(path, config).mailroom, dt.datetime.now(dt.UTC))
    assert status["unsettled_folders"] == 1  # the half-done copy, there for over an hour
    settle(fresh, 120)
    (receipt,) = run(root)
    assert receipt.source == "being copied"


def test_links_and_deeper_folders_in_a_subfolder_are_left_out_never_followed(root, tmp_path):
    path, _ = root
    secret = tmp_path.parent / f"{tmp_path.name}-secret.pdf"
    secret.write_bytes(ASSESSMENT_PDF)
    folder = path / "inbox" / "bundle"
    folder.mkdir()
    (folder / "transfer.json").write_bytes(TRANSFER)
    (folder / "link.pdf").symlink_to(secret)
    (folder / "deeper" / "down").mkdir(parents=True)
    (folder / "deeper" / "down" / "x.pdf").write_bytes(ASSESSMENT_PDF)
    settle(folder, 120)
    (receipt,) = run(root)
    left = {x.entry: x.message for x in receipt.left_out}
    assert "link" in left["link.pdf"]
    assert "deeper/down/" in left
    assert receipt.attachments == ()
    assert secret.read_bytes() == ASSESSMENT_PDF


def test_a_risk_bundle_is_taken_before_other_work(root):
    path, _ = root
    for i in range(5):
        (path / "inbox" / f"a{i}.json").write_bytes(form("rfas", case_id=f"EH{i:05d}"))
    risky = zipped(("n.json", form("notification", risk_of_significant_harm=True)))
    (path / "inbox" / "z-risk.zip").write_bytes(risky)
    _, config = root
    with Postroom(path, config, workers=1, clock=lambda: RECEIVED) as room:
        assert room.backlog()[0].name == "z-risk.zip"


@pytest.mark.slow
def test_the_watcher_takes_a_folder_once_it_has_settled_and_not_before(tmp_path):
    from helpers import Running, wait_for

    fast = {
        "EHFORMS_WATCH__QUIET_SECONDS": "0.3",
        "EHFORMS_WATCH__RESCAN_SECONDS": "0.3",
        "EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.2",
        "EHFORMS_WATCH__BUNDLE_SETTLE_SECONDS": "2",
    }
    with Running(tmp_path, fast):
        folder = tmp_path / "inbox" / "from email"
        folder.mkdir()
        (folder / "transfer.json").write_bytes(TRANSFER)
        started = time.monotonic()
        for _ in range(3):  # still being copied: a file every half second
            time.sleep(0.5)
            (folder / f"page{_}.pdf").write_bytes(pdf(_ + 1))
        last_change = time.monotonic()
        assert wait_for(lambda: not folder.exists(), timeout=30)
        assert time.monotonic() - last_change >= 1.5  # nothing taken before it settled
        assert wait_for(lambda: list((tmp_path / "outbox").glob("*/*/receipt.json")))
        receipts = list((tmp_path / "outbox").glob("*/*/receipt.json"))
        assert len(receipts) == 1
        receipt = json.loads(receipts[0].read_text())
        assert sorted(a["name"] for a in receipt["attachments"]) == [
            "page0.pdf",
            "page1.pdf",
            "page2.pdf",
        ]
        assert time.monotonic() - started < 30


def test_the_receipt_written_reads_back_as_the_same_receipt(root):
    from ehforms.receipts import Receipt

    path, _ = root
    data = zipped(("transfer.json", TRANSFER), (ASSESSMENT, ASSESSMENT_PDF), ("x.exe", b"MZ"))
    (path / "inbox" / "t.zip").write_bytes(data)
    (receipt,) = run(root)
    written = (folder_of(path, receipt) / "receipt.json").read_bytes()
    assert Receipt.from_json(written) == receipt
    shape = json.loads(written)
    assert shape["attachments"] == [
        {"name": ASSESSMENT, "sha256": sha(ASSESSMENT_PDF), "bytes": len(ASSESSMENT_PDF)}
    ]
    assert shape["missing_attachments"] == [CONSENT]
    assert shape["left_out"] == [
        {"entry": "x.exe", "message": "it is not a PDF, Word document, JPEG or PNG"}
    ]
    assert shape["sent_by"] is None


def test_a_lone_form_has_the_bundle_fields_empty(root):
    path, _ = root
    (path / "inbox" / "transfer.json").write_bytes(TRANSFER)
    (receipt,) = run(root)
    shape = json.loads((folder_of(path, receipt) / "receipt.json").read_text())
    assert (shape["attachments"], shape["missing_attachments"], shape["left_out"]) == ([], [], [])
    assert receipt.sha256 == sha(TRANSFER)


class TestAStopMidBundle:
    """A process stopped at each point of a bundle's life: nothing lost, nothing delivered
    twice, never half a bundle in a mailbox (a process's SIGKILL is tests/test_chaos.py's)."""

    def bundle(self, path: Path) -> bytes:
        data = zipped(("marf.json", form("marf")), ("a.pdf", pdf(1)), ("b.pdf", pdf(2)))
        (path / "inbox" / "marf.zip").write_bytes(data)  # mash and sw-north
        return data

    def copies(self, path: Path) -> list[Path]:
        return sorted(p for p in path.glob("outbox/*/*_marf_*") if not p.name.startswith("."))

    def test_claimed_and_stopped_before_it_was_unpacked(self, root):
        from ehforms.mailroom import Mailroom

        path, config = root
        self.bundle(path)
        claim = Mailroom(path, config).claim(path / "inbox" / "marf.zip", RECEIVED)
        assert claim is not None and claim.bundle == "zip"
        (receipt,) = run(root)
        assert receipt.submission_id == claim.submission_id
        assert [c.parent.name for c in self.copies(path)] == ["mash", "sw-north"]

    def test_a_folder_claimed_and_stopped_is_finished_as_a_bundle(self, root):
        from ehforms.mailroom import Mailroom

        path, config = root
        folder = path / "inbox" / "marf docs"
        folder.mkdir()
        (folder / "marf.json").write_bytes(form("marf"))
        (folder / "a.pdf").write_bytes(pdf(1))
        settle(folder, 120)
        claim = Mailroom(path, config).claim(folder, RECEIVED)
        assert claim is not None and claim.bundle == "folder" and claim.kind is None
        (receipt,) = run(root)
        assert [a.name for a in receipt.attachments] == ["a.pdf"]
        for copy in self.copies(path):
            assert [p.name for p in (copy / "attachments").iterdir()] == ["a.pdf"]

    def test_stopped_half_way_through_writing_the_attachments(self, root, monkeypatch):
        path, _ = root
        self.bundle(path)
        _, config = root
        room = Postroom(path, config, workers=1, clock=lambda: RECEIVED)
        real = room.mailroom.write_file

        def stop_at_the_second_attachment(target, payload, **kwargs):
            if target.name == "b.pdf":
                raise KeyboardInterrupt  # the process stops here
            real(target, payload, **kwargs)

        monkeypatch.setattr(room.mailroom, "write_file", stop_at_the_second_attachment)
        with pytest.raises(KeyboardInterrupt):
            room.run()
        room.close()
        monkeypatch.undo()
        assert self.copies(path) == []  # only a .partial- folder, which hub staff never see
        assert list(path.glob("outbox/mash/.partial-*"))
        (receipt,) = run(root)
        copies = self.copies(path)
        assert [c.parent.name for c in copies] == ["mash", "sw-north"]
        for copy in copies:
            assert sorted(p.name for p in (copy / "attachments").iterdir()) == ["a.pdf", "b.pdf"]
        assert not list(path.glob("outbox/*/.partial-*"))
        assert list((path / ".ehforms" / "processing").iterdir()) == []

    def test_a_bundle_changed_after_its_claim_is_read_again_not_half_taken(self, root, monkeypatch):
        from ehforms import jobs

        path, _ = root
        self.bundle(path)
        real = jobs.read_bundle
        calls = {"n": 0}

        def changed_once(claim, limits):
            calls["n"] += 1
            bundle, identity, data = real(claim, limits)
            if calls["n"] == 2:  # the worker's read, after the claim's
                identity = "0" * 64
            return bundle, identity, data

        monkeypatch.setattr(jobs, "read_bundle", changed_once)
        _, config = root
        with Postroom(path, config, workers=1, clock=lambda: RECEIVED) as room:
            (first,) = room.run()
            assert first.error is not None and "changed after it was taken" in first.error
            assert self.copies(path) == []
            room.retries.clear()  # no waiting for the backoff in a test
            (second,) = room.run()
        assert second.outcome is not None and second.outcome.receipt.status == "routed"
        assert len(self.copies(path)) == 2


def test_a_form_sent_with_attachments_through_the_core_travels_as_a_bundle(root):
    from ehforms.core import Root

    path, config = root
    with Root.open(path) as opened:
        sid = opened.send(
            ("transfer.json", TRANSFER),
            [(ASSESSMENT, ASSESSMENT_PDF), ("photo.gif", b"GIF89a....")],
            sent_by="sam.worker@example.gov.uk",
            received_at=RECEIVED,
        )
        alone = opened.send(("rfas.json", form("rfas")), received_at=RECEIVED)
    claimed = path / ".ehforms" / "processing" / sid
    assert (claimed / "transfer.json" / ASSESSMENT).read_bytes() == ASSESSMENT_PDF
    incoming = path / ".ehforms" / "incoming"
    assert (incoming.stat().st_mode & 0o777) == 0o700  # private while it is written
    assert not (incoming / sid).exists()  # claimed whole, by one rename
    receipts = {r.submission_id: r for r in run(root)}
    sent = receipts[sid]
    assert sent.status == "routed" and sent.source == "transfer.json"
    assert sent.received_at == RECEIVED and sent.sent_by == "sam.worker@example.gov.uk"
    assert [a.name for a in sent.attachments] == [ASSESSMENT]
    assert [x.entry for x in sent.left_out] == ["photo.gif"]
    assert sent.missing_attachments == (CONSENT,)
    assert (folder_of(path, sent) / "attachments" / ASSESSMENT).exists()
    assert receipts[alone].attachments == () and receipts[alone].sent_by is None
    assert receipts[alone].status == "routed"
    from ledgers import Sql

    with Sql(path) as db:
        recorded = dict(db.execute("SELECT submission_id, sent_by FROM submissions"))
    assert recorded == {sid: "sam.worker@example.gov.uk", alone: None}


@pytest.mark.parametrize("name", ["attachments", "consent-letter.pdf", "ATTACHMENTS"])
def test_a_form_named_like_what_else_its_folder_holds_is_kept_beside_it(root, name):
    """Found by review: a form entry named ``attachments`` jammed its delivery for good, and
    one named like a document was overwritten by it."""
    path, _ = root
    form_bytes = form("notification")  # gets a consent letter
    data = zipped((name, form_bytes), ("scan.pdf", ASSESSMENT_PDF))
    (path / "inbox" / "odd.zip").write_bytes(data)
    (receipt,) = run(root)
    assert receipt.status == "routed"
    folder = folder_of(path, receipt)
    assert (folder / "attachments" / "scan.pdf").read_bytes() == ASSESSMENT_PDF
    assert (folder / "consent-letter.pdf").read_bytes().startswith(b"%PDF")
    originals = [p for p in folder.iterdir() if p.is_file() and p.read_bytes() == form_bytes]
    assert len(originals) == 1 and originals[0].name.lower() != name.lower()
