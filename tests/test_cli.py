"""The command line, in-process with Click's CliRunner, asserting the exact output."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from conftest import FIXTURES, FORM_TYPES, REPO, council_file
from ehforms.cli import cli

AT = "2026-11-24T09:00:00Z"


@pytest.fixture
def runner():
    return CliRunner()


def write(tmp_path, name, form):
    path = tmp_path / name
    path.write_text(json.dumps(form), encoding="utf-8")
    return path


def test_validate_says_ok_for_every_example(runner):
    paths = [str(FIXTURES / f"{t}.json") for t in FORM_TYPES]
    result = runner.invoke(cli, ["validate", "--received-at", AT, *paths])
    assert result.exit_code == 0, result.output
    assert result.output == "".join(
        f"{FIXTURES / t}.json: ok\n"
        + (
            "  Safeguarding: this form goes to MASH at once, whatever else is wrong.\n"
            if t == "marf"
            else ""
        )
        for t in FORM_TYPES
    )


def test_validate_names_each_problem_and_exits_1(runner, tmp_path, example):
    form = example("notification")
    form["address"]["postcode"] = "M8"
    form["children"][0]["date_of_birth"] = "2031-01-01"
    bad = write(tmp_path, "bad.json", form)
    good = FIXTURES / "rfas.json"
    result = runner.invoke(cli, ["validate", "--received-at", AT, str(bad), str(good)])
    assert result.exit_code == 1
    assert result.output == (
        f"{bad}: 2 problems\n"
        "  children[0].date_of_birth: The child's date of birth must be in the past\n"
        "  address.postcode: Postcode must be a UK postcode, like M8 5AB\n"
        f"{good}: ok\n"
    )


@pytest.mark.parametrize(
    ("form_type", "change", "line"),
    [
        (
            "closure",
            lambda f: f.pop("lead_practitioner"),
            "  lead_practitioner: Enter the lead practitioner: a case steps down to Early Help only "
            "once a lead practitioner is named",
        ),
        ("notification", lambda f: f.pop("consent"), "  consent: Enter the family's consent"),
        (
            "notification",
            lambda f: f.update(level_of_need=1),
            "  level_of_need: Level of need 1 means universal services can meet the family's needs, "
            "so this is not an Early Help request: choose level 2, 3 or 4, or signpost the family "
            "to universal services",
        ),
    ],
)
def test_validate_the_cases_the_issue_names(runner, tmp_path, example, form_type, change, line):
    form = example(form_type)
    change(form)
    path = write(tmp_path, f"{form_type}.json", form)
    result = runner.invoke(cli, ["validate", "--received-at", AT, str(path)])
    assert result.exit_code == 1
    assert result.output == f"{path}: 1 problem\n{line}\n"


def test_validate_json_output(runner, tmp_path, example):
    form = example("rfas")
    form["address"]["postcode"] = "nowhere"
    path = write(tmp_path, "rfas.json", form)
    result = runner.invoke(cli, ["validate", "--json", "--received-at", AT, str(path)])
    assert result.exit_code == 1
    assert json.loads(result.output) == [
        {
            "file": str(path),
            "valid": False,
            "form_type": "rfas",
            "safeguarding": False,
            "errors": [
                {
                    "field": "address.postcode",
                    "message": "Postcode must be a UK postcode, like M8 5AB",
                }
            ],
        }
    ]


def test_validate_a_file_that_is_not_json(runner, tmp_path):
    path = tmp_path / "notes.json"
    path.write_bytes(b"Dear hub, please see attached")
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.output == (
        f"{path}: 1 problem\n"
        "  The file is not a JSON form: it could not be read at line 1, column 1 (Expecting "
        "value). Save the form again from the online form or template and send it again\n"
    )


def test_validate_a_missing_file_exits_2_after_checking_the_rest(runner, tmp_path):
    missing = tmp_path / "missing.json"
    good = FIXTURES / "rfas.json"
    result = runner.invoke(cli, ["validate", "--received-at", AT, str(missing), str(good)])
    assert result.exit_code == 2
    assert result.stdout == f"{good}: ok\n"
    assert result.stderr == f"{missing}: cannot be read (No such file or directory)\n"


def test_validate_a_bad_time(runner):
    result = runner.invoke(cli, ["validate", "--received-at", "tuesday", "x.json"])
    assert result.exit_code == 2
    assert "use a date and time like 2026-11-24T09:00:00+00:00" in result.output


def test_validate_with_a_broken_config(runner, tmp_path):
    (tmp_path / "ehforms.toml").write_text(council_file("timezone = 'Mars/Base'\n"))
    result = runner.invoke(cli, ["validate", "--root", str(tmp_path), str(FIXTURES / "rfas.json")])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: timezone 'Mars/Base' is not a known time zone, like Europe/London\n"
    )


def test_schema_export(runner, tmp_path):
    result = runner.invoke(cli, ["schema", "export", "--to", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == "".join(f"Wrote {tmp_path / t}.schema.json\n" for t in FORM_TYPES)


def all_commands(group: click.Group, prefix: str = ""):
    for name, command in sorted(group.commands.items()):
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from all_commands(command, f"{prefix}{name} ")


@pytest.mark.parametrize(("name", "command"), list(all_commands(cli)))
def test_every_command_has_help_and_is_in_the_readme(runner, name, command):
    result = runner.invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0
    assert command.help and len(command.help) > 20
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"`ehforms {re.escape(name)}\b", readme), f"README does not show {name}"


def test_python_dash_m_runs_the_command():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ehforms",
            "validate",
            "--received-at",
            AT,
            str(FIXTURES / "closure.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{FIXTURES / 'closure.json'}: ok\n"


def test_init_makes_a_working_root_and_is_safe_to_run_again(runner, tmp_path):
    root = tmp_path / "root"
    result = runner.invoke(cli, ["init", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:3] == [
        f"Made {root}",
        f"Wrote {root / 'ehforms.toml'} (council profile example)",
        "Made inbox/",
    ]
    assert "Made outbox/eh-north/done/" in result.output
    assert "Made outbox/triage/done/" in result.output
    assert sorted(p.name for p in (root / "outbox").iterdir()) == [
        "eh-central",
        "eh-north",
        "eh-south",
        "mash",
        "sw-central",
        "sw-north",
        "sw-south",
        "triage",
    ]
    again = runner.invoke(cli, ["init", str(root)])
    assert again.exit_code == 0
    assert again.output == ""


def test_init_refuses_a_file(runner, tmp_path):
    path = tmp_path / "a-file"
    path.write_text("x")
    result = runner.invoke(cli, ["init", str(path)])
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"Error: Invalid value for 'DIRECTORY': Directory '{path}' is a file.\n"
    )


def test_process_prints_where_each_file_went(runner, tmp_path, example):
    runner.invoke(cli, ["init", str(tmp_path)])
    (tmp_path / "inbox" / "marf.json").write_text(json.dumps(example("marf")))
    bad = example("rfas")
    bad["level_of_need"] = 1
    (tmp_path / "inbox" / "rfas.json").write_text(json.dumps(bad))
    result = runner.invoke(
        cli, ["process", "--root", str(tmp_path), "--received-at", AT, "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    marf = next((tmp_path / "outbox" / "mash").glob("2026*")).name
    rfas = next((tmp_path / "rejected").glob("2026*")).name
    assert result.output == (
        f"marf.json: routed, urgent -> outbox/mash/{marf}\n"
        "    copy in outbox/sw-north/\n"
        f"rfas.json: rejected -> rejected/{rfas}\n"
        "    Level of need 1 means universal services can meet the family's needs, so this is "
        "not an Early Help request: choose level 2, 3 or 4, or signpost the family to universal "
        "services\n"
    )


def test_process_json_prints_one_receipt_per_line(runner, tmp_path):
    runner.invoke(cli, ["init", str(tmp_path)])
    for form_type in FORM_TYPES:
        (tmp_path / "inbox" / f"{form_type}.json").write_bytes(
            (FIXTURES / f"{form_type}.json").read_bytes()
        )
    result = runner.invoke(cli, ["process", "--root", str(tmp_path), "--json", "--received-at", AT])
    assert result.exit_code == 0, result.output
    receipts = [json.loads(line) for line in result.output.splitlines()]
    assert sorted(r["form_type"] for r in receipts) == sorted(FORM_TYPES)
    assert {r["status"] for r in receipts} == {"routed"}


def test_process_an_empty_inbox(runner, tmp_path):
    runner.invoke(cli, ["init", str(tmp_path)])
    result = runner.invoke(cli, ["process", "--root", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == "The inbox is empty.\n"


def test_process_without_a_working_root(runner, tmp_path):
    result = runner.invoke(cli, ["process", "--root", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {tmp_path} is not a working root: make it with `ehforms init {tmp_path}`\n"
    )


def test_status_counts_what_waits(runner, tmp_path):
    runner.invoke(cli, ["init", str(tmp_path)])
    for form_type in FORM_TYPES:
        (tmp_path / "inbox" / f"{form_type}.json").write_bytes(
            (FIXTURES / f"{form_type}.json").read_bytes()
        )
    runner.invoke(cli, ["process", "--root", str(tmp_path), "--received-at", AT])
    done = tmp_path / "outbox" / "eh-central" / "done"
    next((tmp_path / "outbox" / "eh-central").glob("*_rfas_*")).rename(done / "rfas")
    result = runner.invoke(cli, ["status", "--root", str(tmp_path), "--at", "2026-11-27T09:00Z"])
    assert result.exit_code == 0
    # by 27 November the MARF's written follow-up (26 November, 09:00) and the transfer's
    # allocations meeting (26 November, 09:30) are overdue, each in its primary mailbox only
    # (the contract: a due belongs to the primary mailbox; the MARF's sw-north copy is not)
    assert result.output == (
        "mailbox     waiting  urgent  overdue\n"
        "eh-north          0       0        0\n"
        "sw-north          1       1        0\n"
        "eh-central        3       0        1\n"
        "sw-central        0       0        0\n"
        "eh-south          0       0        0\n"
        "sw-south          0       0        0\n"
        "mash              1       1        1\n"
        "triage            0       0        0\n"
        "Watcher: not started\n"
        "Waiting in the inbox: 0\n"
    )


def test_demo_routes_the_samples_the_same_on_any_day(runner, tmp_path):
    result = runner.invoke(cli, ["demo", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "->" in line]
    assert [line.split(" -> ")[0] for line in lines] == [
        "marf.json: routed, urgent",  # urgent first
        "notification.json: routed",
        "rfas.json: routed",
        "transfer.json: routed",
        "patel-transfer.zip: routed",  # a bundle: the form with the documents it names
        "closure.json: routed",  # after the other forms, to see their consent
    ]
    assert "    copy in outbox/sw-north/" in result.output
    assert "patel-transfer.zip: routed -> outbox/eh-central/" in result.output
    assert "    2 attachments\n" in result.output
    (bundle,) = (tmp_path / "outbox" / "eh-central").glob("*_transfer_MC305122_*")
    assert sorted(p.name for p in (bundle / "attachments").iterdir()) == [
        "patel-cafa-2026-11.pdf",
        "patel-consent-signed.pdf",
    ]
    again = runner.invoke(cli, ["demo", "--root", str(tmp_path)])
    assert again.output.count(": duplicate -> rejected/") == 6


def test_render_writes_a_forms_documents(runner, tmp_path):
    result = runner.invoke(
        cli,
        [
            "render",
            str(FIXTURES / "transfer.json"),
            "--to",
            str(tmp_path / "docs"),
            "--received-at",
            AT,
            "--root",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == "".join(
        f"Wrote {tmp_path / 'docs' / name}\n"
        for name in (
            "consent-letter.pdf",
            "consent-letter.docx",
            "allocations-pro-forma.pdf",
            "allocations-pro-forma.docx",
        )
    )


def render(runner, path, tmp_path):
    return runner.invoke(
        cli,
        [
            "render",
            str(path),
            "--to",
            str(tmp_path / "docs"),
            "--received-at",
            AT,
            "--root",
            str(tmp_path),
        ],
    )


def test_render_a_form_with_problems_renders_nothing(runner, tmp_path, example):
    form = example("closure")
    form.pop("lead_practitioner")
    path = write(tmp_path, "closure.json", form)
    result = render(runner, path, tmp_path)
    assert result.exit_code == 1
    assert result.output == (
        f"{path}: lead_practitioner: Enter the lead practitioner: a case steps down to Early "
        "Help only once a lead practitioner is named\n"
    )
    assert not (tmp_path / "docs").exists()


def test_render_a_safeguarding_redirect_makes_no_letter(runner, tmp_path, example):
    form = example("notification")
    form["level_of_need"] = 5
    path = write(tmp_path, "n.json", form)
    result = render(runner, path, tmp_path)
    assert result.exit_code == 0
    assert result.output == (
        f"{path}: no documents: it goes to MASH as a safeguarding concern, and no letter is "
        "written\n"
    )


def test_validate_checks_a_zip_or_a_folder_as_a_bundle(runner, tmp_path):
    import io
    import zipfile

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    scan = io.BytesIO()
    writer.write(scan)
    form = (FIXTURES / "transfer.json").read_bytes()
    archive = tmp_path / "Hughes.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("transfer.json", form)
        out.writestr("hughes-cafa-2026-10.pdf", scan.getvalue())
        out.writestr("notes.txt", "not an attachment")
    folder = tmp_path / "two forms"
    folder.mkdir()
    (folder / "a.json").write_bytes(form)
    (folder / "b.json").write_bytes((FIXTURES / "rfas.json").read_bytes())
    result = runner.invoke(
        cli, ["validate", str(archive), str(folder), "--received-at", AT, "--root", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"{archive}: ok\n"
        "  Attachments: hughes-cafa-2026-10.pdf\n"
        "  Named on the form but not in the bundle: hughes-consent-signed.pdf\n"
        "  Left out: notes.txt: it is not a PDF, Word document, JPEG or PNG\n"
        f"{folder}: 1 problem\n"
        "  The folder holds more than one form: send each form in a bundle of its own\n"
    )
    as_json = runner.invoke(
        cli, ["validate", str(archive), "--json", "--received-at", AT, "--root", str(tmp_path)]
    )
    (found,) = json.loads(as_json.output)
    assert found["valid"] is True and found["form_type"] == "transfer"
    assert found["missing_attachments"] == ["hughes-consent-signed.pdf"]
    assert found["left_out"] == [
        {"entry": "notes.txt", "message": "it is not a PDF, Word document, JPEG or PNG"}
    ]
