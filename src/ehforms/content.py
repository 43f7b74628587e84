"""The content ehforms ships beside the engine: the documents' templates and the sample forms
(synthetic families) that the demo puts through a root."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

TEMPLATES = "templates"


def builtin_templates() -> Traversable:
    """The templates shipped with ehforms: in the wheel, or at the top of a source checkout."""
    packaged = resources.files("ehforms") / "content" / TEMPLATES
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / TEMPLATES


def samples() -> Iterator[tuple[str, bytes]]:
    """The sample forms (synthetic families) that ``ehforms demo`` puts through a root."""
    folder = resources.files("ehforms") / "samples"
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".json"):
            yield item.name, item.read_bytes()


def sample_bundles() -> Iterator[tuple[str, bytes]]:
    """The sample bundles (a form with the documents it names), each as the ZIP file business
    support would drop: ``samples/bundles/<name>/`` becomes ``<name>.zip``."""
    import io
    import zipfile

    folder = resources.files("ehforms") / "samples" / "bundles"
    if not folder.is_dir():
        return
    for bundle in sorted(folder.iterdir(), key=lambda i: i.name):
        if not bundle.is_dir():
            continue
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted(bundle.iterdir(), key=lambda i: i.name):
                if item.is_file():
                    # a fixed time: the same sample is the same ZIP every time
                    entry = zipfile.ZipInfo(item.name, date_time=(2026, 11, 20, 11, 15, 0))
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(entry, item.read_bytes())
        yield f"{bundle.name}.zip", out.getvalue()
