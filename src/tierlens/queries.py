"""Portable report SQL: `queries/*.sql`, bound with sqlglot, run on polars, DuckDB or Spark.

One query per file; the file stem is its name and a header says what it is:

    -- name: weekly_spend
    -- description: Spend by ISO week, feature and tier.
    -- dialect: duckdb
    -- params: since DATE = 1970-01-01, until DATE = 9999-12-31
    -- grain: week x feature x tier

Parameters are `:name` placeholders replaced by typed SQL literals in the sqlglot tree, never
by string formatting, so a value cannot change the query's shape. The same bound tree is
printed for any sqlglot dialect (Spark, DuckDB, BigQuery, Snowflake, Trino), which is how the
reports run past one machine without a home-made distribution layer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tierlens.errors import QueryError
from tierlens.location import is_remote
from tierlens.rollup_sql import rollup_safe
from tierlens.schema import PARTITION_COLUMN

ENGINES = ("polars", "duckdb", "spark")
DIALECTS = ("duckdb", "spark", "bigquery", "snowflake", "trino", "postgres")
_HEADER = re.compile(r"^--\s*(name|description|dialect|params|grain):\s*(.*)$")
_DIALECT_COMMENT = re.compile(r"\s*dialect:.*", re.DOTALL)
_PARAM = re.compile(r"^(\w+)\s+(DATE|STRING|INT|FLOAT)(?:\(([^)]*)\))?(?:\s*=\s*(.+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Param:
    """`name TYPE[(a|b|c)] [= default]` from a query header."""

    name: str
    type: str
    default: str | None = None
    choices: tuple[str, ...] = ()


@functools.lru_cache(maxsize=256)
def _parsed(sql: str, dialect: str) -> exp.Expression:
    """The parse of a query's text, once per process (binding copies it)."""
    tree = sqlglot.parse_one(sql, read=dialect)
    assert isinstance(tree, exp.Expression)
    return tree


@dataclass(frozen=True)
class Query:
    """A parsed `queries/*.sql` file."""

    name: str
    description: str
    dialect: str
    grain: str
    params: tuple[Param, ...]
    sql: str
    path: Path | None = None
    header: dict[str, str] = field(default_factory=dict)

    def bind(self, values: dict[str, Any] | None = None) -> exp.Expression:
        """The query's sqlglot tree with every placeholder replaced by a typed literal."""
        values = dict(values or {})
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise QueryError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        literals = {}
        for p in self.params:
            raw = values.get(p.name, p.default)
            if raw is None:
                raise QueryError(f"{self.name}: parameter '{p.name}' is required ({p.type})")
            literals[p.name] = _literal(p, raw)
        try:
            tree = _parsed(self.sql, self.dialect)
        except ParseError as exc:
            raise QueryError(f"{self.name}: {exc}") from None
        bound = exp.replace_placeholders(tree.copy(), **literals)
        assert isinstance(bound, exp.Expression)
        return bound

    def render(
        self, dialect: str | None = None, values: dict[str, Any] | None = None, pretty: bool = True
    ) -> str:
        """The bound query as SQL text for `dialect` (default: the file's own dialect)."""
        target = dialect or self.dialect
        if target not in DIALECTS:
            raise QueryError(f"unknown dialect {target!r}; known: {', '.join(DIALECTS)}")
        tree = _header_names_dialect(self.bind(values), target)
        if target == "bigquery":
            tree = _iso_weeks_for_bigquery(tree)
        return tree.sql(dialect=target, pretty=pretty)


def _literal(p: Param, raw: Any) -> exp.Expression:
    kind = p.type.upper()
    if p.choices and str(raw) not in p.choices:
        raise QueryError(f"parameter '{p.name}' must be one of {', '.join(p.choices)}, got {raw!r}")
    try:
        if kind == "DATE":
            value = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
            return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
        if kind == "INT":
            return exp.Literal.number(int(raw))
        if kind == "FLOAT":
            return exp.Literal.number(float(raw))
    except ValueError:
        raise QueryError(f"parameter '{p.name}' must be a {kind}, got {raw!r}") from None
    return exp.Literal.string(str(raw))


def _header_names_dialect(tree: exp.Expression, dialect: str) -> exp.Expression:
    """The tree with its header's `-- dialect:` comment naming `dialect`, the SQL it is printed in
    (the header comes along as comments; the file's own dialect would mislabel a translation)."""
    for node in tree.walk():
        if node.comments:
            node.comments = [
                f" dialect: {dialect}" if _DIALECT_COMMENT.fullmatch(c) else c for c in node.comments
            ]
    return tree


def _iso_weeks_for_bigquery(tree: exp.Expression) -> exp.Expression:
    """BigQuery's WEEK starts on Sunday; the reports use ISO weeks (Monday)."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)):
            unit = node.args.get("unit")
            if unit is not None and unit.name.upper() == "WEEK":
                node.set("unit", exp.WeekStart(this=exp.var("MONDAY")))
        return node

    return tree.transform(fix)


def parse_query(text: str, path: Path | None = None) -> Query:
    """Parse a query file's header and body."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        m = _HEADER.match(line.strip())
        if m:
            header[m.group(1)] = m.group(2).strip()
        elif line.strip() and not line.strip().startswith("--"):
            break
    label = str(path) if path else "query"
    missing = [k for k in ("name", "description", "dialect") if k not in header]
    if missing:
        raise QueryError(f"{label}: header lacks {', '.join('-- ' + k + ':' for k in missing)}")
    if path is not None and header["name"] != path.stem:
        raise QueryError(f"{label}: '-- name: {header['name']}' must match the file name")
    params = []
    for item in filter(None, (s.strip() for s in header.get("params", "").split(","))):
        m = _PARAM.match(item)
        if not m:
            raise QueryError(f"{label}: cannot read parameter {item!r} (expected 'name TYPE [= default]')")
        choices = tuple(c.strip() for c in m.group(3).split("|")) if m.group(3) else ()
        params.append(
            Param(m.group(1), m.group(2).upper(), m.group(4).strip() if m.group(4) else None, choices)
        )
    return Query(
        name=header["name"],
        description=header["description"],
        dialect=header["dialect"],
        grain=header.get("grain", ""),
        params=tuple(params),
        sql=text,
        path=path,
        header=header,
    )


def default_queries_dir() -> Path:
    """The package's `sql/` directory (shipped in the wheel; `queries/` at the top of the source
    tree links to it)."""
    return Path(__file__).resolve().parent / "sql"


def load_queries(directory: Path | None = None) -> dict[str, Query]:
    """Every `*.sql` in the queries directory, by name."""
    directory = directory or default_queries_dir()
    if not directory.is_dir():
        raise QueryError(f"no queries directory at {directory}")
    return {
        q.name: q
        for q in (parse_query(p.read_text(encoding="utf-8"), p) for p in sorted(directory.glob("*.sql")))
    }


def get_query(name: str, directory: Path | None = None) -> Query:
    queries = load_queries(directory)
    if name not in queries:
        raise QueryError(f"no query named {name!r}; known: {', '.join(sorted(queries))}")
    return queries[name]


# --- engines ---------------------------------------------------------------------------------------


def run_query(
    query: Query,
    data_dir: str | Path,
    values: dict[str, Any] | None = None,
    engine: str = "polars",
    *,
    lf: pl.LazyFrame | None = None,
    rollup: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Run a bound query over the dataset on an engine; the result is a polars DataFrame.

    `lf`, `rollup`: the dataset's scan and its daily rollup when the caller holds them (a
    `Workspace`), for the polars engine: a query that reads the same over the rollup
    (`tierlens.rollup_sql`: sums of summed columns by keys) reads the rollup.
    """
    if engine == "polars" and rollup is not None and rollup_safe(query.bind(values)):
        return _normalize(_sql_polars(query, rollup, values))
    if engine == "polars" and lf is not None:
        return _normalize(_sql_polars(query, lf, values))
    runners = {"polars": _run_polars, "duckdb": _run_duckdb, "spark": _run_spark}
    if engine not in runners:
        raise QueryError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    return _normalize(runners[engine](query, data_dir, values))


def _normalize(df: pl.DataFrame) -> pl.DataFrame:
    """One result type per value whatever the engine: whole-number sums (DuckDB HUGEINT) as Int64."""
    casts: dict[Any, pl.DataType] = {}
    for name, dtype in df.schema.items():
        if isinstance(dtype, pl.Decimal):
            casts[name] = pl.Int64() if dtype.scale == 0 else pl.Float64()
        elif dtype in (pl.Int32, pl.Int16, pl.Int8, pl.UInt32, pl.UInt64):
            casts[name] = pl.Int64()
        elif dtype == pl.Float32:
            casts[name] = pl.Float64()
    return df.cast(casts) if casts else df


def _run_polars(query: Query, data_dir: str | Path, values: dict[str, Any] | None) -> pl.DataFrame:
    from tierlens.store import scan

    return _sql_polars(query, scan(data_dir), values)


def _sql_polars(query: Query, lf: pl.LazyFrame, values: dict[str, Any] | None) -> pl.DataFrame:
    sql = query.render("duckdb", values, pretty=False)
    try:
        return pl.SQLContext(requests=lf).execute(sql, eager=True)
    except (pl.exceptions.SQLInterfaceError, pl.exceptions.SQLSyntaxError, pl.exceptions.ComputeError) as exc:
        raise QueryError(f"{query.name} (polars): {exc}") from None


def _snapshot_base(data_dir: str | Path) -> Path:
    """The directory of the committed snapshot the other engines read (see `tierlens.store.snapshot`)."""
    from tierlens.store.layout import Layout
    from tierlens.store.snapshot import snapshot_files

    return snapshot_files(Layout(Path(data_dir)))[0]


def _parquet_glob(data_dir: str | Path) -> str:
    return str(_snapshot_base(data_dir) / f"{PARTITION_COLUMN}=*" / "*.parquet")


def _run_duckdb(query: Query, data_dir: str | Path, values: dict[str, Any] | None) -> pl.DataFrame:
    import duckdb

    con = duckdb.connect()
    try:
        if is_remote(data_dir):  # the Delta table's files, listed by its log, as one Arrow dataset
            con.register("requests", _delta_dataset(data_dir))
        else:
            glob = exp.Literal.string(_parquet_glob(data_dir)).sql("duckdb")  # quoted by sqlglot, not by hand
            con.sql(
                f"CREATE VIEW requests AS SELECT * FROM read_parquet({glob}, hive_partitioning = true, "
                "hive_types = {'date': DATE})"
            )
        out = pl.from_arrow(con.sql(query.render("duckdb", values, pretty=False)).to_arrow_table())
    except duckdb.Error as exc:
        raise QueryError(f"{query.name} (duckdb): {exc}") from None
    finally:
        con.close()
    assert isinstance(out, pl.DataFrame)
    return out


def _delta_dataset(url: str | Path) -> Any:
    """The object-store table's newest version as a pyarrow dataset (what DuckDB scans)."""
    from tierlens.store.delta import DeltaStore

    store = DeltaStore(str(url))
    dt = store.table()
    if dt is None:
        store.require(requests=True)
    return dt.to_pyarrow_dataset() if dt is not None else None


def _run_spark(query: Query, data_dir: str | Path, values: dict[str, Any] | None) -> pl.DataFrame:
    from tierlens.spark import spark_session

    if is_remote(data_dir):
        raise QueryError(
            f"the spark engine reads local datasets; on a cluster, read {data_dir}/requests with Spark's "
            "Delta connector (spark.read.format('delta')) and run `tierlens query NAME --dialect spark --print`"
        )
    spark = spark_session("local[2]")
    base = str(_snapshot_base(data_dir))
    spark.read.option("basePath", base).parquet(base).createOrReplaceTempView("requests")
    result = spark.sql(query.render("spark", values, pretty=False))
    rows = [r.asDict() for r in result.collect()]
    schema = {f.name: _spark_dtype(f.dataType.simpleString()) for f in result.schema.fields}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _spark_dtype(name: str) -> pl.DataType:
    if name in ("bigint", "int", "smallint", "tinyint"):
        return pl.Int64()
    if name == "double" or name == "float" or name.startswith("decimal"):
        return pl.Float64()
    if name == "date":
        return pl.Date()
    if name.startswith("timestamp"):
        return pl.Datetime("us", "UTC")
    if name == "boolean":
        return pl.Boolean()
    return pl.String()
