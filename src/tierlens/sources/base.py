"""The reader machinery shared by every JSON-lines log format.

A reader declares the raw fields it needs (`RawField`: a dotted path and a kind) and how to turn
them into canonical rows (`Reader.to_canonical`, polars expressions). This module does the rest:
it streams the input in newline-aligned chunks (bounded memory, `.gz` and stdin included) and
parses each chunk twice at most:

1. *fast path*: DuckDB's JSON reader with an explicit schema built from the fields (vectorized,
   multi-threaded); message text is never materialized except inside `json` fields we reduce;
2. *exact path*, for any chunk the fast path refuses (bad JSON, wrong nesting, blank lines): a
   per-line parse that keeps every good line and rejects each bad one with its line number and
   reason.

Both paths yield the same *raw frame* (one String column per field, JSON-typed leaves as JSON
text), so type checks and the canonical mapping are written once, as polars expressions. The
quarantine keeps file, line, reason, length and a SHA-256 of a rejected line, never its text.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import polars as pl

from tierlens.errors import SourceError
from tierlens.schema import conform

Kind = Literal["str", "int", "num", "bool", "json", "strlist"]
_DUCK_TYPES: dict[Kind, str] = {
    "str": "VARCHAR",
    "int": "JSON",
    "num": "JSON",
    "bool": "JSON",
    "json": "JSON",
    "strlist": "VARCHAR[]",
}


@dataclass(frozen=True)
class RawField:
    """A value a reader needs from each line: where it is and what JSON type it must have."""

    path: str
    kind: Kind = "str"

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


@dataclass(frozen=True)
class Context:
    """What a reader knows about the input beyond its lines."""

    source_file: str
    path: Path | None
    ingest_id: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Parsed:
    """The outcome of one chunk: canonical rows, skipped lines by reason, rejected lines."""

    rows: pl.DataFrame
    skipped: dict[str, int]
    rejects: list[dict[str, Any]]
    lines: int
    path_used: str = "fast"


class Reader:
    """A log format. Subclasses set `name`, `fields` and implement `to_canonical`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def fields(self) -> Sequence[RawField]:
        raise NotImplementedError

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        """Map a typed raw frame (plus `_line`) to canonical columns plus `_skip` and `_reject` reasons.

        Rows whose `_reject` is set are quarantined; rows whose `_skip` is set are counted and
        dropped (blank lines, streaming events, error responses); the rest are stored.
        """
        raise NotImplementedError

    def sniff(self, obj: dict[str, Any]) -> bool:
        """True when a decoded line looks like this format (used by format detection)."""
        raise NotImplementedError

    def prepare(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Reader-specific clean-up of a chunk's accepted rows (e.g. duplicate resolution)."""
        return rows


# --- input streams -----------------------------------------------------------------------------


def open_input(source: str | Path, stdin: IO[bytes] | None = None) -> IO[bytes]:
    """Open a file (gzip detected by magic bytes) or `-` for stdin, as a binary stream."""
    if str(source) == "-":
        raw = stdin if stdin is not None else sys.stdin.buffer
        peek = raw.read(2)
        stream: IO[bytes] = io.BufferedReader(_Prefixed(peek, raw))
        if peek == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
        return stream
    path = Path(source)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from None
    if fh.read(2) == b"\x1f\x8b":
        fh.seek(0)
        return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
    fh.seek(0)
    return fh


class _Prefixed(io.RawIOBase):
    """A raw stream that replays a few already-read bytes before the rest."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def iter_chunks(stream: IO[bytes], size: int) -> Iterator[tuple[int, bytes]]:
    """Yield (number of the chunk's first line, bytes ending at a newline) from a stream."""
    line = 1
    rest = b""
    first = True
    while True:
        try:
            block = stream.read(size)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"input ends unreadably after line {line}: {exc}") from None
        if first and block.startswith(b"\xef\xbb\xbf"):
            block = block[3:]
        first = False
        if not block:
            if rest:
                yield line, rest
            return
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        chunk, rest = block[: cut + 1], block[cut + 1 :]
        yield line, chunk
        line += chunk.count(b"\n")


# --- parsing -----------------------------------------------------------------------------------


def parse_chunk(
    reader: Reader, chunk: bytes, first_line: int, ctx: Context, *, force_exact: bool = False
) -> Parsed:
    """Parse one chunk into canonical rows, through the fast path when it accepts the chunk."""
    fields = list(reader.fields())
    n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    raw: pl.DataFrame | None = None
    path_used = "fast"
    if not force_exact:
        raw = _fast_raw(chunk, fields)
        if raw is not None and raw.height != n_lines:
            raw = None  # blank lines shift DuckDB's rows against our line numbers
    skipped: dict[str, int] = {}
    rejects: list[dict[str, Any]] = []
    if raw is not None:
        raw = raw.with_columns(_line=pl.int_range(first_line, first_line + raw.height, dtype=pl.Int64))
    else:
        path_used = "exact"
        raw, blank, bad = _exact_raw(chunk, first_line, fields)
        if blank:
            skipped["blank line"] = blank
        rejects.extend({**r, "file": ctx.source_file} for r in bad)
    typed = _typed(raw, fields)
    out = reader.to_canonical(typed, ctx)
    reason = pl.coalesce(pl.col("_type_error"), pl.col("_reject"))
    out = out.with_columns(_reject=reason)
    bad_rows = out.filter(pl.col("_reject").is_not_null()).select("_line", "_reject")
    if bad_rows.height:
        lines = _line_index(chunk)
        for ln, why in bad_rows.iter_rows():
            rejects.append(_reject(ctx.source_file, ln, why, lines[ln - first_line]))
    rest = out.filter(pl.col("_reject").is_null())
    for why, count in rest.filter(pl.col("_skip").is_not_null()).group_by("_skip").len().iter_rows():
        skipped[why] = skipped.get(why, 0) + count
    kept = rest.filter(pl.col("_skip").is_null())
    kept = kept.with_columns(
        source_line=pl.col("_line"),
        source_file=pl.lit(ctx.source_file),
        source=pl.lit(reader.name),
        ingest_id=pl.lit(ctx.ingest_id),
    )
    rows = reader.prepare(kept)
    dropped = kept.height - rows.height
    if dropped:
        skipped["duplicate within file"] = skipped.get("duplicate within file", 0) + dropped
    rejects.sort(key=lambda r: r["line"])
    return Parsed(rows=conform(rows), skipped=skipped, rejects=rejects, lines=n_lines, path_used=path_used)


def _line_index(chunk: bytes) -> list[bytes]:
    return chunk.split(b"\n")


def _reject(source_file: str, line: int, reason: str, text: bytes) -> dict[str, Any]:
    return {
        "file": source_file,
        "line": line,
        "reason": reason,
        "bytes": len(text),
        "sha256": hashlib.sha256(text).hexdigest(),
    }


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


_SPILL_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _fast_raw(chunk: bytes, fields: Sequence[RawField]) -> pl.DataFrame | None:
    """Parse a chunk with DuckDB; None when DuckDB refuses it (the exact path then takes over)."""
    import duckdb

    columns = _duck_columns(fields)
    select = ", ".join(
        f"CAST({'.'.join(_quote(p) for p in f.parts)} AS {'VARCHAR[]' if f.kind == 'strlist' else 'VARCHAR'})"
        f" AS {_quote(f.path)}"
        for f in fields
    )
    with tempfile.NamedTemporaryFile(suffix=".jsonl", dir=_SPILL_DIR) as tmp:
        tmp.write(chunk)
        tmp.flush()
        con = duckdb.connect()
        try:
            rel = con.sql(
                f"SELECT {select} FROM read_json($path, format='newline_delimited', columns=$columns, "
                f"maximum_object_size=$size, ignore_errors=false)",
                params={"path": tmp.name, "columns": columns, "size": max(len(chunk), 16 * 1024 * 1024)},
            )
            table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        except duckdb.Error:
            return None
        finally:
            con.close()
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df.cast({f.path: (pl.List(pl.String) if f.kind == "strlist" else pl.String) for f in fields})


def _exact_raw(
    chunk: bytes, first_line: int, fields: Sequence[RawField]
) -> tuple[pl.DataFrame, int, list[dict[str, Any]]]:
    """Per-line parse: (raw frame of good lines, blank lines, rejects with line and reason)."""
    cols: dict[str, list[Any]] = {f.path: [] for f in fields}
    line_numbers: list[int] = []
    rejects: list[dict[str, Any]] = []
    blank = 0
    lines = chunk.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, line in enumerate(lines):
        ln = first_line + i
        if not line.strip():
            blank += 1
            continue
        try:
            obj = json.loads(line, parse_constant=_no_constants)
        except UnicodeDecodeError:
            rejects.append(_reject("", ln, "invalid UTF-8", line))
            continue
        except (json.JSONDecodeError, ValueError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            col = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            rejects.append(_reject("", ln, f"invalid JSON: {msg}{col}", line))
            continue
        except RecursionError:
            rejects.append(_reject("", ln, "invalid JSON: nested too deeply", line))
            continue
        if not isinstance(obj, dict):
            rejects.append(_reject("", ln, f"expected a JSON object, got {_jtype(obj)}", line))
            continue
        values: list[Any] = []
        error = None
        for f in fields:
            value, error = _extract(obj, f)
            if error:
                break
            values.append(value)
        if error:
            rejects.append(_reject("", ln, error, line))
            continue
        for f, v in zip(fields, values, strict=True):
            cols[f.path].append(v)
        line_numbers.append(ln)
    schema = {f.path: (pl.List(pl.String) if f.kind == "strlist" else pl.String) for f in fields}
    raw = pl.DataFrame(cols, schema=schema).with_columns(_line=pl.Series(line_numbers, dtype=pl.Int64))
    return raw, blank, rejects


def _no_constants(name: str) -> Any:
    raise ValueError(f"invalid JSON: {name} is not a JSON number")


def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _compact(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _extract(obj: dict[str, Any], f: RawField) -> tuple[Any, str | None]:
    """The field's raw value as the fast path would render it, or an error like DuckDB's refusal."""
    node: Any = obj
    parts = f.parts
    for depth, part in enumerate(parts):
        if node is None:
            return None, None
        if not isinstance(node, dict):
            where = ".".join(parts[:depth])
            return None, f"{where}: expected an object, got {_jtype(node)}"
        node = node.get(part)
    if node is None:
        return None, None
    if f.kind == "str":
        if isinstance(node, str):
            return node, None
        if isinstance(node, (dict, list)):
            return _compact(node), None
        return _compact(node), None
    if f.kind == "strlist":
        if not isinstance(node, list):
            return None, f"{f.path}: expected an array, got {_jtype(node)}"
        out = []
        for item in node:
            if isinstance(item, (dict, list)):
                return None, f"{f.path}: expected an array of strings, got an {_jtype(item)} inside"
            out.append(item if isinstance(item, str) or item is None else _compact(item))
        return out, None
    return _compact(node), None


_INT = r"^-?\d+$"


def _typed(raw: pl.DataFrame, fields: Sequence[RawField]) -> pl.DataFrame:
    """Cast JSON-text leaves to their kinds; a value of the wrong JSON type sets `_type_error`."""
    casts: list[pl.Expr] = []
    errors: list[pl.Expr] = []
    for f in fields:
        val: pl.Expr
        c = pl.col(f.path)
        if f.kind == "int":
            ok = c.str.contains(_INT)
            val = pl.when(ok).then(c.str.to_integer(strict=False))
            bad = c.is_not_null() & val.is_null()
            errors.append(
                pl.when(bad).then(pl.format(f"{f.path}: expected an integer, got {{}}", c.str.slice(0, 40)))
            )
            casts.append(val.alias(f.path))
        elif f.kind == "num":
            is_num = c.str.contains(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
            val = pl.when(is_num).then(c.cast(pl.Float64, strict=False))
            bad = c.is_not_null() & val.is_null()
            errors.append(
                pl.when(bad).then(pl.format(f"{f.path}: expected a number, got {{}}", c.str.slice(0, 40)))
            )
            casts.append(val.alias(f.path))
        elif f.kind == "bool":
            val = pl.when(c == "true").then(True).when(c == "false").then(False).otherwise(None)
            bad = c.is_not_null() & val.is_null()
            errors.append(
                pl.when(bad).then(
                    pl.format(f"{f.path}: expected true or false, got {{}}", c.str.slice(0, 40))
                )
            )
            casts.append(val.cast(pl.Boolean).alias(f.path))
    out = raw.with_columns(casts) if casts else raw
    type_error = pl.coalesce(errors) if errors else pl.lit(None, pl.String)
    # computed on the raw text, before the casts replaced it
    return out.with_columns(raw.select(type_error.cast(pl.String).alias("_type_error")))


def first_of(paths: Sequence[str]) -> pl.Expr:
    """The first non-null of several raw columns (configured alternative paths)."""
    return pl.coalesce([pl.col(p) for p in paths]) if len(paths) > 1 else pl.col(paths[0])


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 (Z, offset, or naive = UTC) or epoch seconds/milliseconds -> UTC datetime."""
    t = text.str.strip_chars()
    numeric = t.str.contains(r"^\d+(\.\d+)?$")
    num = t.cast(pl.Float64, strict=False)
    micros = pl.when(num > 1e11).then(num * 1_000).otherwise(num * 1_000_000).round(0).cast(pl.Int64)
    from_epoch = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    iso = t.str.replace(r"Z$", "+00:00").str.replace(
        r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)$", "${1}T${2}+00:00"
    )
    iso = iso.str.replace(r"^(\d{4}-\d\d-\d\d)[ ]", "${1}T")
    parsed = pl.coalesce(
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC"),
        iso.str.to_datetime("%Y-%m-%dT%H:%M%:z", strict=False, time_unit="us", time_zone="UTC"),
    )
    return pl.when(numeric).then(from_epoch).otherwise(parsed)


def reject_if(*rules: tuple[pl.Expr, str | pl.Expr]) -> pl.Expr:
    """The first matching reason among (condition, reason) rules, else null."""
    return pl.coalesce(
        [
            pl.when(cond).then(reason if isinstance(reason, pl.Expr) else pl.lit(reason))
            for cond, reason in rules
        ]
    ).cast(pl.String)


def content_key(cols: Sequence[str]) -> pl.Expr:
    """A deterministic dedupe key from content, for logs that carry no id."""
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in cols], separator="|")
