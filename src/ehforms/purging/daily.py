"""The daily purge: ``watch`` purges once a day on a thread of its own beside it, so a long
purge never delays a form; with several watchers on a PostgreSQL ledger, one at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehforms.config import Config
from ehforms.database import audit, transaction
from ehforms.locks import PURGE, once
from ehforms.purging.blanking import PURGED, _time
from ehforms.purging.folders import Purge
from ehforms.retention import Purged, purge_due

log = logging.getLogger("ehforms")

WATCH = "ehforms watch"  # who the daily purge is, in the audit trail


def last_purge(engine: Engine) -> dt.datetime | None:
    with transaction(engine) as connection:
        found = connection.execute(
            sa.select(sa.func.max(audit.c.at)).where(audit.c.action == PURGED)
        ).scalar()
    return _time(found)


class DailyPurge:
    """``watch`` purges once a day (the first time a minute after it starts, when none has
    run today), on a thread of its own so a long purge never delays a form; a failure is
    logged and tried again a minute later."""

    def __init__(
        self,
        root: Path,
        config: Config,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        every: float = 60.0,
        delay: float = 60.0,
    ) -> None:
        self.purge = Purge(root, config, engine)
        self.zone = config.timezone
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.every = every
        self.delay = delay  # after watch starts: the backlog first
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ehforms-purge", daemon=True)

    def tick(self, now: dt.datetime | None = None) -> Purged | None:
        """Purge if none has run today (local date); the report, or None."""
        now = now or self.clock()
        engine = self.purge.engine
        if not purge_due(last_purge(engine), now, self.zone):
            return None
        # with several watchers on a PostgreSQL ledger, the one that takes the job's lock
        # purges (and ``ehforms purge`` takes it too); the others look again next time
        with once(engine, PURGE) as mine:
            if not mine or not purge_due(last_purge(engine), now, self.zone):
                return None
            report = self.purge.run(now, who=WATCH, halt=self._halt)
        log.info("purged what was past its retention time (%s)", report.summary())
        for problem in report.problems:
            log.warning("purge: %s", problem)
        return report

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 3.0) -> None:
        """Stop between two folders; a purge cut short (or a process ended in the middle of
        one) is finished by the next, so ``watch`` never waits long for it."""
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout=wait)

    def _run(self) -> None:
        self._halt.wait(self.delay)
        while not self._halt.is_set():
            try:
                self.tick()
            except Exception as error:  # the ledger busy, a share gone: tried again later
                log.error("the daily purge failed (%s): trying again later", type(error).__name__)
            self._halt.wait(self.every)
