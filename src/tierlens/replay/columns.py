"""The columns and constants every step of the replay shares: token columns, the pricing cell's
keys, the prompt expressions, the labels of a figure (and which of them a total takes), and the
names of a missing feature or tier (`named`, which the signals and the report use too)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tierlens.schema import TOKEN_COLUMNS, prompt_tokens
from tierlens.summary import unknown_value

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


def named(dimension: str) -> pl.Expr:
    """A dimension's column with its missing values named as every breakdown names them
    (`summary.unknown_value`: `(unattributed)` features, `(other)` tiers), so that a replay row,
    a report cell and a finding say the same of the same requests. It lives here because the
    replay is the lowest of the packages that use it: signals and the report load it already."""
    return pl.col(dimension).fill_null(unknown_value(dimension)).alias(dimension)
