"""Benchmark: ``ehforms purge`` on a root of many handled forms (50,000 by default).

    python bench/purge.py                # 50,000 handled forms
    python bench/purge.py --forms 5000   # a shorter run

The root is laid out as ``process`` leaves it, without rendering anything (that is what
``bench/run.py`` measures): for each form, a folder in a mailbox's ``done/`` with its original,
``form.json``, ``receipt.json`` and a document; its original in the archive; its rows in the
ledger (submission, delivery, events, prefill data). Every form is synthetic. Two purges are
timed, as ``ehforms purge`` runs them (in a process of their own): the first sees every
folder in ``done/`` for the first time and records when (nothing is due), the second, past
``done_days``, deletes all of them, their originals and prefill data, and blanks the ledger.
Figures are printed, not asserted; on a busy machine they are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ulid import ULID

RECEIVED = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
FIRST = RECEIVED + dt.timedelta(days=1)
LATER = RECEIVED + dt.timedelta(days=400)  # past every retention time but audit_days
MAILBOXES = ("eh-north", "eh-central", "eh-south")


def make_root(root: Path, count: int) -> None:
    import sqlalchemy as sa

    from ehforms.database import case_data, deliveries, events, submissions
    from ehforms.ledger import Ledger
    from ehforms.setup import init_root

    init_root(root)
    ledger = Ledger(root / ".ehforms" / "ledger.sqlite3")
    archive = root / ".ehforms" / "archive"
    rows: dict[str, list[dict[str, object]]] = {"s": [], "d": [], "e": [], "c": []}
    at = RECEIVED.isoformat()
    for n in range(count):
        received = RECEIVED + dt.timedelta(milliseconds=n)
        sid = str(ULID.from_datetime(received))
        case = f"SYN{n:06d}"
        mailbox = MAILBOXES[n % len(MAILBOXES)]
        folder = f"{received:%Y%m%d-%H%M%S}_rfas_{case}_{sid}"
        form = {"form_type": "rfas", "case_id": case, "children": [{"given_name": f"Child{n}"}]}
        place = root / "outbox" / mailbox / "done" / folder
        place.mkdir(mode=0o750)
        (place / f"{case}.json").write_text(json.dumps(form))
        (place / "form.json").write_text(json.dumps(form))
        (place / "receipt.json").write_text(json.dumps({"submission_id": sid, "source": "x"}))
        (place / "consent-letter.pdf").write_bytes(b"%PDF-1.4 synthetic\n" * 20)
        (archive / sid).mkdir(mode=0o700)
        (archive / sid / f"{case}.json").write_text(json.dumps(form))
        rows["s"].append(
            {
                "submission_id": sid,
                "sha256": f"{n:064x}",
                "source": f"{case}.json",
                "received_at": received.isoformat(),
                "state": "done",
                "status": "routed",
                "form_type": "rfas",
                "case_id": case,
                "mailboxes": json.dumps([mailbox]),
                "folder": folder,
                "priority": "normal",
                "completed_at": at,
                "claim_seq": n + 1,
                "failures": 0,
                "form_sha256": f"{n:064x}",
            }
        )
        rows["d"].append(
            {
                "submission_id": sid,
                "place": f"outbox/{mailbox}",
                "folder": folder,
                "delivered_at": at,
                "priority": "normal",
            }
        )
        rows["e"].append({"at": at, "submission_id": sid, "event": "routed", "detail": folder})
        rows["c"].append(
            {
                "submission_id": sid,
                "case_id": case,
                "form_type": "rfas",
                "received_at": received.isoformat(),
                "data": json.dumps(form),
            }
        )
    with ledger.writing() as connection:
        for key, table in (("s", submissions), ("d", deliveries), ("e", events), ("c", case_data)):
            connection.execute(sa.insert(table), rows[key])
    ledger.close()


def purge(root: Path, at: dt.datetime) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ehforms", "purge", "--root", str(root), "--now", at.isoformat()],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    return elapsed, "; ".join(line.split(":")[0] for line in done.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forms", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ehforms-purge-") as folder:
        root = Path(folder) / "root"
        started = time.perf_counter()
        make_root(root, args.forms)
        made = time.perf_counter() - started
        print(f"made a root of {args.forms:,} handled forms in {made:.1f} s")
        seconds, said = purge(root, FIRST)
        print(f"first purge (records when each folder was first seen): {seconds:.1f} s")
        print(f"  {said}")
        seconds, said = purge(root, LATER)
        rate = args.forms / seconds if seconds else 0
        print(f"purge of {args.forms:,} handled forms: {seconds:.1f} s ({rate:,.0f} a second)")
        print(f"  {said}")
        left = sum(1 for _ in (root / ".ehforms" / "archive").iterdir())
        print(f"  archived originals left: {left}")


if __name__ == "__main__":
    main()
