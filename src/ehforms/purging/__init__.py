"""Keeping and deleting, done (forms.md "Keeping and deleting"): the purge of handled folders,
rejected folders, archived originals, prefill data and audit rows past their time, and the
erasure of a case's prefill data when its family withdraws consent. ``ehforms.retention``
decides what is past its time; this package finds it on the disk and in the ledger and deletes
it.

``folders`` walks the root and deletes what is past its time (``Purge``), safe against a crash
and never through a link; ``blanking`` is the ledger's half, once the files are gone, and the
checkpoint or VACUUM after it; ``consent`` keeps a withdrawal of consent's tombstone and erases
what it covers; ``daily`` is ``DailyPurge``, the thread beside ``watch``.
"""

from __future__ import annotations

from ehforms.purging.blanking import PURGED, checkpoint, cutoff_text, vacuum
from ehforms.purging.consent import settle_withdrawals, withdrawals_in, withdrawn_on
from ehforms.purging.daily import WATCH, DailyPurge, last_purge
from ehforms.purging.folders import Purge

__all__ = [
    "PURGED",
    "WATCH",
    "DailyPurge",
    "Purge",
    "checkpoint",
    "cutoff_text",
    "last_purge",
    "settle_withdrawals",
    "vacuum",
    "withdrawals_in",
    "withdrawn_on",
]
