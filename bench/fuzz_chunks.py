#!/usr/bin/env python3
"""Ingest a corpus of fuzzed logs at several chunk sizes: time, memory, and whether the outcome moves.

The corpus is `tests.fuzzing.build_corpus`: ten files of nine JSON-lines formats (two gzipped),
200,000 lines of which 100,000 are fuzzed (truncated, not UTF-8, wrong types, objects where ids
are expected, 2,000-deep nesting, huge and negative counts, bad timestamps, NaN, blank and
non-object lines...), plus a 2 MB and a 17 MiB good line. It is written once into `--workdir`
and reused while the generator's inputs are unchanged.

Each chunk size (default 64 KiB, 1 MiB, 32 MiB) runs `tierlens.ingest.ingest` over the corpus
into a fresh dataset in a child process of its own; the parent reaps it with `os.wait4`, whose
rusage is that child's alone (peak RSS, CPU). Printed per size: wall seconds, peak RSS MB, rows,
rejects, and whether the set of rejected (file, line) and the stored (file, line, dedupe key, cost)
are identical to those at the first size. Last, a DuckDB floor in the same run: a plain
`read_json(files, ignore_errors=true)` count of the same files (one declared column, no pricing,
no store).

Usage: `python bench/fuzz_chunks.py [--workdir DIR] [--scale 1.0] [--chunks 64K,1M,32M] [--rebuild]`;
quick smoke run: `python bench/fuzz_chunks.py --scale 0.05 --chunks 64K,1M`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
GENERATOR_FILES = ("tests/fuzzing.py",)
"""The corpus is rebuilt when these change (or --scale/--seed differ)."""


def parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1024, "M": MB, "G": 1024 * MB}.get(t[-1:], 1)
    return int(float(t[:-1] if t[-1:] in "KMG" else t) * mult)


def fingerprint(scale: float, seed: int) -> str:
    h = hashlib.sha256(f"{scale}:{seed}".encode())
    for name in GENERATOR_FILES:
        h.update((REPO / name).read_bytes())
    return h.hexdigest()[:16]


def corpus(workdir: Path, scale: float, seed: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """The corpus directory (built if missing or stale) and its manifest."""
    root = workdir / "corpus"
    manifest_path = workdir / "corpus.json"
    fp = fingerprint(scale, seed)
    if not rebuild and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("fingerprint") == fp and root.is_dir():
            return root, manifest
    shutil.rmtree(root, ignore_errors=True)
    sys.path.insert(0, str(REPO))
    from tests.fuzzing import build_corpus

    started = time.perf_counter()
    files = build_corpus(root, seed=seed, scale=scale)
    manifest = {
        "fingerprint": fp,
        "scale": scale,
        "seed": seed,
        "files": {name: len(lines) for name, lines in files.items()},
        "lines": sum(len(lines) for lines in files.values()),
        "fuzzed": sum(fl.kind != "good" for lines in files.values() for fl in lines),
        "expected_rejects": sum(fl.expect == "reject" for lines in files.values() for fl in lines),
        "bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()),
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return root, manifest


def measure(cmd: list[str], log: Path) -> tuple[int, float, float, float]:
    """Run `cmd`: (exit code, wall s, peak RSS MB, CPU s) of that child alone (`os.wait4`)."""
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    rss = usage.ru_maxrss / MB if sys.platform == "darwin" else usage.ru_maxrss / 1024  # KiB on Linux
    return os.waitstatus_to_exitcode(status), wall, rss, usage.ru_utime + usage.ru_stime


# --- children ----------------------------------------------------------------------------------


def child_ingest(root: Path, data: Path, chunk: int, out: Path) -> None:
    """Ingest the corpus at one chunk size; write what happened (counts, rejects, rows) to `out`."""
    import polars as pl

    import tierlens
    from tierlens.config import Settings
    from tierlens.ingest import ingest

    started = time.perf_counter()
    result = ingest([root], Settings(data_dir=data, chunk_bytes=chunk))
    seconds = time.perf_counter() - started
    stored = tierlens.open(data).collect().select("source_file", "source_line", "dedupe_key", "cost_usd")
    rows = stored.with_columns(pl.col("source_file").str.strip_prefix(f"{root}/"))
    rows = rows.sort("source_file", "source_line", "dedupe_key")
    rows.write_parquet(out.with_suffix(".rows.parquet"))
    digest = hashlib.sha256(rows.with_columns(pl.col("cost_usd").round(9)).write_csv().encode()).hexdigest()
    rejects = sorted({(str(Path(r["file"]).relative_to(root)), r["line"]) for r in result.rejects})
    out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "lines": result.lines_read,
                "rows": result.rows_added,
                "rejects": result.rejected_total,
                "skipped": sum(result.skipped.values()),
                "duplicates": result.duplicates_skipped,
                "failed": result.files_failed,
                "formats": result.formats,
                "rejected_lines": rejects,
                "rows_digest": digest,
            }
        )
    )


def child_duckdb(root: Path, out: Path) -> None:
    """The floor: DuckDB counting what it can read of the same files (skipping what it cannot)."""
    import duckdb

    files = sorted(str(p) for p in root.rglob("*") if p.is_file())
    con = duckdb.connect()
    started = time.perf_counter()
    n = con.sql(
        # one declared column: schema detection would give up on the 2,000-deep lines
        "SELECT count(*) FROM read_json($files, format='newline_delimited', ignore_errors=true, "
        "records=true, columns={'model': 'VARCHAR'}, maximum_object_size=$size)",
        params={"files": files, "size": 64 * MB},
    ).fetchall()
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"seconds": seconds, "records": n[0][0]}))


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tierlens-fuzz-bench")
    ap.add_argument("--scale", type=float, default=1.0, help="x the corpus' 200,000 lines (default 1)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--chunks", default="64K,1M,32M", help="chunk sizes, comma-separated (default 64K,1M,32M)"
    )
    ap.add_argument("--rebuild", action="store_true", help="rebuild the corpus even if cached")
    ap.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    ap.add_argument("--child", choices=["ingest", "duckdb"], help=argparse.SUPPRESS)
    ap.add_argument("--chunk", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    root = args.workdir / "corpus"
    if args.child == "ingest":
        return child_ingest(root, args.data, args.chunk, args.out)
    if args.child == "duckdb":
        return child_duckdb(root, args.out)

    args.workdir.mkdir(parents=True, exist_ok=True)
    root, manifest = corpus(args.workdir, args.scale, args.seed, args.rebuild)
    print(
        f"corpus: {manifest['lines']:,} lines ({manifest['fuzzed']:,} fuzzed, {manifest['expected_rejects']:,} "
        f"to reject) in {len(manifest['files'])} files, {manifest['bytes'] / MB:,.0f} MB, at {root}"
    )
    sizes = [parse_size(s) for s in args.chunks.split(",") if s.strip()]
    results: list[dict[str, Any]] = []
    me = [sys.executable, str(Path(__file__).resolve()), "--workdir", str(args.workdir)]
    for chunk in sizes:
        data = args.workdir / f"data-{chunk}"
        shutil.rmtree(data, ignore_errors=True)
        out = args.workdir / f"result-{chunk}.json"
        out.unlink(missing_ok=True)
        cmd = [*me, "--child", "ingest", "--chunk", str(chunk), "--data", str(data), "--out", str(out)]
        code, wall, rss, cpu = measure(cmd, args.workdir / f"log-{chunk}.txt")
        if code != 0 or not out.exists():
            print(f"chunk {chunk:,}: child failed (exit {code}); see {args.workdir / f'log-{chunk}.txt'}")
            results.append({"chunk": chunk, "exit": code})
            continue
        r = json.loads(out.read_text())
        results.append({"chunk": chunk, "exit": code, "wall": wall, "rss_mb": rss, "cpu": cpu, **r})
        shutil.rmtree(data, ignore_errors=True)
    out = args.workdir / "result-duckdb.json"
    code, wall, rss, cpu = measure(
        [*me, "--child", "duckdb", "--out", str(out)], args.workdir / "log-duckdb.txt"
    )
    floor = (
        {"wall": wall, "rss_mb": rss, "cpu": cpu, **json.loads(out.read_text())}
        if code == 0
        else {"exit": code}
    )

    ok = [r for r in results if r.get("exit") == 0]
    base = ok[0] if ok else None
    print(
        f"\n{'chunk':>10} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'rows':>9} {'rejects':>9} {'skipped':>8}  same as first"
    )
    for r in results:
        if r.get("exit") != 0:
            print(f"{_size(r['chunk']):>10} {'failed':>8}")
            continue
        same_rejects = base is not None and r["rejected_lines"] == base["rejected_lines"]
        same_rows = base is not None and r["rows_digest"] == base["rows_digest"]
        verdict = "yes" if same_rejects and same_rows else f"NO (rejects {same_rejects}, rows {same_rows})"
        print(
            f"{_size(r['chunk']):>10} {r['wall']:>8.1f} {r['cpu']:>8.1f} {r['rss_mb']:>12.0f} {r['rows']:>9,} "
            f"{r['rejects']:>9,} {r['skipped']:>8,}  {verdict}"
        )
    for i, a in enumerate(ok):
        for b in ok[i + 1 :]:
            _explain(args.workdir, a, b)
    if base is not None and base["failed"]:
        print(f"  files failed: {base['failed']}")
    if "records" in floor:
        print(
            f"{'DuckDB':>10} {floor['wall']:>8.1f} {floor['cpu']:>8.1f} {floor['rss_mb']:>12.0f} "
            f"{floor['records']:>9,}  (read_json count, ignore_errors=true: records it could read)"
        )
    else:
        print(f"DuckDB floor failed (exit {floor.get('exit')}); see {args.workdir / 'log-duckdb.txt'}")
    if args.json:
        for r in results:
            r.pop("rejected_lines", None)
        args.json.write_text(json.dumps({"corpus": manifest, "runs": results, "duckdb": floor}, indent=2))


def _explain(workdir: Path, a: dict[str, Any], b: dict[str, Any]) -> None:
    """Print the lines two chunk sizes treat differently (rejected at one only, stored at one only)."""
    import polars as pl

    ra, rb = set(map(tuple, a["rejected_lines"])), set(map(tuple, b["rejected_lines"]))
    sa, sb = (pl.read_parquet(workdir / f"result-{r['chunk']}.rows.parquet") for r in (a, b))
    key = ["source_file", "source_line", "dedupe_key"]
    stored_a = sa.join(sb, on=key, how="anti").select("source_file", "source_line").rows()
    stored_b = sb.join(sa, on=key, how="anti").select("source_file", "source_line").rows()
    if not (ra ^ rb or stored_a or stored_b):
        return
    x, y = _size(a["chunk"]), _size(b["chunk"])
    print(f"  {x} vs {y}:")
    for label, items in (
        (f"rejected at {x} only", sorted(ra - rb)),
        (f"rejected at {y} only", sorted(rb - ra)),
        (f"stored at {x} only", sorted(stored_a)),
        (f"stored at {y} only", sorted(stored_b)),
    ):
        if items:
            shown = ", ".join(f"{f}:{n}" for f, n in items[:6])
            print(f"    {len(items):>5} {label}: {shown}{' ...' if len(items) > 6 else ''}")


def _size(n: int) -> str:
    for unit, div in (("MiB", MB), ("KiB", 1024)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n:,} B"


if __name__ == "__main__":
    main()
