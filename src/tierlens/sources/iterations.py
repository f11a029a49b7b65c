"""`usage.iterations`: the sampling steps of one Messages API request, each billed.

A request that compacts its context (`{"type": "compaction"}`) or consults an advisor
(`{"type": "advisor_message", "model": ...}`) runs several sampling iterations. The response's
top-level `usage` then describes only the final message iteration; the bill is the sum over
`usage.iterations`. So a row whose response has iterations gets:

- its token columns = the sum over the iterations on the request's own model (compaction and
  message iterations), and `iterations` = how many there were (when none of them is the request's
  own, the top-level usage stands);
- one more row per iteration on another model (an advisor), priced at that model's rates, with the
  request's ids, tier and geo and a dedupe key of its own (`<key>#<position>`).

Iterations are rare, so they are decoded in Python, for the few rows that have them only.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

_OWN_TYPES = ("message", "compaction")
_TOKENS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)


def iteration_tokens(item: dict[str, Any]) -> dict[str, int]:
    """Canonical token counts of one iteration (the same rules as the top-level usage).

    Raises ValueError for a count that is not a non-negative integer.
    """
    cache = item.get("cache_creation")
    split = isinstance(cache, dict) and any(
        k in cache for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
    )
    cache = cache if isinstance(cache, dict) else {}
    values = {
        "input_tokens": item.get("input_tokens"),
        "cache_read_tokens": item.get("cache_read_input_tokens"),
        "cache_write_5m_tokens": cache.get("ephemeral_5m_input_tokens")
        if split
        else item.get("cache_creation_input_tokens"),
        "cache_write_1h_tokens": cache.get("ephemeral_1h_input_tokens") if split else 0,
        "output_tokens": item.get("output_tokens"),
    }
    out = {}
    for name, value in values.items():
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"usage.iterations: {name} must be a non-negative integer")
        out[name] = value
    return out


def split_iterations(
    text: str, model: str | None
) -> tuple[dict[str, int] | None, int, list[tuple[str, dict[str, int]]]]:
    """(own-model token sums or None, own iterations, [(other model, tokens)]) of a JSON iterations array."""
    items = json.loads(text)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("usage.iterations: expected an array of usage objects")
    own: dict[str, int] | None = None
    n_own = 0
    others: list[tuple[str, dict[str, int]]] = []
    for item in items:
        tokens = iteration_tokens(item)
        other = item.get("model")
        if isinstance(other, str) and other and other != model and item.get("type") not in _OWN_TYPES:
            others.append((other, tokens))
            continue
        own = {k: (own or {}).get(k, 0) + v for k, v in tokens.items()}
        n_own += 1
    return own, n_own, others


def with_iterations(out: pl.DataFrame) -> pl.DataFrame:
    """Rows with iterations re-counted as the bill counts them, plus one row per advisor iteration.

    Stream events are left alone: their iterations count once the stream is merged.
    """
    if "_iterations" not in out.columns:
        return out
    live = pl.col("_iterations").is_not_null()
    for flag in ("_reject", "_skip", "_type_error", "_event"):
        if flag in out.columns:
            live &= pl.col(flag).is_null()
    if not out.select(live.any()).item():
        return out
    indexed = out.with_row_index("_i")
    subset = indexed.filter(live)
    updates: list[dict[str, Any]] = []
    extra: list[pl.DataFrame] = []
    for row in subset.iter_rows(named=True):
        try:
            own, n_own, others = split_iterations(row["_iterations"], row["model"])
        except (ValueError, RecursionError) as exc:
            reason = str(exc) if str(exc).startswith("usage.iterations") else "usage.iterations: invalid JSON"
            updates.append({"_i": row["_i"], "_iter_reject": reason})
            continue
        base = {k: row[k] for k in _TOKENS}
        updates.append({"_i": row["_i"], **(own or base), "iterations": n_own or None, "_iter_reject": None})
        for pos, (model, tokens) in enumerate(others, start=1):
            extra.append(
                pl.DataFrame([{**row, **tokens, "model": model, "iterations": 1, "web_search_requests": 0}])
                .cast(indexed.schema, strict=False)
                .with_columns(dedupe_key=pl.format("{}#{}", pl.col("dedupe_key"), pl.lit(pos)))
            )
    return _apply(indexed, updates, extra)


def _apply(indexed: pl.DataFrame, updates: list[dict[str, Any]], extra: list[pl.DataFrame]) -> pl.DataFrame:
    schema = {
        "_i": pl.UInt32,
        **dict.fromkeys(_TOKENS, pl.Int64),
        "iterations": pl.Int64,
        "_iter_reject": pl.String,
    }
    changes = pl.DataFrame(updates, schema=schema)
    if "iterations" not in indexed.columns:
        indexed = indexed.with_columns(iterations=pl.lit(None, pl.Int64))
    reject = pl.col("_reject") if "_reject" in indexed.columns else pl.lit(None, pl.String)
    merged = indexed.update(changes.drop("_iter_reject"), on="_i", how="left").join(
        changes.select("_i", "_iter_reject"), on="_i", how="left"
    )
    merged = merged.with_columns(_reject=pl.coalesce(reject, pl.col("_iter_reject"))).drop("_iter_reject")
    if extra:
        merged = pl.concat(
            [merged, *[e.with_columns(iterations=pl.lit(1, pl.Int64)) for e in extra]], how="diagonal_relaxed"
        )
    return merged.sort("_i", maintain_order=True).drop("_i")
