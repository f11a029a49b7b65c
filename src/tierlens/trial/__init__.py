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
from tierlens.location import require_local
from tierlens.logfiles import resolve_inputs
from tierlens.pricing import PriceTable
from tierlens.pricing.models import with_model_ids
from tierlens.replay.policy import Policy
from tierlens.store.layout import Layout
from tierlens.store.writer import Store, new_ingest_id
from tierlens.trial.cases import Case, read_cases
from tierlens.trial.judge import Judge
from tierlens.trial.result import TRIAL_SCHEMA, TrialResult, calibrations, rows_of, stored_trials
from tierlens.trial.run import Tried, price, providers, send_all, worst_cases
from tierlens.trial.sample import Move, representative, routed
from tierlens.trial.senders import UNCAPPED_OUTPUT, SdkSenders, Senders

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
    uncapped = sum(c.output_cap is None for c, _ in plan)
    if uncapped:
        notes.append(
            f"{uncapped:,} request(s) name no output cap: sent with one of {UNCAPPED_OUTPUT:,} tokens, "
            "so that a worst case bounds their cost"
        )
    return plan, notes


def judge_of(model: str, table: PriceTable) -> Judge:
    """The judge `model` (its API by its provider in the price table, which must price it: the
    judge's requests are counted in the budget)."""
    [model_id] = with_model_ids(pl.DataFrame({"model": [model]}), table.aliases)["model_id"].to_list()
    provider = providers(table).get(str(model_id))
    if provider is None:
        raise ConfigError(f"the judge model {model} has no price, so its requests could not be budgeted")
    return Judge(model, "anthropic" if provider == "anthropic" else "openai")


def _planned_rows(
    plan: list[tuple[Case, Move]], policy: str, table: PriceTable, judge: Judge | None
) -> tuple[pl.DataFrame, float]:
    """The rows a dry run shows and its worst case (a judge's with answers as long as the logged ones)."""
    worst = worst_cases(table, plan)
    tried = [Tried(c, m, None, w, 0.0, None, None, None) for (c, m), w in zip(plan, worst, strict=True)]
    if judge is not None:
        for t in tried:
            body = judge.body(t.case.body, t.case.logged, t.case.logged)
            t.judge_cost_usd = price(table, judge.model, judge.worst_usage(body))
    spent = sum((t.cost_usd or 0.0) + (t.judge_cost_usd or 0.0) for t in tried)
    return rows_of("(dry run)", policy, tried, judge.model if judge else None), spent


class _Recorder:
    """Commits a trial's results as they come back (every `every` of them): a trial killed midway
    keeps every answer it had received, and its re-run sends only the rest. A commit of trial
    results is a small one (one file, no snapshot of the requests)."""

    def __init__(
        self, data_dir: str | Path, trial_id: str, policy: str, judge: Judge | None, every: int = 1
    ) -> None:
        self.store, self.trial_id, self.policy, self.every = Store(data_dir), trial_id, policy, every
        self.judge = judge.model if judge else None
        self.pending: list[Tried] = []

    def add(self, t: Tried) -> None:
        self.pending.append(t)
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows, self.pending = rows_of(self.trial_id, self.policy, self.pending, self.judge), []
        with self.store.transaction(log=TRIAL_LOG) as txn:
            txn.stage_file(Layout.next_part(self.store.layout.trials, txn.ingest_id), rows.to_arrow())
            txn.commit({"trial_id": self.trial_id, "policy": self.policy, "requests": rows.height})


def _not_yet_tried(
    plan: list[tuple[Case, Move]], stored: pl.DataFrame, policy: str
) -> tuple[list[tuple[Case, Move]], int]:
    done = stored.filter((pl.col("policy") == policy) & pl.col("error").is_null())
    seen = set(zip(done["request_id"].to_list(), done["target_model"].to_list(), strict=True))
    todo = [(c, m) for c, m in plan if (c.request_id, m.target) not in seen]
    return todo, len(plan) - len(todo)


def _outcome(stored: pl.DataFrame, plan: list[tuple[Case, Move]], policy: str) -> pl.DataFrame:
    """The stored results of this plan's requests (the latest of each), this run's and earlier ones."""
    wanted = pl.DataFrame(
        {"request_id": [c.request_id for c, _ in plan], "target_model": [m.target for _, m in plan]},
        schema={"request_id": pl.String, "target_model": pl.String},
    )
    mine = stored.filter(pl.col("policy") == policy).join(
        wanted, on=["request_id", "target_model"], how="semi"
    )
    return mine.unique(["request_id", "target_model"], keep="last", maintain_order=True)


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
    judge: str | None = None,
    senders: Senders | None = None,
) -> TrialResult:
    """Plan, then (unless `dry_run`) send and store a trial of `policy` (see the package docstring).
    Requests an earlier trial of the policy already answered are not sent again (a killed trial's
    re-run completes it); `max_usd` bounds this run's spend, a `judge` model's requests included.
    `senders` gives the sender of each API (the official SDKs by default)."""
    require_local(data_dir, "trial results")
    if sample < 1 or max_usd <= 0:
        raise ConfigError("a trial's sample must be at least 1 request and its budget above $0")
    grader = judge_of(judge, table) if judge else None
    plan, notes = plan_trial(lf, policy, logs, table, sample, seed)
    if not dry_run:
        Store(data_dir).settle()  # a killed trial's last commit counts as answered, not to send again
    todo, done = _not_yet_tried(plan, stored_trials(data_dir), policy.name)
    if done:
        notes.append(f"{done:,} of the sample were answered in an earlier trial: kept, not sent again")
    if dry_run:
        rows, worst = _planned_rows(todo, policy.name, table, grader)
        return TrialResult(policy.name, "", True, rows, len(todo), 0, worst, max_usd, notes)
    senders = senders or SdkSenders()
    for api in sorted({c.api for c, _ in todo} | ({grader.api} if grader else set())):
        senders(api)  # a missing key or SDK stops the trial before anything is sent
    trial_id = new_ingest_id()
    recorder = _Recorder(data_dir, trial_id, policy.name, grader)
    try:
        _, not_sent = send_all(todo, senders, table, max_usd, concurrency, recorder.add, grader)
    finally:
        recorder.flush()  # what came back is kept even when the trial stops on an error
    rows = _outcome(stored_trials(data_dir), plan, policy.name)
    return TrialResult(policy.name, trial_id, False, rows, len(todo), not_sent, 0.0, max_usd, notes)
