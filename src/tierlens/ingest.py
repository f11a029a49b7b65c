"""`ingest`: logs in, priced and deduplicated rows out, in one transaction.

This is the library function behind `tierlens ingest`; a notebook or a cron job calls it the
same way. It resolves inputs (files, directories, globs, `-`), picks a reader per file, streams
each file in chunks through the reader and the pricer into the store, and returns an
`IngestResult` that says what happened to every line.
"""

from __future__ import annotations

import glob
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tierlens.config import Settings, load_settings
from tierlens.errors import SourceError, StrictModeError
from tierlens.pricing import PriceTable, price_requests
from tierlens.sources import Context, detect_format, make_reader, parse_chunk
from tierlens.sources.base import iter_chunks, open_input
from tierlens.store import Store

LOG_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".log.gz", ".gz")
SIDECAR_SUFFIXES = (".batch.json",)


@dataclass
class IngestResult:
    """What one ingest did. Every line read is added, a duplicate, skipped or rejected."""

    ingest_id: str
    data_dir: str
    files: int = 0
    lines_read: int = 0
    rows_added: int = 0
    duplicates_skipped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    unpriced: dict[str, int] = field(default_factory=dict)
    total_cost_usd: float = 0.0
    formats: dict[str, int] = field(default_factory=dict)
    timestamps: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rejects"] = d["rejects"][:1000]
        return d


def resolve_inputs(paths: Sequence[str | Path]) -> list[str]:
    """Expand directories (recursively, log files only) and globs; keep `-`; error on a missing path."""
    out: list[str] = []
    for p in paths:
        s = str(p)
        if s == "-":
            out.append(s)
            continue
        path = Path(s)
        if path.is_dir():
            found = [
                f
                for f in sorted(path.rglob("*"))
                if f.is_file()
                and f.name.endswith(LOG_SUFFIXES)
                and not f.name.endswith(SIDECAR_SUFFIXES)
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            ]
            out.extend(str(f) for f in found)
        elif path.is_file():
            out.append(s)
        elif glob.has_magic(s):
            matches = sorted(glob.glob(s, recursive=True))
            if not matches:
                raise SourceError(f"no file matches {s}")
            out.extend(resolve_inputs(matches))
        else:
            raise SourceError(f"no such file or directory: {s}")
    return list(dict.fromkeys(out))


def ingest(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    format: str | None = None,
    strict: bool = False,
    batch_ended_at: datetime | None = None,
    stdin: IO[bytes] | None = None,
    force_exact: bool = False,
) -> IngestResult:
    """Ingest logs into the dataset at `settings.data_dir`; returns what happened to every line.

    Raises `SourceError` for unreadable inputs and `StrictModeError` (after committing the good
    rows) when `strict` and some lines were rejected.
    """
    settings = settings or load_settings()
    files = resolve_inputs(paths)
    if not files:
        raise SourceError("no log files found in " + ", ".join(str(p) for p in paths))
    table = PriceTable.load(settings.pricing)
    store = Store(settings.data_dir)
    started = time.perf_counter()
    skipped: Counter[str] = Counter()
    with store.transaction() as txn:
        result = IngestResult(ingest_id=txn.ingest_id, data_dir=str(settings.data_dir))
        options = {"batch_ended_at": batch_ended_at}
        for name in files:
            path = None if name == "-" else Path(name)
            ctx = Context(source_file=name, path=path, ingest_id=txn.ingest_id, options=options)
            chunks = _chunks(name, settings.chunk_bytes, stdin)
            first = next(chunks, None)
            if first is None:
                result.files_skipped.append(f"{name}: empty")
                continue
            try:
                reader = make_reader(format, settings) if format else detect_format(first[1], settings, name)
            except SourceError:
                if len(files) > 1 and format is None and path is not None:
                    result.files_skipped.append(f"{name}: unrecognised format")
                    continue
                raise
            result.files += 1
            result.formats[reader.name] = result.formats.get(reader.name, 0) + 1
            for first_line, chunk in _chain(first, chunks):
                parsed = parse_chunk(reader, chunk, first_line, ctx, force_exact=force_exact)
                result.lines_read += parsed.lines
                skipped.update(parsed.skipped)
                txn.rejects.extend({**r, "format": reader.name} for r in parsed.rejects)
                txn.add(price_requests(parsed.rows, table))
        result.rows_added = txn.stats.rows_added
        result.duplicates_skipped = txn.stats.duplicates
        result.total_cost_usd = txn.stats.cost_usd
        result.skipped = dict(skipped.most_common())
        result.rejects = txn.rejects
        result.rejected = dict(Counter(_reason_class(r["reason"]) for r in txn.rejects).most_common())
        result.unpriced = dict(txn.stats.unpriced.most_common())
        result.timestamps = _timestamp_notes(txn.stats.ts_sources)
        result.seconds = time.perf_counter() - started
        txn.commit(_summary(result))
    if strict and result.rejected_total:
        raise StrictModeError(
            f"{result.rejected_total} line(s) rejected under --strict "
            f"(good rows were committed; see {Path(settings.data_dir) / 'quarantine' / (result.ingest_id + '.jsonl')})"
        )
    return result


def _chunks(name: str, size: int, stdin: IO[bytes] | None) -> Iterator[tuple[int, bytes]]:
    stream = open_input(name, stdin)
    try:
        yield from iter_chunks(stream, size)
    finally:
        if name != "-":
            stream.close()


def _chain(first: tuple[int, bytes], rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield first
    yield from rest


def _timestamp_notes(sources: Counter[tuple[str, str]]) -> list[str]:
    """One note per way a timestamp was derived (not read from the log line itself)."""
    files: dict[str, set[str]] = {}
    rows: Counter[str] = Counter()
    for (name, how), n in sources.items():
        files.setdefault(how, set()).add(name)
        rows[how] += n
    words = {
        "batch_ended_at": "the batch's ended_at (sidecar batch object)",
        "option": "--batch-ended-at",
        "config": "sources.anthropic_batch.ended_at in the config",
        "file_mtime": "the file's modification time (give --batch-ended-at to be exact)",
        "ingest_time": "the ingest time (stdin has no file time; give --batch-ended-at)",
    }
    return [
        f"{rows[how]:,} rows in {len(files[how])} file(s) timestamped from {words.get(how, how)}"
        for how in sorted(rows)
    ]


def _reason_class(reason: str) -> str:
    """Group rejects for the summary: 'invalid JSON: Expecting value at column 3' -> 'invalid JSON'."""
    head = reason.split(":")[0] if ":" in reason else reason
    if head.startswith("unparseable timestamp"):
        return "unparseable timestamp"
    if "expected" in reason and ":" in reason:
        return reason.split(", got")[0]
    return head


def _summary(r: IngestResult) -> dict[str, Any]:
    d = r.to_dict()
    d.pop("rejects")
    return d
