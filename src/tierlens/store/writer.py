"""Atomic, idempotent writes to the dataset.

An ingest is one transaction:
1. take the data directory's lock (concurrent ingests wait their turn) and recover any earlier
   transaction that died mid-commit;
2. stage rows as Parquet files under `_staging/<id>/` (invisible to readers), dropping every row
   whose `dedupe_key` is already stored in its date partition or was staged earlier in this run;
3. commit: fsync the staged files, write a journal listing the renames, rename each file into
   `requests/date=.../` (atomic per file), publish a snapshot of `requests/` for tierlens' readers
   (`tierlens.store.snapshot`: the commit becomes visible to them at once), append the ingest
   summary, delete the journal.

A process killed before the journal exists leaves only staging debris (deleted on the next run);
killed after, the next run rolls the journal forward. Either way readers see whole files only,
and re-running the ingest adds nothing twice (rows are keyed, not counted).

A rewrite (re-attribution, re-pricing) uses the same transaction: `rewrite(file, rows)` stages a
stored file's new content, and commit renames it over the old file, so no reader ever sees both
(no row is counted twice at any instant); recovery finishes the renames. Rows that share a
`dedupe_key` are one request split across features (see `tierlens.attribution`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tierlens.errors import StoreError
from tierlens.schema import CLUSTER_ROWS, CLUSTERED_BY, SCHEMA, STATISTICS, conform
from tierlens.store.keyset import KeySet
from tierlens.store.layout import Layout, Snapshot
from tierlens.store.snapshot import publish

ROW_GROUP_ROWS = 128 * 1024
"""Rows buffered per partition before they are written (as row groups of `CLUSTER_ROWS`)."""
MAX_BUFFERED_ROWS = 256 * 1024
"""Rows buffered across partitions before the largest buffers are flushed. This bounds memory:
a buffered row takes ~0.8 KB as Arrow, so the buffers hold ~200 MB at most (an ingest with two
batches parsing at once stays under 1.5 GB at 10M records; twice this bound took it past)."""
_ARROW_SCHEMA = pl.DataFrame(schema=SCHEMA).to_arrow().schema
_UNIQUE_COLUMNS = {
    "dedupe_key",
    "request_id",
    "message_id",
    "ts",
    "source_line",
    "latency_ms",
    "price_multiplier",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "logged_cost_usd",
    *(c for c in SCHEMA if c.startswith("cost_")),
}
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    # dictionaries pay off on repeated values only; ids, timestamps and amounts are nearly unique
    "use_dictionary": [c for c in SCHEMA if c not in _UNIQUE_COLUMNS],
    # statistics where readers filter (time, feature, model), not on every column
    "write_statistics": list(STATISTICS),
}


def _clustered(table: pa.Table) -> pa.Table:
    """`table` sorted by `CLUSTERED_BY`, nulls last (stable: the rows of a feature and model keep
    their order), in the stored schema. The order is computed on the key columns alone and the
    rows gathered once: a flush then holds one copy of its rows, not three."""
    keys = pl.from_arrow(table.select(list(CLUSTERED_BY)))
    assert isinstance(keys, pl.DataFrame)
    order = keys.select(pl.arg_sort_by(CLUSTERED_BY, nulls_last=True, maintain_order=True)).to_series()
    return table.take(order.to_arrow()).cast(_ARROW_SCHEMA)


def new_ingest_id() -> str:
    """Sortable, unique: UTC time plus randomness."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _crash_point(name: str) -> None:
    """Test hook: die here, as a `kill -9` would, when TIERLENS_CRASH_AT names this point."""
    if os.environ.get("TIERLENS_CRASH_AT") == name:
        os._exit(137)


@contextlib.contextmanager
def locked(layout: Layout, timeout: float = 600.0) -> Iterator[None]:
    """Hold the data directory's exclusive lock (waits up to `timeout` seconds for another writer)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    fh = layout.lock.open("a+")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"another tierlens process holds {layout.lock} (waited {timeout:.0f}s)"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def recover(layout: Layout) -> list[str]:
    """Roll forward committed-but-unfinished transactions; delete uncommitted staging. Needs the lock.

    A journal is trusted no further than the data directory: every path it names must lie inside
    it (moves from `_staging/` into `requests/`, deletes in `requests/`, a plain log name), or
    nothing of it is done and the journal is reported (`StoreError`).
    """
    done = []
    if layout.txn.is_dir():
        for journal in sorted(layout.txn.glob("*.json")):
            try:
                plan = json.loads(journal.read_text(encoding="utf-8"))
            except ValueError:
                journal.unlink()  # a journal is written atomically; a torn one cannot exist
                continue
            moves, deletes, log = _checked_plan(layout, journal, plan)
            for s, d in moves:
                if s.exists():
                    d.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(s, d)
            for old in deletes:  # files a rewrite replaced (attribution, reprice)
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
            publish(layout)
            _append_meta(layout, plan["summary"], log, once=True)
            journal.unlink()
            done.append(plan["summary"].get("ingest_id", journal.stem))
    if layout.staging.is_dir():
        shutil.rmtree(layout.staging)
    return done


_LOG_NAME = re.compile(r"^[a-z][a-z_]*\.jsonl$")


def _checked_plan(
    layout: Layout, journal: Path, plan: Any
) -> tuple[list[tuple[Path, Path]], list[Path], str]:
    """A journal's moves, deletes and log, each checked to stay where a commit puts things."""

    def inside(rel: Any, *areas: Path) -> Path:
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
            raise ValueError(rel)
        path = (layout.root / rel).resolve()
        if not any(path.is_relative_to(area.resolve()) for area in areas):
            raise ValueError(rel)
        return layout.root / rel

    try:
        moves = [
            (
                inside(s, layout.staging),
                inside(d, layout.requests, layout.quarantine, layout.quality, layout.trials),
            )
            for s, d in plan["moves"]
        ]
        deletes = [inside(p, layout.requests) for p in plan.get("deletes", [])]
        log = plan.get("log", INGEST_LOG)
        if not isinstance(log, str) or not _LOG_NAME.match(log) or not isinstance(plan["summary"], dict):
            raise ValueError(log)
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreError(
            f"refusing the unfinished transaction {journal}: it names a path outside the dataset's own "
            f"staging and data areas ({str(exc)[:80]!r}); it was not written by tierlens. Inspect it, "
            "then delete it to go on"
        ) from None
    return moves, deletes, log


INGEST_LOG = "ingests.jsonl"
"""`_meta/` file that gets one summary line per committed ingest (rewrites name their own log)."""


def _append_meta(layout: Layout, summary: dict[str, Any], log: str = INGEST_LOG, once: bool = False) -> None:
    """Append a commit's summary line; `once` (recovery): not if the killed commit already had."""
    layout.meta.mkdir(parents=True, exist_ok=True)
    if once and _logged(layout.meta / log, summary):
        return
    with (layout.meta / log).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(summary, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _logged(path: Path, summary: dict[str, Any]) -> bool:
    """True when the log's last line is this summary (a kill between appending it and deleting the
    journal leaves exactly that)."""
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        fh.seek(max(0, fh.seek(0, os.SEEK_END) - 65536))
        tail = fh.read().splitlines()
    try:
        last = json.loads(tail[-1]) if tail else None
    except ValueError:
        return False
    key = [k for k in summary if k.endswith("_id")][:1]
    return isinstance(last, dict) and bool(key) and last.get(key[0]) == summary.get(key[0])


def _write_rollups(layout: Layout, committed: list[str]) -> None:
    """The rollups of the files just committed, so that the next report reads them ready; a
    reader makes any that is missing, so a failure here loses nothing."""
    from tierlens.store.rollup import write_rollups

    paths = [layout.root / rel for rel in committed]
    # not a quarantine file, a quality file: requests only
    requests = [p for p in paths if p.suffix == ".parquet" and p.is_relative_to(layout.requests)]
    with contextlib.suppress(OSError, pl.exceptions.PolarsError):
        write_rollups(layout.root, requests)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


FSYNC_THREADS = 8
"""fsyncs waited on at once by a commit: each waits on the disk with the GIL released, and the
file system's journal then commits them together (a commit of 30 daily partitions makes some 60)."""


def _fsync_each(paths: Sequence[Path], fsync: Callable[[Path], None]) -> None:
    """`fsync` of every path, on up to `FSYNC_THREADS` threads; the first error is raised."""
    if len(paths) < 2:
        for p in paths:
            fsync(p)
        return
    with ThreadPoolExecutor(min(FSYNC_THREADS, len(paths)), thread_name_prefix="tierlens-fsync") as pool:
        for _ in pool.map(fsync, paths):
            pass


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


WRITERS = 2
"""Threads that write Parquet (see `Transaction`)."""


@dataclass
class _Partition:
    buffers: list[pa.Table] = field(default_factory=list)
    buffered: int = 0
    writer: pq.ParquetWriter | None = None
    path: Path | None = None


@dataclass(frozen=True)
class Added:
    """What one `Transaction.add` staged: the fresh requests (one row each), the rows written for
    them (more when attribution split a request across features), and the duplicates it skipped."""

    requests: pl.DataFrame
    rows: pl.DataFrame
    duplicates: int


@dataclass(frozen=True)
class Late:
    """Rows a merge found already stored at commit (a concurrent writer on
    object storage committed them first; a local commit holds the lock, so it finds none)."""

    requests: int = 0
    rows: int = 0
    cost_usd: float = 0.0


class Staging:
    """What every transaction shares: `add` stages canonical rows, skipping keys already stored
    (`_stored_keys` of their day) or staged; where the rows go is the subclass's `_buffer`, how
    they are committed its `commit`."""

    ingest_id: str
    dir: Path
    """A local directory for the transaction's own files (staging, spills)."""

    def commit(self, summary: dict[str, Any], quarantine: Sequence[dict[str, Any]] = ()) -> Late:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __init__(self) -> None:
        self._seen = KeySet()
        """(k1, k2, day) of every key stored in a partition this transaction touches, or staged."""
        self._loaded: set[date] = set()

    def _stored_keys(self, day: date) -> pl.LazyFrame | None:
        """The `dedupe_key`s stored in the partition of `day` (None: none)."""
        raise NotImplementedError

    def _buffer(self, data: pl.DataFrame) -> None:
        """Stage deduplicated rows (with their partition day in `_day`)."""
        raise NotImplementedError

    @staticmethod
    def _hashed(keys: pl.Expr) -> list[pl.Expr]:
        # two independent 64-bit hashes: a 128-bit key, so no collision in practice, in 16 bytes a row
        return [keys.hash(seed=0x5EED).alias("_k1"), keys.hash(seed=0xC0FFEE).alias("_k2")]

    def _load_seen(self, days: Iterable[date]) -> None:
        """Add the stored keys of partitions not yet loaded to `_seen`."""
        for day in sorted(set(days) - self._loaded):
            self._loaded.add(day)
            stored = self._stored_keys(day)
            if stored is not None:
                keys = stored.select(self._hashed(pl.col("dedupe_key")))
                self._seen.add(keys.with_columns(_day=pl.lit(day, pl.Date)).collect())

    def add(self, rows: pl.DataFrame, expand: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> Added:
        """Stage canonical rows, skipping keys already stored or staged; what was staged.

        `expand` runs on the fresh rows after deduplication (attribution: it may split one request
        into rows sharing its `dedupe_key`). Each step runs once over the whole batch, whatever
        number of days it spans.
        """
        if rows.is_empty():
            return Added(rows, rows, 0)
        before = rows.height
        # a key is unique within its day's partition (what the stored keys are checked against),
        # so that the outcome is the same however the input was cut into batches
        rows = rows.with_columns(*self._hashed(pl.col("dedupe_key")), _day=pl.col("ts").dt.date())
        rows = rows.unique(subset=["_k1", "_k2", "_day"], keep="first", maintain_order=True)
        self._load_seen(rows["_day"].unique().to_list())
        fresh = rows.filter(~self._seen.known(rows))
        if fresh.is_empty():
            return Added(fresh.drop("_k1", "_k2", "_day"), fresh.drop("_k1", "_k2", "_day"), before)
        self._seen.add(fresh)
        data = fresh.drop("_k1", "_k2")
        written = expand(data) if expand is not None else data
        self._buffer(written)
        return Added(data.drop("_day"), written.drop("_day"), before - fresh.height)


class Transaction(Staging):
    """Stages deduplicated rows, then commits them atomically. Use via `Store.transaction()`."""

    def __init__(self, layout: Layout, ingest_id: str, log: str = INGEST_LOG) -> None:
        super().__init__()
        self.layout = layout
        self.ingest_id = ingest_id
        self.log = log
        self.deletes: list[str] = []
        """Stored files to delete at commit, after the new files are in place (journaled)."""
        self.rewrites: list[tuple[str, str]] = []
        """(staged file, the stored file it replaces), renamed over it at commit."""
        self.dir = layout.staging / ingest_id
        self.parts: dict[str, _Partition] = {}
        self._buffered = 0
        # writer threads: pyarrow releases the GIL, so writing overlaps parsing the next chunk; while
        # rows come in, one write is in flight at a time (a bound on memory), and the commit writes
        # the partitions left in its buffers `WRITERS` at a time
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="tierlens-write")
        self._pending: list[Future[None]] = []

    def _stored_keys(self, day: date) -> pl.LazyFrame | None:
        from tierlens.store.doctor import readable

        files = readable(self.layout.data_files(day.isoformat()))  # a corrupt file blocks none
        return pl.scan_parquet([str(f) for f in files]) if files else None

    def _buffer(self, data: pl.DataFrame) -> None:
        """Buffer rows by day partition, handing full buffers (and the largest, past the memory
        bound) to the writer thread."""
        for (day,), chunk in data.partition_by("_day", as_dict=True, maintain_order=True).items():
            key = day.isoformat()
            part = self.parts.setdefault(key, _Partition())
            # as Arrow: a copy that holds just these rows' strings (a polars slice keeps its parse's buffers)
            part.buffers.append(chunk.drop("_day").to_arrow())
            part.buffered += chunk.height
            self._buffered += chunk.height
            if part.buffered >= ROW_GROUP_ROWS:
                self._flush(key, part)
        if self._buffered > MAX_BUFFERED_ROWS:
            for key, part in sorted(self.parts.items(), key=lambda kv: -kv[1].buffered):
                self._flush(key, part)
                if self._buffered <= MAX_BUFFERED_ROWS // 2:
                    break

    def rewrite(self, target: Path | FilePart, rows: pl.DataFrame) -> None:
        """Stage `rows` as the new content of the stored file `target` (a re-attribution, a re-pricing).

        At commit the new file is renamed over the old one: at every instant a reader, tierlens or
        a plain Parquet glob, sees one of the two whole files, never both, so no row is ever
        counted twice. A crash mid-commit rolls forward from the journal.
        """
        rel = (target.path if isinstance(target, FilePart) else target).relative_to(self.layout.root)
        staged = self.dir / "rewrites" / rel
        staged.parent.mkdir(parents=True, exist_ok=True)
        table = _clustered(conform(rows).to_arrow())
        pq.write_table(table, staged, row_group_size=CLUSTER_ROWS, **_PARQUET_OPTIONS)
        self.rewrites.append((str(staged.relative_to(self.layout.root)), str(rel)))

    def stage_file(self, target: Path, table: pa.Table) -> None:
        """Stage `table` as the new file `target` of a data area other than the requests (the
        quality judgments), renamed into place at commit with the rest, journaled likewise."""
        rel = target.relative_to(self.layout.root)
        staged = self.dir / "files" / rel
        staged.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, staged, **_PARQUET_OPTIONS)
        self.rewrites.append((str(staged.relative_to(self.layout.root)), str(rel)))

    def _flush(self, day: str, part: _Partition, wait: bool = True) -> None:
        """Hand the partition's buffer to a writer thread (waiting for the writes in flight first,
        unless not `wait`: the commit's last writes, of buffers already in memory)."""
        if not part.buffers:
            return
        tables = part.buffers
        if part.writer is None:
            part.path = self.dir / f"date={day}" / f"part-{self.ingest_id}.parquet"
            part.path.parent.mkdir(parents=True, exist_ok=True)
            part.writer = pq.ParquetWriter(part.path, _ARROW_SCHEMA, **_PARQUET_OPTIONS)
        writer = part.writer
        self._buffered -= part.buffered
        part.buffers, part.buffered = [], 0
        if wait:
            self._wait()

        def write() -> None:
            table = _clustered(pa.concat_tables(tables))
            writer.write_table(table, row_group_size=CLUSTER_ROWS)

        self._pending.append(self._pool.submit(write))

    def _wait(self) -> None:
        pending, self._pending = self._pending, []
        for write in pending:
            write.result()  # re-raises a write error here, in the ingest

    # -- commit ------------------------------------------------------------------------------------

    def commit(self, summary: dict[str, Any], quarantine: Sequence[dict[str, Any]] = ()) -> Late:
        """Make everything staged visible at once (see the module docstring), with `quarantine`:
        the rejected lines to keep (file, line, reason, hash; never their text)."""
        moves: list[tuple[str, str]] = []
        self._wait()  # a partition's writes never overlap: one ParquetWriter each
        for day, part in sorted(self.parts.items()):
            self._flush(day, part, wait=False)
        self._wait()
        self._pool.shutdown()
        written = []
        for day, part in sorted(self.parts.items()):
            if part.writer is not None and part.path is not None:
                part.writer.close()
                written.append(part.path)
                final = self.layout.partition(day) / part.path.name
                moves.append(
                    (str(part.path.relative_to(self.layout.root)), str(final.relative_to(self.layout.root)))
                )
        _fsync_each(written, _fsync_file)
        moves += self.rewrites
        if quarantine:
            q = self.dir / "quarantine.jsonl"
            q.parent.mkdir(parents=True, exist_ok=True)
            body = "".join(json.dumps({**r, "ingest_id": self.ingest_id}) + "\n" for r in quarantine)
            _write_atomic(q, body.encode("utf-8"))
            target = self.layout.quarantine / f"{self.ingest_id}.jsonl"
            moves.append((str(q.relative_to(self.layout.root)), str(target.relative_to(self.layout.root))))
        _crash_point("before_journal")
        plan = {"moves": moves, "deletes": self.deletes, "summary": summary, "log": self.log}
        _write_atomic(self.layout.txn / f"{self.ingest_id}.json", json.dumps(plan, default=str).encode())
        _crash_point("after_journal")
        for i, (src, dst) in enumerate(moves):
            d = self.layout.root / dst
            d.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.layout.root / src, d)
            if i == 0:
                _crash_point("mid_rename")
        # the renames durable before the snapshot names them (until then the journal replays them)
        _fsync_each(sorted({(self.layout.root / dst).parent for _, dst in moves}), _fsync_dir)
        for old in self.deletes:
            with contextlib.suppress(FileNotFoundError):
                (self.layout.root / old).unlink()
        _crash_point("before_snapshot")
        beside = [Path(dst).parts[0] in ("quality", "trials") for _, dst in moves]
        if self.deletes or not beside or not all(beside):
            publish(self.layout)  # the snapshot holds requests/ only: a quality or trial commit leaves it
        _append_meta(self.layout, summary, self.log)
        _crash_point("after_log")
        (self.layout.txn / f"{self.ingest_id}.json").unlink()
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.layout.staging.rmdir()
        _write_rollups(self.layout, [dst for _, dst in moves])
        return Late()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._wait()
        self._pool.shutdown(wait=True)
        for part in self.parts.values():
            if part.writer is not None:
                with contextlib.suppress(Exception):
                    part.writer.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass(frozen=True)
class FilePart:
    """One stored file, as a rewrite reads and replaces it (in one rename)."""

    path: Path

    def read(self) -> pl.DataFrame:
        return conform(pl.read_parquet(str(self.path), schema=SCHEMA, missing_columns="insert"))


class Store:
    """A data directory. `with store.transaction() as txn:` stages and commits one ingest.
    (`tierlens.store.delta.DeltaStore` is the same on object storage.)"""

    def __init__(self, root: str | Path) -> None:
        self.layout = Layout(Path(root))
        self.root = self.layout.root

    def require(self, requests: bool = False) -> None:
        self.layout.require(requests)

    def snapshot(self) -> Snapshot:
        from tierlens.store.doctor import readable
        from tierlens.store.snapshot import snapshot_files

        self.layout.require()
        return Snapshot(self.root, tuple(readable(snapshot_files(self.layout)[1])))

    def days(self, since: str | None = None, until: str | None = None) -> list[str]:
        return self.layout.days(since, until)

    def parts(self, day: str) -> list[FilePart]:
        """What a rewrite reads and replaces for `day`: each readable file of its partition."""
        from tierlens.store.doctor import readable

        return [FilePart(f) for f in readable(self.layout.data_files(day))]

    def settle(self, lock_timeout: float = 600.0) -> list[str]:
        """Finish what a killed writer committed (`recover`, under the lock), so that a read of an
        area without snapshots (the trials) sees every commit; the transactions rolled forward."""
        if not self.layout.txn.is_dir():
            return []
        with locked(self.layout, lock_timeout):
            return recover(self.layout)

    def quarantined(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Quarantined lines, most recent ingest first (at least `limit` of them when given)."""
        folder = self.layout.quarantine
        rows: list[dict[str, Any]] = []
        for f in sorted(folder.glob("*.jsonl"), reverse=True) if folder.is_dir() else []:
            rows += [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]
            if limit is not None and len(rows) >= limit:
                break
        return rows

    @contextlib.contextmanager
    def transaction(
        self, ingest_id: str | None = None, lock_timeout: float = 600.0, log: str = INGEST_LOG
    ) -> Iterator[Transaction]:
        try:
            with locked(self.layout, lock_timeout):
                recover(self.layout)
                txn = Transaction(self.layout, ingest_id or new_ingest_id(), log)
                try:
                    yield txn
                except BaseException:
                    txn.abort()
                    raise
        except PermissionError as exc:
            raise StoreError(f"cannot write to {self.layout.root}: {exc.strerror}") from None
