"""A chunk of records parsed into canonical rows: the fast path first (`fastscan.py`), the exact
path (`records.py`) for the lines it refuses, and the finish both share (types, the reader's
mapping, skips, rejects)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import polars as pl

from tierlens.schema import conform
from tierlens.sources.base import Batch, Context, Parsed, RawField, Reader, Record
from tierlens.sources.exprs import MAX_TOKENS
from tierlens.sources.fastscan import fast_raw, suspect_rows
from tierlens.sources.records import decode_lines, records_raw, rejected_line, typed_raw


def parse_batch(
    reader: Reader, batch: Batch, ctx: Context, *, lenient: bool = False, force_exact: bool = False
) -> Parsed:
    """Parse one batch: JSON lines through `parse_chunk`, decoded records through `parse_records`."""
    if batch.chunk is not None:
        return parse_chunk(
            reader, batch.chunk, batch.first_line, ctx, force_exact=force_exact, lines=batch.lines
        )
    return parse_records(
        reader, batch.records or [], ctx, lines=batch.lines, blank=batch.blank, lenient=lenient
    )


def parse_chunk(
    reader: Reader,
    chunk: bytes,
    first_line: int,
    ctx: Context,
    *,
    force_exact: bool = False,
    lines: int | None = None,
) -> Parsed:
    """Parse one chunk of JSON lines into canonical rows: the fast path for every line it can
    vouch for, the exact path for the others (and for every line when `force_exact`).

    Both paths classify every line identically, so the outcome does not depend on how a file was
    cut into chunks. The fast path (DuckDB over the whole chunk) cannot tell a string from an
    object it stringified, so a string field whose value starts with `{` or `[` sends its line to
    the exact path; a chunk DuckDB refuses (a line of bad JSON, a type it cannot build) is decoded
    line by line and its good lines go through DuckDB again, so that one bad line costs one line.
    `lines`: the chunk's number of lines, when the caller counted them already.
    """
    n_lines = lines if lines is not None else chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    if not reader.fast_path or force_exact:
        records, blank = decode_lines(chunk, first_line)
        return parse_records(reader, records, ctx, lines=n_lines, blank=blank)
    fields = list(reader.fields_for(chunk))
    spill = ctx.options.get("spill_dir")
    texts = _Lines(chunk, first_line)
    raw = fast_raw(chunk, fields, spill)
    # blank lines shift DuckDB's rows against our line numbers: then the lines are decoded one by one
    if raw is not None and raw.height == n_lines:
        raw = _numbered(raw, pl.int_range(first_line, first_line + raw.height, dtype=pl.Int64), first_line)
        suspects = suspect_rows(raw, fields)
        if not suspects:
            parsed = _finish(reader, raw, fields, ctx, texts, {}, [], n_lines, 0, "fast")
            return _kept_apart(parsed, len(chunk))
        exact = [_decoded(ln, texts[ln - first_line]) for ln in suspects]
        fast = raw.filter(~pl.col("_line").is_in(suspects))
        return _kept_apart(_mixed(reader, fast, exact, 0, fields, ctx, texts, n_lines), len(chunk))
    records, blank = decode_lines(chunk, first_line)
    good = [r for r in records if r.error is None and isinstance(r.value, dict)]
    joined = b"\n".join(r.text.removeprefix(_BOM) for r in good)
    raw = fast_raw(joined, fields, spill) if good else None
    if raw is None or raw.height != len(good):
        return parse_records(reader, records, ctx, lines=n_lines, blank=blank)
    raw = _numbered(raw, pl.Series([r.line for r in good], dtype=pl.Int64), first_line)
    suspects = suspect_rows(raw, fields)
    routed = set(suspects)
    exact = [r for r in records if r.error is not None or not isinstance(r.value, dict) or r.line in routed]
    fast = raw.filter(~pl.col("_line").is_in(suspects)) if suspects else raw
    return _kept_apart(_mixed(reader, fast, exact, blank, fields, ctx, texts, n_lines), len(chunk))


_BOM = b"\xef\xbb\xbf"


class _Lines:
    """A chunk's lines by index, split only when a reject needs one's bytes (splitting costs)."""

    def __init__(self, chunk: bytes, first_line: int) -> None:
        self.chunk = chunk
        self.first_line = first_line
        self._lines: list[bytes] | None = None

    def __getitem__(self, i: int) -> bytes:
        if self._lines is None:
            self._lines = self.chunk.split(b"\n")
        return self._lines[i]


def _numbered(raw: pl.DataFrame, lines: pl.Expr | pl.Series, first_line: int) -> pl.DataFrame:
    """Add `_line`, `_rec` (the line's index in its chunk) and `_where` to DuckDB's rows."""
    out = raw.with_columns(_line=lines)
    return out.with_columns(_rec=pl.col("_line") - first_line, _where=pl.lit(None, pl.String))


def _decoded(line: int, text: bytes) -> Record:
    records, _ = decode_lines(text, line)
    return records[0]


def _mixed(
    reader: Reader,
    fast: pl.DataFrame,
    exact: Sequence[Record],
    blank: int,
    fields: Sequence[RawField],
    ctx: Context,
    texts: _Lines,
    lines: int,
) -> Parsed:
    """A chunk parsed partly by each path: the rows of both, in line order, finished together."""
    raw, bad, skipped_records = records_raw(reader, exact, fields, False, ctx.options.get("spill_dir"))
    raw = raw.with_columns(_rec=pl.col("_line") - texts.first_line)
    both = pl.concat([fast, raw], how="diagonal_relaxed").sort("_line", maintain_order=True)
    skipped: dict[str, int] = {"blank line": blank} if blank else {}
    skipped.update(skipped_records)
    rejects = [{**r, "file": ctx.source_file} for r in bad]
    extra = blank + sum(skipped_records.values()) + len(rejects)
    return _finish(reader, both, fields, ctx, texts, skipped, rejects, lines, extra, "mixed")


def parse_records(
    reader: Reader,
    records: Sequence[Record],
    ctx: Context,
    *,
    lines: int,
    blank: int = 0,
    lenient: bool = False,
) -> Parsed:
    """The exact path: explode each decoded record into rows, extract and check every field.

    `lenient` is for CSV cells, which are all strings: `"12"` then counts as an integer, `""` as
    null and a cell holding JSON as that JSON.
    """
    fields = list(reader.fields())
    raw, bad, skipped_records = records_raw(reader, records, fields, lenient, ctx.options.get("spill_dir"))
    skipped: dict[str, int] = {}
    if blank:
        skipped["blank line"] = blank
    skipped.update(skipped_records)
    rejects = [{**r, "file": ctx.source_file} for r in bad]
    texts = [r.text for r in records]
    extra = blank + sum(skipped_records.values()) + len(rejects)
    return _finish(reader, raw, fields, ctx, texts, skipped, rejects, lines, extra, "exact")


def _finish(
    reader: Reader,
    raw: pl.DataFrame,
    fields: Sequence[RawField],
    ctx: Context,
    texts: Sequence[bytes] | _Lines,
    skipped: dict[str, int],
    rejects: list[dict[str, Any]],
    lines: int,
    extra_records: int,
    path_used: str,
) -> Parsed:
    """Type checks, the reader's mapping, rejects and skips: the part both paths share."""
    typed, early = _skipped_early(reader, typed_raw(raw, fields), skipped)
    out = reader.to_canonical(ctx.file_column(typed), ctx)
    reason = pl.coalesce(pl.col("_type_error"), pl.col("_reject"), _too_many_tokens(out.columns))
    where = pl.col("_where")
    out = out.with_columns(
        _reject=pl.when(where.is_not_null() & reason.is_not_null())
        .then(pl.format("{}: {}", where, reason))
        .otherwise(reason)
    )
    bad_rows = out.filter(pl.col("_reject").is_not_null()).select("_line", "_rec", "_reject")
    for ln, rec, why in bad_rows.iter_rows():
        rejects.append(rejected_line(ctx.source_file, ln, why, texts[rec]))
    rest = out.filter(pl.col("_reject").is_null())
    for why, count in rest.filter(pl.col("_skip").is_not_null()).group_by("_skip").len().iter_rows():
        skipped[why] = skipped.get(why, 0) + count
    kept = rest.filter(pl.col("_skip").is_null())
    kept = kept.with_columns(
        **_file_lines(ctx),
        source=pl.lit(reader.name),
        ingest_id=pl.lit(ctx.ingest_id),
    )
    notes: dict[str, int] = {}
    if "_note" in kept.columns:
        notes = dict(kept.filter(pl.col("_note").is_not_null()).group_by("_note").len().iter_rows())
    pending = None
    if "_event" in kept.columns and kept.select(pl.col("_event").is_not_null().any()).item():
        events = pl.col("_event").is_not_null()
        extra = [c for c in _STREAM_COLUMNS if c in kept.columns]
        pending = conform(kept.filter(events)).hstack(kept.filter(events).select(extra))
        kept = kept.filter(~events)
    rows = reader.prepare(kept)
    dropped = kept.height - rows.height
    if dropped:
        skipped["duplicate within file"] = skipped.get("duplicate within file", 0) + dropped
    deferred = None
    if "_deferred" in rows.columns and rows.select(pl.col("_deferred").any()).item():
        deferred = conform(rows.filter(pl.col("_deferred")))
        rows = rows.filter(~pl.col("_deferred"))
    rejects.sort(key=lambda r: r["line"])
    if ctx.parts:
        rejects = [ctx.located(r) for r in rejects]
    return Parsed(
        rows=conform(rows),
        skipped=skipped,
        rejects=rejects,
        lines=lines,
        path_used=path_used,
        records=out.height + early + extra_records,
        notes=notes,
        pending=pending,
        deferred=deferred,
    )


def _kept_apart(parsed: Parsed, chunk_bytes: int) -> Parsed:
    """`parsed` with its frames copied into memory of their own when they are a small part of the
    chunk (most lines of a Claude Code transcript are prompts and tool results, which are not kept).

    A column polars took from DuckDB's Arrow output keeps that whole output alive (every column of
    the chunk, message text and all), and a string column filtered or coalesced from it still
    points into it: a few kept rows would hold their chunk until the end of the ingest. Where the
    rows are most of the chunk (a gateway log) the copy would only cost time and memory."""
    if parsed.rows.estimated_size() * _KEEP_APART > chunk_bytes:
        return parsed
    parsed.rows = _owned(parsed.rows)
    parsed.pending = None if parsed.pending is None else _owned(parsed.pending)
    parsed.deferred = None if parsed.deferred is None else _owned(parsed.deferred)
    return parsed


_KEEP_APART = 4
"""Rows whose size is less than a chunk's bytes over this are copied out of it (`_kept_apart`)."""


def _owned(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` copied into new memory (an Arrow IPC round trip: polars' own copies share buffers)."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    buffer.seek(0)
    return pl.read_ipc(buffer)


def _skipped_early(reader: Reader, typed: pl.DataFrame, skipped: dict[str, int]) -> tuple[pl.DataFrame, int]:
    """The rows left to map once those the reader skips from their raw fields alone are counted
    in `skipped` (a row with a field of the wrong type stays: it is rejected, as it would be),
    and how many left."""
    reason = reader.early_skip()
    if reason is None:
        return typed, 0
    marked = typed.with_columns(_early=pl.when(pl.col("_type_error").is_null()).then(reason))
    gone = marked.filter(pl.col("_early").is_not_null())
    for why, count in gone.group_by("_early").len().iter_rows():
        skipped[why] = skipped.get(why, 0) + count
    return marked.filter(pl.col("_early").is_null()).drop("_early"), gone.height


def _file_lines(ctx: Context) -> dict[str, pl.Expr]:
    """`source_file` and `source_line` of each row: the file's own, when the chunk joins files."""
    if not ctx.parts:
        return {"source_file": pl.lit(ctx.source_file), "source_line": pl.col("_line")}
    offset = pl.lit(pl.Series([p.first_line - p.start for p in ctx.parts], dtype=pl.Int64))
    return {
        "source_file": ctx.of_file(lambda p: p.source_file),
        "source_line": pl.col("_line") + offset.gather(pl.col("_file")),
    }


_STREAM_COLUMNS = ("_event", "_stream_seq", "_stream_key", "_iterations", "_cw_total", "_cw_split")
"""What a reader adds to a stream event row for `tierlens.sources.streams` (see `Parsed.pending`)."""


_COUNTED = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
            "output_tokens", "web_search_requests")  # fmt: skip


def _too_many_tokens(columns: Sequence[str]) -> pl.Expr:
    """A reason for a count no request can have (above `MAX_TOKENS`; x10^6 for a usage-report bucket)."""
    present = [c for c in _COUNTED if c in columns]
    if not present:
        return pl.lit(None, pl.String)
    bucket = (
        (pl.col("ts_source") == "bucket_start").fill_null(False) if "ts_source" in columns else pl.lit(False)
    )
    limit = pl.when(bucket).then(pl.lit(MAX_TOKENS * 10**6)).otherwise(pl.lit(MAX_TOKENS))
    over = pl.any_horizontal([(pl.col(c) > limit).fill_null(False) for c in present])
    return pl.when(over).then(pl.lit(f"token count above {MAX_TOKENS:,} in one request"))
