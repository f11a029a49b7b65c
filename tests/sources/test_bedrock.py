"""Bedrock model invocation logs: ids and profiles normalized, regional premium, unpriced ARNs.

Convention under test (FACTS rule 7): inputTokenCount is uncached input; cache reads and writes are
separate counters, writes priced as 5-minute writes; geographic profiles x1.1 for Sonnet 4.5 / Haiku
4.5 / Opus 4.5 and later, list price for older models and for `global.`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import tierlens
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
from tierlens.config import Settings, load_settings
from tierlens.ingest import ingest
from tierlens.sources import detect_format, make_reader
from tierlens.sources.exprs import BAD_TIME


def invocation(
    model: str, uncached: int, output: int, read: int | None = None, write: int | None = None, **kw: Any
) -> dict[str, Any]:
    inp: dict[str, Any] = {"inputContentType": "application/json", "inputTokenCount": uncached}
    if read is not None:
        inp["cacheReadInputTokenCount"] = read
    if write is not None:
        inp["cacheWriteInputTokenCount"] = write
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": kw.pop("timestamp", "2026-09-01T11:00:00Z"),
        "accountId": "111122223333",
        "identity": {"arn": "arn:aws:sts::111122223333:assumed-role/app/i-1"},
        "region": "us-east-1",
        "requestId": kw.pop("request_id", f"req-{model}-{uncached}-{output}"),
        "operation": "Converse",
        "modelId": model,
        "input": inp,
        "output": {"outputContentType": "application/json", "outputTokenCount": output},
        **kw,
    }


@pytest.mark.parametrize(
    ("model_id", "expected_id", "scope", "provider"),
    [
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", None, "anthropic"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", "regional", "anthropic"),
        ("eu.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5", "regional", "anthropic"),
        ("apac.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4-0", "regional", "anthropic"),
        ("global.anthropic.claude-opus-4-6-v1", "claude-opus-4-6", "global", "anthropic"),
        ("anthropic.claude-sonnet-4-6", "claude-sonnet-4-6", None, "anthropic"),
        ("jp.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1", "regional", "anthropic"),
        (
            "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "claude-3-5-haiku",
            "regional",
            "anthropic",
        ),
        (
            "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
            "claude-3-7-sonnet",
            None,
            "anthropic",
        ),
        ("us.amazon.nova-pro-v1:0", "amazon.nova-pro", "regional", "amazon"),
        ("meta.llama3-1-70b-instruct-v1:0", "meta.llama3-1-70b-instruct", None, "meta"),
        ("us.amazon.nova-2-lite-v1:0", "amazon.nova-2-lite", "regional", "amazon"),
        ("mistral.mistral-7b-instruct-v0:2", "mistral.mistral-7b-instruct", None, "mistral"),
    ],
)
def test_model_ids_are_normalized(model_id: str, expected_id: str, scope: str | None, provider: str) -> None:
    row = parse_lines("bedrock", [invocation(model_id, 10, 1)]).rows.row(0, named=True)
    assert (row["model"], row["model_id"], row["endpoint_scope"], row["provider"]) == (
        model_id,
        expected_id,
        scope,
        provider,
    )


@pytest.mark.parametrize("exact", [False, True])
def test_fixture_file_costs_by_hand(exact: bool) -> None:
    p = parse_lines("bedrock", (FIXTURES / "bedrock_invocations.jsonl").read_text().splitlines(), exact=exact)
    assert p.skipped == {"error response": 1} and not p.rejects and p.rows.height == 5
    rows = priced(p.rows).sort("source_line").to_dicts()
    sonnet_us, haiku_global, haiku35, app_arn, nova = rows
    # us. Sonnet 4.5 (regional x1.1): (1000 x 3 + 2000 x 0.30 + 1000 x 3.75 + 500 x 15) x 1.1 = $0.016335
    assert sonnet_us["cost_usd"] == pytest.approx(
        usd((1000, 3), (2000, 0.3), (1000, 3.75), (500, 15)) * 1.1, rel=1e-12
    )
    assert sonnet_us["cost_usd"] == pytest.approx(0.016335, rel=1e-12) and sonnet_us[
        "price_multiplier"
    ] == pytest.approx(1.1)
    assert (sonnet_us["cache_read_tokens"], sonnet_us["cache_write_5m_tokens"]) == (2000, 1000)
    assert sonnet_us["feature"] == "support-chat" and sonnet_us["user_id"] == "u_0001"
    assert (
        sonnet_us["api_key_id"].endswith("assumed-role/support-bot/i-0abc")
        and sonnet_us["workspace_id"] == "111122223333"
    )
    assert sonnet_us["stop_reason"] == "end_turn" and not sonnet_us["structured_output"]
    # global. Haiku 4.5 at list: 2000 x 1 + 1000 x 5 = $0.007; a tool_use answer
    assert haiku_global["cost_usd"] == pytest.approx(0.007, rel=1e-12) and haiku_global["structured_output"]
    # Haiku 3.5 from a foundation-model ARN, list price: 1000 x 0.80 + 1000 x 4 = $0.0048
    assert haiku35["cost_usd"] == pytest.approx(0.0048, rel=1e-12)
    # an application inference profile is unpriced (null, never $0)
    assert not app_arn["priced"] and app_arn["cost_usd"] is None and app_arn["provider"] == "aws.bedrock"
    # us. Nova Pro (no regional premium on Nova 1 models): 800 x 0.80 + 80 x 3.20 = $0.000896
    assert (nova["provider"], nova["model_id"]) == ("amazon", "amazon.nova-pro")
    assert nova["cost_usd"] == pytest.approx(usd((800, 0.8), (80, 3.2)), rel=1e-12)
    assert sum(r["cost_usd"] or 0 for r in rows) == pytest.approx(0.029031, abs=1e-12)


def test_older_models_on_regional_profiles_cost_list_price() -> None:
    rows = priced(
        parse_lines("bedrock", [invocation("us.anthropic.claude-sonnet-4-20250514-v1:0", 1000, 100)]).rows
    )
    assert rows["cost_usd"][0] == pytest.approx(usd((1000, 3), (100, 15)), rel=1e-12)


def test_application_profile_priced_once_mapped_in_config(tmp_path: Any) -> None:
    arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6"
    cfg = tmp_path / "tierlens.toml"
    cfg.write_text(
        f'[sources.bedrock.inference_profiles]\n"{arn}" = "us.anthropic.claude-haiku-4-5-20251001-v1:0"\n'
        '[[pricing.models]]\nprovider = "amazon"\nmodel_id = "amazon.nova-pro"\ninput = 0.8\noutput = 3.2\n'
    )
    settings = load_settings(cfg)
    p = parse_lines(
        "bedrock", [invocation(arn, 500, 50), invocation("us.amazon.nova-pro-v1:0", 800, 80)], settings
    )
    a, nova = priced(p.rows, settings).sort("source_line").to_dicts()
    assert (a["model"], a["model_id"], a["endpoint_scope"]) == (arn, "claude-haiku-4-5", "regional")
    assert a["cost_usd"] == pytest.approx(usd((500, 1), (50, 5)) * 1.1, rel=1e-12)
    assert nova["cost_usd"] == pytest.approx(usd((800, 0.8), (80, 3.2)), rel=1e-12)


def test_bad_records_are_rejected_with_reasons() -> None:
    no_output = invocation("us.anthropic.claude-haiku-4-5-20251001-v1:0", 1, 1)
    no_output["output"] = {"outputContentType": "application/json"}
    lines: list[Any] = [
        {**invocation("global.anthropic.claude-haiku-4-5-20251001-v1:0", 1, 1), "schemaType": "Other"},
        no_output,
        invocation("global.anthropic.claude-haiku-4-5-20251001-v1:0", -5, 1),
        invocation("global.anthropic.claude-haiku-4-5-20251001-v1:0", 1, 1, timestamp="yesterday"),
    ]
    p = parse_lines("bedrock", lines)
    assert [r["reason"] for r in p.rejects] == [
        "not a Bedrock model invocation log",
        "missing output.outputTokenCount",
        "negative token count",
        BAD_TIME,
    ]
    assert (
        detect_format(json.dumps(invocation("x", 1, 1)).encode() + b"\n", load_settings(), "x").name
        == "bedrock"
    )


# Guardrail blocks as Bedrock logs them (shapes from panther-analysis' Bedrock guardrail rule tests)
GUARDRAIL_INVOKE = {
    "schemaType": "ModelInvocationLog",
    "schemaVersion": "1.0",
    "timestamp": "2025-05-15 14:14:49.000000000",
    "accountId": "111111111111",
    "identity": {"arn": "arn:aws:sts::111111111111:assumed-role/role_details/suspicious.user"},
    "region": "us-west-2",
    "requestId": "ba78ac1f-5ea4-4e2a-a936-92f7e13c96c4",
    "operation": "InvokeModel",
    "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
    "input": {"inputContentType": "application/json"},
    "output": {
        "outputContentType": "application/json",
        "outputBodyJson": {
            "amazon-bedrock-guardrailAction": "INTERVENED",
            "amazon-bedrock-trace": {"guardrail": {"actionReason": "Guardrail blocked."}},
            "content": [{"text": "You shouldn't ask this question", "type": "text"}],
            "role": "assistant",
            "type": "message",
        },
    },
}


@pytest.mark.parametrize("exact", [False, True])
def test_guardrail_blocks_without_counts_are_skipped(exact: bool) -> None:
    converse = invocation("anthropic.claude-3-haiku-20240307-v1:0", 0, 0, request_id="g2")
    converse["output"]["outputBodyJson"] = {"stopReason": "guardrail_intervened", "usage": {"inputTokens": 0}}
    del converse["input"]["inputTokenCount"], converse["output"]["outputTokenCount"]
    billed = invocation("anthropic.claude-3-haiku-20240307-v1:0", 1200, 40, request_id="g3")
    billed["output"]["outputBodyJson"] = {"amazon-bedrock-guardrailAction": "INTERVENED", "content": []}
    no_counts = invocation("anthropic.claude-3-haiku-20240307-v1:0", 1, 1, request_id="g4")
    del no_counts["output"]["outputTokenCount"]
    p = parse_lines("bedrock", [GUARDRAIL_INVOKE, converse, billed, no_counts], exact=exact)
    assert p.skipped == {"guardrail intervened": 2}
    assert [(r["line"], r["reason"]) for r in p.rejects] == [(4, "missing output.outputTokenCount")]
    # a block that still carries its counts (an output guardrail after the model ran) is billed
    row = priced(p.rows).row(0, named=True)
    assert row["request_id"] == "g3" and row["cost_usd"] == pytest.approx(
        usd((1200, 0.25), (40, 1.25)), rel=1e-12
    )
    assert_accounted(p)


def insights(records: list[dict[str, Any]]) -> dict[str, Any]:
    """`aws logs get-query-results` for `fields @timestamp, @message` (the CloudWatch Logs API shape)."""
    rows = [
        [
            {"field": "@timestamp", "value": "2026-09-01 11:00:00.000"},
            {"field": "@message", "value": json.dumps(r)},
            {"field": "@ptr", "value": f"CmAKJwojMTExMTIyMjIzMzMzOmF3cy9iZWRyb2NrEAA{i}"},
        ]
        for i, r in enumerate(records)
    ]
    return {"results": rows, "statistics": {"recordsMatched": len(rows)}, "status": "Complete"}


def log_events(records: list[dict[str, Any]], key: str = "events") -> dict[str, Any]:
    """`aws logs get-log-events` (key `events`) or a subscription payload (key `logEvents`)."""
    events = [
        {"timestamp": 1788260400000 + i, "message": json.dumps(r), "ingestionTime": 1788260401000 + i}
        for i, r in enumerate(records)
    ]
    if key == "logEvents":
        return {"messageType": "DATA_MESSAGE", "logGroup": "bedrock-invocations", "logEvents": events}
    return {"events": events, "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}


RECORDS = [
    invocation("us.anthropic.claude-haiku-4-5-20251001-v1:0", 1000, 100, request_id="cw-1"),
    invocation("global.anthropic.claude-haiku-4-5-20251001-v1:0", 2000, 200, read=500, request_id="cw-2"),
]


@pytest.mark.parametrize(
    "wrapped",
    [
        json.dumps(insights(RECORDS), indent=2),  # pretty-printed, as the CLI prints it
        json.dumps(log_events(RECORDS)),  # one line
        json.dumps({**log_events(RECORDS), "searchedLogStreams": []}, indent=2),  # filter-log-events
        json.dumps(log_events(RECORDS, "logEvents")),
        json.dumps([{"@timestamp": "2026-09-01 11:00:00.000", "@message": json.dumps(r)} for r in RECORDS]),
    ],
)
def test_cloudwatch_logs_output_gives_one_row_per_event(wrapped: str) -> None:
    body = wrapped.encode() + b"\n"
    assert detect_format(body, load_settings(), "x").name == "bedrock"
    p = parse_bytes("bedrock", body)
    assert not p.rejects and not p.skipped
    want = parse_lines("bedrock", RECORDS).rows
    got = p.rows.sort("request_id")
    assert got.drop("source_line").equals(want.sort("request_id").drop("source_line"))
    assert priced(got)["cost_usd"].to_list() == pytest.approx(
        [usd((1000, 1), (100, 5)) * 1.1, usd((2000, 1), (500, 0.1), (200, 5))], rel=1e-12
    )


def test_unreadable_events_are_rejected_by_name() -> None:
    events = log_events(RECORDS)
    events["events"].insert(1, {"timestamp": 1, "message": "START RequestId: 42"})
    events["events"].append({"timestamp": 2, "message": json.dumps({"schemaType": "Other"})})
    no_message = {"results": [[{"field": "@timestamp", "value": "2026-09-01 11:00:00.000"}]]}
    control = {
        "messageType": "CONTROL_MESSAGE",
        "logEvents": [{"id": "", "timestamp": 1, "message": "check"}],
    }
    lines = [events, no_message, control]
    p = parse_lines("bedrock", lines)
    assert (
        p.path_used == "exact" and p.rows.height == 2 and p.skipped == {"CloudWatch Logs control message": 1}
    )
    assert [(r["line"], r["reason"]) for r in p.rejects] == [
        (1, "events[1]: message is not a JSON record"),
        (1, "events[3]: not a Bedrock model invocation log"),
        (2, "results[0]: no @message in the log event (a Logs Insights query must select @message)"),
    ]
    assert_accounted(p)


def test_wrappers_of_other_logs_are_not_detected_as_bedrock() -> None:
    other = {"events": [{"timestamp": 1, "message": json.dumps({"level": "info", "msg": "hi"})}]}
    reader = make_reader("bedrock", Settings())
    assert not reader.sniff(other)
    assert not reader.sniff({"results": [[{"field": "@message", "value": "plain text"}]]})
    assert reader.sniff(insights(RECORDS)) and reader.sniff(log_events(RECORDS, "logEvents"))


@pytest.mark.parametrize(
    ("model_id", "rates"),
    [
        # genai-prices 0.2.3, provider aws: (input, cache read, output) USD per million tokens
        ("amazon.nova-micro-v1:0", (0.035, 0.00875, 0.14)),
        ("us.amazon.nova-lite-v1:0", (0.06, 0.015, 0.24)),
        ("eu.amazon.nova-pro-v1:0", (0.8, 0.2, 3.2)),
        ("us.amazon.nova-premier-v1:0", (2.5, 0.625, 12.5)),
    ],
)
def test_nova_models_are_priced(model_id: str, rates: tuple[float, float, float]) -> None:
    rec = invocation(model_id, 10_000, 2_000, read=40_000)
    row = priced(parse_lines("bedrock", [rec]).rows).row(0, named=True)
    inp, read, out = rates
    assert row["priced"] and row["cost_usd"] == pytest.approx(
        usd((10_000, inp), (40_000, read), (2_000, out)), rel=1e-12
    )


def test_ingested_nova_and_llama_records_cost_by_hand(write: Any, settings: Settings) -> None:
    lines = [
        # Nova Lite through the us. profile: 1,000 x $0.06 + 2,000 cached x $0.015 + 500 x $0.24 = $0.00021
        invocation("us.amazon.nova-lite-v1:0", 1000, 500, read=2000, request_id="n1"),
        # Nova 2 Lite is 10% dearer on a geographic profile: (1,000 x $0.30 + 100 x $2.50) x 1.1 = $0.000605
        invocation("us.amazon.nova-2-lite-v1:0", 1000, 100, request_id="n2"),
        # Llama 3.3 70B: 3,000 x $0.72 + 1,000 x $0.72 = $0.00288
        invocation("us.meta.llama3-3-70b-instruct-v1:0", 3000, 1000, request_id="n3"),
        # a cache write on Nova has no published rate: unpriced, never $0
        invocation("amazon.nova-micro-v1:0", 100, 10, write=1000, request_id="n4"),
    ]
    res = ingest([write("invocations.jsonl", lines)], settings)
    assert res.rows_added == 4 and res.unpriced == {"amazon.nova-micro-v1:0": 1}
    rows = tierlens.open(settings.data_dir).sort("request_id").collect().to_dicts()
    costs = [r["cost_usd"] for r in rows]
    assert costs[:3] == pytest.approx([0.00021, 0.000605, 0.00288], rel=1e-9) and costs[3] is None
    assert [r["provider"] for r in rows] == ["amazon", "amazon", "meta", "amazon"]
    assert res.total_cost_usd == pytest.approx(0.00021 + 0.000605 + 0.00288, rel=1e-9)


# --- properties ------------------------------------------------------------------------------------

valid = st.builds(
    lambda m, u, o, r, w, i: invocation(m, u, o, read=r, write=w, request_id=f"req-{i}"),
    st.sampled_from(
        [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-opus-4-6-v1",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ]
    ),
    token,
    token,
    st.none() | token,
    st.none() | token,
    st.integers(0, 10**9),
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(valid, min_size=1, max_size=6, unique_by=lambda r: r["requestId"]))
def test_valid_records_round_trip(records: list[dict[str, Any]]) -> None:
    fast, exact = parse_lines("bedrock", records), parse_lines("bedrock", records, exact=True)
    assert fast.path_used == "fast" and fast.rows.equals(exact.rows) and not fast.rejects
    for rec, row in zip(records, fast.rows.sort("source_line").to_dicts(), strict=True):
        i = rec["input"]
        assert (
            row["input_tokens"],
            row["cache_read_tokens"],
            row["cache_write_5m_tokens"],
            row["output_tokens"],
        ) == (
            i["inputTokenCount"],
            i.get("cacheReadInputTokenCount") or 0,
            i.get("cacheWriteInputTokenCount") or 0,
            rec["output"]["outputTokenCount"],
        )


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            valid.map(json.dumps),
            garbage(["schemaType", "modelId", "input", "output", "inputTokenCount", "timestamp"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_garbage_never_crashes_bedrock(lines: list[str]) -> None:
    p = parse_lines("bedrock", lines)
    assert_accounted(p)
    assert sorted(r["line"] for r in parse_lines("bedrock", lines, exact=True).rejects) == sorted(
        r["line"] for r in p.rejects
    )


@hsettings(max_examples=30, deadline=None)
@given(
    st.lists(valid, min_size=1, max_size=5, unique_by=lambda r: r["requestId"]),
    st.sampled_from(["events", "logEvents", "results"]),
)
def test_wrapped_records_read_like_lines(records: list[dict[str, Any]], key: str) -> None:
    wrapped = insights(records) if key == "results" else log_events(records, key)
    p = parse_lines("bedrock", [wrapped])
    assert not p.rejects and p.records == len(records)
    plain = parse_lines("bedrock", records).rows.drop("source_line")
    assert p.rows.drop("source_line").equals(plain) and set(p.rows["source_line"]) == {1}
