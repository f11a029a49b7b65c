"""Replay and backtest renderers: terminal table, Markdown, JSON, CSV and offline HTML with charts.

They format a `ReplayResult` or `BacktestResult`; they compute nothing. The JSON documents are
contracts (`tierlens.replay/1`, `tierlens.backtest/1`): keys are only added within a version.
Every money figure carries its label (exact / modelled / speculative) next to it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl

from tierlens.errors import optional_module
from tierlens.json_values import plain, plain_rows
from tierlens.render import count, markdown_table, money, table
from tierlens.replay.backtest import BacktestResult
from tierlens.replay.columns import LABELS
from tierlens.replay.results import PolicyResult, ReplayResult

REPLAY_SCHEMA = "tierlens.replay/1"
FORMATS = ("table", "markdown", "json", "csv", "html")
LABEL_NOTE = (
    "exact = the model does not change (same model re-priced); modelled = a model switch within one "
    "tokenizer generation; speculative = a cascade (escalation rate not in the logs) or a switch "
    "across tokenizer generations or providers."
)
LABEL_COLORS = {"exact": "#59a14f", "modelled": "#4e79a7", "speculative": "#f28e2b"}


def render(result: ReplayResult | BacktestResult, fmt: str) -> str:
    """The result in one of FORMATS."""
    from tierlens.replay.render_backtest import (  # it renders with this module's helpers
        backtest_csv,
        backtest_html,
        backtest_json,
        backtest_markdown,
        backtest_text,
    )

    if isinstance(result, BacktestResult):
        return {
            "table": backtest_text,
            "markdown": backtest_markdown,
            "json": backtest_json,
            "csv": backtest_csv,
            "html": backtest_html,
        }[fmt](result)
    return {
        "table": to_text,
        "markdown": to_markdown,
        "json": to_json,
        "csv": to_csv,
        "html": to_html,
    }[fmt](result)


# --- small formatting helpers ------------------------------------------------------------------------


def _pct(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "-"
    return f"{0.0:.{digits}f}%" if round(x, digits) == 0 else f"{x:.{digits}f}%"  # never -0.0%


def _share(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _range(
    p50: float | None, p10: float | None, p90: float | None, fmt: Callable[[float | None], str] = money
) -> str:
    if p50 is None:
        return "-"
    if p10 is not None and p90 is not None and abs(p90 - p10) <= 1e-9 * max(1.0, abs(p50)):
        return fmt(p50)
    return f"{fmt(p50)} [{fmt(p10)} .. {fmt(p90)}]"


def _inline(values: list[dict[str, Any]]) -> Any:
    """Altair inline data (Altair's constructor is untyped)."""
    alt = optional_module("altair", "charts")

    return alt.Data(values=values)


def _window(r: ReplayResult) -> str:
    return f"{r.start} .. {r.end} ({r.days} days)" if r.start else "(no data)"


# --- the replay ----------------------------------------------------------------------------------


def _headline(r: ReplayResult) -> list[str]:
    lines = [
        f"Replay of {count(r.requests - r.unpriced_requests)} priced requests, {_window(r)}: "
        f"baseline {money(r.baseline_usd)} (exact, re-priced with {r.price_version})",
    ]
    if r.unpriced_requests:
        models = ", ".join(
            f"{m} ({n:,} request{'' if n == 1 else 's'})" for m, n in r.unpriced_models.items()
        )
        lines.append(f"Not replayed (no price): {models}")
    lines.append(
        f"{r.draws:,} Monte Carlo draws (Latin hypercube), seed {r.seed}; figures are P50 [P10 .. P90]."
    )
    return lines


def _summary_rows(r: ReplayResult) -> list[list[Any]]:
    rows = []
    for p in r.policies:
        t = p.totals
        rows.append(
            [
                p.policy.name,
                _share(t["touched_share"]),
                _share(t["touched_spend_share"]),
                _range(t["cf_p50"], t["cf_p10"], t["cf_p90"]),
                _range(t["savings_p50"], t["savings_p10"], t["savings_p90"]),
                _pct(t["savings_pct"]),
                money(t["monthly_p50"]),
                t["label"],
            ]
        )
    return rows


SUMMARY_HEADERS = [
    "policy",
    "requests touched",
    "spend touched",
    "counterfactual",
    "savings",
    "%",
    "per month",
    "label",
]


def _policy_lines(p: PolicyResult, days: int) -> list[str]:
    t = p.totals
    lines = [f"{p.policy.name}: {p.policy.description}" if p.policy.description else p.policy.name]
    lines.append(f"  from {p.policy.path}")
    for rule in p.policy.rules:
        when = " ".join(rule.when.sql.split())
        lines.append(f"  rule {rule.index + 1} ({rule.name}): when {when} -> {rule.action()}")
    if not p.policy.rules:
        lines.append("  (no rules: touches nothing)")
    lines.append(
        f"  Touches {count(t['touched_requests'])} of {count(t['requests'])} requests ({_share(t['touched_share'])}) "
        f"and {money(t['touched_baseline_usd'])} of {money(t['baseline_usd'])} spend ({_share(t['touched_spend_share'])})."
    )
    lines.append(
        f"  Counterfactual {_range(t['cf_p50'], t['cf_p10'], t['cf_p90'])}; savings "
        f"{_range(t['savings_p50'], t['savings_p10'], t['savings_p90'])} ({_pct(t['savings_pct'])}), "
        f"{_range(t['monthly_p50'], t['monthly_p10'], t['monthly_p90'])} a month at the {days}-day rate [{t['label']}]"
    )
    if t["top_assumption"]:
        lines.append(
            f"  Moves the estimate most: {t['top_assumption']} (P10 -> P90 swings {money(t['top_swing_usd'])})"
        )
    if t["break_even_escalation"] is not None:
        lines.append(
            f"  Cascade break-even: it saves money while fewer than {_share(t['break_even_escalation'])} of requests escalate"
        )
    if t["unpriced_cf_requests"]:
        lines.append(
            f"  {count(t['unpriced_cf_requests'])} touched requests cannot be priced under the policy: kept at their baseline"
        )
    for c in p.calibrations:
        lines.append(
            f"  Output ratio {c.source} -> {c.target} for {c.feature} {c.basis}"
            + (f" ({c.n_source:,} + {c.n_target:,})" if c.origin == "logs" else "")
            + f": {c.ratio:.3f} (sigma {c.sigma:.3f})"
        )
    return lines


def _touched(p: PolicyResult) -> pl.DataFrame:
    return p.rows.filter(pl.col("touched_requests") > 0)


def _row_table(p: PolicyResult) -> tuple[list[str], list[list[Any]]]:
    headers = [
        "feature",
        "tier",
        "touched",
        "baseline",
        "counterfactual",
        "savings",
        "%",
        "per month",
        "label",
        "quality risk",
        "moves it most",
    ]
    rows = []
    for r in _touched(p).iter_rows(named=True):
        rows.append(
            [
                r["feature"],
                r["tier"],
                _share(r["touched_share"]),
                money(r["baseline_usd"]),
                _range(r["cf_p50"], r["cf_p10"], r["cf_p90"]),
                _range(r["savings_p50"], r["savings_p10"], r["savings_p90"]),
                _pct(r["savings_pct"]),
                money(r["monthly_p50"]),
                r["label"],
                r["quality_grade"],
                r["top_assumption"] or "-",
            ]
        )
    return headers, rows


def _quality_table(p: PolicyResult) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [r["feature"], r["tier"], r["quality_grade"], r["quality_evidence"], r["quality_detail"]]
        for r in _touched(p).iter_rows(named=True)
        if r["quality_grade"] != "none"
    ]
    return ["feature", "tier", "grade", "evidence", "detail"], rows


def _cascade_table(p: PolicyResult) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [
            c["feature"],
            c["tier"],
            money(c["baseline_usd"]),
            money(c["cheap_leg_usd"]),
            money(c["strong_leg_full_usd"]),
            _share(c["break_even_escalation"]) if c["break_even_escalation"] is not None else "-",
        ]
        for c in p.cascades
    ]
    return [
        "feature",
        "tier",
        "baseline",
        "cheap model (all)",
        "strong model (if all escalated)",
        "break-even escalation",
    ], rows


def _assumption_table(p: PolicyResult) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [a["label"], a["distribution"], a["source"], f"{a['p10']:.3g}", f"{a['p50']:.3g}", f"{a['p90']:.3g}"]
        for a in p.params
    ]
    return ["assumption", "distribution", "source", "P10", "P50", "P90"], rows


def _sections(p: PolicyResult) -> list[tuple[str, list[str], list[list[Any]]]]:
    out = []
    untouched = p.rows.height - _touched(p).height
    title = "By feature and tier (touched rows" + (
        f"; {untouched} untouched rows unchanged)" if untouched else ")"
    )
    out.append((title, *_row_table(p)))
    q = _quality_table(p)
    if q[1]:
        judged = any(row[3] == "judged on both models" for row in q[1])
        why = (
            "graded from quality judgments where both models have them"
            if judged
            else "the logs hold no quality judgments"
        )
        out.append((f"Quality risk ({why}: a flag for review)", *q))
    c = _cascade_table(p)
    if c[1]:
        out.append(("Cascade break-even (at the median of the other assumptions)", *c))
    a = _assumption_table(p)
    if a[1]:
        out.append(("Assumptions", *a))
    return out


def to_text(r: ReplayResult) -> str:
    lines = _headline(r)
    lines += ["", "Policies"]
    lines.append(table(_summary_rows(r), SUMMARY_HEADERS) if r.policies else "  (none)")
    lines += ["", f"Labels: {LABEL_NOTE}"]
    for p in r.policies:
        lines += ["", *_policy_lines(p, r.days)]
        for title, headers, rows in _sections(p):
            lines += ["", f"  {title}"]
            body = table(rows, headers) if rows else "(none)"
            lines += ["  " + x for x in body.splitlines()]
    return "\n".join(lines) + "\n"


def to_markdown(r: ReplayResult) -> str:
    lines = [f"# Routing-policy replay: {_window(r)}", ""]
    lines += [f"- {x}" for x in _headline(r)]
    lines += ["", "## Policies", "", markdown_table(SUMMARY_HEADERS, _summary_rows(r)), "", f"_{LABEL_NOTE}_"]
    for p in r.policies:
        head, *rest = _policy_lines(p, r.days)
        lines += ["", f"## {head}", ""] + [f"- {x.strip()}" for x in rest]
        for title, headers, rows in _sections(p):
            lines += ["", f"### {title}", "", markdown_table(headers, rows)]
    lines += [
        "",
        f"_Generated {r.generated_at.isoformat(timespec='seconds')} by tierlens from `{r.data_dir}`._",
    ]
    return "\n".join(lines) + "\n"


def to_dict(r: ReplayResult) -> dict[str, Any]:
    return {
        "schema": REPLAY_SCHEMA,
        "generated_at": r.generated_at.isoformat(timespec="seconds"),
        "data_dir": r.data_dir,
        "window": {"start": plain(r.start), "end": plain(r.end), "days": r.days},
        "draws": r.draws,
        "seed": r.seed,
        "price_version": r.price_version,
        "labels": {"values": list(LABELS), "meaning": LABEL_NOTE},
        "baseline": {
            "requests": r.requests,
            "cost_usd": plain(r.baseline_usd),
            "label": "exact",
            "unpriced_requests": r.unpriced_requests,
            "unpriced_models": r.unpriced_models,
        },
        "policies": [
            {
                **p.policy.to_dict(),
                "header": p.policy.header,
                "totals": plain(p.totals),
                "rows": plain_rows(p.rows),
                "assumptions": plain(p.params),
                "calibrations": [c.to_dict() for c in p.calibrations],
                "cascades": plain(p.cascades),
            }
            for p in r.policies
        ],
    }


def to_json(r: ReplayResult) -> str:
    return json.dumps(to_dict(r), indent=2) + "\n"


def to_csv(r: ReplayResult) -> str:
    """One row per policy x feature x tier (every row, touched or not)."""
    frames = [
        p.rows.with_columns(policy=pl.lit(p.policy.name)).select("policy", pl.exclude("policy"))
        for p in r.policies
    ]
    if not frames:
        return "policy\n"
    return pl.concat(frames).write_csv(float_precision=6)


# --- charts --------------------------------------------------------------------------------------


def chart_specs(r: ReplayResult) -> dict[str, dict[str, Any]]:
    """Vega-Lite specs: policies compared (savings P50 with P10-P90), and savings by feature."""
    alt = optional_module("altair", "charts")

    data = [
        {
            "policy": p.policy.name,
            "label": p.totals["label"],
            "p10": p.totals["savings_p10"],
            "p50": p.totals["savings_p50"],
            "p90": p.totals["savings_p90"],
        }
        for p in r.policies
    ]
    order = [d["policy"] for d in sorted(data, key=lambda d: -d["p50"])]
    labels = [lab for lab in LABELS if any(d["label"] == lab for d in data)]
    color = alt.Color(
        "label:N", title="label", scale=alt.Scale(domain=labels, range=[LABEL_COLORS[x] for x in labels])
    )
    base = alt.Chart(_inline(data), title=f"Savings by policy, {_window(r)} (P50, bars P10..P90)")
    bars = base.mark_bar(opacity=0.85).encode(
        y=alt.Y("policy:N", sort=order, title=None),
        x=alt.X("p50:Q", title="Saved ($)", axis=alt.Axis(format="$,.2~f")),
        color=color,
        tooltip=[
            "policy:N",
            "label:N",
            alt.Tooltip("p10:Q", format="$,.2f"),
            alt.Tooltip("p50:Q", format="$,.2f"),
            alt.Tooltip("p90:Q", format="$,.2f"),
        ],
    )
    whiskers = base.mark_rule(color="#333").encode(y=alt.Y("policy:N", sort=order), x="p10:Q", x2="p90:Q")
    compare = (bars + whiskers).properties(width=640, height=max(60, 36 * len(data)))
    rows = []
    for p in r.policies:
        for row in _touched(p).iter_rows(named=True):
            rows.append({"policy": p.policy.name, "feature": row["feature"], "savings": row["savings_p50"]})
    by_feature = (
        alt.Chart(_inline(rows), title="Savings by feature (P50)")
        .mark_bar()
        .encode(
            y=alt.Y("policy:N", sort=order, title=None),
            x=alt.X("sum(savings):Q", title="Saved ($)", stack="zero", axis=alt.Axis(format="$,.2~f")),
            color=alt.Color("feature:N"),
            tooltip=["policy:N", "feature:N", alt.Tooltip("savings:Q", format="$,.2f")],
        )
        .properties(width=640, height=max(60, 36 * len(data)))
    )
    return {"policies": compare.to_dict(), "by_feature": by_feature.to_dict()}


def _html_page(
    title: str,
    headline: list[str],
    specs: dict[str, dict[str, Any]],
    body: list[str],
    r_generated: datetime,
    data_dir: str,
) -> str:
    from tierlens.report.html import chart_divs, page_end, page_start

    footer = (
        f"Generated {html.escape(r_generated.isoformat(timespec='seconds'))} by tierlens from "
        f"<code>{html.escape(data_dir)}</code>."
    )
    parts = [*page_start(title, headline), *chart_divs(specs), *body, *page_end(specs, footer)]
    return "\n".join(parts) + "\n"


def to_html(r: ReplayResult) -> str:
    """The replay as one self-contained HTML page (charts inlined, works offline)."""
    from tierlens.report.html import _table

    body = [
        "<h2>Policies</h2>",
        _table(SUMMARY_HEADERS, _summary_rows(r)),
        f"<p><em>{html.escape(LABEL_NOTE)}</em></p>",
    ]
    for p in r.policies:
        head, *rest = _policy_lines(p, r.days)
        body.append(
            f"<h2>{html.escape(head)}</h2><ul>"
            + "".join(f"<li>{html.escape(x.strip())}</li>" for x in rest)
            + "</ul>"
        )
        for title, headers, rows in _sections(p):
            body.append(f"<h3>{html.escape(title)}</h3>{_table(headers, rows)}")
    return _html_page(
        f"Routing-policy replay: {_window(r)}", _headline(r), chart_specs(r), body, r.generated_at, r.data_dir
    )
