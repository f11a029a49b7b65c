"""Trials: send a representative sample of logged requests to a policy's candidate models.

    ws = tierlens.Workspace("tierlens-data")
    result = ws.trial("policies/short-structured-to-haiku.toml", logs=["gateway/"], sample=50, max_usd=5)
    result.features()      # per feature: requests, spent_usd, output_ratio, agreement, latency_ms

`cases.py` reads request bodies from the raw logs (never stored), `sample.py` picks the requests
a policy moves and a stratified sample of them, `run.py` sends them within the budget and scores
the answers, `result.py` keeps the trials table and the output ratios the replay calibrates from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from tierlens.errors import ConfigError, SourceError
from tierlens.ingest import resolve_inputs
from tierlens.pricing import PriceTable
from tierlens.replay.policy import Policy
from tierlens.store.layout import Layout
from tierlens.store.writer import Store, new_ingest_id
from tierlens.trial.cases import Case, read_cases
from tierlens.trial.result import TRIAL_SCHEMA, TrialResult, calibrations, rows_of, stored_trials
from tierlens.trial.run import Send, Tried, anthropic_sender, send_all, worst_case
from tierlens.trial.sample import Move, representative, routed

TRIAL_LOG = "trials.jsonl"

__all__ = ["TRIAL_SCHEMA", "TrialResult", "calibrations", "plan_trial", "run_trial", "stored_trials"]


def plan_trial(
    lf: pl.LazyFrame, policy: Policy, logs: Sequence[str | Path], table: PriceTable, sample: int, seed: int
) -> tuple[list[tuple[Case, Move]], list[str]]:
    """The (case, move) pairs a trial sends: per feature, a representative sample of the requests
    the policy moves whose bodies the logs hold; and notes on what was left out."""
    moves = routed(lf, policy, table)
    if not moves:
        raise ConfigError(f"{policy.name} moves no request of the dataset to another model: nothing to try")
    files = resolve_inputs(list(logs))
    by_feature: dict[str, list[Case]] = defaultdict(list)
    for case in read_cases(files, wanted=set(moves)):
        by_feature[moves[case.request_id].feature].append(case)
    if not by_feature:
        raise SourceError(
            f"none of the {len(moves):,} requests {policy.name} moves has its request body in "
            + ", ".join(str(p) for p in logs)
            + " (a trial needs logs that keep the request beside the response)"
        )
    plan = [
        (c, moves[c.request_id])
        for f in sorted(by_feature)
        for c in representative(by_feature[f], sample, seed)
    ]
    notes = [
        f"{policy.name} moves {len(moves):,} request(s); the logs hold the bodies of "
        f"{sum(len(v) for v in by_feature.values()):,}"
    ]
    if any(m.service_tier == "batch" for _, m in plan):
        notes.append(
            "requests the policy sends to the Batches API are tried at once, priced at the standard tier"
        )
    return plan, notes


def _planned_rows(
    plan: list[tuple[Case, Move]], policy: str, table: PriceTable
) -> tuple[pl.DataFrame, float]:
    tried = [Tried(c, m, None, worst_case(table, c, m.target), 0.0, None, None, None) for c, m in plan]
    return rows_of("(dry run)", policy, tried), sum(t.cost_usd or 0.0 for t in tried)


def run_trial(
    data_dir: str | Path,
    lf: pl.LazyFrame,
    policy: Policy,
    logs: Sequence[str | Path],
    table: PriceTable,
    *,
    sample: int = 50,
    max_usd: float = 5.0,
    dry_run: bool = False,
    concurrency: int = 4,
    seed: int = 0,
    send: Send | None = None,
) -> TrialResult:
    """Plan, then (unless `dry_run`) send and store a trial of `policy` (see the package docstring)."""
    if sample < 1 or max_usd <= 0:
        raise ConfigError("--sample must be at least 1 and --max-usd above 0")
    plan, notes = plan_trial(lf, policy, logs, table, sample, seed)
    if dry_run:
        rows, worst = _planned_rows(plan, policy.name, table)
        return TrialResult(policy.name, "", True, rows, len(plan), 0, worst, max_usd, notes)
    trial_id = new_ingest_id()
    tried, not_sent = send_all(plan, send or anthropic_sender(), table, max_usd, concurrency)
    rows = rows_of(trial_id, policy.name, tried)
    store = Store(data_dir)
    with store.transaction(trial_id, log=TRIAL_LOG) as txn:
        if rows.height:
            txn.stage_file(Layout.next_part(store.layout.trials, trial_id), rows.to_arrow())
        txn.commit(
            {"trial_id": trial_id, "policy": policy.name, "requests": rows.height, "not_sent": not_sent}
        )
    return TrialResult(policy.name, trial_id, False, rows, len(plan), not_sent, 0.0, max_usd, notes)
