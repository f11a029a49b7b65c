"""The Workspace: one way in, one scan per call chain, and figures that request-level data re-derives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests import factories as f
from tierlens.pricing import PriceTable, reprice
from tierlens.report import build_report
from tierlens.report import render as rr
from tierlens.workspace import Workspace

_PROMPT = (
    pl.col("input_tokens")
    + pl.col("cache_read_tokens")
    + pl.col("cache_write_5m_tokens")
    + pl.col("cache_write_1h_tokens")
)


def test_a_workspace_scans_its_snapshot_once_for_report_and_flags(
    sample_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tierlens.store.layout as layout

    calls: list[Any] = []
    real = layout.snapshot
    monkeypatch.setattr(layout, "snapshot", lambda d: calls.append(d) or real(d))
    ws = tierlens.Workspace(sample_data)
    ws.report()
    ws.flags()
    ws.summary()
    assert len(calls) == 1


def test_workspace_answers_are_the_library_answers(sample_data: Path) -> None:
    ws = Workspace(sample_data)
    mine, theirs = rr.to_dict(ws.report()), rr.to_dict(build_report(sample_data))
    assert {k: v for k, v in mine.items() if k != "generated_at"} == {
        k: v for k, v in theirs.items() if k != "generated_at"
    }
    assert ws.summary().total_cost_usd == pytest.approx(
        tierlens.open(sample_data).select(pl.col("cost_usd").sum()).collect().item(), rel=1e-12
    )


def test_savings_equal_the_rows_re_priced_one_by_one(sample_data: Path) -> None:
    ws = Workspace(sample_data)
    r = ws.report()
    week = ws.requests.filter(
        pl.col("date").is_between(r.period.start, r.period.end) & pl.col("priced")
    ).collect()
    zero = pl.lit(0, pl.Int64)
    table = PriceTable.load()
    uncached: dict[str, Any] = {
        "input_tokens": _PROMPT,
        "cache_read_tokens": zero,
        "cache_write_5m_tokens": zero,
        "cache_write_1h_tokens": zero,
    }
    no_cache = reprice(week, table, **uncached)
    list_price = reprice(week, table, **uncached, service_tier="standard")
    assert r.savings["list_cost_usd"] == pytest.approx(float(list_price.sum()), rel=1e-12)
    assert r.savings["list_cost_usd"] > float(no_cache.sum())  # the week has batch requests
    assert r.savings["caching_saved_usd"] == pytest.approx(
        float((no_cache - week["cost_usd"]).sum()), rel=1e-9
    )
    batch = week.filter(pl.col("service_tier") == "batch")
    standard = reprice(batch, table, service_tier="standard")
    assert r.savings["batch_saved_usd"] == pytest.approx(
        float((standard - batch["cost_usd"]).sum()), rel=1e-12
    )


def test_flag_dollars_equal_the_rows_re_priced_one_by_one(sample_data: Path) -> None:
    ws = Workspace(sample_data)
    flags = ws.flags()
    cfg = ws.settings.signals
    window = ws.requests.filter(
        pl.col("date").is_between(flags.window_start, flags.window_end) & pl.col("priced")
    ).collect()
    scale = 30.0 / cfg.lookback_days
    batch = next(x for x in flags.findings if x.kind == "batch_candidate")
    rows = window.filter((pl.col("feature") == batch.feature) & (pl.col("service_tier") != "batch"))
    saving = (
        float(rows["cost_usd"].sum()) - float(reprice(rows, ws.table, service_tier="batch").sum())
    ) * scale
    assert batch.monthly_usd == pytest.approx(saving, rel=1e-12)
    top = next(x for x in flags.findings if x.kind == "top_tier_structured")
    short = (
        pl.col("structured_output")
        & (cfg.structured_max_prompt >= _PROMPT)
        & (pl.col("output_tokens") <= cfg.structured_max_output)
    )
    hits = window.filter((pl.col("feature") == top.feature) & (pl.col("tier") == "opus") & short)
    assert top.data["requests"] == hits.height
    kept = float(reprice(hits, ws.table, model_id=top.data["target"]).sum())
    assert top.high_usd == pytest.approx(
        (float(hits["cost_usd"].sum()) - kept) * scale, rel=1e-9
    ) or top.low_usd == pytest.approx((float(hits["cost_usd"].sum()) - kept) * scale, rel=1e-9)


def test_anomalies_and_forecasts_come_from_the_daily_spend(sample_data: Path) -> None:
    ws = Workspace(sample_data)
    flags = ws.flags()
    forecast = flags.forecasts[0]
    start = forecast.period_start
    spent = ws.requests.filter(
        (pl.col("date") >= pl.lit(start).str.to_date())
        & (pl.col("date") < pl.lit(str(flags.as_of)).str.to_date())
    ).select(pl.col("cost_usd").sum())
    assert forecast.spent_usd == pytest.approx(spent.collect().item(), rel=1e-9)
    for a in (x for x in flags.findings if x.kind == "anomaly"):
        day = a.data["date"]
        cost = ws.requests.filter(
            (pl.col("date") == pl.lit(day).str.to_date())
            & (pl.col("feature") == a.feature)
            & (pl.col("model_id") == a.model)
            & pl.col("priced")
        ).select(pl.col("cost_usd").sum())
        assert a.data["cost"] == pytest.approx(cost.collect().item(), rel=1e-9)


def test_a_write_through_the_workspace_shows_in_its_next_read(tmp_path: Path, write: Any) -> None:
    ws = Workspace(tmp_path / "data")
    ws.ingest([write("a.jsonl", [f.logged() for _ in range(3)])])
    assert ws.summary().total_requests == 3
    ws.ingest([write("b.jsonl", [f.logged(ts="2026-09-02T10:00:00Z") for _ in range(2)])])
    assert ws.summary().total_requests == 5
    assert ws.flags().as_of - timedelta(days=1) >= ws.summary().last_day  # type: ignore[operator]
