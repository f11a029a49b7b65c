"""The HTML report: one self-contained file that works offline.

Vega, Vega-Lite and vega-embed are inlined from vl-convert's bundle (no CDN, no network), the
chart specs come from `charts.py`, the tables and findings from the same sections as the text
formats. Each chart's container records `data-rendered="true"` once Vega has drawn it, which is
what the browser test checks. Text from the shared sections may carry Markdown code spans
(`tierlens flags`): they become `<code>`, never literal backticks.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from tierlens.errors import optional_module
from tierlens.report import charts
from tierlens.report.model import Report
from tierlens.report.render import _finding_lines, _headline, _sections

_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1040px; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
ul.headline { padding-left: 1.2rem; } .finding-warning { color: #a33; } .finding-critical { color: #a00; font-weight: 600; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .2rem .7rem; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f7f7f7; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.chart { margin: 1rem 0; min-height: 300px; } footer { color: #777; margin-top: 2rem; font-size: .85rem; }
"""


# what a number column shows where it has no number (see `tierlens.render.money`)
PLACEHOLDERS = {"", "-", "\u2013", "\u2014", "n/a", "unpriced"}
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escaped text, with Markdown code spans (`x`) as `<code>x</code>`."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def _numeric(value: Any) -> bool:
    text = str(value).strip()
    return text[:1] in "$+-0123456789" and any(ch.isdigit() for ch in text)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    """A table whose number columns (and their placeholders) are right-aligned, header included."""
    if not rows:
        return "<p><em>none</em></p>"
    columns = list(zip(*rows, strict=False))
    num = [
        any(_numeric(v) for v in col) and all(_numeric(v) or str(v).strip() in PLACEHOLDERS for v in col)
        for col in columns
    ]
    num += [False] * (len(headers) - len(num))

    def cls(i: int) -> str:
        return ' class="num"' if i < len(num) and num[i] else ""

    head = "".join(f"<th{cls(i)}>{_inline(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_inline(str(c))}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _script_json(value: Any) -> str:
    return json.dumps(value).replace("</", "<\\/")


def page_start(title: str, headline: list[str]) -> list[str]:
    """The head of an offline page: CSS, the inlined Vega bundle, the title and the headline list."""
    vlc = optional_module("vl_convert", "charts")

    bundle = vlc.javascript_bundle()
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
        f"<script>{bundle}</script>",
        "</head><body>",
        f"<h1>{_inline(title)}</h1>",
        '<ul class="headline">' + "".join(f"<li>{_inline(x)}</li>" for x in headline) + "</ul>",
    ]


def chart_divs(specs: dict[str, Any]) -> list[str]:
    return [f'<div class="chart" id="chart-{name}" data-chart="{name}"></div>' for name in specs]


# the page's defaults under each chart's own config: a chart that sets no colour range gets 20
# distinct colours, not Vega's 10 (the report's charts set theirs; see charts.distinct_colors)
EMBED_CONFIG = {"range": {"category": charts.PALETTE}}


def page_end(specs: dict[str, Any], footer: str) -> list[str]:
    """The footer, and the script that draws each chart and marks its container once Vega has drawn it."""
    return [
        f"<footer>{footer}</footer>",
        "<script>const specs = " + _script_json(specs) + ";\n"
        "for (const [name, spec] of Object.entries(specs)) {\n"
        "  const el = document.getElementById('chart-' + name);\n"
        "  vegaEmbed(el, spec, {renderer: 'svg', actions: false, config: "
        + _script_json(EMBED_CONFIG)
        + "})\n"
        "    .then(res => { el.dataset.rendered = 'true';\n"
        "                   el.dataset.points = String(res.view.data('data_0') ? res.view.data('data_0').length : 0); })\n"
        "    .catch(err => { el.dataset.error = String(err); });\n"
        "}</script>",
        "</body></html>",
    ]


def to_html(r: Report) -> str:
    """The whole report as one offline HTML document."""
    specs = charts.specs(r)
    title = f"LLM spend report: {r.label}"
    parts = [*page_start(title, _headline(r)), "<h2>Findings</h2><ul>"]
    for f, line in zip(r.findings, _finding_lines(r), strict=False):
        parts.append(f'<li class="finding-{html.escape(str(f["severity"]))}">{_inline(line)}</li>')
    if not r.findings:
        parts.append(f"<li>{_inline(_finding_lines(r)[0])}</li>")
    parts.append("</ul><h2>Trends</h2>")
    parts += chart_divs(specs)
    for title_, headers, rows in _sections(r):
        parts.append(f"<h2>{_inline(title_)}</h2>{_table(headers, rows)}")
    footer = (
        f"Generated {html.escape(r.generated_at.isoformat())} by tierlens from "
        f"<code>{html.escape(r.data_dir)}</code> ({html.escape(r.engine)} engine)."
    )
    parts += page_end(specs, footer)
    return "\n".join(parts) + "\n"
