"""Values as the JSON documents (`tierlens.report/1`, `tierlens.replay/1`, `tierlens.backtest/1`)
hold them: one rule for every document, so that the same figure reads the same in each.

Dates are ISO strings; floats are rounded to 10 decimals, so that a sum taken in another order
(its last bits differ) never changes a document; dicts and lists are made plain all the way down.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl


def plain(v: Any) -> Any:
    """`v` as a JSON document holds it (anything else as it is)."""
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, float):
        return round(v, 10)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def plain_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """A frame as a document's list of rows, each value `plain`."""
    return [{k: plain(v) for k, v in row.items()} for row in df.iter_rows(named=True)]
