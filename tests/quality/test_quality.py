"""Quality judgments: read from the files eval and support tools export, kept apart from the costs,
joined to the requests they judge, and turned into upgrade signals, confidence and replay grades."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

import tierlens
from tests import factories as f
from tests.conftest import SAMPLE_LOGS
from tierlens.cli import main
from tierlens.config import Settings
from tierlens.ingest import ingest
from tierlens.quality import metric_kind, read_quality_file, stored_quality
from tierlens.quality.read import parse_period

JUDGMENTS = SAMPLE_LOGS / "quality" / "judgments.csv"


def test_a_quality_csv_reads_each_spelling_and_rejects_bad_lines_with_file_line_and_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        "requestId,Name,Score,feature,period,count\n"
        "req_1,eval_score,0.9,,,\n"
        'req_2,eval_score,"0.8",,,\n'
        ",thumbs,up,chat,2026-W45,40\n"
        ",thumbs,down,chat,2026-11,12\n"
        '"req_3\nsecret text",eval_score,0.7,,,\n'  # a quoted newline: the next row is on line 8
        "req_4,eval_score,excellent,,,\n"
        ",eval_score,0.5,chat,,\n"
        ",eval_score,0.5,chat,2026-13,\n"
        "req_5,eval_score,0.5,,,0\n",
        encoding="utf-8",
    )
    got = read_quality_file(path)
    rows = got.rows.sort("line")
    assert rows["request_id"].to_list()[:2] == ["req_1", "req_2"] and rows["value"].to_list() == [
        0.9,
        0.8,
        1.0,
        0.0,
        0.7,
    ]
    week, month = rows.filter(pl.col("feature") == "chat").select("period_start", "period_end", "n").rows()
    assert [str(d) for d in week[:2]] == ["2026-11-02", "2026-11-08"] and week[2] == 40
    assert [str(d) for d in month[:2]] == ["2026-11-01", "2026-11-30"] and month[2] == 12
    assert rows.filter(pl.col("request_id") == "req_3\nsecret text")["line"].to_list() == [6]
    reasons = {r["line"]: r["reason"] for r in got.rejects}
    assert reasons == {
        8: "value is not a number nor a yes/no word",
        9: "neither a request_id nor a feature and a period",
        10: "period '2026-13' is not a day, an ISO week (2026-W45) or a month (2026-11)",
        11: "n is not a positive whole number",
    }
    assert all(r["file"] == str(path) and "excellent" not in json.dumps(r) for r in got.rejects)


def test_json_lines_judgments_and_lines_that_are_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "thumbs.jsonl"
    path.write_text(
        json.dumps({"trace_id": "t1", "name": "thumbs_up", "value": True}) + "\n\n"
        "not json\n[1, 2]\n" + json.dumps({"request_id": "t2", "metric": "eval", "value": "nan"}) + "\n",
        encoding="utf-8",
    )
    got = read_quality_file(path)
    assert got.rows.select("request_id", "metric", "value").rows() == [("t1", "thumbs_up", 1.0)]
    assert [(r["line"], r["reason"]) for r in got.rejects] == [
        (3, "not JSON"),
        (4, "not a JSON object"),
        (5, "value is not a finite number"),
    ]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11-02", "2026-11-02", "2026-11-02"),
        ("2026-W01", "2025-12-29", "2026-01-04"),
        ("2028-02", "2028-02-01", "2028-02-29"),
    ],
)
def test_a_period_is_a_day_an_iso_week_or_a_month(text: str, start: str, end: str) -> None:
    assert [str(d) for d in parse_period(text)] == [start, end]


def test_a_metric_is_read_by_its_name_unless_the_config_says() -> None:
    assert [
        metric_kind(m, {})
        for m in ("answer_eval", "Rubric", "thumbs_down", "thumbs_up", "escalated", "latency")
    ] == [
        "score",
        "score",
        "bad",
        "good",
        "bad",
        None,
    ]
    assert metric_kind("latency", {"latency": "bad"}) == "bad"


def _chat(tmp_path: Path, write: Any) -> Settings:
    lines = [
        f.logged(ts=f"2026-11-{1 + i % 14:02d}T10:00:00Z", feature="chat", request_id=f"req_{i}")
        for i in range(50)
    ]
    settings = Settings(data_dir=tmp_path / "data")
    ingest([write("chat.jsonl", lines)], settings)
    return settings


def _scores(path: Path, values: dict[str, float], extra: str = "") -> Path:
    path.write_text(
        "request_id,metric,value\n" + "".join(f"{k},eval,{v}\n" for k, v in values.items()) + extra
    )
    return path


def test_re_ingesting_adds_nothing_twice_and_a_later_value_replaces_the_earlier(
    tmp_path: Path, write: Any
) -> None:
    ws = tierlens.Workspace(settings=_chat(tmp_path, write))
    before = ws.requests.collect()
    first = _scores(tmp_path / "a.csv", {f"req_{i}": 0.9 for i in range(10)}, "req_x,eval,oops\n")
    r1 = ws.ingest_quality([first])
    assert (r1.rows_added, r1.rejected, r1.matched_requests, r1.request_rows) == (10, 1, 10, 10)
    r2 = ws.ingest_quality([first])
    assert (r2.rows_added, r2.unchanged) == (0, 10)
    assert sum(1 for _ in (ws.data_dir / "quarantine").glob("*.jsonl")) == 1  # the bad line once
    changed = _scores(tmp_path / "b.csv", {"req_0": 0.2, "req_1": 0.9})
    r3 = ws.ingest_quality([changed])
    assert (r3.rows_added, r3.unchanged) == (1, 1)
    stored = stored_quality(ws.data_dir)
    assert stored.height == 10 and stored.filter(pl.col("request_id") == "req_0")["value"].item() == 0.2
    assert ws.requests.collect().equals(before)  # the cost rows are untouched


@pytest.mark.parametrize("crash_at", ["before_journal", "after_journal", "mid_rename", "after_log"])
def test_a_killed_quality_ingest_leaves_what_a_rerun_completes_exactly(
    crash_at: str, tmp_path: Path, write: Any
) -> None:
    settings = _chat(tmp_path, write)
    scores = _scores(tmp_path / "a.csv", {f"req_{i}": 0.5 + i / 100 for i in range(20)}, "req_bad,eval,?\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}
    cmd = [
        sys.executable,
        "-m",
        "tierlens",
        "ingest",
        "--quality",
        str(scores),
        "--data",
        str(settings.data_dir),
    ]
    died = subprocess.run(
        cmd, env={**env, "TIERLENS_CRASH_AT": crash_at}, capture_output=True, text=True, check=False
    )
    assert died.returncode == 137, died.stderr
    for part in (settings.data_dir / "quality").glob("*.parquet"):
        pl.read_parquet(part)  # whole files only
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    stored = stored_quality(settings.data_dir)
    assert stored.height == 20 and stored["request_id"].n_unique() == 20
    rejects = [
        json.loads(x)
        for q in (settings.data_dir / "quarantine").glob("*.jsonl")
        for x in q.read_text().splitlines()
    ]
    assert [r["line"] for r in rejects] == [22]


def test_quality_alone_reads_no_logs_and_a_walk_leaves_the_quality_files_out(
    tmp_path: Path, write: Any
) -> None:
    log = write("chat.jsonl", [f.logged(feature="chat", request_id="req_a")])
    scores = _scores(log.parent / "evals.csv", {"req_a": 1.0})
    data = tmp_path / "data"
    res = CliRunner().invoke(
        main, ["ingest", str(log.parent), "--quality", str(scores), "--data", str(data), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["files"] == 1 and doc["files_skipped"] == [] and doc["quality"]["matched_requests"] == 1
    alone = CliRunner().invoke(main, ["ingest", "--quality", str(scores), "--data", str(tmp_path / "other")])
    assert alone.exit_code == 0, alone.output
    assert "Ingested" not in alone.output and "judgments read      1" in alone.output
    missing = CliRunner().invoke(
        main, ["ingest", "--quality", str(tmp_path / "nope.csv"), "--data", str(data)]
    )
    assert missing.exit_code != 0 and "Traceback" not in missing.output and "nope.csv" in missing.output


# --- the sample logs' judgments (sample_logs/README.md, section 4) -------------------------------------------


@pytest.fixture(scope="module")
def judged_sample(tmp_path_factory: pytest.TempPathFactory) -> tierlens.Workspace:
    ws = tierlens.Workspace(tmp_path_factory.mktemp("judged") / "data")
    ws.ingest([SAMPLE_LOGS], exclude=[JUDGMENTS])
    ws.ingest_quality([JUDGMENTS])
    return ws


def _prompts_from_the_logs() -> dict[str, int]:
    """request_id -> prompt tokens of search-answer, read from the gzipped logs with the json module."""
    out = {}
    for path in sorted((SAMPLE_LOGS / "anthropic").glob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            try:
                rec = json.loads(line)
                u = rec["response"]["usage"]
                prompt = u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"]
            except (ValueError, KeyError, TypeError):
                continue
            if rec.get("feature") == "search-answer":
                out[rec["request_id"]] = prompt
    return out


def test_the_hardest_inputs_failing_their_eval_is_a_quality_shortfall(
    judged_sample: tierlens.Workspace,
) -> None:
    prompts = _prompts_from_the_logs()
    with JUDGMENTS.open() as fh:
        evals = [
            (prompts[r["request_id"]], float(r["value"]))
            for r in csv.DictReader(fh)
            if r["metric"] == "answer_eval"
        ]
    ordered = sorted(p for p, _ in evals)
    cut = ordered[int(0.75 * (len(ordered) - 1))]  # the "lower" quantile
    hard = [v for p, v in evals if p >= cut]
    [finding] = [x for x in judged_sample.flags().findings if x.kind == "quality_shortfall"]
    assert (finding.feature, finding.model, finding.data["upgrade_to"]) == (
        "search-answer",
        "claude-haiku-4-5",
        "claude-sonnet-4-6",
    )
    assert finding.data["judgments"] == len(hard)
    assert finding.data["good"] == pytest.approx(sum(hard) / len(hard))
    assert (
        finding.high_usd is not None
        and finding.high_usd > 0
        and f"prompts of {cut:,}+ tokens" in finding.title
    )


def test_an_escalation_rate_above_the_limit_is_a_quality_complaint(judged_sample: tierlens.Workspace) -> None:
    with JUDGMENTS.open() as fh:
        weeks = [(float(r["value"]), int(r["n"])) for r in csv.DictReader(fh) if r["metric"] == "escalated"]
    rate = sum(v * n for v, n in weeks) / sum(n for _, n in weeks)
    [finding] = [x for x in judged_sample.flags().findings if x.kind == "quality_complaints"]
    assert (finding.feature, finding.model) == ("support-chat", "claude-sonnet-4-5")
    assert 1 - finding.data["good"] == pytest.approx(rate) and f"{100 * rate:.1f}% bad" in finding.title


def test_a_cheaper_models_matching_judgments_raise_the_downgrade_confidence(
    judged_sample: tierlens.Workspace,
) -> None:
    [finding] = [x for x in judged_sample.flags().findings if x.kind == "top_tier_structured"]
    assert finding.confidence == "high" and finding.data["quality"]["matches"] is True
    assert (
        "0.95 on claude-haiku-4-5 vs 0.96 on claude-opus-4-6 (500 + 500 judgments), a match"
        in finding.evidence
    )


def test_worse_judgments_of_the_cheaper_model_lower_the_confidence(tmp_path: Path, write: Any) -> None:
    lines = [f.logged(ts=f"2026-11-{1 + i % 14:02d}T10:00:00Z", feature="tickets", model="claude-opus-4-6",
                      input_tokens=1800, output_tokens=60, tool=True) for i in range(1200)]  # fmt: skip
    settings = Settings(data_dir=tmp_path / "data")
    ingest([write("t.jsonl", lines)], settings)
    ws = tierlens.Workspace(settings=settings)
    plain = [x for x in ws.flags().findings if x.kind == "top_tier_structured"]
    evals = tmp_path / "evals.csv"
    evals.write_text(
        "feature,model,period,metric,value,n\n"
        "tickets,claude-opus-4-6,2026-11,accuracy,0.97,400\n"
        "tickets,claude-haiku-4-5-20251001,2026-11,accuracy,0.80,400\n"
    )
    ws.ingest_quality([evals])
    [weighed] = [x for x in ws.flags().findings if x.kind == "top_tier_structured"]
    assert plain[0].confidence != "low" and weighed.confidence == "low"
    assert "worse on the cheaper model" in weighed.evidence and weighed.monthly_usd == plain[0].monthly_usd
    assert not [x for x in ws.flags().findings if x.kind.startswith("quality_")]  # 0.97 passes, no complaint


def test_the_report_shows_each_features_judgments_beside_its_unit_costs(
    judged_sample: tierlens.Workspace,
) -> None:
    units = judged_sample.report().unit_costs
    shown = dict(units.select("feature", "quality").drop_nulls().iter_rows())
    assert shown["support-chat"].startswith("escalated ") and shown["search-answer"].startswith(
        "answer_eval 0."
    )
    assert shown["ticket-classifier"] == "label_accuracy 0.96" and "doc-summarizer" not in shown


def test_the_replay_grades_a_move_from_judgments_on_both_models(judged_sample: tierlens.Workspace) -> None:
    policy = SAMPLE_LOGS.parent / "policies" / "short-structured-to-haiku.toml"
    result = judged_sample.replay([policy], draws=50)
    rows = result.policies[0].rows.filter(pl.col("feature") == "ticket-classifier")  # type: ignore[union-attr]
    assert rows.select("quality_grade", "quality_evidence").row(0) == ("low", "judged on both models")


def test_no_judgments_no_quality_findings_and_the_report_has_no_quality_column(sample_data: Path) -> None:
    ws = tierlens.Workspace(sample_data)
    assert ws.judgments.is_empty()
    assert not [x for x in ws.flags().findings if x.kind.startswith("quality_")]
    assert "quality" not in ws.report().unit_costs.columns
