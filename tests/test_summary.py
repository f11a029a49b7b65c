"""The spend summary: sums by period and dimension, unpriced requests kept apart (never $0), and
every period of the window shown, an empty one at $0."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from tierlens.errors import ParameterError
from tierlens.schema import UNATTRIBUTED, conform, empty
from tierlens.summary import spend_summary


def _rows(*requests: tuple[str, str | None, str, float | None]) -> pl.LazyFrame:
    """Canonical rows from (day, feature, model, cost or None for unpriced), 10 input tokens each."""
    frame = pl.DataFrame(
        {
            "ts": [datetime.fromisoformat(d).replace(hour=12, tzinfo=UTC) for d, *_ in requests],
            "feature": [f for _, f, _, _ in requests],
            "model": [m for *_, m, _ in requests],
            "model_id": [m for *_, m, _ in requests],
            "tier": ["sonnet"] * len(requests),
            "cost_usd": [c for *_, c in requests],
            "priced": [c is not None for *_, c in requests],
            "requests": [1] * len(requests),
            **{t: [10] * len(requests) for t in ("input_tokens", "output_tokens")},
            **{
                t: [0] * len(requests)
                for t in ("cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")
            },
            "price_version": ["v1"] * len(requests),
        }
    )
    return pl.concat([empty(), conform(frame)], how="diagonal_relaxed").lazy()


def test_unpriced_requests_are_counted_apart_and_never_add_zero_dollars() -> None:
    lf = _rows(
        ("2026-09-01", "chat", "claude-sonnet-4-5", 0.25),
        ("2026-09-02", "chat", "claude-sonnet-4-5", 0.50),
        ("2026-09-02", "search", "mystery-model", None),
        ("2026-09-03", None, "claude-sonnet-4-5", 0.125),
    )
    s = spend_summary(lf, period="week", by=("feature",))
    assert s.total_cost_usd == 0.875 and s.total_requests == 4
    assert s.unpriced_requests == 1 and s.unpriced_models == {"mystery-model": 1}
    by_feature = {r["feature"]: r for r in s.rows.iter_rows(named=True)}
    assert by_feature["chat"]["cost_usd"] == 0.75 and by_feature["chat"]["requests"] == 2
    assert by_feature["search"]["cost_usd"] is None  # unknown, not $0
    assert by_feature["search"]["unpriced_requests"] == 1
    assert by_feature[UNATTRIBUTED]["cost_usd"] == 0.125


def test_every_week_of_the_window_is_a_row_and_an_empty_one_costs_zero() -> None:
    lf = _rows(
        ("2026-09-01", "chat", "claude-sonnet-4-5", 1.0), ("2026-09-22", "chat", "claude-sonnet-4-5", 2.0)
    )
    weeks = spend_summary(lf, period="week").periods()
    assert weeks["period"].to_list() == [
        date(2026, 8, 31),
        date(2026, 9, 7),
        date(2026, 9, 14),
        date(2026, 9, 21),
    ]
    assert weeks["cost_usd"].to_list() == [1.0, 0.0, 0.0, 2.0]
    assert weeks["requests"].to_list() == [1, 0, 0, 1]


def test_since_and_until_bound_the_days_read() -> None:
    lf = _rows(*[(f"2026-09-0{d}", "chat", "claude-sonnet-4-5", float(d)) for d in range(1, 8)])
    s = spend_summary(lf, since=date(2026, 9, 3), until=date(2026, 9, 5), period="day")
    assert s.total_cost_usd == 3.0 + 4.0 + 5.0 and (s.first_day, s.last_day) == (
        date(2026, 9, 3),
        date(2026, 9, 5),
    )


def test_a_bad_period_or_dimension_names_the_parameter() -> None:
    with pytest.raises(ParameterError, match=r"^period must be one of day, week, month, got 'year'$"):
        spend_summary(_rows(), period="year")
    with pytest.raises(ParameterError) as caught:
        spend_summary(_rows(), by=("colour",))
    assert caught.value.params == ["by"] and "'colour'" in str(caught.value)
