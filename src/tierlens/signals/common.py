"""What every signal shares: the window's pricing (`_Pricing`: the price table, the window's models and the
model catalog), the passes machinery (`Passes`, `run_passes`), the daily cells, and small formatting helpers."""

from __future__ import annotations

from collections.abc import Collection, Generator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from tierlens.config import SignalsConfig
from tierlens.pricing import PriceTable
from tierlens.pricing.catalog import ModelCatalog
from tierlens.pricing.engine import Models, reprice_query
from tierlens.render import money
from tierlens.schema import UNATTRIBUTED, prompt_tokens
from tierlens.signals.finding import Confidence, Finding, Severity
from tierlens.summary import named

TOP_TIER = "opus"
TOKEN_COUNTS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)
_PROMPT = prompt_tokens()


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


def _confidence(n: int) -> Confidence:
    return "high" if n >= 500 else "medium" if n >= 100 else "low"


def _severity(monthly: float, cfg: SignalsConfig) -> Severity:
    return "critical" if monthly >= 100 * cfg.min_monthly_usd else "warning"


# --- the rows the signals read ------------------------------------------------------------------------


_FEATURE = named("feature")
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
Step = tuple[Passes, list[pl.DataFrame] | None]
"""A signal and the answer to send it first (None to start it)."""


def run_passes(steps: list[Step]) -> list[Finding]:
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
