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

from tests.fixtures.readers import FIXTURES, assert_accounted, garbage, parse_lines, priced, token, usd
from tierlens.config import load_settings
from tierlens.sources import detect_format


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
    # an application inference profile and a non-Claude model are unpriced (null, never $0)
    assert not app_arn["priced"] and app_arn["cost_usd"] is None and app_arn["provider"] == "aws.bedrock"
    assert not nova["priced"] and nova["cost_usd"] is None
    assert sum(r["cost_usd"] or 0 for r in rows) == pytest.approx(0.028135, abs=1e-12)


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
        "unparseable timestamp yesterday",
    ]
    assert (
        detect_format(json.dumps(invocation("x", 1, 1)).encode() + b"\n", load_settings(), "x").name
        == "bedrock"
    )


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
