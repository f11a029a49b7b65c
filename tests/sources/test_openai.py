"""OpenAI logs (chat completions, Responses) and the organization Usage API export.

Convention under test (FACTS rule 8): prompt/input tokens INCLUDE cached tokens, output includes
reasoning; cost = (prompt - cached) x input + cached x cached_input + completion x output.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.fixtures.readers import (
    FIXTURES,
    assert_accounted,
    garbage,
    parse_bytes,
    parse_lines,
    priced,
    token,
    usd,
)
from tierlens.config import Settings
from tierlens.sources import detect_format


def chat(
    prompt: int, cached: int, completion: int, model: str = "gpt-4o-2024-08-06", **kw: Any
) -> dict[str, Any]:
    return {
        "id": kw.pop("id", f"chatcmpl-{prompt}-{cached}-{completion}"),
        "object": "chat.completion",
        "created": kw.pop("created", 1788256800),
        "model": model,
        "choices": kw.pop(
            "choices",
            [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        ),
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "service_tier": kw.pop("service_tier", "default"),
        **kw,
    }


def responses(
    inp: int, cached: int, out: int, reasoning: int = 0, model: str = "gpt-5-mini-2025-08-07"
) -> dict[str, Any]:
    return {
        "id": f"resp_{inp}_{cached}_{out}",
        "object": "response",
        "created_at": 1788257100,
        "status": "completed",
        "model": model,
        "output": [{"type": "function_call", "name": "lookup", "arguments": "{}"}],
        "usage": {
            "input_tokens": inp,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": inp + out,
        },
    }


@pytest.mark.parametrize("exact", [False, True])
def test_fixture_file_costs_by_hand(exact: bool) -> None:
    lines = (FIXTURES / "openai_chat.jsonl").read_text().splitlines()
    p = parse_lines("openai", lines, exact=exact)
    assert p.path_used == ("exact" if exact else "fast")
    assert p.skipped == {"error response": 1} and not p.rejects
    rows = priced(p.rows).sort("source_line")
    a, b = rows.to_dicts()
    # chat: (1000 - 400) x 2.50 + 400 x 1.25 + 200 x 10 = $0.004
    assert (a["input_tokens"], a["cache_read_tokens"], a["output_tokens"]) == (600, 400, 200)
    assert a["cost_usd"] == pytest.approx(usd((600, 2.5), (400, 1.25), (200, 10)), rel=1e-12)
    assert a["model_id"] == "gpt-4o" and a["provider"] == "openai" and a["service_tier"] == "standard"
    assert a["ts"] == datetime(2026, 9, 1, 10, tzinfo=UTC) and a["stop_reason"] == "stop"
    # responses (reasoning is inside output_tokens): 1000 x 0.25 + 1000 x 0.025 + 500 x 2 = $0.001275
    assert (b["input_tokens"], b["cache_read_tokens"], b["output_tokens"]) == (1000, 1000, 500)
    assert b["cost_usd"] == pytest.approx(0.001275, rel=1e-12)
    assert b["feature"] == "search-answer" and b["user_id"] == "u_0007" and b["tags"] == ["team:search"]
    assert b["request_id"] == "req_oa_0002" and b["message_id"].startswith("resp_")
    assert float(rows["cost_usd"].sum()) == pytest.approx(0.005275, abs=1e-12)


def test_responses_function_call_and_chat_tool_calls_are_structured() -> None:
    tool_chat = chat(
        100,
        0,
        10,
        choices=[
            {
                "index": 0,
                "message": {"tool_calls": [{"id": "c1", "type": "function"}]},
                "finish_reason": "tool_calls",
            }
        ],
    )
    rows = parse_lines("openai", [responses(100, 0, 10), tool_chat, chat(100, 0, 10)]).rows.sort(
        "source_line"
    )
    assert rows["structured_output"].to_list() == [True, True, False]


def test_stream_chunks_errors_and_bad_usage() -> None:
    chunk_no_usage = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1788256800,
        "model": "gpt-4o",
        "choices": [],
    }
    final_chunk = {**chunk_no_usage, "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
    completed = {"type": "response.completed", "response": responses(50, 0, 5)}
    delta = {"type": "response.output_text.delta", "delta": "Hel"}
    failed = {**responses(1, 0, 1), "status": "failed", "id": "resp_failed"}
    too_cached = chat(100, 101, 1)
    no_model = {k: v for k, v in chat(5, 0, 5).items() if k != "model"}
    p = parse_lines("openai", [chunk_no_usage, final_chunk, completed, delta, failed, too_cached, no_model])
    assert p.rows.height == 2 and p.skipped == {"streaming event": 2, "error response": 1}
    assert {r["line"]: r["reason"] for r in p.rejects} == {
        6: "cached and cache-write tokens exceed the prompt tokens",
        7: "missing model",
    }
    assert_accounted(p)


def test_service_tiers_and_detection_against_anthropic() -> None:
    rows = parse_lines(
        "openai", [chat(10, 0, 1, service_tier="flex"), chat(20, 0, 1, service_tier=None)]
    ).rows
    assert sorted(rows["service_tier"].to_list()) == ["flex", "standard"]
    wrapped = {"ts": "2026-09-01T10:00:00Z", "response": chat(1, 0, 1)}
    assert detect_format(json.dumps(wrapped).encode() + b"\n", Settings(), "x").name == "openai"
    anthropic = {
        "ts": "2026-09-01T10:00:00Z",
        "response": {
            "type": "message",
            "model": "claude-haiku-4-5",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
    }
    assert detect_format(json.dumps(anthropic).encode() + b"\n", Settings(), "x").name == "anthropic_messages"


# --- organization Usage API -------------------------------------------------------------------------


def test_usage_page_one_row_per_bucket_and_group() -> None:
    p = parse_bytes("openai_usage", (FIXTURES / "openai_usage_completions.jsonl").read_bytes())
    rows = priced(p.rows).sort("model_id")
    assert not p.rejects and rows.height == 2 and p.records == 2
    a, b = rows.to_dicts()
    # gpt-4o: 60,000 x 2.50 + 40,000 x 1.25 + 10,000 x 10 = $0.30 over 20 requests
    assert (a["model_id"], a["input_tokens"], a["cache_read_tokens"], a["requests"]) == (
        "gpt-4o",
        60_000,
        40_000,
        20,
    )
    assert a["cost_usd"] == pytest.approx(0.30, rel=1e-12) and a["ts_source"] == "bucket_start"
    # gpt-4o-mini, batch: (1,000,000 x 0.15 + 100,000 x 0.60) x 0.5 = $0.105
    assert b["service_tier"] == "batch" and b["cost_usd"] == pytest.approx(0.105, rel=1e-12)
    assert a["workspace_id"] == "proj_abc" and a["ts"] == datetime(2026, 9, 1, tzinfo=UTC)
    assert a["dedupe_key"].startswith("openai_usage:1788220800|1788307200|proj_abc")


def test_usage_dashboard_csv_export() -> None:
    csv = (
        "start_time,end_time,start_time_iso,end_time_iso,project_id,num_model_requests,user_id,api_key_id,model,"
        "batch,service_tier,input_tokens,output_tokens,input_cached_tokens,input_uncached_tokens\n"
        "1788220800,1788307200,2026-09-01T00:00:00+00:00,2026-09-02T00:00:00+00:00,proj_abc,12,,,gpt-5-mini-2025-08-07,"
        "False,,40000,8000,10000,30000\n"
    )
    p = parse_bytes("openai_usage", csv.encode())
    row = priced(p.rows).row(0, named=True)
    # 30,000 x 0.25 + 10,000 x 0.025 + 8,000 x 2 = $0.02375
    assert row["requests"] == 12 and row["service_tier"] == "standard"
    assert row["cost_usd"] == pytest.approx(usd((30_000, 0.25), (10_000, 0.025), (8_000, 2)), rel=1e-12)


def test_usage_page_structure_errors_name_the_bucket() -> None:
    page = {
        "object": "page",
        "data": [
            {
                "start_time": 1788220800,
                "end_time": 1788307200,
                "results": [
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": "many",
                        "output_tokens": 1,
                        "num_model_requests": 1,
                        "model": "gpt-4o",
                    },
                    {
                        "object": "organization.usage.embeddings.result",
                        "input_tokens": 5,
                        "output_tokens": 0,
                        "num_model_requests": 1,
                        "model": "text-embedding-3-small",
                    },
                ],
            }
        ],
    }
    p = parse_bytes("openai_usage", json.dumps(page).encode() + b"\n" + b'{"data": 3}\n')
    assert [r["reason"] for r in p.rejects] == [
        "data[0].results[0]: input_tokens: expected an integer, got a string",
        "data: expected an array of buckets",
    ]
    assert p.skipped == {"organization.usage.embeddings.result (only completions usage is priced)": 1}
    assert_accounted(p)


# --- properties ------------------------------------------------------------------------------------

valid_chat = st.builds(
    lambda prompt, cached, out, model, i: chat(prompt + cached, cached, out, model=model, id=f"chatcmpl-{i}"),
    token,
    token,
    token,
    st.sampled_from(["gpt-4o-2024-08-06", "gpt-4.1-mini", "o4-mini-2025-04-16", "my-finetune"]),
    st.integers(0, 10**9),
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(valid_chat, min_size=1, max_size=6, unique_by=lambda r: r["id"]))
def test_valid_records_round_trip(records: list[dict[str, Any]]) -> None:
    fast, exact = parse_lines("openai", records), parse_lines("openai", records, exact=True)
    assert fast.path_used == "fast" and fast.rows.equals(exact.rows) and not fast.rejects
    for rec, row in zip(records, fast.rows.sort("source_line").to_dicts(), strict=True):
        u = rec["usage"]
        cached = u["prompt_tokens_details"]["cached_tokens"]
        assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
            u["prompt_tokens"] - cached,
            cached,
            u["completion_tokens"],
        )


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            valid_chat.map(json.dumps),
            garbage(["usage", "response", "model", "object", "prompt_tokens", "data", "results"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_garbage_never_crashes_openai(lines: list[str]) -> None:
    for fmt in ("openai", "openai_usage"):
        p = parse_lines(fmt, lines)
        assert_accounted(p)
        exact = parse_lines(fmt, lines, exact=True)
        assert sorted(r["line"] for r in exact.rejects) == sorted(r["line"] for r in p.rejects)
