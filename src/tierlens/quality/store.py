"""Quality judgments in a data directory, apart from the cost rows: `<data>/quality/part-<seq>-<ingest>.parquet`.

An ingest of quality files is one transaction of the store (the same lock, journal and recovery
as a log ingest): it writes one file of the judgments that are new or changed since the stored
ones, and quarantines the lines that are none. Re-running it on the same files writes nothing;
a later value for the same judgment (same request or feature and period, model and metric)
replaces the earlier one when read back.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import SourceError
from tierlens.location import is_remote, require_local
from tierlens.quality.read import KEY, QUALITY_SCHEMA, read_quality_file
from tierlens.store.layout import Layout
from tierlens.store.writer import Store

QUALITY_LOG = "quality.jsonl"


@dataclass
class QualityIngest:
    """What `ingest_quality` did."""

    data_dir: str
    ingest_id: str
    files: int = 0
    rows_read: int = 0
    rows_added: int = 0
    unchanged: int = 0
    rejected: int = 0
    request_rows: int = 0
    matched_requests: int = 0
    metrics: dict[str, int] = field(default_factory=dict)
    files_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def text(self) -> str:
        metrics = ", ".join(f"{m}: {n:,}" for m, n in self.metrics.items()) or "none"
        lines = [
            f"Quality: {self.files} file(s) into {self.data_dir}/quality ({self.seconds:.1f}s)",
            f"  judgments read      {self.rows_read:,}  ({metrics})",
            f"  added or changed    {self.rows_added:,}",
            f"  unchanged           {self.unchanged:,}",
            f"  rejected            {self.rejected:,}",
        ]
        if self.request_rows:
            lines.append(
                f"  of requests         {self.request_rows:,}, naming {self.matched_requests:,} stored request(s)"
            )
        if self.rejected:
            lines.append(
                f"  rejects: {self.data_dir}/quarantine/ (file, line, reason; `tierlens quarantine`)"
            )
        lines += [f"  failed file: {f}" for f in self.files_failed]
        return "\n".join(lines)


def stored_quality(data_dir: str | Path) -> pl.DataFrame:
    """Every stored judgment, the latest value of each (files are read in ingest order); none on
    object storage, which keeps the requests only."""
    folder = Layout(Path(data_dir)).quality
    files = sorted(folder.glob("part-*.parquet")) if not is_remote(data_dir) and folder.is_dir() else []
    if not files:
        return pl.DataFrame(schema=QUALITY_SCHEMA)
    frames = [pl.read_parquet(f).with_columns(_order=pl.lit(i)) for i, f in enumerate(files)]
    return (
        pl.concat(frames, how="vertical_relaxed")
        .sort("_order", maintain_order=True)
        .unique(subset=list(KEY), keep="last", maintain_order=True)
        .drop("_order")
        .cast(QUALITY_SCHEMA)  # type: ignore[arg-type]
    )


def _new_or_changed(incoming: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    latest = incoming.unique(subset=list(KEY), keep="last", maintain_order=True)
    if stored.is_empty():
        return latest
    same = stored.select(*KEY, "value")
    return latest.join(same, on=[*KEY, "value"], how="anti", nulls_equal=True)


def _matched(requests: pl.LazyFrame | None, ids: pl.Series) -> int:
    if requests is None or ids.is_empty():
        return 0
    found = requests.select("request_id").filter(pl.col("request_id").is_in(ids.implode())).unique()
    return int(found.select(pl.len()).collect().item())


def ingest_quality(
    paths: Sequence[str | Path],
    data_dir: str | Path,
    *,
    requests: pl.LazyFrame | None = None,
    lock_timeout: float = 600.0,
) -> QualityIngest:
    """Read quality files into the data directory (see the module docstring). `requests`: the
    dataset's scan, to count how many request judgments name a stored request."""
    from tierlens.ingest_result import not_quarantined

    require_local(data_dir, "quality judgments")
    t0 = time.perf_counter()
    store = Store(data_dir)
    read, rejects, failed = [], [], []
    for p in paths:
        try:
            f = read_quality_file(p)
        except SourceError as exc:
            failed.append(f"{p}: {exc}")
            continue
        read.append(f.rows)
        rejects += f.rejects
    incoming = pl.concat(read) if read else pl.DataFrame(schema=QUALITY_SCHEMA)
    with store.transaction(lock_timeout=lock_timeout, log=QUALITY_LOG) as txn:
        fresh = _new_or_changed(incoming, stored_quality(data_dir))
        result = QualityIngest(str(data_dir), txn.ingest_id, files=len(read), files_failed=failed)
        result.rows_read, result.rows_added = incoming.height, fresh.height
        result.unchanged = incoming.height - fresh.height
        if not fresh.is_empty():
            txn.stage_file(Layout.next_part(store.layout.quality, txn.ingest_id), fresh.to_arrow())
        quarantine = not_quarantined(store, rejects)
        result.rejected = len(rejects)
        ids = incoming["request_id"].drop_nulls().unique()
        result.request_rows = int(incoming["request_id"].is_not_null().sum())
        result.matched_requests = _matched(requests, ids)
        result.metrics = dict(Counter(incoming["metric"].to_list()).most_common())
        result.seconds = time.perf_counter() - t0
        txn.commit({"ingest_id": txn.ingest_id, "kind": "quality", **_summary(result)}, quarantine=quarantine)
    return result


def _summary(r: QualityIngest) -> dict[str, Any]:
    return {k: v for k, v in r.to_dict().items() if k not in ("data_dir", "ingest_id", "seconds")}
