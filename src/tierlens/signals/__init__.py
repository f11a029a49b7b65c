"""Over-provisioning signals, anomalies and forecasts: is a team paying for more than its work needs?

Each signal reads the dataset, applies documented thresholds (`SignalsConfig`, docs/signals.md)
and returns `Finding`s that name the feature (and model), the evidence, an estimated monthly
waste with a low/high range, a confidence, and how the dollar figure was obtained:
- `exact`: the same requests re-priced by the pricing engine under a rule that only changes price
  (batch tier), or spend that really happened (anomalies);
- `modelled`: a model switch or a restored cache, priced by the engine under stated assumptions;
- `speculative`: a heuristic guess (a cache nobody has tried yet).
All counterfactuals call `tierlens.pricing.reprice`; nothing here knows a price.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import polars as pl

from tierlens.config import BudgetConfig, SignalsConfig
from tierlens.pricing import PriceTable
from tierlens.pricing.engine import Models
from tierlens.signals.anomalies import anomalies, forecast
from tierlens.signals.caching import lost_caching, missing_caching
from tierlens.signals.common import (
    _FEATURE,
    Passes,
    Step,
    _Pricing,
    _usd,
    daily_cells,
    daily_spend,
    run_passes,
)
from tierlens.signals.docs import SIGNAL_DOCS, signals_markdown
from tierlens.signals.finding import KINDS, SEVERITIES, BudgetForecast, Finding, Flags, Severity
from tierlens.signals.generations import (
    latency_over_depth,
    mixed_complexity,
    newer_mid_tier,
    stale_generation,
    unpinned_aliases,
)
from tierlens.signals.usage import batch_candidates, growth, short_structured_on_top_tier, under_provisioned
from tierlens.store.layout import snapshot
from tierlens.store.rollup import rollup_of


def find_flags(
    data_dir: str | Path | None = None,
    signals: SignalsConfig | None = None,
    budgets: list[BudgetConfig] | None = None,
    table: PriceTable | None = None,
    as_of: date | None = None,
    *,
    lf: pl.LazyFrame | None = None,
    rollup: pl.LazyFrame | None = None,
    kinds: Collection[str] | None = None,
    judgments: pl.DataFrame | None = None,
    trials: pl.DataFrame | None = None,
) -> Flags:
    """Run every signal over the dataset; `as_of` defaults to the day after the newest data.

    `lf`, `rollup`: the dataset's scan and its daily rollup when the caller holds them (a
    `Workspace`; a rollup not given is computed from `lf`). Every signal is a lazy aggregation:
    the first pass reads the rollup, the signals then read the requests of the features it
    singles out; nothing the size of the data is ever held in memory. `kinds`: only
    these kinds of finding (`KINDS`), for a caller that needs a few (an alert rule); the same
    findings of those kinds as a full run. `judgments`: the quality judgments of the dataset
    (`Workspace.judgments`), for the quality signals and to weigh the downgrade ones; `trials`:
    the trials table (`tierlens trial`), whose agreement weighs them too.
    """
    cfg = signals or SignalsConfig()
    table = table or PriceTable.load()
    if lf is None:
        assert data_dir is not None, "give data_dir or lf"
        snap = snapshot(data_dir)
        lf, rollup = snap.requests(), snap.rollup()
    sums = rollup if rollup is not None else rollup_of(lf)
    newest: date | None = sums.select(pl.col("date").max()).collect().item()
    if newest is None:
        return Flags(as_of or date.today(), date.today(), date.today(), [], [], cfg)
    run = _run_of(lf, cfg, _days_of(cfg, as_of, newest), kinds, table)
    days, wanted = run.days, run.wanted
    cells, steps = _first_round(run, sums.filter(days.in_history))
    in_window = cells.filter(~pl.col("bucket") & (pl.col("date") >= days.start))
    run.pricing.models = Models.of(in_window)  # every counterfactual re-prices rows of the window
    steps += _window_steps(run, cells, in_window)
    found_aliases = (
        unpinned_aliases(in_window, cfg, run.pricing.catalog, run.scale) if "unpinned_alias" in wanted else []
    )
    judged = judgments if judgments is not None and not judgments.is_empty() else None
    steps += _quality_steps(run, judged)
    found = _without_explained(_weighed(run_passes(steps) + found_aliases, run, judged, trials))
    daily = cells.group_by("feature", "model_id", "date", "priced").agg(
        pl.col("cost_usd").sum(), pl.col("requests").sum()
    )
    if "anomaly" in wanted:
        found += anomalies(daily, days.start, days.end, cfg)
    found = [f for f in found if f.kind in wanted]
    forecasts = forecast(daily, days.as_of, budgets or [], newest)
    if "budget" in wanted:
        found += _budget_findings(forecasts)
    return Flags(
        as_of=days.as_of,
        window_start=days.start,
        window_end=days.end,
        findings=_ranked(found),
        forecasts=forecasts,
        thresholds=cfg,
    )


class FlagDays(NamedTuple):
    """The days a run looks at: the signals' window [start, end] before `as_of`, and the history
    from `history_start` that anomalies and growth compare it with."""

    as_of: date
    start: date
    end: date
    history_start: date

    @property
    def in_history(self) -> pl.Expr:
        """The rows of the history (the window included)."""
        return pl.col("date").is_between(self.history_start, self.end)


@dataclass(frozen=True)
class _Run:
    """What every signal of one run reads: the thresholds, the kinds asked for, the days, the
    requests, the window's pricing and the factor from the window to a month."""

    cfg: SignalsConfig
    wanted: frozenset[str]
    days: FlagDays
    rows: pl.LazyFrame
    """The history's requests, with their logged feature (null: unattributed) so that a filter on
    one feature reaches the Parquet reader; the signals name the unattributed ones with
    `_FEATURE`/`_is`."""
    window_r: pl.LazyFrame
    """The window's requests only: an aggregate report's row is a bucket of many requests, and
    re-pricing summed tokens would mis-decide per-request rules (long context)."""
    pricing: _Pricing
    scale: float


def _days_of(cfg: SignalsConfig, as_of: date | None, newest: date) -> FlagDays:
    """The run's days; `as_of` defaults to the day after the newest data (today at the latest)."""
    as_of = as_of or min(datetime.now(UTC).date(), newest + timedelta(days=1))
    end = as_of - timedelta(days=1)
    start = as_of - timedelta(days=cfg.lookback_days)
    history_start = min(
        start - timedelta(days=7 * cfg.anomaly_weeks), as_of - timedelta(weeks=cfg.growth_weeks)
    )
    return FlagDays(as_of, start, end, history_start)


def _run_of(
    lf: pl.LazyFrame, cfg: SignalsConfig, days: FlagDays, kinds: Collection[str] | None, table: PriceTable
) -> _Run:
    """What the signals of a run read, from the dataset's requests."""
    rows = lf.filter(days.in_history)
    window = rows.filter(pl.col("date") >= days.start)
    requests_only = pl.col("ts_source").fill_null("log") != "bucket_start"
    return _Run(
        cfg=cfg,
        wanted=frozenset(KINDS if kinds is None else kinds),
        days=days,
        rows=rows,
        window_r=window.filter(requests_only),
        pricing=_Pricing(table, on=days.end),
        scale=30.0 / cfg.lookback_days,
    )


def _first_round(run: _Run, history: pl.LazyFrame) -> tuple[pl.DataFrame, list[Step]]:
    """The history's daily cells (what most signals look at first), and the signals that read the
    requests first with the answers to their first queries."""
    firsts: list[Passes] = []
    if "top_tier_structured" in run.wanted:
        firsts.append(short_structured_on_top_tier(run.window_r, run.cfg, run.pricing, run.scale))
    if "batch_candidate" in run.wanted:
        firsts.append(batch_candidates(run.window_r, run.cfg, run.pricing, run.scale))
    asks = [next(g) for g in firsts]
    # the first round: the history's cells and the others' stats, one query after another (each
    # holds its own group state; together they would add up)
    cells, *answers = [
        q.collect(engine="streaming")
        for q in [daily_cells(history.with_columns(_FEATURE)), *(q for qs in asks for q in qs)]
    ]
    steps: list[Step] = []
    for g, qs in zip(firsts, asks, strict=True):
        steps.append((g, answers[: len(qs)]))
        answers = answers[len(qs) :]
    return cells, steps


def _window_steps(run: _Run, cells: pl.DataFrame, in_window: pl.DataFrame) -> list[Step]:
    """The signals that start from the history's cells (or read the window's requests alone)."""
    cfg, wanted, window_r, pricing, scale = run.cfg, run.wanted, run.window_r, run.pricing, run.scale
    steps: list[Step] = []
    if "cost_growth" in wanted:
        steps.append(
            (growth(cells.filter(pl.col("date") <= run.days.end), run.rows, run.days.as_of, cfg), None)
        )
    if wanted & {"lost_caching", "cost_growth", "missing_caching"}:  # the other two skip what it explains
        steps.append((lost_caching(cells, window_r, run.days.start, cfg, pricing, scale), None))
    if "missing_caching" in wanted:
        steps.append((missing_caching(in_window, window_r, cfg, pricing, scale), None))
    if "under_provisioned" in wanted:
        steps.append((under_provisioned(in_window, window_r, cfg, pricing, scale), None))
    if "stale_generation" in wanted:
        steps.append((stale_generation(in_window, window_r, cfg, pricing, scale), None))
    if "newer_mid_tier" in wanted:
        steps.append((newer_mid_tier(window_r, cfg, pricing, scale), None))
    if "mixed_complexity" in wanted:
        steps.append((mixed_complexity(window_r, cfg, pricing, scale), None))
    if "latency_over_depth" in wanted and cfg.user_facing:
        steps.append((latency_over_depth(window_r, cfg, pricing, scale), None))
    return steps


def _quality_steps(run: _Run, judged: pl.DataFrame | None) -> list[Step]:
    """The quality signals, when the dataset holds judgments and they are asked for."""
    if judged is None or not run.wanted & {"quality_shortfall", "quality_complaints"}:
        return []
    from tierlens.signals.quality import quality_findings

    span = (run.days.start, run.days.end)
    return [(quality_findings(judged, run.window_r, run.cfg, run.pricing, run.scale, span), None)]


def _weighed(
    found: list[Finding], run: _Run, judged: pl.DataFrame | None, trials: pl.DataFrame | None
) -> list[Finding]:
    """The downgrade findings weighed by the quality judgments and by the trials' agreement."""
    if judged is not None:
        from tierlens.signals.quality import weigh_downgrades

        found = weigh_downgrades(found, judged, run.cfg, (run.days.start, run.days.end))
    if trials is not None and not trials.is_empty():
        from tierlens.signals.quality import weigh_by_trials

        found = weigh_by_trials(found, trials, run.cfg)
    return found


def _without_explained(found: list[Finding]) -> list[Finding]:
    """A feature whose caching broke explains its growth, and is no feature that never cached."""
    explained = {f.feature for f in found if f.kind == "lost_caching"}
    return [
        f for f in found if f.kind not in ("cost_growth", "missing_caching") or f.feature not in explained
    ]


def _budget_findings(forecasts: list[BudgetForecast]) -> list[Finding]:
    """A finding for every budget projected over (warning) or already spent (critical)."""
    return [_budget_finding(fc, fc.severity) for fc in forecasts if fc.severity in ("warning", "critical")]


def _budget_finding(fc: BudgetForecast, severity: Severity) -> Finding:
    """One (configured) budget's forecast as a finding."""
    return Finding(
        kind="budget",
        severity=severity,
        feature=fc.feature,
        model=fc.model_id,
        title=f"budget {fc.name}: projected {_usd(fc.projected_usd)} of {_usd(fc.amount or 0.0)} "
        f"({fc.projected_pct or 0.0:.0f}%) by {fc.period_end}",
        evidence=fc.evidence,
        monthly_usd=None,
        low_usd=fc.low_usd,
        high_usd=fc.high_usd,
        confidence="medium",
        basis="modelled",
        data=fc.to_dict(),
    )


def _ranked(found: list[Finding]) -> list[Finding]:
    """The findings most severe first, then by monthly waste, kind and feature."""
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    return sorted(found, key=lambda f: (rank[f.severity], -(f.monthly_usd or 0.0), f.kind, f.feature or ""))


__all__ = [
    "KINDS",
    "SEVERITIES",
    "SIGNAL_DOCS",
    "Finding",
    "Flags",
    "Passes",
    "daily_cells",
    "daily_spend",
    "find_flags",
    "forecast",
    "run_passes",
    "signals_markdown",
]
