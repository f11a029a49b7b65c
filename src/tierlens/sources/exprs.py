"""Polars expressions the readers share: the first present field, timestamps (ISO 8601 or epoch,
within range), reject rules and content keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl


def coalesce(exprs: Sequence[pl.Expr]) -> pl.Expr:
    """The first non-null of some expressions (one is itself)."""
    return pl.coalesce(list(exprs)) if len(exprs) > 1 else exprs[0]


def first_of(paths: Sequence[str]) -> pl.Expr:
    """The first non-null of several raw columns (configured alternative paths)."""
    return coalesce([pl.col(p) for p in paths])


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Timestamps outside [EARLIEST, LATEST) are no request's: a misread unit, a zero, a typo."""
BAD_TIME = "unparseable timestamp (ISO 8601, or epoch s/ms/us/ns, between 2000 and 2100)"
MAX_TOKENS = 1_000_000_000
"""More tokens than this in one request's category is no real request (aggregate buckets: x10^6)."""


def in_range(ts: pl.Expr) -> pl.Expr:
    """`ts` (a UTC datetime in microseconds) where it lies in [EARLIEST, LATEST), else null.

    `ts` is named once: `when(ts is between).then(ts)` would evaluate it twice (a parse, for the
    readers), as an eager frame does not share a subexpression. The microseconds are clipped to
    one past each bound, and those two values, out of range by construction, become null."""
    below, above = _EARLIEST_US - 1, _LATEST_US
    micros = ts.dt.epoch("us").clip(below, above).replace([below, above], None)
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


_EARLIEST_US = int(EARLIEST.timestamp()) * 1_000_000
_LATEST_US = int(LATEST.timestamp()) * 1_000_000


def epoch_micros(num: pl.Expr) -> pl.Expr:
    """An epoch number in seconds, milliseconds, microseconds or nanoseconds (told apart by size,
    which is unambiguous between 2000 and 2100) as microseconds; null when it fits none."""
    scale = (
        pl.when(num < 1e11).then(1e6).when(num < 1e14).then(1e3).when(num < 1e17).then(1.0).otherwise(1e-3)
    )
    return (num * scale).round(0).cast(pl.Int64, strict=False)


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 (Z, offset, or naive = UTC) or epoch s/ms/us/ns -> UTC datetime; null outside 2000..2100."""
    t = text.str.strip_chars()
    numeric = t.str.contains(r"^\d+(\.\d+)?$")
    num = t.cast(pl.Float64, strict=False)
    from_epoch = pl.from_epoch(epoch_micros(num), time_unit="us").dt.replace_time_zone("UTC")
    iso = t.str.replace(r"Z$", "+00:00").str.replace(
        r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)$", "${1}T${2}+00:00"
    )
    iso = iso.str.replace(r"^(\d{4}-\d\d-\d\d)[ ]", "${1}T")
    parsed = pl.coalesce(
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC"),
        iso.str.to_datetime("%Y-%m-%dT%H:%M%:z", strict=False, time_unit="us", time_zone="UTC"),
    )
    return in_range(pl.when(numeric).then(from_epoch).otherwise(parsed))


def with_timestamp(df: pl.DataFrame, text: pl.Expr, name: str = "_ts") -> pl.DataFrame:
    """Add `name` = `parse_timestamp(text)`, trying the common `...T..:..:..(.fff)Z` form first.

    The general parser costs three times the fast one; it runs only when some value needs it.
    """
    # no cache: request times are nearly all distinct, and looking each up first costs a fifth more
    fast = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us", cache=False
    ).dt.replace_time_zone("UTC")
    out = df.with_columns(in_range(fast).alias(name))
    if out.select((pl.col(name).is_null() & text.is_not_null()).any()).item():
        out = out.with_columns(pl.coalesce(pl.col(name), parse_timestamp(text)).alias(name))
    return out


def reject_if(*rules: tuple[pl.Expr, str | pl.Expr]) -> pl.Expr:
    """The first matching reason among (condition, reason) rules, else null."""
    return pl.coalesce(
        [
            pl.when(cond).then(reason if isinstance(reason, pl.Expr) else pl.lit(reason))
            for cond, reason in rules
        ]
    ).cast(pl.String)


def content_key(cols: Sequence[str]) -> pl.Expr:
    """A deterministic dedupe key from content, for logs that carry no id."""
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in cols], separator="|")
