"""Exports of the stored requests in formats other tools read.

`focus_frame` / `write_focus` (in `tierlens.export.focus`) give the FinOps FOCUS cost-and-usage
rows of the priced requests. An export only reads the dataset: it never re-prices, re-attributes
or writes to the store.
"""

from tierlens.export.focus import (
    CATEGORIES,
    FOCUS_COLUMNS,
    FocusResult,
    focus_frame,
    parse_accounts,
    write_focus,
)

__all__ = ["CATEGORIES", "FOCUS_COLUMNS", "FocusResult", "focus_frame", "parse_accounts", "write_focus"]
