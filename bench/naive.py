"""(b) The naive serial loop a council developer might write with the same libraries.

    python bench/naive.py INBOX OUTBOX

For each file, one after another: load the JSON, marshmallow-load it, render its documents
with docxtpl and WeasyPrint (a new template, Jinja environment and font set-up each time), and
copy everything into the mailbox folder. Prints the seconds it took, as JSON.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import sys
import time
from pathlib import Path

from docxtpl import DocxTemplate
from jinja2 import Environment, FileSystemLoader
from weasyprint import HTML

from ehforms.config import load_config
from ehforms.content import builtin_templates
from ehforms.documents import plan
from ehforms.forms import SCHEMAS
from ehforms.forms.context import receiving
from ehforms.forms.fields import postcode_district
from ehforms.routing import ROUTED, Decision, next_meeting
from ehforms.routing import Due as DueDate

RECEIVED = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)


def main() -> None:
    inbox, outbox = Path(sys.argv[1]), Path(sys.argv[2])
    templates = Path(str(builtin_templates()))
    config = load_config(None, environ={})
    start = time.perf_counter()
    for path in sorted(inbox.iterdir()):
        data = json.loads(path.read_text())
        form_type = data.get("form_type")
        try:
            with receiving(RECEIVED):
                form = SCHEMAS[form_type]().load(data)
        except Exception:
            target = outbox / "rejected" / path.stem
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            continue
        hub = config.hub_for_district(postcode_district(form["address"]["postcode"]))
        mailbox = "mash" if form_type == "marf" else (hub.eh_mailbox if hub else "triage")
        due = ()
        if form_type == "transfer" and form["level_of_need"] == 4:
            due = (DueDate("allocations_meeting", next_meeting(RECEIVED, config)),)
        target = outbox / mailbox / path.stem
        target.mkdir(parents=True, exist_ok=True)
        for document in plan(
            form_type, form, Decision(ROUTED, (mailbox,), due=due), config, RECEIVED
        ):
            env = Environment(loader=FileSystemLoader(str(templates)), autoescape=True)
            html = env.get_template(f"{document.name}.html").render(document.context)
            (target / f"{document.name}.pdf").write_bytes(
                HTML(string=html, base_url=str(templates) + "/").write_pdf()
            )
            docx = DocxTemplate(templates / f"{document.name}.docx")
            docx.render(dict(document.context), autoescape=True)
            out = io.BytesIO()
            docx.save(out)
            (target / f"{document.name}.docx").write_bytes(out.getvalue())
        shutil.copy(path, target)
    print(json.dumps({"seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
