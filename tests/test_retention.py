"""Keeping and deleting, decided (ehforms.retention, pure) and configured ([retention])."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from zoneinfo import ZoneInfo

import pytest
import tomli_w

from conftest import council_file
from ehforms.config import Retention, load_config
from ehforms.errors import ConfigError
from ehforms.retention import (
    ARCHIVED,
    HANDLED,
    REJECTED,
    children_of,
    due,
    held,
    kept_after_withdrawal,
    past,
    purge_due,
    renews_consent,
    submission_of,
    withdrawal,
)
from profile_helpers import PROFILES, localise

NOW = dt.datetime(2027, 6, 1, 2, 0, tzinfo=dt.UTC)
SID = "01M86CH3M0CVF3KHY2KSHQ2CMS"


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


def test_each_kind_is_kept_for_its_own_days():
    rules = Retention(done_days=90, rejected_days=30, archive_days=60)
    assert due(HANDLED, days_ago(90), None, rules, NOW)
    assert not due(HANDLED, days_ago(89.9), None, rules, NOW)
    assert due(REJECTED, days_ago(30), None, rules, NOW)
    assert not due(REJECTED, days_ago(29), None, rules, NOW)
    assert due(ARCHIVED, days_ago(61), None, rules, NOW)
    assert not due(ARCHIVED, days_ago(59), None, rules, NOW)


def test_nothing_is_deleted_on_a_guess_and_a_hold_keeps_everything():
    rules = Retention(hold=frozenset({"MC204811"}))
    assert not past(None, 1, NOW)  # a start that is not known
    assert not due(HANDLED, days_ago(10_000), "MC204811", rules, NOW)
    assert held(" MC204811 ", rules) and not held("MC000001", rules) and not held(None, rules)
    assert due(HANDLED, days_ago(10_000), "MC000001", rules, NOW)


def test_a_purge_needs_a_time_zone():
    with pytest.raises(ValueError, match="time zone"):
        past(days_ago(1), 1, NOW.replace(tzinfo=None))


def test_the_submission_id_a_folder_or_archive_entry_carries():
    assert submission_of(f"20261124-090000_transfer_MC204811_{SID}") == SID
    assert submission_of(f".purging-20261124-090000_rfas_{SID}") == SID
    assert submission_of(SID) == SID
    assert submission_of(f"{SID}-01M86CH3M0CVF3KHY2KSHQ2CMT") == SID
    assert submission_of("notes from the hub") is None
    assert submission_of("20261124-090000_transfer_" + "I" * 26) is None  # not a ULID


def test_watch_purges_once_a_local_day():
    london = ZoneInfo("Europe/London")
    assert purge_due(None, NOW, london)
    ran = dt.datetime(2027, 6, 1, 0, 30, tzinfo=dt.UTC)  # 01:30 in London, 1 June
    assert not purge_due(ran, dt.datetime(2027, 6, 1, 22, 59, tzinfo=dt.UTC), london)
    # 00:00 in London on 2 June is 23:00 UTC on 1 June
    assert purge_due(ran, dt.datetime(2027, 6, 1, 23, 0, tzinfo=dt.UTC), london)


def closure(reason: str, day: str) -> dict:
    return {"closure_reason": reason, "closure_date": day, "case_id": "MC1"}


def consenting(day: str, given: bool = True) -> dict:
    return {"consent": {"given": given, "date": day}}


def test_a_withdrawal_of_consent_and_what_lifts_it():
    assert withdrawal("closure", closure("consent_withdrawn", "2026-11-20")) == "2026-11-20"
    assert withdrawal("closure", closure("outcomes_met", "2026-11-20")) is None
    assert withdrawal("rfas", closure("consent_withdrawn", "2026-11-20")) is None
    assert renews_consent(consenting("2026-11-21"), "2026-11-20")
    assert not renews_consent(consenting("2026-11-20"), "2026-11-20")  # the same day: not after
    assert not renews_consent(consenting("2026-12-01", given=False), "2026-11-20")
    assert not renews_consent({"consent_not_sought_reason": "risk"}, "2026-11-20")


def test_what_is_kept_after_a_withdrawal():
    before = ("notification", consenting("2026-06-30"))
    withdrawn = ("closure", closure("consent_withdrawn", "2026-11-20"))
    old_consent = ("rfas", consenting("2026-06-30"))
    renewed = ("notification", consenting("2026-12-02"))
    later = ("rfas", consenting("2026-06-30"))
    assert kept_after_withdrawal([before, withdrawn], "2026-11-20") == 2  # nothing
    assert kept_after_withdrawal([before, withdrawn, old_consent], "2026-11-20") == 3
    assert kept_after_withdrawal([before, withdrawn, renewed, later], "2026-11-20") == 2
    again = ("closure", closure("consent_withdrawn", "2026-12-10"))
    assert kept_after_withdrawal([before, withdrawn, renewed, again], "2026-12-10") == 4


def test_the_children_a_form_names():
    form = {
        "children": [
            {"given_name": " Wren ", "family_name": "Ashdown", "date_of_birth": "2016-04-12"},
            {"given_name": "Unborn", "family_name": "Ashdown"},  # no date of birth
            "not a child",
        ]
    }
    assert children_of(form) == {("wren", "ashdown", "2016-04-12")}
    assert children_of(None) == set() and children_of({"children": "x"}) == set()


# -- [retention] in the configuration ----------------------------------------------------


def test_the_contracts_defaults():
    rules = load_config(None, environ={}).retention
    assert rules == Retention(90, 30, 90, 365, 2190, frozenset())
    assert load_config(None, environ={}).case_days == 365


def test_the_file_then_the_environment(tmp_path):
    (tmp_path / "ehforms.toml").write_text(
        council_file('[retention]\ndone_days = 60\ncase_days = 200\nhold = ["MC204811"]\n')
    )
    config = load_config(tmp_path, environ={"EHFORMS_RETENTION__DONE_DAYS": "45"})
    assert config.retention.done_days == 45  # the environment wins over the file
    assert config.case_days == 200 and config.retention.hold == frozenset({"MC204811"})
    assert config.retention.rejected_days == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("done_days = 0", "retention.done_days must be a whole number of days, like 90"),
        ("audit_days = 1.5", "retention.audit_days must be a whole number of days, like 90"),
        ("case_days = true", "retention.case_days must be a whole number of days, like 90"),
        ('hold = "MC1"', 'retention.hold must be a list of case references, like ["MC204811"]'),
        ("hold = [1]", 'retention.hold must be a list of case references, like ["MC204811"]'),
        ("done_dayz = 3", "done_dayz"),
    ],
)
def test_a_bad_retention_setting_is_named(tmp_path, text, message):
    (tmp_path / "ehforms.toml").write_text(council_file(f"[retention]\n{text}\n"))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(tmp_path, environ={})


@pytest.mark.parametrize("name", PROFILES)
def test_every_council_profile_accepts_retention(tmp_path, name):
    data = tomllib.loads(localise(name))
    data["retention"] = {"done_days": 120, "hold": ["REF-1"], "audit_days": 2555}
    (tmp_path / "ehforms.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    rules = load_config(tmp_path, environ={}).retention
    assert (rules.done_days, rules.audit_days, rules.archive_days) == (120, 2555, 90)
    assert rules.hold == frozenset({"REF-1"})
    assert json.dumps(sorted(rules.hold)) == '["REF-1"]'
