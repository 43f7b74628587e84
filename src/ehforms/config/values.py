"""The configuration as values: :class:`Config` (what every part reads) and its parts, the
hubs, ``[alerts]`` and ``[retention]``. :mod:`ehforms.config.checks` builds them from the
merged layers; :func:`ehforms.config.load_config` is how a caller gets one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ehforms.council import Council


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
    """The settings every part reads. Build it with :func:`ehforms.config.load_config`."""

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
