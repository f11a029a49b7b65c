#!/usr/bin/env python3
"""Benchmark `tierlens replay`: the shipped policies over N requests (target: 5 policies x 10M in <= 10 s).

Why it exists: replay has a speed target (above), and the engine's design (one vectorized group-by per
policy on the pricing keys, mean-request pricing probes, Monte Carlo over group totals) rests on
it. It

1. builds a dataset of N requests (default 10M) shaped like sample_logs/: the sample is ingested
   once, then its rows are drawn with replacement by a seeded hash of the row index, token counts
   jittered by +-20%, re-priced by the pricing engine, and written Hive-partitioned like the store
   (`requests/date=YYYY-MM-DD/*.parquet`); the dataset is cached in the work directory;
2. runs `tierlens replay --policy policies/ --data DIR --format json -o OUT` in a fresh subprocess
   per run (import, scan, replay, render: what a user waits for), after one untimed warm-up that
   fills the page cache, and reports each run's wall time and the child's peak RSS (`os.wait4`);
3. prints the median and whether it meets the target.

`--profile` instead runs the replay in-process under cProfile and prints the top entries.

Usage: `python bench/replay.py [--records N] [--repeats R] [--draws D] [--workdir DIR] [--profile]`;
quick smoke run: `python bench/replay.py --records 500000 --repeats 1`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
GENERATOR_VERSION = 1
TARGET_RECORDS = 10_000_000
TARGET_SECONDS = 10.0
TOKENS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)


def build(workdir: Path, records: int, seed: int = 7) -> Path:
    """The benchmark dataset (cached by size, seed and generator version)."""
    from tierlens import open as open_dataset
    from tierlens.config import load_settings
    from tierlens.ingest import ingest
    from tierlens.pricing import PriceTable, price_requests
    from tierlens.schema import SCHEMA

    data = workdir / f"replay-{records}-s{seed}-v{GENERATOR_VERSION}"
    if (data / "requests").is_dir():
        return data
    sample = workdir / "sample"
    if not (sample / "requests").is_dir():
        ingest([REPO / "sample_logs"], load_settings(data_dir=sample))
    src = open_dataset(sample).collect().drop("date")
    t0 = time.perf_counter()

    def uniform(stream: int) -> pl.Expr:
        return (pl.col("i").hash(seed=seed * 1_000_003 + stream) % (1 << 32)).cast(pl.Float64) / float(
            1 << 32
        )

    picked = (
        pl.int_range(records, eager=True)
        .alias("i")
        .to_frame()
        .with_columns(
            _k=(uniform(1) * src.height).cast(pl.UInt32), _j=0.8 + 0.4 * uniform(2), _o=0.8 + 0.4 * uniform(3)
        )
    )
    rows = picked.join(src.with_row_index("_k"), on="_k", how="left").with_columns(
        *[(pl.col(c) * pl.col("_j")).round().cast(pl.Int64) for c in TOKENS[:4]],
        output_tokens=(pl.col("output_tokens") * pl.col("_o")).round().cast(pl.Int64),
        dedupe_key=pl.concat_str(pl.col("dedupe_key"), pl.lit(":"), pl.col("i").cast(pl.String)),
    )
    rows = price_requests(rows, PriceTable.load()).select(list(SCHEMA.names()))
    tmp = data.with_name(data.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "requests").mkdir(parents=True)
    rows.with_columns(date=pl.col("ts").dt.date()).write_parquet(
        tmp / "requests", partition_by="date", compression="zstd"
    )
    tmp.rename(data)
    print(f"built {records:,} requests in {time.perf_counter() - t0:.1f}s -> {data}", file=sys.stderr)
    return data


def run_once(data: Path, draws: int, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `tierlens replay` in a fresh process."""
    cmd = [
        sys.executable,
        "-m",
        "tierlens.cli",
        "replay",
        "--policy",
        str(REPO / "policies"),
        "--data",
        str(data),
        "--draws",
        str(draws),
        "--format",
        "json",
        "-o",
        str(out),
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"replay failed: {err}")
    return wall, usage.ru_maxrss / 1024


def profile(data: Path, draws: int) -> None:
    import tierlens
    from tierlens.pricing import PriceTable
    from tierlens.replay import load_policies, replay

    table = PriceTable.load()
    policies = load_policies([REPO / "policies"], table)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    replay(tierlens.open(data), policies, table, draws=draws)
    prof.disable()
    print(f"in-process replay: {time.perf_counter() - t0:.2f}s")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(20)
    print(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=TARGET_RECORDS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tierlens-bench")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.build_only:
        build(args.workdir, args.records)
        return
    # build in a child process: a forked child's peak RSS counts its parent's memory at fork time,
    # so this process stays small and each timed run's RSS is its own
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--build-only",
            "--records",
            str(args.records),
            "--workdir",
            str(args.workdir),
        ],
        check=True,
    )
    data = build(args.workdir, args.records)  # cached now: only returns the path
    policies = sorted((REPO / "policies").glob("*.toml"))
    if args.profile:
        profile(data, args.draws)
        return
    out = args.workdir / "replay.json"
    warm, _ = run_once(data, args.draws, out)
    print(f"warm-up (fills the page cache): {warm:.2f}s")
    walls, rss = [], []
    for k in range(args.repeats):
        wall, peak = run_once(data, args.draws, out)
        walls.append(wall)
        rss.append(peak)
        print(f"run {k + 1}: {wall:.2f}s, peak RSS {peak:,.0f} MB")
    median = statistics.median(walls)
    verdict = (
        ("OK" if median <= TARGET_SECONDS else "MISSED") + f" (target <= {TARGET_SECONDS:.0f}s)"
        if args.records == TARGET_RECORDS
        else f"(the <= {TARGET_SECONDS:.0f}s target is for {TARGET_RECORDS:,})"
    )
    print(
        f"tierlens replay: {len(policies)} policies x {args.records:,} requests, {args.draws} draws: "
        f"median {median:.2f}s over {args.repeats} run(s) {verdict}"
    )


if __name__ == "__main__":
    main()
