"""The command line, in-process with Click's CliRunner, asserting the exact output."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from conftest import FIXTURES, FORM_TYPES, REPO
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
    (tmp_path / "ehforms.toml").write_text("timezone = 'Mars/Base'\n")
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
