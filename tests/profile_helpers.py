"""Profiles with their SET LOCALLY keys set to synthetic values, as a council would set them:
drama-range phone numbers, example.gov.uk addresses, made-up hubs' districts."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from ehforms.config import Config, load_config
from ehforms.profiles import profile_text

PROFILES = ("devon", "ehm-lcs", "example", "manchester", "worcestershire")

# Each council's own synthetic local values: none is another council's.
LOCAL: dict[str, dict[str, Any]] = {
    "devon": {
        "levels.1.name": "Universal services",
        "levels.3.name": "Targeted Early Help",
        "levels.4.name": "Complex needs",
        "levels.5.name": "Child protection",
        "hubs.locality.name": "Exeter Locality Early Help",
        "hubs.locality.districts": ["EX"],
        "hubs.locality.phone": "01632 960 101",
        "timescales.written_followup_hours": 48,
        "timescales.allocations_meeting_day": "tuesday",
        "timescales.allocations_meeting_time": "10:00",
        "timescales.step_down_return_months": 3,
        "timescales.assessment_max_age_months": 6,
        "contacts.council_phone": "01632 960 100",
        "contacts.out_of_hours_phone": "01632 960 199",
        "contacts.email": "earlyhelp@devon.example.gov.uk",
    },
    "manchester": {
        "hubs.hub.name": "North Manchester Early Help Hub",
        "hubs.hub.districts": ["M8", "M9"],
        "hubs.hub.phone": "0161 496 0710",
        "timescales.allocations_meeting_time": "09:30",
        "contacts.council_phone": "0161 496 0700",
        "contacts.out_of_hours_phone": "0161 496 0799",
        "contacts.email": "earlyhelp@manchester.example.gov.uk",
        "consent.agencies": ["Early Help", "Schools", "Health services", "Housing providers"],
    },
    "worcestershire": {
        "case_systems.social_care": "Mosaic",
        "case_systems.early_help": "Mosaic",
        "hubs.early-help.districts": ["WR"],
        "hubs.early-help.phone": "01632 960 301",
        "timescales.allocations_meeting_day": "wednesday",
        "timescales.allocations_meeting_time": "14:00",
        "contacts.mash_phone": "01632 960 350",
        "contacts.council_phone": "01632 960 300",
        "contacts.out_of_hours_phone": "01632 960 399",
        "contacts.email": "earlyhelphub@worcestershire.example.gov.uk",
        "consent.agencies": ["Early Help Hub", "Schools", "Health services", "West Mercia Police"],
    },
    "ehm-lcs": {
        "council_name": "Sample Shire Council",
        "hubs.family-worker-team.districts": ["SK"],
        "hubs.family-worker-team.phone": "01632 960 401",
        "contacts.mash_phone": "01632 960 450",
        "contacts.council_phone": "01632 960 400",
        "contacts.out_of_hours_phone": "01632 960 499",
        "contacts.email": "familyworkers@sampleshire.example.gov.uk",
        "consent.agencies": ["Early Help", "Schools", "Health services"],
    },
    "example": {},
}


def localise(name: str) -> str:
    data = tomllib.loads(profile_text(name))
    for key, value in LOCAL[name].items():
        *path, last = key.split(".")
        target = data
        for part in path:
            target = target[part]
        target[last] = value
    return tomli_w.dumps(data)


def localised(root: Path, name: str) -> Config:
    (root / "ehforms.toml").write_text(localise(name), encoding="utf-8")
    return load_config(root, environ={})


# Words and numbers that belong to one council: a document of another must print none of them.
OWN_WORDS: dict[str, tuple[str, ...]] = {
    "devon": ("Devon", "Eclipse", "Right for Children", "0345 155 1071", "01632 960 1"),
    "manchester": ("Manchester City", "Micare", "0161 219 2843", "0161 496 07"),
    "worcestershire": ("Worcestershire", "Access Centre", "West Mercia", "01632 960 3"),
    "ehm-lcs": ("Sample Shire", "EHM", "LCS", "Family Worker", "01632 960 4"),
    "example": (
        "Example City",
        "Greater Manchester Police",
        "0161 496 0000",
        "0161 496 0100",
        "0161 496 0500",
        "0161 496 0999",
    ),
}
# Each council's own synthetic place: a town and a postcode in its area.
PLACES = {
    "devon": ("Exeter", "EX4 3AB"),
    "manchester": ("Crumpsall", "M8 5AB"),
    "worcestershire": ("Droitwich", "WR9 8AB"),
    "ehm-lcs": ("Sampleton", "SK1 3AB"),
    "example": ("Example Town", "M8 5AB"),
}


def foreign_words(name: str) -> list[str]:
    return [word for other, words in OWN_WORDS.items() if other != name for word in words]


def localise_form(form: dict[str, Any], name: str) -> dict[str, Any]:
    """A fixture form moved to a council's area, with people who belong to no other council."""
    town, postcode = PLACES[name]
    form["address"]["town"] = town
    form["address"]["postcode"] = postcode
    form["address"].pop("line2", None)
    for key in ("referrer", "lead_practitioner", "closed_by"):
        person = form.get(key)
        if isinstance(person, dict):
            person.pop("team", None)
            person["agency"] = "Early Help" if key != "referrer" else person["agency"]
            if "phone" in person:
                person["phone"] = "01632 960 999"
    return form
