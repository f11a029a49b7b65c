"""The spend summary: cost and requests by week, feature and tier.

The first answer tierlens gives after an ingest (and what the quick start prints). Unknown is a
value here: unattributed requests are `(unattributed)`, unpriced ones are counted and their cost
is excluded from the total, never counted as $0 silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

UNATTRIBUTED = "(unattributed)"
UNKNOWN_TIER = "(other)"


@dataclass(frozen=True)
class SpendSummary:
    """Spend by week x feature x tier, with totals and what could not be priced."""

    rows: pl.DataFrame  # week, feature, tier, requests, cost_usd, unpriced_requests
    total_cost_usd: float
    total_requests: int
    unpriced_requests: int
    unpriced_models: dict[str, int]
    first_day: date | None
    last_day: date | None
    price_versions: dict[str, int] = field(default_factory=dict)
    """Rows by the price-table version that priced them."""

    def stale_rows(self, version: str) -> int:
        """Rows priced by another table than `version` (the one in force): a `reprice` would update them."""
        return sum(n for v, n in self.price_versions.items() if v != version)


def spend_summary(lf: pl.LazyFrame, since: date | None = None, until: date | None = None) -> SpendSummary:
    """Aggregate the dataset by ISO week (Monday), feature and tier, for days in [since, until]."""
    if since is not None:
        lf = lf.filter(pl.col("ts").dt.date() >= since)
    if until is not None:
        lf = lf.filter(pl.col("ts").dt.date() <= until)
    base = lf.select(
        week=pl.col("ts").dt.truncate("1w").dt.date(),
        feature=pl.col("feature").fill_null(UNATTRIBUTED),
        tier=pl.col("tier").fill_null(UNKNOWN_TIER),
        model=pl.col("model"),
        requests=pl.col("requests").fill_null(1),
        cost_usd=pl.col("cost_usd"),
        priced=pl.col("priced"),
        day=pl.col("ts").dt.date(),
        price_version=pl.col("price_version").fill_null("(none)"),
    )
    # one lazy pass to the cells the summary is made of; every figure below is a sum of cells
    cells = (
        base.group_by("week", "feature", "tier", "priced", "model", "price_version")
        .agg(
            requests=pl.col("requests").sum(),
            cost_usd=pl.col("cost_usd").sum(),
            rows=pl.len(),
            first=pl.col("day").min(),
            last=pl.col("day").max(),
        )
        .collect(engine="streaming")
    )
    rows = (
        cells.group_by("week", "feature", "tier")
        .agg(
            requests=pl.col("requests").sum(),
            cost_usd=pl.col("cost_usd").sum(),
            unpriced_requests=pl.col("requests").filter(~pl.col("priced")).sum(),
        )
        .sort(["week", "cost_usd", "feature", "tier"], descending=[False, True, False, False])
    )
    unpriced = cells.filter(~pl.col("priced"))
    models = dict(unpriced.group_by("model").agg(pl.col("requests").sum()).sort("model").iter_rows())
    versions = cells.group_by("price_version").agg(pl.col("rows").sum()).sort("price_version")
    return SpendSummary(
        rows=rows,
        total_cost_usd=float(cells["cost_usd"].sum() or 0.0),
        total_requests=int(cells["requests"].sum() or 0),
        unpriced_requests=int(unpriced["requests"].sum() or 0),
        unpriced_models={str(k): int(v) for k, v in models.items()},
        first_day=cells["first"].min() if cells.height else None,  # type: ignore[arg-type]
        last_day=cells["last"].max() if cells.height else None,  # type: ignore[arg-type]
        price_versions={str(v): int(n) for v, n in versions.iter_rows()},
    )


def by_feature_tier(summary: SpendSummary) -> pl.DataFrame:
    """A week x (feature, tier) pivot: one row per feature and tier, one column per week."""
    if summary.rows.is_empty():
        return pl.DataFrame()
    wide = summary.rows.with_columns(pl.col("week").cast(pl.String)).pivot(
        on="week", index=["feature", "tier"], values="cost_usd", aggregate_function="sum"
    )
    weeks = [c for c in wide.columns if c not in ("feature", "tier")]
    return wide.with_columns(total=pl.sum_horizontal(weeks)).sort("total", descending=True)
