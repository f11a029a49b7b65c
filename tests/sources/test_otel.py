"""OpenTelemetry GenAI spans from the Collector's file exporter (OTLP/JSON), current and deprecated names.

Convention under test (FACTS rule 9): gen_ai.usage.input_tokens includes cache reads and writes;
uncached = input - cache_read - cache_creation; creation priced as 5-minute writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import tierlens
from tests import factories as f
from tests.fixtures.readers import (
    CTX,
    FIXTURES,
    assert_accounted,
    garbage,
    jsonl,
    parse_bytes,
    parse_lines,
    priced,
    token,
    usd,
)
from tierlens.config import Settings, load_settings
from tierlens.ingest import ingest
from tierlens.sources import make_reader
from tierlens.sources.otel import OPENLIT_NO_CACHE_NOTE
from tierlens.sources.records import decode_lines, records_raw, typed_raw

T0 = 1788267600000000000  # 2026-09-01T13:00:00Z in nanoseconds


def kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        v: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, list):
        v = {"arrayValue": {"values": [{"stringValue": x} for x in value]}}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def span(span_id: str, attrs: dict[str, Any], start: int = T0, end: int | None = None) -> dict[str, Any]:
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end if end is not None else start + 1_500_000_000),
        "attributes": [kv(k, v) for k, v in attrs.items()],
    }


def export(
    *spans: dict[str, Any], service: str = "api", scope: str = "instr", sdk: str = "opentelemetry"
) -> dict[str, Any]:
    resource = {"service.name": service, "telemetry.sdk.name": sdk, "telemetry.sdk.language": "python"}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv(k, v) for k, v in resource.items()]},
                "scopeSpans": [{"scope": {"name": scope, "version": "0.40.0"}, "spans": list(spans)}],
            }
        ]
    }


def chat_attrs(model: str, inp: int, out: int, read: int = 0, write: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": inp,
        "gen_ai.usage.output_tokens": out,
        "gen_ai.usage.cache_read.input_tokens": read,
        "gen_ai.usage.cache_creation.input_tokens": write,
        **extra,
    }


def test_fixture_export_costs_by_hand() -> None:
    p = parse_bytes("otel", (FIXTURES / "otel_traces.jsonl").read_bytes())
    assert p.skipped == {
        "invoke_agent span (its model calls are counted on their own spans)": 1,
        "span without token usage (not a model call)": 1,
    }
    assert not p.rejects and p.records == 4 and p.lines == 1
    opus, gpt = priced(p.rows).sort("ts").to_dicts()
    # input 5000 includes 3000 read + 1000 written: 1000 x 5 + 3000 x 0.50 + 1000 x 6.25 + 400 x 25 = $0.02275
    assert (opus["input_tokens"], opus["cache_read_tokens"], opus["cache_write_5m_tokens"]) == (
        1000,
        3000,
        1000,
    )
    assert opus["cost_usd"] == pytest.approx(usd((1000, 5), (3000, 0.5), (1000, 6.25), (400, 25)), rel=1e-12)
    assert (
        opus["feature"] == "contract-review"
        and opus["user_id"] == "u_0011"
        and opus["session_id"] == "conv-42"
    )
    assert (
        opus["project"] == "contracts-api"
        and opus["stop_reason"] == "end_turn"
        and opus["latency_ms"] == 2500.0
    )
    assert opus["ts"] == datetime(2026, 9, 1, 13, tzinfo=UTC) and opus["source_line"] == 1
    assert opus["dedupe_key"] == "anthropic:msg_01OTelSpanA000000000001"
    # deprecated names (gen_ai.system, usage.prompt_tokens/completion_tokens): 1000 x 2 + 100 x 8 = $0.0028
    assert (gpt["provider"], gpt["model_id"], gpt["project"]) == ("openai", "gpt-4.1", "billing-worker")
    assert gpt["cost_usd"] == pytest.approx(0.0028, rel=1e-12)
    assert gpt["dedupe_key"] == "otel:0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331"


def test_reject_names_the_span_and_keeps_the_export_line() -> None:
    good = export(span("a1", chat_attrs("claude-haiku-4-5", 100, 10)))
    bad = export(
        span("b1", chat_attrs("claude-haiku-4-5", 100, 10, read=80, write=30)),  # cache exceeds input
        span("b2", {**chat_attrs("claude-haiku-4-5", 100, 10), "gen_ai.usage.output_tokens": "ten"}),
    )
    p = parse_lines("otel", [good, bad, {"resourceSpans": [{"scopeSpans": "nope"}]}])
    assert p.rows.height == 1
    assert [(r["line"], r["reason"]) for r in p.rejects] == [
        (2, "resourceSpans[0].scopeSpans[0].spans[0]: cache tokens exceed gen_ai.usage.input_tokens"),
        (
            2,
            "resourceSpans[0].scopeSpans[0].spans[1]: gen_ai.usage.output_tokens: expected an integer, got a string",
        ),
        (3, "resourceSpans[0].scopeSpans: expected an array"),
    ]
    assert_accounted(p)


def test_instrumentation_reporting_uncached_input() -> None:
    settings = load_settings(sources={"otel": {"input_includes_cache": False}})
    p = parse_lines(
        "otel", [export(span("c1", chat_attrs("claude-sonnet-4-6", 1000, 10, read=5000)))], settings
    )
    row = priced(p.rows).row(0, named=True)
    assert (row["input_tokens"], row["cache_read_tokens"]) == (1000, 5000)
    assert row["cost_usd"] == pytest.approx(usd((1000, 3), (5000, 0.3), (10, 15)), rel=1e-12)


def test_a_call_traced_and_logged_by_a_gateway_counts_once(
    tmp_path: Path, write: Any, settings: Settings
) -> None:
    logged = f.logged(
        ts="2026-09-01T13:00:00Z",
        model="claude-haiku-4-5-20251001",
        input_tokens=100,
        output_tokens=10,
        cache_read=0,
        cache_creation=0,
        id="msg_01SameCall",
    )
    traced = export(
        span(
            "d1", chat_attrs("claude-haiku-4-5-20251001", 100, 10, **{"gen_ai.response.id": "msg_01SameCall"})
        )
    )
    res = ingest([write("gateway.jsonl", [logged]), write("traces.jsonl", [traced])], settings)
    assert res.rows_added == 1 and res.duplicates_skipped == 1
    assert tierlens.open(settings.data_dir).select(pl.len()).collect().item() == 1


def traceloop_anthropic(span_id: str, uncached: int, read: int, write: int, out: int) -> dict[str, Any]:
    """An OpenLLMetry Anthropic span before its move to the OTel names (opentelemetry-instrumentation-
    anthropic since 2024-10: `prompt_tokens = input_tokens + cache_read + cache_creation`)."""
    prompt = uncached + read + write
    return span(
        span_id,
        {
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.prompt_tokens": prompt,
            "gen_ai.usage.completion_tokens": out,
            "llm.usage.total_tokens": prompt + out,
            "gen_ai.usage.cache_read_input_tokens": read,
            "gen_ai.usage.cache_creation_input_tokens": write,
        },
    )


def test_older_traceloop_names_and_totals() -> None:
    oldest = span(  # OpenLLMetry before April 2024: llm.usage.* names
        "o2",
        {
            "gen_ai.system": "OpenAI",
            "gen_ai.response.model": "gpt-4o-mini",
            "llm.usage.prompt_tokens": 1000,
            "llm.usage.completion_tokens": 100,
        },
    )
    total_only = span(  # no input count: total minus output
        "o3",
        {
            "gen_ai.response.model": "gpt-4o-mini",
            "llm.usage.total_tokens": 1100,
            "gen_ai.usage.completion_tokens": 100,
        },
    )
    lines = [
        export(
            traceloop_anthropic("o1", 100, 3000, 500, 200),
            oldest,
            total_only,
            scope="opentelemetry.instrumentation.anthropic",
        )
    ]
    p = parse_lines("otel", lines)
    assert not p.rejects and p.rows.height == 3
    sonnet, mini, mini_total = priced(p.rows).sort("request_id").to_dicts()
    assert (sonnet["input_tokens"], sonnet["cache_read_tokens"], sonnet["cache_write_5m_tokens"]) == (
        100,
        3000,
        500,
    )
    assert sonnet["cost_usd"] == pytest.approx(usd((100, 3), (3000, 0.3), (500, 3.75), (200, 15)), rel=1e-12)
    assert (
        (mini["input_tokens"], mini["output_tokens"])
        == (mini_total["input_tokens"], mini_total["output_tokens"])
        == (1000, 100)
    )
    assert mini["cost_usd"] == pytest.approx(usd((1000, 0.15), (100, 0.6)), rel=1e-12)


def test_openllmetry_bedrock_reports_uncached_input() -> None:
    # opentelemetry-instrumentation-bedrock: gen_ai.usage.input_tokens is Bedrock's uncached count
    # and the cache counts come beside it (its test_invoke_model_cache_tokens: 18,131 cached tokens)
    attrs = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "anthropic.claude-3-5-haiku-20241022-v1:0",
        "gen_ai.usage.input_tokens": 14,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 18131,
        "gen_ai.usage.cache_creation.input_tokens": 0,
    }
    p = parse_lines("otel", [export(span("b1", attrs), scope="opentelemetry.instrumentation.bedrock")])
    assert not p.rejects
    row = priced(p.rows).row(0, named=True)
    assert (row["input_tokens"], row["cache_read_tokens"]) == (14, 18131)
    assert row["cost_usd"] == pytest.approx(usd((14, 0.8), (18131, 0.08), (50, 4)), rel=1e-12)


def openlit_span(span_id: str, system: str, model: str, inp: int, out: int, **cache: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": system,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": inp,
        "gen_ai.usage.output_tokens": out,
        "gen_ai.usage.cost": 0.01,
    }
    names = {
        "read": "gen_ai.usage.cache_read.input_tokens",
        "write": "gen_ai.usage.cache_creation.input_tokens",
    }
    attrs.update({names[k]: v for k, v in cache.items()})
    return span(span_id, attrs)


def canonical(lines: list[Any]) -> pl.DataFrame:
    """The reader's mapping of exported spans, before the framework keeps the canonical columns."""
    reader = make_reader("otel", Settings())
    fields = list(reader.fields())
    records, _ = decode_lines(jsonl(lines), 1)
    raw, _, _ = records_raw(reader, records, fields, False)
    return reader.to_canonical(typed_raw(raw, fields), CTX)


def test_openlit_conventions_by_provider_and_version() -> None:
    current = export(  # OpenLIT since 2026-02: uncached input for Anthropic, cached included for OpenAI
        openlit_span("l1", "anthropic", "claude-haiku-4-5", 200, 50, read=4000, write=1000),
        openlit_span("l2", "openai", "gpt-4.1", 1000, 100, read=600),
        scope="openlit.instrumentation.anthropic",
    )
    old = export(  # OpenLIT before 2026-02: no cache attributes at all
        openlit_span("l3", "anthropic", "claude-haiku-4-5", 200, 50),
        scope="openlit.otel.tracing",
        sdk="openlit",
    )
    lines = [current, old]
    p = parse_lines("otel", lines)
    assert not p.rejects and not p.skipped and p.rows.height == 3  # the old span is kept, not dropped
    haiku, gpt, haiku_old = priced(p.rows).sort("request_id").to_dicts()
    assert (haiku["input_tokens"], haiku["cache_read_tokens"], haiku["cache_write_5m_tokens"]) == (
        200,
        4000,
        1000,
    )
    assert haiku["cost_usd"] == pytest.approx(usd((200, 1), (4000, 0.1), (1000, 1.25), (50, 5)), rel=1e-12)
    assert (gpt["input_tokens"], gpt["cache_read_tokens"]) == (400, 600)
    assert gpt["cost_usd"] == pytest.approx(usd((400, 2), (600, 0.5), (100, 8)), rel=1e-12)
    assert haiku_old["cost_usd"] == pytest.approx(usd((200, 1), (50, 5)), rel=1e-12)
    notes = canonical(lines).sort("request_id")["_note"].to_list()
    assert notes == [None, None, OPENLIT_NO_CACHE_NOTE]


def test_span_scope_from_older_exports() -> None:
    # OTLP/JSON before 1.0 called scopes "instrumentation libraries"
    attrs = {
        "gen_ai.request.model": "claude-3-5-haiku",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 1,
        "gen_ai.usage.cache_read.input_tokens": 90,
    }
    scope = {"name": "opentelemetry.instrumentation.bedrock"}
    line = {
        "resourceSpans": [
            {"instrumentationLibrarySpans": [{"instrumentationLibrary": scope, "spans": [span("v1", attrs)]}]}
        ]
    }
    row = parse_lines("otel", [line]).rows.row(0, named=True)
    assert (row["input_tokens"], row["cache_read_tokens"]) == (10, 90)


def test_agent_totals_when_model_calls_carry_partial_usage() -> None:
    # Logfire's Claude Agent SDK instrumentation: chat spans carry gen_ai.usage.partial.* only,
    # the invoke_agent root the session's totals (input includes cache, as the conventions say)
    partial = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-6",
        "gen_ai.usage.partial.input_tokens": 9343,
        "gen_ai.usage.partial.output_tokens": 0,
    }
    root = {
        **chat_attrs("claude-sonnet-4-6", 18872, 415, read=17653, write=1215),
        "gen_ai.operation.name": "invoke_agent",
    }
    tool = {"gen_ai.operation.name": "execute_tool"}
    logfire = export(span("c3", partial), span("c5", tool), span("c7", partial), span("c1", root))
    p = parse_lines("otel", [logfire])
    assert not p.rejects and p.rows.height == 1
    assert p.skipped == {
        "span without token usage (not a model call)": 2,
        "execute_tool span (its model calls are counted on their own spans)": 1,
    }
    row = priced(p.rows).row(0, named=True)
    assert (
        row["request_id"],
        row["input_tokens"],
        row["cache_read_tokens"],
        row["cache_write_5m_tokens"],
    ) == ("c1", 4, 17653, 1215)
    assert row["cost_usd"] == pytest.approx(usd((4, 3), (17653, 0.3), (1215, 3.75), (415, 15)), rel=1e-12)
    # when the model calls carry usage of their own, the agent's sum is not counted again
    counted = export(
        span("d3", chat_attrs("claude-sonnet-4-6", 100, 10)), span("d7", partial), span("d1", root)
    )
    p = parse_lines("otel", [counted])
    assert p.rows["request_id"].to_list() == ["d3"]
    assert p.skipped["invoke_agent span (its model calls are counted on their own spans)"] == 1


# --- properties ------------------------------------------------------------------------------------

valid_span = st.builds(
    lambda i, u, r, w, o, m: span(f"s{i}", chat_attrs(m, u + r + w, o, read=r, write=w)),
    st.integers(0, 10**12),
    token,
    token,
    token,
    token,
    st.sampled_from(["claude-opus-4-6", "claude-haiku-4-5-20251001", "gpt-4o", "custom-model"]),
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.lists(valid_span, min_size=1, max_size=4), min_size=1, max_size=4))
def test_valid_spans_round_trip(exports: list[list[dict[str, Any]]]) -> None:
    lines = [export(*spans) for spans in exports]
    p = parse_lines("otel", lines)
    assert not p.rejects and p.rows.height == sum(len(s) for s in exports)
    want = []
    for n, spans in enumerate(exports, start=1):
        for s in spans:
            a = {x["key"]: int(x["value"]["intValue"]) for x in s["attributes"] if "intValue" in x["value"]}
            read, write = (
                a["gen_ai.usage.cache_read.input_tokens"],
                a["gen_ai.usage.cache_creation.input_tokens"],
            )
            want.append(
                (
                    n,
                    a["gen_ai.usage.input_tokens"] - read - write,
                    read,
                    write,
                    a["gen_ai.usage.output_tokens"],
                )
            )
    got = p.rows.select(
        "source_line", "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "output_tokens"
    ).rows()
    assert sorted(got) == sorted(want)


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(valid_span, max_size=2).map(lambda s: json.dumps(export(*s))),
            garbage(["resourceSpans", "scopeSpans", "spans", "attributes", "key", "value", "resource"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_garbage_never_crashes_otel(lines: list[str]) -> None:
    assert_accounted(parse_lines("otel", lines))
