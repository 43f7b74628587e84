"""Synthetic but realistic Early Help forms for benchmarks: seeded, fake people and places.

Names come from short lists of common names; addresses are made-up streets in the default
hubs' postcode districts; telephone numbers are from Ofcom's drama range; NHS numbers are
generated with a valid check digit but are not real people's.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

GIVEN = [
    "Amelia",
    "Leo",
    "Kai",
    "Maya",
    "Noah",
    "Isla",
    "Zain",
    "Ruby",
    "Oscar",
    "Aisha",
    "Freddie",
    "Lily",
    "Yusuf",
    "Poppy",
    "Theo",
    "Hana",
]
FAMILY = [
    "Hughes",
    "Morgan",
    "Khan",
    "Okafor",
    "Doyle",
    "Patel",
    "Nowak",
    "Reid",
    "Evans",
    "Ahmed",
    "Walsh",
    "Brown",
]
STREETS = ["Example Street", "Sample Close", "Test Road", "Placeholder Avenue", "Mock Lane"]
DISTRICTS = ["M4", "M8", "M9", "M40", "M1", "M11", "M13", "M14", "M19", "M20", "M22", "M60"]
WORRIES = [
    "School attendance has fallen this term.",
    "Mum is struggling with bedtime routines.",
    "Rent arrears and the threat of eviction.",
    "Concerns about the young person's friendships online.",
]

# The fixed mix: (form type, share). Invalid forms are made from any type.
MIX = [("notification", 25), ("rfas", 15), ("transfer", 20), ("marf", 15), ("closure", 15)]
NO_DOCUMENTS = [("rfas", 50), ("marf", 50)]
RECEIVED = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)


def nhs_number(rng: random.Random) -> str:
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def person(rng: random.Random, family: str, born: dt.date) -> dict[str, Any]:
    return {
        "given_name": rng.choice(GIVEN),
        "family_name": family,
        "date_of_birth": born.isoformat(),
    }


def practitioner(rng: random.Random, role: str, agency: str) -> dict[str, Any]:
    name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
    return {
        "name": name,
        "role": role,
        "agency": agency,
        "email": name.lower().replace(" ", ".") + "@example.gov.uk",
        "phone": f"0161 496 0{rng.randrange(100, 999)}",
    }


def form(rng: random.Random, form_type: str, n: int) -> dict[str, Any]:
    family = rng.choice(FAMILY)
    children = []
    for _ in range(rng.randint(1, 3)):
        child = person(
            rng, family, dt.date(rng.randint(2010, 2024), rng.randint(1, 12), rng.randint(1, 28))
        )
        child["person_id"] = f"MC{rng.randrange(100000, 999999)}"
        child["nhs_number"] = nhs_number(rng)
        children.append(child)
    mother = {
        **person(rng, family, dt.date(rng.randint(1975, 2000), 5, 1)),
        "relationship": "mother",
        "lives_with_child": True,
    }
    address = {
        "line1": f"{rng.randint(1, 200)} {rng.choice(STREETS)}",
        "town": "Manchester",
        "postcode": f"{rng.choice(DISTRICTS)} {rng.randint(1, 9)}AB",
        "housing": rng.choice(["council", "private_rented", "housing_association"]),
    }
    consent = {
        "given": True,
        "given_by": f"{mother['given_name']} {family}",
        "relationship": "mother",
        "date": "2026-11-16",
        "method": "signed",
        "withheld": rng.sample(["Mother's health history", "Father's address"], rng.randint(0, 1)),
    }
    case_id = f"BENCH-{n:05d}"
    common = {
        "form_type": form_type,
        "submitted_at": "2026-11-23T10:00:00+00:00",
        "children": children,
        "address": address,
    }
    worries = rng.sample(WORRIES, 2)
    if form_type == "notification":
        urgent = rng.random() < 0.05
        return {
            **common,
            "referrer": practitioner(rng, "School nurse", "Health"),
            "family": [mother],
            "consent": consent,
            "level_of_need": rng.choice([2, 3, 4]),
            "reasons": " ".join(worries),
            "risk_of_significant_harm": urgent,
        }
    if form_type == "rfas":
        return {
            **common,
            "case_id": case_id,
            "lead_practitioner": practitioner(rng, "Family support worker", "Early Help"),
            "consent": consent,
            "level_of_need": 3,
            "services_requested": [{"service": "Parenting programme", "reason": worries[0]}],
        }
    if form_type == "transfer":
        return {
            **common,
            "case_id": case_id,
            "transfer_type": "step_down",
            "referrer": practitioner(rng, "Social worker", "Children's Social Care"),
            "family": [mother],
            "consent": consent,
            "level_of_need": rng.choice([3, 4]),
            "referred_on": "2026-11-19",
            "most_recent_assessment": {
                "kind": "child_and_family_assessment",
                "completed_on": "2026-10-02",
                "document": f"cafa-{n}.pdf",
            },
            "worries": worries,
            "working_well": ["Mum engages well with school."],
            "needs_to_happen": ["A parenting programme."],
            "planned_contacts": [{"date": "2026-11-26", "kind": "joint_visit"}],
        }
    if form_type == "marf":
        return {
            **common,
            "case_id": case_id,
            "referrer": practitioner(rng, "Senior practitioner", "Early Help"),
            "family": [mother],
            "level_of_need": 5,
            "child_protection_concern": rng.random() < 0.5,
            "case_summary": " ".join(worries),
            "rationale": "Needs a social work response.",
            "consent_not_sought_reason": "Seeking consent could place the child at risk.",
        }
    return {
        **common,
        "case_id": case_id,
        "closure_reason": "step_down_to_early_help",
        "closed_by": practitioner(rng, "Social worker", "Children's Social Care"),
        "closure_date": "2026-11-23",
        "lead_practitioner": practitioner(rng, "Family support worker", "Early Help"),
        "early_help_assessment_opened": True,
        "multi_agency_meeting": {"kind": "cin", "date": "2026-11-21"},
    }


def attachment(n: int, pages: int = 2) -> bytes:
    """A small synthetic PDF, different for each ``n`` (a scanned assessment or consent)."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": f"Synthetic attachment {n}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def bundled(n: int, data: dict[str, Any]) -> bytes:
    """A form as a ZIP bundle with the documents it names (or one scan if it names none)."""
    import io
    import zipfile

    names = [
        part["document"]
        for part in (data.get("consent"), data.get("most_recent_assessment"))
        if isinstance(part, dict) and part.get("document")
    ] or ["scan.pdf"]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("form.json", json.dumps(data))
        for k, name in enumerate(names):
            archive.writestr(name, attachment(n * 10 + k))
    return out.getvalue()


def make_forms(
    count: int, seed: int = 7, mix=MIX, invalid_share: float = 0.1, bundle_share: float = 0.0
) -> list[tuple[str, bytes]]:
    """``count`` forms as (file name, bytes), in a fixed seeded mix; some invalid; a share of
    them as ZIP bundles with their attachments."""
    rng = random.Random(seed)
    which = random.Random(seed + 1)  # the same forms with or without bundles
    kinds = [kind for kind, share in mix for _ in range(share)]
    made = []
    for n in range(count):
        data = form(rng, rng.choice(kinds), n)
        if rng.random() < invalid_share:
            data["address"]["postcode"] = "NOT A POSTCODE"
        if which.random() < bundle_share:
            made.append((f"bundle-{n:05d}.zip", bundled(n, data)))
        else:
            made.append((f"form-{n:05d}.json", json.dumps(data).encode()))
    return made
