"""Shared fixtures. Every form here is synthetic: names and addresses are made up, telephone
numbers are from Ofcom's drama range and NHS numbers are test numbers."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
# A fixed time of receipt: every example form is valid and routes the same way at this time.
RECEIVED = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
FORM_TYPES = ("notification", "rfas", "transfer", "marf", "closure")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No EHFORMS_* setting from the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("EHFORMS_"):
            monkeypatch.delenv(name)


def load_example(form_type: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{form_type}.json").read_text(encoding="utf-8"))


@pytest.fixture
def example() -> Callable[[str], dict[str, Any]]:
    """A fresh copy of an example form, to change in a test."""
    return lambda form_type: copy.deepcopy(load_example(form_type))


def council_file(text: str = "") -> str:
    """An ``ehforms.toml`` with ``text`` and what the letters print (a council name and its
    contacts): a file without them refuses to load."""
    return (
        'council_name = "Test Borough Council"\n'
        + text
        + '\n[contacts]\nemail = "earlyhelp@example.gov.uk"\n'
        'out_of_hours_phone = "0161 496 0999"\ncouncil_phone = "0161 496 0000"\n'
    )


# The ledger every test runs against (--ledger=sqlite|postgresql): see tests/ledgers.py.
from ledgers import (  # noqa: E402
    ledger_database,  # noqa: F401
    postgres,  # noqa: F401
    pytest_addoption,  # noqa: F401
    pytest_collection_modifyitems,  # noqa: F401
    pytest_configure,  # noqa: F401
    pytest_report_header,  # noqa: F401
)
