"""OpenAI: chat completions and Responses logs, and the organization Usage API export.

Token convention (FACTS rule 8; openai-python 2.54 types): `prompt_tokens` (chat) / `input_tokens`
(Responses) INCLUDE `*_tokens_details.cached_tokens`, and `completion_tokens` / `output_tokens`
include reasoning. Canonically: `input_tokens` = prompt - cached (uncached input),
`cache_read_tokens` = cached, `output_tokens` = completion. `*_tokens_details.cache_write_tokens`
(newer models bill prompt-cache writes, at 1.25x input on gpt-5.6) are `cache_write_5m_tokens`,
taken out of the uncached input; on a model whose price row has no cache-write rate such a row is
unpriced, never billed at a guessed rate. Audio tokens are
priced as text (the table has no audio rates). `service_tier` `default`/`auto` is `standard`;
`flex` is billed at Batch API prices (x0.5, as OpenAI prices it); `scale` and `priority` are kept as logged and priced at list price (no public rates here).

- `openai`: one response per line, bare or wrapped under `response` by a gateway (the same
  attribution paths as the Anthropic gateway logs), also a streaming `response.completed` event
  or a final `chat.completion.chunk` carrying usage. Error responses and usage-less stream events
  are skipped and counted.
- `openai_usage`: `GET /v1/organization/usage/completions` pages (`{object: "page", data:
  [{start_time, end_time, results: [...]}]}`), one page per line or a saved document, or the
  dashboard's CSV export (one result per row with `start_time`). One row per bucket x group:
  `requests` = `num_model_requests`, `batch: true` is the batch tier (x0.5), `ts` = bucket start.
  The dedupe key is the bucket plus its group values, so re-ingesting a page adds nothing; do not
  ingest the same period under two different `group_by`s (their rows would both count).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from tierlens.pricing.models import normalize_model
from tierlens.source_settings import OpenAISource
from tierlens.sources.anthropic import file_time
from tierlens.sources.base import Context, RawField, Reader, RecordError
from tierlens.sources.common import claude_evidence, negative, openai_evidence, standard_tier
from tierlens.sources.exprs import BAD_TIME, content_key, first_of, parse_timestamp, reject_if

_PREFIXES = ("response", "")
_RESPONSE_OBJECTS = ("chat.completion", "chat.completion.chunk", "response", "response.compaction")
_RUNNING = ("queued", "in_progress")
"""Background-mode statuses of a response that has not finished (polled, usage still null)."""


def _calls(output: pl.Expr, kind: str) -> pl.Expr:
    """How many items of `kind` a Responses `output` array (as JSON text) holds."""
    return output.str.count_matches(f'"type":"{kind}"').fill_null(0).cast(pl.Int64)


def _containers(output: pl.Expr) -> pl.Expr:
    """Distinct code interpreter containers a response used (OpenAI bills per container)."""
    ids = output.str.extract_all(r'"container_id":"([^"]+)"').list.unique().list.len()
    return pl.when(_calls(output, "code_interpreter_call") > 0).then(ids).otherwise(0).cast(pl.Int64)


def _response_fields(prefix: str) -> list[RawField]:
    p = f"{prefix}." if prefix else ""
    u = f"{p}usage."
    return [
        RawField(f"{p}id"),
        RawField(f"{p}object"),
        RawField(f"{p}model"),
        RawField(f"{p}status"),
        RawField(f"{p}service_tier"),
        RawField(f"{p}error", "json"),
        RawField(f"{p}choices", "json"),
        RawField(f"{p}output", "json"),
        RawField(f"{p}tools", "json"),
        RawField(f"{p}incomplete_details.reason"),
        RawField(f"{u}prompt_tokens", "int"),
        RawField(f"{u}completion_tokens", "int"),
        RawField(f"{u}prompt_tokens_details.cached_tokens", "int"),
        RawField(f"{u}prompt_tokens_details.cache_write_tokens", "int"),
        RawField(f"{u}input_tokens", "int"),
        RawField(f"{u}output_tokens", "int"),
        RawField(f"{u}input_tokens_details.cached_tokens", "int"),
        RawField(f"{u}input_tokens_details.cache_write_tokens", "int"),
    ]


def _looks_like_response(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if obj.get("object") in _RESPONSE_OBJECTS:
        return True
    usage = obj.get("usage")
    return isinstance(usage, dict) and (
        "prompt_tokens" in usage or "input_tokens_details" in usage or "output_tokens_details" in usage
    )


def _pick(name: str) -> pl.Expr:
    return pl.coalesce([pl.col(f"{p}.{name}" if p else name) for p in _PREFIXES])


class OpenAIReader(Reader):
    """OpenAI chat completions and Responses objects, bare or wrapped under `response`."""

    name = "openai"
    description = "OpenAI chat completions / Responses logs (JSON lines), bare or wrapped under `response`"

    def __init__(self, cfg: OpenAISource | None = None, aliases: dict[str, str] | None = None) -> None:
        self.cfg = cfg or OpenAISource()
        self.aliases = aliases or {}

    def fields(self) -> list[RawField]:
        c = self.cfg
        scalar = [
            *c.timestamp,
            *c.request_id,
            *c.feature,
            *c.user_id,
            *c.api_key_id,
            *c.workspace_id,
            *c.project,
            *c.session_id,
            "type",
        ]
        out = [RawField(p) for p in dict.fromkeys(scalar)]
        out += [RawField(p, "num") for p in c.latency_ms]
        out.append(RawField(c.tags, "strlist"))
        out.append(RawField("request.model", loose=True))
        for prefix in _PREFIXES:
            out += _response_fields(prefix)
        return _unique(out)

    def sniff(self, obj: dict[str, Any]) -> bool:
        resp = obj.get("response")
        for candidate in (obj, resp):
            if isinstance(candidate, dict) and claude_evidence(candidate) and not openai_evidence(candidate):
                return False  # a Claude response (`output_tokens_details` alone proves nothing)
        return _looks_like_response(obj) or _looks_like_response(resp)

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        c = self.cfg
        u = _Usage.of()
        obj = _pick("object")
        # a compaction object names no model: it is the model of the request that asked for it
        model = pl.coalesce(_pick("model"), pl.col("request.model"))
        compaction = (obj == "response.compaction").fill_null(False)
        ts_text = first_of(c.timestamp)
        logged_ts = parse_timestamp(ts_text)
        fallback, fallback_source = file_time(ctx, ctx.options.get("ts_from") or c.ts_fallback)
        skip = _skip_reason(u, obj)
        reject = reject_if(
            (model.is_null() & ~u.present & obj.is_null(), "not an OpenAI response record"),
            (model.is_null() & ~compaction, "missing model"),
            (u.prompt.is_null(), "missing usage.prompt_tokens (or usage.input_tokens)"),
            (u.completion.is_null(), "missing usage.completion_tokens (or usage.output_tokens)"),
            (negative(u.prompt, u.completion, u.cached, u.written), "negative token count"),
            (u.cached + u.written > u.prompt, "cached and cache-write tokens exceed the prompt tokens"),
            (ts_text.is_not_null() & logged_ts.is_null(), pl.lit(BAD_TIME)),
        )
        model_id, scope = normalize_model(model, self.aliases)
        finish = _pick("choices").str.extract(r'"finish_reason":"([a-z_]+)"', 1)
        checked = raw.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        out = checked.with_columns(
            message_id=_pick("id"),
            request_id=pl.coalesce(first_of(c.request_id), _pick("id")),
            ts=pl.coalesce(logged_ts, pl.lit(fallback, dtype=pl.Datetime("us", "UTC"))),
            ts_source=pl.when(logged_ts.is_not_null()).then(pl.lit("log")).otherwise(pl.lit(fallback_source)),
            provider=pl.lit("openai"),
            model=model,
            model_id=model_id,
            endpoint_scope=scope,
            **u.columns(),
            **_tool_calls(_pick("output")),
            requests=pl.lit(1, pl.Int64),
            service_tier=standard_tier(_pick("service_tier")),
            stop_reason=pl.coalesce(finish, _pick("incomplete_details.reason"), _pick("status")),
            structured_output=_structured(finish),
            status=pl.when(compaction).then(pl.lit("compaction")).otherwise(pl.lit("ok")),
            **self._labels(),
        )
        content = content_key(
            ["ts", "model", "input_tokens", "cache_read_tokens", "output_tokens", "feature"]
        )
        return out.with_columns(
            dedupe_key=pl.concat_str(
                pl.lit("openai:"), pl.coalesce(pl.col("message_id"), pl.col("request_id"), content)
            )
        )

    def _labels(self) -> dict[str, pl.Expr]:
        """The attribution columns, each from the first configured field the record has."""
        c = self.cfg
        labels = {
            name: first_of(getattr(c, name))
            for name in ("feature", "user_id", "api_key_id", "workspace_id", "project", "session_id")
        }
        return {**labels, "tags": pl.col(c.tags), "latency_ms": first_of(c.latency_ms)}


@dataclass(frozen=True)
class _Usage:
    """A response's token counts, from Chat Completions' names or the Responses API's."""

    prompt: pl.Expr
    cached: pl.Expr
    written: pl.Expr
    completion: pl.Expr

    @classmethod
    def of(cls) -> _Usage:
        return cls(
            prompt=pl.coalesce(_pick("usage.prompt_tokens"), _pick("usage.input_tokens")),
            cached=pl.coalesce(
                _pick("usage.prompt_tokens_details.cached_tokens"),
                _pick("usage.input_tokens_details.cached_tokens"),
            ).fill_null(0),
            written=pl.coalesce(
                _pick("usage.prompt_tokens_details.cache_write_tokens"),
                _pick("usage.input_tokens_details.cache_write_tokens"),
            ).fill_null(0),
            completion=pl.coalesce(_pick("usage.completion_tokens"), _pick("usage.output_tokens")),
        )

    @property
    def present(self) -> pl.Expr:
        return self.prompt.is_not_null() | self.completion.is_not_null()

    def columns(self) -> dict[str, pl.Expr]:
        """The canonical token columns (OpenAI's prompt count includes its cached tokens)."""
        return {
            "input_tokens": self.prompt - self.cached - self.written,
            "cache_read_tokens": self.cached,
            "cache_write_5m_tokens": self.written,
            "cache_write_1h_tokens": pl.lit(0, pl.Int64),
            "output_tokens": self.completion,
        }


def _skip_reason(u: _Usage, obj: pl.Expr) -> pl.Expr:
    """Why a record is no billed response: an error, a background response still running, a stream event."""
    status = _pick("status")
    return (
        pl.when(_pick("error").is_not_null() | (status == "failed"))
        .then(pl.lit("error response"))
        .when(~u.present & status.is_in(_RUNNING))
        .then(pl.lit("background response still running (no usage yet)"))
        .when(~u.present & ((obj == "chat.completion.chunk") | pl.col("type").str.starts_with("response.")))
        .then(pl.lit("streaming event"))
    )


def _tool_calls(output: pl.Expr) -> dict[str, pl.Expr]:
    """The server-side tool calls a response's `output` lists (web search's preview tool priced apart)."""
    preview = _pick("tools").str.contains('"type":"web_search_preview').fill_null(False)
    return {
        "web_search_requests": _calls(output, "web_search_call"),
        "web_search_variant": pl.when(preview).then(pl.lit("preview")),
        "file_search_calls": _calls(output, "file_search_call"),
        "code_interpreter_calls": _containers(output),
        "image_generation_calls": _calls(output, "image_generation_call"),
    }


def _structured(finish: pl.Expr) -> pl.Expr:
    """A tool or function call in the answer (Chat Completions' choices or the Responses output)."""
    return (
        (finish == "tool_calls").fill_null(False)
        | _pick("choices").str.contains(r'"tool_calls":\[\{').fill_null(False)
        | _pick("output").str.contains(r'"type":"function_call"').fill_null(False)
    )


# --- organization Usage API -------------------------------------------------------------------------

USAGE_GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
COMPLETIONS = "organization.usage.completions.result"


class OpenAIUsageReader(Reader):
    """`/v1/organization/usage/completions` pages, or the dashboard CSV: one row per bucket x group."""

    name = "openai_usage"
    description = "OpenAI organization Usage API export (completions pages, JSON or CSV): bucketed aggregates"
    fast_path = False

    def __init__(self, aliases: dict[str, str] | None = None) -> None:
        self.aliases = aliases or {}

    def fields(self) -> list[RawField]:
        return [
            RawField("start_time"),
            RawField("end_time"),
            RawField("object"),
            RawField("model"),
            RawField("project_id"),
            RawField("user_id"),
            RawField("api_key_id"),
            RawField("service_tier"),
            RawField("batch", "bool"),
            RawField("input_tokens", "int"),
            RawField("input_cached_tokens", "int"),
            RawField("output_tokens", "int"),
            RawField("num_model_requests", "int"),
        ]

    def sniff(self, obj: dict[str, Any]) -> bool:
        data = obj.get("data")
        if isinstance(data, list) and data and isinstance(data[0], dict):
            return _is_usage_bucket(data[0])
        return _is_usage_bucket(obj) or ("num_model_requests" in obj and "start_time" in obj)

    def explode(self, obj: dict[str, Any]) -> Iterable[tuple[str | None, dict[str, Any]]]:
        if "data" in obj:
            data = obj["data"]
            if not isinstance(data, list):
                raise RecordError("data: expected an array of buckets")
            return [row for i, b in enumerate(data) for row in _bucket_rows(b, f"data[{i}]")]
        if "results" in obj:
            return _bucket_rows(obj, "bucket")
        return [(None, obj)]  # one result per record (the dashboard's CSV export)

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        start = pl.col("start_time")
        ts = parse_timestamp(start)
        prompt = pl.col("input_tokens")
        cached = pl.col("input_cached_tokens").fill_null(0)
        kind = pl.col("object")
        model = pl.col("model").fill_null("(not grouped by model)")
        model_id, scope = normalize_model(model, self.aliases)
        skip = pl.when(kind.is_not_null() & (kind != COMPLETIONS)).then(
            pl.format("{} (only completions usage is priced)", kind)
        )
        reject = reject_if(
            (start.is_null(), "missing start_time"),
            (ts.is_null(), pl.lit("unparseable start_time (epoch seconds between 2000 and 2100)")),
            (prompt.is_null(), "missing input_tokens"),
            (pl.col("output_tokens").is_null(), "missing output_tokens"),
            (
                negative(prompt, cached, pl.col("output_tokens"), pl.col("num_model_requests")),
                "negative count",
            ),
            (cached > prompt, "input_cached_tokens exceed input_tokens"),
        )
        checked = raw.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        key = pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("") for c in ("start_time", "end_time", *USAGE_GROUPS)],
            separator="|",
        )
        return checked.with_columns(
            dedupe_key=pl.concat_str(pl.lit("openai_usage:"), key),
            ts=ts,
            ts_source=pl.lit("bucket_start"),
            provider=pl.lit("openai"),
            model=model,
            model_id=model_id,
            endpoint_scope=scope,
            input_tokens=prompt - cached,
            cache_read_tokens=cached,
            cache_write_5m_tokens=pl.lit(0, pl.Int64),
            cache_write_1h_tokens=pl.lit(0, pl.Int64),
            output_tokens=pl.col("output_tokens"),
            web_search_requests=pl.lit(0, pl.Int64),
            requests=pl.col("num_model_requests"),
            service_tier=pl.when(pl.col("batch").fill_null(False))
            .then(pl.lit("batch"))
            .otherwise(standard_tier(pl.col("service_tier"))),
            long_context=pl.lit(False),
            workspace_id=pl.col("project_id"),
            status=pl.lit("ok"),
        )


def _is_usage_bucket(b: dict[str, Any]) -> bool:
    results = b.get("results")
    if not (isinstance(results, list) and "start_time" in b):
        return False
    first = results[0] if results and isinstance(results[0], dict) else {}
    return str(first.get("object", "")).startswith("organization.usage.") or "num_model_requests" in first


def _bucket_rows(bucket: Any, where: str) -> list[tuple[str | None, dict[str, Any]]]:
    if not isinstance(bucket, dict):
        raise RecordError(f"{where}: expected a bucket object")
    results = bucket.get("results")
    if not isinstance(results, list):
        raise RecordError(f"{where}.results: expected an array")
    out: list[tuple[str | None, dict[str, Any]]] = []
    for j, r in enumerate(results):
        if not isinstance(r, dict):
            raise RecordError(f"{where}.results[{j}]: expected an object")
        out.append(
            (
                f"{where}.results[{j}]",
                {**r, "start_time": bucket.get("start_time"), "end_time": bucket.get("end_time")},
            )
        )
    return out


def _unique(fields: Sequence[RawField]) -> list[RawField]:
    seen: dict[str, RawField] = {}
    for f in fields:
        seen.setdefault(f.path, f)
    return list(seen.values())
