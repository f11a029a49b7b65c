"""Read a quality file: eval scores, thumbs, escalations, one judgment a row.

A row is in long form, one metric and its value, about one request or about a feature over a period:

    request_id,metric,value                 feature,model,period,metric,value
    req_011C...,eval_score,0.82             support-chat,claude-sonnet-4-5,2026-W45,escalated,0.12

CSV (a header row; `.csv`, `.tsv`, gzipped or not) or JSON lines. Column names have the spellings
common exports use: `request_id` (or `requestId`, `trace_id`, `traceId`), `feature`, `model`
(`model_id`), `period` (`date`, `week`, `month`: `2026-11-02`, `2026-W45`, `2026-11`), `metric`
(`name`), `value` (`score`), and for a feature's row the number of judgments it sums up, `n` (`count`,
`samples`; 1 when absent). A value is a number, or a yes/no word (`true`, `up`, `thumbs_up`: 1;
`false`, `down`, `thumbs_down`: 0). A row with no request and no feature and period, no metric or no
value is rejected with its file, line and reason, never its text.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import SourceError
from tierlens.sources.inputs import open_input
from tierlens.sources.records import rejected_line

QUALITY_SCHEMA: dict[str, Any] = {
    "request_id": pl.String,
    "feature": pl.String,
    "model": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "metric": pl.String,
    "value": pl.Float64,
    "n": pl.Int64,
    "file": pl.String,
    "line": pl.Int64,
}
KEY = ("request_id", "feature", "model", "period_start", "period_end", "metric")
"""What one judgment is about: a later file's value for the same key replaces an earlier one."""

_ALIASES = {
    "request_id": ("request_id", "requestid", "trace_id", "traceid"),
    "feature": ("feature",),
    "model": ("model", "model_id"),
    "period": ("period", "date", "week", "month", "day"),
    "metric": ("metric", "name"),
    "value": ("value", "score"),
    "n": ("n", "count", "samples"),
}
_WORDS = {
    "true": 1.0,
    "yes": 1.0,
    "up": 1.0,
    "thumbs_up": 1.0,
    "good": 1.0,
    "pass": 1.0,
    "false": 0.0,
    "no": 0.0,
    "down": 0.0,
    "thumbs_down": 0.0,
    "bad": 0.0,
    "fail": 0.0,
}
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class QualityFile:
    """What one file held: its accepted rows and its rejected lines (file, line, reason, hash)."""

    path: str
    rows: pl.DataFrame
    rejects: list[dict[str, Any]] = field(default_factory=list)


def parse_period(text: str) -> tuple[date, date]:
    """`2026-11-02` (a day), `2026-W45` (an ISO week), `2026-11` (a month): first and last day."""
    s = text.strip()
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            return d, d
        if len(s) == 8 and s[4:6].upper() == "-W":
            start = date.fromisocalendar(int(s[:4]), int(s[6:]), 1)
            return start, start + timedelta(days=6)
        if len(s) == 7 and s[4] == "-":
            y, m = int(s[:4]), int(s[5:])
            return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
    except ValueError:
        pass
    raise ValueError(f"period {s[:20]!r} is not a day, an ISO week (2026-W45) or a month (2026-11)")


def parse_value(raw: Any) -> float:
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int | float):
        v = float(raw)
    else:
        s = str(raw).strip().lower()
        if s in _WORDS:
            return _WORDS[s]
        try:
            v = float(s)
        except ValueError:
            raise ValueError("value is not a number nor a yes/no word") from None
    if not math.isfinite(v):
        raise ValueError("value is not a finite number")
    return v


def _pick(record: dict[str, Any], name: str) -> str | None:
    for alias in _ALIASES[name]:
        if alias in record and record[alias] not in (None, ""):
            return str(record[alias]).strip()
    return None


def judgment(record: dict[str, Any], source: str, line: int) -> dict[str, Any]:
    """One accepted row of QUALITY_SCHEMA from a record whose keys are lower-cased; ValueError says why not."""
    request_id, feature, period = (
        _pick(record, "request_id"),
        _pick(record, "feature"),
        _pick(record, "period"),
    )
    metric, value = _pick(record, "metric"), record.get("value", record.get("score"))
    if metric is None:
        raise ValueError("no metric")
    if value is None or value == "":
        raise ValueError("no value")
    if request_id is None and (feature is None or period is None):
        raise ValueError("neither a request_id nor a feature and a period")
    start, end = parse_period(period) if period is not None else (None, None)
    n = _pick(record, "n")
    if n is not None and not (n.isdigit() and int(n) > 0):
        raise ValueError("n is not a positive whole number")
    return {
        "request_id": request_id,
        "feature": feature,
        "model": _pick(record, "model"),
        "period_start": start,
        "period_end": end,
        "metric": metric,
        "value": parse_value(value),
        "n": int(n) if n is not None else 1,
        "file": source,
        "line": line,
    }


def _json_records(text: str) -> Iterator[tuple[int, bytes, dict[str, Any] | str]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        raw = line.encode("utf-8")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            yield n, raw, "not JSON"
            continue
        if not isinstance(obj, dict):
            yield n, raw, "not a JSON object"
            continue
        yield n, raw, {str(k).lower(): v for k, v in obj.items()}


def _csv_records(text: str, delimiter: str) -> Iterator[tuple[int, bytes, dict[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    if not any(h in _ALIASES["metric"] for h in header) or not any(h in _ALIASES["value"] for h in header):
        raise SourceError(
            "a quality CSV needs a header row with a metric (or name) and a value (or score) column"
        )
    start = reader.line_num
    for row in reader:
        n, start = start + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        raw = delimiter.join(row).encode("utf-8")
        if len(row) != len(header):
            yield n, raw, f"{len(row)} fields where the header has {len(header)}"
            continue
        yield n, raw, dict(zip(header, row, strict=True))


def read_quality_file(path: str | Path) -> QualityFile:
    """Every judgment in one file, and the lines that are none (see the module docstring)."""
    source = str(path)
    name = Path(source).name.lower().removesuffix(".gz")
    try:
        with open_input(source) as fh:
            text = fh.read().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{source}: cannot read it as UTF-8 text ({exc.__class__.__name__})") from None
    records = (
        _json_records(text)
        if name.endswith(JSON_SUFFIXES)
        else _csv_records(text, "\t" if name.endswith(".tsv") else ",")
    )
    rows, rejects = [], []
    for n, raw, rec in records:
        if isinstance(rec, str):
            rejects.append(rejected_line(source, n, rec, raw))
            continue
        try:
            rows.append(judgment(rec, source, n))
        except ValueError as exc:
            rejects.append(rejected_line(source, n, str(exc), raw))
    return QualityFile(source, pl.DataFrame(rows, schema=QUALITY_SCHEMA), rejects)
