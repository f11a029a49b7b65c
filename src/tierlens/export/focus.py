"""FOCUS export: the priced requests as a FinOps FOCUS cost-and-usage dataset.

FinOps tools (cost platforms, the FOCUS validator, a warehouse beside the cloud bills) read
FOCUS, not tierlens's canonical schema. This module maps the stored requests onto the FOCUS 1.2
columns plus FOCUS 1.3's ServiceProviderName and HostProviderName; docs/focus.md gives each
mapping and the spec text it rests on, and tests/focus_spec.py holds the column rules every
exported row is checked against.

One row is one UTC day x model x allocation (workspace, project, feature, user, API key, logged
tags) x pricing terms (service tier, speed, geo, endpoint, long context, price multiplier) x cost
category (input, 5-minute and 1-hour cache writes, cache reads, output, web search, tool calls).
The pricing terms are part of the row because FOCUS wants every discount on a row to apply to
the whole charge of that row. BilledCost adds up to the dataset's `cost_usd` for the same days.

It must never: export an unpriced request as $0 (those are left out and counted), make up a
unit price by division, or write a half-written file at the destination.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tierlens.errors import ConfigError, ParameterError, StoreError
from tierlens.schema import TOOL_CALL_COLUMNS

if TYPE_CHECKING:
    from tierlens.config import PricingConfig

from tierlens.export.focus_catalog import (
    BLANKABLE,
    CATEGORIES,
    DATETIME_COLUMNS,
    DATETIME_FORMAT,
    GRAIN,
    READ,
    TERMS,
    WEB,
    Category,
)
from tierlens.export.focus_columns import focus_columns


@dataclass(frozen=True)
class FocusResult:
    """What `write_focus` wrote, and what it left out."""

    path: Path
    format: str
    rows: int
    billed_total: float
    list_total: float
    requests_exported: int
    """Canonical rows (requests, or a split request's feature shares) behind the FOCUS rows."""
    unpriced_rows: int
    """Canonical rows left out because they have no price (never exported as $0)."""
    unpriced_models: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass(frozen=True)
class _Export:
    frame: pl.DataFrame
    requests_exported: int
    unpriced_rows: int
    unpriced_models: dict[str, int]


def focus_frame(
    data_dir: str | Path,
    since: date | None = None,
    until: date | None = None,
    *,
    pricing: PricingConfig | None = None,
    billing_accounts: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """FOCUS rows of the priced requests made on days in [since, until] (UTC, inclusive).

    `pricing` (the settings' price config) supplies negotiated discounts (ContractedCost) and the
    rates that split a request's cache-write cost between 5-minute and 1-hour writes.
    `billing_accounts` maps an invoice issuer key (`anthropic`, `openai`, `aws`, `gcp`, `azure`, or
    another provider) to its BillingAccountId; an issuer not in it gets its key.
    """
    return _export(data_dir, since, until, pricing, billing_accounts or {}).frame


def write_focus(
    data_dir: str | Path,
    path: str | Path,
    since: date | None = None,
    until: date | None = None,
    *,
    pricing: PricingConfig | None = None,
    billing_accounts: Mapping[str, str] | None = None,
) -> FocusResult:
    """Write `focus_frame(...)` to `path`, as CSV or Parquet by its suffix, atomically."""
    out = Path(path)
    fmt = _format_of(out)
    done = _export(data_dir, since, until, pricing, billing_accounts or {})
    _write_atomic(done.frame, out, fmt)
    return FocusResult(
        path=out,
        format=fmt,
        rows=done.frame.height,
        billed_total=float(done.frame["BilledCost"].sum()),
        list_total=float(done.frame["ListCost"].sum()),
        requests_exported=done.requests_exported,
        unpriced_rows=done.unpriced_rows,
        unpriced_models=done.unpriced_models,
    )


def parse_accounts(pairs: Iterable[str]) -> dict[str, str]:
    """`["anthropic=org_123", "aws=123456789012"]` -> {issuer key: BillingAccountId}."""
    accounts: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ParameterError(
                "{accounts} wants ISSUER=ID (e.g. anthropic=org_123), got {got}", got=repr(pair)
            )
        accounts[key.strip().lower()] = value.strip()
    return accounts


def _export(
    data_dir: str | Path,
    since: date | None,
    until: date | None,
    pricing: PricingConfig | None,
    accounts: Mapping[str, str],
) -> _Export:
    rows = _requests(data_dir, since, until)
    ok = pl.col("priced").fill_null(False) & pl.col("cost_usd").is_not_null()
    priced, unpriced = rows.filter(ok), rows.filter(~ok)
    split = _split_cache_writes(priced, pricing)
    totals = _aggregate(_long(split, _discount(pricing)))
    return _Export(
        frame=focus_columns(totals, accounts),
        requests_exported=priced.height,
        unpriced_rows=unpriced.height,
        unpriced_models=_count_models(unpriced),
    )


def _requests(data_dir: str | Path, since: date | None, until: date | None) -> pl.DataFrame:
    """Stored rows of the period, with blank strings as null and null tier/speed as `standard`."""
    from tierlens.store import scan

    lf = scan(data_dir).select(READ)
    if since is not None:
        lf = lf.filter(pl.col("date") >= since)
    if until is not None:
        lf = lf.filter(pl.col("date") <= until)
    blank = {c: pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c)) for c in BLANKABLE}
    return (
        lf.with_columns(
            **blank,
            service_tier=pl.col("service_tier").fill_null("standard"),
            speed=pl.col("speed").fill_null("standard"),
            long_context=pl.col("long_context").fill_null(False),
            _host=_host(),
            _tool_calls=pl.sum_horizontal([pl.col(c).fill_null(0) for c in TOOL_CALL_COLUMNS]),
        )
        .with_row_index("_i")
        .collect()
    )


def _host() -> pl.Expr:
    """The cloud that served the request (`aws`, `gcp`, `azure`), null for a direct API call."""
    model = pl.col("model").str.to_lowercase()
    aws = (
        (pl.col("source") == "bedrock")
        | pl.col("endpoint_scope").is_in(["global", "regional"])
        | (pl.col("provider") == "aws.bedrock")
        | model.str.contains(r"^(bedrock/|arn:aws)|(^|\.)anthropic\.")
    )
    return (
        pl.when(aws)
        .then(pl.lit("aws"))
        .when(model.str.contains(r"^vertex_ai(_beta)?/|@(\d{8}|latest)$"))
        .then(pl.lit("gcp"))
        .when(model.str.contains(r"^azure(_ai)?/"))
        .then(pl.lit("azure"))
        .otherwise(pl.lit(None, pl.String))
    )


def _split_cache_writes(rows: pl.DataFrame, pricing: PricingConfig | None) -> pl.DataFrame:
    """`cost_cache_write_usd` as `_write_5m` + `_write_1h`; the two add up to it exactly.

    A row with writes of one TTL keeps the whole cost in that category. A row with both splits it
    by the share each TTL's tokens x rate has in the price table in force.
    """
    five = pl.col("cache_write_5m_tokens").fill_null(0)
    hour = pl.col("cache_write_1h_tokens").fill_null(0)
    mixed = rows.filter((five > 0) & (hour > 0))
    if mixed.height:
        rows = rows.join(_five_minute_shares(mixed, pricing), on="_i", how="left")
    by_rates = pl.col("_share") if mixed.height else pl.lit(None, pl.Float64)
    share = pl.when(hour == 0).then(1.0).when(five == 0).then(0.0).otherwise(by_rates)
    total = pl.col("cost_cache_write_usd").fill_null(0.0)
    return rows.with_columns(_write_5m=total * share).with_columns(_write_1h=total - pl.col("_write_5m"))


def _five_minute_shares(mixed: pl.DataFrame, pricing: PricingConfig | None) -> pl.DataFrame:
    """Per row: 5-minute writes x rate / all writes x rate, each TTL priced alone by the table.

    The other TTL's tokens are moved to uncached input, so the prompt size, and with it the
    long-context decision, stays the request's own. Rows the table cannot price use the
    published ratio (5-minute writes 1.25x input, 1-hour writes 2x).
    """
    from tierlens.pricing import PriceTable, price_requests

    table = PriceTable.load(pricing)
    five, hour = pl.col("cache_write_5m_tokens"), pl.col("cache_write_1h_tokens")
    zero = pl.lit(0, pl.Int64)
    alone_5m = mixed.with_columns(input_tokens=pl.col("input_tokens") + hour, cache_write_1h_tokens=zero)
    alone_1h = mixed.with_columns(input_tokens=pl.col("input_tokens") + five, cache_write_5m_tokens=zero)
    a = price_requests(alone_5m, table).select("_i", _a=pl.col("cost_cache_write_usd"))
    b = price_requests(alone_1h, table).select("_i", _b=pl.col("cost_cache_write_usd"))
    published = five * 1.25 / (five * 1.25 + hour * 2.0)
    both = pl.col("_a") + pl.col("_b")
    return (
        mixed.select("_i", five, hour)
        .join(a, on="_i", how="left")
        .join(b, on="_i", how="left")
        .select("_i", _share=pl.when(both > 0).then(pl.col("_a") / both).otherwise(published))
    )


def _discount(pricing: PricingConfig | None) -> pl.Expr:
    """The negotiated discount multiplier of each row's model (`[pricing] discounts`), else 1."""
    discounts = dict(pricing.discounts) if pricing is not None else {}
    default = discounts.pop("*", 1.0)
    if not discounts:
        return pl.lit(default)
    specific = {k.lower(): v for k, v in discounts.items()}
    return pl.col("model_id").replace_strict(specific, default=default, return_dtype=pl.Float64)


def _long(rows: pl.DataFrame, discount: pl.Expr) -> pl.LazyFrame:
    """One row per canonical row x category that has a quantity or a cost."""
    parts = [rows.lazy().select(*GRAIN, *_category(i, c, discount)) for i, c in enumerate(CATEGORIES)]
    return pl.concat(parts).filter((pl.col("_quantity") != 0) | (pl.col("_billed") != 0))


def _category(order: int, cat: Category, discount: pl.Expr) -> list[pl.Expr]:
    """Quantity and costs of one category; the price terms only where they decide its price."""
    billed = pl.col(cat.cost).fill_null(0.0)
    mult = pl.col("price_multiplier")
    tokens = cat.unit.multiplied
    listed = pl.when(mult > 0).then(billed / mult).otherwise(billed) if tokens else billed
    variant = pl.col("web_search_variant") if order == WEB else pl.lit(None, pl.String)
    return [
        pl.lit(order, pl.Int32).alias("_order"),
        pl.col(cat.quantity).fill_null(0).cast(pl.Int64).alias("_quantity"),
        billed.alias("_billed"),
        listed.alias("_list"),
        (listed * discount if tokens else listed).alias("_contracted"),
        (pl.col("long_context") if tokens else pl.lit(None, pl.Boolean)).alias("long_context"),
        (mult if tokens else pl.lit(1.0)).alias("price_multiplier"),
        variant.alias("web_search_variant"),
    ]


def _aggregate(long: pl.LazyFrame) -> pl.DataFrame:
    """Sums per FOCUS row. Money is gathered and summed in ascending order after the group-by (the
    engine's partial sums would make the last bits differ between runs): every export of the same
    data gives the same floats, so two exports can be diffed."""
    money = ("_billed", "_list", "_contracted")
    grouped = long.group_by(*GRAIN, *TERMS).agg(pl.col("_quantity").sum(), *(pl.col(c).sort() for c in money))
    return grouped.with_columns(pl.col(c).list.sum() for c in money).collect()


def _count_models(unpriced: pl.DataFrame) -> dict[str, int]:
    counts = unpriced.group_by("model").len().sort("len", "model", descending=[True, False])
    return {str(m) if m is not None else "(no model)": int(n) for m, n in counts.iter_rows()}


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        return suffix[1:]
    raise ConfigError(f"cannot tell the export format of {path}: name it .csv or .parquet")


def _for_csv(frame: pl.DataFrame) -> pl.DataFrame:
    """Date/time columns as FOCUS Date/Time Format text (the CSV file has no timestamp type)."""
    return frame.with_columns(pl.col(c).dt.strftime(DATETIME_FORMAT) for c in DATETIME_COLUMNS)


def _write_atomic(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    """Write to a temporary name beside `path`, then rename: a failed write leaves no partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "csv":
            _for_csv(frame).write_csv(tmp, float_scientific=False)
        else:
            frame.write_parquet(tmp, compression="zstd")
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
