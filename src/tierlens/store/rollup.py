"""The daily rollup: per stored file, its requests summed by day, feature, model, tier and the few
keys the weekly report, the flags' first pass and the alerts group on.

```
<data>/_rollups/date=YYYY-MM-DD/<file stem>-<inode>-<size>-<mtime ns>.parquet
```

A rollup is named after the exact file it sums (its name, inode, size and modification time):
a file rewritten in place (a re-pricing, a re-attribution) is a new file, with a new rollup, so a
rollup is never stale; the union of the rollups of a snapshot's files is the rollup of that
snapshot. An ingest writes the rollups of the files it commits; a reader makes any that is
missing (an older dataset, a crash between the commit and the rollup, a read-only directory,
where it is computed in memory instead). Each is written atomically, so two readers making the
same one at once write the same bytes.

Every column of the rollup has the name and meaning it has in the requests (`requests`,
`cost_usd`, the token columns, the keys), so a query of sums over these columns (the report's
`queries/`) gives the same answer on either. `rollup_of` is the recomputation from the
requests that the stored rollups must equal.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import polars as pl

from tierlens.schema import PARTITION_COLUMN

KEYS = ("feature", "model", "model_id", "provider", "tier", "priced", "service_tier", "price_version")
"""The request columns the rollup keeps (with `date` and `bucket`, an aggregate report's row)."""
SUMMED = (
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "web_search_requests",
)
"""The request columns the rollup sums (under their own names); also `cost_usd`, null where
every request of the cell is unpriced, `rows`, `max_tokens_requests` and `error_requests`."""
COLUMNS = (
    PARTITION_COLUMN,
    *KEYS,
    "bucket",
    "rows",
    *SUMMED,
    "cost_usd",
    "max_tokens_requests",
    "error_requests",
)
DIMENSIONS = frozenset({PARTITION_COLUMN, *KEYS, "bucket"})
_DIR = "_rollups"
VERSION = 2  # in each rollup's name: a change of what a rollup holds makes every one anew


def rollup_of(requests: pl.LazyFrame, *by: str) -> pl.LazyFrame:
    """The rollup of `requests`, computed from them (what every stored rollup equals); `by`: more
    keys to group on (the file of each row, for the rollups of several files at once)."""
    requests_of = pl.col("requests")
    return requests.group_by(
        *by, PARTITION_COLUMN, *KEYS, bucket=(pl.col("ts_source") == "bucket_start").fill_null(False)
    ).agg(
        rows=pl.len().cast(pl.Int64),
        **{c: pl.col(c).sum() for c in SUMMED},
        # a cell of unpriced requests stays null, never $0, as in a sum over the requests
        cost_usd=pl.when(pl.col("cost_usd").is_not_null().any()).then(pl.col("cost_usd").sum()),
        max_tokens_requests=requests_of.filter(pl.col("stop_reason") == "max_tokens").sum(),
        error_requests=requests_of.filter(pl.col("status") == "error").sum(),
    )


def rollup_path(root: Path, data_file: Path) -> Path:
    """Where the rollup of the stored file `data_file` lives (named after that exact file)."""
    st = data_file.stat()
    name = f"{data_file.stem}-v{VERSION}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}.parquet"
    return root / _DIR / data_file.parent.name / name


def write_rollup(root: Path, data_file: Path) -> Path:
    """Make (or find) the rollup of `data_file`; OSError when the directory is not writable."""
    return write_rollups(root, [data_file])[0]


BATCH_BYTES = 8 << 20
"""Stored bytes summed by one rollup query at most (a query reads its files' columns whole)."""


def write_rollups(root: Path, data_files: list[Path]) -> list[Path]:
    """Make (or find) the rollups of `data_files`; the missing ones of small files in one query
    over several files, up to `BATCH_BYTES` of them (an ingest of Claude Code logs commits a
    small file per day: thirty queries cost several times one); OSError when the directory is
    not writable."""
    targets = [rollup_path(root, f) for f in data_files]
    batch: list[tuple[Path, Path]] = []  # (stored file, its rollup), up to BATCH_BYTES of files
    size = 0
    for data_file, target in zip(data_files, targets, strict=True):
        if _whole(target):
            continue
        stored = data_file.stat().st_size
        if batch and size + stored > BATCH_BYTES:
            _write_batch(batch)
            batch, size = [], 0
        batch.append((data_file, target))
        size += stored
    if batch:
        _write_batch(batch)
    return targets


def _write_batch(batch: list[tuple[Path, Path]]) -> None:
    """The rollups of (stored file, rollup) pairs, computed in one query grouped by file."""
    scans = [_scan_one(f).with_columns(_file=pl.lit(i, pl.Int64)) for i, (f, _) in enumerate(batch)]
    frames = rollup_of(pl.concat(scans, how="vertical"), "_file").collect()
    by_file = frames.partition_by("_file", as_dict=True, include_key=False)
    empty = frames.clear().drop("_file")
    for i, (_, target) in enumerate(batch):
        _write_atomic(by_file.get((i,), empty), target)


def _write_atomic(frame: pl.DataFrame, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        frame.write_parquet(tmp, statistics=False)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def scan_rollup(root: Path, data_files: list[Path]) -> pl.LazyFrame:
    """The rollup of these stored files (a snapshot's): the stored rollups, any missing one made
    (or, where it cannot be written, computed from its file)."""
    stored, computed = [], []
    for f in data_files:
        try:
            stored.append(str(write_rollup(root, f)))
        except OSError:
            computed.append(f)
    parts = [pl.scan_parquet(stored, schema=_schema())] if stored else []
    parts += [rollup_of(_scan_one(f)) for f in computed]
    if not parts:
        return pl.DataFrame(schema=_schema()).lazy()
    return pl.concat([p.select(COLUMNS) for p in parts], how="vertical")


def collect_garbage(root: Path, live: list[Path]) -> None:
    """Delete the rollups of files in none of `live` (the files of every kept snapshot)."""
    base = root / _DIR
    if not base.is_dir():
        return
    keep = set()
    for f in live:
        with contextlib.suppress(FileNotFoundError):
            keep.add(rollup_path(root, f))
    for r in base.glob(f"{PARTITION_COLUMN}=*/*.parquet"):
        if r not in keep:
            with contextlib.suppress(FileNotFoundError):
                r.unlink()


def _whole(path: Path) -> bool:
    """A Parquet file that ends as one does (a damaged rollup is made again, never read)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            fh.seek(-4, os.SEEK_END)
            return head == b"PAR1" and fh.read(4) == b"PAR1"
    except OSError:
        return False


def _scan_one(data_file: Path) -> pl.LazyFrame:
    from tierlens.schema import SCHEMA

    day = data_file.parent.name.split("=", 1)[1]
    return pl.scan_parquet(
        data_file, schema=SCHEMA, missing_columns="insert", hive_partitioning=False
    ).with_columns(pl.lit(day).str.to_date().alias(PARTITION_COLUMN))


def _schema() -> pl.Schema:
    from tierlens.schema import SCHEMA

    out: dict[str, pl.DataType] = {PARTITION_COLUMN: pl.Date()}
    out |= {k: SCHEMA[k] for k in KEYS}
    out |= {"bucket": pl.Boolean(), "rows": pl.Int64()}
    out |= {c: pl.Int64() for c in SUMMED}
    out |= {"cost_usd": pl.Float64(), "max_tokens_requests": pl.Int64(), "error_requests": pl.Int64()}
    return pl.Schema(out)
