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
import os
import stat
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ehforms.config import Config
from ehforms.files import NotARegularFile, open_regular
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

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(
            form_bytes=config.max_file_bytes,
            attachment_bytes=config.attachment_bytes,
            attachments=config.max_attachments,
            bundle_bytes=config.bundle_bytes,
            ratio=config.max_ratio,
        )

    @property
    def entry_bytes(self) -> int:
        return max(self.attachment_bytes, self.form_bytes)


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
    forms: tuple[Entry, ...] = ()  # every form found (when refused for holding two, both)
    # entries that are neither a form nor an attachment, small enough to be a broken form: what
    # the safeguarding look salvages when the bundle holds no readable form
    unread: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def identity(self) -> str:
        """The contract's bundle identity: the SHA-256 of the form's and attachments' lowercase
        hex digests, sorted, each followed by a newline (names do not count)."""
        forms = self.forms or ((self.form,) if self.form else ())
        digests = sorted(e.sha256 for e in forms + self.attachments)
        return hashlib.sha256("".join(d + "\n" for d in digests).encode()).hexdigest()


IGNORED_IN_BUNDLES = ("__MACOSX/", ".DS_Store")
ARCHIVES = (b"PK\x03\x04", b"PK\x05\x06", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b", b"BZh")


def _printable(name: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in name)[:200]


def missing_from(bundle: Bundle, form: object) -> tuple[str, ...]:
    """What ``form`` (its content, normalised or raw) names that the bundle lacks: matched by
    base name, whatever the case (``\\`` counted as a separator: a pasted Windows path)."""
    from ehforms.forms import named_documents

    have = {a.name.lower() for a in bundle.attachments}
    return tuple(
        name
        for name in named_documents(form)
        if name.replace("\\", "/").rsplit("/", 1)[-1].lower() not in have
    )


def is_zip_name(name: str) -> bool:
    """A ZIP file dropped in the inbox is a bundle (Windows' "Send to > Compressed folder")."""
    return name.lower().endswith(".zip")


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
        return _read_archive(archive, infos, limits)


@dataclass
class _Reading:
    left_out: list[LeftOut] = field(default_factory=list)
    forms: list[Entry] = field(default_factory=list)
    attachments: list[Entry] = field(default_factory=list)
    unread: list[bytes] = field(default_factory=list)
    total: int = 0

    def leave_out(self, name: str, reason: str) -> None:
        self.left_out.append(LeftOut(_printable(name), reason))

    def bundle(self, what: str) -> Bundle:
        left = tuple(self.left_out)
        forms = tuple(self.forms)
        if not forms:
            return Bundle(
                None,
                tuple(self.attachments),
                left,
                f"The {what} holds no form: add the form (JSON or the filled PDF) and send it "
                "again",
                unread=tuple(self.unread),
            )
        if len(forms) > 1:
            return Bundle(
                None,
                tuple(self.attachments),
                left,
                f"The {what} holds more than one form: send each form in a bundle of its own",
                forms,
            )
        return Bundle(forms[0], tuple(self.attachments), left, forms=forms)


def _kept(names: Iterable[str]) -> list[str]:
    """Entry names, without the ones a bundle ignores (system files, temporary names)."""
    return [
        n
        for n in names
        if not any(part in n for part in IGNORED_IN_BUNDLES) and not ignored(n.rsplit("/", 1)[-1])
    ]


def _wrapper(names: list[str]) -> str:
    """The one folder every entry is in (``"name/"``), or ``""``."""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    return next(iter(tops)) + "/" if len(tops) == 1 and all("/" in n for n in names) else ""


def _too_many(what: str, count: int, limits: Limits) -> str:
    return (
        f"The {what} holds {count} files: a bundle holds one form and at most "
        f"{limits.attachments} attachments. Send fewer files"
    )


def _too_big(what: str, limits: Limits) -> str:
    return (
        f"The {what} is larger than {limits.bundle_bytes // MB} MB unpacked: send fewer or "
        "smaller attachments"
    )


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


def _larger(limits: Limits) -> str:
    return f"it is larger than an attachment may be ({limits.attachment_bytes // MB} MB)"


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


# A refused bundle's safeguarding look opens at most this many of its entries, the ones named
# like a form first: a ZIP of 300,000 empty entries is refused in a moment, not in minutes.
LOOKED_AT = 100


def _likely_forms(names: Iterable[str]) -> list[str]:
    """The names a safeguarding look opens: ``.json`` and ``.pdf`` first (a form is judged by
    its content, but is almost always named so), then the rest, at most ``LOOKED_AT``."""
    ordered = sorted(names, key=lambda n: not n.lower().endswith((".json", ".pdf")))
    return ordered[:LOOKED_AT]


def _forms_in(
    archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], limits: Limits
) -> tuple[Entry, ...]:
    """The forms among a refused archive's entries, read within the limits (at most
    ``bundle_bytes`` in all, at most ``LOOKED_AT`` entries), for the safeguarding look."""
    reading = _Reading()
    budget = limits.bundle_bytes
    chosen = set(_likely_forms(i.filename for i in files if i.file_size))
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
        for name in _likely_forms(regular):
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


def _judge(name: str, base: str, data: bytes, limits: Limits, reading: _Reading) -> None:
    """One entry's bytes: the form, a checked attachment, or left out with its reason."""
    reading.total += len(data)
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
        if len(data) <= limits.form_bytes:
            reading.unread.append(data)
        return
    if len(data) > limits.attachment_bytes:
        reading.leave_out(name, _larger(limits))
        return
    try:
        why = _opens(kind, data)
    except Exception:  # a damaged file breaks its reader in many ways
        why = f"it does not open as a {kind.upper()} file (it may be damaged)"
    if why is not None:
        reading.leave_out(name, why)
        if kind == "pdf" and len(data) <= limits.form_bytes:
            reading.unread.append(data)  # a damaged PDF may be the form itself
        return
    reading.attachments.append(Entry(base, data, digest, kind))


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
