"""The spend summary: cost and requests by week, feature and tier.

The first answer tierlens gives after an ingest (and what the quick start prints). Unknown is a
value here: unattributed requests are `(unattributed)`, unpriced ones are counted and their cost
is excluded from the total, never counted as $0 silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from tierlens.errors import ParameterError
from tierlens.schema import UNATTRIBUTED

UNKNOWN_TIER = "(other)"


PERIODS = {"day": "1d", "week": "1w", "month": "1mo"}
DIMENSIONS = {
    "feature": "feature",
    "tier": "tier",
    "model": "model_id",
    "user": "user_id",
    "project": "project",
    "session": "session_id",
    "key": "api_key_id",
    "workspace": "workspace_id",
}
TOKENS = {
    "input_tokens": pl.col("input_tokens"),
    "cache_write_tokens": pl.col("cache_write_5m_tokens") + pl.col("cache_write_1h_tokens"),
    "cache_read_tokens": pl.col("cache_read_tokens"),
    "output_tokens": pl.col("output_tokens"),
}


@dataclass(frozen=True)
class SpendSummary:
    """Spend by period and the asked dimensions, with tokens, totals and what could not be priced."""

    rows: pl.DataFrame
    """period (its first day), the `by` columns, requests, the token columns, cost_usd (null when
    none of its requests could be priced), unpriced_requests."""
    total_cost_usd: float
    total_requests: int
    unpriced_requests: int
    unpriced_models: dict[str, int]
    first_day: date | None
    last_day: date | None
    price_versions: dict[str, int] = field(default_factory=dict)
    """Rows by the price-table version that priced them."""
    period: str = "week"
    by: tuple[str, ...] = ("feature", "tier")

    def stale_rows(self, version: str) -> int:
        """Rows priced by another table than `version` (the one in force): a `reprice` would update them."""
        return sum(n for v, n in self.price_versions.items() if v != version)

    def periods(self) -> pl.DataFrame:
        """One row per period from the first to the last day, a period without requests at $0."""
        sums = self.rows.group_by("period").agg(
            pl.col("requests").sum(),
            *[pl.col(t).sum() for t in TOKENS],
            pl.col("cost_usd").sum(),
            pl.col("unpriced_requests").sum(),
        )
        if self.first_day is None or self.last_day is None:
            return sums
        grid = pl.DataFrame(
            {
                "period": pl.date_range(self.first_day, self.last_day, "1d", eager=True).dt.truncate(
                    PERIODS[self.period]
                )
            }
        ).unique()
        return (
            grid.join(sums, on="period", how="left")
            .with_columns(pl.exclude("period").fill_null(0))
            .with_columns(pl.col("cost_usd").cast(pl.Float64))
            .sort("period")
        )


def spend_summary(
    lf: pl.LazyFrame,
    since: date | None = None,
    until: date | None = None,
    *,
    period: str = "week",
    by: Sequence[str] = ("feature", "tier"),
) -> SpendSummary:
    """Aggregate the dataset by `period` (day, week from Monday, month) and the `by` dimensions
    (`DIMENSIONS`), for days in [since, until]."""
    if period not in PERIODS:
        raise ParameterError(f"{{period}} must be one of {', '.join(PERIODS)}, got {{got}}", got=repr(period))
    unknown = [b for b in by if b not in DIMENSIONS]
    if unknown:
        raise ParameterError(
            f"{{by}}: unknown dimension {{got}}: one of {', '.join(DIMENSIONS)}", got=repr(unknown[0])
        )
    by = tuple(dict.fromkeys(by))
    if since is not None:
        lf = lf.filter(pl.col("ts").dt.date() >= since)
    if until is not None:
        lf = lf.filter(pl.col("ts").dt.date() <= until)
    day = pl.col("ts").dt.date()
    keys = {b: pl.col(DIMENSIONS[b]).fill_null(unknown_value(b)) for b in by}
    # one lazy pass to the cells the summary is made of; every figure below is a sum of cells
    cells = (
        lf.group_by(
            day.dt.truncate(PERIODS[period]).alias("period"),
            *[e.alias(b) for b, e in keys.items()],
            "priced",
            pl.col("model").alias("_logged"),
            pl.col("price_version").fill_null("(none)"),
        )
        .agg(
            requests=pl.col("requests").fill_null(1).sum(),
            **{t: e.sum() for t, e in TOKENS.items()},
            cost_usd=pl.col("cost_usd").sum(),
            rows=pl.len(),
            first=day.min(),
            last=day.max(),
        )
        .collect(engine="streaming")
    )
    rows = (
        cells.group_by("period", *by)
        .agg(
            requests=pl.col("requests").sum(),
            **{t: pl.col(t).sum() for t in TOKENS},
            # a cell of unpriced requests only has no cost: null, never $0
            cost_usd=pl.when(pl.col("priced").any()).then(pl.col("cost_usd").sum()),
            unpriced_requests=pl.col("requests").filter(~pl.col("priced")).sum(),
        )
        .sort(["period", "cost_usd", *by], descending=[False, True, *[False] * len(by)], nulls_last=True)
    )
    unpriced = cells.filter(~pl.col("priced"))
    models = dict(unpriced.group_by("_logged").agg(pl.col("requests").sum()).sort("_logged").iter_rows())
    versions = cells.group_by("price_version").agg(pl.col("rows").sum()).sort("price_version")
    return SpendSummary(
        rows=rows,
        total_cost_usd=float(cells["cost_usd"].sum() or 0.0),
        total_requests=int(cells["requests"].sum() or 0),
        unpriced_requests=int(unpriced["requests"].sum() or 0),
        unpriced_models={str(k): int(v) for k, v in models.items()},
        first_day=since or (cells["first"].min() if cells.height else None),  # type: ignore[arg-type]
        last_day=until or (cells["last"].max() if cells.height else None),  # type: ignore[arg-type]
        price_versions={str(v): int(n) for v, n in versions.iter_rows()},
        period=period,
        by=by,
    )


def unknown_value(dimension: str) -> str:
    """What a missing value of a dimension (or its column) is called in every breakdown."""
    return UNATTRIBUTED if dimension == "feature" else UNKNOWN_TIER if dimension == "tier" else "(none)"


def named(dimension: str) -> pl.Expr:
    """A dimension's column with its missing values named as every breakdown names them
    (`unknown_value`), so that a replay row, a report cell and a finding say the same of the same
    requests."""
    return pl.col(dimension).fill_null(unknown_value(dimension)).alias(dimension)
