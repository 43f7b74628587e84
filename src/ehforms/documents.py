"""Which documents a routed form gets, and what goes in each: pure functions of the form.

The templates (``templates/*.html`` and ``*.docx``) only lay out what these contexts hold, so
the wording a council edits lives in the templates and the facts are tested here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dateutil.relativedelta import relativedelta

from ehforms.config import Config
from ehforms.registry import CLOSURE_NOTE, CONSENT_LETTER, FORM_TYPES, PRO_FORMA
from ehforms.routing import ROUTED, Decision
from ehforms.text import long_date, plain_text

TITLES = {
    CONSENT_LETTER: "Consent letter",
    PRO_FORMA: "Early Help allocations pro forma",
    CLOSURE_NOTE: "Case-closure note",
}

LABELS = {
    "owner_occupier": "Owner occupier",
    "private_rented": "Private rented",
    "housing_association": "Housing association",
    "council": "Council",
    "temporary": "Temporary accommodation",
    "other": "Other",
    "step_down": "Step down",
    "joint_worked": "Joint worked",
    "child_and_family_assessment": "Child and family assessment",
    "single_assessment": "Single assessment",
    "early_help_assessment": "Early Help Assessment",
    "cin_plan": "Child in Need plan",
    "joint_visit": "Joint visit",
    "cin_meeting": "Child in Need meeting",
    "taf_meeting": "Team Around the Family meeting",
    "allocations_meeting": "Allocations meeting",
    "home_visit": "Home visit",
    "step_down_to_early_help": "Stepping down to Early Help",
    "outcomes_met": "Outcomes met",
    "consent_withdrawn": "Consent withdrawn",
    "moved_out_of_area": "Moved out of area",
    "cin": "Child in Need meeting",
    "taf": "Team Around the Family meeting",
    "step_parent": "Step-parent",
    "mash_referral": "MASH referral allocated to Early Help",
}


@dataclass(frozen=True)
class Planned:
    """A document to render: its name (file stem) and the context for its templates."""

    name: str
    context: Mapping[str, Any]


def label(code: str | None) -> str:
    if not code:
        return ""
    return LABELS.get(code, code.replace("_", " ").capitalize())


def age_on(born: dt.date, day: dt.date) -> str:
    years = relativedelta(day, born).years
    if years >= 1:
        return f"{years}"
    months = relativedelta(day, born).months
    return f"{months} month{'s' if months != 1 else ''}"


def _people(
    children: Iterable[Mapping[str, Any]], family: Iterable[Mapping[str, Any]], day: dt.date
) -> list[dict[str, str]]:
    rows = []
    for child in children:
        born = child.get("date_of_birth")
        due = child.get("expected_date_of_delivery")
        rows.append(
            {
                "name": f"{child['given_name']} {child['family_name']}",
                "relationship": "Child",
                "date_of_birth": long_date(born) if born else f"Unborn, due {long_date(due)}",
                "age": age_on(born, day) if born else "",
                "lives_with_child": "",
                "person_id": child.get("person_id", ""),
                "contact_arrangements": "",
            }
        )
    for person in family:
        born = person.get("date_of_birth")
        lives = person.get("lives_with_child")
        rows.append(
            {
                "name": f"{person['given_name']} {person['family_name']}",
                "relationship": label(person.get("relationship")) or "Family member",
                "date_of_birth": long_date(born),
                "age": age_on(born, day) if born else "",
                "lives_with_child": "" if lives is None else ("Yes" if lives else "No"),
                "person_id": "",
                "contact_arrangements": person.get("contact_arrangements", ""),
            }
        )
    return rows


def _practitioner(person: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not person:
        return None
    return {
        "name": person["name"],
        "role": person["role"],
        "agency": person["agency"],
        "team": person.get("team", ""),
        "email": person.get("email", ""),
        "phone": person.get("phone", ""),
    }


def _address_lines(address: Mapping[str, Any]) -> list[str]:
    """The address's lines that say something: a line of nothing but control characters
    (which every document leaves out) would print as an empty line in the window envelope."""
    return [
        line
        for line in (
            address.get("line1"),
            address.get("line2"),
            address.get("town"),
            address.get("postcode"),
        )
        if line and plain_text(str(line)).strip()
    ]


def _common(data: Mapping[str, Any], config: Config, received_at: dt.datetime) -> dict[str, Any]:
    day = received_at.astimezone(config.timezone).date()
    form_type = str(data.get("form_type", ""))
    return {
        "council": config.council_name,
        # the case system this form type's case reference comes from ([case_systems])
        "case_system": config.council.case_systems.get(form_type)
        or config.case_system_name
        or "Case reference",
        "front_door": config.council.front_door_name,
        "front_door_phone": config.contacts.get("mash_phone", ""),
        "case_id": data.get("case_id", ""),
        "today": long_date(day),
        "contacts": dict(config.contacts),
        "children_names": [f"{c['given_name']} {c['family_name']}" for c in data["children"]],
        "address_lines": _address_lines(data["address"]),
        "housing": label(data["address"].get("housing")),
    }


def _hub(key: str | None, config: Config) -> dict[str, str]:
    """The hub routing chose (None: no hub covers the address)."""
    hub = config.hub(key) if key else None
    if hub is None:
        return {"name": "Early Help Hub", "phone": config.contacts.get("council_phone", "")}
    return {"name": hub.name, "phone": hub.phone or config.contacts.get("council_phone", "")}


def consent_letter(
    form_type: str,
    data: Mapping[str, Any],
    config: Config,
    received_at: dt.datetime,
    hub: str | None = None,
) -> Planned:
    consent = data["consent"]
    contact = _practitioner(data.get("lead_practitioner") or data.get("referrer"))
    return Planned(
        CONSENT_LETTER,
        {
            **_common(data, config, received_at),
            "title": TITLES[CONSENT_LETTER],
            "recipient": consent["given_by"],
            "consent_date": long_date(consent.get("date")),
            "agencies": list(config.consent_agencies),
            "withheld": list(consent.get("withheld", [])),
            "contact": contact,
            "contact_is_social_worker": form_type == "transfer",
            "hub": _hub(hub, config),
        },
    )


def _transfer_kind(data: Mapping[str, Any]) -> str:
    """ "Step down", "Joint worked", or for a MASH referral allocated to Early Help (which is
    not a step-down) that, joint worked or not."""
    kind = label(data["transfer_type"])
    if data.get("origin") != "mash_referral":
        return kind
    if data["transfer_type"] == "step_down":
        return label("mash_referral")
    return f"{kind} ({label('mash_referral')})"


def pro_forma(
    data: Mapping[str, Any], config: Config, received_at: dt.datetime, due: Iterable[Any]
) -> Planned:
    day = received_at.astimezone(config.timezone).date()
    assessment = data["most_recent_assessment"]
    meeting = next((d.by for d in due if d.what == "allocations_meeting"), None)
    discussion = data.get("case_discussion") or {}
    return Planned(
        PRO_FORMA,
        {
            **_common(data, config, received_at),
            "title": TITLES[PRO_FORMA],
            # the child the pro forma is about; a person id is optional (a child new to the
            # case system has none)
            "subject": {"person_id": "", **data["children"][0]},
            "subject_name": f"{data['children'][0]['given_name']} "
            f"{data['children'][0]['family_name']}",
            "people": _people(data["children"], data.get("family", []), day),
            "referred_on": long_date(data["referred_on"]),
            "worries": list(data["worries"]),
            "working_well": list(data["working_well"]),
            "needs_to_happen": list(data["needs_to_happen"]),
            "referrer": _practitioner(data["referrer"]),
            "assessment": {
                "kind": label(assessment["kind"]),
                "completed_on": long_date(assessment["completed_on"]),
                "document": assessment["document"],
            },
            "case_discussion": {
                "date": long_date(discussion.get("date")),
                "rationale": discussion.get("rationale", ""),
            },
            "level": data.get("level_of_need", ""),
            "level_meaning": config.levels.get(data.get("level_of_need", 0), ""),
            "transfer_type": _transfer_kind(data),
            "origin": label(data.get("origin")),
            "step_down": data.get("origin", "step_down") == "step_down",
            "contacts": [
                {"date": long_date(c["date"]), "kind": label(c["kind"]), "note": c.get("note", "")}
                for c in data["planned_contacts"]
            ],
            "allocations_meeting": long_date(
                meeting.astimezone(config.timezone).date() if meeting else None
            ),
            "intervention_timescale": data.get("intervention_timescale", ""),
            "status": "Awaiting allocation at the hub's allocations meeting"
            if meeting
            else "Awaiting allocation",
            "withheld": list(data["consent"].get("withheld", [])),
        },
    )


def closure_note(
    data: Mapping[str, Any], config: Config, received_at: dt.datetime, withheld: list[str] | None
) -> Planned:
    reason = data["closure_reason"]
    meeting = data.get("multi_agency_meeting") or {}
    return Planned(
        CLOSURE_NOTE,
        {
            **_common(data, config, received_at),
            "title": TITLES[CLOSURE_NOTE],
            "reason": reason,
            "reason_label": label(reason),
            "step_down": reason == "step_down_to_early_help",
            "outcomes_met": reason == "outcomes_met",
            "closure_date": long_date(data["closure_date"]),
            "closed_by": _practitioner(data["closed_by"]),
            "lead_practitioner": _practitioner(data.get("lead_practitioner")),
            "meeting": {"kind": label(meeting.get("kind")), "date": long_date(meeting.get("date"))},
            "eha_open": data.get("early_help_assessment_opened") is True,
            "outcomes": [
                {
                    "outcome": o["outcome"],
                    "achieved": "Achieved" if o["achieved"] else "Not achieved",
                }
                for o in data.get("outcomes", [])
            ],
            "follow_on_support": data.get("follow_on_support", ""),
            "child_feedback": data.get("child_feedback", ""),
            "parent_feedback": data.get("parent_feedback", ""),
            "family_group_conference": (
                ""
                if data.get("family_group_conference_offered") is None
                else "Offered"
                if data["family_group_conference_offered"]
                else "Not offered"
            ),
            "withheld": withheld,
            "withheld_known": withheld is not None,
        },
    )


def plan(
    form_type: str | None,
    data: Mapping[str, Any] | None,
    decision: Decision,
    config: Config,
    received_at: dt.datetime,
    withheld: list[str] | None = None,
) -> list[Planned]:
    """The documents a decision calls for. A redirected or rejected form gets none: a letter
    to the home could alert the person harming the child."""
    if decision.status != ROUTED or data is None or form_type not in FORM_TYPES:
        return []
    planned = []
    for name in FORM_TYPES[form_type].documents:  # in the registry's order
        if name == CONSENT_LETTER and data.get("consent", {}).get("given"):
            planned.append(consent_letter(form_type, data, config, received_at, decision.hub))
        elif name == PRO_FORMA:
            planned.append(pro_forma(data, config, received_at, decision.due))
        elif name == CLOSURE_NOTE:
            planned.append(closure_note(data, config, received_at, withheld))
    return planned
