"""The dataset on object storage: a Delta Lake table (`deltalake`, the delta-rs engine) at
`<url>/requests`, partitioned by `date`, beside the quarantine's JSON-lines objects.

```
<url>/requests/                  the Delta table: _delta_log/ and date=YYYY-MM-DD/*.parquet
<url>/quarantine/<ingest>.jsonl  rejected lines: file, line, reason, hash (never their text)
```
Object stores have no atomic rename, so the local store's journal and renames cannot commit
here; a Delta commit can: it is one log entry written with put-if-absent (S3 conditional writes,
`If-None-Match`), so of two writers one wins each version and the other re-reads and retries.
- An ingest stages its deduplicated rows in a local temporary directory, then MERGEs them into the
  table on (`date`, `dedupe_key`), inserting only rows whose key is not stored: a concurrent
  ingest that committed the same requests first makes the merge conflict, the rows are checked
  again against the new version and the merge is retried, so no request is stored twice. A large
  ingest commits in merges of whole days (`MERGE_ROWS`), each a commit of its own.
- A writer killed before a commit leaves only data files no log entry names: readers never see
  them, and a re-run adds its rows exactly once (those of the merges it committed are duplicates).
- A rewrite (re-pricing, re-attribution) replaces the days it changed in one overwrite commit.
- The summary of each write is the commit's own metadata (`DeltaStore.history`).

Readers take one table version (`snapshot`), so every figure of a command comes from one commit.
Any Delta reader reads the table too: polars `scan_delta`, DuckDB over `to_pyarrow_dataset()`,
Spark's `format("delta")`, Trino's and Databricks' Delta connectors.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from tierlens.errors import NoDatasetError, StoreError
from tierlens.location import storage_options
from tierlens.schema import PARTITION_COLUMN, SCHEMA, conform
from tierlens.store.writer import INGEST_LOG, ROW_GROUP_ROWS, Late, Staging, new_ingest_id

if TYPE_CHECKING:
    import pyarrow.fs as pafs
    from deltalake import DeltaTable

MERGE_ROWS = 400_000
"""Rows of one merge: an ingest of more commits whole days in several merges, since delta-rs holds
a merge's new files in memory as it writes them (2M rows into loopback S3: 4.2 GB peak in one
merge, 3.4 GB in merges of 400k, 2.9 GB in merges of 100k at half the speed)."""
COMMIT_ATTEMPTS = 20
"""Merges tried before an ingest gives up on a table that other writers keep changing."""
_READ_SCHEMA = pl.Schema({**SCHEMA, PARTITION_COLUMN: pl.Date()})
_TABLE_SCHEMA = pl.DataFrame(schema={**SCHEMA, PARTITION_COLUMN: pl.Date()}).to_arrow().schema


@dataclass(frozen=True)
class TableSnapshot:
    """One version of the table, read as requests or as their daily rollup."""

    root: str
    url: str
    version: int | None
    options: dict[str, str]

    def requests(self) -> pl.LazyFrame:
        """The canonical columns plus the `date` partition column, one row per stored row."""
        if self.version is None:
            return pl.DataFrame(schema={**SCHEMA, PARTITION_COLUMN: pl.Date()}).lazy()
        lf = pl.scan_delta(self.url, version=self.version, storage_options=self.options or None)
        return lf.select(*SCHEMA.names(), PARTITION_COLUMN).cast(_READ_SCHEMA)

    def rollup(self) -> pl.LazyFrame:
        """The same rows summed per day and cell (`tierlens.store.rollup`), computed from them."""
        from tierlens.store.rollup import rollup_of

        return rollup_of(self.requests())


@dataclass(frozen=True)
class DayPart:
    """The stored rows of one day, as a rewrite reads and replaces them."""

    store: DeltaStore
    day: str
    version: int

    def read(self) -> pl.DataFrame:
        snap = TableSnapshot(self.store.root, self.store.table_url, self.version, self.store.options)
        rows = snap.requests().filter(pl.col(PARTITION_COLUMN) == date.fromisoformat(self.day))
        return conform(rows.drop(PARTITION_COLUMN).collect())


class DeltaStore:
    """A dataset on object storage (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.root = url.rstrip("/")
        self.table_url = f"{self.root}/requests"
        self.options = storage_options(self.root)

    def table(self, version: int | None = None) -> DeltaTable | None:
        """The Delta table (its newest version, or `version`), or None before the first commit."""
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, TableNotFoundError

        try:
            return DeltaTable(self.table_url, version=version, storage_options=self.options or None)
        except TableNotFoundError:
            return None
        except (OSError, DeltaError) as exc:  # no credentials, no bucket, a refused request
            raise StoreError(f"cannot read {self.table_url}: {_first_line(exc)}") from None

    def require(self, requests: bool = False) -> None:
        """Raise `NoDatasetError` unless a table (or, unless `requests`, a quarantine) is here."""
        if self.table() is None and (requests or not self.quarantined(limit=1)):
            raise NoDatasetError(
                "no dataset at {root} (run `tierlens ingest` first, or pass {data_dir})", root=self.root
            )

    def snapshot(self) -> TableSnapshot:
        dt = self.table()
        if dt is None:
            self.require()  # no table yet: a dataset only when a quarantine is there
        return TableSnapshot(self.root, self.table_url, dt.version() if dt else None, self.options)

    def days(self, since: str | None = None, until: str | None = None) -> list[str]:
        dt = self.table()
        found = sorted({p[PARTITION_COLUMN] for p in dt.partitions()}) if dt else []
        return [d for d in found if (since is None or d >= since) and (until is None or d <= until)]

    def parts(self, day: str) -> list[DayPart]:
        """What a rewrite reads and replaces for `day`: the whole day, at the newest version."""
        dt = self.table()
        return [DayPart(self, day, dt.version())] if dt else []

    def history(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The summary each write kept in its commit, newest first (of `kind` when given)."""
        dt = self.table()
        entries = [json.loads(e["tierlens"]) for e in (dt.history() if dt else []) if "tierlens" in e]
        return [e for e in entries if kind is None or e.get("kind", "ingest") == kind]

    @contextlib.contextmanager
    def transaction(
        self, ingest_id: str | None = None, lock_timeout: float = 600.0, log: str = INGEST_LOG
    ) -> Iterator[DeltaTransaction]:
        """One write (`lock_timeout` is the local store's: Delta writers take no lock)."""
        txn = DeltaTransaction(self, ingest_id or new_ingest_id(), log)
        try:
            yield txn
        except BaseException:
            txn.abort()
            raise

    # -- the quarantine ----------------------------------------------------------------------------

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        return object_filesystem(f"{self.root}/quarantine")

    def quarantined(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Quarantined lines, most recent ingest first (at least `limit` of them when given)."""
        import pyarrow.fs as pafs

        fs, base = self._filesystem()
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        except OSError as exc:
            raise StoreError(f"cannot list {self.root}/quarantine: {_first_line(exc)}") from None
        rows: list[dict[str, Any]] = []
        for info in sorted(
            (i for i in infos if i.path.endswith(".jsonl")), key=lambda i: i.path, reverse=True
        ):
            with fs.open_input_stream(info.path) as fh:
                rows += [json.loads(x) for x in fh.read().decode("utf-8").splitlines() if x.strip()]
            if limit is not None and len(rows) >= limit:
                break
        return rows

    def write_quarantine(self, ingest_id: str, rejects: Sequence[dict[str, Any]]) -> None:
        """One object per ingest (an object store appends nothing): written whole or not at all."""
        fs, base = self._filesystem()
        body = "".join(json.dumps({**r, "ingest_id": ingest_id}) + "\n" for r in rejects)
        with fs.open_output_stream(f"{base}/{ingest_id}.jsonl") as fh:
            fh.write(body.encode("utf-8"))


def object_filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of `url` and the path in it (S3 honours `AWS_ENDPOINT_URL`)."""
    import os
    from urllib.parse import urlparse

    import pyarrow.fs as pafs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if url.startswith(("s3://", "s3a://")) and endpoint:
        parsed = urlparse(endpoint)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        fs = pafs.S3FileSystem(
            endpoint_override=parsed.netloc, scheme=parsed.scheme or "https", region=region
        )
        return fs, url.split("://", 1)[1]
    fs, path = pafs.FileSystem.from_uri(url)
    return fs, str(path)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class DeltaTransaction(Staging):
    """Stages deduplicated rows locally, then commits them in one Delta commit (see the module
    docstring). Use via `DeltaStore.transaction()`."""

    def __init__(self, store: DeltaStore, ingest_id: str, log: str = INGEST_LOG) -> None:
        super().__init__()
        self.store, self.ingest_id, self.log = store, ingest_id, log
        self.dir = Path(tempfile.mkdtemp(prefix=f"tierlens-{ingest_id}-"))
        base = store.table()
        self._base_version = base.version() if base is not None else None
        self._stored: pl.LazyFrame | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._staged: list[Path] = []
        self.rewrites: dict[str, Path] = {}
        """Day -> its staged new rows (a re-pricing, a re-attribution)."""
        self._read: int | None = None
        """The version the rewritten days were read at: the overwrite conflicts with later writes to them."""
        self.late = Late()

    def _stored_keys(self, day: date) -> pl.LazyFrame | None:
        if self._base_version is None:
            return None
        if self._stored is None:  # one read of the table's log, then a pruned scan per day
            snap = TableSnapshot(
                self.store.root, self.store.table_url, self._base_version, self.store.options
            )
            self._stored = snap.requests().select(PARTITION_COLUMN, "dedupe_key")
        return self._stored.filter(pl.col(PARTITION_COLUMN) == day)

    def _buffer(self, data: pl.DataFrame) -> None:
        self._pending.append(_as_table(conform(data.drop("_day")), data["_day"]))
        self._pending_rows += data.height
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._spill()

    def _spill(self) -> None:
        if self._pending:
            path = self.dir / f"staged-{len(self._staged):05d}.parquet"
            pq.write_table(pa.concat_tables(self._pending), path, compression="zstd")
            self._staged.append(path)
            self._pending, self._pending_rows = [], 0

    def rewrite(self, target: DayPart, rows: pl.DataFrame) -> None:
        """Stage `rows` as the new content of the day `target` (committed in one overwrite)."""
        path = self.dir / f"rewrite-{target.day}.parquet"
        day = pl.Series([date.fromisoformat(target.day)] * rows.height, dtype=pl.Date())
        pq.write_table(_as_table(conform(rows), day), path, compression="zstd")
        self.rewrites[target.day] = path
        self._read = min(self._read, target.version) if self._read is not None else target.version

    def commit(self, summary: dict[str, Any], quarantine: Sequence[dict[str, Any]] = ()) -> Late:
        """Commit what is staged (one Delta commit each for the new rows and the rewrites), then
        keep `quarantine`; what a concurrent writer had stored first (the ingest counts it as
        duplicates)."""
        self._spill()
        metadata = {"tierlens": json.dumps({**summary, "log": self.log}, default=str)}
        if self._staged:
            self._merge(metadata)
        if self.rewrites:
            self._overwrite(metadata)
        if quarantine:
            self.store.write_quarantine(self.ingest_id, quarantine)
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.late

    def abort(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- commit ------------------------------------------------------------------------------------

    @property
    def _writer(self) -> Any:
        """How the table's files are written: zstd, as the local store's."""
        from deltalake import WriterProperties

        return WriterProperties(compression="ZSTD")

    def _table(self) -> DeltaTable:
        """The table's newest version, created (empty) by the first writer."""
        from deltalake import DeltaTable

        dt = self.store.table()
        if dt is None:
            with contextlib.suppress(Exception):  # another writer created it first: read theirs
                DeltaTable.create(
                    self.store.table_url,
                    schema=_TABLE_SCHEMA,
                    partition_by=[PARTITION_COLUMN],
                    mode="ignore",
                    storage_options=self.store.options or None,
                )
            dt = self.store.table()
        if dt is None:
            raise StoreError(f"cannot create the table {self.store.table_url}")
        return dt

    def _merge(self, metadata: dict[str, str]) -> None:
        """Insert the staged rows whose (date, dedupe_key) is not stored: one merge per group of
        whole days (`MERGE_ROWS`), the last one carrying the summary."""
        groups = self._day_groups()
        for k, files in enumerate(groups):
            part = {"ingest_id": self.ingest_id, "part": k + 1, "of": len(groups)}
            self._merge_group(
                files, metadata if k == len(groups) - 1 else {"tierlens_part": json.dumps(part)}
            )

    def _day_groups(self) -> list[list[Path]]:
        """The staged rows as files of whole days, about `MERGE_ROWS` rows each (a merge's memory
        grows with its rows); one group when they are fewer."""
        staged = pl.scan_parquet([str(p) for p in self._staged])
        counts = staged.group_by(PARTITION_COLUMN).len().sort(PARTITION_COLUMN).collect()
        if int(counts["len"].sum()) <= MERGE_ROWS:
            return [self._staged]
        groups: list[list[date]] = [[]]
        size = 0
        for day, n in counts.iter_rows():
            if groups[-1] and size + n > MERGE_ROWS:
                groups.append([])
                size = 0
            groups[-1].append(day)
            size += n
        out = []
        for k, days in enumerate(groups):
            path = self.dir / f"group-{k:05d}.parquet"
            staged.filter(pl.col(PARTITION_COLUMN).is_in(days)).sink_parquet(path, compression="zstd")
            out.append([path])
        for p in self._staged:
            p.unlink()
        return out

    def _merge_group(self, files: list[Path], metadata: dict[str, str]) -> None:
        """One merge, retried on conflict with the rows checked again against the winner's version."""
        from deltalake import CommitProperties
        from deltalake.exceptions import CommitFailedError

        for attempt in range(COMMIT_ATTEMPTS):
            dt = self._table()
            if attempt or dt.version() != self._base_version:
                files = self._recheck(files, dt.version())  # another commit came first: drop what it stored
            if not files:
                return
            source = pads.dataset([str(p) for p in files], schema=_TABLE_SCHEMA).scanner().to_reader()
            try:
                merge = dt.merge(
                    source,
                    predicate=f"t.{PARTITION_COLUMN} = s.{PARTITION_COLUMN} AND t.dedupe_key = s.dedupe_key",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=CommitProperties(custom_metadata=metadata),
                    writer_properties=self._writer,
                )
                before = dt.version()
                merge.when_not_matched_insert_all().execute()
                if dt.version() == before + 1:  # nobody in between: the next group needs no second check
                    self._base_version = dt.version()
                return
            except CommitFailedError:
                continue
        raise StoreError(f"{self.store.table_url} kept changing under {COMMIT_ATTEMPTS} merges: run again")

    def _recheck(self, files: list[Path], version: int) -> list[Path]:
        """`files` without the rows whose key `version` of the table holds (counted in `late`)."""
        snap = TableSnapshot(self.store.root, self.store.table_url, version, self.store.options)
        staged = pl.scan_parquet([str(p) for p in files])
        days = staged.select(PARTITION_COLUMN).unique().collect().to_series().to_list()
        stored = (
            snap.requests()
            .filter(pl.col(PARTITION_COLUMN).is_in(days))
            .select(PARTITION_COLUMN, "dedupe_key")
        )
        on = [PARTITION_COLUMN, "dedupe_key"]
        gone = staged.join(stored.unique(), on=on, how="semi").collect()
        if gone.is_empty():
            return files
        self.late = Late(
            self.late.requests + gone["dedupe_key"].n_unique(),
            self.late.rows + gone.height,
            self.late.cost_usd + float(gone["cost_usd"].sum() or 0.0),
        )
        kept = self.dir / f"kept-{files[0].stem}-{version}.parquet"
        staged.join(stored.unique(), on=on, how="anti").sink_parquet(kept, compression="zstd")
        for p in files:
            p.unlink()
        return [kept] if pq.read_metadata(kept).num_rows else []

    def _overwrite(self, metadata: dict[str, str]) -> None:
        """Replace the rewritten days in one commit; a concurrent write to them makes it fail."""
        from deltalake import CommitProperties, write_deltalake
        from deltalake.exceptions import CommitFailedError

        days = sorted(self.rewrites)
        dt = self.store.table(version=self._read)
        if dt is None:
            raise StoreError(f"{self.store.table_url} is gone")
        source = (
            pads.dataset([str(self.rewrites[d]) for d in days], schema=_TABLE_SCHEMA).scanner().to_reader()
        )
        predicate = (
            f"{PARTITION_COLUMN} IN ({', '.join(repr(date.fromisoformat(d).isoformat()) for d in days)})"
        )
        try:
            write_deltalake(
                dt,
                source,
                mode="overwrite",
                predicate=predicate,
                commit_properties=CommitProperties(custom_metadata=metadata),
                writer_properties=self._writer,
            )
        except CommitFailedError:
            raise StoreError(
                f"another write changed {days[0]}..{days[-1]} of {self.store.root} meanwhile: run again"
            ) from None


def _as_table(rows: pl.DataFrame, day: pl.Series) -> pa.Table:
    """Canonical rows with their partition day, in the table's Arrow schema."""
    return rows.with_columns(day.alias(PARTITION_COLUMN)).to_arrow().cast(_TABLE_SCHEMA)
