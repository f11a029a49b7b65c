"""A backtest rendered: text, Markdown, JSON, CSV, the chart specifications and HTML."""

from __future__ import annotations

import html
import json
from typing import Any

import polars as pl

from tierlens.errors import optional_module
from tierlens.json_values import plain, plain_rows
from tierlens.render import markdown_table, money, table
from tierlens.replay.backtest import VALIDATED_COVERAGE, BacktestResult
from tierlens.replay.render import _assumption_table, _html_page, _inline, _pct, _range

BACKTEST_SCHEMA = "tierlens.backtest/1"


# --- the backtest --------------------------------------------------------------------------------


def _backtest_headline(b: BacktestResult) -> list[str]:
    lines = [
        f"Backtest at {b.at}: replayed {b.before[0]} .. {b.before[1]} (before), "
        f"compared with {b.after[0]} .. {b.after[1]} (after)",
    ]
    for c in b.changes:
        lines.append(
            f"Routing change found: {c.feature} moved {c.before_model} -> {c.after_model} "
            f"({c.n_before:,} requests before, {c.n_after:,} after; {c.shift:.0%} of traffic moved)"
        )
    lines.append(
        "Prediction = replayed cost per request x requests observed after the change, widened by the "
        "sampling error of comparing two windows; calibrated on the before window only."
    )
    inside = b.rows.filter(pl.col("comparable"))
    if inside.height:
        ok = int(inside["inside"].sum())
        lines.append(
            f"Observed cost inside the predicted P10..P90 range for {ok} of {inside.height} comparable policy x feature pairs."
        )
    v = VALIDATED_COVERAGE
    lines.append(
        f"These ranges were validated on {v['migrations']} simulated migrations: the outcome fell inside P10..P90 in "
        f"{v['p10_p90']:.0%} of them and inside P5..P95 in {v['p05_p95']:.0%} (aim: about 80% and 90%)."
    )
    return lines


def _backtest_rows(b: BacktestResult) -> tuple[list[str], list[list[Any]], list[str]]:
    headers = [
        "policy",
        "feature",
        "label",
        "observed after",
        "predicted",
        "inside P10..P90",
        "P50 error",
        "savings observed",
        "savings predicted",
        "if nothing changed",
    ]
    rows, notes = [], []
    for r in b.rows.iter_rows(named=True):
        if not r["comparable"]:
            notes.append(f"{r['policy']} / {r['feature']}: not comparable: {r['reason']}")
            continue
        rows.append(
            [
                r["policy"],
                r["feature"],
                r["label"],
                money(r["observed_after_usd"]),
                _range(r["predicted_p50"], r["predicted_p10"], r["predicted_p90"]),
                "yes" if r["inside"] else "NO",
                f"{r['error_p50_pct']:+.1f}%" if r["error_p50_pct"] is not None else "-",
                _pct(r["observed_savings_pct"]),
                _range(
                    r["predicted_savings_p50_pct"],
                    r["predicted_savings_p10_pct"],
                    r["predicted_savings_p90_pct"],
                    _pct,
                ),
                money(r["naive_after_usd"]),
            ]
        )
    return headers, rows, notes


def _backtest_assumptions(b: BacktestResult) -> list[tuple[str, list[str], list[list[Any]]]]:
    comparable = set(b.rows.filter(pl.col("comparable"))["policy"].to_list())
    out = []
    for p in b.replay.policies:
        if p.policy.name in comparable:
            a = _assumption_table(p)
            if a[1]:
                out.append((f"Assumptions of {p.policy.name}", *a))
    return out


def backtest_text(b: BacktestResult) -> str:
    lines = _backtest_headline(b)
    headers, rows, notes = _backtest_rows(b)
    lines += [
        "",
        table(rows, headers) if rows else "No policy routes the changed features the way they moved.",
    ]
    lines += [f"  {n}" for n in notes]
    for title, h, rs in _backtest_assumptions(b):
        lines += ["", title, table(rs, h)]
    return "\n".join(lines) + "\n"


def backtest_markdown(b: BacktestResult) -> str:
    lines = [f"# Backtest at {b.at}", ""] + [f"- {x}" for x in _backtest_headline(b)]
    headers, rows, notes = _backtest_rows(b)
    lines += ["", markdown_table(headers, rows)]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    for title, h, rs in _backtest_assumptions(b):
        lines += ["", f"## {title}", "", markdown_table(h, rs)]
    return "\n".join(lines) + "\n"


def backtest_dict(b: BacktestResult) -> dict[str, Any]:
    return {
        "schema": BACKTEST_SCHEMA,
        "generated_at": b.generated_at.isoformat(timespec="seconds"),
        "data_dir": b.data_dir,
        "at": b.at.isoformat(),
        "before": {"start": b.before[0].isoformat(), "end": b.before[1].isoformat()},
        "after": {"start": b.after[0].isoformat(), "end": b.after[1].isoformat()},
        "draws": b.draws,
        "seed": b.seed,
        "price_version": b.price_version,
        "changes": [c.to_dict() for c in b.changes],
        "rows": plain_rows(b.rows),
        "assumptions": {p.policy.name: plain(p.params) for p in b.replay.policies},
    }


def backtest_json(b: BacktestResult) -> str:
    return json.dumps(backtest_dict(b), indent=2) + "\n"


def backtest_csv(b: BacktestResult) -> str:
    return b.rows.with_columns(at=pl.lit(b.at)).select("at", pl.exclude("at")).write_csv(float_precision=6)


def backtest_chart_specs(b: BacktestResult) -> dict[str, dict[str, Any]]:
    alt = optional_module("altair", "charts")

    data = [
        {
            "case": f"{r['policy']} / {r['feature']}",
            "p10": r["predicted_p10"],
            "p50": r["predicted_p50"],
            "p90": r["predicted_p90"],
            "observed": r["observed_after_usd"],
        }
        for r in b.rows.filter(pl.col("comparable")).iter_rows(named=True)
    ]
    base = alt.Chart(_inline(data), title=f"Predicted (P10..P90, P50 tick) vs observed cost after {b.at}")
    y = alt.Y("case:N", title=None)
    band = base.mark_rule(strokeWidth=6, opacity=0.4, color="#4e79a7").encode(
        y=y, x=alt.X("p10:Q", title="Cost ($)", axis=alt.Axis(format="$,.2~f")), x2="p90:Q"
    )
    tick = base.mark_tick(color="#4e79a7", thickness=2).encode(y=y, x="p50:Q")
    point = base.mark_point(shape="diamond", filled=True, size=120, color="#e15759").encode(
        y=y,
        x="observed:Q",
        tooltip=["case:N", alt.Tooltip("observed:Q", format="$,.2f"), alt.Tooltip("p50:Q", format="$,.2f")],
    )
    return {"backtest": (band + tick + point).properties(width=640, height=max(60, 40 * len(data))).to_dict()}


def backtest_html(b: BacktestResult) -> str:
    from tierlens.report.html import _table

    headers, rows, notes = _backtest_rows(b)
    body = ["<h2>Predicted vs observed</h2>", _table(headers, rows)]
    if notes:
        body.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    for title, h, rs in _backtest_assumptions(b):
        body.append(f"<h2>{html.escape(title)}</h2>{_table(h, rs)}")
    return _html_page(
        f"Backtest at {b.at}",
        _backtest_headline(b),
        backtest_chart_specs(b),
        body,
        b.generated_at,
        b.data_dir,
    )
