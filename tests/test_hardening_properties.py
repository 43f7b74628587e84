"""Generated hostile inboxes through a real Postroom: random bytes, names that are not text,
every encoding the intake reads, damaged risk forms. Whatever arrives: no crash, exactly one
outcome per file, and every risk form in MASH."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FORM_TYPES, RECEIVED, load_example
from ehforms.config import load_config
from ehforms.files import display_name
from ehforms.names import ignored
from ehforms.pipeline import Postroom
from ehforms.setup import init_root
from ledgers import Sql, own_database

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be")


def _name_ok(raw: bytes) -> bool:
    if b"/" in raw or b"\0" in raw or raw in (b".", b".."):
        return False
    return not ignored(os.fsdecode(raw))


names = st.binary(min_size=1, max_size=40).filter(_name_ok)


@st.composite
def risk_forms(draw) -> bytes:
    """A notification that says risk, written any way a sender might, perhaps cut short."""
    form = load_example("notification")
    form.pop("risk_of_significant_harm")
    said = draw(st.sampled_from([True, "true", "yes", "Y", 1, "1"]))
    unique = draw(st.integers(0, 10**9))
    text = json.dumps(
        {"form_type": "notification", "risk_of_significant_harm": said, **form, "n": unique}
    )
    if draw(st.booleans()):  # damaged: cut somewhere after the risk field
        start = text.index("risk_of_significant_harm") + 40
        text = text[: draw(st.integers(start, len(text) - 1))]
    encoding = draw(st.sampled_from(ENCODINGS))
    bom = b"\xff\xfe" if encoding == "utf-16-le" and draw(st.booleans()) else b""
    return bom + text.encode(encoding)


@st.composite
def other_forms(draw) -> bytes:
    form = load_example(draw(st.sampled_from(FORM_TYPES)))
    form["n"] = draw(st.integers(0, 10**9))  # an unknown field: rejected, unless a MARF
    if draw(st.booleans()):
        del form["n"]
    return json.dumps(form).encode(draw(st.sampled_from(ENCODINGS)))


contents = st.one_of(
    st.tuples(st.just(False), st.binary(max_size=3000)),
    st.tuples(st.just(False), other_forms()),
    st.tuples(st.just(True), risk_forms()),
)
inboxes = st.dictionaries(names, contents, min_size=1, max_size=6)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(inbox=inboxes)
def test_any_inbox_ends_with_one_outcome_per_file_and_risk_in_mash(inbox):
    base = Path(tempfile.mkdtemp(prefix="ehforms-prop-"))
    with own_database():
        check_any_inbox(base, inbox)


def check_any_inbox(base: Path, inbox) -> None:
    try:
        root = base / "root"
        init_root(root)
        for raw_name, (_, data) in inbox.items():
            with open(os.path.join(os.fsencode(root / "inbox"), raw_name), "wb") as handle:
                handle.write(data)
        config = load_config(root, environ={})
        with Postroom(root, config, workers=1, clock=lambda: RECEIVED) as room:
            results = room.run()
        assert all(r.outcome is not None for r in results)
        assert os.listdir(root / "inbox") == []
        assert os.listdir(root / ".ehforms" / "processing") == []
        ledger = Sql(root)
        rows = ledger.execute("SELECT source, state, status, mailboxes FROM submissions").fetchall()
        ledger.close()
        by_source = {source: (state, status, mailboxes) for source, state, status, mailboxes in rows}
        assert len(rows) == len(inbox) == len(by_source)
        primaries = 0
        for raw_name, (risk, data) in inbox.items():
            state, status, mailboxes = by_source[display_name(os.fsdecode(raw_name))]
            assert state == "done"
            boxes = json.loads(mailboxes)
            if risk:
                assert boxes[:1] == ["mash"], (raw_name, data[:80])
            primaries += 1
        receipts = list((root / "outbox").glob("*/[!.]*/receipt.json")) + list(
            (root / "rejected").glob("[!.]*/receipt.json")
        )
        primary = [
            r
            for r in receipts
            if (json.loads(r.read_text())["mailboxes"] or ["rejected"])[0]
            == r.parent.parent.name
        ]
        assert len(primary) == primaries
    finally:
        shutil.rmtree(base)
