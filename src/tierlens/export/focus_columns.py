"""The FOCUS and `x_` columns of the aggregated rows: costs, periods, parties, SKUs, tags."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    pass

from tierlens.export.focus_catalog import (
    CATEGORIES,
    CUSTOM_COLUMNS,
    DIRECT_SERVICES,
    FOCUS_COLUMNS,
    HOSTS,
    MARKETPLACE_SELLERS,
    PUBLISHERS,
    TAG_PREFIX,
    TAGGED,
    WEB,
)


def focus_columns(totals: pl.DataFrame, accounts: Mapping[str, str]) -> pl.DataFrame:
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
    return (pl.col("_order") == WEB) & (pl.col("web_search_variant") == "preview")


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
    for row in totals.select(*TAGGED, "tags").iter_rows():
        key = (*row[:-1], tuple(row[-1] or ()))
        if key not in cache:
            cache[key] = tags_json(dict(zip(TAGGED, row[:-1], strict=True)), row[-1] or [])
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
