"""Everything a root holds about one case, for a subject access request (forms.md "Keeping and
deleting"): its forms in the mailboxes, ``done/`` and ``rejected/`` with their documents,
attachments and receipts; forms without a case reference that name the same child (name and
date of birth); the originals in the archive; the prefill data in the ledger; the audit rows.
And the export of it all into a folder a data protection officer reviews before disclosure.

Reads never follow a link; the export writes only into the folder named, which must be new or
empty (and is neither a link nor inside the working root), folders 0700 and files 0600.

``finding`` finds what is held (``find``); ``exporting`` checks the folder and writes the
export (``check_target``, ``export``).
"""

from __future__ import annotations

from ehforms.casefile.exporting import check_target, export
from ehforms.casefile.finding import (
    BY_CASE,
    BY_CHILD,
    CaseFile,
    HeldFile,
    HeldForm,
    audit_rows,
    find,
)

__all__ = [
    "BY_CASE",
    "BY_CHILD",
    "CaseFile",
    "HeldFile",
    "HeldForm",
    "audit_rows",
    "check_target",
    "export",
    "find",
]
