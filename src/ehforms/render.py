"""Documents from templates: DOCX with docxtpl, PDF with WeasyPrint.

Everything a form says is data, never template code or markup: both engines use a sandboxed
Jinja environment with autoescape, and WeasyPrint fetches nothing but files inside the template
folders and ``data:`` URLs (no other files, no network, no redirects).

Every value a template prints passes through one function, :func:`_finalize` (the environment's
``finalize``): characters no document should hold are removed (bidirectional overrides and
marks, control characters, lone surrogates, noncharacters), and a value written in a
right-to-left script is isolated (LRI or RLI ... PDI), so it reads in its own direction without
reordering the English around it. Templates are read only from inside the template folders: a
file that a symbolic link or ``..`` takes outside them is refused.

A :class:`Renderer` is made once per process and reused: it holds the Jinja environment, the
compiled templates, the DOCX template bytes and WeasyPrint's font configuration.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    StrictUndefined,
    TemplateNotFound,
    Undefined,
    pass_eval_context,
    select_autoescape,
)
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from ehforms.engine import load_weasyprint
from ehforms.errors import RenderError
from ehforms.text import isolate, plain_text

log = logging.getLogger("ehforms")

PRO_FORMA_MAX_PAGES = 2
# Steps to fit a long pro forma on two pages: each is added to the document's CSS.
SHRINK_STEPS = (
    "",
    ":root { --text-size: 9pt; --gap: 2.5mm; }",
    ":root { --text-size: 8pt; --gap: 1.5mm; } @page { margin: 12mm 14mm; }",
)


class _Printed(str):
    """Text made ready for a document already (by the ``join`` or ``standalone`` filter)."""


class _PrintedMarkup(Markup):
    """Markup made ready for a document already (a ``join`` of markup)."""


def _finalize(value: Any) -> Any:
    """Every value a template prints: cleaned of what no document may hold, and isolated if it
    is written right to left. The one place this is done, for every document and format."""
    if isinstance(value, _Printed | _PrintedMarkup | Undefined | bool | int | float) or (
        value is None
    ):
        return value
    if hasattr(value, "__html__"):  # markup the template itself made: cleaned, never isolated
        return Markup(plain_text(str(value.__html__())))  # noqa: S704 - markup already
    return isolate(plain_text(value if isinstance(value, str) else str(value)))


def _make_join(join: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja's ``join``, with each item made ready on its own: in ``names | join(", ")`` each
    name is isolated, not the whole line (which would reorder the names themselves)."""

    @pass_eval_context
    def ready_join(
        eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None
    ) -> str:
        if attribute is not None:
            value = map(make_attrgetter(eval_ctx.environment, attribute), value)
        joined = join(eval_ctx, [_finalize(item) for item in value], plain_text(d))
        return _PrintedMarkup(joined) if isinstance(joined, Markup) else _Printed(joined)

    return ready_join


def _standalone(value: Any) -> Any:
    """A value that stands alone (a PDF form field's value): cleaned but not isolated, so
    that the field holds exactly what the form said, and reads back the same."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return _Printed(plain_text(value))
    return value


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _named(folder: Path, name: str) -> Path:
    """Where the template ``name`` is in ``folder``, as written; a name with ``..``, or an
    absolute one, is refused (RenderError)."""
    pieces = name.replace("\\", "/").split("/")
    if name.startswith("/") or ".." in pieces or "\x00" in name:
        raise RenderError(
            f"The template name {name!r} leads out of the template folder: ehforms reads "
            "templates only from inside it"
        )
    return folder.joinpath(*(piece for piece in pieces if piece not in ("", ".")))


def _template_file(folder: Path, name: str, folders: Sequence[Path]) -> Path | None:
    """The file ``name`` in ``folder``, or None if it has none. Refused (RenderError) when the
    name holds ``..`` or is absolute, or when the file, through a symbolic link, is outside the
    template folders: a council's template can then never show another file's content."""
    candidate = _named(folder, name)
    if not os.path.lexists(candidate):
        return None
    resolved = candidate.resolve()
    if not _inside(resolved, folders):
        log.warning("refused the template %s: a link to a file outside the folders", candidate)
        raise RenderError(
            f"The template {name} in {folder} links to a file outside the template folders: "
            "ehforms reads templates only from inside them. Put the file itself there"
        )
    return resolved if resolved.is_file() else None


def _read(path: Path) -> bytes:
    """A template file found by :func:`_template_file`; a link put in its place since is not
    followed."""
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as file:
        return file.read()


class _FolderLoader(BaseLoader):
    """Jinja templates from one folder, never from outside the template folders."""

    def __init__(self, folder: Path, folders: Sequence[Path]) -> None:
        self.folder = folder
        self.folders = folders

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = _template_file(self.folder, template, self.folders)
        if path is None:
            raise TemplateNotFound(template)
        source = _read(path).decode("utf-8")
        mtime = path.stat().st_mtime
        listed = _named(self.folder, template)

        def uptodate() -> bool:
            try:  # the name as written: a file replaced by a link is read (and refused) anew
                return listed.stat().st_mtime == mtime and listed.resolve() == path
            except OSError:
                return False

        return source, str(path), uptodate


class _Fetcher:
    """A WeasyPrint URL fetcher that serves files from the template folders, and ``data:``.

    What it refuses is kept in ``refused``: a document for a routed form is not made from a
    template that asks for anything else (see :meth:`Renderer.document`).
    """

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [folder.resolve() for folder in folders]
        self.refused: list[str] = []

    def _refuse(self, url: str, why: str) -> ValueError:
        self.refused.append(url)
        log.warning("a template asked for %s: refused (%s)", url[:200], why)
        return ValueError(f"ehforms templates {why}")

    def fetch(self, url: str, headers: Any = None) -> Any:
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return URLFetcher(allowed_protocols={"data"}, allow_redirects=False).fetch(url)
        if scheme != "file":
            raise self._refuse(url, f"may not fetch {scheme or 'relative'} URLs")
        written = unquote(urlsplit(url).path)
        if ".." in written.split("/") or "\x00" in written:
            raise self._refuse(url, "may only use files in the template folder")
        path = Path(written).resolve()  # a symbolic link is followed, and must stay inside
        if not _inside(path, self.folders) or path in self.folders:
            raise self._refuse(url, "may only use files in the template folder")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=_read(path), headers={"Content-Type": mime})


def _make_fetcher(folders: Iterable[Path]) -> Any:
    """A fetcher for one document, as WeasyPrint takes it; its ``guard.refused`` says what
    the document's template asked for and did not get."""
    from weasyprint.urls import URLFetcher

    guard = _Fetcher(folders)

    class SafeFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            return guard.fetch(url, headers)

    fetcher = SafeFetcher(allow_redirects=False)
    fetcher.guard = guard
    return fetcher


@dataclass
class Rendered:
    pdf: bytes
    docx: bytes
    pages: int
    shrunk: int = 0


class _Environment(SandboxedEnvironment):
    """The sandbox, remembering what it compiled from a string: docxtpl compiles a DOCX
    template's whole XML with ``from_string`` on every render, the same XML each time."""

    COMPILED_KEPT = 32

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: dict[str, Any] = {}

    def from_string(self, source: Any, globals: Any = None, template_class: Any = None) -> Any:
        if globals is not None or template_class is not None or not isinstance(source, str):
            return super().from_string(source, globals, template_class)
        found = self._compiled.get(source)
        if found is None:
            found = super().from_string(source)
            if len(self._compiled) >= self.COMPILED_KEPT:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[source] = found
        return found


class Renderer:
    """Renders documents; template folders are searched in order (a root's own first)."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders if Path(f).is_dir()]
        if not self.folders:
            raise RenderError("No template folder found: run `ehforms init` to make one")
        # Each folder as it really is (a root's templates/ may itself be a link): every
        # template file must be inside one of these once its links are followed.
        self._resolved = [folder.resolve() for folder in self.folders]
        self.jinja = _Environment(
            loader=ChoiceLoader([_FolderLoader(f, self._resolved) for f in self.folders]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_finalize,
        )
        self.jinja.filters["join"] = _make_join(self.jinja.filters["join"])
        self.jinja.filters["standalone"] = _standalone
        self._docx: dict[tuple[str, int, int], bytes] = {}
        self._font_config: Any = None

    def warm(self) -> None:
        """Load fonts and the templates' engine now, so the first form does not wait for them."""
        fonts = self._fonts()  # WeasyPrint is loaded here first (ehforms.engine)
        from weasyprint import HTML

        HTML(string="<p>ehforms</p>", url_fetcher=_make_fetcher(self.folders)).render(
            font_config=fonts
        )

    def find(self, name: str) -> Path:
        """The template file ``name``: the first folder's that has it, never a file outside."""
        for folder in self.folders:
            path = _template_file(folder, name, self._resolved)
            if path is not None:
                return path
        raise RenderError(f"The template {name} is missing from {self.folders[0]}")

    def html(self, name: str, context: Mapping[str, Any]) -> str:
        return self.jinja.get_template(f"{name}.html").render(context)

    def _fonts(self) -> Any:
        if self._font_config is None:
            load_weasyprint()
            from weasyprint.text.fonts import FontConfiguration

            self._font_config = FontConfiguration()
        return self._font_config

    def _pdf_document(
        self, name: str, context: Mapping[str, Any], extra_css: str = "", forms: bool = False
    ) -> tuple[Any, list[str]]:
        """The laid-out PDF, and the URLs its template asked for and was refused."""
        font_config = self._fonts()
        from weasyprint import CSS, HTML

        fetcher = _make_fetcher(self.folders)
        source = self.find(f"{name}.html")
        html = HTML(
            string=self.html(name, context),
            base_url=source.parent.as_uri() + "/",
            url_fetcher=fetcher,
        )
        stylesheets = [CSS(string=extra_css, font_config=font_config)] if extra_css else []
        document = html.render(font_config=font_config, stylesheets=stylesheets, pdf_forms=forms)
        return document, fetcher.guard.refused

    def pdf_document(
        self, name: str, context: Mapping[str, Any], extra_css: str = "", forms: bool = False
    ) -> Any:
        """The laid-out PDF; what the template may not fetch is left out (and logged)."""
        return self._pdf_document(name, context, extra_css, forms)[0]

    def pdf(self, name: str, context: Mapping[str, Any], forms: bool = False) -> bytes:
        return bytes(self.pdf_document(name, context, forms=forms).write_pdf(pdf_forms=forms))

    def docx(self, name: str, context: Mapping[str, Any]) -> bytes:
        from docxtpl import DocxTemplate

        path = self.find(f"{name}.docx")
        stat = path.stat()
        key = (name, stat.st_mtime_ns, stat.st_size)  # a council's edit is seen at once
        if key not in self._docx:
            self._docx = {k: v for k, v in self._docx.items() if k[0] != name}
            self._docx[key] = _read(path)
        template = DocxTemplate(io.BytesIO(self._docx[key]))
        template.render(dict(context), jinja_env=self.jinja, autoescape=True)
        out = io.BytesIO()
        template.save(out)
        return out.getvalue()

    def document(
        self, name: str, context: Mapping[str, Any], max_pages: int | None = None
    ) -> Rendered:
        """PDF and DOCX of one document; a PDF over ``max_pages`` is shrunk step by step.

        A template that asks for a file outside the template folders, or for anything on the
        network, is broken: the document is not made (RenderError), so the receipt says so.
        """
        shrunk = 0
        document, refused = self._pdf_document(name, context)
        if refused:
            raise RenderError(
                f"The template {name}.html asks for {_describe(refused)}, which ehforms does not "
                "fetch: templates may use only files inside the template folders (a link to a "
                "file elsewhere is refused). Put the file itself in the templates folder"
            )
        if max_pages is not None:
            while len(document.pages) > max_pages and shrunk + 1 < len(SHRINK_STEPS):
                shrunk += 1
                document = self.pdf_document(name, context, SHRINK_STEPS[shrunk])
        pdf = bytes(document.write_pdf())
        return Rendered(pdf, self.docx(name, context), len(document.pages), shrunk)


def _describe(urls: Sequence[str]) -> str:
    """The refused URLs, by file name only (a receipt need not say where a link pointed)."""
    names = sorted({unquote(urlsplit(url).path).rsplit("/", 1)[-1] or url[:40] for url in urls})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def template_folders(root: Path | None) -> list[Path]:
    """A root's own ``templates/`` first (a council's edits), then the built-in ones."""
    from ehforms.content import builtin_templates

    folders = []
    if root is not None and (root / "templates").is_dir():
        folders.append(root / "templates")
    folders.append(Path(str(builtin_templates())))
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
