"""Model-id normalization: many spellings of one model map to one priced `model_id`.

Logs name models with date suffixes (`claude-sonnet-4-5-20250929`), cloud routing prefixes
(`us.anthropic.claude-sonnet-4-5-20250929-v1:0`), Vertex `@` versions or gateway prefixes
(`anthropic/claude-...`). Pricing needs the family-level id; the routing prefix matters too,
because Bedrock geographic profiles cost more than global ones, so it becomes `endpoint_scope`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

_REGION_PREFIX = r"^(global|us|eu|apac|jp|au|us-gov|ca|sa|me|af)\."
_VENDOR_PREFIX = r"^(anthropic|openai|bedrock|vertex_ai|azure|azure_ai|gemini)[/.]"
_ROUTE_PREFIX = r"^(bedrock/)?(converse|invoke)/"
"""A gateway's route before a Bedrock id (`converse/jp.anthropic.claude-...`, as LiteLLM writes it)."""
_BUILTIN_ALIASES = {
    "claude-opus-4": "claude-opus-4-0",
    "claude-sonnet-4": "claude-sonnet-4-0",
}


def strip_routing(model: pl.Expr) -> pl.Expr:
    """The logged id without routing prefixes (region, vendor), lower-cased: a dated id stays dated."""
    return (
        model.str.strip_chars()
        .str.to_lowercase()
        .str.replace(_ROUTE_PREFIX, "")
        .str.replace(_REGION_PREFIX, "")
        .str.replace(_VENDOR_PREFIX, "")
    )


def normalize_model(model: pl.Expr, aliases: Mapping[str, str] | None = None) -> tuple[pl.Expr, pl.Expr]:
    """Return (`model_id`, `endpoint_scope`) expressions for a logged model-id expression.

    `aliases` maps a logged id or a normalized id to the model id to price it as. The pricer
    prefers an exact (dated) id when the price table has one (e.g. `gpt-4o-2024-05-13`).
    """
    raw = model.str.strip_chars().str.to_lowercase()
    region = raw.str.replace(_ROUTE_PREFIX, "").str.extract(_REGION_PREFIX, 1)
    scope = (
        pl.when(region.is_null())
        .then(pl.lit(None, pl.String))
        .when(region == "global")
        .then(pl.lit("global"))
        .otherwise(pl.lit("regional"))
    )
    mid = (
        strip_routing(model)
        .str.replace(r"@\d{8}$", "")
        .str.replace(r"-v\d+(:\d+)?$", "")
        .str.replace(r"-\d{8}$", "")
        .str.replace(r"-\d{4}-\d{2}-\d{2}$", "")
        .str.replace(r"-latest$", "")
    )
    table = {**_BUILTIN_ALIASES, **{k.lower(): v.lower() for k, v in (aliases or {}).items()}}
    # a user alias may name the logged id exactly, or its normalized form
    mid = pl.when(raw.is_in(list(table))).then(raw.replace(table)).otherwise(mid.replace(table))
    return mid, scope


def tier_of(model_id: pl.Expr) -> pl.Expr:
    """Claude tier from the id, for models the price table does not know."""
    return (
        pl.when(model_id.str.contains("opus"))
        .then(pl.lit("opus"))
        .when(model_id.str.contains("sonnet"))
        .then(pl.lit("sonnet"))
        .when(model_id.str.contains("haiku"))
        .then(pl.lit("haiku"))
        .otherwise(pl.lit(None, pl.String))
    )


def with_model_ids(
    df: pl.DataFrame, aliases: Mapping[str, str] | None = None, column: str = "model"
) -> pl.DataFrame:
    """Add `model_id` and `endpoint_scope` by normalizing each distinct model once (logs repeat a few ids)."""
    models = df.select(pl.col(column).unique().drop_nulls())
    mid, scope = normalize_model(pl.col(column), aliases)
    mapped = models.with_columns(mid.alias("model_id"), scope.alias("endpoint_scope"))
    ids = dict(zip(mapped[column].to_list(), mapped["model_id"].to_list(), strict=True))
    scopes = dict(zip(mapped[column].to_list(), mapped["endpoint_scope"].to_list(), strict=True))
    return df.with_columns(
        model_id=pl.col(column).replace_strict(ids, default=None, return_dtype=pl.String),
        endpoint_scope=pl.col(column).replace_strict(scopes, default=None, return_dtype=pl.String),
    )
