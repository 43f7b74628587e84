"""Each council's situations, as its guidance describes them (synthetic forms), put through
``process`` on a root made from its profile: routes, dues, notes and the documents' words."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from docx import Document

from conftest import RECEIVED, load_example
from ehforms.core import Root
from ehforms.setup import init_root
from helpers import drop, primary
from profile_helpers import PROFILES, foreign_words, localise, localise_form


def council_root(path: Path, name: str) -> Root:
    path.mkdir(exist_ok=True)
    (path / "ehforms.toml").write_text(localise(name), encoding="utf-8")
    init_root(path)
    return Root.open(path, environ={})


def run(root: Root, forms: dict[str, dict[str, Any]], at: dt.datetime = RECEIVED) -> dict:
    """Process ``forms`` (name: form); each one's primary receipt, by name."""
    for name, form in forms.items():
        drop(root.path, f"{name}.json", form)
    root.process(workers=1, received_at=at)
    by_case = {}
    for receipts in primary(root.path).values():
        (receipt,) = receipts
        by_case[Path(receipt["source"]).stem] = receipt
    return by_case


def docx_text(folder: Path, document: str) -> str:
    parts = []
    doc = Document(io.BytesIO((folder / document).read_bytes()))
    parts += [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return " ".join(" ".join(parts).split())


def form(form_type: str, council: str, **changes: Any) -> dict[str, Any]:
    made = localise_form(load_example(form_type), council)
    for key, value in changes.items():
        if value is None:
            made.pop(key, None)
        else:
            made[key] = value
    return made


def assert_only_its_own(text: str, council: str) -> None:
    for word in foreign_words(council):
        assert word not in text, f"{council}'s document prints {word!r}"


def errors(receipt: dict) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in receipt["errors"]]


TAF = {"date": "2026-11-27", "kind": "taf_meeting", "note": "IRT hands over at the TAF."}
JOINT = {"date": "2026-11-27", "kind": "joint_visit", "note": "Together."}
HOME = {"date": "2026-11-27", "kind": "home_visit", "note": "Family worker visits."}


class TestDevon:
    @pytest.fixture
    def root(self, tmp_path):
        return council_root(tmp_path, "devon")

    def test_a_step_across_at_level_2_handed_over_at_a_taf_meeting(self, root):
        step_across = form("transfer", "devon", level_of_need=2, planned_contacts=[TAF])
        (receipt,) = run(root, {"step-across": step_across}).values()
        assert receipt["status"] == "routed", receipt["errors"]
        assert receipt["mailboxes"] == ["eh-locality"]  # EX: the whole postcode area
        assert receipt["due"] == []  # level 2: no allocations meeting
        folder = root.path / "outbox" / "eh-locality" / receipt["_folder"].name
        pro_forma = docx_text(folder, "allocations-pro-forma.docx")
        assert "Devon County Council" in pro_forma
        assert "Eclipse ID: MC204811" in pro_forma  # a transfer's reference is social care's
        assert "2: Early Help support" in pro_forma
        letter = docx_text(folder, "consent-letter.docx")
        assert "Exeter Locality Early Help" in letter and "01632 960 101" in letter
        for agency in ("Health", "Education", "Police", "Youth support", "Jobcentre Plus"):
            assert agency in letter
        assert_only_its_own(pro_forma + letter, "devon")

    def test_a_handover_must_be_a_cin_or_taf_meeting_and_consent_signed(self, root):
        joint_only = form("transfer", "devon", planned_contacts=[JOINT])
        verbal = form("notification", "devon")
        verbal["consent"]["method"] = "verbal_recorded"
        receipts = run(root, {"joint-only": joint_only, "verbal": verbal})
        assert errors(receipts["joint-only"]) == [
            (
                "planned_contacts",
                "Enter a Child in Need meeting or a Team Around the Family meeting in the "
                "planned contacts: the case is handed over jointly",
            )
        ]
        assert errors(receipts["verbal"]) == [
            ("consent.method", "The way consent was recorded must be signed")
        ]

    def test_rfas_goes_to_the_locality_for_triage_and_risk_to_mash(self, root):
        risk = form("notification", "devon", risk_of_significant_harm=True)
        receipts = run(root, {"rfas": form("rfas", "devon"), "risk": risk})
        assert receipts["rfas"]["mailboxes"] == ["eh-locality"]
        assert (receipts["risk"]["mailboxes"], receipts["risk"]["priority"]) == (["mash"], "urgent")
        assert "redirected to MASH at once" in receipts["risk"]["notes"][0]


class TestManchester:
    @pytest.fixture
    def root(self, tmp_path):
        return council_root(tmp_path, "manchester")

    def test_a_level_4_transfer_meets_on_thursday_with_a_case_discussion_in_24_hours(self, root):
        (receipt,) = run(root, {"transfer": form("transfer", "manchester")}).values()
        assert receipt["mailboxes"] == ["eh-hub"]
        assert receipt["due"] == [
            {"what": "allocations_meeting", "by": "2026-11-26T09:30:00+00:00"},
            {"what": "case_discussion", "by": "2026-11-25T09:00:00+00:00"},
        ]
        folder = root.path / "outbox" / "eh-hub" / receipt["_folder"].name
        pro_forma = docx_text(folder, "allocations-pro-forma.docx")
        assert "Manchester City Council" in pro_forma and "Micare ID: MC204811" in pro_forma
        assert "Thursday 26 November 2026" in pro_forma or "26 November 2026" in pro_forma
        letter = docx_text(folder, "consent-letter.docx")
        assert "North Manchester Early Help Hub" in letter and "0161 496 0710" in letter
        assert_only_its_own(pro_forma + letter, "manchester")
        # the case discussion is overdue after 24 hours in the hub's mailbox
        status = root.status(RECEIVED + dt.timedelta(hours=25))
        assert status["mailboxes"]["eh-hub"]["overdue"] == 1

    def test_a_taf_within_5_working_days_and_escalation_within_48_hours(self, root):
        level_4 = form("notification", "manchester", level_of_need=4)
        receipts = run(
            root, {"level-3": form("notification", "manchester"), "level-4": level_4}
        )
        # received Tuesday 24 November: 5 working days is Tuesday 1 December
        assert receipts["level-3"]["due"] == [
            {"what": "taf_meeting", "by": "2026-12-01T09:00:00+00:00"}
        ]
        assert receipts["level-4"]["due"] == [
            {"what": "escalation", "by": "2026-11-26T09:00:00+00:00"}
        ]

    def test_working_days_skip_bank_holidays(self, root):
        at = dt.datetime(2026, 12, 23, 9, 0, tzinfo=dt.UTC)  # Wednesday before Christmas
        (receipt,) = run(root, {"xmas": form("notification", "manchester")}, at=at).values()
        # Thu 24, Tue 29, Wed 30, Thu 31 December and Monday 4 January: Christmas Day, the
        # Boxing Day holiday on Monday 28 and New Year's Day are skipped, and so are weekends
        assert receipt["due"] == [{"what": "taf_meeting", "by": "2027-01-04T09:00:00+00:00"}]

    def test_a_marf_within_3_months_of_step_down_goes_back_to_that_team(self, root):
        marf = form("marf", "manchester")
        marf["previous_social_work"] = {"team": "hub", "stepped_down_on": "2026-10-01"}
        (receipt,) = run(root, {"marf": marf}).values()
        assert receipt["mailboxes"] == ["mash", "sw-hub"]
        assert receipt["priority"] == "urgent"
        assert receipt["due"] == [{"what": "written_followup", "by": "2026-11-26T09:00:00+00:00"}]

    def test_an_old_assessment_is_noted(self, root):
        old = form("transfer", "manchester")
        old["most_recent_assessment"]["completed_on"] = "2026-03-01"
        (receipt,) = run(root, {"old": old}).values()
        assert any("agree an Early Help Assessment" in note for note in receipt["notes"])


class TestWorcestershire:
    @pytest.fixture
    def root(self, tmp_path):
        return council_root(tmp_path, "worcestershire")

    def test_a_notification_without_a_level_goes_to_the_one_hub(self, root):
        no_level = form("notification", "worcestershire", level_of_need=None)
        elsewhere = form("notification", "worcestershire", level_of_need=None)
        elsewhere["address"]["postcode"] = "B60 1AA"  # outside the county's districts
        receipts = run(root, {"no-level": no_level, "elsewhere": elsewhere})
        for receipt in receipts.values():
            assert (receipt["status"], receipt["mailboxes"]) == ("routed", ["eh-early-help"])
        folder = root.path / "outbox" / "eh-early-help" / receipts["no-level"]["_folder"].name
        letter = docx_text(folder, "consent-letter.docx")
        assert "Worcestershire County Council" in letter and "01632 960 301" in letter
        assert "West Mercia Police" in letter
        assert_only_its_own(letter, "worcestershire")

    def test_risk_goes_to_the_access_centre(self, root):
        risk = form("notification", "worcestershire", risk_of_significant_harm=True)
        marf = form("marf", "worcestershire", level_of_need=None, child_protection_concern=False)
        marf.pop("previous_social_work")
        receipts = run(root, {"risk": risk, "marf": marf})
        assert receipts["risk"]["mailboxes"] == ["access-centre"]
        assert receipts["risk"]["priority"] == "urgent"
        assert "redirected to Children's Social Care Access Centre at once" in (
            receipts["risk"]["notes"][0]
        )
        assert all("MASH" not in note for note in receipts["risk"]["notes"])
        # a MARF without a level and without a child protection concern is not urgent
        assert (receipts["marf"]["mailboxes"], receipts["marf"]["priority"]) == (
            ["access-centre"],
            "normal",
        )

    def test_a_closure_records_outcomes_support_and_both_feedbacks(self, root):
        base = {
            "closure_reason": "outcomes_met",
            "outcomes": [{"outcome": "Attendance above 95%", "achieved": True}],
            "follow_on_support": "School pastoral lead",
            "child_feedback": "I like my new club.",
            "parent_feedback": "Mornings are calmer.",
            "family_group_conference_offered": True,
        }
        whole = form("closure", "worcestershire", **base)
        part = form("closure", "worcestershire", **{**base, "child_feedback": None})
        part["case_id"] = "WR-2"
        receipts = run(root, {"whole": whole, "part": part})
        assert errors(receipts["part"]) == [("child_feedback", "Enter the child's feedback")]
        folder = root.path / "outbox" / "eh-early-help" / receipts["whole"]["_folder"].name
        note = docx_text(folder, "case-closure-note.docx")
        assert "Mosaic ID: MC204811" in note
        assert "What the parent or carer said Mornings are calmer." in note
        assert "Family Group Conference: Offered" in note
        assert_only_its_own(note, "worcestershire")


class TestEhmLcs:
    @pytest.fixture
    def root(self, tmp_path):
        return council_root(tmp_path, "ehm-lcs")

    def test_a_step_down_needs_the_clinic_discussion_and_a_joint_visit(self, root):
        no_clinic = form("transfer", "ehm-lcs", case_discussion=None)
        no_joint = form("transfer", "ehm-lcs", planned_contacts=[HOME])
        no_joint["case_id"] = "LCS-2"
        good = form("transfer", "ehm-lcs", planned_contacts=[JOINT])
        good["case_id"] = "LCS-3"
        receipts = run(root, {"no-clinic": no_clinic, "no-joint": no_joint, "good": good})
        assert errors(receipts["no-clinic"]) == [("case_discussion", "Enter the case discussion")]
        assert errors(receipts["no-joint"]) == [
            (
                "planned_contacts",
                "Enter a joint visit in the planned contacts: the case is handed over jointly",
            )
        ]
        receipt = receipts["good"]
        assert receipt["mailboxes"] == ["eh-family-worker-team"]
        assert receipt["due"] == []  # no allocations meeting, even at level 4
        folder = root.path / "outbox" / "eh-family-worker-team" / receipt["_folder"].name
        pro_forma = docx_text(folder, "allocations-pro-forma.docx")
        assert "Sample Shire Council" in pro_forma and "LCS ID: LCS-3" in pro_forma
        assert "Awaiting allocation" in pro_forma and "allocations meeting" not in pro_forma
        assert_only_its_own(pro_forma, "ehm-lcs")

    def test_a_mash_referral_allocated_to_early_help_is_not_a_step_down(self, root):
        referral = form(
            "transfer",
            "ehm-lcs",
            origin="mash_referral",
            planned_contacts=[HOME],
            level_of_need=None,  # no numbered levels
        )
        (receipt,) = run(root, {"referral": referral}).values()
        assert receipt["status"] == "routed", receipt["errors"]
        folder = root.path / "outbox" / "eh-family-worker-team" / receipt["_folder"].name
        pro_forma = docx_text(folder, "allocations-pro-forma.docx")
        assert "Step down or joint worked MASH referral allocated to Early Help" in pro_forma
        assert "Level of need Not given" in pro_forma

    def test_a_marf_plans_a_joint_visit_and_is_urgent_only_with_a_concern(self, root):
        calm = form("marf", "ehm-lcs", level_of_need=None, child_protection_concern=False)
        calm["planned_contacts"] = [JOINT]
        calm.pop("previous_social_work")
        unplanned = json.loads(json.dumps(calm))
        unplanned["case_id"] = "EHM-2"
        unplanned.pop("planned_contacts")
        receipts = run(root, {"calm": calm, "unplanned": unplanned})
        assert (receipts["calm"]["status"], receipts["calm"]["priority"]) == ("routed", "normal")
        assert receipts["calm"]["mailboxes"] == ["mash"]
        # a MARF with a problem still goes to MASH, urgent, for follow-up
        assert (receipts["unplanned"]["status"], receipts["unplanned"]["priority"]) == (
            "redirected",
            "urgent",
        )
        assert errors(receipts["unplanned"]) == [("planned_contacts", "Enter the planned contacts")]


@pytest.mark.parametrize("name", PROFILES)
def test_safeguarding_is_fixed_whatever_the_profile(tmp_path, name):
    """Risk of harm, the highest level and a MARF with a child protection concern go to the
    profile's front door, urgent, in every profile."""
    root = council_root(tmp_path, name)
    front_door = root.config.mash_mailbox
    risk = form("notification", name, risk_of_significant_harm=True)
    level_5 = form("notification", name, level_of_need=5)
    level_5["case_id"] = "L5"
    concern = form("marf", name, level_of_need=None, child_protection_concern=True)
    concern.pop("previous_social_work")
    top = form("marf", name, level_of_need=5, child_protection_concern=False)
    top.pop("previous_social_work")
    top["case_id"] = "TOP"
    broken = form("notification", name, risk_of_significant_harm=True, consent=None)
    broken["case_id"] = "BROKEN"
    receipts = run(
        root,
        {"risk": risk, "level-5": level_5, "concern": concern, "top": top, "broken": broken},
    )
    for which, receipt in receipts.items():
        assert receipt["mailboxes"] == [front_door], which
        assert receipt["priority"] == "urgent", which
        assert receipt["documents"] == [], which  # no letter to the home
    assert receipts["risk"]["status"] == receipts["broken"]["status"] == "redirected"


def test_a_profile_cannot_turn_safeguarding_off(tmp_path):
    """A profile that leaves level 5 out of a form's levels still sends a level 5 form to the
    front door, urgent (the form is refused as an Early Help request, never held back)."""
    from ehforms.profiles import profile_text

    (tmp_path / "ehforms.toml").write_text(
        profile_text("example") + '\n[forms.notification]\nlevels = [2, 3]\n', encoding="utf-8"
    )
    init_root(tmp_path)
    root = Root.open(tmp_path, environ={})
    level_5 = load_example("notification")
    level_5["level_of_need"] = 5
    (receipt,) = run(root, {"level-5": level_5}).values()
    assert (receipt["status"], receipt["mailboxes"], receipt["priority"]) == (
        "redirected",
        ["mash"],
        "urgent",
    )


@pytest.mark.parametrize("name", PROFILES)
def test_each_councils_letter_prints_its_own_names_and_numbers_only(tmp_path, name):
    from pypdf import PdfReader

    root = council_root(tmp_path, name)
    letter = form("notification", name)
    if not root.config.council.level_required:
        letter.pop("level_of_need")
    (receipt,) = run(root, {"letter": letter}).values()
    folder = receipt["_folder"]
    pdf = PdfReader(io.BytesIO((folder / "consent-letter.pdf").read_bytes()))
    text = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert root.config.council_name in text
    assert root.config.hub(receipt["_folder"].parent.name[3:]).phone in text
    assert_only_its_own(text + docx_text(folder, "consent-letter.docx"), name)


def test_validate_names_the_councils_front_door(tmp_path):
    from click.testing import CliRunner

    from ehforms.cli import cli

    council_root(tmp_path / "root", "worcestershire")
    risk = form("notification", "worcestershire", risk_of_significant_harm=True)
    risk["consent"]["given"] = False
    path = tmp_path / "risk.json"
    path.write_text(json.dumps(risk), encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["validate", "--root", str(tmp_path / "root"), "--received-at", "2026-11-24T09:00Z", str(path)],
    )
    assert result.exit_code == 1
    assert result.output == (
        f"{path}: 1 problem\n"
        "  consent.given: The family must give consent for Early Help. Ask for and record their "
        "consent. If a child is at risk of significant harm, make a referral to Children's Social "
        "Care Access Centre instead\n"
        "  Safeguarding: this form goes to Children's Social Care Access Centre at once, whatever "
        "else is wrong.\n"
    )
