"""LiteLLM SpendLogs: JSON lines, JSON array export, CSV export; spend kept beside our price.

Convention under test (FACTS A6): prompt_tokens includes cache reads and writes; the split comes
from metadata.usage_object (or additional_usage_values); cache hits and failures are skipped.
"""

from __future__ import annotations

import json
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


def spend_log(
    request_id: str,
    prompt: int,
    completion: int,
    model: str = "claude-sonnet-4-5-20250929",
    metadata: dict[str, Any] | str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "call_type": "acompletion",
        "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "spend": kw.pop("spend", 0.0),
        "total_tokens": prompt + completion,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "startTime": kw.pop("start", "2026-09-01T12:00:00.000000Z"),
        "endTime": kw.pop("end", "2026-09-01T12:00:01.250000Z"),
        "model": model,
        "model_group": "default",
        "custom_llm_provider": kw.pop("provider", "anthropic"),
        "user": kw.pop("user", "u_0001"),
        "metadata": {} if metadata is None else metadata,
        "cache_hit": kw.pop("cache_hit", "False"),
        "request_tags": kw.pop("tags", []),
        "team_id": "team_a",
        "status": kw.pop("status", "success"),
        **kw,
    }


def usage_object(read: int, write: int, split: tuple[int, int] | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"cached_tokens": read, "cache_creation_tokens": write}
    if split:
        details["cache_creation_token_details"] = {
            "ephemeral_5m_input_tokens": split[0],
            "ephemeral_1h_input_tokens": split[1],
        }
    return {
        "usage_object": {
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "prompt_tokens_details": details,
        }
    }


def test_csv_fixture_costs_by_hand_and_spend_is_kept() -> None:
    p = parse_bytes("litellm", (FIXTURES / "litellm_spend_logs.csv").read_bytes())
    assert p.skipped == {"LiteLLM cache hit (no provider call)": 1, "failed request": 1} and not p.rejects
    rows = priced(p.rows).sort("source_line").to_dicts()
    sonnet, mini = rows
    # Sonnet 4.5: prompt 3500 = 1000 uncached + 2000 read + 500 written (5m); 300 out
    assert (sonnet["input_tokens"], sonnet["cache_read_tokens"], sonnet["cache_write_5m_tokens"]) == (
        1000,
        2000,
        500,
    )
    assert sonnet["cost_usd"] == pytest.approx(usd((1000, 3), (2000, 0.3), (500, 3.75), (300, 15)), rel=1e-12)
    assert sonnet["logged_cost_usd"] == pytest.approx(0.009975) and sonnet["tags"] == [
        "feature:search",
        "feature:rank",
    ]
    assert (
        sonnet["project"] == "search-team"
        and sonnet["workspace_id"] == "team_search"
        and sonnet["latency_ms"] == 2500.0
    )
    # gpt-4o-mini via LiteLLM: prompt 1000 includes 500 cached: 500 x 0.15 + 500 x 0.075 + 100 x 0.60 = $0.0001725
    assert (mini["provider"], mini["input_tokens"], mini["cache_read_tokens"]) == ("openai", 500, 500)
    assert mini["cost_usd"] == pytest.approx(0.0001725, rel=1e-12) and mini[
        "logged_cost_usd"
    ] == pytest.approx(0.0002)
    assert mini["feature"] == "ticket-triage"  # from metadata.spend_logs_metadata.feature
    assert [r["source_line"] for r in rows] == [2, 3]


@pytest.mark.parametrize("exact", [False, True])
def test_jsonl_with_object_or_string_metadata(exact: bool) -> None:
    split = spend_log("r1", 10_000, 100, metadata=usage_object(4000, 3000, split=(1000, 2000)))
    as_string = spend_log("r2", 10_000, 100, metadata=json.dumps(usage_object(4000, 3000)))
    extra = spend_log(
        "r3",
        1_000,
        10,
        metadata={
            "additional_usage_values": {"cache_read_input_tokens": 400, "cache_creation_input_tokens": 100}
        },
    )
    bare = spend_log("r4", 1_000, 10)  # no cache detail: all of prompt_tokens is priced as uncached input
    p = parse_lines("litellm", [split, as_string, extra, bare], exact=exact)
    assert not p.rejects
    got = [
        (r["input_tokens"], r["cache_read_tokens"], r["cache_write_5m_tokens"], r["cache_write_1h_tokens"])
        for r in p.rows.sort("source_line").to_dicts()
    ]
    assert got == [(3000, 4000, 1000, 2000), (3000, 4000, 3000, 0), (500, 400, 100, 0), (1000, 0, 0, 0)]


def test_json_array_export_and_routing_prefixes() -> None:
    export = [
        spend_log(
            "a", 1000, 100, model="bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", provider="bedrock"
        ),
        spend_log(
            "b",
            1000,
            100,
            model="bedrock/converse/global.anthropic.claude-haiku-4-5-20251001-v1:0",
            provider="bedrock",
        ),
        spend_log("c", 1000, 100, model="vertex_ai/claude-sonnet-4-5@20250929", provider="vertex_ai"),
        spend_log("d", 1000, 100, model="azure/gpt-4.1", provider="azure"),
    ]
    body = json.dumps(export, indent=2).encode()
    p = parse_bytes("litellm", body)
    rows = priced(p.rows).sort("request_id").to_dicts()
    assert [(r["model_id"], r["endpoint_scope"], r["provider"]) for r in rows] == [
        ("claude-haiku-4-5", "regional", "anthropic"),
        ("claude-haiku-4-5", "global", "anthropic"),
        ("claude-sonnet-4-5", None, "anthropic"),
        ("gpt-4.1", None, "openai"),
    ]
    assert rows[0]["cost_usd"] == pytest.approx(usd((1000, 1), (100, 5)) * 1.1, rel=1e-12)
    # each element keeps the line it starts on in the pretty-printed array
    starts = [i + 1 for i, line in enumerate(body.decode().splitlines()) if line == "  {"]
    assert sorted(r["source_line"] for r in rows) == starts
    assert detect_format(body, Settings(), "x").name == "litellm"


def test_bad_rows_are_rejected() -> None:
    lines: list[Any] = [
        spend_log("x1", 100, 10, metadata=usage_object(90, 20)),  # 110 cache tokens > 100 prompt
        spend_log("x2", 100, 10, metadata={"usage_object": {"cache_read_input_tokens": "lots"}}),
        spend_log("x3", 100, 10, start="soon"),
        {k: v for k, v in spend_log("x4", 1, 1).items() if k != "model"},
    ]
    p = parse_lines("litellm", lines)
    assert [r["reason"] for r in p.rejects] == [
        "cache tokens exceed prompt_tokens",
        "metadata.usage_object.cache_read_input_tokens: expected an integer, got another value",
        "unparseable startTime (ISO 8601 between 2000 and 2100)",
        "missing model",
    ]


def payload(
    request_id: str, prompt: int, completion: int, metadata: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """A row as LiteLLM's `SpendLogsPayload` declares it: `metadata` and `request_tags` are JSON
    strings, and every identity LiteLLM does not know is `""` (litellm spend_tracking_utils)."""
    row = spend_log(request_id, prompt, completion, metadata=json.dumps(metadata), **kw)
    row.update(
        request_tags=json.dumps(kw.get("tags", [])),
        user=kw.get("user", ""),
        end_user=kw.get("end_user", ""),
        team_id=kw.get("team_id", ""),
        organization_id="",
        model_id="",
        api_base="https://api.anthropic.com/v1/messages",
        cache_key="Cache OFF",
        requester_ip_address="",
        messages="{}",
        response="{}",
        proxy_server_request="{}",
        session_id="",
    )
    return row


@pytest.mark.parametrize("exact", [False, True])
def test_spend_logs_payload_json_strings_are_read(exact: bool) -> None:
    meta = {
        "user_api_key_user_id": "u_meta",
        "user_api_key_team_id": "team_meta",
        "spend_logs_metadata": None,
        **usage_object(2000, 500),
    }
    rows = [
        payload("p1", 3500, 300, meta, user="u_0003"),  # request_tags "[]", end_user ""
        payload("p2", 3500, 300, meta, tags=["feature:search"], end_user="cust-9", team_id="team_a"),
        payload("p3", 1000, 10, {}, user=""),  # every identity empty: metadata paths, then null
    ]
    p = parse_lines("litellm", rows, exact=exact)
    assert not p.rejects and p.rows.height == 3
    a, b, c = priced(p.rows).sort("source_line").to_dicts()
    assert (a["input_tokens"], a["cache_read_tokens"], a["cache_write_5m_tokens"]) == (1000, 2000, 500)
    assert a["cost_usd"] == pytest.approx(usd((1000, 3), (2000, 0.3), (500, 3.75), (300, 15)), rel=1e-12)
    assert a["tags"] == [] and b["tags"] == ["feature:search"]
    # end_user "" is absent: `user` decides; a real end_user wins over user
    assert (a["user_id"], b["user_id"], c["user_id"]) == ("u_0003", "cust-9", None)
    # team_id "" falls through to metadata.user_api_key_team_id
    assert (a["workspace_id"], b["workspace_id"], c["workspace_id"]) == ("team_meta", "team_a", None)
    assert c["session_id"] is None and c["request_id"] == "p3"


@pytest.mark.parametrize("exact", [False, True])
def test_json_held_in_strings_inside_metadata(exact: bool) -> None:
    meta = {
        "usage_object": json.dumps(usage_object(4000, 3000, split=(1000, 2000))["usage_object"]),
        "spend_logs_metadata": json.dumps({"feature": "ticket-triage"}),
    }
    extra = {"additional_usage_values": json.dumps({"prompt_tokens_details": {"cached_tokens": 600}})}
    rows = [
        spend_log("s1", 10_000, 100, metadata=meta),
        spend_log("s2", 10_000, 100, metadata=json.dumps(meta)),
        spend_log("s3", 1000, 10, model="gpt-4o-mini", provider="openai", metadata=json.dumps(extra)),
    ]
    p = parse_lines("litellm", rows, exact=exact)
    assert not p.rejects
    got = [
        (
            r["input_tokens"],
            r["cache_read_tokens"],
            r["cache_write_5m_tokens"],
            r["cache_write_1h_tokens"],
            r["feature"],
        )
        for r in p.rows.sort("source_line").to_dicts()
    ]
    assert got == [
        (3000, 4000, 1000, 2000, "ticket-triage"),
        (3000, 4000, 1000, 2000, "ticket-triage"),
        (400, 600, 0, 0, None),
    ]


def test_malformed_request_tags_are_rejected() -> None:
    lines: list[Any] = [
        spend_log("t1", 10, 1, tags="feature:search"),  # a bare string, not an array
        spend_log("t2", 10, 1, tags=json.dumps({"feature": "search"})),
        spend_log("t3", 10, 1, tags=[{"feature": "search"}]),
        spend_log("t4", 10, 1, tags=""),  # LiteLLM's empty value: no tags, accepted
        spend_log("t5", 10, 1, tags=None),
    ]
    for exact in (False, True):
        p = parse_lines("litellm", lines, exact=exact)
        why = "request_tags: expected an array of strings (or a JSON string holding one)"
        assert [(r["line"], r["reason"]) for r in p.rejects] == [(1, why), (2, why), (3, why)]
        assert p.rows.sort("source_line")["tags"].to_list() == [None, None]


def test_csv_cells_holding_json_strings() -> None:
    # a CSV written from JSON lines: the request_tags cell is the JSON string itself
    body = (
        b"request_id,spend,prompt_tokens,completion_tokens,startTime,model,custom_llm_provider,user,"
        b"end_user,team_id,metadata,request_tags,cache_hit,status\n"
        b"c1,0.01,3500,300,2026-09-01 12:00:00,claude-sonnet-4-5,anthropic,u_7,,,"
        b'"{""usage_object"": {""cache_read_input_tokens"": 2000, ""cache_creation_input_tokens"": 500}}",'
        b'"""[\\""feature:search\\""]""",False,success\n'
    )
    p = parse_bytes("litellm", body)
    assert not p.rejects and p.rows.height == 1
    row = p.rows.row(0, named=True)
    assert (row["input_tokens"], row["cache_read_tokens"], row["user_id"]) == (1000, 2000, "u_7")
    assert row["tags"] == ["feature:search"]


# --- properties ------------------------------------------------------------------------------------

valid = st.builds(
    lambda i, u, r, w, o, m, t: spend_log(
        f"req-{i}", u + r + w, o, model=m, metadata=usage_object(r, w), spend=0.001, tags=t
    ),
    st.integers(0, 10**9),
    token,
    token,
    token,
    token,
    st.sampled_from(
        ["claude-sonnet-4-5-20250929", "anthropic/claude-opus-4-6", "gpt-4o-mini", "unknown-model"]
    ),
    st.lists(st.text(max_size=8), max_size=3),
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(valid, min_size=1, max_size=6, unique_by=lambda r: r["request_id"]))
def test_valid_records_round_trip(records: list[dict[str, Any]]) -> None:
    fast, exact = parse_lines("litellm", records), parse_lines("litellm", records, exact=True)
    assert fast.path_used == "fast" and fast.rows.equals(exact.rows) and not fast.rejects
    for rec, row in zip(records, fast.rows.sort("source_line").to_dicts(), strict=True):
        u = rec["metadata"]["usage_object"]
        read, write = u["cache_read_input_tokens"], u["cache_creation_input_tokens"]
        assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_5m_tokens"]) == (
            rec["prompt_tokens"] - read - write,
            read,
            write,
        )
        assert row["logged_cost_usd"] == rec["spend"] and row["tags"] == rec["request_tags"]


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            valid.map(json.dumps),
            garbage(
                ["request_id", "spend", "startTime", "metadata", "prompt_tokens", "model", "request_tags"]
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_garbage_never_crashes_litellm(lines: list[str]) -> None:
    p = parse_lines("litellm", lines)
    assert_accounted(p)
    assert sorted(r["line"] for r in parse_lines("litellm", lines, exact=True).rejects) == sorted(
        r["line"] for r in p.rejects
    )


@hsettings(max_examples=30, deadline=None)
@given(st.lists(valid, min_size=1, max_size=5, unique_by=lambda r: r["request_id"]))
def test_json_string_fields_read_like_json_values(records: list[dict[str, Any]]) -> None:
    as_strings = [
        {
            **r,
            "metadata": json.dumps(r["metadata"]),
            "request_tags": json.dumps(r["request_tags"]),
            "end_user": "",
        }
        for r in records
    ]
    for exact in (False, True):
        want = parse_lines("litellm", records, exact=exact).rows.drop("source_line")
        got = parse_lines("litellm", as_strings, exact=exact)
        assert not got.rejects and got.rows.drop("source_line").equals(want)
