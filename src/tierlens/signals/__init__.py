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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from tierlens.config import BudgetConfig, SignalsConfig
from tierlens.pricing import PriceTable
from tierlens.pricing.engine import Models
from tierlens.signals.anomalies import anomalies, forecast
from tierlens.signals.caching import lost_caching, missing_caching
from tierlens.signals.common import _FEATURE, Passes, _Pricing, _usd, daily_cells, daily_spend, run_passes
from tierlens.signals.docs import SIGNAL_DOCS, signals_markdown
from tierlens.signals.finding import KINDS, SEVERITIES, Finding, Flags
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
    as_of = as_of or min(datetime.now(UTC).date(), newest + timedelta(days=1))
    end = as_of - timedelta(days=1)
    start = as_of - timedelta(days=cfg.lookback_days)
    history_start = min(
        start - timedelta(days=7 * cfg.anomaly_weeks), as_of - timedelta(weeks=cfg.growth_weeks)
    )
    in_history = pl.col("date").is_between(history_start, end)
    # the requests keep their logged feature (null: unattributed) so that a filter on one feature
    # reaches the Parquet reader; the signals name the unattributed ones with `_FEATURE`/`_is`
    rows = lf.filter(in_history)
    window = rows.filter(pl.col("date") >= start)
    # request-level signals look at requests only: an aggregate report's row is a bucket of many
    # requests, and re-pricing summed tokens would mis-decide per-request rules (long context)
    requests_only = pl.col("ts_source").fill_null("log") != "bucket_start"
    window_r = window.filter(requests_only)
    wanted = set(KINDS if kinds is None else kinds)
    scale = 30.0 / cfg.lookback_days
    pricing = _Pricing(table, on=end)
    firsts: list[Passes] = []
    if "top_tier_structured" in wanted:
        firsts.append(short_structured_on_top_tier(window_r, cfg, pricing, scale))
    if "batch_candidate" in wanted:
        firsts.append(batch_candidates(window_r, cfg, pricing, scale))
    asks = [next(g) for g in firsts]
    # the first round: the history's cells (what most signals look at first) and the others' stats,
    # one query after another (each holds its own group state; together they would add up)
    cells, *answers = [
        q.collect(engine="streaming")
        for q in [
            daily_cells(sums.filter(in_history).with_columns(_FEATURE)),
            *(q for qs in asks for q in qs),
        ]
    ]
    in_window = cells.filter(~pl.col("bucket") & (pl.col("date") >= start))
    pricing.models = Models.of(in_window)  # every counterfactual re-prices rows of the window
    steps: list[tuple[Passes, list[pl.DataFrame] | None]] = []
    for g, qs in zip(firsts, asks, strict=True):
        steps.append((g, answers[: len(qs)]))
        answers = answers[len(qs) :]
    if "cost_growth" in wanted:
        steps.append((growth(cells.filter(pl.col("date") <= end), rows, as_of, cfg), None))
    if wanted & {"lost_caching", "cost_growth", "missing_caching"}:  # the other two skip what it explains
        steps.append((lost_caching(cells, window_r, start, cfg, pricing, scale), None))
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
    found_aliases = (
        unpinned_aliases(in_window, cfg, pricing.catalog, scale) if "unpinned_alias" in wanted else []
    )
    judged = judgments if judgments is not None and not judgments.is_empty() else None
    if judged is not None and wanted & {"quality_shortfall", "quality_complaints"}:
        from tierlens.signals.quality import quality_findings

        steps.append((quality_findings(judged, window_r, cfg, pricing, scale, (start, end)), None))
    found = run_passes(steps) + found_aliases
    if judged is not None:
        from tierlens.signals.quality import weigh_downgrades

        found = weigh_downgrades(found, judged, cfg, (start, end))
    if trials is not None and not trials.is_empty():
        from tierlens.signals.quality import weigh_by_trials

        found = weigh_by_trials(found, trials, cfg)
    # a feature whose caching broke explains its growth, and is no feature that never cached
    explained = {f.feature for f in found if f.kind == "lost_caching"}
    found = [
        f for f in found if f.kind not in ("cost_growth", "missing_caching") or f.feature not in explained
    ]
    daily = cells.group_by("feature", "model_id", "date", "priced").agg(
        pl.col("cost_usd").sum(), pl.col("requests").sum()
    )
    if "anomaly" in wanted:
        found += anomalies(daily, start, end, cfg)
    found = [f for f in found if f.kind in wanted]
    forecasts = forecast(daily, as_of, budgets or [], newest)
    for fc in forecasts if "budget" in wanted else []:
        if fc.get("severity") in ("warning", "critical"):
            found.append(
                Finding(
                    kind="budget",
                    severity=fc["severity"],
                    feature=fc.get("feature"),
                    model=fc.get("model_id"),
                    title=f"budget {fc['name']}: projected {_usd(fc['projected_usd'])} of {_usd(fc['amount'])} "
                    f"({fc['projected_pct']:.0f}%) by {fc['period_end']}",
                    evidence=fc["evidence"],
                    monthly_usd=None,
                    low_usd=fc["low_usd"],
                    high_usd=fc["high_usd"],
                    confidence="medium",
                    basis="modelled",
                    data=fc,
                )
            )
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    found.sort(key=lambda f: (rank[f.severity], -(f.monthly_usd or 0.0), f.kind, f.feature or ""))
    return Flags(
        as_of=as_of, window_start=start, window_end=end, findings=found, forecasts=forecasts, thresholds=cfg
    )


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
