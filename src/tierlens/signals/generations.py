"""Model-choice signals from the model catalog: stale generations, the newer mid tier, mixed complexity
(cascade candidates), latency over depth, and production traffic on an alias."""

from __future__ import annotations

import fnmatch
from datetime import date
from typing import Any

import polars as pl

from tierlens.config import SignalsConfig
from tierlens.pricing.catalog import Model, ModelCatalog
from tierlens.pricing.engine import reprice_query
from tierlens.pricing.models import strip_routing
from tierlens.pricing.table import ANTHROPIC_WEB_SEARCH_USD
from tierlens.render import money_range
from tierlens.replay.assumptions import DEFAULT_ESCALATION_RATE, DEFAULT_OUTPUT_RATIO, Assumptions
from tierlens.signals.common import (
    _FEATURE,
    _PROMPT,
    TOKEN_COUNTS,
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

# --- stale model generations ---------------------------------------------------------------------------


_RATIO_QUANTILES = (0.1, 0.5, 0.9)
"""A switch across tokenizers is priced at the ratio's P10, median and P90 (the range and its middle)."""


def _switched(target: Model, ratio: float, output: float = 1.0) -> dict[str, pl.Expr | str]:
    """The counterfactual: the same requests on `target`, every token count scaled by `ratio` (the
    tokenizer's) and the output by `output` more (an answer-length prior)."""
    if ratio == 1.0 and output == 1.0:
        return {"model_id": target.model_id}
    scaled = {c: (pl.col(c).cast(pl.Float64) * ratio).round(0).cast(pl.Int64) for c in TOKEN_COUNTS}
    scaled["output_tokens"] = (
        (pl.col("output_tokens").cast(pl.Float64) * ratio * output).round(0).cast(pl.Int64)
    )
    return {"model_id": target.model_id, **scaled}


def _ratios(source: Model, target: Model) -> tuple[float, ...]:
    """The tokenizer ratio target/source at `_RATIO_QUANTILES`; `(1.0,)` for the same tokenizer."""
    if source.tokenizer == target.tokenizer or not (source.tokenizer and target.tokenizer):
        return (1.0,)
    dist, _ = Assumptions().tokenizer(source.tokenizer, target.tokenizer)
    return tuple(dist.ppf(q) for q in _RATIO_QUANTILES)


def _share_saved(
    usage: dict[str, Any], source: Model, target: Model, catalog: ModelCatalog, on: date
) -> float:
    """The share of a feature's cost a move to `target` saves, estimated from the window's token
    sums at list rates and the median tokenizer ratio (web search fees unchanged): a screen, so
    that only moves worth a look are re-priced; 0.0 when a rate is missing."""
    rates, target_rates = catalog.rates(source.model_id, on), catalog.rates(target.model_id, on)
    if rates is None or target_rates is None:
        return 0.0
    web = 0.01 * float(usage["web_search_requests"] or 0)

    def at(r: dict[str, float], ratio: float) -> float:
        return sum(float(usage[c] or 0) * r[c] * ratio for c in TOKEN_COUNTS) / 1e6 + web

    ratios = _ratios(source, target)
    now = at(rates, 1.0)
    return 1 - at(target_rates, ratios[len(ratios) // 2]) / now if now > 0 else 0.0


def stale_generation(
    cells: pl.DataFrame, window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float
) -> Passes:
    """A feature on an older generation of its tier when a newer one costs less, or on a model past
    its deprecation or retirement date. The newer models that the list rates say may save half the
    threshold or more (any, when the model is past its deprecation) re-price the requests in one
    query for all features: exact within a tokenizer; across tokenizers at the ratio's median, with
    P10..P90 scaling its token cost (linear in the tokens but where a scaled prompt crosses a
    long-context threshold; web search fees do not scale)."""
    catalog, on = pricing.catalog, pricing.on
    usage = (
        cells.filter(pl.col("priced"))
        .group_by("feature", "model_id")
        .agg(
            n=pl.col("requests").sum(),
            cost=pl.col("cost_usd").sum(),
            **{c: pl.col(c).sum() for c in (*TOKEN_COUNTS, "web_search_requests")},
        )
        .sort("feature", "model_id")
    )
    cases = []
    for r in usage.iter_rows(named=True):
        source = catalog.get(r["model_id"])
        if source is None:
            continue
        past = source.status(on) != "active"
        newer = [
            t
            for t in catalog.newer(source.model_id, on)
            if past or _share_saved(r, source, t, catalog, on) >= cfg.stale_min_saving_share / 2
        ]
        if newer:
            cases.append((r, source, newer))
    if not cases:
        return []
    switches = {(t.model_id, _ratios(s, t)[len(_ratios(s, t)) // 2]) for _, s, newer in cases for t in newer}
    keys = sorted(switches)
    chosen = pl.DataFrame(
        {"feature": [r["feature"] for r, _, _ in cases], "model_id": [s.model_id for _, s, _ in cases]},
        schema={"feature": pl.String, "model_id": pl.String},
    )
    rows = (
        window.filter(_among(chosen["feature"].unique().to_list()) & pl.col("priced"))
        .with_columns(_FEATURE)
        .join(chosen.lazy(), on=["feature", "model_id"], how="semi")
        .with_columns(_orig_model=pl.col("model_id"))  # a cell key the counterfactuals leave alone
    )
    by = ("feature", "_orig_model")
    counterfactuals = [_switched(catalog.models[t], ratio) for t, ratio in keys]
    [result] = yield [reprice_query(rows, pricing.table, counterfactuals, pricing.models, by=by)]
    columns = [f"total_{i}" for i in range(len(keys))]
    totals = {(f, m): row for f, m, *row in result.select(*by, *columns).iter_rows()}
    out = []
    for r, source, newer in cases:
        row = totals.get((r["feature"], source.model_id))
        if row is None:
            continue
        options = []
        for t in newer:
            ratios = _ratios(source, t)
            mid = float(row[keys.index((t.model_id, ratios[len(ratios) // 2]))] or 0.0)
            fees = ANTHROPIC_WEB_SEARCH_USD * float(r["web_search_requests"] or 0)  # unscaled by tokens
            low, high = (fees + (mid - fees) * x / ratios[len(ratios) // 2] for x in (ratios[0], ratios[-1]))
            options.append((t, low, mid, high))
        # the newer model with the smallest worst case, the newest of equals
        best, *costs = min(options, key=lambda o: (round(o[3], 9), -newer.index(o[0])))
        finding = _stale_finding(
            r["feature"],
            source,
            best,
            r["n"],
            float(r["cost"]),
            (costs[0], costs[1], costs[2]),
            cfg,
            scale,
            on,
        )
        if finding is not None:
            out.append(finding)
    return out


def _stale_finding(
    feature: str,
    source: Model,
    target: Model,
    n: int,
    cost: float,
    on_target: tuple[float, float, float],
    cfg: SignalsConfig,
    scale: float,
    on: date,
) -> Finding | None:
    """The finding for `feature` on `source` with `target` its best newer model (None: not worth one)."""
    low_cost, mid_cost, high_cost = on_target
    saving, worst, best = ((cost - c) * scale for c in (mid_cost, high_cost, low_cost))
    status = source.status(on)
    worth = (
        saving >= cfg.min_monthly_usd and cost > 0 and saving / (cost * scale) >= cfg.stale_min_saving_share
    )
    if status == "active" and not worth:
        return None
    exact = _ratios(source, target) == (1.0,)
    when = source.retired if status == "retired" else source.deprecated
    lifecycle = f"{source.model_id} was {status} on {when}; " if status != "active" else ""
    named = source.replacement
    pct = 100 * saving / (cost * scale) if cost > 0 else 0.0
    ratios = _ratios(source, target)
    tokens = (
        "the same tokens"
        if exact
        else f"tokens x{ratios[0]:.2f}..x{ratios[-1]:.2f}, the tokenizer ratio's P10..P90"
    )
    return Finding(
        kind="stale_generation",
        severity="critical" if status != "active" else _severity(saving, cfg),
        feature=feature,
        model=source.model_id,
        title=f"{feature}: {lifecycle}{target.model_id} ({source.tier} {target.version}) "
        f"would cost {abs(pct):.0f}% {'less' if pct >= 0 else 'more'} than {source.model_id} ({source.version})",
        evidence=(
            f"{n:,} requests in the window on {source.model_id}, {_usd(cost * scale)}/month; on {target.model_id} "
            f"{money_range(low_cost * scale, high_cost * scale)}/month ({tokens})"
            + (
                f"; its provider names {named} as its replacement"
                if named and named != target.model_id
                else ""
            )
        ),
        monthly_usd=max(saving, 0.0),
        low_usd=max(worst, 0.0),
        high_usd=max(best, 0.0),
        confidence=_confidence(n),
        basis="exact" if exact else "modelled",
        data={
            "target": target.model_id,
            "status": status,
            "replacement": named,
            "deprecated": str(source.deprecated) if source.deprecated else None,
            "retired": str(source.retired) if source.retired else None,
            "tokenizer_ratio": None if exact else {"p10": ratios[0], "p50": ratios[1], "p90": ratios[2]},
        },
    )


MID_TIER = "sonnet"


def newer_mid_tier(window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float) -> Passes:
    """Top-tier features whose requests (prompt and output sizes) are of a shape the mid tier already
    serves in the same data: the newest mid-tier model may do them ("Sonnet is the new Opus"),
    priced with the replay's output-ratio prior and, across tokenizers, the tokenizer ratio."""
    q = cfg.mid_tier_shape_quantile
    target = pricing.catalog.newest(MID_TIER, pricing.on)
    rows = window.filter(pl.col("priced") & pl.col("tier").is_in([TOP_TIER, MID_TIER]))
    shapes, mid = yield [
        rows.filter(pl.col("tier") == TOP_TIER)
        .group_by(_FEATURE, "tier")
        .agg(
            n=pl.len(),
            cost=pl.col("cost_usd").sum(),
            prompt=_PROMPT.quantile(q),
            output=pl.col("output_tokens").quantile(q),
            structured=pl.col("structured_output").fill_null(False).mean(),
            models=pl.col("model_id").unique().sort(),
        ),
        # what the mid tier serves here: all its requests' sizes at the quantile, pooled
        rows.filter(pl.col("tier") == MID_TIER).select(
            n=pl.len(), prompt=_PROMPT.quantile(q), output=pl.col("output_tokens").quantile(q)
        ),
    ]
    if target is None or mid["n"][0] < 100:
        return []
    goal: Model = target
    served_prompt, served_output = _num(mid["prompt"][0]), _num(mid["output"][0])
    top = shapes.filter(
        (pl.col("tier") == TOP_TIER)
        & (pl.col("n") >= 100)
        & (pl.col("prompt") <= served_prompt)
        & (pl.col("output") <= served_output)
        & (pl.col("structured") < cfg.structured_min_share)  # short structured calls: top_tier_structured's
    ).sort("feature")
    cases = [(r, pricing.catalog.get(_first(r["models"]) or "")) for r in top.iter_rows(named=True)]
    known = [(r, source) for r, source in cases if source is not None]
    plans = [_mid_tier_ratios(source, goal) for _, source in known]
    got = yield [
        q
        for (r, _), plan in zip(known, plans, strict=True)
        for q in pricing.queries(rows.filter(_is(r["feature"]) & (pl.col("tier") == TOP_TIER)), *plan)
    ]
    out = []
    for (r, source), result in zip(known, got, strict=True):
        low_cost, mid_cost, high_cost = _totals(result)
        cost = float(r["cost"])
        saving, worst, best = ((cost - c) * scale for c in (mid_cost, high_cost, low_cost))
        if saving < cfg.min_monthly_usd or saving < cfg.mid_tier_min_saving_share * cost * scale:
            continue
        out.append(
            Finding(
                kind="newer_mid_tier",
                severity=_severity(saving, cfg),
                feature=r["feature"],
                model=source.model_id,
                title=f"{r['feature']}: its {TOP_TIER} requests are of a shape {MID_TIER} serves here; "
                f"{goal.model_id} would cost {100 * saving / (cost * scale):.0f}% less",
                evidence=(
                    f"{r['n']:,} requests on {source.model_id} in the window, {_usd(cost * scale)}/month; "
                    f"P{100 * q:.0f} prompt {int(r['prompt']):,} and output {int(r['output']):,} tokens, within "
                    f"what {MID_TIER} serves here (P{100 * q:.0f} {int(served_prompt):,} and {int(served_output):,}); "
                    f"on {goal.model_id} {money_range(low_cost * scale, high_cost * scale)}/month (output "
                    f"x{DEFAULT_OUTPUT_RATIO.ppf(0.1):.2f}..x{DEFAULT_OUTPUT_RATIO.ppf(0.9):.2f}, the replay's "
                    "uncalibrated prior, and the tokenizer ratio where it differs)"
                ),
                monthly_usd=saving,
                low_usd=max(worst, 0.0),
                high_usd=max(best, 0.0),
                confidence="low" if r["n"] < 500 else "medium",
                basis="modelled",
                data={"target": goal.model_id, "prompt": r["prompt"], "output": r["output"]},
            )
        )
    return out


def _mid_tier_ratios(source: Model, target: Model) -> list[dict[str, pl.Expr | str]]:
    """Low, median and high counterfactuals: output and tokenizer ratios at P10, P50 and P90 together."""
    tokenizer = _ratios(source, target)
    tok = [tokenizer[0], tokenizer[len(tokenizer) // 2], tokenizer[-1]]
    return [
        _switched(target, t, DEFAULT_OUTPUT_RATIO.ppf(u)) for t, u in zip(tok, _RATIO_QUANTILES, strict=True)
    ]


def mixed_complexity(window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float) -> Passes:
    """Opus and Sonnet features that mix simple requests (short answers) with genuinely long work:
    a cascade (the model one tier down first, escalating what it cannot do) keeps the simple share on
    the cheaper model. Every request pays the cheap attempt; the long ones and an escalated share
    of the simple ones also pay the current model."""
    small = pl.col("output_tokens") <= cfg.mixed_small_output
    lo, hi = cfg.mixed_small_share
    rows = window.filter(pl.col("priced") & pl.col("tier").is_in([TOP_TIER, MID_TIER]))
    [stats] = yield [
        rows.group_by(_FEATURE, "tier")
        .agg(
            n=pl.len(),
            share=small.mean(),
            # the share of long answers, not a P90: a mean streams, a quantile holds every value
            long=(pl.col("output_tokens") >= cfg.mixed_large_factor * cfg.mixed_small_output).mean(),
            cost=pl.col("cost_usd").sum(),
            simple=pl.col("cost_usd").filter(small).sum(),
            models=pl.col("model_id").unique().sort(),
        )
        .filter(
            (pl.col("n") >= 200)
            & pl.col("share").is_between(lo, hi)
            & (pl.col("long") >= 0.1)  # the P90 answer is at least mixed_large_factor times a simple one
        )
        .sort("feature", "tier")
    ]
    cases = [
        (r, below[0])
        for r in stats.iter_rows(named=True)
        if (below := pricing.cheaper(_first(r["models"]), r["tier"]))
    ]
    got = yield [
        q
        for r, target in cases
        for q in pricing.queries(
            rows.filter(_is(r["feature"]) & (pl.col("tier") == r["tier"])), {"model_id": target}
        )
    ]
    out = []
    for (r, target), result in zip(cases, got, strict=True):
        [tried] = _totals(result)  # every request's attempt on the cheaper model
        simple = float(r["simple"])
        break_even = 1 - tried / simple if simple > 0 else 0.0
        if break_even <= 0:
            continue  # even with no escalation the attempts cost what the simple requests save

        def saving(e: float, simple: float = simple, tried: float = tried) -> float:
            return (simple * (1 - e) - tried) * scale

        e_lo, e_mid, e_hi = (DEFAULT_ESCALATION_RATE.ppf(u) for u in _RATIO_QUANTILES)
        if saving(e_mid) < cfg.min_monthly_usd:
            continue
        out.append(
            Finding(
                kind="mixed_complexity",
                severity=_severity(saving(e_mid), cfg),
                feature=r["feature"],
                model=_named(r["models"]),
                title=f"{r['feature']}: {100 * r['share']:.0f}% of its {r['tier']} requests are simple, the rest long; "
                f"a cascade through {target} would keep them there",
                evidence=(
                    f"{r['n']:,} requests in the window: {100 * r['share']:.0f}% answered in <= "
                    f"{cfg.mixed_small_output} tokens, {100 * r['long']:.0f}% in "
                    f">= {int(cfg.mixed_large_factor * cfg.mixed_small_output):,}; {_usd(float(r['cost']) * scale)}/month "
                    f"now; trying every request on {target} costs {_usd(tried * scale)}/month and saves "
                    f"{_usd(simple * scale)}/month of simple requests kept there; break-even at "
                    f"{100 * break_even:.0f}% of the simple ones escalated (range for "
                    f"{100 * e_lo:.0f}-{100 * e_hi:.0f}% escalated, the replay's prior)"
                ),
                monthly_usd=saving(e_mid),
                low_usd=max(saving(e_hi), 0.0),
                high_usd=saving(e_lo),
                confidence="low",
                basis="speculative",
                data={"simple_share": r["share"], "target": target, "break_even_escalation": break_even},
            )
        )
    return out


def latency_over_depth(window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float) -> Passes:
    """User-facing features (`user_facing`) on a tier with a faster one below, slow at P95 while
    their answers are short: the newest model one tier down that tokenizes alike, re-priced."""
    [stats] = yield [
        window.filter(pl.col("priced") & pl.col("tier").is_in([TOP_TIER, MID_TIER]))
        .group_by(_FEATURE, "tier")
        .agg(
            n=pl.len(),
            cost=pl.col("cost_usd").sum(),
            p95=pl.col("latency_ms").quantile(0.95),
            output=pl.col("output_tokens").quantile(0.9),
            models=pl.col("model_id").unique().sort(),
        )
        .filter((pl.col("p95") > cfg.latency_p95_ms) & (pl.col("output") <= cfg.latency_max_output))
        .sort("feature", "tier")
    ]
    facing = [
        (r, below[0])
        for r in stats.iter_rows(named=True)
        if any(fnmatch.fnmatchcase(r["feature"], p) for p in cfg.user_facing)
        and (below := pricing.cheaper(_first(r["models"]), r["tier"]))
    ]
    got = yield [
        q
        for r, target in facing
        for q in pricing.queries(
            window.filter(_is(r["feature"]) & (pl.col("tier") == r["tier"]) & pl.col("priced")),
            {"model_id": target},
        )
    ]
    out = []
    for (r, target), result in zip(facing, got, strict=True):
        [moved] = _totals(result)
        cost = float(r["cost"])
        saving = (cost - moved) * scale
        out.append(
            Finding(
                kind="latency_over_depth",
                severity="warning" if saving >= cfg.min_monthly_usd else "info",
                feature=r["feature"],
                model=_named(r["models"]),
                title=f"{r['feature']}: people wait {r['p95'] / 1000:.1f}s (P95) for short answers on {r['tier']}; "
                f"{target} is faster",
                evidence=(
                    f"{r['n']:,} requests in the window: P95 latency {r['p95'] / 1000:.1f}s above the "
                    f"{cfg.latency_p95_ms / 1000:.1f}s target, P90 output {int(r['output']):,} tokens; "
                    f"{_usd(cost * scale)}/month now, {_usd(moved * scale)}/month on {target}"
                ),
                monthly_usd=max(saving, 0.0),
                low_usd=0.0,
                high_usd=max(saving, 0.0),
                confidence=_confidence(r["n"]),
                basis="modelled",
                data={"p95_ms": r["p95"], "output_p90": r["output"], "target": target},
            )
        )
    return out


def unpinned_aliases(
    cells: pl.DataFrame, cfg: SignalsConfig, catalog: ModelCatalog, scale: float
) -> list[Finding]:
    """Production traffic logged under an alias (`claude-sonnet-4-5`, `...-latest`) rather than the
    dated snapshot it points to: the model behind it can change under the feature."""
    logged = (
        cells.filter(~pl.col("bucket"))
        .group_by("feature", "model", "model_id")
        .agg(n=pl.col("requests").sum(), cost=pl.col("cost_usd").sum())
        .filter(pl.col("n") >= cfg.alias_min_requests)
        .with_columns(_id=strip_routing(pl.col("model")))
        .sort("feature", "model")
    )
    out = []
    for feature, model, model_id, n, cost, plain in logged.iter_rows():
        alias = catalog.alias_of(plain)
        latest = plain.endswith("-latest")
        if alias is None and not latest:
            continue
        pin = alias.snapshot if alias is not None else f"a dated snapshot of {model_id}"
        since = alias.points_since if alias is not None else None
        moved = f" (since {since}: the alias moves when a new snapshot ships)" if since else ""
        out.append(
            Finding(
                kind="unpinned_alias",
                severity="info",
                feature=feature,
                model=model,
                title=f"{feature}: production traffic on the alias {model}; pin {pin}",
                evidence=(
                    f"{n:,} requests in the window ({_usd(float(cost or 0.0) * scale)}/month) name {model}, "
                    f"which points to {pin}{moved}: the model behind an alias can change under the feature, and with "
                    "it the answers and the bill"
                ),
                monthly_usd=None,
                low_usd=None,
                high_usd=None,
                confidence=_confidence(n),
                basis="exact",
                data={
                    "alias": model,
                    "snapshot": alias.snapshot if alias is not None else None,
                    "alias_since": str(since) if since else None,
                    "requests": n,
                },
            )
        )
    return out
