"""The Spark session tierlens uses, for the report's queries and for ingest on Spark.

Spark Connect when `SPARK_REMOTE` is set; else `master` (`local[*]` by default). In local mode
the Python workers run this interpreter (`PYSPARK_PYTHON`, unless already set), so they import
the same tierlens; on a cluster, tierlens must be installed in the executors' Python
(`pip install tierlens`, the wheel through `spark.submit.pyFiles`, or a Databricks library).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    with _exec_only_launch():
        session = builder.getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    return session


@contextmanager
def _exec_only_launch() -> Iterator[None]:
    """While a session starts: pyspark's JVM launch in a new session instead of with a `preexec_fn`.

    pyspark starts its JVM with a `preexec_fn` that ignores SIGINT, so CPython forks and runs Python
    in the child before it execs. Once tierlens has run (polars, DuckDB and Arrow keep threads),
    that child can crash or hang on a lock another thread held at the fork: spark-submit never
    starts (`JAVA_GATEWAY_EXITED`). In a session of its own, the JVM is outside the terminal's
    process group, so Ctrl-C still does not reach it, and CPython execs without running Python in
    the child. pyspark has no option for this, so its `Popen` is wrapped for the launch only.
    """
    gateway: Any = optional_module("pyspark.java_gateway", "spark")
    original = gateway.Popen

    def popen(*args: Any, **kwargs: Any) -> Any:
        if kwargs.pop("preexec_fn", None) is not None:
            kwargs["start_new_session"] = True
        return original(*args, **kwargs)

    gateway.Popen = popen
    try:
        yield
    finally:
        gateway.Popen = original
