"""A root's template overrides must render the sample forms before it processes anything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import load_example
from ehforms.cli import cli
from ehforms.core import Root
from ehforms.overrides import CHECKED, overridden
from helpers import drop, make_root


def test_shipped_templates_are_not_overrides(tmp_path):
    make_root(tmp_path)
    assert overridden(tmp_path) == {}


def test_a_broken_override_stops_process_with_exit_2_and_names_the_document(tmp_path):
    make_root(tmp_path)
    letter = tmp_path / "templates" / "consent-letter.html"
    good = letter.read_text(encoding="utf-8")
    letter.write_text("<p>{{ council }</p>", encoding="utf-8")  # a Jinja syntax error
    drop(tmp_path, "n.json", load_example("notification"))
    result = CliRunner().invoke(cli, ["process", "--root", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: The templates in {tmp_path / 'templates'} do not render the sample "
        "notification (notification.json): the consent letter could not be made ("
    )
    assert result.stderr.endswith(
        "Correct the template, or delete it to use the one ehforms ships\n"
    )
    assert (tmp_path / "inbox" / "n.json").exists()  # nothing processed
    letter.write_text(good.replace("Yours sincerely", "With best wishes"), encoding="utf-8")
    root = Root.open(tmp_path, environ={})
    batch = root.process(workers=1)
    assert len(batch.results) == 1
    assert (tmp_path / ".ehforms" / CHECKED).is_file()  # these overrides are not checked again


def test_an_override_that_renders_is_remembered(tmp_path, monkeypatch):
    make_root(tmp_path)
    (tmp_path / "templates" / "style.css").write_text("body { color: black; }", encoding="utf-8")
    root = Root.open(tmp_path, environ={})
    root.process(workers=1)
    import ehforms.overrides

    def no_render(*_args, **_kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(ehforms.overrides, "renderer_for", no_render)
    root.process(workers=1)  # the same overrides: not rendered again
    (tmp_path / "templates" / "style.css").write_text("body { color: navy; }", encoding="utf-8")
    with pytest.raises(AssertionError, match="rendered again"):
        root.process(workers=1)  # changed overrides are checked again
