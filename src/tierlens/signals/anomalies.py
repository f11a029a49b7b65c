"""Spend anomalies against the same weekday's history, and budget forecasts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import polars as pl

from tierlens.config import BudgetConfig, SignalsConfig
from tierlens.periods import period_bounds
from tierlens.signals.common import _num, _usd
from tierlens.signals.finding import BudgetForecast, Finding, Severity

MAD_TO_SD = 1.4826
"""The median absolute deviation times this estimates the standard deviation of normal data: a
spread that one spike in the history does not inflate."""
FORECAST_WEEKS = 4
"""A forecast projects each day left from the same weekday over this many weeks: long enough
for a median, short enough to follow the spend as it is now."""

# --- anomalies -------------------------------------------------------------------------------------------


def daily_baseline(daily: pl.DataFrame, keys: list[str], weeks: int) -> pl.DataFrame:
    """Daily cost per series on a full calendar, with a level-adjusted same-weekday baseline.

    baseline = median of the same weekday over the previous `weeks` weeks, times the series' level:
    the last 7 days' spend over the average week before them (clipped to [0.5, 2]). The level
    follows steady growth, so a trend is not an anomaly, while a one-day spike does not move it.
    `mad` is the median absolute deviation of those same-weekday values, scaled the same way.
    `daily` is `daily_spend` (or any frame with `keys`, date, priced, cost_usd and requests).
    """
    daily = (
        daily.filter(pl.col("priced"))
        .group_by(*keys, "date")
        .agg(cost=pl.col("cost_usd").sum(), n=pl.col("requests").sum())
    )
    if daily.is_empty():
        return daily
    days = pl.DataFrame({"date": pl.date_range(daily["date"].min(), daily["date"].max(), "1d", eager=True)})  # type: ignore[arg-type]
    grid = daily.select(keys).unique().join(days, how="cross")
    full = (
        grid.join(daily, on=[*keys, "date"], how="left")
        .with_columns(pl.col("cost", "n").fill_null(0))
        .sort(*keys, "date")
    )
    lags = [pl.col("cost").shift(7 * k).over(keys) for k in range(1, weeks + 1)]
    hist = pl.concat_list(lags)
    full = full.with_columns(_hist=hist, _seen=pl.col("n").shift(7).over(keys).is_not_null())
    last_week = pl.col("cost").rolling_sum(7).shift(1).over(keys)
    weeks_before = pl.col("cost").rolling_sum(7 * weeks).shift(8).over(keys) / weeks
    level = (last_week / weeks_before).fill_nan(1.0).fill_null(1.0).clip(0.5, 2.0)
    full = full.with_columns(_level=pl.when(weeks_before > 0).then(level).otherwise(1.0))
    return full.with_columns(
        baseline=pl.col("_hist").list.median() * pl.col("_level"),
        mad=pl.col("_hist").list.eval((pl.element() - pl.element().median()).abs()).list.median()
        * pl.col("_level"),
        history=pl.col("_hist").list.eval(pl.element().filter(pl.element() > 0)).list.len(),
    ).drop("_hist", "_seen", "_level")


def anomalies(daily: pl.DataFrame, start: date, end: date, cfg: SignalsConfig) -> list[Finding]:
    """Daily spend per feature and model far above its same-weekday median, in $ and in %."""
    keys = ["feature", "model_id"]
    full = daily_baseline(daily, keys, cfg.anomaly_weeks)
    if full.is_empty():
        return []
    spread = pl.max_horizontal(MAD_TO_SD * pl.col("mad"), 0.1 * pl.col("baseline"), pl.lit(0.01))
    hits = full.filter(
        pl.col("date").is_between(start, end)
        & (pl.col("history") >= cfg.anomaly_weeks)
        & (pl.col("baseline") > 0)
        & (pl.col("cost") - pl.col("baseline") >= cfg.anomaly_z * spread)
        & (pl.col("cost") - pl.col("baseline") >= cfg.anomaly_min_usd)
        & (100 * (pl.col("cost") - pl.col("baseline")) / pl.col("baseline") >= cfg.anomaly_min_pct)
    )
    out = []
    for r in hits.sort("date").iter_rows(named=True):
        excess = r["cost"] - r["baseline"]
        day = r["date"]
        out.append(
            Finding(
                kind="anomaly",
                severity="warning",
                feature=r["feature"],
                model=r["model_id"],
                title=f"{r['feature']} on {r['model_id']}: {_usd(r['cost'])} on {day} ({day:%a}), x{r['cost'] / r['baseline']:.1f} the usual {_usd(r['baseline'])}",
                evidence=(
                    f"{r['n']:,} requests that day; expected {_usd(r['baseline'])} (median of the previous {cfg.anomaly_weeks} {day:%A}s, level-adjusted), "
                    f"robust spread {_usd(MAD_TO_SD * r['mad'])}; excess {_usd(excess)}"
                ),
                monthly_usd=None,
                low_usd=excess,
                high_usd=excess,
                confidence="high",
                basis="exact",
                data={"date": str(day), "cost": r["cost"], "baseline": r["baseline"], "excess_usd": excess},
            )
        )
    return out


# --- forecasts -----------------------------------------------------------------------------------------


class SpendRange(NamedTuple):
    """A day's projected spend: the median of the same weekday over the last `FORECAST_WEEKS` weeks, and the
    lowest and highest of them."""

    mid: float
    low: float
    high: float


_NO_SPEND = SpendRange(0, 0, 0)
"""A weekday without history projects nothing."""


def forecast(
    daily: pl.DataFrame, as_of: date, budgets: list[BudgetConfig], newest: date
) -> list[BudgetForecast]:
    """Where each budget's current period will end: spend so far + the same-weekday median for each day left.

    The period is the one containing the last full day before `as_of`; it resets at its start.
    Days after the newest data and before `as_of` are projected too (and said so). `daily` is
    `daily_spend` of the days before `as_of` (at least the last `FORECAST_WEEKS` weeks and the period).
    """
    wanted = budgets or [BudgetConfig(name="total", amount=1e18, period="month")]
    return [_budget_forecast(daily, b, as_of, newest, real=budgets != []) for b in wanted]


def _budget_forecast(
    daily: pl.DataFrame, b: BudgetConfig, as_of: date, newest: date, *, real: bool
) -> BudgetForecast:
    """One budget's period projected to its end (`real`: a configured budget, not the total that
    stands in when there is none, which has no amount or severity)."""
    scoped = daily
    if b.feature:
        scoped = scoped.filter(pl.col("feature") == b.feature)
    if b.model_id:
        scoped = scoped.filter(pl.col("model_id") == b.model_id)
    last_day = as_of - timedelta(days=1)
    p_start, p_end = period_bounds(last_day, b.period)
    spent = float(
        scoped.filter(pl.col("date").is_between(p_start, min(newest, p_end)))["cost_usd"].sum() or 0.0
    )
    per_weekday = _weekday_spend(scoped, newest)
    left = [newest + timedelta(days=i) for i in range(1, (p_end - newest).days + 1)] if newest < p_end else []
    mid = sum(per_weekday.get(d.weekday(), _NO_SPEND).mid for d in left)
    low = sum(per_weekday.get(d.weekday(), _NO_SPEND).low for d in left)
    high = sum(per_weekday.get(d.weekday(), _NO_SPEND).high for d in left)
    projected = spent + mid
    pct = 100 * projected / b.amount if real else None
    return BudgetForecast(
        name=b.name,
        period=b.period,
        period_start=str(p_start),
        period_end=str(p_end),
        feature=b.feature,
        model_id=b.model_id,
        amount=b.amount if real else None,
        spent_usd=spent,
        projected_usd=projected,
        low_usd=spent + low,
        high_usd=spent + high,
        projected_pct=pct,
        days_left=len(left),
        data_until=str(newest),
        severity=_budget_severity(spent, pct, b.amount) if real and pct is not None else None,
        evidence=(
            f"{_usd(spent)} spent {p_start}..{min(newest, p_end)}; {len(left)} day(s) projected from the median of the "
            f"same weekday over the last {FORECAST_WEEKS} weeks (range {_usd(spent + low)}..{_usd(spent + high)})"
            + (f"; no data after {newest}" if newest < last_day else "")
        ),
    )


def _weekday_spend(scoped: pl.DataFrame, newest: date) -> dict[int, SpendRange]:
    """Per weekday (Monday 0) with data in the last `FORECAST_WEEKS` weeks, the range of its daily spend."""
    history = daily_baseline(scoped.with_columns(_all=pl.lit("all")), ["_all"], FORECAST_WEEKS)
    per_weekday: dict[int, SpendRange] = {}
    if not history.is_empty():
        recent = history.filter(pl.col("date") > newest - timedelta(weeks=FORECAST_WEEKS))
        for wd in range(7):
            vals = recent.filter(pl.col("date").dt.weekday() == wd + 1)["cost"]
            if vals.len():
                per_weekday[wd] = SpendRange(_num(vals.median()), _num(vals.min()), _num(vals.max()))
    return per_weekday


def _budget_severity(spent: float, pct: float, amount: float) -> Severity | None:
    """Critical once the budget is spent, a warning when projected over it, info from 80%."""
    return "critical" if spent >= amount else "warning" if pct >= 100 else "info" if pct >= 80 else None
