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
it to the model or profile it routes to. A model of another vendor (`amazon.nova-pro-v1:0`,
`meta.llama...`) is kept under that vendor as provider and stays unpriced unless
`[[pricing.models]]` prices it (`provider = "amazon"`, `model_id = "amazon.nova-pro"`).

Attribution: `requestMetadata` (the Converse API's free-form map) feeds feature/user/project/session
(paths configurable), `identity.arn` (the calling IAM principal) is `api_key_id` and `accountId` is
`workspace_id`. Records with an `errorCode` are failed calls: skipped and counted.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tierlens.config import BedrockSource
from tierlens.pricing.models import normalize_model
from tierlens.sources.base import Context, RawField, Reader, content_key, first_of, parse_timestamp, reject_if
from tierlens.sources.common import negative

_ARN_TARGET = r"^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:(?:inference-profile|foundation-model)/(.+)$"
_VENDOR = r"^(?:(?:global|us|eu|apac|jp|au|us-gov|ca|sa|me|af)\.)?([a-z0-9-]+)\."


class BedrockReader(Reader):
    """Bedrock model invocation logs, one JSON record per line."""

    name = "bedrock"
    description = "AWS Bedrock model invocation logs (schemaType ModelInvocationLog, JSON lines)"

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
        ]
        seen = {f.path for f in out}
        for p in dict.fromkeys([*c.feature, *c.user_id, *c.project, *c.session_id]):
            if p not in seen:
                out.append(RawField(p))
        return out

    def sniff(self, obj: dict[str, Any]) -> bool:
        return obj.get("schemaType") == "ModelInvocationLog"

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        c = self.cfg
        logged = pl.col("modelId")
        profiles = {k.lower(): v for k, v in c.inference_profiles.items()}
        low = logged.str.strip_chars().str.to_lowercase()
        target = low.str.extract(_ARN_TARGET, 1)
        resolved = (
            pl.when(low.is_in(list(profiles)))
            .then(low.replace(profiles))
            .when(target.is_not_null())
            .then(target)
            .otherwise(low)
        )
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
        skip = pl.when(pl.col("errorCode").is_not_null()).then(pl.lit("error response"))
        reject = reject_if(
            (pl.col("schemaType").ne_missing("ModelInvocationLog"), "not a Bedrock model invocation log"),
            (logged.is_null(), "missing modelId"),
            (uncached.is_null(), "missing input.inputTokenCount"),
            (output.is_null(), "missing output.outputTokenCount"),
            (negative(uncached, reads, writes, output), "negative token count"),
            (pl.col("timestamp").is_null(), "missing timestamp"),
            (ts.is_null(), pl.format("unparseable timestamp {}", pl.col("timestamp").str.slice(0, 40))),
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
