import datetime as dt
import tomllib

import pytest

from conftest import council_file
from ehforms.config import DEFAULTS, build_config, default_toml, env_overrides, load_config
from ehforms.errors import ConfigError


def test_the_defaults_describe_three_hubs_and_their_mailboxes():
    config = load_config(None, environ={})
    assert [hub.key for hub in config.hubs] == ["north", "central", "south"]
    assert config.mailboxes == (
        "eh-north",
        "sw-north",
        "eh-central",
        "sw-central",
        "eh-south",
        "sw-south",
        "mash",
        "triage",
    )
    assert config.hub_for_district("M11").key == "central"
    assert config.hub_for_district("M8").key == "north"
    assert config.hub_for_district("M60") is None
    assert config.case_system_name == "Micare ID"
    assert config.levels[5] == "Risk of, or suffering, significant harm"
    assert config.max_file_bytes == 5 * 1024 * 1024
    assert config.file_mode == 0o640 and config.dir_mode == 0o750
    assert config.written_followup_hours == 48
    assert config.allocations_meeting_weekday == 3  # Thursday


def test_the_toml_file_overrides_the_defaults(tmp_path):
    (tmp_path / "ehforms.toml").write_text(
        council_file('case_system_name = "Eclipse ID"\n[timescales]\nwritten_followup_hours = 24\n')
    )
    config = load_config(tmp_path, environ={})
    assert config.case_system_name == "Eclipse ID"
    assert config.written_followup_hours == 24
    assert config.allocations_meeting_weekday == 3  # the contract's Thursday, left out: neutral


def test_hubs_in_the_toml_file_replace_the_default_hubs(tmp_path):
    (tmp_path / "ehforms.toml").write_text(
        council_file('[hubs.east]\ndistricts = ["m18", "M43"]\n[hubs.west]\ndistricts = ["M5"]\n')
    )
    config = load_config(tmp_path, environ={})
    assert [hub.key for hub in config.hubs] == ["east", "west"]
    assert config.hub("east").districts == ("M18", "M43")
    assert config.hub("east").eh_mailbox == "eh-east"


def test_the_environment_overrides_the_file(tmp_path, monkeypatch):
    (tmp_path / "ehforms.toml").write_text(council_file('case_system_name = "Eclipse ID"\n'))
    monkeypatch.setenv("EHFORMS_CASE_SYSTEM_NAME", "Liquidlogic ID")
    monkeypatch.setenv("EHFORMS_TIMESCALES__WRITTEN_FOLLOWUP_HOURS", "36")
    monkeypatch.setenv("EHFORMS_MAX_FILE_BYTES", "2048")
    config = load_config(tmp_path)
    assert config.case_system_name == "Liquidlogic ID"
    assert config.written_followup_hours == 36
    assert config.max_file_bytes == 2048


def test_ehforms_config_names_another_file(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.toml"
    other.write_text(council_file('timezone = "Europe/Dublin"\n'))
    monkeypatch.setenv("EHFORMS_CONFIG", str(other))
    assert str(load_config(None).timezone) == "Europe/Dublin"
    monkeypatch.setenv("EHFORMS_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="which does not exist"):
        load_config(None)


def test_env_overrides_read_json_values_and_nest_on_double_underscores():
    assert env_overrides(
        {"EHFORMS_A__B": "3", "EHFORMS_C": "text", "EHFORMS_D": "[1, 2]", "OTHER": "x"}
    ) == {"a": {"b": 3}, "c": "text", "d": [1, 2]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "is not a known time zone"),
        ({"file_mode": "0644"}, "file_mode must not give access to everyone"),
        ({"dir_mode": "rwx"}, "dir_mode must be an octal file mode"),
        ({"timescales": {"allocations_meeting_day": "caturday"}}, "must be a day, like thursday"),
        (
            {"hubs": {"north": {"districts": ["M4"]}, "south": {"districts": ["m4"]}}},
            r"Postcode district M4 is in two hubs \(north and south\)",
        ),
        ({"hubs": {"north": {"districts": ["Manchester"]}}}, "is not a postcode district"),
        ({"hubs": {"North Hub": {"districts": ["M4"]}}}, "must be a mailbox folder name"),
        ({"max_file_bytes": "big"}, "max_file_bytes must be a number"),
    ],
)
def test_a_bad_setting_is_named(change, message):
    from ehforms.config import deep_merge

    data = deep_merge(DEFAULTS, change)
    if "hubs" in change:
        data["hubs"] = change["hubs"]
    with pytest.raises(ConfigError, match=message):
        build_config(data)


def test_a_broken_toml_file_is_named(tmp_path):
    (tmp_path / "ehforms.toml").write_text("case_system_name = \n")
    with pytest.raises(ConfigError, match="ehforms.toml is not valid TOML"):
        load_config(tmp_path, environ={})


def test_the_file_init_writes_holds_every_default():
    assert tomllib.loads(default_toml()) == DEFAULTS


def test_a_config_timezone_is_usable():
    config = load_config(None, environ={})
    assert dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC).astimezone(config.timezone).day == 2


def test_the_repository_root_config_is_the_default():
    from conftest import REPO

    assert tomllib.loads((REPO / "ehforms.toml").read_text(encoding="utf-8")) == DEFAULTS


def test_limits_default_to_the_contract():
    config = load_config(None, environ={})
    assert config.max_messages == 100
    assert config.max_file_bytes == 5 * 1024 * 1024


def test_limits_form_bytes_is_the_new_name_of_max_file_bytes(tmp_path, monkeypatch):
    # a file written by an older `ehforms init` keeps max_file_bytes at the top level
    (tmp_path / "ehforms.toml").write_text(council_file("max_file_bytes = 2048\n"))
    assert load_config(tmp_path, environ={}).max_file_bytes == 2048
    (tmp_path / "ehforms.toml").write_text(
        council_file("max_file_bytes = 2048\n[limits]\nform_bytes = 4096\nmessages = 25\n")
    )
    config = load_config(tmp_path, environ={})
    assert (config.max_file_bytes, config.max_messages) == (4096, 25)
    monkeypatch.setenv("EHFORMS_LIMITS__FORM_BYTES", "8192")
    monkeypatch.setenv("EHFORMS_LIMITS__MESSAGES", "50")
    config = load_config(tmp_path)
    assert (config.max_file_bytes, config.max_messages) == (8192, 50)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"messages": 1}, "limits.messages must be a number of at least 2"),
        ({"messages": "many"}, "limits.messages must be a number"),
        ({"form_bytes": 10}, "limits.form_bytes must be a number of at least 1024"),
        ("5 MB", r"\[limits\] must be a table"),
    ],
)
def test_a_bad_limit_is_named(limits, message):
    from ehforms.config import deep_merge

    with pytest.raises(ConfigError, match=message):
        build_config(deep_merge(DEFAULTS, {"limits": limits}))
