"""The columns and constants every step of the replay shares: token columns, the pricing cell's
keys, the prompt expressions, the labels of a figure."""

from __future__ import annotations

import polars as pl

from tierlens.schema import TOKEN_COLUMNS, prompt_tokens

LABELS = ("exact", "modelled", "speculative")
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
