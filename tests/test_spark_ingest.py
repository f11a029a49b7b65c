"""`tierlens ingest --engine spark` gives the dataset the embedded ingest gives: the same rows,
costs, rejects and counts, on a mixed directory of real logs (tests/realworld: Anthropic messages,
streams and batches, Claude Code sessions, OpenAI, Bedrock, LiteLLM, OpenTelemetry), a file
copied under another name, bad lines and files that are no logs. Local Spark (Java 17)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

import tierlens
from tierlens.cli import main
from tierlens.config import Settings
from tierlens.ingest import ingest

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
COUNTS = (
    "files", "lines_read", "records_read", "rows_added", "duplicates_skipped", "split_rows", "skipped",
    "notes", "rejected", "files_failed", "files_skipped", "formats", "unpriced", "logged_cost",
)  # fmt: skip


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    logs = root / "logs"
    shutil.copytree(REPO / "tests" / "realworld", logs)
    # the same responses under another name: every row of it is a duplicate
    shutil.copy(logs / "anthropic" / "msgs_thinking_claude-sonnet-4-5.jsonl", logs / "copy-of-thinking.jsonl")
    good = json.loads(
        (logs / "anthropic" / "msgs_thinking_claude-sonnet-4-5.jsonl").read_text().splitlines()[0]
    )
    bad = json.loads(json.dumps(good))
    bad["usage"]["input_tokens"] = "many"
    good["id"] = "msg_mixed_fresh"
    (logs / "bad-lines.jsonl").write_text(json.dumps(good) + "\n{not json\n" + json.dumps(bad) + "\n")
    return logs


def _rows(data: Path) -> pl.DataFrame:
    return (
        tierlens.open(data)
        .drop("ingest_id")
        .collect()
        .sort("dedupe_key", "feature", "source_file", "source_line")
    )


def _rejects(result: Any) -> list[tuple[Any, ...]]:
    return sorted((r["file"], r["line"], r["reason"], r["sha256"]) for r in result.rejects)


def test_spark_and_embedded_ingests_give_the_same_dataset(mixed: Path, tmp_path: Path) -> None:
    from tierlens.spark_ingest import ingest_on_spark

    embedded = ingest([mixed], Settings(data_dir=tmp_path / "embedded"))
    spark = ingest_on_spark([mixed], Settings(data_dir=tmp_path / "spark"), master="local[2]")
    assert embedded.rows_added > 100 and embedded.duplicates_skipped > 0 and embedded.rejects
    assert len(embedded.formats) == 7
    for name in COUNTS:
        assert getattr(spark, name) == getattr(embedded, name), name
    assert spark.total_cost_usd == pytest.approx(embedded.total_cost_usd, abs=1e-9)
    assert _rejects(spark) == _rejects(embedded)
    a, b = _rows(tmp_path / "embedded"), _rows(tmp_path / "spark")
    assert a.height == embedded.rows_added and a.equals(b)
    # the quarantine holds the same lines
    quarantined = sorted(
        json.dumps(r, sort_keys=True) for r in tierlens.Workspace(tmp_path / "spark").rejects()
    )
    assert len(quarantined) == len(embedded.rejects)


def test_a_spark_reingest_adds_nothing_and_the_command_line_runs_it(mixed: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = CliRunner().invoke(
        main,
        ["ingest", str(mixed), "--data", str(data), "--engine", "spark", "--master", "local[2]", "--json"],
    )
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(
        main,
        ["ingest", str(mixed), "--data", str(data), "--engine", "spark", "--master", "local[2]", "--json"],
    )
    assert again.exit_code == 0, again.output
    one, two = json.loads(first.output), json.loads(again.output)
    assert one["rows_added"] > 0 and two["rows_added"] == 0
    assert two["duplicates_skipped"] == one["rows_added"] + one["duplicates_skipped"]
    assert _rows(data).height == one["rows_added"]
