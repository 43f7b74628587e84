"""The checks a configuration's keys pass, section by section: each turns the merged layers'
raw values into checked ones (or a :class:`~ehforms.errors.ConfigError` that says what to
write). :func:`ehforms.config.build_config` calls them to build a :class:`Config`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ehforms.config.values import AlertSettings, Hub, Retention
from ehforms.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_MAILBOX_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# a postcode district (M8, EX4) or a whole postcode area (EX)
_DISTRICT = re.compile(r"^[A-Z]{1,2}([0-9][0-9A-Z]?)?$")


def hubs(data: Mapping[str, Any]) -> tuple[Hub, ...]:
    """``[hubs]``, checked: mailbox folder names, postcode districts, none in two hubs."""
    found: list[Hub] = []
    seen: dict[str, str] = {}
    for key, hub in table(data, "hubs").items():
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
        found.append(
            Hub(
                key=mailbox(key, f"hubs.{key}"),
                name=str(hub.get("name", key.title())),
                districts=districts,
                eh_mailbox=mailbox(hub.get("eh_mailbox", f"eh-{key}"), f"hubs.{key}.eh_mailbox"),
                sw_mailbox=mailbox(hub.get("sw_mailbox", f"sw-{key}"), f"hubs.{key}.sw_mailbox"),
                phone=str(hub.get("phone", "")),
            )
        )
    return tuple(found)


_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def alert_settings(data: Mapping[str, Any], mailboxes: tuple[str, ...]) -> AlertSettings | None:
    """``[alerts]``, checked; None when no host is set. A password here is refused (it is
    never printed): it belongs in the environment."""
    section = table(data, "alerts")
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
    for mailbox, addresses in table(section, "to").items():
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


LEDGER_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def ledger_url(data: Mapping[str, Any], default: str) -> str:
    """``[ledger] url``, checked: "" (the SQLite file in .ehforms/) or a PostgreSQL address
    without a password (that comes from EHFORMS_LEDGER_PASSWORD; it is never printed); ``default``
    when the file names none."""
    from urllib.parse import urlsplit

    url = str(table(data, "ledger").get("url") or "").strip() or default
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


def table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table")
    return value


def mode(value: Any, key: str) -> int:
    try:
        parsed = int(str(value), 8)
    except ValueError:
        raise ConfigError(f"{key} must be an octal file mode, like 0640") from None
    if parsed & 0o007:
        raise ConfigError(f"{key} must not give access to everyone (other): use a mode like 0640")
    return parsed


def number(value: Any, key: str, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{key} must be a number of at least {minimum}")
    return float(value)


def mailbox(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _MAILBOX_NAME.match(value):
        raise ConfigError(
            f"{key} must be a mailbox folder name of lower-case letters, digits and dashes"
        )
    return value


def check_region(region: str) -> None:
    import holidays

    country, _, subdivision = region.partition("-")
    try:
        holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        raise ConfigError(
            f"timescales.holiday_region {region!r} is not a known region, like GB-ENG or GB-SCT"
        ) from None


RETENTION_DAYS = ("done_days", "rejected_days", "archive_days", "case_days", "audit_days")


def retention(data: Mapping[str, Any]) -> Retention:
    """``[retention]``, checked: whole numbers of days (at least 1), and ``hold`` a list of
    case references."""
    section = table(data, "retention")
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
