"""Provider cost reports: money, not usage. Read by `tierlens reconcile`; never ingested.

A cost report is what the provider bills; the dataset is what the logs say was used, priced by
tierlens. Keeping the report out of the dataset keeps one meaning per row (a request, or a
bucket of requests) and lets `reconcile` read any report again without an ingest. `ingest`
recognizes a cost report and skips it with a note pointing at `reconcile`.

- Anthropic `GET /v1/organizations/cost_report` (FACTS A2): pages `{data: [{starting_at,
  ending_at, results: [{amount, currency, workspace_id, description, cost_type, model,
  service_tier, token_type, context_window, inference_geo}]}], has_more, next_page}`. `amount` is
  a decimal string in CENTS (`"123.45"` = $1.2345). `model` and `token_type` are filled when the
  report is grouped by `description`; a web-search charge may still come without a model, and a
  report grouped by workspace only names neither. `reconcile` matches each amount at the keys it
  has. Priority Tier is not in this endpoint [P].
- OpenAI `GET /v1/organization/costs` (FACTS A4): pages of buckets (`start_time`, unix seconds)
  whose results hold `amount: {value, currency}` in USD (a number or a decimal string),
  `line_item` and `project_id`; or the dashboard's CSV (`start_time`, `amount_value`,
  `line_item`, `project_id`). `line_item` reads like `gpt-4o-2024-08-06, input` [U: the format is
  not documented]: the text before the last comma is taken as the model, the rest as the category.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import SourceError
from tierlens.pricing.models import normalize_model
from tierlens.sources.inputs import open_input, read_input
from tierlens.sources.records import decode_lines

COST_SCHEMA = pl.Schema(
    {
        "day": pl.Date(),
        "provider": pl.String(),
        "model": pl.String(),
        "workspace_id": pl.String(),
        "category": pl.String(),
        "description": pl.String(),
        "service_tier": pl.String(),
        "amount_usd": pl.Float64(),
        "source_file": pl.String(),
        "source_line": pl.Int64(),
    }
)
"""One row per reported amount (`category`: input, cache_write, cache_read, output, web_search,
other, or null when the report does not split it)."""

_ANTHROPIC_CATEGORY = {
    "uncached_input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write",
}
_OPENAI_CATEGORY = {"input": "input", "cached input": "cache_read", "output": "output"}


class CostReportInput(SourceError):
    """The input is a provider cost report: money to reconcile against, not usage to ingest."""

    def __init__(self, label: str, kind: str) -> None:
        self.kind = kind
        super().__init__(
            f"{label} is {'an Anthropic cost report' if kind == 'anthropic' else 'an OpenAI costs export'}"
            f" (money, not usage): compare the dataset with it using `tierlens reconcile --cost-report {label}`"
        )


def cost_report_kind(obj: Any) -> str | None:
    """`anthropic` or `openai` when a decoded record is (part of) a cost report, else None."""
    if not isinstance(obj, dict):
        return None
    data = obj.get("data")
    buckets = data if isinstance(data, list) else [obj]
    for b in buckets[:3]:
        if not isinstance(b, dict) or not isinstance(b.get("results"), list):
            continue
        first = next((r for r in b["results"] if isinstance(r, dict)), None)
        if first is None:
            continue
        if first.get("object") == "organization.costs.result" or isinstance(first.get("amount"), dict):
            return "openai"
        if "amount" in first and "starting_at" in b:
            return "anthropic"
    if "amount_value" in obj and "start_time" in obj:
        return "openai"
    return None


def read_cost_report(path: str | Path) -> pl.DataFrame:
    """Every amount of a cost report file (JSON lines, a JSON document, or CSV) as `COST_SCHEMA` rows.

    Raises `SourceError` naming the first bad records (a cost report is small and must be whole).
    """
    label = str(path)
    stream = open_input(path)
    try:
        inp = read_input(stream, 64 * 1024 * 1024)
        if inp is None:
            raise SourceError(f"{label}: empty cost report")
        rows: list[dict[str, Any]] = []
        errors: list[str] = []
        kind: str | None = None
        for line, value, error in _records(inp.batches):
            if error is not None:
                errors.append(f"line {line}: {error}")
                continue
            found = cost_report_kind(value)
            if found is None:
                if isinstance(value, dict) and not value.get("data") and "data" in value:
                    continue  # an empty page
                errors.append(f"line {line}: not a cost report record")
                continue
            if kind is not None and found != kind:
                errors.append(f"line {line}: mixes {kind} and {found} cost reports")
                continue
            kind = found
            try:
                rows += _rows(value, found, label, line)
            except (ValueError, TypeError, KeyError, InvalidOperation) as exc:
                errors.append(f"line {line}: {exc}")
        if errors:
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise SourceError(f"{label}: cannot read the cost report: {'; '.join(errors[:5])}{more}")
    finally:
        stream.close()
    df = pl.DataFrame(rows, schema=COST_SCHEMA)
    model_id, _ = normalize_model(pl.col("model"))
    return df.with_columns(model_id=model_id)


def _records(batches: Iterator[Any]) -> Iterator[tuple[int, Any, str | None]]:
    for batch in batches:
        if batch.chunk is not None:
            records, _ = decode_lines(batch.chunk, batch.first_line)
        else:
            records = batch.records or []
        for r in records:
            yield r.line, r.value, r.error


def _rows(obj: dict[str, Any], kind: str, label: str, line: int) -> list[dict[str, Any]]:
    if kind == "openai" and "amount_value" in obj:  # the dashboard CSV: one result per row
        return [_openai_row(obj, obj.get("start_time"), label, line, flat=True)]
    data = obj.get("data")
    buckets = data if isinstance(data, list) else [obj]
    out = []
    for b in buckets:
        if not isinstance(b, dict) or not isinstance(b.get("results"), list):
            raise ValueError("expected buckets with results")
        for r in b["results"]:
            if not isinstance(r, dict):
                raise ValueError("expected result objects")
            if kind == "anthropic":
                out.append(_anthropic_row(r, b.get("starting_at"), label, line))
            else:
                out.append(_openai_row(r, b.get("start_time"), label, line))
    return out


def _anthropic_row(r: dict[str, Any], start: Any, label: str, line: int) -> dict[str, Any]:
    currency = r.get("currency") or "USD"
    if str(currency).upper() != "USD":
        raise ValueError(f"currency {currency} (only USD is reconciled)")
    cents = Decimal(str(r["amount"]))
    cost_type = r.get("cost_type")
    token_type = r.get("token_type")
    if cost_type == "web_search":
        category: str | None = "web_search"
    elif token_type is not None:
        category = _ANTHROPIC_CATEGORY.get(str(token_type), "other")
    elif cost_type in (None, "tokens"):
        category = None
    else:
        category = "other"
    return {
        "day": _day(start),
        "provider": "anthropic",
        "model": _model_text(r.get("model")),
        "workspace_id": r.get("workspace_id"),
        "category": category,
        "description": r.get("description"),
        "service_tier": r.get("service_tier"),
        "amount_usd": float(cents / 100),
        "source_file": label,
        "source_line": line,
    }


def _openai_row(r: dict[str, Any], start: Any, label: str, line: int, flat: bool = False) -> dict[str, Any]:
    if flat:
        value, currency = r.get("amount_value"), r.get("amount_currency") or "usd"
    else:
        amount = r.get("amount")
        if not isinstance(amount, dict):
            raise ValueError("amount: expected {value, currency}")
        value, currency = amount.get("value"), amount.get("currency") or "usd"
    if str(currency).lower() != "usd":
        raise ValueError(f"currency {currency} (only USD is reconciled)")
    usd = Decimal(str(value)) if value not in (None, "") else Decimal(0)
    item = r.get("line_item")
    model, category = None, None
    if isinstance(item, str) and item.strip():
        head, sep, tail = item.rpartition(",")
        if sep:
            model, category = head.strip(), _OPENAI_CATEGORY.get(tail.strip().lower(), "other")
        else:
            model, category = item.strip(), None
    return {
        "day": _day(start),
        "provider": "openai",
        "model": model,
        "workspace_id": r.get("project_id") or None,
        "category": category,
        "description": item,
        "service_tier": None,
        "amount_usd": float(usd),
        "source_file": label,
        "source_line": line,
    }


def _model_text(model: Any) -> str | None:
    """A model as the report names it; display names (`Claude Sonnet 4.5`) become ids."""
    if not isinstance(model, str) or not model.strip():
        return None
    m = model.strip()
    if " " in m:
        m = m.lower().replace(" ", "-").replace(".", "-")
    return m


def _day(value: Any) -> date:
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value), UTC).date()
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).date()
    raise ValueError("bucket without a start time")
