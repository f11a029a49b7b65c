"""Money and percentages read the same everywhere: two decimals from $1, four below, one figure
for a range whose ends print alike, and no negative zero."""

from __future__ import annotations

import pytest

from tierlens.render import money, money_range, pct


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1234.5, "$1,234.50"),
        (1.0, "$1.00"),
        (0.99994, "$0.9999"),
        (0.0, "$0.00"),
        (-2.5, "-$2.50"),
        (None, "-"),
    ],
)
def test_money(value: float | None, shown: str) -> None:
    assert money(value) == shown


def test_a_range_whose_ends_print_alike_is_one_figure() -> None:
    assert money_range(9.04, 9.04) == "$9.04"
    assert money_range(9.041, 9.043) == "$9.04"
    assert money_range(6.58, 12.3) == "$6.58-$12.30"


@pytest.mark.parametrize(
    ("value", "shown"), [(-0.01, "0.0%"), (0.0, "0.0%"), (0.04, "0.0%"), (12.345, "+12.3%"), (-3.0, "-3.0%")]
)
def test_pct_has_no_negative_zero(value: float, shown: str) -> None:
    assert pct(value) == shown
