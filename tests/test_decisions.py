"""Every kind of outcome decided without a disk: ``routing.decide`` on the facts alone."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import RECEIVED, load_example
from ehforms.config import load_config
from ehforms.forms import validate
from ehforms.outcomes import build
from ehforms.routing import FAILED_TWICE, Earlier, Submission, decide

CONFIG = load_config(None, environ={})
SID = "01M86CH3M06ZMQQJAKTPK57G3X"


def facts(**kwargs) -> Submission:
    return Submission(SID, RECEIVED, **kwargs)


def validated(form_type: str, **changes):
    form = load_example(form_type)
    form.update(changes)
    return validate(form, RECEIVED, hubs=[h.key for h in CONFIG.hubs])


def test_an_entry_that_is_not_a_file_is_set_aside():
    decision = decide(facts(kind="a named pipe, not a file"), CONFIG)
    assert (decision.status, decision.mailboxes) == ("rejected", ())
    assert decision.problem.startswith("This entry in the inbox was a named pipe, not a file.")
    assert f".ehforms/archive/{SID}" in decision.problem


@pytest.mark.parametrize(
    ("fault", "urgent", "status", "mailboxes", "words"),
    [
        ("KeyError", False, "rejected", (), "a fault in ehforms itself (KeyError)"),
        ("KeyError", True, "redirected", ("mash",), "a fault in ehforms itself (KeyError)"),
        (FAILED_TWICE, False, "rejected", (), "ehforms failed twice on this file"),
        (FAILED_TWICE, True, "redirected", ("mash",), "ehforms failed twice on this file"),
    ],
)
def test_a_file_ehforms_fails_on_goes_to_mash_when_in_doubt(
    fault, urgent, status, mailboxes, words
):
    decision = decide(facts(fault=fault, may_be_urgent=urgent), CONFIG)
    assert (decision.status, decision.mailboxes) == (status, mailboxes)
    assert decision.priority == ("urgent" if urgent else "normal")
    assert words in decision.problem and SID in decision.problem


def test_the_same_bytes_again_are_a_duplicate_that_says_where_the_first_is():
    earlier = Earlier("01EARLIER", RECEIVED, "transfer", "is waiting in outbox/eh-north/x")
    later = Submission(SID, RECEIVED + dt.timedelta(hours=2), earlier=earlier)
    decision = decide(later, CONFIG)
    assert (decision.status, decision.duplicate_of) == ("duplicate", "01EARLIER")
    assert decision.problem == (
        "This file was already received on 24 November 2026 at 09:00 as submission 01EARLIER, "
        "which is waiting in outbox/eh-north/x. It has not been sent on again. If it is a new "
        "form, change it and send it again"
    )
    outcome = build(later, decision, source="t.json", sha256="ab")
    assert outcome.receipt.form_type == "transfer" and outcome.form_json is None
    assert outcome.errors_txt.startswith("This file was already received")


def test_a_form_is_routed_by_its_validation():
    decision = decide(facts(validation=validated("transfer")), CONFIG)
    assert decision.status == "routed" and decision.hub is not None
    assert [d.what for d in decision.due] == ["allocations_meeting"]


def test_a_concern_whose_type_cannot_be_read_is_followed_up_in_writing():
    checked = validate({"risk_of_significant_harm": True}, RECEIVED)
    decision = decide(facts(validation=checked), CONFIG)
    assert (decision.status, decision.mailboxes, decision.priority) == (
        "redirected",
        ("mash",),
        "urgent",
    )
    assert [d.what for d in decision.due] == ["written_followup"]
    assert decision.due[0].by == RECEIVED + dt.timedelta(hours=48)


def test_a_set_aside_entry_gets_no_form_and_one_problem():
    set_aside = facts(kind="a link (a shortcut to another file), not the file itself")
    outcome = build(set_aside, decide(set_aside, CONFIG), source="link.json", sha256=None)
    assert outcome.receipt.sha256 is None and outcome.form_json is None
    assert len(outcome.receipt.errors) == 1 and outcome.documents == {}
    assert outcome.folder == f"20261124-090000_unknown_{SID}"
