"""`ingest`: logs in, priced and deduplicated rows out, in one transaction.

This is the library function behind `tierlens ingest`; a notebook or a cron job calls it the
same way. It resolves inputs (files, directories, globs, `-`), picks a reader per file, streams
each file in chunks through the reader and the pricer into the store, and returns an
`IngestResult` (`ingest_result.py`) that says what happened to every line.

Two steps sit between the pricer and the store: aggregate rows (usage reports) are priced with
the long-context tier their report states, not the one their summed tokens would suggest, and
every fresh row is attributed to a feature (`tierlens.attribution`; a split request becomes one
row per feature). A directory walk skips what a `.tierlensignore` in that directory lists.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import polars as pl

from tierlens.attribution import Attribution
from tierlens.config import Settings, load_settings
from tierlens.errors import SourceError, StrictModeError
from tierlens.ingest_result import IngestCounts, IngestResult, finish
from tierlens.logfiles import OpenLog, log_files, open_log, real_paths
from tierlens.pricing import PriceTable
from tierlens.pricing.engine import price_stored
from tierlens.progress import Progress
from tierlens.sources import (
    Batch,
    Context,
    Parsed,
    Reader,
    parse_batch,
)
from tierlens.sources.base import FilePart
from tierlens.sources.claude_code import claude_code_roots
from tierlens.sources.fastscan import share_cores
from tierlens.sources.streams import assemble_streams
from tierlens.store import open_store
from tierlens.store.writer import Staging


def _size(name: str) -> int:
    """Bytes of a file (0 for stdin, or one that cannot be sized)."""
    try:
        return 0 if name == "-" else os.path.getsize(name)
    except OSError:
        return 0


def _position(stream: IO[bytes], size: int) -> int:
    """How far into its file a stream has read (its compressed position for .gz), at most `size`."""
    raw = getattr(stream, "fileobj", None) or stream  # a GzipFile reads its file object
    try:
        return min(raw.tell(), size)
    except (OSError, ValueError, AttributeError):
        return 0


def ingest(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    format: str | None = None,
    strict: bool = False,
    batch_ended_at: datetime | None = None,
    stdin: IO[bytes] | None = None,
    force_exact: bool = False,
    ts_from: str | None = None,
    reprice: bool = False,
    progress: Progress | None = None,
    exclude: Sequence[str | Path] = (),
) -> IngestResult:
    """Ingest logs into the dataset at `settings.data_dir`; returns what happened to every line.

    No `paths`: Claude Code's own log directories (`claude_code_roots`). `ts_from` says when records
    without a time field happened: `mtime` (the file's), `now`, or a field of the record to read it
    from. `progress`: told how far the reading is (bytes of the files) as it goes. `reprice`: afterwards, re-price the stored rows of the days these logs cover with the
    table in force (the rows a re-ingest skips as duplicates keep their old price otherwise).
    `exclude`: files a directory walk leaves out (the quality files given beside the logs).
    Raises `SourceError` for unreadable inputs and `StrictModeError` (after committing the good
    rows) when `strict` and some lines were rejected.
    """
    settings = settings or load_settings()
    if not paths:
        paths = claude_code_roots()
        format = format or "claude_code"
    settings, ts_from = with_time_field(settings, ts_from)
    ignored: list[str] = []
    files = log_files(paths, exclude, ignored)
    table = PriceTable.load(settings.pricing)
    started = time.perf_counter()
    span: list[Any] = []
    store = open_store(settings.data_dir)
    with store.transaction() as txn:
        result = IngestResult(ingest_id=txn.ingest_id, data_dir=str(settings.data_dir))
        result.files_skipped += ignored
        result.inputs = real_paths(files)
        txn.dir.mkdir(parents=True, exist_ok=True)
        options = {"batch_ended_at": batch_ended_at, "ts_from": ts_from, "spill_dir": str(txn.dir)}
        staged = _Staged(txn, table, Attribution(settings.attribution), span)
        run = _Run(result, txn, staged, files, progress)
        opener = _Opener(settings, table, format, options, stdin, alone=len(files) == 1)
        run.read_all(opener, _Joined(settings.chunk_bytes, txn.ingest_id, options, force_exact), force_exact)
        finish(result, txn, staged.counts, store, started)
    after_commit(result, settings, table, span if reprice else [], strict)
    return result


@dataclass(frozen=True)
class _Opener:
    """How an ingest opens each of its files (`open_log` with the ingest's own settings)."""

    settings: Settings
    table: PriceTable
    format: str | None
    options: dict[str, Any]
    stdin: IO[bytes] | None
    alone: bool

    def open(self, name: str, ingest_id: str) -> OpenLog | str:
        return open_log(
            name,
            self.settings,
            self.table,
            self.format,
            ingest_id,
            self.options,
            alone=self.alone,
            stdin=self.stdin,
        )


class _Run:
    """One ingest's reading: every file opened, parsed and its rows staged, in order, with what
    happened to each line counted into the result."""

    def __init__(
        self,
        result: IngestResult,
        txn: Staging,
        staged: _Staged,
        files: list[str],
        progress: Progress | None,
    ) -> None:
        self.result, self.txn, self.staged, self.files, self.progress = result, txn, staged, files, progress
        self.skipped: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.deferred: list[pl.DataFrame] = []  # rows a better copy in a later file may supersede
        self.sizes = {f: _size(f) for f in files}
        self.before = 0  # bytes of the files read to their end
        if progress is not None:
            progress.total = sum(self.sizes.values())

    def read_all(self, opener: _Opener, joined: _Joined, force_exact: bool) -> None:
        """Read every file (a bad one is reported, the others commit), then stage what was deferred."""
        try:
            for name in self.files:
                try:
                    self.one(name, opener, joined, force_exact)
                    self.before += self.sizes[name]
                except (SourceError, OSError, EOFError) as exc:
                    if len(self.files) == 1:
                        raise
                    # a bad file is reported; the others (and its own lines read before it broke) commit
                    self.result.files_failed.append(f"{name}: {exc}")
            self.take_joined(joined.finish())
        finally:
            joined.close()
        self.staged.flush()
        for rows in self.deferred:  # after every file: a better copy read later has been added first
            self.staged.push(rows)
        self.staged.flush()
        if self.progress is not None:
            self.progress.close()
        self.result.skipped = dict(self.skipped.most_common())
        self.result.notes = dict(self.notes.most_common())

    def one(self, name: str, opener: _Opener, joined: _Joined, force_exact: bool) -> None:
        """Read one file: a small file of a joining format joins the chunk being gathered; any other
        is parsed on worker threads while its rows are staged here."""
        opened = opener.open(name, self.txn.ingest_id)
        if isinstance(opened, str):
            self.result.files_skipped.append(opened)
            return
        with opened:
            self.result.files += 1
            formats = self.result.formats
            formats[opened.reader.name] = formats.get(opened.reader.name, 0) + 1
            if opened.whole and opened.reader.joins_files:
                if not joined.fits(opened.reader):
                    self.take_joined(joined.flush())
                joined.add(opened.reader, opened.ctx, list(opened.batches))
                return
            self.take_joined(joined.finish())  # the files before this one first: the first copy of a row wins
            parses = _parsed_ahead(opened.reader, opened.batches, opened.ctx, force_exact, opened.lenient)
            for parsed in parses:
                # a stream's position waits for the read in flight on the parse threads: asked
                # only when there is a progress line to show it
                at = (
                    self.before + _position(opened.stream, self.sizes[name])
                    if self.progress is not None
                    else 0
                )
                self.take(parsed, opened.reader, at)

    def take(self, parsed: Parsed, reader: Reader, at: int) -> None:
        """Count one parse's lines, skips and rejects, and stage its rows."""
        self.result.lines_read += parsed.lines
        self.result.records_read += parsed.records
        self.skipped.update(parsed.skipped)
        self.notes.update(parsed.notes)
        self.staged.counts.rejects.extend({**r, "format": reader.name} for r in parsed.rejects)
        self.staged.push(parsed.rows)
        if parsed.deferred is not None:
            self.deferred.append(parsed.deferred)
        if self.progress is not None:
            self.progress.update(at, self.staged.counts.rows_added + self.staged.rows)

    def take_joined(self, outcomes: list[Outcome]) -> None:
        for reader, got in outcomes:
            if isinstance(got, str):
                self.result.files_failed.append(got)
            else:
                self.take(got, reader, self.before)


def after_commit(
    result: IngestResult, settings: Settings, table: PriceTable, span: list[Any], strict: bool
) -> None:
    """Re-price the days of `span` (when asked), then raise for rejected lines under `strict`."""
    if span:
        from tierlens.reprice import reprice as run_reprice

        again = run_reprice(settings.data_dir, table, since=min(span).date(), until=max(span).date())
        result.repriced = {
            k: getattr(again, k)
            for k in ("rows", "rows_changed", "newly_priced", "cost_before_usd", "cost_after_usd")
        }
    if strict and result.rejected_total:
        raise StrictModeError(
            f"{result.rejected_total} line(s) rejected under --strict "
            f"(good rows were committed; see {Path(settings.data_dir) / 'quarantine' / (result.ingest_id + '.jsonl')})"
        )


class _Staged:
    """Parsed rows gathered into batches of `BATCH_ROWS` before pricing and staging: small chunks
    and many small files (a Claude Code tree) then cost what one large chunk costs."""

    BATCH_ROWS = 64 * 1024

    def __init__(self, txn: Staging, table: PriceTable, attribution: Attribution, span: list[Any]) -> None:
        self.txn, self.table, self.attribution, self.span = txn, table, attribution, span
        self.counts = IngestCounts()
        self.frames: list[pl.DataFrame] = []
        self.rows = 0

    def push(self, rows: pl.DataFrame) -> None:
        if rows.height:
            self.frames.append(rows)
            self.rows += rows.height
        if self.rows >= self.BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.frames:
            return
        frames, self.frames, self.rows = self.frames, [], 0
        rows = price_stored(pl.concat(frames, how="vertical_relaxed"), self.table)
        self.span.extend([rows["ts"].min(), rows["ts"].max()])
        self.counts.add(self.txn.add(rows, expand=self.attribution.apply))


def with_time_field(settings: Settings, ts_from: str | None) -> tuple[Settings, str | None]:
    """`--ts-from FIELD`: read timestamps from FIELD first (the readers with configurable time fields)."""
    if ts_from is None or ts_from in ("mtime", "now"):
        return settings, ts_from
    sources = settings.sources
    changed = {
        name: getattr(sources, name).model_copy(
            update={"timestamp": [ts_from, *getattr(sources, name).timestamp]}
        )
        for name in ("anthropic_messages", "openai")
    }
    return settings.model_copy(update={"sources": sources.model_copy(update=changed)}), None


Outcome = tuple[Reader, "Parsed | str"]
"""A joined chunk's parse, file by file when it had to be: the rows, or why a file failed."""


class _Joined:
    """Small files of a `Reader.joins_files` format gathered into chunks of JSON lines of about
    `limit` bytes: one parse then costs what one file's would (thousands of Claude Code sessions
    parse as a few chunks), and each row still names its own file and line. Chunks parse on
    `WORKERS` threads while the next files are read (DuckDB and polars release the GIL); their
    outcomes come back in order."""

    WORKERS = 2

    def __init__(self, limit: int, ingest_id: str, options: dict[str, Any], force_exact: bool) -> None:
        self.limit, self.ingest_id, self.options, self.force_exact = limit, ingest_id, options, force_exact
        self.reader: Reader | None = None
        self.files: list[tuple[Context, Batch]] = []
        self.size = 0
        self._pool = ThreadPoolExecutor(
            self.WORKERS,
            thread_name_prefix="tierlens-join",
            initializer=share_cores,
            initargs=(self.WORKERS,),
        )
        self._pending: deque[Future[list[Outcome]]] = deque()

    def fits(self, reader: Reader) -> bool:
        """True when a file of `reader` may join the chunk gathered so far."""
        return self.reader is None or (self.reader.name == reader.name and self.size < self.limit)

    def add(self, reader: Reader, ctx: Context, batches: list[Batch]) -> None:
        """Add one file (its whole-file batch; none when it held nothing)."""
        for batch in batches:
            self.reader = reader
            self.files.append((ctx, batch))
            self.size += len(batch.chunk or b"")

    def flush(self) -> list[Outcome]:
        """Start parsing the files gathered so far; the outcomes of the oldest chunk in flight
        when every worker has one (none before), in order."""
        if self.files:
            assert self.reader is not None
            # joined on the worker too: copying the files' bytes into one chunk holds the GIL
            self._pending.append(
                self._pool.submit(
                    _parse_joined, self.reader, self.files, self.ingest_id, self.options, self.force_exact
                )
            )
            self.reader, self.files, self.size = None, [], 0
        return self._pending.popleft().result() if len(self._pending) > self.WORKERS else []

    def finish(self) -> list[Outcome]:
        """The outcomes of every file gathered, in order: all are parsed."""
        out = self.flush()  # the chunk still gathering joins the ones in flight
        while self._pending:
            out += self._pending.popleft().result()
        return out

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def _joined(
    files: list[tuple[Context, Batch]], ingest_id: str, options: dict[str, Any]
) -> tuple[Batch, Context]:
    """The files' batches as one chunk, with a context that says which line is whose."""
    parts, chunks, line = [], [], 1
    for ctx, batch in files:
        chunk = batch.chunk or b""
        parts.append(FilePart(line, ctx.source_file, ctx.path, batch.first_line))
        chunks.append(chunk if chunk.endswith(b"\n") else chunk + b"\n")
        line += batch.lines
    first = files[0][0]
    joined = Context(first.source_file, first.path, ingest_id, options, parts=tuple(parts))
    return Batch(1, line - 1, chunk=b"".join(chunks)), joined


def _parse_joined(
    reader: Reader,
    files: list[tuple[Context, Batch]],
    ingest_id: str,
    options: dict[str, Any],
    force_exact: bool,
) -> list[Outcome]:
    """Parse the files as one chunk; when that fails, each alone (a bad one is reported)."""
    batch, ctx = _joined(files, ingest_id, options)
    with contextlib.suppress(SourceError):
        return [(reader, p) for p in _parse_all(reader, batch, ctx, force_exact)]
    out: list[Outcome] = []
    for file_ctx, file_batch in files:
        try:
            out += [(reader, p) for p in _parse_all(reader, file_batch, file_ctx, force_exact)]
        except SourceError as exc:
            out.append((reader, f"{file_ctx.source_file}: {exc}"))
    return out


def _parse_all(reader: Reader, batch: Batch, ctx: Context, force_exact: bool) -> list[Parsed]:
    return list(assemble_streams(iter([parse_batch(reader, batch, ctx, force_exact=force_exact)]), reader))


PARSE_WORKERS = 2
"""Batches of one file parsed at once: the parse (DuckDB, then polars on one batch) is mostly
single-threaded, so two keep both cores of a small machine busy while the caller prices and
stores; each parse's DuckDB then takes half of the cores (`share_cores`)."""


def _until_broken(batches: Iterator[Batch]) -> Iterator[Batch | BaseException]:
    """The batches, then the error that ended the reading, if one did, as the last item."""
    try:
        yield from batches
    except Exception as exc:  # raised again by the caller, after the batches before it
        yield exc


def _parsed_ahead(
    reader: Reader, batches: Iterator[Batch], ctx: Context, force_exact: bool, lenient: bool = False
) -> Iterator[Parsed]:
    """Read and parse batches on worker threads while the caller prices and stores the previous one.

    DuckDB, polars, pyarrow and file reads release the GIL, so the stages use both cores; the
    queue holds one parsed batch and `PARSE_WORKERS` more are under way, so at most four are in
    memory at once.
    """
    done = object()
    results: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def parsed() -> Iterator[Parsed]:
        """The batches parsed `PARSE_WORKERS` at a time, in their order."""
        workers = max(1, min(PARSE_WORKERS, os.cpu_count() or 1))
        with ThreadPoolExecutor(
            workers, thread_name_prefix="tierlens-parse", initializer=share_cores, initargs=(workers,)
        ) as pool:
            ahead: deque[Future[Parsed]] = deque()
            for batch in _until_broken(batches):
                if isinstance(batch, BaseException):
                    # the batches read before a read error are parsed and kept all the same
                    while ahead:
                        yield ahead.popleft().result()
                    raise batch
                if stop.is_set():
                    return
                ahead.append(
                    pool.submit(parse_batch, reader, batch, ctx, lenient=lenient, force_exact=force_exact)
                )
                if len(ahead) >= workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    def offer(item: Any) -> bool:
        """Queue `item` for the consumer; False once it has stopped reading (it may never again)."""
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                results.put(item, timeout=0.05)
                return True
        return False

    def produce() -> None:
        try:
            for item in assemble_streams(parsed(), reader):
                if not offer(item):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    worker = threading.Thread(target=produce, name="tierlens-parse", daemon=True)
    worker.start()
    try:
        while True:
            item = results.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # a producer waiting on the full queue gives up (see `offer`)
        worker.join()


__all__ = ["IngestCounts", "IngestResult", "after_commit", "finish", "ingest", "with_time_field"]
