"""The council profiles ehforms ships: each loads once its SET LOCALLY keys are set, init writes
it, and the safeguarding rule holds whatever a profile says."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from conftest import REPO
from ehforms.cli import cli
from ehforms.config import DEFAULTS, build_config, load_config
from ehforms.errors import ConfigError
from ehforms.profiles import profile_names, profile_text, set_locally
from profile_helpers import PROFILES, localised

# What each profile must leave to the council, as the contract's table says.
SET_LOCALLY = {
    "devon": {
        "levels.1.name", "levels.3.name", "levels.4.name", "levels.5.name",
        "hubs.locality.name", "hubs.locality.districts", "hubs.locality.phone",
        "timescales.written_followup_hours", "timescales.allocations_meeting_day",
        "timescales.allocations_meeting_time", "timescales.step_down_return_months",
        "timescales.assessment_max_age_months",
        "contacts.council_phone", "contacts.out_of_hours_phone", "contacts.email",
    },
    "manchester": {
        "hubs.hub.name", "hubs.hub.districts", "hubs.hub.phone",
        "timescales.allocations_meeting_time",
        "contacts.council_phone", "contacts.out_of_hours_phone", "contacts.email",
        "consent.agencies",
    },
    "worcestershire": {
        "case_systems.social_care", "case_systems.early_help",
        "hubs.early-help.districts", "hubs.early-help.phone",
        "timescales.allocations_meeting_day", "timescales.allocations_meeting_time",
        "contacts.mash_phone", "contacts.council_phone", "contacts.out_of_hours_phone",
        "contacts.email", "consent.agencies",
    },
    "ehm-lcs": {
        "council_name",
        "hubs.family-worker-team.districts", "hubs.family-worker-team.phone",
        "contacts.mash_phone", "contacts.council_phone", "contacts.out_of_hours_phone",
        "contacts.email", "consent.agencies",
    },
    "example": set(),
}


def test_the_shipped_profiles_are_the_contracts_five():
    assert profile_names() == sorted(PROFILES) == sorted(SET_LOCALLY)


@pytest.mark.parametrize("name", PROFILES)
def test_set_locally_is_exactly_where_the_guidance_is_silent(name):
    data = tomllib.loads(profile_text(name))
    assert set(set_locally(data)) == SET_LOCALLY[name]
    assert data["profile"] == name


@pytest.mark.parametrize("name", [n for n in PROFILES if n != "example"])
def test_a_profile_refuses_to_load_until_its_keys_are_set(tmp_path, name):
    (tmp_path / "ehforms.toml").write_text(profile_text(name), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={})
    message = str(caught.value)
    assert message.startswith("ehforms.toml still says SET LOCALLY for ")
    assert message.endswith(". Replace each with your council's value")
    for key in SET_LOCALLY[name]:
        assert key in message


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads_once_set(tmp_path, name):
    config = localised(tmp_path, name)
    assert config.council.front_door == config.mash_mailbox
    assert max(config.levels) == 5


def test_the_example_profile_is_todays_defaults(tmp_path):
    (tmp_path / "ehforms.toml").write_text(profile_text("example"), encoding="utf-8")
    example = load_config(tmp_path, environ={})
    defaults = build_config(DEFAULTS)
    assert example == defaults
    assert tomllib.loads((REPO / "ehforms.toml").read_text(encoding="utf-8")) == DEFAULTS


def test_ehforms_profiles_lists_them(tmp_path):
    result = CliRunner().invoke(cli, ["profiles"])
    assert result.exit_code == 0
    names = [line.split(":")[0] for line in result.output.splitlines()]
    assert names == ["devon", "ehm-lcs", "example", "manchester", "worcestershire"]
    assert "devon: Devon County Council (guidance 000, 001)" in result.output


def test_init_with_a_profile_writes_it_and_lists_what_to_set(tmp_path):
    root = tmp_path / "devon"
    result = CliRunner().invoke(cli, ["init", str(root), "--profile", "devon"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [f"Made {root}", f"Wrote {root / 'ehforms.toml'} (council profile devon)"]
    assert lines[2].startswith(f"Before ehforms can use {root}, set these keys in ")
    assert "hubs.locality.districts" in lines[2] and "contacts.email" in lines[2]
    assert lines[3] == f"Then run ehforms init {root} again to make the mailboxes"
    text = (root / "ehforms.toml").read_text(encoding="utf-8")
    assert text == profile_text("devon") and 'profile = "devon"' in text
    assert (root / "templates" / "consent-letter.html").is_file()
    assert not (root / "outbox").exists()
    # the root refuses to run until the keys are set
    process = CliRunner().invoke(cli, ["process", "--root", str(root)])
    assert process.exit_code == 2
    assert "still says SET LOCALLY for" in process.stderr
    # once set, init again makes the mailboxes
    from profile_helpers import localise

    (root / "ehforms.toml").write_text(localise("devon"), encoding="utf-8")
    again = CliRunner().invoke(cli, ["init", str(root)])
    assert again.exit_code == 0, again.output
    assert "Made outbox/mash/done/" in again.output
    assert "Made outbox/eh-locality/done/" in again.output


def test_init_refuses_an_unknown_profile(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "x"), "--profile", "devonshire"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: There is no council profile called devonshire. Choose one of: devon, ehm-lcs, "
        "example, manchester, worcestershire\n"
    )
    assert not (tmp_path / "x").exists()


def test_init_without_a_profile_is_the_example(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "ehforms.toml").read_text(encoding="utf-8") == profile_text("example")


def test_init_copies_a_profiles_template_overrides_over_the_shipped_ones(tmp_path, monkeypatch):
    import ehforms.setup

    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "consent-letter.html").write_text("<p>{{ council }}: our own letter</p>")
    monkeypatch.setattr(ehforms.setup, "profile_templates", lambda name: overrides)
    root = tmp_path / "root"
    result = CliRunner().invoke(cli, ["init", str(root), "--profile", "example"])
    assert result.exit_code == 0, result.output
    templates = root / "templates"
    assert (templates / "consent-letter.html").read_text() == (
        "<p>{{ council }}: our own letter</p>"
    )
    assert (templates / "consent-letter.docx").is_file()  # the rest are the shipped ones
    assert (templates / "style.css").is_file()


def test_init_refuses_another_profile_over_a_root(tmp_path):
    root = tmp_path / "root"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    result = CliRunner().invoke(cli, ["init", str(root), "--profile", "devon"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {root / 'ehforms.toml'} is already there, from another profile. Leave out "
        "--profile to complete this root, or choose a new folder\n"
    )
