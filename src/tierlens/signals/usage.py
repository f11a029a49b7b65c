"""Signals on how a feature uses its model: cost growing faster than use, short structured calls on the top
tier, work nobody waits for at standard prices, and lower tiers that fail (upgrade candidates)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from tierlens.config import SignalsConfig
from tierlens.pricing.engine import Models, reprice_query
from tierlens.render import money_range
from tierlens.signals.common import (
    _FEATURE,
    _PROMPT,
    TOP_TIER,
    Passes,
    _among,
    _confidence,
    _first,
    _is,
    _named,
    _num,
    _Pricing,
    _severity,
    _totals,
    _usd,
)
from tierlens.signals.finding import Finding

# --- cost growing faster than usage -------------------------------------------------------------------


def growth(cells: pl.DataFrame, rows: pl.LazyFrame, as_of: date, cfg: SignalsConfig) -> Passes:
    """Cost per request rising: the first two of `growth_weeks` complete weeks against the last two.
    Requests and spend come from the history's cells; active users (for the evidence) are read
    from the requests of the features that rose."""
    last_monday = as_of - timedelta(days=as_of.weekday())
    first = last_monday - timedelta(weeks=cfg.growth_weeks)
    early = (first, first + timedelta(days=13))
    late = (last_monday - timedelta(days=14), last_monday - timedelta(days=1))
    priced = cells.filter(pl.col("priced"))

    def part(lo: date, hi: date) -> pl.DataFrame:
        return (
            priced.filter(pl.col("date").is_between(lo, hi))
            .group_by("feature")
            .agg(n=pl.col("requests").sum(), cost=pl.col("cost_usd").sum())
        )

    both = part(*early).join(part(*late), on="feature", suffix="_late")
    rising = both.filter(
        (pl.col("n") > 0)
        & (pl.col("n_late") > 0)
        & (pl.col("cost") != 0)
        & ((pl.col("cost_late") / pl.col("n_late")) / (pl.col("cost") / pl.col("n")) >= cfg.growth_min_ratio)
    )
    if rising.is_empty():
        return []

    def active(lo: date, hi: date) -> pl.LazyFrame:
        return (
            rows.filter(
                pl.col("priced") & pl.col("date").is_between(lo, hi) & _among(rising["feature"].to_list())
            )
            .group_by(_FEATURE)
            .agg(users=pl.col("user_id").n_unique())
        )

    [seen] = yield [
        active(*early).join(active(*late), on="feature", how="full", coalesce=True, suffix="_late")
    ]
    both = rising.join(seen, on="feature", how="left").with_columns(
        pl.col("users", "users_late").fill_null(0)
    )
    out = []
    for r in both.iter_rows(named=True):
        if not r["n"] or not r["n_late"] or not r["cost"]:
            continue
        cpr0, cpr1 = r["cost"] / r["n"], r["cost_late"] / r["n_late"]
        ratio = cpr1 / cpr0
        if ratio < cfg.growth_min_ratio:
            continue
        monthly_requests = r["n_late"] / 14 * 30
        excess = (cpr1 - cpr0) * monthly_requests
        if excess < cfg.min_monthly_usd:
            continue
        users = f", active users x{r['users_late'] / r['users']:.2f}" if r["users"] else ""
        out.append(
            Finding(
                kind="cost_growth",
                severity=_severity(excess, cfg),
                feature=r["feature"],
                model=None,
                title=f"{r['feature']}: cost per request x{ratio:.1f} in {cfg.growth_weeks} weeks while requests x{r['n_late'] / r['n']:.2f}",
                evidence=(
                    f"{early[0]}..{early[1]}: {r['n']:,} requests, {_usd(r['cost'])} ({_usd(cpr0)}/request); "
                    f"{late[0]}..{late[1]}: {r['n_late']:,} requests, {_usd(r['cost_late'])} ({_usd(cpr1)}/request)"
                    f"; cost x{r['cost_late'] / r['cost']:.2f}{users}"
                ),
                monthly_usd=excess,
                low_usd=0.5 * excess,
                high_usd=excess,
                confidence=_confidence(min(r["n"], r["n_late"])),
                basis="modelled",
                data={"cost_per_request_before": cpr0, "cost_per_request_now": cpr1, "ratio": ratio},
            )
        )
    return out


# --- short structured queries on the top tier ----------------------------------------------------


def short_structured_on_top_tier(
    window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float
) -> Passes:
    """Opus calls that look like classification: short prompt, short structured answer."""
    top = _top_tier_calls(window, cfg)
    [stats] = yield [_short_call_stats(top, cfg)]
    stats = stats.sort("feature")
    # per feature: the newest model of each lower tier that tokenizes as its own model does
    targets = {
        r["feature"]: pricing.cheaper(_first(r["models"]), TOP_TIER) for r in stats.iter_rows(named=True)
    }
    stats = stats.filter(pl.col("feature").is_in([f for f, t in targets.items() if t]))
    got = yield [
        q
        for feature in stats["feature"]
        for q in pricing.queries(
            top.filter(_is(feature) & pl.col("_short")), *_kept_and_cold(targets[feature])
        )
    ]
    out = []
    for i, r in enumerate(stats.iter_rows(named=True)):
        totals = _totals(got[i])
        alternatives = {t: (totals[2 * j], totals[2 * j + 1]) for j, t in enumerate(targets[r["feature"]])}
        found = _short_structured_finding(r, alternatives, cfg, scale)
        if found is not None:
            out.append(found)
    return out


_COLD_CACHE: dict[str, pl.Expr | str] = {
    "input_tokens": _PROMPT,
    "cache_read_tokens": pl.lit(0, pl.Int64),
    "cache_write_5m_tokens": pl.lit(0, pl.Int64),
    "cache_write_1h_tokens": pl.lit(0, pl.Int64),
}
"""A counterfactual's tokens when the target's cache is cold: the whole prompt is uncached input."""


def _top_tier_calls(window: pl.LazyFrame, cfg: SignalsConfig) -> pl.LazyFrame:
    """The window's priced top-tier calls, each marked whether it is short and structured."""
    short = (
        pl.col("structured_output")
        & (cfg.structured_max_prompt >= _PROMPT)
        & (pl.col("output_tokens") <= cfg.structured_max_output)
    )
    return window.filter((pl.col("tier") == TOP_TIER) & pl.col("priced")).with_columns(_short=short)


def _short_call_stats(top: pl.LazyFrame, cfg: SignalsConfig) -> pl.LazyFrame:
    """Per feature whose top-tier calls are mostly short and structured: how many, their cost,
    median prompt and output, and the models they ran on."""
    return (
        top.group_by(_FEATURE)
        .agg(
            calls=pl.len(),
            hits=pl.col("_short").sum(),
            cost=pl.col("cost_usd").filter(pl.col("_short")).sum(),
            prompt=_PROMPT.filter(pl.col("_short")).median(),
            output=pl.col("output_tokens").filter(pl.col("_short")).median(),
            models=pl.col("model_id").filter(pl.col("_short")).unique().sort(),
        )
        .filter((pl.col("hits") > 0) & (pl.col("hits") / pl.col("calls") >= cfg.structured_min_share))
    )


def _kept_and_cold(targets: list[str]) -> list[dict[str, pl.Expr | str]]:
    """The counterfactuals of a feature: on each target, with the cache kept and then cold (a
    cached Opus token can cost less than an uncached Haiku one)."""
    out: list[dict[str, pl.Expr | str]] = []
    for t in targets:
        out += [{"model_id": t}, {**_COLD_CACHE, "model_id": t}]
    return out


def _short_structured_finding(
    r: dict[str, Any], alternatives: dict[str, tuple[float, float]], cfg: SignalsConfig, scale: float
) -> Finding | None:
    """A feature's finding from its stats and its cost on each target (cache kept, cold): the
    target whose worse case is cheapest; none when that saves less than the threshold."""
    feature, share, cost = r["feature"], r["hits"] / r["calls"], float(r["cost"])
    best = min(alternatives, key=lambda t: max(alternatives[t]))
    kept, cold = alternatives[best]
    high, low = (cost - min(kept, cold)) * scale, (cost - max(kept, cold)) * scale
    if high < cfg.min_monthly_usd:
        return None
    others = "; ".join(
        f"on {t}: {money_range(a[0] * scale, a[1] * scale)}/month" for t, a in alternatives.items()
    )
    return Finding(
        kind="top_tier_structured",
        severity=_severity(high, cfg),
        feature=str(feature),
        model=_named(r["models"]),
        title=f"{feature}: {100 * share:.0f}% of its {TOP_TIER} calls are short structured answers; {best} would do",
        evidence=(
            f"{r['hits']:,} of {r['calls']:,} calls in the window: prompt <= {cfg.structured_max_prompt:,} "
            f"tokens (median {int(r['prompt']):,}), output <= {cfg.structured_max_output} "
            f"(median {int(_num(r['output']))}), tool use or JSON; now {_usd(cost * scale)}/month; {others}"
        ),
        monthly_usd=high,
        low_usd=max(low, 0.0),
        high_usd=high,
        confidence="medium",
        basis="modelled",
        data={"share": share, "requests": r["hits"], "target": best},
    )


# --- batch candidates ------------------------------------------------------------------------------


def batch_candidates(window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float) -> Passes:
    """Standard-tier features that run when nobody waits (night hours): the Batches API halves them."""
    lo, hi = cfg.night_hours
    std = window.filter((pl.col("service_tier") != "batch") & pl.col("priced"))
    # first sums only (they stream in bounded memory); the medians and model lists are read
    # for the few features that run at night, over their rows alone
    [stats] = yield [
        std.group_by(_FEATURE)
        .agg(
            night=pl.col("ts").dt.hour().is_between(lo, hi - 1).sum() / pl.col("ts").is_not_null().sum(),
            n=pl.len(),
            cost=pl.col("cost_usd").sum(),
        )
        .filter(pl.col("night") >= cfg.batch_min_night_share)
    ]
    stats = stats.sort("feature")
    features = stats["feature"].to_list()
    details, *got = yield [
        std.filter(_among(features))
        .group_by(_FEATURE)
        .agg(latency=pl.col("latency_ms").median(), models=pl.col("model_id").unique().sort()),
        *(q for f in features for q in pricing.queries(std.filter(_is(f)), {"service_tier": "batch"})),
    ]
    stats = stats.join(details, on="feature", how="left")
    out = []
    for r, batched in zip(stats.iter_rows(named=True), [_totals(g)[0] for g in got], strict=True):
        feature, night, cost = r["feature"], _num(r["night"]), float(r["cost"] or 0.0)
        saving = (cost - batched) * scale
        if saving < cfg.min_monthly_usd:
            continue
        latency = _num(r["latency"]) if r["latency"] is not None else None
        out.append(
            Finding(
                kind="batch_candidate",
                severity=_severity(saving, cfg),
                feature=str(feature),
                model=_named(r["models"]),
                title=f"{feature}: runs at night at standard prices; the Batches API would halve it",
                evidence=(
                    f"{100 * night:.0f}% of {r['n']:,} standard-tier requests between {lo:02d}:00 and {hi:02d}:00 UTC"
                    + (f", median latency {latency / 1000:.1f}s" if latency is not None else "")
                    + f"; {_usd(cost * scale)}/month now"
                ),
                monthly_usd=saving,
                low_usd=saving * night,
                high_usd=saving,
                confidence="high" if night >= 0.95 else "medium",
                basis="exact",
                data={"night_share": night},
            )
        )
    return out


# --- under-provisioning ------------------------------------------------------------------------------


def under_provisioned(
    cells: pl.DataFrame, window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float
) -> Passes:
    """Lower tiers that cut answers at max_tokens or fail often: candidates for an upgrade."""
    tiers = pl.col("tier").is_in([t for t in ("haiku", "sonnet") if pricing.catalog.tier_step(t, 1)])
    failing = (pl.col("stop_reason") == "max_tokens") | (pl.col("status") == "error")
    stats = (
        cells.filter(tiers)
        .group_by("feature", "model_id", "tier")
        .agg(n=pl.col("requests").sum(), cut=pl.col("cut").sum(), errors=pl.col("errors").sum())
        .filter(pl.col("n") >= 100)
        .filter(
            (pl.col("cut") / pl.col("n") >= cfg.max_tokens_rate)
            | (pl.col("errors") / pl.col("n") >= cfg.error_rate)
        )
    )
    upgrades = {
        (f, m): pricing.upgrade(m, t) for f, m, t in stats.select("feature", "model_id", "tier").iter_rows()
    }
    stats = stats.filter(
        pl.struct("feature", "model_id").is_in(
            [{"feature": f, "model_id": m} for (f, m), u in upgrades.items() if u]
        )
    )
    lower = window.filter(tiers)
    targets = {m: u for (_, m), u in upgrades.items() if u is not None}
    got = yield _upgrade_costs(lower.filter(failing), stats.select("feature", "model_id"), pricing, targets)
    extra = {(f, m): float(c or 0.0) for f, m, c in got[0].iter_rows()} if got else {}
    out = []
    for r in stats.sort("feature", "model_id").iter_rows(named=True):
        cut_rate, err_rate = r["cut"] / r["n"], r["errors"] / r["n"]
        target = targets[r["model_id"]]
        upgrade = extra.get((r["feature"], r["model_id"]), 0.0) * scale
        why = []
        if cut_rate >= cfg.max_tokens_rate:
            why.append(f"{100 * cut_rate:.1f}% of answers cut at max_tokens")
        if err_rate >= cfg.error_rate:
            why.append(f"{100 * err_rate:.1f}% errors")
        out.append(
            Finding(
                kind="under_provisioned",
                severity="info",
                feature=r["feature"],
                model=r["model_id"],
                title=f"{r['feature']} on {r['model_id']}: {' and '.join(why)}; consider {target} or a larger max_tokens",
                evidence=f"{r['n']:,} requests in the window; {r['cut']:,} hit max_tokens, {r['errors']:,} errors",
                monthly_usd=None,
                low_usd=None,
                high_usd=upgrade,
                confidence=_confidence(r["n"]),
                basis="modelled",
                data={
                    "max_tokens_rate": cut_rate,
                    "error_rate": err_rate,
                    "upgrade_to": target,
                    "upgrade_monthly_usd": upgrade,
                },
            )
        )
    return out


def _upgrade_costs(
    failing: pl.LazyFrame, flagged: pl.DataFrame, pricing: _Pricing, targets: dict[str, str]
) -> list[pl.LazyFrame]:
    """What upgrading each flagged (feature, model)'s failing requests to `targets[model]` would
    add (one query over those requests only: feature, model, change; none when nothing is flagged)."""
    if flagged.is_empty():
        return []
    rows = (
        failing.filter(_among(flagged["feature"].unique().to_list()))  # read in the Parquet reader
        .with_columns(_FEATURE)
        .join(flagged.lazy(), on=["feature", "model_id"], how="semi")
        .with_columns(_orig_model=pl.col("model_id"))
    )
    upgraded = {"model_id": pl.col("model_id").replace_strict(targets, default=None, return_dtype=pl.String)}
    new_models = tuple(sorted(set(targets.values())))
    return [
        reprice_query(
            rows,
            pricing.table,
            [upgraded],
            pricing.models,
            by=("feature", "_orig_model"),
            new_models=Models(new_models, new_models),
        ).select("feature", "_orig_model", change=pl.col("change_0"))
    ]
