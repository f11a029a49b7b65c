"""What a report says could be saved: the caching and batch savings taken and not taken, the
findings' potential by action, the data's coverage, and the findings a report shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from tierlens.pricing import PriceTable
from tierlens.pricing.engine import Models, reprice_sums
from tierlens.schema import UNATTRIBUTED, prompt_tokens
from tierlens.signals import Finding
from tierlens.summary import DIMENSIONS

if TYPE_CHECKING:
    from tierlens.report.model import Report


def savings_of(cur: pl.LazyFrame, table: PriceTable, models: Models) -> dict[str, Any]:
    """What prompt caching and batch saved in the period, what fast mode cost beyond standard speed,
    and the list price: the same requests with no prompt caching at standard (not batch) rates
    (same rows, re-priced, summed lazily).

    Aggregate-report buckets are left out: their summed tokens cannot be re-priced per request.
    `models`: the period's models (from its rollup).
    """
    priced = cur.filter(pl.col("priced") & (pl.col("ts_source").fill_null("log") != "bucket_start"))
    actual = priced.select(
        cost=pl.col("cost_usd").sum(),
        n=pl.len(),
        n_fast=(pl.col("speed") == "fast").sum(),
    ).collect(engine="streaming")
    if not actual["n"][0]:
        return {
            "list_cost_usd": 0.0,
            "caching_saved_usd": 0.0,
            "batch_saved_usd": 0.0,
            "fast_premium_usd": 0.0,
            "actual_cost_usd": 0.0,
        }
    prompt = prompt_tokens()
    zero = pl.lit(0, pl.Int64)
    uncached = {
        "input_tokens": prompt,
        "cache_read_tokens": zero,
        "cache_write_5m_tokens": zero,
        "cache_write_1h_tokens": zero,
    }
    tier, speed = pl.col("service_tier"), pl.col("speed")
    # one pass: every request changes only where the counterfactual changes it (a request it leaves
    # alone adds exactly 0 to its change): batch requests at standard rates, fast ones at standard speed
    [(_, no_cache), (list_cost, _), (_, batch_saved), (_, fast_saving)] = reprice_sums(
        priced,
        table,
        [
            uncached,
            {**uncached, "service_tier": "standard"},
            {"service_tier": pl.when(tier == "batch").then(pl.lit("standard")).otherwise(tier)},
            {"speed": pl.when(speed == "fast").then(pl.lit("standard")).otherwise(speed)},
        ],
        models,
    )
    cost = float(actual["cost"][0] or 0.0)
    fast_premium = -fast_saving
    out: dict[str, float] = {
        "list_cost_usd": list_cost,
        "caching_saved_usd": no_cache,
        "batch_saved_usd": batch_saved,
        "fast_premium_usd": fast_premium,
        "actual_cost_usd": cost,
    }
    return {k: v + 0.0 for k, v in out.items()}  # + 0.0: an empty sum's -0.0 shows as 0.0


_ACTIONS = {
    "lost_caching": "restore prompt caching",
    "missing_caching": "cache the shared prompt prefix",
    "batch_candidate": "move to the Batches API",
    "top_tier_structured": "route to a smaller model",
}


def potential_of(findings: list[Finding]) -> pl.DataFrame:
    """Savings not taken: the flags that carry a monthly saving, as report rows."""
    rows = [
        {
            "feature": f.feature,
            "kind": f.kind,
            "action": _ACTIONS[f.kind],
            "evidence": f.evidence,
            "monthly_usd": f.monthly_usd,
            "low_usd": f.low_usd,
            "high_usd": f.high_usd,
            "basis": f.basis,
        }
        for f in findings
        if f.kind in _ACTIONS
    ]
    schema = {
        "feature": pl.String,
        "kind": pl.String,
        "action": pl.String,
        "evidence": pl.String,
        "monthly_usd": pl.Float64,
        "low_usd": pl.Float64,
        "high_usd": pl.Float64,
        "basis": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def as_report_finding(f: Finding) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "severity": f.severity,
        "subject": f.feature or f.model or "",
        "title": f.title,
        "usd": f.monthly_usd,
    }


def coverage_of(cur: pl.LazyFrame) -> dict[str, Any]:
    cells = (
        cur.group_by("priced", attributed=pl.col("feature").is_not_null(), model=pl.col("model"))
        .agg(pl.col("requests").sum(), pl.col("cost_usd").sum())
        .collect(engine="streaming")
    )
    requests = int(cells["requests"].sum() or 0)
    unpriced = cells.filter(~pl.col("priced"))
    unattributed = cells.filter(~pl.col("attributed"))
    cost = float(cells["cost_usd"].sum() or 0.0)
    models = dict(unpriced.group_by("model").agg(pl.col("requests").sum()).sort("model").iter_rows())
    return {
        "requests": requests,
        "unpriced_requests": int(unpriced["requests"].sum() or 0),
        "unpriced_share": (int(unpriced["requests"].sum() or 0) / requests) if requests else 0.0,
        "unpriced_models": {str(k): int(v) for k, v in models.items()},
        "unattributed_requests": int(unattributed["requests"].sum() or 0),
        "unattributed_cost_usd": float(unattributed["cost_usd"].sum() or 0.0),
        "unattributed_share": (float(unattributed["cost_usd"].sum() or 0.0) / cost) if cost else 0.0,
    }


def basic_findings(
    report: Report, min_usd: float = 1.0, min_pct: float = 25.0, skip: set[str] | None = None
) -> list[dict[str, Any]]:
    """Plain findings derived from the report itself, for features the flags did not already cover."""
    skip = skip or set()
    out: list[dict[str, Any]] = []
    for row in report.movers.iter_rows(named=True):
        pct, usd = row.get("change_pct"), row.get("change_usd") or 0.0
        if usd >= min_usd and pct is not None and pct >= min_pct and row.get("feature") not in skip:
            who = " / ".join(str(row[DIMENSIONS[b]]) for b in report.by)
            out.append(
                {
                    "kind": "cost_growth",
                    "severity": "warning" if pct >= 50 else "info",
                    "subject": who,
                    "title": f"{who}: spend up {pct:.0f}% (+${usd:,.2f}) on the previous period",
                    "usd": usd,
                }
            )
    for row in report.unit_costs.iter_rows(named=True):
        ch = row.get("cost_per_request_change_pct")
        if (
            ch is not None
            and ch >= min_pct
            and (row.get("cost_usd") or 0) >= min_usd
            and row["feature"] not in skip
        ):
            out.append(
                {
                    "kind": "cost_per_request",
                    "severity": "warning" if ch >= 50 else "info",
                    "subject": row["feature"],
                    "title": f"{row['feature']}: cost per request up {ch:.0f}% (${row['previous_cost_per_request']:.4f} -> ${row['cost_per_request']:.4f})",
                    "usd": None,
                }
            )
    cov = report.coverage
    if cov["unpriced_requests"]:
        models = ", ".join(cov["unpriced_models"])
        out.append(
            {
                "kind": "unpriced",
                "severity": "info",
                "subject": models,
                "title": f"{cov['unpriced_requests']:,} requests could not be priced ({models}); add a price in tierlens.toml",
                "usd": None,
            }
        )
    if cov["unattributed_share"] > 0.05:
        out.append(
            {
                "kind": "unattributed",
                "severity": "info",
                "subject": UNATTRIBUTED,
                "title": f"{100 * cov['unattributed_share']:.0f}% of spend has no feature; see the attribution settings",
                "usd": cov["unattributed_cost_usd"],
            }
        )
    return out
