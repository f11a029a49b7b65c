"""The types of the reader machinery shared by every log format: JSON lines, JSON documents and CSV.

A reader declares the raw fields it needs (`RawField`: a dotted path and a kind) and how to turn
them into canonical rows (`Reader.to_canonical`, polars expressions). The machinery does the rest,
in four modules: `inputs.py` streams the input in newline-aligned chunks (bounded memory, `.gz`
and stdin included) and sniffs its shape; `parse.py` parses each chunk, through `fastscan.py`
and `records.py`; `exprs.py` holds the polars expressions readers share. A chunk is parsed twice
at most:

1. *fast path*: DuckDB's JSON reader with an explicit schema built from the fields (vectorized,
   multi-threaded); message text is never materialized except inside `json` fields we reduce;
2. *exact path*, for any chunk the fast path refuses (bad JSON, wrong nesting, blank lines): a
   per-line parse that keeps every good line and rejects each bad one with its line number and
   reason.

Both paths yield the same *raw frame* (one String column per field, JSON-typed leaves as JSON
text), so type checks and the canonical mapping are written once, as polars expressions. The
quarantine keeps file, line, reason, length and a SHA-256 of a rejected line, never its text.

Inputs come in three shapes, sniffed from the first bytes (`read_input`):
- *JSON lines* (the big request logs): chunked and parsed as above;
- *JSON documents*: a file that is one JSON value, a JSON array, or several pretty-printed values
  (a saved API page, a LiteLLM `/spend/logs` export). Each top-level value, or each element of a
  top-level array, becomes a record that keeps the line it starts on;
- *CSV* (a LiteLLM export, a custom `[sources.NAME]` mapping): read with the `csv` module so a
  quoted multi-line cell keeps every later row's line number exact; cells are strings, coerced to
  the kind each field asks for (`"12"` is an integer, a `{...}` cell is JSON).

A record may hold many rows (an Admin API page of buckets, an OTLP export of spans): the reader's
`explode` hook splits it before the shared field extraction, so type checks, rejects and the
quarantine stay written once; every row of a record keeps the record's line, and a reject reason
names the row (`data[0].results[3]: missing model`). Such readers take the exact path only.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl

from tierlens.errors import SourceError

Kind = Literal["str", "int", "num", "bool", "json", "strlist"]
Shape = Literal["jsonl", "json", "csv"]
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
    label: str | None = None
    """How reject reasons name the field when `path` is not what the log calls it (an OTel attribute)."""
    loose: bool = False
    """A non-object on the way to the field means the field is absent, not a bad record (a path a
    reader probes for one shape of record, such as a stream event's `message`, that other records
    use for something else)."""

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    @property
    def shown(self) -> str:
        return self.label or self.path


@dataclass(frozen=True)
class FilePart:
    """One file of a chunk that joins several small files (see `Reader.joins_files`)."""

    start: int
    """The file's first line as a line of the joined chunk."""
    source_file: str
    path: Path | None
    first_line: int = 1
    """The number of that line in the file itself."""


@dataclass(frozen=True)
class Context:
    """What a reader knows about the input beyond its lines."""

    source_file: str
    path: Path | None
    ingest_id: str
    options: dict[str, Any] = field(default_factory=dict)
    parts: tuple[FilePart, ...] = ()
    """The files of a joined chunk, in order (empty: the chunk is of `source_file` alone). Rows
    then carry `_file`, their part's index, and a reader asks `of_file` for what it takes from
    a file's path."""

    def of_file(self, value: Callable[[FilePart], str | None]) -> pl.Expr:
        """`value` of each row's file (its path's project, its name...), as a string column."""
        if not self.parts:
            return pl.lit(value(FilePart(1, self.source_file, self.path)), pl.String)
        by_part = pl.Series([value(p) for p in self.parts], dtype=pl.String)
        return pl.lit(by_part).gather(pl.col("_file"))

    def file_column(self, raw: pl.DataFrame) -> pl.DataFrame:
        """`raw` (numbered by `_line` in the chunk) with `_file`, its row's part, when the chunk joins files."""
        if not self.parts:
            return raw
        starts = pl.Series([p.start for p in self.parts], dtype=pl.Int64)
        return raw.with_columns(
            _file=pl.lit(starts).search_sorted(pl.col("_line"), side="right").cast(pl.Int64) - 1
        )

    def where(self, line: int) -> tuple[str, int]:
        """The file and its own line number of the chunk's `line`."""
        if not self.parts:
            return self.source_file, line
        p = self.parts[bisect.bisect_right([q.start for q in self.parts], line) - 1]
        return p.source_file, line - p.start + p.first_line

    def located(self, reject: dict[str, Any]) -> dict[str, Any]:
        """A reject (`line` of the chunk) with its `file` and that file's own `line`."""
        file, line = self.where(reject["line"])
        return {**reject, "file": file, "line": line}


@dataclass
class Parsed:
    """The outcome of one chunk: canonical rows, skipped lines by reason, rejected lines."""

    rows: pl.DataFrame
    skipped: dict[str, int]
    rejects: list[dict[str, Any]]
    lines: int
    path_used: str = "fast"
    records: int = -1
    """Records accounted for: rows + skipped + rejects (a line of JSON lines is one record; a
    document or a CSV row may differ from the physical lines). Defaults to `lines`."""
    notes: dict[str, int] = field(default_factory=dict)
    """Rows kept and priced as logged, about which the summary must say something (a reader's
    `_note` column: e.g. an instrumentation known to leave cache tokens out)."""
    pending: pl.DataFrame | None = None
    """Stream events (canonical columns plus `_event`, `_stream_seq`, `_stream_key`) still to be
    merged into their requests by `assemble_streams`; counted in `records`, not yet in `rows`."""
    deferred: pl.DataFrame | None = None
    """Canonical rows to add after every other file of the ingest (a reader's `_deferred` rows):
    copies of a record that a better one in another file supersedes when there is one (a Claude
    Code parent's relayed copy of a subagent's call, whose own transcript holds the final usage)."""

    def __post_init__(self) -> None:
        if self.records < 0:
            self.records = self.lines


@dataclass(frozen=True)
class Record:
    """One decoded input record: a JSON line, a value of a JSON document, or a CSV row."""

    line: int
    value: Any
    text: bytes
    """The record's bytes as read (hashed into the quarantine, never stored)."""
    error: str | None = None
    """Why the record could not be decoded (then `value` is None and the record is rejected)."""


@dataclass
class Batch:
    """A unit of input parsed at once: a chunk of JSON lines, or decoded records."""

    first_line: int
    lines: int
    chunk: bytes | None = None
    records: list[Record] | None = None
    blank: int = 0


@dataclass
class Input:
    """An opened input: its shape, its batches, and the first decoded records (for detection)."""

    shape: Shape
    batches: Iterator[Batch]
    samples: Sequence[Any]


class RecordError(SourceError, ValueError):
    """Raised by `Reader.explode` for a record of the wrong structure: the record is rejected with
    this reason (one line's reject, never the file's; a ValueError too, as a bad value is)."""


class SkipRecord(SourceError):
    """Raised by `Reader.explode` for a record that holds no usage (counted under this reason;
    caught per record, never reaching a user)."""


class Reader:
    """A log format. Subclasses set `name`, `fields` and implement `to_canonical`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    fast_path: ClassVar[bool] = True
    """False for readers that explode records in Python: every chunk then takes the exact path."""
    shape: Shape | None = None
    """Input shape this reader insists on (a CSV mapping); None = sniffed from the content."""
    delimiter: str | None = None
    """CSV delimiter; None = sniffed from the header."""
    whole_file: ClassVar[bool] = False
    """True when `prepare` must see a whole file at once (copies of one response that may lie far
    apart): the file is then parsed as one chunk, whatever `chunk_bytes` says. For formats whose
    files stay small (a Claude Code session)."""
    joins_files: ClassVar[bool] = False
    """True when small files of this format may be parsed as one chunk (a Claude Code tree is
    thousands of files of a few kilobytes; parsing each alone costs more than its bytes): the
    reader then takes what it needs from a file's path through `Context.of_file`, and `prepare`
    keeps each file apart (rows carry `source_file`). A file's rows are the same either way."""

    def fields(self) -> Sequence[RawField]:
        raise NotImplementedError

    def fields_for(self, chunk: bytes) -> Sequence[RawField]:
        """The fields to parse a chunk of JSON lines with: `fields()`, or fewer when the chunk shows
        it cannot hold some shapes (every field is a column DuckDB must build)."""
        return self.fields()

    def explode(self, obj: dict[str, Any]) -> Iterable[tuple[str | None, dict[str, Any]]]:
        """Split one decoded record into row objects, each with a label for reject reasons (None for
        the record itself). Raise `RecordError` to reject the record, `SkipRecord` to skip it."""
        return ((None, obj),)

    def claims_path(self, path: Path | None) -> bool:
        """True when this reader is configured for the file by name (checked before content)."""
        return False

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        """Map a typed raw frame (plus `_line`) to canonical columns plus `_skip` and `_reject` reasons.

        Rows whose `_reject` is set are quarantined; rows whose `_skip` is set are counted and
        dropped (blank lines, streaming events, error responses); the rest are stored.
        """
        raise NotImplementedError

    def early_skip(self) -> pl.Expr | None:
        """A skip reason read from the typed raw fields alone, for rows `to_canonical` would skip
        whatever else they hold (a line with no usage): they leave before the mapping, counted
        under the same reason. None: every row is mapped."""
        return None

    def sniff(self, obj: dict[str, Any]) -> bool:
        """True when a decoded line looks like this format (used by format detection)."""
        raise NotImplementedError

    def prepare(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Reader-specific clean-up of a chunk's accepted rows (e.g. duplicate resolution)."""
        return rows

    def complete(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Finish rows merged from stream events (`tierlens.sources.streams`): canonical columns out."""
        return rows
