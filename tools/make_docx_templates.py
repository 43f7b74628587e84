"""Write the starting DOCX templates into templates/ (docxtpl tags in plain Word documents).

A council edits the results in Word; run this again only to start over:
    python tools/make_docx_templates.py
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.shared import Mm, Pt

OUT = Path(__file__).resolve().parent.parent / "templates"


def new_document():
    document = Document()
    section = document.sections[0]
    section.page_height, section.page_width = Mm(297), Mm(210)
    section.left_margin = section.right_margin = Mm(18)
    section.top_margin = section.bottom_margin = Mm(16)
    style = document.styles["Normal"]
    style.font.name = "Arial"
    style.font.size = Pt(10)
    return document


def loop(document, items: str, line: str, style: str | None = "List Bullet") -> None:
    document.add_paragraph(f"{{%p for item in {items} %}}")
    document.add_paragraph(line, style=style)
    document.add_paragraph("{%p endfor %}")


def facts(document, rows: list[tuple[str, str]]) -> None:
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text = label
        cells[1].text = value


def rows_table(document, headings: list[str], loop_head: str, cells: list[str]) -> None:
    table = document.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    for cell, heading in zip(table.rows[0].cells, headings, strict=True):
        cell.text = heading
    table.add_row().cells[0].text = f"{{%tr {loop_head} %}}"
    row = table.add_row().cells
    for cell, text in zip(row, cells, strict=True):
        cell.text = text
    table.add_row().cells[0].text = "{%tr endfor %}"


def withheld(document, known: bool = True) -> None:
    document.add_heading("The family does not agree to share", level=2)
    if not known:
        document.add_paragraph("{%p if not withheld_known %}")
        document.add_paragraph(
            "ehforms holds no consent record for this case: check the case system before "
            "sharing anything."
        )
        document.add_paragraph("{%p elif withheld %}")
    else:
        document.add_paragraph("{%p if withheld %}")
    loop(document, "withheld", "{{ item }}")
    document.add_paragraph("{%p else %}")
    document.add_paragraph("Nothing: the family has not withheld any information.")
    document.add_paragraph("{%p endif %}")


def consent_letter() -> None:
    d = new_document()
    d.add_paragraph(
        "{{ council }}, Early Help, {{ hub.name }}, {{ hub.phone }}, {{ contacts.email }}"
    )
    d.add_paragraph("{{ recipient }}")
    d.add_paragraph("{%p for line in address_lines %}")
    d.add_paragraph("{{ line }}")
    d.add_paragraph("{%p endfor %}")
    d.add_paragraph("{{ today }}")
    d.add_paragraph("{%p if case_id %}")
    d.add_paragraph("Our reference: {{ case_id }}")
    d.add_paragraph("{%p endif %}")
    d.add_paragraph("Dear {{ recipient }},")
    d.add_heading("Your consent to Early Help support", level=1)
    d.add_paragraph(
        "Thank you for agreeing{% if consent_date %} on {{ consent_date }}{% endif %} to Early "
        "Help support for {{ children_names | join(', ') }}. This letter says what you agreed "
        "to, and what you can do if you change your mind."
    )
    d.add_heading("What you agreed to share", level=2)
    d.add_paragraph(
        "You agreed that information about your family that helps us support you can be shared "
        "between the people working with you. That means:"
    )
    loop(d, "agencies", "{{ item }}")
    d.add_heading("What you did not agree to share", level=2)
    d.add_paragraph("{%p if withheld %}")
    d.add_paragraph("You asked us not to share:")
    loop(d, "withheld", "{{ item }}")
    d.add_paragraph("{%p else %}")
    d.add_paragraph(
        "You did not ask us to keep anything back. You can still ask us to, at any time."
    )
    d.add_paragraph("{%p endif %}")
    d.add_heading("Who to contact", level=2)
    d.add_paragraph("{%p if contact %}")
    d.add_paragraph(
        "{% if contact_is_social_worker %}Until your Early Help worker is chosen, contact your "
        "social worker{% else %}Your contact is{% endif %}: {{ contact.name }}, {{ contact.role }}, "
        "{{ contact.agency }}{% if contact.phone %}, telephone {{ contact.phone }}{% endif %}"
        "{% if contact.email %}, email {{ contact.email }}{% endif %}."
    )
    d.add_paragraph("{%p endif %}")
    d.add_paragraph("The {{ hub.name }} will tell you who your Early Help lead practitioner is.")
    d.add_heading("If you change your mind", level=2)
    d.add_paragraph(
        "You can take back your consent at any time. Tell your contact, or call the "
        "{{ hub.name }} on {{ hub.phone }}. We will then stop sharing your information, and we "
        "will talk with you about what that means for your support."
    )
    d.add_heading("When we may share without your consent", level=2)
    d.add_paragraph(
        "If we think a child is at risk of significant harm, we may share information without "
        "your consent, to keep them safe. The law allows this."
    )
    d.add_paragraph(
        "If a child is in immediate danger, call {{ contacts.emergency_phone }}. Out of office "
        "hours, call {{ contacts.out_of_hours_phone }}."
    )
    d.add_paragraph("Yours sincerely,")
    d.add_paragraph("Early Help, {{ council }}")
    d.save(OUT / "consent-letter.docx")


def pro_forma() -> None:
    d = new_document()
    d.add_heading("{{ title }}", level=1)
    d.add_paragraph("{{ council }} · {{ transfer_type }} · {{ case_system }}: {{ case_id }}")
    facts(
        d,
        [
            (
                "Subject child",
                "{{ subject_name }}{% if subject.person_id %} ({{ case_system }} "
                "{{ subject.person_id }}){% endif %}",
            ),
            (
                "Address",
                "{{ address_lines | join(', ') }}{% if housing %}. Housing: {{ housing }}{% endif %}",
            ),
            ("Date referred", "{{ referred_on }}"),
            ("Level of need", "{{ level }}: {{ level_meaning }}"),
            (
                "Step down or joint worked",
                "{{ transfer_type }}{% if intervention_timescale %}. "
                "Timescale: {{ intervention_timescale }}{% endif %}",
            ),
            (
                "Assessment or planning meeting",
                "{{ assessment.kind }}, completed "
                "{{ assessment.completed_on }} ({{ assessment.document }}){% if case_discussion.date %}. "
                "Case discussion {{ case_discussion.date }}{% if case_discussion.rationale %}: "
                "{{ case_discussion.rationale }}{% endif %}{% endif %}",
            ),
            (
                "Referrer",
                "{{ referrer.name }}, {{ referrer.role }}, {{ referrer.agency }}"
                "{% if referrer.phone %}, {{ referrer.phone }}{% endif %}"
                "{% if referrer.email %}, {{ referrer.email }}{% endif %}",
            ),
        ],
    )
    withheld(d)
    d.add_heading("Family composition", level=2)
    rows_table(
        d,
        ["Name", "Relationship", "Date of birth", "Age", "Lives with child"],
        "for person in people",
        [
            "{{ person.name }}",
            "{{ person.relationship }}",
            "{{ person.date_of_birth }}",
            "{{ person.age }}",
            "{{ person.lives_with_child }}",
        ],
    )
    for key, heading in (
        ("worries", "What are we worried about?"),
        ("working_well", "What is working well?"),
        ("needs_to_happen", "What needs to happen?"),
    ):
        d.add_heading(heading, level=2)
        loop(d, key, "{{ item }}")
    d.add_heading("Forthcoming meetings and visits", level=2)
    rows_table(
        d,
        ["Date", "What", "Note"],
        "for contact in contacts",
        ["{{ contact.date }}", "{{ contact.kind }}", "{{ contact.note }}"],
    )
    d.add_paragraph("{%p if allocations_meeting %}")
    d.add_paragraph("Allocations meeting: {{ allocations_meeting }} (level 4)")
    d.add_paragraph("{%p endif %}")
    d.add_heading("Status of the intervention", level=2)
    d.add_paragraph("{{ status }}.")
    d.save(OUT / "allocations-pro-forma.docx")


def closure_note() -> None:
    d = new_document()
    d.add_heading("{{ title }}", level=1)
    d.add_paragraph("{{ council }} · {{ case_system }}: {{ case_id }}")
    d.add_paragraph("{%p if step_down %}")
    d.add_paragraph(
        "This case is stepping across to Early Help. Children's Social Care is closing the case "
        "on {{ closure_date }}, and Early Help support continues with the lead practitioner "
        "named below."
    )
    d.add_paragraph("{%p endif %}")
    facts(
        d,
        [
            ("Children", "{{ children_names | join(', ') }}"),
            ("Address", "{{ address_lines | join(', ') }}"),
            ("Reason for closure", "{{ reason_label }}"),
            ("Closure date", "{{ closure_date }}"),
            ("Closed by", "{{ closed_by.name }}, {{ closed_by.role }}, {{ closed_by.agency }}"),
        ],
    )
    d.add_paragraph("{%p if step_down %}")
    d.add_paragraph(
        "Lead practitioner: {{ lead_practitioner.name }}, {{ lead_practitioner.role }}, "
        "{{ lead_practitioner.agency }}{% if lead_practitioner.phone %}, "
        "{{ lead_practitioner.phone }}{% endif %}{% if lead_practitioner.email %}, "
        "{{ lead_practitioner.email }}{% endif %}"
    )
    d.add_paragraph("Multi-agency meeting: {{ meeting.kind }}, held {{ meeting.date }}")
    d.add_paragraph("Early Help Assessment: {% if eha_open %}open{% else %}not open{% endif %}")
    d.add_paragraph("{%p endif %}")
    d.add_paragraph("{%p if outcomes %}")
    d.add_heading("Outcomes", level=2)
    loop(d, "outcomes", "{{ item.outcome }}: {{ item.achieved }}")
    d.add_paragraph("{%p endif %}")
    for key, heading in (
        ("follow_on_support", "Follow-on support"),
        ("child_feedback", "What the child said"),
        ("parent_feedback", "What the parent said"),
    ):
        d.add_paragraph(f"{{%p if {key} %}}")
        d.add_heading(heading, level=2)
        d.add_paragraph(f"{{{{ {key} }}}}")
        d.add_paragraph("{%p endif %}")
    withheld(d, known=False)
    d.save(OUT / "case-closure-note.docx")


def practitioner_form() -> None:
    d = new_document()
    d.add_heading("{{ title }}", level=1)
    d.add_paragraph("{{ intro }}")
    d.add_paragraph("{%p for section in sections %}")
    d.add_heading("{{ section.title }}", level=2)
    rows_table(
        d,
        ["Question", "Answer"],
        "for field in section.fields",
        ["{{ field.label }}{% if field.hint %} ({{ field.hint }}){% endif %}", "{{ field.value }}"],
    )
    d.add_paragraph("{%p endfor %}")
    d.save(OUT / "form.docx")


if __name__ == "__main__":
    consent_letter()
    pro_forma()
    closure_note()
    practitioner_form()
    print(f"Wrote the DOCX templates into {OUT}")
