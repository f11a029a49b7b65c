"""Signals: every planted pattern is found on sample_logs/, nothing else; a clean dataset stays quiet."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests import factories as f
from tierlens.config import BudgetConfig, SignalsConfig, load_settings
from tierlens.ingest import ingest
from tierlens.pricing import PriceTable, reprice
from tierlens.signals import find_flags, forecast

PLANTED = {
    ("cost_growth", "doc-summarizer"),
    ("lost_caching", "email-drafter"),
    ("anomaly", "support-chat"),
    ("batch_candidate", "catalog-enrichment"),
    ("top_tier_structured", "ticket-classifier"),
    ("under_provisioned", "search-answer"),
    # not planted by the generator: the price table's newer models make them true
    ("stale_generation", "contract-review"),  # Opus 4.1, retired 2026-08-05; Opus 4.6 costs a third
    ("stale_generation", "search-answer"),  # Haiku 5.5 (a newer tokenizer) at a tenth of Haiku 4.5's rates
    ("stale_generation", "nightly-digest"),
}


def test_sample_logs_flags_exactly_the_planted_patterns(sample_data: Path) -> None:
    flags = find_flags(sample_data)
    assert flags.as_of == date(2026, 11, 16)
    assert {(x.kind, x.feature) for x in flags.findings} == PLANTED
    by_kind = {x.kind: x for x in flags.findings}
    assert by_kind["anomaly"].data["date"] == "2026-10-28" and by_kind["anomaly"].model == "claude-sonnet-4-5"
    # the generator's storm: $13.47 that day, several times the usual Wednesday
    assert by_kind["anomaly"].data["cost"] == pytest.approx(13.47, abs=0.005)
    assert by_kind["anomaly"].data["excess_usd"] > 8
    assert by_kind["lost_caching"].data["since"] == "2026-10-05"
    assert by_kind["top_tier_structured"].data["target"] == "claude-haiku-4-5"
    for x in flags.findings:
        assert (
            x.evidence
            and x.confidence in ("high", "medium", "low")
            and x.basis in ("exact", "modelled", "speculative")
        )
        if x.monthly_usd is not None:
            assert x.low_usd is not None and x.high_usd is not None
            assert 0 <= x.low_usd <= x.monthly_usd <= x.high_usd + 1e-9


def test_batch_candidate_saving_is_the_pricing_engines_batch_discount(sample_data: Path) -> None:
    flags = find_flags(sample_data)
    finding = next(x for x in flags.findings if x.kind == "batch_candidate")
    rows = (
        tierlens.open(sample_data)
        .filter(
            (pl.col("feature") == "catalog-enrichment")
            & pl.col("date").is_between(flags.window_start, flags.window_end)
        )
        .collect()
    )
    exact = (rows["cost_usd"].sum() - reprice(rows, PriceTable.load(), service_tier="batch").sum()) * 30 / 28
    assert finding.monthly_usd == pytest.approx(exact, rel=1e-9)
    assert finding.monthly_usd == pytest.approx(
        rows["cost_usd"].sum() / 2 * 30 / 28, rel=1e-9
    )  # no web search here


def test_thresholds_are_configurable(sample_data: Path) -> None:
    strict = SignalsConfig(growth_min_ratio=5.0, batch_min_night_share=1.01, anomaly_min_usd=1000.0)
    kinds = {x.kind for x in find_flags(sample_data, strict).findings}
    assert not kinds & {"cost_growth", "batch_candidate", "anomaly"}
    assert "lost_caching" in kinds


def _clean_logs(write: Any) -> Path:
    """Ten steady weeks: business hours, stable caching, no top-tier classification, no spikes."""
    rng = random.Random(7)
    lines = []
    start = date(2026, 8, 3)
    for d in range(70):
        day = start + timedelta(days=d)
        weekday = day.weekday() < 5
        for i in range(rng.randint(28, 34) if weekday else rng.randint(10, 14)):
            ts = f"{day}T{rng.randint(9, 17):02d}:{rng.randint(0, 59):02d}:00Z"
            lines.append(
                f.logged(
                    ts=ts,
                    feature="assistant",
                    model="claude-sonnet-4-5-20250929",
                    input_tokens=rng.randint(300, 900),
                    cache_read=rng.randint(2500, 3500),
                    output_tokens=rng.randint(150, 400),
                )
            )
            if i % 3 == 0:  # the newest Haiku: an older generation would be a stale-generation finding
                lines.append(
                    f.logged(
                        ts=ts,
                        feature="search",
                        model="claude-haiku-5-5",
                        input_tokens=rng.randint(800, 1500),
                        output_tokens=rng.randint(100, 300),
                    )
                )
            if i % 5 == 0:
                lines.append(
                    f.logged(
                        ts=ts,
                        feature="planner",
                        model="claude-opus-4-6",
                        input_tokens=rng.randint(3000, 6000),
                        output_tokens=rng.randint(800, 1500),
                    )
                )
    return write("clean.jsonl", lines)


def test_a_clean_dataset_stays_quiet(tmp_path: Path, write: Any) -> None:
    data = tmp_path / "data"
    ingest([_clean_logs(write)], load_settings(data_dir=data))
    # thresholds low enough that anything real would show on this small bill
    flags = find_flags(data, SignalsConfig(min_monthly_usd=0.05, anomaly_min_usd=0.05))
    assert flags.findings == []


def test_cached_top_tier_calls_are_priced_with_the_cache_they_would_lose(tmp_path: Path, write: Any) -> None:
    # Opus calls that read most of their prompt from cache: on Haiku the cache would be cold at first
    lines = [
        f.logged(
            ts=f"2026-09-{1 + i % 28:02d}T10:00:00Z",
            feature="router",
            model="claude-opus-4-6",
            tool=True,
            input_tokens=50,
            cache_read=1500,
            output_tokens=10,
        )
        for i in range(400)
    ]
    data = tmp_path / "data"
    ingest([write("cached.jsonl", lines)], load_settings(data_dir=data))
    finding = next(
        x
        for x in find_flags(data, SignalsConfig(min_monthly_usd=0.0)).findings
        if x.kind == "top_tier_structured"
    )
    # per call: opus 50x5 + 1500x0.5 + 10x25 = 1250; haiku kept 50x1 + 1500x0.1 + 10x5 = 250; haiku cold 1550x1 + 50 = 1600
    assert finding.high_usd is not None and finding.high_usd > 0
    assert finding.low_usd == 0.0  # with a cold cache, Haiku would cost more than cached Opus: no sure saving
    # sonnet kept 50x3 + 1500x0.3 + 10x15 = 750, cold 4800: haiku stays the target with the smaller worst case
    assert finding.data["target"] == "claude-haiku-4-5"
    # the window holds all 400 calls (28 days), scaled to 30 days; saving 1000 micro-dollars a call with the cache kept
    assert finding.high_usd == pytest.approx((1250 - 250) / 1e6 * 400 * 30 / 28, rel=1e-9)


def test_unattributed_requests_are_flagged_and_priced_under_their_own_name(
    tmp_path: Path, write: Any
) -> None:
    # the same calls with no feature: flagged as "(unattributed)", with the same dollars
    def calls(feature: str | None) -> list[dict[str, Any]]:
        return [
            f.logged(
                ts=f"2026-09-{1 + i % 28:02d}T10:00:00Z",
                feature=feature,
                model="claude-opus-4-6",
                tool=True,
                input_tokens=50,
                cache_read=1500,
                output_tokens=10,
            )
            for i in range(400)
        ]

    found = {}
    for name, feature in (("named", "router"), ("unnamed", None)):
        data = tmp_path / name
        ingest([write(f"{name}.jsonl", calls(feature))], load_settings(data_dir=data))
        flags = find_flags(data, SignalsConfig(min_monthly_usd=0.0)).findings
        found[name] = next(x for x in flags if x.kind == "top_tier_structured")
    assert found["unnamed"].feature == "(unattributed)"
    assert found["unnamed"].high_usd == pytest.approx(found["named"].high_usd, rel=1e-12)
    assert found["unnamed"].low_usd == found["named"].low_usd


def test_forecast_projects_the_rest_of_the_period(tmp_path: Path, write: Any) -> None:
    # $0.0045 a day, every day of September up to the 20th
    lines = [
        f.logged(ts=f"2026-09-{d:02d}T10:00:00Z", input_tokens=1000, output_tokens=100) for d in range(1, 21)
    ]
    data = tmp_path / "data"
    ingest([write("steady.jsonl", lines)], load_settings(data_dir=data))
    rows = tierlens.open(data).collect().with_columns(pl.col("feature").fill_null("x"))
    [fc] = forecast(
        rows, date(2026, 9, 21), [BudgetConfig(name="b", amount=0.1, period="month")], date(2026, 9, 20)
    )
    assert fc.period_start == "2026-09-01" and fc.period_end == "2026-09-30" and fc.days_left == 10
    assert fc.spent_usd == pytest.approx(20 * 0.0045, rel=1e-9)
    assert fc.projected_usd == pytest.approx(30 * 0.0045, rel=1e-9)
    assert fc.severity == "warning"  # projected 135% of the budget, not yet spent


@pytest.mark.parametrize(
    "kinds",
    [("anomaly",), ("cost_growth",), ("missing_caching", "budget"), ("top_tier_structured", "lost_caching")],
)
def test_asking_for_some_kinds_gives_exactly_those_findings_of_a_full_run(
    sample_data: Path, kinds: tuple[str, ...]
) -> None:
    budgets = [BudgetConfig(name="tight", amount=1.0, period="month")]
    full = find_flags(sample_data, budgets=budgets)
    some = find_flags(sample_data, budgets=budgets, kinds=kinds)
    assert [f.rounded(x.to_dict()) for x in some.findings] == [
        f.rounded(x.to_dict()) for x in full.findings if x.kind in kinds
    ]


def test_a_feature_whose_caching_broke_is_only_called_that(tmp_path: Path, write: Any) -> None:
    """Lost caching explains a feature's higher cost per request: one finding, not also growth."""
    lines = []
    start = date(2026, 9, 7)
    for d in range(56):
        day = start + timedelta(days=d)
        cached = d < 28  # the last four weeks read nothing from the cache
        for i in range(30):
            lines.append(
                f.logged(
                    ts=f"{day}T{9 + i % 8:02d}:{i:02d}:00Z",
                    feature="drafts",
                    model="claude-sonnet-4-5-20250929",
                    input_tokens=2_000 if cached else 20_000,
                    cache_read=18_000 if cached else 0,
                    output_tokens=400,
                )
            )
    data = tmp_path / "data"
    ingest([write("drafts.jsonl", lines)], load_settings(data_dir=data))
    cfg = SignalsConfig(min_monthly_usd=0.01)
    flags = find_flags(data, cfg)
    assert {x.kind for x in flags.findings if x.feature == "drafts"} == {"lost_caching"}
    # the growth it explains is real: where lost caching cannot fire, the growth is flagged
    blind = find_flags(data, cfg.model_copy(update={"cache_min_best_share": 1.01}))
    assert "cost_growth" in {x.kind for x in blind.findings if x.feature == "drafts"}
    # and asking for growth alone still knows the cause
    assert find_flags(data, cfg, kinds=("cost_growth",)).findings == []
