"""The root itself, under every area of :class:`~ehforms.core.Root`: its configuration,
folders and ledger (opened once for reading, and once for the web's writes), its accounts and
audit trail, and the lock of the one process that owns it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

from ehforms.config import Config, load_config
from ehforms.errors import EhformsError, RootError
from ehforms.mailroom import LEDGER, LOCK, STATE, Mailroom

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ehforms.accounts import Accounts
    from ehforms.audit import Audit
    from ehforms.core.root import Root
    from ehforms.database import Where


class RootBusy(EhformsError):
    """Another ehforms process owns the root (``process`` or ``watch``)."""


class RootBase:
    """A working root: its configuration, folders and ledger. The areas of ``Root``
    (``core.mailboxes``, ``core.practitioners``, ``core.records``) build on it."""

    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self.config = config
        self.mailroom = Mailroom(path, config)
        self._reader: Any = None
        self._store: Any = None
        self._accounts: Accounts | None = None
        self._audit: Audit | None = None
        self._opening = threading.Lock()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._accounts = self._audit = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def reader(self) -> Any:
        """The ledger, opened once for reading (never migrated or written by a reader); None
        until the root's owner has made it."""
        from ehforms.ledger import Ledger

        with self._opening:  # the web's threads share one
            if self._reader is None and self.has_ledger:
                self._reader = Ledger(self.ledger_at, migrate_schema=False)
            return self._reader

    def store(self) -> Engine:
        """The ledger's engine for the web's writes (accounts, sessions, the audit trail,
        who handled what), opened once and brought up to the newest schema."""
        from ehforms.ledger import Ledger

        with self._opening:
            if self._store is None:
                if not (self.path / STATE).is_dir():
                    raise RootError(
                        f"{self.path} is not a working root: make it with "
                        f"`ehforms init {self.path}`"
                    )
                self._store = Ledger(self.ledger_at)
            return cast("Engine", self._store.engine)

    @property
    def accounts(self) -> Accounts:
        """The root's accounts, sessions and sign-ins (see ``ehforms.accounts``)."""
        if self._accounts is None:
            from ehforms.accounts import Accounts

            self._accounts = Accounts(
                self.store(),
                self.config.mailboxes,
                idle_minutes=self.config.idle_minutes,
                session_hours=self.config.session_hours,
            )
        return self._accounts

    @property
    def audit(self) -> Audit:
        """The root's audit trail (see ``ehforms.audit``)."""
        if self._audit is None:
            from ehforms.audit import Audit

            self._audit = Audit(self.store())
        return self._audit

    @classmethod
    def open(cls, path: Path, environ: dict[str, str] | None = None) -> Self:
        """The root at ``path`` with its configuration (defaults when there is no root yet:
        ``validate`` and ``render`` work anywhere)."""
        return cls(path, load_config(path, environ=environ))

    @property
    def ledger_path(self) -> Path:
        """The SQLite ledger's file (with a PostgreSQL ledger, where it would be)."""
        return self.path / STATE / LEDGER

    @property
    def ledger_at(self) -> Where:
        """The root's ledger: the SQLite file, or the PostgreSQL database ``[ledger] url``
        names."""
        from ehforms.database import ledger_of

        return ledger_of(self.path / STATE, self.config)

    @property
    def has_ledger(self) -> bool:
        """Whether the ledger has been made: the SQLite file exists, or (PostgreSQL) the root
        has been made (its database is the council's, made by its administrator)."""
        if self.config.ledger_url:
            return (self.path / STATE).is_dir()
        return self.ledger_path.exists()

    @property
    def _root(self) -> Root:
        """This root as the whole ``Root`` the areas are composed into, for the modules that
        do an area's work (``handling``, ``practitioners``), which take one."""
        return cast("Root", self)

    # -- the process that owns the root -------------------------------------------------

    @contextmanager
    def owned(self) -> Iterator[None]:
        """One process at a time works the inbox (a second would take over the first's claims),
        unless the ledger is PostgreSQL's: then a claim is worked by the process holding its
        lock in the ledger, and any number may share the root."""
        from filelock import FileLock, Timeout

        state = self.path / STATE
        if not state.is_dir():
            raise RootError(
                f"{self.path} is not a working root: make it with `ehforms init {self.path}`"
            )
        if self.config.ledger_url:
            # a PostgreSQL ledger: several watchers share the root, each claim locked in the
            # ledger (ehforms.locks), the root's jobs run once
            yield
            return
        lock = FileLock(state / LOCK, timeout=0)
        try:
            with lock:
                yield
        except Timeout:
            raise RootBusy(
                f"Another ehforms process is already working on {self.path}: stop it first, or "
                "wait for it to finish"
            ) from None
