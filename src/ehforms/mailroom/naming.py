"""The names files are written under in a form's folder: safe, and never two the same but for
capital letters (a form's originals never take a document's name, or ``attachments``).

Pure: the receiving half uses them for a form sent from the web, the delivering half for an
outcome's files, and ``ehforms.handling`` to know which files a copy's receipt names.
"""

from __future__ import annotations

from collections.abc import Iterable

from ehforms.mailroom.layout import ATTACHMENTS
from ehforms.names import safe_file_name


def _reserved(documents: Iterable[str]) -> list[str]:
    """What else a form's folder holds, which its original files never overwrite."""
    return [ATTACHMENTS, *(safe_file_name(d) for d in documents)]


def original_names(sources: Iterable[str], documents: Iterable[str]) -> list[str]:
    """The names a form's original files are written under beside its documents: safe, and
    never a document's name or ``attachments`` (a form sent as ``consent-letter.pdf`` keeps
    its own file as ``consent-letter-2.pdf`` beside the letter made for it)."""
    return list(_unclashed(((name, b"") for name in sources), _reserved(documents)))


def unclashed_names(names: Iterable[str]) -> list[str]:
    """The names files are written under (see :func:`_unclashed`), in the same order."""
    return list(_unclashed((name, b"") for name in names))


def _unclashed(
    files: Iterable[tuple[str, bytes]], taken_already: Iterable[str] = ()
) -> dict[str, bytes]:
    """Files under safe names, none the same as another (or as one of ``taken_already``) but
    for capital letters."""
    out: dict[str, bytes] = {}
    taken: set[str] = {name.lower() for name in taken_already}
    for name, data in files:
        safe = safe_file_name(name)
        stem, dot, suffix = safe.rpartition(".")
        if not dot:
            stem, suffix = safe, ""
        n = 1
        while safe.lower() in taken:
            n += 1
            safe = f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}"
        taken.add(safe.lower())
        out[safe] = data
    return out
