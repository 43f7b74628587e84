"""Every rule of the contract, with a passing and a failing case."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import FORM_TYPES, RECEIVED, load_example
from ehforms.forms import FieldError, flatten, validate

HUBS = ("north", "central", "south")


def check(form, received_at=RECEIVED):
    return validate(form, received_at, hubs=HUBS)


def problems(form, received_at=RECEIVED):
    return [(e.field, e.message) for e in check(form, received_at).errors]


@pytest.mark.parametrize("form_type", FORM_TYPES)
def test_every_example_form_is_valid(form_type):
    result = check(load_example(form_type))
    assert result.errors == ()
    assert result.valid
    assert result.form_type == form_type


def test_a_valid_form_is_normalised(example):
    form = example("marf")
    form["children"][0]["date_of_birth"] = "18/06/2012"
    form["children"][0]["nhs_number"] = "943 476 5919"
    form["referrer"]["name"] = "  Sam Reid  "
    data = check(form).data
    assert data["address"]["postcode"] == "M8 5AB"
    assert data["children"][0]["date_of_birth"] == dt.date(2012, 6, 18)
    assert data["children"][0]["nhs_number"] == "9434765919"
    assert data["referrer"]["name"] == "Sam Reid"
    assert data["submitted_at"] == dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


# (form type, change to the example, field path, message): each rule's failing case.
RULES = [
    # Common parts
    (
        "notification",
        lambda f: f["address"].update(postcode="XYZ 123"),
        "address.postcode",
        "Postcode must be a UK postcode, like M8 5AB",
    ),
    (
        "notification",
        lambda f: f["children"][0].update(date_of_birth="2027-01-01"),
        "children[0].date_of_birth",
        "The child's date of birth must be in the past",
    ),
    (
        "notification",
        lambda f: f["children"][0].pop("date_of_birth"),
        "children[0].date_of_birth",
        "Enter the child's date of birth, or the expected date of delivery for an unborn child",
    ),
    (
        "notification",
        lambda f: f["children"][1].update(date_of_birth="1999-01-01"),
        "children[1].date_of_birth",
        "The child's date of birth must be less than 25 years ago: Early Help is for children "
        "and young people under 25",
    ),
    (
        "notification",
        lambda f: f["children"][0].update(date_of_birth="30/02/2016"),
        "children[0].date_of_birth",
        "The child's date of birth must be a real date, like 20/11/2026",
    ),
    (
        "notification",
        lambda f: f["children"][0].update(date_of_birth="04/12/2016 "),
        None,
        None,
    ),  # UK order, trimmed: valid
    (
        "notification",
        lambda f: f["children"][0].update(expected_date_of_delivery="2027-03-01"),
        "children[0].expected_date_of_delivery",
        "Enter the child's date of birth or the expected date of delivery, not both",
    ),
    (
        "notification",
        lambda f: f["children"][0].update(nhs_number="9434765918"),
        "children[0].nhs_number",
        "Check the child's NHS number: the digits do not make a real NHS number, so one may be "
        "mistyped",
    ),
    (
        "notification",
        lambda f: f["children"][0].update(nhs_number="94347659"),
        "children[0].nhs_number",
        "The child's NHS number must be 10 digits, like 943 476 5919",
    ),
    (
        "notification",
        lambda f: f["children"][0].update(given_name="   "),
        "children[0].given_name",
        "Enter the child's first name",
    ),
    ("notification", lambda f: f.update(children=[]), "children", "Enter at least one child"),
    ("notification", lambda f: f.pop("children"), "children", "Enter at least one child"),
    (
        "notification",
        lambda f: f["family"][0].update(date_of_birth="2030-01-05"),
        "family[0].date_of_birth",
        "The family member's date of birth must be in the past",
    ),
    (
        "notification",
        lambda f: f["family"][0].update(relationship="aunt"),
        "family[0].relationship",
        "The family member's relationship to the child must be mother, father, step_parent, "
        "carer, grandparent, sibling or other",
    ),
    (
        "notification",
        lambda f: f["family"][0].update(dob="1990-01-05"),
        "family[0].dob",
        "This is not a field of this form: check the spelling of its name, or remove it",
    ),
    (
        "notification",
        lambda f: f.update(refferer={}),
        "refferer",
        "This is not a field of this form: check the spelling of its name, or remove it",
    ),
    (
        "notification",
        lambda f: f["address"].update(housing="tent"),
        "address.housing",
        "Housing must be owner_occupier, private_rented, housing_association, council, "
        "temporary or other",
    ),
    ("notification", lambda f: f["address"].pop("town"), "address.town", "Enter the town or city"),
    (
        "notification",
        lambda f: f.update(address="14 Example Street"),
        "address",
        "Address must be a group of fields, not a single value",
    ),
    (
        "notification",
        lambda f: [f["referrer"].pop(k) for k in ("email", "phone")],
        "referrer",
        "Enter the referrer's email address or telephone number",
    ),
    (
        "notification",
        lambda f: f["referrer"].update(email="priya.shah"),
        "referrer.email",
        "Enter the referrer's email address in the correct format, like name@example.gov.uk",
    ),
    (
        "notification",
        lambda f: f["referrer"].update(phone="call me"),
        "referrer.phone",
        "Enter the referrer's telephone number as a UK telephone number, like 0161 496 0123",
    ),
    (
        "notification",
        lambda f: f.update(submitted_at="2026-07-02T10:15:00"),
        "submitted_at",
        "Submission date and time must include a time zone, like 2026-11-24T09:00:00Z",
    ),
    (
        "notification",
        lambda f: f.update(submitted_at="2 July"),
        "submitted_at",
        "Submission date and time must be a date and time with a time zone, like "
        "2026-11-24T09:00:00+00:00",
    ),
    ("notification", lambda f: f.update(submitted_at="2026-07-02T10:15:00Z"), None, None),
    (
        "notification",
        lambda f: f["consent"].update(date="2026-11-25"),
        "consent.date",
        "Date consent was given must be today or in the past",
    ),
    ("notification", lambda f: f["consent"].update(date="2026-11-24"), None, None),
    (
        "notification",
        lambda f: f["consent"].pop("given_by"),
        "consent.given_by",
        "Enter the name of the person who gave consent",
    ),
    (
        "notification",
        lambda f: f["consent"].pop("date"),
        "consent.date",
        "Enter the date consent was given",
    ),
    (
        "notification",
        lambda f: f["consent"].update(method="email"),
        "consent.method",
        "Way consent was recorded must be signed, verbal_recorded or online",
    ),
    (
        "notification",
        lambda f: f["consent"].update(given="maybe"),
        "consent.given",
        "Say whether the family gave consent: true or false",
    ),
    # notification
    ("notification", lambda f: f.pop("consent"), "consent", "Enter the family's consent"),
    (
        "notification",
        lambda f: f["consent"].update(given=False),
        "consent.given",
        "The family must give consent for Early Help. Ask for and record their consent. If a child "
        "is at risk of significant harm, make a referral to MASH instead",
    ),
    (
        "notification",
        lambda f: f.update(level_of_need=1),
        "level_of_need",
        "Level of need 1 means universal services can meet the family's needs, so this is not an "
        "Early Help request: choose level 2, 3 or 4, or signpost the family to universal services",
    ),
    (
        "notification",
        lambda f: f.update(level_of_need=6),
        "level_of_need",
        "Level of need must be 2, 3, 4 or 5 for this form",
    ),
    (
        "notification",
        lambda f: f.update(level_of_need="three"),
        "level_of_need",
        "Level of need must be a whole number, like 3",
    ),
    ("notification", lambda f: f.update(level_of_need="3"), None, None),
    (
        "notification",
        lambda f: f.pop("risk_of_significant_harm"),
        "risk_of_significant_harm",
        "Say whether a child is at risk of significant harm: true or false",
    ),
    (
        "notification",
        lambda f: f.update(reasons=""),
        "reasons",
        "Enter the reasons support is requested",
    ),
    (
        "notification",
        lambda f: f.update(reasons="x" * 5001),
        "reasons",
        "Reasons support is requested must be 5,000 characters or fewer",
    ),
    # rfas
    (
        "rfas",
        lambda f: f["consent"].update(given=False),
        "consent.given",
        "The family must give consent for Early Help. Ask for and record their consent. If a child "
        "is at risk of significant harm, make a referral to MASH instead",
    ),
    (
        "rfas",
        lambda f: f.update(level_of_need=5),
        "level_of_need",
        "Level of need must be 2, 3 or 4 for this form",
    ),
    (
        "rfas",
        lambda f: f.update(services_requested=[]),
        "services_requested",
        "Enter at least one service requested",
    ),
    (
        "rfas",
        lambda f: f["services_requested"][1].pop("reason"),
        "services_requested[1].reason",
        "Enter the reason for the service",
    ),
    ("rfas", lambda f: f.pop("case_id"), "case_id", "Enter the case reference"),
    (
        "rfas",
        lambda f: f["lead_practitioner"].pop("agency"),
        "lead_practitioner.agency",
        "Enter the lead practitioner's agency",
    ),
    # transfer
    (
        "transfer",
        lambda f: f["consent"].update(given=False),
        "consent.given",
        "The family must give consent for Early Help. Ask for and record their consent. If a child "
        "is at risk of significant harm, make a referral to MASH instead",
    ),
    (
        "transfer",
        lambda f: f.update(level_of_need=2),
        "level_of_need",
        "Level of need must be 3, 4 or 5 for this form",
    ),
    (
        "transfer",
        lambda f: f.update(level_of_need=5),
        "level_of_need",
        "Level of need 5 can only be a joint-worked transfer: a step down needs level 3 or 4",
    ),
    (
        "transfer",
        lambda f: f.update(
            level_of_need=5, transfer_type="joint_worked", intervention_timescale="12 weeks"
        ),
        None,
        None,
    ),
    (
        "transfer",
        lambda f: f.update(transfer_type="joint_worked"),
        "intervention_timescale",
        "Enter the intervention timescale: a joint-worked transfer needs one",
    ),
    (
        "transfer",
        lambda f: f.update(transfer_type="sideways"),
        "transfer_type",
        "Transfer type must be step_down or joint_worked",
    ),
    (
        "transfer",
        lambda f: f.pop("most_recent_assessment"),
        "most_recent_assessment",
        "Enter the most recent assessment",
    ),
    (
        "transfer",
        lambda f: f["most_recent_assessment"].pop("document"),
        "most_recent_assessment.document",
        "Enter the file name of the assessment",
    ),
    (
        "transfer",
        lambda f: f["most_recent_assessment"].update(kind="hunch"),
        "most_recent_assessment.kind",
        "Kind of assessment must be child_and_family_assessment, single_assessment, "
        "early_help_assessment or cin_plan",
    ),
    (
        "transfer",
        lambda f: f["most_recent_assessment"].update(completed_on="2025-01-10"),
        None,
        None,
    ),  # older than six months: accepted, with a note from routing
    ("transfer", lambda f: f.update(worries=["", "  "]), "worries", "Enter at least one worry"),
    (
        "transfer",
        lambda f: f.update(working_well=[]),
        "working_well",
        "Enter at least one thing that is working well",
    ),
    (
        "transfer",
        lambda f: f.pop("needs_to_happen"),
        "needs_to_happen",
        "Enter at least one thing that needs to happen",
    ),
    (
        "transfer",
        lambda f: [c.update(kind="home_visit") for c in f["planned_contacts"]],
        "planned_contacts",
        "Enter a joint visit or a Child in Need meeting in the planned contacts: the case is "
        "handed over jointly",
    ),
    ("transfer", lambda f: f.update(family=[]), "family", "Enter at least one family member"),
    ("transfer", lambda f: f.pop("referred_on"), "referred_on", "Enter the date of referral"),
    # marf
    (
        "marf",
        lambda f: f.pop("consent_not_sought_reason"),
        "consent",
        "Enter the family's consent, or the reason consent was not sought: consent is sought "
        "unless seeking it would put a child at risk",
    ),
    (
        "marf",
        lambda f: (f.pop("consent_not_sought_reason"), f.update(consent={"given": False})),
        None,
        None,
    ),
    (
        "marf",
        lambda f: f.update(level_of_need=3),
        "level_of_need",
        "Level of need must be 4 or 5 for this form",
    ),
    (
        "marf",
        lambda f: f.pop("child_protection_concern"),
        "child_protection_concern",
        "Say whether there is a child protection concern: true or false",
    ),
    (
        "marf",
        lambda f: f["previous_social_work"].update(team="east"),
        "previous_social_work.team",
        "The team that stepped the family down must be a hub: central, north or south",
    ),
    (
        "marf",
        lambda f: f["previous_social_work"].pop("stepped_down_on"),
        "previous_social_work.stepped_down_on",
        "Enter the date the family was stepped down",
    ),
    ("marf", lambda f: f.pop("rationale"), "rationale", "Enter the reason for stepping up now"),
    # closure
    (
        "closure",
        lambda f: f.pop("lead_practitioner"),
        "lead_practitioner",
        "Enter the lead practitioner: a case steps down to Early Help only once a lead "
        "practitioner is named",
    ),
    (
        "closure",
        lambda f: f.update(early_help_assessment_opened=False),
        "early_help_assessment_opened",
        "Open an Early Help Assessment before the case steps down to Early Help, then say so "
        "here (true)",
    ),
    (
        "closure",
        lambda f: f.pop("early_help_assessment_opened"),
        "early_help_assessment_opened",
        "Open an Early Help Assessment before the case steps down to Early Help, then say so "
        "here (true)",
    ),
    (
        "closure",
        lambda f: f.pop("multi_agency_meeting"),
        "multi_agency_meeting",
        "Enter the multi-agency meeting (CIN or TAF) held before the step down",
    ),
    (
        "closure",
        lambda f: f["multi_agency_meeting"].update(date="2026-11-30"),
        "multi_agency_meeting",
        "The multi-agency meeting must be held before the case steps down: its date must be today "
        "or in the past",
    ),
    (
        "closure",
        lambda f: f["multi_agency_meeting"].update(kind="lunch"),
        "multi_agency_meeting.kind",
        "Kind of multi-agency meeting must be cin or taf",
    ),
    (
        "closure",
        lambda f: f.update(closure_reason="outcomes_met", follow_on_support="School"),
        "outcomes",
        "Enter at least one outcome",
    ),
    (
        "closure",
        lambda f: f.update(
            closure_reason="outcomes_met",
            outcomes=[{"outcome": "Attendance above 95%", "achieved": True}],
        ),
        "follow_on_support",
        "Enter the follow-on support: a case closed with outcomes met needs it",
    ),
    (
        "closure",
        lambda f: f.update(
            closure_reason="outcomes_met",
            outcomes=[{"outcome": "Attendance above 95%", "achieved": True}],
            follow_on_support="School pastoral lead",
        ),
        None,
        None,
    ),
    (
        "closure",
        lambda f: (
            f.update(closure_reason="moved_out_of_area"),
            f.pop("lead_practitioner"),
            f.pop("multi_agency_meeting"),
        ),
        None,
        None,
    ),
    (
        "closure",
        lambda f: f.update(closure_reason="tired"),
        "closure_reason",
        "Reason for closure must be step_down_to_early_help, outcomes_met, consent_withdrawn or "
        "moved_out_of_area",
    ),
]


@pytest.mark.parametrize(("form_type", "change", "field", "message"), RULES)
def test_rule(example, form_type, change, field, message):
    form = example(form_type)
    change(form)
    found = problems(form)
    if field is None:
        assert found == []
    else:
        assert (field, message) in found, found
        assert len(found) == 1, found


def test_all_problems_are_reported_at_once(example):
    form = example("closure")
    form.pop("lead_practitioner")
    form["address"]["postcode"] = "nowhere"
    form["children"][1]["date_of_birth"] = "2030-01-01"
    fields = [field for field, _ in problems(form)]
    assert fields == ["children[1].date_of_birth", "address.postcode", "lead_practitioner"]


def test_an_unborn_child_has_an_expected_date_of_delivery(example):
    form = example("notification")
    child = form["children"][1]
    child.pop("date_of_birth")
    child["expected_date_of_delivery"] = "2027-03-01"
    assert problems(form) == []
    child["expected_date_of_delivery"] = "2027-10-01"  # more than 10 months ahead
    assert problems(form) == [
        (
            "children[1].expected_date_of_delivery",
            "The child's expected date of delivery must be within the next 10 months",
        )
    ]


def test_past_and_future_are_relative_to_the_time_of_receipt(example):
    form = example("rfas")  # consent dated 2026-11-16
    assert problems(form, dt.datetime(2026, 11, 16, 0, 30, tzinfo=dt.UTC)) == []
    assert problems(form, dt.datetime(2026, 11, 15, 23, 30, tzinfo=dt.UTC)) == [
        ("consent.date", "Date consent was given must be today or in the past")
    ]


def test_the_day_of_receipt_is_the_local_day(example):
    form = example("rfas")
    form["consent"]["date"] = "2026-07-02"
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST)
    assert problems(form, dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC)) == []


@pytest.mark.parametrize("form_type", FORM_TYPES)
def test_a_form_with_a_bom_and_padding_reads_the_same(form_type):
    form = load_example(form_type)
    padded = {k: (f"  {v} " if isinstance(v, str) else v) for k, v in form.items()}
    assert check(padded).data == check(form).data


class TestSafeguarding:
    def test_risk_of_significant_harm_goes_to_mash_whatever_else_is_wrong(self, example):
        form = example("notification")
        form.update(risk_of_significant_harm=True)
        form.pop("consent")
        form["address"]["postcode"] = "unknown"
        result = check(form)
        assert result.safeguarding
        assert not result.valid
        assert ("consent", "Enter the family's consent") in [
            (e.field, e.message) for e in result.errors
        ]

    @pytest.mark.parametrize("value", [5, "5", " 5 "])
    def test_level_5_goes_to_mash(self, example, value):
        form = example("notification")
        form["level_of_need"] = value
        result = check(form)
        assert result.safeguarding
        assert result.valid

    @pytest.mark.parametrize("value", [True, "true", "yes"])
    def test_a_broken_notification_saying_risk_is_still_seen(self, value):
        result = check({"form_type": "notification", "risk_of_significant_harm": value})
        assert result.safeguarding
        assert not result.valid

    def test_a_plain_notification_is_not_a_safeguarding_redirect(self, example):
        assert not check(example("notification")).safeguarding

    def test_every_marf_goes_to_mash_valid_or_not(self, example):
        assert check(example("marf")).safeguarding
        assert check({"form_type": "marf"}).safeguarding

    def test_a_form_without_a_type_that_says_risk_is_a_safeguarding_concern(self):
        result = check({"risk_of_significant_harm": True, "children": []})
        assert result.safeguarding
        assert result.form_type is None

    def test_other_forms_are_not_redirected_by_their_level(self, example):
        form = example("transfer")
        form.update(level_of_need=5, transfer_type="joint_worked", intervention_timescale="6 weeks")
        assert not check(form).safeguarding


def test_a_missing_form_type_is_named():
    assert problems({"children": []}) == [
        ("form_type", "Enter the form type: notification, rfas, transfer, marf or closure")
    ]
    assert problems({"form_type": "referral"}) == [
        ("form_type", "Form type must be notification, rfas, transfer, marf or closure")
    ]


def test_the_form_type_is_read_in_any_case(example):
    form = example("rfas")
    form["form_type"] = " RfAS "
    assert check(form).valid


def test_something_that_is_not_an_object_is_not_a_form():
    assert check([1, 2]).errors == (FieldError(None, "The file must hold one form: a JSON object"),)


def test_flatten_names_paths_as_a_person_reads_them():
    messages = {
        "children": {0: {"date_of_birth": ["a"]}, 2: {"_schema": ["b"]}},
        "consent": {"_schema": ["c"]},
        "_schema": ["d"],
    }
    assert [(e.field, e.message) for e in flatten(messages)] == [
        ("children[0].date_of_birth", "a"),
        ("children[2]", "b"),
        ("consent", "c"),
        (None, "d"),
    ]


def test_messages_follow_the_govuk_style(example):
    """No "invalid", no "please", no marshmallow defaults in any message the rules give."""
    seen = set()
    for form_type, change, *_ in RULES:
        form = example(form_type)
        change(form)
        seen.update(message for _, message in problems(form))
    seen.update(m for _, m in problems({"form_type": "transfer", "children": [{}], "x": 1}))
    assert len(seen) > 60
    for message in seen:
        lowered = message.lower()
        assert "invalid" not in lowered and "please" not in lowered, message
        assert "field may not be null" not in lowered and "missing data" not in lowered, message
        assert message[0].isupper() and not message.endswith("."), message
