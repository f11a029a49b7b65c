"""The Spark session tierlens uses, for the report's queries and for ingest on Spark.

Spark Connect when `SPARK_REMOTE` is set; else `master` (`local[*]` by default). In local mode
the Python workers run this interpreter (`PYSPARK_PYTHON`, unless already set), so they import
the same tierlens; on a cluster, tierlens must be installed in the executors' Python
(`pip install tierlens`, the wheel through `spark.submit.pyFiles`, or a Databricks library).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tierlens.errors import optional_module


def spark_session(master: str | None = None) -> Any:
    """The session (created once per process; see the module docstring)."""
    sql = optional_module("pyspark.sql", "spark")
    builder = sql.SparkSession.builder.appName("tierlens")
    remote = bool(os.environ.get("SPARK_REMOTE"))
    if not remote:
        master = master or "local[*]"
        builder = builder.master(master).config("spark.ui.enabled", "false")
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        if master.startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = builder.config("spark.sql.shuffle.partitions", "4")
    session = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    return session
