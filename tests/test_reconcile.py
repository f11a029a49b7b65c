"""`tierlens reconcile`: the dataset against a provider cost report, or against the logs' own costs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests import factories as f
from tests.fixtures.readers import FIXTURES
from tierlens.cli import main
from tierlens.config import load_settings
from tierlens.errors import SourceError
from tierlens.ingest import ingest
from tierlens.reconcile import reconcile_cost_report, reconcile_logged

USAGE = FIXTURES / "anthropic_usage_report.json"
COSTS = FIXTURES / "anthropic_cost_report.json"
RECONCILE = Path(__file__).resolve().parent / "fixtures" / "reconcile"
WEB_USAGE = RECONCILE / "anthropic_usage_report.json"
"""Two days, two workspaces; Sonnet, Opus and Haiku with web searches ($1.505, $0.24 of it web search)."""
WEB_COSTS = RECONCILE / "anthropic_cost_report_web_search.json"
"""Its bill grouped by workspace and description: web search per day and workspace, without a model."""
NO_PROJECT = RECONCILE / "openai_chat_no_project.jsonl"
"""OpenAI chat completions logged without a project: $0.455 on 2026-10-05, $0.081 on 2026-10-06."""


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def usage_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    ingest([USAGE], load_settings(data_dir=data))
    return data


def test_usage_report_and_cost_report_of_a_period_reconcile_to_zero(usage_data: Path) -> None:
    r = reconcile_cost_report(usage_data, [COSTS])
    assert r.keys == ["day", "workspace_id", "model_id", "category"]
    assert r.theirs_usd == pytest.approx(3.851, abs=1e-9) and r.ours_usd == pytest.approx(3.851, abs=1e-9)
    assert r.gap_usd == 0.0 and r.gap_pct == 0.0 and not r.exceeded
    assert r.matched_groups == r.groups.height == 13 and r.matched_usd == pytest.approx(3.851)
    assert r.level_summary() == (
        "matched at day x workspace x model x category: $3.8510; at day x workspace: $0.00; at day: $0.00;"
        " unexplained: $0.00"
    )
    assert r.by_category.filter(r.by_category["gap_usd"].abs() > 1e-9).is_empty()
    res = run("reconcile", "--cost-report", str(COSTS), "--data", str(usage_data))
    assert res.exit_code == 0, res.output
    assert (
        "unexplained gap     $0.00 (+0.00%): within 1%" in res.output
        and "matched in 13 of 13" not in res.output
    )
    assert "$3.8510 in 13 of 13 group(s)" in res.output


def test_a_gap_is_located_by_day_and_model_and_exits_1(usage_data: Path, tmp_path: Path) -> None:
    report = json.loads(COSTS.read_text())
    # the bill says day 2 Opus output cost 12.75 cents, not 2.75: $0.10 more than the usage prices to
    for res in report["data"][1]["results"]:
        if res["model"] == "claude-opus-4-6" and res["token_type"] == "output_tokens":
            res["amount"] = "12.75"
    bill = tmp_path / "cost_report.json"
    bill.write_text(json.dumps(report))
    r = reconcile_cost_report(usage_data, [bill])
    assert r.gap_usd == pytest.approx(-0.10, abs=1e-9)
    assert r.gap_pct == pytest.approx(-100 * 0.10 / 3.951, rel=1e-9) and r.exceeded
    worst = r.groups.row(0, named=True)
    assert (str(worst["day"]), worst["model_id"], worst["category"], worst["status"], worst["level"]) == (
        "2026-09-02",
        "claude-opus-4-6",
        "output",
        "differs",
        "unexplained",
    )
    assert r.by_day.row(0, named=True)["gap_share"] == pytest.approx(1.0)
    res = run("reconcile", "--cost-report", str(bill), "--data", str(usage_data))
    assert res.exit_code == 1
    assert "-$0.1000 (-2.53%): above --max-gap-pct 1%" in res.output
    assert "2026-09-02  wrkspc_01A    claude-opus-4-6  output" in res.output
    assert (
        run(
            "reconcile", "--cost-report", str(bill), "--data", str(usage_data), "--max-gap-pct", "5"
        ).exit_code
        == 0
    )
    payload = json.loads(
        run("reconcile", "--cost-report", str(bill), "--data", str(usage_data), "--format", "json").output
    )
    assert (
        payload["exceeded"]
        and payload["gap_usd"] == pytest.approx(-0.1)
        and payload["by_model"][0]["model_id"] == "claude-opus-4-6"
    )


def test_usage_only_in_the_dataset_and_priority_left_out(
    usage_data: Path, tmp_path: Path, write: Any
) -> None:
    extra = [
        f.logged(
            ts="2026-09-02T09:00:00Z",
            model="claude-haiku-4-5-20251001",
            input_tokens=10_000,
            output_tokens=0,
            cache_read=0,
            cache_creation=0,
            metadata={"workspace_id": "wrkspc_01A"},
        ),
        f.logged(
            ts="2026-09-02T10:00:00Z",
            model="claude-opus-4-6",
            input_tokens=1000,
            output_tokens=0,
            service_tier="priority",
        ),
        f.logged(ts="2026-09-02T11:00:00Z", model="claude-nimbus-preview", input_tokens=1, output_tokens=1),
        f.logged(ts="2026-09-05T11:00:00Z", input_tokens=1, output_tokens=1),  # after the report's period
    ]
    ingest([write("extra.jsonl", extra)], load_settings(data_dir=usage_data))
    r = reconcile_cost_report(usage_data, [COSTS])
    assert r.gap_usd == pytest.approx(0.01, abs=1e-12)  # 10,000 Haiku input tokens
    only = r.groups.filter(r.groups["status"] == "only in the dataset")
    assert only.select("model_id", "workspace_id").rows() == [("claude-haiku-4-5", "wrkspc_01A")]
    assert any("Priority Tier" in n for n in r.notes) and any(
        "claude-nimbus-preview (1)" in n for n in r.notes
    )


def test_openai_usage_against_openai_costs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingest([FIXTURES / "openai_usage_completions.jsonl"], load_settings(data_dir=data))
    r = reconcile_cost_report(data, [FIXTURES / "openai_costs.json"])
    assert r.against == "openai costs" and r.keys == ["day", "workspace_id", "model_id", "category"]
    assert r.theirs_usd == pytest.approx(0.405) and r.gap_usd == 0.0 and not r.exceeded
    assert dict(zip(r.by_category["category"], r.by_category["theirs_usd"], strict=True)) == pytest.approx(
        {"input": 0.225, "cache_write": 0.0, "cache_read": 0.05, "output": 0.13, "web_search": 0.0}
    )
    csv = tmp_path / "costs.csv"
    csv.write_text(
        "start_time,end_time,amount_value,amount_currency,line_item,project_id\n"
        "1788220800,1788307200,0.300000,usd,,proj_abc\n"
        "1788220800,1788307200,0.105,usd,,proj_abc\n"
    )
    by_day = reconcile_cost_report(data, [csv])
    assert by_day.keys == ["day", "workspace_id"] and by_day.gap_usd == 0.0


def test_logged_costs_against_ours(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingest([FIXTURES / "litellm_spend_logs.csv"], load_settings(data_dir=data))
    r = reconcile_logged(data)
    # ours $0.0101475 (Sonnet 0.009975 + mini 0.0001725) against LiteLLM's $0.010175
    assert r.ours_usd == pytest.approx(0.0101475) and r.theirs_usd == pytest.approx(0.010175)
    assert r.gap_pct == pytest.approx(100 * (0.0101475 - 0.010175) / 0.010175) and not r.exceeded
    assert r.by_model.row(0, named=True)["model_id"] == "gpt-4o-mini"
    assert run("reconcile", "--logged", "--data", str(data)).exit_code == 0
    tight = run("reconcile", "--logged", "--data", str(data), "--max-gap-pct", "0.1", "--tolerance", "0")
    assert tight.exit_code == 1 and "gpt-4o-mini" in tight.output


def test_usage_errors(tmp_path: Path, usage_data: Path) -> None:
    assert run("reconcile", "--data", str(usage_data)).exit_code == 2
    assert run("reconcile", "--data", str(usage_data), "--logged", "--cost-report", str(COSTS)).exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"data": [{"starting_at": "2026-09-01T00:00:00Z", "results": [{"amount": "lots", "currency": "USD"}]}]}\n'
    )
    res = run("reconcile", "--cost-report", str(bad), "--data", str(usage_data))
    assert res.exit_code == 3 and "cannot read the cost report" in res.output
    with pytest.raises(SourceError, match="mix providers"):
        reconcile_cost_report(usage_data, [COSTS, FIXTURES / "openai_costs.json"])


def _ingested(tmp_path: Path, *logs: Path) -> Path:
    data = tmp_path / "data"
    ingest(list(logs), load_settings(data_dir=data))
    return data


def _report(tmp_path: Path, source: Path, edit: Any) -> Path:
    """A copy of a cost report with `edit(result)` applied to every result."""
    report = json.loads(source.read_text())
    for bucket in report["data"]:
        for result in bucket["results"]:
            edit(result)
    out = tmp_path / source.name
    out.write_text(json.dumps(report))
    return out


def _levels(r: Any) -> dict[str, float]:
    return {lv.label: lv.theirs_usd for lv in r.levels}


def test_web_search_without_a_model_matches_the_days_web_search_spend(tmp_path: Path) -> None:
    r = reconcile_cost_report(_ingested(tmp_path, WEB_USAGE), [WEB_COSTS])
    assert r.gap_usd == 0.0 and r.theirs_usd == pytest.approx(1.505)
    assert set(r.groups["status"]) == {"matched"} and r.unexplained_theirs_usd == 0.0
    web = r.groups.filter(r.groups["category"] == "web_search").sort("day", "workspace_id")
    assert web.select("day", "workspace_id", "model_id", "theirs_usd", "level").rows() == [
        (date(2026, 10, 5), "wrkspc_A", None, pytest.approx(0.16), "day x workspace x category"),
        (date(2026, 10, 5), "wrkspc_B", None, pytest.approx(0.03), "day x workspace x category"),
        (date(2026, 10, 6), "wrkspc_A", None, pytest.approx(0.05), "day x workspace x category"),
    ]
    assert _levels(r) == pytest.approx(
        {
            "day x workspace x model x category": 1.265,
            "day x workspace x category": 0.24,
            "day x workspace": 0.0,
            "day": 0.0,
        }
    )
    assert r.level_summary() == (
        "matched at day x workspace x model x category: $1.2650; at day x workspace x category: $0.2400;"
        " at day x workspace: $0.00; at day: $0.00; unexplained: $0.00"
    )
    res = run("reconcile", "--cost-report", str(WEB_COSTS), "--data", str(tmp_path / "data"))
    assert (
        res.exit_code == 0 and "only in their report" not in res.output and "Gap by model" not in res.output
    )


def test_web_search_of_a_workspace_is_not_matched_with_another_workspaces(tmp_path: Path) -> None:
    def swap(result: dict[str, Any]) -> None:
        if result["cost_type"] == "web_search":  # the bill puts A's searches in B and B's in A
            result["workspace_id"] = {"wrkspc_A": "wrkspc_B", "wrkspc_B": "wrkspc_A"}[result["workspace_id"]]

    r = reconcile_cost_report(_ingested(tmp_path, WEB_USAGE), [_report(tmp_path, WEB_COSTS, swap)])
    levels = _levels(r)
    assert levels["day x workspace x category"] == 0.0 and levels["day x workspace"] == 0.0
    assert levels["day"] == pytest.approx(0.24) and r.unexplained_theirs_usd == 0.0  # each day is even


def test_costs_by_project_against_logs_without_a_project_match_at_day(tmp_path: Path) -> None:
    r = reconcile_cost_report(_ingested(tmp_path, NO_PROJECT), [RECONCILE / "openai_costs_by_project.json"])
    assert r.keys == ["day"] and r.gap_usd == 0.0 and not r.exceeded
    assert r.groups.select("day", "theirs_usd", "status", "level").sort("day").rows() == [
        (date(2026, 10, 5), pytest.approx(0.455), "matched", "day"),
        (date(2026, 10, 6), pytest.approx(0.081), "matched", "day"),
    ]
    assert r.level_summary() == "matched at day: $0.5360; unexplained: $0.00"
    assert any("split by project but no dataset row names one" in n for n in r.notes)
    payload = json.loads(
        run(
            "reconcile",
            "--cost-report",
            str(RECONCILE / "openai_costs_by_project.json"),
            "--data",
            str(tmp_path / "data"),
            "--format",
            "json",
        ).output
    )
    assert [(lv["level"], lv["groups"]) for lv in payload["levels"]] == [("day", 2)]
    assert payload["unexplained"] == {"ours_usd": 0.0, "theirs_usd": 0.0, "gap_usd": 0.0}


def test_costs_by_project_and_line_item_against_logs_without_a_project(tmp_path: Path) -> None:
    report = RECONCILE / "openai_costs_by_project_and_line_item.json"
    r = reconcile_cost_report(_ingested(tmp_path, NO_PROJECT), [report])
    assert r.keys == ["day", "model_id", "category"] and r.gap_usd == 0.0
    assert r.matched_groups == r.groups.height == 9  # day 1: five line items, day 2: four
    assert (
        r.level_summary() == "matched at day x model x category: $0.5360; at day: $0.00; unexplained: $0.00"
    )


def test_a_report_by_workspace_only_matches_at_day_x_workspace(tmp_path: Path) -> None:
    data = _ingested(tmp_path, WEB_USAGE)
    r = reconcile_cost_report(data, [RECONCILE / "anthropic_cost_report_by_workspace.json"])
    assert r.keys == ["day", "workspace_id"] and r.gap_usd == 0.0
    assert r.level_summary() == "matched at day x workspace: $1.5050; at day: $0.00; unexplained: $0.00"

    def rename(result: dict[str, Any]) -> None:
        if result["workspace_id"] == "wrkspc_B":
            result["workspace_id"] = "wrkspc_C"

    moved = reconcile_cost_report(
        data, [_report(tmp_path, RECONCILE / "anthropic_cost_report_by_workspace.json", rename)]
    )
    assert _levels(moved) == pytest.approx({"day x workspace": 1.225, "day": 0.28})
    assert moved.groups.filter(moved.groups["level"] == "day")["day"].to_list() == [date(2026, 10, 5)]


def test_a_real_gap_stays_unexplained_at_every_level_and_exits_1(tmp_path: Path) -> None:
    def overbill(result: dict[str, Any]) -> None:
        if result["token_type"] == "output_tokens" and result["amount"] == "15.00":  # day 2 Sonnet output
            result["amount"] = "25.00"

    bill = _report(tmp_path, WEB_COSTS, overbill)
    data = _ingested(tmp_path, WEB_USAGE)
    r = reconcile_cost_report(data, [bill])
    assert r.gap_usd == pytest.approx(-0.10) and r.exceeded
    assert r.unexplained_theirs_usd == pytest.approx(0.25) and r.unexplained_ours_usd == pytest.approx(0.15)
    assert r.level_summary() == (
        "matched at day x workspace x model x category: $1.1150; at day x workspace x category: $0.2400;"
        " at day x workspace: $0.00; at day: $0.00; unexplained: $0.2500 (dataset $0.1500)"
    )
    worst = r.groups.row(0, named=True)
    assert (worst["day"], worst["model_id"], worst["category"], worst["status"], worst["level"]) == (
        date(2026, 10, 6),
        "claude-sonnet-4-5",
        "output",
        "differs",
        "unexplained",
    )
    res = run("reconcile", "--cost-report", str(bill), "--data", str(data))
    assert res.exit_code == 1 and "above --max-gap-pct 1%" in res.output
    assert (
        run("reconcile", "--cost-report", str(bill), "--data", str(data), "--max-gap-pct", "7").exit_code == 0
    )


@pytest.mark.parametrize(
    ("logs", "report"),
    [
        ([USAGE], COSTS),
        ([FIXTURES / "openai_usage_completions.jsonl"], FIXTURES / "openai_costs.json"),
        ([WEB_USAGE], WEB_COSTS),
        ([WEB_USAGE], RECONCILE / "anthropic_cost_report_by_workspace.json"),
        ([NO_PROJECT], RECONCILE / "openai_costs_by_project.json"),
        ([NO_PROJECT], RECONCILE / "openai_costs_by_project_and_line_item.json"),
        (
            [Path("sample_logs/more/admin/usage_report-2026-W45.json")],
            Path("sample_logs/more/admin/cost_report-2026-W45.jsonl"),
        ),
        (
            [Path("sample_logs/more/openai/usage-completions-2026-W45.jsonl")],
            Path("sample_logs/more/openai/costs-2026-W45.jsonl"),
        ),
    ],
    ids=lambda v: v.stem if isinstance(v, Path) else None,
)
def test_equal_totals_mean_no_gap_and_every_dollar_matched(
    tmp_path: Path, logs: list[Path], report: Path
) -> None:
    root = Path(__file__).resolve().parent.parent
    r = reconcile_cost_report(_ingested(tmp_path, *(root / p for p in logs)), [root / report])
    assert r.theirs_usd == pytest.approx(r.ours_usd, rel=1e-9) and r.gap_usd == 0.0
    assert r.unexplained_theirs_usd == 0.0 and r.unexplained_ours_usd == 0.0
    assert sum(lv.ours_usd for lv in r.levels) == pytest.approx(r.ours_usd, rel=1e-9)
    assert r.matched_usd == pytest.approx(r.theirs_usd, rel=1e-9) and set(r.groups["status"]) == {"matched"}
