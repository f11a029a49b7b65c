"""Log bytes in: streams (files, `.gz`, stdin) read in newline-aligned chunks, and the shape of
an input sniffed from its first bytes (JSON lines, JSON documents, CSV, server-sent events), each
turned into `Batch`es of records that keep their line numbers."""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import itertools
import json
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, overload

from tierlens.errors import SourceError
from tierlens.sources.base import Batch, Input, Record, Shape
from tierlens.sources.records import TOO_DEEP, json_reason, no_constants


def open_input(source: str | Path, stdin: IO[bytes] | None = None) -> IO[bytes]:
    """Open a file (gzip detected by magic bytes) or `-` for stdin, as a binary stream."""
    if str(source) == "-":
        raw = stdin if stdin is not None else sys.stdin.buffer
        peek = raw.read(2)
        stream: IO[bytes] = io.BufferedReader(_Prefixed(peek, raw))
        if peek == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
        return stream
    try:
        fh = open(source, "rb")  # noqa: SIM115 (the caller closes it); not `Path.open`, per file of thousands
    except OSError as exc:
        raise SourceError(f"cannot read {Path(source)}: {exc.strerror}") from None
    if fh.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
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
            newlines = count_newlines(block)
            yield line, block, newlines + (0 if block.endswith(b"\n") else 1)
            line += newlines
        if broken is not None:
            raise SourceError(f"input ends unreadably after line {line - 1}: {broken}") from None
        if not block:
            return


def count_newlines(data: bytes) -> int:
    """The number of `\n` in `data`. `bytes.count` tests byte by byte (about 2 GB/s); finding
    each newline in turn is a `memchr` per line, several times faster where lines are long (a
    Claude Code transcript's average ~1.7 KB) and slower where they are short, so the first
    64 KiB say which way to count."""
    head = data.count(b"\n", 0, _PROBE)
    if len(data) <= _PROBE or head * _LONG_LINE > _PROBE:
        return head + data.count(b"\n", _PROBE)
    n, i = 0, data.find(b"\n")
    while i >= 0:
        n += 1
        i = data.find(b"\n", i + 1)
    return n


_PROBE = 1 << 16
_LONG_LINE = 1024
"""Lines longer than this on average are counted one `find` at a time (see `count_newlines`)."""

_STEP = 1 << 20


def _read_block(stream: IO[bytes], size: int, line_only: bool = False) -> tuple[bytes, Exception | None]:
    """Up to `size` bytes (or, `line_only`, the rest of the line), and the error that cut them short."""
    parts: list[bytes] = []
    try:
        if line_only:
            parts.append(stream.readline())
        elif not isinstance(stream, gzip.GzipFile):
            # one read: a plain file fails whole or not at all; no larger than what is left of it
            # (a small file's read then allocates its size, not the chunk's)
            parts.append(stream.read(_bounded(stream, size)))
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


def _bounded(stream: IO[bytes], size: int) -> int:
    """`size`, or less when the stream is a regular file with fewer bytes left (one more, so that
    the read also sees its end)."""
    try:
        st = os.fstat(stream.fileno())
        left = st.st_size - stream.tell()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return size
    # a pipe or a special file says 0 bytes whatever it holds
    return min(size, left + 1) if stat.S_ISREG(st.st_mode) and left >= 0 and size >= 0 else size


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
    return Input("jsonl", batches, LineSamples(first[1]))


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
    return list(found.samples) if found is not None else []


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


class LineSamples(Sequence[Any]):
    """The first `SAMPLE_RECORDS` decoded records of a chunk of JSON lines (blank and undecodable
    lines left out), each decoded when first asked for: detection usually settles on the first
    few, and a tree of thousands of small files would otherwise decode twenty lines of each."""

    def __init__(self, chunk: bytes) -> None:
        self._lines = first_lines(chunk)
        self._decoded: list[Any] = []
        self._ended = False

    def _decode_next(self) -> bool:
        """Decode one more record; False when there is none left to sample."""
        while not self._ended and len(self._decoded) < SAMPLE_RECORDS:
            line = next(self._lines, None)
            if line is None:
                break
            if not line.strip():
                continue
            try:
                self._decoded.append(json.loads(line))
                return True
            except (ValueError, UnicodeDecodeError, RecursionError):
                continue
        self._ended = True
        return False

    def __iter__(self) -> Iterator[Any]:
        i = 0
        while i < len(self._decoded) or self._decode_next():
            yield self._decoded[i]
            i += 1

    def __len__(self) -> int:
        while self._decode_next():
            pass
        return len(self._decoded)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        len(self)  # every sample decoded: indexes and slices as a list's
        return self._decoded[i]


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
    return _Document(text).records()


class _Document:
    """A scan of a JSON document stream's text, value by value (arrays at the top level opened)."""

    _decoder = json.JSONDecoder(parse_constant=no_constants)

    def __init__(self, text: str) -> None:
        self.text, self.n = text, len(text)
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.out: list[Record] = []
        self.decoded = False

    def records(self) -> tuple[list[Record], int] | None:
        text, n = self.text, self.n
        pos = self._skip(0)
        while pos < n:
            if text[pos] != "[":
                got = self._value(pos)
                if isinstance(got, str):
                    return self._fail(pos, got)
                pos = got
                continue
            pos = self._skip(pos + 1)
            self.decoded = True
            if pos < n and text[pos] == "]":
                pos = self._skip(pos + 1)
                continue
            while True:
                got = self._value(pos)
                if isinstance(got, str):
                    return self._fail(pos, got)
                pos = got
                if pos < n and text[pos] in ",]":
                    pos, closed = self._skip(pos + 1), text[pos] == "]"
                    if closed:
                        break
                    continue
                return self._fail(pos, "invalid JSON: expected ',' or ']' inside the top-level array")
        return self._result() if self.decoded else None

    def _value(self, pos: int) -> int | str:
        """Decode the value at `pos` into a record: where the next one starts, or why it failed."""
        try:
            value, end = self._decoder.raw_decode(self.text, pos)
        except ValueError as exc:
            return json_reason(exc, with_line=True)
        except RecursionError:
            return TOO_DEEP
        self.out.append(Record(self._line_of(pos), value, self.text[pos:end].encode()))
        self.decoded = True
        return self._skip(end)

    def _fail(self, pos: int, why: str) -> tuple[list[Record], int] | None:
        """The records so far and the rest of the input as one rejected record (None: no document)."""
        if not self.out and not self.decoded:
            return None
        self.out.append(Record(self._line_of(pos), None, self.text[pos:].encode(), error=why))
        return self._result()

    def _result(self) -> tuple[list[Record], int]:
        text = self.text
        return self.out, len(self.newlines) + (0 if text.endswith("\n") or not text else 1)

    def _skip(self, pos: int) -> int:
        while pos < self.n and self.text[pos] in " \t\r\n":
            pos += 1
        return pos

    def _line_of(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1


def _sse_chunk(line: int, chunk: bytes) -> tuple[int, bytes, int]:
    payloads = sse_payloads(chunk)
    return line, payloads, payloads.count(b"\n") + (0 if payloads.endswith(b"\n") else 1)


def _csv_input(chunks: Iterator[tuple[int, bytes, int]], delimiter: str | None) -> Input | None:
    """CSV rows as records (dicts of strings by header), batched; exact line numbers via the csv module."""
    source = _CsvLines(chunks)
    found = _csv_header(source, delimiter)
    if found is None:
        return None
    header, d, skipped_lines = found
    out = _csv_batches(source, csv.reader(source, delimiter=d), header, skipped_lines)
    first = next(out, None)
    if first is None:
        return Input("csv", iter([Batch(1, source.count, records=[])]), [])
    samples = [r.value for r in (first.records or [])[:SAMPLE_RECORDS] if r.error is None]
    return Input("csv", itertools.chain([first], out), samples)


class _CsvLines:
    """The lines of some chunks as text for the csv module, keeping the bytes of the lines it has
    taken since the last `take` (a record's own text) and how many lines it has given."""

    def __init__(self, chunks: Iterator[tuple[int, bytes, int]]) -> None:
        self._lines = self._split(chunks)
        self.consumed: list[bytes] = []
        self.count = 0

    def _split(self, chunks: Iterator[tuple[int, bytes, int]]) -> Iterator[str]:
        for _, chunk, _ in chunks:
            start = 0
            while start < len(chunk):
                end = chunk.find(b"\n", start)
                end = len(chunk) if end < 0 else end + 1
                piece = chunk[start:end]
                start = end
                self.consumed.append(piece)
                self.count += 1
                yield piece.decode("utf-8", errors="surrogateescape")

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._lines)

    def take(self) -> bytes:
        """The bytes of the lines given since the last call."""
        text = b"".join(self.consumed)
        self.consumed.clear()
        return text


def _csv_header(source: _CsvLines, delimiter: str | None) -> tuple[list[str], str, int] | None:
    """(the header's cells, the delimiter, blank lines before it); None for an input of blank lines."""
    skipped_lines = 0
    for text in source:
        if text.strip():
            header_line = source.take()
            break
        skipped_lines += 1
        source.take()
    else:
        return None
    d = _csv_delimiter(header_line, delimiter) or delimiter or ","
    header_text = header_line.decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        cells = next(csv.reader([header_text.rstrip("\r\n")], delimiter=d))
    except csv.Error:  # a stray carriage return or NUL in a forced CSV's header: split it plainly
        cells = header_text.rstrip("\r\n").split(d)
    return [h.strip() for h in cells], d, skipped_lines


def _csv_batches(
    source: _CsvLines, rows: Iterator[list[str]], header: list[str], blank: int
) -> Iterator[Batch]:
    """The rows after the header as batches of records; `blank`: the blank lines before the header."""
    records: list[Record] = []
    done = 0  # the header line counts as read, in the first batch
    last_line = source.count
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            records.append(Record(last_line + 1, None, source.take(), error=f"invalid CSV: {exc}"))
            last_line = source.count
            continue
        start, last_line = last_line + 1, source.count
        record = _csv_record(start, row, header, source.take())
        if record is None:
            blank += 1
        else:
            records.append(record)
        if len(records) + blank >= CSV_BATCH_ROWS:
            yield Batch(start, last_line - done, records=records, blank=blank)
            done, records, blank = last_line, [], 0
    if records or blank or last_line > done:
        yield Batch(done + 1, last_line - done, records=records, blank=blank)


def _csv_record(line: int, row: list[str], header: list[str], text: bytes) -> Record | None:
    """A CSV row as a record by header, or a record of why it is none; None for a blank row."""
    if not row:
        return None
    if len(row) != len(header):
        return Record(line, None, text, error=f"expected {len(header)} CSV fields, got {len(row)}")
    if any(_has_surrogate(c) for c in row):
        return Record(line, None, text, error="invalid UTF-8")
    return Record(line, dict(zip(header, row, strict=True)), text)


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)
