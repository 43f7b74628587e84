"""The audit trail: append-only rows, newest first, filtered by case, user and time, paged."""

from __future__ import annotations

import datetime as dt

import pytest

from ehforms.audit import Action, email_hash
from ehforms.core import Root
from helpers import make_root
from ledgers import Sql

START = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def root(tmp_path) -> Root:
    make_root(tmp_path)
    opened = Root.open(tmp_path, environ={})
    yield opened
    opened.close()


def at(minutes: int):
    return lambda: START + dt.timedelta(minutes=minutes)


def fill(root: Root) -> None:
    entries = [
        ("hub@example.gov.uk", Action.VIEWED_MAILBOX, None, None, "eh-north"),
        ("hub@example.gov.uk", Action.VIEWED_FORM, "01M86CH3M0HS8KVQCDJVKDB3S9", "EH-00388", None),
        ("Lead@Example.gov.uk", Action.PREFILLED_FORM, None, "MC204811", "rfas (pdf)"),
        ("hub@example.gov.uk", Action.MARKED_HANDLED, "01M86CH3M0HS8KVQCDJVKDB3S9", None, "mash"),
        ("root", Action.PREFILLED_FORM, None, "EH-00388", "marf (json), command line"),
    ]
    for minute, (who, action, sid, case, detail) in enumerate(entries):
        root.audit.clock = at(minute)
        root.audit.record(who, action, submission_id=sid, case=case, detail=detail)


def test_rows_come_newest_first_with_what_was_recorded(root):
    fill(root)
    found = root.audit.rows()
    assert [r.at for r in found] == [START + dt.timedelta(minutes=m) for m in (4, 3, 2, 1, 0)]
    newest = found[0]
    assert (newest.who, newest.action, newest.case, newest.detail) == (
        "root",
        "prefilled form",
        "EH-00388",
        "marf (json), command line",
    )
    assert found[1].submission_id == "01M86CH3M0HS8KVQCDJVKDB3S9" and found[1].case is None


def test_rows_by_case_user_and_since(root):
    fill(root)
    assert [r.action for r in root.audit.rows(case="EH-00388")] == [
        "prefilled form",
        "viewed form",
    ]
    assert [r.action for r in root.audit.rows(user=" HUB@example.gov.uk")] == [
        "marked handled",
        "viewed form",
        "viewed mailbox",
    ]
    # an email is kept as accounts keep it: trimmed, lower-cased
    assert [r.who for r in root.audit.rows(user="lead@example.gov.uk")] == ["lead@example.gov.uk"]
    since = START + dt.timedelta(minutes=3)
    assert [r.action for r in root.audit.rows(since=since)] == ["prefilled form", "marked handled"]
    # another time zone, the same instant
    since_london = since.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert len(root.audit.rows(since=since_london)) == 2
    assert root.audit.rows(case="EH-00388", user="root", since=since) == root.audit.rows(limit=1)


def test_rows_are_paged(root):
    fill(root)
    everything = root.audit.rows()
    assert root.audit.rows(limit=2) == everything[:2]
    assert root.audit.rows(limit=2, offset=2) == everything[2:4]
    assert root.audit.rows(limit=2, offset=4) == everything[4:]
    assert root.audit.rows(limit=2, offset=6) == []


def test_rows_recorded_in_the_same_instant_keep_their_order(root):
    root.audit.clock = at(0)
    for n in range(3):
        root.audit.record("hub@example.gov.uk", Action.VIEWED_FORM, detail=str(n))
    assert [r.detail for r in root.audit.rows()] == ["2", "1", "0"]


def test_the_trail_is_append_only(root):
    fill(root)
    for statement in ("UPDATE audit SET who = 'someone else'", "DELETE FROM audit"):
        db = Sql(root.path)
        try:
            with pytest.raises(Exception, match="append-only"):
                db.execute(statement)
        finally:
            db.close()
    assert len(root.audit.rows()) == 5


def test_a_failed_sign_in_is_found_by_the_email_it_was_for(root):
    root.audit.record("#" + email_hash("Sam@example.gov.uk"), Action.SIGN_IN_FAILED)
    root.audit.record("sam@example.gov.uk", Action.SIGNED_IN)
    assert [r.action for r in root.audit.rows(user="sam@EXAMPLE.gov.uk ")] == [
        "signed in",
        "sign-in failed",
    ]
    assert root.audit.rows(user="someone@example.gov.uk") == []


def test_a_time_without_a_zone_is_refused(root):
    with pytest.raises(ValueError, match="time zone"):
        root.audit.rows(since=dt.datetime(2026, 11, 24))
