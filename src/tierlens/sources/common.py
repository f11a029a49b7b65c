"""Small expressions the readers share (token conventions, providers, tiers, format evidence).

Each reader documents its own token convention and maps it to the canonical one, where
`input_tokens` is *uncached* input; these helpers only keep the arithmetic and the checks identical.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tierlens.sources.exprs import in_range
from tierlens.sources.records import json_kind

OPENAI_MODEL = r"^(gpt-|o\d|chatgpt-|text-embedding-|davinci|babbage|codex-|computer-use-)"
"""Normalized model ids priced under the `openai` provider."""


def provider_of(model_id: pl.Expr, fallback: pl.Expr | str | None = None) -> pl.Expr:
    """The provider whose price rows apply: `anthropic` for Claude ids, `openai` for GPT/o-series ids,
    else `fallback` (the provider the log names)."""
    other = fallback if isinstance(fallback, pl.Expr) else pl.lit(fallback, pl.String)
    return (
        pl.when(model_id.str.starts_with("claude"))
        .then(pl.lit("anthropic"))
        .when(model_id.str.contains(OPENAI_MODEL))
        .then(pl.lit("openai"))
        .otherwise(other)
    )


def standard_tier(tier: pl.Expr) -> pl.Expr:
    """Service tier as stored: null, `default` and `auto` are `standard`; other values as logged."""
    low = tier.str.to_lowercase()
    return pl.when(low.is_null() | low.is_in(["default", "auto", ""])).then(pl.lit("standard")).otherwise(low)


def negative(*cols: pl.Expr) -> pl.Expr:
    """True when any of the token counts is negative."""
    return pl.any_horizontal([(c < 0).fill_null(False) for c in cols])


def epoch_nanos(text: pl.Expr) -> pl.Expr:
    """An OTLP `*TimeUnixNano` (a decimal string or number) as a UTC datetime; null if not a number
    or outside 2000..2100."""
    ns = pl.when(text.str.contains(r"^\d{1,20}$")).then(text.cast(pl.Int64, strict=False))
    return in_range(pl.from_epoch(ns // 1000, time_unit="us").dt.replace_time_zone("UTC"))


def json_int(json_text: pl.Expr, path: str, label: str | None = None) -> tuple[pl.Expr, pl.Expr]:
    """(value, reject reason) of an integer at `$.path` inside a JSON text column (`label` names it)."""
    got = json_text.str.json_path_match(f"$.{path}")
    value = pl.when(got.str.contains(r"^-?\d+$")).then(got.cast(pl.Int64, strict=False))
    why = pl.when(got.is_not_null() & value.is_null()).then(
        pl.format(f"{label or path}: expected an integer, got {{}}", json_kind(got))
    )
    return value, why


def claude_evidence(resp: dict[str, Any]) -> bool:
    """Strong signs of an Anthropic Messages response (one optional field proves nothing)."""
    usage = resp.get("usage")
    model = resp.get("model")
    return (
        (resp.get("type") == "message" and resp.get("role") == "assistant")
        or (isinstance(model, str) and "claude" in model.lower())
        or (isinstance(usage, dict) and "cache_creation_input_tokens" in usage)
        or ("stop_reason" in resp and "content" in resp)
    )


def openai_evidence(resp: dict[str, Any]) -> bool:
    """Strong signs of an OpenAI chat completion or Responses object."""
    usage = resp.get("usage")
    return resp.get("object") in ("chat.completion", "chat.completion.chunk", "response") or (
        isinstance(usage, dict) and ("prompt_tokens" in usage or "input_tokens_details" in usage)
    )
