"""Anthropic Admin API usage report: `GET /v1/organizations/usage_report/messages` pages.

A page is `{data: [{starting_at, ending_at, results: [...]}], has_more, next_page}` (FACTS A2),
saved one page per line or as a document. Each bucket x result is one row: an aggregate, not a
request. Tokens are already in the canonical convention: `uncached_input_tokens` is uncached
input, `cache_creation.ephemeral_5m/1h_input_tokens` the writes by TTL, `cache_read_input_tokens`,
`output_tokens`, `server_tool_use.web_search_requests`. The grouping dimensions (`model`,
`workspace_id`, `api_key_id`, `service_tier`, `context_window`, `inference_geo`, `account_id`,
`service_account_id`) are null unless the report was grouped by them.

- `requests` is null: the report carries no request count (unknown, not zero).
- `ts` is the bucket start (`ts_source = "bucket_start"`).
- Long context: a bucket's summed tokens say nothing about single requests, so the tier comes
  from `context_window` (`200k-1M` = long-context rates, as the report groups them); a report
  not grouped by `context_window` is priced at standard rates. Group by it when long prompts matter.
- `model` null (not grouped by model) is kept as `(not grouped by model)` and stays unpriced.
- Dedupe key: bucket start and end plus every group value, so re-ingesting a page adds nothing.
  Do not ingest one period twice under different `group_by`s, nor beside the request logs of the
  same traffic: both would count.

The sibling `cost_report` holds money, not usage: it is read by `tierlens reconcile` (see
`tierlens.sources.costs`), never ingested.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from tierlens.pricing.models import normalize_model
from tierlens.sources.base import Context, RawField, Reader, RecordError
from tierlens.sources.common import negative, standard_tier
from tierlens.sources.exprs import parse_timestamp, reject_if

GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
)
_TOKENS = (
    "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "server_tool_use.web_search_requests",
)


def is_usage_bucket(b: Any) -> bool:
    """A usage_report bucket (`starting_at` + results with token counts, not `amount`)."""
    if not isinstance(b, dict) or "starting_at" not in b or not isinstance(b.get("results"), list):
        return False
    first = next((r for r in b["results"] if isinstance(r, dict)), None)
    return first is None or ("uncached_input_tokens" in first and "amount" not in first)


class AnthropicUsageReportReader(Reader):
    """Admin API usage_report/messages pages: one row per bucket x group (aggregate usage)."""

    name = "anthropic_usage"
    description = "Anthropic Admin API usage_report/messages pages: bucketed aggregate usage"
    fast_path = False

    def __init__(self, aliases: dict[str, str] | None = None) -> None:
        self.aliases = aliases or {}

    def fields(self) -> list[RawField]:
        return [
            RawField("starting_at"),
            RawField("ending_at"),
            *[RawField(g) for g in GROUPS],
            *[RawField(t, "int") for t in _TOKENS],
        ]

    def sniff(self, obj: dict[str, Any]) -> bool:
        data = obj.get("data")
        if isinstance(data, list) and data:
            return is_usage_bucket(data[0]) and bool(data[0].get("results"))
        return is_usage_bucket(obj) and bool(obj.get("results"))

    def explode(self, obj: dict[str, Any]) -> Iterable[tuple[str | None, dict[str, Any]]]:
        if "data" in obj:
            data = obj["data"]
            if not isinstance(data, list):
                raise RecordError("data: expected an array of buckets")
            buckets = [(f"data[{i}]", b) for i, b in enumerate(data)]
        elif "results" in obj:
            buckets = [("bucket", obj)]
        else:
            raise RecordError("expected a usage_report page ({data: [...]}) or bucket")
        out: list[tuple[str | None, dict[str, Any]]] = []
        for where, b in buckets:
            if not isinstance(b, dict) or not isinstance(b.get("results"), list):
                raise RecordError(f"{where}: expected a bucket with results")
            for j, r in enumerate(b["results"]):
                if not isinstance(r, dict):
                    raise RecordError(f"{where}.results[{j}]: expected an object")
                out.append(
                    (
                        f"{where}.results[{j}]",
                        {**r, "starting_at": b.get("starting_at"), "ending_at": b.get("ending_at")},
                    )
                )
        return out

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        start = pl.col("starting_at")
        ts = parse_timestamp(start)
        tok = {t: pl.col(t) for t in _TOKENS}
        model = pl.col("model").fill_null("(not grouped by model)")
        model_id, scope = normalize_model(model, self.aliases)
        reject = reject_if(
            (start.is_null(), "missing starting_at"),
            (ts.is_null(), "unparseable starting_at (ISO 8601 between 2000 and 2100)"),
            (tok["uncached_input_tokens"].is_null(), "missing uncached_input_tokens"),
            (tok["output_tokens"].is_null(), "missing output_tokens"),
            (negative(*tok.values()), "negative token count"),
        )
        key = pl.concat_str(
            [pl.col(c).fill_null("") for c in ("starting_at", "ending_at", *GROUPS)], separator="|"
        )
        return raw.with_columns(
            _skip=pl.lit(None, pl.String),
            _reject=reject,
            dedupe_key=pl.concat_str(pl.lit("anthropic_usage:"), key),
            ts=ts,
            ts_source=pl.lit("bucket_start"),
            provider=pl.lit("anthropic"),
            model=model,
            model_id=model_id,
            endpoint_scope=scope,
            input_tokens=tok["uncached_input_tokens"],
            cache_write_5m_tokens=tok["cache_creation.ephemeral_5m_input_tokens"].fill_null(0),
            cache_write_1h_tokens=tok["cache_creation.ephemeral_1h_input_tokens"].fill_null(0),
            cache_read_tokens=tok["cache_read_input_tokens"].fill_null(0),
            output_tokens=tok["output_tokens"],
            web_search_requests=tok["server_tool_use.web_search_requests"].fill_null(0),
            requests=pl.lit(None, pl.Int64),
            service_tier=standard_tier(pl.col("service_tier")),
            long_context=(pl.col("context_window") == "200k-1M").fill_null(False),
            user_id=pl.coalesce(pl.col("account_id"), pl.col("service_account_id")),
            status=pl.lit("ok"),
        )
