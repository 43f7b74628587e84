"""(c) The bare library cost: render the same documents, nothing else, on one core.

    python bench/bare.py INBOX

The documents to make are worked out first (not timed); then a warm Renderer (templates and
fonts loaded once) renders each PDF and DOCX. Prints the seconds the rendering took, as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from ehforms.config import load_config
from ehforms.documents import plan
from ehforms.forms import validate
from ehforms.render import renderer_for
from ehforms.routing import route

RECEIVED = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)


def main() -> None:
    config = load_config(None, environ={})
    hubs = [hub.key for hub in config.hubs]
    planned = []
    for path in sorted(Path(sys.argv[1]).iterdir()):
        checked = validate(json.loads(path.read_text()), RECEIVED, hubs=hubs)
        planned += plan(
            checked.form_type, checked.data, route(checked, config, RECEIVED), config, RECEIVED
        )
    renderer = renderer_for(None)
    if planned:  # warm up: load templates and fonts, as any long-running renderer would
        renderer.document(planned[0].name, planned[0].context)
    start = time.perf_counter()
    for document in planned:
        renderer.document(
            document.name,
            document.context,
            max_pages=2 if document.name == "allocations-pro-forma" else None,
        )
    print(json.dumps({"seconds": time.perf_counter() - start, "documents": len(planned)}))


if __name__ == "__main__":
    main()
