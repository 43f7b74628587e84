"""What a council profile adds to today's settings (levels and pathways, mailboxes' roles and
display names, case systems, a catch-all hub, per-form rules, named dues), read and checked.

:func:`council` checks a whole configuration before anything is processed; every failure is a
:class:`~ehforms.errors.ConfigError` whose message names the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ehforms.errors import ConfigError
from ehforms.profiles import (
    CASE_SYSTEM_OF,
    CONSENT_METHODS,
    FORM_TYPE_NAMES,
    HANDOVER_KINDS,
    PATHWAYS,
    PRINTED,
    ROLES,
    SYSTEMS,
    check_keys,
    check_set_locally,
)

# The level whose forms go to the front door at once, whatever a profile says (the readers in
# forms/safeguarding.py look for it): a profile's highest level, with pathway mash.
SAFEGUARDING_LEVEL = 5


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    pathway: str


@dataclass(frozen=True)
class NamedDue:
    """A due a profile adds: ``what`` is due this long after receipt of a ``form`` (at
    ``level``, when given)."""

    what: str
    form: str
    level: int | None
    hours: float | None
    working_days: int | None


@dataclass(frozen=True)
class FormRules:
    title: str | None = None
    required: tuple[str, ...] = ()
    handover_kinds: tuple[str, ...] = ()
    consent_methods: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()


@dataclass(frozen=True)
class Council:
    """What a profile adds to today's settings (see :class:`ehforms.config.Config`)."""

    levels: tuple[Level, ...] = ()
    level_required: bool = True
    display_names: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    case_systems: Mapping[str, str] = field(default_factory=dict)  # form type -> printed name
    catch_all: str | None = None  # the hub key
    forms: Mapping[str, FormRules] = field(default_factory=dict)
    dues: tuple[NamedDue, ...] = ()

    @property
    def front_door(self) -> str:
        return next(box for box, role in self.roles.items() if role == "front_door")

    @property
    def fallback(self) -> str:
        return next(box for box, role in self.roles.items() if role == "fallback")

    def display(self, mailbox: str) -> str:
        return self.display_names.get(mailbox, mailbox)

    @property
    def front_door_name(self) -> str:
        return self.display(self.front_door)

    @property
    def highest(self) -> int:
        return max(level.number for level in self.levels)

    def rules(self, form_type: str) -> FormRules:
        return self.forms.get(form_type, FormRules())

    def allowed_levels(self, form_type: str, contract: tuple[int, ...]) -> tuple[int, ...]:
        """A form's levels: ``[forms.<type>] levels``, or else those of the contract's own
        levels for that form whose pathway here is Early Help, and the MASH level wherever the
        contract allows it (it goes to the front door)."""
        listed = self.rules(form_type).levels
        if listed:
            return listed
        pathway = {level.number: level.pathway for level in self.levels}
        return tuple(
            n
            for n in contract
            if pathway.get(n) == "early_help" or (n == self.highest and n in contract)
        )


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{key} must be a list of words in quotes, like ["signed"]')
    return tuple(value)


def _levels(data: Mapping[str, Any]) -> tuple[Level, ...]:
    table = data.get("levels", {})
    levels = []
    for key, value in table.items():
        if not re.fullmatch(r"[0-9]+", str(key)):
            raise ConfigError(f"levels.{key} must be a level number, like levels.3")
        number = int(key)
        if isinstance(value, str):  # today's form: 3 = "what level 3 means"
            name, pathway = value, ""
        elif isinstance(value, Mapping):
            name, pathway = str(value.get("name", "")), str(value.get("pathway", ""))
        else:
            raise ConfigError(f"levels.{key} must be a table with a name and a pathway")
        levels.append((number, name, pathway))
    levels.sort()
    if not levels:
        raise ConfigError("[levels] must declare at least one level, like levels.1")
    numbers = [n for n, _, _ in levels]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConfigError(
            "[levels] must be numbered from 1 with no gap, like 1, 2, 3, 4 and 5: it has "
            + ", ".join(str(n) for n in numbers)
        )
    highest = numbers[-1]
    result = []
    for number, name, pathway in levels:
        if not pathway:  # today's form: the contract's pathways
            pathway = "universal" if number == 1 else "mash" if number == highest else "early_help"
        if pathway not in PATHWAYS:
            raise ConfigError(f"levels.{number}.pathway must be universal, early_help or mash")
        result.append(Level(number, name, pathway))
    if highest != SAFEGUARDING_LEVEL:
        raise ConfigError(
            f"[levels] must go up to level {SAFEGUARDING_LEVEL}, the safeguarding level (fixed "
            f"in ehforms): it stops at {highest}"
        )
    mash = [level.number for level in result if level.pathway == "mash"]
    if mash != [highest]:
        raise ConfigError(
            "[levels]: exactly one level must have pathway mash, and it must be the highest "
            f"(levels.{highest}): it is the safeguarding level"
        )
    return tuple(result)


def _mailboxes(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(role of each mailbox, display name of each) from [mailboxes] and the hubs."""
    roles: dict[str, str] = {}
    names: dict[str, str] = {}
    legacy = {"mash": ("front_door", "MASH"), "triage": ("fallback", "Triage")}
    for key, value in data.get("mailboxes", {}).items():
        if isinstance(value, str):  # today's form: mash = "folder", triage = "folder"
            if key not in legacy:
                raise ConfigError(f"mailboxes.{key} must be a table with a display_name and a role")
            role, shown = legacy[key]
            folder = value
        else:
            folder = key
            role = str(value.get("role", ""))
            shown = str(value.get("display_name", key))
            if role not in ROLES:
                raise ConfigError(
                    f"mailboxes.{key}.role must be front_door, fallback, hub_eh, hub_sw or extra"
                )
        if folder in roles and roles[folder] != role:
            raise ConfigError(
                f"mailboxes.{key}: mailbox {folder} has two roles ({roles[folder]} and {role})"
            )
        roles[folder] = role
        names[folder] = shown
    for role in ("front_door", "fallback"):
        count = sum(1 for r in roles.values() if r == role)
        if count != 1:
            raise ConfigError(
                f'[mailboxes] must name exactly one mailbox with role = "{role}" (it has {count})'
            )
    for key, hub in data.get("hubs", {}).items():
        for which, role in (("eh_mailbox", "hub_eh"), ("sw_mailbox", "hub_sw")):
            folder = str(hub.get(which, f"{which[:2]}-{key}"))
            if roles.get(folder, role) != role:
                raise ConfigError(
                    f"hubs.{key}.{which}: mailbox {folder} already has the role "
                    f"{roles[folder]}. Give the hub a mailbox of its own"
                )
            roles[folder] = role
            names.setdefault(folder, folder)
    for box in data.get("alerts", {}).get("to", {}):
        if box not in roles:
            raise ConfigError(
                f"alerts.to.{box} names a mailbox that does not exist: " + ", ".join(sorted(roles))
            )
    return roles, names


def _hubs(data: Mapping[str, Any]) -> str | None:
    catch_all = [k for k, h in data.get("hubs", {}).items() if h.get("catch_all") is True]
    if len(catch_all) > 1:
        raise ConfigError(
            "[hubs]: at most one hub may be catch_all = true (" + ", ".join(catch_all) + ")"
        )
    for key, hub in data.get("hubs", {}).items():
        if not isinstance(hub.get("catch_all", False), bool):
            raise ConfigError(f"hubs.{key}.catch_all must be true or false")
        if not hub.get("districts") and key not in catch_all:
            raise ConfigError(
                f"hubs.{key}.districts is empty: list the postcode districts the hub covers, "
                "or make it the catch-all hub (catch_all = true)"
            )
    return catch_all[0] if catch_all else None


def _dues(data: Mapping[str, Any], levels: tuple[Level, ...]) -> tuple[NamedDue, ...]:
    dues = []
    for what, due in data.get("timescales", {}).get("due", {}).items():
        key = f"timescales.due.{what}"
        form = due.get("form")
        if form not in FORM_TYPE_NAMES:
            raise ConfigError(f"{key}.form must be a form type: " + ", ".join(FORM_TYPE_NAMES))
        level = due.get("level")
        if level is not None and level not in [lv.number for lv in levels]:
            raise ConfigError(f"{key}.level must be a declared level")
        hours, days = due.get("hours"), due.get("working_days")
        if (hours is None) == (days is None):
            raise ConfigError(f"{key} must have hours or working_days (one of the two)")
        for name, value in (("hours", hours), ("working_days", days)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise ConfigError(f"{key}.{name} must be a number greater than 0")
        dues.append(
            NamedDue(
                str(what),
                form,
                level,
                None if hours is None else float(hours),
                None if days is None else int(days),
            )
        )
    return tuple(dues)


def _forms(data: Mapping[str, Any], levels: tuple[Level, ...]) -> dict[str, FormRules]:
    rules = {}
    numbers = [level.number for level in levels]
    for form, table in data.get("forms", {}).items():
        key = f"forms.{form}"
        title = table.get("title")
        if title is not None and (not isinstance(title, str) or not title.strip()):
            raise ConfigError(f"{key}.title must be the form's name, in quotes")
        handover = _strings(table.get("handover_kinds", []), f"{key}.handover_kinds")
        if handover and form != "transfer" and form != "marf":
            raise ConfigError(f"{key}.handover_kinds is only for transfer and marf")
        for kind in handover:
            if kind not in HANDOVER_KINDS:
                raise ConfigError(
                    f"{key}.handover_kinds: {kind} must be " + ", ".join(HANDOVER_KINDS)
                )
        methods = _strings(table.get("consent_methods", []), f"{key}.consent_methods")
        for method in methods:
            if method not in CONSENT_METHODS:
                raise ConfigError(
                    f"{key}.consent_methods: {method} must be " + ", ".join(CONSENT_METHODS)
                )
        listed = table.get("levels", [])
        if not isinstance(listed, list) or any(n not in numbers for n in listed):
            raise ConfigError(f"{key}.levels must list declared levels, like [3, 4]")
        rules[form] = FormRules(
            title=title,
            required=_strings(table.get("required", []), f"{key}.required"),
            handover_kinds=handover,
            consent_methods=methods,
            levels=tuple(listed),
        )
    return rules


def _case_systems(data: Mapping[str, Any]) -> dict[str, str]:
    """The name printed beside each form type's case reference."""
    table = data.get("case_systems", {})
    legacy = str(data.get("case_system_name", "") or "")
    names = {}
    for form in FORM_TYPE_NAMES:
        system = table.get(form, CASE_SYSTEM_OF[form])
        if system not in SYSTEMS:
            raise ConfigError(f"case_systems.{form} must be social_care or early_help")
        name = table.get(system)
        names[form] = f"{name} ID" if name else legacy
    return names


def check_printed(data: Mapping[str, Any]) -> None:
    """Contacts the templates print are set."""
    missing = []
    for key in PRINTED:
        table, _, name = key.rpartition(".")
        value = (data.get(table, {}) if table else data).get(name)
        if not str(value or "").strip():
            missing.append(key)
    contacts = data.get("contacts", {})
    if not str(contacts.get("council_phone", "") or "").strip():
        for hub_key, hub in data.get("hubs", {}).items():
            if not str(hub.get("phone", "") or "").strip():
                missing.append(f"hubs.{hub_key}.phone (or contacts.council_phone)")
    if missing:
        raise ConfigError("Letters print these, so set them in ehforms.toml: " + ", ".join(missing))


def check_required(profile: Council) -> None:
    """``[forms.<type>] required`` names fields the form has."""
    if not any(rules.required for rules in profile.forms.values()):
        return
    from ehforms.forms import schema_for

    for form_type, rules in profile.forms.items():
        for path in rules.required:
            fields = schema_for(form_type).fields
            for part in path.split("."):
                found = fields.get(part)
                if found is None:
                    raise ConfigError(
                        f"forms.{form_type}.required: {path} is not a field of the "
                        f"{form_type} form. Check its spelling"
                    )
                nested = getattr(found, "schema", None) or getattr(
                    getattr(found, "inner", None), "schema", None
                )
                fields = nested.fields if nested is not None else {}


def council(data: Mapping[str, Any]) -> Council:
    """Check a whole configuration (keys, SET LOCALLY, mailboxes, hubs, levels, dues, forms)
    and read what a profile adds to today's settings."""
    check_keys(data)
    check_set_locally(data)
    levels = _levels(data)
    level_required = data.get("level_required", True)
    if not isinstance(level_required, bool):
        raise ConfigError("level_required must be true or false")
    roles, names = _mailboxes(data)
    catch_all = _hubs(data)
    check_printed(data)
    profile = Council(
        levels=levels,
        level_required=level_required,
        display_names=names,
        roles=roles,
        case_systems=_case_systems(data),
        catch_all=catch_all,
        forms=_forms(data, levels),
        dues=_dues(data, levels),
    )
    check_required(profile)
    return profile
