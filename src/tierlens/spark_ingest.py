"""Ingest on Apache Spark (`tierlens ingest --engine spark`): tierlens' own readers, pricer and
deduplication run inside an existing engine, not a home-made distributed one.

The steps:
1. The driver lists the log files as the embedded ingest does, into a DataFrame of (file, path).
2. `mapInArrow` runs, in Spark's Python workers, the same code the embedded ingest runs on each
   file: the format's reader (`ingest.open_log`, `parse_batch`, stream assembly) and the pricer
   (`price_stored`). A task yields the file's canonical rows as Arrow batches, each with its file's
   place in the listing and its own order in the file, and one row of what else the file gave
   (lines, records, skipped lines, rejects, notes; a skipped or failed file and why).
3. Deduplication is a Spark window: per `dedupe_key` and UTC day (the store's key), the first row
   in the embedded ingest's order (files in listing order, rows in file order, a reader's deferred
   copies after every file) is kept; the rest count as duplicates.
4. The rows, sorted in that order, are written by Spark as Parquet to a staging directory, and
   the driver commits them through the same store transaction, batch by batch: attribution, the
   check against the keys already stored, the rollups and the snapshot are the embedded ones, so
   both engines give the same dataset.

A file is one task: many files parse in parallel (a Claude Code tree, a day's gateway logs cut by
hour); one huge file is parsed by one worker. Spark is reached through `SPARK_REMOTE` (Spark
Connect) or `--master` (`local[*]` by default; `tierlens.spark`).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from tierlens.attribution import Attribution
from tierlens.config import Settings
from tierlens.errors import SourceError
from tierlens.ingest import IngestCounts, IngestResult, after_commit, finish, with_time_field
from tierlens.logfiles import log_files, open_log, real_paths
from tierlens.pricing import PriceTable
from tierlens.pricing.engine import price_stored
from tierlens.schema import SCHEMA, conform
from tierlens.sources import Parsed, parse_batch
from tierlens.sources.costs import CostReportInput
from tierlens.sources.streams import assemble_streams
from tierlens.spark import spark_session
from tierlens.store import open_store
from tierlens.store.writer import Staging

MAX_TASKS = 256
"""Partitions of the file listing at most (a task loads the price table once, then parses its files)."""
ORDER = ("_deferred", "_file", "_ord")
"""The embedded ingest's order: what deduplication keeps the first of."""
_ARROW = {
    "String": pa.string(),
    "Int64": pa.int64(),
    "Float64": pa.float64(),
    "Boolean": pa.bool_(),
    "List(String)": pa.list_(pa.string()),
}
OUT = pa.schema(
    [pa.field(name, _ARROW.get(str(dtype), pa.timestamp("us", tz="UTC"))) for name, dtype in SCHEMA.items()]
    + [
        pa.field("_file", pa.int64()),
        pa.field("_ord", pa.int64()),
        pa.field("_deferred", pa.bool_()),
        pa.field("_meta", pa.string()),
    ]
)
"""What a task yields: canonical rows (`_meta` null), and one row per file of what else it gave."""


def _rows(frame: pl.DataFrame, file: int, deferred: bool, table: PriceTable) -> pa.Table:
    priced = conform(price_stored(frame, table)) if frame.height else conform(frame)
    extra = pl.DataFrame(
        {
            "_file": pl.Series([file] * priced.height, dtype=pl.Int64),
            "_ord": pl.int_range(priced.height, dtype=pl.Int64, eager=True),
            "_deferred": pl.Series([deferred] * priced.height, dtype=pl.Boolean),
            "_meta": pl.Series([None] * priced.height, dtype=pl.String),
        }
    )
    return priced.hstack(extra).to_arrow().cast(OUT)


def _meta_row(file: int, meta: dict[str, Any]) -> pa.Table:
    empty = {f.name: pa.nulls(1, f.type) for f in OUT}
    empty |= {
        "_file": pa.array([file], pa.int64()),
        "_meta": pa.array([json.dumps(meta, default=str)], pa.string()),
    }
    return pa.table(empty, schema=OUT)


def _parses(
    name: str, settings: Settings, table: PriceTable, job: dict[str, Any], meta: dict[str, Any]
) -> list[Parsed]:
    """The parses of one file, as the embedded ingest makes them; `meta` says what else happened
    (a skipped file, a failure after some batches, or an error the whole ingest must raise)."""
    out: list[Parsed] = []
    try:
        opened = open_log(
            name, settings, table, job["format"], job["ingest_id"], job["options"], alone=job["alone"]
        )
        if isinstance(opened, str):
            meta["skipped_file"] = opened
            return out
        with opened:
            meta["format"] = opened.reader.name
            batches = (
                parse_batch(
                    opened.reader, b, opened.ctx, lenient=opened.lenient, force_exact=job["force_exact"]
                )
                for b in opened.batches
            )
            for parsed in assemble_streams(batches, opened.reader):
                out.append(parsed)
    except CostReportInput as exc:  # alone: the ingest says what it is instead (the embedded message)
        meta["raise"] = str(exc)
    except (SourceError, OSError, EOFError) as exc:
        if job["alone"]:
            meta["raise"] = str(exc)
        else:  # a bad file is reported; the others (and its own lines read before it broke) commit
            meta["failed"] = f"{name}: {exc}"
    return out


def _parse_file(
    file: int, name: str, settings: Settings, table: PriceTable, job: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    meta: dict[str, Any] = {"lines": 0, "records": 0, "skipped": {}, "notes": {}, "rejects": []}
    parses = _parses(name, settings, table, job, meta)
    skipped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for p in parses:
        meta["lines"] += p.lines
        meta["records"] += p.records
        skipped.update(p.skipped)
        notes.update(p.notes)
        meta["rejects"] += [{**r, "format": meta["format"]} for r in p.rejects]
    meta["skipped"], meta["notes"] = dict(skipped), dict(notes)
    meta["rows"] = 0  # what this file hands to the deduplication
    for frames, deferred in (
        ([p.rows for p in parses], False),
        ([p.deferred for p in parses if p.deferred is not None], True),
    ):
        frames = [f for f in frames if f.height]
        if frames:
            rows = _rows(pl.concat(frames, how="vertical_relaxed"), file, deferred, table)
            meta["rows"] += rows.num_rows
            yield from rows.to_batches()
    yield from _meta_row(file, meta).to_batches()


def _task(
    settings: Settings, job: dict[str, Any]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function `mapInArrow` runs on each partition of the file listing."""

    def run(listing: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = PriceTable.load(settings.pricing)
        for batch in listing:
            for file, name in zip(
                batch.column("file").to_pylist(), batch.column("path").to_pylist(), strict=True
            ):
                yield from _parse_file(int(file), str(name), settings, table, job)

    return run


def _deduplicated(parsed: Any) -> Any:
    """The first row of each (key, UTC day) in the embedded order."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    data = parsed.filter(F.col("_meta").isNull())
    window = Window.partitionBy("dedupe_key", F.to_date("ts")).orderBy(*ORDER)
    return data.withColumn("_n", F.row_number().over(window)).filter(F.col("_n") == 1).drop("_n")


def ingest_on_spark(
    paths: Sequence[str | Path],
    settings: Settings,
    *,
    format: str | None = None,
    strict: bool = False,
    force_exact: bool = False,
    batch_ended_at: datetime | None = None,
    ts_from: str | None = None,
    master: str | None = None,
    exclude: Sequence[str | Path] = (),
    reprice: bool = False,
) -> IngestResult:
    """Ingest `paths` on Spark into the dataset at `settings.data_dir` (see the module docstring);
    the same result as `tierlens.ingest.ingest` of the same files."""
    settings, ts_from = with_time_field(settings, ts_from)
    ignored: list[str] = []
    files = log_files(paths, exclude, ignored)
    if "-" in files:
        raise SourceError("an ingest on Spark reads files, not standard input")
    started = time.perf_counter()
    table = PriceTable.load(settings.pricing)
    spark = spark_session(master)
    from pyspark.sql.pandas.types import from_arrow_schema

    with (
        open_store(settings.data_dir).transaction() as txn,
        tempfile.TemporaryDirectory(prefix="tierlens-spark-") as tmp,
    ):
        result = IngestResult(ingest_id=txn.ingest_id, data_dir=str(settings.data_dir))
        counts = IngestCounts()
        result.files_skipped += ignored
        result.inputs = real_paths(files)
        job = {
            "format": format,
            "ingest_id": txn.ingest_id,
            "options": {"batch_ended_at": batch_ended_at, "ts_from": ts_from, "spill_dir": None},
            "alone": len(files) == 1,
            "force_exact": force_exact,
        }
        listing = spark.createDataFrame(list(enumerate(files)), "file long, path string")
        listing = listing.repartition(min(len(files), MAX_TASKS))
        parsed = listing.mapInArrow(_task(settings, job), from_arrow_schema(OUT)).persist()
        try:
            metas = [
                (r["_file"], json.loads(r["_meta"]))
                for r in parsed.filter("_meta IS NOT NULL").select("_file", "_meta").collect()
            ]
            _account(result, counts, sorted(metas, key=lambda m: m[0]))
            _deduplicated(parsed).orderBy(*ORDER).drop(*ORDER, "_meta").write.parquet(tmp + "/rows")
        finally:
            parsed.unpersist()
        result.stages["spark"] = time.perf_counter() - started
        span, kept = _commit_rows(txn, counts, Path(tmp) / "rows", Attribution(settings.attribution))
        result.duplicates_skipped = sum(m["rows"] for _, m in metas) - kept
        result.stages["commit"] = time.perf_counter() - started - result.stages["spark"]
        finish(result, txn, counts, open_store(settings.data_dir), started)
    after_commit(result, settings, table, span if reprice else [], strict)
    return result


def _account(result: IngestResult, counts: IngestCounts, metas: list[tuple[int, dict[str, Any]]]) -> None:
    """Add each file's counts, rejects and notes to the result, in listing order."""
    skipped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for _, meta in metas:
        if "raise" in meta:
            raise SourceError(meta["raise"])
        if "skipped_file" in meta:
            result.files_skipped.append(meta["skipped_file"])
            continue
        if "failed" in meta:
            result.files_failed.append(meta["failed"])
        if "format" in meta:  # opened (a file that failed to open counts as failed only)
            result.files += 1
            result.formats[meta["format"]] = result.formats.get(meta["format"], 0) + 1
        result.lines_read += meta["lines"]
        result.records_read += meta["records"]
        skipped.update(meta["skipped"])
        notes.update(meta["notes"])
        counts.rejects.extend(meta["rejects"])
    result.skipped = dict(skipped.most_common())
    result.notes = dict(notes.most_common())


def _commit_rows(
    txn: Staging, counts: IngestCounts, folder: Path, attribution: Attribution
) -> tuple[list[Any], int]:
    """Add the deduplicated rows Spark wrote, in its order, to the transaction; (their first and
    last times, how many)."""
    span, kept = [], 0
    for part in sorted(folder.glob("part-*.parquet")):
        rows = conform(pl.read_parquet(part))
        if rows.height:
            span += [rows["ts"].min(), rows["ts"].max()]
            kept += rows.height
            counts.add(txn.add(rows, expand=attribution.apply))
    return span, kept
