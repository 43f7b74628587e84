"""The web face's settings in layers (defaults, the root's [web] table, EHFORMS_WEB_*, the
caller's), and serve's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehforms.errors import ConfigError
from ehforms.setup import init_root
from ehforms.web import create_app, serve
from ehforms.web.settings import default_assets, load


def web_table(root, lines: str) -> None:
    """Add ``lines`` to the [web] table of the root's ehforms.toml (``init`` writes one)."""
    toml = root / "ehforms.toml"
    text = toml.read_text(encoding="utf-8")
    if "\n[web]\n" in text:
        text = text.replace("\n[web]\n", "\n[web]\n" + lines, 1)
    else:
        text += "\n[web]\n" + lines
    toml.write_text(text, encoding="utf-8")


def test_defaults_then_the_toml_then_the_environment_then_the_caller(tmp_path):
    init_root(tmp_path / "root")
    root = tmp_path / "root"
    assert load(root, {}, {})["PAGE_SIZE"] == 50
    assert load(root, {}, {})["ASSETS_DIR"] == str(default_assets())
    web_table(root, 'page_size = 20\ntrusted_proxy = "10.1.2.3"\nidle_minutes = 15\n')
    assert load(root, {}, {})["PAGE_SIZE"] == 20
    assert load(root, {}, {})["TRUSTED_PROXY"] == ("10.1.2.3",)
    environ = {"EHFORMS_WEB_PAGE_SIZE": "10", "EHFORMS_WEB_TRUSTED_PROXY": '["10.9.9.9"]'}
    assert load(root, environ, {})["PAGE_SIZE"] == 10
    assert load(root, environ, {})["TRUSTED_PROXY"] == ("10.9.9.9",)
    assert load(root, environ, {"page_size": 3})["PAGE_SIZE"] == 3
    assert load(root, {"EHFORMS_WEB_SECRET_KEY": "k" * 40}, {})["SECRET_KEY"] == "k" * 40
    assert len(load(root, {}, {})["SECRET_KEY"]) == 64  # made at random when not given
    # the core reads idle_minutes for sessions; the signed-out page says the same number
    app = create_app(root, environ={})
    assert app.extensions["ehforms.root"].config.idle_minutes == 15


def test_a_secret_in_the_toml_file_and_a_bad_page_size_are_refused(tmp_path):
    init_root(tmp_path / "root")
    root = tmp_path / "root"
    with pytest.raises(ConfigError, match="page_size"):
        load(root, {"EHFORMS_WEB_PAGE_SIZE": "0"}, {})
    web_table(root, 'secret_key = "written down"\n')
    with pytest.raises(ConfigError, match="EHFORMS_WEB_SECRET_KEY") as refused:
        load(root, {}, {})
    assert "written down" not in str(refused.value)


def test_serve_refuses_plain_http_on_an_address_other_than_loopback(tmp_path):
    init_root(tmp_path / "root")
    with pytest.raises(ConfigError, match="loopback"):
        serve(tmp_path / "root", host="0.0.0.0", port=0, insecure_http=True)  # noqa: S104


def test_demo_accounts_are_made_only_in_the_demo_root(tmp_path):
    from ehforms.errors import EhformsError
    from ehforms.web.demo import CHECKOUT, prepare

    init_root(tmp_path / "root")
    with pytest.raises(EhformsError, match="only in the demo root"):
        prepare(tmp_path / "root")
    from ehforms.core import Root

    with Root.open(tmp_path / "root") as root:
        assert root.accounts.list() == []
    assert Path(__file__).resolve().parents[2] == CHECKOUT


def test_the_servers_temporary_files_go_under_the_root(tmp_path, monkeypatch):
    # waitress buffers a large body in a temporary file: it must be under the root, 0700
    import os
    import stat
    import tempfile

    from waitress.buffers import TempfileBasedBuffer

    from ehforms.core import Root
    from ehforms.web.server import temporary_files_under

    init_root(tmp_path / "root")
    monkeypatch.setattr(tempfile, "tempdir", None)
    with Root.open(tmp_path / "root", environ={}) as root:
        temporary_files_under(root)
    folder = tmp_path / "root" / ".ehforms" / "tmp"
    assert tempfile.gettempdir() == str(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    buffer = TempfileBasedBuffer()  # what waitress makes for a body over its memory limit
    try:
        buffer.append(b"x" * 1024)
        where = os.readlink(f"/proc/self/fd/{buffer.file.fileno()}")
        assert where.startswith(str(folder) + "/"), where
    finally:
        buffer.close()
