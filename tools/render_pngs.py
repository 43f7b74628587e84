"""Render every document of the example forms to PDF and PNG, to look at (needs pdftoppm).

    python tools/render_pngs.py [OUT_DIR]

Prints, for each document, its pages and the median render time over a small batch.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ehforms.config import load_config
from ehforms.documents import plan
from ehforms.forms import validate
from ehforms.render import page_count, renderer_for
from ehforms.routing import route

ROOT = Path(__file__).resolve().parent.parent
RECEIVED = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ehforms-pngs")
    out.mkdir(parents=True, exist_ok=True)
    config = load_config(None, environ={})
    renderer = renderer_for(None)
    hubs = [hub.key for hub in config.hubs]
    for form_type in ("notification", "transfer", "closure"):
        form = json.loads((ROOT / "tests" / "fixtures" / f"{form_type}.json").read_text())
        checked = validate(form, RECEIVED, hubs=hubs)
        decision = route(checked, config, RECEIVED)
        for planned in plan(
            form_type,
            checked.data,
            decision,
            config,
            RECEIVED,
            withheld=["Mother's mental health history"],
        ):
            times = []
            for _ in range(9):
                start = time.perf_counter()
                made = renderer.document(planned.name, planned.context, max_pages=2)
                times.append(time.perf_counter() - start)
            pdf = out / f"{planned.name}.pdf"
            pdf.write_bytes(made.pdf)
            (out / f"{planned.name}.docx").write_bytes(made.docx)
            subprocess.run(
                ["pdftoppm", "-r", "60", "-png", str(pdf), str(out / planned.name)], check=True
            )
            print(
                f"{planned.name}: {page_count(made.pdf)} pages, median "
                f"{statistics.median(times) * 1000:.0f} ms for PDF and DOCX"
            )
    print(f"PNG pages in {out}")


if __name__ == "__main__":
    main()
