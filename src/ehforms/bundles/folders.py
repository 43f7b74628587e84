"""A bundle as a folder of the inbox (business support saving an email's attachments into a
new folder): read entry by entry, never through a link; whether such a folder has settled; and
the first bytes of a bundle's entries, to order a backlog.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections import Counter
from pathlib import Path

from ehforms.bundles.entries import (
    LOOKED_AT,
    Bundle,
    Entry,
    Limits,
    _is_form,
    _judge,
    _kept,
    _likely_forms,
    _Reading,
    _too_big,
    _too_many,
    _wrapper,
    is_zip_name,
)
from ehforms.files import NotARegularFile, open_regular
from ehforms.names import ignored


def read_folder(folder: Path, limits: Limits = Limits()) -> Bundle:  # noqa: B008 - frozen
    """The same as :func:`read_zip` for a folder (business support saving an email's
    attachments into a new folder of the inbox): its files, at the top or inside one wrapping
    folder; links, pipes and deeper folders are left out, never followed or opened."""
    try:
        found = _walk(folder)
    except OSError:
        return Bundle(
            None,
            problem="The folder could not be read: check it can be opened, then move it "
            "out of the inbox and back",
        )
    names = _kept(found)
    regular = [n for n in names if found[n] == "file"]
    problem = None
    if len(regular) > limits.attachments + 1:
        problem = _too_many("folder", len(regular), limits)
    if problem is not None:
        reading = _Reading()
        budget = limits.bundle_bytes
        for name in _likely_forms(regular, LOOKED_AT):
            data = _read_file(folder / name, min(limits.form_bytes, budget), reading, name)
            if data is not None:
                budget -= len(data)
                if _is_form(data):
                    base = name.rsplit("/", 1)[-1]
                    entry = Entry(base, data, hashlib.sha256(data).hexdigest(), "form")
                    reading.forms.append(entry)
        return Bundle(None, problem=problem, forms=tuple(reading.forms))
    wrapper = _wrapper(names)
    folded = Counter(n.lower() for n in names)
    reading = _Reading()
    for name in names:
        inner = name[len(wrapper) :] if wrapper and name.startswith(wrapper) else name
        what = found[name]
        if what == "folder":
            reading.leave_out(
                name, "it is in a folder inside the bundle: put every file at the top"
            )
            continue
        if what != "file":
            reading.leave_out(name, f"it is {what}, not a file")
            continue
        if "/" in inner:
            reading.leave_out(
                name, "it is in a folder inside the bundle: put every file at the top"
            )
            continue
        if folded[name.lower()] > 1:
            reading.leave_out(
                name, "another file in the bundle has the same name but for capital letters"
            )
            continue
        data = _read_file(folder / name, limits.entry_bytes, reading, name)
        if data is None:
            continue
        if reading.total + len(data) > limits.bundle_bytes:
            return Bundle(None, problem=_too_big("folder", limits), forms=tuple(reading.forms))
        _judge(name, inner, data, limits, reading)
    return reading.bundle("folder")


def _walk(folder: Path) -> dict[str, str]:
    """``relative name → "file" | "folder" | what else it is`` two levels deep (a wrapping
    folder); a deeper folder is named as a folder, never entered. Links are never followed."""
    from ehforms.files import kind_of

    found: dict[str, str] = {}

    def visit(where: Path, prefix: str, depth: int) -> None:
        with os.scandir(where) as entries:
            for entry in entries:
                name = prefix + entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    if depth == 0:
                        visit(Path(entry.path), name + "/", 1)
                    else:
                        found[name + "/"] = "folder"
                elif stat.S_ISREG(mode):
                    found[name] = "file"
                else:
                    found[name] = kind_of(mode) or "not a file"

    visit(folder, "", 0)
    return found


def _read_file(path: Path, limit: int, reading: _Reading, name: str) -> bytes | None:
    try:
        with os.fdopen(open_regular(path), "rb") as handle:
            data = handle.read(limit + 1)
    except NotARegularFile as odd:
        reading.leave_out(name, f"it is {odd.kind}, not a file")
        return None
    except OSError:
        reading.leave_out(name, "it could not be read (is it open in another program?)")
        return None
    if len(data) > limit:
        reading.leave_out(name, "it is larger than an attachment may be")
        return None
    return data


# Names that show a copy is still under way: a folder holding one is never taken.
UNFINISHED = ("~$*", "*.tmp", "*.part", "*.crdownload")


def settle_state(folder: Path, now: float, seconds: float) -> tuple[bool, float]:
    """(whether a folder of the inbox has settled, the oldest time seen in it).

    Settled: it holds at least one file, nothing in it (the folder, its entries, and the
    entries of a wrapping folder, by ``lstat``: links are never followed) changed in the last
    ``seconds``, and no name shows a copy under way (``*.part``, ``*.tmp``, ``~$*``...)."""
    from fnmatch import fnmatch

    try:
        top = os.lstat(folder)
    except OSError:
        return False, now
    newest = oldest = top.st_mtime
    files = 0
    unfinished = False
    pending = [(folder, 0)]
    while pending:
        where, depth = pending.pop()
        try:
            with os.scandir(where) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    newest = max(newest, info.st_mtime)
                    oldest = min(oldest, info.st_mtime)
                    lowered = entry.name.lower()
                    if any(fnmatch(lowered, p) for p in UNFINISHED):
                        unfinished = True
                    if stat.S_ISDIR(info.st_mode):
                        if depth < 2:
                            pending.append((Path(entry.path), depth + 1))
                    elif not ignored(entry.name):
                        files += 1
        except OSError:
            return False, oldest
    return (files > 0 and not unfinished and newest <= now - seconds), oldest


def heads(path: Path, limit: int = 65536, most: int = 8) -> list[bytes]:
    """The first bytes of the entries of a bundle (a ZIP file or a folder) that may be its form,
    to order a backlog: a risk form in a bundle goes first, like one on its own. A few entries
    only, never more than ``limit`` bytes each; never raises."""
    found: list[bytes] = []
    try:
        if path.is_dir() and not path.is_symlink():
            for name, what in sorted(_walk(path).items()):
                if what != "file" or ignored(name.rsplit("/", 1)[-1]) or len(found) >= most:
                    continue
                with os.fdopen(open_regular(path / name), "rb") as handle:
                    found.append(handle.read(limit))
        elif is_zip_name(path.name):
            with os.fdopen(open_regular(path), "rb") as handle, zipfile.ZipFile(handle) as archive:
                for info in archive.infolist()[: most * 4]:
                    if len(found) >= most:
                        break
                    if info.is_dir() or info.flag_bits & 0x1 or ignored(info.filename):
                        continue
                    if info.compress_size and info.file_size / info.compress_size > 100:
                        continue
                    with archive.open(info) as entry:
                        found.append(entry.read(limit))
    except Exception:  # only an order: a bundle that cannot be looked at is taken in turn
        return found
    return found
