"""A bundle: one form and the attachments it names, as a ZIP file or a folder of the inbox,
unpacked into checked entries in memory. Writes nothing; never raises for anything a ZIP file
can hold.

What the contract (``docs/contract.md``, "Attachments and bundles") asks, entry by entry:
attachments are PDF, Word (DOCX without macros), JPEG or PNG, checked by their content; the
inbox's ignored names, ``__MACOSX/`` and ``.DS_Store`` are ignored; any other bad entry (another
type, a nested archive, an absolute path, ``..``, a backslash, a link, an encrypted entry, one
over the size or ratio limit, names that differ only in case) is left out with its reason; the
whole bundle is refused only when it has no form or more than one, or the archive itself is
unreadable or over the limits.

``entries`` holds what a bundle is and the judgement of one entry's bytes; ``zips`` reads a ZIP
file; ``folders`` reads a folder, says whether one has settled, and looks at a bundle's first
bytes to order a backlog.
"""

from __future__ import annotations

from ehforms.bundles.entries import (
    Bundle,
    Entry,
    LeftOut,
    Limits,
    attachment_kind,
    is_zip_name,
    missing_from,
)
from ehforms.bundles.folders import heads, read_folder, settle_state
from ehforms.bundles.zips import read_zip

__all__ = [
    "Bundle",
    "Entry",
    "LeftOut",
    "Limits",
    "attachment_kind",
    "heads",
    "is_zip_name",
    "missing_from",
    "read_folder",
    "read_zip",
    "settle_state",
]
