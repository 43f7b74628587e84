"""Each routing rule, as a pure function of (validation, configuration, time of receipt)."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import RECEIVED
from ehforms.config import load_config
from ehforms.forms import validate
from ehforms.routing import next_meeting, route

CONFIG = load_config(None, environ={})
HUBS = [h.key for h in CONFIG.hubs]


def decide(form, received_at=RECEIVED, config=CONFIG):
    return route(validate(form, received_at, hubs=HUBS), config, received_at)


def test_a_notification_goes_to_the_hub_of_its_postcode(example):
    decision = decide(example("notification"))
    assert decision.status == "routed"
    assert decision.mailboxes == ("eh-central",)
    assert decision.priority == "normal"
    assert decision.due == () and decision.notes == ()


@pytest.mark.parametrize(
    ("postcode", "mailbox"),
    [
        ("M1 1AE", "eh-central"),
        ("M19 2AB", "eh-south"),  # M19 is not M1
        ("M11 4EF", "eh-central"),
        ("M4 5DL", "eh-north"),
        ("M40 7RT", "eh-north"),
        ("m9 8aa", "eh-north"),
        ("M90 1QX", "eh-south"),
    ],
)
def test_the_hub_is_chosen_by_the_outward_code(example, postcode, mailbox):
    form = example("rfas")
    form["address"]["postcode"] = postcode
    assert decide(form).mailboxes == (mailbox,)


@pytest.mark.parametrize("form_type", ["notification", "rfas", "transfer", "closure"])
def test_a_valid_form_no_hub_covers_goes_to_triage(example, form_type):
    form = example(form_type)
    form["address"]["postcode"] = "M60 1AA"
    decision = decide(form)
    assert decision.status == "routed"
    assert decision.mailboxes == ("triage",)
    assert "No hub covers postcode district M60: sent to triage to be allocated by hand" in (
        decision.notes
    )


@pytest.mark.parametrize("change", [{"risk_of_significant_harm": True}, {"level_of_need": 5}])
def test_a_safeguarding_notification_is_redirected_to_mash_even_when_incomplete(example, change):
    form = example("notification")
    form.update(change)
    form.pop("consent")
    form["address"]["postcode"] = "M60 1AA"  # no hub: MASH still comes first
    decision = decide(form)
    assert decision.status == "redirected"
    assert decision.mailboxes == ("mash",)
    assert decision.priority == "urgent"
    assert any("No consent letter is written" in n for n in decision.notes)


def test_a_form_of_no_known_type_that_says_risk_goes_to_mash():
    decision = decide({"risk_of_significant_harm": "yes", "children": "Kai"})
    assert (decision.status, decision.mailboxes, decision.priority) == (
        "redirected",
        ("mash",),
        "urgent",
    )


def test_an_invalid_form_is_rejected(example):
    form = example("rfas")
    form["consent"]["given"] = False
    decision = decide(form)
    assert (decision.status, decision.mailboxes, decision.priority) == ("rejected", (), "normal")


class TestMarf:
    def test_goes_to_mash_with_a_copy_to_the_team_that_stepped_it_down(self, example):
        decision = decide(example("marf"))  # stepped down by north on 2026-09-10
        assert decision.status == "routed"
        assert decision.mailboxes == ("mash", "sw-north")
        assert decision.priority == "urgent"
        assert decision.notes == (
            "Stepped down by the north social work team on 10 September 2026, less than 3 "
            "months ago: copied to sw-north",
        )

    def test_three_months_after_the_step_down_it_goes_to_mash_alone(self, example):
        on_the_day = dt.datetime(2026, 12, 10, 9, tzinfo=dt.UTC)
        day_before = dt.datetime(2026, 12, 9, 23, tzinfo=dt.UTC)
        assert decide(example("marf"), on_the_day).mailboxes == ("mash",)
        assert decide(example("marf"), day_before).mailboxes == ("mash", "sw-north")

    def test_whatever_its_postcode(self, example):
        form = example("marf")
        form["address"]["postcode"] = "SW1A 1AA"
        assert decide(form).mailboxes[0] == "mash"

    def test_is_urgent_only_with_a_child_protection_concern_or_at_the_highest_level(self, example):
        form = example("marf")
        form["child_protection_concern"] = False
        form["level_of_need"] = 4
        form.pop("previous_social_work")
        decision = decide(form)
        assert (decision.mailboxes, decision.priority) == (("mash",), "normal")
        form["level_of_need"] = 5  # the safeguarding level: urgent whatever else it says
        assert decide(form).priority == "urgent"

    def test_a_written_followup_is_due_in_48_hours(self, example):
        (due,) = decide(example("marf")).due
        assert due.as_dict() == {"what": "written_followup", "by": "2026-11-26T09:00:00+00:00"}

    def test_the_followup_time_is_configuration(self, example):
        config = load_config(None, environ={"EHFORMS_TIMESCALES__WRITTEN_FOLLOWUP_HOURS": "24"})
        (due,) = decide(example("marf"), config=config).due
        assert due.by == RECEIVED + dt.timedelta(hours=24)

    def test_an_invalid_marf_is_redirected_to_mash_alone_and_urgent(self, example):
        form = example("marf")
        form["child_protection_concern"] = False
        form.pop("rationale")
        decision = decide(form)
        assert decision.status == "redirected"
        assert decision.mailboxes == ("mash",)
        assert decision.priority == "urgent"
        assert [d.what for d in decision.due] == ["written_followup"]


class TestTransfer:
    def test_level_4_is_due_at_the_next_allocations_meeting(self, example):
        (due,) = decide(example("transfer")).due  # received Tuesday 24 November
        assert due.as_dict() == {"what": "allocations_meeting", "by": "2026-11-26T09:30:00+00:00"}

    def test_level_3_has_no_meeting_due(self, example):
        form = example("transfer")
        form["level_of_need"] = 3
        assert decide(form).due == ()

    def test_an_assessment_over_six_months_old_is_accepted_with_a_note(self, example):
        form = example("transfer")  # referred on 2026-11-19
        form["most_recent_assessment"]["completed_on"] = "2026-05-18"
        decision = decide(form)
        assert decision.status == "routed"
        assert decision.notes == (
            "The most recent assessment was completed on 18 May 2026, more than 6 months before "
            "the referral: agree an Early Help Assessment with the family",
        )
        form["most_recent_assessment"]["completed_on"] = "2026-05-19"
        assert decide(form).notes == ()


@pytest.mark.parametrize(
    ("received", "meeting"),
    [
        (dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC), dt.date(2026, 11, 26)),  # Tuesday
        (dt.datetime(2026, 11, 26, 8, tzinfo=dt.UTC), dt.date(2026, 12, 3)),  # on a Thursday
        (dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC), dt.date(2026, 11, 26)),  # GMT: Wed
        # Thursday 25 December 2025 and Thursday 1 January 2026 are bank holidays
        (dt.datetime(2025, 12, 22, 9, tzinfo=dt.UTC), dt.date(2026, 1, 8)),
        # 23:30 UTC on Wednesday 1 July is already Thursday 2 July in London (BST)
        (dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC), dt.date(2026, 7, 9)),
    ],
)
def test_the_next_meeting_is_the_first_thursday_after_the_local_day_of_receipt(received, meeting):
    found = next_meeting(received, CONFIG)
    assert found.date() == meeting
    assert (found.hour, found.minute) == (9, 30)
    assert found.tzinfo == CONFIG.timezone


def test_the_meeting_day_is_configuration():
    config = load_config(None, environ={"EHFORMS_TIMESCALES__ALLOCATIONS_MEETING_DAY": "monday"})
    assert next_meeting(RECEIVED, config).date() == dt.date(2026, 11, 30)


@pytest.mark.parametrize("form_type", ["rfas", "closure"])
def test_rfas_and_closure_go_to_the_hub(example, form_type):
    assert decide(example(form_type)).mailboxes == ("eh-central",)
