"""Money and percentages read the same everywhere: two decimals from $1, four below, one figure
for a range whose ends print alike, and no negative zero."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

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


def test_tables_fit_100_columns_and_wide_shows_every_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    from tierlens import render

    long = "/var/log/llm/gateway/" + "very-long-directory-name/" * 6 + "2026-11-30.jsonl"
    rows = [[long, 12, "invalid JSON: Expecting value at column 1", "20261201T120000-abc123"]]
    headers = ["file", "line", "reason", "ingest"]
    monkeypatch.setattr(render, "WIDTH", 100)  # a 100-column terminal (each command sets its own)
    fitted = render.table(rows, headers)
    assert max(len(line) for line in fitted.splitlines()) <= 100
    assert "…" in fitted and "12" in fitted and "20261201T120000-abc123" in fitted  # numbers whole
    monkeypatch.setattr(render, "WIDTH", None)
    assert long in render.table(rows, headers)


def test_the_cli_fits_tables_unless_wide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tierlens.cli import app, main

    monkeypatch.setattr(app, "_table_width", lambda: 100)  # a 100-column terminal

    narrow = CliRunner().invoke(main, ["prices"]).stdout
    wide = CliRunner().invoke(main, ["prices", "--wide"]).stdout
    assert max(len(x) for x in narrow.splitlines()) <= 100 < max(len(x) for x in wide.splitlines())
    again = CliRunner().invoke(main, ["prices"]).stdout  # --wide does not stick to the next command
    assert again == narrow


def test_piped_tables_keep_every_cell() -> None:
    from click.testing import CliRunner

    from tierlens.cli import main

    piped = CliRunner().invoke(main, ["prices"]).stdout  # CliRunner's stdout is no terminal
    assert "…" not in piped and "lc_input" in piped


PER_TOKEN = ("0.000003", "0.000015", "0.0000003", "0.00000375", "0.00000008", "0.0000015")


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(PER_TOKEN)), min_size=1, max_size=20),
    st.randoms(use_true_random=False),
)
def test_money_prints_the_exact_sum_rounded_half_up_whatever_the_order(
    costs: list[tuple[int, str]], rng: random.Random
) -> None:
    exact = sum((Decimal(n) * Decimal(p) for n, p in costs), Decimal(0))
    shuffled = [float(Decimal(n) * Decimal(p)) for n, p in costs]
    rng.shuffle(shuffled)
    step = Decimal("0.0001") if 0 < exact < 1 else Decimal("0.01")
    want = exact.quantize(step, rounding=ROUND_HALF_UP)
    shown = money(sum(shuffled))
    assert shown == (f"${want:,}" if exact >= Decimal("0.00005") or exact == 0 else "<$0.0001")


def test_a_tie_rounds_up_however_the_sum_was_ordered() -> None:
    # 6 requests at $0.00675 each: per request $0.00675, a tie; float sums land on either side
    assert money(0.0405 / 6) == money(0.00675) == money(0.006749999999999999) == "$0.0068"
