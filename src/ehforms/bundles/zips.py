"""A bundle as a ZIP file, read in memory: every entry checked (its path, a link, encryption,
its size and how far it inflates) before its bytes are unpacked and judged; a ZIP file over the
limits is refused as a whole, its forms still read (a bounded number of entries) for the
safeguarding look.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from collections import Counter

from ehforms.bundles.entries import (
    LOOKED_AT,
    Bundle,
    Entry,
    Limits,
    _is_form,
    _judge,
    _kept,
    _larger,
    _likely_forms,
    _Reading,
    _too_big,
    _too_many,
    _wrapper,
)


def _path_problem(name: str) -> str | None:
    if "\\" in name:
        return "its name uses \\ (a Windows path), which could reach outside the bundle"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "its name is an absolute path, which could reach outside the bundle"
    if ".." in name.split("/"):
        return "its name climbs out of the bundle with .."
    return None


def read_zip(data: bytes, limits: Limits = Limits()) -> Bundle:  # noqa: B008 - frozen
    """The form and the checked attachments of a ZIP file's entries, and what was left out."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return Bundle(
            None,
            problem="The ZIP file could not be opened (it may be damaged): "
            "make it again and send it again",
        )
    with archive:
        return _read_archive(archive, infos, limits)


def _read_archive(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits) -> Bundle:
    files = [i for i in infos if not i.is_dir()]
    kept = set(_kept(i.filename for i in files))
    files = [i for i in files if i.filename in kept]
    problem = None
    if len(files) > limits.attachments + 1:
        problem = _too_many("ZIP file", len(files), limits)
    elif sum(i.file_size for i in files) > limits.bundle_bytes:
        problem = _too_big("ZIP file", limits)
    if problem is not None:
        # refused as a whole; its forms are still read, since one may be a safeguarding concern
        return Bundle(None, problem=problem, forms=_forms_in(archive, files, limits))
    wrapper = _wrapper([i.filename for i in files])
    folded = Counter(i.filename.lower() for i in files)
    reading = _Reading()
    for info in files:
        name = info.filename
        problem = _path_problem(name)
        inner = name[len(wrapper) :] if wrapper and name.startswith(wrapper) else name
        if problem is None and "/" in inner:
            problem = "it is in a folder inside the bundle: put every file at the top"
        if problem is None and stat.S_ISLNK(info.external_attr >> 16):
            problem = "it is a link, not a file"
        if problem is None and info.flag_bits & 0x1:
            problem = "it is encrypted: zip it again without a password"
        if problem is None and folded[name.lower()] > 1:
            problem = "another file in the bundle has the same name but for capital letters"
        if (
            problem is None
            and info.compress_size
            and info.file_size / info.compress_size > limits.ratio
        ):
            problem = f"it would inflate more than {limits.ratio} times (a zip bomb?)"
        if problem is None and info.file_size > limits.entry_bytes:
            problem = _larger(limits)
        if problem is not None:
            reading.leave_out(name, problem)
            continue
        data = _unpack(archive, info, limits, reading)
        if data is not None:
            _judge(name, inner.rsplit("/", 1)[-1], data, limits, reading)
    if reading.total > limits.bundle_bytes:
        return Bundle(None, problem=_too_big("ZIP file", limits), forms=tuple(reading.forms))
    return reading.bundle("ZIP file")


def _unpack(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, reading: _Reading
) -> bytes | None:
    name = info.filename
    try:
        with archive.open(info) as handle:
            data = handle.read(limits.entry_bytes + 1)  # a header may lie about the size
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError):
        reading.leave_out(name, "it could not be unpacked (it may be damaged)")
        return None
    if len(data) > limits.entry_bytes or (
        info.compress_size and len(data) / info.compress_size > limits.ratio
    ):
        reading.leave_out(name, "it is larger than an attachment may be, or inflates too far")
        return None
    return data


def _forms_in(
    archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], limits: Limits
) -> tuple[Entry, ...]:
    """The forms among a refused archive's entries, read within the limits (at most
    ``bundle_bytes`` in all, at most ``LOOKED_AT`` entries), for the safeguarding look."""
    reading = _Reading()
    budget = limits.bundle_bytes
    chosen = set(_likely_forms((i.filename for i in files if i.file_size), LOOKED_AT))
    for info in files:
        if info.filename not in chosen:
            continue
        if (
            _path_problem(info.filename) is not None
            or info.flag_bits & 0x1
            or info.file_size > limits.form_bytes
            or info.file_size > budget
            or (info.compress_size and info.file_size / info.compress_size > limits.ratio)
        ):
            continue
        data = _unpack(archive, info, limits, reading)
        if data is None:
            continue
        budget -= len(data)
        if _is_form(data):
            base = info.filename.rsplit("/", 1)[-1]
            reading.forms.append(Entry(base, data, hashlib.sha256(data).hexdigest(), "form"))
    return tuple(reading.forms)
