"""Names: what the inbox ignores, safe names for folders and files on Linux and Windows shares,
and submission ids (ULIDs that carry the time of receipt)."""

from __future__ import annotations

import datetime as dt
import re
from fnmatch import fnmatch

from ulid import ULID

# Names business support's tools leave behind while copying or editing.
IGNORED = ("~$*", "*.tmp", "*.part", ".*", "Thumbs.db", "desktop.ini", "*.crdownload", "~*")
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)
}
OUTPUT_NAMES = {"form.json", "receipt.json", "errors.txt"}


def ignored(name: str) -> bool:
    """Temporary and system names are never taken from the inbox."""
    return any(fnmatch(name.lower(), pattern.lower()) for pattern in IGNORED)


def safe_part(text: str, limit: int = 40) -> str:
    """A piece of a file or folder name that is safe on Linux and Windows shares."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-_ ")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:limit].strip(".-_ ")
    if cleaned.split(".")[0].upper() in WINDOWS_RESERVED:
        cleaned = "_" + cleaned
    return cleaned


def safe_file_name(name: str) -> str:
    """The original's name inside an outcome folder: no separators, no ``..``, no clashes."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    safe = safe_part(stem, 80) or "form"
    safe_suffix = safe_part(suffix, 10)
    result = f"{safe}.{safe_suffix}" if safe_suffix else safe
    if result.lower() in OUTPUT_NAMES:
        result = "original-" + result
    return result


def folder_name(
    received_at: dt.datetime, form_type: str | None, case_id: str | None, submission_id: str
) -> str:
    """``20261124-090000_transfer_MC204811_<id>``: sorts by time (UTC), says what it is."""
    parts = [received_at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S"), form_type or "unknown"]
    if case_id and safe_part(case_id, 32):
        parts.append(safe_part(case_id, 32))
    parts.append(submission_id)
    return "_".join(parts)


def received_at_of(submission_id: str) -> dt.datetime:
    """The time of receipt, which the submission id (a ULID) carries to the millisecond."""
    return ULID.from_str(submission_id).datetime.replace(microsecond=0)


def new_submission_id(received_at: dt.datetime) -> str:
    return str(ULID.from_datetime(received_at))
