"""The fast path: DuckDB's JSON reader over a whole chunk, with an explicit schema built from the
reader's fields (vectorized; message text is never materialized), and the rows it read that the
exact path must check again."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

import polars as pl

from tierlens.sources.base import _DUCK_TYPES, RawField


def suspect_rows(raw: pl.DataFrame, fields: Sequence[RawField]) -> list[int]:
    """Lines the fast path cannot vouch for: a string field that may hold an object or array
    DuckDB turned into text, or no field at all."""
    checks: list[pl.Expr] = []
    for f in fields:
        if f.kind == "str":
            checks.append(_opens_json(pl.col(f.path)))
        elif f.kind == "strlist":
            inner = pl.col(f.path).list.eval(_opens_json(pl.element()))
            checks.append(inner.list.any().fill_null(False))
    # a row with no field at all may be a line that is no object (`null`): the exact path says which
    checks.append(pl.all_horizontal([pl.col(f.path).is_null() for f in fields]))
    # the mask alone, then the line numbers: filtering the frame would copy every column first
    suspect = raw.select(pl.any_horizontal(checks)).to_series()
    return raw["_line"].filter(suspect).to_list() if suspect.any() else []


def _opens_json(text: pl.Expr) -> pl.Expr:
    """Text that starts with `{` or `[` (prefix tests: a regex costs several times more)."""
    return (text.str.starts_with("{") | text.str.starts_with("[")).fill_null(False)


def _duck_columns(fields: Sequence[RawField]) -> dict[str, str]:
    """DuckDB `columns=` for read_json: nested STRUCT types built from the dotted paths."""
    tree: dict[str, Any] = {}
    for f in fields:
        node = tree
        for part in f.parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ValueError(f"field {f.path} conflicts with a leaf field")
            node = nxt
        if isinstance(node.get(f.parts[-1]), dict):
            raise ValueError(f"field {f.path} conflicts with a nested field")
        node[f.parts[-1]] = _DUCK_TYPES[f.kind]

    def render(v: Any) -> str:
        if isinstance(v, str):
            return v
        inner = ", ".join(f"{_quote(k)} {render(t)}" for k, t in v.items())
        return f"STRUCT({inner})"

    return {k: render(v) for k, v in tree.items()}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_DUCK = threading.local()


def share_cores(workers: int) -> None:
    """Say that this thread parses beside `workers - 1` others: its DuckDB connection then takes its
    share of the cores rather than all of them each (threads that outnumber the cores contend)."""
    _DUCK.threads = max(1, (os.cpu_count() or 1) // workers)


def _duck_connection() -> Any:
    """One in-memory DuckDB connection per thread, reused across chunks (opening one costs ~0.1 s)."""
    import duckdb

    con = getattr(_DUCK, "con", None)
    if con is None:
        threads = getattr(_DUCK, "threads", None)
        con = _DUCK.con = duckdb.connect(config={"threads": threads} if threads else {})
    return con


def fast_raw(chunk: bytes, fields: Sequence[RawField], spill_dir: str | None = None) -> pl.DataFrame | None:
    """Parse a chunk with DuckDB; None when DuckDB refuses it (the exact path then takes over).

    DuckDB reads the chunk from a file: it goes in `spill_dir` (an ingest's own staging directory,
    which the next run deletes whatever killed this one), else the system's temporary directory.
    """
    import duckdb

    columns = _duck_columns(fields)
    # the top-level columns, nested structs and all: polars takes a field out of a struct without
    # a copy, where DuckDB would copy each one out (a fifth of the scan). No CAST: a JSON column
    # reaches Arrow as its text already, and casting it to VARCHAR would render every value again
    select = ", ".join(_quote(name) for name in columns)
    with tempfile.NamedTemporaryFile(suffix=".jsonl", dir=spill_dir) as tmp:
        tmp.write(chunk)
        tmp.flush()
        con = _duck_connection()
        try:
            rel = con.sql(
                f"SELECT {select} FROM read_json($path, format='newline_delimited', columns=$columns, "
                f"maximum_object_size=$size, ignore_errors=false)",
                # 16 MiB per record: larger limits slow DuckDB down by half; a longer line sends
                # the chunk to the exact path, which has no limit
                params={"path": tmp.name, "columns": columns, "size": 16 * 1024 * 1024},
            )
            table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        except (duckdb.Error, UnicodeDecodeError):
            # DuckDB refused the chunk (its message may itself be cut inside a UTF-8 character)
            return None
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df.select(
        _leaf(f.parts).cast(pl.List(pl.String) if f.kind == "strlist" else pl.String).alias(f.path)
        for f in fields
    )


def _leaf(parts: Sequence[str]) -> pl.Expr:
    """The value at a dotted path of nested struct columns."""
    expr = pl.col(parts[0])
    for part in parts[1:]:
        expr = expr.struct.field(part)
    return expr
