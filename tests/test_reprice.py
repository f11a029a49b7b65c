"""Re-pricing stored data: a price added later turns "unpriced" into dollars, without the logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

import tierlens
from tests import factories as f
from tierlens.cli import main
from tierlens.config import PriceOverride, PricingConfig, Settings
from tierlens.ingest import ingest
from tierlens.pricing import PriceTable
from tierlens.reprice import reprice

# a model no price table knows, then priced by the user: $2 in, $8 out, $0.20 cache read per MTok
NIMBUS = PriceOverride(
    model_id="claude-nimbus-preview", input=2, output=8, cache_read=0.2, cache_write_5m=2.5
)
PRICED = PricingConfig(models=[NIMBUS])
TOML = """[[pricing.models]]
model_id = "claude-nimbus-preview"
input = 2
output = 8
cache_read = 0.2
cache_write_5m = 2.5
"""


def nimbus_cost(r: dict[str, Any]) -> float:
    return (
        r["input_tokens"] * 2 + r["output_tokens"] * 8 + r["cache_read_tokens"] * 0.2
        + r["cache_write_5m_tokens"] * 2.5
    ) / 1e6  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    lines = [
        f.logged(ts=f"2026-09-0{d}T10:00:00Z", model=m, input_tokens=1000 * d, output_tokens=100 * d,
                 cache_read=500, feature="chat")
        for d in (1, 2, 3) for m in ("claude-nimbus-preview", "claude-haiku-4-5")
    ]  # fmt: skip
    log = tmp_path / "gateway.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    ingest([log], Settings(data_dir=tmp_path / "data"))
    return tmp_path / "data"


def rows(data: Path) -> pl.DataFrame:
    return tierlens.open(data).collect().sort("ts", "model")


def test_a_price_added_later_prices_the_stored_rows_by_hand(data: Path) -> None:
    before = rows(data)
    assert before.filter(pl.col("model") == "claude-nimbus-preview")["priced"].to_list() == [False] * 3
    run = reprice(data, PriceTable.load(PRICED))
    after = rows(data)
    nimbus = after.filter(pl.col("model") == "claude-nimbus-preview")
    assert nimbus["priced"].all()
    for r in nimbus.to_dicts():
        assert r["cost_usd"] == pytest.approx(nimbus_cost(r), rel=1e-12)
    assert run.newly_priced == 3 and run.rows_changed == 3 and run.still_unpriced == {}
    assert run.cost_after_usd - run.cost_before_usd == pytest.approx(
        sum(nimbus_cost(r) for r in nimbus.to_dicts())
    )
    # nothing else moved: tokens, ids, the other model's cost
    keep = [c for c in before.columns if c not in ("priced", "price_version", "price_multiplier", "family", "tier")
            and not c.startswith("cost_")]  # fmt: skip
    assert after.select(keep).equals(before.select(keep))
    haiku = pl.col("model") == "claude-haiku-4-5"
    assert after.filter(haiku)["cost_usd"].to_list() == before.filter(haiku)["cost_usd"].to_list()
    assert set(after["price_version"]) == {PriceTable.load(PRICED).version}


def test_repricing_twice_changes_nothing_and_a_dry_run_writes_nothing(data: Path) -> None:
    table = PriceTable.load(PRICED)
    files = sorted(p.stat().st_mtime_ns for p in data.rglob("*.parquet"))
    dry = reprice(data, table, dry_run=True)
    assert dry.newly_priced == 3 and sorted(p.stat().st_mtime_ns for p in data.rglob("*.parquet")) == files
    reprice(data, table)
    again = reprice(data, table)
    assert again.rows_changed == again.rows_restamped == again.partitions_rewritten == 0


def test_model_and_dates_limit_what_is_repriced(data: Path) -> None:
    from datetime import date

    run = reprice(data, PriceTable.load(PRICED), since=date(2026, 9, 2), model="claude-nimbus-preview")
    got = rows(data).filter(pl.col("model") == "claude-nimbus-preview")
    assert got["priced"].to_list() == [False, True, True] and run.newly_priced == 2
    assert rows(data).filter(pl.col("model") == "claude-haiku-4-5")["price_version"].n_unique() == 1


def test_split_requests_keep_their_shares(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    line = f.logged(model="claude-nimbus-preview", input_tokens=999, output_tokens=77, feature=None,
                    tags=["feature:a", "feature:b", "feature:c"])  # fmt: skip
    log.write_text(json.dumps(line) + "\n")
    config = Settings(data_dir=tmp_path / "d", attribution={"order": ["tag:feature:"]})
    ingest([log], config)
    reprice(tmp_path / "d", PriceTable.load(PRICED))
    got = rows(tmp_path / "d")
    assert got.height == 3 and got["priced"].all()
    whole = nimbus_cost(
        {"input_tokens": 999, "output_tokens": 77, "cache_read_tokens": 0, "cache_write_5m_tokens": 0}
    )
    assert got["cost_usd"].sum() == pytest.approx(whole, rel=1e-12)
    assert got["cost_usd"].to_list() == pytest.approx([whole / 3] * 3, rel=1e-12)


def test_cli_reprices_after_an_override_and_summary_says_when_it_is_due(data: Path, tmp_path: Path) -> None:
    config = tmp_path / "tierlens.toml"
    config.write_text(TOML)
    res = CliRunner().invoke(main, ["--config", str(config), "summary", "--data", str(data)])
    assert res.exit_code == 0 and "`tierlens reprice`" in res.stderr
    res = CliRunner().invoke(
        main, ["--config", str(config), "reprice", "--data", str(data), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["newly_priced"] == 3 and out["by_model"][0]["model"] == "claude-nimbus-preview"
    res = CliRunner().invoke(main, ["--config", str(config), "summary", "--data", str(data)])
    assert "reprice" not in res.stderr


def test_ingest_reprice_prices_the_duplicates_a_reingest_skips(data: Path, tmp_path: Path) -> None:
    again = ingest([tmp_path / "gateway.jsonl"], Settings(data_dir=data, pricing=PRICED), reprice=True)
    assert again.rows_added == 0 and again.duplicates_skipped == 6
    assert again.repriced["newly_priced"] == 3
    assert rows(data)["priced"].all()


def test_a_mistyped_override_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "tierlens.toml"
    config.write_text(TOML.replace("cache_read =", "cache_reed ="))
    res = CliRunner().invoke(main, ["--config", str(config), "reprice", "--data", str(tmp_path)])
    assert res.exit_code == 2 and "cache_reed" in res.output


def _reprice_subprocess(config: Path, data: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}
    if crash_at:
        env["TIERLENS_CRASH_AT"] = crash_at
    code = "import sys; from tierlens.cli import main; sys.exit(main())"
    args = [sys.executable, "-c", code, "--config", str(config), "reprice", "--data", str(data)]
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("crash_at", ["before_journal", "after_journal", "mid_rename"])
def test_a_crash_while_repricing_leaves_one_price_per_request(
    crash_at: str, data: Path, tmp_path: Path
) -> None:
    config = tmp_path / "tierlens.toml"
    config.write_text(TOML)
    died = _reprice_subprocess(config, data, crash_at)
    assert died.returncode == 137, died.stderr
    for file in tierlens.store.Layout(data).data_files():
        pl.read_parquet(file)  # whole files only
    assert _reprice_subprocess(config, data, None).returncode == 0
    got = rows(data)
    assert got.height == 6 and got["dedupe_key"].n_unique() == 6 and got["priced"].all()


def test_a_reader_during_repricing_never_sees_a_row_twice(data: Path) -> None:
    import threading

    expected = rows(data).height
    glob = str(data / "requests" / "**" / "*.parquet")
    seen: list[int] = []
    problems: list[str] = []
    failed = 0
    done = threading.Event()

    def read() -> None:
        nonlocal failed
        while not done.is_set():
            try:
                got = pl.scan_parquet(glob).select("dedupe_key").collect()
            except BaseException:  # a read that overlaps a rename may fail: a retry, never wrong data
                failed += 1
                continue
            seen.append(got.height)
            if got["dedupe_key"].is_duplicated().any():
                problems.append("a duplicate key")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(12):  # alternate tables, so every run rewrites every file
            reprice(data, PriceTable.load(PRICED if i % 2 == 0 else None))
    finally:
        done.set()
        reader.join()
    assert problems == [] and seen and set(seen) == {expected}  # every read that worked saw each row once
