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
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from ehforms.council import Council, council
from ehforms.errors import ConfigError
from ehforms.profiles import NEUTRAL, over_neutral

CONFIG_FILE = "ehforms.toml"
ENV_PREFIX = "EHFORMS_"
# EHFORMS_* variables that are not configuration keys: the file to read, and secrets
NOT_SETTINGS = ("CONFIG", "SMTP_PASSWORD", "LEDGER_PASSWORD", "VENV")  # VENV: ./dev's

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

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

_MAILBOX_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# a postcode district (M8, EX4) or a whole postcode area (EX)
_DISTRICT = re.compile(r"^[A-Z]{1,2}([0-9][0-9A-Z]?)?$")


@dataclass(frozen=True)
class Hub:
    key: str
    name: str
    districts: tuple[str, ...]
    eh_mailbox: str
    sw_mailbox: str
    phone: str


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]``: the SMTP server, who is told of each mailbox's urgent forms, the digest."""

    host: str
    port: int
    tls: str  # "starttls" or "implicit"
    username: str
    sender: str  # the From address
    ca_file: str
    digest_time: tuple[int, int]
    base_url: str
    to: Mapping[str, tuple[str, ...]]
    password: str = field(default="", repr=False)  # from EHFORMS_SMTP_PASSWORD only


@dataclass(frozen=True)
class Retention:
    """``[retention]`` (forms.md "Keeping and deleting"): how many days each kind of thing is
    kept, and the case references on legal hold (kept whatever their age)."""

    done_days: int = 90  # a handled folder, from when it was handled
    rejected_days: int = 30  # a folder in rejected/
    archive_days: int = 90  # an original in the archive
    case_days: int = 365  # prefill data and the access it gives, from the case's last form
    audit_days: int = 2190  # an audit row (about six years)
    hold: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Config:
    """The settings every part reads. Build it with :func:`load_config`."""

    council_name: str
    case_system_name: str
    timezone: ZoneInfo
    max_file_bytes: int
    max_json_depth: int
    file_mode: int
    dir_mode: int
    inbox_mode: int
    levels: Mapping[int, str]
    hubs: tuple[Hub, ...]
    mash_mailbox: str
    triage_mailbox: str
    written_followup_hours: float
    allocations_meeting_weekday: int | None  # None: the council holds no allocations meeting
    allocations_meeting_time: tuple[int, int]
    holiday_region: str
    step_down_return_months: int
    assessment_max_age_months: int
    contacts: Mapping[str, str]
    consent_agencies: tuple[str, ...]
    quiet_seconds: float
    rescan_seconds: float
    heartbeat_seconds: float
    retry_max_seconds: float
    # [limits] messages: at most this many problems listed for one form (errors.txt lines).
    max_messages: int = 100
    # [limits] for bundles: bytes of one attachment, attachments in a bundle, bytes of a whole
    # bundle unpacked, and how many times an entry may inflate
    attachment_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 20
    bundle_bytes: int = 50 * 1024 * 1024
    max_ratio: int = 100
    bundle_settle_seconds: float = 60.0
    # what a council profile adds: levels, mailboxes' roles and names, case systems, forms, dues
    council: Council = Council()
    # [web]: a session ends after this long without a request, and this long in all.
    idle_minutes: float = 30.0
    session_hours: float = 12.0
    # [alerts]: None when no host is set (nothing is queued or sent).
    alerts: AlertSettings | None = None
    # [alerts] review_days: status and the digest flag forms that have waited longer.
    review_days: float = 90.0
    # [retention]: how long things are kept (ehforms.retention decides, ehforms.purging deletes)
    retention: Retention = Retention()

    @property
    def case_days(self) -> int:
        """[retention] case_days: how long prefill data (and the access it gives) lasts."""
        return self.retention.case_days

    # [ledger] url: "" for the SQLite file in .ehforms/, or a PostgreSQL server's address
    # (postgresql://user@host:port/database); its password from EHFORMS_LEDGER_PASSWORD only.
    ledger_url: str = ""
    ledger_password: str = field(default="", repr=False)

    def mailbox_name(self, mailbox: str) -> str:
        """The name a person knows a mailbox by (pages, emails, reports): its
        ``[mailboxes.<folder>] display_name``, else its hub's name, else its folder in words."""
        named = self.council.display(mailbox)
        if named and named != mailbox:
            return named
        for hub in self.hubs:
            if mailbox == hub.eh_mailbox:
                return hub.name
            if mailbox == hub.sw_mailbox:
                return f"{hub.name} (social work)"
        if mailbox == self.mash_mailbox:
            return "MASH"
        words = mailbox.replace("_", " ").strip()
        return words[:1].upper() + words[1:]

    @property
    def mailboxes(self) -> tuple[str, ...]:
        """Every mailbox folder under ``outbox/``, in a stable order."""
        names: list[str] = []
        for hub in self.hubs:
            names += [hub.eh_mailbox, hub.sw_mailbox]
        names += [self.mash_mailbox, self.triage_mailbox]
        names += [box for box, role in self.council.roles.items() if role == "extra"]
        return tuple(dict.fromkeys(names))

    def hub_for_district(self, district: str) -> Hub | None:
        """The hub listing this district, or else its whole postcode area (``EX``), or else
        the catch-all hub."""
        area = re.match(r"[A-Z]*", district).group(0)  # type: ignore[union-attr]
        for wanted in (district, area):
            for hub in self.hubs:
                if wanted in hub.districts:
                    return hub
        return self.hub(self.council.catch_all) if self.council.catch_all else None

    def hub(self, key: str) -> Hub | None:
        for hub in self.hubs:
            if hub.key == key:
                return hub
        return None


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


_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def _alerts(data: Mapping[str, Any], mailboxes: tuple[str, ...]) -> AlertSettings | None:
    """``[alerts]``, checked; None when no host is set. A password here is refused (it is
    never printed): it belongs in the environment."""
    section = _section(data, "alerts")
    if any("password" in str(key).lower() for key in section):
        raise ConfigError(
            "The SMTP password must not be in ehforms.toml: remove it from [alerts] and set the "
            "EHFORMS_SMTP_PASSWORD environment variable instead"
        )
    host = str(section.get("host") or "").strip()
    if not host:
        return None
    tls = str(section.get("tls", "starttls")).strip().lower()
    if tls not in ("starttls", "implicit"):
        raise ConfigError('alerts.tls must be "starttls" or "implicit"')
    port = section.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError("alerts.port must be a port number, like 587 (or 465 for implicit TLS)")
    sender = str(section.get("from") or "").strip()
    if not _ADDRESS.match(sender):
        raise ConfigError(
            "alerts.from must be the email address alerts come from, like ehforms@council.example"
        )
    ca_file = str(section.get("ca_file") or "").strip()
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"alerts.ca_file names {ca_file}, which does not exist: correct the path")
    try:
        digest = dt.time.fromisoformat(str(section.get("digest_time", "08:00")))
    except ValueError:
        raise ConfigError("alerts.digest_time must be a time of day, like 08:00") from None
    base_url = str(section.get("base_url") or "").strip().rstrip("/")
    if base_url and not base_url.startswith(("https://", "http://")):
        raise ConfigError(
            "alerts.base_url must be the web pages' address, like https://ehforms.council.example"
        )
    to: dict[str, tuple[str, ...]] = {}
    for mailbox, addresses in _section(section, "to").items():
        if mailbox not in mailboxes:
            raise ConfigError(
                f"alerts.to.{mailbox} names no mailbox: use one of {', '.join(mailboxes)}"
            )
        listed = [addresses] if isinstance(addresses, str) else addresses
        if not isinstance(listed, list) or not all(
            isinstance(a, str) and _ADDRESS.match(a.strip()) for a in listed
        ):
            raise ConfigError(
                f"alerts.to.{mailbox} must be a list of email addresses, like "
                '["duty@council.example"]'
            )
        if listed:
            to[mailbox] = tuple(a.strip() for a in listed)
    return AlertSettings(
        host=host,
        port=port,
        tls=tls,
        username=str(section.get("username") or "").strip(),
        sender=sender,
        ca_file=ca_file,
        digest_time=(digest.hour, digest.minute),
        base_url=base_url,
        to=to,
    )


# The ledger of a root whose configuration names none: "" is the SQLite file in .ehforms/.
# (The test suite's --ledger=postgresql points it at a throwaway PostgreSQL database.)
DEFAULT_LEDGER_URL = ""
LEDGER_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def _ledger_url(data: Mapping[str, Any]) -> str:
    """``[ledger] url``, checked: "" (the SQLite file in .ehforms/) or a PostgreSQL address
    without a password (that comes from EHFORMS_LEDGER_PASSWORD; it is never printed)."""
    from urllib.parse import urlsplit

    url = str(_section(data, "ledger").get("url") or "").strip() or DEFAULT_LEDGER_URL
    if not url:
        return ""
    example = "postgresql://ehforms@db.council.example:5432/ehforms"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise ConfigError(f"ledger.url must be a PostgreSQL address, like {example}") from None
    if parts.password is not None:
        raise ConfigError(
            "A password must not be in ehforms.toml: remove it from ledger.url and set the "
            "EHFORMS_LEDGER_PASSWORD environment variable instead"
        )
    if parts.scheme not in LEDGER_SCHEMES or not parts.hostname or len(parts.path) < 2:
        raise ConfigError(
            f"ledger.url must be a PostgreSQL address with a host and a database, like {example} "
            "(or leave it out for the SQLite ledger in .ehforms/)"
        )
    return url


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _mode(value: Any, key: str) -> int:
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise ConfigError(f"{key} must be an octal file mode, like 0640") from None
    if mode & 0o007:
        raise ConfigError(f"{key} must not give access to everyone (other): use a mode like 0640")
    return mode


def _number(value: Any, key: str, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{key} must be a number of at least {minimum}")
    return float(value)


def _mailbox(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _MAILBOX_NAME.match(value):
        raise ConfigError(
            f"{key} must be a mailbox folder name of lower-case letters, digits and dashes"
        )
    return value


def _check_region(region: str) -> None:
    import holidays

    country, _, subdivision = region.partition("-")
    try:
        holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        raise ConfigError(
            f"timescales.holiday_region {region!r} is not a known region, like GB-ENG or GB-SCT"
        ) from None


def build_config(data: Mapping[str, Any]) -> Config:
    profile = council(data)
    try:
        timezone = ZoneInfo(str(data["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"timezone {data['timezone']!r} is not a known time zone, like Europe/London"
        ) from None
    hubs: list[Hub] = []
    seen: dict[str, str] = {}
    for key, hub in _section(data, "hubs").items():
        if not isinstance(hub, Mapping):
            raise ConfigError(f"[hubs.{key}] must be a table")
        districts = tuple(str(d).strip().upper() for d in hub.get("districts", []))
        for district in districts:
            if not _DISTRICT.match(district):
                raise ConfigError(f"hubs.{key}: {district!r} is not a postcode district, like M8")
            area = re.match(r"[A-Z]*", district).group(0)  # type: ignore[union-attr]
            for clash in (district, area) if area != district else (district,):
                if clash in seen:
                    raise ConfigError(
                        f"Postcode district {district} is in two hubs ({seen[clash]} and {key})"
                    )
            seen[district] = key
        hubs.append(
            Hub(
                key=_mailbox(key, f"hubs.{key}"),
                name=str(hub.get("name", key.title())),
                districts=districts,
                eh_mailbox=_mailbox(hub.get("eh_mailbox", f"eh-{key}"), f"hubs.{key}.eh_mailbox"),
                sw_mailbox=_mailbox(hub.get("sw_mailbox", f"sw-{key}"), f"hubs.{key}.sw_mailbox"),
                phone=str(hub.get("phone", "")),
            )
        )
    _section(data, "mailboxes")
    times = _section(data, "timescales")
    day = str(times.get("allocations_meeting_day", "")).strip().lower()
    if day not in (*WEEKDAYS, "none"):
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
    _check_region(region)
    watch = _section(data, "watch")
    web = _section(data, "web")
    levels = {level.number: level.name for level in profile.levels}
    # [limits] is the contract's table; form_bytes is the new name of max_file_bytes, which
    # still works (ehforms.toml files written by `ehforms init` have it) and which it overrides.
    limits = _section(data, "limits")
    if "form_bytes" in limits:
        form_bytes = _number(limits["form_bytes"], "limits.form_bytes", minimum=1024)
    else:
        form_bytes = _number(data["max_file_bytes"], "max_file_bytes", minimum=1024)
    every = [name for hub in hubs for name in (hub.eh_mailbox, hub.sw_mailbox)]
    every += [profile.front_door, profile.fallback, *profile.roles]
    alerts = _alerts(data, tuple(dict.fromkeys(every)))
    return Config(
        council_name=str(data["council_name"]),
        case_system_name=str(data.get("case_system_name", "")),
        timezone=timezone,
        max_file_bytes=int(form_bytes),
        max_json_depth=int(_number(data["max_json_depth"], "max_json_depth", minimum=5)),
        file_mode=_mode(data["file_mode"], "file_mode"),
        dir_mode=_mode(data["dir_mode"], "dir_mode"),
        inbox_mode=_mode(data["inbox_mode"], "inbox_mode"),
        levels=levels,
        hubs=tuple(hubs),
        mash_mailbox=_mailbox(profile.front_door, "[mailboxes] front_door"),
        triage_mailbox=_mailbox(profile.fallback, "[mailboxes] fallback"),
        written_followup_hours=_number(
            times.get("written_followup_hours"), "timescales.written_followup_hours", minimum=1
        ),
        allocations_meeting_weekday=None if day == "none" else WEEKDAYS.index(day),
        allocations_meeting_time=(parsed_time.hour, parsed_time.minute),
        holiday_region=region,
        step_down_return_months=int(
            _number(times.get("step_down_return_months"), "timescales.step_down_return_months")
        ),
        assessment_max_age_months=int(
            _number(times.get("assessment_max_age_months"), "timescales.assessment_max_age_months")
        ),
        contacts={str(k): str(v) for k, v in _section(data, "contacts").items()},
        consent_agencies=tuple(str(a) for a in _section(data, "consent").get("agencies", [])),
        quiet_seconds=_number(watch.get("quiet_seconds"), "watch.quiet_seconds"),
        rescan_seconds=_number(watch.get("rescan_seconds"), "watch.rescan_seconds", minimum=0.1),
        heartbeat_seconds=_number(
            watch.get("heartbeat_seconds"), "watch.heartbeat_seconds", minimum=0.1
        ),
        retry_max_seconds=_number(
            watch.get("retry_max_seconds"), "watch.retry_max_seconds", minimum=0.1
        ),
        max_messages=int(_number(limits.get("messages", 100), "limits.messages", minimum=2)),
        attachment_bytes=int(
            _number(limits.get("attachment_bytes", 10 * MB), "limits.attachment_bytes", minimum=1)
        ),
        max_attachments=int(_number(limits.get("attachments", 20), "limits.attachments")),
        bundle_bytes=int(
            _number(limits.get("bundle_bytes", 50 * MB), "limits.bundle_bytes", minimum=1024)
        ),
        max_ratio=int(_number(limits.get("ratio", 100), "limits.ratio", minimum=1)),
        bundle_settle_seconds=_number(
            watch.get("bundle_settle_seconds", 60.0), "watch.bundle_settle_seconds"
        ),
        council=profile,
        idle_minutes=_number(web.get("idle_minutes", 30), "web.idle_minutes", minimum=1),
        session_hours=_number(web.get("session_hours", 12), "web.session_hours", minimum=0.1),
        alerts=alerts,
        review_days=_number(
            _section(data, "alerts").get("review_days", 90), "alerts.review_days", minimum=1
        ),
        retention=_retention(data),
        ledger_url=_ledger_url(data),
    )


RETENTION_DAYS = ("done_days", "rejected_days", "archive_days", "case_days", "audit_days")


def _retention(data: Mapping[str, Any]) -> Retention:
    """``[retention]``, checked: whole numbers of days (at least 1), and ``hold`` a list of
    case references."""
    section = _section(data, "retention")
    days = {}
    for key in RETENTION_DAYS:
        value = section.get(key, getattr(Retention, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"retention.{key} must be a whole number of days, like 90")
        days[key] = value
    hold = section.get("hold", [])
    if not isinstance(hold, list) or not all(isinstance(ref, str) and ref.strip() for ref in hold):
        raise ConfigError('retention.hold must be a list of case references, like ["MC204811"]')
    return Retention(**days, hold=frozenset(ref.strip() for ref in hold))


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
