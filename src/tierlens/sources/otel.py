"""OpenTelemetry GenAI spans, as the Collector's `file` exporter writes them (OTLP/JSON).

Each line (or document) is one export: `{resourceSpans: [{resource: {attributes}, scopeSpans:
[{scope, spans: [...]}]}]}`, attributes as `[{key, value: {stringValue | intValue | doubleValue
| boolValue | arrayValue | kvlistValue}}]` (int64 values are decimal strings in OTLP/JSON). The
export is exploded into one row per span; a span's reject reason names it
(`resourceSpans[0].scopeSpans[1].spans[4]: ...`) and every span keeps its export's line.

Attributes, current semantic conventions (v1.41, "Development") first, then the names older
instrumentations emit (traceloop/OpenLLMetry before its move to the OTel names, OpenLIT):
- input: `gen_ai.usage.input_tokens`, `gen_ai.usage.prompt_tokens`, `llm.usage.prompt_tokens`;
  when none is set, `gen_ai.usage.total_tokens` / `llm.usage.total_tokens` minus output;
- output: `gen_ai.usage.output_tokens`, `gen_ai.usage.completion_tokens`, `llm.usage.completion_tokens`;
- cache: `gen_ai.usage.cache_read.input_tokens` (`gen_ai.usage.cache_read_input_tokens`),
  `gen_ai.usage.cache_creation.input_tokens` (`gen_ai.usage.cache_creation_input_tokens`);
- `gen_ai.response.model` (else `gen_ai.request.model`), `gen_ai.provider.name` (deprecated
  `gen_ai.system`), `gen_ai.response.id`, `gen_ai.response.finish_reasons`, `gen_ai.conversation.id`.

Token convention (FACTS rule 9): `gen_ai.usage.input_tokens` INCLUDES cache reads and cache
writes ("SHOULD be included"), so `input_tokens` = input - cache_read - cache_creation; cache
creation has no TTL split and is priced as 5-minute writes. Instrumentations differ, and the
span's instrumentation scope (or the `telemetry.sdk.name` resource attribute) says which wrote it:
- OpenLLMetry Anthropic (`opentelemetry.instrumentation.anthropic`): input + cache reads + cache
  writes since it reported cache tokens (2024-10), under both the old and the new names; the
  OpenAI instrumentation reports `prompt_tokens`, which includes cached tokens: both follow the rule;
- OpenLLMetry Bedrock (`opentelemetry.instrumentation.bedrock`): Bedrock's `inputTokens`, which
  excludes cache tokens, beside the cache counts: read as uncached input;
- OpenLIT (scope `openlit...` or `telemetry.sdk.name = "openlit"`): for Anthropic and Bedrock spans
  the provider's uncached input beside the cache counts (read as uncached input), for OpenAI the
  prompt tokens with cached ones included. Before 2026-02 OpenLIT set no cache attributes at all:
  such spans are kept and priced as logged (cache reads and writes are missing from them, and an
  OpenAI span's cached tokens are priced as input); the mapping marks each in a `_note` column
  (the reason, not stored).
`[sources.otel] input_includes_cache = false` reads every span as uncached input.

Only model calls are rows: spans without token usage are skipped ("span without token usage"),
and agent/tool/workflow spans (`invoke_agent`, `create_agent`, `execute_tool`,
`invoke_workflow`) are skipped even when they carry usage, since their model calls are counted
on their own spans. One exception: when the model-call spans of a trace carry only
`gen_ai.usage.partial.*` (Logfire's Claude Agent SDK instrumentation), the `invoke_agent` span of
that trace in the same export holds the totals and is the row. A span with a provider response id (`msg_...`, `chatcmpl-...`) is keyed like
that provider's own logs, so the same call logged by a gateway and traced is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from tierlens.pricing.models import normalize_model
from tierlens.source_settings import OTelSource
from tierlens.sources.base import Context, RawField, Reader, RecordError
from tierlens.sources.common import epoch_nanos, negative, provider_of
from tierlens.sources.exprs import coalesce, reject_if

NOT_MODEL_CALLS = ("invoke_agent", "create_agent", "execute_tool", "invoke_workflow")
RESOURCE = "resource:"
SDK_NAME = RESOURCE + "telemetry.sdk.name"


def _key(name: str) -> str:
    """Attribute names contain dots; row paths split on dots, so names are stored with `~`."""
    return name.replace(".", "~")


def attr(name: str) -> str:
    """The row path of a span attribute (`resource:` prefix: a resource attribute)."""
    if name.startswith(RESOURCE):
        return "res." + _key(name.removeprefix(RESOURCE))
    return "attr." + _key(name)


USAGE_ATTRS = {
    "input": ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens"],
    "output": ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens"],
    "total": ["gen_ai.usage.total_tokens", "llm.usage.total_tokens"],
    "cache_read": ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"],
    "cache_creation": [
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ],
}
UNCACHED_INPUT_SCOPES = ("opentelemetry.instrumentation.bedrock",)
"""Instrumentation scopes whose `input_tokens` excludes cache tokens (OpenLLMetry Bedrock)."""
OPENLIT_UNCACHED_PROVIDERS = ("anthropic", "aws.bedrock")
"""Providers whose uncached input OpenLIT reports as `input_tokens` (its `prompt_tokens_include_cache=False`)."""
_USAGE_KEYS = frozenset(_key(n) for names in USAGE_ATTRS.values() for n in names)
_PARTIAL = _key("gen_ai.usage.partial.")
_OPERATION = _key("gen_ai.operation.name")
OPENLIT_NO_CACHE_NOTE = (
    "OpenLIT span without cache token attributes (cache tokens not reported; priced as logged)"
)
STRING_ATTRS = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.openai.response.service_tier",
)


def any_value(v: Any) -> Any:
    """An OTLP/JSON AnyValue as a plain JSON value (a bare value passes through)."""
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        iv = v["intValue"]
        if isinstance(iv, str) and iv.lstrip("-").isdigit():
            return int(iv)
        return iv
    if "doubleValue" in v:
        return v["doubleValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "arrayValue" in v:
        values = (v["arrayValue"] or {}).get("values") or []
        return [any_value(x) for x in values]
    if "kvlistValue" in v:
        return attributes((v["kvlistValue"] or {}).get("values"))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    """OTLP `[{key, value}]` (or a plain mapping) as {sanitized name: plain value}."""
    if items is None:
        return {}
    if isinstance(items, dict):
        return {_key(str(k)): any_value(v) for k, v in items.items()}
    if not isinstance(items, list):
        raise RecordError("attributes: expected an array of {key, value}")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise RecordError("attributes: expected {key, value} objects")
        out[_key(item["key"])] = any_value(item.get("value"))
    return out


class OTelReader(Reader):
    """OTLP/JSON trace exports (the Collector's file exporter): one row per GenAI model-call span."""

    name = "otel"
    description = "OpenTelemetry GenAI spans (OTLP/JSON, the Collector file exporter)"
    fast_path = False

    def __init__(self, cfg: OTelSource | None = None, aliases: dict[str, str] | None = None) -> None:
        self.cfg = cfg or OTelSource()
        self.aliases = aliases or {}

    def fields(self) -> list[RawField]:
        c = self.cfg
        out = [
            RawField("span.traceId"),
            RawField("span.spanId"),
            RawField("span.name"),
            RawField("span.start"),
            RawField("span.end"),
            RawField("span.agent_totals", "bool"),
            RawField("scope.name"),
            RawField(attr(SDK_NAME), "str", SDK_NAME.removeprefix(RESOURCE)),
            RawField(attr("gen_ai.response.finish_reasons"), "json", "gen_ai.response.finish_reasons"),
        ]
        out += [RawField(attr(a), "int", a) for names in USAGE_ATTRS.values() for a in names]
        out += [RawField(attr(a), "str", a) for a in STRING_ATTRS]
        seen = {f.path for f in out}
        for name in dict.fromkeys([*c.feature, *c.user_id, *c.project, *c.session_id]):
            if attr(name) not in seen:
                out.append(RawField(attr(name), "str", name))
                seen.add(attr(name))
        return out

    def sniff(self, obj: dict[str, Any]) -> bool:
        return isinstance(obj.get("resourceSpans"), list)

    def explode(self, obj: dict[str, Any]) -> Iterable[tuple[str | None, dict[str, Any]]]:
        spans = obj.get("resourceSpans")
        if not isinstance(spans, list):
            raise RecordError("expected resourceSpans (an OTLP/JSON traces export)")
        out: list[tuple[str | None, dict[str, Any]]] = []
        for i, rs in enumerate(spans):
            if not isinstance(rs, dict):
                raise RecordError(f"resourceSpans[{i}]: expected an object")
            resource = rs.get("resource") or {}
            res = attributes(resource.get("attributes") if isinstance(resource, dict) else None)
            scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans")) or []
            if not isinstance(scopes, list):
                raise RecordError(f"resourceSpans[{i}].scopeSpans: expected an array")
            for j, ss in enumerate(scopes):
                items = ss.get("spans") if isinstance(ss, dict) else None
                if not isinstance(items, list):
                    raise RecordError(f"resourceSpans[{i}].scopeSpans[{j}].spans: expected an array")
                scope = {"name": _scope_name(ss)}
                for k, span in enumerate(items):
                    where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                    if not isinstance(span, dict):
                        raise RecordError(f"{where}: expected an object")
                    out.append((where, _span_row(span, scope, res)))
        _mark_agent_totals(out)
        return out

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        c = self.cfg
        u = _SpanUsage.of(c.input_includes_cache)
        operation = _col("gen_ai.operation.name")
        model = pl.coalesce(_col("gen_ai.response.model"), _col("gen_ai.request.model"))
        model_id, scope = normalize_model(model, self.aliases)
        start = pl.col("span.start")
        ts = epoch_nanos(start)
        skip = (
            pl.when(operation.is_in(NOT_MODEL_CALLS) & ~pl.col("span.agent_totals").fill_null(False))
            .then(pl.format("{} span (its model calls are counted on their own spans)", operation))
            .when(~u.present)
            .then(pl.lit("span without token usage (not a model call)"))
        )
        reject = reject_if(
            (model.is_null(), "missing gen_ai.response.model (or gen_ai.request.model)"),
            (u.total_in.is_null(), "missing gen_ai.usage.input_tokens"),
            (u.output.is_null(), "missing gen_ai.usage.output_tokens"),
            (negative(u.total_in, u.output, u.reads, u.writes), "negative token count"),
            (u.uncached < 0, "cache tokens exceed gen_ai.usage.input_tokens"),
            (pl.col("span.spanId").is_null() & _col("gen_ai.response.id").is_null(), "missing spanId"),
            (start.is_null(), "missing startTimeUnixNano"),
            (ts.is_null(), pl.lit("unparseable startTimeUnixNano (epoch nanoseconds between 2000 and 2100)")),
        )
        checked = raw.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        response_id = _col("gen_ai.response.id")
        finish = pl.col("attr." + _key("gen_ai.response.finish_reasons"))
        tier = _col("gen_ai.openai.response.service_tier")
        out = checked.with_columns(
            message_id=response_id,
            request_id=pl.coalesce(response_id, pl.col("span.spanId")),
            ts=ts,
            ts_source=pl.lit("log"),
            provider=provider_of(model_id, u.vendor),
            model=model,
            model_id=model_id,
            endpoint_scope=scope,
            **u.columns(),
            requests=pl.lit(1, pl.Int64),
            service_tier=pl.when(tier.is_in(["default", "auto"]))
            .then(pl.lit("standard"))
            .otherwise(tier.fill_null("standard")),
            stop_reason=finish.str.extract(r'^\["([^"]+)"', 1),
            structured_output=(finish.str.contains("tool")).fill_null(False),
            status=pl.lit("ok"),
            **{name: _first(getattr(c, name)) for name in ("feature", "user_id", "project", "session_id")},
            latency_ms=(epoch_nanos(pl.col("span.end")) - ts).dt.total_microseconds().cast(pl.Float64)
            / 1000.0,
            _note=u.note,
        )
        return out.with_columns(dedupe_key=_dedupe_key(response_id))


def _col(name: str) -> pl.Expr:
    """The column of a span attribute."""
    return pl.col(attr(name))


def _first(names: list[str]) -> pl.Expr:
    """The first of some span attributes that is set."""
    return coalesce([_col(n) for n in names]) if names else pl.lit(None, pl.String)


@dataclass(frozen=True)
class _SpanUsage:
    """A span's token counts under the cache convention of its instrumentation (`_convention`)."""

    tokens: dict[str, pl.Expr]
    total_in: pl.Expr
    reads: pl.Expr
    writes: pl.Expr
    uncached: pl.Expr
    vendor: pl.Expr
    note: pl.Expr

    @classmethod
    def of(cls, input_includes_cache: bool) -> _SpanUsage:
        tokens = {k: coalesce([_col(n) for n in names]) for k, names in USAGE_ATTRS.items()}
        reads = tokens["cache_read"].fill_null(0)
        writes = tokens["cache_creation"].fill_null(0)
        total_in = pl.coalesce(tokens["input"], tokens["total"] - tokens["output"])
        vendor = pl.coalesce(_col("gen_ai.provider.name"), _col("gen_ai.system"))
        includes, note = _convention(input_includes_cache, vendor, tokens)
        uncached = pl.when(includes).then(total_in - reads - writes).otherwise(total_in)
        return cls(tokens, total_in, reads, writes, uncached, vendor, note)

    @property
    def output(self) -> pl.Expr:
        return self.tokens["output"]

    @property
    def present(self) -> pl.Expr:
        return self.total_in.is_not_null() | self.output.is_not_null() | self.tokens["total"].is_not_null()

    def columns(self) -> dict[str, pl.Expr]:
        return {
            "input_tokens": self.uncached,
            "cache_read_tokens": self.reads,
            "cache_write_5m_tokens": self.writes,
            "cache_write_1h_tokens": pl.lit(0, pl.Int64),
            "output_tokens": self.output,
            "web_search_requests": pl.lit(0, pl.Int64),
        }


def _dedupe_key(response_id: pl.Expr) -> pl.Expr:
    """The provider's response id where it is one (a span exported twice is one request), else the span."""
    by_response = pl.when(response_id.is_not_null() & pl.col("provider").is_in(["anthropic", "openai"]))
    return by_response.then(pl.concat_str(pl.col("provider"), pl.lit(":"), response_id)).otherwise(
        pl.concat_str(
            pl.lit("otel:"), pl.col("span.traceId").fill_null(""), pl.lit(":"), pl.col("span.spanId")
        )
    )


def _mark_agent_totals(rows: list[tuple[str | None, dict[str, Any]]]) -> None:
    """Mark the `invoke_agent` spans that hold their trace's only full usage: the model-call spans
    under them carry `gen_ai.usage.partial.*` alone (Logfire's Claude Agent SDK instrumentation
    finds per-message usage unreliable and puts the session's totals on the agent span). A trace
    whose model calls carry usage of their own keeps its agent spans skipped."""
    partial: set[Any] = set()
    counted: set[Any] = set()
    for _, row in rows:
        trace, attrs = row["span"]["traceId"], row["attr"]
        if any(k.startswith(_PARTIAL) for k in attrs):
            partial.add(trace)
        if attrs.get(_OPERATION) not in NOT_MODEL_CALLS and not _USAGE_KEYS.isdisjoint(attrs):
            counted.add(trace)
    totals = partial - counted
    for _, row in rows:
        if row["attr"].get(_OPERATION) == "invoke_agent" and row["span"]["traceId"] in totals:
            row["span"]["agent_totals"] = True


def _scope_name(scope_spans: dict[str, Any]) -> Any:
    """The instrumentation scope's name (`scope`, or `instrumentationLibrary` in older exports)."""
    scope = scope_spans.get("scope", scope_spans.get("instrumentationLibrary"))
    return scope.get("name") if isinstance(scope, dict) else None


def _span_row(span: dict[str, Any], scope: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
    return {
        "span": {
            "traceId": span.get("traceId"),
            "spanId": span.get("spanId"),
            "name": span.get("name"),
            "start": span.get("startTimeUnixNano"),
            "end": span.get("endTimeUnixNano"),
        },
        "scope": scope,
        "attr": attributes(span.get("attributes")),
        "res": res,
    }


def _convention(configured: bool, vendor: pl.Expr, tokens: dict[str, pl.Expr]) -> tuple[pl.Expr, pl.Expr]:
    """(whether a span's input count includes its cache tokens, a note on the span or null), by what
    is known of the instrumentation that wrote it; `configured = False` reads every span as uncached."""
    scope = pl.col("scope.name")
    openlit = scope.str.contains(r"^openlit(\.|$)").fill_null(False) | (
        pl.col(attr(SDK_NAME)) == "openlit"
    ).fill_null(False)
    no_cache_attrs = tokens["cache_read"].is_null() & tokens["cache_creation"].is_null()
    note = pl.when(openlit & no_cache_attrs).then(pl.lit(OPENLIT_NO_CACHE_NOTE))
    if not configured:
        return pl.lit(False), note
    uncached = scope.is_in(list(UNCACHED_INPUT_SCOPES)).fill_null(False) | (
        openlit & vendor.str.to_lowercase().is_in(list(OPENLIT_UNCACHED_PROVIDERS)).fill_null(False)
    )
    return ~uncached, note
