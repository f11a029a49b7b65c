"""Over-provisioning signals, anomalies and forecasts: is a team paying for more than its work needs?

Each signal reads the dataset, applies documented thresholds (`SignalsConfig`, docs/signals.md)
and returns `Finding`s that name the feature (and model), the evidence, an estimated monthly
waste with a low/high range, a confidence, and how the dollar figure was obtained:
- `exact`: the same requests re-priced by the pricing engine under a rule that only changes price
  (batch tier), or spend that really happened (anomalies);
- `modelled`: a model switch or a restored cache, priced by the engine under stated assumptions;
- `speculative`: a heuristic guess (a cache nobody has tried yet).
All counterfactuals call `tierlens.pricing.reprice`; nothing here knows a price.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Generator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.config import BudgetConfig, SignalsConfig
from tierlens.pricing import PriceTable
from tierlens.pricing.catalog import Model, ModelCatalog
from tierlens.pricing.engine import Models, reprice_query
from tierlens.pricing.models import strip_routing
from tierlens.pricing.table import ANTHROPIC_WEB_SEARCH_USD
from tierlens.render import money, money_range
from tierlens.replay.assumptions import DEFAULT_ESCALATION_RATE, DEFAULT_OUTPUT_RATIO, Assumptions
from tierlens.store.layout import snapshot
from tierlens.store.rollup import rollup_of
from tierlens.summary import UNATTRIBUTED

SEVERITIES = ("info", "warning", "critical")
KINDS = (
    "lost_caching",
    "cost_growth",
    "top_tier_structured",
    "missing_caching",
    "batch_candidate",
    "under_provisioned",
    "stale_generation",
    "newer_mid_tier",
    "mixed_complexity",
    "latency_over_depth",
    "unpinned_alias",
    "quality_shortfall",
    "quality_complaints",
    "anomaly",
    "budget",
)
TOP_TIER = "opus"
TOKEN_COUNTS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)
_PROMPT = (
    pl.col("input_tokens")
    + pl.col("cache_read_tokens")
    + pl.col("cache_write_5m_tokens")
    + pl.col("cache_write_1h_tokens")
)


@dataclass(frozen=True)
class Finding:
    """One flag: what, where, why we think so, and what it costs a month."""

    kind: str
    severity: str
    feature: str | None
    model: str | None
    title: str
    evidence: str
    monthly_usd: float | None
    low_usd: float | None
    high_usd: float | None
    confidence: str
    basis: str  # exact | modelled | speculative
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Flags:
    """The outcome of `find_flags`."""

    as_of: date
    window_start: date
    window_end: date
    findings: list[Finding]
    forecasts: list[dict[str, Any]]
    thresholds: SignalsConfig


def find_flags(
    data_dir: str | Path | None = None,
    signals: SignalsConfig | None = None,
    budgets: list[BudgetConfig] | None = None,
    table: PriceTable | None = None,
    as_of: date | None = None,
    *,
    lf: pl.LazyFrame | None = None,
    rollup: pl.LazyFrame | None = None,
    kinds: Collection[str] | None = None,
    judgments: pl.DataFrame | None = None,
    trials: pl.DataFrame | None = None,
) -> Flags:
    """Run every signal over the dataset; `as_of` defaults to the day after the newest data.

    `lf`, `rollup`: the dataset's scan and its daily rollup when the caller holds them (a
    `Workspace`; a rollup not given is computed from `lf`). Every signal is a lazy aggregation:
    the first pass reads the rollup, the signals then read the requests of the features it
    singles out; nothing the size of the data is ever held in memory. `kinds`: only
    these kinds of finding (`KINDS`), for a caller that needs a few (an alert rule); the same
    findings of those kinds as a full run. `judgments`: the quality judgments of the dataset
    (`Workspace.judgments`), for the quality signals and to weigh the downgrade ones; `trials`:
    the trials table (`tierlens trial`), whose agreement weighs them too.
    """
    cfg = signals or SignalsConfig()
    table = table or PriceTable.load()
    if lf is None:
        assert data_dir is not None, "give data_dir or lf"
        snap = snapshot(data_dir)
        lf, rollup = snap.requests(), snap.rollup()
    sums = rollup if rollup is not None else rollup_of(lf)
    newest: date | None = sums.select(pl.col("date").max()).collect().item()
    if newest is None:
        return Flags(as_of or date.today(), date.today(), date.today(), [], [], cfg)
    as_of = as_of or min(datetime.now(UTC).date(), newest + timedelta(days=1))
    end = as_of - timedelta(days=1)
    start = as_of - timedelta(days=cfg.lookback_days)
    history_start = min(
        start - timedelta(days=7 * cfg.anomaly_weeks), as_of - timedelta(weeks=cfg.growth_weeks)
    )
    in_history = pl.col("date").is_between(history_start, end)
    # the requests keep their logged feature (null: unattributed) so that a filter on one feature
    # reaches the Parquet reader; the signals name the unattributed ones with `_FEATURE`/`_is`
    rows = lf.filter(in_history)
    window = rows.filter(pl.col("date") >= start)
    # request-level signals look at requests only: an aggregate report's row is a bucket of many
    # requests, and re-pricing summed tokens would mis-decide per-request rules (long context)
    requests_only = pl.col("ts_source").fill_null("log") != "bucket_start"
    window_r = window.filter(requests_only)
    wanted = set(KINDS if kinds is None else kinds)
    scale = 30.0 / cfg.lookback_days
    pricing = _Pricing(table, on=end)
    firsts: list[Passes] = []
    if "top_tier_structured" in wanted:
        firsts.append(short_structured_on_top_tier(window_r, cfg, pricing, scale))
    if "batch_candidate" in wanted:
        firsts.append(batch_candidates(window_r, cfg, pricing, scale))
    asks = [next(g) for g in firsts]
    # the first round: the history's cells (what most signals look at first) and the others' stats,
    # one query after another (each holds its own group state; together they would add up)
    cells, *answers = [
        q.collect(engine="streaming")
        for q in [
            daily_cells(sums.filter(in_history).with_columns(_FEATURE)),
            *(q for qs in asks for q in qs),
        ]
    ]
    in_window = cells.filter(~pl.col("bucket") & (pl.col("date") >= start))
    pricing.models = Models.of(in_window)  # every counterfactual re-prices rows of the window
    steps: list[tuple[Passes, list[pl.DataFrame] | None]] = []
    for g, qs in zip(firsts, asks, strict=True):
        steps.append((g, answers[: len(qs)]))
        answers = answers[len(qs) :]
    if "cost_growth" in wanted:
        steps.append((growth(cells.filter(pl.col("date") <= end), rows, as_of, cfg), None))
    if wanted & {"lost_caching", "cost_growth", "missing_caching"}:  # the other two skip what it explains
        steps.append((lost_caching(cells, window_r, start, cfg, pricing, scale), None))
    if "missing_caching" in wanted:
        steps.append((missing_caching(in_window, window_r, cfg, pricing, scale), None))
    if "under_provisioned" in wanted:
        steps.append((under_provisioned(in_window, window_r, cfg, pricing, scale), None))
    if "stale_generation" in wanted:
        steps.append((stale_generation(in_window, window_r, cfg, pricing, scale), None))
    if "newer_mid_tier" in wanted:
        steps.append((newer_mid_tier(window_r, cfg, pricing, scale), None))
    if "mixed_complexity" in wanted:
        steps.append((mixed_complexity(window_r, cfg, pricing, scale), None))
    if "latency_over_depth" in wanted and cfg.user_facing:
        steps.append((latency_over_depth(window_r, cfg, pricing, scale), None))
    found_aliases = (
        unpinned_aliases(in_window, cfg, pricing.catalog, scale) if "unpinned_alias" in wanted else []
    )
    judged = judgments if judgments is not None and not judgments.is_empty() else None
    if judged is not None and wanted & {"quality_shortfall", "quality_complaints"}:
        from tierlens.quality.signals import quality_findings

        steps.append((quality_findings(judged, window_r, cfg, pricing, scale, (start, end)), None))
    found = run_passes(steps) + found_aliases
    if judged is not None:
        from tierlens.quality.signals import weigh_downgrades

        found = weigh_downgrades(found, judged, cfg, (start, end))
    if trials is not None and not trials.is_empty():
        from tierlens.quality.signals import weigh_by_trials

        found = weigh_by_trials(found, trials, cfg)
    # a feature whose caching broke explains its growth, and is no feature that never cached
    explained = {f.feature for f in found if f.kind == "lost_caching"}
    found = [
        f for f in found if f.kind not in ("cost_growth", "missing_caching") or f.feature not in explained
    ]
    daily = cells.group_by("feature", "model_id", "date", "priced").agg(
        pl.col("cost_usd").sum(), pl.col("requests").sum()
    )
    if "anomaly" in wanted:
        found += anomalies(daily, start, end, cfg)
    found = [f for f in found if f.kind in wanted]
    forecasts = forecast(daily, as_of, budgets or [], newest)
    for fc in forecasts if "budget" in wanted else []:
        if fc.get("severity") in ("warning", "critical"):
            found.append(
                Finding(
                    kind="budget",
                    severity=fc["severity"],
                    feature=fc.get("feature"),
                    model=fc.get("model_id"),
                    title=f"budget {fc['name']}: projected {_usd(fc['projected_usd'])} of {_usd(fc['amount'])} "
                    f"({fc['projected_pct']:.0f}%) by {fc['period_end']}",
                    evidence=fc["evidence"],
                    monthly_usd=None,
                    low_usd=fc["low_usd"],
                    high_usd=fc["high_usd"],
                    confidence="medium",
                    basis="modelled",
                    data=fc,
                )
            )
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    found.sort(key=lambda f: (rank[f.severity], -(f.monthly_usd or 0.0), f.kind, f.feature or ""))
    return Flags(
        as_of=as_of, window_start=start, window_end=end, findings=found, forecasts=forecasts, thresholds=cfg
    )


def _num(value: Any) -> float:
    """A polars scalar (sum, mean, median...) as a float; null counts as 0."""
    return float(value) if value is not None else 0.0


def _usd(v: float | None) -> str:
    return money(v, unpriced=True)


def _first(models: list[str | None]) -> str | None:
    """The first model of a feature's sorted model list (a group's `unique().sort()`), if any."""
    return next((m for m in models if m), None)


def _named(models: list[str | None]) -> str:
    """A feature's models as a finding names them."""
    return ", ".join(m for m in models if m)


def _confidence(n: int) -> str:
    return "high" if n >= 500 else "medium" if n >= 100 else "low"


def _severity(monthly: float, cfg: SignalsConfig) -> str:
    return "critical" if monthly >= 100 * cfg.min_monthly_usd else "warning"


# --- cost growing faster than usage -------------------------------------------------------------------


_FEATURE = pl.col("feature").fill_null(UNATTRIBUTED).alias("feature")
"""A request's feature as the signals name it (unattributed ones included)."""


def _is(feature: str) -> pl.Expr:
    """The requests of `feature` (as `_FEATURE` names it), as a filter the Parquet reader applies."""
    return pl.col("feature").is_null() if feature == UNATTRIBUTED else pl.col("feature") == feature


def _among(features: Collection[str]) -> pl.Expr:
    """The requests of any of `features` (as `_FEATURE` names them)."""
    named = [f for f in features if f != UNATTRIBUTED]
    out = pl.col("feature").is_in(named)
    return out | pl.col("feature").is_null() if UNATTRIBUTED in features else out


@dataclass
class _Pricing:
    """The price table and the window's models: what every counterfactual of the signals needs.
    The models are read in the first pass, before any counterfactual is asked."""

    table: PriceTable
    on: date
    """The window's last day: the models current then are the ones recommended."""
    models: Models = field(default_factory=lambda: Models((), ()))
    catalog: ModelCatalog = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = ModelCatalog.of(self.table)

    def cheaper(self, model_id: str | None, tier: str) -> list[str]:
        """The newest current model of each tier below `tier` that tokenizes as `model_id` does
        (so its re-priced tokens are the same tokens), cheapest tier last."""
        return self._stepped(model_id, tier, -1)

    def upgrade(self, model_id: str | None, tier: str) -> str | None:
        """The newest current model of the tier above, tokenizing as `model_id` does."""
        found = self._stepped(model_id, tier, 1)
        return found[0] if found else None

    def _stepped(self, model_id: str | None, tier: str, step: int) -> list[str]:
        source = self.catalog.get(model_id or "")
        tokenizer = source.tokenizer if source else None
        out, at = [], self.catalog.tier_step(tier, step)
        while at is not None:
            found = self.catalog.newest(at, self.on, tokenizer=tokenizer)
            if found is not None:
                out.append(found.model_id)
            at = self.catalog.tier_step(at, step) if step < 0 else None
        return out

    def queries(self, rows: pl.LazyFrame, *counterfactuals: dict[str, pl.Expr | str]) -> list[pl.LazyFrame]:
        """The cost of `rows` under each counterfactual, as one query (read it with `_totals`):
        one pass sums `rows` into the cells all the counterfactuals price (`reprice_query`)."""
        return [reprice_query(rows, self.table, counterfactuals, self.models)]


# A signal is a generator of passes: it yields the queries it needs next, receives their results
# (in order), and finally returns its findings. `run_passes` runs all signals side by side: a
# signal asks for everything it needs in a round at once (every feature's counterfactuals), and
# each query streams over the rows it needs, holding only its aggregates.
Passes = Generator[list[pl.LazyFrame], list[pl.DataFrame], list["Finding"]]


def run_passes(steps: list[tuple[Passes, list[pl.DataFrame] | None]]) -> list[Finding]:
    """Drive `steps` (each with the answer to send it first; None to start it) to their findings,
    round by round."""
    found: list[Finding] = []
    gens = [g for g, _ in steps]
    asks: dict[int, list[pl.LazyFrame]] = {}
    for i, (gen, answer) in enumerate(steps):
        _advance(gen, answer, i, asks, found)
    while asks:
        # one query at a time: collected together, queries over the same rows would share one
        # scan, but polars holds those rows in memory to share them (gigabytes at 100M requests)
        got = iter([q.collect(engine="streaming") for qs in asks.values() for q in qs])
        current, asks = asks, {}
        for i, qs in current.items():
            _advance(gens[i], [next(got) for _ in qs], i, asks, found)
    return found


def _advance(
    gen: Passes,
    answer: list[pl.DataFrame] | None,
    i: int,
    asks: dict[int, list[pl.LazyFrame]],
    found: list[Finding],
) -> None:
    try:
        asks[i] = gen.send(answer)  # type: ignore[arg-type]  # send(None) starts a generator
    except StopIteration as done:
        found += done.value


def _totals(result: pl.DataFrame) -> list[float]:
    """The totals of one `_Pricing.queries` result, in the order of its counterfactuals."""
    return [float(result[c][0] or 0.0) for c in result.columns if c.startswith("total_")]


def daily_spend(rows: pl.LazyFrame) -> pl.DataFrame:
    """Cost and requests per feature, model, day and priced-or-not: what anomalies and forecasts
    read (`rows`: requests or their rollup)."""
    return (
        rows.group_by("feature", "model_id", "date", "priced")
        .agg(cost_usd=pl.col("cost_usd").sum(), requests=pl.col("requests").sum())
        .collect(engine="streaming")
    )


def daily_cells(rollup: pl.LazyFrame) -> pl.LazyFrame:
    """Per feature, model, day, priced-or-not and request-or-bucket row: the sums each signal looks
    at first (spend, requests, prompt and cache tokens, cut answers, errors), from the history's
    daily rollup. A signal then reads requests only for the few features these sums single out."""
    return rollup.group_by("feature", "model", "model_id", "tier", "date", "priced", "bucket").agg(
        requests=pl.col("requests").sum(),
        n=pl.col("rows").sum(),
        cost_usd=pl.col("cost_usd").sum(),
        cache_read=pl.col("cache_read_tokens").sum(),
        prompt=_PROMPT.sum(),
        cached=(
            pl.col("cache_read_tokens") + pl.col("cache_write_5m_tokens") + pl.col("cache_write_1h_tokens")
        ).sum(),
        cut=pl.col("max_tokens_requests").sum(),
        errors=pl.col("error_requests").sum(),
        **{c: pl.col(c).sum() for c in (*TOKEN_COUNTS, "web_search_requests")},
    )


def growth(cells: pl.DataFrame, rows: pl.LazyFrame, as_of: date, cfg: SignalsConfig) -> Passes:
    """Cost per request rising: the first two of `growth_weeks` complete weeks against the last two.
    Requests and spend come from the history's cells; active users (for the evidence) are read
    from the requests of the features that rose."""
    last_monday = as_of - timedelta(days=as_of.weekday())
    first = last_monday - timedelta(weeks=cfg.growth_weeks)
    early = (first, first + timedelta(days=13))
    late = (last_monday - timedelta(days=14), last_monday - timedelta(days=1))
    priced = cells.filter(pl.col("priced"))

    def part(lo: date, hi: date) -> pl.DataFrame:
        return (
            priced.filter(pl.col("date").is_between(lo, hi))
            .group_by("feature")
            .agg(n=pl.col("requests").sum(), cost=pl.col("cost_usd").sum())
        )

    both = part(*early).join(part(*late), on="feature", suffix="_late")
    rising = both.filter(
        (pl.col("n") > 0)
        & (pl.col("n_late") > 0)
        & (pl.col("cost") != 0)
        & ((pl.col("cost_late") / pl.col("n_late")) / (pl.col("cost") / pl.col("n")) >= cfg.growth_min_ratio)
    )
    if rising.is_empty():
        return []

    def active(lo: date, hi: date) -> pl.LazyFrame:
        return (
            rows.filter(
                pl.col("priced") & pl.col("date").is_between(lo, hi) & _among(rising["feature"].to_list())
            )
            .group_by(_FEATURE)
            .agg(users=pl.col("user_id").n_unique())
        )

    [seen] = yield [
        active(*early).join(active(*late), on="feature", how="full", coalesce=True, suffix="_late")
    ]
    both = rising.join(seen, on="feature", how="left").with_columns(
        pl.col("users", "users_late").fill_null(0)
    )
    out = []
    for r in both.iter_rows(named=True):
        if not r["n"] or not r["n_late"] or not r["cost"]:
            continue
        cpr0, cpr1 = r["cost"] / r["n"], r["cost_late"] / r["n_late"]
        ratio = cpr1 / cpr0
        if ratio < cfg.growth_min_ratio:
            continue
        monthly_requests = r["n_late"] / 14 * 30
        excess = (cpr1 - cpr0) * monthly_requests
        if excess < cfg.min_monthly_usd:
            continue
        users = f", active users x{r['users_late'] / r['users']:.2f}" if r["users"] else ""
        out.append(
            Finding(
                kind="cost_growth",
                severity=_severity(excess, cfg),
                feature=r["feature"],
                model=None,
                title=f"{r['feature']}: cost per request x{ratio:.1f} in {cfg.growth_weeks} weeks while requests x{r['n_late'] / r['n']:.2f}",
                evidence=(
                    f"{early[0]}..{early[1]}: {r['n']:,} requests, {_usd(r['cost'])} ({_usd(cpr0)}/request); "
                    f"{late[0]}..{late[1]}: {r['n_late']:,} requests, {_usd(r['cost_late'])} ({_usd(cpr1)}/request)"
                    f"; cost x{r['cost_late'] / r['cost']:.2f}{users}"
                ),
                monthly_usd=excess,
                low_usd=0.5 * excess,
                high_usd=excess,
                confidence=_confidence(min(r["n"], r["n_late"])),
                basis="modelled",
                data={"cost_per_request_before": cpr0, "cost_per_request_now": cpr1, "ratio": ratio},
            )
        )
    return out


# --- short structured queries on the top tier ----------------------------------------------------


def short_structured_on_top_tier(
    window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float
) -> Passes:
    """Opus calls that look like classification: short prompt, short structured answer."""
    short = (
        pl.col("structured_output")
        & (cfg.structured_max_prompt >= _PROMPT)
        & (pl.col("output_tokens") <= cfg.structured_max_output)
    )
    top = window.filter((pl.col("tier") == TOP_TIER) & pl.col("priced")).with_columns(_short=short)
    [stats] = yield [
        top.group_by(_FEATURE)
        .agg(
            calls=pl.len(),
            hits=pl.col("_short").sum(),
            cost=pl.col("cost_usd").filter(pl.col("_short")).sum(),
            prompt=_PROMPT.filter(pl.col("_short")).median(),
            output=pl.col("output_tokens").filter(pl.col("_short")).median(),
            models=pl.col("model_id").filter(pl.col("_short")).unique().sort(),
        )
        .filter((pl.col("hits") > 0) & (pl.col("hits") / pl.col("calls") >= cfg.structured_min_share))
    ]
    stats = stats.sort("feature")
    zero = pl.lit(0, pl.Int64)
    cold_cache: dict[str, pl.Expr | str] = {
        "input_tokens": _PROMPT,
        "cache_read_tokens": zero,
        "cache_write_5m_tokens": zero,
        "cache_write_1h_tokens": zero,
    }
    # per feature: the newest model of each lower tier that tokenizes as its own model does
    targets = {
        r["feature"]: pricing.cheaper(_first(r["models"]), TOP_TIER) for r in stats.iter_rows(named=True)
    }
    stats = stats.filter(pl.col("feature").is_in([f for f, t in targets.items() if t]))

    def each(feature: str) -> list[dict[str, pl.Expr | str]]:
        out: list[dict[str, pl.Expr | str]] = []
        for t in targets[feature]:
            out += [{"model_id": t}, {**cold_cache, "model_id": t}]
        return out

    got = yield [
        q
        for feature in stats["feature"]
        for q in pricing.queries(top.filter(_is(feature) & pl.col("_short")), *each(feature))
    ]
    out = []
    for i, r in enumerate(stats.iter_rows(named=True)):
        feature, share, cost = r["feature"], r["hits"] / r["calls"], float(r["cost"])
        totals = _totals(got[i])
        alternatives = {t: (totals[2 * j], totals[2 * j + 1]) for j, t in enumerate(targets[feature])}
        best = min(alternatives, key=lambda t: max(alternatives[t]))
        kept, cold = alternatives[best]
        high, low = (cost - min(kept, cold)) * scale, (cost - max(kept, cold)) * scale
        if high < cfg.min_monthly_usd:
            continue
        others = "; ".join(
            f"on {t}: {money_range(a[0] * scale, a[1] * scale)}/month" for t, a in alternatives.items()
        )
        out.append(
            Finding(
                kind="top_tier_structured",
                severity=_severity(high, cfg),
                feature=str(feature),
                model=_named(r["models"]),
                title=f"{feature}: {100 * share:.0f}% of its {TOP_TIER} calls are short structured answers; {best} would do",
                evidence=(
                    f"{r['hits']:,} of {r['calls']:,} calls in the window: prompt <= {cfg.structured_max_prompt:,} "
                    f"tokens (median {int(r['prompt']):,}), output <= {cfg.structured_max_output} "
                    f"(median {int(_num(r['output']))}), tool use or JSON; now {_usd(cost * scale)}/month; {others}"
                ),
                monthly_usd=high,
                low_usd=max(low, 0.0),
                high_usd=high,
                confidence="medium",
                basis="modelled",
                data={"share": share, "requests": r["hits"], "target": best},
            )
        )
    return out


# --- prompt caching ------------------------------------------------------------------------------------


def _shares(cells: pl.DataFrame, *keys: str) -> pl.DataFrame:
    """Cache-read share of the prompt per feature (and `keys`), with the rows and spend behind it."""
    return (
        cells.group_by("feature", *keys)
        .agg(
            share=pl.col("cache_read").sum() / pl.col("prompt").sum(),
            n=pl.col("n").sum(),
            cost=pl.col("cost_usd").sum(),
        )
        .drop_nulls("share")
    )


def _with_share(share: float) -> dict[str, pl.Expr | str]:
    """The counterfactual where `share` of each prompt had been read from the cache."""
    wanted = (_PROMPT.cast(pl.Float64) * share).floor().cast(pl.Int64)
    movable = pl.min_horizontal(
        pl.max_horizontal(wanted - pl.col("cache_read_tokens"), pl.lit(0)), pl.col("input_tokens")
    )
    return {
        "input_tokens": pl.col("input_tokens") - movable,
        "cache_read_tokens": pl.col("cache_read_tokens") + movable,
    }


def lost_caching(
    cells: pl.DataFrame,
    window: pl.LazyFrame,
    start: date,
    cfg: SignalsConfig,
    pricing: _Pricing,
    scale: float,
) -> Passes:
    """A feature whose cache-read share fell well below what it used to read."""
    requests = cells.filter(~pl.col("bucket"))
    priced = requests.filter(pl.col("priced"))
    before = priced.filter(pl.col("date") < start)
    weekly = _shares(before.with_columns(week=pl.col("date").dt.truncate("1w")), "week")
    best: dict[str, tuple[float, date]] = {}
    for feat, week, share in weekly.sort("week", "feature").select("feature", "week", "share").iter_rows():
        if share > best.get(feat, (0.0, week))[0]:
            best[feat] = (share, week)
    now = {r["feature"]: r for r in _shares(priced.filter(pl.col("date") >= start)).iter_rows(named=True)}
    fallen = [
        (feat, share, week, now[feat]["share"])
        for feat, (share, week) in sorted(best.items())
        if feat in now
        and share >= cfg.cache_min_best_share
        and now[feat]["share"] < share * cfg.cache_drop_factor
    ]
    got = yield [
        q
        for feat, share, _, _ in fallen
        for q in pricing.queries(
            window.filter(_is(feat) & pl.col("priced")),
            _with_share(share),
            _with_share(share / 2),
        )
    ]
    out = []
    for i, (feat, share, week, current) in enumerate(fallen):
        n, cost = int(now[feat]["n"]), float(now[feat]["cost"] or 0.0)
        at_share, at_half = _totals(got[i])
        high, low = (cost - at_share) * scale, (cost - at_half) * scale
        if high < cfg.min_monthly_usd:
            continue
        fell = _first_low_day(requests, feat, share * cfg.cache_drop_factor)
        out.append(
            Finding(
                kind="lost_caching",
                severity=_severity(high, cfg),
                feature=feat,
                model=None,
                title=f"{feat}: prompt caching stopped working (cache reads {100 * share:.0f}% of the prompt -> {100 * current:.0f}%)",
                evidence=(
                    f"best week {week}: {100 * share:.0f}% of prompt tokens read from cache; last {cfg.lookback_days} days: "
                    f"{100 * current:.0f}%"
                    + (f"; the drop starts on {fell}" if fell else "")
                    + f"; the window cost {_usd(cost)} over {n:,} requests"
                ),
                monthly_usd=high,
                low_usd=max(low, 0.0),
                high_usd=high,
                confidence=_confidence(n),
                basis="modelled",
                data={"best_share": share, "current_share": current, "since": str(fell) if fell else None},
            )
        )
    return out


def _first_low_day(cells: pl.DataFrame, feature: str, below: float) -> date | None:
    daily = (
        cells.filter(pl.col("feature") == feature)
        .group_by("date")
        .agg(share=pl.col("cache_read").sum() / pl.col("prompt").sum())
        .sort("date")
    )
    high = daily.filter(pl.col("share") >= below)
    if high.is_empty():
        return None
    after = daily.filter((pl.col("date") > high["date"].max()) & (pl.col("share") < below))
    return after["date"].min() if after.height else None  # type: ignore[return-value]


def missing_caching(
    cells: pl.DataFrame, window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float
) -> Passes:
    """Large prompts, never cached: if even the smallest prompts share a prefix, caching it would pay."""
    never = (
        cells.filter(pl.col("priced"))
        .group_by("feature")
        .agg(n=pl.col("requests").sum(), cached=pl.col("cached").sum(), cost=pl.col("cost_usd").sum())
        .filter((pl.col("cached") == 0) & (pl.col("n") * scale >= cfg.missing_cache_min_requests))
    )
    if never.is_empty():  # the prompt sizes are read only for features that never cache
        return []
    [p10] = yield [
        window.filter(pl.col("priced") & _among(never["feature"].to_list()))
        .group_by(_FEATURE)
        .agg(p10=_PROMPT.quantile(0.1))
    ]
    stats = (
        never.join(p10, on="feature").filter(pl.col("p10") >= cfg.missing_cache_min_prefix).sort("feature")
    )

    def moved(tokens: int) -> dict[str, pl.Expr | str]:
        move = pl.min_horizontal(pl.lit(tokens), pl.col("input_tokens"))
        return {
            "input_tokens": pl.col("input_tokens") - move,
            "cache_read_tokens": pl.col("cache_read_tokens") + move,
        }

    got = yield [
        q
        for r in stats.iter_rows(named=True)
        for q in pricing.queries(
            window.filter(_is(r["feature"]) & pl.col("priced")),
            moved(int(r["p10"])),
            moved(int(r["p10"]) // 2),
        )
    ]
    out = []
    for i, r in enumerate(stats.iter_rows(named=True)):
        prefix = int(r["p10"])
        cost = float(r["cost"] or 0.0)
        at_prefix, at_half = _totals(got[i])
        high, low = (cost - at_prefix) * scale, (cost - at_half) * scale
        if high < cfg.min_monthly_usd:
            continue
        out.append(
            Finding(
                kind="missing_caching",
                severity="warning",
                feature=r["feature"],
                model=None,
                title=f"{r['feature']}: large prompts are never cached",
                evidence=f"{r['n']:,} requests without any cache read or write; 90% of prompts exceed {prefix:,} tokens",
                monthly_usd=high,
                low_usd=low,
                high_usd=high,
                confidence="low",
                basis="speculative",
                data={"prefix_tokens": prefix},
            )
        )
    return out


# --- batch candidates ------------------------------------------------------------------------------


def batch_candidates(window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float) -> Passes:
    """Standard-tier features that run when nobody waits (night hours): the Batches API halves them."""
    lo, hi = cfg.night_hours
    std = window.filter((pl.col("service_tier") != "batch") & pl.col("priced"))
    # first sums only (they stream in bounded memory); the medians and model lists are read
    # for the few features that run at night, over their rows alone
    [stats] = yield [
        std.group_by(_FEATURE)
        .agg(
            night=pl.col("ts").dt.hour().is_between(lo, hi - 1).sum() / pl.col("ts").is_not_null().sum(),
            n=pl.len(),
            cost=pl.col("cost_usd").sum(),
        )
        .filter(pl.col("night") >= cfg.batch_min_night_share)
    ]
    stats = stats.sort("feature")
    features = stats["feature"].to_list()
    details, *got = yield [
        std.filter(_among(features))
        .group_by(_FEATURE)
        .agg(latency=pl.col("latency_ms").median(), models=pl.col("model_id").unique().sort()),
        *(q for f in features for q in pricing.queries(std.filter(_is(f)), {"service_tier": "batch"})),
    ]
    stats = stats.join(details, on="feature", how="left")
    out = []
    for r, batched in zip(stats.iter_rows(named=True), [_totals(g)[0] for g in got], strict=True):
        feature, night, cost = r["feature"], _num(r["night"]), float(r["cost"] or 0.0)
        saving = (cost - batched) * scale
        if saving < cfg.min_monthly_usd:
            continue
        latency = _num(r["latency"]) if r["latency"] is not None else None
        out.append(
            Finding(
                kind="batch_candidate",
                severity=_severity(saving, cfg),
                feature=str(feature),
                model=_named(r["models"]),
                title=f"{feature}: runs at night at standard prices; the Batches API would halve it",
                evidence=(
                    f"{100 * night:.0f}% of {r['n']:,} standard-tier requests between {lo:02d}:00 and {hi:02d}:00 UTC"
                    + (f", median latency {latency / 1000:.1f}s" if latency is not None else "")
                    + f"; {_usd(cost * scale)}/month now"
                ),
                monthly_usd=saving,
                low_usd=saving * night,
                high_usd=saving,
                confidence="high" if night >= 0.95 else "medium",
                basis="exact",
                data={"night_share": night},
            )
        )
    return out


# --- under-provisioning ------------------------------------------------------------------------------


def under_provisioned(
    cells: pl.DataFrame, window: pl.LazyFrame, cfg: SignalsConfig, pricing: _Pricing, scale: float
) -> Passes:
    """Lower tiers that cut answers at max_tokens or fail often: candidates for an upgrade."""
    tiers = pl.col("tier").is_in([t for t in ("haiku", "sonnet") if pricing.catalog.tier_step(t, 1)])
    failing = (pl.col("stop_reason") == "max_tokens") | (pl.col("status") == "error")
    stats = (
        cells.filter(tiers)
        .group_by("feature", "model_id", "tier")
        .agg(n=pl.col("requests").sum(), cut=pl.col("cut").sum(), errors=pl.col("errors").sum())
        .filter(pl.col("n") >= 100)
        .filter(
            (pl.col("cut") / pl.col("n") >= cfg.max_tokens_rate)
            | (pl.col("errors") / pl.col("n") >= cfg.error_rate)
        )
    )
    upgrades = {
        (f, m): pricing.upgrade(m, t) for f, m, t in stats.select("feature", "model_id", "tier").iter_rows()
    }
    stats = stats.filter(
        pl.struct("feature", "model_id").is_in(
            [{"feature": f, "model_id": m} for (f, m), u in upgrades.items() if u]
        )
    )
    lower = window.filter(tiers)
    targets = {m: u for (_, m), u in upgrades.items() if u is not None}
    got = yield _upgrade_costs(lower.filter(failing), stats.select("feature", "model_id"), pricing, targets)
    extra = {(f, m): float(c or 0.0) for f, m, c in got[0].iter_rows()} if got else {}
    out = []
    for r in stats.sort("feature", "model_id").iter_rows(named=True):
        cut_rate, err_rate = r["cut"] / r["n"], r["errors"] / r["n"]
        target = targets[r["model_id"]]
        upgrade = extra.get((r["feature"], r["model_id"]), 0.0) * scale
        why = []
        if cut_rate >= cfg.max_tokens_rate:
            why.append(f"{100 * cut_rate:.1f}% of answers cut at max_tokens")
        if err_rate >= cfg.error_rate:
            why.append(f"{100 * err_rate:.1f}% errors")
        out.append(
            Finding(
                kind="under_provisioned",
                severity="info",
                feature=r["feature"],
                model=r["model_id"],
                title=f"{r['feature']} on {r['model_id']}: {' and '.join(why)}; consider {target} or a larger max_tokens",
                evidence=f"{r['n']:,} requests in the window; {r['cut']:,} hit max_tokens, {r['errors']:,} errors",
                monthly_usd=None,
                low_usd=None,
                high_usd=upgrade,
                confidence=_confidence(r["n"]),
                basis="modelled",
                data={
                    "max_tokens_rate": cut_rate,
                    "error_rate": err_rate,
                    "upgrade_to": target,
                    "upgrade_monthly_usd": upgrade,
                },
            )
        )
    return out


def _upgrade_costs(
    failing: pl.LazyFrame, flagged: pl.DataFrame, pricing: _Pricing, targets: dict[str, str]
) -> list[pl.LazyFrame]:
    """What upgrading each flagged (feature, model)'s failing requests to `targets[model]` would
    add (one query over those requests only: feature, model, change; none when nothing is flagged)."""
    if flagged.is_empty():
        return []
    rows = (
        failing.filter(_among(flagged["feature"].unique().to_list()))  # read in the Parquet reader
        .with_columns(_FEATURE)
        .join(flagged.lazy(), on=["feature", "model_id"], how="semi")
        .with_columns(_orig_model=pl.col("model_id"))
    )
    upgraded = {"model_id": pl.col("model_id").replace_strict(targets, default=None, return_dtype=pl.String)}
    new_models = tuple(sorted(set(targets.values())))
    return [
        reprice_query(
            rows,
            pricing.table,
            [upgraded],
            pricing.models,
            by=("feature", "_orig_model"),
            new_models=Models(new_models, new_models),
        ).select("feature", "_orig_model", change=pl.col("change_0"))
    ]


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


# --- anomalies -------------------------------------------------------------------------------------------


def daily_baseline(daily: pl.DataFrame, keys: list[str], weeks: int) -> pl.DataFrame:
    """Daily cost per series on a full calendar, with a level-adjusted same-weekday baseline.

    baseline = median of the same weekday over the previous `weeks` weeks, times the series' level:
    the last 7 days' spend over the average week before them (clipped to [0.5, 2]). The level
    follows steady growth, so a trend is not an anomaly, while a one-day spike does not move it.
    `mad` is the median absolute deviation of those same-weekday values, scaled the same way.
    `daily` is `daily_spend` (or any frame with `keys`, date, priced, cost_usd and requests).
    """
    daily = (
        daily.filter(pl.col("priced"))
        .group_by(*keys, "date")
        .agg(cost=pl.col("cost_usd").sum(), n=pl.col("requests").sum())
    )
    if daily.is_empty():
        return daily
    days = pl.DataFrame({"date": pl.date_range(daily["date"].min(), daily["date"].max(), "1d", eager=True)})  # type: ignore[arg-type]
    grid = daily.select(keys).unique().join(days, how="cross")
    full = (
        grid.join(daily, on=[*keys, "date"], how="left")
        .with_columns(pl.col("cost", "n").fill_null(0))
        .sort(*keys, "date")
    )
    lags = [pl.col("cost").shift(7 * k).over(keys) for k in range(1, weeks + 1)]
    hist = pl.concat_list(lags)
    full = full.with_columns(_hist=hist, _seen=pl.col("n").shift(7).over(keys).is_not_null())
    last_week = pl.col("cost").rolling_sum(7).shift(1).over(keys)
    weeks_before = pl.col("cost").rolling_sum(7 * weeks).shift(8).over(keys) / weeks
    level = (last_week / weeks_before).fill_nan(1.0).fill_null(1.0).clip(0.5, 2.0)
    full = full.with_columns(_level=pl.when(weeks_before > 0).then(level).otherwise(1.0))
    return full.with_columns(
        baseline=pl.col("_hist").list.median() * pl.col("_level"),
        mad=pl.col("_hist").list.eval((pl.element() - pl.element().median()).abs()).list.median()
        * pl.col("_level"),
        history=pl.col("_hist").list.eval(pl.element().filter(pl.element() > 0)).list.len(),
    ).drop("_hist", "_seen", "_level")


def anomalies(daily: pl.DataFrame, start: date, end: date, cfg: SignalsConfig) -> list[Finding]:
    """Daily spend per feature and model far above its same-weekday median, in $ and in %."""
    keys = ["feature", "model_id"]
    full = daily_baseline(daily, keys, cfg.anomaly_weeks)
    if full.is_empty():
        return []
    spread = pl.max_horizontal(1.4826 * pl.col("mad"), 0.1 * pl.col("baseline"), pl.lit(0.01))
    hits = full.filter(
        pl.col("date").is_between(start, end)
        & (pl.col("history") >= cfg.anomaly_weeks)
        & (pl.col("baseline") > 0)
        & (pl.col("cost") - pl.col("baseline") >= cfg.anomaly_z * spread)
        & (pl.col("cost") - pl.col("baseline") >= cfg.anomaly_min_usd)
        & (100 * (pl.col("cost") - pl.col("baseline")) / pl.col("baseline") >= cfg.anomaly_min_pct)
    )
    out = []
    for r in hits.sort("date").iter_rows(named=True):
        excess = r["cost"] - r["baseline"]
        day = r["date"]
        out.append(
            Finding(
                kind="anomaly",
                severity="warning",
                feature=r["feature"],
                model=r["model_id"],
                title=f"{r['feature']} on {r['model_id']}: {_usd(r['cost'])} on {day} ({day:%a}), x{r['cost'] / r['baseline']:.1f} the usual {_usd(r['baseline'])}",
                evidence=(
                    f"{r['n']:,} requests that day; expected {_usd(r['baseline'])} (median of the previous {cfg.anomaly_weeks} {day:%A}s, level-adjusted), "
                    f"robust spread {_usd(1.4826 * r['mad'])}; excess {_usd(excess)}"
                ),
                monthly_usd=None,
                low_usd=excess,
                high_usd=excess,
                confidence="high",
                basis="exact",
                data={"date": str(day), "cost": r["cost"], "baseline": r["baseline"], "excess_usd": excess},
            )
        )
    return out


# --- forecasts -----------------------------------------------------------------------------------------


def _period_bounds(day: date, period: str) -> tuple[date, date]:
    if period == "day":
        return day, day
    if period == "week":
        s = day - timedelta(days=day.weekday())
        return s, s + timedelta(days=6)
    s = day.replace(day=1)
    nxt = (s + timedelta(days=32)).replace(day=1)
    return s, nxt - timedelta(days=1)


def forecast(
    daily: pl.DataFrame, as_of: date, budgets: list[BudgetConfig], newest: date
) -> list[dict[str, Any]]:
    """Where each budget's current period will end: spend so far + the same-weekday median for each day left.

    The period is the one containing the last full day before `as_of`; it resets at its start.
    Days after the newest data and before `as_of` are projected too (and said so). `daily` is
    `daily_spend` of the days before `as_of` (at least the last four weeks and the period).
    """
    wanted = budgets or [BudgetConfig(name="total", amount=1e18, period="month")]
    out = []
    for b in wanted:
        scoped = daily
        if b.feature:
            scoped = scoped.filter(pl.col("feature") == b.feature)
        if b.model_id:
            scoped = scoped.filter(pl.col("model_id") == b.model_id)
        last_day = as_of - timedelta(days=1)
        p_start, p_end = _period_bounds(last_day, b.period)
        spent = float(
            scoped.filter(pl.col("date").is_between(p_start, min(newest, p_end)))["cost_usd"].sum() or 0.0
        )
        daily = daily_baseline(scoped.with_columns(_all=pl.lit("all")), ["_all"], 4)
        per_weekday: dict[int, tuple[float, float, float]] = {}
        if not daily.is_empty():
            recent = daily.filter(pl.col("date") > newest - timedelta(days=28))
            for wd in range(7):
                vals = recent.filter(pl.col("date").dt.weekday() == wd + 1)["cost"]
                if vals.len():
                    per_weekday[wd] = (
                        _num(vals.median()),
                        _num(vals.min()),
                        _num(vals.max()),
                    )
        left = (
            [newest + timedelta(days=i) for i in range(1, (p_end - newest).days + 1)]
            if newest < p_end
            else []
        )
        mid = sum(per_weekday.get(d.weekday(), (0, 0, 0))[0] for d in left)
        low = sum(per_weekday.get(d.weekday(), (0, 0, 0))[1] for d in left)
        high = sum(per_weekday.get(d.weekday(), (0, 0, 0))[2] for d in left)
        projected = spent + mid
        real = budgets != []
        pct = 100 * projected / b.amount if real else None
        severity = None
        if real and pct is not None:
            severity = (
                "critical"
                if spent >= b.amount
                else "warning"
                if pct >= 100
                else "info"
                if pct >= 80
                else None
            )
        out.append(
            {
                "name": b.name,
                "period": b.period,
                "period_start": str(p_start),
                "period_end": str(p_end),
                "feature": b.feature,
                "model_id": b.model_id,
                "amount": b.amount if real else None,
                "spent_usd": spent,
                "projected_usd": projected,
                "low_usd": spent + low,
                "high_usd": spent + high,
                "projected_pct": pct,
                "days_left": len(left),
                "data_until": str(newest),
                "severity": severity,
                "evidence": (
                    f"{_usd(spent)} spent {p_start}..{min(newest, p_end)}; {len(left)} day(s) projected from the median of the "
                    f"same weekday over the last 4 weeks (range {_usd(spent + low)}..{_usd(spent + high)})"
                    + (f"; no data after {newest}" if newest < last_day else "")
                ),
            }
        )
    return out


SIGNAL_DOCS = {
    "cost_growth": "Cost per request of a feature rose by `growth_min_ratio` or more between the first and last two "
    "of `growth_weeks` weeks, more than its requests and active users explain. Waste: the extra cost per request "
    "times this month's requests (low: half of it, since some growth may be wanted).",
    "top_tier_structured": "Most of a feature's Opus calls are short (`structured_max_prompt`, "
    "`structured_max_output`) tool-use or JSON answers: classification that a smaller model does. Waste: the same "
    "calls re-priced on Sonnet and Haiku, with the cache kept (high) and cold (low): a cached Opus token can cost "
    "less than an uncached Haiku one.",
    "lost_caching": "A feature once read `cache_min_best_share` or more of its prompt from the cache and now reads "
    "less than `cache_drop_factor` of that. Waste: this window re-priced with the old share (high) or half of it (low).",
    "missing_caching": "Large prompts (the smallest 10% above `missing_cache_min_prefix` tokens) on a busy feature, "
    "never cached. Speculative: we cannot see the prompt text, only that a shared prefix is likely.",
    "batch_candidate": "A standard-tier feature whose requests run at night (`night_hours`) at least "
    "`batch_min_night_share` of the time: nobody waits for it. Saving: the same requests at batch prices (exact).",
    "under_provisioned": "A Haiku or Sonnet feature whose answers hit max_tokens (`max_tokens_rate`) or fail "
    "(`error_rate`): an upgrade candidate; the figure is what the upgrade would add.",
    "stale_generation": "A feature on an older generation of its tier while a newer current model of the tier "
    "(`pricing/data/models.csv`, `[[pricing.lifecycle]]`) costs at least `stale_min_saving_share` less: its "
    "requests re-priced on each newer model (exact within one tokenizer; across tokenizers at the ratio's P10..P90, "
    "the replay's default). A model past its deprecation or retirement date is critical whatever the saving. "
    "Recommendations of the other signals come from the same table: the newest current model of the tier below "
    "or above that tokenizes alike.",
    "newer_mid_tier": "A top-tier feature (at least 100 requests, not mostly short structured calls) whose prompts and "
    "outputs at `mid_tier_shape_quantile` are no larger than the mid tier's own in the same data: the newest current "
    "mid-tier model may do it. Priced with the replay's uncalibrated output-ratio prior and, across tokenizers, the "
    "tokenizer ratio, P10..P90 together (a wide range on purpose); flagged at `mid_tier_min_saving_share`. "
    "Modelled: the data cannot show the quality; `tierlens replay` and a trial can.",
    "mixed_complexity": "An Opus or Sonnet feature (200+ requests) where `mixed_small_share` of the requests are "
    "answered in at most `mixed_small_output` tokens and its P90 answer is `mixed_large_factor` times that: a "
    "multi-model cascade candidate. Every request pays an attempt on the newest model one tier down that tokenizes "
    "alike; the long ones and an escalated share of the simple ones also pay the current model. Says the break-even "
    "escalation rate; the range is the replay's escalation prior (10-30%). Speculative: which requests the cheaper "
    "model fails is not in the logs.",
    "latency_over_depth": "A feature of `user_facing` on Opus or Sonnet whose P95 latency is above `latency_p95_ms` "
    "while 90% of its answers are at most `latency_max_output` tokens: speed matters more than depth there. The "
    "saving is its requests re-priced on the newest model one tier down that tokenizes alike (low: none, since the "
    "point is the wait). Off until `user_facing` names features.",
    "unpinned_alias": "At least `alias_min_requests` requests of a feature in the window name an alias "
    "(`claude-sonnet-4-5`, any `-latest`) rather than the dated snapshot it points to (`models.csv`'s `snapshot`): "
    "the model behind an alias can change under the feature. No dollar figure: the risk is to answers and budgets.",
    "quality_shortfall": "Quality judgments (`ingest --quality`) of a feature score below `quality_min_score` of "
    "their scale on its hardest inputs (the judged requests whose prompt is in the top `quality_hard_quantile`; all "
    "of them when the judgments are a feature's period rows), over `quality_min_judgments` judgments or more: an "
    "upgrade candidate. The figure is what those requests would add on the newest model one tier up that tokenizes "
    "alike (every request of them when the judgments name none).",
    "quality_complaints": "A feature's escalation or thumbs-down rate (a `bad` metric, or 1 minus a `good` one) is "
    "above `quality_max_bad_rate` over `quality_min_judgments` judgments: the tier guides' upgrade sign. The figure "
    "is what the feature would add one tier up. Judgments also weigh the downgrade findings: when the recommended "
    "model's judgments on the same feature are within `quality_match_tolerance` of the current model's, the "
    "finding's confidence is high; when they are lower, it is low; the evidence names the judgments.",
    "anomaly": "Daily spend per feature and model above the same-weekday median of the previous `anomaly_weeks` "
    "weeks (scaled by the recent level, so steady growth is not an anomaly) by `anomaly_z` robust deviations, "
    "`anomaly_min_usd` dollars and `anomaly_min_pct` percent, all three.",
    "budget": "The current period of each `[[budgets]]` entry projected to its end from the same-weekday medians of "
    "the last four weeks; warning at 100% projected, critical once spent.",
}


def signals_markdown() -> str:
    """docs/signals.md: what each signal means and every threshold with its default and reason."""
    lines = [
        "# Signals and their thresholds",
        "",
        "Generated from `src/tierlens/signals.py` and `SignalsConfig` by `python -m tierlens.signals`; do not edit.",
        "Set any threshold under `[signals]` in tierlens.toml (or `TIERLENS_SIGNALS__<NAME>`).",
        "",
        "## Signals",
        "",
    ]
    lines += [f"- **{kind}**: {text}" for kind, text in SIGNAL_DOCS.items()]
    lines += ["", "## Thresholds", "", "| setting | default | why |", "|---|---|---|"]
    for name, info in SignalsConfig.model_fields.items():
        lines.append(f"| `{name}` | `{info.default}` | {(info.description or '').strip()} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(signals_markdown(), end="")
