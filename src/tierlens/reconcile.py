"""`reconcile`: does the dataset's cost agree with what the provider bills, or with what the logs say?

Two comparisons, one result type:

- `reconcile_cost_report`: the dataset against a provider cost report (Anthropic `cost_report`,
  OpenAI `costs`; read straight from the file by `tierlens.sources.costs`, never ingested). The
  report's days bound the period; rows are compared per day, and per model and workspace when
  the report is grouped by them. The dataset side is the report's provider only. Anthropic's
  cost endpoint leaves Priority Tier out [P], so priority rows are left out too and reported.
- `reconcile_logged`: the dataset's price against the cost the logs themselves state
  (`logged_cost_usd`: LiteLLM `spend`, Claude Code `costUSD`), per source, day and model.

Both report the two totals, what matched within a tolerance, the unexplained gap in $ and % and
the groups (days, models) that carry it, largest first. Unpriced rows count as $0 on our side and
are listed, since they are the usual reason for a gap. Nothing is written: this reads the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import ConfigError, SourceError
from tierlens.store import scan

CATEGORY_COLUMNS = {
    "input": "cost_input_usd",
    "cache_write": "cost_cache_write_usd",
    "cache_read": "cost_cache_read_usd",
    "output": "cost_output_usd",
    "web_search": "cost_web_search_usd",
}
"""Cost-report category -> the dataset's cost column."""


@dataclass
class Reconciliation:
    """The outcome of one comparison. `groups` holds every compared group, largest gap first."""

    against: str
    """What the dataset was compared with: `anthropic cost report`, `openai costs`, `logged costs`."""
    keys: list[str]
    since: date | None
    until: date | None
    ours_usd: float
    theirs_usd: float
    matched_usd: float
    matched_groups: int
    groups: pl.DataFrame
    by_day: pl.DataFrame
    by_model: pl.DataFrame
    by_category: pl.DataFrame
    max_gap_pct: float
    tolerance_usd: float
    notes: list[str] = field(default_factory=list)

    @property
    def gap_usd(self) -> float:
        """Ours minus theirs (positive: the dataset says more than the bill)."""
        gap = self.ours_usd - self.theirs_usd
        return 0.0 if abs(gap) < 1e-9 else gap

    @property
    def gap_pct(self) -> float | None:
        """The gap as a percentage of their total (None when they report nothing)."""
        if self.theirs_usd == 0:
            return 0.0 if self.gap_usd == 0 else None
        return 100.0 * self.gap_usd / self.theirs_usd

    @property
    def exceeded(self) -> bool:
        """True when the gap is above `max_gap_pct` (or they report $0 and we do not)."""
        pct = self.gap_pct
        if pct is None:
            return abs(self.gap_usd) > self.tolerance_usd
        return abs(pct) > self.max_gap_pct

    def to_dict(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "keys": self.keys,
            "since": self.since,
            "until": self.until,
            "ours_usd": self.ours_usd,
            "theirs_usd": self.theirs_usd,
            "matched_usd": self.matched_usd,
            "matched_groups": self.matched_groups,
            "groups_compared": self.groups.height,
            "gap_usd": self.gap_usd,
            "gap_pct": self.gap_pct,
            "max_gap_pct": self.max_gap_pct,
            "tolerance_usd": self.tolerance_usd,
            "exceeded": self.exceeded,
            "groups": self.groups.to_dicts(),
            "by_day": self.by_day.to_dicts(),
            "by_model": self.by_model.to_dicts(),
            "by_category": self.by_category.to_dicts(),
            "notes": self.notes,
        }


def reconcile_cost_report(
    data_dir: str | Path,
    reports: Sequence[str | Path],
    *,
    max_gap_pct: float = 1.0,
    tolerance_usd: float = 0.005,
) -> Reconciliation:
    """Compare the dataset with one provider's cost report (one or several files of pages)."""
    from tierlens.sources.costs import read_cost_report

    if not reports:
        raise ConfigError("give at least one cost report")
    theirs = pl.concat([read_cost_report(p) for p in reports])
    if theirs.is_empty():
        raise SourceError(f"{', '.join(str(p) for p in reports)}: the cost report holds no amounts")
    providers = sorted(set(theirs["provider"].to_list()))
    if len(providers) > 1:
        raise SourceError(
            "the cost reports mix providers (" + ", ".join(providers) + "): reconcile one at a time"
        )
    provider = providers[0]
    since, until = theirs["day"].min(), theirs["day"].max()
    assert isinstance(since, date) and isinstance(until, date)
    keys = ["day"]
    if theirs["model_id"].is_not_null().any():
        keys.append("model_id")
    if theirs["workspace_id"].is_not_null().any():
        keys.append("workspace_id")
    rows = (
        scan(data_dir)
        .filter((pl.col("provider") == provider) & pl.col("date").is_between(since, until))
        .with_columns(day=pl.col("date"))
        .collect()
    )
    notes: list[str] = []
    if provider == "anthropic":
        priority = rows.filter(pl.col("service_tier") == "priority")
        if priority.height:
            notes.append(
                f"left out {priority['requests'].sum() or priority.height:,} Priority Tier request(s) "
                f"(${float(priority['cost_usd'].sum() or 0):,.4f}): the cost endpoint does not bill them"
            )
            rows = rows.filter(pl.col("service_tier") != "priority")
    notes += _unpriced_notes(rows)
    ours = rows.group_by(keys).agg(pl.col("cost_usd").fill_null(0.0).sum().alias("ours_usd"))
    theirs_g = theirs.group_by(keys).agg(pl.col("amount_usd").sum().alias("theirs_usd"))
    categories = _categories(rows, theirs)
    label = "anthropic cost report" if provider == "anthropic" else "openai costs"
    return _compare(label, keys, ours, theirs_g, since, until, max_gap_pct, tolerance_usd, categories, notes)


def reconcile_logged(
    data_dir: str | Path,
    *,
    since: date | None = None,
    until: date | None = None,
    max_gap_pct: float = 1.0,
    tolerance_usd: float = 0.005,
) -> Reconciliation:
    """Compare our price with the cost the logs state (`logged_cost_usd`) per source, day and model."""
    lf = scan(data_dir).filter(pl.col("logged_cost_usd").is_not_null())
    if since is not None:
        lf = lf.filter(pl.col("date") >= since)
    if until is not None:
        lf = lf.filter(pl.col("date") <= until)
    rows = lf.with_columns(day=pl.col("date")).collect()
    keys = ["source", "day", "model_id"]
    ours = rows.group_by(keys).agg(pl.col("cost_usd").fill_null(0.0).sum().alias("ours_usd"))
    theirs = rows.group_by(keys).agg(pl.col("logged_cost_usd").sum().alias("theirs_usd"))
    notes = _unpriced_notes(rows)
    if rows.is_empty():
        notes.append("no row in the dataset states its own cost (LiteLLM spend, Claude Code costUSD)")
    empty = pl.DataFrame(schema={"category": pl.String, "ours_usd": pl.Float64, "theirs_usd": pl.Float64})
    first = rows["day"].min() if rows.height else since
    last = rows["day"].max() if rows.height else until
    return _compare(
        "logged costs",
        keys,
        ours,
        theirs,
        first if isinstance(first, date) else None,
        last if isinstance(last, date) else None,
        max_gap_pct,
        tolerance_usd,
        empty,
        notes,
    )


def _compare(
    against: str,
    keys: list[str],
    ours: pl.DataFrame,
    theirs: pl.DataFrame,
    since: date | None,
    until: date | None,
    max_gap_pct: float,
    tolerance_usd: float,
    by_category: pl.DataFrame,
    notes: list[str],
) -> Reconciliation:
    joined = (
        ours.join(theirs, on=keys, how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("ours_usd").fill_null(0.0), pl.col("theirs_usd").fill_null(0.0))
        .with_columns(gap_usd=pl.col("ours_usd") - pl.col("theirs_usd"))
        .with_columns(
            status=pl.when(pl.col("gap_usd").abs() <= tolerance_usd)
            .then(pl.lit("matched"))
            .when(pl.col("theirs_usd") == 0)
            .then(pl.lit("only in the dataset"))
            .when(pl.col("ours_usd") == 0)
            .then(pl.lit("only in their report"))
            .otherwise(pl.lit("differs"))
        )
        .sort([pl.col("gap_usd").abs(), *keys], descending=[True] + [False] * len(keys), nulls_last=True)
    )
    matched = joined.filter(pl.col("status") == "matched")
    total_gap = float(joined["gap_usd"].sum() or 0.0)

    def by(column: str) -> pl.DataFrame:
        if column not in keys:
            return pl.DataFrame(schema={column: pl.String, "ours_usd": pl.Float64, "theirs_usd": pl.Float64})
        return (
            joined.group_by(column)
            .agg(pl.col("ours_usd").sum(), pl.col("theirs_usd").sum(), pl.col("gap_usd").sum())
            .with_columns(
                gap_share=pl.col("gap_usd") / total_gap
                if abs(total_gap) > 1e-12
                else pl.lit(None, pl.Float64)
            )
            .sort([pl.col("gap_usd").abs(), column], descending=[True, False], nulls_last=True)
        )

    return Reconciliation(
        against=against,
        keys=keys,
        since=since,
        until=until,
        ours_usd=float(joined["ours_usd"].sum() or 0.0),
        theirs_usd=float(joined["theirs_usd"].sum() or 0.0),
        matched_usd=float(matched["theirs_usd"].sum() or 0.0),
        matched_groups=matched.height,
        groups=joined,
        by_day=by("day"),
        by_model=by("model_id"),
        by_category=by_category,
        max_gap_pct=max_gap_pct,
        tolerance_usd=tolerance_usd,
        notes=notes,
    )


def _categories(rows: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    """Their amounts per cost category beside the dataset's cost columns (when the report splits them)."""
    split = theirs.filter(pl.col("category").is_not_null())
    if split.is_empty():
        return pl.DataFrame(schema={"category": pl.String, "ours_usd": pl.Float64, "theirs_usd": pl.Float64})
    theirs_c = split.group_by("category").agg(pl.col("amount_usd").sum().alias("theirs_usd"))
    ours_c = pl.DataFrame(
        {
            "category": list(CATEGORY_COLUMNS),
            "ours_usd": [
                float(rows[c].sum() or 0.0) if rows.height else 0.0 for c in CATEGORY_COLUMNS.values()
            ],
        }
    )
    out = ours_c.join(theirs_c, on="category", how="full", coalesce=True).with_columns(
        pl.col("ours_usd").fill_null(0.0), pl.col("theirs_usd").fill_null(0.0)
    )
    order = {c: i for i, c in enumerate([*CATEGORY_COLUMNS, "other"])}
    return (
        out.with_columns(gap_usd=pl.col("ours_usd") - pl.col("theirs_usd"))
        .with_columns(_o=pl.col("category").replace_strict(order, default=99, return_dtype=pl.Int64))
        .sort("_o")
        .drop("_o")
    )


def _unpriced_notes(rows: pl.DataFrame) -> list[str]:
    unpriced = rows.filter(~pl.col("priced").fill_null(False))
    if unpriced.is_empty():
        return []
    models = unpriced.group_by("model").len().sort("len", descending=True)
    listed = ", ".join(f"{m} ({n:,})" for m, n in models.head(5).iter_rows())
    return [f"{unpriced.height:,} unpriced row(s) count as $0 on the dataset side: {listed}"]
