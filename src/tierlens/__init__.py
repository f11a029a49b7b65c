"""tierlens: where your LLM API money goes, priced to the cent.

In a notebook:

    import tierlens
    lf = tierlens.open("tierlens-data")          # polars LazyFrame over the dataset
    lf.group_by("feature").agg(pl.col("cost_usd").sum()).collect()

Importing this package stays light: no click, no altair (they load only where needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tierlens.errors import ExitCode, TierlensError

if TYPE_CHECKING:
    import polars as pl

__version__ = "0.1.0"
__all__ = ["ExitCode", "TierlensError", "__version__", "open"]


def open(data_dir: str | Path = "tierlens-data") -> pl.LazyFrame:
    """A polars LazyFrame over the dataset: canonical columns plus the `date` partition."""
    from tierlens.store import scan

    return scan(data_dir)
