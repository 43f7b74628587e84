"""What a bundle is, whichever way it came (``read_zip`` for a ZIP file, ``read_folder`` for a
folder): the limits, the entries kept and left out, the bundle and its identity; and the one
judgement of an entry's bytes (the form, a checked attachment, or left out with its reason)
both readers share, with the wording of their refusals.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from ehforms.config import Config
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


def _larger(limits: Limits) -> str:
    return f"it is larger than an attachment may be ({limits.attachment_bytes // MB} MB)"


# A refused bundle's safeguarding look opens at most this many of its entries, the ones named
# like a form first: a ZIP of 300,000 empty entries is refused in a moment, not in minutes.
LOOKED_AT = 100


def _likely_forms(names: Iterable[str], most: int) -> list[str]:
    """The names a safeguarding look opens: ``.json`` and ``.pdf`` first (a form is judged by
    its content, but is almost always named so), then the rest, at most ``most`` (the readers
    pass ``LOOKED_AT``)."""
    ordered = sorted(names, key=lambda n: not n.lower().endswith((".json", ".pdf")))
    return ordered[:most]


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
