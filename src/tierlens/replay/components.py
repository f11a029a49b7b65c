"""Step 2: each policy's groups folded into components (kept and cold prompt, output, web search)
and the pricing probes that price them, in one call for every group of every policy."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tierlens.pricing import PriceTable, price_requests
from tierlens.replay.assumptions import ONE
from tierlens.replay.columns import TOKENS
from tierlens.replay.plan import Plan


def baseline_cost(g: pl.DataFrame, table: PriceTable) -> tuple[float, dict[str, int]]:
    """Total baseline cost (exact, re-priced) and unpriced requests by model."""
    if g.height == 0:
        return 0.0, {}
    probe = mean_probe(g.lazy(), 1.0).collect()
    priced = price_requests(probe, table).with_columns(_cost=pl.col("cost_usd") * pl.col("_rows"))
    total = float(priced.filter(pl.col("priced"))["_cost"].sort().sum())
    unp = priced.filter(~pl.col("priced")).group_by("model").agg(pl.col("n").sum()).sort("model")
    return total, {str(m): int(k) for m, k in unp.iter_rows()}


def mean_probe(g: pl.LazyFrame, scale: float | pl.Expr) -> pl.LazyFrame:
    s = scale if isinstance(scale, pl.Expr) else pl.lit(scale)
    return g.with_columns(
        ts=pl.col("date").cast(pl.Datetime("us", "UTC")),
        **{c: pl.col(c).cast(pl.Float64) / pl.col("_rows") * s for c in TOKENS},
        web_search_requests=pl.col("web_search_requests").cast(pl.Float64) / pl.col("_rows"),
    )


@dataclass
class Components:
    plan: Plan
    legs: pl.DataFrame  # one row per (group, leg) incl. untouched groups (leg -1)
    probes: pl.DataFrame  # pricing probes: _cid, _side, _variant + canonical pricing columns


def components_of(g: pl.DataFrame, plan: Plan) -> Components:
    """Group x leg rows with their parameters and long-context sides, and the probes to price."""
    x = _with_targets(g, plan)
    x = _with_noop(_with_params(x, plan))
    x = _with_cache_writes(_with_sides(x, plan), plan)
    probes = _probes(x.filter(~pl.col("_noop") & pl.col("priced").fill_null(False)))
    return Components(plan=plan, legs=x, probes=probes)


def _legs_frame(plan: Plan) -> pl.DataFrame:
    """The plan's legs as a frame to join on each group's rule."""
    return pl.DataFrame(
        {
            "_rule": [lg.rule for lg in plan.legs],
            "_slot": [lg.slot for lg in plan.legs],
            "_leg": [lg.kind for lg in plan.legs],
            "_target": [lg.target for lg in plan.legs],
            "_tier_to": [lg.service_tier for lg in plan.legs],
            "_share": [lg.share.id for lg in plan.legs],
            "_cache": [plan.cache_param(lg).id for lg in plan.legs],
        },
        schema={
            "_rule": pl.Int16,
            "_slot": pl.Int8,
            "_leg": pl.String,
            "_target": pl.String,
            "_tier_to": pl.String,
            "_share": pl.String,
            "_cache": pl.String,
        },
    )


def _with_targets(g: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """One row per group and leg (a group no rule touches keeps one, leg `none`): the leg's rank
    and cache eligibility, the model and service tier it goes to, and a component id."""
    x = g.join(_legs_frame(plan), on="_rule", how="left").with_columns(
        _leg=pl.col("_leg").fill_null("none"),
        _slot=pl.col("_slot").fill_null(0),
        _rk=pl.when(pl.col("_slot") == 1).then(pl.col("_rk1")).otherwise(pl.col("_rk0")),
        _el=pl.when(pl.col("_slot") == 1).then(pl.col("_el1")).otherwise(pl.col("_el0")),
    )
    return x.with_columns(
        _to_model=pl.coalesce(pl.col("_target"), pl.col("model_id")),
        _to_tier=pl.coalesce(pl.col("_tier_to"), pl.col("service_tier")),
    ).with_row_index("_cid")


def _with_params(x: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """Each component's tokenizer and output-ratio parameters (few distinct combinations: resolved
    in Python over unique keys); a calibrated output ratio already holds the tokenizer change of
    the output, so it is not applied twice."""
    combos = x.select("feature", "model_id", "_tok", "_to_model", "_leg").unique()
    rows = []
    for feature, src, tok, dst, leg in combos.iter_rows():
        if leg == "none" or dst == src or dst not in plan.info:
            t, o = ONE, ONE
        else:
            t = plan.tokenizer_param(tok, dst)
            o = plan.output_param(feature, src, dst)
        cal_cross = o.source.startswith("calibrated") and t.id != ONE.id
        rows.append((feature, src, tok, dst, leg, t.id, o.id, ONE.id if cal_cross else t.id))
    params = pl.DataFrame(
        rows,
        schema={
            "feature": pl.String,
            "model_id": pl.String,
            "_tok": pl.String,
            "_to_model": pl.String,
            "_leg": pl.String,
            "_t": pl.String,
            "_o": pl.String,
            "_tout": pl.String,
        },
        orient="row",
    )
    return x.join(
        params, on=["feature", "model_id", "_tok", "_to_model", "_leg"], how="left", nulls_equal=True
    )


def _with_noop(x: pl.DataFrame) -> pl.DataFrame:
    """Whether a leg changes anything (model, service tier, share or cache) and which cache
    parameter it draws: cache reads are at risk only where a cache-eligible prefix moves to
    another model, or on a cascade's strong leg."""
    return x.with_columns(
        _changed=(pl.col("_to_model") != pl.col("model_id"))
        | (pl.col("_to_tier").fill_null("") != pl.col("service_tier").fill_null("")),
        _share=pl.col("_share").fill_null(ONE.id),
        _cache=pl.when(
            pl.col("_el") & (pl.col("_to_model") != pl.col("model_id")) | pl.col("_leg").is_in(["strong"])
        )
        .then(pl.col("_cache").fill_null(ONE.id))
        .otherwise(pl.lit(ONE.id)),
    ).with_columns(
        _noop=(pl.col("_leg") == "none")
        | (~pl.col("_changed") & (pl.col("_share") == ONE.id) & (pl.col("_cache") == ONE.id))
    )


def _with_sides(x: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """Long-context sides: the scales at which each group is wholly below (`_slo`) / above (`_shi`)
    the target's threshold, from its rank among the tokenizer draws (the median without a grid)."""
    grids = {pid: plan.grid(p) for pid, p in plan.params.items() if p.kind == "tokenizer_ratio"}
    medians = {pid: p.dist.ppf(0.5) for pid, p in plan.params.items()}
    grid_rows = [(pid, i, v, len(gr)) for pid, gr in grids.items() for i, v in enumerate(gr)]
    grid = pl.DataFrame(
        grid_rows, schema={"_t": pl.String, "_i": pl.Int32, "_v": pl.Float64, "_g": pl.Int32}, orient="row"
    )
    med = pl.DataFrame(list(medians.items()), schema={"_t": pl.String, "_med": pl.Float64}, orient="row")
    return (
        x.join(med, on="_t", how="left")
        .join(grid.select("_t", "_g").unique(), on="_t", how="left")
        .with_columns(_g=pl.col("_g").fill_null(0))
        .with_columns(
            _ilo=pl.when(pl.col("_rk") < 0)
            .then(None)
            .otherwise((pl.col("_rk") - 1).clip(0, pl.col("_g") - 1)),
            _ihi=pl.when(pl.col("_rk") < 0).then(None).otherwise(pl.col("_rk").clip(0, pl.col("_g") - 1)),
        )
        .join(grid.select("_t", _ilo="_i", _slo="_v"), on=["_t", "_ilo"], how="left")
        .join(grid.select("_t", _ihi="_i", _shi="_v"), on=["_t", "_ihi"], how="left")
        .with_columns(
            _slo=pl.coalesce(pl.col("_slo"), pl.col("_med")),
            _shi=pl.coalesce(pl.col("_shi"), pl.col("_med")),
            _rk=pl.col("_rk").clip(lower_bound=0),
        )
    )


def _with_cache_writes(x: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """What the probes need of the target: whether it has cache-write rates, the TTL the feature x
    model mostly wrote with (where cold writes go), and its provider."""
    ttl = x.group_by("feature", "model_id").agg(
        _ttl1h=pl.col("cache_write_1h_tokens").sum() > pl.col("cache_write_5m_tokens").sum()
    )
    x = x.join(ttl, on=["feature", "model_id"], how="left", nulls_equal=True)
    writes = {m: bool(i["writes"]) for m, i in plan.info.items()}
    providers = {m: str(i["provider"]) for m, i in plan.info.items()}
    return x.with_columns(
        _writes=pl.col("_to_model").replace_strict(writes, default=True, return_dtype=pl.Boolean),
        _to_provider=pl.when(pl.col("_to_model") == pl.col("model_id"))
        .then(pl.col("provider"))
        .otherwise(pl.col("_to_model").replace_strict(providers, default=None, return_dtype=pl.String)),
    )


def _probes(x: pl.DataFrame) -> pl.DataFrame:
    """Mean-request probes per component, side (lo/hi) and cache variant (kept/cold).

    kept: cache reads stay reads; cold: every read becomes a write (at the TTL the feature used).
    An ineligible prefix (shorter than the target's minimum) is uncached input in both; a target
    without cache-write rates (OpenAI caches automatically) bills writes as input.
    """
    if x.height == 0:
        return pl.DataFrame()
    inp, rd = pl.col("input_tokens"), pl.col("cache_read_tokens")
    w5, w1 = pl.col("cache_write_5m_tokens"), pl.col("cache_write_1h_tokens")
    inelig = (pl.col("_to_model") != pl.col("model_id")) & ~pl.col("_el")
    nowrite = ~pl.col("_writes")
    h1 = pl.col("_ttl1h").fill_null(False)
    zero = pl.lit(0)
    variants = {
        "kept": {
            "input_tokens": pl.when(inelig)
            .then(inp + rd + w5 + w1)
            .when(nowrite)
            .then(inp + w5 + w1)
            .otherwise(inp),
            "cache_read_tokens": pl.when(inelig).then(zero).otherwise(rd),
            "cache_write_5m_tokens": pl.when(inelig | nowrite).then(zero).otherwise(w5),
            "cache_write_1h_tokens": pl.when(inelig | nowrite).then(zero).otherwise(w1),
        },
        "cold": {
            "input_tokens": pl.when(inelig | nowrite).then(inp + rd + w5 + w1).otherwise(inp),
            "cache_read_tokens": zero,
            "cache_write_5m_tokens": pl.when(inelig | nowrite)
            .then(zero)
            .when(h1)
            .then(w5)
            .otherwise(w5 + rd),
            "cache_write_1h_tokens": pl.when(inelig | nowrite)
            .then(zero)
            .when(h1)
            .then(w1 + rd)
            .otherwise(w1),
        },
    }
    frames = []
    for side, scale in (("lo", "_slo"), ("hi", "_shi")):
        for variant, tokens in variants.items():
            frames.append(
                x.lazy()
                .with_columns(**tokens)
                .pipe(mean_probe, pl.col(scale))
                .select(
                    "_cid",
                    pl.lit(side).alias("_side"),
                    pl.lit(variant).alias("_variant"),
                    pl.col(scale).alias("_scale"),
                    "ts",
                    pl.col("_to_provider").alias("provider"),
                    pl.col("_to_model").alias("model"),
                    pl.col("_to_model").alias("model_id"),
                    "endpoint_scope",
                    pl.col("_to_tier").alias("service_tier"),
                    "inference_geo",
                    *TOKENS,
                    "web_search_requests",
                )
            )
    return pl.concat(pl.collect_all(frames))


def price_probes(comps: list[Components], table: PriceTable) -> list[pl.DataFrame]:
    """Price every probe of every policy in one call to the pricing engine; split back per policy."""
    tagged = [c.probes.with_columns(_p=pl.lit(i)) for i, c in enumerate(comps) if c.probes.height]
    if not tagged:
        return [pl.DataFrame() for _ in comps]
    priced = price_requests(pl.concat(tagged), table).select(
        "_p",
        "_cid",
        "_side",
        "_variant",
        "priced",
        _a=pl.sum_horizontal("cost_input_usd", "cost_cache_write_usd", "cost_cache_read_usd")
        / pl.col("_scale"),
        _o=pl.col("cost_output_usd") / pl.col("_scale"),
        _w=pl.col("cost_web_search_usd"),
    )
    out = []
    for i in range(len(comps)):
        p = priced.filter(pl.col("_p") == i)
        if p.height == 0:
            out.append(pl.DataFrame())
            continue
        wide = p.with_columns(_k=pl.col("_variant") + "_" + pl.col("_side")).pivot(
            on="_k", index="_cid", values=["_a", "_o", "_w", "priced"], aggregate_function="first"
        )
        out.append(wide)
    return out
