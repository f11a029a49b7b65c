"""Every format in one directory, one `tierlens ingest DIR`, per-format totals equal to hand-computed costs.

tests/fixtures/formats/ holds one small file per format; each total below is computed by hand from
the price table in FACTS.md (USD per million tokens), so a change in a reader's token convention,
a model normalization or a multiplier shows up here to the micro-dollar.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import tierlens
from tests.fixtures.readers import FIXTURES, usd
from tests.paths import REPO
from tierlens.cli import main

CONFIG = """
[sources.acme_gateway]
files = ["gateway-*.csv"]
format = "csv"
delimiter = ";"
timestamp_format = "%d/%m/%Y %H:%M:%S"
timezone = "Europe/Berlin"
token_convention = "input_includes_cache"
[sources.acme_gateway.fields]
ts = "time"
model = "model_name"
input_tokens = "tokens_in"
cache_read_tokens = "cached"
output_tokens = "tokens_out"
feature = "app"
request_id = "request"
"""

EXPECTED = {
    # (1000-400) x 2.50 + 400 x 1.25 + 200 x 10;  (2000-1000) x 0.25 + 1000 x 0.025 + 500 x 2
    "openai": usd((600, 2.5), (400, 1.25), (200, 10)) + usd((1000, 0.25), (1000, 0.025), (500, 2)),
    # us. Sonnet 4.5 x1.1; global. Haiku 4.5; Haiku 3.5 (list); Nova Pro (aws.amazon.com/bedrock/pricing);
    # an app-profile ARN unpriced
    "bedrock": usd((1000, 3), (2000, 0.3), (1000, 3.75), (500, 15)) * 1.1
    + usd((2000, 1), (1000, 5))
    + usd((1000, 0.8), (1000, 4))
    + usd((800, 0.8), (80, 3.2)),
    # Sonnet 4.5 (prompt 3500 = 1000 + 2000 read + 500 written); gpt-4o-mini (1000 incl. 500 cached)
    "litellm": usd((1000, 3), (2000, 0.3), (500, 3.75), (300, 15))
    + usd((500, 0.15), (500, 0.075), (100, 0.6)),
    # Opus 4.6 (input 5000 incl. 3000 read + 1000 written); gpt-4.1 from deprecated attribute names
    "otel": usd((1000, 5), (3000, 0.5), (1000, 6.25), (400, 25)) + usd((1000, 2), (100, 8)),
    # the usage report: Sonnet 4.5 standard + 3 searches; Haiku batch; Sonnet 4.5 long context; Opus 4.6 US geo
    "anthropic_usage": usd((400_000, 3), (20_000, 3.75), (10_000, 6), (50_000, 0.3), (20_000, 15))
    + 0.03
    + usd((200_000, 1), (40_000, 5)) * 0.5
    + usd((300_000, 6), (10_000, 0.6), (5_000, 7.5), (2_000, 22.5))
    + usd((10_000, 5), (1_000, 25)) * 1.1,
    # gpt-4o 20 requests; gpt-4o-mini batch 50 requests
    "openai_usage": usd((60_000, 2.5), (40_000, 1.25), (10_000, 10))
    + usd((1_000_000, 0.15), (100_000, 0.6)) * 0.5,
    # the custom CSV mapping (input includes cache)
    "acme_gateway": usd((2000, 1), (1000, 0.1), (200, 5)) + usd((1000, 3), (100, 15)),
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tierlens.toml"
    path.write_text(CONFIG)
    return path


def test_one_ingest_call_reads_every_format(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = CliRunner().invoke(
        main, ["--config", str(config), "ingest", str(FIXTURES), "--data", str(data), "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["formats"] == {f: 1 for f in EXPECTED}
    assert summary["rejected"] == {} and summary["unpriced"] == {
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6": 1,
    }
    assert any(
        "anthropic_cost_report.json is an Anthropic cost report" in n for n in summary["files_skipped"]
    )
    # every record is accounted for
    assert summary["records_read"] == summary["rows_added"] + summary["duplicates_skipped"] + sum(
        summary["skipped"].values()
    ) + sum(summary["rejected"].values())
    totals = dict(tierlens.open(data).group_by("source").agg(pl.col("cost_usd").sum()).collect().iter_rows())
    assert set(totals) == set(EXPECTED)
    for fmt, want in EXPECTED.items():
        assert totals[fmt] == pytest.approx(want, abs=1e-6), fmt
        assert totals[fmt] == pytest.approx(want, rel=1e-9), fmt
    assert summary["total_cost_usd"] == pytest.approx(sum(EXPECTED.values()), rel=1e-9)
    # LiteLLM's own spend is kept beside ours: one of its two priced rows differs
    assert summary["logged_cost"] == {
        "rows": 2,
        "logged_usd": pytest.approx(0.010175),
        "our_usd": pytest.approx(EXPECTED["litellm"]),
        "rows_differing": 1,
    }


def test_reingesting_the_directory_adds_nothing(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["--config", str(config), "ingest", str(FIXTURES), "--data", str(data)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    before = tierlens.open(data).select(pl.len(), pl.col("cost_usd").sum()).collect().row(0)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and re.search(r"rows added\s+0\b", again.output)
    assert tierlens.open(data).select(pl.len(), pl.col("cost_usd").sum()).collect().row(0) == before


def test_unknown_format_is_a_clear_error_naming_the_formats_tried(tmp_path: Path) -> None:
    path = tmp_path / "mystery.jsonl"
    path.write_text('{"hello": "world"}\n')
    res = CliRunner().invoke(main, ["ingest", str(path), "--data", str(tmp_path / "d")])
    assert res.exit_code == 3
    for name in (
        "anthropic_messages",
        "openai",
        "openai_usage",
        "bedrock",
        "litellm",
        "otel",
        "anthropic_usage",
    ):
        assert name in res.output
    assert "use --format to force one" in res.output


def test_tierlensignore_leaves_listed_files_out(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "archive").mkdir(parents=True)
    src = (FIXTURES / "openai_chat.jsonl").read_text()
    (logs / "a.jsonl").write_text(src)
    (logs / "archive" / "old.jsonl").write_text(
        src.replace("chatcmpl-", "chatcmpl-old-").replace("resp_", "resp_old_")
    )
    (logs / "skip-me.jsonl").write_text("not json\n")
    (logs / ".tierlensignore").write_text("# archived logs are ingested elsewhere\narchive/\nskip-*.jsonl\n")
    res = CliRunner().invoke(main, ["ingest", str(logs), "--data", str(tmp_path / "d"), "--json"])
    summary = json.loads(res.output)
    assert summary["files"] == 1 and summary["rows_added"] == 2
    assert summary["files_skipped"] == [f"{logs}: 2 file(s) listed in {logs / '.tierlensignore'}"]


def test_tierlensignore_reads_gitignore_syntax(tmp_path: Path) -> None:
    from tierlens.logfiles import resolve_inputs

    logs = tmp_path / "logs"
    for name in ("a.jsonl", "keep.jsonl", "deep/x/old.jsonl", "deep/y.jsonl", "top.csv"):
        (logs / name).parent.mkdir(parents=True, exist_ok=True)
        (logs / name).write_text("{}\n")
    # every JSON lines file but keep.jsonl, anything under a directory named x, and top.csv only
    # at the top (an anchored pattern)
    (logs / ".tierlensignore").write_text("*.jsonl\n!keep.jsonl\n**/x/\n/top.csv\n")
    ignored: list[str] = []
    kept = [Path(f).relative_to(logs).as_posix() for f in resolve_inputs([logs], ignored)]
    assert kept == ["keep.jsonl"] and ignored == [f"{logs}: 4 file(s) listed in {logs / '.tierlensignore'}"]


def test_sample_logs_more_match_the_generators_reference(tmp_path: Path) -> None:
    """sample_logs/more/ (scripts/gen_more_sample_logs.py) ingests to its README's per-format reference costs."""
    more = REPO / "sample_logs" / "more"
    readme = (more.parent / "README.md").read_text()
    section = readme[readme.index("## 4. `more/`") :]
    ref = {
        m[0]: (int(m[1]), int(m[2]), float(m[3]))
        for m in re.findall(r"^\| ([a-z_]+) \| (\d+) \| (\d+) \| ([\d.]+) \|$", section, re.M)
    }
    total = ref.pop("all")
    assert len(ref) == 7 and sum(r[2] for r in ref.values()) == pytest.approx(total[2], abs=1e-5)
    data = tmp_path / "data"
    config_args = ["--config", str(more / "tierlens.toml")]
    res = CliRunner().invoke(main, [*config_args, "ingest", str(more), "--data", str(data), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["rejected"] == {} and len(summary["files_skipped"]) == 2
    df = tierlens.open(data).collect()
    for fmt, (requests, unpriced, usd_ref) in ref.items():
        rows = df.filter(pl.col("source") == fmt)
        assert rows["dedupe_key"].n_unique() == requests, fmt
        assert rows.filter(~pl.col("priced"))["dedupe_key"].n_unique() == unpriced, fmt
        assert float(rows["cost_usd"].sum()) == pytest.approx(usd_ref, abs=1e-6), fmt
    # each cost report reconciles to zero against the same dataset; LiteLLM's own spend does not
    for report in ("admin/cost_report-2026-W45.jsonl", "openai/costs-2026-W45.jsonl"):
        rec = CliRunner().invoke(
            main, ["reconcile", "--cost-report", str(more / report), "--data", str(data)]
        )
        assert rec.exit_code == 0 and "unexplained gap     $0.00 (+0.00%)" in rec.output, rec.output
    assert CliRunner().invoke(main, ["reconcile", "--logged", "--data", str(data)]).exit_code == 1
