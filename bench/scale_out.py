#!/usr/bin/env python3
"""Benchmark `tierlens ingest` embedded against `tierlens ingest --engine spark` (local Spark) on
the same directory of gateway logs, in the same run.

It generates N gateway records with `bench/ingest.py`'s generator (deterministic for N and seed,
reused when already there), cuts them into `--files` JSON-lines files (a day of logs cut by hour,
say), then runs each engine in its own subprocess on a fresh dataset: wall time, that child's peak
RSS of its whole process tree (the JVM and Spark's Python workers included) and the machine's busy
CPU seconds during the run, and the rows each added (they must be equal). On a 2-core machine Spark loses: its JVM, the Arrow hand-off to Python
workers and the shuffle of the deduplication cost more than the two cores they share can win;
the figure is for the record, and the per-core rate is what `docs/scale.md` extrapolates from.

With `--engines embedded,s3` (or `embedded,spark,s3`), the embedded ingest also writes the same
logs into a Delta table on S3: moto's S3 API served on loopback by a process of its own (its CPU
counts in the machine's busy seconds, its memory not in the child's RSS). That figure is the cost
of the Delta commit path (staging, MERGE on the keys, the object store's HTTP), not of a real
network.

Usage: `python bench/scale_out.py [--records N] [--files F] [--master local[2]] [--engines LIST]
[--workdir DIR]`; quick run: `python bench/scale_out.py --records 200000 --files 20`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import MB, _last_json, ensure_logs, tierlens_cmd


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes: the JVM's workers included)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and every process below it (Spark's JVM and its Python workers)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            statm = (d / "statm").read_text().split()
        except OSError:
            continue
        pid = int(d.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[pid] = int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [c for c, p in parents.items() if p == pid]
    return total


def measure(cmd: list[str], log: Path, cwd: Path) -> tuple[int, float, int, float]:
    """Run `cmd`; (exit code, wall s, peak RSS of its process tree sampled every 0.2 s, machine
    CPU seconds busy during the run). Per-child rusage would miss Spark's workers, which the JVM
    starts and reaps itself."""
    with log.open("wb") as out:
        busy, started = _busy_seconds(), time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)
        wall = time.perf_counter() - started
    return proc.returncode, wall, peak, _busy_seconds() - busy


def split(source: Path, files: int, out: Path) -> Path:
    """`source` cut into `files` JSON-lines files of about equal lines, once."""
    marker = out / ".complete"
    if marker.is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    lines = sum(1 for _ in source.open("rb"))
    per = -(-lines // files)
    with source.open("rb") as fh:
        for i in range(files):
            with (out / f"gateway-{i:04d}.jsonl").open("wb") as part:
                for _ in range(per):
                    line = fh.readline()
                    if not line:
                        break
                    part.write(line)
    marker.write_text(str(lines))
    return out


def loopback_s3(scratch: Path) -> subprocess.Popen[bytes]:
    """moto's S3 server on a free loopback port, with a bucket `bench`; the environment of this
    process (and so of the ingests it starts) points at it."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (scratch / "moto.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
        )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
    )
    urllib.request.urlopen(urllib.request.Request(endpoint + "/bench", method="PUT"), timeout=10).close()
    return server


def run(logs: Path, scratch: Path, engine: str, master: str) -> dict[str, float]:
    data: str | Path = f"s3://bench/data-{time.time_ns()}" if engine == "s3" else scratch / f"data-{engine}"
    if isinstance(data, Path):
        shutil.rmtree(data, ignore_errors=True)
    cmd = [*tierlens_cmd(), "ingest", str(logs), "--data", str(data), "--json"]
    if engine == "spark":
        cmd += ["--engine", "spark", "--master", master]
    log = scratch / f"{engine}.log"
    rc, wall, rss, cpu = measure(cmd, log, cwd=scratch)
    text = log.read_text(encoding="utf-8", errors="replace")
    if rc != 0:
        raise SystemExit(f"{engine} ingest failed (exit {rc}):\n{text[-3000:]}")
    summary = _last_json(text)
    if isinstance(data, Path):
        shutil.rmtree(data, ignore_errors=True)
    return {
        "wall": wall,
        "rss": rss,
        "cpu": cpu,
        "rows": summary.get("rows_added") or 0,
        **summary.get("stages", {}),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument(
        "--engines",
        default="embedded,spark",
        help="what to run, comma-separated: embedded, spark, s3 (embedded into a Delta table on loopback S3)",
    )
    ap.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "tierlens-scale-out"
    )
    args = ap.parse_args(argv)
    source = ensure_logs(args.workdir, args.records, args.seed, block_rows=250_000)
    logs = split(source, args.files, args.workdir / f"split-{args.records}-{args.files}")
    size = sum(p.stat().st_size for p in logs.glob("*.jsonl"))
    print(
        f"{args.records:,} records in {args.files} files ({size / MB:,.0f} MB), {os.cpu_count()} cores",
        flush=True,
    )
    engines = [e for e in args.engines.split(",") if e in ("embedded", "spark", "s3")]
    engines = engines if "embedded" in engines else ["embedded", *engines]
    server = loopback_s3(args.workdir) if "s3" in engines else None
    try:
        results = {engine: run(logs, args.workdir, engine, args.master) for engine in engines}
    finally:
        if server is not None:
            server.terminate()
    base = results["embedded"]
    print("\n| engine | wall | records/s | records per CPU s | peak RSS | CPU s | wall ratio |")
    print("|---|---|---|---|---|---|---|")
    cores = os.cpu_count() or 1
    names = {
        "embedded": "embedded",
        "spark": f"spark ({args.master})",
        "s3": "embedded, Delta table on loopback S3",
    }
    for engine, r in results.items():
        rate = args.records / r["wall"]
        print(
            f"| {names[engine]} | {r['wall']:.1f} s | {rate:,.0f} | "
            f"{args.records / r['cpu']:,.0f} | {r['rss'] / 1e9:.2f} GB | {r['cpu']:.0f} | "
            f"{r['wall'] / base['wall']:.2f}x |"
        )
    same = all(r["rows"] == args.records for r in results.values())
    added = ", ".join(f"{engine} {r['rows']:,}" for engine, r in results.items())
    print(f"\nrows added: {added} ({'equal' if same else 'DIFFERENT'})")
    spark = results.get("spark", {})
    if "spark" in spark:
        print(
            f"spark stages: {spark['spark']:.1f} s in Spark (parse, price, deduplicate: "
            f"{args.records / spark['spark']:,.0f} records/s), {spark['commit']:.1f} s committing on the driver "
            f"({args.records / spark['commit']:,.0f} records/s), the rest starting the JVM"
        )
    print(f"the same run on {cores} cores; these per-stage rates are what docs/scale.md scales out")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
