"""Report renderers: terminal table, Markdown, JSON (a stable, versioned schema) and CSV.

They format a `Report`; they never aggregate. The JSON document is the contract other tools
consume (`schema: tierlens.report/1`): keys are only ever added within a schema version.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import polars as pl

from tierlens.json_values import plain, plain_rows
from tierlens.render import count, markdown_table, money, money_range, pct, table
from tierlens.report.model import BY_COLUMNS, SCHEMA_VERSION, Report


def to_dict(r: Report) -> dict[str, Any]:
    """The report as a JSON-ready document (schema `tierlens.report/1`)."""
    return {
        "schema": SCHEMA_VERSION,
        "generated_at": r.generated_at.isoformat(),
        "data_dir": r.data_dir,
        "engine": r.engine,
        "grain": r.grain,
        "by": r.by,
        "as_of": r.as_of.isoformat(),
        "period": {
            "start": r.period.start.isoformat(),
            "end": r.period.end.isoformat(),
            "label": r.label,
        },
        "previous_periods": [{"start": w.start.isoformat(), "end": w.end.isoformat()} for w in r.previous],
        "totals": plain(r.totals),
        "coverage": plain(r.coverage),
        "savings": plain(r.savings),
        "findings": plain(r.findings),
        "feature_tier_matrix": plain_rows(r.matrix),
        "by_model": plain_rows(r.by_model),
        "breakdown": plain_rows(r.breakdown),
        "top_movers": plain_rows(r.movers),
        "unit_costs": plain_rows(r.unit_costs),
        "potential_savings": plain_rows(r.potential),
        "series": plain_rows(r.series),
    }


def to_json(r: Report) -> str:
    return json.dumps(to_dict(r), indent=2, sort_keys=False) + "\n"


def to_csv(r: Report) -> str:
    """The `--by` breakdown for the period: one row per group, current vs previous."""
    out = r.breakdown.with_columns(
        period_start=pl.lit(r.period.start), period_end=pl.lit(r.period.end)
    ).select("period_start", "period_end", pl.exclude("period_start", "period_end"))
    return out.write_csv(float_precision=6)


def _dims(r: Report, row: dict[str, Any]) -> list[str]:
    return [str(row[BY_COLUMNS[b]]) for b in r.by]


def _previous(r: Report) -> str:
    what = f"{r.period.days} days" if r.custom else r.grain
    return f"{what}, per day of data" if r.totals.get("compared_per_day") else what


def _headline(r: Report) -> list[str]:
    t, c = r.totals, r.coverage
    lines = [
        f"Spend {r.label}: {money(t['cost_usd'])} over {count(t['requests'])} requests"
        + (
            f" ({pct(t['change_pct'])} on the previous {_previous(r)}, requests {pct(t['requests_change_pct'])})"
            if t["change_pct"] is not None
            else ""
        ),
        *[f"Note: {n}" for n in r.notes],
    ]
    if t["baseline_cost_usd"] is not None:
        lines.append(
            f"Average of the {t['baseline_periods']} {r.grain}s before: {money(t['baseline_cost_usd'])} ({pct(t['vs_baseline_pct'])})"
        )
    s = r.savings
    lines.append(
        f"Prompt caching saved {money(s['caching_saved_usd'])} and batch saved {money(s['batch_saved_usd'])} "
        f"against list price ({money(s['list_cost_usd'])})"
        + (
            f"; fast mode cost {money(s['fast_premium_usd'])} more than standard speed"
            if s["fast_premium_usd"]
            else ""
        )
    )
    unpriced = f"{count(c['unpriced_requests'])} unpriced requests ({100 * c['unpriced_share']:.1f}%)"
    if c["unpriced_models"]:
        unpriced += " - " + ", ".join(c["unpriced_models"])
    lines.append(
        f"{unpriced}; unattributed spend {money(c['unattributed_cost_usd'])} ({100 * c['unattributed_share']:.1f}%)"
    )
    return lines


class Section(NamedTuple):
    """One table of the text formats: its title, column headers and formatted rows."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


def _sections(r: Report) -> list[Section]:
    """(title, headers, rows) for every table the text formats show."""
    tiers = [c for c in r.matrix.columns if c not in ("feature", "total")]
    judged = "quality" in r.unit_costs.columns
    by_title = " x ".join(r.by)
    full = []  # the matrix already shows feature x tier; any other --by gets its whole table
    if sorted(r.by) != ["feature", "tier"]:
        full.append(
            Section(
                f"Spend by {by_title}, {r.label}",
                [*r.by, "requests", "cost", "previous", "change", "%"],
                _breakdown_rows(r),
            )
        )
    return [
        Section(
            f"Spend by feature and tier, {r.label}", ["feature", *tiers, "total"], _matrix_rows(r, tiers)
        ),
        *full,
        Section(
            f"Top movers by {by_title} (vs the previous {r.grain})",
            [*r.by, "previous", "now", "change", "%"],
            _mover_rows(r),
        ),
        Section("Spend by model", ["model", "requests", "cost", "previous", "%"], _model_rows(r)),
        Section(
            "Unit costs by feature",
            ["feature", "requests", "per request", "% vs prev", "per 1K output", "cache read"]
            + (["quality"] if judged else []),
            _unit_rows(r, judged),
        ),
        Section(
            "Savings not taken (per month, from `tierlens flags`)",
            ["feature", "action", "could save", "range", "basis"],
            _potential_rows(r),
        ),
    ]


def _matrix_rows(r: Report, tiers: list[str]) -> list[list[Any]]:
    """The feature x tier matrix: a blank where a feature has no spend on a tier."""
    return [
        [
            row["feature"],
            *[money(row[t]) if row[t] is not None else "" for t in tiers],
            money(row["total"], unpriced=True),
        ]
        for row in r.matrix.iter_rows(named=True)
    ]


def _mover_rows(r: Report) -> list[list[Any]]:
    """The groups whose spend changed most."""
    return [
        [
            *_dims(r, row),
            money(row["previous_cost_usd"]),
            money(row["cost_usd"]),
            money(row["change_usd"]),
            pct(row["change_pct"]),
        ]
        for row in r.movers.iter_rows(named=True)
    ]


def _model_rows(r: Report) -> list[list[Any]]:
    """Spend by model against the previous period."""
    return [
        [
            row["model_id"],
            count(row["requests"]),
            money(row["cost_usd"], unpriced=True),
            money(row["previous_cost_usd"]),
            pct(row["change_pct"]),
        ]
        for row in r.by_model.iter_rows(named=True)
    ]


def _unit_rows(r: Report, judged: bool) -> list[list[Any]]:
    """Unit costs by feature, with the best-judged quality metric when there are judgments."""
    return [
        [
            row["feature"],
            count(row["requests"]),
            money(row["cost_per_request"]),
            pct(row.get("cost_per_request_change_pct")),
            money(row["cost_per_1k_output"]),
            f"{100 * (row['cache_read_share'] or 0):.0f}%",
            *([row["quality"] or "-"] if judged else []),
        ]
        for row in r.unit_costs.iter_rows(named=True)
    ]


def _potential_rows(r: Report) -> list[list[Any]]:
    """The savings the signals found and nobody took yet."""
    return [
        [
            row["feature"],
            row["action"],
            money(row["monthly_usd"]),
            money_range(row["low_usd"], row["high_usd"]),
            row["basis"],
        ]
        for row in r.potential.iter_rows(named=True)
    ]


def _breakdown_rows(r: Report) -> list[list[Any]]:
    """The whole `--by` breakdown against the previous period."""
    return [
        [
            *_dims(r, row),
            count(row["requests"]),
            money(row["cost_usd"], unpriced=row["requests"] is not None),  # absent now: "-"
            money(row["previous_cost_usd"]),
            money(row["change_usd"]),
            pct(row["change_pct"]),
        ]
        for row in r.breakdown.iter_rows(named=True)
    ]


def _finding_lines(r: Report) -> list[str]:
    if not r.findings:
        return ["No findings above the thresholds."]
    return [f"[{f['severity']}] {f['title']}" for f in r.findings]


def to_text(r: Report) -> str:
    """The terminal report."""
    lines = _headline(r)
    lines += ["", "Findings", *[f"  {x}" for x in _finding_lines(r)]]
    for title, headers, rows in _sections(r):
        lines += ["", title]
        lines.append(table(rows, headers) if rows else "  (none)")
    return "\n".join(lines) + "\n"


def to_markdown(r: Report) -> str:
    """The report as Markdown (for a wiki page, a PR comment or a chat message)."""
    lines = [f"# LLM spend report: {r.label}", ""]
    lines += [f"- {x}" for x in _headline(r)]
    lines += ["", "## Findings", ""] + [f"- {x}" for x in _finding_lines(r)]
    for title, headers, rows in _sections(r):
        lines += ["", f"## {title}", "", markdown_table(headers, rows)]
    lines += ["", f"_Generated {r.generated_at.isoformat()} from `{r.data_dir}` ({r.engine} engine)._"]
    return "\n".join(lines) + "\n"
