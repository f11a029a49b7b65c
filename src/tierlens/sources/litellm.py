"""LiteLLM proxy SpendLogs (`LiteLLM_SpendLogs`), as JSON lines, a JSON export or a CSV export.

Token convention (FACTS A6 [V]): LiteLLM reports OpenAI-style usage, so `prompt_tokens` INCLUDES
cache reads and cache writes (for Anthropic `prompt_tokens = input + cache_read + cache_creation`,
AnthropicConfig.calculate_usage; for OpenAI it includes `cached_tokens`). The cache split comes
from `metadata.usage_object` (LiteLLM's Usage: `cache_read_input_tokens`, else
`prompt_tokens_details.cached_tokens`; `cache_creation_input_tokens`, else
`prompt_tokens_details.cache_creation_tokens`; a `cache_creation_token_details` 5m/1h split wins
as in Anthropic's rule 1), else from `metadata.additional_usage_values`. Canonically:
`input_tokens = prompt_tokens - cache reads - cache writes`.
When the log has neither (older LiteLLM, or metadata not stored), the cache split is unknown and
all of `prompt_tokens` is priced as uncached input: an upper bound when caching was used. The
row's `logged_cost_usd` (LiteLLM's own `spend`) then differs from ours, and
`tierlens reconcile --logged` lists where.

LiteLLM's own `SpendLogsPayload` declares `metadata` and `request_tags` as JSON *strings*
(`"request_tags": "[]"`, `"metadata": "{...}"`), the database and the `/spend/logs` API return
them as JSON values, and a CSV export holds JSON text: all three are read, and so is JSON held in
a string one level down (`usage_object`, `spend_logs_metadata`, any object a `metadata.*` path
walks through). LiteLLM writes `""` for an identity it does not know (`end_user`, `user`,
`team_id`): an empty string is absent, so `end_user: ""` never hides `user`.

Cache hits (LiteLLM answered from its own response cache, `cache_hit` "True") and failed calls
(`status` "failure") made no billed provider call: they cost nothing and are skipped and counted,
not stored as $0 rows. `request_tags` become `tags` (attribution's `tag:` sources read them); the
feature the log states comes from `metadata.spend_logs_metadata.feature` (configurable).
Models are read through LiteLLM's routing prefixes (`bedrock/`, `bedrock/converse/`,
`vertex_ai/`, `anthropic/`, `openai/`, `azure/`), so a Bedrock `us.` profile keeps its regional price.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import polars as pl

from tierlens.pricing.models import normalize_model
from tierlens.source_settings import LiteLLMSource
from tierlens.sources.base import Context, RawField, Reader
from tierlens.sources.common import json_int, negative, provider_of
from tierlens.sources.exprs import coalesce, content_key, parse_timestamp, reject_if

_ROUTE = r"^(?:bedrock|vertex_ai|vertex_ai_beta|anthropic|openai|azure|azure_ai|text-completion-openai)/(?:(?:converse|invoke)/)?"
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_SCALAR = rf"(?:{_JSON_STRING}|null|true|false|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_TAG_ARRAY = rf"^\[\s*(?:{_JSON_SCALAR}(?:\s*,\s*{_JSON_SCALAR})*)?\s*\]$"
"""A JSON array of strings (numbers and booleans are kept as their text, like the other readers)."""

_CACHE_INTS = {
    # name -> (temporary column holding the JSON object, key, label in reject reasons)
    "read": ("_usage", "cache_read_input_tokens", "usage_object.cache_read_input_tokens"),
    "read_details": ("_details", "cached_tokens", "usage_object.prompt_tokens_details.cached_tokens"),
    "read_extra": ("_extra", "cache_read_input_tokens", "additional_usage_values.cache_read_input_tokens"),
    "read_extra_details": (
        "_extra_details",
        "cached_tokens",
        "additional_usage_values.prompt_tokens_details.cached_tokens",
    ),
    "write": ("_usage", "cache_creation_input_tokens", "usage_object.cache_creation_input_tokens"),
    "write_details": (
        "_details",
        "cache_creation_tokens",
        "usage_object.prompt_tokens_details.cache_creation_tokens",
    ),
    "write_extra": (
        "_extra",
        "cache_creation_input_tokens",
        "additional_usage_values.cache_creation_input_tokens",
    ),
    "w5": (
        "_split",
        "ephemeral_5m_input_tokens",
        "usage_object.prompt_tokens_details.cache_creation_token_details.ephemeral_5m_input_tokens",
    ),
    "w1": (
        "_split",
        "ephemeral_1h_input_tokens",
        "usage_object.prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
    ),
}


def unwrap_json(text: pl.Expr) -> pl.Expr:
    """JSON text as is, or the JSON text a JSON string holds (`"[]"` -> `[]`)."""
    return pl.when(text.str.starts_with('"')).then(text.str.json_path_match("$")).otherwise(text)


def member(text: pl.Expr, key: str) -> pl.Expr:
    """`key` of a JSON object text, as JSON text; a string member is returned unquoted, so a member
    holding JSON in a string is read through by the next `member`."""
    return text.str.json_path_match("$['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']")


def present(text: pl.Expr) -> pl.Expr:
    """Null for an empty or blank string: LiteLLM's default for an identity it does not know."""
    return pl.when(text.str.strip_chars() != "").then(text)


class LiteLLMReader(Reader):
    """LiteLLM SpendLogs rows (one per proxied call)."""

    name = "litellm"
    description = "LiteLLM proxy SpendLogs (JSON lines, JSON or CSV export); spend kept as logged_cost_usd"

    def __init__(self, cfg: LiteLLMSource | None = None, aliases: dict[str, str] | None = None) -> None:
        self.cfg = cfg or LiteLLMSource()
        self.aliases = aliases or {}

    def _top_paths(self) -> list[str]:
        c = self.cfg
        paths = [*c.feature, *c.user_id, *c.api_key_id, *c.workspace_id, *c.project, *c.session_id]
        return [p for p in dict.fromkeys(paths) if not p.startswith("metadata.")]

    def fields(self) -> list[RawField]:
        out = [
            RawField("request_id"),
            RawField("call_type"),
            RawField("model"),
            RawField("model_group"),
            RawField("custom_llm_provider"),
            RawField("startTime"),
            RawField("endTime"),
            RawField("status"),
            RawField("cache_hit"),
            RawField("spend", "num"),
            RawField("request_duration_ms", "num"),
            RawField("prompt_tokens", "int"),
            RawField("completion_tokens", "int"),
            RawField("metadata", "json"),
            RawField("request_tags", "json"),
        ]
        seen = {f.path for f in out}
        out += [RawField(p) for p in self._top_paths() if p not in seen]
        return out

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "request_id" in obj and "spend" in obj and ("startTime" in obj or "call_type" in obj)

    def _path(self, path: str) -> pl.Expr:
        if path.startswith("metadata."):
            parts = path.removeprefix("metadata.").split(".")
            return reduce(member, parts, pl.col("_meta"))
        return pl.col(path)

    def _first(self, paths: list[str]) -> pl.Expr:
        if not paths:
            return pl.lit(None, pl.String)
        return coalesce([present(self._path(p)) for p in paths])

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        opened = _open_metadata(raw)
        ints = {
            name: json_int(pl.col(col), key, f"metadata.{label}")
            for name, (col, key, label) in _CACHE_INTS.items()
        }
        reads = pl.coalesce(
            ints["read"][0], ints["read_details"][0], ints["read_extra"][0], ints["read_extra_details"][0]
        ).fill_null(0)
        writes = pl.coalesce(ints["write"][0], ints["write_details"][0], ints["write_extra"][0]).fill_null(0)
        split = ints["w5"][0].is_not_null() | ints["w1"][0].is_not_null()
        w5 = pl.when(split).then(ints["w5"][0].fill_null(0)).otherwise(writes)
        w1 = pl.when(split).then(ints["w1"][0].fill_null(0)).otherwise(0)
        prompt = pl.col("prompt_tokens")
        completion = pl.col("completion_tokens")
        uncached = prompt - reads - w5 - w1
        model = present(pl.col("model"))
        ts = parse_timestamp(pl.col("startTime"))
        tags, bad_tags = _tags(pl.col("request_tags"))
        reject = reject_if(
            (model.is_null(), "missing model"),
            *[(why.is_not_null(), why) for _, why in ints.values()],
            (bad_tags, "request_tags: expected an array of strings (or a JSON string holding one)"),
            (prompt.is_null(), "missing prompt_tokens"),
            (completion.is_null(), "missing completion_tokens"),
            (negative(prompt, completion, reads, w5, w1), "negative token count"),
            (uncached < 0, "cache tokens exceed prompt_tokens"),
            (pl.col("startTime").is_null(), "missing startTime"),
            (ts.is_null(), "unparseable startTime (ISO 8601 between 2000 and 2100)"),
        )
        skip = _skip()
        checked = opened.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        out = checked.with_columns(
            **self._model_columns(model),
            **self._identity_columns(),
            ts=ts,
            ts_source=pl.lit("log"),
            input_tokens=uncached,
            cache_read_tokens=reads,
            cache_write_5m_tokens=w5,
            cache_write_1h_tokens=w1,
            output_tokens=completion,
            web_search_requests=pl.lit(0, pl.Int64),
            requests=pl.lit(1, pl.Int64),
            service_tier=pl.lit("standard"),
            status=pl.lit("ok"),
            tags=tags,
            latency_ms=_latency(ts),
            logged_cost_usd=pl.col("spend"),
        )
        fallback = content_key(["ts", "model", "input_tokens", "output_tokens", "user_id"])
        return out.with_columns(
            dedupe_key=pl.concat_str(pl.lit("litellm:"), pl.coalesce(pl.col("request_id"), fallback))
        )

    def _model_columns(self, model: pl.Expr) -> dict[str, pl.Expr]:
        routed = model.str.strip_chars().str.to_lowercase().str.replace(_ROUTE, "")
        model_id, scope = normalize_model(routed, self.aliases)
        provider = provider_of(model_id, present(pl.col("custom_llm_provider")))
        return {"provider": provider, "model": model, "model_id": model_id, "endpoint_scope": scope}

    def _identity_columns(self) -> dict[str, pl.Expr]:
        c = self.cfg
        return {
            "request_id": present(pl.col("request_id")),
            "feature": self._first(c.feature),
            "user_id": self._first(c.user_id),
            "api_key_id": self._first(c.api_key_id),
            "workspace_id": self._first(c.workspace_id),
            "project": self._first(c.project),
            "session_id": self._first(c.session_id),
        }


def _open_metadata(raw: pl.DataFrame) -> pl.DataFrame:
    """The metadata objects the cache split lives in, as temporary JSON text columns (parsed once)."""
    meta = raw.with_columns(_meta=unwrap_json(pl.col("metadata")))
    usage = meta.with_columns(
        _usage=member(pl.col("_meta"), "usage_object"),
        _extra=member(pl.col("_meta"), "additional_usage_values"),
    )
    details = usage.with_columns(
        _details=member(pl.col("_usage"), "prompt_tokens_details"),
        _extra_details=member(pl.col("_extra"), "prompt_tokens_details"),
    )
    return details.with_columns(_split=member(pl.col("_details"), "cache_creation_token_details"))


def _tags(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(`request_tags` as a list, whether it is malformed): an array, or a JSON string holding one;
    an empty string or `null` inside the string is no tags."""
    inner = unwrap_json(text)
    ok = inner.str.contains(_TAG_ARRAY)
    absent = inner.str.strip_chars().is_in(["", "null"])
    tags = pl.when(ok).then(inner).str.json_decode(pl.List(pl.String))
    return tags, (text.is_not_null() & ~ok & ~absent).fill_null(False)


def _skip() -> pl.Expr:
    hit = pl.col("cache_hit").str.to_lowercase().is_in(["true", "1"]).fill_null(False)
    return (
        pl.when(hit)
        .then(pl.lit("LiteLLM cache hit (no provider call)"))
        .when(pl.col("status").str.to_lowercase() == "failure")
        .then(pl.lit("failed request"))
    )


def _latency(ts: pl.Expr) -> pl.Expr:
    end = parse_timestamp(pl.col("endTime"))
    return pl.coalesce(
        pl.col("request_duration_ms"), (end - ts).dt.total_microseconds().cast(pl.Float64) / 1000.0
    )
