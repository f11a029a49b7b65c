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

`metadata` may be a JSON object or (CSV, some exports) a JSON string: both are read. Cache hits
(LiteLLM answered from its own response cache, `cache_hit` "True") and failed calls (`status`
"failure") made no billed provider call: they cost nothing and are skipped and counted, not
stored as $0 rows. `request_tags` become `tags` (attribution's `tag:` sources read them); the
feature the log states comes from `metadata.spend_logs_metadata.feature` (configurable).
Models are read through LiteLLM's routing prefixes (`bedrock/`, `bedrock/converse/`,
`vertex_ai/`, `anthropic/`, `openai/`, `azure/`), so a Bedrock `us.` profile keeps its regional price.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tierlens.config import LiteLLMSource
from tierlens.pricing.models import normalize_model
from tierlens.sources.base import Context, RawField, Reader, content_key, parse_timestamp, reject_if
from tierlens.sources.common import coalesce, json_int, negative, provider_of

_ROUTE = r"^(?:bedrock|vertex_ai|vertex_ai_beta|anthropic|openai|azure|azure_ai|text-completion-openai)/(?:(?:converse|invoke)/)?"


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
            RawField("request_tags", "strlist"),
        ]
        seen = {f.path for f in out}
        out += [RawField(p) for p in self._top_paths() if p not in seen]
        return out

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "request_id" in obj and "spend" in obj and ("startTime" in obj or "call_type" in obj)

    def _path(self, meta: pl.Expr, path: str) -> pl.Expr:
        if path.startswith("metadata."):
            return meta.str.json_path_match("$." + path.removeprefix("metadata."))
        return pl.col(path)

    def _first(self, meta: pl.Expr, paths: list[str]) -> pl.Expr:
        if not paths:
            return pl.lit(None, pl.String)
        return coalesce([self._path(meta, p) for p in paths])

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        c = self.cfg
        text = pl.col("metadata")
        # a JSON string holding the JSON (CSV exports, some APIs): `$` unwraps it
        meta = pl.when(text.str.starts_with('"')).then(text.str.json_path_match("$")).otherwise(text)
        ints = {
            name: json_int(meta, path, f"metadata.{path}")
            for name, path in {
                "read": "usage_object.cache_read_input_tokens",
                "read_details": "usage_object.prompt_tokens_details.cached_tokens",
                "read_extra": "additional_usage_values.cache_read_input_tokens",
                "write": "usage_object.cache_creation_input_tokens",
                "write_details": "usage_object.prompt_tokens_details.cache_creation_tokens",
                "write_extra": "additional_usage_values.cache_creation_input_tokens",
                "w5": "usage_object.prompt_tokens_details.cache_creation_token_details.ephemeral_5m_input_tokens",
                "w1": "usage_object.prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
            }.items()
        }
        reads = pl.coalesce(ints["read"][0], ints["read_details"][0], ints["read_extra"][0]).fill_null(0)
        writes = pl.coalesce(ints["write"][0], ints["write_details"][0], ints["write_extra"][0]).fill_null(0)
        split = ints["w5"][0].is_not_null() | ints["w1"][0].is_not_null()
        w5 = pl.when(split).then(ints["w5"][0].fill_null(0)).otherwise(writes)
        w1 = pl.when(split).then(ints["w1"][0].fill_null(0)).otherwise(0)
        prompt = pl.col("prompt_tokens")
        completion = pl.col("completion_tokens")
        uncached = prompt - reads - w5 - w1
        model = pl.col("model")
        routed = model.str.strip_chars().str.to_lowercase().str.replace(_ROUTE, "")
        model_id, scope = normalize_model(routed, self.aliases)
        ts = parse_timestamp(pl.col("startTime"))
        end = parse_timestamp(pl.col("endTime"))
        hit = pl.col("cache_hit").str.to_lowercase().is_in(["true", "1"]).fill_null(False)
        skip = (
            pl.when(hit)
            .then(pl.lit("LiteLLM cache hit (no provider call)"))
            .when(pl.col("status").str.to_lowercase() == "failure")
            .then(pl.lit("failed request"))
        )
        reject = reject_if(
            (model.is_null(), "missing model"),
            *[(why.is_not_null(), why) for _, why in ints.values()],
            (prompt.is_null(), "missing prompt_tokens"),
            (completion.is_null(), "missing completion_tokens"),
            (negative(prompt, completion, reads, w5, w1), "negative token count"),
            (uncached < 0, "cache tokens exceed prompt_tokens"),
            (pl.col("startTime").is_null(), "missing startTime"),
            (ts.is_null(), pl.format("unparseable startTime {}", pl.col("startTime").str.slice(0, 40))),
        )
        checked = raw.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        latency = pl.coalesce(
            pl.col("request_duration_ms"), (end - ts).dt.total_microseconds().cast(pl.Float64) / 1000.0
        )
        out = checked.with_columns(
            request_id=pl.col("request_id"),
            ts=ts,
            ts_source=pl.lit("log"),
            provider=provider_of(model_id, pl.col("custom_llm_provider")),
            model=model,
            model_id=model_id,
            endpoint_scope=scope,
            input_tokens=uncached,
            cache_read_tokens=reads,
            cache_write_5m_tokens=w5,
            cache_write_1h_tokens=w1,
            output_tokens=completion,
            web_search_requests=pl.lit(0, pl.Int64),
            requests=pl.lit(1, pl.Int64),
            service_tier=pl.lit("standard"),
            status=pl.lit("ok"),
            feature=self._first(meta, c.feature),
            user_id=self._first(meta, c.user_id),
            api_key_id=self._first(meta, c.api_key_id),
            workspace_id=self._first(meta, c.workspace_id),
            project=self._first(meta, c.project),
            session_id=self._first(meta, c.session_id),
            tags=pl.col("request_tags"),
            latency_ms=latency,
            logged_cost_usd=pl.col("spend"),
        )
        fallback = content_key(["ts", "model", "input_tokens", "output_tokens", "user_id"])
        return out.with_columns(
            dedupe_key=pl.concat_str(pl.lit("litellm:"), pl.coalesce(pl.col("request_id"), fallback))
        )
