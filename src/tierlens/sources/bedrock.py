"""AWS Bedrock model invocation logs (`schemaType: "ModelInvocationLog"`, CloudWatch or S3 delivery).

Token convention (FACTS rule 7 [P]): `input.inputTokenCount` is the uncached input, already the
canonical one; `input.cacheReadInputTokenCount` is cache reads and `input.cacheWriteInputTokenCount`
cache writes, priced as 5-minute writes (the log has no TTL split). `output.outputTokenCount` is
output. Web search does not exist on Bedrock.

Model ids: `modelId` is a foundation model id (`anthropic.claude-sonnet-4-5-20250929-v1:0`), a
system inference profile (`global.` / `us.` / `eu.` / `apac.` / `jp.` / `au.` ... prefix) or an ARN.
Version suffixes and prefixes are normalized (`claude-sonnet-4-5`); a geographic prefix makes the
row `endpoint_scope = "regional"`, which the price table bills at `regional_multiplier` (x1.1 for
Sonnet 4.5, Haiku 4.5, Opus 4.5 and later; list price for older models), `global.` at list price.
A foundation-model or system-profile ARN is read through to its id. An application inference
profile ARN names no model: it stays unpriced unless `[sources.bedrock.inference_profiles]` maps
it to the model or profile it routes to. A model of another vendor keeps that vendor as provider
and its id without region and version (`us.amazon.nova-lite-v1:0` -> `amazon` / `amazon.nova-lite`,
`meta.llama3-1-70b-instruct-v1:0` -> `meta` / `meta.llama3-1-70b-instruct`); the built-in price
table carries Amazon Nova, Titan Text, Meta Llama, Mistral and a few others from genai-prices, and
`[[pricing.models]]` prices any other.

Wrappers: besides one record per line (S3 delivery, `aws logs tail` output), CloudWatch Logs API
output is read, each log event becoming one row that keeps the wrapper's line: Logs Insights
`get-query-results` (`{"results": [[{"field": "@message", "value": "{...}"}, ...]]}`),
`get-log-events` / `filter-log-events` (`{"events": [{"timestamp", "message": "{...}"}]}`), a
subscription payload (`{"logEvents": [...]}`) and a saved Logs Insights table
(`{"@timestamp", "@message": "{...}"}` per record). A reject names the event (`events[3]: ...`).

Skips: records with an `errorCode` are failed calls; a Guardrail block
(`"amazon-bedrock-guardrailAction": "INTERVENED"` or `stopReason: "guardrail_intervened"` in the
output body) without token counts made no billed model call ("guardrail intervened"). A blocked
call that does carry its counts is kept and priced like any other.

Attribution: `requestMetadata` (the Converse API's free-form map) feeds feature/user/project/session
(paths configurable), `identity.arn` (the calling IAM principal) is `api_key_id` and `accountId` is
`workspace_id`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import polars as pl

from tierlens.pricing.models import normalize_model
from tierlens.source_settings import BedrockSource
from tierlens.sources.base import Context, RawField, Reader, SkipRecord
from tierlens.sources.common import negative
from tierlens.sources.exprs import BAD_TIME, content_key, first_of, parse_timestamp, reject_if

SCHEMA_TYPE = "ModelInvocationLog"
_ARN_TARGET = r"^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:(?:inference-profile|foundation-model)/(.+)$"
_VENDOR = r"^(?:(?:global|us|eu|apac|jp|au|us-gov|ca|sa|me|af)\.)?([a-z0-9-]+)\."
_WRAPPERS = ("results", "events", "logEvents")
"""CloudWatch Logs API keys holding log events: Logs Insights results, get/filter-log-events, subscriptions."""
_MESSAGE = "@message"
_SENTINELS = [
    RawField("results.field"),
    RawField("events.message"),
    RawField("logEvents.message"),
    RawField("@message.schemaType"),
]
"""Fields read only so that the fast path refuses a chunk holding a wrapper: DuckDB reads each as an
object and fails on the array (or string) a wrapper has there, so the chunk takes the exact path,
where `explode` opens the wrapper. No invocation record has these keys."""
_UNWRAP_ERROR = "_unwrap_error"
_INTERVENED = r'"amazon-bedrock-guardrailAction"\s*:\s*"INTERVENED"'


class BedrockReader(Reader):
    """Bedrock model invocation logs: one JSON record per line, or CloudWatch Logs API output."""

    name = "bedrock"
    description = "AWS Bedrock model invocation logs (schemaType ModelInvocationLog; JSON lines or CloudWatch Logs output)"

    def __init__(self, cfg: BedrockSource | None = None, aliases: dict[str, str] | None = None) -> None:
        self.cfg = cfg or BedrockSource()
        self.aliases = aliases or {}

    def fields(self) -> list[RawField]:
        c = self.cfg
        out = [
            RawField("schemaType"),
            RawField("timestamp"),
            RawField("requestId"),
            RawField("operation"),
            RawField("modelId"),
            RawField("accountId"),
            RawField("region"),
            RawField("errorCode"),
            RawField("identity.arn"),
            RawField("input.inputTokenCount", "int"),
            RawField("input.cacheReadInputTokenCount", "int"),
            RawField("input.cacheWriteInputTokenCount", "int"),
            RawField("output.outputTokenCount", "int"),
            RawField("output.outputBodyJson", "json"),
            RawField(_UNWRAP_ERROR),
            *_SENTINELS,
        ]
        seen = {f.path for f in out}
        for p in dict.fromkeys([*c.feature, *c.user_id, *c.project, *c.session_id]):
            if p not in seen:
                out.append(RawField(p))
        return out

    def sniff(self, obj: dict[str, Any]) -> bool:
        if obj.get("schemaType") == SCHEMA_TYPE:
            return True
        return any(_is_invocation(text) for text, _ in islice(_events(obj), 5))

    def explode(self, obj: dict[str, Any]) -> Iterable[tuple[str | None, dict[str, Any]]]:
        if "schemaType" in obj:
            return ((None, _without_wrappers(obj)),)
        if obj.get("messageType") == "CONTROL_MESSAGE":
            raise SkipRecord("CloudWatch Logs control message")
        key = next((k for k in _WRAPPERS if isinstance(obj.get(k), list)), None)
        if key is not None:
            return [(f"{key}[{i}]", _invocation(text, ts)) for i, (text, ts) in enumerate(_events(obj))]
        if isinstance(obj.get(_MESSAGE), str):
            return ((_MESSAGE, _invocation(obj[_MESSAGE], obj.get("@timestamp"))),)
        return ((None, _without_wrappers(obj)),)

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        c = self.cfg
        logged = pl.col("modelId")
        resolved = self._resolved(logged)
        model_id, scope = normalize_model(resolved, self.aliases)
        vendor = resolved.str.extract(_VENDOR, 1)
        provider = pl.when(resolved.str.starts_with("arn:")).then(pl.lit("aws.bedrock")).otherwise(vendor)
        uncached = pl.col("input.inputTokenCount")
        reads = pl.col("input.cacheReadInputTokenCount").fill_null(0)
        writes = pl.col("input.cacheWriteInputTokenCount").fill_null(0)
        output = pl.col("output.outputTokenCount")
        ts = parse_timestamp(pl.col("timestamp"))
        body = pl.col("output.outputBodyJson")
        stop = pl.coalesce(
            body.str.extract(r'"stop_reason":"([A-Za-z_]+)"', 1),
            body.str.extract(r'"stopReason":"([A-Za-z_]+)"', 1),
        )
        skip = _skip(body, stop, uncached.is_null() | output.is_null())
        reject = reject_if(
            (pl.col(_UNWRAP_ERROR).is_not_null(), pl.col(_UNWRAP_ERROR)),
            (pl.col("schemaType").ne_missing(SCHEMA_TYPE), "not a Bedrock model invocation log"),
            (logged.is_null(), "missing modelId"),
            (uncached.is_null(), "missing input.inputTokenCount"),
            (output.is_null(), "missing output.outputTokenCount"),
            (negative(uncached, reads, writes, output), "negative token count"),
            (pl.col("timestamp").is_null(), "missing timestamp"),
            (ts.is_null(), BAD_TIME),
        )
        checked = raw.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        out = checked.with_columns(
            request_id=pl.col("requestId"),
            ts=ts,
            ts_source=pl.lit("log"),
            provider=provider,
            model=logged,
            model_id=model_id,
            endpoint_scope=scope,
            input_tokens=uncached,
            cache_read_tokens=reads,
            cache_write_5m_tokens=writes,
            cache_write_1h_tokens=pl.lit(0, pl.Int64),
            output_tokens=output,
            web_search_requests=pl.lit(0, pl.Int64),
            requests=pl.lit(1, pl.Int64),
            service_tier=pl.lit("standard"),
            stop_reason=stop,
            structured_output=body.str.contains(r'"type":"tool_use"|"toolUse":').fill_null(False)
            | (stop == "tool_use").fill_null(False),
            status=pl.lit("ok"),
            feature=first_of(c.feature),
            user_id=first_of(c.user_id),
            api_key_id=pl.col("identity.arn"),
            workspace_id=pl.col("accountId"),
            project=first_of(c.project),
            session_id=first_of(c.session_id),
        )
        fallback = content_key(["ts", "model", "input_tokens", "cache_read_tokens", "output_tokens"])
        return out.with_columns(
            dedupe_key=pl.concat_str(pl.lit("bedrock:"), pl.coalesce(pl.col("request_id"), fallback))
        )

    def _resolved(self, logged: pl.Expr) -> pl.Expr:
        """The model or profile id a logged `modelId` stands for (configured profiles, then ARNs)."""
        profiles = {k.lower(): v for k, v in self.cfg.inference_profiles.items()}
        low = logged.str.strip_chars().str.to_lowercase()
        target = low.str.extract(_ARN_TARGET, 1)
        return (
            pl.when(low.is_in(list(profiles)))
            .then(low.replace(profiles))
            .when(target.is_not_null())
            .then(target)
            .otherwise(low)
        )


def _skip(body: pl.Expr, stop: pl.Expr, no_counts: pl.Expr) -> pl.Expr:
    intervened = body.str.contains(_INTERVENED).fill_null(False) | (stop == "guardrail_intervened").fill_null(
        False
    )
    return (
        pl.when(pl.col("errorCode").is_not_null())
        .then(pl.lit("error response"))
        .when(intervened & no_counts)
        .then(pl.lit("guardrail intervened"))
    )


def _events(obj: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """(message, timestamp) of each log event a CloudWatch Logs wrapper holds."""
    for key in _WRAPPERS:
        items = obj.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if key == "results":  # a Logs Insights row: [{field, value}, ...]
                cells = item if isinstance(item, list) else []
                row = {c.get("field"): c.get("value") for c in cells if isinstance(c, dict)}
                yield row.get(_MESSAGE), row.get("@timestamp")
            else:
                event = item if isinstance(item, dict) else {}
                yield event.get("message"), event.get("timestamp")
        return
    if isinstance(obj.get(_MESSAGE), str):
        yield obj[_MESSAGE], obj.get("@timestamp")


def _invocation(text: Any, ts: Any) -> dict[str, Any]:
    """The invocation record a log event's message holds (the event's time when it has none), or a
    row carrying the reason it cannot be read."""
    if text is None:
        return {_UNWRAP_ERROR: "no @message in the log event (a Logs Insights query must select @message)"}
    if not isinstance(text, str):
        return {_UNWRAP_ERROR: "message: expected a string"}
    try:
        record = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return {_UNWRAP_ERROR: "message is not a JSON record"}
    if not isinstance(record, dict):
        return {_UNWRAP_ERROR: "message is not a JSON record"}
    if record.get("timestamp") is None and ts is not None:
        record["timestamp"] = ts
    return _without_wrappers(record)


def _is_invocation(text: Any) -> bool:
    if not isinstance(text, str) or SCHEMA_TYPE not in text:
        return False
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and record.get("schemaType") == SCHEMA_TYPE


def _without_wrappers(obj: dict[str, Any]) -> dict[str, Any]:
    """A record without the keys only wrappers have (their sentinel fields then read as absent)."""
    if not any(k in obj for k in (*_WRAPPERS, _MESSAGE)):
        return obj
    return {k: v for k, v in obj.items() if k not in _WRAPPERS and k != _MESSAGE}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
