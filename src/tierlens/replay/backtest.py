"""Backtest: replay the traffic before a routing change, compare with what happened after it.

A replay's estimate can be checked wherever the logs hold a real routing change (in sample_logs/,
code-review moved from Opus 4.6 to Sonnet 4.6 on 2026-10-12). `backtest(lf, DATE, ...)`:

1. finds the features whose model mix changed at DATE (at least 30 requests on each side of it,
   and at least half of the requests moved: total variation distance >= 0.5);
2. replays the `days` before DATE under each policy (default: the observed routing itself, one
   `route_to` rule per changed feature), calibrating only on that window: nothing after DATE
   leaks into the prediction;
3. predicts the cost of the `days` after DATE as the replayed cost per request times the
   requests actually observed after it (volume is not what is being tested), widened by the
   sampling error of comparing two finite windows: per-request cost CV x sqrt(1/n_before + 1/n_after),
   drawn as one more Latin-hypercube parameter;
4. compares the P10/P50/P90 (and P5/P95) of that prediction with the observed cost (re-priced by
   the pricing engine, so both sides use one price table).

The ranges are validated by `tests/replay/test_coverage.py`: over simulated migrations whose
answer-length ratios have the spread of the default prior, the observed cost falls inside
P10..P90 in `VALIDATED_COVERAGE["p10_p90"]` of them and inside P5..P95 in `["p05_p95"]`.

A policy is compared on a feature only when it routes that feature's traffic the way it actually
moved (predicted and observed model mix within 10%); otherwise the row says why not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl

from tierlens.errors import (
    BacktestError,
)
from tierlens.pricing import PriceTable, price_requests
from tierlens.progress import Progress
from tierlens.replay.assumptions import Dist, Param, draw_values, quantile
from tierlens.replay.columns import least_certain
from tierlens.replay.engine import replay
from tierlens.replay.numeric import fmean, fstd, fsum
from tierlens.replay.policy import Policy, policy_from_dict
from tierlens.replay.results import PolicyResult, ReplayResult
from tierlens.schema import TOKEN_COLUMNS

MIN_REQUESTS = 30
MIN_SHIFT = 0.5
MIX_TOLERANCE = 0.10
VALIDATED_COVERAGE = {"migrations": 120, "p10_p90": 0.842, "p05_p95": 0.933}
"""What the coverage test measured, shown with every backtest (the test fails when they differ)."""


@dataclass(frozen=True)
class Change:
    """A feature whose traffic moved from one model to another at the backtest date."""

    feature: str
    before_model: str
    after_model: str
    n_before: int
    n_after: int
    shift: float  # mix_distance between the model mixes before and after

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "before_model": self.before_model,
            "after_model": self.after_model,
            "n_before": self.n_before,
            "n_after": self.n_after,
            "shift": round(self.shift, 6),
        }


@dataclass
class BacktestResult:
    """Predicted vs observed cost after a routing change, per policy and changed feature."""

    at: date
    before: tuple[date, date]
    after: tuple[date, date]
    draws: int
    seed: int
    price_version: str
    changes: list[Change]
    rows: pl.DataFrame
    replay: ReplayResult
    data_dir: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def observed_policy(
    changes: Sequence[Change], table: PriceTable, assume: Mapping[str, Any] | None = None
) -> Policy:
    """The routing that actually happened, as a policy: one route per changed feature."""
    rules = [
        {
            "name": f"{c.feature}: {c.before_model} -> {c.after_model}",
            "when": f"feature = {_sql_string(c.feature)} AND model_id = {_sql_string(c.before_model)}",
            "route_to": c.after_model,
        }
        for c in changes
    ]
    doc = {
        "name": "observed-routing",
        "description": "The routing change the logs show at the backtest date.",
        "rules": rules,
    }
    return policy_from_dict(doc, "<observed>", table, assume)


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def detect_changes(lf: pl.LazyFrame, before: tuple[date, date], after: tuple[date, date]) -> list[Change]:
    """Features whose model mix moved by at least half between the two windows."""
    mix = (
        lf.filter(pl.col("feature").is_not_null() & pl.col("model_id").is_not_null())
        .with_columns(
            _side=pl.when(pl.col("date").is_between(*before))
            .then(pl.lit("before"))
            .when(pl.col("date").is_between(*after))
            .then(pl.lit("after"))
        )
        .filter(pl.col("_side").is_not_null())
        .group_by("feature", "_side", "model_id")
        .agg(n=pl.col("requests").fill_null(1).sum())
        .collect()
    )
    changes = []
    for (feature,), part in sorted(mix.group_by("feature"), key=lambda kv: str(kv[0][0])):
        b, a = (
            {
                str(m): int(n)
                for m, n in part.filter(pl.col("_side") == side).select("model_id", "n").iter_rows()
            }
            for side in ("before", "after")
        )
        nb, na = sum(b.values()), sum(a.values())
        if nb < MIN_REQUESTS or na < MIN_REQUESTS:
            continue
        shift = mix_distance(a, b)
        top_b = max(sorted(b), key=lambda m: b[m])
        top_a = max(sorted(a), key=lambda m: a[m])
        if shift >= MIN_SHIFT and top_b != top_a:
            changes.append(Change(str(feature), top_b, top_a, nb, na, shift))
    return changes


def mix_distance(p: Mapping[str, int], q: Mapping[str, int]) -> float:
    """The total variation distance between two model mixes (requests per model): the share of
    requests that would have to move to turn one mix into the other; 1 when either has none."""
    total_p, total_q = sum(p.values()), sum(q.values())
    if not (total_p and total_q):
        return 1.0
    return 0.5 * sum(abs(p.get(m, 0) / total_p - q.get(m, 0) / total_q) for m in set(p) | set(q))


def backtest(
    frame: pl.LazyFrame | pl.DataFrame,
    at: date,
    policies: Sequence[Policy] | None,
    table: PriceTable,
    *,
    days: int = 28,
    draws: int = 500,
    seed: int = 0,
    data_dir: str = "",
    assume: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay the `days` before `at` under each policy and compare with the `days` after it."""
    lf = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    if "date" not in lf.collect_schema().names():
        lf = lf.with_columns(date=pl.col("ts").dt.date())
    before = (at - timedelta(days=days), at - timedelta(days=1))
    after = (at, at + timedelta(days=days - 1))
    changes = detect_changes(lf, before, after)
    if not changes:
        raise BacktestError(
            f"no routing change at {at}: no feature moved at least {MIN_SHIFT:.0%} of its requests to another "
            f"model between {before[0]}..{before[1]} and {after[0]}..{after[1]} "
            f"(with at least {MIN_REQUESTS} requests on each side)"
        )
    pols = list(policies) if policies else [observed_policy(changes, table, assume)]
    features = [c.feature for c in changes]
    scope = lf.filter(pl.col("feature").is_in(features))
    rep = replay(
        scope,
        pols,
        table,
        since=before[0],
        until=before[1],
        draws=draws,
        seed=seed,
        data_dir=data_dir,
        progress=progress,
    )
    stats = _unit_costs(lf, features, before, after, table)
    rows = []
    for pr in rep.policies:
        for c in changes:
            rows.append(_compare(pr, c, stats[c.feature], draws, seed))
    return BacktestResult(
        at=at,
        before=before,
        after=after,
        draws=draws,
        seed=seed,
        price_version=table.version,
        changes=changes,
        rows=pl.DataFrame(rows, schema=_ROW_SCHEMA),
        replay=rep,
        data_dir=data_dir,
    )


def _unit_costs(
    lf: pl.LazyFrame,
    features: list[str],
    before: tuple[date, date],
    after: tuple[date, date],
    table: PriceTable,
) -> dict[str, dict[str, Any]]:
    """Per feature and side: requests, re-priced cost, per-request cost CV, model mix."""
    rows = (
        lf.filter(pl.col("feature").is_in(features) & pl.col("date").is_between(before[0], after[1]))
        .select(
            "ts",
            "date",
            "provider",
            "model",
            "model_id",
            "endpoint_scope",
            "service_tier",
            "inference_geo",
            "feature",
            "requests",
            *TOKEN_COLUMNS,
            "web_search_requests",
        )
        .collect()
    )
    priced = (
        price_requests(rows, table)
        .filter(pl.col("priced"))
        .with_columns(
            _side=pl.when(pl.col("date") < after[0]).then(pl.lit("before")).otherwise(pl.lit("after")),
            _n=pl.col("requests").fill_null(1),
        )
    )
    out: dict[str, dict[str, Any]] = {f: {} for f in features}
    agg = priced.group_by("feature", "_side").agg(
        n=pl.col("_n").sum(),
        cost=fsum(pl.col("cost_usd")),
        mean=fmean(pl.col("cost_usd") / pl.col("_n")),
        sd=fstd(pl.col("cost_usd") / pl.col("_n")),
    )
    for feature, side, n, cost, mean, sd in agg.iter_rows():
        out[feature][side] = {
            "n": int(n),
            "cost": float(cost),
            "cv": float(sd or 0.0) / mean if mean else 0.0,
        }
    mix = priced.filter(pl.col("_side") == "after").group_by("feature", "model_id").agg(n=pl.col("_n").sum())
    for feature, model, n in mix.iter_rows():
        out[feature].setdefault("mix", {})[str(model)] = int(n)
    return out


_ROW_SCHEMA = {
    "policy": pl.String,
    "feature": pl.String,
    "change": pl.String,
    "comparable": pl.Boolean,
    "reason": pl.String,
    "label": pl.String,
    "n_before": pl.Int64,
    "n_after": pl.Int64,
    "before_usd": pl.Float64,
    "naive_after_usd": pl.Float64,
    "observed_after_usd": pl.Float64,
    "predicted_p05": pl.Float64,
    "predicted_p10": pl.Float64,
    "predicted_p50": pl.Float64,
    "predicted_p90": pl.Float64,
    "predicted_p95": pl.Float64,
    "inside": pl.Boolean,
    "inside_p05_p95": pl.Boolean,
    "error_p50_pct": pl.Float64,
    "observed_savings_pct": pl.Float64,
    "predicted_savings_p10_pct": pl.Float64,
    "predicted_savings_p50_pct": pl.Float64,
    "predicted_savings_p90_pct": pl.Float64,
    "sampling_sd_pct": pl.Float64,
}


class Side(NamedTuple):
    """One side of the change for a feature: requests, re-priced cost, per-request cost CV."""

    n: int
    cost: float
    cv: float

    @property
    def unit(self) -> float:
        """Cost per request (0 without requests)."""
        return self.cost / self.n if self.n else 0.0


class Mix(NamedTuple):
    """The model mix a policy predicts for a feature, and its distance to the observed mix."""

    predicted: dict[str, int]
    total: int
    distance: float


def _side(s: dict[str, Any], name: str) -> Side:
    """A feature's `before` or `after` figures (none: no requests)."""
    d = s.get(name, {"n": 0, "cost": 0.0, "cv": 0.0})
    return Side(int(d["n"]), d["cost"], d["cv"])


def _compare(pr: PolicyResult, c: Change, s: dict[str, Any], draws: int, seed: int) -> dict[str, Any]:
    """One row of the backtest: a policy's prediction for a changed feature against what was
    observed, or why the two cannot be compared."""
    before, after = _side(s, "before"), _side(s, "after")
    row = _observed(pr, c, before, after)
    routes = pr.routes.filter(pl.col("feature") == c.feature)
    why = _why_not_comparable(c, routes, _mix(routes, s.get("mix", {})))
    if why is not None:
        return {**row, "comparable": False, "reason": why}
    return {**row, "comparable": True, "reason": "", **_predicted(pr, c, before, after, draws, seed)}


def _observed(pr: PolicyResult, c: Change, before: Side, after: Side) -> dict[str, Any]:
    """What every row shows: the change and what the logs saw on each side of it."""
    return {
        "policy": pr.policy.name,
        "feature": c.feature,
        "change": f"{c.before_model} -> {c.after_model}",
        "n_before": before.n,
        "n_after": after.n,
        "before_usd": before.cost,
        "naive_after_usd": before.unit * after.n,
        "observed_after_usd": after.cost,
        "observed_savings_pct": 100 * (1 - after.unit / before.unit) if before.unit else None,
    }


def _mix(routes: pl.DataFrame, observed: dict[str, int]) -> Mix:
    """Where the policy sends the feature's requests (a cascade's strong leg aside) and its
    `mix_distance` to where they actually went."""
    predicted: dict[str, int] = {}
    for to_model, leg, n in routes.select("to_model", "leg", "requests").iter_rows():
        if leg in ("none", "route", "tier", "cheap"):
            predicted[str(to_model)] = predicted.get(str(to_model), 0) + int(n)
    return Mix(predicted, sum(predicted.values()), mix_distance(predicted, observed))


def _why_not_comparable(c: Change, routes: pl.DataFrame, mix: Mix) -> str | None:
    """Why a policy's prediction says nothing about the observed change (None: it does): a
    cascade, or traffic routed other than it actually moved."""
    cascade = bool(routes.filter(pl.col("leg") == "cheap").height)
    if not (cascade or mix.distance > MIX_TOLERANCE):
        return None
    if cascade:
        return "a cascade cannot be compared with a plain routing change"
    tp = mix.total
    moved = ", ".join(f"{m} {n / tp:.0%}" for m, n in sorted(mix.predicted.items())) if tp else "nothing"
    return f"it sends {c.feature} to {moved}, but {c.feature} actually moved to {c.after_model}"


def _predicted(
    pr: PolicyResult, c: Change, before: Side, after: Side, draws: int, seed: int
) -> dict[str, Any]:
    """The predicted cost after the change: the replayed cost per request times the requests
    observed after it, widened by the sampling error of comparing two finite windows."""
    draws_frame = (
        pr.draws.filter(pl.col("feature") == c.feature)
        .group_by("draw")
        .agg(fsum(pl.col("savings")))
        .sort("draw")
    )
    savings = draws_frame["savings"].to_list() or [0.0] * draws
    nb, na = before.n, after.n
    noise_sd = before.cv * math.sqrt(1 / max(nb, 1) + 1 / max(na, 1))
    z = draw_values(
        Param(f"sampling:{c.feature}", "sampling", Dist("normal", 0.0, 1.0), "backtest", "sampling"),
        len(savings),
        seed,
    )
    unit = [(before.cost - sv) / nb * (1 + noise_sd * zz) for sv, zz in zip(savings, z, strict=True)]
    pred = [u * na for u in unit]
    p05, p10, p50, p90, p95 = (quantile(pred, q) for q in (0.05, 0.1, 0.5, 0.9, 0.95))
    sav = [100 * (1 - u / before.unit) for u in unit] if before.unit else [0.0]
    label_rows = pr.rows.filter((pl.col("feature") == c.feature) & (pl.col("touched_requests") > 0))
    return {
        "label": least_certain(label_rows["label"].to_list()),
        "predicted_p05": p05,
        "predicted_p10": p10,
        "predicted_p50": p50,
        "predicted_p90": p90,
        "predicted_p95": p95,
        "inside": p10 <= after.cost <= p90,
        "inside_p05_p95": p05 <= after.cost <= p95,
        "error_p50_pct": 100 * (p50 - after.cost) / after.cost if after.cost else None,
        "predicted_savings_p10_pct": quantile(sav, 0.1),
        "predicted_savings_p50_pct": quantile(sav, 0.5),
        "predicted_savings_p90_pct": quantile(sav, 0.9),
        "sampling_sd_pct": 100 * noise_sd,
    }
