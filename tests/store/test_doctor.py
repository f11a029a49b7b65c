"""A stored file cut short freezes nothing: readers skip it loudly, writers go on, doctor repairs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import tierlens
from tests import factories as f
from tierlens.cli import main
from tierlens.config import Settings
from tierlens.ingest import ingest
from tierlens.store import Layout


def cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_truncated_file_is_skipped_named_and_repaired(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = tmp_path / "first.jsonl"
    first.write_text("".join(json.dumps(f.logged(ts=f"2026-09-0{d}T10:00:00Z")) + "\n" for d in (1, 2)))
    ingest([first], Settings(data_dir=data))
    victim = Layout(data).data_files("2026-09-01")[0]
    victim.write_bytes(victim.read_bytes()[:100])  # the footer is gone
    with pytest.warns(UserWarning, match="tierlens doctor --repair"):
        assert tierlens.open(data).collect().height == 1  # the other day is still read
    # an ingest into another day, and into the damaged day, still commits
    later = tmp_path / "later.jsonl"
    later.write_text(json.dumps(f.logged(ts="2026-09-03T10:00:00Z")) + "\n" + json.dumps(f.logged()) + "\n")
    with pytest.warns(UserWarning):
        assert ingest([later], Settings(data_dir=data)).rows_added == 2
    res = cli("doctor", "--data", str(data))
    assert res.exit_code == 3 and "not a readable Parquet file" in res.output  # type: ignore[attr-defined]
    assert f"tierlens ingest {first.resolve()}" in res.output  # type: ignore[attr-defined]
    res = cli("doctor", "--data", str(data), "--repair", "--format", "json")
    out = json.loads(res.output)  # type: ignore[attr-defined]
    assert res.exit_code == 0 and out["problems"][0]["moved_to"].startswith("_corrupt/")  # type: ignore[attr-defined]
    assert cli("doctor", "--data", str(data)).exit_code == 0  # type: ignore[attr-defined]
    # re-ingesting what doctor named restores the lost rows, and adds nothing twice
    again = ingest([first], Settings(data_dir=data))
    assert again.rows_added == 1 and tierlens.open(data).collect().height == 4
    assert tierlens.open(data).select(pl.col("dedupe_key").is_duplicated().any()).collect().item() is False
