"""Subject access and erasure (forms.md "Keeping and deleting"): ``ehforms case REF
[--export DIR]`` finds and exports everything held about a case, and a family's withdrawal of
consent erases the case's prefill data at once."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import retention_helpers as rh
from conftest import RECEIVED
from ehforms.audit import os_user
from ehforms.cli import cli
from ehforms.core import Root
from ehforms.prefill import PrefillRefused
from helpers import drop
from ledgers import Sql


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("casefile") / "root"
    rh.build(path)
    return path


@pytest.fixture
def root(template, tmp_path):
    opened = rh.copy_root(template, tmp_path / "root")
    yield opened
    opened.close()


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def folder_of(root: Root, source: str) -> str:
    return str(rh.receipts(root.path)[source]["_folder"].relative_to(root.path))


def test_a_case_lists_everything_held_about_it(root):
    root.audit.record("hub@example.gov.uk", "viewed form", case=rh.CASE)
    ids = {name: r["submission_id"] for name, r in rh.receipts(root.path).items()}
    result = invoke("case", rh.CASE, "--root", str(root.path))
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert out[:2] == [f"Case {rh.CASE}", "Forms: 4"]
    rfas, bundle = (
        folder_of(root, "quillfeather-rfas.json"),
        folder_of(root, "quillfeather-transfer.zip"),
    )
    bad = folder_of(root, "quillfeather-bad.json")
    notification = folder_of(root, "quillfeather-notification.json")
    assert (
        f"  {ids['quillfeather-rfas.json']}  rfas  routed  received 2026-11-24 09:00  {rfas}" in out
    )
    assert f"    form: {rfas}/form.json" in out and f"    receipt: {rfas}/receipt.json" in out
    assert f"    original: {rfas}/quillfeather-rfas.json" in out
    assert f"    attachment: {bundle}/attachments/{rh.ASSESSMENT}" in out
    assert f"    document: {bundle}/consent-letter.pdf" in out
    assert f"    receipt: {bad}/errors.txt" in out
    # a form without a case reference that names the same child, by name and date of birth
    assert (
        f"  {ids['quillfeather-notification.json']}  notification  routed  received "
        f"2026-11-24 09:00  {notification} (matched by child's name and date of birth)"
    ) in out
    assert not any("MC204811" in line for line in out)  # another family's case
    assert "Originals in the archive: 4" in out
    assert f"  .ehforms/archive/{ids['quillfeather-rfas.json']}/quillfeather-rfas.json" in out
    assert "Prefill data: 2 forms" in out
    assert out[-2:] == ["Audit rows: 1", out[-1]]
    assert out[-1].endswith("  hub@example.gov.uk  viewed form")


def test_an_unknown_case_exits_1(root):
    result = invoke("case", "NO-SUCH-CASE", "--root", str(root.path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "ehforms holds nothing about case NO-SUCH-CASE\n"


def test_an_export_holds_it_all_privately_with_an_index_and_is_audited(root, tmp_path):
    target = tmp_path / "sar"
    result = invoke("case", rh.CASE, "--root", str(root.path), "--export", str(target))
    assert result.exit_code == 0, result.output
    written = [p for p in target.rglob("*")]
    assert result.output.splitlines()[-1] == (
        f"Exported {sum(p.is_file() for p in written)} files to {target}: start with "
        "index.txt, and review and redact it before disclosure (README.txt says why)"
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    readme = (target / "README.txt").read_text()
    assert "third parties' information" in readme and "redact" in readme
    index = (target / "index.txt").read_text()
    assert index.startswith(f"Case {rh.CASE}: everything this ehforms root held")
    assert "matched by child's name and date of birth" in index
    assert "attachment: forms/" in index and rh.ASSESSMENT in index
    forms = sorted(p.name for p in (target / "forms").iterdir())
    assert len(forms) == 4 and forms[0].startswith("001-")
    prefill = json.loads((target / "prefill-data.json").read_text())
    assert [p["form_type"] for p in prefill] == ["rfas", "transfer"]
    assert prefill[0]["data"]["children"][0]["given_name"] == "Zephyrine"
    rows = list(csv.reader((target / "audit.csv").read_text().splitlines()))
    assert rows[0] == ["at", "who", "action", "submission_id", "case", "detail"]
    assert rows[1][1:] == [os_user(), "exported case", "", rh.CASE, "command line"]
    assert sorted(p.name for p in (target / "archive").iterdir()) == sorted(
        r["submission_id"]
        for n, r in rh.receipts(root.path).items()
        if n.startswith("quillfeather")
    )


def test_an_export_into_a_folder_that_is_not_empty_is_refused(root, tmp_path):
    target = tmp_path / "sar"
    target.mkdir()
    (target / "notes.txt").write_text("someone else's")
    result = invoke("case", rh.CASE, "--root", str(root.path), "--export", str(target))
    assert result.exit_code == 1
    assert result.stderr == (
        f"{target} is not empty: name a new or empty folder, so the export holds this case alone\n"
    )
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert root.audit.rows(case=rh.CASE) == []  # nothing exported, nothing recorded


def test_an_export_folder_that_is_a_link_is_refused(root, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "sar"
    link.symlink_to(real, target_is_directory=True)
    result = invoke("case", rh.CASE, "--root", str(root.path), "--export", str(link))
    assert result.exit_code == 1
    assert result.stderr == f"{link} is a link: name a new folder for the export\n"
    assert list(real.iterdir()) == []


def test_an_export_inside_the_working_root_is_refused(root):
    target = root.path / "inbox" / "sar"
    result = invoke("case", rh.CASE, "--root", str(root.path), "--export", str(target))
    assert result.exit_code == 1
    assert result.stderr == (
        f"{target} is inside the working root: name a folder outside it for the export\n"
    )
    assert not target.exists()


def test_an_empty_folder_may_take_the_export(root, tmp_path):
    target = tmp_path / "empty"
    target.mkdir(mode=0o755)
    found, written = root.export_case(rh.CASE, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert written[:2] == ["README.txt", "index.txt"] and len(found.forms) == 4


# -- consent withdrawn --------------------------------------------------------------------


def withdraw(root: Root, at: dt.datetime, day: str = "2026-11-24") -> None:
    closure = rh.family("closure", case_id=rh.CASE, closure_reason="consent_withdrawn")
    closure["closure_date"] = day
    for key in ("multi_agency_meeting", "early_help_assessment_opened", "outcomes"):
        closure.pop(key, None)
    drop(root.path, "withdrawn.json", closure)
    root.process(workers=1, received_at=at)


def refusal(root: Root, case: str) -> str:
    with pytest.raises(PrefillRefused) as caught:
        root.practitioner_form("rfas", "json", case)
    return str(caught.value)


def test_a_withdrawal_of_consent_erases_the_prefill_data_at_once(root):
    assert json.loads(root.practitioner_form("rfas", "json", rh.CASE)[1])["children"]
    withdraw(root, RECEIVED + dt.timedelta(hours=2))
    with Sql(root.path) as sql:
        rows = sql.execute(
            "SELECT (SELECT count(*) FROM case_data WHERE case_id = ?), "
            "(SELECT withdrawn_on FROM withdrawals WHERE case_id = ?)",
            (rh.CASE, rh.CASE),
        ).fetchall()
    assert rows == [(0, "2026-11-24")]  # erased, and a tombstone with no content
    # the same answer as for a case ehforms never knew
    assert refusal(root, rh.CASE) == refusal(root, "NEVER-SEEN").replace("NEVER-SEEN", rh.CASE)
    assert "withdrew" not in refusal(root, rh.CASE)


def test_prefill_stays_erased_until_consent_is_given_again(root):
    withdraw(root, RECEIVED + dt.timedelta(hours=2))
    old = rh.family("rfas", case_id=rh.CASE)  # consent dated 2026-11-16, before the withdrawal
    drop(root.path, "old-consent.json", old)
    root.process(workers=1, received_at=RECEIVED + dt.timedelta(days=1))
    assert refusal(root, rh.CASE).startswith(f"ehforms knows nothing of case {rh.CASE}")
    renewed = rh.family("rfas", case_id=rh.CASE)
    renewed["consent"]["date"] = "2026-11-26"
    drop(root.path, "renewed.json", renewed)
    root.process(workers=1, received_at=RECEIVED + dt.timedelta(days=3))
    form = json.loads(root.practitioner_form("transfer", "json", rh.CASE)[1])
    assert form["children"][0]["given_name"] == "Zephyrine"
    with Sql(root.path) as sql:
        held = sql.execute(
            "SELECT count(*) FROM case_data WHERE case_id = ?", (rh.CASE,)
        ).fetchone()
    assert held == (1,)  # only what came with the new consent


def test_the_case_listing_says_consent_was_withdrawn(root):
    withdraw(root, RECEIVED + dt.timedelta(hours=2))
    result = invoke("case", rh.CASE, "--root", str(root.path))
    assert "Prefill data: 0 forms" in result.output.splitlines()
    assert (
        "Consent withdrawn on 2026-11-24: the prefill data from before then is erased"
        in result.output.splitlines()
    )
    assert os.path.isdir(root.path / "outbox" / "eh-central")  # mailbox copies stay


def test_an_older_ledger_erases_a_withdrawal_it_already_holds_when_upgraded(tmp_path):
    """A ledger made before 0006 may hold the prefill data of a family who withdrew consent:
    the upgrade writes the tombstone and erases it."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from ehforms.database import engine_for
    from ehforms.ledger import Ledger

    path = tmp_path / "ledger.sqlite3"
    engine = engine_for(path)
    with engine.connect() as connection:
        settings = AlembicConfig()
        settings.set_main_option("script_location", "ehforms:migrations")
        settings.attributes["connection"] = connection
        command.upgrade(settings, "0005")
        connection.commit()
    engine.dispose()
    notification = rh.family("notification", case_id=rh.CASE)
    closure = rh.family("closure", case_id=rh.CASE, closure_reason="consent_withdrawn")
    database = sqlite3.connect(path)
    for n, (form_type, form) in enumerate((("notification", notification), ("closure", closure))):
        sid = f"01M86CH3M0V5JYHYEEY4YHBP6{n}"
        database.execute(
            "INSERT INTO submissions (submission_id, sha256, source, received_at, state, "
            "claim_seq) VALUES (?, ?, 'x.json', ?, 'done', ?)",
            (sid, f"{n:064x}", RECEIVED.isoformat(), n + 1),
        )
        database.execute(
            "INSERT INTO case_data VALUES (?, ?, ?, ?, ?)",
            (sid, rh.CASE, form_type, RECEIVED.isoformat(), json.dumps(form)),
        )
    database.commit()
    database.close()
    Ledger(path).close()  # opened by the root's owner: upgraded
    database = sqlite3.connect(path)
    assert database.execute("SELECT count(*) FROM case_data").fetchone() == (0,)
    assert database.execute("SELECT * FROM withdrawals").fetchall() == [
        (rh.CASE, closure["closure_date"])
    ]
    database.close()
