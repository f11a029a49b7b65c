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

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tierlens.errors import ConfigError, StoreError
from tierlens.schema import COST_COLUMNS, TOKEN_COLUMNS, TOOL_CALL_COLUMNS

if TYPE_CHECKING:
    from tierlens.config import PricingConfig

FOCUS_VERSION = "1.2"
"""The FOCUS version of the columns, plus ServiceProviderName and HostProviderName from 1.3."""
TAG_PREFIX = "tierlens/"
"""Prefix of the tags tierlens itself sets (feature, user, project, workspace, API key)."""
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""FOCUS Date/Time Format: extended ISO 8601 in UTC with the `Z` designator."""


@dataclass(frozen=True)
class Unit:
    """How a category is measured (ConsumedUnit) and priced (PricingUnit, a block of `block` units)."""

    consumed: str
    pricing: str
    block: int
    multiplied: bool
    """True when the row's price multiplier applies (token categories); per-call fees never are."""


TOKENS = Unit("Tokens", "1000000 Tokens", 1_000_000, True)
SEARCHES = Unit("Requests", "1000 Requests", 1_000, False)
CALLS = Unit("Requests", "Requests", 1, False)


@dataclass(frozen=True)
class Category:
    """A cost category: its key (in SkuId and x_CostCategory), SkuMeter, quantity and cost columns."""

    key: str
    meter: str
    quantity: str
    cost: str
    unit: Unit


CATEGORIES: tuple[Category, ...] = (
    Category("input", "Input Tokens", "input_tokens", "cost_input_usd", TOKENS),
    Category("cache_write_5m", "5-Minute Cache Write Tokens", "cache_write_5m_tokens", "_write_5m", TOKENS),
    Category("cache_write_1h", "1-Hour Cache Write Tokens", "cache_write_1h_tokens", "_write_1h", TOKENS),
    Category("cache_read", "Cache Read Tokens", "cache_read_tokens", "cost_cache_read_usd", TOKENS),
    Category("output", "Output Tokens", "output_tokens", "cost_output_usd", TOKENS),
    Category("web_search", "Web Search Requests", "web_search_requests", "cost_web_search_usd", SEARCHES),
    Category("tool_calls", "Tool Calls", "_tool_calls", "cost_tools_usd", CALLS),
)
_WEB = next(i for i, c in enumerate(CATEGORIES) if c.key == "web_search")

PUBLISHERS = {
    "anthropic": "Anthropic",
    "openai": "OpenAI",
    "amazon": "Amazon",
    "meta": "Meta",
    "mistral": "Mistral AI",
    "deepseek": "DeepSeek",
    "qwen": "Qwen",
    "writer": "Writer",
    "google": "Google",
}
"""Provider column value -> the name of the company that makes the model (PublisherName)."""
DIRECT_SERVICES = {"anthropic": "Claude API", "openai": "OpenAI API"}
HOSTS = {
    "aws": ("Amazon Web Services", "Amazon Bedrock"),
    "gcp": ("Google Cloud", "Vertex AI"),
    "azure": ("Microsoft", "Azure AI Foundry"),
}
"""Cloud that served and invoiced a request -> (its name, the service name)."""
MARKETPLACE_SELLERS = frozenset({"anthropic"})
"""Publishers whose models a cloud resells through its marketplace: they are the ServiceProviderName
there (FOCUS 1.3 marketplace note); a cloud's own or first-party-served models have the cloud."""

_GRAIN = (
    "date",
    "provider",
    "model",
    "model_id",
    "_host",
    "workspace_id",
    "project",
    "feature",
    "user_id",
    "api_key_id",
    "tags",
    "service_tier",
    "speed",
    "inference_geo",
    "endpoint_scope",
)
_TERMS = ("_order", "long_context", "price_multiplier", "web_search_variant")
_BLANKABLE = (
    "workspace_id",
    "project",
    "feature",
    "user_id",
    "api_key_id",
    "inference_geo",
    "endpoint_scope",
    "web_search_variant",
)
_TAGGED = ("feature", "user_id", "project", "workspace_id", "api_key_id")
_READ = (
    *(c for c in _GRAIN if c != "_host"),
    "ts",
    "source",
    "priced",
    "price_multiplier",
    "long_context",
    "web_search_variant",
    "web_search_requests",
    *TOKEN_COLUMNS,
    *TOOL_CALL_COLUMNS,
    *COST_COLUMNS,
    "cost_usd",
)
"""The stored columns an export reads (and that re-pricing a mixed cache-write row needs)."""

FOCUS_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "ServiceProviderName",
    "HostProviderName",
    "PricingQuantity",
    "PricingUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ResourceId",
    "ResourceType",
    "SkuId",
    "SkuMeter",
    "Tags",
)
"""FOCUS columns in the order they are written; custom `x_` columns follow them."""
CUSTOM_COLUMNS = (
    "x_CostCategory",
    "x_Model",
    "x_ServiceTier",
    "x_Speed",
    "x_InferenceGeo",
    "x_EndpointScope",
    "x_LongContext",
    "x_PriceMultiplier",
)
DATETIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")


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
            raise ConfigError(f"--account wants ISSUER=ID (e.g. anthropic=org_123), got {pair!r}")
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
        frame=_focus_columns(totals, accounts),
        requests_exported=priced.height,
        unpriced_rows=unpriced.height,
        unpriced_models=_count_models(unpriced),
    )


def _requests(data_dir: str | Path, since: date | None, until: date | None) -> pl.DataFrame:
    """Stored rows of the period, with blank strings as null and null tier/speed as `standard`."""
    from tierlens.store import scan

    lf = scan(data_dir).select(_READ)
    if since is not None:
        lf = lf.filter(pl.col("date") >= since)
    if until is not None:
        lf = lf.filter(pl.col("date") <= until)
    blank = {c: pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c)) for c in _BLANKABLE}
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
    parts = [rows.lazy().select(*_GRAIN, *_category(i, c, discount)) for i, c in enumerate(CATEGORIES)]
    return pl.concat(parts).filter((pl.col("_quantity") != 0) | (pl.col("_billed") != 0))


def _category(order: int, cat: Category, discount: pl.Expr) -> list[pl.Expr]:
    """Quantity and costs of one category; the price terms only where they decide its price."""
    billed = pl.col(cat.cost).fill_null(0.0)
    mult = pl.col("price_multiplier")
    tokens = cat.unit.multiplied
    listed = pl.when(mult > 0).then(billed / mult).otherwise(billed) if tokens else billed
    variant = pl.col("web_search_variant") if order == _WEB else pl.lit(None, pl.String)
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
    grouped = long.group_by(*_GRAIN, *_TERMS).agg(
        pl.col("_quantity").sum(), *(pl.col(c).sort() for c in money)
    )
    return grouped.with_columns(pl.col(c).list.sum() for c in money).collect()


def _focus_columns(totals: pl.DataFrame, accounts: Mapping[str, str]) -> pl.DataFrame:
    """The FOCUS and `x_` columns of the aggregated rows, sorted for a reviewable diff."""
    framed = totals.with_columns(Tags=_tags(totals)).with_columns(
        **_costs(), **_periods(), **_parties(accounts), **_sku(), **_custom()
    )
    order = ["ChargePeriodStart", "SkuId", "x_Model", "SubAccountId", "Tags", *CUSTOM_COLUMNS[2:]]
    return framed.sort(order, nulls_last=True).select(*FOCUS_COLUMNS, *CUSTOM_COLUMNS)


def _costs() -> dict[str, pl.Expr]:
    return {
        "BilledCost": pl.col("_billed"),
        "EffectiveCost": pl.col("_billed"),
        "ListCost": pl.col("_list"),
        "ContractedCost": pl.col("_contracted"),
        "BillingCurrency": pl.lit("USD"),
        "ChargeCategory": pl.lit("Usage"),
        "ChargeClass": pl.lit(None, pl.String),
        "ChargeFrequency": pl.lit("Usage-Based"),
        "ChargeDescription": _description(),
    }


def _periods() -> dict[str, pl.Expr]:
    day = pl.col("date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    month = day.dt.month_start()
    return {
        "BillingPeriodStart": month,
        "BillingPeriodEnd": month.dt.offset_by("1mo"),
        "ChargePeriodStart": day,
        "ChargePeriodEnd": day.dt.offset_by("1d"),
    }


def _parties(accounts: Mapping[str, str]) -> dict[str, pl.Expr]:
    """Who made, sold, hosted and invoiced the usage (FOCUS 1.2 and 1.3 entity columns)."""
    provider, host = pl.col("provider"), pl.col("_host")
    publisher = provider.replace_strict(PUBLISHERS, default=provider, return_dtype=pl.String)
    cloud = host.replace_strict({k: v[0] for k, v in HOSTS.items()}, default=None, return_dtype=pl.String)
    issuer = pl.coalesce(cloud, publisher)
    seller = pl.when(host.is_null() | provider.is_in(list(MARKETPLACE_SELLERS))).then(publisher)
    key = pl.coalesce(host, provider)
    service = pl.coalesce(
        host.replace_strict({k: v[1] for k, v in HOSTS.items()}, default=None, return_dtype=pl.String),
        provider.replace_strict(DIRECT_SERVICES, default=None, return_dtype=pl.String),
        pl.format("{} API", publisher),
    )
    return {
        "BillingAccountId": key.replace_strict(dict(accounts), default=key, return_dtype=pl.String),
        "BillingAccountName": pl.lit(None, pl.String),
        "SubAccountId": pl.col("workspace_id"),
        "SubAccountName": pl.col("workspace_id"),
        "ServiceName": service,
        "ServiceCategory": pl.lit("AI and Machine Learning"),
        "ServiceSubcategory": pl.lit("Generative AI"),
        "ProviderName": issuer,
        "PublisherName": publisher,
        "InvoiceIssuerName": issuer,
        "ServiceProviderName": seller.otherwise(cloud),
        "HostProviderName": issuer,
    }


def _by_category(values: Iterable[object], dtype: pl.DataType) -> pl.Expr:
    return pl.col("_order").replace_strict(dict(enumerate(values)), return_dtype=dtype)


def _preview() -> pl.Expr:
    return (pl.col("_order") == _WEB) & (pl.col("web_search_variant") == "preview")


def _sku() -> dict[str, pl.Expr]:
    """Quantities in their units, and the SKU (model x category, the same whatever the price terms)."""
    keys = _by_category((c.key for c in CATEGORIES), pl.String())
    key = pl.when(_preview()).then(pl.lit("web_search_preview")).otherwise(keys)
    block = _by_category((c.unit.block for c in CATEGORIES), pl.Float64())
    model = pl.col("model")
    return {
        "PricingQuantity": pl.col("_quantity").cast(pl.Float64) / block,
        "PricingUnit": _by_category((c.unit.pricing for c in CATEGORIES), pl.String()),
        "ConsumedQuantity": pl.col("_quantity").cast(pl.Float64),
        "ConsumedUnit": _by_category((c.unit.consumed for c in CATEGORIES), pl.String()),
        "ResourceId": pl.when(model.str.starts_with("arn:")).then(model),
        "ResourceType": model.str.extract(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:([^/:]+)[/:]", 1)
        .str.replace_all("-", " ")
        .str.to_titlecase(),
        "SkuId": pl.concat_str(
            [pl.col("_host"), pl.col("provider"), pl.col("model_id"), key], separator="/", ignore_nulls=True
        ),
        "SkuMeter": _meter(),
        "x_CostCategory": key,
    }


def _meter() -> pl.Expr:
    meter = _by_category((c.meter for c in CATEGORIES), pl.String())
    return pl.when(_preview()).then(pl.lit("Web Search Preview Requests")).otherwise(meter)


def _description() -> pl.Expr:
    """`<model> <meter> (<terms>) at <m>x list price`: what the row is and how it is priced."""
    phrases = [
        pl.when(pl.col("service_tier") != "standard").then(pl.format("{} tier", pl.col("service_tier"))),
        pl.when(pl.col("speed") == "fast").then(pl.lit("fast mode")),
        pl.when(pl.col("inference_geo") == "us").then(pl.lit("US-only inference")),
        pl.when(pl.col("endpoint_scope") == "regional").then(pl.lit("regional endpoint")),
        pl.when(pl.col("long_context")).then(pl.lit("long-context rates")),
    ]
    terms = pl.concat_str(phrases, separator=", ", ignore_nulls=True)
    mult = pl.col("price_multiplier")
    return pl.concat_str(
        [
            pl.col("model"),
            pl.lit(" "),
            _meter().str.to_lowercase(),
            pl.when(terms != "").then(pl.format(" ({})", terms)),
            pl.when(mult != 1.0).then(pl.format(" at {}x list price", mult.round(6))),
        ],
        ignore_nulls=True,
    )


def _custom() -> dict[str, pl.Expr]:
    return {
        "x_Model": pl.col("model"),
        "x_ServiceTier": pl.col("service_tier"),
        "x_Speed": pl.col("speed"),
        "x_InferenceGeo": pl.col("inference_geo"),
        "x_EndpointScope": pl.col("endpoint_scope"),
        "x_LongContext": pl.col("long_context"),
        "x_PriceMultiplier": pl.col("price_multiplier"),
    }


def _tags(totals: pl.DataFrame) -> pl.Series:
    """The Tags JSON of each row, built once per distinct combination."""
    cache: dict[tuple[Any, ...], str | None] = {}
    out: list[str | None] = []
    for row in totals.select(*_TAGGED, "tags").iter_rows():
        key = (*row[:-1], tuple(row[-1] or ()))
        if key not in cache:
            cache[key] = tags_json(dict(zip(_TAGGED, row[:-1], strict=True)), row[-1] or [])
        out.append(cache[key])
    return pl.Series("Tags", out, dtype=pl.String)


def tags_json(dims: Mapping[str, str | None], logged: Iterable[str]) -> str | None:
    """FOCUS Tags: logged `key:value` tags unprefixed (a valueless tag is `true`; the first value of
    a key wins; a key under the reserved prefix is dropped), then tierlens's own, prefixed."""
    tags: dict[str, str | bool] = {}
    for tag in logged:
        key, sep, value = tag.partition(":")
        if key and not key.startswith(TAG_PREFIX) and key not in tags:
            tags[key] = value if sep else True
    tags.update({TAG_PREFIX + k: v for k, v in dims.items() if v is not None})
    return json.dumps(tags, ensure_ascii=False, sort_keys=True) if tags else None


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
