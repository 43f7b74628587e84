"""The web pages under load: a mailbox of 2,000 forms while ``watch`` processes a burst.

    python bench/web.py              # 2,000 forms waiting, 20 users for 60 s, a 300-form burst
    python bench/web.py --think 0    # the same with no pause between clicks (flat out)
    python bench/web.py --quick      # 300 forms, 5 users for 10 s, a 50-form burst

Runs ``ehforms serve`` (waitress) and ``ehforms watch`` as the CLI runs them, on one root on
this machine, and 20 signed-in users (threads, each with its own session) who open a random
page of the big mailbox, then a random form on it, for 60 s, pausing ``--think`` seconds
(default 1, at random between half and one and a half times it) after each page as a person
reading it would; ``--think 0`` clicks as fast as the server answers.
Only 127.0.0.1 is ever asked, and every loop stops by itself. Prints the p50 and p95 of each
page, the errors, and the peak RSS of ``serve``. The issue's targets: mailbox page p95 <
200 ms, form page p95 < 150 ms, 0 errors, serve's peak RSS < 200 MB. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PeakRss, mb  # noqa: E402
from synthetic import form  # noqa: E402

PYTHON = sys.executable
AT = "2026-11-24T09:00:00+00:00"
PASSWORD = "Bench-Lantern-Quarry-77"
CENTRAL = "M13 9PL"  # a Central hub district: every waiting form goes to eh-central


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def forms(count: int, seed: int, kind: str, postcode: str | None) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    made = []
    for n in range(count):
        data = form(rng, kind, n)
        if postcode:
            data["address"]["postcode"] = postcode
        made.append((f"{kind}-{seed}-{n:05d}.json", json.dumps(data).encode()))
    return made


def ehforms(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "ehforms", *args], check=True, **kwargs)


def prepare(root: Path, waiting: int, users: int) -> list[str]:
    """A root with ``waiting`` forms in eh-central and a hub account for each user."""
    ehforms("init", str(root), stdout=subprocess.DEVNULL)
    for name, data in forms(waiting, 11, "rfas", CENTRAL):
        (root / "inbox" / name).write_bytes(data)
    started = time.perf_counter()
    ehforms("process", "--root", str(root), "--received-at", AT, stdout=subprocess.DEVNULL)
    print(f"{waiting} forms processed into eh-central in {time.perf_counter() - started:.0f} s")
    emails = [f"hub{n}@bench.example" for n in range(users)]
    from ehforms.accounts import Role
    from ehforms.core import Root

    with Root.open(root) as opened:
        for email in emails:
            opened.accounts.add(email, Role.HUB, mailboxes=("eh-central",), password=PASSWORD)
            opened.accounts.set_password(email, PASSWORD, one_time=False)
    return emails


class User:
    """One person in a browser: their own cookies, signed in once."""

    def __init__(self, base: str, email: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/sign-in")[1]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"csrf_token": token, "email": email, "password": PASSWORD}
        ).encode()
        status, text = self.get("/sign-in", body)
        if status != 200 or "Mailboxes" not in text:
            raise SystemExit(f"{email} could not sign in ({status})")

    def get(self, path: str, data: bytes | None = None) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""


def load(
    base: str, emails: list[str], seconds: float, pages: int, think: float = 0.0
) -> dict[str, list]:
    results: dict[str, list] = {"mailbox": [], "form": [], "errors": []}
    lock = threading.Lock()
    users = [User(base, email) for email in emails]
    stop = time.monotonic() + seconds

    def work(user: User, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            page = rng.randint(1, pages)
            started = time.perf_counter()
            status, html = user.get(f"/mailboxes/eh-central?page={page}")
            took = time.perf_counter() - started
            ids = re.findall(r'href="/mailboxes/eh-central/([0-9A-Z]{26})"', html)
            with lock:
                results["mailbox"].append(took)
                if status != 200 or not ids:
                    results["errors"].append(("mailbox", status))
            if not ids:
                continue
            time.sleep(think * rng.uniform(0.5, 1.5))
            started = time.perf_counter()
            status, _ = user.get(f"/mailboxes/eh-central/{rng.choice(ids)}")
            took = time.perf_counter() - started
            with lock:
                results["form"].append(took)
                if status != 200:
                    results["errors"].append(("form", status))
            time.sleep(think * rng.uniform(0.5, 1.5))

    threads = [threading.Thread(target=work, args=(u, n)) for n, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return results


def percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description="The web pages under load.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between clicks")
    parser.add_argument("--burst", type=int, help="forms dropped for watch (default 300)")
    parser.add_argument("--watch-nice", type=int, default=10, help="watch's niceness (0: none)")
    args = parser.parse_args()
    waiting, users, seconds, burst = (300, 5, 10.0, 50) if args.quick else (2000, 20, 60.0, 300)
    burst = burst if args.burst is None else args.burst
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        emails = prepare(root, waiting, users)
        port = free_port()
        serve = subprocess.Popen(
            [PYTHON, "-m", "ehforms", "serve", "--root", str(root), "--port", str(port),
             "--insecure-http"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # as docs/web.md runs it: the watcher's rendering yields the CPU to people's pages
        nice = ["nice", "-n", str(args.watch_nice)] if args.watch_nice else []
        watch = subprocess.Popen(
            [*nice, PYTHON, "-m", "ehforms", "watch", "--root", str(root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        sampler = PeakRss(serve.pid)
        sampler.start()
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):  # up within 10 s
                try:
                    urllib.request.urlopen(base + "/sign-in", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            # the burst: notifications to the North hub (documents to render) while people work
            for name, data in forms(burst, 23, "notification", "M8 5AB"):
                (root / "inbox" / name).write_bytes(data)
            results = load(base, emails, seconds, max(1, -(-waiting // 50)), args.think)
        finally:
            serve.terminate()
            watch.terminate()
            serve.wait(30)
            watch.wait(60)
            peak = sampler.stop()
        left = sum(1 for p in (root / "inbox").iterdir() if p.suffix == ".json")
    print(
        f"{users} users for {seconds:.0f} s, {args.think:g} s between clicks; a {burst}-form "
        f"burst for watch at nice {args.watch_nice} ({left} still in the inbox)"
    )
    for page in ("mailbox", "form"):
        times = results[page]
        print(
            f"{page:>8} page: {len(times)} requests, p50 {percentile(times, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(times, 0.95) * 1000:.0f} ms"
        )
    print(f"errors: {len(results['errors'])} {results['errors'][:5]}")
    print(f"serve peak RSS: {mb(peak)}")


if __name__ == "__main__":
    main()
