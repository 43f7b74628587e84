"""A bundle: one form and the attachments it names, as a ZIP file (or, later, a folder or a web
upload), unpacked into checked entries in memory. Writes nothing; never raises for anything a
ZIP file can hold.

What the contract (``docs/contract.md``, "Attachments and bundles") asks, entry by entry:
attachments are PDF, Word (DOCX without macros), JPEG or PNG, checked by their content; the
inbox's ignored names, ``__MACOSX/`` and ``.DS_Store`` are ignored; any other bad entry (another
type, a nested archive, an absolute path, ``..``, a backslash, a link, an encrypted entry, one
over the size or ratio limit, names that differ only in case) is left out with its reason; the
whole bundle is refused only when it has no form or more than one, or the archive itself is
unreadable or over the limits.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from collections import Counter
from dataclasses import dataclass, field

from ehforms.names import ignored

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The contract's ``[limits]`` for bundles (the defaults are the contract's)."""

    form_bytes: int = 5 * MB
    attachment_bytes: int = 10 * MB
    attachments: int = 20
    bundle_bytes: int = 50 * MB
    ratio: int = 100


@dataclass(frozen=True)
class Entry:
    name: str  # the entry's base name
    data: bytes
    sha256: str
    kind: str  # "form", or the attachment's type: pdf, docx, jpeg, png


@dataclass(frozen=True)
class LeftOut:
    name: str  # as the archive names it (made printable)
    reason: str


@dataclass(frozen=True)
class Bundle:
    form: Entry | None
    attachments: tuple[Entry, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    problem: str | None = None  # why the bundle as a whole is refused (None: it is not)

    @property
    def identity(self) -> str:
        """The contract's bundle identity: the SHA-256 of the form's and attachments' lowercase
        hex digests, sorted, each followed by a newline (names do not count)."""
        digests = sorted(e.sha256 for e in ((self.form,) if self.form else ()) + self.attachments)
        return hashlib.sha256("".join(d + "\n" for d in digests).encode()).hexdigest()


IGNORED_IN_BUNDLES = ("__MACOSX/", ".DS_Store")
ARCHIVES = (b"PK\x03\x04", b"PK\x05\x06", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b", b"BZh")


def _printable(name: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in name)[:200]


def attachment_kind(data: bytes) -> str | None:
    """PDF, DOCX (a real OOXML package), JPEG or PNG by content; None for anything else."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as package:
                names = set(package.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return "docx"
    return None


def _opens(kind: str, data: bytes) -> str | None:
    """Why a file of ``kind`` does not open (None: it opens)."""
    if kind == "docx":
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = {n.lower() for n in package.namelist()}
            types = package.read("[Content_Types].xml").lower()
        if any(n.endswith("vbaproject.bin") for n in names) or b"macroenabled" in types:
            return "it is a Word document with macros, which could run code: save it as .docx"
        return None
    if kind in ("jpeg", "png"):
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        return None
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        return "it is a PDF protected with a password: save it without one"
    if len(reader.pages) < 1:
        return "it is a PDF with no pages"
    return None


def _is_form(data: bytes) -> bool:
    """A JSON form (an object with ``form_type``), or a filled ehforms PDF (a ``form_type``
    field): the one entry of a bundle that is not an attachment."""
    if data[:5] == b"%PDF-":
        try:
            from pypdf import PdfReader

            fields = PdfReader(io.BytesIO(data), strict=False).get_fields() or {}
        except Exception:
            return False
        return "form_type" in fields
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(value, dict) and "form_type" in value


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
        return _read(archive, infos, limits)


@dataclass
class _Reading:
    left_out: list[LeftOut] = field(default_factory=list)
    forms: list[Entry] = field(default_factory=list)
    attachments: list[Entry] = field(default_factory=list)
    total: int = 0

    def leave_out(self, name: str, reason: str) -> None:
        self.left_out.append(LeftOut(_printable(name), reason))


def _read(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits) -> Bundle:
    files = [i for i in infos if not i.is_dir()]
    files = [
        i
        for i in files
        if not any(part in i.filename for part in IGNORED_IN_BUNDLES)
        and not ignored(i.filename.rsplit("/", 1)[-1])
    ]
    if len(files) > limits.attachments + 1:
        return Bundle(
            None,
            problem=f"The ZIP file holds {len(files)} files: a bundle holds one form and at most "
            f"{limits.attachments} attachments. Send fewer files",
        )
    if sum(i.file_size for i in files) > limits.bundle_bytes:
        return Bundle(
            None,
            problem="The ZIP file is larger than 50 MB unpacked: send fewer or smaller attachments",
        )
    tops = {i.filename.split("/", 1)[0] for i in files if "/" in i.filename}
    wrapper = (
        next(iter(tops)) + "/" if len(tops) == 1 and all("/" in i.filename for i in files) else ""
    )
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
        if problem is None and info.file_size > max(limits.attachment_bytes, limits.form_bytes):
            problem = "it is larger than an attachment may be (10 MB)"
        if problem is not None:
            reading.leave_out(name, problem)
            continue
        _take(archive, info, inner, limits, reading)
    if reading.total > limits.bundle_bytes:
        return Bundle(
            None,
            problem="The ZIP file is larger than 50 MB unpacked: send fewer or smaller attachments",
        )
    left = tuple(reading.left_out)
    if not reading.forms:
        return Bundle(
            None,
            (),
            left,
            "The ZIP file holds no form: add the form (JSON or the filled PDF) and send it again",
        )
    if len(reading.forms) > 1:
        return Bundle(
            None,
            (),
            left,
            "The ZIP file holds more than one form: send each form in a bundle of its own",
        )
    return Bundle(reading.forms[0], tuple(reading.attachments), left)


def _take(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, inner: str, limits: Limits, reading: _Reading
) -> None:
    name = info.filename
    limit = max(limits.attachment_bytes, limits.form_bytes)
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)  # a header may lie about the size: read no more
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError):
        reading.leave_out(name, "it could not be unpacked (it may be damaged)")
        return
    if len(data) > limit or (info.compress_size and len(data) / info.compress_size > limits.ratio):
        reading.leave_out(name, "it is larger than an attachment may be, or inflates too far")
        return
    reading.total += len(data)
    base = inner.rsplit("/", 1)[-1]
    digest = hashlib.sha256(data).hexdigest()
    if len(data) <= limits.form_bytes and _is_form(data):
        reading.forms.append(Entry(base, data, digest, "form"))
        return
    if any(data.startswith(magic) for magic in ARCHIVES) and attachment_kind(data) != "docx":
        reading.leave_out(name, "it is an archive inside the bundle: unpack it first")
        return
    kind = attachment_kind(data)
    if kind is None:
        reading.leave_out(name, "it is not a PDF, Word document, JPEG or PNG")
        return
    if len(data) > limits.attachment_bytes:
        reading.leave_out(name, "it is larger than an attachment may be (10 MB)")
        return
    try:
        why = _opens(kind, data)
    except Exception:  # a damaged file breaks its reader in many ways
        why = f"it does not open as a {kind.upper()} file (it may be damaged)"
    if why is not None:
        reading.leave_out(name, why)
        return
    reading.attachments.append(Entry(base, data, digest, kind))
