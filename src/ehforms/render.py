"""Documents from templates: DOCX with docxtpl, PDF with WeasyPrint.

Everything a form says is data, never template code or markup: both engines use a sandboxed
Jinja environment with autoescape, and WeasyPrint fetches nothing but files inside the template
folders and ``data:`` URLs (no other files, no network, no redirects).

A :class:`Renderer` is made once per process and reused: it holds the Jinja environment, the
compiled templates, the DOCX template bytes and WeasyPrint's font configuration.
"""

from __future__ import annotations

import io
import logging
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from ehforms.errors import RenderError

log = logging.getLogger("ehforms")

PRO_FORMA_MAX_PAGES = 2
# Steps to fit a long pro forma on two pages: each is added to the document's CSS.
SHRINK_STEPS = (
    "",
    ":root { --text-size: 9pt; --gap: 2.5mm; }",
    ":root { --text-size: 8pt; --gap: 1.5mm; } @page { margin: 12mm 14mm; }",
)


class _Fetcher:
    """A WeasyPrint URL fetcher that serves files from the template folders, and ``data:``."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [folder.resolve() for folder in folders]

    def fetch(self, url: str, headers: Any = None) -> Any:
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return URLFetcher(allowed_protocols={"data"}, allow_redirects=False).fetch(url)
        if scheme != "file":
            raise ValueError(f"ehforms templates may not fetch {scheme or 'relative'} URLs")
        path = Path(unquote(urlsplit(url).path)).resolve()
        if not any(folder in path.parents for folder in self.folders):
            raise ValueError("ehforms templates may only use files in the template folder")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": mime})


def _make_fetcher(folders: Iterable[Path]) -> Any:
    from weasyprint.urls import URLFetcher

    guard = _Fetcher(folders)

    class SafeFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            return guard.fetch(url, headers)

    return SafeFetcher(allow_redirects=False)


@dataclass
class Rendered:
    name: str
    pdf: bytes
    docx: bytes
    pages: int
    shrunk: int = 0


class Renderer:
    """Renders documents; template folders are searched in order (a root's own first)."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders if Path(f).is_dir()]
        if not self.folders:
            raise RenderError("No template folder found: run `ehforms init` to make one")
        self.jinja = SandboxedEnvironment(
            loader=ChoiceLoader([FileSystemLoader(str(f)) for f in self.folders]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._docx: dict[str, bytes] = {}
        self._font_config: Any = None
        self._fetcher: Any = None

    def warm(self) -> None:
        """Load fonts and the templates' engine now, so the first form does not wait for them."""
        from weasyprint import HTML

        font_config, fetcher = self._weasy()
        HTML(string="<p>ehforms</p>", url_fetcher=fetcher).render(font_config=font_config)

    def find(self, name: str) -> Path:
        for folder in self.folders:
            if (folder / name).is_file():
                return folder / name
        raise RenderError(f"The template {name} is missing from {self.folders[0]}")

    def html(self, name: str, context: Mapping[str, Any]) -> str:
        return self.jinja.get_template(f"{name}.html").render(context)

    def _weasy(self) -> tuple[Any, Any]:
        if self._font_config is None:
            from weasyprint.text.fonts import FontConfiguration

            self._font_config = FontConfiguration()
            self._fetcher = _make_fetcher(self.folders)
        return self._font_config, self._fetcher

    def pdf_document(
        self, name: str, context: Mapping[str, Any], extra_css: str = "", forms: bool = False
    ) -> Any:
        from weasyprint import CSS, HTML

        font_config, fetcher = self._weasy()
        source = self.find(f"{name}.html")
        html = HTML(
            string=self.html(name, context),
            base_url=source.parent.resolve().as_uri() + "/",
            url_fetcher=fetcher,
        )
        stylesheets = [CSS(string=extra_css, font_config=font_config)] if extra_css else []
        return html.render(font_config=font_config, stylesheets=stylesheets, pdf_forms=forms)

    def pdf(self, name: str, context: Mapping[str, Any], forms: bool = False) -> bytes:
        return bytes(self.pdf_document(name, context, forms=forms).write_pdf(pdf_forms=forms))

    def docx(self, name: str, context: Mapping[str, Any]) -> bytes:
        from docxtpl import DocxTemplate

        if name not in self._docx:
            self._docx[name] = self.find(f"{name}.docx").read_bytes()
        template = DocxTemplate(io.BytesIO(self._docx[name]))
        template.render(dict(context), jinja_env=self.jinja, autoescape=True)
        out = io.BytesIO()
        template.save(out)
        return out.getvalue()

    def document(
        self, name: str, context: Mapping[str, Any], max_pages: int | None = None
    ) -> Rendered:
        """PDF and DOCX of one document; a PDF over ``max_pages`` is shrunk step by step."""
        shrunk = 0
        document = self.pdf_document(name, context)
        if max_pages is not None:
            while len(document.pages) > max_pages and shrunk + 1 < len(SHRINK_STEPS):
                shrunk += 1
                document = self.pdf_document(name, context, SHRINK_STEPS[shrunk])
        return Rendered(
            name,
            bytes(document.write_pdf()),
            self.docx(name, context),
            len(document.pages),
            shrunk,
        )


def template_folders(root: Path | None) -> list[Path]:
    """A root's own ``templates/`` first (a council's edits), then the built-in ones."""
    from ehforms.setup import builtin_templates

    folders = []
    if root is not None and (root / "templates").is_dir():
        folders.append(root / "templates")
    builtin = builtin_templates()
    folders.append(Path(str(builtin)))
    return folders


_renderers: dict[Path | None, Renderer] = {}


def renderer_for(root: Path | None) -> Renderer:
    """One Renderer per process and root: templates and fonts are loaded once."""
    if root not in _renderers:
        _renderers[root] = Renderer(template_folders(root))
    return _renderers[root]


def page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)
