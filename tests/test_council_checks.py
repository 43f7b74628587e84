"""The checks a configuration passes when it is loaded: each failure names the key."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import FIXTURES, council_file
from ehforms.cli import cli
from ehforms.config import load_config
from ehforms.errors import ConfigError


def load(tmp_path, text):
    (tmp_path / "ehforms.toml").write_text(council_file(text), encoding="utf-8")
    return load_config(tmp_path, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[timescales]\nallocation_meeting_day = "monday"\n',
            "timescales.allocation_meeting_day is not a setting ehforms knows: did you mean "
            "timescales.allocations_meeting_day? Correct or remove it",
        ),
        (
            'case_sytem_name = "Eclipse ID"\n',
            "case_sytem_name is not a setting ehforms knows: did you mean case_system_name?",
        ),
        ('[hubs.north]\ndistricts = ["M8"]\ndistrcts = ["M9"]\n', "did you mean hubs.north.districts?"),
        ('[levels]\nthree = "Coordinated support"\n', "levels.three must be a level number, like levels.3"),
        (
            '[hubs.north]\ndistricts = ["M8"]\neh_mailbox = "mash"\n',
            "hubs.north.eh_mailbox: mailbox mash already has the role front_door",
        ),
        (
            '[mailboxes.access]\nrole = "front_door"\n[mailboxes.mash]\nrole = "front_door"\n'
            '[mailboxes.triage]\nrole = "fallback"\n',
            'must name exactly one mailbox with role = "front_door" (it has 2)',
        ),
        ('[mailboxes.panel]\nrole = "escalation"\n', "mailboxes.panel.role must be front_door, fallback"),
        ('[hubs.north]\nname = "North"\n', "hubs.north.districts is empty"),
        (
            '[hubs.a]\ncatch_all = true\n[hubs.b]\ncatch_all = true\n',
            "at most one hub may be catch_all = true (a, b)",
        ),
        (
            '[hubs.a]\ndistricts = ["EX"]\n[hubs.b]\ndistricts = ["EX4"]\n',
            "Postcode district EX4 is in two hubs (a and b)",
        ),
        ('[hubs.a]\ndistricts = ["M8"]\n[hubs.b]\ndistricts = ["m8"]\n', "M8 is in two hubs"),
        ('[levels]\n1 = "a"\n2 = "b"\n4 = "c"\n5 = "d"\n', "must be numbered from 1 with no gap"),
        (
            '[levels.1]\nname = "a"\npathway = "universal"\n[levels.2]\nname = "b"\npathway = "mash"\n'
            '[levels.3]\nname = "c"\npathway = "early_help"\n[levels.4]\nname = "d"\npathway = "early_help"\n'
            '[levels.5]\nname = "e"\npathway = "mash"\n',
            "exactly one level must have pathway mash, and it must be the highest",
        ),
        ('[levels]\n1 = "a"\n2 = "b"\n3 = "c"\n', "must go up to level 5, the safeguarding level"),
        ('[levels]\n1 = "a"\n2 = "b"\n4 = "d"\n5 = "e"\n[levels.3]\npathway = "hub"\n', "levels.3.pathway must be universal, early_help or mash"),
        (
            '[hubs.north]\nname = "SET LOCALLY"\ndistricts = ["SET LOCALLY"]\n',
            "ehforms.toml still says SET LOCALLY for hubs.north.name, hubs.north.districts. "
            "Replace each with your council's value",
        ),
        ('[timescales]\nallocations_meeting_day = "someday"\n', "must be a day, like thursday, or none"),
        ('[timescales.due.taf]\nform = "notification"\n', "timescales.due.taf must have hours or working_days"),
        ('[timescales.due.taf]\nform = "letter"\nhours = 2\n', "timescales.due.taf.form must be a form type"),
        ('[forms.transfer]\nhandover_kinds = ["phone_call"]\n', "forms.transfer.handover_kinds: phone_call must be"),
        ('[forms.transfer]\nlevels = [2, 7]\n', "forms.transfer.levels must list declared levels"),
        ('[case_systems]\ntransfer = "eclipse"\n', "case_systems.transfer must be social_care or early_help"),
        ('[alerts.to]\neh-nowhere = ["a@example.gov.uk"]\n', "alerts.to.eh-nowhere names a mailbox that does not exist"),
        ("level_required = \"no\"\n", "level_required must be true or false"),
    ],
)
def test_a_bad_profile_is_named_and_refused(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert message in str(caught.value)


def test_the_printed_contacts_must_be_set(tmp_path):
    (tmp_path / "ehforms.toml").write_text('[hubs.north]\ndistricts = ["M8"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={})
    assert str(caught.value) == (
        "Letters print these, so set them in ehforms.toml: council_name, contacts.email, "
        "contacts.out_of_hours_phone, hubs.north.phone (or contacts.council_phone)"
    )


def test_a_bad_profile_stops_the_command_line_with_exit_2(tmp_path):
    (tmp_path / "ehforms.toml").write_text(
        council_file('[timescales]\nallocation_meeting_day = "monday"\n'), encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["validate", "--root", str(tmp_path), str(FIXTURES / "rfas.json")]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: timescales.allocation_meeting_day is not a setting ehforms knows: did you mean "
        "timescales.allocations_meeting_day? Correct or remove it\n"
    )


def test_a_profile_inherits_nothing_from_the_example(tmp_path):
    config = load(tmp_path, '[hubs.county]\ndistricts = ["WR"]\nphone = "01632 960000"\n')
    assert "Greater Manchester Police" not in config.consent_agencies
    assert "Police" in config.consent_agencies
    assert "0161 496 0500" not in config.contacts.values()  # the example's MASH number
    assert "mash_phone" not in config.contacts
    assert [hub.key for hub in config.hubs] == ["county"]
    assert config.case_system_name == ""
    assert config.council.case_systems["transfer"] == ""
    # the contract's own rules are the neutral timescales and levels
    assert config.written_followup_hours == 48
    assert config.allocations_meeting_weekday == 3
    assert [level.pathway for level in config.council.levels] == [
        "universal", "early_help", "early_help", "early_help", "mash"
    ]


def test_whole_areas_and_a_catch_all_hub(tmp_path):
    config = load(
        tmp_path,
        '[hubs.exeter]\ndistricts = ["EX4"]\nphone = "01632 960001"\n'
        '[hubs.devon]\ndistricts = ["TQ"]\nphone = "01632 960002"\n'
        '[hubs.rest]\ncatch_all = true\nphone = "01632 960003"\n',
    )
    assert config.hub_for_district("EX4").key == "exeter"
    assert config.hub_for_district("TQ12").key == "devon"
    assert config.hub_for_district("TQ1").key == "devon"
    assert config.hub_for_district("EX1").key == "rest"
    assert config.hub_for_district("M8").key == "rest"


def test_mailboxes_have_roles_and_display_names(tmp_path):
    config = load(
        tmp_path,
        '[mailboxes.access-centre]\ndisplay_name = "Children\'s Social Care Access Centre"\n'
        'role = "front_door"\n[mailboxes.hub]\ndisplay_name = "Early Help Hub"\nrole = "fallback"\n'
        '[mailboxes.dap]\ndisplay_name = "District Access Panel"\nrole = "extra"\n',
    )
    # a profile's [mailboxes] replaces the neutral mash and triage: here, three of its own
    assert config.mash_mailbox == "access-centre"
    assert config.triage_mailbox == "hub"
    assert config.council.front_door_name == "Children's Social Care Access Centre"
    assert "dap" in config.mailboxes


def test_an_allocations_meeting_may_be_none(tmp_path):
    config = load(tmp_path, '[timescales]\nallocations_meeting_day = "none"\n')
    assert config.allocations_meeting_weekday is None


def test_a_required_field_the_form_does_not_have_is_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[forms.transfer]\nrequired = ["case_discusion"]\n')
    assert str(caught.value) == (
        "forms.transfer.required: case_discusion is not a field of the transfer form. "
        "Check its spelling"
    )
    config = load(tmp_path, '[forms.transfer]\nrequired = ["case_discussion.rationale"]\n')
    assert config.council.rules("transfer").required == ("case_discussion.rationale",)


def test_a_form_title_names_the_practitioner_form(tmp_path):
    from ehforms.core import Root
    from ehforms.setup import init_root

    (tmp_path / "ehforms.toml").write_text(
        council_file('[hubs.a]\ndistricts = ["M8"]\n[forms.transfer]\ntitle = "Step Down Clinic referral"\n'),
        encoding="utf-8",
    )
    init_root(tmp_path)
    title, content = Root.open(tmp_path, environ={}).practitioner_form("transfer", "json")
    assert title == "Step Down Clinic referral"


def test_environment_settings_are_checked_but_secrets_are_not_settings(tmp_path):
    (tmp_path / "ehforms.toml").write_text(council_file(), encoding="utf-8")
    secrets = {"EHFORMS_SMTP_PASSWORD": "x", "EHFORMS_LEDGER_PASSWORD": "y"}
    assert load_config(tmp_path, environ=secrets).council_name == "Test Borough Council"
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={"EHFORMS_TIMESCALES__WRITEN_FOLLOWUP_HOURS": "24"})
    assert "did you mean timescales.written_followup_hours?" in str(caught.value)
