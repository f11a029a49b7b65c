"""tierlens: where your LLM API money goes, priced to the cent.

In a notebook:

    import tierlens
    lf = tierlens.open("tierlens-data")          # polars LazyFrame over the dataset
    lf.group_by("feature").agg(pl.col("cost_usd").sum()).collect()

    ws = tierlens.Workspace("tierlens-data")      # settings, prices and every analysis
    ws.report().findings; ws.flags().findings; ws.summary().total_cost_usd

Importing this package stays light: no click, no altair (they load only where needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tierlens.errors import ExitCode, TierlensError

if TYPE_CHECKING:
    import polars as pl

    from tierlens.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["ExitCode", "TierlensError", "Workspace", "__version__", "open"]


def open(data_dir: str | Path = "tierlens-data") -> pl.LazyFrame:
    """A polars LazyFrame over the dataset: canonical columns plus the `date` partition."""
    from tierlens.store import scan

    return scan(data_dir)


def __getattr__(name: str) -> object:
    # `tierlens.Workspace` without importing the analyses when only `open` is used
    if name == "Workspace":
        from tierlens.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'tierlens' has no attribute {name!r}")
