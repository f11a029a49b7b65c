#!/usr/bin/env python3
"""Benchmark tierlens' analyses (summary, report, flags, alert, replay) on 1M, 10M and 100M requests.

Why it exists: the analyses read the whole dataset, and their wall time and memory at 10M and
100M requests are what decides whether a team can run them from cron on an ordinary machine.
The script

1. builds, once, datasets of the asked sizes under `--workdir` (cached: a dataset is reused
   when its completion marker, written last, matches the size, seed and generator version):
   13 weeks of realistic traffic ending on Sunday 2026-11-29 (12 features with skewed volume,
   Anthropic models across tiers and generations plus three OpenAI ones, users, keys,
   workspaces, projects, sessions, prompt caching on some features and a cache that breaks
   on one, short structured calls on the top tier, the batch tier, answers cut at max_tokens,
   model migrations, growth, weekly seasonality and two spend spikes). Rows are generated
   vectorized with polars (deterministic for a size and seed), priced by tierlens' own pricer
   and written through the store's own writer (`Store(root).transaction()`, `txn.add`,
   `txn.commit`), one transaction per ISO week, in chunks of `--chunk-rows`, in a child process
   whose wall time and peak RSS are reported;
2. runs each analysis in its own child process (`python -m tierlens ... --data DATASET`, or
   `-m tierlens.cli` while the package has no `__main__`), from a scratch directory and with
   every TIERLENS_* variable removed from its environment, and takes its wall time and peak RSS
   from `os.wait4` (that child's own rusage, not the maximum over every child this process ever
   waited for); stdout is kept in a file and only its size is shown;
3. runs the *floor* the same way: a plain polars lazy group-by over the same Parquet files
   (week x feature x tier: request count and sums of cost and tokens), the least any spend
   analysis has to do;
4. prints, per dataset, command | wall s | peak RSS MB | wall / floor (and CPU s, CPU / floor,
   stdout size, the machine's load average around the run, status), the exact command lines,
   and the dataset's rows, files and bytes. A child that fails, times out (`--timeout`) or grows
   past `--max-rss-mb` (killed before the kernel's OOM killer picks a victim) is reported as
   such; the benchmark goes on.

`alert` runs `--rules examples/alerts.toml` with `--state` in the scratch directory (deleted
before each run, so every run evaluates and delivers afresh); its file sink writes into the
scratch directory, and a rules file with a webhook sink is copied without it, so nothing is sent
over the network. `replay` gets `--policy policies/` (a directory is accepted); `--replay-each`
adds one run per policy file.

Usage: `python bench/analyses.py [--rows 1M,10M,100M] [--commands summary,report,...]
[--workdir DIR] [--timeout S] [--repeats R] [--json out.json]`;
quick check: `python bench/analyses.py --rows 100k`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

GENERATOR_VERSION = 1
"""Bump when the generated rows change, so cached datasets are rebuilt."""

REPO = Path(__file__).resolve().parent.parent
MB = 1e6
END = date(2026, 11, 29)  # a Sunday: the last ISO week is complete
WEEKS = 13
DAYS = 7 * WEEKS
START = END - timedelta(days=DAYS - 1)  # Monday 2026-08-31
SPIKES = {  # (day, feature) -> volume multiplier: a runaway retry loop, and a launch the day before the end
    (date(2026, 10, 14), "doc-summarizer"): 5.0,
    (date(2026, 11, 28), "search-answer"): 3.0,
}

# logged model id, provider, newer generation (supports inference_geo "us"), output ms per token
MODELS: list[tuple[str, str, bool, float]] = [
    ("claude-haiku-4-5-20251001", "anthropic", True, 6.0),
    ("claude-3-5-haiku-20241022", "anthropic", False, 8.0),
    ("claude-sonnet-4-5-20250929", "anthropic", True, 14.0),
    ("claude-sonnet-4-20250514", "anthropic", False, 16.0),
    ("claude-sonnet-4-6", "anthropic", True, 13.0),
    ("claude-opus-4-1-20250805", "anthropic", False, 30.0),
    ("claude-opus-4-6", "anthropic", True, 24.0),
    ("gpt-4.1-mini-2025-04-14", "openai", False, 7.0),
    ("gpt-4o-2024-08-06", "openai", False, 11.0),
    ("gpt-5-mini-2025-08-07", "openai", False, 9.0),
]
_MODEL_INDEX = {m[0].split("-20")[0]: k for k, m in enumerate(MODELS)}


def _mix(**weights: float) -> dict[int, float]:
    """Model weights keyed by MODELS index; names are the logged ids without their date suffix,
    `_` for `-` and `.` (e.g. claude_sonnet_4_5, gpt_4_1_mini)."""
    out: dict[int, float] = {}
    for name, w in weights.items():
        matches = [k for key, k in _MODEL_INDEX.items() if re.sub(r"[-.]", "_", key) == name]
        if len(matches) != 1:
            raise KeyError(name)
        out[matches[0]] = w
    return out


@dataclass(frozen=True)
class Feature:
    name: str
    team: str
    weight: float
    growth: float  # volume at the end / volume at the start
    models: dict[int, float]
    in_med: float  # uncached input tokens: lognormal median and sigma
    in_sigma: float
    out_med: float
    out_sigma: float
    max_tokens: int
    cut_rate: float  # answers cut at max_tokens
    users: int  # 0: a service account
    project: str
    after: dict[int, float] | None = None  # model mix from `switch` on (a migration)
    switch: date | None = None
    short_share: float = 0.0  # short structured calls: small prompt, <= 80 output tokens
    structured: float = 0.0  # other calls that are tool calls / JSON
    read_p: float = 0.0  # share of requests reading a cached prefix
    prefix_med: float = 0.0
    write_p: float = 0.0  # share writing it
    one_hour: float = 0.0  # share of writes with the 1-hour TTL
    cache_break: date | None = None  # a prompt change that breaks the cached prefix
    batch_p: float = 0.0
    priority_p: float = 0.0
    web_p: float = 0.0  # requests with server-side web searches (Anthropic)
    night_only: bool = False  # runs 01:00-04:59 UTC
    weekdays: bool = True  # interactive traffic: weekends are quieter
    sessions: bool = False
    env: str = "prod"


# fmt: off
FEATURES: list[Feature] = [
    Feature("support-chat", "support", 0.20, 1.5,
            _mix(claude_sonnet_4_5=0.55, claude_haiku_4_5=0.35, claude_sonnet_4=0.10),
            700, 0.8, 220, 0.7, 1024, 0.02, 8000, "support-bot",
            after=_mix(claude_sonnet_4_5=0.35, claude_sonnet_4_6=0.30, claude_haiku_4_5=0.35),
            switch=date(2026, 10, 5), short_share=0.05, structured=0.10, read_p=0.75, prefix_med=5200,
            write_p=0.08, cache_break=date(2026, 11, 9), priority_p=0.03, sessions=True),
    Feature("ticket-classifier", "support", 0.15, 1.3,
            _mix(claude_opus_4_6=0.55, claude_sonnet_4_5=0.30, claude_haiku_4_5=0.15),
            450, 0.5, 25, 0.5, 256, 0.005, 0, "support-bot",
            short_share=0.90, structured=0.95, weekdays=False),
    Feature("search-answer", "search", 0.12, 1.4,
            _mix(claude_sonnet_4_5=0.5, claude_haiku_4_5=0.3, gpt_4_1_mini=0.2),
            2500, 0.9, 350, 0.6, 2048, 0.01, 12000, "search",
            short_share=0.03, read_p=0.40, prefix_med=3000, write_p=0.10, web_p=0.35),
    Feature("code-review", "eng", 0.10, 1.8,
            _mix(claude_opus_4_1=0.6, claude_sonnet_4_5=0.4),
            6000, 1.0, 900, 0.8, 4096, 0.06, 400, "(repo)",
            after=_mix(claude_opus_4_6=0.45, claude_sonnet_4_5=0.25, claude_sonnet_4_6=0.30),
            switch=date(2026, 10, 12), short_share=0.12, structured=0.20, read_p=0.60, prefix_med=20000,
            write_p=0.15, one_hour=0.5, batch_p=0.05, sessions=True),
    Feature("doc-summarizer", "content", 0.09, 1.2,
            _mix(claude_sonnet_4=0.7, claude_sonnet_4_5=0.3),
            14000, 1.1, 450, 0.6, 1024, 0.08, 3000, "docs",
            after=_mix(claude_sonnet_4_5=0.8, claude_haiku_4_5=0.2), switch=date(2026, 9, 28),
            read_p=0.10, prefix_med=2000, write_p=0.02, batch_p=0.15),
    Feature("email-drafter", "sales", 0.07, 1.1,
            _mix(claude_3_5_haiku=0.6, gpt_4o=0.4),
            900, 0.7, 300, 0.6, 1024, 0.01, 2500, "sales-assist",
            after=_mix(claude_haiku_4_5=0.7, gpt_4o=0.3), switch=date(2026, 10, 19),
            read_p=0.30, prefix_med=1500, write_p=0.05),
    Feature("catalog-enrichment", "catalog", 0.06, 1.3,
            _mix(claude_haiku_4_5=0.7, claude_sonnet_4_5=0.3),
            1200, 0.6, 180, 0.5, 512, 0.02, 0, "catalog",
            short_share=0.20, structured=0.85, batch_p=0.70, weekdays=False),
    Feature("nightly-digest", "content", 0.05, 1.0,
            _mix(claude_opus_4_6=0.5, claude_sonnet_4_5=0.5),
            8000, 0.7, 700, 0.5, 2048, 0.02, 0, "docs",
            read_p=0.50, prefix_med=6000, write_p=0.10, night_only=True, weekdays=False),
    Feature("contract-review", "legal", 0.035, 1.2,
            _mix(claude_opus_4_1=0.7, claude_opus_4_6=0.3),
            30000, 0.9, 1500, 0.7, 4096, 0.04, 60, "legal",
            after=_mix(claude_opus_4_6=1.0), switch=date(2026, 10, 26),
            read_p=0.50, prefix_med=25000, write_p=0.20, one_hour=0.8),
    Feature("agent-planner", "eng", 0.04, 3.0,
            _mix(claude_sonnet_4_5=0.6, claude_sonnet_4_6=0.2, claude_haiku_4_5=0.2),
            3000, 0.8, 400, 0.7, 2048, 0.02, 1500, "agents",
            structured=0.60, read_p=0.85, prefix_med=12000, write_p=0.10, sessions=True),
    Feature("sql-assistant", "data", 0.03, 1.5,
            _mix(gpt_4_1_mini=0.5, claude_sonnet_4=0.3, gpt_5_mini=0.2),
            1800, 0.7, 250, 0.6, 1024, 0.01, 700, "analytics",
            short_share=0.30, structured=0.50),
    Feature("labs-eval", "labs", 0.02, 2.0,
            _mix(claude_opus_4_6=0.4, claude_3_5_haiku=0.3, gpt_4o=0.3),
            4000, 1.2, 600, 1.0, 2048, 0.10, 25, "labs",
            batch_p=0.30, env="dev"),
]
# fmt: on
REPOS = ["payments-api", "web-dashboard", "infra-terraform", "mobile-app"]
ROW_PARAMS = (
    "in_med", "in_sigma", "out_med", "out_sigma", "max_tokens", "cut_rate", "users", "short_share",
    "structured", "prefix_med", "one_hour", "batch_p", "priority_p", "web_p", "night_only", "sessions",
)  # fmt: skip
"""Feature fields every row of the feature gets (joined on its feature)."""
ALERT_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL"}
COMMANDS = ("summary", "report", "flags", "alert", "replay")


# --- the plan: how many rows each (day, feature) cell gets ----------------------------------------


def parse_rows(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGbB]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r} (e.g. 100k, 1M, 10M, 2500000)")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}[m.group(2).lower()]
    n = int(float(m.group(1)) * scale)
    if n < DAYS * len(FEATURES):
        raise argparse.ArgumentTypeError(f"{text}: at least {DAYS * len(FEATURES):,} rows")
    return n


def label(n: int) -> str:
    for unit, div in (("M", 10**6), ("k", 10**3)):
        if n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


def plan_cells(total: int, seed: int) -> pl.DataFrame:
    """One row per (day, feature): its row count, first global row, and its generation parameters."""
    rng = random.Random(seed)
    volume: list[tuple[int, int, float]] = []
    for d in range(DAYS):
        day = START + timedelta(days=d)
        weekend = day.weekday() >= 5
        for f, ft in enumerate(FEATURES):
            v = ft.weight * ft.growth ** (d / (DAYS - 1))
            if ft.weekdays and weekend:
                v *= 0.5
            v *= math.exp(rng.gauss(0.0, 0.06))  # day-to-day noise, so a baseline has spread
            v *= SPIKES.get((day, ft.name), 1.0)
            volume.append((d, f, v))
    scale = total / sum(v for *_, v in volume)
    exact = [v * scale for *_, v in volume]
    counts = [int(x) for x in exact]
    for k in sorted(range(len(exact)), key=lambda k: counts[k] - exact[k])[: total - sum(counts)]:
        counts[k] += 1  # largest remainders: the counts add up to `total` exactly
    rows: list[dict[str, Any]] = []
    start = 0
    day_start = 0
    for (d, f, _), n in zip(volume, counts, strict=True):
        if f == 0:
            day_start = start
        ft = FEATURES[f]
        day = START + timedelta(days=d)
        mix = ft.after if ft.after is not None and ft.switch is not None and day >= ft.switch else ft.models
        weights = [mix.get(k, 0.0) for k in range(len(MODELS))]
        cum, acc = [], 0.0
        for w in weights:
            acc += w / sum(weights)
            cum.append(acc)
        broken = ft.cache_break is not None and day >= ft.cache_break
        rows.append(
            {
                "day": d,
                "feat": f,
                "start": start,
                "end": start + n,
                "day_start": day_start,
                "day_us": int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000,
                "read_p": 0.05 if broken else ft.read_p,
                "write_p": 0.60 if broken else ft.write_p,
                **{f"cum{k}": c for k, c in enumerate(cum[:-1])},
            }
        )
        start += n
    cells = pl.DataFrame(rows)
    params = pl.DataFrame(
        {"feat": list(range(len(FEATURES))), **{k: [getattr(ft, k) for ft in FEATURES] for k in ROW_PARAMS}},
        strict=False,
    )
    return cells.with_row_index("cell").join(params, on="feat", how="left")


def _ident(rng: random.Random, prefix: str, n: int = 20) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    return prefix + "".join(rng.choice(alphabet) for _ in range(n))


def lookups(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-feature strings (name, team, tags, keys, workspace, project) and per-model columns."""
    rng = random.Random(seed + 1)
    teams = sorted({ft.team for ft in FEATURES})
    workspace = {t: _ident(rng, "wrkspc_01") for t in teams}
    feats = pl.DataFrame(
        {
            "feat": list(range(len(FEATURES))),
            "feature": [ft.name for ft in FEATURES],
            "tags": [[f"team:{ft.team}", f"env:{ft.env}"] for ft in FEATURES],
            "workspace_id": [workspace[ft.team] for ft in FEATURES],
            "project_fixed": [None if ft.project == "(repo)" else ft.project for ft in FEATURES],
            "key0": [_ident(rng, "apikey_01") for _ in FEATURES],
            "key1": [_ident(rng, "apikey_01") for _ in FEATURES],
            "svc_user": [f"svc-{ft.name}" for ft in FEATURES],
            "user_base": [(f * 1_700) % 20_000 for f in range(len(FEATURES))],
        },
        schema_overrides={"feat": pl.UInt32},
    )
    from tierlens.pricing.models import normalize_model

    models = pl.DataFrame(
        {
            "model_idx": list(range(len(MODELS))),
            "model": [m[0] for m in MODELS],
            "provider": [m[1] for m in MODELS],
            "new_gen": [m[2] for m in MODELS],
            "ms_per_tok": [m[3] for m in MODELS],
        },
        schema_overrides={"model_idx": pl.UInt32},
    )
    mid, scope = normalize_model(pl.col("model"))
    return feats, models.with_columns(model_id=mid, endpoint_scope=scope)


# --- generation ----------------------------------------------------------------------------------


def chunk(
    g0: int, g1: int, cells: pl.DataFrame, feats: pl.DataFrame, models: pl.DataFrame, seed: int
) -> pl.DataFrame:
    """Canonical (unpriced) rows for global rows g0 .. g1-1, sorted by time."""
    i = pl.Series("i", range(g0, g1), dtype=pl.Int64)
    cell = cells["end"].search_sorted(i, side="right").alias("cell")
    base = pl.DataFrame([i, cell.cast(pl.UInt32)])
    c = pl.col

    def u(stream: int) -> pl.Expr:
        """A deterministic uniform (0, 1) per row: a seeded hash of the global row index."""
        return ((c("i").hash(seed=seed * 1_000_003 + stream) % (1 << 32)).cast(pl.Float64) + 0.5) / float(
            1 << 32
        )

    def z(stream: int) -> pl.Expr:
        """A standard normal per row (Box-Muller on two uniform streams)."""
        return (-2.0 * u(stream).log()).sqrt() * (2.0 * math.pi * u(stream + 1)).cos()

    def lognormal(med: pl.Expr, sigma: pl.Expr, stream: int) -> pl.Expr:
        return (med * (sigma * z(stream)).exp()).round(0).cast(pl.Int64)

    model_idx = pl.sum_horizontal([(u(3) >= c(f"cum{k}")).cast(pl.UInt32) for k in range(len(MODELS) - 1)])
    lf = (
        base.lazy()
        .join(cells.lazy().drop("start", "end"), on="cell", how="left")
        .join(feats.lazy(), on="feat", how="left")
        .with_columns(model_idx=model_idx.cast(pl.UInt32), short=u(1) < c("short_share"))
        .join(models.lazy(), on="model_idx", how="left")
        .with_columns(
            anthropic=c("provider") == "anthropic",
            structured=c("short") | (u(2) < c("structured")),
            batch=u(9) < c("batch_p"),
            user_num=c("user_base") + (c("users").cast(pl.Float64) * u(14) ** 3).floor().cast(pl.Int64),
            prefix=lognormal(c("prefix_med"), pl.lit(0.3), 20).clip(1024),
        )
        .with_columns(
            input_tokens=pl.when(c("short"))
            .then((150 + u(5) * 1200).cast(pl.Int64))
            .otherwise(lognormal(c("in_med"), c("in_sigma"), 6).clip(20, 900_000)),
            cache_read_tokens=pl.when(~c("short") & (u(4) < c("read_p")))
            .then(c("prefix"))
            .otherwise(pl.lit(0, pl.Int64)),
            writes=pl.when(~c("short") & c("anthropic") & (u(8) < c("write_p")))
            .then(c("prefix"))
            .otherwise(pl.lit(0, pl.Int64)),
            raw_out=pl.when(c("short"))
            .then((5 + u(10) * 75).cast(pl.Int64))
            .otherwise(lognormal(c("out_med"), c("out_sigma"), 11).clip(1)),
            cut=~c("short") & (u(13) < c("cut_rate")),
            service_tier=pl.when(c("batch"))
            .then(pl.lit("batch"))
            .when(c("anthropic") & (u(15) < c("priority_p")))
            .then(pl.lit("priority"))
            .otherwise(pl.lit("standard")),
            sec=pl.when(c("night_only"))
            .then(3600.0 + u(16) * 4 * 3600)
            .when(c("batch") | (u(17) < 0.2))
            .then(u(18) * 86_400)
            .otherwise((15 * 3600 + 4 * 3600 * z(22)) % 86_400),
        )
        .with_columns(
            output_tokens=pl.when(c("cut"))
            .then(c("max_tokens"))
            .otherwise(c("raw_out").clip(1, c("max_tokens") - 1)),
            cache_write_5m_tokens=pl.when(u(12) < c("one_hour"))
            .then(pl.lit(0, pl.Int64))
            .otherwise(c("writes")),
            cache_write_1h_tokens=pl.when(u(12) < c("one_hour"))
            .then(c("writes"))
            .otherwise(pl.lit(0, pl.Int64)),
            ts_us=c("day_us") + (c("sec") * 1e6).cast(pl.Int64).clip(0, 86_400_000_000 - 1),
        )
        .with_columns(
            stop_reason=pl.when(c("anthropic"))
            .then(
                pl.when(c("cut"))
                .then(pl.lit("max_tokens"))
                .when(c("structured"))
                .then(pl.lit("tool_use"))
                .when(u(19) < 0.03)
                .then(pl.lit("stop_sequence"))
                .otherwise(pl.lit("end_turn"))
            )
            .otherwise(
                pl.when(c("cut"))
                .then(pl.lit("length"))
                .when(c("structured"))
                .then(pl.lit("tool_calls"))
                .otherwise(pl.lit("stop"))
            ),
        )
    )
    day_str = (pl.lit(START) + pl.duration(days=c("day"))).dt.strftime("%Y-%m-%d")
    noise_id = (c("i").hash(seed=seed * 31 + 5) % 10**10).cast(pl.String).str.zfill(10)
    seq = c("i").cast(pl.String).str.zfill(10)
    message_id = (
        pl.when(c("anthropic"))
        .then(pl.concat_str(pl.lit("msg_01"), noise_id, seq))
        .otherwise(pl.concat_str(pl.lit("chatcmpl-"), noise_id, seq))
    )
    source = (
        pl.when(~c("anthropic"))
        .then(pl.lit("openai"))
        .when(c("batch"))
        .then(pl.lit("anthropic_batch"))
        .otherwise(pl.lit("anthropic_messages"))
    )
    user = (
        pl.when(c("users") == 0)
        .then(c("svc_user"))
        .otherwise(pl.concat_str(pl.lit("u_"), c("user_num").cast(pl.String).str.zfill(5)))
    )
    hour = (c("sec") // 3600).cast(pl.Int64)
    session = pl.when(c("sessions")).then(
        pl.concat_str(
            pl.lit("sess_"),
            (pl.struct("feat", "user_num", "day", hour.alias("h")).hash(seed=seed + 9) % 10**16)
            .cast(pl.String)
            .str.zfill(16),
        )
    )
    out = lf.select(
        dedupe_key=pl.concat_str(
            pl.when(c("anthropic")).then(pl.lit("anthropic:")).otherwise(pl.lit("openai:")), message_id
        ),
        request_id=pl.concat_str(
            pl.lit("req_011C"), (c("i").hash(seed=seed * 17 + 3) % 10**10).cast(pl.String).str.zfill(10), seq
        ),
        message_id=message_id,
        ts=pl.from_epoch(c("ts_us"), time_unit="us").dt.replace_time_zone("UTC"),
        ts_source=pl.lit("log"),
        source=source,
        source_file=pl.concat_str(
            pl.lit("/var/log/llm-gateway/"), day_str, pl.lit("/"), source, pl.lit(".jsonl.gz")
        ),
        source_line=c("i") - c("day_start") + 1,
        provider=c("provider"),
        model=c("model"),
        model_id=c("model_id"),
        endpoint_scope=c("endpoint_scope"),
        input_tokens=c("input_tokens"),
        cache_read_tokens=c("cache_read_tokens"),
        cache_write_5m_tokens=c("cache_write_5m_tokens"),
        cache_write_1h_tokens=c("cache_write_1h_tokens"),
        output_tokens=c("output_tokens"),
        web_search_requests=pl.when(c("anthropic") & (u(23) < c("web_p")))
        .then((1 + u(24) * 3).floor().cast(pl.Int64))
        .otherwise(pl.lit(0, pl.Int64)),
        speed=pl.lit("standard"),
        requests=pl.lit(1, pl.Int64),
        service_tier=c("service_tier"),
        inference_geo=pl.when(~c("anthropic"))
        .then(pl.lit(None, pl.String))
        .when(~c("new_gen"))
        .then(pl.lit("not_available"))
        .when(u(25) < 0.06)
        .then(pl.lit("us"))
        .otherwise(pl.lit("global")),
        feature=c("feature"),
        logged_feature=c("feature"),
        feature_share=pl.lit(1.0),
        attributed_by=pl.lit("feature"),
        user_id=user,
        api_key_id=pl.when(u(26) < 0.8).then(c("key0")).otherwise(c("key1")),
        workspace_id=c("workspace_id"),
        project=pl.coalesce(
            c("project_fixed"),
            (c("user_num") % len(REPOS)).replace_strict(dict(enumerate(REPOS)), return_dtype=pl.String),
        ),
        session_id=session,
        tags=c("tags"),
        status=pl.when(u(27) < 0.002).then(pl.lit("incomplete")).otherwise(pl.lit("ok")),
        stop_reason=c("stop_reason"),
        structured_output=c("structured"),
        latency_ms=pl.when(c("batch"))
        .then(pl.lit(None, pl.Float64))
        .otherwise(
            (
                (250 + c("output_tokens") * c("ms_per_tok") + c("input_tokens") * 0.02) * (0.3 * z(28)).exp()
            ).round(0)
        ),
    )
    return out.sort("ts").collect()


def build(n: int, root: Path, seed: int, chunk_rows: int) -> dict[str, Any]:
    """Write the dataset of `n` rows into `root` (which must not exist), week by week."""
    from tierlens.pricing import PriceTable
    from tierlens.pricing.engine import price_stored
    from tierlens.schema import conform
    from tierlens.store import Store

    table = PriceTable.load()
    cells = plan_cells(n, seed)
    feats, models = lookups(seed)
    store = Store(root)
    started = time.perf_counter()
    written = duplicates = unpriced = 0
    cost = 0.0
    for week in range(WEEKS):
        wk = cells.filter(pl.col("day").is_between(7 * week, 7 * week + 6))
        lo, hi = int(wk["start"].min()), int(wk["end"].max())
        with store.transaction() as txn:
            for g0 in range(lo, hi, chunk_rows):
                g1 = min(g0 + chunk_rows, hi)
                rows = conform(
                    chunk(g0, g1, cells, feats, models, seed).with_columns(ingest_id=pl.lit(txn.ingest_id))
                )
                priced = conform(price_stored(rows, table))
                cost += float(priced["cost_usd"].sum() or 0.0)
                unpriced += int((~priced["priced"]).sum())
                txn.add(priced)
                del rows, priced
            txn.commit(
                {
                    "ingest_id": txn.ingest_id,
                    "kind": "bench/analyses.py",
                    "generator": GENERATOR_VERSION,
                    "seed": seed,
                    "week": week,
                    "rows_added": txn.stats.rows_added,
                    "duplicates_skipped": txn.stats.duplicates,
                }
            )
            written += txn.stats.rows_added
            duplicates += txn.stats.duplicates
        print(
            f"  week {week + 1:2d}/{WEEKS}: {written:>13,} / {n:,} rows  ({time.perf_counter() - started:6.1f}s)",
            flush=True,
        )
    return {
        "rows_written": written,
        "duplicates_skipped": duplicates,
        "unpriced_rows": unpriced,
        "cost_usd": cost,
    }


# --- datasets ------------------------------------------------------------------------------------


@dataclass
class Dataset:
    label: str
    rows: int
    root: Path
    files: int = 0
    bytes: int = 0
    build_s: float | None = None
    build_rss_bytes: int | None = None
    built_now: bool = False
    cost_usd: float | None = None
    error: str | None = None


def _marker(workdir: Path, lab: str, seed: int) -> Path:
    return workdir / f"data-{lab}-s{seed}.complete.json"


def _want(n: int, seed: int) -> dict[str, Any]:
    return {
        "rows": n,
        "seed": seed,
        "generator": GENERATOR_VERSION,
        "end": END.isoformat(),
        "polars": pl.__version__,
        "layout": _layout(),
    }


def _layout() -> str:
    """How the store lays rows out in its files (a dataset written otherwise is rebuilt)."""
    from tierlens import schema

    return f"clustered by {','.join(schema.CLUSTERED_BY)} in row groups of {schema.CLUSTER_ROWS}"


def _files(root: Path) -> list[Path]:
    return sorted((root / "requests").glob("date=*/*.parquet"))


def ensure_dataset(
    n: int, workdir: Path, seed: int, chunk_rows: int, timeout: float, max_rss: int
) -> Dataset:
    lab = label(n)
    root = workdir / f"data-{lab}-s{seed}"
    marker = _marker(workdir, lab, seed)
    ds = Dataset(lab, n, root)
    want = _want(n, seed)
    if marker.is_file() and root.is_dir():
        meta = json.loads(marker.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in want} == want:
            ds.build_s, ds.build_rss_bytes, ds.cost_usd = (
                meta.get("build_s"),
                meta.get("build_rss_bytes"),
                meta.get("cost_usd"),
            )
            files = _files(root)
            ds.files, ds.bytes = len(files), sum(f.stat().st_size for f in files)
            print(
                f"reusing {root} ({ds.files} files, {ds.bytes / MB:,.0f} MB; built in {ds.build_s:.0f}s)",
                flush=True,
            )
            ensure_rollups(root)
            return ds
    marker.unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"building {n:,} rows into {root} (chunks of {chunk_rows:,}) ...", flush=True)
    out = workdir / f"build-{lab}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--internal-build", str(n), "--workdir", str(workdir),
           "--seed", str(seed), "--chunk-rows", str(chunk_rows), "--internal-out", str(out)]  # fmt: skip
    res = measure(
        cmd, cwd=workdir, stdout=None, stderr=None, timeout=timeout, max_rss=max_rss, env=_child_env()
    )
    ds.build_s, ds.build_rss_bytes, ds.built_now = res.wall_s, res.rss_bytes, True
    if res.status != "ok" or not out.is_file():
        ds.error = f"build {res.status} (exit {res.rc})"
        return ds
    built = json.loads(out.read_text(encoding="utf-8"))
    files = _files(root)
    ds.files, ds.bytes, ds.cost_usd = len(files), sum(f.stat().st_size for f in files), built["cost_usd"]
    if built["rows_written"] != n or built["unpriced_rows"]:
        ds.error = (
            f"build wrote {built['rows_written']:,} rows, not {n:,} ({built['duplicates_skipped']:,} "
            f"skipped as duplicates), {built['unpriced_rows']:,} unpriced"
        )
        return ds
    meta = {**want, "build_s": res.wall_s, "build_rss_bytes": res.rss_bytes, "build_cpu_s": res.cpu_s, **built,
            "files": ds.files, "bytes": ds.bytes}  # fmt: skip
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    os.replace(tmp, marker)  # written last: a dataset without it is rebuilt
    print(
        f"built {n:,} rows in {res.wall_s:.1f}s (peak RSS {res.rss_bytes / MB:,.0f} MB, CPU {res.cpu_s:.0f}s): "
        f"{ds.files} files, {ds.bytes / MB:,.0f} MB, ${ds.cost_usd:,.2f}",
        flush=True,
    )
    return ds


def ensure_rollups(root: Path) -> None:
    """Make the daily rollups of a dataset built before tierlens wrote them at commit (what its
    next reader would do), so that every measured command finds them, as after an ingest."""
    from tierlens.store.layout import snapshot
    from tierlens.store.rollup import rollup_path

    missing = sum(1 for f in _files(root) if not rollup_path(root, f).exists())
    if missing:
        started = time.perf_counter()
        snapshot(root).rollup()
        print(f"made the rollups of {missing} files in {time.perf_counter() - started:.1f}s", flush=True)


def warm_cache(root: Path) -> None:
    """Read the dataset once, so the first command does not pay for the disk and the others do not."""
    for f in _files(root):
        with f.open("rb") as fh:
            while fh.read(64 * 1024 * 1024):
                pass


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    argv: list[str]
    rc: int | None = None
    status: str = "ok"  # ok | failed | timeout | killed (RSS limit) | signal
    wall_s: float = 0.0
    rss_bytes: int = 0
    cpu_s: float = 0.0
    stdout_bytes: int | None = None
    load: tuple[float, float] = (0.0, 0.0)
    """1-minute load average when the child started and when it ended (other work on the machine)."""
    error: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)


def _child_env() -> dict[str, str]:
    """This environment without TIERLENS_* (no config, data dir or webhook leaks into a measured run)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}


def _rss_now(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def measure(
    argv: Sequence[str],
    cwd: Path,
    stdout: Path | None,
    stderr: Path | None,
    timeout: float,
    max_rss: int,
    env: dict[str, str],
    ok_codes: Sequence[int] = (0,),
    name: str = "",
) -> Result:
    """Run `argv` as a child in its own process group; its wall time, peak RSS and CPU from wait4.

    A thread blocks in `os.wait4` on exactly that pid, so the rusage is the child's own and the
    wall time ends when it exits. The main thread watches the clock and the child's RSS and kills
    its process group past `timeout` or `max_rss`.
    """
    res = Result(name, list(argv))
    load0 = os.getloadavg()[0]
    out = stdout.open("wb") if stdout else None
    err = stderr.open("wb") if stderr else None
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, stdout=out, stderr=err, env=env, start_new_session=True)
        got: dict[str, Any] = {}

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            got.update(ended=time.perf_counter(), status=status, usage=usage)

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        why = ""
        while waiter.is_alive():
            waiter.join(0.25)
            if not waiter.is_alive():
                break
            if time.perf_counter() - started > timeout:
                why = f"timeout after {timeout:.0f}s"
            elif max_rss and _rss_now(proc.pid) > max_rss:
                why = f"killed by the bench: RSS passed {max_rss / MB:,.0f} MB (--max-rss-mb)"
            if why:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                waiter.join()
                break
        proc.returncode = rc = os.waitstatus_to_exitcode(got["status"])
    finally:
        for fh in (out, err):
            if fh:
                fh.close()
    usage = got["usage"]
    res.load = (load0, os.getloadavg()[0])
    res.rc = rc
    res.wall_s = got["ended"] - started
    res.rss_bytes = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    res.cpu_s = usage.ru_utime + usage.ru_stime
    if why:
        res.status = "timeout" if why.startswith("timeout") else "killed"
        res.error = why
    elif rc < 0:
        res.status = "signal"
        res.error = f"killed by {signal.Signals(-rc).name}" + (
            " (the kernel's OOM killer?)" if rc == -9 else ""
        )
    elif rc not in ok_codes:
        res.status = "failed"
    if stdout and stdout.exists():
        res.stdout_bytes = stdout.stat().st_size
    if res.status != "ok" and stderr and stderr.exists():
        tail = stderr.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-12:]
        res.error = "; ".join(x for x in [res.error, f"exit {rc}", " | ".join(tail)] if x)
    return res


FLOOR_SCRIPT = """\
import sys
import polars as pl
root = sys.argv[1]
tokens = ["input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens"]
out = (
    pl.scan_parquet(root + "/requests/date=*/*.parquet", hive_partitioning=True)
    .group_by(pl.col("ts").dt.truncate("1w").alias("week"), "feature", "tier")
    .agg(pl.len().alias("rows"), pl.col("requests").sum(), pl.col("cost_usd").sum(), *[pl.col(t).sum() for t in tokens])
    .sort("week", "feature", "tier")
    .collect()
)
print(out.write_csv(), end="")
"""


def tierlens_module() -> list[str]:
    """`-m tierlens` when the package has a __main__, else its CLI module (which calls main())."""
    import importlib.util

    return ["-m", "tierlens"] if importlib.util.find_spec("tierlens.__main__") else ["-m", "tierlens.cli"]


def safe_rules(rules: Path, rundir: Path) -> tuple[Path, str]:
    """The rules file, or a copy without webhook sinks (the bench sends nothing over the network)."""
    raw = tomllib.loads(rules.read_text(encoding="utf-8"))
    sinks = raw.get("sink", [])
    if not any(s.get("kind") == "webhook" for s in sinks):
        return rules, ""
    text = rules.read_text(encoding="utf-8")
    # drop each [[sink]] table whose kind is webhook (tables run to the next header)
    parts = re.split(r"(?m)^(?=\[)", text)
    kept = [
        p for p in parts if not (p.startswith("[[sink]]") and re.search(r'(?m)^\s*kind\s*=\s*"webhook"', p))
    ]
    copy = rundir / "alerts-no-webhook.toml"
    copy.write_text("".join(kept), encoding="utf-8")
    return copy, f"webhook sink(s) removed: {copy}"


def commands(
    ds: Dataset, selected: Sequence[str], rules: Path, policies: Path, rundir: Path, replay_each: bool
) -> list[tuple[str, list[str], tuple[int, ...]]]:
    py = sys.executable
    tl = [py, *tierlens_module()]
    data = ["--data", str(ds.root)]
    out: list[tuple[str, list[str], tuple[int, ...]]] = [
        ("floor", [py, "-c", FLOOR_SCRIPT, str(ds.root)], (0,))
    ]
    for name in selected:
        if name == "summary":
            out.append((name, [*tl, "summary", *data], (0,)))
        elif name == "report":
            out.append((name, [*tl, "report", *data, "--format", "json"], (0,)))
        elif name == "flags":
            out.append((name, [*tl, "flags", *data, "--format", "json"], (0,)))
        elif name == "alert":
            # monitoring exit codes: 0 OK, 1 WARNING, 2 CRITICAL are results; 3 UNKNOWN is a failure
            state = rundir / "alert_state.json"
            out.append((name, [*tl, "alert", "--rules", str(rules), *data, "--state", str(state)], (0, 1, 2)))
        elif name == "replay":
            out.append((name, [*tl, "replay", *data, "--policy", str(policies), "--format", "json"], (0,)))
            if replay_each and policies.is_dir():
                for p in sorted(policies.glob("*.toml")):
                    argv = [*tl, "replay", *data, "--policy", str(p), "--format", "json"]
                    out.append((f"replay:{p.stem}", argv, (0,)))
    return out


def run_all(ds: Dataset, args: argparse.Namespace, rules: Path, note: list[str]) -> list[Result]:
    rundir = args.workdir / "runs" / ds.label
    rundir.mkdir(parents=True, exist_ok=True)
    rules_used, why = safe_rules(rules, rundir)
    if why:
        note.append(why)
    warm_cache(ds.root)
    results = []
    for name, argv, ok in commands(ds, args.commands, rules_used, args.policies, rundir, args.replay_each):
        runs = []
        for k in range(args.repeats):
            (rundir / "alert_state.json").unlink(missing_ok=True)
            safe = re.sub(r"[^\w.-]", "_", name)
            r = measure(
                argv,
                cwd=rundir,
                stdout=rundir / f"{safe}.out",
                stderr=rundir / f"{safe}.err",
                timeout=args.timeout,
                max_rss=int(args.max_rss_mb * MB),
                env=_child_env(),
                ok_codes=ok,
                name=name,
            )
            runs.append(r)
            print(
                f"  {ds.label:>5} {name:<30} run {k + 1}/{args.repeats}: {r.status:<8} {r.wall_s:8.2f}s "
                f"{r.rss_bytes / MB:8,.0f} MB RSS  {r.cpu_s:7.1f} CPU s  exit {r.rc}",
                flush=True,
            )
            if r.status != "ok":
                break  # a failing command is not repeated
        best = runs[-1]
        if all(r.status == "ok" for r in runs):
            best.wall_s = statistics.median(r.wall_s for r in runs)
            best.rss_bytes = max(r.rss_bytes for r in runs)
            best.cpu_s = statistics.median(r.cpu_s for r in runs)
        best.runs = [
            {"wall_s": r.wall_s, "rss_bytes": r.rss_bytes, "cpu_s": r.cpu_s, "status": r.status} for r in runs
        ]
        results.append(best)
    return results


# --- reporting -----------------------------------------------------------------------------------


def print_table(ds: Dataset, results: list[Result], repeats: int, notes: list[str], rundir: Path) -> None:
    print()
    built = "built now" if ds.built_now else "cached"
    build = (
        f"build {ds.build_s:.1f}s, peak RSS {ds.build_rss_bytes / MB:,.0f} MB ({built})" if ds.build_s else ""
    )
    print(
        f"dataset {ds.label}: {ds.root}\n  {ds.rows:,} rows, {ds.files} files, {ds.bytes / MB:,.1f} MB "
        f"({ds.bytes / max(ds.rows, 1):.0f} bytes/row); {build}"
    )
    print(
        f"  machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, polars {pl.__version__}; "
        f"{'median of ' + str(repeats) + ' runs' if repeats > 1 else '1 run'} per command"
    )
    floor = next((r for r in results if r.name == "floor" and r.status == "ok"), None)
    head = (
        f"  {'command':<30}{'wall s':>9}{'peak RSS MB':>13}{'wall/floor':>12}{'CPU s':>9}{'CPU/floor':>11}{'stdout':>11}"
        f"{'load':>12}  status"
    )
    print(head)
    print("  " + "-" * (len(head) - 2))
    for r in results:
        ratio = f"{r.wall_s / floor.wall_s:.1f}x" if floor and r.status == "ok" else "-"
        cpu_ratio = f"{r.cpu_s / floor.cpu_s:.1f}x" if floor and floor.cpu_s and r.status == "ok" else "-"
        out = (
            "-"
            if r.stdout_bytes is None
            else (f"{r.stdout_bytes / 1024:,.0f} KB" if r.stdout_bytes >= 1024 else f"{r.stdout_bytes} B")
        )
        if r.status != "ok":
            status = f"{r.status.upper()} (exit {r.rc})"
        else:
            status = (
                "ok"
                if r.rc == 0
                else f"ok (exit {r.rc}{': ' + ALERT_STATES.get(r.rc, '') if r.name == 'alert' else ''})"
            )
        print(
            f"  {r.name:<30}{r.wall_s:>9.2f}{r.rss_bytes / MB:>13,.0f}{ratio:>12}{r.cpu_s:>9.1f}{cpu_ratio:>11}{out:>11}"
            f"{f'{r.load[0]:.1f}-{r.load[1]:.1f}':>12}  {status}"
        )
    print(f"  commands (cwd {rundir}):")
    for r in results:
        shown = [a if "\n" not in a else "<floor script: FLOOR_SCRIPT in bench/analyses.py>" for a in r.argv]
        print(f"    {r.name}: {' '.join(shown)}")
    for r in results:
        if r.status != "ok":
            print(f"  {r.name} {r.status}: {r.error}")
    for n in notes:
        print(f"  note: {n}")
    print(
        "  load = the machine's 1-minute load average as each child started and ended; above the "
        f"{os.cpu_count()} CPUs, other work shared them and wall times are inflated (CPU s less so)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rows", default="1M,10M,100M", help="dataset sizes, comma-separated (e.g. 100k,1M,10M)")
    ap.add_argument(
        "--commands",
        default=",".join(COMMANDS),
        help=f"analyses to run ({','.join(COMMANDS)}); the floor always runs",
    )
    ap.add_argument(
        "--workdir", type=Path, default=Path("/tmp/tierlens-analyses"), help="datasets and scratch files"
    )
    ap.add_argument(
        "--seed", type=int, default=42, help="generator seed (datasets are cached per size and seed)"
    )
    ap.add_argument(
        "--chunk-rows",
        type=int,
        default=500_000,
        help="rows generated, priced and added at a time (peak build RSS ~ 3 KB a row of chunk)",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a child is killed")
    ap.add_argument(
        "--build-timeout", type=float, default=4 * 3600.0, help="seconds before a dataset build is killed"
    )
    ap.add_argument(
        "--max-rss-mb", type=float, default=16_000, help="kill a child whose RSS passes this (0: no limit)"
    )
    ap.add_argument("--repeats", type=int, default=1, help="runs per command (median wall, max RSS)")
    ap.add_argument(
        "--rules", type=Path, default=REPO / "examples" / "alerts.toml", help="alert rules for `alert`"
    )
    ap.add_argument(
        "--policies", type=Path, default=REPO / "policies", help="policy file or directory for `replay`"
    )
    ap.add_argument("--replay-each", action="store_true", help="also replay each policy file on its own")
    ap.add_argument("--build-only", action="store_true", help="build (or check) the datasets, run nothing")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--internal-build", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--internal-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.workdir = args.workdir.resolve()

    if args.internal_build is not None:  # the child that writes one dataset
        n = args.internal_build
        root = args.workdir / f"data-{label(n)}-s{args.seed}"
        built = build(n, root, args.seed, args.chunk_rows)
        args.internal_out.write_text(json.dumps(built), encoding="utf-8")
        return 0

    try:
        sizes = [parse_rows(x) for x in args.rows.split(",") if x.strip()]
    except argparse.ArgumentTypeError as exc:
        ap.error(str(exc))
    args.commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    bad = [c for c in args.commands if c not in COMMANDS]
    if bad or args.repeats < 1 or args.chunk_rows < 1000:
        ap.error(f"unknown command(s) {bad}" if bad else "--repeats >= 1 and --chunk-rows >= 1000")
    args.policies = args.policies.resolve()
    rules = args.rules.resolve()

    report: list[dict[str, Any]] = []
    for n in sizes:
        ds = ensure_dataset(
            n, args.workdir, args.seed, args.chunk_rows, args.build_timeout, int(args.max_rss_mb * MB)
        )
        entry: dict[str, Any] = {"dataset": {**asdict(ds), "root": str(ds.root)}, "results": []}
        report.append(entry)
        if ds.error:
            print(f"\ndataset {ds.label}: {ds.error}; skipping its analyses", flush=True)
            continue
        if args.build_only:
            continue
        notes: list[str] = []
        results = run_all(ds, args, rules, notes)
        print_table(ds, results, args.repeats, notes, args.workdir / "runs" / ds.label)
        entry["results"] = [asdict(r) for r in results]
        entry["notes"] = notes
        if args.json:  # after every dataset: a later one that takes hours does not lose the earlier
            args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
