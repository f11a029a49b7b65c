"""The dataset on disk: Hive-partitioned Parquet, written atomically and idempotently."""

from tierlens.store.layout import Layout, scan
from tierlens.store.writer import Store, Transaction, new_ingest_id, recover

__all__ = ["Layout", "Store", "Transaction", "new_ingest_id", "recover", "scan"]
