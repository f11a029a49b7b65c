"""The price table: built-in rates with effective dates, plus the user's overrides.

Prices change, so every row has an `[effective_from, effective_to)` window and every priced
request records the table version. To join without a per-row lookup, the table is cut at every
date where any price changes ("epochs"): a request's epoch is a small vectorized count of the
breakpoints before its date, and pricing becomes one equi-join on (provider, model_id, epoch).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from importlib import resources

import polars as pl

from tierlens.config import PriceOverride, PricingConfig
from tierlens.errors import PriceError

RATE_COLUMNS = (
    "input",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "output",
    "lc_input",
    "lc_cache_write_5m",
    "lc_cache_write_1h",
    "lc_cache_read",
    "lc_output",
)
ANTHROPIC_WEB_SEARCH_USD = 0.01
"""Anthropic web search: $10 per 1,000 searches, whatever the model."""
TOOL_RATE_COLUMNS = ("file_search_call", "code_interpreter_call", "image_generation_call")
"""USD per built-in tool call; each bills the schema column of the same name with `s` (`file_search_calls`)."""
TABLE_SCHEMA = pl.Schema(
    {
        "provider": pl.String(),
        "model_id": pl.String(),
        "family": pl.String(),
        "tier": pl.String(),
        "effective_from": pl.Date(),
        "effective_to": pl.Date(),
        **{c: pl.Float64() for c in RATE_COLUMNS[:5]},
        "lc_threshold": pl.Int64(),
        **{c: pl.Float64() for c in RATE_COLUMNS[5:]},
        "geo_us_multiplier": pl.Float64(),
        "regional_multiplier": pl.Float64(),
        "fast_multiplier": pl.Float64(),
        **{c: pl.Float64() for c in ("web_search_call", "web_search_preview_call", *TOOL_RATE_COLUMNS)},
        "tokenizer": pl.String(),
        "source": pl.String(),
    }
)


@dataclass(frozen=True)
class PriceTable:
    """Validated price rows, their epochs, and a version string recorded on every priced row."""

    rows: pl.DataFrame
    version: str
    aliases: dict[str, str]
    discounts: dict[str, float]

    @classmethod
    def load(cls, pricing: PricingConfig | None = None) -> PriceTable:
        """The built-in table with `pricing` overrides applied (an override replaces the model's rows)."""
        pricing = pricing or PricingConfig()
        raw = resources.files("tierlens.pricing").joinpath("data/prices.csv").read_bytes()
        builtin = pl.read_csv(raw, schema=TABLE_SCHEMA)
        version = "builtin-" + hashlib.sha256(raw).hexdigest()[:10]
        rows = builtin
        if pricing.models:
            user = _overrides_frame(pricing.models)
            replaced = user.select("provider", "model_id").unique()
            rows = pl.concat([builtin.join(replaced, on=["provider", "model_id"], how="anti"), user])
        if pricing.models or pricing.discounts or pricing.aliases:
            blob = pricing.model_dump_json().encode()
            version += "+user-" + hashlib.sha256(blob).hexdigest()[:10]
        _validate(rows)
        return cls(
            rows=rows, version=version, aliases=dict(pricing.aliases), discounts=dict(pricing.discounts)
        )

    @cached_property
    def breakpoints(self) -> list[date]:
        """Every date at which some price starts or stops, ascending."""
        dates = pl.concat([self.rows["effective_from"], self.rows["effective_to"]]).drop_nulls().unique()
        return sorted(dates.to_list())

    def epochs(self) -> pl.DataFrame:
        """One row per (provider, model_id, epoch) with the rates in force during that epoch."""
        return self._epochs

    @cached_property
    def _epochs(self) -> pl.DataFrame:
        bps = self.breakpoints
        out = []
        for row in self.rows.iter_rows(named=True):
            for epoch in range(len(bps) + 1):
                start = bps[epoch - 1] if epoch > 0 else None
                end = bps[epoch] if epoch < len(bps) else None
                after_from = row["effective_from"] is None or (
                    start is not None and start >= row["effective_from"]
                )
                before_to = row["effective_to"] is None or (end is not None and end <= row["effective_to"])
                if after_from and before_to:
                    out.append({**row, "_epoch": epoch})
        schema = {**TABLE_SCHEMA, "_epoch": pl.Int32()}
        return pl.DataFrame(out, schema=schema).drop("effective_from", "effective_to", "source")

    def model_ids(self) -> set[str]:
        return self._model_ids

    @cached_property
    def _model_ids(self) -> set[str]:
        return set(self.rows["model_id"].to_list())


def _overrides_frame(models: list[PriceOverride]) -> pl.DataFrame:
    records = [m.model_dump() for m in models]
    for r in records:
        r["model_id"] = r["model_id"].lower()
        r["source"] = "tierlens.toml"
        if r["provider"] == "anthropic" and r.get("web_search_call") is None:
            r["web_search_call"] = ANTHROPIC_WEB_SEARCH_USD
    return pl.DataFrame(records).select(
        [pl.col(c).cast(t) if c in records[0] else pl.lit(None, t).alias(c) for c, t in TABLE_SCHEMA.items()]
    )


def _validate(rows: pl.DataFrame) -> None:
    """Windows of one model must not overlap; rates must be non-negative."""
    for c in RATE_COLUMNS:
        neg = rows.filter(pl.col(c) < 0)
        if neg.height:
            raise PriceError(f"negative {c} rate for {neg['model_id'][0]}")
    missing = rows.filter(pl.col("input").is_null() | pl.col("output").is_null())
    if missing.height:
        raise PriceError(f"price row for {missing['model_id'][0]} lacks an input or output rate")
    bad = rows.filter(pl.col("effective_to") <= pl.col("effective_from"))
    if bad.height:
        raise PriceError(f"price row for {bad['model_id'][0]} ends before it starts")
    far_past, far_future = date(1900, 1, 1), date(9999, 1, 1)
    spans = rows.select(
        "provider",
        "model_id",
        pl.col("effective_from").fill_null(far_past).alias("f"),
        pl.col("effective_to").fill_null(far_future).alias("t"),
    ).sort("provider", "model_id", "f")
    overlap = spans.filter(
        (pl.col("f") < pl.col("t").shift(1).over("provider", "model_id"))
        & pl.col("t").shift(1).over("provider", "model_id").is_not_null()
    )
    if overlap.height:
        r = overlap.row(0, named=True)
        raise PriceError(f"overlapping price windows for {r['provider']}/{r['model_id']} at {r['f']}")


def describe(table: PriceTable) -> str:
    """A JSON summary of the table (for `tierlens prices`)."""
    return json.dumps({"version": table.version, "models": sorted(table.model_ids())}, indent=2)
