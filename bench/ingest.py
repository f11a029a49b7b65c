#!/usr/bin/env python3
"""Benchmark `tierlens ingest` against a plain DuckDB JSON-to-Parquet conversion of the same logs.

Why it exists: the ingest issue sets targets (10M Anthropic Messages records at >= 500k records/s,
peak RSS <= 1.5 GB, wall time <= 1.5x DuckDB converting the same file to Parquet), and the choice
of DuckDB as the JSON parser (see pyproject.toml) rests on numbers from this script. It

1. writes N realistic gateway records (a Messages API response wrapped with ts, request id,
   feature, metadata, tags, latency) as JSON lines, vectorized with polars and deterministic for
   a given N and seed, and reuses the file when it already exists;
2. runs `tierlens ingest FILE --data DIR` (fresh DIR each run) and a DuckDB `COPY (SELECT * FROM
   read_json(..., columns={explicit nested STRUCTs})) TO ... (FORMAT parquet, COMPRESSION zstd)`
   the same way: each in its own subprocess, wall time and that child's own peak RSS
   (`bench/childproc.py`: from `os.wait4` in a small launcher, so not floored at this process's);
3. repeats each `--repeats` times, prints the medians and whether the targets are met.

`--profile` instead runs the ingest in-process under cProfile on a smaller file and prints the top
entries plus a per-stage breakdown (DuckDB parse, polars transform, pricing, dedupe, Parquet write);
the parse then runs on the profiled thread, batch after batch (and chunk of joined files after
chunk), so that every stage is seen. `--profile-input PATH` profiles the ingest of PATH instead:
a log file, or a Claude Code tree such as bench/claude_code.py generates.

Then, unless `--no-claude-code`, it runs `bench/claude_code.py` (a generated Claude Code tree:
tierlens ingest plus daily totals against `ccusage daily --json --offline`, both totals checked).

Usage: `python bench/ingest.py [--records N] [--repeats R] [--workdir DIR] [--profile
[--profile-input PATH]] [--no-claude-code]`; quick smoke run: `python bench/ingest.py --records
200000 --repeats 1`; the Claude Code tree's stages: `python bench/ingest.py --profile
--profile-input /tmp/tierlens-cc-bench/tree-f1000-t100000-s42`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import childproc  # type: ignore[import-not-found]  # bench/childproc.py, beside this script
import polars as pl

GENERATOR_VERSION = 1
"""Bump when the generated records change, so cached files are regenerated."""

TARGET_RECORDS = 10_000_000
TARGET_RATE = 500_000  # records/s
TARGET_RSS_BYTES = 1.5e9  # 1.5 GB (decimal), i.e. 1500 MB
TARGET_RATIO = 1.5  # tierlens wall / DuckDB wall
MB = 1e6

START = datetime(2026, 9, 1, tzinfo=UTC)
SPAN_DAYS = 30

# (value, weight)
MODELS = [
    ("claude-sonnet-4-5-20250929", 0.30),
    ("claude-sonnet-4-6", 0.25),
    ("claude-haiku-4-5-20251001", 0.30),
    ("claude-opus-4-6", 0.12),
    ("claude-opus-4-1-20250805", 0.03),
]
# feature -> (team tag, api key, weight)
FEATURES = [
    ("support-chat", "support", "apikey_01", 0.25),
    ("ticket-classifier", "support", "apikey_01", 0.15),
    ("doc-summarizer", "content", "apikey_02", 0.12),
    ("email-drafter", "sales", "apikey_02", 0.10),
    ("code-review", "eng", "apikey_03", 0.12),
    ("search-answer", "search", "apikey_04", 0.14),
    ("catalog-enrichment", "catalog", "apikey_02", 0.07),
    ("contract-review", "legal", "apikey_05", 0.05),
]
STOP_REASONS = [("end_turn", 0.78), ("tool_use", 0.14), ("max_tokens", 0.06), ("stop_sequence", 0.02)]
SERVICE_TIERS = [("standard", 0.96), ("priority", 0.03), ("batch", 0.01)]
TOOLS = ["lookup_order", "search_docs", "get_weather", "create_ticket", "run_query"]
FILLER = (
    "Thanks for reaching out. I have re-sent the verification email and updated the ticket. "
    "Summary: the contract renews annually with sixty days notice to terminate. Looks good overall, "
    "but handle None in parse and add a test for the retry loop. Per the vendor docs the limit is one "
    "hundred requests a minute. Revenue is up four percent while churn stayed flat this quarter. "
)
USERS = 2_000

DUCKDB_COLUMNS: dict[str, str] = {
    "ts": "TIMESTAMPTZ",
    "request_id": "VARCHAR",
    "feature": "VARCHAR",
    "metadata": "STRUCT(user_id VARCHAR, api_key_id VARCHAR)",
    "tags": "VARCHAR[]",
    "latency_ms": "BIGINT",
    "response": (
        "STRUCT(id VARCHAR, type VARCHAR, role VARCHAR, model VARCHAR, "
        "content STRUCT(type VARCHAR, text VARCHAR, id VARCHAR, name VARCHAR, input JSON)[], "
        "stop_reason VARCHAR, stop_sequence VARCHAR, "
        "usage STRUCT(input_tokens BIGINT, cache_creation_input_tokens BIGINT, "
        "cache_read_input_tokens BIGINT, "
        "cache_creation STRUCT(ephemeral_5m_input_tokens BIGINT, ephemeral_1h_input_tokens BIGINT), "
        "output_tokens BIGINT, service_tier VARCHAR))"
    ),
}

DUCKDB_SCRIPT = """\
import sys
import duckdb
src, out, columns = sys.argv[1], sys.argv[2], sys.argv[3]
q = lambda s: "'" + s.replace("'", "''") + "'"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
n = con.execute(
    f"COPY (SELECT * FROM read_json({q(src)}, format='newline_delimited', columns={columns})) "
    f"TO {q(out)} (FORMAT parquet, COMPRESSION zstd)"
).fetchone()
print(n[0] if n else -1)
"""


# --- generation --------------------------------------------------------------------------------


def _uniform(i: pl.Expr, seed: int, stream: int) -> pl.Expr:
    """A deterministic uniform [0, 1) per row: a seeded hash of the row index, one stream per use."""
    return (i.hash(seed=seed * 1_000_003 + stream) % (1 << 32)).cast(pl.Float64) / float(1 << 32)


def _pick_index(u: pl.Expr, weights: Sequence[float]) -> pl.Expr:
    """Index of a weighted choice, given a uniform [0, 1) expression."""
    total = sum(weights)
    cum = 0.0
    expr: Any = None
    for k, w in enumerate(weights[:-1]):
        cum += w / total
        expr = pl.when(u < cum).then(pl.lit(k)) if expr is None else expr.when(u < cum).then(pl.lit(k))
    last = pl.lit(len(weights) - 1)
    return (expr.otherwise(last) if expr is not None else last).cast(pl.Int32)


def _lookup(index: pl.Expr, values: Sequence[str]) -> pl.Expr:
    return index.replace_strict(dict(enumerate(values)), return_dtype=pl.String)


def _log_uniform(u: pl.Expr, lo: float, hi: float) -> pl.Expr:
    """Integers spread log-uniformly over [lo, hi]: many small values, a long tail."""
    return (pl.lit(math.log(lo)) + u * (math.log(hi) - math.log(lo))).exp().floor().cast(pl.Int64)


def _template(text: str, **values: pl.Expr) -> pl.Expr:
    """`text` with each `<<name>>` replaced by the string expression `values[name]` (JSON braces stay literal)."""
    parts = re.split(r"<<(\w+)>>", text)
    exprs: list[pl.Expr] = []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            if part:
                exprs.append(pl.lit(part))
        else:
            exprs.append(values[part].cast(pl.String))
    return pl.concat_str(exprs)


LINE = (
    '{"ts":"<<ts>>","request_id":"<<request_id>>","feature":"<<feature>>",'
    '"metadata":{"user_id":"<<user>>","api_key_id":"<<api_key>>"},'
    '"tags":["team:<<team>>"],"latency_ms":<<latency>>,'
    '"response":{"id":"<<msg_id>>","type":"message","role":"assistant","model":"<<model>>",'
    '"content":<<content>>,"stop_reason":"<<stop_reason>>","stop_sequence":<<stop_sequence>>,'
    '"usage":{"input_tokens":<<input>>,"cache_creation_input_tokens":<<cache_write>>,'
    '"cache_read_input_tokens":<<cache_read>>,'
    '"cache_creation":{"ephemeral_5m_input_tokens":<<w5m>>,"ephemeral_1h_input_tokens":<<w1h>>},'
    '"output_tokens":<<output>>,"service_tier":"<<tier>>"}}}'
)


def _block(start: int, rows: int, total: int, seed: int) -> pl.DataFrame:
    """Records `start .. start+rows-1` of `total` as one `line` column of JSON text."""
    i = pl.col("i")

    def u(stream: int) -> pl.Expr:
        return _uniform(i, seed, stream)

    span_ms = SPAN_DAYS * 86_400_000
    base_ms = int(START.timestamp() * 1000)
    # evenly spread over the span, with a few seconds of jitter: roughly, not strictly, increasing
    ts_ms = pl.lit(base_ms) + (i * span_ms) // max(total, 1) + (u(1) * 5_000).cast(pl.Int64)
    ts = pl.from_epoch(ts_ms, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")

    feat = _pick_index(u(2), [f[3] for f in FEATURES])
    model = _lookup(_pick_index(u(3), [m[1] for m in MODELS]), [m[0] for m in MODELS])
    stop = _lookup(_pick_index(u(4), [s[1] for s in STOP_REASONS]), [s[0] for s in STOP_REASONS])
    tier = _lookup(_pick_index(u(5), [t[1] for t in SERVICE_TIERS]), [t[0] for t in SERVICE_TIERS])
    user = pl.concat_str(
        pl.lit("u_"), (u(6) * u(6) * USERS).cast(pl.Int64).cast(pl.String).str.zfill(4)
    )  # skewed: a few heavy users

    # unique ids: a hash-derived prefix (looks random) + the zero-padded record index (unique)
    def ident(prefix: str, stream: int) -> pl.Expr:
        noise = (i.hash(seed=seed * 7_919 + stream) % 10**10).cast(pl.String).str.zfill(10)
        return pl.concat_str(pl.lit(prefix), noise, i.cast(pl.String).str.zfill(8))

    # usage: uncached input, cache reads (45% none, 1% long context), cache writes (15% of rows)
    input_tokens = _log_uniform(u(7), 8, 12_000)
    cr_u = u(8)
    cache_read = (
        pl.when(cr_u < 0.45)
        .then(pl.lit(0, pl.Int64))
        .when(cr_u < 0.99)
        .then(_log_uniform(u(9), 1_024, 90_000))
        .otherwise(180_000 + (u(9) * 150_000).cast(pl.Int64))
    )
    writes = pl.when(u(10) < 0.15).then(_log_uniform(u(11), 1_024, 30_000)).otherwise(pl.lit(0, pl.Int64))
    one_hour = u(12) < 0.2
    w5m = pl.when(one_hour).then(pl.lit(0, pl.Int64)).otherwise(writes)
    w1h = pl.when(one_hour).then(writes).otherwise(pl.lit(0, pl.Int64))
    output = (
        pl.when(stop == "max_tokens").then(pl.lit(4_096, pl.Int64)).otherwise(_log_uniform(u(13), 1, 3_000))
    )
    latency = (300 + output * 12 + u(14) * 1_500).cast(pl.Int64)

    text = pl.lit(FILLER).str.slice((u(15) * 200).cast(pl.Int64), (20 + u(16) * 60).cast(pl.Int64))
    text_block = pl.concat_str(pl.lit('{"type":"text","text":"'), text.str.strip_chars(), pl.lit('"}'))
    tool_block = _template(
        ',{"type":"tool_use","id":"<<id>>","name":"<<name>>","input":{"query":"<<q>>"}}',
        id=ident("toolu_01", 17),
        name=_lookup((u(18) * len(TOOLS)).cast(pl.Int32), TOOLS),
        q=(u(19) * 100_000).cast(pl.Int64),
    )
    content = pl.concat_str(
        pl.lit("["),
        text_block,
        pl.when(stop == "tool_use").then(tool_block).otherwise(pl.lit("")),
        pl.lit("]"),
    )
    stop_sequence = pl.when(stop == "stop_sequence").then(pl.lit('"###"')).otherwise(pl.lit("null"))

    line = _template(
        LINE,
        ts=ts,
        request_id=ident("req_011C", 20),
        feature=_lookup(feat, [f[0] for f in FEATURES]),
        user=user,
        api_key=_lookup(feat, [f[2] for f in FEATURES]),
        team=_lookup(feat, [f[1] for f in FEATURES]),
        latency=latency,
        msg_id=ident("msg_01", 21),
        model=model,
        content=content,
        stop_reason=stop,
        stop_sequence=stop_sequence,
        input=input_tokens,
        cache_write=writes,
        cache_read=cache_read,
        w5m=w5m,
        w1h=w1h,
        output=output,
        tier=tier,
    )
    frame = pl.DataFrame({"i": pl.int_range(start, start + rows, dtype=pl.Int64, eager=True)})
    return frame.select(line.alias("line"))


def ensure_logs(workdir: Path, records: int, seed: int, block_rows: int) -> Path:
    """The JSON-lines file for (records, seed), generated unless an identical one is already there."""
    path = workdir / f"messages-{records}-s{seed}.jsonl"
    meta_path = workdir / f"messages-{records}-s{seed}.meta.json"
    want = {"records": records, "seed": seed, "generator": GENERATOR_VERSION, "polars": pl.__version__}
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in want} == want and meta.get("bytes") == path.stat().st_size:
            print(f"reusing {path} ({path.stat().st_size / MB:,.0f} MB)", flush=True)
            return path
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    started = time.perf_counter()
    print(f"generating {records:,} records into {path} ...", flush=True)
    with tmp.open("wb") as fh:
        for start in range(0, records, block_rows):
            rows = min(block_rows, records - start)
            _block(start, rows, records, seed).write_csv(fh, include_header=False, quote_style="never")
            done = start + rows
            if done % (block_rows * 4) == 0 or done == records:
                print(f"  {done:,} / {records:,}  ({time.perf_counter() - started:.0f}s)", flush=True)
    os.replace(tmp, path)
    size = path.stat().st_size
    meta_path.write_text(json.dumps({**want, "bytes": size}), encoding="utf-8")
    print(
        f"generated {size / MB:,.0f} MB ({size / max(records, 1):.0f} bytes/line) "
        f"in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return path


def warm_cache(path: Path) -> None:
    """Read the file (each file of a directory) once, so that every contender starts from the
    page cache, not the disk."""
    for one in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if one.is_file():
            with one.open("rb") as fh:
                while fh.read(64 * 1024 * 1024):
                    pass


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    maxrss_bytes: int
    cpu_s: float
    output_bytes: int
    rows: int | None


@dataclass
class Contender:
    name: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in self.runs))


def measure(cmd: Sequence[str], log: Path, cwd: Path) -> tuple[int, float, int, float]:
    """Run `cmd`; (exit code, wall s, peak RSS bytes, user+sys CPU s) of that child alone
    (`childproc.measure`: its RSS is not floored at this process's)."""
    with log.open("wb") as out:
        got = childproc.measure(cmd, out, subprocess.STDOUT, cwd)
    return got.returncode, got.wall_s, got.maxrss_bytes, got.cpu_s


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tierlens_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("tierlens")
    found = str(exe) if exe.exists() else shutil.which("tierlens")
    if not found:
        raise SystemExit("tierlens is not installed in this environment (pip install -e .)")
    return [found]


def _last_json(text: str) -> dict[str, Any]:
    start = text.find("{")
    return json.loads(text[start:]) if start >= 0 else {}


def run_tierlens(logs: Path, scratch: Path, k: int) -> Run:
    data = scratch / f"tierlens-data-{k}"
    shutil.rmtree(data, ignore_errors=True)
    log = scratch / f"tierlens-{k}.log"
    cmd = [*tierlens_cmd(), "ingest", str(logs), "--data", str(data), "--json"]
    rc, wall, rss, cpu = measure(cmd, log, cwd=scratch)
    text = log.read_text(encoding="utf-8", errors="replace")
    if rc != 0:
        raise SystemExit(f"tierlens ingest failed (exit {rc}):\n{text[-3000:]}")
    summary = _last_json(text)
    if summary.get("rejected") or summary.get("skipped"):
        print(f"  note: tierlens rejected {summary.get('rejected')} skipped {summary.get('skipped')}")
    run = Run(wall, rss, cpu, _tree_bytes(data / "requests"), summary.get("rows_added"))
    shutil.rmtree(data, ignore_errors=True)
    return run


def run_duckdb(logs: Path, scratch: Path, k: int) -> Run:
    out = scratch / f"duckdb-{k}.parquet"
    out.unlink(missing_ok=True)
    log = scratch / f"duckdb-{k}.log"
    columns = "{" + ", ".join(f"'{name}': '{typ}'" for name, typ in DUCKDB_COLUMNS.items()) + "}"
    cmd = [sys.executable, "-c", DUCKDB_SCRIPT, str(logs), str(out), columns]
    rc, wall, rss, cpu = measure(cmd, log, cwd=scratch)
    text = log.read_text(encoding="utf-8", errors="replace").strip()
    if rc != 0:
        raise SystemExit(f"DuckDB conversion failed (exit {rc}):\n{text[-3000:]}")
    rows = int(text.splitlines()[-1]) if text else None
    run = Run(wall, rss, cpu, _tree_bytes(out), rows)
    out.unlink(missing_ok=True)
    return run


# --- reporting ---------------------------------------------------------------------------------


def report(records: int, logs: Path, contenders: Sequence[Contender]) -> None:
    size = logs.stat().st_size
    print()
    print(f"input: {logs}  {records:,} records, {size / MB:,.0f} MB ({size / records:.0f} bytes/line)")
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, polars {pl.__version__}")
    head = (
        f"{'':<18}{'records':>12}{'file MB':>10}{'wall s':>9}{'records/s':>12}"
        f"{'peak RSS MB':>13}{'CPU s':>8}{'out MB':>9}{'rows out':>12}  runs (wall s)"
    )
    print(head)
    print("-" * len(head))
    for c in contenders:
        wall = c.median("wall_s")
        rows_out = c.runs[-1].rows
        print(
            f"{c.name:<18}{records:>12,}{size / MB:>10,.0f}{wall:>9.2f}{records / wall:>12,.0f}"
            f"{c.median('maxrss_bytes') / MB:>13,.0f}{c.median('cpu_s'):>8.1f}"
            f"{c.median('output_bytes') / MB:>9,.1f}{(f'{rows_out:,}' if rows_out is not None else '?'):>12}"
            f"  {', '.join(f'{r.wall_s:.2f}' for r in c.runs)}"
        )
    tl, dk = contenders
    ratio = tl.median("wall_s") / dk.median("wall_s")
    print(f"\nratio tierlens / DuckDB wall (medians): {ratio:.2f}x")
    rate = records / tl.median("wall_s")
    rss = tl.median("maxrss_bytes")
    scale = (
        ""
        if records >= TARGET_RECORDS
        else f"  [targets are set at {TARGET_RECORDS:,} records; this run has {records:,}]"
    )
    print(f"\ntargets (issue){scale}")
    checks = [
        (
            f"throughput >= {TARGET_RATE:,} records/s at {TARGET_RECORDS:,} records",
            f"{rate:,.0f} records/s",
            rate >= TARGET_RATE,
        ),
        (f"peak RSS <= {TARGET_RSS_BYTES / 1e9:.1f} GB", f"{rss / MB:,.0f} MB", rss <= TARGET_RSS_BYTES),
        (f"wall <= {TARGET_RATIO}x DuckDB", f"{ratio:.2f}x", ratio <= TARGET_RATIO),
    ]
    for what, got, ok in checks:
        print(f"  {what:<48} {got:>18}  {'MET' if ok else 'NOT MET'}")
    if tl.runs[-1].rows is not None and tl.runs[-1].rows != records:
        print(f"\nWARNING: tierlens added {tl.runs[-1].rows:,} rows for {records:,} records")


# --- profiling ---------------------------------------------------------------------------------

# (label, predicate on pstats' (file, line, function) key); cumulative time is reported
STAGES: list[tuple[str, Callable[[tuple[str, int, str]], bool]]] = [
    ("ingest() total", lambda k: k[0].endswith("tierlens/ingest.py") and k[2] == "ingest"),
    (
        "open files (open_log: read, detect)",
        lambda k: k[0].endswith("tierlens/logfiles.py") and k[2] == "open_log",
    ),
    ("read chunks (iter_chunks)", lambda k: k[0].endswith("sources/inputs.py") and k[2] == "iter_chunks"),
    ("join small files (_joined)", lambda k: k[0].endswith("tierlens/ingest.py") and k[2] == "_joined"),
    ("parse_chunk (all parsing)", lambda k: k[0].endswith("sources/parse.py") and k[2] == "parse_chunk"),
    ("  fast_raw (DuckDB + Arrow)", lambda k: k[0].endswith("sources/fastscan.py") and k[2] == "fast_raw"),
    ("    spill chunk to temp file", lambda k: k[0].endswith("tempfile.py") and k[2] == "func_wrapper"),
    ("    DuckDB query -> Arrow", lambda k: "duckdb" in k[0] and k[2] in ("to_arrow_table", "arrow")),
    ("    pl.from_arrow", lambda k: k[0].endswith("polars/convert/general.py") and k[2] == "from_arrow"),
    (
        "  typed_raw (JSON text -> types)",
        lambda k: k[0].endswith("sources/records.py") and k[2] == "typed_raw",
    ),
    ("  to_canonical (polars)", lambda k: "tierlens/sources/" in k[0] and k[2] == "to_canonical"),
    ("  prepare (dedupe within a file)", lambda k: "tierlens/sources/" in k[0] and k[2] == "prepare"),
    ("  conform (schema cast)", lambda k: k[0].endswith("tierlens/schema.py") and k[2] == "conform"),
    ("price_requests", lambda k: k[0].endswith("pricing/engine.py") and k[2] == "price_requests"),
    ("Transaction.add (dedupe+stage)", lambda k: k[0].endswith("store/writer.py") and k[2] == "add"),
    ("  _seen (stored keys)", lambda k: k[0].endswith("store/writer.py") and k[2] == "_seen"),
    ("_flush (Parquet write)", lambda k: k[0].endswith("store/writer.py") and k[2] == "_flush"),
    ("commit", lambda k: k[0].endswith("store/writer.py") and k[2] == "commit"),
]


def _parse_in_line(ingest_module: Any) -> None:
    """Make the ingest parse on its own thread, batch after batch: cProfile sees one thread only,
    and the stage breakdown then holds every stage (the figures are those of one core)."""
    from tierlens.sources import parse_batch
    from tierlens.sources.streams import assemble_streams

    def in_line(reader: Any, batches: Any, ctx: Any, force_exact: bool, lenient: bool = False) -> Any:
        parsed = (parse_batch(reader, b, ctx, lenient=lenient, force_exact=force_exact) for b in batches)
        return assemble_streams(parsed, reader)

    ingest_module._parsed_ahead = in_line


class _InlinePool:
    """A stand-in for the ingest's thread pools that runs each task at once, on the calling thread
    (cProfile sees one thread only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed over as a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        pass


def profile(
    workdir: Path, records: int, seed: int, block_rows: int, top: int, given: Path | None = None
) -> None:
    """Profile one in-process ingest of `given` (a log file or a Claude Code tree), else of
    `records` generated records, and print the stage breakdown."""
    import tierlens.ingest as ingest_module
    from tierlens.config import load_settings
    from tierlens.ingest import ingest

    _parse_in_line(ingest_module)
    ingest_module.ThreadPoolExecutor = _InlinePool  # type: ignore[attr-defined,misc]  # joined files too

    logs = given or ensure_logs(workdir, records, seed, block_rows)
    warm_cache(logs)
    data = Path(tempfile.mkdtemp(prefix="tierlens-profile-", dir=workdir))
    settings = load_settings(data_dir=data)
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    result = ingest([logs], settings)
    prof.disable()
    wall = time.perf_counter() - started
    shutil.rmtree(data, ignore_errors=True)
    print(
        f"\nin-process ingest of {logs} under cProfile: {result.lines_read:,} lines in {wall:.2f}s "
        f"({result.lines_read / wall:,.0f} lines/s; rows added {result.rows_added:,}, "
        f"chunk_bytes {settings.chunk_bytes / MB:.0f} MB)\n"
    )
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    print(buf.getvalue())
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    print("stage breakdown (cumulative seconds; nested stages are indented and included in their parent)")
    for label, match in STAGES:
        hits = [(v[1], v[3]) for k, v in raw.items() if match(k)]
        if not hits:
            continue
        calls = sum(h[0] for h in hits)
        cum = sum(h[1] for h in hits)
        print(f"  {label:<34}{cum:>8.2f}s {100 * cum / wall:>5.1f}%  ({calls} calls)")


# --- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--records", type=int, default=TARGET_RECORDS, help="records to generate (default 10M)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per contender; medians are reported")
    ap.add_argument("--seed", type=int, default=42, help="generator seed (the file is reused per N and seed)")
    ap.add_argument(
        "--workdir", type=Path, default=Path("/tmp/tierlens-bench"), help="logs and outputs go here"
    )
    ap.add_argument("--block-rows", type=int, default=500_000, help="records generated per block")
    ap.add_argument(
        "--profile", action="store_true", help="profile an in-process ingest instead of benchmarking"
    )
    ap.add_argument("--profile-records", type=int, default=1_000_000, help="records for --profile")
    ap.add_argument(
        "--profile-input",
        type=Path,
        help="with --profile: ingest this log file or directory (a Claude Code tree) instead",
    )
    ap.add_argument("--top", type=int, default=25, help="cProfile entries to print with --profile")
    ap.add_argument(
        "--claude-code",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the Claude Code tree against ccusage (bench/claude_code.py, its defaults)",
    )
    ap.add_argument(
        "--claude-code-workdir",
        type=Path,
        default=Path("/tmp/tierlens-cc-bench"),
        help="the Claude Code tree, ccusage and their outputs",
    )
    args = ap.parse_args(argv)
    if args.records < 1 or args.repeats < 1:
        ap.error("--records and --repeats must be positive")
    workdir: Path = args.workdir.resolve()

    if args.profile:
        profile(workdir, args.profile_records, args.seed, args.block_rows, args.top, args.profile_input)
        return 0

    logs = ensure_logs(workdir, args.records, args.seed, args.block_rows)
    warm_cache(logs)
    scratch = workdir / "runs"
    scratch.mkdir(parents=True, exist_ok=True)
    contenders = [Contender("tierlens ingest"), Contender("DuckDB COPY")]
    for k in range(args.repeats):
        for c, fn in zip(contenders, (run_tierlens, run_duckdb), strict=True):
            run = fn(logs, scratch, k)
            c.runs.append(run)
            print(
                f"  run {k + 1}/{args.repeats} {c.name:<16} {run.wall_s:7.2f}s  "
                f"{run.maxrss_bytes / MB:7,.0f} MB RSS  {run.cpu_s:6.1f} CPU s",
                flush=True,
            )
    report(args.records, logs, contenders)
    if not args.claude_code:
        return 0
    print(
        "\nClaude Code tree: tierlens ingest + daily totals vs ccusage (bench/claude_code.py)\n", flush=True
    )
    return claude_code_bench(["--repeats", str(args.repeats), "--workdir", str(args.claude_code_workdir)])


def claude_code_bench(argv: list[str]) -> int:
    """Run `bench/claude_code.py` (it lives beside this script) with `argv`."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import claude_code  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    status: int = claude_code.main(argv)
    return status


if __name__ == "__main__":
    sys.exit(main())
