"""Which logged requests a trial sends: the ones a policy moves, a representative sample per feature.

`routed(lf, policy, table)` evaluates the policy's rules on the dataset (the first matching rule
wins, as in the replay) and gives each moved request its target model. `representative(cases, n,
seed)` picks up to `n` of a feature's cases, stratified by prompt size (the feature's quartiles),
structure (a tool call or not) and cache use, each stratum in proportion to its size (at least
one from each when `n` allows), in an order fixed by the seed: the same logs, policy and seed
always give the same sample.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tierlens.pricing import PriceTable
from tierlens.replay.engine import prepare
from tierlens.replay.policy import Policy
from tierlens.trial.cases import Case


@dataclass(frozen=True)
class Move:
    """What a policy does to one logged request."""

    request_id: str
    feature: str
    source: str
    target: str
    rule: str
    service_tier: str | None
    logged_latency_ms: float | None = None


def routed(lf: pl.LazyFrame, policy: Policy, table: PriceTable) -> dict[str, Move]:
    """request_id -> its Move, for the requests a rule of `policy` sends to another model."""
    rows = prepare(lf, table, {*policy.columns, "request_id", "latency_ms"})
    first = pl.lit(None, pl.Int32)
    for i, rule in reversed(list(enumerate(policy.rules))):
        first = pl.when(rule.when.expr).then(pl.lit(i, pl.Int32)).otherwise(first)
    hits = (
        rows.filter(pl.col("request_id").is_not_null())
        .select(
            "request_id",
            pl.col("feature").cast(pl.String),
            pl.col("model_id").cast(pl.String),
            pl.col("latency_ms").cast(pl.Float64),
            _rule=first,
        )
        .filter(pl.col("_rule").is_not_null())
        .collect()
    )
    out = {}
    for request_id, feature, source, latency, i in hits.iter_rows():
        rule = policy.rules[i]
        target = rule.cascade[0] if rule.cascade else rule.route_to
        if target and target != source:
            out[request_id] = Move(
                request_id, feature or "", source, target, rule.name, rule.service_tier, latency
            )
    return out


def _order(seed: int, case: Case) -> str:
    return hashlib.sha256(f"{seed}:{case.request_id}".encode()).hexdigest()


def _strata(cases: Sequence[Case]) -> dict[tuple[int, bool, bool], list[Case]]:
    sizes = sorted(c.prompt_tokens for c in cases)
    cuts = [sizes[int(q * (len(sizes) - 1))] for q in (0.25, 0.5, 0.75)]
    out: dict[tuple[int, bool, bool], list[Case]] = defaultdict(list)
    for c in cases:
        out[(sum(c.prompt_tokens > x for x in cuts), c.structured, c.cached)].append(c)
    return out


def representative(cases: Sequence[Case], n: int, seed: int = 0) -> list[Case]:
    """Up to `n` of `cases` (one feature's), stratified as the module docstring says."""
    if len(cases) <= n:
        return sorted(cases, key=lambda c: _order(seed, c))
    strata = {k: sorted(v, key=lambda c: _order(seed, c)) for k, v in sorted(_strata(cases).items())}
    quota = {k: n * len(v) / len(cases) for k, v in strata.items()}
    take = {k: min(len(strata[k]), max(1 if n >= len(strata) else 0, int(q))) for k, q in quota.items()}
    for k in sorted(quota, key=lambda k: quota[k] - int(quota[k]), reverse=True):  # largest remainders
        if sum(take.values()) >= n:
            break
        if take[k] < len(strata[k]):
            take[k] += 1
    while sum(take.values()) > n:  # the one-each floor overshot: trim the largest
        k = max(take, key=lambda k: take[k])
        take[k] -= 1
    picked = [c for k, v in strata.items() for c in v[: take[k]]]
    return sorted(picked, key=lambda c: _order(seed, c))
