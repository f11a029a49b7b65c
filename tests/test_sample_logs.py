"""The demo logs ingest exactly as their generator documents (sample_logs/README.md).

The generator prices its records with its own small implementation of the FACTS rules, so its
per-feature reference costs are an independent check of the reader + pricer on 46k records.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

import tierlens
from tests.conftest import SAMPLE_LOGS
from tierlens.ingest import IngestResult


@pytest.fixture
def sample(sample_ingest: tuple[IngestResult, Path]) -> tuple[IngestResult, Path]:
    return sample_ingest


def reference_costs() -> dict[str, float]:
    text = (SAMPLE_LOGS / "README.md").read_text()
    rows = re.findall(r"^\| ([a-z-]+) \| claude[^|]*\| \d+ \| \d+ \| ([\d.]+) \|$", text, flags=re.M)
    return {feature: float(usd) for feature, usd in rows}


def test_every_line_is_accounted_for(sample: tuple[IngestResult, Path]) -> None:
    r, _ = sample
    assert r.formats == {"anthropic_messages": 13, "anthropic_batch": 13, "claude_code": 25}
    assert r.duplicates_skipped == 40  # the W36 replay of W35
    assert r.lines_read == r.rows_added + r.duplicates_skipped + sum(r.skipped.values()) + r.rejected_total
    assert [(Path(x["file"]).name, x["line"]) for x in r.rejects] == [
        ("messages-2026-W39.jsonl.gz", 855),
        ("messages-2026-W39.jsonl.gz", 1711),
        ("messages-2026-W39.jsonl.gz", 2570),
    ]
    assert r.skipped["blank line"] == 2 and r.skipped["error response"] == 224
    assert r.unpriced == {"claude-nimbus-preview": 30}


def test_costs_match_the_generators_reference(sample: tuple[IngestResult, Path]) -> None:
    _, data = sample
    ref = reference_costs()
    assert len(ref) >= 8
    got = dict(
        tierlens.open(data)
        .filter(pl.col("source") == "anthropic_messages")
        .group_by("feature")
        .agg(pl.col("cost_usd").sum())
        .collect()
        .iter_rows()
    )
    for feature, usd in ref.items():
        assert got[feature] == pytest.approx(usd, abs=0.005), feature  # the README rounds to cents


def test_batch_and_claude_code_rows(sample: tuple[IngestResult, Path]) -> None:
    _, data = sample
    df = tierlens.open(data).collect()
    batch = df.filter(pl.col("source") == "anthropic_batch")
    assert batch.height == 1894 and batch["service_tier"].unique().to_list() == ["batch"]
    assert batch["ts_source"].unique().to_list() == ["batch_ended_at"]
    cc = df.filter(pl.col("source") == "claude_code")
    assert cc.height == 164 and cc["project"].n_unique() == 3
    assert df["dedupe_key"].is_unique().all()
