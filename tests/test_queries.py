"""queries/: headers, safe parameter binding, golden transpiles, and equal results on every engine."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from tests import factories as f
from tests.conftest import REPO
from tierlens.cli import main
from tierlens.errors import QueryError
from tierlens.ingest import ingest
from tierlens.queries import DIALECTS, load_queries, parse_query, run_query

GOLDEN = REPO / "tests" / "golden" / "sql"
QUERIES = load_queries()
UPDATE = os.environ.get("TIERLENS_UPDATE_GOLDEN") == "1"


def test_every_query_has_a_complete_header() -> None:
    assert set(QUERIES) >= {"spend_by_period", "spend_by_model", "feature_unit_costs", "daily_spend"}
    for q in QUERIES.values():
        assert q.description and q.dialect == "duckdb" and q.grain, q.name
        assert {p.name for p in q.params} >= {"since", "until"}


def test_header_errors() -> None:
    with pytest.raises(QueryError, match="lacks -- description:"):
        parse_query("-- name: x\n-- dialect: duckdb\nSELECT 1")
    with pytest.raises(QueryError, match="must match the file name"):
        parse_query("-- name: x\n-- description: d\n-- dialect: duckdb\nSELECT 1", Path("y.sql"))
    with pytest.raises(QueryError, match="cannot read parameter"):
        parse_query("-- name: x\n-- description: d\n-- dialect: duckdb\n-- params: since\nSELECT 1")


def test_parameters_are_bound_as_literals_never_as_sql() -> None:
    q = parse_query(
        "-- name: q\n-- description: d\n-- dialect: duckdb\n-- params: f STRING, n INT = 3, d DATE = 2026-01-01\n"
        "SELECT * FROM requests WHERE feature = :f AND requests > :n AND date >= :d"
    )
    sql = q.render("duckdb", {"f": "x' OR '1'='1"}, pretty=False)
    assert (
        "feature = 'x'' OR ''1''=''1'" in sql
        and "requests > 3" in sql
        and "CAST('2026-01-01' AS DATE)" in sql
    )
    with pytest.raises(QueryError, match="must be a INT"):
        q.render("duckdb", {"f": "a", "n": "3; DROP TABLE requests"})
    with pytest.raises(QueryError, match="required"):
        q.render("duckdb", {})
    with pytest.raises(QueryError, match="unknown parameter"):
        q.render("duckdb", {"f": "a", "zzz": "1"})
    with pytest.raises(QueryError, match="must be one of day, week, month"):
        QUERIES["spend_by_period"].render("duckdb", {"grain": "week') --"})


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "postgres"])
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_golden_transpile(name: str, dialect: str) -> None:
    sql = QUERIES[name].render(dialect, {"since": "2026-10-01", "until": "2026-10-31"}) + "\n"
    path = GOLDEN / f"{name}.{dialect}.sql"
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    assert sql == path.read_text(), f"{path} differs (TIERLENS_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_printed_header_names_the_dialect_printed(dialect: str) -> None:
    for q in QUERIES.values():
        sql = q.render(dialect)
        assert re.findall(r"dialect:\s*(\w+)", sql) == [dialect], q.name
        assert f"name: {q.name}" in sql  # the rest of the header comes along unchanged


def test_query_print_labels_the_translation() -> None:
    res = CliRunner().invoke(main, ["query", "daily_spend", "--print", "--dialect", "bigquery"])
    assert res.exit_code == 0, res.output
    assert "/* dialect: bigquery */" in res.output and "duckdb" not in res.output


def test_bigquery_weeks_start_on_monday() -> None:
    sql = QUERIES["spend_by_period"].render("bigquery", {"grain": "week"})
    assert "WEEK(MONDAY)" in sql


# --- query unit tests as data: input rows -> expected rows -------------------------------------------

CASES = json.loads((REPO / "tests" / "query_cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_query_cases(case: dict, tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def,type-arg]
    from tierlens.config import load_settings

    lines = [f.logged(**row) for row in case["input"]]
    ingest([write("case.jsonl", lines)], load_settings(data_dir=tmp_path / "d"))
    got = run_query(QUERIES[case["query"]], tmp_path / "d", case.get("params", {}))
    expected = pl.DataFrame(case["expected"]).with_columns(
        [pl.col(k).str.to_date() for k in ("period", "date") if k in case["expected"][0]]
    )
    expected = expected.cast({k: got.schema[k] for k in expected.columns})
    assert_frame_equal(got.select(expected.columns), expected, check_exact=False, rel_tol=1e-9)


# --- the same results on polars, DuckDB and Spark ------------------------------------------------------


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    assert_frame_equal(
        a.sort(a.columns, nulls_last=True),
        b.sort(b.columns, nulls_last=True),
        check_exact=False,
        rel_tol=1e-9,
    )


PARAMS = {"since": "2026-09-01", "until": "2026-11-15"}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_polars_and_duckdb_agree(name: str, sample_data: Path) -> None:
    a = run_query(QUERIES[name], sample_data, PARAMS, "polars")
    assert a.height > 0
    _same(a, run_query(QUERIES[name], sample_data, PARAMS, "duckdb"))


@pytest.mark.slow
def test_spark_agrees_with_polars(sample_data: Path) -> None:
    pytest.importorskip("pyspark")
    for _name, q in sorted(QUERIES.items()):
        _same(run_query(q, sample_data, PARAMS, "polars"), run_query(q, sample_data, PARAMS, "spark"))


def test_unknown_engine_and_dialect() -> None:
    with pytest.raises(QueryError, match="unknown engine"):
        run_query(QUERIES["daily_spend"], "x", engine="oracle")
    with pytest.raises(QueryError, match="unknown dialect"):
        QUERIES["daily_spend"].render("oracle")
