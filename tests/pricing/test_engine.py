"""The pricer against hand-computed costs (FACTS rules) and against genai-prices on random requests."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierlens.config import PriceOverride, PricingConfig
from tierlens.errors import PriceError
from tierlens.pricing import PriceTable, normalize_model, price_requests
from tierlens.schema import conform

TABLE = PriceTable.load()


def price(table: PriceTable = TABLE, **cols: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ts": datetime(2026, 9, 1, 12, tzinfo=UTC),
        "provider": "anthropic",
        "model": "claude-sonnet-4-5-20250929",
        "input_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": 0,
        "web_search_requests": 0,
        "service_tier": "standard",
    }
    base.update(cols)
    df = pl.DataFrame([base])
    mid, scope = normalize_model(pl.col("model"), table.aliases)
    df = df.with_columns(
        model_id=mid,
        endpoint_scope=pl.coalesce(pl.col("endpoint_scope"), scope)
        if "endpoint_scope" in df.columns
        else scope,
    )
    out = price_requests(conform(df), table)
    return out.row(0, named=True)


def usd(micro_dollar_sum: float) -> float:
    """Hand-computed sums are in token x $/MTok; this turns them into dollars."""
    return micro_dollar_sum / 1_000_000


def test_every_category_at_list_price() -> None:
    r = price(input_tokens=1000, cache_write_5m_tokens=100, cache_read_tokens=2000, output_tokens=300)
    # 1000x3 + 100x3.75 + 2000x0.30 + 300x15
    assert r["cost_usd"] == pytest.approx(usd(3000 + 375 + 600 + 4500), rel=1e-12)
    assert r["cost_input_usd"] == pytest.approx(usd(3000), rel=1e-12)
    assert r["cost_cache_write_usd"] == pytest.approx(usd(375), rel=1e-12)
    assert r["cost_cache_read_usd"] == pytest.approx(usd(600), rel=1e-12)
    assert r["cost_output_usd"] == pytest.approx(usd(4500), rel=1e-12)
    assert r["priced"] and r["family"] == "claude-sonnet-4.5" and r["tier"] == "sonnet"


def test_one_hour_writes_cost_twice_input() -> None:
    r = price(model="claude-haiku-4-5", cache_write_1h_tokens=1_000_000, cache_write_5m_tokens=1_000_000)
    assert r["cost_cache_write_usd"] == pytest.approx(2.0 + 1.25, rel=1e-12)


def test_facts_section_b_long_context_whole_request() -> None:
    r = price(
        input_tokens=300_000, output_tokens=2_000, cache_read_tokens=10_000, cache_write_5m_tokens=5_000
    )
    assert r["cost_usd"] == pytest.approx(1.8885, rel=1e-12)
    assert r["long_context"]


@pytest.mark.parametrize(("prompt", "long"), [(200_000, False), (200_001, True)])
def test_long_context_threshold_is_strictly_greater(prompt: int, long: bool) -> None:
    r = price(input_tokens=prompt - 1000, cache_read_tokens=1000, output_tokens=10)
    rate_in, rate_read, rate_out = (6, 0.60, 22.5) if long else (3, 0.30, 15)
    assert r["cost_usd"] == pytest.approx(
        usd((prompt - 1000) * rate_in + 1000 * rate_read + 10 * rate_out), rel=1e-12
    )
    assert r["long_context"] is long


def test_output_never_decides_the_tier() -> None:
    r = price(input_tokens=100_000, output_tokens=150_000)
    assert r["cost_usd"] == pytest.approx(usd(100_000 * 3 + 150_000 * 15), rel=1e-12)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 12), 250_000 * 6 + 1000 * 22.5),  # before the 1M GA: long-context rates
        (date(2026, 3, 13), 250_000 * 3 + 1000 * 15),  # from the GA: standard rates
    ],
)
def test_sonnet_4_6_long_context_depends_on_request_date(day: date, expected: float) -> None:
    ts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=23, minutes=59)
    r = price(model="claude-sonnet-4-6", ts=ts, input_tokens=250_000, output_tokens=1000)
    assert r["cost_usd"] == pytest.approx(usd(expected), rel=1e-12)


def test_batch_halves_every_token_category_and_stacks() -> None:
    r = price(
        model="claude-opus-4-6",
        service_tier="batch",
        inference_geo="us",
        input_tokens=500,
        cache_write_5m_tokens=10,
        cache_write_1h_tokens=20,
        output_tokens=20,
    )
    assert r["cost_usd"] == pytest.approx(
        usd((500 * 5 + 10 * 6.25 + 20 * 10 + 20 * 25) * 0.5 * 1.1), rel=1e-12
    )
    assert r["price_multiplier"] == pytest.approx(0.55)


def test_us_geo_only_where_supported() -> None:
    older = price(model="claude-sonnet-4-5", inference_geo="us", input_tokens=1000)
    newer = price(model="claude-sonnet-4-6", inference_geo="us", input_tokens=1000)
    assert older["cost_usd"] == pytest.approx(usd(3000), rel=1e-12)
    assert newer["cost_usd"] == pytest.approx(usd(3000 * 1.1), rel=1e-12)


def test_web_search_is_flat_and_not_discounted() -> None:
    r = price(model="claude-haiku-4-5", service_tier="batch", web_search_requests=3, input_tokens=1000)
    assert r["cost_web_search_usd"] == pytest.approx(0.03, rel=1e-12)
    assert r["cost_usd"] == pytest.approx(0.03 + usd(1000 * 1 * 0.5), rel=1e-12)


def test_priority_is_priced_at_list() -> None:
    r = price(service_tier="priority", input_tokens=1000)
    assert r["cost_usd"] == pytest.approx(usd(3000), rel=1e-12)


def test_bedrock_regional_profile_premium() -> None:
    glob = price(model="global.anthropic.claude-sonnet-4-5-20250929-v1:0", input_tokens=1000)
    us = price(model="us.anthropic.claude-sonnet-4-5-20250929-v1:0", input_tokens=1000)
    old = price(model="us.anthropic.claude-sonnet-4-20250514-v1:0", input_tokens=1000)
    assert glob["model_id"] == us["model_id"] == "claude-sonnet-4-5"
    assert glob["cost_usd"] == pytest.approx(usd(3000), rel=1e-12)
    assert us["cost_usd"] == pytest.approx(usd(3300), rel=1e-12)
    assert old["model_id"] == "claude-sonnet-4-0" and old["cost_usd"] == pytest.approx(usd(3000), rel=1e-12)


def test_unknown_model_is_unpriced_never_zero() -> None:
    r = price(model="claude-nimbus-preview", input_tokens=1000, output_tokens=10)
    assert r["priced"] is False
    assert r["cost_usd"] is None and r["cost_input_usd"] is None
    assert r["tier"] is None


def test_a_category_without_a_rate_leaves_the_row_unpriced() -> None:
    r = price(provider="openai", model="gpt-4o", input_tokens=100, cache_write_5m_tokens=10)
    assert r["priced"] is False and r["cost_usd"] is None
    # an embedding model has no output price: output tokens on it are unknown, never $0
    r = price(provider="openai", model="text-embedding-3-small", input_tokens=100, output_tokens=10)
    assert r["priced"] is False and r["cost_usd"] is None
    ok = price(
        provider="openai",
        model="gpt-4o-2024-08-06",
        input_tokens=1000,
        cache_read_tokens=1000,
        output_tokens=100,
    )
    assert ok["cost_usd"] == pytest.approx(usd(1000 * 2.5 + 1000 * 1.25 + 100 * 10), rel=1e-12)


def test_cached_input_without_a_price_of_its_own_is_billed_as_input() -> None:
    """genai-prices' rule, kept: gpt-4o-search-preview lists no cached-input price."""
    r = price(provider="openai", model="gpt-4o-search-preview", input_tokens=100, cache_read_tokens=10)
    assert r["cost_usd"] == pytest.approx(usd(110 * 2.5), rel=1e-12)


def test_a_dated_snapshot_with_its_own_price_wins() -> None:
    r = price(provider="openai", model="gpt-4o-2024-05-13", input_tokens=1000)
    assert r["model_id"] == "gpt-4o-2024-05-13"
    assert r["cost_usd"] == pytest.approx(usd(5000), rel=1e-12)


def test_user_override_alias_and_discount() -> None:
    cfg = PricingConfig(
        models=[PriceOverride(model_id="claude-nimbus-preview", input=2.0, output=8.0, cache_read=0.2)],
        aliases={"my-sonnet-finetune": "claude-sonnet-4-5"},
        discounts={"claude-sonnet-4-5": 0.8},
    )
    table = PriceTable.load(cfg)
    assert "+user-" in table.version
    nimbus = price(table, model="claude-nimbus-preview", input_tokens=1000, output_tokens=100)
    assert nimbus["cost_usd"] == pytest.approx(usd(1000 * 2 + 100 * 8), rel=1e-12)
    tuned = price(table, model="my-sonnet-finetune", input_tokens=1000)
    assert tuned["model_id"] == "claude-sonnet-4-5"
    assert tuned["cost_usd"] == pytest.approx(usd(3000 * 0.8), rel=1e-12)
    assert tuned["price_version"] == table.version


def test_overlapping_user_windows_are_rejected() -> None:
    rows = [
        PriceOverride(model_id="x", input=1, output=1, effective_from=date(2026, 1, 1)),
        PriceOverride(model_id="x", input=2, output=2, effective_from=date(2026, 6, 1)),
    ]
    with pytest.raises(PriceError, match="overlapping"):
        PriceTable.load(PricingConfig(models=rows))


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-20250514", "claude-opus-4-0"),
        ("claude-opus-4-0", "claude-opus-4-0"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("eu.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
    ],
)
def test_model_normalization(logged: str, expected: str) -> None:
    mid, _ = normalize_model(pl.col("m"))
    assert pl.DataFrame({"m": [logged]}).select(mid).item() == expected


# --- cross-check against an independent, maintained price library ---------------------------------

genai_prices = pytest.importorskip("genai_prices")

# Documented rule differences (docs/pricing.md): genai-prices ignores inference_geo, has no
# long-context tier for claude-sonnet-4-0, and models batch prices only for some models/dates.
CROSS_MODELS = {
    "claude-opus-4-6": "claude-opus-4-6",
    "claude-opus-4-5-20251101": "claude-opus-4-5",
    "claude-opus-4-1-20250805": "claude-opus-4-1",
    "claude-sonnet-4-6": "claude-sonnet-4-6",
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
    "claude-haiku-4-5-20251001": "claude-haiku-4-5",
    "claude-3-5-haiku-20241022": "claude-3-5-haiku",
    "claude-3-haiku-20240307": "claude-3-haiku",
}


def _genai(model: str, row: dict[str, Any], when: datetime) -> Decimal:
    u: dict[str, Any] = {
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cache_read_input_tokens": row["cache_read_tokens"],
        "cache_creation_input_tokens": row["cache_write_5m_tokens"] + row["cache_write_1h_tokens"],
        "cache_creation": {
            "ephemeral_5m_input_tokens": row["cache_write_5m_tokens"],
            "ephemeral_1h_input_tokens": row["cache_write_1h_tokens"],
        },
        "server_tool_use": {"web_search_requests": row["web_search_requests"], "web_fetch_requests": 0},
    }
    usage = genai_prices.extract_usage({"usage": u}, provider_id="anthropic").usage
    calc = genai_prices.calc_price(usage, model, provider_id="anthropic", genai_request_timestamp=when)
    return Decimal(calc.total_price)


def test_random_requests_match_genai_prices() -> None:
    rng = random.Random(20261122)
    cases = []
    for _ in range(400):
        model = rng.choice(list(CROSS_MODELS))
        big = rng.random() < 0.2
        row = {
            "model": model,
            "ts": datetime(2025, 11, 15, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 24 * 360)),
            "input_tokens": rng.randrange(0, 260_000 if big else 20_000),
            "cache_read_tokens": rng.choice([0, rng.randrange(0, 50_000)]),
            "cache_write_5m_tokens": rng.choice([0, rng.randrange(0, 8_000)]),
            "cache_write_1h_tokens": rng.choice([0, 0, rng.randrange(0, 8_000)]),
            "output_tokens": rng.randrange(1, 8_000),
            # claude-3-haiku cannot call the web search tool, so genai-prices has no search price for it
            "web_search_requests": 0
            if model.startswith("claude-3-haiku")
            else rng.choice([0, 0, 0, rng.randrange(1, 5)]),
        }
        cases.append(row)
    frame = pl.DataFrame(cases).with_columns(provider=pl.lit("anthropic"), service_tier=pl.lit("standard"))
    mid, scope = normalize_model(pl.col("model"))
    priced = price_requests(conform(frame.with_columns(model_id=mid, endpoint_scope=scope)), TABLE)
    checked = 0
    for row in priced.iter_rows(named=True):
        expected = _genai(row["model"], row, row["ts"])
        assert row["priced"], row["model"]
        assert row["cost_usd"] == pytest.approx(float(expected), rel=1e-9), row
        checked += 1
    assert checked == 400


# --- the layers: genai-prices snapshot < corrections < tierlens.toml ------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "rates"),
    [
        # (input, cached input, output) USD/MTok, from genai-prices 0.2.3 (openai.com/api/pricing)
        ("openai", "gpt-4.1-nano-2025-04-14", (0.10, 0.025, 0.40)),
        ("openai", "gpt-5-nano", (0.05, 0.005, 0.40)),
        ("openai", "gpt-5-codex", (1.25, 0.125, 10)),
        ("openai", "gpt-5.1-2025-11-13", (1.25, 0.125, 10)),
        ("openai", "gpt-5.2", (1.75, 0.175, 14)),
        ("openai", "gpt-5.5", (5, 0.50, 30)),
        ("openai", "o3-2025-04-16", (2, 0.50, 8)),
        ("openai", "o3-mini-2025-01-31", (1.10, 0.55, 4.40)),
        ("openai", "o1-mini", (1.10, 0.55, 4.40)),
        ("openai", "gpt-4.5-preview", (75, 37.5, 150)),
        ("openai", "gpt-4o-search-preview-2025-03-11", (2.50, 2.50, 10)),
        ("amazon", "us.amazon.nova-lite-v1:0", (0.06, 0.015, 0.24)),
        ("google", "gemini-2.5-flash", (0.30, 0.03, 2.50)),
        ("gemini", "gemini-2.5-flash", (0.30, 0.03, 2.50)),
        ("vertex_ai", "gemini-2.5-flash", (0.30, 0.03, 2.50)),
        ("mistral", "mistral-large-latest", (2, 2, 6)),  # no cached-input price: cached tokens cost input
    ],
)
def test_models_genai_prices_prices_are_priced(
    provider: str, model: str, rates: tuple[float, float, float]
) -> None:
    r = price(
        provider=provider, model=model, input_tokens=100_000, cache_read_tokens=100_000, output_tokens=100_000
    )
    assert r["priced"], r
    assert r["cost_usd"] == pytest.approx(sum(rates) / 10, rel=1e-12)


def test_a_correction_replaces_the_genai_prices_rows_and_an_override_replaces_the_correction() -> None:
    tokens: dict[str, Any] = {
        "input_tokens": 300_000,
        "output_tokens": 2_000,
        "cache_read_tokens": 10_000,
        "cache_write_5m_tokens": 5_000,
    }
    corrected = price(model="claude-sonnet-4-20250514", **tokens)
    assert corrected["cost_usd"] == pytest.approx(1.8885, rel=1e-12)  # the correction's long-context tier
    cfg = PricingConfig(
        models=[
            PriceOverride(model_id="claude-sonnet-4-0", input=1, output=1, cache_read=1, cache_write_5m=1)
        ]
    )
    user = price(PriceTable.load(cfg), model="claude-sonnet-4-20250514", **tokens)
    assert user["cost_usd"] == pytest.approx(usd(317_000), rel=1e-12)


def test_the_version_changes_when_any_data_file_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from tierlens.pricing import table as table_module

    original = table_module._data_file
    price_row = ",".join(["test", "test-model", "test", *[""] * 3, "1", *[""] * 3, "1", *[""] * 16]) + "\n"
    extra = {name: price_row.encode() for name in table_module.DATA_FILES}
    extra[table_module.ALIASES_FILE] = b"test-alias,test,,a test alias\n"
    versions = {PriceTable.load().version}
    for name in table_module.DATA_FILES:
        monkeypatch.setattr(
            table_module,
            "_data_file",
            lambda n, changed=name: original(n) + (extra[n] if n == changed else b""),
        )
        versions.add(PriceTable.load().version)
    assert len(versions) == 1 + len(table_module.DATA_FILES)
    assert all(v.startswith("builtin-") for v in versions)


def test_a_provider_alias_finds_the_provider_rows_but_never_shadows_rows_of_its_own() -> None:
    google = price(provider="google", model="gemini-2.5-pro", input_tokens=1000)
    for alias in ("gemini", "vertex_ai", "gcp.gemini", "gcp.vertex_ai"):
        assert (
            price(provider=alias, model="gemini-2.5-pro", input_tokens=1000)["cost_usd"] == google["cost_usd"]
        )
    bedrock = price(provider="bedrock", model="us.amazon.nova-pro-v1:0", input_tokens=1000)
    assert bedrock["cost_usd"] == pytest.approx(usd(800), rel=1e-12)
    assert price(provider="bedrock", model="gemini-2.5-pro", input_tokens=1000)["priced"] is False
    own = PriceTable.load(
        PricingConfig(models=[PriceOverride(provider="gemini", model_id="gemini-2.5-pro", input=9, output=9)])
    )
    assert price(own, provider="gemini", model="gemini-2.5-pro", input_tokens=1000)[
        "cost_usd"
    ] == pytest.approx(usd(9000))


def test_price_diff_lists_each_difference_and_its_source() -> None:
    from tierlens.pricing.table import price_diff

    cfg = PricingConfig(
        models=[PriceOverride(provider="openai", model_id="gpt-4o", input=2.0, output=8.0, cache_read=1.0)]
    )
    diff = price_diff(PriceTable.load(cfg))
    by_id = {(r["model_id"], r["effective_from"]): r for r in diff.iter_rows(named=True)}
    sonnet4 = by_id[("claude-sonnet-4-0", None)]
    assert sonnet4["change"] == "changed" and sonnet4["detail"].startswith(
        "lc_threshold: none -> 200000; lc_input: none -> 6"
    )
    assert "1M-beta" in sonnet4["source"] and "claude-4-sonnet" in (sonnet4["also"] or "")
    assert by_id[("claude-mythos-5", None)]["change"] == "added"
    assert by_id[("claude-opus-4-6", None)]["detail"].endswith("fast_multiplier: none -> 6")
    gpt4o = by_id[("gpt-4o", None)]
    assert gpt4o["source"] == "tierlens.toml" and "input: 2.5 -> 2" in gpt4o["detail"]
    assert not any(r["provider"] == "google" for r in by_id.values())  # uncorrected rows are genai-prices'


_MODELS = [
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5",
    "claude-opus-4-6",
    "claude-nimbus-preview",
    "gpt-4.1",
]


def _canonical_rows(spec: list[tuple[Any, ...]]) -> pl.DataFrame:
    rows = []
    for day, model, inp, read, write, out, tier, geo, searches in spec:
        rows.append(
            {
                "ts": datetime(2026, 9, 1, 12, tzinfo=UTC) + timedelta(days=day),
                "provider": "openai" if model.startswith("gpt") else "anthropic",
                "model": model,
                "input_tokens": inp,
                "cache_read_tokens": read,
                "cache_write_5m_tokens": write,
                "cache_write_1h_tokens": 0,
                "output_tokens": out,
                "web_search_requests": searches,
                "service_tier": tier,
                "inference_geo": geo,
            }
        )
    df = pl.DataFrame(rows)
    mid, scope = normalize_model(pl.col("model"), TABLE.aliases)
    return price_requests(conform(df.with_columns(model_id=mid, endpoint_scope=scope)), TABLE)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            # few days, models and tiers, so that cells hold several rows; a few across price epochs
            st.sampled_from([0, 0, 0, 0, 1, 200, 400]),
            st.sampled_from([_MODELS[0]] * 4 + _MODELS[1:]),
            st.sampled_from([0, 900, 120_000, 150_000, 199_999, 200_000, 250_000]),  # around the thresholds
            st.sampled_from([0, 0, 60_000]),
            st.sampled_from([0, 0, 2_000]),
            st.integers(0, 4_000),
            st.sampled_from(["standard", "standard", "batch", "priority"]),
            st.sampled_from([None, None, None, "us"]),
            st.sampled_from([0, 0, 0, 2]),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(["claude-haiku-4-5", "claude-sonnet-4-6", "claude-sonnet-4-5"]),
)
def test_counterfactuals_priced_by_cells_equal_the_rows_priced_one_by_one(
    spec: list[tuple[Any, ...]], target: str
) -> None:
    from tierlens.pricing.engine import reprice, reprice_sums

    rows = _canonical_rows(spec)
    zero = pl.lit(0, pl.Int64)
    prompt = pl.col("input_tokens") + pl.col("cache_read_tokens") + pl.col("cache_write_5m_tokens")
    counterfactuals: list[dict[str, Any]] = [
        {"model_id": target},
        {"input_tokens": prompt, "cache_read_tokens": zero, "cache_write_5m_tokens": zero},
        {"service_tier": "standard"},
        {
            "input_tokens": prompt,
            "cache_read_tokens": zero,
            "cache_write_5m_tokens": zero,
            "model_id": target,
        },
    ]
    got = reprice_sums(rows.lazy(), TABLE, counterfactuals)
    for (total, change), cf in zip(got, counterfactuals, strict=True):
        one_by_one = reprice(rows, TABLE, **cf)
        assert total == pytest.approx(float(one_by_one.sum()), rel=1e-12, abs=1e-12)
        assert change == pytest.approx(float((one_by_one - rows["cost_usd"]).sum()), rel=1e-9, abs=1e-9)


def _rows_of(tokens: list[tuple[int, int, int]]) -> pl.DataFrame:
    df = pl.DataFrame(
        {
            "ts": [datetime(2026, 9, 1, 12, tzinfo=UTC)] * len(tokens),
            "provider": ["anthropic"] * len(tokens),
            "model": ["claude-opus-4-6", "claude-haiku-4-5", "claude-sonnet-4-5"] * (len(tokens) // 3)
            + ["claude-opus-4-6"] * (len(tokens) % 3),
            "input_tokens": [t[0] for t in tokens],
            "cache_read_tokens": [t[1] for t in tokens],
            "output_tokens": [t[2] for t in tokens],
            "service_tier": ["standard"] * len(tokens),
        }
    )
    mid, scope = normalize_model(pl.col("model"), TABLE.aliases)
    return conform(df.with_columns(model_id=mid, endpoint_scope=scope))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 2_000_000)] * 3), min_size=2, max_size=40))
def test_a_requests_cost_does_not_depend_on_the_batch_it_is_priced_in(
    tokens: list[tuple[int, int, int]],
) -> None:
    rows = _rows_of(tokens)
    together = price_requests(rows, TABLE)
    alone = pl.concat([price_requests(rows[i : i + 1], TABLE) for i in range(rows.height)])
    for column in ("cost_input_usd", "cost_cache_read_usd", "cost_output_usd", "cost_usd"):
        assert together[column].to_list() == alone[column].to_list(), column
    # and each is the correctly rounded quotient of the published rate ($/MTok output: Opus 4.6 25,
    # Haiku 4.5 5, Sonnet 4.5 15): 44 x 25 / 1e6 is 0.0011, not the reciprocal's 0.0010999...
    # (prompts of at most 200K tokens: above, Sonnet 4.5 has its long-context rates)
    rate = {"claude-opus-4-6": 25, "claude-haiku-4-5": 5, "claude-sonnet-4-5": 15}
    short = together.filter(pl.col("input_tokens") + pl.col("cache_read_tokens") <= 200_000)
    expected = [
        o * rate[m] / 1_000_000 for o, m in zip(short["output_tokens"], short["model_id"], strict=True)
    ]
    assert short["cost_output_usd"].to_list() == expected


def test_44_output_tokens_of_opus_cost_exactly_what_a_division_gives() -> None:
    rows = _rows_of([(0, 0, 44)] * 6)
    assert (
        price_requests(rows, TABLE)
        .filter(pl.col("model_id") == "claude-opus-4-6")["cost_output_usd"]
        .to_list()
        == [44 * 25 / 1_000_000] * 2
    )
