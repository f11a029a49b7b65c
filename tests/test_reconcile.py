"""`tierlens reconcile`: the dataset against a provider cost report, or against the logs' own costs."""

from __future__ import annotations

import json
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


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def usage_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    ingest([USAGE], load_settings(data_dir=data))
    return data


def test_usage_report_and_cost_report_of_a_period_reconcile_to_zero(usage_data: Path) -> None:
    r = reconcile_cost_report(usage_data, [COSTS])
    assert r.keys == ["day", "model_id", "workspace_id"]
    assert r.theirs_usd == pytest.approx(3.851, abs=1e-9) and r.ours_usd == pytest.approx(3.851, abs=1e-9)
    assert r.gap_usd == 0.0 and r.gap_pct == 0.0 and not r.exceeded
    assert r.matched_groups == r.groups.height == 4 and r.matched_usd == pytest.approx(3.851)
    assert r.by_category.filter(r.by_category["gap_usd"].abs() > 1e-9).is_empty()
    res = run("reconcile", "--cost-report", str(COSTS), "--data", str(usage_data))
    assert res.exit_code == 0, res.output
    assert (
        "unexplained gap     $0.00 (+0.00%): within 1%" in res.output
        and "matched in 4 of 4" not in res.output
    )
    assert "$3.8510 in 4 of 4 group(s)" in res.output


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
    assert (str(worst["day"]), worst["model_id"], worst["status"]) == (
        "2026-09-02",
        "claude-opus-4-6",
        "differs",
    )
    assert r.by_day.row(0, named=True)["gap_share"] == pytest.approx(1.0)
    res = run("reconcile", "--cost-report", str(bill), "--data", str(usage_data))
    assert res.exit_code == 1
    assert "-$0.1000 (-2.53%): above --max-gap-pct 1%" in res.output
    assert "2026-09-02  claude-opus-4-6" in res.output
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
    assert r.against == "openai costs" and r.keys == ["day", "model_id", "workspace_id"]
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
