"""The replay engine: every logged request re-priced under a policy, with Monte Carlo uncertainty.

How it stays exact and fast (5 policies over 10M requests in seconds, see bench/replay.py):

1. **One vectorized pass over the requests, for every policy at once.** Each rule's `when` is a
   polars expression; the first matching rule wins. Rows are grouped on exactly the keys that
   make cost linear in tokens: the pricing cell (provider, model, service tier, inference geo,
   endpoint scope, day, which side of every long-context threshold the prompt falls, whether it
   ran web searches) plus each policy's row keys (rule, cache eligibility under the target's
   minimum cacheable prefix, and, when a tokenizer change can push prompts over a threshold, the
   rank of the row's critical ratio among the tokenizer draws). That table is then folded per
   policy; nothing afterwards touches a request.
2. **Prices come from `tierlens.pricing.price_requests` only.** Each group's *mean* request is
   priced (one call for every group of every policy) and multiplied by the group's row count: by
   linearity within a pricing cell this equals pricing each row. A re-priced group whose model
   does not change is therefore the pricing engine's own number (the tests hold it to 1e-9).
3. **Uncertainty by Monte Carlo over group totals.** A counterfactual group costs
   `share * (t * (w * A_kept + (1 - w) * A_cold) + t * o * A_output + web)`, where t is the
   tokenizer ratio, o the output-length ratio, w the share of cache reads kept, share the
   cascade escalation rate (or 1), and the A's are priced coefficients on the right side of the
   long-context threshold for that draw. Draws are Latin-hypercube samples of each assumption
   (see assumptions.py), shared by every group that uses it: the uncertainty is in the mean, not
   independent per request, which is what a total over many requests is exposed to.

The steps live in their own modules: `plan.py` builds each policy's plan, `cells.py` is step 1,
`components.py` step 2, `evaluate.py` step 3, and `results.py` holds what a replay returns; this
module prepares the requests and runs the steps.

Each figure is labelled: `exact` (the model does not change: same model re-priced, e.g. under
another service tier), `modelled` (a model switch within one tokenizer generation), or
`speculative` (a cascade, whose escalation rate the logs cannot show, or a switch across tokenizer
generations or providers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, NamedTuple

import polars as pl

from tierlens.pricing import PriceTable
from tierlens.progress import Progress
from tierlens.quality.evidence import Bench
from tierlens.replay.calibrate import feature_model_stats, fit_output_ratios
from tierlens.replay.cells import baseline_groups, group_all
from tierlens.replay.columns import CELL, CELL_STRINGS, PROMPT, TOKENS, UNKNOWN_TOKENIZER
from tierlens.replay.components import Components, baseline_cost, components_of, price_probes
from tierlens.replay.evaluate import evaluate_policy
from tierlens.replay.plan import Plan, model_info, tokenizer_of
from tierlens.replay.policy import Policy
from tierlens.replay.results import PolicyResult, ReplayResult

if TYPE_CHECKING:
    from tierlens.trial.result import TrialEvidence


def prepare(
    frame: pl.LazyFrame | pl.DataFrame, table: PriceTable, columns: Iterable[str] = ()
) -> pl.LazyFrame:
    """The columns a replay needs (plus `columns` read by policy conditions), nulls filled."""
    lf = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    names = lf.collect_schema().names()
    if "date" not in names:
        lf = lf.with_columns(date=pl.col("ts").dt.date())
    thresholds = sorted({int(t) for t in table.rows["lc_threshold"].drop_nulls().to_list()})
    prompt = PROMPT
    extra = [c for c in sorted(set(columns)) if c in names and c not in CELL and c not in TOKENS]
    # low-cardinality strings as categoricals: the per-policy group-bys on 10M rows run 2-4x faster
    cat = set(CELL_STRINGS)
    return lf.select(
        *[pl.col(c).cast(pl.Categorical) if c in cat else pl.col(c) for c in CELL[:-2]],
        *[pl.col(c).fill_null(0).cast(pl.Int64) for c in TOKENS],
        pl.col("web_search_requests").fill_null(0).cast(pl.Int64),
        pl.col("requests").fill_null(1).cast(pl.Int64),
        *[pl.col(c) for c in extra],
        _mt=(pl.col("stop_reason") == "max_tokens").fill_null(False),
        _st=pl.col("structured_output").fill_null(False),
        # rows with web searches apart: a target without a search price cannot price them
        _web=pl.col("web_search_requests").fill_null(0) > 0,
        _pbucket=pl.sum_horizontal([(prompt > t).cast(pl.Int8) for t in thresholds]).cast(pl.Int8)
        if thresholds
        else pl.lit(0, pl.Int8),
    )


class Span(NamedTuple):
    """The days a replay covers: the asked window, else the data's first and last day."""

    start: date | None
    end: date | None
    days: int


def replay(
    frame: pl.LazyFrame | pl.DataFrame,
    policies: Sequence[Policy],
    table: PriceTable,
    *,
    since: date | None = None,
    until: date | None = None,
    draws: int = 500,
    seed: int = 0,
    calibration_frame: pl.LazyFrame | pl.DataFrame | None = None,
    data_dir: str = "",
    progress: Progress | None = None,
    bench: Bench | None = None,
    trials: TrialEvidence | None = None,
) -> ReplayResult:
    """Replay the requests of [since, until] under each policy.

    `calibration_frame` (default: the replayed window itself) is where output-length ratios are
    fitted from; the backtest passes the window before the change so nothing leaks. `progress`:
    told how many of the policies' draws are made as each policy is evaluated. `bench`: the
    window's quality judgments, for the quality grades. `trials`: output ratios a trial measured
    on the same requests, which take the place of the logs' own for the features they cover.
    """
    cols: set[str] = set()
    for p in policies:
        cols |= p.columns
    lf = prepare(frame, table, cols)
    if since is not None:
        lf = lf.filter(pl.col("date") >= since)
    if until is not None:
        lf = lf.filter(pl.col("date") <= until)
    stats, facts = _window_facts(lf)
    span = _span(facts, since, until)
    cal_stats = stats if calibration_frame is None else feature_model_stats(prepare(calibration_frame, table))
    plans = _plans(policies, table, cal_stats, _tokenizers(table, facts), draws, seed, bench, trials)
    grouped = group_all(lf, plans)
    baseline, unpriced = baseline_cost(grouped[0] if grouped else baseline_groups(lf), table)
    comps = [components_of(g, plan) for g, plan in zip(grouped, plans, strict=True)]
    priced = price_probes(comps, table)
    results = _evaluate_all(plans, comps, priced, stats, span.days, draws, progress)
    return ReplayResult(
        start=span.start,
        end=span.end,
        days=span.days,
        draws=draws,
        seed=seed,
        price_version=table.version,
        requests=int(facts["requests"].sum() or 0),
        baseline_usd=baseline,
        unpriced_requests=sum(unpriced.values()),
        unpriced_models=unpriced,
        policies=results,
        data_dir=data_dir,
    )


def _window_facts(lf: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The feature x model stats of the window and, per model, its first and last day and requests."""
    # the requests stay lazy: one pass reads these facts (a group-by: a column's unique() would
    # hold every value), one more groups them for every policy
    by_model = lf.group_by(pl.col("model_id").cast(pl.String)).agg(
        first=pl.col("date").min(), last=pl.col("date").max(), requests=pl.col("requests").sum()
    )
    # one after the other: collected together, polars would hold the rows they share in memory
    return feature_model_stats(lf), by_model.collect(engine="streaming")


def _span(facts: pl.DataFrame, since: date | None, until: date | None) -> Span:
    """The replayed days: [since, until] where given, else where the data starts and ends."""
    first, last = facts["first"].min(), facts["last"].max()
    start = since or (first if isinstance(first, date) else None)
    end = until or (last if isinstance(last, date) else None)
    return Span(start, end, (end - start).days + 1 if start and end else 0)


def _tokenizers(table: PriceTable, facts: pl.DataFrame) -> dict[str, list[str]]:
    """The window's models by tokenizer (a model the table does not place under the unknown one)."""
    tok = tokenizer_of(table)
    tokenizers: dict[str, list[str]] = {}
    for m in sorted(m for m in facts["model_id"].to_list() if m is not None):
        tokenizers.setdefault(tok.get(m, UNKNOWN_TOKENIZER), []).append(m)
    return tokenizers


def _plans(
    policies: Sequence[Policy],
    table: PriceTable,
    cal_stats: pl.DataFrame,
    tokenizers: dict[str, list[str]],
    draws: int,
    seed: int,
    bench: Bench | None,
    trials: TrialEvidence | None,
) -> list[Plan]:
    """Each policy's plan, with output ratios calibrated under its own assumptions (a trial's
    measured ratios take the place of the logs' own) and the quality evidence."""
    info = model_info(table)
    plans = []
    for p in policies:
        a = p.assumptions
        cals = fit_output_ratios(cal_stats, a.calibration_min_requests, a.calibration_floor_sigma)
        cals |= trials.calibrations if trials else {}
        plans.append(Plan(p, table, info, cals, tokenizers, draws, seed))
        plans[-1].bench = bench
        plans[-1].agreements = trials.agreements if trials else {}
    return plans


def _evaluate_all(
    plans: list[Plan],
    comps: list[Components],
    priced: list[pl.DataFrame],
    stats: pl.DataFrame,
    days: int,
    draws: int,
    progress: Progress | None,
) -> list[PolicyResult]:
    """Every policy evaluated in turn, telling `progress` the draws made so far."""
    results = []
    if progress is not None:
        progress.total = len(plans) * draws
    for plan, comp, pr in zip(plans, comps, priced, strict=True):
        results.append(evaluate_policy(plan, comp, pr, stats, days))
        if progress is not None:
            progress.update(len(results) * draws, len(results) * draws)
    if progress is not None:
        progress.close()
    return results
