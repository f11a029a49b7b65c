"""Step 1: one vectorized pass over the requests, for every policy at once, grouped on the keys
that make cost linear in tokens (the engine's docstring says which)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from tierlens.replay.assumptions import ONE
from tierlens.replay.columns import CELL, PREFIX, PROMPT, TOKENS, UNKNOWN_TOKENIZER
from tierlens.replay.plan import Leg, Plan


def _threshold_expr(info: dict[str, Any]) -> pl.Expr | None:
    windows = info["thresholds"]
    if not windows:
        return None
    expr: Any = None
    for start, end, thr in windows:
        cond = pl.lit(True)
        if start is not None:
            cond = cond & (pl.col("date") >= start)
        if end is not None:
            cond = cond & (pl.col("date") < end)
        expr = pl.when(cond).then(pl.lit(thr)) if expr is None else expr.when(cond).then(pl.lit(thr))
    out: pl.Expr = expr.otherwise(pl.lit(None, pl.Int64)).cast(pl.Float64)
    return out


def _row_keys(plan: Plan, suffix: str = "") -> list[tuple[str, pl.Expr, bool]]:
    """(name, expression, is_constant) of the policy's row keys: the matching rule, then per leg
    slot the long-context rank and the cache eligibility (constant when no leg needs them)."""
    rule: Any = None
    for r in plan.policy.rules:
        cond = r.when.expr.fill_null(False)
        rule = pl.when(cond).then(pl.lit(r.index)) if rule is None else rule.when(cond).then(pl.lit(r.index))
    rule_col = f"_rule{suffix}"
    keys = [
        (
            rule_col,
            (rule.otherwise(pl.lit(-1)) if rule is not None else pl.lit(-1)).cast(pl.Int16),
            rule is None,
        )
    ]
    for slot in (0, 1):
        rank: Any = None
        elig: Any = None
        for leg in plan.legs:
            if leg.slot != slot or leg.target is None:
                continue
            this_rule = pl.col(rule_col) == leg.rule
            r_expr, e_expr = _leg_row_exprs(plan, leg)
            if r_expr is not None:
                rank = pl.when(this_rule).then(r_expr) if rank is None else rank.when(this_rule).then(r_expr)
            if e_expr is not None:
                elig = pl.when(this_rule).then(e_expr) if elig is None else elig.when(this_rule).then(e_expr)
        keys.append(
            (
                f"_rk{slot}{suffix}",
                (rank.otherwise(pl.lit(-1)) if rank is not None else pl.lit(-1)).cast(pl.Int32),
                rank is None,
            )
        )
        keys.append(
            (
                f"_el{slot}{suffix}",
                elig.otherwise(pl.lit(True)) if elig is not None else pl.lit(True),
                elig is None,
            )
        )
    return keys


def _leg_row_exprs(plan: Plan, leg: Leg) -> tuple[pl.Expr | None, pl.Expr | None]:
    """Rank of each row's long-context critical ratio among the tokenizer grid, and cache eligibility."""
    assert leg.target is not None
    thr = _threshold_expr(plan.info[leg.target])
    min_prefix = plan.a.min_prefix(leg.target)
    rank: Any = None
    elig: Any = None
    same_model = pl.col("model_id") == leg.target
    for tok, models in plan.tokenizers.items():
        p = plan.tokenizer_param(tok, leg.target)
        is_tok = pl.col("model_id").is_in(models)
        median = p.dist.ppf(0.5)
        e = same_model | (PREFIX == 0) | (PREFIX.cast(pl.Float64) * median >= min_prefix)
        elig = pl.when(is_tok).then(e) if elig is None else elig.when(is_tok).then(e)
        if thr is None or p.id == ONE.id:
            continue
        grid = plan.grid(p)
        crit = thr / PROMPT.cast(pl.Float64)
        r = (
            pl.when(thr.is_null() | (PROMPT == 0))
            .then(pl.lit(len(grid)))
            # how many grid values are <= crit: its bin among the sorted grid's left-closed
            # intervals, elementwise (the streaming engine runs it without holding the rows)
            .otherwise(crit.bin_intervals(grid, labels=False).cast(pl.Int32))
        )
        rank = pl.when(is_tok).then(r) if rank is None else rank.when(is_tok).then(r)
    return (
        rank.otherwise(pl.lit(-1)) if rank is not None else None,
        elig.otherwise(pl.lit(True)) if elig is not None else None,
    )


_SUMS = ("_rows", "n", *TOKENS, "web_search_requests", "_mt", "_st")


def group_all(lf: pl.LazyFrame, plans: Sequence[Plan]) -> list[pl.DataFrame]:
    """One pass over the requests for every policy: group on the pricing cell and every policy's
    row keys at once, then fold that (small) table per policy."""
    keys = [_row_keys(plan, f"@{k}") for k, plan in enumerate(plans)]
    if keys:
        lf = lf.with_columns([expr.alias(name) for ks in keys for name, expr, const in ks[:1] if not const])
        lf = lf.with_columns([expr.alias(name) for ks in keys for name, expr, const in ks[1:] if not const])
    varying = [name for ks in keys for name, _, const in ks if not const]
    w = pl.col("requests")
    combined = (
        lf.group_by([*CELL, *varying])
        .agg(
            _rows=pl.len(),
            n=w.sum(),
            **{c: pl.col(c).sum() for c in TOKENS},
            web_search_requests=pl.col("web_search_requests").sum(),
            _mt=w.filter(pl.col("_mt")).sum(),
            _st=w.filter(pl.col("_st")).sum(),
        )
        .with_columns(pl.col(pl.Categorical).cast(pl.String))
        .collect(engine="streaming")
    )
    out = []
    for plan, ks in zip(plans, keys, strict=True):
        mine = [name for name, _, const in ks if not const]
        g = (
            combined
            if mine == varying
            else combined.group_by([*CELL, *mine]).agg(*[pl.col(c).sum() for c in _SUMS])
        )
        g = g.rename({name: name.split("@")[0] for name in mine}).with_columns(
            [expr.alias(name.split("@")[0]) for name, expr, const in ks if const],
            _tok=pl.col("model_id").replace_strict(
                plan.tokenizer_of, default=UNKNOWN_TOKENIZER, return_dtype=pl.String
            ),
        )
        out.append(g.drop([c for c in g.columns if "@" in c]))
    return out


def baseline_groups(lf: pl.LazyFrame) -> pl.DataFrame:
    return (
        lf.group_by(CELL)
        .agg(
            _rows=pl.len(),
            n=pl.col("requests").sum(),
            **{c: pl.col(c).sum() for c in TOKENS},
            web_search_requests=pl.col("web_search_requests").sum(),
        )
        .with_columns(pl.col(pl.Categorical).cast(pl.String))
        .collect(engine="streaming")
    )
