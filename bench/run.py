"""Benchmarks: a burst of forms on all cores against a naive loop; pickup latency; memory.

    python bench/run.py                  # the full run (N = 100 and 1,000, a 10,000 burst)
    python bench/run.py --quick          # N = 100 only, a 1,000 burst, fewer latency samples
    python bench/run.py --runs 3         # the N = 100 and 1,000 bursts three times: the spread
    python bench/run.py --profile 300    # a burst of 300 under py-spy: where the time goes

Figures are printed, not asserted: compare them between changes. Measures, on the same forms:
(a) ``ehforms process``, (b) the naive serial loop in ``naive.py``, (c) the bare cost of
rendering the same documents (``bare.py``); peak RSS of each whole process tree; and the
pickup latency (drop to receipt) of ``ehforms watch`` with native events and with polling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import MIX, NO_DOCUMENTS, form, make_forms  # noqa: E402

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
AT = "2026-11-24T09:00:00+00:00"
LAST_CPU = 0.0


# -- memory of a process tree -------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """Resident memory (bytes) of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack += children.get(current, [])
    return total


class PeakRss(threading.Thread):
    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, _tree_rss(self.pid))
            self.stopped.wait(self.every)

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return self.peak


def timed(command: list[str]) -> tuple[float, int, str]:
    """Run a command; wall seconds, peak RSS of its tree, and its stdout. The CPU seconds of
    the whole tree (user and system, workers included) are kept in ``LAST_CPU``."""
    global LAST_CPU
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    sampler = PeakRss(process.pid)
    sampler.start()
    out, _ = process.communicate()
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} failed with {process.returncode}")
    return seconds, peak, out


def fresh_root(parent: Path, forms: list[tuple[str, bytes]]) -> Path:
    root = parent / "root"
    subprocess.run(
        [PYTHON, "-m", "ehforms", "init", str(root)], check=True, stdout=subprocess.DEVNULL
    )
    for name, data in forms:
        (root / "inbox" / name).write_bytes(data)
    return root


def mb(value: int) -> str:
    return f"{value / (1024 * 1024):.0f} MB"


# -- (a), (b), (c) ------------------------------------------------------------------------


def process_command(root: Path, workers: int) -> list[str]:
    return [
        PYTHON, "-m", "ehforms", "process", "--root", str(root), "--workers", str(workers),
        "--received-at", AT, "--json",
    ]  # fmt: skip


def burst(
    count: int,
    workers: int,
    *,
    mix=MIX,
    naive: bool = True,
    bundle_share: float = 0.0,
    floor_only: bool = False,
    sandwich: bool = False,
) -> dict[str, float]:
    """(a) ``ehforms process`` on a burst; with ``naive``, (b) and (c) on the same forms;
    ``floor_only``: (c) alone, without (b) or the renderer's floor. ``sandwich``: (a) again
    after (b) and (c), and its time the mean of both, so that a machine whose speed drifts
    while the three run (this one's does, by up to a third) tilts no ratio."""
    forms = make_forms(count, mix=mix, bundle_share=bundle_share)
    result: dict[str, float] = {"forms": count, "workers": workers}

    def run_a() -> tuple[float, int, float]:
        with tempfile.TemporaryDirectory() as tmp:
            root = fresh_root(Path(tmp), forms)
            seconds, peak, _ = timed(process_command(root, workers))
            return seconds, peak, LAST_CPU

    seconds, peak, cpu = run_a()
    result.update(a_seconds=seconds, a_rate=count / seconds, a_rss=peak, a_cpu=cpu)
    if naive:
        with tempfile.TemporaryDirectory() as tmp:
            inbox, outbox = Path(tmp) / "inbox", Path(tmp) / "outbox"
            inbox.mkdir()
            for name, data in forms:
                (inbox / name).write_bytes(data)
            if not floor_only:
                wall, peak, out = timed([PYTHON, str(BENCH / "naive.py"), str(inbox), str(outbox)])
                result.update(b_seconds=json.loads(out)["seconds"], b_wall=wall, b_rss=peak)
            command = [PYTHON, str(BENCH / "bare.py"), str(inbox)]
            wall, peak, out = timed(command + (["--bare-only"] if floor_only else []))
            bare = json.loads(out)
            result.update(
                c_seconds=bare["seconds"],
                c_cpu=bare["cpu"],
                c_documents=bare["documents"],
                c_rss=peak,
            )
            if not floor_only:
                result.update(r_seconds=bare["renderer_seconds"], r_cpu=bare["renderer_cpu"])
    if sandwich:
        again, peak, cpu = run_a()
        result.update(a_first=seconds, a_again=again, a_seconds=(seconds + again) / 2)
        result.update(a_rate=count / result["a_seconds"], a_rss=max(result["a_rss"], peak))
        result.update(a_cpu=(result["a_cpu"] + cpu) / 2)
    return result


def report_burst(result: dict[str, float]) -> None:
    both = ""
    if "a_again" in result:
        both = (
            f" (the mean of {result['a_first']:.2f} s before (b) and (c), "
            f"{result['a_again']:.2f} s after)"
        )
    print(
        f"  (a) ehforms process, {result['workers']:.0f} worker(s): "
        f"{result['a_seconds']:.2f} s{both}, {result['a_rate']:.1f} forms/s, "
        f"CPU {result['a_cpu']:.2f} s, peak RSS {mb(int(result['a_rss']))}"
    )
    cores = result["workers"]
    if "b_seconds" in result:
        print(
            f"  (b) naive serial loop: {result['b_seconds']:.2f} s "
            f"({result['forms'] / result['b_seconds']:.1f} forms/s), "
            f"peak RSS {mb(int(result['b_rss']))}; (a) is {speedup(result):.2f}x faster "
            f"(the whole program: {result['b_wall']:.2f} s)"
        )
    if "c_seconds" in result:
        print(
            f"  (c) bare WeasyPrint and docxtpl, {result['c_documents']:.0f} documents on one "
            f"core: {result['c_seconds']:.2f} s (CPU {result['c_cpu']:.2f} s); "
            f"(a) / (c / {cores:.0f} cores) = {floor_ratio(result):.2f}; "
            f"CPU (a) / (c) = {result['a_cpu'] / result['c_cpu']:.2f}"
        )
    if result.get("r_seconds"):
        print(
            f"  ehforms's Renderer alone on the same documents: {result['r_seconds']:.2f} s "
            f"(CPU {result['r_cpu']:.2f} s); CPU (a) / Renderer = "
            f"{result['a_cpu'] / result['r_cpu']:.2f}"
        )


def speedup(result: dict[str, float]) -> float:
    return result["b_seconds"] / result["a_seconds"]


def floor_ratio(result: dict[str, float]) -> float:
    return result["a_seconds"] / (result["c_seconds"] / result["workers"])


def spread(values: list[float], digits: int = 2) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f} to {max(values):.{digits}f})"
    )


# -- a profile ----------------------------------------------------------------------------


def profile(count: int, workers: int) -> None:
    """A burst under py-spy (every process, workers included), summed by kind of process."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory() as tmp:
        root = fresh_root(Path(tmp), make_forms(count))
        raw = Path(tmp) / "profile.txt"
        subprocess.run(
            [spy, "record", "--subprocesses", "--idle", "--format", "raw", "--rate", "250",
             "--output", str(raw), "--", *process_command(root, workers)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"A profile of `ehforms process` on {count} forms, {workers} worker(s):")
        print(summarise(raw.read_text()))


def _place(frame: str) -> str:
    """``name (path/file.py:123)`` → ``name (path/file.py)``: a function, not a line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


PROCESS = re.compile(r'process \d+:"[^"]*";?')  # py-spy's frame per process (may hold ";")
WAITING = ("select", "wait", "poll", "acquire", "_recv", "recv_bytes", "sleep")


def summarise(raw: str, top: int = 22) -> str:
    """py-spy's raw stacks (recorded with ``--idle``), the main thread of each process only:
    for the main process and the workers apart, the share of samples in each function
    (inclusive), and the share spent waiting (a core the process is not using)."""
    import collections

    inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    total: collections.Counter[str] = collections.Counter()
    waiting: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        kind = "workers" if len(PROCESS.findall(stack)) > 1 else "main"
        frames = PROCESS.sub("", stack).split(";")
        if frames[0].startswith("Thread._bootstrap") or "resource_tracker" in stack:
            continue  # a helper thread (the pool's manager, a queue feeder, a watch on the
            # parent), or multiprocessing's resource tracker: not a core's work
        total[kind] += int(n)
        if frames[-1].split(" (")[0].rsplit(".", 1)[-1].lstrip("_").startswith(WAITING):
            waiting[kind] += int(n)
        for frame in {_place(f) for f in frames}:
            inclusive[kind][frame] += int(n)
    lines = []
    for kind in ("main", "workers"):
        if not total[kind]:
            continue
        lines.append(
            f"  {kind}, main thread: {total[kind]} samples, "
            f"{100 * waiting[kind] / total[kind]:.1f}% of them waiting"
        )
        for frame, n in inclusive[kind].most_common(top):
            lines.append(f"    {100 * n / total[kind]:5.1f}%  {frame[:110]}")
    return "\n".join(lines)


# -- pickup latency -----------------------------------------------------------------------


def latency(polling: float | None, kinds, samples: int) -> list[float]:
    import random

    rng = random.Random(11)
    choices = [kind for kind, share in kinds for _ in range(share)]
    dropped = [
        json.dumps(form(rng, rng.choice(choices), 90000 + n)).encode() for n in range(samples)
    ]
    LAST_DROPPED[:] = dropped
    env = {**os.environ, "EHFORMS_WATCH__HEARTBEAT_SECONDS": "0.5"}
    with tempfile.TemporaryDirectory() as tmp:
        root = fresh_root(Path(tmp), [])
        command = [PYTHON, "-m", "ehforms", "watch", "--root", str(root), "--workers", "1"]
        if polling:
            command += ["--polling", str(polling)]
        daemon = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not (root / ".ehforms" / "heartbeat.json").exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the watcher did not start")
                time.sleep(0.05)
            time.sleep(0.5)
            places = [root / "rejected"] + [p for p in (root / "outbox").iterdir()]
            seen = {p.name for place in places for p in place.iterdir()}
            times = []
            for n, data in enumerate(dropped):
                start = time.monotonic()
                with open(root / "inbox" / f"drop-{n}.json", "wb") as handle:  # as cp writes
                    handle.write(data)
                found = None
                while found is None and time.monotonic() - start < 30:
                    for place in places:
                        for entry in os.scandir(place):
                            if entry.name not in seen and not entry.name.startswith("."):
                                seen.add(entry.name)
                                found = time.monotonic()
                    if found is None:
                        time.sleep(0.002)
                if found is None:
                    raise SystemExit("a dropped form never arrived")
                times.append(found - start)
                time.sleep(0.05)
            return times
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)


LAST_DROPPED: list[bytes] = []  # the forms the last latency() dropped, in order


def pickup_floor(dropped: list[bytes]) -> list[tuple[float, float]]:
    """For each dropped form, in order: its documents through the bare libraries one after
    another, and its longest single PDF or DOCX (``bare.py --per-form``, warm, in one process)."""
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp)
        for n, data in enumerate(dropped):
            (inbox / f"drop-{n:05d}.json").write_bytes(data)
        _, _, out = timed([PYTHON, str(BENCH / "bare.py"), str(inbox), "--bare-only", "--per-form"])
    return [(serial, longest) for serial, longest in json.loads(out)["per_form"]]


def report_pickup(times: list[float], floor: list[tuple[float, float]]) -> None:
    def ms(values: list[float], share: float) -> str:
        return f"{percentile(values, share) * 1000:.0f} ms"

    serial = [one for one, _ in floor]
    longest = [most for _, most in floor]
    over = [took - one for took, (one, _) in zip(times, floor, strict=True)]
    print(f"  pickup, drop to delivery: p50 {ms(times, 0.5)}, p95 {ms(times, 0.95)} "
          "(target p95 < 150 ms)")  # fmt: skip
    print(f"  floor, the same forms' documents through the bare libraries one after another: "
          f"p50 {ms(serial, 0.5)}, p95 {ms(serial, 0.95)}")  # fmt: skip
    print(f"  floor were each form's files rendered side by side on enough cores (its longest "
          f"PDF or DOCX; ehforms renders a form's files in one process, so not reachable): "
          f"p50 {ms(longest, 0.5)}, p95 {ms(longest, 0.95)}")  # fmt: skip
    print(f"  pickup less its serial floor, form by form: p50 {ms(over, 0.5)}, "
          f"p95 {ms(over, 0.95)}")  # fmt: skip


def machine_scaling(cores: int, count: int = 100) -> float:
    """What the machine itself gives on all its cores: ``cores`` copies of the bare floor
    (c) on the same ``count`` forms side by side, against one copy alone, as a throughput
    ratio. The targets divide (c) by the cores as if this were ``cores`` exactly."""
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp)
        for name, data in make_forms(count):
            (inbox / name).write_bytes(data)
        command = [PYTHON, str(BENCH / "bare.py"), str(inbox), "--bare-only"]
        before = json.loads(timed(command)[2])["seconds"]
        together = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for _ in range(cores)
        ]
        outs = [process.communicate()[0] for process in together]
        if any(process.returncode != 0 for process in together):
            raise SystemExit("a copy of bare.py failed")
        each = [json.loads(out)["seconds"] for out in outs]
        after = json.loads(timed(command)[2])["seconds"]  # one alone on both sides, as (a)
    # each copy times its own loop after an untimed set-up: the loops overlap most, not all,
    # of the time, so this leans high, never low
    return cores * (before + after) / 2 / max(each)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def help_time() -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([PYTHON, "-m", "ehforms", "--help"], check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def targets(cores: int, runs: int, big: int) -> None:
    """Issue 18's targets, side by side in one run: N=100 against the naive loop; N=1,000
    against the bare floor and against one worker; peak RSS through a burst of ``big``; the
    pickup latency with documents under ``watch``."""
    print(f"ehforms targets on {cores} cores, Python {sys.version.split()[0]}, {runs} run(s)")
    small, large, ones, scalings = [], [], [], []
    twos: list[float] = []  # the default workers' time on both sides of the one worker run
    for n in range(runs):
        print(f"\nRun {n + 1}: a burst of 100 forms of all five types (10% invalid)")
        small.append(burst(100, cores, sandwich=True))
        report_burst(small[-1])
        print(f"Run {n + 1}: a burst of 1,000")
        large.append(burst(1000, cores, floor_only=True, sandwich=True))
        report_burst(large[-1])
        ones.append(burst(1000, 1, naive=False))
        print(f"  with 1 worker: {ones[-1]['a_seconds']:.2f} s")
        again = burst(1000, cores, naive=False)["a_seconds"]  # (a) on both sides of it
        twos.append((large[-1]["a_again"] + again) / 2)
        print(f"  {cores} workers again: {again:.2f} s")
        scalings.append(machine_scaling(cores))
        print(f"  the machine: {cores} copies of (c) side by side do {scalings[-1]:.2f}x the work "
              "of one alone")  # fmt: skip
    print(f"\nBursts, median (lowest to highest) over {runs} run(s):")
    print(f"  N=1,000: (a) / (c / {cores} cores) = {spread([floor_ratio(r) for r in large])} "
          "(target <= 1.10)")  # fmt: skip
    gains = [o["a_seconds"] / two for o, two in zip(ones, twos, strict=True)]
    print(f"  N=1,000: 1 worker to {cores}: {spread(gains)}x (target >= 1.9)")
    print(f"  N=100: (a) faster than the naive loop: {spread([speedup(r) for r in small])}x "
          "(target >= 1.8)")  # fmt: skip
    wholes = [r["b_wall"] / r["a_seconds"] for r in small]
    print(f"  N=100: (a) faster than the naive program's whole run (its start and imports "
          f"counted, as (a)'s are): {spread(wholes)}x")  # fmt: skip
    print(f"  the machine's own gain on {cores} cores (bare floor, side by side): "
          f"{spread(scalings)}x")  # fmt: skip
    print(f"\nA burst of {big} forms that make no documents (rfas, marf; 10% invalid):")
    heavy = burst(big, cores, mix=NO_DOCUMENTS, naive=False)
    report_burst(heavy)
    print(f"  peak RSS {mb(int(heavy['a_rss']))} (target < 200 MB)")
    times = latency(None, [("notification", 50), ("transfer", 50)], 60)
    print("\nUnder watch, 60 forms with documents (notifications and transfers), native events:")
    report_pickup(times, pickup_floor(LAST_DROPPED))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument(
        "--runs", type=int, default=1, help="run the N=100 and 1,000 bursts this many times"
    )
    parser.add_argument(
        "--profile", type=int, metavar="N", help="only profile a burst of N forms (py-spy)"
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="only the figures issue 18 sets targets for, each --runs times",
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    if args.profile:
        profile(args.profile, cores)
        return
    if args.targets:
        targets(cores, args.runs, 1000 if args.quick else 10000)
        return
    sizes = [100] if args.quick else [100, 1000]
    big = 1000 if args.quick else 10000
    print(f"ehforms benchmarks on {cores} cores, Python {sys.version.split()[0]}")
    print(f"`ehforms --help`: {help_time() * 1000:.0f} ms (median of 5)")
    for count in sizes:
        print(f"\nA burst of {count} forms of all five types (10% invalid):")
        runs, ones = [], []
        for _ in range(args.runs):
            runs.append(burst(count, cores))
            report_burst(runs[-1])
            if count == sizes[-1] and cores > 1:
                ones.append(burst(count, 1, naive=False))
                print(
                    f"  with 1 worker: {ones[-1]['a_seconds']:.2f} s "
                    f"({ones[-1]['a_rate']:.1f} forms/s), peak RSS {mb(int(ones[-1]['a_rss']))}; "
                    f"{cores} workers are {ones[-1]['a_seconds'] / runs[-1]['a_seconds']:.2f}x "
                    "faster"
                )
        if args.runs > 1:
            print(f"  over {args.runs} runs, median (lowest to highest):")
            print(f"    (a) / (c / cores): {spread([floor_ratio(r) for r in runs])}")
            print(f"    (a) faster than (b): {spread([speedup(r) for r in runs])}x")
            if ones:
                gains = [o["a_seconds"] / r["a_seconds"] for o, r in zip(ones, runs, strict=True)]
                print(f"    1 worker to {cores}: {spread(gains)}x")
    for count in sizes:
        print(f"\nThe same burst of {count} forms with 10% of them as ZIP bundles:")
        report_burst(burst(count, cores, naive=False, bundle_share=0.1))
    print(f"\nA burst of {big} forms that make no documents (rfas, marf; 10% invalid):")
    report_burst(burst(big, cores, mix=NO_DOCUMENTS, naive=False))
    if not args.skip_latency:
        samples = 20 if args.quick else 60
        print(f"\nPickup latency, drop to receipt ({samples} forms each):")
        for label, polling in (("native events", None), ("polling every 0.25 s", 0.25)):
            for kinds_label, kinds in (
                ("without documents", NO_DOCUMENTS),
                ("with documents", [("notification", 50), ("transfer", 50)]),
            ):
                times = latency(polling, kinds, samples)
                print(
                    f"  {label}, {kinds_label}: p50 {percentile(times, 0.5) * 1000:.0f} ms, "
                    f"p95 {percentile(times, 0.95) * 1000:.0f} ms"
                )


if __name__ == "__main__":
    main()
