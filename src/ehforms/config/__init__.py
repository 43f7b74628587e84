"""Configuration in layers: defaults in code, then ``ehforms.toml`` in the root, then
``EHFORMS_*`` environment variables (Flask's ``from_prefixed_env`` convention: values are
read as JSON when they parse, otherwise as text; ``__`` separates nested keys, so
``EHFORMS_TIMESCALES__WRITTEN_FOLLOWUP_HOURS=24``).

Without a file, the defaults are the ``example`` profile's. With one, a key the file leaves out
takes the neutral value of :data:`ehforms.profiles.NEUTRAL` (no other council's hubs, phone
numbers or police force), and :func:`ehforms.profiles.council` checks the whole configuration.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from ehforms.config import checks
from ehforms.config.values import AlertSettings, Config, Hub, Retention
from ehforms.council import council
from ehforms.errors import ConfigError
from ehforms.profiles import NEUTRAL, over_neutral

__all__ = [
    "CONFIG_FILE",
    "DEFAULTS",
    "DEFAULT_LEDGER_URL",
    "ENV_PREFIX",
    "MB",
    "SECRETS",
    "AlertSettings",
    "Config",
    "Hub",
    "Retention",
    "build_config",
    "deep_merge",
    "default_toml",
    "env_overrides",
    "load_config",
    "read_toml",
]

CONFIG_FILE = "ehforms.toml"
ENV_PREFIX = "EHFORMS_"
# EHFORMS_* variables that are not configuration keys: the file to read, and secrets
NOT_SETTINGS = ("CONFIG", "SMTP_PASSWORD", "LEDGER_PASSWORD", "VENV")  # VENV: ./dev's

# Telephone numbers are from Ofcom's range for drama (0161 496 0000 to 0999): a deployment
# sets its own.
DEFAULTS: dict[str, Any] = {
    "council_name": "Example City Council",
    "case_system_name": "Micare ID",
    # the same in every profile: the time zone, the size limits, the files' modes
    **{
        key: NEUTRAL[key]
        for key in (
            "timezone",
            "max_file_bytes",
            "max_json_depth",
            "file_mode",
            "dir_mode",
            "inbox_mode",
        )
    },
    "levels": {
        "1": "Needs met by universal services",
        "2": "Additional needs, single agency",
        "3": "Coordinated multi-agency support (Early Help Assessment, Team Around the Family)",
        "4": "Intensive coordinated support; level 3 support has not worked",
        "5": "Risk of, or suffering, significant harm",
    },
    "hubs": {
        "north": {
            "name": "North Early Help Hub",
            "districts": ["M4", "M8", "M9", "M40"],
            "phone": "0161 496 0100",
        },
        "central": {
            "name": "Central Early Help Hub",
            "districts": ["M1", "M2", "M3", "M11", "M12", "M13", "M14", "M15", "M16"],
            "phone": "0161 496 0200",
        },
        "south": {
            "name": "South Early Help Hub",
            "districts": ["M19", "M20", "M21", "M22", "M23", "M90"],
            "phone": "0161 496 0300",
        },
    },
    "mailboxes": {"mash": "mash", "triage": "triage"},
    "timescales": {
        "written_followup_hours": 48,
        "allocations_meeting_day": "thursday",
        "allocations_meeting_time": "09:30",
        "holiday_region": "GB-ENG",
        "step_down_return_months": 3,
        "assessment_max_age_months": 6,
    },
    "contacts": {
        "council_phone": "0161 496 0000",
        "mash_phone": "0161 496 0500",
        "out_of_hours_phone": "0161 496 0999",
        "emergency_phone": "999",
        "email": "earlyhelp@example.gov.uk",
    },
    "consent": {
        "agencies": [
            "Early Help",
            "Children's Social Care",
            "Schools and early years settings",
            "Health services (GP, health visitor, school nurse)",
            "Greater Manchester Police",
            "Housing providers",
        ],
    },
    "web": {
        "idle_minutes": 30,
        "session_hours": 12,
    },
    # the same in every profile: how the watcher works, and the contract's [limits]
    "watch": copy.deepcopy(NEUTRAL["watch"]),
    "limits": copy.deepcopy(NEUTRAL["limits"]),
    # Alerts by email (docs/alerts.md): nothing is queued or sent until `host` is set.
    "alerts": {
        "host": "",
        "port": 587,
        "tls": "starttls",
        "username": "",
        "from": "",
        "ca_file": "",
        "digest_time": "08:00",
        "base_url": "",
        "review_days": 90,
        "to": {},
    },
}

MB = 1024 * 1024
# Secrets come from the environment only and are never configuration keys.
SECRETS = ("EHFORMS_SMTP_PASSWORD", "EHFORMS_LEDGER_PASSWORD")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``EHFORMS_A__B=value`` becomes ``{"a": {"b": value}}``; JSON values are parsed."""
    result: dict[str, Any] = {}
    for name in sorted(environ):
        rest = name[len(ENV_PREFIX) :]
        if not name.startswith(ENV_PREFIX) or rest in NOT_SETTINGS:
            continue
        if rest.startswith("WEB_") and not rest.startswith("WEB__"):
            continue  # EHFORMS_WEB_*: the web face's own settings (ehforms.web.settings)
        raw = environ[name]
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        target = result
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"Environment variable {name} clashes with another setting")
        target[keys[-1]] = value
    return result


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path.name} is not valid TOML: {error}. Correct the file") from error
    except OSError as error:
        raise ConfigError(f"Cannot read {path}: {error.strerror}") from error


def load_config(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, then ``root/ehforms.toml`` (or ``$EHFORMS_CONFIG``), then the environment."""
    environ = os.environ if environ is None else environ
    path: Path | None = None
    if environ.get(ENV_PREFIX + "CONFIG"):
        path = Path(environ[ENV_PREFIX + "CONFIG"])
        if not path.is_file():
            raise ConfigError(f"EHFORMS_CONFIG names {path}, which does not exist")
    elif root is not None and (root / CONFIG_FILE).is_file():
        path = root / CONFIG_FILE
    merged = copy.deepcopy(DEFAULTS)
    if path is not None:  # a profile: what it leaves out is neutral, never another council's
        merged = over_neutral(read_toml(path))
    merged = deep_merge(merged, env_overrides(environ))
    config = build_config(merged)
    if config.ledger_url and environ.get("EHFORMS_LEDGER_PASSWORD"):
        from dataclasses import replace

        config = replace(config, ledger_password=environ["EHFORMS_LEDGER_PASSWORD"])
    if config.alerts is not None and environ.get("EHFORMS_SMTP_PASSWORD"):
        from dataclasses import replace

        alerts = replace(config.alerts, password=environ["EHFORMS_SMTP_PASSWORD"])
        config = replace(config, alerts=alerts)
    return config


# The ledger of a root whose configuration names none: "" is the SQLite file in .ehforms/.
# (The test suite's --ledger=postgresql points it at a throwaway PostgreSQL database.)
DEFAULT_LEDGER_URL = ""


def build_config(data: Mapping[str, Any]) -> Config:
    """The merged layers as a :class:`Config`, every section checked (:mod:`.checks`) and the
    council's profile with them (:func:`ehforms.council.council`)."""
    profile = council(data)
    try:
        timezone = ZoneInfo(str(data["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"timezone {data['timezone']!r} is not a known time zone, like Europe/London"
        ) from None
    hubs = checks.hubs(data)
    checks.table(data, "mailboxes")
    times = checks.table(data, "timescales")
    day = str(times.get("allocations_meeting_day", "")).strip().lower()
    if day not in (*checks.WEEKDAYS, "none"):
        raise ConfigError(
            "timescales.allocations_meeting_day must be a day, like thursday, or none"
        )
    meeting_time = str(times.get("allocations_meeting_time", ""))
    try:
        parsed_time = dt.time.fromisoformat(meeting_time)
    except ValueError:
        raise ConfigError(
            "timescales.allocations_meeting_time must be a time of day, like 09:30"
        ) from None
    region = str(times.get("holiday_region", ""))
    checks.check_region(region)
    watch = checks.table(data, "watch")
    web = checks.table(data, "web")
    levels = {level.number: level.name for level in profile.levels}
    # [limits] is the contract's table; form_bytes is the new name of max_file_bytes, which
    # still works (ehforms.toml files written by `ehforms init` have it) and which it overrides.
    limits = checks.table(data, "limits")
    if "form_bytes" in limits:
        form_bytes = checks.number(limits["form_bytes"], "limits.form_bytes", minimum=1024)
    else:
        form_bytes = checks.number(data["max_file_bytes"], "max_file_bytes", minimum=1024)
    every = [name for hub in hubs for name in (hub.eh_mailbox, hub.sw_mailbox)]
    every += [profile.front_door, profile.fallback, *profile.roles]
    alerts = checks.alert_settings(data, tuple(dict.fromkeys(every)))
    return Config(
        council_name=str(data["council_name"]),
        case_system_name=str(data.get("case_system_name", "")),
        timezone=timezone,
        max_file_bytes=int(form_bytes),
        max_json_depth=int(checks.number(data["max_json_depth"], "max_json_depth", minimum=5)),
        file_mode=checks.mode(data["file_mode"], "file_mode"),
        dir_mode=checks.mode(data["dir_mode"], "dir_mode"),
        inbox_mode=checks.mode(data["inbox_mode"], "inbox_mode"),
        levels=levels,
        hubs=hubs,
        mash_mailbox=checks.mailbox(profile.front_door, "[mailboxes] front_door"),
        triage_mailbox=checks.mailbox(profile.fallback, "[mailboxes] fallback"),
        written_followup_hours=checks.number(
            times.get("written_followup_hours"), "timescales.written_followup_hours", minimum=1
        ),
        allocations_meeting_weekday=None if day == "none" else checks.WEEKDAYS.index(day),
        allocations_meeting_time=(parsed_time.hour, parsed_time.minute),
        holiday_region=region,
        step_down_return_months=int(
            checks.number(
                times.get("step_down_return_months"), "timescales.step_down_return_months"
            )
        ),
        assessment_max_age_months=int(
            checks.number(
                times.get("assessment_max_age_months"), "timescales.assessment_max_age_months"
            )
        ),
        contacts={str(k): str(v) for k, v in checks.table(data, "contacts").items()},
        consent_agencies=tuple(str(a) for a in checks.table(data, "consent").get("agencies", [])),
        quiet_seconds=checks.number(watch.get("quiet_seconds"), "watch.quiet_seconds"),
        rescan_seconds=checks.number(
            watch.get("rescan_seconds"), "watch.rescan_seconds", minimum=0.1
        ),
        heartbeat_seconds=checks.number(
            watch.get("heartbeat_seconds"), "watch.heartbeat_seconds", minimum=0.1
        ),
        retry_max_seconds=checks.number(
            watch.get("retry_max_seconds"), "watch.retry_max_seconds", minimum=0.1
        ),
        max_messages=int(checks.number(limits.get("messages", 100), "limits.messages", minimum=2)),
        attachment_bytes=int(
            checks.number(
                limits.get("attachment_bytes", 10 * MB), "limits.attachment_bytes", minimum=1
            )
        ),
        max_attachments=int(checks.number(limits.get("attachments", 20), "limits.attachments")),
        bundle_bytes=int(
            checks.number(limits.get("bundle_bytes", 50 * MB), "limits.bundle_bytes", minimum=1024)
        ),
        max_ratio=int(checks.number(limits.get("ratio", 100), "limits.ratio", minimum=1)),
        bundle_settle_seconds=checks.number(
            watch.get("bundle_settle_seconds", 60.0), "watch.bundle_settle_seconds"
        ),
        council=profile,
        idle_minutes=checks.number(web.get("idle_minutes", 30), "web.idle_minutes", minimum=1),
        session_hours=checks.number(web.get("session_hours", 12), "web.session_hours", minimum=0.1),
        alerts=alerts,
        review_days=checks.number(
            checks.table(data, "alerts").get("review_days", 90), "alerts.review_days", minimum=1
        ),
        retention=checks.retention(data),
        ledger_url=checks.ledger_url(data, DEFAULT_LEDGER_URL),
    )


CONFIG_HEADER = """\
# ehforms configuration for this working root.
# Every setting has a default in code; this file overrides it, and EHFORMS_* environment
# variables override this file (EHFORMS_TIMESCALES__WRITTEN_FOLLOWUP_HOURS=24).
# A [hubs] table here replaces the default hubs as a whole.
# Mailboxes are folders under outbox/: eh-<hub> and sw-<hub> for each hub (override with
# eh_mailbox / sw_mailbox), plus [mailboxes] mash and triage.
"""


def default_toml() -> str:
    """The text ``ehforms init`` writes: every default, ready to edit."""
    return CONFIG_HEADER + "\n" + tomli_w.dumps(DEFAULTS)
