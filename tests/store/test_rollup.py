"""The daily rollup: written with each commit, made by readers when missing, never stale, and
equal to a recomputation from the requests; queries of sums read the same over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f
from tierlens.config import load_settings
from tierlens.ingest import ingest
from tierlens.queries import get_query, run_query
from tierlens.rollup_sql import rollup_safe
from tierlens.store import rollup as rollup_module
from tierlens.store.layout import snapshot
from tierlens.store.rollup import DIMENSIONS, rollup_of
from tierlens.workspace import Workspace

KEYS = sorted(DIMENSIONS)


def cells(frame: pl.LazyFrame) -> pl.DataFrame:
    """A rollup summed again by its keys (two files of one day hold the same keys), in one order."""
    sums = [c for c in frame.collect_schema().names() if c not in DIMENSIONS]
    return (
        frame.group_by(KEYS)
        .agg(
            *[pl.col(c).sum() for c in sums if c != "cost_usd"],
            cost_usd=pl.when(pl.col("cost_usd").is_not_null().any()).then(pl.col("cost_usd").sum()),
        )
        .with_columns(pl.col("cost_usd").round(9))
        .sort(KEYS, nulls_last=True)
        .collect()
    )


def test_the_stored_rollup_equals_the_requests_summed(sample_data: Path) -> None:
    ws = Workspace(sample_data)
    stored, again = cells(ws.rollup), cells(rollup_of(ws.requests))
    assert stored.equals(again)
    assert stored["requests"].sum() == ws.requests.select(pl.col("requests").sum()).collect().item()
    assert (
        stored.filter(~pl.col("priced"))["cost_usd"].null_count() == stored.filter(~pl.col("priced")).height
    )


def test_an_ingest_writes_the_rollups_of_the_files_it_commits(write: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    days = [f.logged(ts=f"2026-09-0{1 + i % 3}T10:00:00Z", feature=f"f{i % 2}") for i in range(30)]
    ingest([write("a.jsonl", days)], load_settings(data_dir=data))
    snap = snapshot(data)
    made = sorted((data / "_rollups").glob("date=*/*.parquet"))
    assert len(made) == len(snap.files) == 3
    assert {m.parent.name for m in made} == {p.parent.name for p in snap.files}


@pytest.mark.parametrize("batch_bytes", [1, 8 << 20])
def test_each_file_gets_its_own_rollup_however_many_one_query_sums(
    write: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    # one query per file (1 byte per batch), or the whole ingest's files in one query
    monkeypatch.setattr(rollup_module, "BATCH_BYTES", batch_bytes)
    data = tmp_path / "data"
    days = [f.logged(ts=f"2026-09-0{1 + i % 4}T10:00:00Z", feature=f"f{i % 3}") for i in range(40)]
    days[5] = f.logged(ts="2026-09-02T11:00:00Z", model="unknown-model-7")  # an unpriced cell
    ingest([write("a.jsonl", days)], load_settings(data_dir=data))
    files = snapshot(data).files
    assert len(files) == 4
    for stored in files:
        own = pl.read_parquet(rollup_module.rollup_path(data, stored)).lazy()
        assert cells(own).equals(cells(rollup_of(rollup_module._scan_one(stored))))


def test_a_missing_rollup_is_made_by_the_reader_and_a_read_only_one_computed(
    write: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    ingest([write("a.jsonl", [f.logged(feature="x") for _ in range(5)])], load_settings(data_dir=data))
    expected = cells(snapshot(data).rollup())
    for r in (data / "_rollups").glob("date=*/*.parquet"):
        r.unlink()  # a crash between the commit and its rollups, or a dataset older than them

    def unwritable(*_: Any) -> Path:
        raise PermissionError("read-only")

    with monkeypatch.context() as m:
        m.setattr(rollup_module, "write_rollup", unwritable)
        assert cells(snapshot(data).rollup()).equals(expected)  # computed from the file
    assert not list((data / "_rollups").glob("date=*/*.parquet"))
    assert cells(snapshot(data).rollup()).equals(expected)  # and now made again
    assert len(list((data / "_rollups").glob("date=*/*.parquet"))) == 1


def test_a_damaged_rollup_is_made_again(write: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingest([write("a.jsonl", [f.logged(feature="x") for _ in range(5)])], load_settings(data_dir=data))
    expected = cells(snapshot(data).rollup())
    [stored] = (data / "_rollups").glob("date=*/*.parquet")
    stored.write_bytes(stored.read_bytes()[:40])  # truncated
    assert cells(snapshot(data).rollup()).equals(expected)


def test_a_rewritten_file_gets_a_new_rollup_and_the_old_one_goes(write: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    rows = [f.logged(ts="2026-09-01T10:00:00Z", feature="x", model="claude-nimbus-preview") for _ in range(4)]
    ingest([write("a.jsonl", rows)], load_settings(data_dir=data))
    before = cells(snapshot(data).rollup())
    assert before["cost_usd"].to_list() == [None]  # unpriced: null, never $0
    toml = tmp_path / "tierlens.toml"
    toml.write_text('[[pricing.models]]\nmodel_id = "claude-nimbus-preview"\ninput = 2\noutput = 8\n')
    ws = Workspace(data, config=toml)
    ws.reprice()
    after = cells(Workspace(data).rollup)
    assert after["priced"].to_list() == [True] and after["cost_usd"][0] > 0
    assert after.equals(cells(rollup_of(Workspace(data).requests)))
    live = {rollup_module.rollup_path(data, p) for p in snapshot(data).files}
    stored = set((data / "_rollups").glob("date=*/*.parquet"))
    assert live <= stored and len(stored) <= 2  # the superseded snapshot's, until its grace ends


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.integers(1, 5),  # day
            st.sampled_from(["a", "b", None]),  # feature
            st.sampled_from(["claude-sonnet-4-5-20250929", "claude-haiku-4-5", "claude-nimbus-preview"]),
            st.integers(0, 5000),
            st.integers(0, 900),
            st.sampled_from(["end_turn", "max_tokens"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_rows_roll_up_to_their_sums(tmp_path_factory: pytest.TempPathFactory, rows: list[Any]) -> None:
    where = tmp_path_factory.mktemp("rollup")
    lines = [
        f.logged(
            ts=f"2026-09-0{day}T10:00:00Z",
            feature=feature,
            model=model,
            input_tokens=inp,
            output_tokens=out,
            stop_reason=stop,
        )
        for day, feature, model, inp, out, stop in rows
    ]
    src = where / "a.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    data = where / "data"
    ingest([src], load_settings(data_dir=data))
    ws = Workspace(data)
    assert cells(ws.rollup).equals(cells(rollup_of(ws.requests)))


@pytest.mark.parametrize(
    "name", ["spend_by_period", "spend_by_model", "feature_unit_costs", "daily_spend", "unpriced_models"]
)
def test_every_report_query_reads_the_same_over_the_rollup(name: str, sample_data: Path) -> None:
    ws = Workspace(sample_data)
    query = get_query(name)
    assert rollup_safe(query.bind({}))
    over_rollup = run_query(query, sample_data, {}, lf=ws.requests, rollup=ws.rollup)
    over_requests = run_query(query, sample_data, {}, lf=ws.requests)
    assert over_rollup.columns == over_requests.columns
    floats = [c for c, t in over_rollup.schema.items() if t == pl.Float64]
    assert over_rollup.with_columns(pl.col(floats).round(9)).equals(
        over_requests.with_columns(pl.col(floats).round(9))
    )


@pytest.mark.parametrize(
    ("sql", "safe"),
    [
        ("SELECT feature, SUM(cost_usd) AS c FROM requests WHERE priced GROUP BY 1 ORDER BY c", True),
        ("SELECT SUM(CASE WHEN service_tier = 'batch' THEN cost_usd ELSE 0 END) FROM requests", True),
        ("SELECT 1000 * SUM(cost_usd) / NULLIF(SUM(output_tokens), 0) FROM requests", True),
        ("SELECT MIN(date), MAX(date) FROM requests", True),
        ("SELECT COUNT(*) FROM requests", False),  # rows, not cells
        ("SELECT SUM(1) FROM requests", False),
        ("SELECT SUM(requests + 1) FROM requests", False),
        ("SELECT SUM(input_tokens * output_tokens) FROM requests", False),  # not linear
        ("SELECT AVG(cost_usd) FROM requests", False),
        ("SELECT MAX(cost_usd) FROM requests", False),  # the largest cell, not request
        ("SELECT user_id, SUM(cost_usd) FROM requests GROUP BY 1", False),  # not a key
        ("SELECT SUM(CASE WHEN stop_reason = 'x' THEN requests END) FROM requests", False),
        ("SELECT SUM(cost_usd) FROM requests r JOIN requests s ON r.feature = s.feature", False),
        ("SELECT SUM(cost_usd) FROM (SELECT * FROM requests) t", False),
    ],
)
def test_which_queries_read_the_same_over_the_rollup(sql: str, safe: bool) -> None:
    assert rollup_safe(sqlglot.parse_one(sql, read="duckdb")) is safe
