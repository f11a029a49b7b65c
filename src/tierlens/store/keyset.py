"""The set of request keys an ingest has seen: what `Transaction.add` checks each batch against.

A key is a `dedupe_key` hashed twice (`_k1`, `_k2`: 128 bits, no collision in practice) within the
day of its partition. An ingest of 10M requests checks some 200 batches against up to 10M keys;
a hash join rebuilt for every batch cost ~0.7 s at that size (over a minute in all, and a
transient table of hundreds of MB each time). Here each day's keys are kept as runs sorted by
`_k1`, merged as a log-structured merge tree does (a run is merged with the one before it once it
is at least half its size), so a day has O(log n) runs and a lookup is a binary search per run of
the days a batch holds (a log in time order: one or two). The keys take 16 bytes each, and a merge
copies one day's keys at most. Where a batch's days hold few keys (a Claude Code batch spans a
month of a few thousand requests a day), one join with all of them costs less than the searches.
"""

from __future__ import annotations

from datetime import date

import polars as pl

KEYS = ("_k1", "_k2", "_day")
_HASHES = {"_k1": pl.UInt64, "_k2": pl.UInt64}


class KeySet:
    """Keys `(_k1, _k2, _day)`: `add` a frame of them, `known` tells which of a frame's rows are in."""

    def __init__(self) -> None:
        self._days: dict[date | None, list[pl.DataFrame]] = {}

    def __len__(self) -> int:
        return sum(run.height for runs in self._days.values() for run in runs)

    def add(self, keys: pl.DataFrame) -> None:
        """Add the keys of `keys` (its `KEYS` columns; other columns are ignored)."""
        for (day,), part in keys.select(KEYS).partition_by("_day", as_dict=True).items():
            runs = self._days.setdefault(day, [])
            runs.append(part.select(list(_HASHES)).cast(_HASHES).sort("_k1"))  # type: ignore[arg-type]
            while len(runs) > 1 and 2 * runs[-1].height >= runs[-2].height:
                last = runs.pop()
                runs[-1] = runs[-1].merge_sorted(last, key="_k1")

    def known(self, keys: pl.DataFrame) -> pl.Series:
        """A boolean per row of `keys`: whether its `(_k1, _k2, _day)` was added."""
        indexed = keys.select(KEYS).with_row_index("_i")
        days = indexed["_day"].unique().to_list()
        held = [(day, run) for day in days for run in self._days.get(day, [])]
        if sum(run.height for _, run in held) <= (SMALL_DAYS + len(days)) * SMALL_KEYS:
            return self._joined(indexed, held, keys.height)
        hits: list[pl.Series] = []
        for (day,), part in indexed.partition_by("_day", as_dict=True).items():
            runs = self._days.get(day)
            if not runs:
                continue
            k1 = part["_k1"].sort()  # sorted probes search a run 2-3x faster (they walk it in order)
            near = [n for n in (_near(run, k1) for run in runs) if not n.is_empty()]
            if near:
                found = pl.concat(near).unique()
                hits.append(part.join(found, on=list(_HASHES), how="semi")["_i"])
        known = pl.repeat(False, keys.height, dtype=pl.Boolean, eager=True).alias("known")
        return known.scatter(pl.concat(hits), True) if hits else known

    @staticmethod
    def _joined(indexed: pl.DataFrame, held: list[tuple[date | None, pl.DataFrame]], n: int) -> pl.Series:
        """`known` by one join with every key of the batch's days (few: a search per day and run
        costs more than the join)."""
        known = pl.repeat(False, n, dtype=pl.Boolean, eager=True).alias("known")
        if not held:
            return known
        stored = pl.concat([run.with_columns(_day=pl.lit(day, pl.Date)) for day, run in held])
        hits = indexed.join(stored, on=list(KEYS), how="semi", nulls_equal=True)["_i"]
        return known.scatter(hits, True) if hits.len() else known


SMALL_KEYS, SMALL_DAYS = 16_384, 8
"""`known` joins with all the keys of a batch's days when they are at most (8 + days) x 16,384:
a join costs about 0.08 ms per 1,000 keys, the searches about 15 ms plus 1.2 ms per day (a batch
of 64k probes; a Claude Code batch spans a month, a gateway log's one or two days)."""


def _near(run: pl.DataFrame, k1: pl.Series) -> pl.DataFrame:
    """The run's keys whose `_k1` is one of `k1` (a binary search each, then the equal ranges)."""
    col = run["_k1"]
    lo = col.search_sorted(k1, side="left")
    hi = col.search_sorted(k1, side="right")
    ranges = pl.DataFrame({"lo": lo, "hi": hi}).filter(pl.col("hi") > pl.col("lo"))
    if ranges.is_empty():
        return run.clear()
    return run[ranges.select(pl.int_ranges("lo", "hi").explode())["lo"]]
