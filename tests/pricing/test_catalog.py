"""Model generations come from the table beside the prices: a new row changes every recommendation."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests import factories as f
from tierlens.config import ModelLifecycle, PriceOverride, PricingConfig, Settings, SignalsConfig
from tierlens.ingest import ingest
from tierlens.pricing import PriceTable, reprice
from tierlens.pricing.catalog import ModelCatalog
from tierlens.signals import find_flags

DAY = date(2026, 11, 15)
# a fictional Sonnet of a later generation, same tokenizer, at a third of Sonnet 4.6's rates
NIMBLE = PricingConfig(
    models=[PriceOverride(model_id="claude-sonnet-4-9", family="claude-sonnet-4.9", tier="sonnet", input=1, output=5,
                          cache_read=0.1, cache_write_5m=1.25, cache_write_1h=2, tokenizer="claude-v1")],
    lifecycle=[ModelLifecycle(model_id="claude-sonnet-4-9", tier="sonnet", generation="4.9")],
)  # fmt: skip


def test_the_builtin_catalog_orders_generations_and_reads_lifecycle_dates() -> None:
    catalog = ModelCatalog.load()
    assert catalog.status("claude-opus-4-1", date(2026, 6, 4)) == "active"
    assert catalog.status("claude-opus-4-1", date(2026, 6, 5)) == "deprecated"
    assert catalog.status("claude-opus-4-1", date(2026, 8, 5)) == "retired"
    assert [m.model_id for m in catalog.newer("claude-opus-4-1", DAY)][:2] == [
        "claude-opus-4-5",
        "claude-opus-4-6",
    ]
    assert catalog.newest("sonnet", DAY, tokenizer="claude-v1").model_id == "claude-sonnet-4-6"  # type: ignore[union-attr]
    assert catalog.replacement("claude-opus-4-0", DAY).model_id == "claude-opus-4-8"  # type: ignore[union-attr]
    alias = catalog.alias_of("claude-sonnet-4-5")
    assert alias is not None and alias.snapshot == "claude-sonnet-4-5-20250929"
    assert (
        catalog.alias_of("claude-sonnet-4-5-20250929") is None and catalog.alias_of("claude-opus-4-6") is None
    )


def test_a_new_row_changes_the_recommendations_with_no_code_change() -> None:
    before, after = ModelCatalog.load(), ModelCatalog.load(NIMBLE)
    assert before.newest("sonnet", DAY, tokenizer="claude-v1").model_id == "claude-sonnet-4-6"  # type: ignore[union-attr]
    assert after.newest("sonnet", DAY, tokenizer="claude-v1").model_id == "claude-sonnet-4-9"  # type: ignore[union-attr]
    assert next(m.model_id for m in after.newer("claude-sonnet-4-6", DAY)) == "claude-sonnet-4-9"
    released_later = PricingConfig(
        models=NIMBLE.models,
        lifecycle=[NIMBLE.lifecycle[0].model_copy(update={"released": date(2027, 1, 1)})],
    )
    assert (
        ModelCatalog.load(released_later).newest("sonnet", DAY, tokenizer="claude-v1").model_id
        == "claude-sonnet-4-6"
    )  # type: ignore[union-attr]


def _sonnet_feature(write: Any, model: str = "claude-sonnet-4-6") -> Path:
    lines = [
        f.logged(ts=f"2026-11-{1 + i % 14:02d}T10:00:00Z", feature="drafts", model=model, input_tokens=3000 + i,
                 output_tokens=700)
        for i in range(300)
    ]  # fmt: skip
    return write("drafts.jsonl", lines)


def test_a_cheaper_newer_model_of_the_tier_is_a_stale_generation_with_the_exact_saving(
    write: Any, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", pricing=NIMBLE)
    ingest([_sonnet_feature(write)], settings)
    table = PriceTable.load(NIMBLE)
    flags = find_flags(settings.data_dir, SignalsConfig(), table=table)
    [stale] = [x for x in flags.findings if x.kind == "stale_generation"]
    assert (stale.feature, stale.model, stale.data["target"], stale.basis) == (
        "drafts",
        "claude-sonnet-4-6",
        "claude-sonnet-4-9",
        "exact",
    )
    rows = (
        tierlens.open(settings.data_dir)
        .filter(pl.col("date").is_between(flags.window_start, flags.window_end))
        .collect()
    )
    moved = reprice(rows, table, model_id="claude-sonnet-4-9").sum()
    scale = 30 / SignalsConfig().lookback_days
    assert stale.monthly_usd == pytest.approx((rows["cost_usd"].sum() - moved) * scale, rel=1e-9)
    assert stale.monthly_usd == pytest.approx(
        rows["cost_usd"].sum() * scale * 2 / 3, rel=1e-9
    )  # a third of the rates
    assert stale.severity != "critical"
    # without the new row the same data has no such finding
    plain = find_flags(settings.data_dir, SignalsConfig(), table=PriceTable.load())
    assert not [x for x in plain.findings if x.kind == "stale_generation"]


def test_a_retired_model_is_critical_whatever_the_saving(write: Any, tmp_path: Path) -> None:
    # Sonnet 4 (retired 2026-06-15) costs what Sonnet 4.6 does, and Sonnet 5.5 saves less than the
    # threshold once its tokenizer's extra tokens are counted; yet requests to Sonnet 4 fail
    settings = Settings(data_dir=tmp_path / "data")
    ingest([_sonnet_feature(write, "claude-sonnet-4-20250514")], settings)
    flags = find_flags(settings.data_dir)
    [stale] = [x for x in flags.findings if x.kind == "stale_generation"]
    assert (
        stale.severity == "critical"
        and stale.data["status"] == "retired"
        and stale.data["retired"] == "2026-06-15"
    )
    assert stale.data["replacement"] == "claude-sonnet-4-6"  # the provider's named replacement, said
    assert (
        stale.data["target"] == "claude-sonnet-5-5" and stale.basis == "modelled"
    )  # the cheapest in the worst case
    spend = tierlens.open(settings.data_dir).select(pl.col("cost_usd").sum()).collect().item() * 30 / 28
    assert 0 < stale.monthly_usd < SignalsConfig().stale_min_saving_share * spend  # type: ignore[operator]


def test_contract_review_on_sample_logs_is_flagged_with_its_exact_saving(sample_data: Path) -> None:
    flags = find_flags(sample_data)
    [stale] = [x for x in flags.findings if x.kind == "stale_generation" and x.feature == "contract-review"]
    assert (stale.severity, stale.basis, stale.data["target"]) == ("critical", "exact", "claude-opus-4-6")
    rows = (
        tierlens.open(sample_data)
        .filter(
            (pl.col("feature") == "contract-review")
            & pl.col("date").is_between(flags.window_start, flags.window_end)
        )
        .collect()
    )
    # Opus 4.1 at $15/$75 and Opus 4.6 at $5/$25 (cache rates in the same ratio): a third of the cost
    expected = rows["cost_usd"].sum() * (1 - 1 / 3) * 30 / 28
    assert stale.monthly_usd == pytest.approx(expected, rel=1e-9)


def test_production_traffic_on_an_alias_is_flagged_and_a_pinned_snapshot_is_not(
    write: Any, tmp_path: Path
) -> None:
    aliased = _shaped("chat", "claude-sonnet-4-5", 150, 900, 200, 10)
    pinned = _shaped("drafts", "claude-sonnet-4-5-20250929", 150, 900, 200, 11)
    few = _shaped("trial", "claude-haiku-4-5", 20, 900, 200, 12)
    settings = Settings(data_dir=tmp_path / "data")
    ingest([write("mixed.jsonl", aliased + pinned + few)], settings)
    found = [x for x in find_flags(settings.data_dir).findings if x.kind == "unpinned_alias"]
    assert [(x.feature, x.model, x.data["snapshot"]) for x in found] == [
        ("chat", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929")
    ]  # drafts is pinned; trial is below alias_min_requests
    assert found[0].data["requests"] == 150 and found[0].monthly_usd is None
    # the alias has pointed to its snapshot since the snapshot's date (models.csv's snapshot column)
    assert found[0].data["alias_since"] == "2025-09-29" and "(since 2025-09-29:" in found[0].evidence


def test_an_alias_points_to_its_snapshot_since_the_snapshots_date() -> None:
    catalog = ModelCatalog.load()
    assert str(catalog.alias_of("claude-haiku-4-5").points_since) == "2025-10-01"  # type: ignore[union-attr]
    undated = catalog.get("claude-opus-4-6")
    assert undated is not None and undated.points_since is None  # no snapshot: not an alias


def _shaped(feature: str, model: str, n: int, prompt: int, output: int, hour: int) -> list[dict[str, Any]]:
    return [
        f.logged(ts=f"2026-11-{1 + i % 14:02d}T{hour}:{i % 60:02d}:00Z", feature=feature, model=model,
                 input_tokens=prompt, output_tokens=output)
        for i in range(n)
    ]  # fmt: skip


def test_top_tier_requests_of_a_shape_the_mid_tier_serves_are_a_newer_mid_tier_candidate(
    write: Any, tmp_path: Path
) -> None:
    lines = (
        _shaped("drafts", "claude-sonnet-4-6", 600, 3000, 600, 10)  # what Sonnet serves here
        + _shaped("memos", "claude-opus-4-6", 300, 2500, 500, 11)  # Opus, of Sonnet's shape
        + _shaped("essays", "claude-opus-4-6", 300, 2500, 6000, 12)  # Opus, longer answers than Sonnet gives
    )
    settings = Settings(data_dir=tmp_path / "data")
    ingest([write("shapes.jsonl", lines)], settings)
    flags = find_flags(settings.data_dir)
    [mid] = [x for x in flags.findings if x.kind == "newer_mid_tier"]
    assert (mid.feature, mid.model, mid.data["target"], mid.basis) == (
        "memos",
        "claude-opus-4-6",
        "claude-sonnet-5-5",
        "modelled",
    )
    # Opus 4.6 at $5/$25 against Sonnet 5.5 at $2/$10 with the newer tokenizer's median 1.30x tokens
    # (and the output prior's median 1.0x): 0.52 of the cost, 48% saved
    spend = (
        tierlens.open(settings.data_dir)
        .filter(pl.col("feature") == "memos")
        .select(pl.col("cost_usd").sum())
        .collect()
        .item()
    )
    assert mid.monthly_usd == pytest.approx(spend * 0.48 * 30 / 28, rel=1e-6)
    assert (
        mid.low_usd is not None and mid.high_usd is not None and mid.low_usd < mid.monthly_usd < mid.high_usd
    )


def test_a_slow_user_facing_feature_with_short_answers_is_latency_over_depth(
    write: Any, tmp_path: Path
) -> None:
    def slow(feature: str, hour: int) -> list[dict[str, Any]]:
        return [
            f.logged(ts=f"2026-11-{1 + i % 14:02d}T{hour}:{i % 60:02d}:00Z", feature=feature, model="claude-sonnet-4-6",
                     input_tokens=1200, output_tokens=150, latency_ms=6000 + 10 * (i % 100))
            for i in range(200)
        ]  # fmt: skip

    settings = Settings(data_dir=tmp_path / "data")
    ingest([write("slow.jsonl", slow("support-chat", 10) + slow("nightly-etl", 11))], settings)
    assert not [
        x for x in find_flags(settings.data_dir).findings if x.kind == "latency_over_depth"
    ]  # off by default
    table = PriceTable.load()
    flags = find_flags(settings.data_dir, SignalsConfig(user_facing=["support-*"]), table=table)
    [slow_one] = [x for x in flags.findings if x.kind == "latency_over_depth"]
    assert (slow_one.feature, slow_one.data["target"]) == (
        "support-chat",
        "claude-haiku-4-5",
    )  # nightly-etl: nobody waits
    assert slow_one.data["p95_ms"] > 6_900
    rows = tierlens.open(settings.data_dir).filter(pl.col("feature") == "support-chat").collect()
    saving = (rows["cost_usd"].sum() - reprice(rows, table, model_id="claude-haiku-4-5").sum()) * 30 / 28
    assert slow_one.monthly_usd == pytest.approx(saving, rel=1e-9)


def test_a_feature_mixing_simple_and_long_requests_is_a_cascade_candidate_with_its_break_even(
    write: Any, tmp_path: Path
) -> None:
    lines = _shaped("assist", "claude-sonnet-4-6", 600, 20_000, 100, 10) + _shaped(
        "assist", "claude-sonnet-4-6", 400, 2_000, 3_000, 11
    )
    settings = Settings(data_dir=tmp_path / "data")
    ingest([write("assist.jsonl", lines)], settings)
    [mixed] = [x for x in find_flags(settings.data_dir).findings if x.kind == "mixed_complexity"]
    assert (mixed.feature, mixed.data["target"], mixed.basis) == ("assist", "claude-haiku-4-5", "speculative")
    rows = tierlens.open(settings.data_dir).collect()
    spend = rows["cost_usd"].sum()
    simple = rows.filter(pl.col("output_tokens") <= 300)["cost_usd"].sum()
    tried = spend / 3  # Haiku 4.5's rates are a third of Sonnet 4.6's, category by category
    assert mixed.data["simple_share"] == pytest.approx(0.6)
    assert mixed.data["break_even_escalation"] == pytest.approx(1 - tried / simple, rel=1e-9)
    # at the prior's median, 20% of the simple requests escalated
    assert mixed.monthly_usd == pytest.approx((simple * 0.8 - tried) * 30 / 28, rel=1e-9)
    # the range: the prior's P90 and P10 (uniform over 10-30% escalated: 28% and 12%)
    assert mixed.low_usd == pytest.approx((simple * 0.72 - tried) * 30 / 28, rel=1e-9)
    assert mixed.high_usd == pytest.approx((simple * 0.88 - tried) * 30 / 28, rel=1e-9)
