"""`reprice`: price the stored requests again with the table in force, without reading a log.

A price added in `tierlens.toml`, a correction in the built-in table or an upgrade of tierlens
changes what requests cost; the logs they came from may be gone, and a re-ingest skips them as
duplicates. This re-prices the dataset itself: each partition's requests are priced as ingest
prices them (aggregate buckets with the long-context tier their report stated), a request split
across features gets its new cost allocated by the same shares, and changed partitions are
rewritten through the store's one atomic, crash-safe commit. Tokens, ids and attribution never
change here; only the price columns do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.attribution import Attribution
from tierlens.pricing import PriceTable
from tierlens.pricing.engine import price_stored
from tierlens.schema import COST_COLUMNS, PRICE_COLUMNS, SCHEMA
from tierlens.store import open_store

REPRICED = ("family", "tier", "long_context", *PRICE_COLUMNS)
"""The columns a re-pricing rewrites (everything the pricer fills)."""


@dataclass
class RepriceRun:
    """What a re-pricing did (or, with `dry_run`, would do)."""

    reprice_id: str
    data_dir: str
    dry_run: bool
    price_version: str
    partitions: int = 0
    partitions_rewritten: int = 0
    rows: int = 0
    rows_changed: int = 0
    """Rows whose cost (or any price column but the version) changed."""
    rows_restamped: int = 0
    """Rows whose cost stayed the same, now stamped with the table in force."""
    newly_priced: int = 0
    newly_unpriced: int = 0
    still_unpriced: dict[str, int] = field(default_factory=dict)
    cost_before_usd: float = 0.0
    cost_after_usd: float = 0.0
    by_model: list[dict[str, Any]] = field(default_factory=list)
    """Per model: rows, cost before and after, newly priced rows."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def repriced(before: pl.DataFrame, table: PriceTable) -> pl.DataFrame:
    """A partition's rows with their price columns recomputed (same rows, same order)."""
    whole = price_stored(Attribution.collapse(before), table).select("dedupe_key", *REPRICED)
    share = pl.col("feature_share").fill_null(1.0)
    return (
        before.with_row_index("_pos")
        .drop(REPRICED)
        .join(whole, on="dedupe_key", how="left")
        .with_columns([(pl.col(c) * share).alias(c) for c in (*COST_COLUMNS, "cost_usd")])
        .sort("_pos")
        .select(SCHEMA.names())
    )


def reprice(
    data_dir: str | Path,
    table: PriceTable,
    *,
    since: date | None = None,
    until: date | None = None,
    model: str | None = None,
    dry_run: bool = False,
) -> RepriceRun:
    """Re-price the stored requests of days in [since, until] (and of `model`, logged or normalized)."""
    store = open_store(data_dir)
    store.require(requests=True)  # missing, or a directory that is no dataset: a clear error
    started = time.perf_counter()
    with store.transaction(log="repricings.jsonl") as txn:
        run = RepriceRun(txn.ingest_id, str(data_dir), dry_run, table.version)
        changes: list[pl.DataFrame] = []
        for day in store.days(_iso(since), _iso(until)):
            run.partitions += 1
            rewritten = False
            for part in store.parts(day):  # file by file locally: each is replaced in one rename
                before = part.read()
                after = _only(before, repriced(before, table), model)
                changes.append(_changes(before, after))
                if not _same(before, after):
                    rewritten = True
                    if not dry_run:
                        txn.rewrite(part, after)  # type: ignore[arg-type]  # a part of this store
            run.partitions_rewritten += rewritten
        if changes:
            _account(run, pl.concat(changes))
        run.seconds = time.perf_counter() - started
        if not dry_run and run.partitions_rewritten:
            txn.commit({"kind": "reprice", **run.to_dict()})
        else:
            txn.abort()
    return run


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _only(before: pl.DataFrame, after: pl.DataFrame, model: str | None) -> pl.DataFrame:
    """`after` for the rows of `model` (its logged or normalized id), `before` for the others."""
    if model is None:
        return after
    m = model.strip().lower()
    hit = ((pl.col("model").str.to_lowercase() == m) | (pl.col("model_id") == m)).fill_null(False)
    mask = before.select(hit).to_series()
    return before.with_columns([pl.when(mask).then(after[c]).otherwise(pl.col(c)).alias(c) for c in REPRICED])


def _changes(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Per row: model, cost and priced flag before and after, whether its price changed, and whether
    only the table version that priced it did."""
    money = [c for c in REPRICED if c != "price_version"]
    differs = pl.any_horizontal([~pl.col(c).eq_missing(after[c]) for c in money])
    return before.select(
        model=pl.col("model").fill_null("(none)"),
        before_usd=pl.col("cost_usd"),
        after_usd=after["cost_usd"],
        was_priced=pl.col("priced").fill_null(False),
        is_priced=after["priced"].fill_null(False),
        changed=differs,
        restamped=~differs & ~pl.col("price_version").eq_missing(after["price_version"]),
    )


def _account(run: RepriceRun, c: pl.DataFrame) -> None:
    run.rows = c.height
    run.rows_changed = int(c["changed"].sum())
    run.rows_restamped = int(c["restamped"].sum())
    run.newly_priced = int((~c["was_priced"] & c["is_priced"]).sum())
    run.newly_unpriced = int((c["was_priced"] & ~c["is_priced"]).sum())
    run.cost_before_usd = float(c["before_usd"].sum() or 0.0)
    run.cost_after_usd = float(c["after_usd"].sum() or 0.0)
    unpriced = c.filter(~pl.col("is_priced")).group_by("model").len().sort("model")
    run.still_unpriced = dict(unpriced.iter_rows())
    by_model = (
        c.group_by("model")
        .agg(
            rows=pl.len(),
            changed=pl.col("changed").sum(),
            newly_priced=(~pl.col("was_priced") & pl.col("is_priced")).sum(),
            before_usd=pl.col("before_usd").sum(),
            after_usd=pl.col("after_usd").sum(),
        )
        .filter(pl.col("changed") > 0)
        .with_columns(change_usd=pl.col("after_usd") - pl.col("before_usd"))
        .sort("change_usd", "model", descending=[True, False])
    )
    run.by_model = by_model.to_dicts()


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.select(REPRICED).equals(b.select(REPRICED))
