"""``ehforms users``, ``audit`` and ``serve`` on the command line, asserting the exact output;
two processes adding the same email at once."""

from __future__ import annotations

import getpass
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import RECEIVED, REPO, load_example
from ehforms.cli import cli
from ehforms.core import Root
from helpers import drop, make_root
from ledgers import Sql

GOOD = "plum-orbit-lantern-47"
OTHER = "kettle-meadow-quartz-91"


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def root(tmp_path):
    make_root(tmp_path / "root")
    return tmp_path / "root"


def run(runner, root, *args, input=None):
    return runner.invoke(cli, [*args, "--root", str(root)], input=input)


def add(runner, root, email, *args, password=GOOD):
    return run(
        runner, root, "users", "add", email, *args, "--password-stdin", input=password + "\n"
    )


def test_users_add_from_stdin(runner, root):
    result = add(runner, root, " Sam@Example.gov.uk", "--role", "hub", "--mailbox", "eh-north")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Added sam@example.gov.uk (hub for eh-north) with a one-time password: they choose "
        "their own at their first sign-in\n"
    )
    account = Root.open(root, environ={}).accounts.get("sam@example.gov.uk")
    assert account.must_change_password and account.mailboxes == ("eh-north",)


def test_users_add_asks_twice_hidden(runner, root):
    result = run(
        runner,
        root,
        "users",
        "add",
        "m@example.gov.uk",
        "--role",
        "manager",
        input=f"short\nshort\n{GOOD}\n{OTHER}\n{GOOD}\n{GOOD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password must be 12 characters or more" in result.output
    assert "Error: The two entered values do not match." in result.output
    assert GOOD not in result.output and "short" not in result.output  # hidden
    assert result.output.endswith(
        "Added m@example.gov.uk (manager) with a one-time password: "
        "they choose their own at their first sign-in\n"
    )
    opened = Root.open(root, environ={})
    assert opened.accounts.sign_in("m@example.gov.uk", GOOD, "127.0.0.1").role == "manager"


def test_users_add_an_email_that_exists_exits_1(runner, root):
    assert add(runner, root, "a@example.gov.uk", "--role", "practitioner").exit_code == 0
    result = add(runner, root, "A@EXAMPLE.gov.uk ", "--role", "manager")
    assert result.exit_code == 1
    assert result.output == "There is already an account for a@example.gov.uk\n"


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (
            ["--role", "hub", "--mailbox", "nowhere"],
            GOOD,
            "Error: There is no mailbox called nowhere",
        ),
        (["--role", "hub"], GOOD, "Error: A hub account needs at least one mailbox"),
        (["--role", "practitioner"], "password1234", "Error: Choose a password that is harder"),
        (["--role", "practitioner"], "too-short", "Error: Password must be 12 characters or more"),
    ],
)
def test_users_add_refuses_what_cannot_be_used(runner, root, args, password, message):
    result = add(runner, root, "a@example.gov.uk", *args, password=password)
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert Root.open(root, environ={}).accounts.list() == []


def test_users_add_a_role_that_is_not_one(runner, root):
    result = add(runner, root, "a@example.gov.uk", "--role", "admin")
    assert result.exit_code == 2 and "'admin' is not one of" in result.output


def test_users_list_disable_and_password(runner, root):
    assert run(runner, root, "users", "list").output == (
        "No accounts yet: add one with `ehforms users add`\n"
    )
    add(
        runner,
        root,
        "hub@example.gov.uk",
        "--role",
        "hub",
        "--mailbox",
        "mash",
        "--mailbox",
        "triage",
    )
    add(runner, root, "m@example.gov.uk", "--role", "manager")
    opened = Root.open(root, environ={})
    opened.accounts.set_password("m@example.gov.uk", OTHER, one_time=False)
    token = opened.accounts.start_session(opened.accounts.get("hub@example.gov.uk"))
    result = run(runner, root, "users", "disable", "HUB@example.gov.uk")
    assert result.exit_code == 0
    assert result.output == "Disabled hub@example.gov.uk: their sessions have ended\n"
    with pytest.raises(Exception, match="signed out"):
        opened.accounts.session(token)
    assert run(runner, root, "users", "list").output == (
        "email               role          state                     mailboxes\n"
        "hub@example.gov.uk  hub           disabled                  mash, triage\n"
        "m@example.gov.uk    manager       active                    -\n"
    )
    result = run(
        runner, root, "users", "password", "m@example.gov.uk", "--password-stdin", input=GOOD
    )
    assert result.exit_code == 0
    assert (
        result.output == "Set a one-time password for m@example.gov.uk: their sessions have ended\n"
    )
    assert (
        "m@example.gov.uk    manager       active, one-time password -"
        in run(runner, root, "users", "list").output
    )


@pytest.mark.parametrize("command", ["disable", "password"])
def test_users_disable_or_password_of_no_account_exits_1(runner, root, command):
    result = run(runner, root, "users", command, "nobody@example.gov.uk", input=GOOD + "\n")
    assert result.exit_code == 1
    assert result.output.endswith("There is no account for nobody@example.gov.uk\n")


def test_users_on_a_folder_that_is_not_a_root(runner, tmp_path):
    result = run(runner, tmp_path, "users", "list")
    assert result.exit_code == 2
    assert "is not a working root: make it with `ehforms init" in result.output


def test_audit_prints_the_trail_with_filters(runner, root):
    add(runner, root, "a@example.gov.uk", "--role", "practitioner")
    drop(root, "rfas.json", load_example("rfas"))
    opened = Root.open(root, environ={})
    opened.process(workers=1, received_at=RECEIVED)
    result = run(
        runner,
        root,
        "template",
        "rfas",
        "--format",
        "json",
        "--case",
        "EH-00417",
        "-o",
        str(root / "prefilled.json"),
    )
    assert result.exit_code == 0, result.output
    me = getpass.getuser()
    result = run(runner, root, "audit")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"  {me}  prefilled form  case EH-00417  rfas (json), command line")
    assert lines[1].endswith(f"  {me}  account added  a@example.gov.uk: role practitioner")
    assert run(runner, root, "audit", "--case", "EH-00417").output.splitlines() == lines[:1]
    assert run(runner, root, "audit", "--user", "a@example.gov.uk").output == (
        "Nothing recorded that matches\n"
    )
    assert run(runner, root, "audit", "--user", me).output.splitlines() == lines
    assert run(runner, root, "audit", "--since", "2999-01-01").output == (
        "Nothing recorded that matches\n"
    )
    assert run(runner, root, "audit", "--since", "2020-01-01").output.splitlines() == lines
    bad = run(runner, root, "audit", "--since", "last week")
    assert bad.exit_code == 2 and "use a day like 2026-11-24" in bad.output


def test_template_without_a_case_records_nothing(runner, root):
    assert (
        run(
            runner, root, "template", "rfas", "--format", "json", "-o", str(root / "blank.json")
        ).exit_code
        == 0
    )
    assert run(runner, root, "audit").output == "Nothing recorded yet\n"


def test_serve_insecure_http_only_on_loopback(runner, root, monkeypatch):
    calls = []
    monkeypatch.setattr("ehforms.web.serve", lambda *args: calls.append(args))
    result = run(runner, root, "serve", "--host", "0.0.0.0", "--insecure-http")
    assert result.exit_code == 2
    assert result.output == (
        "Error: --insecure-http is accepted only with a loopback --host such as 127.0.0.1, not "
        "0.0.0.0: behind the council's reverse proxy, serve over HTTPS\n"
    )
    bad = run(runner, root, "serve", "--trusted-proxy", "proxy.council")
    assert bad.exit_code == 2 and "--trusted-proxy must be an IP address" in bad.output
    assert calls == []
    result = run(runner, root, "serve", "--port", "8181", "--insecure-http")
    assert result.exit_code == 0, result.output
    result = run(runner, root, "serve", "--host", "10.1.2.3", "--trusted-proxy", "10.1.2.1")
    assert result.exit_code == 0, result.output
    assert calls == [
        (root, "127.0.0.1", 8181, True, None),
        (root, "10.1.2.3", 8080, False, "10.1.2.1"),
    ]


def test_serve_needs_a_working_root(runner, tmp_path):
    result = run(runner, tmp_path, "serve")
    assert result.exit_code == 2 and "is not a working root" in result.output


@pytest.mark.slow
def test_two_processes_adding_the_same_email_at_once_one_wins(root):
    """Both check, both hash, both write: the ledger's write lock lets one in; the other
    finds the account there and exits 1."""
    command = [
        sys.executable,
        "-m",
        "ehforms",
        "users",
        "add",
        "same@example.gov.uk",
        "--role",
        "practitioner",
        "--password-stdin",
        "--root",
        str(root),
    ]
    # the ledger made first, so both processes race on the account, not on making it
    Root.open(root, environ={}).accounts.list()
    for _ in range(3):
        processes = [
            subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            for _ in range(2)
        ]
        results = [p.communicate(GOOD + "\n", timeout=60) for p in processes]
        codes = sorted(p.returncode for p in processes)
        assert codes == [0, 1], results
        assert any("There is already an account" in err for _, err in results)
        accounts = Root.open(root, environ={}).accounts
        assert [a.email for a in accounts.list()] == ["same@example.gov.uk"]
        db = Sql(root)
        db.execute("DELETE FROM accounts")
        db.commit()
        db.close()


@pytest.mark.slow
def test_two_processes_making_the_ledger_at_once_both_succeed(root):
    """A fresh root: both make and migrate the ledger, one after the other (the migration's
    transaction is immediate), and both accounts are added."""
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ehforms",
                "users",
                "add",
                f"{name}@example.gov.uk",
                "--role",
                "manager",
                "--password-stdin",
                "--root",
                str(root),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for name in ("a", "b")
    ]
    results = [p.communicate(GOOD + "\n", timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    emails = [a.email for a in Root.open(root, environ={}).accounts.list()]
    assert emails == ["a@example.gov.uk", "b@example.gov.uk"]
