"""The reader machinery shared by every log format: JSON lines, JSON documents and CSV.

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
import csv
import gzip
import hashlib
import io
import itertools
import json
import re
import sys
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import polars as pl

from tierlens.errors import SourceError
from tierlens.schema import conform

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
    samples: list[Any]


class RecordError(ValueError):
    """Raised by `Reader.explode` for a record of the wrong structure: the record is rejected with this reason."""


class SkipRecord(Exception):
    """Raised by `Reader.explode` for a record that holds no usage (counted under this reason)."""


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

    def sniff(self, obj: dict[str, Any]) -> bool:
        """True when a decoded line looks like this format (used by format detection)."""
        raise NotImplementedError

    def prepare(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Reader-specific clean-up of a chunk's accepted rows (e.g. duplicate resolution)."""
        return rows

    def complete(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Finish rows merged from stream events (`tierlens.sources.streams`): canonical columns out."""
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


def iter_chunks(stream: IO[bytes], size: int) -> Iterator[tuple[int, bytes, int]]:
    """Yield (number of the chunk's first line, bytes ending at a newline, their number of lines)
    from a stream (the lines are counted once here: a count is a pass over the bytes).

    A chunk is `size` bytes read at once plus the rest of its last line (one copy per chunk). An
    input that breaks off (a truncated `.gz`, a read error) yields its whole lines up to the
    break, then raises `SourceError` saying after which line: what was readable is not lost.
    """
    line = 1
    first = True
    while True:
        block, broken = _read_block(stream, size)
        if broken is None and block and not block.endswith(b"\n"):
            # finish the last line (a very long line just makes the chunk longer)
            rest, broken = _read_block(stream, -1, line_only=True)
            block += rest
        if broken is not None:
            block = block[: block.rfind(b"\n") + 1]
        if first and block.startswith(b"\xef\xbb\xbf"):
            block = block[3:]
        first = False
        if block:
            newlines = block.count(b"\n")
            yield line, block, newlines + (0 if block.endswith(b"\n") else 1)
            line += newlines
        if broken is not None:
            raise SourceError(f"input ends unreadably after line {line - 1}: {broken}") from None
        if not block:
            return


_STEP = 1 << 20


def _read_block(stream: IO[bytes], size: int, line_only: bool = False) -> tuple[bytes, Exception | None]:
    """Up to `size` bytes (or, `line_only`, the rest of the line), and the error that cut them short."""
    parts: list[bytes] = []
    try:
        if line_only:
            parts.append(stream.readline())
        elif not isinstance(stream, gzip.GzipFile):
            parts.append(stream.read(size))  # one read: a plain file fails whole or not at all
        else:  # decompressed step by step, so that a truncated archive keeps what came before
            got = 0
            while got < size:
                piece = stream.read1(min(_STEP, size - got))
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        return b"".join(parts), exc
    return parts[0] if len(parts) == 1 else b"".join(parts), None


SAMPLE_RECORDS = 20
"""Decoded records handed to format detection."""
CSV_BATCH_ROWS = 50_000
"""CSV rows parsed per batch (bounds memory like `chunk_bytes` does for JSON lines)."""


def read_input(
    stream: IO[bytes], size: int, *, shape: Shape | None = None, delimiter: str | None = None
) -> Input | None:
    """Open a stream as JSON lines, JSON documents or CSV (sniffed unless `shape` is given); None if empty.

    A JSON document is read whole (API pages and exports are small); JSON lines and CSV stream in
    batches. Content that only looks like a document (a truncated first line) is read as JSON lines.
    """
    chunks = iter_chunks(stream, size)
    first = next(chunks, None)
    if first is None:
        return None
    if shape is None and _is_sse(first[1]):
        chunks = (_sse_chunk(line, c) for line, c, _ in chunks)
        first = _sse_chunk(first[0], first[1])
    shape = shape or sniff_shape(first[1])
    if shape == "csv":
        return _csv_input(itertools.chain([first], chunks), delimiter)
    if shape == "json":
        data = first[1] + b"".join(c for _, c, _ in chunks)
        found = json_document_records(data)
        if found is not None:
            records, n_lines = found
            samples = [r.value for r in records[:SAMPLE_RECORDS] if r.error is None]
            return Input("json", iter([Batch(1, n_lines, records=records)]), samples)
        chunks = iter_chunks(io.BytesIO(data), size)
        first = next(chunks)
    batches = (Batch(line, lines, chunk=c) for line, c, lines in itertools.chain([first], chunks))
    return Input("jsonl", batches, _line_samples(first[1]))


def first_lines(data: bytes) -> Iterator[bytes]:
    """The lines of `data`, one at a time: what reads the first few of a chunk (splitting a whole
    chunk costs its size, and a file's first chunk may be the whole file)."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        yield data[start:end]
        start = end + 1


def _is_sse(head: bytes) -> bool:
    """A saved server-sent-events body (`event: ...` / `data: {...}` lines), as cassettes keep streams."""
    for raw in first_lines(head):
        line = raw.strip()
        if line:
            return line.startswith((b"event:", b"data:"))
    return False


def sse_payloads(chunk: bytes) -> bytes:
    """Server-sent events as JSON lines: each `data:` line becomes its payload, every other line
    (`event:`, `id:`, comments, the blank separators, OpenAI's `[DONE]`) a blank line, so that line
    numbers stay those of the file."""
    out = []
    for line in chunk.split(b"\n"):
        payload = line[5:].strip() if line.startswith(b"data:") else b""
        out.append(b"" if payload == b"[DONE]" else payload)
    return b"\n".join(out)


def sample_records(head: bytes) -> list[Any]:
    """The first decoded records of an input's first bytes, whatever its shape (for detection)."""
    found = read_input(io.BytesIO(head), max(len(head), 1) + 1)
    return found.samples if found is not None else []


def sniff_shape(head: bytes) -> Shape:
    """`json` when the first line opens a document, `csv` for a header line, else `jsonl`."""
    for raw in first_lines(head):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b"["):
            return "json"
        if line.startswith(b"{"):
            try:
                json.loads(line)
            except (ValueError, UnicodeDecodeError, RecursionError):
                # a pretty-printer's first line (`{`, `{"data": [`) opens a document; any other bad
                # first line is a broken JSON line, and the file is streamed as lines, not read whole
                return "json" if line.endswith((b"{", b"[", b",")) else "jsonl"
            return "jsonl"
        return "csv" if _csv_delimiter(line) is not None else "jsonl"
    return "jsonl"


_HEADER_CELL = re.compile(r"^[A-Za-z_][\w .:/()\-]*$")


def _csv_delimiter(line: bytes, given: str | None = None) -> str | None:
    """The delimiter of a CSV header line (`,`, tab or `;`), or None when the line is no header."""
    try:
        text = line.decode("utf-8").strip().lstrip("\ufeff")
    except UnicodeDecodeError:
        return None
    candidates = [given] if given else [",", "\t", ";"]
    best = max(candidates, key=text.count)
    if text.count(best) < 1 and not given:
        return None
    try:
        cells = next(csv.reader([text], delimiter=best))
    except csv.Error:  # a stray carriage return or NUL: not a header line
        return None
    if all(_HEADER_CELL.match(c.strip()) for c in cells) and len(set(cells)) == len(cells):
        return best
    return None


def _line_samples(chunk: bytes) -> list[Any]:
    out: list[Any] = []
    for line in first_lines(chunk):
        if len(out) >= SAMPLE_RECORDS:
            break
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
    return out


def json_document_records(data: bytes) -> tuple[list[Record], int] | None:
    """Records of a JSON document stream, each with the line it starts on; None if it is no document.

    Top-level values follow one another (whitespace between); a top-level array contributes each of
    its elements. A decoding error after the first record rejects the rest of the input as one
    record (there is no resynchronizing inside a document).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    newlines = [m.start() for m in re.finditer("\n", text)]
    n_lines = len(newlines) + (0 if text.endswith("\n") or not text else 1)

    def line_of(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    decoder = json.JSONDecoder(parse_constant=_no_constants)
    out: list[Record] = []
    n = len(text)

    def skip(pos: int) -> int:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def decode(pos: int) -> tuple[Any, int] | str:
        try:
            return decoder.raw_decode(text, pos)
        except ValueError as exc:
            return _json_reason(exc, with_line=True)
        except RecursionError:
            return TOO_DEEP

    decoded = False

    def fail(pos: int, why: str) -> tuple[list[Record], int] | None:
        if not out and not decoded:
            return None
        out.append(Record(line_of(pos), None, text[pos:].encode(), error=why))
        return out, n_lines

    pos = skip(0)
    while pos < n:
        if text[pos] != "[":
            got = decode(pos)
            if isinstance(got, str):
                return fail(pos, got)
            value, end = got
            out.append(Record(line_of(pos), value, text[pos:end].encode()))
            pos = skip(end)
            decoded = True
            continue
        pos = skip(pos + 1)
        decoded = True
        if pos < n and text[pos] == "]":
            pos = skip(pos + 1)
            continue
        while True:
            got = decode(pos)
            if isinstance(got, str):
                return fail(pos, got)
            value, end = got
            out.append(Record(line_of(pos), value, text[pos:end].encode()))
            pos = skip(end)
            if pos < n and text[pos] == ",":
                pos = skip(pos + 1)
                continue
            if pos < n and text[pos] == "]":
                pos = skip(pos + 1)
                break
            return fail(pos, "invalid JSON: expected ',' or ']' inside the top-level array")
    return (out, n_lines) if decoded else None


def _sse_chunk(line: int, chunk: bytes) -> tuple[int, bytes, int]:
    payloads = sse_payloads(chunk)
    return line, payloads, payloads.count(b"\n") + (0 if payloads.endswith(b"\n") else 1)


def _csv_input(chunks: Iterator[tuple[int, bytes, int]], delimiter: str | None) -> Input | None:
    """CSV rows as records (dicts of strings by header), batched; exact line numbers via the csv module."""
    consumed: list[bytes] = []
    counter = {"lines": 0}

    def lines() -> Iterator[str]:
        for _, chunk, _ in chunks:
            start = 0
            while start < len(chunk):
                end = chunk.find(b"\n", start)
                end = len(chunk) if end < 0 else end + 1
                piece = chunk[start:end]
                start = end
                consumed.append(piece)
                counter["lines"] += 1
                yield piece.decode("utf-8", errors="surrogateescape")

    source = lines()
    header: list[str] | None = None
    header_line = b""
    skipped_lines = 0
    for text in source:
        if not text.strip():
            skipped_lines += 1
            consumed.clear()
            continue
        header_line = consumed[-1]
        consumed.clear()
        break
    else:
        return None
    d = _csv_delimiter(header_line, delimiter) or delimiter or ","
    header_text = header_line.decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        cells = next(csv.reader([header_text.rstrip("\r\n")], delimiter=d))
    except csv.Error:  # a stray carriage return or NUL in a forced CSV's header: split it plainly
        cells = header_text.rstrip("\r\n").split(d)
    header = [h.strip() for h in cells]
    rows = csv.reader(source, delimiter=d)

    def batches() -> Iterator[Batch]:
        records: list[Record] = []
        blank = skipped_lines  # blank lines before the header
        done = 0  # the header line counts as read, in the first batch
        last_line = counter["lines"]
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                text = b"".join(consumed)
                consumed.clear()
                records.append(Record(last_line + 1, None, text, error=f"invalid CSV: {exc}"))
                last_line = counter["lines"]
                continue
            start = last_line + 1
            last_line = counter["lines"]
            text = b"".join(consumed)
            consumed.clear()
            if not row:
                blank += 1
            elif len(row) != len(header):
                records.append(
                    Record(start, None, text, error=f"expected {len(header)} CSV fields, got {len(row)}")
                )
            elif any(_has_surrogate(c) for c in row):
                records.append(Record(start, None, text, error="invalid UTF-8"))
            else:
                records.append(Record(start, dict(zip(header, row, strict=True)), text))
            if len(records) + blank >= CSV_BATCH_ROWS:
                yield Batch(start, last_line - done, records=records, blank=blank)
                done, records, blank = last_line, [], 0
        if records or blank or last_line > done:
            yield Batch(done + 1, last_line - done, records=records, blank=blank)

    out = batches()
    first = next(out, None)
    if first is None:
        return Input("csv", iter([Batch(1, counter["lines"], records=[])]), [])
    samples = [r.value for r in (first.records or [])[:SAMPLE_RECORDS] if r.error is None]
    return Input("csv", itertools.chain([first], out), samples)


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


# --- parsing -----------------------------------------------------------------------------------


def parse_batch(
    reader: Reader, batch: Batch, ctx: Context, *, lenient: bool = False, force_exact: bool = False
) -> Parsed:
    """Parse one batch: JSON lines through `parse_chunk`, decoded records through `parse_records`."""
    if batch.chunk is not None:
        return parse_chunk(
            reader, batch.chunk, batch.first_line, ctx, force_exact=force_exact, lines=batch.lines
        )
    return parse_records(
        reader, batch.records or [], ctx, lines=batch.lines, blank=batch.blank, lenient=lenient
    )


def parse_chunk(
    reader: Reader,
    chunk: bytes,
    first_line: int,
    ctx: Context,
    *,
    force_exact: bool = False,
    lines: int | None = None,
) -> Parsed:
    """Parse one chunk of JSON lines into canonical rows: the fast path for every line it can
    vouch for, the exact path for the others (and for every line when `force_exact`).

    Both paths classify every line identically, so the outcome does not depend on how a file was
    cut into chunks. The fast path (DuckDB over the whole chunk) cannot tell a string from an
    object it stringified, so a string field whose value starts with `{` or `[` sends its line to
    the exact path; a chunk DuckDB refuses (a line of bad JSON, a type it cannot build) is decoded
    line by line and its good lines go through DuckDB again, so that one bad line costs one line.
    `lines`: the chunk's number of lines, when the caller counted them already.
    """
    n_lines = lines if lines is not None else chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    if not reader.fast_path or force_exact:
        records, blank = decode_lines(chunk, first_line)
        return parse_records(reader, records, ctx, lines=n_lines, blank=blank)
    fields = list(reader.fields_for(chunk))
    spill = ctx.options.get("spill_dir")
    texts = _Lines(chunk, first_line)
    raw = _fast_raw(chunk, fields, spill)
    # blank lines shift DuckDB's rows against our line numbers: then the lines are decoded one by one
    if raw is not None and raw.height == n_lines:
        raw = _numbered(raw, pl.int_range(first_line, first_line + raw.height, dtype=pl.Int64), first_line)
        suspects = _suspects(raw, fields)
        if not suspects:
            return _finish(reader, raw, fields, ctx, texts, {}, [], n_lines, 0, "fast")
        exact = [_decoded(ln, texts[ln - first_line]) for ln in suspects]
        return _mixed(
            reader, raw.filter(~pl.col("_line").is_in(suspects)), exact, 0, fields, ctx, texts, n_lines
        )
    records, blank = decode_lines(chunk, first_line)
    good = [r for r in records if r.error is None and isinstance(r.value, dict)]
    joined = b"\n".join(r.text.removeprefix(_BOM) for r in good)
    raw = _fast_raw(joined, fields, spill) if good else None
    if raw is None or raw.height != len(good):
        return parse_records(reader, records, ctx, lines=n_lines, blank=blank)
    raw = _numbered(raw, pl.Series([r.line for r in good], dtype=pl.Int64), first_line)
    suspects = _suspects(raw, fields)
    routed = set(suspects)
    exact = [r for r in records if r.error is not None or not isinstance(r.value, dict) or r.line in routed]
    fast = raw.filter(~pl.col("_line").is_in(suspects)) if suspects else raw
    return _mixed(reader, fast, exact, blank, fields, ctx, texts, n_lines)


_BOM = b"\xef\xbb\xbf"


class _Lines:
    """A chunk's lines by index, split only when a reject needs one's bytes (splitting costs)."""

    def __init__(self, chunk: bytes, first_line: int) -> None:
        self.chunk = chunk
        self.first_line = first_line
        self._lines: list[bytes] | None = None

    def __getitem__(self, i: int) -> bytes:
        if self._lines is None:
            self._lines = self.chunk.split(b"\n")
        return self._lines[i]


def _numbered(raw: pl.DataFrame, lines: pl.Expr | pl.Series, first_line: int) -> pl.DataFrame:
    """Add `_line`, `_rec` (the line's index in its chunk) and `_where` to DuckDB's rows."""
    out = raw.with_columns(_line=lines)
    return out.with_columns(_rec=pl.col("_line") - first_line, _where=pl.lit(None, pl.String))


def _suspects(raw: pl.DataFrame, fields: Sequence[RawField]) -> list[int]:
    """Lines the fast path cannot vouch for: a string field that may hold an object or array
    DuckDB turned into text, or no field at all."""
    checks: list[pl.Expr] = []
    for f in fields:
        if f.kind == "str":
            checks.append(pl.col(f.path).str.contains(r"^[\[{]").fill_null(False))
        elif f.kind == "strlist":
            inner = pl.col(f.path).list.eval(pl.element().str.contains(r"^[\[{]").fill_null(False))
            checks.append(inner.list.any().fill_null(False))
    # a row with no field at all may be a line that is no object (`null`): the exact path says which
    checks.append(pl.all_horizontal([pl.col(f.path).is_null() for f in fields]))
    return raw.filter(pl.any_horizontal(checks))["_line"].to_list()


def _decoded(line: int, text: bytes) -> Record:
    records, _ = decode_lines(text, line)
    return records[0]


def _mixed(
    reader: Reader,
    fast: pl.DataFrame,
    exact: Sequence[Record],
    blank: int,
    fields: Sequence[RawField],
    ctx: Context,
    texts: _Lines,
    lines: int,
) -> Parsed:
    """A chunk parsed partly by each path: the rows of both, in line order, finished together."""
    raw, bad, skipped_records = _records_raw(reader, exact, fields, False, ctx.options.get("spill_dir"))
    raw = raw.with_columns(_rec=pl.col("_line") - texts.first_line)
    both = pl.concat([fast, raw], how="diagonal_relaxed").sort("_line", maintain_order=True)
    skipped: dict[str, int] = {"blank line": blank} if blank else {}
    skipped.update(skipped_records)
    rejects = [{**r, "file": ctx.source_file} for r in bad]
    extra = blank + sum(skipped_records.values()) + len(rejects)
    return _finish(reader, both, fields, ctx, texts, skipped, rejects, lines, extra, "mixed")


def parse_records(
    reader: Reader,
    records: Sequence[Record],
    ctx: Context,
    *,
    lines: int,
    blank: int = 0,
    lenient: bool = False,
) -> Parsed:
    """The exact path: explode each decoded record into rows, extract and check every field.

    `lenient` is for CSV cells, which are all strings: `"12"` then counts as an integer, `""` as
    null and a cell holding JSON as that JSON.
    """
    fields = list(reader.fields())
    raw, bad, skipped_records = _records_raw(reader, records, fields, lenient, ctx.options.get("spill_dir"))
    skipped: dict[str, int] = {}
    if blank:
        skipped["blank line"] = blank
    skipped.update(skipped_records)
    rejects = [{**r, "file": ctx.source_file} for r in bad]
    texts = [r.text for r in records]
    extra = blank + sum(skipped_records.values()) + len(rejects)
    return _finish(reader, raw, fields, ctx, texts, skipped, rejects, lines, extra, "exact")


def _finish(
    reader: Reader,
    raw: pl.DataFrame,
    fields: Sequence[RawField],
    ctx: Context,
    texts: Sequence[bytes] | _Lines,
    skipped: dict[str, int],
    rejects: list[dict[str, Any]],
    lines: int,
    extra_records: int,
    path_used: str,
) -> Parsed:
    """Type checks, the reader's mapping, rejects and skips: the part both paths share."""
    typed = ctx.file_column(_typed(raw, fields))
    out = reader.to_canonical(typed, ctx)
    reason = pl.coalesce(pl.col("_type_error"), pl.col("_reject"), _too_many_tokens(out.columns))
    where = pl.col("_where")
    out = out.with_columns(
        _reject=pl.when(where.is_not_null() & reason.is_not_null())
        .then(pl.format("{}: {}", where, reason))
        .otherwise(reason)
    )
    bad_rows = out.filter(pl.col("_reject").is_not_null()).select("_line", "_rec", "_reject")
    for ln, rec, why in bad_rows.iter_rows():
        rejects.append(_reject(ctx.source_file, ln, why, texts[rec]))
    rest = out.filter(pl.col("_reject").is_null())
    for why, count in rest.filter(pl.col("_skip").is_not_null()).group_by("_skip").len().iter_rows():
        skipped[why] = skipped.get(why, 0) + count
    kept = rest.filter(pl.col("_skip").is_null())
    kept = kept.with_columns(
        **_file_lines(ctx),
        source=pl.lit(reader.name),
        ingest_id=pl.lit(ctx.ingest_id),
    )
    notes: dict[str, int] = {}
    if "_note" in kept.columns:
        notes = dict(kept.filter(pl.col("_note").is_not_null()).group_by("_note").len().iter_rows())
    pending = None
    if "_event" in kept.columns and kept.select(pl.col("_event").is_not_null().any()).item():
        events = pl.col("_event").is_not_null()
        extra = [c for c in _STREAM_COLUMNS if c in kept.columns]
        pending = conform(kept.filter(events)).hstack(kept.filter(events).select(extra))
        kept = kept.filter(~events)
    rows = reader.prepare(kept)
    dropped = kept.height - rows.height
    if dropped:
        skipped["duplicate within file"] = skipped.get("duplicate within file", 0) + dropped
    deferred = None
    if "_deferred" in rows.columns and rows.select(pl.col("_deferred").any()).item():
        deferred = conform(rows.filter(pl.col("_deferred")))
        rows = rows.filter(~pl.col("_deferred"))
    rejects.sort(key=lambda r: r["line"])
    if ctx.parts:
        rejects = [ctx.located(r) for r in rejects]
    return Parsed(
        rows=conform(rows),
        skipped=skipped,
        rejects=rejects,
        lines=lines,
        path_used=path_used,
        records=out.height + extra_records,
        notes=notes,
        pending=pending,
        deferred=deferred,
    )


def _file_lines(ctx: Context) -> dict[str, pl.Expr]:
    """`source_file` and `source_line` of each row: the file's own, when the chunk joins files."""
    if not ctx.parts:
        return {"source_file": pl.lit(ctx.source_file), "source_line": pl.col("_line")}
    offset = pl.lit(pl.Series([p.first_line - p.start for p in ctx.parts], dtype=pl.Int64))
    return {
        "source_file": ctx.of_file(lambda p: p.source_file),
        "source_line": pl.col("_line") + offset.gather(pl.col("_file")),
    }


_STREAM_COLUMNS = ("_event", "_stream_seq", "_stream_key", "_iterations", "_cw_total", "_cw_split")
"""What a reader adds to a stream event row for `tierlens.sources.streams` (see `Parsed.pending`)."""


_COUNTED = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
            "output_tokens", "web_search_requests")  # fmt: skip


def _too_many_tokens(columns: Sequence[str]) -> pl.Expr:
    """A reason for a count no request can have (above `MAX_TOKENS`; x10^6 for a usage-report bucket)."""
    present = [c for c in _COUNTED if c in columns]
    if not present:
        return pl.lit(None, pl.String)
    bucket = (
        (pl.col("ts_source") == "bucket_start").fill_null(False) if "ts_source" in columns else pl.lit(False)
    )
    limit = pl.when(bucket).then(pl.lit(MAX_TOKENS * 10**6)).otherwise(pl.lit(MAX_TOKENS))
    over = pl.any_horizontal([(pl.col(c) > limit).fill_null(False) for c in present])
    return pl.when(over).then(pl.lit(f"token count above {MAX_TOKENS:,} in one request"))


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


_DUCK = threading.local()


def _duck_connection() -> Any:
    """One in-memory DuckDB connection per thread, reused across chunks (opening one costs ~0.1 s)."""
    import duckdb

    con = getattr(_DUCK, "con", None)
    if con is None:
        con = _DUCK.con = duckdb.connect()
    return con


def _fast_raw(chunk: bytes, fields: Sequence[RawField], spill_dir: str | None = None) -> pl.DataFrame | None:
    """Parse a chunk with DuckDB; None when DuckDB refuses it (the exact path then takes over).

    DuckDB reads the chunk from a file: it goes in `spill_dir` (an ingest's own staging directory,
    which the next run deletes whatever killed this one), else the system's temporary directory.
    """
    import duckdb

    columns = _duck_columns(fields)
    select = ", ".join(
        f"CAST({'.'.join(_quote(p) for p in f.parts)} AS {'VARCHAR[]' if f.kind == 'strlist' else 'VARCHAR'})"
        f" AS {_quote(f.path)}"
        for f in fields
    )
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
    return df.cast({f.path: (pl.List(pl.String) if f.kind == "strlist" else pl.String) for f in fields})


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
            records.append(Record(ln, None, line, error=_json_reason(exc)))
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


def _json_reason(exc: ValueError, with_line: bool = False) -> str:
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


def _records_raw(
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
            rejects.append(_reject("", rec.line, str(exc), rec.text))
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
    """Rows of the records too deep for Python, read by DuckDB one by one as the fast path reads a
    chunk (a string field holding text that starts with `{` or `[` counts as an object here); a
    reader without a fast path rejects them."""
    rejects: list[dict[str, Any]] = []
    found = [raw]
    for i, rec in deep:
        one = _fast_raw(rec.text, fields, spill_dir) if reader.fast_path else None
        if one is None or one.height != 1:
            rejects.append(_reject("", rec.line, TOO_DEEP, rec.text))
            continue
        one = one.with_columns(
            _line=pl.lit(rec.line, pl.Int64), _rec=pl.lit(i, pl.Int64), _where=pl.lit(None, pl.String)
        )
        if _suspects(one, fields):
            rejects.append(_reject("", rec.line, "a string field holds an object or array", rec.text))
            continue
        found.append(one)
    return pl.concat(found, how="vertical_relaxed").sort("_line", maintain_order=True), rejects


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
        return json.loads(text, parse_constant=_no_constants)
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
        # the type check in `_typed` then accepts or rejects the number exactly as for JSON
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


def _typed(raw: pl.DataFrame, fields: Sequence[RawField]) -> pl.DataFrame:
    """Cast JSON-text leaves to their kinds; a value of the wrong JSON type sets `_type_error`."""
    casts: list[pl.Expr] = []
    errors: list[pl.Expr] = []
    for f in fields:
        val: pl.Expr
        c = pl.col(f.path)
        if f.kind == "int":
            # the text of a JSON value: a JSON integer is what parses as one (JSON has no `+5`)
            val = c.str.to_integer(strict=False)
            bad = c.is_not_null() & val.is_null()
            errors.append(
                pl.when(bad).then(pl.format(f"{f.shown}: expected an integer, got {{}}", json_kind(c)))
            )
            if _is_count(f):  # whatever the reader makes of it, no real count is this large
                errors.append(pl.when(val > MAX_COUNT).then(pl.lit(f"{f.shown}: a count above 10^15")))
            casts.append(val.alias(f.path))
        elif f.kind == "num":
            is_num = c.str.contains(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
            val = pl.when(is_num).then(c.cast(pl.Float64, strict=False))
            bad = c.is_not_null() & val.is_null()
            errors.append(
                pl.when(bad).then(pl.format(f"{f.shown}: expected a number, got {{}}", json_kind(c)))
            )
            casts.append(val.alias(f.path))
        elif f.kind == "bool":
            val = pl.when(c == "true").then(True).when(c == "false").then(False).otherwise(None)
            bad = c.is_not_null() & val.is_null()
            errors.append(
                pl.when(bad).then(pl.format(f"{f.shown}: expected true or false, got {{}}", json_kind(c)))
            )
            casts.append(val.cast(pl.Boolean).alias(f.path))
    out = raw.with_columns(casts) if casts else raw
    type_error = pl.coalesce(errors) if errors else pl.lit(None, pl.String)
    # computed on the raw text, before the casts replaced it
    return out.with_columns(raw.select(type_error.cast(pl.String).alias("_type_error")))


MAX_COUNT = 10**15
"""No token or request count of a log, even a usage-report bucket's, is above this (10^15)."""


def _is_count(f: RawField) -> bool:
    leaf = f.parts[-1].lower()
    return "token" in leaf or leaf.endswith("requests")


def first_of(paths: Sequence[str]) -> pl.Expr:
    """The first non-null of several raw columns (configured alternative paths)."""
    return pl.coalesce([pl.col(p) for p in paths]) if len(paths) > 1 else pl.col(paths[0])


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Timestamps outside [EARLIEST, LATEST) are no request's: a misread unit, a zero, a typo."""
BAD_TIME = "unparseable timestamp (ISO 8601, or epoch s/ms/us/ns, between 2000 and 2100)"
MAX_TOKENS = 1_000_000_000
"""More tokens than this in one request's category is no real request (aggregate buckets: x10^6)."""


def in_range(ts: pl.Expr) -> pl.Expr:
    """`ts` where it lies in [EARLIEST, LATEST), else null."""
    return pl.when(ts.is_between(pl.lit(EARLIEST), pl.lit(LATEST), closed="left")).then(ts)


def epoch_micros(num: pl.Expr) -> pl.Expr:
    """An epoch number in seconds, milliseconds, microseconds or nanoseconds (told apart by size,
    which is unambiguous between 2000 and 2100) as microseconds; null when it fits none."""
    scale = (
        pl.when(num < 1e11).then(1e6).when(num < 1e14).then(1e3).when(num < 1e17).then(1.0).otherwise(1e-3)
    )
    return (num * scale).round(0).cast(pl.Int64, strict=False)


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 (Z, offset, or naive = UTC) or epoch s/ms/us/ns -> UTC datetime; null outside 2000..2100."""
    t = text.str.strip_chars()
    numeric = t.str.contains(r"^\d+(\.\d+)?$")
    num = t.cast(pl.Float64, strict=False)
    from_epoch = pl.from_epoch(epoch_micros(num), time_unit="us").dt.replace_time_zone("UTC")
    iso = t.str.replace(r"Z$", "+00:00").str.replace(
        r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)$", "${1}T${2}+00:00"
    )
    iso = iso.str.replace(r"^(\d{4}-\d\d-\d\d)[ ]", "${1}T")
    parsed = pl.coalesce(
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC"),
        iso.str.to_datetime("%Y-%m-%dT%H:%M%:z", strict=False, time_unit="us", time_zone="UTC"),
    )
    return in_range(pl.when(numeric).then(from_epoch).otherwise(parsed))


def with_timestamp(df: pl.DataFrame, text: pl.Expr, name: str = "_ts") -> pl.DataFrame:
    """Add `name` = `parse_timestamp(text)`, trying the common `...T..:..:..(.fff)Z` form first.

    The general parser costs three times the fast one; it runs only when some value needs it.
    """
    fast = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us").dt.replace_time_zone(
        "UTC"
    )
    out = df.with_columns(in_range(fast).alias(name))
    if out.select((pl.col(name).is_null() & text.is_not_null()).any()).item():
        out = out.with_columns(pl.coalesce(pl.col(name), parse_timestamp(text)).alias(name))
    return out


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
