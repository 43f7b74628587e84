"""Consent withdrawn: a case's prefill data erased at once, and kept erased. A content-free
tombstone (the case and the date) is written in ``done_many``'s transaction when a form
withdrawing consent is recorded; every case with one loses its prefill data but what came with
consent dated after the withdrawal (``ehforms.retention`` decides which).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.database import case_data, transaction, withdrawals
from ehforms.retention import kept_after_withdrawal, withdrawal


def withdrawals_in(
    outcomes: Iterable[tuple[str | None, str | None, Any]],
) -> dict[str, str]:
    """From (form_type, case_id, form) of outcomes being recorded: the cases whose family
    withdrew consent, with the date."""
    found: dict[str, str] = {}
    for form_type, case_id, form in outcomes:
        day = withdrawal(form_type, form) if case_id else None
        if case_id and day is not None:
            found[case_id] = max(day, found.get(case_id, day))
    return found


def settle_withdrawals(
    connection: Connection,
    cases: Iterable[str] | None,
    withdrawn: dict[str, str] | None = None,
) -> int:
    """Record new withdrawals of consent (``withdrawn``: case → date) as content-free
    tombstones, and erase the prefill data of every case with a tombstone (``cases``: these
    only; None: all) but what came with consent dated after the withdrawal. Inside the
    caller's write transaction; returns the rows erased."""
    withdrawn = withdrawn or {}
    if withdrawn:
        tombstones = dict(
            connection.execute(
                sa.select(withdrawals.c.case_id, withdrawals.c.withdrawn_on).where(
                    withdrawals.c.case_id.in_(sorted(withdrawn))
                )
            ).all()
        )
        for case, day in withdrawn.items():
            if case not in tombstones:
                connection.execute(withdrawals.insert().values(case_id=case, withdrawn_on=day))
            elif day > tombstones[case]:
                connection.execute(
                    withdrawals.update()
                    .where(withdrawals.c.case_id == case)
                    .values(withdrawn_on=day)
                )
    query = sa.select(withdrawals.c.case_id, withdrawals.c.withdrawn_on)
    if cases is not None:
        wanted = sorted(set(cases) | set(withdrawn))
        if not wanted:
            return 0
        query = query.where(withdrawals.c.case_id.in_(wanted))
    erased = 0
    for case, day in connection.execute(query).all():
        rows = connection.execute(
            sa.select(case_data.c.submission_id, case_data.c.form_type, case_data.c.data)
            .where(case_data.c.case_id == case)
            .order_by(case_data.c.received_at, case_data.c.submission_id)
        ).all()
        forms = [(form_type, _loads(data)) for _, form_type, data in rows]
        start = kept_after_withdrawal(forms, day)
        doomed = [sid for sid, _, _ in rows[:start]]
        if doomed:
            connection.execute(case_data.delete().where(case_data.c.submission_id.in_(doomed)))
            erased += len(doomed)
    return erased


def _loads(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def withdrawn_on(engine: Engine, case: str) -> str | None:
    """The date a case's family withdrew consent, if it has a tombstone."""
    try:
        with transaction(engine) as connection:
            return connection.execute(
                sa.select(withdrawals.c.withdrawn_on).where(withdrawals.c.case_id == case)
            ).scalar()
    except Exception:  # a ledger not yet upgraded has none
        return None
