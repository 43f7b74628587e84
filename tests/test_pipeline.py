"""The Postroom end to end in-process: every dropped file gets exactly one outcome."""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging

import pytest

from conftest import FORM_TYPES, RECEIVED, load_example
from ehforms.ledger import Ledger
from ehforms.mailroom import Mailroom
from ehforms.outcomes import prepare
from ehforms.pipeline import Postroom
from ehforms.submission import looks_urgent
from helpers import drop, make_root, outcomes, primary, sha
from ledgers import ledger_at

RECEIPT_KEYS = [
    "submission_id",
    "source",
    "sha256",
    "received_at",
    "status",
    "duplicate_of",
    "form_type",
    "mailboxes",
    "priority",
    "errors",
    "notes",
    "documents",
    "due",
    "attachments",
    "missing_attachments",
    "left_out",
    "sent_by",
]


@pytest.fixture
def root(tmp_path):
    config = make_root(tmp_path)
    return tmp_path, config


def postroom(root, workers=1, received_at=RECEIVED):
    path, config = root
    return Postroom(path, config, workers=workers, clock=lambda: received_at)


def test_the_examples_route_as_the_contract_says(root):
    path, _ = root
    for form_type in FORM_TYPES:
        drop(path, f"{form_type}.json", load_example(form_type))
    with postroom(root) as room:
        results = room.run()
    assert all(r.error is None for r in results)
    by_type = {r.outcome.receipt.form_type: r.outcome.receipt.as_dict() for r in results}
    assert {t: (r["status"], r["mailboxes"], r["priority"]) for t, r in by_type.items()} == {
        "notification": ("routed", ["eh-central"], "normal"),
        "rfas": ("routed", ["eh-central"], "normal"),
        "transfer": ("routed", ["eh-central"], "normal"),
        "marf": ("routed", ["mash", "sw-north"], "urgent"),
        "closure": ("routed", ["eh-central"], "normal"),
    }
    marf = by_type["marf"]
    assert list(marf) == RECEIPT_KEYS
    assert marf["received_at"] == "2026-11-24T09:00:00+00:00"
    assert marf["due"] == [{"what": "written_followup", "by": "2026-11-26T09:00:00+00:00"}]
    assert marf["source"] == "marf.json"
    assert marf["duplicate_of"] is None and marf["errors"] == []
    folder = path / "outbox" / "mash" / results[0].outcome.folder
    assert results[0].outcome.receipt.form_type == "marf"  # urgent-looking files go first
    assert sorted(p.name for p in folder.iterdir()) == ["form.json", "marf.json", "receipt.json"]
    assert json.loads((folder / "form.json").read_text())["address"]["postcode"] == "M8 5AB"
    assert (path / "outbox" / "sw-north" / folder.name / "receipt.json").exists()
    assert list((path / "inbox").iterdir()) == []


def test_a_rejected_form_gets_errors_a_person_can_act_on(root, example):
    path, _ = root
    form = example("notification")
    form["address"]["postcode"] = "M8"
    form["children"][0].pop("date_of_birth")
    drop(path, "hughes.json", form)
    with postroom(root) as room:
        (result,) = room.run()
    receipt = result.outcome.receipt.as_dict()
    assert (receipt["status"], receipt["mailboxes"], receipt["priority"]) == (
        "rejected",
        [],
        "normal",
    )
    folder = path / "rejected" / result.outcome.folder
    assert sorted(p.name for p in folder.iterdir()) == ["errors.txt", "hughes.json", "receipt.json"]
    assert (folder / "errors.txt").read_text() == (
        "Enter the child's date of birth, or the expected date of delivery for an unborn child "
        "(children[0].date_of_birth)\n"
        "Postcode must be a UK postcode, like M8 5AB (address.postcode)\n"
    )


def test_a_redirected_form_carries_its_errors_to_mash(root):
    path, _ = root
    drop(path, "urgent.json", {"form_type": "notification", "risk_of_significant_harm": True})
    with postroom(root) as room:
        (result,) = room.run()
    receipt = result.outcome.receipt.as_dict()
    assert (receipt["status"], receipt["mailboxes"], receipt["priority"]) == (
        "redirected",
        ["mash"],
        "urgent",
    )
    folder = path / "outbox" / "mash" / result.outcome.folder
    assert "Enter at least one child (children)" in (folder / "errors.txt").read_text()
    assert json.loads((folder / "form.json").read_text())["risk_of_significant_harm"] is True


def test_a_file_that_is_not_a_form_is_rejected_with_one_message(root):
    path, _ = root
    drop(path, "scan.json", b"\x89PNG\r\n")
    with postroom(root) as room:
        (result,) = room.run()
    assert result.outcome.receipt.as_dict()["errors"] == [
        {
            "field": None,
            "message": "The file is not UTF-8 text: save the form as JSON in UTF-8 and send it again",
        }
    ]


def test_the_same_bytes_again_are_a_duplicate(root):
    path, _ = root
    data = json.dumps(load_example("rfas")).encode()
    drop(path, "rfas.json", data)
    with postroom(root) as room:
        (first,) = room.run()
    drop(path, "rfas (copy).json", data)
    drop(path, "rfas again.json", data)
    later = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC)
    with postroom(root, received_at=later) as room:
        repeats = room.run()
    assert len(repeats) == 2
    for result in repeats:
        receipt = result.outcome.receipt.as_dict()
        assert receipt["status"] == "duplicate"
        assert receipt["duplicate_of"] == first.outcome.receipt.submission_id
        assert receipt["mailboxes"] == [] and receipt["priority"] == "normal"
        folder = path / "rejected" / result.outcome.folder
        assert (folder / "errors.txt").read_text() == (
            f"This file was already received on 24 November 2026 at 09:00 as submission "
            f"{first.outcome.receipt.submission_id}, which is waiting in "
            f"outbox/eh-central/{first.outcome.folder}. It has not been sent on again. If it is "
            "a new form, change it and send it again\n"
        )
    assert len(list((path / "outbox" / "eh-central").glob("2026*"))) == 1


def test_duplicates_in_one_batch_follow_their_first(root):
    path, _ = root
    data = json.dumps(load_example("closure")).encode()
    for n in range(3):
        drop(path, f"closure-{n}.json", data)
    with postroom(root, workers=2) as room:
        results = room.run()
    statuses = sorted(r.outcome.receipt.status for r in results)
    assert statuses == ["duplicate", "duplicate", "routed"]
    assert len(primary(path)[sha(data)]) == 3


def test_a_burst_of_hundreds_of_files_on_two_workers_gets_one_outcome_each(root):
    path, _ = root
    sent = {}
    for n in range(300):
        form = load_example(FORM_TYPES[n % 5])
        form["case_id"] = f"CASE-{n:04d}"
        if n % 7 == 0:
            form["address"] = {"line1": "1 Test Street", "town": "Manchester", "postcode": "M8"}
        data = json.dumps(form).encode()
        drop(path, f"form-{n:04d}.json", data)
        sent[sha(data)] = n
    with postroom(root, workers=2) as room:
        results = room.run()
    assert len(results) == 300
    found = primary(path)
    assert set(found) == set(sent)
    assert all(len(receipts) == 1 for receipts in found.values())
    ledger = Ledger(ledger_at(path))
    assert sum(ledger.counts().values()) == 300
    assert ledger.in_flight() == []
    assert len(list((path / ".ehforms" / "archive").iterdir())) == 300


class TestRecovery:
    """A crash at any point leaves the file recoverable, and nothing is routed twice."""

    def form(self, root):
        path, _ = root
        data = json.dumps(load_example("marf")).encode()  # two mailboxes: mash and sw-north
        drop(path, "marf.json", data)
        return data

    def test_claimed_but_not_yet_in_the_ledger(self, root):
        path, config = root
        data = self.form(root)
        Mailroom(path, config).claim(path / "inbox" / "marf.json", RECEIVED)
        with postroom(root) as room:
            (result,) = room.run()
        assert result.outcome.receipt.as_dict()["received_at"] == "2026-11-24T09:00:00+00:00"
        assert [r["_folder"].parent.name for r in outcomes(path)[sha(data)]] == ["mash", "sw-north"]

    def test_delivered_to_one_mailbox_of_two(self, root, monkeypatch):
        path, config = root
        data = self.form(root)
        room = postroom(root)
        real = room.mailroom.write_file
        calls = {"n": 0}

        def crash_in_second_mailbox(target, payload, **kwargs):
            if "sw-north" in str(target):
                raise OSError(errno.EIO, "injected crash")
            calls["n"] += 1
            real(target, payload, **kwargs)

        monkeypatch.setattr(room.mailroom, "write_file", crash_in_second_mailbox)
        (failed,) = room.run()
        assert failed.error.startswith("Could not write submission")
        room.close()
        monkeypatch.undo()
        with postroom(root) as again:
            (result,) = again.run()
        assert result.error is None
        receipts = outcomes(path)[sha(data)]
        assert [r["_folder"].parent.name for r in receipts] == ["mash", "sw-north"]
        assert len(list((path / "outbox" / "mash").glob("2026*"))) == 1

    def test_in_the_ledger_but_not_archived(self, root, monkeypatch):
        path, _ = root
        self.form(root)
        room = postroom(root)

        def crash(claim):
            raise KeyboardInterrupt  # the process stops here

        monkeypatch.setattr(room.mailroom, "archive_claim", crash)
        with pytest.raises(KeyboardInterrupt):
            room.run()
        room.close()
        monkeypatch.undo()
        with postroom(root) as again:
            assert again.run() == []
        assert list((path / ".ehforms" / "processing").iterdir()) == []
        assert len(list((path / ".ehforms" / "archive").iterdir())) == 1
        assert len(list((path / "outbox" / "mash").glob("2026*"))) == 1


def test_a_failed_delivery_is_retried_with_backoff_and_never_dropped(root, monkeypatch):
    path, _ = root
    drop(path, "rfas.json", load_example("rfas"))
    room = postroom(root)

    def disk_full(target, payload, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(room.mailroom, "write_file", disk_full)
    (result,) = room.run()
    assert "the disk is full" in result.error
    (retry,) = room.retries.values()
    assert retry.attempts == 1
    assert room.run() == []  # not due yet: backoff
    assert len(list((path / ".ehforms" / "processing").iterdir())) == 1
    monkeypatch.undo()
    retry.not_before = 0
    (result,) = room.run()
    assert result.error is None and room.retries == {}
    assert result.outcome.receipt.status == "routed"
    room.close()


def test_a_fault_in_ehforms_still_gives_the_file_an_outcome(root, monkeypatch):
    path, _ = root
    drop(path, "marf.json", load_example("marf"))
    drop(path, "rfas.json", load_example("rfas"))

    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr("ehforms.routing.route", broken)
    with postroom(root) as room:
        results = {r.claim.source: r.outcome.receipt.as_dict() for r in room.run()}
    assert (results["marf.json"]["status"], results["marf.json"]["mailboxes"]) == (
        "redirected",
        ["mash"],
    )
    assert results["rfas.json"]["status"] == "rejected"
    assert (
        "fault in ehforms itself (ZeroDivisionError)"
        in results["rfas.json"]["errors"][0]["message"]
    )


def test_subfolders_and_temporary_files_stay_in_the_inbox(root):
    path, _ = root
    (path / "inbox" / "bundle").mkdir()
    drop(path, "~$draft.json", b"{}")
    drop(path, "copying.part", b"{")
    with postroom(root) as room:
        assert room.run() == []
    assert sorted(p.name for p in (path / "inbox").iterdir()) == [
        "bundle",
        "copying.part",
        "~$draft.json",
    ]


def test_a_hostile_case_id_and_file_name_stay_inside_the_root(root, example):
    path, _ = root
    form = example("rfas")
    form["case_id"] = "../../../../tmp/owned"
    drop(path, "CON.json", form)
    with postroom(root) as room:
        (result,) = room.run()
    folder = path / "outbox" / "eh-central" / result.outcome.folder
    assert folder.name.endswith(f"_rfas_tmp-owned_{result.outcome.receipt.submission_id}")
    assert sorted(p.name for p in folder.iterdir()) == ["_CON.json", "form.json", "receipt.json"]


def test_logs_name_ids_and_case_references_only(root, caplog):
    path, _ = root
    for form_type in FORM_TYPES:
        drop(path, f"{form_type}.json", load_example(form_type))
    with caplog.at_level(logging.INFO, logger="ehforms"), postroom(root) as room:
        room.run()
    text = caplog.text
    assert "MC204811" in text and "claimed" in text
    for personal in (
        "Amelia",
        "Hughes",
        "2016-04-12",
        "M13 9PL",
        "Example Street",
        "Kai",
        "Joanne",
        "marf.json",
    ):
        assert personal not in text


def test_the_ledger_remembers_what_routed_forms_say_of_their_case(root):
    path, _ = root
    drop(path, "transfer.json", load_example("transfer"))
    with postroom(root) as room:
        room.run()
        history = room.ledger.case_history("MC204811")
    assert [form_type for form_type, _ in history] == ["transfer"]
    assert history[0][1]["children"][0]["given_name"] == "Amelia"


def test_prepare_is_pure_and_repeatable():
    data = json.dumps(load_example("transfer")).encode()
    kwargs = dict(
        name="t.json", data=data, submission_id="01ABC", received_at=RECEIVED, config=make_config()
    )
    assert prepare(**kwargs) == prepare(**kwargs)


def make_config():
    from ehforms.config import load_config

    return load_config(None, environ={})


@pytest.mark.parametrize(
    ("head", "urgent"),
    [
        (b'{"form_type": "marf"', True),
        (b'{"risk_of_significant_harm": true}', True),
        (b'{"level_of_need": 5}', True),
        (b'{"form_type": "rfas", "level_of_need": 3}', False),
    ],
)
def test_urgent_looking_files_are_spotted_cheaply(head, urgent):
    assert looks_urgent(head) is urgent


def test_a_file_over_the_size_limit_is_rejected_whole_without_reading_it_all(tmp_path):
    config = make_root(tmp_path, {"EHFORMS_MAX_FILE_BYTES": "2048"})
    data = b'{"form_type": "rfas", "notes": "' + b"x" * 50_000 + b'"}'
    drop(tmp_path, "big.json", data)
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
    receipt = result.outcome.receipt.as_dict()
    assert receipt["status"] == "rejected"
    assert receipt["sha256"] == sha(data)
    assert receipt["errors"][0]["message"].startswith("The file is larger than 2 KB")
    kept = tmp_path / "rejected" / result.outcome.folder / "big.json"
    assert kept.read_bytes() == data


def test_a_closure_in_the_same_batch_as_its_transfer_shows_what_the_family_withheld(root):
    path, _ = root
    drop(path, "a-closure.json", load_example("closure"))  # before the transfer, by name
    drop(path, "b-transfer.json", load_example("transfer"))
    with postroom(root, workers=2) as room:
        results = {r.claim.source: r for r in room.run()}
    folder = path / "outbox" / "eh-central" / results["a-closure.json"].outcome.folder
    from pypdf import PdfReader

    text = " ".join(
        page.extract_text() for page in PdfReader(folder / "case-closure-note.pdf").pages
    )
    assert "Mother's mental health history" in text


LOADED = (
    "sorted(m for m in ('weasyprint', 'docxtpl', 'sqlalchemy') if m in __import__('sys').modules)"
)


def test_a_batch_loads_the_pdf_engine_in_a_worker_only_for_a_form_with_documents(root):
    """``process`` (warm=False): forms that make no documents never load WeasyPrint or docxtpl
    in a worker, so a burst of them holds less memory; the first form with documents loads
    them. A worker loads the database layer only for a closure (what the family withheld).
    ``watch`` (warm=True) loads the PDF engine as each worker starts, for a quick pickup."""
    path, config = root
    for n in range(2):
        drop(path, f"rfas-{n}.json", load_example("rfas"))  # no documents
    with Postroom(path, config, workers=2, clock=lambda: RECEIVED, warm=False) as room:
        results = room.run()
        assert [r.outcome.receipt.documents for r in results] == [(), ()]
        assert room.executor().submit(eval, LOADED).result() == []
        drop(path, "transfer.json", load_example("transfer"))  # a consent letter
        drop(path, "notification.json", load_example("notification"))
        results = room.run()
        assert all(r.outcome.receipt.documents for r in results)
        loaded = {tuple(room.executor().submit(eval, LOADED).result()) for _ in range(8)}
        assert ("docxtpl", "weasyprint") in loaded
        for n in range(2):
            closure = load_example("closure")
            closure["case_id"] = f"{closure['case_id']}{n}"
            drop(path, f"closure-{n}.json", closure)
        results = room.run()
        assert [r.outcome.receipt.status for r in results] == ["routed", "routed"]
        loaded = {tuple(room.executor().submit(eval, LOADED).result()) for _ in range(8)}
        assert any("sqlalchemy" in each for each in loaded)
    with Postroom(path, config, workers=2, clock=lambda: RECEIVED) as room:
        assert "weasyprint" in room.executor().submit(eval, LOADED).result()


def test_the_workers_start_as_the_batch_opens_when_several_forms_wait(root):
    """Their start (a new interpreter each, and its imports) overlaps the opening of the
    ledger; one form alone is done in-line, with no pool at all."""
    path, config = root
    drop(path, "rfas-0.json", load_example("rfas"))
    with Postroom(path, config, workers=2, clock=lambda: RECEIVED) as room:
        assert room._executor is None
        (result,) = room.run()
        assert result.outcome is not None and room._executor is None
    drop(path, "rfas-1.json", load_example("rfas"))
    drop(path, "marf.json", load_example("marf"))
    with Postroom(path, config, workers=2, clock=lambda: RECEIVED) as room:
        assert room._executor is not None
        assert all(r.outcome is not None for r in room.run())
    drop(path, "rfas-3.json", load_example("rfas"))
    drop(path, ".rfas-4.json.partial", b"{")  # a copy under way: not counted
    with Postroom(path, config, workers=2, clock=lambda: RECEIVED) as room:
        assert room._executor is None


@pytest.mark.sqlite_only("a ledger file that cannot be opened (a folder in its place)")
def test_workers_started_early_do_not_outlive_a_ledger_that_cannot_be_opened(root):
    import multiprocessing

    from ehforms.errors import LedgerError

    path, config = root
    for n in range(2):
        drop(path, f"rfas-{n}.json", load_example(["rfas", "marf"][n]))
    (path / ".ehforms" / "ledger.sqlite3").mkdir(parents=True)
    with pytest.raises(LedgerError):
        Postroom(path, config, workers=2, clock=lambda: RECEIVED)
    assert multiprocessing.active_children() == []
    assert sorted(p.name for p in (path / "inbox").iterdir()) == ["rfas-0.json", "rfas-1.json"]
