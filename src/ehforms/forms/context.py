"""What a validation depends on besides the form: the time of receipt and the known hubs.

Set with :func:`receiving`; fields and rules read it. Nothing here reads the clock unless a
schema is used outside :func:`receiving`, when "now" stands in for the time of receipt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from marshmallow.experimental.context import Context

from ehforms.council import Council

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Receipt:
    received_at: dt.datetime
    timezone: ZoneInfo = LONDON
    hubs: frozenset[str] = field(default_factory=frozenset)
    # the council's profile: its levels, required fields, handover kinds, consent methods
    # (None: the contract's own rules)
    council: Council | None = None

    @property
    def today(self) -> dt.date:
        return self.received_at.astimezone(self.timezone).date()


@contextmanager
def receiving(
    received_at: dt.datetime,
    timezone: ZoneInfo = LONDON,
    hubs: frozenset[str] = frozenset(),
    council: Council | None = None,
) -> Iterator[Receipt]:
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    receipt = Receipt(received_at, timezone, hubs, council)
    with Context(receipt):
        yield receipt


def current() -> Receipt:
    found = Context[Receipt].get(None)
    return found if isinstance(found, Receipt) else Receipt(dt.datetime.now(dt.UTC))


def received_at() -> dt.datetime:
    return current().received_at


def today() -> dt.date:
    return current().today
