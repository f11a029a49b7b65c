"""Money and percentages read the same everywhere: two decimals from $1, four below, one figure
for a range whose ends print alike, and no negative zero."""

from __future__ import annotations

from pathlib import Path

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

    from tierlens import cli
    from tierlens.cli import main

    monkeypatch.setattr(cli, "_table_width", lambda: 100)  # a 100-column terminal

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
