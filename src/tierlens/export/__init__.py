"""Exports of the stored requests in formats other tools read.

`focus_frame` / `write_focus` (in `tierlens.export.focus`; its columns in `focus_catalog` and `focus_columns`) give the FinOps FOCUS cost-and-usage
rows of the priced requests. An export only reads the dataset: it never re-prices, re-attributes
or writes to the store.
"""

from tierlens.export.focus import (
    FocusResult,
    focus_frame,
    parse_accounts,
    write_focus,
)
from tierlens.export.focus_catalog import CATEGORIES, FOCUS_COLUMNS

__all__ = ["CATEGORIES", "FOCUS_COLUMNS", "FocusResult", "focus_frame", "parse_accounts", "write_focus"]
