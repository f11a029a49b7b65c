"""The exact path: records decoded one by one (as DuckDB would read them), their fields extracted
and coerced to the kinds the reader asks for, each bad one rejected with its line and reason; the
quarantine keeps of a rejected line its file, line, reason, length and SHA-256, never its text."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import polars as pl

from tierlens.sources.base import RawField, Reader, Record, RecordError, SkipRecord
from tierlens.sources.fastscan import fast_raw, suspect_rows


def rejected_line(source_file: str, line: int, reason: str, text: bytes) -> dict[str, Any]:
    return {
        "file": source_file,
        "line": line,
        "reason": reason,
        "bytes": len(text),
        "sha256": hashlib.sha256(text).hexdigest(),
    }


def decode_lines(chunk: bytes, first_line: int) -> tuple[list[Record], int]:
    """Per-line decode of JSON lines: (records, each decoded or with its error; blank lines)."""
    records: list[Record] = []
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
            obj = loads_like_duckdb(line)
        except UnicodeDecodeError:
            records.append(Record(ln, None, line, error="invalid UTF-8"))
            continue
        except ValueError as exc:
            records.append(Record(ln, None, line, error=json_reason(exc)))
            continue
        except RecursionError:
            records.append(Record(ln, None, line, error=TOO_DEEP))
            continue
        records.append(Record(ln, obj, line))
    return records, blank


class _Digits(str):
    """An integer literal too long for Python's int() (over 4,000 digits), kept as its digits."""


def _int(text: str) -> int | _Digits:
    return int(text) if len(text) <= 4000 else _Digits(text)


_TRAILING_COMMAS = 10_000


def loads_like_duckdb(line: bytes) -> Any:
    """`json.loads`, accepting what the fast path (DuckDB) accepts, so that both paths keep and
    reject the same lines: NaN and Infinity, integers of any length, and trailing commas. A byte
    order mark opening a line (files concatenated with `cat`) is ignored, as at the start of a file."""
    text = line.decode("utf-8").removeprefix("\ufeff")
    for _ in range(_TRAILING_COMMAS):
        try:
            return json.loads(text, parse_int=_int)
        except json.JSONDecodeError as exc:
            comma = _trailing_comma(exc)
            if comma is None:
                raise
            text = text[:comma] + " " + text[comma + 1 :]
    raise ValueError("invalid JSON: too many trailing commas")


def _trailing_comma(exc: json.JSONDecodeError) -> int | None:
    """Where the comma is when the decoder failed on a `}` or `]` that follows one."""
    doc, pos = exc.doc, exc.pos
    if pos >= len(doc) or doc[pos] not in "}]":
        return None
    before = doc[:pos].rstrip()
    return len(before) - 1 if before.endswith(",") else None


_INVALID_JSON = "invalid JSON: "


def json_reason(exc: ValueError, with_line: bool = False) -> str:
    """The reject reason for JSON that does not decode, `invalid JSON: ...` once, with where the
    decoder stopped ("at column 7"; "at line 3 column 7" inside a document of several lines)."""
    if isinstance(exc, json.JSONDecodeError):
        # the decoder's own message may end in "at" ("Unterminated string starting at")
        where = f"line {exc.lineno} column {exc.colno}" if with_line else f"column {exc.colno}"
        return f"{_INVALID_JSON}{exc.msg.removesuffix(' at')} at {where}"
    text = str(exc)  # this module's own checks raise their reason already worded
    return text if text.startswith(_INVALID_JSON) else _INVALID_JSON + text


TOO_DEEP = "invalid JSON: nested too deeply"
"""Python's decoder gives up past ~1,000 levels where DuckDB does not: a fast-path reader then
reads the line with DuckDB on either path (`_deep_raw`), so that both classify it alike."""


_EXPLODE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError)


def records_raw(
    reader: Reader,
    records: Sequence[Record],
    fields: Sequence[RawField],
    lenient: bool,
    spill_dir: str | None = None,
) -> tuple[pl.DataFrame, list[dict[str, Any]], Counter[str]]:
    """Raw frame of the rows of good records (with `_line`, `_rec`, `_where`), rejects, skipped records."""
    cols: dict[str, list[Any]] = {f.path: [] for f in fields}
    line_numbers: list[int] = []
    positions: list[int] = []
    wheres: list[str | None] = []
    rejects: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    deep: list[tuple[int, Record]] = []
    for i, rec in enumerate(records):
        try:
            rows = _record_rows(reader, rec, fields, lenient)
        except SkipRecord as exc:
            skipped[str(exc)] += 1
            continue
        except RecordError as exc:
            rejects.append(rejected_line("", rec.line, str(exc), rec.text))
            continue
        except RecursionError:
            deep.append((i, rec))
            continue
        for where, values in rows:
            for f, v in zip(fields, values, strict=True):
                cols[f.path].append(v)
            line_numbers.append(rec.line)
            positions.append(i)
            wheres.append(where)
    schema = {f.path: (pl.List(pl.String) if f.kind == "strlist" else pl.String) for f in fields}
    raw = pl.DataFrame(cols, schema=schema).with_columns(
        _line=pl.Series(line_numbers, dtype=pl.Int64),
        _rec=pl.Series(positions, dtype=pl.Int64),
        _where=pl.Series(wheres, dtype=pl.String),
    )
    if deep:
        raw, more = _deep_raw(reader, raw, deep, fields, spill_dir)
        rejects.extend(more)
    return raw, rejects, skipped


def _record_rows(
    reader: Reader, rec: Record, fields: Sequence[RawField], lenient: bool
) -> list[tuple[str | None, list[Any]]]:
    """One record's rows as (label, field values); raises RecordError for a reject, SkipRecord for a
    skip and RecursionError for a record too deep for Python (see `TOO_DEEP`)."""
    if rec.error == TOO_DEEP:
        raise RecursionError
    if rec.error is not None:
        raise RecordError(rec.error)
    obj = rec.value
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {_jtype(obj)}")
    try:
        exploded = list(reader.explode(obj))
    except (SkipRecord, RecordError, RecursionError):
        raise
    except _EXPLODE_ERRORS as exc:  # a structure the reader did not foresee: reject, never crash
        raise RecordError(f"unexpected record structure ({exc})") from None
    if not exploded:
        raise SkipRecord("record without usage rows")
    out: list[tuple[str | None, list[Any]]] = []
    for where, sub in exploded:
        values: list[Any] = []
        for f in fields:
            value, error = _extract(sub, f, lenient)
            if error:
                raise RecordError(f"{where}: {error}" if where else error)
            values.append(value)
        out.append((where, values))
    return out


def _deep_raw(
    reader: Reader,
    raw: pl.DataFrame,
    deep: Sequence[tuple[int, Record]],
    fields: Sequence[RawField],
    spill_dir: str | None,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Rows of the records too deep for Python, read by DuckDB as the fast path reads a chunk (a
    string field holding text that starts with `{` or `[` counts as an object here): all of them
    in one read, or one by one when DuckDB refuses that read; a reader without a fast path
    rejects them."""
    if not reader.fast_path:
        return raw, [rejected_line("", rec.line, TOO_DEEP, rec.text) for _, rec in deep]
    ones = _deep_reads([rec.text for _, rec in deep], fields, spill_dir)
    frames = {k: one for k, one in enumerate(ones) if one is not None and one.height == 1}
    good = list(frames)
    if not good:
        return raw, [rejected_line("", rec.line, TOO_DEEP, rec.text) for _, rec in deep]
    read = pl.concat(list(frames.values()), how="vertical_relaxed").with_columns(
        _line=pl.Series([deep[k][1].line for k in good], dtype=pl.Int64),
        _rec=pl.Series([deep[k][0] for k in good], dtype=pl.Int64),
        _where=pl.lit(None, pl.String),
    )
    suspect, readable = set(suspect_rows(read, fields)), set(good)
    rejects = [
        rejected_line("", rec.line, TOO_DEEP, rec.text)
        if k not in readable
        else rejected_line("", rec.line, "a string field holds an object or array", rec.text)
        for k, (_, rec) in enumerate(deep)
        if k not in readable or rec.line in suspect
    ]
    read = read.filter(~pl.col("_line").is_in(list(suspect)))
    return pl.concat([raw, read], how="vertical_relaxed").sort("_line", maintain_order=True), rejects


def _deep_reads(
    lines: list[bytes], fields: Sequence[RawField], spill_dir: str | None
) -> list[pl.DataFrame | None]:
    """DuckDB's rows of each line: one read of them all, else (DuckDB refused a line) one read each."""
    if not any(b"\n" in t for t in lines):
        together = fast_raw(b"\n".join(lines), fields, spill_dir)
        if together is not None and together.height == len(lines):  # a row per line, in order
            return [together.slice(k, 1) for k in range(len(lines))]
    return [fast_raw(t, fields, spill_dir) for t in lines]


def no_constants(name: str) -> Any:
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


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _extract(obj: dict[str, Any], f: RawField, lenient: bool = False) -> tuple[Any, str | None]:
    """The field's raw value as the fast path would render it, or an error like DuckDB's refusal.

    `lenient` (CSV): a flat key equal to the whole dotted path wins, a string holding a JSON object
    is descended into, and string leaves are coerced to the field's kind (`_coerce`).
    """
    node: Any = obj
    parts = f.parts
    if lenient and f.path in obj:
        node = obj[f.path]
    else:
        for depth, part in enumerate(parts):
            if lenient and isinstance(node, str):
                node = _json_or_none(node) if node.strip() else None
            if node is None or (f.loose and not isinstance(node, dict)):
                return None, None
            if not isinstance(node, dict):
                where = ".".join(parts[:depth])
                return None, f"{where}: expected an object, got {_jtype(node)}"
            node = node.get(part)
    if lenient and isinstance(node, str):
        return _coerce(node, f)
    if node is None:
        return None, None
    if isinstance(node, _Digits):  # as DuckDB renders a number: its digits
        return str(node), None
    if f.kind == "str":
        if isinstance(node, (dict, list)):  # an id or a name is never an object: refuse, not stringify
            return None, f"{f.shown}: expected a string, got an {_jtype(node)}"
        return _utf8(node if isinstance(node, str) else _compact(node)), None
    if f.kind == "strlist":
        if not isinstance(node, list):
            return None, f"{f.shown}: expected an array, got {_jtype(node)}"
        out = []
        for item in node:
            if isinstance(item, (dict, list)):
                return None, f"{f.shown}: expected an array of strings, got an {_jtype(item)} inside"
            out.append(_utf8(item) if isinstance(item, str) else None if item is None else _compact(item))
        return out, None
    return _utf8(_compact(node)), None


def _utf8(text: str) -> str:
    """`text`, with any lone UTF-16 surrogate (an emoji cut in half by a truncated stream: `"\\ud83d"`)
    replaced by U+FFFD, so that it can be stored as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return text


def _coerce(text: str, f: RawField) -> tuple[Any, str | None]:
    """A CSV cell (always a string) as the JSON text a JSON log would have given for `f`."""
    s = text.strip()
    if not s:
        return None, None
    if f.kind == "str":
        return text, None
    if f.kind in ("int", "num"):
        # the type check in `typed_raw` then accepts or rejects the number exactly as for JSON
        return (s, None) if _NUMBER.match(s) else (_compact(text), None)
    if f.kind == "bool":
        low = s.lower()
        return ("true", None) if low == "true" else ("false", None) if low == "false" else (_compact(s), None)
    value = _json_or_none(s)
    if f.kind == "json":
        return _compact(value), None
    if not isinstance(value, list):  # strlist: a JSON array in the cell
        return None, f"{f.shown}: expected an array, got {_jtype(value)}"
    return _extract({f.path: value}, RawField(f.path, "strlist"), lenient=True)


def json_kind(text: pl.Expr) -> pl.Expr:
    """What a raw JSON value is, as reject reasons name it: never the value itself, which can be
    message text."""
    t = text.str.strip_chars()
    return (
        pl.when(t.str.starts_with('"'))
        .then(pl.lit("a string"))
        .when(t.str.starts_with("{"))
        .then(pl.lit("an object"))
        .when(t.str.starts_with("["))
        .then(pl.lit("an array"))
        .when(t.is_in(["true", "false"]))
        .then(pl.lit("a boolean"))
        .when(t.str.contains(r"^-?[\d.]"))
        .then(pl.lit("a number"))
        .otherwise(pl.lit("another value"))
    )


def typed_raw(raw: pl.DataFrame, fields: Sequence[RawField]) -> pl.DataFrame:
    """Cast JSON-text leaves to their kinds; a value of the wrong JSON type sets `_type_error`.

    Each cast is computed once, beside the text it checks against; the reasons are worded only
    when some value is of the wrong type (naming a value's JSON type costs several string passes
    per field, and nearly every chunk has no such value)."""
    casts: dict[str, pl.Expr] = {}  # a field's cast, under a temporary name while its text is checked
    checks: list[tuple[pl.Expr, RawField, str]] = []  # (the value is wrong, its field, what was expected)
    for i, f in enumerate(fields):
        c, cast = pl.col(f.path), pl.col(f"_cast{i}")
        if f.kind == "int":
            # the text of a JSON value: a JSON integer is what parses as one (JSON has no `+5`)
            casts[f.path] = c.str.to_integer(strict=False)
            checks.append((c.is_not_null() & cast.is_null(), f, "an integer"))
            if _is_count(f):  # whatever the reader makes of it, no real count is this large
                checks.append(((cast > MAX_COUNT).fill_null(False), f, ""))
        elif f.kind == "num":
            is_num = c.str.contains(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
            casts[f.path] = pl.when(is_num).then(c.cast(pl.Float64, strict=False))
            checks.append((c.is_not_null() & cast.is_null(), f, "a number"))
        elif f.kind == "bool":
            val = pl.when(c == "true").then(True).when(c == "false").then(False).otherwise(None)
            casts[f.path] = val.cast(pl.Boolean)
            checks.append((c.is_not_null() & cast.is_null(), f, "true or false"))
    none = pl.lit(None, pl.String).alias("_type_error")
    if not casts:
        return raw.with_columns(none)
    temp = {path: f"_cast{i}" for i, f in enumerate(fields) if (path := f.path) in casts}
    out = raw.with_columns(**{temp[path]: expr for path, expr in casts.items()})
    if out.select(pl.any_horizontal([bad for bad, _, _ in checks]).any()).item():
        why = pl.coalesce([pl.when(bad).then(_why(f, expected)) for bad, f, expected in checks])
        why = why.cast(pl.String)
        out = out.with_columns(why.alias("_type_error"))
    else:
        out = out.with_columns(none)
    columns = [pl.col(temp[c]).alias(c) if c in temp else pl.col(c) for c in raw.columns]
    return out.select(*columns, "_type_error")


def _why(f: RawField, expected: str) -> pl.Expr:
    """The reason a value of `f` is wrong: not the `expected` JSON type (none: a count too large)."""
    if not expected:
        return pl.lit(f"{f.shown}: a count above 10^15")
    return pl.format(f"{f.shown}: expected {expected}, got {{}}", json_kind(pl.col(f.path)))


MAX_COUNT = 10**15
"""No token or request count of a log, even a usage-report bucket's, is above this (10^15)."""


def _is_count(f: RawField) -> bool:
    leaf = f.parts[-1].lower()
    return "token" in leaf or leaf.endswith("requests")
