"""Accounts, sign-in and sessions on a real root: real Argon2, real SQLite; time passes
through a clock the tests move, and the sign-in delay through a sleep they record."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehforms.accounts import (
    AccountExists,
    BadAccount,
    Role,
    SessionEnded,
    SignInRefused,
    UnknownAccount,
    UnknownMailbox,
    WeakPassword,
    delay_for,
    dummy_hash,
    weakness,
)
from ehforms.audit import email_hash
from ehforms.core import Root
from helpers import make_root
from ledgers import Sql

START = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
GOOD = "plum-orbit-lantern-47"
OTHER = "kettle-meadow-quartz-91"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def root(tmp_path, clock, slept) -> Root:
    make_root(tmp_path)
    opened = Root.open(tmp_path, environ={})
    opened.accounts.clock = clock
    opened.accounts.sleep = slept.append
    opened.audit.clock = clock
    yield opened
    opened.close()


def rows(root: Root, sql: str) -> list[tuple]:
    db = Sql(root.path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# -- accounts ---------------------------------------------------------------------------


def test_an_account_is_added_with_a_one_time_argon2id_password(root):
    account = root.accounts.add(" Sam.Reid@Example.gov.uk ", "hub", ["eh-north"], password=GOOD)
    assert account.email == "sam.reid@example.gov.uk"
    assert account.role is Role.HUB and account.mailboxes == ("eh-north",)
    assert account.active and account.must_change_password
    assert root.accounts.get("SAM.REID@example.gov.uk") == account
    assert root.accounts.list() == [account]
    ((stored,),) = rows(root, "SELECT password_hash FROM accounts")
    assert stored.startswith("$argon2id$") and GOOD not in stored
    assert PasswordHasher().verify(stored, GOOD)


def test_an_email_that_has_an_account_is_refused(root):
    root.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    with pytest.raises(AccountExists, match="already an account for a@example.gov.uk"):
        root.accounts.add("  A@EXAMPLE.GOV.UK", "manager", password=OTHER)
    assert len(root.accounts.list()) == 1


@pytest.mark.parametrize(
    ("role", "mailboxes", "error", "message"),
    [
        ("hub", ["nowhere"], UnknownMailbox, "no mailbox called nowhere"),
        ("hub", [], BadAccount, "needs at least one mailbox"),
        ("manager", ["mash"], BadAccount, "Only hub accounts work mailboxes"),
        ("admin", [], BadAccount, "no role 'admin'"),
    ],
)
def test_a_role_and_its_mailboxes_must_fit(root, role, mailboxes, error, message):
    with pytest.raises(error, match=message):
        root.accounts.add("a@example.gov.uk", role, mailboxes, password=GOOD)
    assert root.accounts.list() == []


@pytest.mark.parametrize("email", ["", "not-an-email", "a b@example.gov.uk", "a@b", "@x.uk"])
def test_an_email_that_is_not_one_is_refused(root, email):
    with pytest.raises(BadAccount, match="is not an email address"):
        root.accounts.add(email, "practitioner", password=GOOD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short-one", "Password must be 12 characters or more"),
        ("12345678901", "Password must be 12 characters or more"),
        ("qwertyuiop12", "Choose a password that is harder to guess"),  # on the list
        ("1q2w3e4r5t6y", "Choose a password that is harder to guess"),
        ("Password123456!", "Choose a password that is harder to guess"),  # a word with digits
        ("aaaaaaaaaaaaaaaa", "Choose a password that is harder to guess"),
        ("abcabcabcabcabc", "Choose a password that is harder to guess"),
    ],
)
def test_weak_passwords_are_refused_with_what_to_do(root, password, message):
    assert weakness(password) == message
    assert root.accounts.weakness(password) == message
    with pytest.raises(WeakPassword, match=message):
        root.accounts.add("a@example.gov.uk", "practitioner", password=password)
    root.accounts.add("b@example.gov.uk", "practitioner", password=GOOD)
    with pytest.raises(WeakPassword, match=message):
        root.accounts.set_password("b@example.gov.uk", password, one_time=False)


def test_the_shipped_list_is_data_in_the_package():
    from ehforms.accounts import common_passwords

    listed = common_passwords()
    assert len(listed) > 10_000
    assert {"password", "qwerty", "iloveyou", "1qaz2wsx3edc"} <= listed
    assert weakness(GOOD) is None and weakness("correct horse battery staple") is None


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    local=st.from_regex(r"[a-z][a-z0-9.]{0,10}", fullmatch=True),
    before=st.text(" \t", max_size=3),
    after=st.text(" \t\n", max_size=3),
    upper=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_emails_are_trimmed_and_compared_case_insensitively(root, local, before, after, upper):
    email = f"{local}@example.gov.uk"
    typed = (
        before + "".join(c.upper() if u else c for c, u in zip(email, upper, strict=False)) + after
    )
    if root.accounts.get(email) is None:
        root.accounts.add(email, "practitioner", password=GOOD)
    assert root.accounts.get(typed).email == email
    with pytest.raises(AccountExists):
        root.accounts.add(typed, "practitioner", password=GOOD)
    assert root.accounts.sign_in(typed, GOOD, "10.0.0.1").email == email


def test_disable_and_a_new_password_need_an_account(root):
    with pytest.raises(UnknownAccount):
        root.accounts.disable("nobody@example.gov.uk")
    with pytest.raises(UnknownAccount):
        root.accounts.set_password("nobody@example.gov.uk", GOOD, one_time=True)


def test_a_one_time_password_is_changed_for_the_persons_own(root):
    root.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    root.accounts.set_password("a@example.gov.uk", OTHER, one_time=False, by="a@example.gov.uk")
    assert root.accounts.get("a@example.gov.uk").must_change_password is False
    with pytest.raises(SignInRefused):
        root.accounts.sign_in("a@example.gov.uk", GOOD, "10.0.0.1")
    assert root.accounts.sign_in("a@example.gov.uk", OTHER, "10.0.0.1").email == "a@example.gov.uk"
    root.accounts.set_password("a@example.gov.uk", GOOD, one_time=True)
    assert root.accounts.get("a@example.gov.uk").must_change_password is True


# -- signing in -------------------------------------------------------------------------


def test_every_refusal_has_one_message(root):
    root.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    root.accounts.add("gone@example.gov.uk", "practitioner", password=GOOD)
    root.accounts.disable("gone@example.gov.uk")
    messages = set()
    for email, password in [
        ("a@example.gov.uk", OTHER),  # wrong password
        ("nobody@example.gov.uk", GOOD),  # no such account
        ("gone@example.gov.uk", GOOD),  # disabled, right password
        ("", ""),
    ]:
        with pytest.raises(SignInRefused) as refused:
            root.accounts.sign_in(email, password, "10.0.0.1")
        messages.add(str(refused.value))
    assert messages == {"Enter a correct email address and password"}
    account = root.accounts.sign_in(" A@example.gov.uk", GOOD, "10.0.0.2")
    assert account.email == "a@example.gov.uk"


class Spy:
    """The hasher, recording every hash it verifies."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self.verified: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(stored)
        return self.hasher.verify(stored, password)

    def __getattr__(self, name):
        return getattr(self.hasher, name)


def test_an_unknown_email_costs_a_real_argon2_check_like_a_wrong_password(root):
    root.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    spy = Spy(root.accounts.hasher)
    root.accounts.hasher = spy
    with pytest.raises(SignInRefused):
        root.accounts.sign_in("nobody@example.gov.uk", GOOD, "10.0.0.1")
    with pytest.raises(SignInRefused):
        root.accounts.sign_in("a@example.gov.uk", OTHER, "10.0.0.1")
    ((stored,),) = rows(root, "SELECT password_hash FROM accounts")
    assert spy.verified == [dummy_hash(), stored]
    # the dummy has the same Argon2 parameters as a real hash: the same work
    assert dummy_hash().split("$")[:4] == stored.split("$")[:4]


def test_failed_sign_ins_are_audited_with_the_typed_email_only_hashed(root):
    typed = "my-secret-password-typed-here"
    with pytest.raises(SignInRefused):
        root.accounts.sign_in(typed, "whatever", "10.0.0.9")
    (row,) = root.audit.rows()
    assert row.action == "sign-in failed"
    assert row.who == "#" + email_hash(typed) and row.detail == "10.0.0.9"
    assert typed not in "\n".join(map(str, rows(root, "SELECT * FROM audit")))
    assert typed not in "\n".join(map(str, rows(root, "SELECT * FROM sign_in_failures")))
    assert root.audit.rows(user=typed.upper()) == [row]
    for path in root.ledger_path.parent.glob("ledger.sqlite3*"):
        assert typed.encode() not in path.read_bytes()


def test_a_growing_delay_after_failures_per_email_and_per_address(root, clock, slept):
    root.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    for _ in range(8):
        with pytest.raises(SignInRefused):
            root.accounts.sign_in("a@example.gov.uk", "wrong-password-x", "10.0.0.1")
    assert slept == [1, 2, 4, 8, 10]  # 3 free tries, then doubling, at most 10 s
    # per email: the same slowing from another address
    slept.clear()
    with pytest.raises(SignInRefused):
        root.accounts.sign_in("a@example.gov.uk", "wrong-password-x", "10.9.9.9")
    assert slept == [10]
    # nobody is locked out: the right password still works (after the wait) and clears it
    slept.clear()
    assert root.accounts.sign_in("a@example.gov.uk", GOOD, "10.8.8.8").email == "a@example.gov.uk"
    assert slept == [10]
    slept.clear()
    root.accounts.sign_in("a@example.gov.uk", GOOD, "10.7.7.7")
    assert slept == []
    # per address: one address trying many emails is slowed too
    for n in range(5):
        with pytest.raises(SignInRefused):
            root.accounts.sign_in(f"guess{n}@example.gov.uk", GOOD, "10.0.0.66")
    assert slept == [1, 2]


def test_failures_older_than_the_window_no_longer_count(root, clock, slept):
    for _ in range(5):
        with pytest.raises(SignInRefused):
            root.accounts.sign_in("a@example.gov.uk", GOOD, "10.0.0.1")
    assert slept == [1, 2]
    clock.advance(minutes=16)
    slept.clear()
    with pytest.raises(SignInRefused):
        root.accounts.sign_in("a@example.gov.uk", GOOD, "10.0.0.1")
    assert slept == []


def test_the_delay_curve():
    assert [delay_for(n) for n in range(10)] == [0, 0, 0, 1, 2, 4, 8, 10, 10, 10]


def test_a_hash_made_with_other_parameters_is_remade_at_sign_in(root):
    root.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(GOOD)
    db = Sql(root.path)
    db.execute("UPDATE accounts SET password_hash = ?", (old,))
    db.commit()
    db.close()
    root.accounts.sign_in("a@example.gov.uk", GOOD, "10.0.0.1")
    ((stored,),) = rows(root, "SELECT password_hash FROM accounts")
    assert stored != old and not root.accounts.hasher.check_needs_rehash(stored)


# -- sessions ---------------------------------------------------------------------------


@pytest.fixture
def signed_in(root):
    root.accounts.add("a@example.gov.uk", "hub", ["mash"], password=GOOD)
    account = root.accounts.sign_in("a@example.gov.uk", GOOD, "10.0.0.1")
    return account, root.accounts.start_session(account)


def test_a_session_is_a_random_token_stored_only_as_its_hash(root, signed_in):
    account, token = signed_in
    assert len(token) >= 40
    assert rows(root, "SELECT token_sha256, email FROM sessions") == [
        (hashlib.sha256(token.encode()).hexdigest(), "a@example.gov.uk")
    ]
    for path in root.ledger_path.parent.glob("ledger.sqlite3*"):
        assert token.encode() not in path.read_bytes()
    session = root.accounts.session(token)
    assert session.account == account and session.started_at == START
    assert root.accounts.start_session(account) != token  # renewed at every sign-in


def test_a_session_ends_after_idle_minutes_without_a_request(root, clock, signed_in):
    _, token = signed_in
    clock.advance(minutes=29)
    assert root.accounts.session(token).last_seen == START + dt.timedelta(minutes=29)
    clock.advance(minutes=29)  # 29 minutes since the last request: still alive
    root.accounts.session(token)
    clock.advance(minutes=31)
    with pytest.raises(SessionEnded) as ended:
        root.accounts.session(token)
    assert ended.value.reason == "inactive"
    clock.advance(seconds=1)
    with pytest.raises(SessionEnded):  # and it stays ended
        root.accounts.session(token)


def test_a_session_ends_after_twelve_hours_however_busy(root, clock, signed_in):
    _, token = signed_in
    for _ in range(12 * 4):
        clock.advance(minutes=15)
        root.accounts.session(token)
    clock.advance(minutes=1)
    with pytest.raises(SessionEnded) as ended:
        root.accounts.session(token)
    assert ended.value.reason == "ended"


def test_idle_minutes_and_session_hours_come_from_the_config(tmp_path, clock):
    make_root(tmp_path)
    opened = Root.open(
        tmp_path, environ={"EHFORMS_WEB__IDLE_MINUTES": "5", "EHFORMS_WEB__SESSION_HOURS": "1"}
    )
    opened.accounts.clock = clock
    opened.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    token = opened.accounts.start_session(opened.accounts.get("a@example.gov.uk"))
    clock.advance(minutes=6)
    with pytest.raises(SessionEnded):
        opened.accounts.session(token)
    opened.close()


@pytest.mark.parametrize(
    ("ending", "every_session"),
    [
        (lambda root, token: root.accounts.end_session(token), False),
        (lambda root, token: root.accounts.disable("a@example.gov.uk"), True),
        (
            lambda root, token: root.accounts.set_password(
                "A@example.gov.uk", OTHER, one_time=True
            ),
            True,
        ),
        (
            lambda root, token: root.accounts.set_password(
                "a@example.gov.uk", OTHER, one_time=False
            ),
            True,
        ),
    ],
    ids=["signed out", "disabled", "password set", "password changed"],
)
def test_a_session_ends_on_sign_out_disable_and_a_new_password(
    root, signed_in, ending, every_session
):
    _, token = signed_in
    other = root.accounts.start_session(root.accounts.get("a@example.gov.uk"))
    ending(root, token)
    with pytest.raises(SessionEnded) as ended:
        root.accounts.session(token)
    assert ended.value.reason == "ended"
    if every_session:  # every session of the account, not only this browser's
        with pytest.raises(SessionEnded):
            root.accounts.session(other)
    else:  # signing out in one browser leaves the person's other session alone
        assert root.accounts.session(other).account.email == "a@example.gov.uk"


def test_an_unknown_token_is_no_session(root):
    for token in ("", "nonsense", "x" * 43):
        with pytest.raises(SessionEnded):
            root.accounts.session(token)
    root.accounts.end_session("nonsense")  # changes nothing, raises nothing


def test_each_account_change_and_sign_in_is_audited(root, clock):
    root.accounts.add("a@example.gov.uk", "hub", ["mash", "triage"], password=GOOD, by="admin")
    account = root.accounts.sign_in("a@example.gov.uk", GOOD, "10.0.0.1")
    token = root.accounts.start_session(account)
    root.accounts.set_password("a@example.gov.uk", OTHER, one_time=False, by="a@example.gov.uk")
    token = root.accounts.start_session(account)
    root.accounts.end_session(token)
    root.accounts.set_password("a@example.gov.uk", GOOD, one_time=True, by="admin")
    root.accounts.disable("a@example.gov.uk", by="admin")
    found = [(r.who, r.action, r.detail) for r in reversed(root.audit.rows())]
    assert found == [
        ("admin", "account added", "a@example.gov.uk: role hub, mailboxes mash, triage"),
        ("a@example.gov.uk", "signed in", "10.0.0.1"),
        ("a@example.gov.uk", "password changed", "a@example.gov.uk"),
        ("a@example.gov.uk", "signed out", None),
        ("admin", "password set", "a@example.gov.uk"),
        ("admin", "account disabled", "a@example.gov.uk"),
    ]


def test_accounts_on_a_folder_that_is_not_a_root(tmp_path):
    from ehforms.errors import RootError

    with pytest.raises(RootError, match="is not a working root"):
        Root.open(tmp_path, environ={}).accounts.list()


def test_old_failures_and_sessions_long_over_are_not_kept(root, clock):
    root.accounts.add("a@example.gov.uk", "practitioner", password=GOOD)
    account = root.accounts.get("a@example.gov.uk")
    old_token = root.accounts.start_session(account)
    with pytest.raises(SignInRefused):
        root.accounts.sign_in("a@example.gov.uk", OTHER, "10.0.0.1")
    clock.advance(days=2)
    with pytest.raises(SignInRefused):
        root.accounts.sign_in("b@example.gov.uk", OTHER, "10.0.0.2")
    assert rows(root, "SELECT address FROM sign_in_failures") == [("10.0.0.2",)]
    root.accounts.start_session(account)
    assert len(rows(root, "SELECT * FROM sessions")) == 1
    with pytest.raises(SessionEnded):
        root.accounts.session(old_token)
    assert [r.action for r in reversed(root.audit.rows())] == [
        "account added",
        "sign-in failed",
        "sign-in failed",
    ]
