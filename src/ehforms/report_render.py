"""The weekly report as a page and as a PDF: its charts (pygal) and the template.

Each chart is pygal's own SVG, inline, taken as pygal made it but for three things a page
with a strict Content-Security-Policy and a PDF have no use for: its script (the tooltips'
configuration), the tooltip layer (hidden by a ``style`` attribute, shown only by that
script), each bar's ``<desc>`` (its value again, for the tooltips), its comments (which
carry the time it was made) and the legend's ids (for that script, and the same in every
chart: a page holds five). Each gets a ``<title>`` (its
name for a screen reader, beside ``role="img"``) and keeps its ``<style>``, scoped by pygal to
the chart's own id; the page allows exactly those styles by their hashes
(:func:`style_hashes`).

One template, ``report-body.html`` (a council may edit it in its root's ``templates/``), is
the report on the web page and, inside ``report.html`` with ``report.css``, in the PDF that
WeasyPrint makes: the same HTML both ways.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from ehforms.registry import FORM_TYPES
from ehforms.render import Renderer
from ehforms.report import OUTCOMES, REJECTED, UNKNOWN, Report, hours_text

# GOV.UK's colours (design-system.service.gov.uk/styles/colour), distinct in print too.
PALETTE = (
    "#1d70b8",  # blue
    "#f47738",  # orange
    "#00703c",  # green
    "#4c2c92",  # purple
    "#d4351c",  # red
    "#28a197",  # turquoise
    "#b58840",  # brown
    "#f499be",  # pink
    "#505a5f",  # dark grey
    "#85994b",  # light green
    "#912b88",  # bright purple
    "#003078",  # dark blue
)
SHORT_NAMES = {
    "notification": "Notification",
    "rfas": "RfAS",
    "transfer": "Transfer",
    "marf": "MARF",
    "closure": "Closure",
    UNKNOWN: "Unknown",
}
OUTCOME_NAMES = {o: o.capitalize() for o in OUTCOMES}
REJECTED_NAME = "Rejected (no mailbox)"


@dataclass(frozen=True)
class Chart:
    """A chart and the table beside it: the same figures twice."""

    name: str  # the chart's <title>
    svg: Markup
    caption: str
    columns: tuple[str, ...]  # the first names the rows
    rows: tuple[tuple[str, ...], ...]
    wide: bool = False  # a wide table: the chart takes a third of the width, not half


def _load_pygal() -> Any:
    """pygal, its map plugins' finder given ``find_spec``. pygal appends to ``sys.meta_path`` a
    finder with only the legacy ``find_module`` (Kozea/pygal#532, still open), and Python then
    warns (ImportWarning) at every later import that no other finder knows, even an optional
    one tried inside WeasyPrint; under ``-W error`` that warning stops the import. With
    ``find_spec`` the finder still finds what it found, and no other import warns (a map
    plugin, which ehforms never imports, still loads the legacy way)."""
    import importlib.util
    import sys

    import pygal

    for finder in sys.meta_path:
        if type(finder).__name__ == "PluginImportFixer" and not hasattr(finder, "find_spec"):

            def find_spec(name: str, path: Any = None, target: Any = None, of: Any = finder) -> Any:
                found = of.find_module(name, path)
                return None if found is None else importlib.util.spec_from_loader(name, found)

            finder.find_spec = find_spec  # type: ignore[method-assign]  # the adapter, above
    return pygal


def _style() -> Any:
    _load_pygal()
    from pygal.style import Style

    return Style(
        font_family="Arial, 'Liberation Sans', Helvetica, sans-serif",
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#0b0c0c",
        foreground_strong="#0b0c0c",
        foreground_subtle="#b1b4b6",
        colors=PALETTE,
        opacity="1",
        opacity_hover="1",
        transition="0s",
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=13,
        value_font_size=12,
        tooltip_font_size=12,
        no_data_font_size=20,
        guide_stroke_dasharray="2,2",
    )


def svg_chart(
    kind: str,
    name: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    height: int = 250,
) -> Markup:
    """One pygal chart as inline SVG: ``kind`` is ``stacked`` (a bar a week, stacked by
    series) or ``bars`` (horizontal bars side by side, a group a label)."""
    pygal = _load_pygal()
    from pygal.etree import etree

    make = pygal.StackedBar if kind == "stacked" else pygal.HorizontalBar
    longest = max((len(title) for title, _ in series), default=0)
    # a row of the legend is as wide as the plot (after a horizontal chart's labels)
    columns = max(1, min(len(series), 4 if longest <= 14 else 1)) if kind == "stacked" else 1
    rows = -(-len(series) // columns)
    height += 20 * (rows - 1)
    if kind != "stacked":  # pygal draws a horizontal chart's labels bottom up
        labels = list(reversed(labels))
        series = [(title, list(reversed(values))) for title, values in series]
    chart = make(
        style=_style(),
        width=480,
        height=height,
        disable_xml_declaration=True,
        js=[],
        legend_at_bottom=True,
        legend_at_bottom_columns=columns,
        truncate_legend=-1,  # never cut a mailbox's name short
        truncate_label=-1,
        show_y_guides=True,
        print_zeroes=False,
        min_scale=4,
        max_scale=8 if kind == "stacked" else 6,
        margin=12,
        # pygal counts the legend's rows rounding down: room for the last, part-filled one
        margin_bottom=12 + (20 if len(series) % columns else 0),
        spacing=12,
        no_data_text="No forms",
    )
    chart.x_labels = list(labels)
    for title, values in series:
        chart.add(title, list(values))
    tree = chart.render_tree()
    for node in list(tree.iter()):
        tag = node.tag if isinstance(node.tag, str) else ""
        parent = node.getparent() if hasattr(node, "getparent") else None
        if parent is None:
            continue
        if (node.get("id") or "").startswith("activate-serie"):
            del node.attrib["id"]  # for its script, and the same in every chart of a page
        if (
            not tag  # a comment: pygal's own, with the time it was made
            or tag.endswith("script")
            or tag.endswith("desc")  # a bar's value and label again, for the tooltips
            or "tooltip-overlay" in (node.get("class") or "")
        ):
            parent.remove(node)
    title = etree.Element("title")
    title.text = name
    tree.insert(0, title)
    tree.set("role", "img")
    tree.set("class", (tree.get("class") or "") + " ehforms-chart")
    return Markup(etree.tostring(tree, encoding="unicode"))  # noqa: S704 - pygal's SVG


def style_hashes(html: str) -> list[str]:
    """The CSP hash of every ``<style>`` element in ``html`` (the charts'), over its text as
    the browser reads it."""
    from html import unescape

    found = []
    for body in re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S):
        digest = hashlib.sha256(unescape(body).encode("utf-8")).digest()
        found.append(f"'sha256-{base64.b64encode(digest).decode()}'")
    return sorted(set(found))


def week_label(day: dt.date) -> str:
    return f"{day.day} {day:%b}"


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def type_name(form_type: str) -> str:
    if form_type in SHORT_NAMES:
        return SHORT_NAMES[form_type]
    return FORM_TYPES[form_type].title if form_type in FORM_TYPES else form_type


def context(
    report: Report,
    names: Mapping[str, str],
    *,
    council: str,
    downloads: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """What the template is given: the period, each chart with its table, the links."""

    def mailbox(name: str) -> str:
        return REJECTED_NAME if name == REJECTED else names.get(name, name)

    weeks = [week_label(day) for day in report.weeks]
    week_rows = [
        # no break inside a date: a narrow table wraps between words, never within "28 Sep 2026"
        f"{day.day}\u00a0{day:%b}\u00a0{day:%Y}" + (" (this week)" if day == report.current else "")
        for day in report.weeks
    ]

    def weekly(
        name: str, caption: str, by: Mapping[str, Sequence[int]], named: Any, keep_empty: bool
    ) -> Chart:
        kept = [(key, counts) for key, counts in by.items() if keep_empty or any(counts)]
        columns = ("Week starting", *(named(key) for key, _ in kept), "Total")
        rows = tuple(
            (
                week_rows[w],
                *(f"{counts[w]:,}" for _, counts in kept),
                f"{sum(counts[w] for _, counts in kept):,}",
            )
            for w in range(len(weeks))
        )
        svg = svg_chart(
            "stacked",
            name,
            weeks,
            [(named(key), [c or None for c in counts]) for key, counts in kept],
        )
        return Chart(name, svg, caption, columns, rows)

    def by_mailbox() -> Chart:
        """Mailboxes as rows and weeks as columns: a long name reads better on a row."""
        name = "Forms received each week, by mailbox"
        kept = [(key, counts) for key, counts in report.by_mailbox.items() if any(counts)]
        svg = svg_chart(
            "stacked",
            name,
            weeks,
            [(mailbox(key), [c or None for c in counts]) for key, counts in kept],
        )
        columns = ("Mailbox", *weeks, "Total")
        rows = tuple(
            (mailbox(key), *(f"{c:,}" for c in counts), f"{sum(counts):,}") for key, counts in kept
        )
        return Chart(name, svg, "Forms received, by mailbox", columns, rows, wide=True)

    charts = {
        "by_type": weekly(
            "Forms received each week, by form type",
            "Forms received, by form type",
            report.by_type,
            type_name,
            keep_empty=False,
        ),
        "by_mailbox": by_mailbox(),
        "outcomes": weekly(
            "Outcomes each week",
            "Outcomes",
            report.outcomes,
            lambda o: OUTCOME_NAMES.get(o, o.capitalize()),
            keep_empty=True,
        ),
    }
    handling = report.handling
    charts["handling"] = Chart(
        "Hours from receipt to handled, by mailbox",
        svg_chart(
            "bars",
            "Hours from receipt to handled, by mailbox",
            [mailbox(h.mailbox) for h in handling],
            [
                ("Median", [_hours(h.median_hours) for h in handling]),
                ("90th percentile", [_hours(h.p90_hours) for h in handling]),
            ],
            height=max(200, 60 + 30 * len(handling)),
        ),
        "Hours from receipt to handled",
        ("Mailbox", "Handled", "Median hours", "90th percentile hours"),
        tuple(
            (
                mailbox(h.mailbox),
                f"{h.handled:,}",
                hours_text(h.median_hours) or "None handled",
                hours_text(h.p90_hours) or "None handled",
            )
            for h in handling
        ),
    )
    waiting = report.waiting
    charts["overdue"] = Chart(
        "Forms waiting and overdue now, by mailbox",
        svg_chart(
            "bars",
            "Forms waiting and overdue now, by mailbox",
            [mailbox(w.mailbox) for w in waiting],
            [
                ("Waiting", [w.waiting or None for w in waiting]),
                ("Overdue", [w.overdue or None for w in waiting]),
            ],
            height=max(200, 60 + 30 * len(waiting)),
        ),
        "Waiting and overdue now",
        ("Mailbox", "Waiting", "Overdue"),
        tuple((mailbox(w.mailbox), f"{w.waiting:,}", f"{w.overdue:,}") for w in waiting),
    )
    local = report.at.astimezone(dt.UTC).astimezone(_zone(report.zone))
    return {
        "council": council,
        "from_date": long_date(report.weeks[0]),
        "weeks": len(report.weeks) - 1,
        "made_at": f"{local.day} {local:%B %Y} at {local:%H:%M}",
        "zone": report.zone,
        "total": f"{sum(report.received):,}",
        "charts": charts,
        "downloads": list(downloads),
    }


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def html(renderer: Renderer, values: Mapping[str, Any]) -> Markup:
    """The report's body (``report-body.html``) for a page."""
    return Markup(renderer.html("report-body", values))  # noqa: S704 - autoescaped template


def pdf(renderer: Renderer, values: Mapping[str, Any]) -> bytes:
    """The report as a PDF: ``report.html`` (the same body) through WeasyPrint."""
    return renderer.pdf("report", {**values, "css": None})


def page(renderer: Renderer, values: Mapping[str, Any]) -> str:
    """The report as a page of its own (``ehforms report --format html``): ``report.html``
    with ``report.css`` written into it, so the file stands alone."""
    css = renderer.find("report.css").read_text(encoding="utf-8")
    return renderer.html("report", {**values, "css": Markup(css)})  # noqa: S704 - the root's
