"""Streamed responses logged one event per line, merged back into one row per request.

Gateways that proxy the Messages API with `stream: true` log each server-sent event as a line:
`message_start` (the message, its model and initial usage), then `content_block_*` and `ping`,
one or more `message_delta` (stop reason and CUMULATIVE usage), and `message_stop`. A reader
marks each usage-bearing event (`_event`) and numbers the starts of its chunk (`_stream_seq`);
it sets `_stream_key` when a wrapper carries a request id. This module does the rest, across
chunk boundaries, for a whole input:

- an event belongs to the request of its key, else to the `message_start` before it;
- each token count is the last one the stream reported (so a delta updates what it states and
  keeps the start's value for what it omits); the 5m/1h cache-write split comes from the last
  event that has one, else all cache writes are 5-minute writes; every other column is the first
  one given (the start's model, id, tier and geo);
- a request is complete at its `message_stop`; one that never gets it is still billed for what its
  last usage says, with `status = "incomplete"`; events whose start is not in the input are
  counted and dropped (there is no model to price them by);
- only streams still open at the end of a chunk are carried: memory stays bounded by the number
  of concurrent streams, not the size of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import polars as pl

from tierlens.schema import SCHEMA, conform, empty
from tierlens.sources.base import Parsed, Reader

MERGED = "stream event (merged into its request)"
ORPHANS = "stream events without their message_start"
_LAST = ("input_tokens", "cache_read_tokens", "output_tokens", "web_search_requests", "_iterations")
_CACHE = ("cache_write_5m_tokens", "cache_write_1h_tokens")


class StreamAssembler:
    """Merges one input's stream events into requests, chunk after chunk (see the module doc)."""

    def __init__(self) -> None:
        self.open: pl.DataFrame | None = None
        self.base = 0

    def feed(self, pending: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
        """The requests these events complete (merged rows), and how many events were merged or dropped."""
        seq = pl.col("_stream_seq") + self.base
        grouped = pending.with_columns(_group=pl.coalesce(pl.col("_stream_key"), pl.format("seq:{}", seq)))
        self.base += int(pending["_stream_seq"].max() or 0)  # type: ignore[arg-type]
        frame = grouped if self.open is None else pl.concat([self.open, grouped], how="diagonal_relaxed")
        stopped = (pl.col("_event") == "message_stop").any().over("_group")
        newest = pl.col("_group") == f"seq:{self.base}"
        keyed = ~pl.col("_group").str.starts_with("seq:")
        still_open = ~stopped & (newest | keyed)
        self.open = frame.filter(still_open)
        return merge(frame.filter(~still_open))

    def flush(self) -> tuple[pl.DataFrame, dict[str, int]]:
        """Every stream still open: the input ended before their `message_stop`."""
        rest, self.open = self.open, None
        return merge(rest) if rest is not None else (pl.DataFrame(), {})


def merge(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """One row per stream group (canonical columns plus `_iterations`), and the events' accounting."""
    if frame.is_empty():
        return pl.DataFrame(), {}
    if "_iterations" not in frame.columns:
        frame = frame.with_columns(_iterations=pl.lit(None, pl.String))
    split = pl.col("_cw_split").fill_null(False)
    others = [c for c in SCHEMA if c not in (*_LAST, *_CACHE, "status")]
    merged = frame.group_by("_group", maintain_order=True).agg(
        *[pl.col(c).drop_nulls().last() for c in _LAST],
        *[
            pl.when(split.any()).then(pl.col(c).filter(split).last()).otherwise(fallback)
            for c, fallback in (
                ("cache_write_5m_tokens", pl.col("_cw_total").drop_nulls().last()),
                ("cache_write_1h_tokens", pl.lit(0, pl.Int64)),
            )
        ],
        *[pl.col(c).drop_nulls().first() for c in others],
        status=pl.when((pl.col("_event") == "message_stop").any())
        .then(pl.lit("ok"))
        .otherwise(pl.lit("incomplete")),
        _started=(pl.col("_event") == "message_start").any(),
        _events=pl.len(),
    )
    orphan = ~pl.col("_started") | pl.col("model").is_null()
    kept = merged.filter(~orphan)
    counts = {
        MERGED: int(kept["_events"].sum()) - kept.height,
        ORPHANS: int(merged.filter(orphan)["_events"].sum()),
    }
    counted = [*_LAST[:-1], *_CACHE]
    rows = kept.with_columns(pl.col(c).fill_null(0) for c in counted).drop("_group", "_started", "_events")
    return rows, {k: v for k, v in counts.items() if v}


def assemble_streams(parsed: Iterable[Parsed], reader: Reader) -> Iterator[Parsed]:
    """One input's parsed batches, with its stream events merged into requests as they complete."""
    assembler = StreamAssembler()
    for p in parsed:
        if p.pending is not None and not p.pending.is_empty():
            done, counts = assembler.feed(p.pending)
            _add(p, reader, done, counts)
        p.pending = None
        yield p
    tail, counts = assembler.flush()
    if not tail.is_empty() or counts:
        last = Parsed(rows=empty(), skipped={}, rejects=[], lines=0, path_used="exact", records=0)
        _add(last, reader, tail, counts)
        yield last


def _add(p: Parsed, reader: Reader, done: pl.DataFrame, counts: dict[str, int]) -> None:
    if not done.is_empty():
        p.rows = pl.concat([p.rows, conform(reader.complete(done))])
    for why, n in counts.items():
        p.skipped[why] = p.skipped.get(why, 0) + n
