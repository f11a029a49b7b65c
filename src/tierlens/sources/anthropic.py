"""Anthropic Messages logs and Message Batches results.

Both hold Messages API response objects (`usage` as in anthropic-sdk-python `types/usage.py`):
`input_tokens` excludes cache tokens, which is the canonical convention, so tokens map 1:1.
When `usage.cache_creation` is present its 5m/1h split wins over `cache_creation_input_tokens`;
when absent, all cache writes are 5-minute writes (the documented default).

- Messages logs: one JSON object per line, the response either bare or wrapped under
  `response` beside a timestamp, a request id and attribution fields (paths configurable).
- Batch results: `custom_id` + `result`; only `succeeded` is billed (at batch prices). Lines
  carry no timestamp, so `ts` comes from the batch's `ended_at`: given as an option, found in a
  sidecar batch object (`<batch id>.batch.json`, as `GET /v1/messages/batches/{id}` returns it),
  set in config, or else the file's modification time; `ts_source` says which.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import SourceError
from tierlens.pricing.models import normalize_model, with_model_ids
from tierlens.schema import SCHEMA, TOKEN_COLUMNS
from tierlens.source_settings import BatchSource, MessagesSource
from tierlens.sources.base import Context, RawField, Reader
from tierlens.sources.common import claude_evidence, openai_evidence
from tierlens.sources.exprs import BAD_TIME, content_key, first_of, reject_if, with_timestamp
from tierlens.sources.iterations import with_iterations
from tierlens.sources.streams import MERGED

_STREAM_MARKERS = (b'"message_start"', b'"message_delta"', b'"message_stop"')
_USAGE_EVENTS = ["message_start", "message_delta", "message_stop"]
"""Stream events merged into their request (`StreamAssembler`); the others carry no usage."""
STREAM_EVENTS = [
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "ping",
]


def message_fields(prefix: str, loose: bool = False) -> list[RawField]:
    """Raw fields of a Messages API response object found at `prefix` ('' for top level).

    `loose`: the prefix is probed (a stream event's `message`), so a non-object there is no error.
    """
    p = f"{prefix}." if prefix else ""
    u = f"{p}usage."
    fields = [
        RawField(f"{p}id"),
        RawField(f"{p}type"),
        RawField(f"{p}model"),
        RawField(f"{p}stop_reason"),
        RawField(f"{p}content", "json"),
        RawField(f"{p}error", "json"),
        RawField(f"{u}input_tokens", "int"),
        RawField(f"{u}output_tokens", "int"),
        RawField(f"{u}cache_creation_input_tokens", "int"),
        RawField(f"{u}cache_read_input_tokens", "int"),
        RawField(f"{u}cache_creation.ephemeral_5m_input_tokens", "int"),
        RawField(f"{u}cache_creation.ephemeral_1h_input_tokens", "int"),
        RawField(f"{u}server_tool_use.web_search_requests", "int"),
        RawField(f"{u}service_tier"),
        RawField(f"{u}inference_geo"),
        RawField(f"{u}speed"),
        RawField(f"{u}iterations", "json"),
    ]
    return [RawField(f.path, f.kind, loose=True) for f in fields] if loose else fields


_STREAM_FIELDS = [
    # a stream event: `message_start` holds the message under `message`, `message_delta` its stop
    # reason under `delta` (and cumulative usage at the top, where a response has it)
    *message_fields("response.message", loose=True),
    *message_fields("message", loose=True),
    RawField("response.delta.stop_reason", loose=True),
    RawField("delta.stop_reason", loose=True),
]


def present_prefixes(raw: pl.DataFrame, prefixes: Sequence[str]) -> list[str]:
    """The prefixes under which this chunk has response objects (a uniform chunk needs one, not a coalesce)."""

    def has(prefix: str) -> bool:
        names = [
            f"{prefix}.{n}" if prefix else n
            for n in ("type", "model", "usage.input_tokens", "usage.output_tokens")
        ]
        return bool(raw.select(pl.any_horizontal([pl.col(n).is_not_null().any() for n in names])).item())

    found = [p for p in prefixes if has(p)]
    return found or list(prefixes)


def finish(
    out: pl.DataFrame, aliases: dict[str, str], key_prefix: str, extra: Sequence[str] = ()
) -> pl.DataFrame:
    """Common tail of the Anthropic readers: the dedupe key, iterations, model ids, canonical columns only."""
    key = pl.coalesce(pl.col("message_id"), pl.col("request_id"))
    if out.select(key.is_null().any()).item():
        # without any id, the record's content is its identity (re-ingesting it still adds nothing)
        identity = [
            "ts",
            "model",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "feature",
            "user_id",
        ]
        key = pl.coalesce(key, content_key([c for c in identity if c in out.columns]))
    out = out.with_columns(dedupe_key=pl.concat_str(pl.lit(key_prefix), key))
    out = with_model_ids(with_iterations(_filled(out)), aliases)
    # canonical columns plus the framework's bookkeeping (`_line`, `_skip`, `_reject`, ...): the raw
    # columns are dropped here so that the filters after this step move far less data
    keep = [c for c in SCHEMA if c in out.columns] + [
        c for c in out.columns if c.startswith("_") and c != "_ts"
    ]
    return out.select(keep)


_COUNTS = (*TOKEN_COLUMNS, "web_search_requests")


def _filled(out: pl.DataFrame) -> pl.DataFrame:
    """Absent counts are 0 in a whole response; stream events keep their nulls until merged."""
    events = "_event" in out.columns and out.select(pl.col("_event").is_not_null().any()).item()
    whole = pl.col("_event").is_null() if events else pl.lit(True)
    counts = [pl.when(whole).then(pl.col(c).fill_null(0)).otherwise(pl.col(c)) for c in _COUNTS]
    return out.with_columns(
        *(counts if events else [pl.col(c).fill_null(0) for c in _COUNTS]),
        speed=pl.col("speed").fill_null("standard"),
    )


def _pick(prefixes: Sequence[str], name: str) -> pl.Expr:
    cols = [pl.col(f"{p}.{name}" if p else name) for p in prefixes]
    return pl.coalesce(cols) if len(cols) > 1 else cols[0]


def message_columns(
    prefixes: Sequence[str], aliases: dict[str, str], normalize: bool = True
) -> dict[str, pl.Expr]:
    """Canonical usage/model columns from response objects at `prefixes` (first non-null wins).

    With `normalize=False` the caller adds `model_id`/`endpoint_scope` with `with_model_ids`,
    once per distinct model instead of once per row.
    """

    def g(name: str) -> pl.Expr:
        return _pick(prefixes, name)

    split_present = (
        g("usage.cache_creation.ephemeral_5m_input_tokens").is_not_null()
        | g("usage.cache_creation.ephemeral_1h_input_tokens").is_not_null()
    )
    model = g("model")
    content = g("content")
    tool_call = content.str.contains(r'"type":"tool_use"').fill_null(False)
    json_text = content.str.contains(r'"type":"text","text":"\s*[\{\[]').fill_null(False)
    return {
        "message_id": g("id"),
        "provider": pl.lit("anthropic"),
        "model": model,
        **(
            dict(zip(("model_id", "endpoint_scope"), normalize_model(model, aliases), strict=True))
            if normalize
            else {}
        ),
        # counts stay null where the record has none: a stream event's usage updates only what it
        # states (`finish` fills the rest with 0 once a row is a whole response)
        "input_tokens": g("usage.input_tokens"),
        "output_tokens": g("usage.output_tokens"),
        "cache_read_tokens": g("usage.cache_read_input_tokens"),
        "cache_write_5m_tokens": pl.when(split_present)
        .then(g("usage.cache_creation.ephemeral_5m_input_tokens").fill_null(0))
        .otherwise(g("usage.cache_creation_input_tokens")),
        "cache_write_1h_tokens": pl.when(split_present).then(
            g("usage.cache_creation.ephemeral_1h_input_tokens").fill_null(0)
        ),
        "web_search_requests": g("usage.server_tool_use.web_search_requests"),
        "requests": pl.lit(1, pl.Int64),
        "service_tier": g("usage.service_tier").fill_null("standard"),
        "inference_geo": g("usage.inference_geo"),
        "speed": g("usage.speed"),
        "_iterations": g("usage.iterations"),
        "_cw_total": g("usage.cache_creation_input_tokens"),
        "_cw_split": split_present,
        "stop_reason": g("stop_reason"),
        "structured_output": tool_call | json_text | (g("stop_reason") == "tool_use").fill_null(False),
        "status": pl.lit("ok"),
    }


def message_rejects(prefixes: Sequence[str]) -> list[tuple[pl.Expr, str | pl.Expr]]:
    """Reasons a response object cannot be billed, in the order they are reported."""

    def g(name: str) -> pl.Expr:
        return _pick(prefixes, name)

    tokens = [
        "usage.input_tokens",
        "usage.output_tokens",
        "usage.cache_creation_input_tokens",
        "usage.cache_read_input_tokens",
        "usage.cache_creation.ephemeral_5m_input_tokens",
        "usage.cache_creation.ephemeral_1h_input_tokens",
        "usage.server_tool_use.web_search_requests",
    ]
    negative = pl.any_horizontal([(g(t) < 0).fill_null(False) for t in tokens])
    model = g("model")
    return [
        (model.is_null(), "missing model"),
        (model.str.contains(r"^[\[{]"), "model: expected a string, got a JSON value"),
        (g("usage.input_tokens").is_null(), "missing usage.input_tokens"),
        (g("usage.output_tokens").is_null(), "missing usage.output_tokens"),
        (negative, "negative token count"),
    ]


class MessagesReader(Reader):
    """Anthropic Messages API responses, bare or wrapped under `response` by a gateway."""

    name = "anthropic_messages"
    description = "Anthropic Messages API responses (JSON lines), bare or wrapped under `response`"

    def __init__(self, cfg: MessagesSource | None = None, aliases: dict[str, str] | None = None) -> None:
        self.cfg = cfg or MessagesSource()
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
        ]
        out = [RawField(p) for p in dict.fromkeys(scalar)]
        out += [RawField(p, "num") for p in c.latency_ms]
        out.append(RawField(c.tags, "strlist"))
        out += message_fields("response") + message_fields("")
        return _dedupe_fields(out + _STREAM_FIELDS)

    def fields_for(self, chunk: bytes) -> list[RawField]:
        """Without stream events in the chunk, the fields of their nested message are not parsed."""
        # one pass over the bytes for the markers' common prefix; three only when it is there
        streams = b'"message_' in chunk and any(marker in chunk for marker in _STREAM_MARKERS)
        return self.fields() if streams else [f for f in self.fields() if f not in _STREAM_FIELDS]

    def sniff(self, obj: dict[str, Any]) -> bool:
        resp = obj.get("response")
        if isinstance(resp, dict) and (claude_evidence(resp) or resp.get("type") in ("message", "error")):
            return True
        if isinstance(resp, dict) and "usage" in resp and not openai_evidence(resp):
            return True
        return obj.get("type") in ("message", "error", *STREAM_EVENTS) and "custom_id" not in obj

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        c = self.cfg
        prefixes = present_prefixes(raw, ["response", ""])
        kind = _pick(prefixes, "type")
        event = pl.when(kind.is_in(_USAGE_EVENTS)).then(kind)
        # a stream's start carries the message one level down: read it first, then the top level
        nested = [
            p for p in (f"{p}.message" if p else "message" for p in prefixes) if f"{p}.type" in raw.columns
        ]
        cols = message_columns([*nested, *prefixes], self.aliases, normalize=False)
        if nested:
            cols["stop_reason"] = pl.coalesce(cols["stop_reason"], _pick(prefixes, "delta.stop_reason"))
        ts_text = first_of(c.timestamp)
        raw = with_timestamp(raw, ts_text)
        fallback, fallback_source = file_time(ctx, ctx.options.get("ts_from") or c.ts_fallback)
        tags = pl.col(c.tags)
        tag_feature = (
            tags.list.eval(pl.element().filter(pl.element().str.starts_with(c.feature_tag_prefix)))
            .list.first()
            .str.strip_prefix(c.feature_tag_prefix)
        )
        has_error = _pick(prefixes, "error").is_not_null()
        skip = (
            pl.when(kind.is_in(STREAM_EVENTS) & ~kind.is_in(_USAGE_EVENTS))
            .then(pl.lit(MERGED))
            .when((kind == "error") | has_error)
            .then(pl.lit("error response"))
        )
        whole = reject_if(
            (
                kind.is_null() & _pick(prefixes, "usage.input_tokens").is_null() & cols["model"].is_null(),
                "not an Anthropic message record",
            ),
            *message_rejects(prefixes),
        )
        start = reject_if(*message_rejects(nested or prefixes))
        update = reject_if(message_rejects(prefixes)[-1])  # a delta's counts: only their sign can be wrong
        unparseable = ts_text.is_not_null() & pl.col("_ts").is_null()
        reject = pl.coalesce(
            pl.when(event.is_null()).then(whole).when(event == "message_start").then(start).otherwise(update),
            pl.when(unparseable).then(pl.lit(BAD_TIME)),
        )
        # reasons are computed on the raw columns, before canonical names (ts, model...) replace them
        checked = raw.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        from_log = pl.col("_ts").is_not_null()
        request_key = first_of(c.request_id)
        out = checked.with_columns(
            **cols,
            request_id=pl.coalesce(request_key, cols["message_id"]),
            ts=pl.coalesce(pl.col("_ts"), pl.lit(fallback, dtype=pl.Datetime("us", "UTC"))),
            ts_source=pl.when(from_log).then(pl.lit("log")).otherwise(pl.lit(fallback_source)),
            _event=event,
            _stream_seq=(kind == "message_start").fill_null(False).cast(pl.Int64).cum_sum(),
            _stream_key=pl.when(event.is_not_null()).then(request_key),
            feature=pl.coalesce(first_of(c.feature), tag_feature),
            user_id=first_of(c.user_id),
            api_key_id=first_of(c.api_key_id),
            workspace_id=first_of(c.workspace_id),
            project=first_of(c.project),
            session_id=first_of(c.session_id),
            tags=tags,
            latency_ms=first_of(c.latency_ms),
        )
        return finish(out, self.aliases, "anthropic:")

    def complete(self, rows: pl.DataFrame) -> pl.DataFrame:
        """A merged stream's iterations (in its last `message_delta`) count as a response's do."""
        return with_model_ids(with_iterations(rows), self.aliases)


class BatchReader(Reader):
    """Message Batches results (`custom_id`, `result.type`); only `succeeded` lines are billed."""

    name = "anthropic_batch"
    description = "Anthropic Message Batches results (JSON lines with custom_id and result)"

    def __init__(self, cfg: BatchSource | None = None, aliases: dict[str, str] | None = None) -> None:
        self.cfg = cfg or BatchSource()
        self.aliases = aliases or {}

    def fields(self) -> list[RawField]:
        return [RawField("custom_id"), RawField("result.type"), *message_fields("result.message")]

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "custom_id" in obj and isinstance(obj.get("result"), dict)

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        ended_at, ts_source, batch_id = batch_time(ctx, self.cfg)
        prefixes = ["result.message"]
        cols = message_columns(prefixes, self.aliases, normalize=False)
        rtype = pl.col("result.type")
        feature = pl.col("custom_id").str.extract(self.cfg.feature_pattern, 1)
        cols["service_tier"] = pl.lit("batch")  # a batch result is billed at batch prices, whatever it says
        out = raw.with_columns(
            **cols,
            request_id=pl.concat_str(pl.lit(f"{batch_id}/"), pl.col("custom_id")),
            ts=pl.lit(ended_at, dtype=pl.Datetime("us", "UTC")),
            ts_source=pl.lit(ts_source),
            feature=feature,
        )
        skip = pl.when(rtype.is_in(["errored", "canceled", "expired"])).then(
            pl.format("batch result {}", rtype)
        )
        reject = reject_if(
            (pl.col("custom_id").is_null(), "missing custom_id"),
            (rtype.is_null(), "missing result.type"),
            (rtype != "succeeded", "unknown batch result type"),
            *message_rejects(prefixes),
        )
        return finish(
            out.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject)),
            self.aliases,
            "anthropic:",
        )


_BATCH_ID = re.compile(r"(msgbatch_[A-Za-z0-9]+)")


def file_time(ctx: Context, how: str) -> tuple[datetime, str]:
    """The time of records that carry none: the file's modification time (`mtime`) or `now`."""
    if how == "mtime" and ctx.path is not None and ctx.path.exists():
        return datetime.fromtimestamp(ctx.path.stat().st_mtime, UTC), "file_mtime"
    return datetime.now(UTC), "ingest_time"


def batch_time(ctx: Context, cfg: BatchSource) -> tuple[datetime, str, str]:
    """(ended_at, how it was found, batch id) for a results file."""
    name = ctx.path.name if ctx.path else ctx.source_file
    m = _BATCH_ID.search(name)
    batch_id = m.group(1) if m else Path(name).stem
    given = ctx.options.get("batch_ended_at")
    if given is not None:
        return _utc(given), "option", batch_id
    if ctx.path is not None:
        sidecar = _find_sidecar(ctx.path, batch_id)
        if sidecar is not None:
            return sidecar, "batch_ended_at", batch_id
    if cfg.ended_at is not None:
        return _utc(cfg.ended_at), "config", batch_id
    return (*file_time(ctx, "mtime"), batch_id)


def _find_sidecar(path: Path, batch_id: str) -> datetime | None:
    for candidate in (path.parent / f"{batch_id}.batch.json", path.parent / f"{batch_id}.json"):
        if candidate.is_file() and candidate != path:
            try:
                obj = json.loads(candidate.read_text(encoding="utf-8"))
                ended = obj.get("ended_at") if isinstance(obj, dict) else None
                if ended:
                    return _utc(datetime.fromisoformat(str(ended).replace("Z", "+00:00")))
            except (OSError, ValueError) as exc:
                raise SourceError(f"cannot read batch object {candidate}: {exc}") from None
    return None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _dedupe_fields(fields: list[RawField]) -> list[RawField]:
    seen: dict[str, RawField] = {}
    for f in fields:
        seen.setdefault(f.path, f)
    return list(seen.values())
