"""Prompt-caching signals: a cache that stopped working, and large repeated prompts never cached."""

from __future__ import annotations

from datetime import date

import polars as pl

from tierlens.config import SignalsConfig
from tierlens.signals.common import (
    _FEATURE,
    _PROMPT,
    Passes,
    _among,
    _confidence,
    _is,
    _Pricing,
    _severity,
    _totals,
    _usd,
)
from tierlens.signals.finding import Finding


def _shares(cells: pl.DataFrame, *keys: str) -> pl.DataFrame:
    """Cache-read share of the prompt per feature (and `keys`), with the rows and spend behind it."""
    return (
        cells.group_by("feature", *keys)
        .agg(
            share=pl.col("cache_read").sum() / pl.col("prompt").sum(),
            n=pl.col("n").sum(),
            cost=pl.col("cost_usd").sum(),
        )
        .drop_nulls("share")
    )


def _with_share(share: float) -> dict[str, pl.Expr | str]:
    """The counterfactual where `share` of each prompt had been read from the cache."""
    wanted = (_PROMPT.cast(pl.Float64) * share).floor().cast(pl.Int64)
    movable = pl.min_horizontal(
        pl.max_horizontal(wanted - pl.col("cache_read_tokens"), pl.lit(0)), pl.col("input_tokens")
    )
    return {
        "input_tokens": pl.col("input_tokens") - movable,
        "cache_read_tokens": pl.col("cache_read_tokens") + movable,
    }


def lost_caching(
    cells: pl.DataFrame,
    window: pl.LazyFrame,
    start: date,
    cfg: SignalsConfig,
    pricing: _Pricing,
    scale: float,
) -> Passes:
    """A feature whose cache-read share fell well below what it used to read."""
    requests = cells.filter(~pl.col("bucket"))
    priced = requests.filter(pl.col("priced"))
    before = priced.filter(pl.col("date") < start)
    weekly = _shares(before.with_columns(week=pl.col("date").dt.truncate("1w")), "week")
    best: dict[str, tuple[float, date]] = {}
    for feat, week, share in weekly.sort("week", "feature").select("feature", "week", "share").iter_rows():
        if share > best.get(feat, (0.0, week))[0]:
            best[feat] = (share, week)
    now = {r["feature"]: r for r in _shares(priced.filter(pl.col("date") >= start)).iter_rows(named=True)}
    fallen = [
        (feat, share, week, now[feat]["share"])
        for feat, (share, week) in sorted(best.items())
        if feat in now
        and share >= cfg.cache_min_best_share
        and now[feat]["share"] < share * cfg.cache_drop_factor
    ]
    got = yield [
        q
        for feat, share, _, _ in fallen
        for q in pricing.queries(
            window.filter(_is(feat) & pl.col("priced")),
            _with_share(share),
            _with_share(share / 2),
        )
    ]
    out = []
    for i, (feat, share, week, current) in enumerate(fallen):
        n, cost = int(now[feat]["n"]), float(now[feat]["cost"] or 0.0)
        at_share, at_half = _totals(got[i])
        high, low = (cost - at_share) * scale, (cost - at_half) * scale
        if high < cfg.min_monthly_usd:
            continue
        fell = _first_low_day(requests, feat, share * cfg.cache_drop_factor)
        out.append(
            Finding(
                kind="lost_caching",
                severity=_severity(high, cfg),
                feature=feat,
                model=None,
                title=f"{feat}: prompt caching stopped working (cache reads {100 * share:.0f}% of the prompt -> {100 * current:.0f}%)",
                evidence=(
                    f"best week {week}: {100 * share:.0f}% of prompt tokens read from cache; last {cfg.lookback_days} days: "
                    f"{100 * current:.0f}%"
                    + (f"; the drop starts on {fell}" if fell else "")
                    + f"; the window cost {_usd(cost)} over {n:,} requests"
                ),
                monthly_usd=high,
                low_usd=max(low, 0.0),
                high_usd=high,
                confidence=_confidence(n),
                basis="modelled",
                data={"best_share": share, "current_share": current, "since": str(fell) if fell else None},
            )
        )
    return out


def _first_low_day(cells: pl.DataFrame, feature: str, below: float) -> date | None:
    daily = (
        cells.filter(pl.col("feature") == feature)
        .group_by("date")
        .agg(share=pl.col("cache_read").sum() / pl.col("prompt").sum())
        .sort("date")
    )
    high = daily.filter(pl.col("share") >= below)
    if high.is_empty():
        return None
    after = daily.filter((pl.col("date") > high["date"].max()) & (pl.col("share") < below))
    return after["date"].min() if after.height else None  # type: ignore[return-value]


def missing_caching(
    cells: pl.DataFrame, window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float
) -> Passes:
    """Large prompts, never cached: if even the smallest prompts share a prefix, caching it would pay."""
    never = (
        cells.filter(pl.col("priced"))
        .group_by("feature")
        .agg(n=pl.col("requests").sum(), cached=pl.col("cached").sum(), cost=pl.col("cost_usd").sum())
        .filter((pl.col("cached") == 0) & (pl.col("n") * scale >= cfg.missing_cache_min_requests))
    )
    if never.is_empty():  # the prompt sizes are read only for features that never cache
        return []
    [p10] = yield [
        window.filter(pl.col("priced") & _among(never["feature"].to_list()))
        .group_by(_FEATURE)
        .agg(p10=_PROMPT.quantile(0.1))
    ]
    stats = (
        never.join(p10, on="feature").filter(pl.col("p10") >= cfg.missing_cache_min_prefix).sort("feature")
    )

    def moved(tokens: int) -> dict[str, pl.Expr | str]:
        move = pl.min_horizontal(pl.lit(tokens), pl.col("input_tokens"))
        return {
            "input_tokens": pl.col("input_tokens") - move,
            "cache_read_tokens": pl.col("cache_read_tokens") + move,
        }

    got = yield [
        q
        for r in stats.iter_rows(named=True)
        for q in pricing.queries(
            window.filter(_is(r["feature"]) & pl.col("priced")),
            moved(int(r["p10"])),
            moved(int(r["p10"]) // 2),
        )
    ]
    out = []
    for i, r in enumerate(stats.iter_rows(named=True)):
        prefix = int(r["p10"])
        cost = float(r["cost"] or 0.0)
        at_prefix, at_half = _totals(got[i])
        high, low = (cost - at_prefix) * scale, (cost - at_half) * scale
        if high < cfg.min_monthly_usd:
            continue
        out.append(
            Finding(
                kind="missing_caching",
                severity="warning",
                feature=r["feature"],
                model=None,
                title=f"{r['feature']}: large prompts are never cached",
                evidence=f"{r['n']:,} requests without any cache read or write; 90% of prompts exceed {prefix:,} tokens",
                monthly_usd=high,
                low_usd=low,
                high_usd=high,
                confidence="low",
                basis="speculative",
                data={"prefix_tokens": prefix},
            )
        )
    return out
