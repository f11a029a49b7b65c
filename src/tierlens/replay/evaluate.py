"""Step 3: the draws evaluated on each policy's priced components, and the result frames: ranges,
labels, the assumptions that move them most, break-even points and the quality risk."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, NamedTuple

import polars as pl

from tierlens.pricing import price_requests
from tierlens.replay.assumptions import ONE
from tierlens.replay.calibrate import Calibration
from tierlens.replay.columns import DAYS_PER_MONTH, LABELS, least_certain
from tierlens.replay.components import Components, mean_probe
from tierlens.replay.numeric import fsum
from tierlens.replay.plan import Plan
from tierlens.replay.quality import QualityRisk, Signals, assess
from tierlens.replay.results import PolicyResult
from tierlens.summary import UNKNOWN_TIER, named

COEFFICIENTS = {
    "A_kept_lo": ("_a", "kept_lo"),
    "A_kept_hi": ("_a", "kept_hi"),
    "A_cold_lo": ("_a", "cold_lo"),
    "A_cold_hi": ("_a", "cold_hi"),
    "O_lo": ("_o", "kept_lo"),
    "O_hi": ("_o", "kept_hi"),
    "W": ("_w", "kept_lo"),
}
"""A component's priced coefficients: name -> (priced probe column, variant_side)."""
PARAM_ROLES = ("_t", "_o", "_tout", "_cache", "_share")
"""The columns of a component that name the parameter it draws (tokenizer, output, ...)."""
COMPONENT_KEYS = [
    "feature",
    "tier",
    "_t",
    "_o",
    "_tout",
    "_cache",
    "_share",
    "_rk",
    "_fixed",
    "_leg",
    "model_id",
    "_to_model",
    "_label",
]
"""What a component is: every leg with the same keys costs the same per draw, so they sum."""
TOUCHED = pl.col("_rule") >= 0
"""A leg some rule of the policy matched (`_rule` is the rule's index, -1 where none did): only
these legs change cost, carry a label or a quality risk."""
TOP_SCHEMA = {
    "feature": pl.String,
    "tier": pl.String,
    "top_assumption": pl.String,
    "top_swing_usd": pl.Float64,
}
ROW_COLUMNS = (
    "feature",
    "tier",
    pl.col("requests").cast(pl.Int64),
    pl.col("touched_requests").cast(pl.Int64),
    "touched_share",
    "baseline_usd",
    "touched_baseline_usd",
    "touched_spend_share",
    "cf_p10",
    "cf_p50",
    "cf_p90",
    "savings_p10",
    "savings_p50",
    "savings_p90",
    "savings_pct",
    "monthly_p10",
    "monthly_p50",
    "monthly_p90",
    "label",
    pl.col("quality_grade").fill_null("none"),
    pl.col("quality_evidence").fill_null("no model change"),
    pl.col("quality_detail").fill_null(""),
    "break_even_escalation",
    "top_assumption",
    "top_swing_usd",
    pl.col("unpriced_cf_requests").cast(pl.Int64),
)
"""The columns of a policy's feature x tier rows, in the order a result shows them."""


class DrawValues(NamedTuple):
    """The values every used parameter takes: per Monte Carlo draw, and per scenario (all medians,
    then each varied parameter at its P10 and at its P90)."""

    draws: pl.DataFrame
    scenarios: pl.DataFrame
    varied: list[str]


def _values(plan: Plan, ids: Sequence[str]) -> DrawValues:
    """Draw values and scenario values (all medians; each varied param at its P10 and P90)."""
    params = [plan.params[i] for i in ids]
    varied = sorted([p.id for p in params if not p.dist.is_point])
    draw_rows = []
    scen_rows = []
    for p in params:
        vals = plan.values(p)
        grid = plan.grid(p) if p.kind == "tokenizer_ratio" else None
        p10, p50, p90 = p.quantiles()

        def pos(v: float, grid: list[float] | None = grid) -> int:
            return bisect.bisect_left(grid, v) if grid else 0

        draw_rows += [(p.id, d, v, pos(v)) for d, v in enumerate(vals)]
        for s in range(1 + 2 * len(varied)):
            v = p50
            if s > 0 and varied[(s - 1) // 2] == p.id:
                v = p10 if s % 2 == 1 else p90
            scen_rows.append((p.id, s, v, pos(v)))
    schema = {"_param": pl.String, "draw": pl.Int32, "_val": pl.Float64, "_pos": pl.Int32}
    return DrawValues(
        pl.DataFrame(draw_rows, schema=schema, orient="row"),
        pl.DataFrame(scen_rows, schema=schema, orient="row"),
        varied,
    )


def _evaluate(comps: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """cf and delta (baseline - cf) of every component for every draw (or scenario)."""
    ids = values.select("draw").unique()
    x = comps.join(ids, how="cross")
    for role in PARAM_ROLES:
        x = x.join(
            values.rename({"_param": role, "_val": f"{role}_v", "_pos": f"{role}_pos"}),
            on=[role, "draw"],
            how="left",
        )
    hi = pl.col("_t_pos") >= pl.col("_rk")

    def side(name: str) -> pl.Expr:
        return pl.when(hi).then(pl.col(f"{name}_hi")).otherwise(pl.col(f"{name}_lo"))

    t, o, tout, w, share = (pl.col(f"{r}_v") for r in PARAM_ROLES)
    unit = t * (w * side("A_kept") + (1 - w) * side("A_cold")) + tout * o * side("O") + pl.col("W")
    cf = pl.when(pl.col("_fixed")).then(pl.col("base")).otherwise(share * unit)
    return x.with_columns(
        cf=cf,
        cf_full=pl.when(pl.col("_fixed")).then(pl.col("base")).otherwise(unit),
    ).with_columns(delta=pl.col("base") - pl.col("cf"))


def evaluate_policy(
    plan: Plan, comp: Components, priced: pl.DataFrame, stats: pl.DataFrame, days: int
) -> PolicyResult:
    """One policy's result from its components, their priced probes and the window's stats."""
    x = _labelled(_with_coefficients(_with_baseline(comp.legs, plan), priced))
    comps = _components(x)
    used = _used_params(comps)
    values = _values(plan, used)
    sums = _row_sums(x)
    per_draw = _savings_per_draw(comps, values.draws, sums, plan.n)
    scen = _evaluate(comps, values.scenarios) if comps.height else None
    cascades = _break_even(scen, x) if scen is not None else []
    scale = DAYS_PER_MONTH / days if days else 0.0
    parts = [
        _savings_quantiles(per_draw),
        _top_assumptions(scen, values.varied, plan),
        _label_ranks(x),
        _quality(x, stats, plan),
        _break_even_frame(cascades),
    ]
    rows = _rows(sums, parts, scale)
    params = _param_rows(plan, used)
    return PolicyResult(
        policy=plan.policy,
        totals=_totals(rows, per_draw, scen, values.varied, plan, cascades, scale),
        rows=rows,
        params=params,
        calibrations=_used_calibrations(plan, params),
        cascades=cascades,
        draws=per_draw.sort("feature", "tier", "draw"),
        routes=_routes(x),
    )


def _with_baseline(legs: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """Each leg with its group's baseline cost (leg slot 0 carries it; a cascade's strong leg adds
    cost only), keeping the groups the price table prices."""
    base_probe = price_requests(mean_probe(legs.lazy(), 1.0).collect(), plan.table).select(
        "_cid", _base_priced="priced", _base=pl.col("cost_usd") * pl.col("_rows")
    )
    x = legs.join(base_probe, on="_cid", how="left")
    return x.with_columns(
        named("feature"),
        named("tier"),
        base=pl.when(pl.col("_slot") == 0).then(pl.col("_base")).otherwise(0.0),
    ).filter(pl.col("_base_priced").fill_null(False))


def _with_coefficients(x: pl.DataFrame, priced: pl.DataFrame) -> pl.DataFrame:
    """Each leg with its priced coefficients (group totals); a counterfactual the price table
    cannot price keeps its baseline (no savings claimed)."""
    if priced.height:
        pv = priced.select(
            "_cid",
            *[pl.col(f"{src}_{k}").alias(name) for name, (src, k) in COEFFICIENTS.items()],
            _cf_priced=pl.all_horizontal(
                [pl.col(f"priced_{v}_{s}") for v in ("kept", "cold") for s in ("lo", "hi")]
            ),
        )
        x = x.join(pv, on="_cid", how="left")
    else:
        x = x.with_columns(
            *[pl.lit(None, pl.Float64).alias(n) for n in COEFFICIENTS], _cf_priced=pl.lit(None, pl.Boolean)
        )
    return x.with_columns(
        _unpriced_cf=~pl.col("_noop") & ~pl.col("_cf_priced").fill_null(False),
    ).with_columns(
        _fixed=pl.col("_noop") | pl.col("_unpriced_cf"),
        **{n: (pl.col(n) * pl.col("_rows")).fill_null(0.0) for n in COEFFICIENTS},
        _t=pl.col("_t").fill_null(ONE.id),
        _o=pl.col("_o").fill_null(ONE.id),
        _tout=pl.col("_tout").fill_null(ONE.id),
    )


def _labelled(x: pl.DataFrame) -> pl.DataFrame:
    """Each leg's label (exact, modelled, speculative) and whether a rule touched its group."""
    return x.with_columns(
        _label=pl.when(
            pl.col("_fixed") | (pl.col("_to_model") == pl.col("model_id")) & (pl.col("_leg") != "strong")
        )
        .then(pl.lit("exact"))
        .when(
            pl.col("_leg").is_in(["cheap", "strong"])
            | (pl.col("_t") != ONE.id)
            | (pl.col("_to_provider") != pl.col("provider"))
        )
        .then(pl.lit("speculative"))
        .otherwise(pl.lit("modelled")),
        _touched=TOUCHED & (pl.col("_slot") == 0),
    )


def _components(x: pl.DataFrame) -> pl.DataFrame:
    """The touched legs summed per component: what each draw is evaluated on."""
    return (
        x.filter(TOUCHED)
        .group_by(COMPONENT_KEYS)
        .agg(fsum(pl.col("base")), *[fsum(pl.col(n)) for n in COEFFICIENTS])
        .sort(COMPONENT_KEYS, nulls_last=True)
    )


def _used_params(comps: pl.DataFrame) -> list[str]:
    """The ids of the parameters the components draw (and the constant 1), sorted."""
    used: set[str] = {ONE.id}
    for role in PARAM_ROLES:
        used |= set(comps[role].to_list())
    return sorted(used)


def _row_sums(x: pl.DataFrame) -> pl.DataFrame:
    """Per feature x tier: requests, touched requests, baseline and the counterfactuals not priced."""
    return x.group_by("feature", "tier").agg(
        requests=pl.col("n").filter(pl.col("_slot") == 0).sum(),
        touched_requests=pl.col("n").filter(pl.col("_touched")).sum(),
        baseline_usd=fsum(pl.col("base")),
        touched_baseline_usd=fsum(pl.col("base").filter(TOUCHED)),
        unpriced_cf_requests=pl.col("n").filter(pl.col("_unpriced_cf") & (pl.col("_slot") == 0)).sum(),
    )


def _savings_per_draw(comps: pl.DataFrame, draws: pl.DataFrame, sums: pl.DataFrame, n: int) -> pl.DataFrame:
    """Savings per feature x tier and draw; every feature x tier gets every draw (untouched rows
    save exactly 0)."""
    per_draw = (
        _evaluate(comps, draws)
        .group_by("feature", "tier", "draw")
        .agg(fsum(pl.col("delta")).alias("savings"))
        if comps.height
        else pl.DataFrame(
            schema={"feature": pl.String, "tier": pl.String, "draw": pl.Int32, "savings": pl.Float64}
        )
    )
    grid = sums.select("feature", "tier").join(
        pl.DataFrame({"draw": list(range(n))}, schema={"draw": pl.Int32}), how="cross"
    )
    return grid.join(per_draw, on=["feature", "tier", "draw"], how="left").with_columns(
        pl.col("savings").fill_null(0.0)
    )


def _savings_quantiles(per_draw: pl.DataFrame) -> pl.DataFrame:
    """P10, P50 and P90 of the savings per feature x tier."""
    return per_draw.group_by("feature", "tier").agg(
        savings_p10=pl.col("savings").quantile(0.1, "linear"),
        savings_p50=pl.col("savings").quantile(0.5, "linear"),
        savings_p90=pl.col("savings").quantile(0.9, "linear"),
    )


def _label_ranks(x: pl.DataFrame) -> pl.DataFrame:
    """Per feature x tier, the rank (in `LABELS`) of the least certain label among its touched legs."""
    return (
        x.filter(TOUCHED)
        .group_by("feature", "tier")
        .agg(
            _lab=pl.col("_label")
            .replace_strict({k: i for i, k in enumerate(LABELS)}, return_dtype=pl.Int8)
            .max()
        )
    )


def _break_even_frame(cascades: list[dict[str, Any]]) -> pl.DataFrame:
    """The cascades' break-even escalation rates as a frame to join on feature x tier."""
    return pl.DataFrame(
        [(c["feature"], c["tier"], c["break_even_escalation"]) for c in cascades],
        schema={"feature": pl.String, "tier": pl.String, "break_even_escalation": pl.Float64},
        orient="row",
    )


def _rows(sums: pl.DataFrame, parts: list[pl.DataFrame], scale: float) -> pl.DataFrame:
    """The feature x tier rows: the sums joined with each per-row part (savings quantiles, top
    assumption, label rank, quality, break-even), the derived figures, largest saving first."""
    rows = sums
    for part in parts:
        rows = rows.join(part, on=["feature", "tier"], how="left")
    return (
        rows.with_columns(
            label=pl.col("_lab").fill_null(0).replace_strict(dict(enumerate(LABELS)), return_dtype=pl.String),
            cf_p10=pl.col("baseline_usd") - pl.col("savings_p90"),
            cf_p50=pl.col("baseline_usd") - pl.col("savings_p50"),
            cf_p90=pl.col("baseline_usd") - pl.col("savings_p10"),
            savings_pct=pl.when(pl.col("baseline_usd") > 0).then(
                100 * pl.col("savings_p50") / pl.col("baseline_usd")
            ),
            monthly_p10=pl.col("savings_p10") * scale,
            monthly_p50=pl.col("savings_p50") * scale,
            monthly_p90=pl.col("savings_p90") * scale,
            touched_share=pl.when(pl.col("requests") > 0)
            .then(pl.col("touched_requests") / pl.col("requests"))
            .otherwise(0.0),
            touched_spend_share=pl.when(pl.col("baseline_usd") > 0)
            .then(pl.col("touched_baseline_usd") / pl.col("baseline_usd"))
            .otherwise(0.0),
        )
        .select(*ROW_COLUMNS)
        .sort(["savings_p50", "baseline_usd", "feature", "tier"], descending=[True, True, False, False])
    )


def _param_rows(plan: Plan, used: Sequence[str]) -> list[dict[str, Any]]:
    """The assumptions the policy used (constants left out), as a result lists them."""
    return [
        {
            "id": p.id,
            "label": p.label,
            "kind": p.kind,
            "distribution": p.dist.describe(),
            "dist": p.dist.to_dict(),
            "source": p.source,
            "p10": p.quantiles()[0],
            "p50": p.quantiles()[1],
            "p90": p.quantiles()[2],
        }
        for pid, p in sorted(plan.params.items())
        if pid in used and p.kind != "constant"
    ]


def _used_calibrations(plan: Plan, params: list[dict[str, Any]]) -> list[Calibration]:
    """The calibrations behind the calibrated output ratios the policy used."""
    cal_ids = {p["id"] for p in params if str(p["source"]).startswith("calibrated")}
    return [
        c
        for key, c in sorted(plan.calibrations.items())
        if f"output_ratio:{key[0]}:{key[1]}->{key[2]}" in cal_ids
    ]


def _routes(x: pl.DataFrame) -> pl.DataFrame:
    """Where the requests go: per feature, model, target model and leg."""
    return (
        x.group_by("feature", "model_id", pl.col("_to_model").alias("to_model"), pl.col("_leg").alias("leg"))
        .agg(requests=pl.col("n").sum().cast(pl.Int64))
        .sort("feature", "model_id", "to_model", "leg")
    )


def _largest_swing(scen: pl.DataFrame, varied: list[str]) -> tuple[str | None, float]:
    """The varied parameter whose P10 -> P90 scenarios move the summed delta most, and by how much
    (None, 0.0 when none moves it)."""
    by = dict(zip(scen["draw"].to_list(), scen["delta"].to_list(), strict=True))
    best, swing = None, 0.0
    for k, pid in enumerate(varied):
        sw = abs(by.get(2 * k + 2, 0.0) - by.get(2 * k + 1, 0.0))
        if sw > swing + 1e-12:
            best, swing = pid, sw
    return best, swing


def _top_assumptions(scen: pl.DataFrame | None, varied: list[str], plan: Plan) -> pl.DataFrame:
    """Per feature x tier, the assumption that moves its savings most (no rows without scenarios)."""
    if scen is None:
        return pl.DataFrame(schema=TOP_SCHEMA)
    s = scen.group_by("feature", "tier", "draw").agg(fsum(pl.col("delta")))
    rows = []
    for (feature, tier), part in s.group_by("feature", "tier"):
        best, swing = _largest_swing(part, varied)
        rows.append((feature, tier, plan.params[best].label if best else None, swing if best else None))
    return pl.DataFrame(rows, schema=TOP_SCHEMA, orient="row")


def _break_even(scen: pl.DataFrame, x: pl.DataFrame) -> list[dict[str, Any]]:
    """Per feature x tier with a cascade: the escalation rate at which it stops saving (at medians)."""
    med = scen.filter((pl.col("draw") == 0) & pl.col("_leg").is_in(["cheap", "strong"]))
    if med.height == 0:
        return []
    agg = (
        med.group_by("feature", "tier")
        .agg(
            base=fsum(pl.col("base").filter(pl.col("_leg") == "cheap")),
            cheap=fsum(pl.col("cf").filter(pl.col("_leg") == "cheap")),
            strong=fsum(pl.col("cf_full").filter(pl.col("_leg") == "strong")),
        )
        .sort("feature", "tier")
    )
    out = []
    for feature, tier, base, cheap, strong in agg.iter_rows():
        rate = _break_even_rate(base, cheap, strong)
        out.append(
            {
                "feature": feature,
                "tier": tier,
                "baseline_usd": base,
                "cheap_leg_usd": cheap,
                "strong_leg_full_usd": strong,
                "break_even_escalation": rate,
            }
        )
    return out


def _break_even_rate(baseline: float, cheap: float, strong_full: float) -> float | None:
    """The escalation rate at which a cascade stops saving: what its cheap leg saves on the
    baseline, over what the strong leg would cost if every request escalated (None when the
    strong leg costs nothing, so no rate breaks even). One cascade and a policy's sum of them
    break even by the same rule."""
    return (baseline - cheap) / strong_full if strong_full > 0 else None


def _quality(x: pl.DataFrame, stats: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """Per feature x tier, the worst quality risk of the model changes its touched legs make."""
    touched = (
        x.filter(TOUCHED & pl.col("_leg").is_in(["route", "cheap", "tier"]))
        .group_by("feature", "tier", "model_id", "_to_model", "_leg")
        .agg(pl.col("n").sum(), pl.col("_mt").sum(), pl.col("_st").sum(), pl.col("output_tokens").sum())
        .sort("feature", "tier", "model_id", "_to_model")
    )
    observed = {
        (str(f), str(m)): Signals(int(n), float(mt), float(st), float(mean))
        for f, m, n, mean, mt, st in stats.select(
            "feature", "model_id", "n", "mean", "max_tokens_share", "structured_share"
        ).iter_rows()
    }
    best: dict[tuple[str, str], QualityRisk] = {}
    for feature, tier, src, dst, leg, n, mt, st, out in touched.iter_rows():
        if n == 0:
            continue
        sig = Signals(int(n), mt / n, st / n, out / n)
        risk = assess(
            src,
            plan.info.get(src, {}).get("tier") or (tier if tier != UNKNOWN_TIER else None),
            dst,
            plan.info.get(dst, {}).get("tier"),
            leg == "cheap",
            sig,
            observed.get((feature, src)),
            observed.get((feature, dst)),
            plan.bench.pair(feature, src, dst) if plan.bench else None,
            plan.bench.tolerance if plan.bench else 0.03,
            plan.agreements.get((str(feature), str(src), str(dst))),
        )
        key = (feature, tier)
        if key not in best or risk.rank > best[key].rank:
            best[key] = risk
    return pl.DataFrame(
        [(f, t, r.grade, r.evidence, r.detail) for (f, t), r in best.items()] or None,
        schema={
            "feature": pl.String,
            "tier": pl.String,
            "quality_grade": pl.String,
            "quality_evidence": pl.String,
            "quality_detail": pl.String,
        },
        orient="row",
    )


def _totals(
    rows: pl.DataFrame,
    per_draw: pl.DataFrame,
    scen: pl.DataFrame | None,
    varied: list[str],
    plan: Plan,
    cascades: list[dict[str, Any]],
    scale: float,
) -> dict[str, Any]:
    """The policy's totals over every feature x tier: the same figures as a row, from the summed draws."""
    d = per_draw.group_by("draw").agg(fsum(pl.col("savings"))).sort("draw")["savings"]
    baseline = float(rows["baseline_usd"].sort().sum())
    p10, p50, p90 = (
        (float(d.quantile(q, "linear") or 0.0) for q in (0.1, 0.5, 0.9)) if d.len() else (0.0, 0.0, 0.0)
    )
    requests = int(rows["requests"].sum())
    touched = int(rows["touched_requests"].sum())
    touched_base = float(rows["touched_baseline_usd"].sort().sum())
    labels = [
        lab for lab, n in zip(rows["label"].to_list(), rows["touched_requests"].to_list(), strict=True) if n
    ]
    top, swing = None, None
    if scen is not None and varied:
        best, sw_best = _largest_swing(scen.group_by("draw").agg(fsum(pl.col("delta"))), varied)
        if best:
            top, swing = plan.params[best].label, sw_best
    be = None
    if cascades:
        b = sum(c["baseline_usd"] for c in cascades)
        ch = sum(c["cheap_leg_usd"] for c in cascades)
        st = sum(c["strong_leg_full_usd"] for c in cascades)
        be = _break_even_rate(b, ch, st)
    return {
        "requests": requests,
        "touched_requests": touched,
        "touched_share": touched / requests if requests else 0.0,
        "baseline_usd": baseline,
        "touched_baseline_usd": touched_base,
        "touched_spend_share": touched_base / baseline if baseline else 0.0,
        "cf_p10": baseline - p90,
        "cf_p50": baseline - p50,
        "cf_p90": baseline - p10,
        "savings_p10": p10,
        "savings_p50": p50,
        "savings_p90": p90,
        "savings_pct": 100 * p50 / baseline if baseline else None,
        "monthly_p10": p10 * scale,
        "monthly_p50": p50 * scale,
        "monthly_p90": p90 * scale,
        "label": least_certain(labels),
        "top_assumption": top,
        "top_swing_usd": swing,
        "break_even_escalation": be,
        "unpriced_cf_requests": int(rows["unpriced_cf_requests"].sum()),
    }
