"""The vectorized pricer: canonical usage columns in, canonical cost columns out.

Rules (see docs/pricing.md, which cites the provider pages each comes from):
- token categories are billed separately; `input_tokens` excludes cache tokens;
- long context: when input + cache read + cache writes > the model's threshold (200,000), and
  the model has long-context rates in force on the request date, EVERY category uses them;
- batch halves every token category (and OpenAI's flex tier, billed at Batch API prices); `inference_geo = "us"` multiplies by the model's geo
  multiplier (1.1 where supported); a regional cloud endpoint by its regional multiplier; fast
  mode (`speed = "fast"`) by the model's fast multiplier, in force on the request date (a fast
  request on a model without one is unpriced); user discounts multiply too;
- per-call fees are never multiplied: web search (`web_search_call`, $0.01 for Anthropic and
  OpenAI; `web_search_preview_call` for OpenAI's preview tool, $0.025 on non-reasoning models),
  file search and code interpreter calls (the `*_call` rates of the model's row);
- a model without a price row, or a category with tokens but no rate, leaves the row unpriced
  (all costs null, `priced = false`): unknown is never $0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from tierlens.pricing.models import strip_routing, tier_of
from tierlens.pricing.table import TOOL_RATE_COLUMNS, PriceTable
from tierlens.schema import PROMPT_COLUMNS, TOKEN_COLUMNS, TOOL_CALL_COLUMNS, prompt_tokens

_PER_TOKEN = 1_000_000.0
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

_CATEGORIES = {
    # cost column -> [(token column, rate column)]
    "cost_input_usd": [("input_tokens", "input")],
    "cost_cache_write_usd": [
        ("cache_write_5m_tokens", "cache_write_5m"),
        ("cache_write_1h_tokens", "cache_write_1h"),
    ],
    "cost_cache_read_usd": [("cache_read_tokens", "cache_read")],
    "cost_output_usd": [("output_tokens", "output")],
}


@dataclass(frozen=True)
class Models:
    """The distinct logged models and model ids of some rows (or a superset of them): what the
    pricer decides per model rather than per row. Known in advance, it saves a lazy scan a pass."""

    logged: tuple[str, ...]
    ids: tuple[str, ...]

    @classmethod
    def of(cls, frame: pl.DataFrame | pl.LazyFrame) -> Models:
        # a group-by streams (a column's unique() would hold every value of a lazy scan)
        q = frame.lazy().group_by(pl.col("model").cast(pl.String), pl.col("model_id").cast(pl.String)).agg()
        pairs = q.collect(engine="streaming")
        logged = {m for m in pairs["model"].to_list() if m is not None}
        ids = {m for m in pairs["model_id"].to_list() if m is not None}
        return cls(tuple(sorted(logged)), tuple(sorted(ids)))


def price_requests(frame: Frame, table: PriceTable, models: Models | None = None) -> Frame:
    """Fill `family`, `tier`, `long_context` and the price columns of canonical rows.

    Needs: ts, provider, model_id, endpoint_scope, service_tier, inference_geo and the token columns;
    `speed`, `web_search_variant` and the tool-call counts are used when present. `models`: the
    rows' distinct models when the caller knows them (else they are read from `frame`).
    """
    frame = _with_optional_columns(frame)
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    models = models or Models.of(frame)
    epochs = _rate_epochs(table)
    joined = _joined_rates(frame, table, models, epochs)
    # a cell of requests (`_cells`) is long context as each of its requests is
    deciding = pl.col(_DECIDING_PROMPT) if _DECIDING_PROMPT in names else prompt_tokens(nulls_as_zero=True)
    terms = _Terms.of(deciding)
    priced = terms.priced()
    total = pl.when(priced).then(
        pl.sum_horizontal(
            [pl.col(n) for n in _CATEGORIES] + [pl.col("cost_web_search_usd"), pl.col("cost_tools_usd")]
        )
    )
    known = pl.col("input").is_not_null()
    return (
        joined.with_columns(
            priced=priced,
            price_multiplier=pl.when(known).then(_multiplier(table)),
            long_context=prompt_tokens(nulls_as_zero=True) > pl.col("lc_threshold").fill_null(200_000),
            family=pl.col("_family"),
            tier=pl.coalesce(pl.col("_tier"), _tiers(models)),
            price_version=pl.lit(table.version),
        )
        .with_columns(*terms.costs(priced))
        .with_columns(cost_usd=total)
        .drop([c for c in epochs.columns if c not in ("provider", "model_id")])
    )


def _with_optional_columns(frame: Frame) -> Frame:
    """Null columns for the optional inputs a frame lacks: an aggregate of the canonical rows (a
    replay) may carry only the token columns."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    optional = {
        "speed": pl.String,
        "web_search_variant": pl.String,
        **dict.fromkeys(TOOL_CALL_COLUMNS, pl.Int64),
    }
    absent = [pl.lit(None, dtype).alias(c) for c, dtype in optional.items() if c not in names]
    return frame.with_columns(absent) if absent else frame


def _rate_epochs(table: PriceTable) -> pl.DataFrame:
    """The table's rates by price epoch, with the divisor as a materialized column.

    The divisor is a column so that every row is divided by it exactly: polars divides by a
    constant (a literal, or a column it keeps as one value) as a product with its reciprocal, one
    ulp off, and only for more than one row; a request's cost would depend on the batch it was
    priced in."""
    epochs = table.epochs().rename({"family": "_family", "tier": "_tier"})
    return epochs.with_columns(pl.Series("_per_token", [_PER_TOKEN] * epochs.height, dtype=pl.Float64))


def _joined_rates(frame: Frame, table: PriceTable, models: Models, epochs: pl.DataFrame) -> Frame:
    """Each row beside the rates of its model in force on its day (null rates: not in the table)."""
    bps = table.breakpoints
    day = pl.col("ts").dt.date()
    # the epoch: how many breakpoints are on or before the day (its bin among them, left-closed)
    epoch = day.bin_intervals(bps, labels=False).cast(pl.Int32) if bps else pl.lit(0, pl.Int32)
    # an exact table id wins over the normalized one (a dated snapshot may have its own price);
    # decided per distinct logged model, not per row
    exact = _exact_ids(models, table)
    if exact:
        frame = frame.with_columns(
            model_id=pl.col("model").replace_strict(exact, default=pl.col("model_id"), return_dtype=pl.String)
        )
    rates = epochs.lazy() if isinstance(frame, pl.LazyFrame) else epochs
    return frame.with_columns(_epoch=epoch.cast(pl.Int32)).join(
        rates, on=["provider", "model_id", "_epoch"], how="left", coalesce=True
    )


def _multiplier(table: PriceTable) -> pl.Expr:
    """What multiplies every token category of a row: batch (and OpenAI's flex tier, billed at
    Batch API prices), the US inference geo, a regional endpoint, fast mode and user discounts."""
    fast = (pl.col("speed") == "fast").fill_null(False)
    batch_priced = (pl.col("service_tier") == "batch") | (
        (pl.col("service_tier") == "flex") & (pl.col("provider") == "openai")
    )
    return (
        pl.when(batch_priced).then(0.5).otherwise(1.0)
        * pl.when((pl.col("inference_geo") == "us") & pl.col("geo_us_multiplier").is_not_null())
        .then(pl.col("geo_us_multiplier"))
        .otherwise(1.0)
        * pl.when((pl.col("endpoint_scope") == "regional") & pl.col("regional_multiplier").is_not_null())
        .then(pl.col("regional_multiplier"))
        .otherwise(1.0)
        * pl.when(fast).then(pl.col("fast_multiplier")).otherwise(1.0)
        * _discount_expr(table)
    )


@dataclass(frozen=True)
class _Terms:
    """A joined row's billable quantities and the rates that apply to them: token categories at
    their (long-context, when the prompt is over the threshold) rates, and per-call fees."""

    tokens: dict[str, pl.Expr]
    long_ctx: pl.Expr
    fees: list[tuple[pl.Expr, pl.Expr]]

    @classmethod
    def of(cls, deciding_prompt: pl.Expr) -> _Terms:
        tokens = {
            t: pl.col(t).fill_null(0) for t in (*TOKEN_COLUMNS, "web_search_requests", *TOOL_CALL_COLUMNS)
        }
        long_ctx = (
            pl.col("lc_threshold").is_not_null()
            & (deciding_prompt > pl.col("lc_threshold"))
            & pl.col("lc_input").is_not_null()
        )
        web_rate = (
            pl.when(pl.col("web_search_variant") == "preview")
            .then(pl.col("web_search_preview_call"))
            .otherwise(pl.col("web_search_call"))
        )
        fees = [(tokens["web_search_requests"], web_rate)] + [
            (tokens[calls], pl.col(rate))
            for calls, rate in zip(TOOL_CALL_COLUMNS, TOOL_RATE_COLUMNS, strict=True)
        ]
        return cls(tokens, long_ctx, fees)

    def rate(self, name: str) -> pl.Expr:
        return pl.when(self.long_ctx).then(pl.col(f"lc_{name}")).otherwise(pl.col(name))

    def priced(self) -> pl.Expr:
        """A known model with a rate for every quantity the row has (else the row is unpriced)."""
        missing = [
            (self.tokens[tok] > 0) & self.rate(r).is_null()
            for parts in _CATEGORIES.values()
            for tok, r in parts
        ]
        missing += [(calls > 0) & fee.is_null() for calls, fee in self.fees]
        fast = (pl.col("speed") == "fast").fill_null(False)
        missing.append(fast & pl.col("fast_multiplier").is_null())
        return pl.col("input").is_not_null() & ~pl.any_horizontal(missing)

    def costs(self, priced: pl.Expr) -> list[pl.Expr]:
        """The cost columns but the total: token categories (multiplied), then the fees (never)."""

        def fee(calls: pl.Expr, rate: pl.Expr) -> pl.Expr:
            return pl.when(calls == 0).then(0.0).otherwise(calls.cast(pl.Float64) * rate)

        out = [self._category(parts, priced).alias(name) for name, parts in _CATEGORIES.items()]
        out.append(pl.when(priced).then(fee(*self.fees[0])).alias("cost_web_search_usd"))
        tools = pl.sum_horizontal([fee(c, r) for c, r in self.fees[1:]])
        out.append(pl.when(priced).then(tools).alias("cost_tools_usd"))
        return out

    def _category(self, parts: list[tuple[str, str]], priced: pl.Expr) -> pl.Expr:
        terms = [
            pl.when(self.tokens[tok] == 0).then(0.0).otherwise(self.tokens[tok] * self.rate(r))
            for tok, r in parts
        ]
        total = terms[0] if len(terms) == 1 else pl.sum_horizontal(terms)
        return pl.when(priced).then(total / pl.col("_per_token") * pl.col("price_multiplier"))


def _tiers(models: Models) -> pl.Expr:
    """tier_of for models the table does not know, decided per distinct model id."""
    distinct = pl.DataFrame({"model_id": list(models.ids)}, schema={"model_id": pl.String})
    tiers = dict(distinct.with_columns(t=tier_of(pl.col("model_id"))).iter_rows())
    return pl.col("model_id").replace_strict(tiers, default=None, return_dtype=pl.String)


def _exact_ids(models: Models, table: PriceTable) -> dict[str, str]:
    """Logged model -> table id, for logged ids that (without routing prefixes) are a table id."""
    distinct = pl.DataFrame({"model": list(models.logged)}, schema={"model": pl.String})
    stripped = distinct.with_columns(exact=strip_routing(pl.col("model")))
    known = table.model_ids()
    return {m: e for m, e in stripped.iter_rows() if e in known and m not in table.aliases}


def reprice(rows: pl.DataFrame, table: PriceTable, **changes: pl.Expr | str) -> pl.Series:
    """Total cost of canonical rows after changing some columns (a counterfactual), by the same rules.

    Example: `reprice(rows, table, service_tier="batch")` or `reprice(rows, table, model_id="claude-haiku-4-5")`.
    Changing `model_id` keeps the logged `model` for the record but prices the new id.
    """
    exprs = {k: (pl.lit(v) if isinstance(v, str) else v) for k, v in changes.items()}
    changed = rows.with_columns(**exprs)
    if "model_id" in changes:
        changed = changed.with_columns(model=pl.col("model_id"))
    return price_requests(changed, table)["cost_usd"]


def reprice_total(
    rows: pl.LazyFrame, table: PriceTable, models: Models | None = None, **changes: pl.Expr | str
) -> float:
    """`reprice(...).sum()` over a lazy scan, in bounded memory: what an analysis of any size asks."""
    return reprice_sums(rows, table, [changes], models)[0][0]


def reprice_change(
    rows: pl.LazyFrame, table: PriceTable, models: Models | None = None, **changes: pl.Expr | str
) -> float:
    """`(reprice(...) - cost_usd).sum()` over a lazy scan: the counterfactual's difference, summed
    row by row (a row the change leaves alone adds exactly 0, not a rounding residue)."""
    return reprice_sums(rows, table, [changes], models)[0][1]


def reprice_sums(
    rows: pl.LazyFrame,
    table: PriceTable,
    counterfactuals: Sequence[Mapping[str, pl.Expr | str]],
    models: Models | None = None,
) -> list[tuple[float, float]]:
    """(`reprice_total`, `reprice_change`) of each counterfactual, all in one pass over `rows`."""
    return repriced(reprice_query(rows, table, counterfactuals, models).collect(engine="streaming"))


def reprice_query(
    rows: pl.LazyFrame,
    table: PriceTable,
    counterfactuals: Sequence[Mapping[str, pl.Expr | str]],
    models: Models | None = None,
    by: Sequence[str] = (),
    new_models: Models | None = None,
) -> pl.LazyFrame:
    """The lazy query behind `reprice_sums`: one pass over `rows` sums them into the cells every
    counterfactual prices alike (`_cells`), then prices each counterfactual's cells; one row
    with `total_<i>` and `change_<i>` per counterfactual (read it with `repriced`), or with `by`,
    one such row per value of the `by` columns. `new_models`: the models a
    counterfactual's `model_id` expression can give (or a superset), when the caller knows them
    (else they are read from `rows`, a pass of their own)."""
    models = models or Models.of(rows)
    changes = [{k: (pl.lit(v) if isinstance(v, str) else v) for k, v in c.items()} for c in counterfactuals]
    for c in changes:
        if "model_id" in c:
            c["model"] = c["model_id"]  # the new id is priced, not the logged one
    cells = _cells(rows.with_columns(_was=pl.col("cost_usd")), table, changes, by)
    priced = []
    for i, (c, given) in enumerate(zip(changes, counterfactuals, strict=True)):
        known = models
        if "model_id" in given:
            target = given["model_id"]
            known = (
                Models((target,), (target,))
                if isinstance(target, str)
                else new_models or Models.of(rows.with_columns(model_id=target, model=target))
            )
        sums = [
            pl.col("cost_usd").sum().alias(f"total_{i}"),
            pl.when(pl.col("_changed") > 0)
            .then(pl.col("cost_usd") - pl.col("_was"))
            .sum()
            .alias(f"change_{i}"),
        ]
        cf = price_requests(_cells_of(cells, i, c, by), table, known)
        priced.append(cf.group_by(by).agg(sums) if by else cf.select(sums))
    if not by:
        return pl.concat(priced, how="horizontal")
    out = priced[0]
    for more in priced[1:]:  # every counterfactual prices the same cells: the same `by` values
        out = out.join(more, on=list(by), how="full", coalesce=True, nulls_equal=True)
    return out


_CELL_KEYS = (
    "provider",
    "model",
    "model_id",
    "endpoint_scope",
    "service_tier",
    "inference_geo",
    "speed",
    "web_search_variant",
)
_CELL_SUMS = (*TOKEN_COLUMNS, "web_search_requests", *TOOL_CALL_COLUMNS)
_DECIDING_PROMPT = "_deciding_prompt"
_PROMPT_COLUMNS = PROMPT_COLUMNS


def _cells(
    rows: pl.LazyFrame, table: PriceTable, changes: Sequence[Mapping[str, pl.Expr]], by: Sequence[str] = ()
) -> pl.LazyFrame:
    """`rows` as each counterfactual changes them, summed per cell of requests that price alike,
    so that a counterfactual prices a few hundred cells, not every request: the same day, model,
    tier, region and speed, the same token categories non-zero (a category without a rate leaves
    a request unpriced), the same long-context class (how many of the table's thresholds the
    prompt is over) and an original cost known or not, under every counterfactual at once (one
    group-by serves them all). Cost is linear in the tokens within a cell; its largest prompt
    decides long context as every one of its requests would (`_DECIDING_PROMPT`). What a
    counterfactual changes carries the suffix `@i`; `_cells_of` reads its cells back. `by`:
    more keys, kept."""
    names = rows.collect_schema().names()

    def col(name: str) -> pl.Expr:
        if name in names:
            return pl.col(name)
        return pl.lit(None, pl.String if name in _CELL_KEYS else pl.Int64)

    thresholds = sorted({int(t) for t in table.rows["lc_threshold"].drop_nulls().to_list()})

    def shape(tokens: Mapping[str, pl.Expr], prompt: pl.Expr | None, was: bool) -> pl.Expr:
        """One integer: which of `tokens` are non-zero, whether the original cost is known, and
        how many long-context thresholds `prompt` is over."""
        flags = [t > 0 for t in tokens.values()] + ([pl.col("_was").is_not_null()] if was else [])
        out = pl.sum_horizontal([f.cast(pl.Int32) * (1 << b) for b, f in enumerate(flags)])
        if prompt is not None and thresholds:
            over = prompt.bin_intervals(thresholds, labels=False, right_closed=True).cast(pl.Int32)
            out = out + over * (1 << len(flags))
        return out

    tokens = {t: col(t).fill_null(0) for t in _CELL_SUMS}
    prompt = pl.sum_horizontal(tokens[t] for t in _PROMPT_COLUMNS)
    keys: dict[str, pl.Expr] = {k: col(k) for k in _CELL_KEYS}
    keys["_shape"] = shape(tokens, prompt, was=True)
    sums: dict[str, pl.Expr] = {t: e.sum() for t, e in tokens.items()}
    sums[_DECIDING_PROMPT] = prompt.max()
    sums["_was"] = pl.col("_was").sum()
    for i, c in enumerate(changes):
        keys |= {f"{k}@{i}": c[k] for k in _CELL_KEYS if k in c}
        # requests the counterfactual changes at all: the others add exactly 0 to its change
        touched = [e.ne_missing(col(k)) for k, e in c.items()]
        sums[f"_changed@{i}"] = (pl.any_horizontal(touched) if touched else pl.lit(False)).sum()
        changed = {t: c[t].fill_null(0) for t in _CELL_SUMS if t in c}
        if not changed:
            continue
        new_prompt = None
        if any(t in changed for t in _PROMPT_COLUMNS):
            new_prompt = pl.sum_horizontal(changed.get(t, tokens[t]) for t in _PROMPT_COLUMNS)
            sums[f"{_DECIDING_PROMPT}@{i}"] = new_prompt.max()
        keys[f"_shape@{i}"] = shape(changed, new_prompt, was=False)
        sums |= {f"{t}@{i}": e.sum() for t, e in changed.items()}
    groups = [pl.col("ts").dt.date().alias("_day"), *by, *(e.alias(name) for name, e in keys.items())]
    return rows.group_by(groups).agg(**sums)


def _cells_of(cells: pl.LazyFrame, i: int, c: Mapping[str, pl.Expr], by: Sequence[str] = ()) -> pl.LazyFrame:
    """Counterfactual `i`'s cells under the canonical column names `price_requests` reads."""
    names = cells.collect_schema().names()

    def mine(name: str) -> pl.Expr:
        return pl.col(f"{name}@{i}" if f"{name}@{i}" in names else name).alias(name)

    known_bit = 1 << len(_CELL_SUMS)
    return cells.select(
        *by,
        *[mine(k) for k in _CELL_KEYS],
        *[mine(t) for t in _CELL_SUMS],
        mine(_DECIDING_PROMPT),
        pl.col(f"_changed@{i}").alias("_changed"),
        ts=pl.col("_day").cast(pl.Datetime("us", "UTC")),
        _was=pl.when((pl.col("_shape") & known_bit) > 0).then(pl.col("_was")),
    )


def repriced(result: pl.DataFrame) -> list[tuple[float, float]]:
    """(total, change) of each counterfactual of one collected `reprice_query`."""
    n = sum(1 for c in result.columns if c.startswith("total_"))
    return [(float(result[f"total_{i}"][0] or 0.0), float(result[f"change_{i}"][0] or 0.0)) for i in range(n)]


def _discount_expr(table: PriceTable) -> pl.Expr:
    default = table.discounts.get("*", 1.0)
    specific = {k.lower(): v for k, v in table.discounts.items() if k != "*"}
    if not specific:
        return pl.lit(default)
    return pl.col("model_id").replace_strict(specific, default=default, return_dtype=pl.Float64)


def without_long_context(table: PriceTable) -> PriceTable:
    """The table with its long-context rates removed (for aggregate buckets below the threshold)."""
    lc = [c for c in table.rows.columns if c.startswith("lc_")]
    rows = table.rows.with_columns([pl.lit(None, table.rows.schema[c]).alias(c) for c in lc])
    return PriceTable(rows=rows, version=table.version, aliases=table.aliases, discounts=table.discounts)


def price_stored(rows: pl.DataFrame, table: PriceTable) -> pl.DataFrame:
    """Price canonical rows, one per request: an aggregate bucket (`ts_source = bucket_start`) keeps
    the long-context tier its report stated; every other row is priced from its tokens."""
    bucket = (pl.col("ts_source") == "bucket_start").fill_null(False)
    if not rows.select(bucket.any()).item():
        return price_requests(rows, table)
    lc = pl.col("long_context").fill_null(False)
    parts = [
        price_requests(rows.filter(~bucket), table),
        price_requests(rows.filter(bucket & lc), table).with_columns(long_context=pl.lit(True)),
        price_requests(rows.filter(bucket & ~lc), without_long_context(table)).with_columns(
            long_context=pl.lit(False)
        ),
    ]
    return pl.concat(parts)
