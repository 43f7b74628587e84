"""Fixtures for the web tests: a processed root with accounts (see ``web_support``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgers import keep_ledger
from web.web_support import build, clone

SAMPLES = Path(__file__).parents[2] / "src" / "ehforms" / "samples"


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The processed root with accounts, made once; tests use a copy (``web_root``)."""
    folder = tmp_path_factory.mktemp("web-template") / "root"
    with keep_ledger(folder):  # on PostgreSQL, a database of its own
        return build(folder, SAMPLES)


@pytest.fixture
def web_root(web_template: Path, tmp_path: Path) -> Path:
    return clone(web_template, tmp_path / "root")
