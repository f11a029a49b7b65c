"""The columns and constants every step of the replay shares: token columns, the pricing cell's
keys, the prompt expressions and the labels of a figure (and which of them a total takes)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tierlens.schema import TOKEN_COLUMNS, prompt_tokens

LABELS = ("exact", "modelled", "speculative")
"""A figure's labels, most certain first."""
DAYS_PER_MONTH = 30.4375
TOKENS = TOKEN_COLUMNS
CELL = (
    "provider",
    "model",
    "model_id",
    "tier",
    "endpoint_scope",
    "service_tier",
    "inference_geo",
    "feature",
    "priced",
    "date",
    "_web",
    "_pbucket",
)
CELL_STRINGS = CELL[:8]
"""The cell's string keys (cast to categoricals by `prepare`)."""
UNKNOWN_TOKENIZER = "(unknown)"


PROMPT = prompt_tokens(nulls_as_zero=True)
"""Input + cache reads + cache writes of a prepared row (the long-context measure)."""
PREFIX = pl.sum_horizontal([pl.col(c) for c in TOKENS[1:4]])
"""The cached prefix of a prepared row: cache reads + cache writes."""


def least_certain(labels: Sequence[str]) -> str:
    """The least certain of `labels` (in `LABELS`): a total is only as sure as its least sure
    part; `exact` when nothing was touched (nothing changes)."""
    return max(labels, key=LABELS.index) if labels else "exact"
