"""An account and a session as values, and an account read from its row in the ledger."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehforms.database import accounts


class Role(StrEnum):
    PRACTITIONER = "practitioner"
    HUB = "hub"
    MANAGER = "manager"


@dataclass(frozen=True)
class Account:
    email: str  # trimmed, lower-cased
    role: Role
    mailboxes: tuple[str, ...]  # hub only
    active: bool
    must_change_password: bool


@dataclass(frozen=True)
class Session:
    account: Account
    started_at: dt.datetime
    last_seen: dt.datetime


def from_row(row: sa.Row[tuple[str, str, str, bool, bool]] | tuple[object, ...]) -> Account:
    email, role, mailboxes, active, must_change = tuple(row)
    return Account(
        str(email),
        Role(str(role)),
        tuple(json.loads(str(mailboxes))),
        bool(active),
        bool(must_change),
    )


COLUMNS = (
    accounts.c.email,
    accounts.c.role,
    accounts.c.mailboxes,
    accounts.c.active,
    accounts.c.must_change_password,
)


def read_account(connection: Connection, email: str) -> Account | None:
    row = connection.execute(sa.select(*COLUMNS).where(accounts.c.email == email)).first()
    return from_row(tuple(row)) if row is not None else None
