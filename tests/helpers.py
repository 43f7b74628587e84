"""Helpers for tests that use a working root."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ehforms.config import load_config
from ehforms.setup import init_root


def make_root(path: Path, environ: dict[str, str] | None = None):
    init_root(path)
    return load_config(path, environ=environ or {})


def drop(root: Path, name: str, form: Any) -> Path:
    data = form if isinstance(form, bytes) else json.dumps(form).encode()
    path = root / "inbox" / name
    path.write_bytes(data)
    return path


def outcomes(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every receipt under outbox/ and rejected/, by the sha256 of the file it is for.

    A form copied to a second mailbox has one receipt in each; ``primary`` picks the first.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for receipt_path in sorted((root / "outbox").glob("*/*/receipt.json")) + sorted(
        (root / "rejected").glob("*/receipt.json")
    ):
        if receipt_path.parent.name.startswith("."):  # a .partial- folder being written
            continue
        receipt = json.loads(receipt_path.read_text())
        receipt["_folder"] = receipt_path.parent
        found.setdefault(receipt["sha256"], []).append(receipt)
    return found


def primary(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Receipts in their primary place only: the first mailbox, or rejected/."""
    result: dict[str, list[dict[str, Any]]] = {}
    for sha, receipts in outcomes(root).items():
        for receipt in receipts:
            folder: Path = receipt["_folder"]
            home = folder.parent.name
            mailboxes = receipt["mailboxes"]
            if (mailboxes and home == mailboxes[0]) or (not mailboxes and home == "rejected"):
                result.setdefault(sha, []).append(receipt)
    return result


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
