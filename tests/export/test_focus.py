"""The FOCUS export: every row obeys the spec's column rules, and the money adds up.

Datasets: sample_logs/ (the session fixture) and tests/realworld, ingested the way a user would;
plus a few requests written here and priced by hand. The column rules come from
tests/focus_spec.py, which is written from the FOCUS text, not from the exporter.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tierlens
from tests import focus_spec as spec
from tests.factories import message
from tests.paths import REPO, TESTS
from tierlens.config import PricingConfig, Settings
from tierlens.errors import ConfigError, StoreError
from tierlens.export import CATEGORIES, FOCUS_COLUMNS, focus_frame, write_focus
from tierlens.export.focus_columns import tags_json
from tierlens.ingest import ingest

REALWORLD = TESTS / "realworld"
CLOUD_SERVICES = {"Amazon Bedrock", "Vertex AI", "Azure AI Foundry"}


@pytest.fixture(scope="module")
def realworld_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("realworld") / "data"
    ingest([REALWORLD], Settings(data_dir=data))
    return data


@pytest.fixture(scope="module", params=["sample", "realworld"])
def dataset(request: pytest.FixtureRequest) -> Path:
    name = "sample_data" if request.param == "sample" else "realworld_data"
    return Path(request.getfixturevalue(name))


@pytest.fixture(scope="module")
def exported(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("focus")
    return {fmt: write_focus(dataset, out / f"focus.{fmt}").path for fmt in ("csv", "parquet")}


def priced_cost(data: Path, since: date | None = None, until: date | None = None) -> float:
    lf = tierlens.open(data).filter(pl.col("priced"))
    if since is not None:
        lf = lf.filter(pl.col("date") >= since)
    if until is not None:
        lf = lf.filter(pl.col("date") <= until)
    return float(lf.select(pl.col("cost_usd").sum()).collect().item())


# --- every row against the spec table -------------------------------------------------------


def test_the_columns_are_the_spec_columns_then_custom_ones(exported: dict[str, Path]) -> None:
    for path in exported.values():
        cols = list(pl.read_parquet_schema(path)) if path.suffix == ".parquet" else _csv(path).columns
        focus = [c for c in cols if not c.startswith("x_")]
        assert set(focus) <= set(spec.COLUMNS), set(focus) - set(spec.COLUMNS)
        assert spec.MANDATORY_1_2 | {"ServiceProviderName", "HostProviderName"} <= set(focus)
        assert cols[: len(focus)] == focus, "custom columns come after all FOCUS columns"
        for c in cols:  # column_handling.md: Pascal case, alphanumeric; custom ones x_-prefixed
            assert re.fullmatch(r"(x_)?[A-Z][A-Za-z0-9]*", c), c


def test_every_parquet_row_obeys_the_column_rules(exported: dict[str, Path]) -> None:
    df = pl.read_parquet(exported["parquet"])
    assert df.height > 0
    for name, rule in spec.COLUMNS.items():
        if name in df.columns:
            assert df.schema[name] == _dtype(rule.data_type), name
            _check_rules(df, name, rule)
            if rule.data_type == "String":
                assert df.filter(pl.col(name).str.strip_chars() == "").height == 0, f"{name}: empty string"
    _check_cross_column(df)


def test_every_csv_row_obeys_the_column_rules(exported: dict[str, Path]) -> None:
    df = _csv(exported["csv"])
    assert df.height == pl.read_parquet(exported["parquet"]).height
    for name, rule in spec.COLUMNS.items():
        if name in df.columns:
            _check_rules(df, name, rule)
    typed = df.with_columns(
        pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
        for c in spec.COLUMNS
        if spec.COLUMNS[c].data_type == "DateTime"
    )
    _check_cross_column(typed.with_columns(pl.col(c).cast(pl.Float64) for c in ("BilledCost", "ListCost")))


def test_csv_and_parquet_hold_the_same_rows(exported: dict[str, Path]) -> None:
    parquet = pl.read_parquet(exported["parquet"])
    csv = pl.read_csv(exported["csv"], schema_overrides={c: parquet.schema[c] for c in ("Tags", "SkuId")})
    for c in ("BilledCost", "ListCost", "PricingQuantity", "ConsumedQuantity"):
        assert csv[c].to_list() == parquet[c].to_list(), c  # full precision, no rounding in the CSV
    assert csv["Tags"].to_list() == parquet["Tags"].to_list()


def _check_rules(df: pl.DataFrame, name: str, rule: spec.Rule) -> None:
    col = pl.col(name)
    if not rule.allows_nulls:
        assert df[name].null_count() == 0, f"{name} must not be null"
    if rule.not_null_for_usage:
        assert df.filter((pl.col("ChargeCategory") == "Usage") & col.is_null()).height == 0, name
    if rule.null_with:
        mismatched = df.filter(col.is_null() != pl.col(rule.null_with).is_null())
        assert mismatched.height == 0, f"{name} is null exactly when {rule.null_with} is"
    values = df[name].drop_nulls()
    if rule.allowed is not None:
        assert set(values.to_list()) <= rule.allowed, f"{name}: {set(values.to_list()) - rule.allowed}"
    if values.dtype == pl.String and rule.value_format in _TEXT_FORMATS:
        bad = values.filter(~values.str.contains(_TEXT_FORMATS[rule.value_format]))
        assert bad.is_empty(), f"{name}: {bad.head(3).to_list()}"
    if rule.value_format == "KeyValue":
        for text in values.unique().to_list():
            _check_key_value(text)
    if values.dtype == pl.Float64:
        assert values.is_finite().all(), f"{name}: not a valid decimal"


_TEXT_FORMATS = {
    "Currency": spec.CURRENCY,
    "DateTime": spec.DATETIME,
    "Numeric": spec.NUMERIC,
    "Unit": spec.UNIT,
}


def _check_key_value(text: str) -> None:
    """key_value_format.md: a JSON object, unique keys, values scalar (no object or array)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate tag key in {text}"
        return dict(pairs)

    tags = json.loads(text, object_pairs_hook=unique)
    assert isinstance(tags, dict) and tags, text
    assert all(v is None or isinstance(v, str | int | float | bool) for v in tags.values()), text


def _check_cross_column(df: pl.DataFrame) -> None:
    """Periods: start inclusive, end exclusive; a charge period is a UTC day inside a calendar month."""
    start, end = pl.col("ChargePeriodStart"), pl.col("ChargePeriodEnd")
    bstart, bend = pl.col("BillingPeriodStart"), pl.col("BillingPeriodEnd")
    bad = df.filter(
        (bstart > start)
        | (end > bend)
        | (end - start != timedelta(days=1))
        | (bstart != bstart.dt.month_start())
        | (bend != bstart.dt.offset_by("1mo"))
        | (start.dt.time() != datetime.min.time())
    )
    assert bad.is_empty(), bad.head(3)
    parents = df.select(pl.col("ServiceSubcategory").replace_strict(spec.SUBCATEGORY_PARENT))
    assert parents.to_series().to_list() == df["ServiceCategory"].to_list()
    # hostprovidername.md: the service provider itself hosts unless a cloud exposes it as the host
    own = df.filter(~pl.col("ServiceName").is_in(list(CLOUD_SERVICES)))
    assert (own["HostProviderName"] == own["ServiceProviderName"]).all()
    assert df.filter(pl.col("BilledCost") < 0).is_empty() and df.filter(pl.col("ListCost") < 0).is_empty()


def _dtype(data_type: str) -> pl.DataType:
    """Decimal as IEEE 754 double (numeric_format.md lists Decimal "Double"), JSON as its text."""
    return {
        "Decimal": pl.Float64(),
        "String": pl.String(),
        "JSON": pl.String(),
        "DateTime": pl.Datetime("us", "UTC"),
    }[data_type]


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


# --- the money adds up --------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_billed_cost_adds_up_to_cost_usd_for_any_period(dataset: Path, data: st.DataObject) -> None:
    days = tierlens.open(dataset).select(pl.col("date").min().alias("a"), pl.col("date").max().alias("b"))
    first, last = days.collect().row(0)
    day = st.none() | st.dates(first - timedelta(days=3), last + timedelta(days=3))
    since, until = data.draw(day, "since"), data.draw(day, "until")
    frame = focus_frame(dataset, since, until)
    expected = priced_cost(dataset, since, until)
    assert math.isclose(frame["BilledCost"].sum(), expected, rel_tol=1e-9, abs_tol=1e-12)
    assert frame.filter(pl.col("BilledCost") == 0).filter(pl.col("ConsumedQuantity") == 0).is_empty()


def test_each_day_model_and_category_adds_up(dataset: Path) -> None:
    rows = tierlens.open(dataset).filter(pl.col("priced")).collect()
    frame = focus_frame(dataset)
    by_day = frame.group_by(
        pl.col("ChargePeriodStart").dt.date().alias("date"), pl.col("x_Model").alias("model")
    )
    got = by_day.agg(pl.col("BilledCost").sum()).sort("date", "model")
    want = (
        rows.group_by("date", "model").agg(pl.col("cost_usd").sum().alias("BilledCost")).sort("date", "model")
    )
    assert got.select("date", "model").equals(want.select("date", "model"))
    assert all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        for a, b in zip(got["BilledCost"], want["BilledCost"], strict=True)
    )
    quantities = frame.group_by("x_CostCategory").agg(pl.col("ConsumedQuantity").sum())
    totals = dict(quantities.iter_rows())
    for cat in CATEGORIES[:5]:
        assert totals.get(cat.key, 0) == rows[cat.quantity].sum(), cat.key
    cost_web = frame.filter(pl.col("x_CostCategory").str.starts_with("web_search"))["BilledCost"].sum()
    assert math.isclose(cost_web, rows["cost_web_search_usd"].sum(), rel_tol=1e-9, abs_tol=1e-12)


def test_list_cost_is_the_billed_cost_before_the_multipliers(dataset: Path) -> None:
    frame = focus_frame(dataset)
    tokens = frame.filter(pl.col("PricingUnit") == "1000000 Tokens")
    ratio = (tokens["ListCost"] * tokens["x_PriceMultiplier"] - tokens["BilledCost"]).abs()
    assert (ratio <= 1e-9 * tokens["BilledCost"].abs() + 1e-15).all()
    fees = frame.filter(pl.col("PricingUnit") != "1000000 Tokens")
    assert (fees["ListCost"] == fees["BilledCost"]).all() and (fees["x_PriceMultiplier"] == 1.0).all()
    assert (frame["EffectiveCost"] == frame["BilledCost"]).all()
    assert (frame["ContractedCost"] == frame["ListCost"]).all()  # no negotiated discount configured


def test_unpriced_requests_are_left_out_and_counted(realworld_data: Path, tmp_path: Path) -> None:
    stored = tierlens.open(realworld_data).collect()
    result = write_focus(realworld_data, tmp_path / "f.parquet")
    unpriced = stored.filter(~pl.col("priced"))
    assert unpriced.height > 0
    assert result.unpriced_rows == unpriced.height
    assert result.requests_exported + result.unpriced_rows == stored.height
    assert sum(result.unpriced_models.values()) == unpriced.height
    assert math.isclose(result.billed_total, priced_cost(realworld_data), rel_tol=1e-9)
    assert result.rows == pl.read_parquet(result.path).height


def test_sample_dataset_has_each_kind_of_row(sample_data: Path) -> None:
    frame = focus_frame(sample_data)
    assert {"input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "web_search"} <= set(
        frame["x_CostCategory"]
    )
    batch = frame.filter(pl.col("x_ServiceTier") == "batch", pl.col("PricingUnit") == "1000000 Tokens")
    assert batch.height and (batch["x_PriceMultiplier"] == 0.5).all()
    assert batch["ChargeDescription"].str.contains(r"\(batch tier[^)]*\) at 0\.5x list price$").all()


def test_bedrock_rows_name_aws_as_host_and_invoice_issuer(realworld_data: Path) -> None:
    frame = focus_frame(realworld_data)
    bedrock = frame.filter(pl.col("ServiceName") == "Amazon Bedrock")
    assert bedrock.height
    assert set(bedrock["HostProviderName"]) == set(bedrock["InvoiceIssuerName"]) == {"Amazon Web Services"}
    assert set(bedrock["ProviderName"]) == {"Amazon Web Services"}
    claude = bedrock.filter(pl.col("PublisherName") == "Anthropic")
    assert claude.height and set(claude["ServiceProviderName"]) == {"Anthropic"}
    nova = bedrock.filter(pl.col("PublisherName") == "Amazon")
    assert nova.height and set(nova["ServiceProviderName"]) == {"Amazon Web Services"}
    direct = frame.filter(pl.col("ServiceName") == "Claude API")
    assert set(direct["HostProviderName"]) == set(direct["InvoiceIssuerName"]) == {"Anthropic"}


# --- a few requests priced by hand ----------------------------------------------------------


def _logged(ts: str, **kw: Any) -> dict[str, Any]:
    return {
        "ts": ts,
        "request_id": f"req_{ts}_{kw.get('input_tokens')}",
        "feature": "chat",
        "user_id": "u_1",
        "workspace_id": "wrkspc_A",
        "project": "alpha",
        "tags": ["team:support", "env:prod", "team:other", "urgent"],
        "response": message(**kw),
    }


@pytest.fixture
def hand_data(write: Any, tmp_path: Path) -> Path:
    day = "2026-09-01T10:00:00Z"
    records = [
        # Sonnet 4.5 list: input 3, 5m write 3.75, 1h write 6, cache read 0.30, output 15 $/MTok; search $0.01
        _logged(
            day,
            model="claude-sonnet-4-5-20250929",
            input_tokens=1000,
            output_tokens=500,
            cache_read=2000,
            cache_creation=500,
            split=(400, 100),
            web_search=2,
        ),
        _logged(day, model="claude-sonnet-4-5-20250929", input_tokens=2000, output_tokens=100),
        # Sonnet 4.6 with US-only inference: x1.1 on every token
        _logged(day, model="claude-sonnet-4-6", input_tokens=10_000, output_tokens=1000, inference_geo="us"),
        # no price: left out, counted
        _logged(day, model="claude-nimbus-preview", input_tokens=5, output_tokens=5),
    ]
    data = tmp_path / "data"
    ingest([write("hand.jsonl", records)], Settings(data_dir=data))
    return data


HAND = [
    # SkuId, PricingUnit, PricingQuantity, ConsumedQuantity, BilledCost, ListCost
    ("anthropic/claude-sonnet-4-5/input", "1000000 Tokens", 0.003, 3000, 0.009, 0.009),
    ("anthropic/claude-sonnet-4-5/cache_write_5m", "1000000 Tokens", 0.0004, 400, 0.0015, 0.0015),
    ("anthropic/claude-sonnet-4-5/cache_write_1h", "1000000 Tokens", 0.0001, 100, 0.0006, 0.0006),
    ("anthropic/claude-sonnet-4-5/cache_read", "1000000 Tokens", 0.002, 2000, 0.0006, 0.0006),
    ("anthropic/claude-sonnet-4-5/output", "1000000 Tokens", 0.0006, 600, 0.009, 0.009),
    ("anthropic/claude-sonnet-4-5/web_search", "1000 Requests", 0.002, 2, 0.02, 0.02),
    ("anthropic/claude-sonnet-4-6/input", "1000000 Tokens", 0.01, 10_000, 0.033, 0.03),
    ("anthropic/claude-sonnet-4-6/output", "1000000 Tokens", 0.001, 1000, 0.0165, 0.015),
]


def test_a_few_requests_priced_by_hand(hand_data: Path, tmp_path: Path) -> None:
    result = write_focus(hand_data, tmp_path / "hand.csv")
    frame = focus_frame(hand_data)
    got = frame.select(
        "SkuId", "PricingUnit", "PricingQuantity", "ConsumedQuantity", "BilledCost", "ListCost"
    )
    assert len(got.rows()) == len(HAND)
    for row, want in zip(sorted(got.rows()), sorted(HAND), strict=True):
        assert row[:2] == want[:2]
        assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(row[2:], want[2:], strict=True)), row
    assert math.isclose(result.billed_total, 0.0902, rel_tol=1e-12)
    assert math.isclose(result.list_total, 0.0857, rel_tol=1e-12)
    assert (result.unpriced_rows, result.unpriced_models) == (1, {"claude-nimbus-preview": 1})
    first = frame.row(0, named=True)
    assert first["ChargePeriodStart"] == datetime(2026, 9, 1, tzinfo=first["ChargePeriodStart"].tzinfo)
    assert first["BillingPeriodEnd"] == datetime(2026, 10, 1, tzinfo=first["BillingPeriodEnd"].tzinfo)
    assert (first["ServiceName"], first["InvoiceIssuerName"], first["SubAccountId"]) == (
        "Claude API",
        "Anthropic",
        "wrkspc_A",
    )
    assert json.loads(first["Tags"]) == {
        "team": "support",
        "env": "prod",
        "urgent": True,
        "tierlens/feature": "chat",
        "tierlens/user_id": "u_1",
        "tierlens/workspace_id": "wrkspc_A",
        "tierlens/project": "alpha",
    }
    geo = frame.filter(pl.col("SkuId") == "anthropic/claude-sonnet-4-6/input").row(0, named=True)
    assert geo["ChargeDescription"] == "claude-sonnet-4-6 input tokens (US-only inference) at 1.1x list price"


def test_a_negotiated_discount_is_in_contracted_and_billed_cost_not_list(write: Any, tmp_path: Path) -> None:
    pricing = PricingConfig(discounts={"claude-sonnet-4-5": 0.8})
    log = write(
        "d.jsonl", [_logged("2026-09-02T08:00:00Z", input_tokens=1000, output_tokens=0, web_search=1)]
    )
    ingest([log], Settings(data_dir=tmp_path / "d", pricing=pricing))
    frame = focus_frame(tmp_path / "d", pricing=pricing).sort("SkuId")
    rows = frame.select(
        "x_CostCategory", "ListCost", "ContractedCost", "BilledCost", "x_PriceMultiplier"
    ).rows()
    want = [("input", 0.003, 0.0024, 0.0024, 0.8), ("web_search", 0.01, 0.01, 0.01, 1.0)]
    for row, expected in zip(rows, want, strict=True):
        assert row[0] == expected[0]
        assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(row[1:], expected[1:], strict=True))


def test_cache_write_split_follows_the_rates_of_each_ttl(write: Any, tmp_path: Path) -> None:
    # claude-3-haiku: 5m write 0.30, 1h write 0.50 $/MTok, a ratio other than Sonnet's 1.6
    rec = _logged(
        "2026-09-03T08:00:00Z", model="claude-3-haiku-20240307", cache_creation=3000, split=(1000, 2000)
    )
    ingest([write("h.jsonl", [rec])], Settings(data_dir=tmp_path / "h"))
    frame = focus_frame(tmp_path / "h")
    cost = dict(frame.select("x_CostCategory", "BilledCost").iter_rows())
    assert math.isclose(cost["cache_write_5m"], 1000 * 0.30 / 1e6, rel_tol=1e-12)
    assert math.isclose(cost["cache_write_1h"], 2000 * 0.50 / 1e6, rel_tol=1e-12)


def test_tags_follow_the_key_value_rules() -> None:
    dims = {"feature": "chat", "user_id": None}
    text = tags_json(dims, ["a:1", "a:2", "flag", "tierlens/feature:spoof", "url:https://x", ":empty"])
    assert json.loads(text or "") == {"a": "1", "flag": True, "url": "https://x", "tierlens/feature": "chat"}
    assert tags_json({"feature": None}, []) is None


def test_a_period_without_data_exports_no_rows(sample_data: Path) -> None:
    empty = focus_frame(sample_data, date(1999, 1, 1), date(1999, 12, 31))
    assert empty.is_empty()
    assert empty.columns[: len(FOCUS_COLUMNS)] == list(FOCUS_COLUMNS)


def test_the_format_comes_from_the_suffix_and_a_failed_write_leaves_nothing(
    sample_data: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"\.csv or \.parquet"):
        write_focus(sample_data, tmp_path / "focus.xlsx")
    with pytest.raises(StoreError, match="cannot write"):
        write_focus(sample_data, tmp_path / "missing" / "focus.csv")
    assert list(tmp_path.rglob("*.tmp")) == []


def test_the_docs_describe_every_exported_column() -> None:
    from tierlens.export.focus_catalog import CUSTOM_COLUMNS

    doc = (REPO / "docs" / "focus.md").read_text()
    missing = [c for c in (*FOCUS_COLUMNS, *CUSTOM_COLUMNS) if f"`{c}`" not in doc]
    assert missing == []
