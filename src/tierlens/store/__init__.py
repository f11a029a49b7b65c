"""The dataset: Hive-partitioned Parquet in a local directory, written atomically and
idempotently, or a Delta Lake table on object storage (`tierlens.store.delta`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tierlens.location import is_remote
from tierlens.store.layout import Layout, scan
from tierlens.store.writer import Store, Transaction, new_ingest_id, recover

if TYPE_CHECKING:
    from tierlens.store.delta import DeltaStore

__all__ = ["Layout", "Store", "Transaction", "is_remote", "new_ingest_id", "open_store", "recover", "scan"]


def open_store(where: str | Path) -> Store | DeltaStore:
    """The dataset at `where`: a local directory, or a URL of object storage."""
    if is_remote(where):
        import os

        from tierlens.errors import optional_module

        # delta-rs logs each credential source it tries (instance metadata...) as warnings; its
        # errors reach the user as tierlens errors
        os.environ.setdefault("RUST_LOG", "error")
        optional_module("deltalake", "cloud")  # a clear word when the extra is missing
        from tierlens.store.delta import DeltaStore

        return DeltaStore(str(where))
    return Store(where)
