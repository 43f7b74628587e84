"""Council profiles: the profile files ehforms ships, the neutral defaults a profile's missing
keys take, and the checks every configuration passes before anything is processed.

A profile is one council's whole ``ehforms.toml``. Profiles inherit nothing from one another
(nor from ``example``): a key a file leaves out takes the neutral value in :data:`NEUTRAL`,
which names no council, police force, phone number, hub or case system. Every check here fails
with a :class:`~ehforms.errors.ConfigError` whose message names the key.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator, Mapping
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from ehforms.errors import ConfigError

PROFILES = "profiles"
DEFAULT_PROFILE = "example"
SET_LOCALLY = "SET LOCALLY"
FORM_TYPE_NAMES = ("notification", "rfas", "transfer", "marf", "closure")
PATHWAYS = ("universal", "early_help", "mash")
ROLES = ("front_door", "fallback", "hub_eh", "hub_sw", "extra")
SYSTEMS = ("social_care", "early_help")
HANDOVER_KINDS = ("joint_visit", "cin_meeting", "taf_meeting")
CONSENT_METHODS = ("signed", "verbal_recorded", "online")
# Which case system a form's case_id comes from, unless [case_systems] says otherwise: Early
# Help writes notifications, requests and MARFs; social care writes transfers and closures.
CASE_SYSTEM_OF = {
    "notification": "early_help",
    "rfas": "early_help",
    "marf": "early_help",
    "transfer": "social_care",
    "closure": "social_care",
}
# The contract's levels: what each means and its pathway.
CONTRACT_LEVELS = {
    "1": {"name": "Needs met by universal services", "pathway": "universal"},
    "2": {"name": "Additional needs, single agency", "pathway": "early_help"},
    "3": {
        "name": "Coordinated multi-agency support (Early Help Assessment, Team Around the Family)",
        "pathway": "early_help",
    },
    "4": {
        "name": "Intensive coordinated support; level 3 support has not worked",
        "pathway": "early_help",
    },
    "5": {"name": "Risk of, or suffering, significant harm", "pathway": "mash"},
}

# What a key a file leaves out takes: the contract's own rules and timescales, and nothing that
# belongs to one council (no council name, hub, phone number, police force or case system).
NEUTRAL: dict[str, Any] = {
    "council_name": "",
    "case_system_name": "",
    "timezone": "Europe/London",
    "max_file_bytes": 5 * 1024 * 1024,
    "max_json_depth": 20,
    "file_mode": "0640",
    "dir_mode": "0750",
    "inbox_mode": "0770",
    "levels": CONTRACT_LEVELS,
    "hubs": {},
    "mailboxes": {
        "mash": {"display_name": "MASH", "role": "front_door"},
        "triage": {"display_name": "Triage", "role": "fallback"},
    },
    "timescales": {
        "written_followup_hours": 48,
        "allocations_meeting_day": "thursday",
        "allocations_meeting_time": "09:30",
        "holiday_region": "GB-ENG",
        "step_down_return_months": 3,
        "assessment_max_age_months": 6,
    },
    "contacts": {"emergency_phone": "999"},
    "consent": {
        "agencies": [
            "Early Help",
            "Children's Social Care",
            "Schools and early years settings",
            "Health services",
            "Police",
            "Housing providers",
        ],
    },
    "watch": {
        "quiet_seconds": 0.75,
        "rescan_seconds": 30.0,
        "heartbeat_seconds": 5.0,
        "retry_max_seconds": 300.0,
        # a subfolder of the inbox (a bundle) is taken once nothing in it changed for this long
        "bundle_settle_seconds": 60.0,
    },
    # The contract's [limits] (form_bytes, the size of one form, is max_file_bytes until it is
    # set here): one attachment, attachments in a bundle, a bundle unpacked, how many times an
    # entry may inflate, lines in errors.txt.
    "limits": {
        "attachment_bytes": 10 * 1024 * 1024,
        "attachments": 20,
        "bundle_bytes": 50 * 1024 * 1024,
        "ratio": 100,
        "messages": 100,
    },
}

# Tables whose keys a council chooses: one given in a file replaces the neutral table whole.
WHOLE = ("levels", "hubs", "mailboxes")


def over_neutral(data: Mapping[str, Any]) -> dict[str, Any]:
    """A file's settings over the neutral defaults: a key left out is neutral; a table of
    levels, hubs or mailboxes the file gives is the file's alone."""
    merged = copy.deepcopy(NEUTRAL)
    for key, value in data.items():
        if key in WHOLE or not isinstance(value, Mapping) or not isinstance(merged.get(key), dict):
            merged[key] = copy.deepcopy(value)
        else:
            merged[key] = {**merged[key], **copy.deepcopy(dict(value))}
    return merged


# Every key a configuration may have. A dict is a table of known keys; ``ANY`` a table whose
# keys are names the council chooses (hubs, mailboxes, dues), each holding the table given.
ANY = "*"
TEXT_TOO = "text too"  # in a table's spec: a plain text value is also accepted (today's form)
_FORM = {
    "title": None,
    "required": None,
    "handover_kinds": None,
    "consent_methods": None,
    "levels": None,
}
KNOWN: dict[str, Any] = {
    "profile": None,
    "council_name": None,
    "case_system_name": None,
    "level_required": None,
    "timezone": None,
    "max_file_bytes": None,
    "max_json_depth": None,
    "file_mode": None,
    "dir_mode": None,
    "inbox_mode": None,
    "case_systems": {"social_care": None, "early_help": None, **dict.fromkeys(FORM_TYPE_NAMES)},
    "levels": {ANY: {"name": None, "pathway": None, TEXT_TOO: None}},
    "hubs": {
        ANY: {
            "name": None,
            "districts": None,
            "eh_mailbox": None,
            "sw_mailbox": None,
            "phone": None,
            "catch_all": None,
        }
    },
    "mailboxes": {ANY: {"display_name": None, "role": None, TEXT_TOO: None}},
    "forms": {name: dict(_FORM) for name in FORM_TYPE_NAMES},
    "timescales": {
        "written_followup_hours": None,
        "allocations_meeting_day": None,
        "allocations_meeting_time": None,
        "holiday_region": None,
        "step_down_return_months": None,
        "assessment_max_age_months": None,
        "due": {ANY: {"form": None, "level": None, "hours": None, "working_days": None}},
    },
    "contacts": {
        "council_phone": None,
        "mash_phone": None,
        "out_of_hours_phone": None,
        "emergency_phone": None,
        "email": None,
    },
    "consent": {"agencies": None},
    "watch": dict.fromkeys(NEUTRAL["watch"]),
    "limits": {"form_bytes": None, **dict.fromkeys(NEUTRAL["limits"])},
    # the contract's alerts and retention tables (their engines read them)
    "alerts": {
        "host": None,
        "port": None,
        "tls": None,
        "username": None,
        "from": None,
        "ca_file": None,
        "digest_time": None,
        "base_url": None,
        "review_days": None,
        "to": {ANY: None},
    },
    # the web pages: the core's session limits, and the face's own (ehforms.web.settings)
    "web": {
        "idle_minutes": None,
        "session_hours": None,
        "page_size": None,
        "assets_dir": None,
        "insecure_http": None,
        "trusted_proxy": None,
        "listing_seconds": None,
    },
    # where the ledger lives: the SQLite file in .ehforms/ unless a PostgreSQL url is given
    "ledger": {"url": None},
    "retention": {
        "done_days": None,
        "rejected_days": None,
        "archive_days": None,
        "case_days": None,
        "audit_days": None,
        "review_days": None,
        "hold": None,
    },
}

# What the shipped templates print: each must be set (not empty) for letters to make sense.
PRINTED = (
    "council_name",
    "contacts.email",
    "contacts.emergency_phone",
    "contacts.out_of_hours_phone",
)


def _name(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_keys(data: Mapping[str, Any], known: Mapping[str, Any] = KNOWN, path: str = "") -> None:
    """Every key is known; a misspelt one names the nearest known key."""
    for key, value in data.items():
        name = _name(path, str(key))
        if "password" in str(key).lower():  # never printed: the value is a secret
            secret = {"alerts": "EHFORMS_SMTP_PASSWORD", "ledger": "EHFORMS_LEDGER_PASSWORD"}.get(
                path, "an environment variable"
            )
            raise ConfigError(
                f"A password must not be in ehforms.toml: remove {name} and set {secret} instead"
            )
        if key in known:
            spec = known[key]
        elif ANY in known:
            spec = known[ANY]
        else:
            names = [k for k in known if k not in (ANY, TEXT_TOO)]
            near = difflib.get_close_matches(str(key), names, n=1)
            hint = f": did you mean {_name(path, near[0])}?" if near else "."
            raise ConfigError(f"{name} is not a setting ehforms knows{hint} Correct or remove it")
        if isinstance(spec, dict):
            if isinstance(value, str) and TEXT_TOO in spec:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"[{name}] must be a table")
            check_keys(value, spec, name)


def set_locally(data: Any, path: str = "") -> list[str]:
    """The keys still holding ``"SET LOCALLY"``."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            found += set_locally(value, _name(path, str(key)))
    elif isinstance(data, list):
        if any(set_locally(item, path) for item in data):
            found.append(path)
    elif isinstance(data, str) and data.strip().upper() == SET_LOCALLY:
        found.append(path)
    return found


def check_set_locally(data: Mapping[str, Any]) -> None:
    keys = set_locally(data)
    if keys:
        raise ConfigError(
            "ehforms.toml still says SET LOCALLY for "
            + ", ".join(keys)
            + ". Replace each with your council's value"
        )


# The profile files


def builtin_profiles() -> Traversable:
    """The profiles shipped with ehforms: in the wheel, or at the top of a source checkout."""
    packaged = resources.files("ehforms") / "content" / PROFILES
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / PROFILES


def profile_names() -> list[str]:
    return sorted(
        item.name[: -len(".toml")]
        for item in builtin_profiles().iterdir()
        if item.name.endswith(".toml")
    )


def profile_text(name: str) -> str:
    """A profile's file, as ``init`` writes it."""
    if name not in profile_names():
        raise ConfigError(
            f"There is no council profile called {name}. Choose one of: "
            + ", ".join(profile_names())
        )
    return (builtin_profiles() / f"{name}.toml").read_text(encoding="utf-8")


def profile_templates(name: str) -> Traversable | None:
    folder = builtin_profiles() / name / "templates"
    return folder if folder.is_dir() else None


def profile_summary(name: str) -> str:
    """A profile's first comment line: what it is."""
    for line in profile_text(name).splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def walk(folder: Traversable) -> Iterator[Traversable]:
    for item in folder.iterdir():
        if item.is_dir():
            yield from walk(item)
        else:
            yield item
