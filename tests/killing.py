"""Helpers for the kill tests: realistic gateway logs, the `tierlens` command as a real process, and
views of a dataset that say what a reader would count.

The logs are Anthropic Messages responses wrapped by a gateway (ts, request id, feature, metadata,
tags, latency), as `bench/ingest.py` writes them, generated with polars so that a hundred
thousand records take a fraction of a second; they are deterministic for a given seed. They carry
what the writers act on: several days (so several partitions, some shared by two files), logged
features and `feature:` tags (attribution, splits), api keys and workspaces (attribution rules), a
model no built-in table prices (re-pricing), lines a gateway logged twice within a file and records
that a second file logs again (deduplication).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

import tierlens
from tierlens.store.doctor import checkup

START = datetime(2026, 9, 1, tzinfo=UTC)
MODELS = [
    ("claude-sonnet-4-5-20250929", 0.40),
    ("claude-haiku-4-5-20251001", 0.35),
    ("claude-opus-4-6", 0.15),
    ("claude-nimbus-preview", 0.10),  # unknown to the built-in table until a config prices it
]
FEATURES = ["support-chat", "ticket-classifier", "doc-summarizer", "search-answer", "code-review"]
API_KEYS = ["key_support_1", "key_support_2", "key_sales", "key_eng"]
WORKSPACES = ["wrk_shared", "wrk_a", "wrk_b"]

INGEST_CONFIG = """\
[attribution]
order = ["tag:feature:", "feature", "rules"]
[[attribution.rules]]
name = "support keys"
match = {api_key_id = "key_support_*"}
feature = "support"
"""
"""What the dataset is ingested with: `feature:` tags (several: an equal split), the logged feature, a rule."""

ATTRIBUTE_CONFIG = """\
[attribution]
order = ["rules", "tag:feature:", "feature"]
split = "weights"
weights = {alpha = 3}
[[attribution.rules]]
name = "shared workspace"
match = {workspace_id = "wrk_shared", user_id = ["u_0*", "u_1*"]}
features = {search = 3, rank = 1}
[[attribution.rules]]
name = "helpdesk"
match = {api_key_id = "key_support_*"}
feature = "helpdesk"
"""
"""New rules for `tierlens attribute`: most requests change feature, splits are re-split by weight."""

REPRICE_CONFIG = (
    INGEST_CONFIG
    + """\
[[pricing.models]]
model_id = "claude-nimbus-preview"
input = 2
output = 8
cache_read = 0.2
cache_write_5m = 2.5
[pricing.discounts]
"claude-haiku-4-5" = 0.8
"""
)
"""A price added for the unknown model and a negotiated discount: `tierlens reprice` changes both."""


# --- logs --------------------------------------------------------------------------------------------


def _u(i: pl.Expr, seed: int, stream: int) -> pl.Expr:
    """A deterministic uniform [0, 1) per record index."""
    return (i.hash(seed=seed * 1_000_003 + stream) % (1 << 32)).cast(pl.Float64) / float(1 << 32)


def _pick(u: pl.Expr, values: Sequence[str], weights: Sequence[float] | None = None) -> pl.Expr:
    weights = weights or [1.0] * len(values)
    total, cum = sum(weights), 0.0
    expr: Any = None
    for v, w in zip(values[:-1], weights[:-1], strict=True):
        cum += w / total
        expr = (pl.when(u < cum) if expr is None else expr.when(u < cum)).then(pl.lit(v))
    return expr.otherwise(pl.lit(values[-1])) if expr is not None else pl.lit(values[-1])


def _log_uniform(u: pl.Expr, lo: float, hi: float) -> pl.Expr:
    return (pl.lit(math.log(lo)) + u * (math.log(hi) - math.log(lo))).exp().floor().cast(pl.Int64)


def _records(start: int, stop: int, total: int, days: int, seed: int) -> pl.DataFrame:
    """Records `start .. stop-1` of `total` spread evenly over `days` days, one JSON line each."""
    i = pl.col("i")

    def u(stream: int) -> pl.Expr:
        return _u(i, seed, stream)

    span_ms = days * 86_400_000
    ts_ms = int(START.timestamp() * 1000) + (i * span_ms) // total + (u(1) * 5_000).cast(pl.Int64)
    ts = pl.from_epoch(ts_ms, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    n = i.cast(pl.String).str.zfill(8)
    feature = pl.when(u(2) < 0.45).then(pl.concat_str(pl.lit('"'), _pick(u(3), FEATURES), pl.lit('"')))
    tags = (
        pl.when(u(4) < 0.25)
        .then(pl.lit('["team:x","feature:alpha","feature:beta"]'))
        .when(u(4) < 0.30)
        .then(pl.lit('["feature:alpha","feature:beta","feature:gamma"]'))
        .otherwise(pl.lit('["team:y"]'))
    )
    cache_read = pl.when(u(5) < 0.4).then(pl.lit(0, pl.Int64)).otherwise(_log_uniform(u(6), 1_024, 90_000))
    writes = pl.when(u(7) < 0.15).then(_log_uniform(u(8), 1_024, 30_000)).otherwise(pl.lit(0, pl.Int64))
    line = pl.concat_str(
        pl.lit('{"ts":"'),
        ts,
        pl.lit('","request_id":"req_'),
        n,
        pl.lit('","feature":'),
        feature.otherwise(pl.lit("null")),
        pl.lit(',"metadata":{"user_id":"u_'),
        (u(9) * 300).cast(pl.Int64).cast(pl.String).str.zfill(3),
        pl.lit('","api_key_id":"'),
        _pick(u(10), API_KEYS),
        pl.lit('","workspace_id":"'),
        _pick(u(11), WORKSPACES),
        pl.lit('"},"tags":'),
        tags,
        pl.lit(',"latency_ms":'),
        (300 + u(12) * 4_000).cast(pl.Int64).cast(pl.String),
        pl.lit(',"response":{"id":"msg_'),
        n,
        pl.lit('","type":"message","role":"assistant","model":"'),
        _pick(u(13), [m for m, _ in MODELS], [w for _, w in MODELS]),
        pl.lit('","content":[{"type":"text","text":"Done."}],"stop_reason":"end_turn","stop_sequence":null,'),
        pl.lit('"usage":{"input_tokens":'),
        _log_uniform(u(14), 8, 12_000).cast(pl.String),
        pl.lit(',"cache_creation_input_tokens":'),
        writes.cast(pl.String),
        pl.lit(',"cache_read_input_tokens":'),
        cache_read.cast(pl.String),
        pl.lit(',"output_tokens":'),
        _log_uniform(u(15), 1, 3_000).cast(pl.String),
        pl.lit(',"service_tier":"standard"}}}'),
    )
    frame = pl.DataFrame({"i": pl.int_range(start, stop, dtype=pl.Int64, eager=True)})
    return frame.select(i, line.alias("line"))


def write_logs(
    directory: Path, *, records: int, files: int, days: int, seed: int, dup_share: float = 0.01
) -> list[Path]:
    """`files` JSON-lines logs under `directory`, together `records` distinct requests over `days` days.

    Each file holds a consecutive block of the records (so it covers a few days, and neighbouring
    files share the day at their boundary), with `dup_share` of its lines logged twice (a gateway
    retrying its write), and the last file logs the first 2% of the first file's records again.
    """
    directory.mkdir(parents=True, exist_ok=True)
    bounds = [records * k // files for k in range(files + 1)]
    paths = []
    for k in range(files):
        block = _records(bounds[k], bounds[k + 1], records, days, seed)
        dup = block.filter(_u(pl.col("i"), seed, 99) < dup_share)
        parts = [block, dup]
        if k == files - 1 and files > 1:
            parts.append(_records(0, max(1, bounds[1] // 50), records, days, seed))
        body = pl.concat(parts).sort("i", maintain_order=True).select("line")
        path = directory / f"gateway-{k:02d}.jsonl"
        body.write_csv(path, include_header=False, quote_style="never")
        paths.append(path)
    return paths


# --- running tierlens --------------------------------------------------------------------------------

CLI = "import sys; from tierlens.cli import main; sys.exit(main())"


def command(config: Path, *args: str | Path) -> list[str]:
    """The `tierlens` command line, run by this interpreter (there is no `python -m tierlens`)."""
    return [sys.executable, "-c", CLI, "--config", str(config), *(str(a) for a in args)]


def environment() -> dict[str, str]:
    """This process's environment without TIERLENS_* (no crash point, no data dir from outside)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}


def run(cmd: list[str], cwd: Path, timeout: float = 300) -> float:
    """Run to completion in `cwd`; its wall time in seconds. A failure fails the test, with its stderr."""
    started = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd[3:])} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def start(cmd: list[str], cwd: Path, stderr: Path) -> subprocess.Popen[bytes]:
    """Start in `cwd` (stdout discarded, stderr to a file: a killed process must not block on a pipe)."""
    with stderr.open("wb") as err:
        return subprocess.Popen(cmd, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=err)


def copy_dataset(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


# --- what a reader sees ------------------------------------------------------------------------------

ID_COLUMNS = ("ingest_id",)
"""Columns that name the run that wrote a row: they differ between equal datasets written by other runs."""


def rows(data: Path, *, ordered: bool = True) -> pl.DataFrame:
    """The whole dataset as `tierlens.open` reads it (`ordered`: sorted by dedupe_key, feature)."""
    df = tierlens.open(data).collect()
    return df.sort("dedupe_key", "feature", nulls_last=True) if ordered else df


def duplicated_pairs(df: pl.DataFrame) -> pl.DataFrame:
    """(dedupe_key, feature) pairs that appear more than once: each would be a request counted twice."""
    return df.group_by("dedupe_key", "feature").len().filter(pl.col("len") > 1)


def per_request(df: pl.DataFrame) -> pl.DataFrame:
    """One row per request, comparable across datasets: how many rows it has, a digest of everything
    they hold but the writing run's id and the amounts, its request count and its cost."""
    described = [c for c in df.columns if c not in ID_COLUMNS and not c.startswith("cost_")]
    return (
        df.select("dedupe_key", "requests", "cost_usd", _digest=pl.struct(described).hash() % (1 << 31))
        .group_by("dedupe_key")
        .agg(
            rows=pl.len(),
            content=pl.col("_digest").sum(),  # order-free: the rows of a request in any order
            requests=pl.col("requests").sum(),
            cost_usd=pl.col("cost_usd").fill_null(0.0).sum(),
        )
        .sort("dedupe_key")
    )


def doctor_problems(data: Path) -> list[dict[str, Any]]:
    """What `tierlens doctor` finds wrong with the stored files (nothing, for a healthy dataset)."""
    return [vars(p) for p in checkup(data).problems]


def meta_logs(data: Path) -> dict[str, list[dict[str, Any]]]:
    """`_meta/*.jsonl` (the commit summaries), parsed: file name -> its lines."""
    out: dict[str, list[dict[str, Any]]] = {}
    meta = data / "_meta"
    for log in sorted(meta.glob("*.jsonl")) if meta.is_dir() else []:
        out[log.name] = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x.strip()]
    return out


def fingerprint(data: Path) -> frozenset[tuple[str, int, int]]:
    """Every file of a data directory with its size and modification time (to tell if a run left a trace)."""
    out = set()
    for p in data.rglob("*"):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if p.is_file():
            out.add((str(p.relative_to(data)), st.st_size, st.st_mtime_ns))
    return frozenset(out)


def stage(data: Path, changed: bool) -> str:
    """Where a killed writer stopped, as its data directory shows it."""
    staging, txn = data / "_staging", data / "_txn"
    if txn.is_dir() and any(txn.glob("*.json")):
        return "committing"  # the journal is written: the next writer rolls it forward
    if changed:
        return "committed"
    if staging.is_dir() and any(p.is_file() for p in staging.rglob("*")):
        return "staging"  # files of an uncommitted transaction (the next writer deletes them)
    return "working"  # in a transaction, nothing staged yet
