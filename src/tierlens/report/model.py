"""The weekly (or daily, monthly) spend report as data: every number a renderer shows.

The Monday question is "what did we spend last week, on what, and what changed?". `build_report`
answers it for one period against the periods before it. Its aggregates come from the portable
SQL in `queries/` (run on the embedded polars engine, or DuckDB/Spark), plus polars for the
`--by` breakdown and the caching/batch counterfactuals, which re-price the same rows with the
pricing engine. Renderers only format what is here; they compute nothing.

Defaults: the period is the last *complete* one before `as_of`, and `as_of` is the earlier of
today and the day after the newest row, so a dataset that ends mid-week reports the week before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from tierlens.config import SignalsConfig
from tierlens.errors import ParameterError
from tierlens.pricing import PriceTable
from tierlens.pricing.engine import Models
from tierlens.progress import Progress
from tierlens.quality.evidence import scores
from tierlens.queries import get_query, run_query
from tierlens.report.savings import as_report_finding, basic_findings, coverage_of, potential_of, savings_of
from tierlens.report.windows import Window, windows
from tierlens.signals import Flags, find_flags
from tierlens.store.layout import snapshot
from tierlens.store.rollup import DIMENSIONS as ROLLUP_DIMENSIONS
from tierlens.store.rollup import rollup_of
from tierlens.summary import DIMENSIONS, named

BY_COLUMNS = DIMENSIONS  # the report breaks spend down by the summary's dimensions
SCHEMA_VERSION = "tierlens.report/1"


@dataclass
class Report:
    """Everything the report shows. Frames are small (one row per feature, model, period...)."""

    grain: str
    by: list[str]
    period: Window
    previous: list[Window]
    as_of: date
    data_dir: str
    generated_at: datetime
    totals: dict[str, Any]
    matrix: pl.DataFrame  # feature x tier cost, current period
    by_model: pl.DataFrame
    breakdown: pl.DataFrame  # by the --by dimensions: current vs previous
    movers: pl.DataFrame
    unit_costs: pl.DataFrame
    savings: dict[str, Any]
    potential: pl.DataFrame
    coverage: dict[str, Any]
    series: pl.DataFrame  # period x feature x tier over the history (charts)
    findings: list[dict[str, Any]] = field(default_factory=list)
    engine: str = "polars"
    custom: bool = False
    """The period is a --since/--until range, not a calendar period."""
    notes: list[str] = field(default_factory=list)
    """What a reader must know to read the comparison right (partial periods, stale data)."""

    @property
    def label(self) -> str:
        """The period as the report names it: `2026-W46 (...)`, `2026-11`, or a range."""
        return self.period.label("range" if self.custom else self.grain)


# --- building ------------------------------------------------------------------------------------


REPORT_STEPS = 7  # the `step()`s of build_report


def _stepper(progress: Progress | None, total: int) -> Callable[[], None]:
    """A function that tells `progress` one more of `total` steps is done (and clears it after
    the last)."""
    done = 0
    if progress is not None:
        progress.total = total

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress.update(done, done)
            if done == total:
                progress.close()

    return step


def build_report(
    data_dir: str | Path,
    *,
    grain: str = "week",
    since: date | None = None,
    until: date | None = None,
    by: list[str] | None = None,
    as_of: date | None = None,
    table: PriceTable | None = None,
    engine: str = "polars",
    history: int = 4,
    chart_periods: int = 12,
    top: int = 5,
    signals: SignalsConfig | None = None,
    lf: pl.LazyFrame | None = None,
    rollup: pl.LazyFrame | None = None,
    progress: Progress | None = None,
    judgments: pl.DataFrame | None = None,
) -> Report:
    """Build the report for the last complete period (or [since, until]) against the ones before.

    `lf`, `rollup`: the dataset's scan and its daily rollup when the caller holds them (a
    `Workspace`; a rollup not given is computed from `lf`). Every figure is a lazy aggregation:
    the sums by period, feature, tier and model read the rollup, re-pricing reads the requests;
    no request-level data is held in memory. `progress`: told each of the report's steps as it
    is done. `judgments`: the dataset's quality judgments (`Workspace.judgments`), shown beside
    the unit costs and given to the signals.
    """
    step = _stepper(progress, REPORT_STEPS)
    by = _checked_by(by)
    if lf is None:
        snap = snapshot(data_dir)
        lf, rollup = snap.requests(), snap.rollup()
    sums = rollup if rollup is not None else rollup_of(lf)
    scope = _scope_of(sums, grain, as_of, since, until, history, chart_periods)
    table = table or PriceTable.load()
    spend = _spend_of(
        _Dataset(data_dir, engine, lf, sums), scope, grain, by, since is not None, top, judgments, step
    )
    savings = _savings_in(lf, sums, table, scope.current)
    step()
    flags = _flags_of(lf, sums, table, signals, judgments, scope.current)
    step()
    potential = potential_of(flags.findings)
    coverage = coverage_of(_in(sums, scope.current))
    step()
    report = Report(
        grain=grain,
        by=by,
        period=scope.current,
        previous=scope.previous,
        as_of=scope.as_of,
        data_dir=str(data_dir),
        generated_at=datetime.now(UTC).replace(microsecond=0),
        totals=spend.totals,
        matrix=_matrix(spend.cur),
        by_model=spend.by_model,
        breakdown=spend.breakdown,
        movers=spend.movers,
        unit_costs=spend.unit_costs,
        savings=savings,
        potential=potential,
        coverage=coverage,
        series=spend.series,
        engine=engine,
        custom=since is not None,
        notes=_coverage_notes(scope.current, scope.prev1, scope.oldest, scope.newest, grain),
    )
    report.findings = [as_report_finding(f) for f in flags.findings if f.kind != "budget"][: top * 2]
    flagged = {f.feature for f in flags.findings if f.feature}
    report.findings += basic_findings(report, min_usd=max(1.0, 0.02 * spend.totals["cost_usd"]), skip=flagged)
    return report


class _Scope(NamedTuple):
    """The days a report covers: the period, the periods it is compared with and the ones its
    charts show, and where the data starts and ends."""

    as_of: date
    current: Window
    previous: list[Window]
    """The comparison baseline (most recent first)."""
    shown: list[Window]
    """The chart and caching history."""
    oldest: date | None
    newest: date | None

    @property
    def prev1(self) -> Window | None:
        """The period just before this one, if any."""
        return self.previous[0] if self.previous else None


@dataclass(frozen=True)
class _Dataset:
    """What the report's queries read: the data directory on its engine, its scan and its rollup."""

    data_dir: str | Path
    engine: str
    lf: pl.LazyFrame
    sums: pl.LazyFrame


@dataclass(frozen=True)
class _Spend:
    """What the period spent against the periods before: every figure the queries answer."""

    series: pl.DataFrame
    cur: pl.DataFrame
    """The period's rows of the series (feature x tier)."""
    totals: dict[str, Any]
    by_model: pl.DataFrame
    breakdown: pl.DataFrame
    movers: pl.DataFrame
    unit_costs: pl.DataFrame


def _checked_by(by: list[str] | None) -> list[str]:
    """The `--by` dimensions (feature and tier by default), all of them known."""
    by = by or ["feature", "tier"]
    unknown = [b for b in by if b not in BY_COLUMNS]
    if unknown:
        raise ParameterError(f"{{by}} accepts {', '.join(BY_COLUMNS)}; got {{got}}", got=", ".join(unknown))
    return by


def _scope_of(
    sums: pl.LazyFrame,
    grain: str,
    as_of: date | None,
    since: date | None,
    until: date | None,
    history: int,
    chart_periods: int,
) -> _Scope:
    """The report's days; `as_of` defaults to the earlier of today and the day after the newest row."""
    oldest, newest = sums.select(oldest=pl.col("date").min(), newest=pl.col("date").max()).collect().row(0)
    today = datetime.now(UTC).date()
    as_of = as_of or (min(today, newest + timedelta(days=1)) if newest else today)
    current, previous = windows(grain, as_of, since, until, max(history, chart_periods))
    return _Scope(as_of, current, previous[:history], previous, oldest, newest)


def _spend_of(
    data: _Dataset,
    scope: _Scope,
    grain: str,
    by: list[str],
    custom: bool,
    top: int,
    judgments: pl.DataFrame | None,
    step: Callable[[], None],
) -> _Spend:
    """The spend figures, telling `step` each of the four steps they take."""
    series = _series(data, scope, grain, custom)
    step()
    current, prev1 = scope.current, scope.prev1
    cur = series.filter(pl.col("period") == current.start)
    before = series.filter(pl.col("period") == prev1.start) if prev1 else series.clear()
    by_rows = (
        data.sums if {BY_COLUMNS[b] for b in by} <= ROLLUP_DIMENSIONS else data.lf
    )  # users: the requests
    totals = _totals(
        cur,
        before,
        series,
        current,
        scope.previous,
        _covered(prev1, scope.oldest, scope.newest),
        _covered(current, scope.oldest, scope.newest),
    )
    ask = _window_queries(data.data_dir, data.engine, data.lf, data.sums)
    by_model = _by_model(ask, current, prev1)
    step()
    breakdown = _breakdown(_in(by_rows, current), _in(by_rows, prev1), by)
    step()
    movers = (
        breakdown.filter(pl.col("change_usd").is_not_null() & (pl.col("change_usd") != 0))
        .sort(pl.col("change_usd").abs(), descending=True)
        .head(top)
    )
    unit_costs = _with_quality(_unit_costs(ask, current, prev1), judgments, current)
    step()
    return _Spend(series, cur, totals, by_model, breakdown, movers, unit_costs)


def _series(data: _Dataset, scope: _Scope, grain: str, custom: bool) -> pl.DataFrame:
    """Spend by period, feature and tier over the period and the history the charts show."""
    first = scope.shown[-1].start if scope.shown else scope.current.start
    params = {"since": first, "until": scope.current.end}
    series = run_query(
        get_query("spend_by_period"),
        data.data_dir,
        {**params, "grain": grain},
        data.engine,
        lf=data.lf,
        rollup=data.sums,
    )
    if custom:  # custom windows do not follow calendar periods: label rows by window start
        series = _rebucket(data.sums, scope.current, scope.shown)
    return series.with_columns(pl.col("period").cast(pl.Date))


def _savings_in(lf: pl.LazyFrame, sums: pl.LazyFrame, table: PriceTable, w: Window) -> dict[str, Any]:
    """What caching and batch saved in the period (and fast mode cost), re-pricing its requests."""
    in_cur = lf.filter(pl.col("date").is_between(w.start, w.end))
    return savings_of(in_cur, table, Models.of(_in(sums, w).filter(pl.col("priced") & ~pl.col("bucket"))))


def _flags_of(
    lf: pl.LazyFrame,
    sums: pl.LazyFrame,
    table: PriceTable,
    signals: SignalsConfig | None,
    judgments: pl.DataFrame | None,
    w: Window,
) -> Flags:
    """The signals over the window that ends with the period."""
    return find_flags(
        None,
        signals,
        None,
        table,
        as_of=w.end + timedelta(days=1),
        lf=lf,
        rollup=sums,
        judgments=judgments,
    )


def _coverage_notes(
    current: Window, previous: Window | None, oldest: date | None, newest: date | None, grain: str
) -> list[str]:
    """Say when the compared periods are not whole: data that starts inside the previous period,
    ends inside this one, or ends before it."""
    if oldest is None or newest is None:
        return []
    notes = []
    if newest < current.start:
        notes.append(f"the newest data is from {newest}, before this period: it has no requests yet")
    elif newest < current.end:
        notes.append(
            f"the data ends on {newest}: this period has {(newest - current.start).days + 1} of its {current.days} days"
        )
    if previous is not None and previous.start < oldest <= previous.end:
        days = (previous.end - oldest).days + 1
        notes.append(
            f"the data starts on {oldest}: the previous {grain} has {days} of its {previous.days} days, "
            "so its change is per day of data, not per period"
        )
    return notes


def _rebucket(lf: pl.LazyFrame, current: Window, previous: list[Window]) -> pl.DataFrame:
    """Series for custom windows: each row labelled with the start of its window."""
    frames = []
    for w in [current, *previous]:
        part = (
            lf.filter(pl.col("date").is_between(w.start, w.end))
            .group_by(named("feature"), named("tier"))
            .agg(
                requests=pl.col("requests").sum(),
                cost_usd=_sum_or_null("cost_usd"),  # a cell of unpriced requests only: null, never $0
                unpriced_requests=pl.col("requests").filter(~pl.col("priced")).sum(),
                input_tokens=pl.col("input_tokens").sum(),
                cache_read_tokens=pl.col("cache_read_tokens").sum(),
                cache_write_tokens=(pl.col("cache_write_5m_tokens") + pl.col("cache_write_1h_tokens")).sum(),
                output_tokens=pl.col("output_tokens").sum(),
            )
            .with_columns(period=pl.lit(w.start))
            .collect()
        )
        frames.append(part)
    return pl.concat(frames).select("period", pl.exclude("period"))


def _pct(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or then == 0:
        return None
    return 100.0 * (now - then) / then


def _covered(w: Window | None, oldest: date | None, newest: date | None) -> int | None:
    """Days of `w` the data covers."""
    if w is None or oldest is None or newest is None:
        return None
    return max(0, (min(w.end, newest) - max(w.start, oldest)).days + 1)


def _totals(
    cur: pl.DataFrame,
    before: pl.DataFrame,
    series: pl.DataFrame,
    current: Window,
    previous: list[Window],
    prev_days: int | None = None,
    cur_days: int | None = None,
) -> dict[str, Any]:
    """Totals and changes; a previous period the data covers only partly is compared per day of
    data (like with like), not as a whole period."""
    cost = float(cur["cost_usd"].sum() or 0.0)
    requests = int(cur["requests"].sum() or 0)
    prev_cost = float(before["cost_usd"].sum() or 0.0) if before.height else None
    prev_requests = int(before["requests"].sum() or 0) if before.height else None
    per_day = bool(previous and prev_days and cur_days and prev_days < previous[0].days)
    scale = (cur_days / prev_days) if per_day and prev_days and cur_days else 1.0
    hist = series.filter(pl.col("period").is_in([w.start for w in previous]))
    per_period = hist.group_by("period").agg(pl.col("cost_usd").sum())
    # average over the periods the data covers: weeks before the first log are not $0 weeks
    baseline = float(per_period["cost_usd"].sum()) / per_period.height if per_period.height else None
    return {
        "cost_usd": cost,
        "requests": requests,
        "cost_per_request": cost / requests if requests else None,
        "previous_cost_usd": prev_cost,
        "previous_requests": prev_requests,
        "change_usd": cost - prev_cost if prev_cost is not None else None,
        "change_pct": _pct(cost, prev_cost * scale if prev_cost is not None else None),
        "requests_change_pct": _pct(requests, prev_requests * scale if prev_requests is not None else None),
        "compared_per_day": per_day,
        "baseline_cost_usd": baseline,
        "baseline_periods": per_period.height,
        "vs_baseline_pct": _pct(cost, baseline),
    }


def _matrix(cur: pl.DataFrame) -> pl.DataFrame:
    if cur.is_empty():
        return pl.DataFrame({"feature": []}, schema={"feature": pl.String})
    # one row per (feature, tier) in a period: "first" keeps an unpriced cell null, never $0
    wide = cur.pivot(on="tier", index="feature", values="cost_usd", aggregate_function="first")
    tiers = sorted(c for c in wide.columns if c != "feature")
    order = [t for t in ("haiku", "sonnet", "opus") if t in tiers] + [
        t for t in tiers if t not in ("haiku", "sonnet", "opus")
    ]
    return (
        wide.select("feature", *order)
        .with_columns(
            total=pl.when(pl.any_horizontal([pl.col(t).is_not_null() for t in order])).then(
                pl.sum_horizontal(order)
            )
        )
        .sort("total", "feature", descending=[True, False], nulls_last=True)
    )


def _compare(cur: pl.DataFrame, prev: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    joined = cur.join(prev, on=keys, how="full", coalesce=True, suffix="_prev")
    return joined.with_columns(
        change_usd=pl.col("cost_usd").fill_null(0) - pl.col("cost_usd_prev").fill_null(0),
        change_pct=pl.when(pl.col("cost_usd_prev") > 0).then(
            100 * (pl.col("cost_usd").fill_null(0) - pl.col("cost_usd_prev")) / pl.col("cost_usd_prev")
        ),
    ).rename({"cost_usd_prev": "previous_cost_usd", "requests_prev": "previous_requests"})


def _in(rows: pl.LazyFrame, w: Window | None) -> pl.LazyFrame:
    """The rows of the days of `w` (none when there is no such period)."""
    return rows.filter(pl.col("date").is_between(w.start, w.end)) if w else rows.clear()


WindowQuery = Callable[..., pl.DataFrame]
"""`ask(name, window, **params)`: a named query of `queries/` over the days of `window`."""


def _window_queries(data_dir: str | Path, engine: str, lf: pl.LazyFrame, rollup: pl.LazyFrame) -> WindowQuery:
    """The report's way to run a named query over one window, on its engine, scan and rollup."""

    def ask(name: str, w: Window, **params: Any) -> pl.DataFrame:
        values = {"since": w.start, "until": w.end, **params}
        return run_query(get_query(name), data_dir, values, engine, lf=lf, rollup=rollup)

    return ask


def _by_model(ask: WindowQuery, current: Window, prev: Window | None) -> pl.DataFrame:
    def one(w: Window) -> pl.DataFrame:
        return (
            ask("spend_by_model", w, grain="day")
            .group_by("model_id")
            .agg(pl.col("requests").sum(), _sum_or_null("cost_usd"), pl.col("batch_cost_usd").sum())
        )

    cur = one(current)
    before = one(prev).drop("batch_cost_usd") if prev else cur.clear().drop("batch_cost_usd")
    return _compare(cur, before, ["model_id"]).sort(
        "cost_usd", "model_id", descending=[True, False], nulls_last=True
    )


def _sum_or_null(column: str) -> pl.Expr:
    """A sum that stays null when every value is null (unpriced), instead of becoming $0."""
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum()).alias(column)


def _breakdown(cur: pl.LazyFrame, prev: pl.LazyFrame, by: list[str]) -> pl.DataFrame:
    cols = [BY_COLUMNS[b] for b in by]

    def agg(df: pl.LazyFrame) -> pl.DataFrame:
        return (
            df.with_columns([named(c) for c in cols])
            .group_by(cols)
            .agg(pl.col("requests").sum(), _sum_or_null("cost_usd"))
            .collect(engine="streaming")
        )

    out = _compare(agg(cur), agg(prev), cols)
    return out.sort("cost_usd", *cols, descending=[True] + [False] * len(cols), nulls_last=True)


def _unit_costs(ask: WindowQuery, current: Window, prev: Window | None) -> pl.DataFrame:
    cur = ask("feature_unit_costs", current)
    if prev is None:
        return cur
    before = ask("feature_unit_costs", prev).select(
        "feature", previous_cost_per_request=pl.col("cost_per_request")
    )
    return cur.join(before, on="feature", how="left").with_columns(
        cost_per_request_change_pct=100
        * (pl.col("cost_per_request") - pl.col("previous_cost_per_request"))
        / pl.col("previous_cost_per_request")
    )


def _with_quality(units: pl.DataFrame, judgments: pl.DataFrame | None, w: Window) -> pl.DataFrame:
    """The unit costs with each feature's best-judged metric in the window (most judgments), as
    the metric reads (`quality`) and how many judgments back it; unchanged without judgments."""
    if judgments is None or judgments.is_empty():
        return units
    whole = judgments.with_columns(model_id=pl.lit("*"))  # a feature's judgments on every model
    best: dict[str, tuple[str, int]] = {}
    for s in scores(whole, w.start, w.end):
        if s.n > best.get(s.feature, ("", 0))[1]:
            best[s.feature] = (f"{s.metric} {s.shown()}", s.n)
    shown = pl.DataFrame(
        [{"feature": f, "quality": q, "quality_judgments": n} for f, (q, n) in best.items()],
        schema={"feature": pl.String, "quality": pl.String, "quality_judgments": pl.Int64},
    )
    return units.join(shown, on="feature", how="left")
