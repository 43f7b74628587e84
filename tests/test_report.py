"""The weekly report (``ehforms report``, ``/reports``): a ledger of known forms, every figure
checked. The forms straddle week boundaries in Europe/London, one of them the end of summer
time (Sunday 25 October 2026, 02:00 BST → 01:00 GMT), so a week counted in UTC would be
wrong by an hour at each end."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pypdf import PdfReader
from ulid import ULID

from ehforms.audit import stamp
from ehforms.cli import cli
from ehforms.core import Root, init
from ehforms.database import handled as handled_table
from ehforms.ledger import Ledger
from ehforms.names import received_at_of
from ehforms.receipts import Receipt
from ehforms.report import CSV_COLUMNS, csv_text, starts_at, week_starts
from ehforms.report_render import style_hashes
from ehforms.routing import Priority, Status
from ledgers import copy_ledger, keep_ledger, ledger_at

LONDON = "Europe/London"
AT = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)  # a Thursday
MONDAYS = [dt.date(2026, 9, 28) + dt.timedelta(weeks=n) for n in range(9)]


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# (received (UTC), form type, status, mailboxes, {mailbox: hours until handled})
FORMS = [
    # Sunday 18 Oct 23:59 BST: the week of 12 October
    ("2026-10-18T22:59:00", "notification", "routed", ("eh-central",), {"eh-central": 10}),
    # Monday 19 Oct 00:30 BST: the week of 19 October (in UTC it is still Sunday)
    ("2026-10-18T23:30:00", "notification", "routed", ("eh-central",), {"eh-central": 20}),
    # Sunday 25 Oct 23:30 GMT, after the clocks went back: still the week of 19 October
    ("2026-10-25T23:30:00", "marf", "redirected", ("mash",), {"mash": 2}),
    # Monday 26 Oct 00:30 GMT: a MARF copied to the North hub's social work mailbox
    ("2026-10-26T00:30:00", "marf", "routed", ("mash", "sw-north"), {"mash": 4, "sw-north": 30}),
    ("2026-10-20T09:00:00", "transfer", "rejected", (), {}),
    ("2026-10-20T10:00:00", "notification", "duplicate", (), {}),
    ("2026-11-24T09:00:00", "rfas", "routed", ("eh-central",), {}),
    ("2026-11-25T09:00:00", None, "rejected", (), {}),  # unreadable: no form type
    # Sunday 27 Sep 23:30 BST: before the first week shown
    ("2026-09-27T22:30:00", "notification", "routed", ("eh-central",), {"eh-central": 1}),
    # Monday 28 Sep 00:30 BST: the first week shown
    ("2026-09-27T23:30:00", "closure", "routed", ("eh-central",), {"eh-central": 1}),
    ("2026-11-26T13:00:00", "notification", "routed", ("eh-central",), {}),  # after AT
    # handled after AT: received this week, not yet handled as of AT
    ("2026-11-23T09:00:00", "notification", "routed", ("eh-central",), {"eh-central": 80}),
    ("2026-10-13T09:00:00", "notification", "routed", ("eh-central",), {"eh-central": 2}),
    ("2026-10-14T09:00:00", "transfer", "routed", ("eh-central",), {"eh-central": 5}),
]
IN_FLIGHT = "2026-11-25T10:00:00"  # claimed, no outcome yet: not counted


def receipt_for(n: int, received: str, form_type, status, mailboxes) -> Receipt:
    submission_id = str(ULID.from_datetime(utc(received)))
    return Receipt(
        submission_id=submission_id,
        source=f"form-{n}.json",
        sha256=f"{n:064x}",
        received_at=received_at_of(submission_id),
        status=Status(status),
        form_type=form_type,
        mailboxes=mailboxes,
        priority=Priority.URGENT if form_type == "marf" else Priority.NORMAL,
    )


def fill(root: Path) -> None:
    """The ledger of FORMS, written as the pipeline and the mailbox pages write it."""
    ledger = Ledger(ledger_at(root))
    try:
        receipts = [receipt_for(n, *form[:4]) for n, form in enumerate(FORMS)]
        flying = str(ULID.from_datetime(utc(IN_FLIGHT)))
        ledger.claimed(
            [(r.submission_id, r.sha256, r.source, r.received_at) for r in receipts]
            + [(flying, "f" * 64, "flying.json", received_at_of(flying))]
        )
        ledger.done_many([(r, f"folder-{r.submission_id}", None, None) for r in receipts])
        with ledger.writing() as connection:
            for r, form in zip(receipts, FORMS, strict=True):
                for mailbox, hours in form[4].items():
                    connection.execute(
                        handled_table.insert().values(
                            mailbox=mailbox,
                            submission_id=r.submission_id,
                            folder=f"folder-{r.submission_id}",
                            handled_by="hub@example.gov.uk",
                            handled_at=stamp(r.received_at + dt.timedelta(hours=hours)),
                        )
                    )
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report") / "root"
    with keep_ledger(folder):  # under PostgreSQL, a database kept for the copies below
        init(folder)
        fill(folder)
    return folder


@pytest.fixture
def root(template_root: Path, tmp_path: Path) -> Path:
    copied = Path(shutil.copytree(template_root, tmp_path / "root", symlinks=True))
    copy_ledger(template_root, copied)
    return copied


@pytest.fixture
def report(root: Path):
    with Root.open(root) as opened:
        assert opened.config.timezone.key == LONDON
        return opened.report(8, AT)


def weeks(**counts: int) -> tuple[int, ...]:
    """A series of 9 weekly counts: ``w2=3`` is 3 in the third week shown."""
    found = [0] * 9
    for key, value in counts.items():
        found[int(key[1:])] = value
    return tuple(found)


# -- the weeks -------------------------------------------------------------------------------


def test_weeks_start_monday_at_midnight_in_the_councils_time_zone():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(LONDON)
    assert week_starts(AT, zone, 8) == MONDAYS
    # Monday 00:00 BST is Sunday 23:00 UTC; after the clocks go back it is midnight UTC
    assert starts_at(dt.date(2026, 10, 19), zone) == utc("2026-10-18T23:00:00")
    assert starts_at(dt.date(2026, 10, 26), zone) == utc("2026-10-26T00:00:00")
    # Sunday 23:30 UTC in summer is already Monday in London: its week is that Monday's
    assert week_starts(utc("2026-10-18T23:30:00"), zone, 0) == [dt.date(2026, 10, 19)]
    assert week_starts(utc("2026-10-18T22:59:00"), zone, 0) == [dt.date(2026, 10, 12)]


# -- every figure ----------------------------------------------------------------------------


def test_the_weeks_shown_are_eight_complete_and_the_current_one(report):
    assert report.weeks == tuple(MONDAYS)
    assert report.current == dt.date(2026, 11, 23)
    assert report.zone == LONDON
    assert report.at == AT


def test_forms_received_each_week_by_form_type_each_counted_once(report):
    assert report.by_type == {
        "notification": weeks(w2=2, w3=2, w8=1),
        "rfas": weeks(w8=1),
        "transfer": weeks(w2=1, w3=1),
        "marf": weeks(w3=1, w4=1),
        "closure": weeks(w0=1),
        "unknown": weeks(w8=1),
    }
    assert report.received == weeks(w0=1, w2=3, w3=4, w4=1, w8=3)


def test_copies_received_each_week_by_mailbox(report):
    assert report.by_mailbox == {
        "eh-north": weeks(),
        "sw-north": weeks(w4=1),
        "eh-central": weeks(w0=1, w2=3, w3=1, w8=2),
        "sw-central": weeks(),
        "eh-south": weeks(),
        "sw-south": weeks(),
        "mash": weeks(w3=1, w4=1),
        "triage": weeks(),
        "rejected": weeks(w3=2, w8=1),
    }


def test_outcomes_each_week(report):
    assert report.outcomes == {
        "routed": weeks(w0=1, w2=3, w3=1, w4=1, w8=2),
        "redirected": weeks(w3=1),
        "rejected": weeks(w3=1, w8=1),
        "duplicate": weeks(w3=1),
    }


def test_hours_from_receipt_to_handled_per_mailbox(report):
    found = {h.mailbox: (h.handled, h.median_hours, h.p90_hours) for h in report.handling}
    # eh-central: 1, 2, 5, 10, 20 hours (the form handled after AT is not yet handled);
    # the 90th percentile lies 0.6 of the way from 10 to 20 (linear, like percentile_cont)
    assert found["eh-central"] == (5, 5.0, pytest.approx(16.0))
    assert found["mash"] == (2, 3.0, pytest.approx(3.8))
    assert found["sw-north"] == (1, 30.0, 30.0)
    assert found["eh-north"] == (0, None, None)
    assert list(found) == [
        "eh-north",
        "sw-north",
        "eh-central",
        "sw-central",
        "eh-south",
        "sw-south",
        "mash",
        "triage",
    ]


def test_overdue_now_is_what_status_counts(root):
    """A MARF waiting in MASH past its due is overdue now, as ``ehforms status`` says."""
    folder = root / "outbox" / "mash" / "20261124-090000_marf_EH-1_01KAZ000000000000000000000"
    folder.mkdir()
    waiting = Receipt(
        submission_id="01KAZ000000000000000000000",
        source="marf.json",
        sha256="a" * 64,
        received_at=utc("2026-11-24T09:00:00"),
        status=Status.ROUTED,
        form_type="marf",
        mailboxes=("mash",),
        priority=Priority.URGENT,
        due=(),
    )
    (folder / "receipt.json").write_bytes(waiting.to_json())
    with Root.open(root) as opened:
        status = opened.status(AT)["mailboxes"]
        made = opened.report(8, AT)
    found = {w.mailbox: (w.waiting, w.overdue) for w in made.waiting}
    assert found == {m: (c["waiting"], c["overdue"]) for m, c in status.items()}
    assert found["mash"] == (1, 0)


# -- the CSV ---------------------------------------------------------------------------------

ROWS = {  # the rows with something in them; every other week and mailbox has a row of zeros
    (0, "eh-central"): ["eh-central,closure,1,1,0,0,0,1,1.0"],
    (2, "eh-central"): [
        "eh-central,notification,2,2,0,0,0,2,6.0",
        "eh-central,transfer,1,1,0,0,0,1,5.0",
    ],
    (3, "eh-central"): ["eh-central,notification,1,1,0,0,0,1,20.0"],
    (3, "mash"): ["mash,marf,1,0,1,0,0,1,2.0"],
    (3, "rejected"): ["rejected,notification,1,0,0,0,1,0,", "rejected,transfer,1,0,0,1,0,0,"],
    (4, "sw-north"): ["sw-north,marf,1,1,0,0,0,1,30.0"],
    (4, "mash"): ["mash,marf,1,1,0,0,0,1,4.0"],
    (8, "eh-central"): ["eh-central,notification,1,1,0,0,0,0,", "eh-central,rfas,1,1,0,0,0,0,"],
    (8, "rejected"): ["rejected,unknown,1,0,0,1,0,0,"],
}
PLACES = ["eh-north", "sw-north", "eh-central", "sw-central", "eh-south", "sw-south", "mash"]
PLACES += ["triage", "rejected"]


def expected_csv() -> str:
    lines = [",".join(CSV_COLUMNS)]
    for w, monday in enumerate(MONDAYS):
        for place in PLACES:
            rows = ROWS.get((w, place), [f"{place},,0,0,0,0,0,0,"])
            lines += [f"{monday.isoformat()},{row}" for row in rows]
    return "\r\n".join(lines) + "\r\n"


def test_the_csv_has_the_contracts_columns_and_every_row(report):
    assert csv_text(report) == expected_csv()
    assert expected_csv().splitlines()[0] == (
        "week_start,mailbox,form_type,received,routed,redirected,rejected,duplicate,handled,"
        "median_hours_to_handle"
    )


def test_ehforms_report_csv_prints_exactly_the_csv(root):
    result = CliRunner().invoke(
        cli,
        ["report", "--root", str(root), "--format", "csv", "--now", AT.isoformat()],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode("utf-8") == expected_csv()


def test_ehforms_report_weeks_and_output_file(root, tmp_path):
    target = tmp_path / "out" / "report.csv"
    target.parent.mkdir()
    result = CliRunner().invoke(
        cli,
        ["report", "--root", str(root), "--weeks", "1", "--format", "csv"]
        + ["--now", AT.isoformat(), "-o", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote {target}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    lines = target.read_text(encoding="utf-8").splitlines()
    # the week of 16 November (zeros) and this week: 9 places each, and this week a second
    # row for the Central hub (a notification and an RfAS)
    assert len(lines) == 1 + 9 + 9 + 1
    assert {line[:10] for line in lines[1:]} == {"2026-11-16", "2026-11-23"}
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind


def test_a_root_without_a_ledger_reports_zeros(tmp_path):
    init(tmp_path / "new")
    with Root.open(tmp_path / "new") as opened:
        made = opened.report(8, AT)
    assert made.received == weeks()
    assert all(h.handled == 0 for h in made.handling)
    assert csv_text(made).count("\r\n") == 1 + 9 * 9


# -- the page and the PDF --------------------------------------------------------------------


def test_the_html_has_an_svg_chart_with_a_title_and_a_table_for_each_figure(report, root):
    with Root.open(root) as opened:
        body = str(opened.report_as(report, "html", {"mash": "MASH"}))
    assert body.count("<svg") == 5
    titles = re.findall(r'<svg[^>]*role="img"[^>]*><title>([^<]+)</title>', body)
    assert titles == [
        "Forms received each week, by form type",
        "Outcomes each week",
        "Forms received each week, by mailbox",
        "Hours from receipt to handled, by mailbox",
        "Forms waiting and overdue now, by mailbox",
    ]
    assert "<script" not in body and "style=" not in body  # nothing the page's CSP refuses
    assert body.count("<table") == 5
    headings = re.findall(r'<h2 class="govuk-heading-m"[^>]*>([^<]+)</h2>', body)
    assert headings == [
        "Forms received by form type",
        "Outcomes",
        "Forms received by mailbox",
        "Time from receipt to handled",
        "Overdue now",
    ]
    assert "<h1" in body and "Weekly report" in body
    # the table beside the handling chart says what the chart shows
    assert re.search(r">MASH</th>\s*<td[^>]*>2</td>\s*<td[^>]*>3.0</td>\s*<td[^>]*>3.8</td>", body)
    assert re.search(r">23\u00a0Nov\u00a02026 \(this week\)</th>(\s*<td[^>]*>\d+</td>){4}", body)
    assert len(style_hashes(body)) == 5  # each chart's own style, allowed by its hash


def test_ehforms_report_html_is_a_page_of_its_own(root):
    result = CliRunner().invoke(cli, ["report", "--root", str(root), "--now", AT.isoformat()])
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page and "@page" in page  # report.css within
    assert page.count("<svg") == 5


def test_the_pdf_is_the_same_report_through_weasyprint(root, tmp_path):
    target = tmp_path / "report.pdf"
    result = CliRunner().invoke(
        cli,
        ["report", "--root", str(root), "--format", "pdf", "--now", AT.isoformat()]
        + ["-o", str(target)],
    )
    assert result.exit_code == 0, result.output
    pdf = target.read_bytes()
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for heading in (
        "Weekly report",
        "Forms received by form type",
        "Forms received by mailbox",
        "Outcomes",
        "Time from receipt to handled",
        "Overdue now",
    ):
        assert heading in text, heading
    # the charts' labels are text in the PDF, not pictures of text
    assert "12 Oct" in text and "Notification" in text
    assert len(reader.pages) <= 4
    if shutil.which("pdftoppm"):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "50",
                "-f",
                "1",
                "-l",
                "1",
                str(target),
                str(tmp_path / "p"),
            ],
            check=True,
        )
        image = next(tmp_path.glob("p*.png"))
        assert image.stat().st_size > 10_000  # a page with charts on it, not a blank one


def test_a_pdf_is_not_written_to_a_terminal(root, monkeypatch, capsys):
    import sys

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    class Stdout:
        buffer = Terminal()

    monkeypatch.setattr(sys, "stdout", Stdout())
    with pytest.raises(SystemExit) as stopped:
        cli.main(["report", "--root", str(root), "--format", "pdf"], prog_name="ehforms")
    assert stopped.value.code == 2
    assert Stdout.buffer.getvalue() == b""
    assert "A PDF is not written to a terminal: give -o FILE" in capsys.readouterr().err


def test_nothing_is_written_to_the_root(root):
    before = {p.relative_to(root): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    with Root.open(root) as opened:
        made = opened.report(8, AT)
        opened.report_as(made, "pdf", {})
        opened.report_as(made, "page", {})
    after = {p.relative_to(root): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    # SQLite's own housekeeping of its write-ahead log may touch its two files when a reader
    # closes; nothing else changes, and nothing is added
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert {p.name for p in changed} <= {"ledger.sqlite3-shm", "ledger.sqlite3-wal"}
    assert set(after) <= set(before) | {Path(".ehforms/ledger.sqlite3-shm")}


def test_the_ledger_does_the_counting(root):
    """The figures are aggregated in SQL: three queries, whatever the number of forms (in
    the root's own ledger: SQLite, or PostgreSQL under --ledger=postgresql)."""
    statements = []
    opened = Root.open(root)
    engine = opened.store()
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    from zoneinfo import ZoneInfo

    from ehforms.report import figures

    with engine.connect() as connection:
        figures(
            connection,
            at=AT,
            zone=ZoneInfo(LONDON),
            weeks=8,
            mailboxes=["mash"],
            form_types=["marf"],
            waiting={},
        )
    opened.close()
    # the ledger's own BEGIN (SQLite's engine issues it itself) is not a query
    queries = [s for s in statements if s.strip().upper() != "BEGIN"]
    assert len(queries) == 3, queries
    assert sum("GROUP BY" in s for s in queries) == 2


def test_after_a_chart_a_missing_module_is_an_import_error_not_a_warning():
    """pygal's legacy finder made every later failed import warn (ImportWarning): under
    ``-W error`` an optional import inside WeasyPrint then stopped the report's PDF, in
    whichever order the tests ran. Checked in a new interpreter, as a council's server runs."""
    code = (
        "from ehforms.report_render import svg_chart\n"
        "svg_chart('bars', 'Forms', ['North'], [('Forms', [3])])\n"
        "try:\n"
        "    import ehforms_no_such_module\n"
        "except ImportError:\n"
        "    print('ImportError')\n"
        "from ehforms.render import renderer_for\n"
        "renderer_for(None).warm()\n"
        "print('rendered')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ImportError", "rendered"]
