"""Routing-policy replay: what the logged traffic would have cost under another routing, and how sure we are.

A policy (TOML, `policy.py`) is an ordered list of rules: a SQL `when` over the canonical columns
(`condition.py`) and an action (route to a model, cascade cheap -> strong, or a service tier).
`replay` re-prices every request under each policy with the pricing engine and Monte Carlo
uncertainty over explicit assumptions (`assumptions.py`, `calibrate.py`), `backtest` checks the
predictions against a routing change the logs hold, and `render.py` formats both.

    from tierlens.replay import run
    result = run("tierlens-data", ["policies/"])            # a ReplayResult
    result.policy("opus-to-sonnet").totals["savings_p50"]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from tierlens.errors import AssumptionError, BacktestError, ConditionError, PolicyError
from tierlens.pricing import PriceTable
from tierlens.replay.assumptions import Assumptions, Dist, parse_assume
from tierlens.replay.backtest import BacktestResult, backtest
from tierlens.replay.calibrate import Calibration
from tierlens.replay.condition import compile_condition
from tierlens.replay.engine import replay
from tierlens.replay.policy import Policy, load_policies, parse_policy
from tierlens.replay.results import PolicyResult, ReplayResult

if TYPE_CHECKING:
    import polars as pl

    from tierlens.progress import Progress
    from tierlens.quality.evidence import Bench
    from tierlens.trial.result import TrialEvidence

__all__ = [
    "AssumptionError",
    "Assumptions",
    "BacktestError",
    "BacktestResult",
    "Calibration",
    "ConditionError",
    "Dist",
    "Policy",
    "PolicyError",
    "PolicyResult",
    "ReplayResult",
    "backtest",
    "compile_condition",
    "load_policies",
    "parse_assume",
    "parse_policy",
    "replay",
    "run",
]


def run(
    data_dir: str | Path,
    policies: Sequence[str | Path],
    *,
    table: PriceTable | None = None,
    since: date | None = None,
    until: date | None = None,
    draws: int = 500,
    seed: int = 0,
    assume: Sequence[str] = (),
    backtest_at: date | None = None,
    backtest_days: int = 28,
    lf: pl.LazyFrame | None = None,
    progress: Progress | None = None,
    bench: Bench | None = None,
    trials: TrialEvidence | None = None,
) -> ReplayResult | BacktestResult:
    """Load the policies and the dataset, then replay (or backtest at `backtest_at`); `progress`
    is told how many draws are made; `bench`: quality judgments for the quality grades; `trials`:
    the output ratios trials measured (they replace the logs' own for their features)."""
    from tierlens.errors import ParameterError
    from tierlens.store import scan

    if draws < 1:
        raise ParameterError("{draws} must be at least 1")
    table = table or PriceTable.load()
    overrides = parse_assume(list(assume))
    loaded = load_policies(policies, table, overrides) if policies else []
    lf = lf if lf is not None else scan(data_dir)
    if backtest_at is not None:
        if since or until:
            raise ParameterError(
                "{since}/{until} do not apply to {backtest_at} (its windows are {backtest_days} each side)"
            )
        return backtest(
            lf,
            backtest_at,
            loaded or None,
            table,
            days=backtest_days,
            draws=draws,
            seed=seed,
            data_dir=str(data_dir),
            assume=overrides,
            progress=progress,
        )
    if not loaded:
        raise ParameterError(
            "give at least one {policies} (a TOML file or a directory of them, e.g. policies/)"
        )
    return replay(
        lf,
        loaded,
        table,
        since=since,
        until=until,
        draws=draws,
        seed=seed,
        data_dir=str(data_dir),
        progress=progress,
        bench=bench,
        trials=trials,
    )
