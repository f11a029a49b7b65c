"""Anthropic Admin API usage_report/messages: bucketed aggregates; cost_report is not usage.

Tokens are already canonical (uncached_input_tokens); a row is a bucket x group, `requests` is null
(the report has no count), the long-context tier comes from `context_window`, and the dedupe key is
the bucket plus its group values, so ingesting a page twice adds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import tierlens
from tests.fixtures.readers import FIXTURES, assert_accounted, garbage, parse_bytes, parse_lines, token, usd
from tierlens.config import Settings
from tierlens.errors import SourceError
from tierlens.ingest import ingest


def result(model: str | None, uncached: int, out: int, **kw: Any) -> dict[str, Any]:
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {
            "ephemeral_1h_input_tokens": kw.pop("w1", 0),
            "ephemeral_5m_input_tokens": kw.pop("w5", 0),
        },
        "cache_read_input_tokens": kw.pop("read", 0),
        "output_tokens": out,
        "server_tool_use": {"web_search_requests": kw.pop("web", 0)},
        "api_key_id": kw.pop("api_key_id", None),
        "workspace_id": kw.pop("workspace_id", None),
        "model": model,
        "service_tier": kw.pop("service_tier", None),
        "context_window": kw.pop("context_window", None),
        "inference_geo": kw.pop("inference_geo", None),
        "account_id": None,
        "service_account_id": None,
    }


def page(*buckets: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    data = [
        {"starting_at": f"{day}T00:00:00Z", "ending_at": f"{day}T23:59:59Z", "results": rs}
        for day, rs in buckets
    ]
    return {"data": data, "has_more": False, "next_page": None}


def test_fixture_report_costs_by_hand(settings: Settings) -> None:
    res = ingest([FIXTURES / "anthropic_usage_report.json"], settings)
    assert res.formats == {"anthropic_usage": 1} and res.rows_added == 4 and not res.rejects
    df = tierlens.open(settings.data_dir).collect().sort("ts", "model_id")
    costs = dict(zip(zip(df["ts"].dt.day(), df["model_id"], strict=True), df["cost_usd"], strict=True))
    # day 1 Sonnet 4.5, 0-200k window although the bucket sums 480,000 prompt tokens: standard rates
    assert costs[(1, "claude-sonnet-4-5")] == pytest.approx(
        usd((400_000, 3), (20_000, 3.75), (10_000, 6), (50_000, 0.3), (20_000, 15)) + 3 * 0.01, rel=1e-12
    )
    # day 1 Haiku 4.5 batch: (200,000 x 1 + 40,000 x 5) x 0.5 = $0.20
    assert costs[(1, "claude-haiku-4-5")] == pytest.approx(0.2, rel=1e-12)
    # day 2 Sonnet 4.5 in the 200k-1M window: every token at long-context rates = $1.8885 (FACTS B)
    assert costs[(2, "claude-sonnet-4-5")] == pytest.approx(
        usd((300_000, 6), (10_000, 0.6), (5_000, 7.5), (2_000, 22.5)), rel=1e-12
    )
    assert costs[(2, "claude-sonnet-4-5")] == pytest.approx(1.8885, rel=1e-12)
    # day 2 Opus 4.6 with inference_geo us: x1.1
    assert costs[(2, "claude-opus-4-6")] == pytest.approx(usd((10_000, 5), (1_000, 25)) * 1.1, rel=1e-12)
    assert float(df["cost_usd"].sum()) == pytest.approx(3.851, abs=1e-9)
    assert df["requests"].null_count() == 4 and set(df["ts_source"]) == {"bucket_start"}
    assert df.filter(pl.col("model_id") == "claude-sonnet-4-5")["long_context"].to_list() == [False, True]
    assert "rows in 1 file(s) timestamped from the start of their usage-report bucket" in res.timestamps[0]


def test_reingest_is_idempotent_and_pages_per_line_work(tmp_path: Path, settings: Settings) -> None:
    p1 = page(("2026-09-03", [result("claude-haiku-4-5-20251001", 1000, 100, workspace_id="w1")]))
    p2 = page(
        (
            "2026-09-04",
            [result("claude-haiku-4-5-20251001", 2000, 200, workspace_id="w1"), result(None, 5, 5)],
        )
    )
    path = tmp_path / "usage_pages.jsonl"
    path.write_text(json.dumps(p1) + "\n" + json.dumps(p2) + "\n")
    first = ingest([path], settings)
    assert (first.rows_added, first.records_read, first.lines_read) == (3, 3, 2)
    again = ingest([path, FIXTURES / "anthropic_usage_report.json"], settings)
    assert again.rows_added == 4 and again.duplicates_skipped == 3
    unpriced = tierlens.open(settings.data_dir).filter(~pl.col("priced")).collect()
    assert unpriced["model"].to_list() == ["(not grouped by model)"] and unpriced["cost_usd"].to_list() == [
        None
    ]


def test_bad_results_are_rejected_by_bucket() -> None:
    bad = page(
        (
            "2026-09-03",
            [result("claude-haiku-4-5", -1, 1), result("claude-haiku-4-5", 1, 1) | {"output_tokens": None}],
        )
    )
    p = parse_lines(
        "anthropic_usage",
        [bad, {"data": [{"starting_at": "nope", "results": [result("x", 1, 1)]}]}, {"data": [7]}],
    )
    assert [(r["line"], r["reason"]) for r in p.rejects] == [
        (1, "data[0].results[0]: negative token count"),
        (1, "data[0].results[1]: missing output_tokens"),
        (2, "data[0].results[0]: unparseable starting_at (ISO 8601 between 2000 and 2100)"),
        (3, "data[0]: expected a bucket with results"),
    ]
    assert_accounted(p)


def test_cost_reports_are_skipped_by_ingest_with_a_pointer_to_reconcile(settings: Settings) -> None:
    res = ingest([FIXTURES], settings)
    note = [n for n in res.files_skipped if "anthropic_cost_report.json" in n]
    assert note and "tierlens reconcile --cost-report" in note[0]
    with pytest.raises(SourceError, match="is an Anthropic cost report"):
        ingest([FIXTURES / "anthropic_cost_report.json"], settings)


# --- properties ------------------------------------------------------------------------------------

valid = st.builds(
    lambda day, rs: page((f"2026-09-{day:02d}", rs)),
    st.integers(1, 28),
    st.lists(
        st.builds(
            lambda m, u, o, r, w5, w1, ws: result(m, u, o, read=r, w5=w5, w1=w1, workspace_id=ws),
            st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5-20251001", None]),
            token,
            token,
            token,
            token,
            token,
            st.sampled_from([None, "wrkspc_a", "wrkspc_b"]),
        ),
        max_size=4,
    ),
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(valid, min_size=1, max_size=4))
def test_valid_pages_round_trip(pages: list[dict[str, Any]]) -> None:
    p = parse_bytes("anthropic_usage", "".join(json.dumps(x) + "\n" for x in pages).encode())
    assert not p.rejects
    want = sorted(
        (
            n,
            r["uncached_input_tokens"],
            r["cache_read_input_tokens"],
            r["cache_creation"]["ephemeral_5m_input_tokens"],
            r["cache_creation"]["ephemeral_1h_input_tokens"],
            r["output_tokens"],
        )
        for n, pg in enumerate(pages, start=1)
        for b in pg["data"]
        for r in b["results"]
    )
    got = sorted(
        p.rows.select(
            "source_line",
            "input_tokens",
            "cache_read_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "output_tokens",
        ).rows()
    )
    assert got == want


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            valid.map(json.dumps),
            garbage(["data", "results", "starting_at", "uncached_input_tokens", "output_tokens", "model"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_garbage_never_crashes_admin(lines: list[str]) -> None:
    assert_accounted(parse_lines("anthropic_usage", lines))
