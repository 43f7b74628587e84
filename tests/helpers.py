"""Helpers for tests that use a working root."""

from __future__ import annotations

import hashlib
import json
import threading
import time
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


def wait_for(condition, timeout: float = 20.0) -> bool:
    """Whether ``condition()`` came true within ``timeout`` seconds (looked at every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


class Running:
    """A Watcher on its own thread, with ``fast`` settings; always stopped and joined."""

    def __init__(
        self, root: Path, fast: dict[str, str], *, environ=None, ledger_timeout=30.0, polling=None
    ):
        from ehforms.pipeline import Postroom
        from ehforms.watch import Watcher

        self.config = make_root(root, {**fast, **(environ or {})})
        self.postroom = Postroom(root, self.config, workers=1, ledger_timeout=ledger_timeout)
        self.stop = threading.Event()
        self.watcher = Watcher(self.postroom, stop=self.stop, polling=polling)
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        self.postroom.close()
