"""Where things live in a data directory, and how to read the dataset back.

```
<data>/requests/date=YYYY-MM-DD/part-<ingest>-<n>.parquet   the dataset (Hive-partitioned, zstd)
<data>/quarantine/<ingest>.jsonl                             rejected lines: file, line, reason, hash
<data>/quality/part-<seq>-<ingest>.parquet                   quality judgments (tierlens.quality), apart from costs
<data>/trials/part-<seq>-<trial>.parquet                     trial results (tierlens.trial): no text
<data>/_meta/ingests.jsonl                                   one summary line per committed ingest
<data>/_staging/<ingest>/...                                 files being written (never read)
<data>/_txn/<ingest>.json                                    commit journal (rolled forward on recovery)
<data>/_snapshots/<generation>/date=.../*.parquet             committed snapshots (hard links; see snapshot.py)
<data>/_snapshots/CURRENT                                    the generation tierlens' readers read
<data>/_rollups/date=.../*.parquet                           each stored file summed per day and cell (rollup.py)
<data>/.lock                                                 serializes writers
```
tierlens' own readers (`scan`, every command, `tierlens.open`) read the current snapshot: all of
one commit or none of it. Plain readers (notebooks, Spark, DuckDB) may glob `requests/**/*.parquet`:
a file appears there by an atomic rename once it is complete and a rewrite replaces a file by name,
so such a reader never sees a partial file nor a row twice, but may see part of a commit under way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from tierlens.errors import NoDatasetError
from tierlens.schema import PARTITION_COLUMN, SCHEMA

if TYPE_CHECKING:
    from tierlens.store.delta import TableSnapshot


class _Area:
    """One named place of a data directory (the table above): `layout.<area>` is its path under
    `layout.root`, so that each name is written once."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, layout: Layout, owner: type[Layout] | None = None) -> Path:
        return layout.root / self.name


@dataclass(frozen=True)
class Layout:
    root: Path

    requests = _Area("requests")
    quarantine = _Area("quarantine")
    quality = _Area("quality")
    trials = _Area("trials")
    meta = _Area("_meta")
    staging = _Area("_staging")
    txn = _Area("_txn")
    snapshots = _Area("_snapshots")
    lock = _Area(".lock")

    @staticmethod
    def next_part(folder: Path, ident: str) -> Path:
        """`part-<sequence>-<ident>.parquet` in `folder` (the quality and trial areas): the sequence,
        taken under the store's lock, orders the files as committed, which ids of one second do not."""
        taken = [p.name.split("-")[1] for p in folder.glob("part-*.parquet")] if folder.is_dir() else []
        n = max((int(t) for t in taken if t.isdigit()), default=0)
        return folder / f"part-{n + 1:08d}-{ident}.parquet"

    def require(self, requests: bool = False) -> None:
        """Raise `NoDatasetError` unless a tierlens dataset is here (what every read checks first);
        `requests`: unless it holds requests too (a dataset of quality judgments alone has none)."""
        missing = NoDatasetError(
            "no dataset at {root} (run `tierlens ingest` first, or pass {data_dir})", root=str(self.root)
        )
        if not self.root.exists():
            raise missing
        if not any(p.exists() for p in (self.requests, self.snapshots, self.meta)):
            raise NoDatasetError(
                "{root} is not a tierlens dataset (no requests/ in it; pass {data_dir})", root=str(self.root)
            )
        if requests and not self.requests.is_dir():
            raise missing

    def partition(self, day: str) -> Path:
        return self.requests / f"{PARTITION_COLUMN}={day}"

    def days(self, since: str | None = None, until: str | None = None) -> list[str]:
        """The partitions holding data, `YYYY-MM-DD`, ascending, within [since, until] when given."""
        if not self.requests.is_dir():
            return []
        found = sorted(
            p.name.split("=", 1)[1]
            for p in self.requests.glob(f"{PARTITION_COLUMN}=*")
            if p.is_dir() and any(p.glob("*.parquet"))
        )
        return [d for d in found if (since is None or d >= since) and (until is None or d <= until)]

    def data_files(self, day: str | None = None) -> list[Path]:
        base = self.partition(day) if day else self.requests
        pattern = "*.parquet" if day else f"{PARTITION_COLUMN}=*/*.parquet"
        return sorted(base.glob(pattern)) if base.is_dir() else []


@dataclass(frozen=True)
class Snapshot:
    """The files of one committed snapshot, read as requests or as their daily rollup."""

    root: Path
    files: tuple[Path, ...]

    def requests(self) -> pl.LazyFrame:
        """The canonical columns plus the `date` partition column, one row per stored row."""
        if not self.files:
            return pl.DataFrame(schema={**SCHEMA, PARTITION_COLUMN: pl.Date()}).lazy()
        return pl.scan_parquet(
            [str(f) for f in self.files],
            hive_partitioning=True,
            hive_schema={PARTITION_COLUMN: pl.Date()},
            schema=SCHEMA,
            missing_columns="insert",
        )

    def rollup(self) -> pl.LazyFrame:
        """The same rows summed per day and cell (`tierlens.store.rollup`)."""
        from tierlens.store.rollup import scan_rollup

        return scan_rollup(self.root, list(self.files))


def snapshot(data_dir: str | Path) -> Snapshot | TableSnapshot:
    """The dataset's current snapshot: every commit is in it whole or not at all, and later
    commits do not change it (on object storage: the Delta table's newest version)."""
    from tierlens.store import open_store

    return open_store(data_dir).snapshot()


def scan(data_dir: str | Path) -> pl.LazyFrame:
    """A LazyFrame over the dataset's current snapshot (canonical columns plus the `date` partition
    column): every commit is in it whole or not at all, and later commits do not change it."""
    return snapshot(data_dir).requests()
