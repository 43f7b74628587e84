"""The 1,000-form burst through `ehforms watch` with the SQLite and the PostgreSQL ledger side
by side, and with one and two watchers on one root (PostgreSQL).

    python bench/ledgers.py              # 1,000 forms, each set-up once
    python bench/ledgers.py --forms 300 --repeat 2

A throwaway PostgreSQL cluster is started as in the tests (tests/ledgers.py: Debian's
postgresql, an unprivileged user when run as root, a loopback port) with fsync on, as a
council's server would run. Figures are printed, not asserted: seconds from the moment the
watchers are started with the whole burst waiting in the inbox until every form is archived
(start-up included), and forms per second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

from synthetic import make_forms  # noqa: E402

PYTHON = sys.executable


def burst(forms: list[tuple[str, bytes]], watchers: int, workers: int, url: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EHFORMS_")}
        if url:
            env["EHFORMS_LEDGER__URL"] = url
        subprocess.run(
            [PYTHON, "-m", "ehforms", "init", str(root)],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for name, data in forms:
            (root / "inbox" / name).write_bytes(data)
        archive = root / ".ehforms" / "archive"
        started = time.perf_counter()
        daemons = [
            subprocess.Popen(
                [PYTHON, "-m", "ehforms", "watch", "--root", str(root), "--workers", str(workers)],
                env={**env, "EHFORMS_WATCH__RESCAN_SECONDS": "1"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(watchers)
        ]
        try:
            while True:
                done = len(os.listdir(archive)) if archive.is_dir() else 0
                if done >= len(forms) and not os.listdir(root / ".ehforms" / "processing"):
                    break
                if any(d.poll() is not None for d in daemons):
                    raise RuntimeError("a watcher stopped")
                time.sleep(0.05)
            return time.perf_counter() - started
        finally:
            for daemon in daemons:
                daemon.terminate()
            for daemon in daemons:
                daemon.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--forms", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    from ledgers import start_cluster

    forms = make_forms(args.forms)
    cluster = start_cluster(fsync=True)
    try:
        runs = [
            ("SQLite, one watcher", 1, None),
            ("PostgreSQL, one watcher", 1, "pg"),
            ("PostgreSQL, two watchers", 2, "pg"),
        ]
        print(
            f"{args.forms} forms, watch --workers {args.workers}, {os.cpu_count()} cores "
            "(seconds from start to the last archived; best of "
            f"{args.repeat})"
        )
        for title, watchers, backend in runs:
            times = []
            for _ in range(args.repeat):
                url = cluster.url(cluster.fresh()) if backend else None
                times.append(burst(forms, watchers, args.workers, url))
            best = min(times)
            print(f"  {title:<28} {best:6.1f} s  {args.forms / best:6.1f} forms/s")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
