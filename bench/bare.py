"""(c) The bare library floor: the same documents through bare WeasyPrint and docxtpl calls.

    python bench/bare.py INBOX [--bare-only] [--per-form]

Not timed: each form is validated and routed as ehforms does, its documents planned, and each
document's HTML made with Jinja from the same context; a pro forma that ehforms shrinks to two
pages gets the CSS step ehforms ended on, so the floor lays out the same pages once. Timed: for
each document, ``weasyprint.HTML(string=...).write_pdf()`` (one FontConfiguration for all, as
WeasyPrint's documentation recommends) and ``DocxTemplate(...).render(...)`` then ``save``;
nothing of ehforms runs in the timed part.

Then, as a stricter second floor, the same documents through ehforms's own warm ``Renderer``
alone (its caches included, no pipeline): ``process`` against it is the pipeline's overhead.
Prints both times, as JSON. With ``--per-form``, also each form's own bare time (its documents
one after another) and its longest single PDF or DOCX (the floor were its files rendered side by
side on enough cores), in file name order: the floor under the pickup latency.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import time
from pathlib import Path

from docxtpl import DocxTemplate
from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from ehforms.config import load_config
from ehforms.content import builtin_templates
from ehforms.documents import plan
from ehforms.forms import validate
from ehforms.render import SHRINK_STEPS, renderer_for
from ehforms.routing import route

RECEIVED = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)


def main() -> None:
    config = load_config(None, environ={})
    hubs = [hub.key for hub in config.hubs]
    templates = Path(str(builtin_templates()))
    jinja = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    ehforms = renderer_for(None)
    work = []  # (html, extra css, docx path, context, the form's index)
    planned = []
    paths = sorted(Path(sys.argv[1]).iterdir())
    for index, path in enumerate(paths):
        checked = validate(json.loads(path.read_text()), RECEIVED, hubs=hubs)
        for document in plan(
            checked.form_type, checked.data, route(checked, config, RECEIVED), config, RECEIVED
        ):
            html = jinja.get_template(f"{document.name}.html").render(document.context)
            step = ""
            if document.name == "allocations-pro-forma":  # the step ehforms ends on
                step = SHRINK_STEPS[
                    ehforms.document(document.name, document.context, max_pages=2).shrunk
                ]
            docx = templates / f"{document.name}.docx"
            work.append((html, step, docx, dict(document.context), index))
            planned.append(document)
    base = templates.as_uri() + "/"
    fonts = FontConfiguration()
    if work:  # warm up: load fonts and the libraries, as any long-running renderer would
        HTML(string=work[0][0], base_url=base).write_pdf(font_config=fonts)
    per_form = [[0.0, 0.0] for _ in paths]  # seconds, longest document
    start, cpu = time.perf_counter(), time.process_time()
    for html, step, docx, context, index in work:
        began = time.perf_counter()
        sheets = [CSS(string=step, font_config=fonts)] if step else []
        HTML(string=html, base_url=base).write_pdf(stylesheets=sheets, font_config=fonts)
        middle = time.perf_counter()
        template = DocxTemplate(docx)
        template.render(context, jinja_env=jinja, autoescape=True)
        template.save(io.BytesIO())
        end = time.perf_counter()
        per_form[index][0] += end - began
        per_form[index][1] = max(per_form[index][1], middle - began, end - middle)
    bare, bare_cpu = time.perf_counter() - start, time.process_time() - cpu
    if "--bare-only" in sys.argv:  # the second floor is not asked for
        planned = []
    start, cpu = time.perf_counter(), time.process_time()
    for document in planned:
        ehforms.document(
            document.name,
            document.context,
            max_pages=2 if document.name == "allocations-pro-forma" else None,
        )
    renderer, renderer_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        json.dumps(
            {
                "seconds": bare,
                "cpu": bare_cpu,
                "renderer_seconds": renderer,
                "renderer_cpu": renderer_cpu,
                "documents": len(work),
                **({"per_form": per_form} if "--per-form" in sys.argv else {}),
            }
        )
    )


if __name__ == "__main__":
    main()
