"""The option set every command shares: output formats and -o, periods, --debug/--config anywhere,
and the ccusage-style summary."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from tests import factories as f
from tests.paths import REPO
from tierlens.cli import main
from tierlens.errors import ConfigError

COMMANDS_WITH_OUTPUT = [
    ["summary"],
    ["flags"],
    ["query", "spend_by_model"],
    ["quarantine"],
    ["prices", "--model", "haiku"],
    ["doctor"],
    ["reprice", "--dry-run"],
    ["attribute", "--dry-run"],
    ["reconcile", "--logged"],
]


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _needs_data(cmd: list[str]) -> bool:
    return cmd[0] != "prices"


@pytest.mark.parametrize("cmd", COMMANDS_WITH_OUTPUT, ids=lambda c: c[0])
def test_every_command_writes_json_and_markdown_to_a_file(
    cmd: list[str], sample_data: Path, tmp_path: Path
) -> None:
    data = ["--data", str(sample_data)] if _needs_data(cmd) else []
    out = tmp_path / "out.json"
    res = run(*cmd, *data, "-o", str(out))
    assert res.exit_code == 0, res.output
    json.loads(out.read_text(encoding="utf-8"))  # the suffix chose JSON
    assert f"to {out}" in res.stderr and res.stdout == ""
    md = tmp_path / "out.md"
    assert run(*cmd, *data, "--format", "markdown", "-o", str(md)).exit_code == 0
    text = md.read_text(encoding="utf-8")
    assert "|" in text or "```" in text or text.startswith(("#", "The quarantine"))  # Markdown, not the table


@pytest.mark.parametrize("cmd", COMMANDS_WITH_OUTPUT, ids=lambda c: c[0])
def test_an_unknown_output_suffix_is_a_usage_error(cmd: list[str], sample_data: Path, tmp_path: Path) -> None:
    data = ["--data", str(sample_data)] if _needs_data(cmd) else []
    out = tmp_path / "spend.xlsx"
    res = run(*cmd, *data, "-o", str(out))
    assert res.exit_code == 2 and "spend.xlsx" in res.stderr and "--format" in res.stderr
    assert not out.exists()
    # --format says what to write whatever the name
    assert run(*cmd, *data, "-o", str(out), "--format", "json").exit_code == 0
    json.loads(out.read_text(encoding="utf-8"))


def test_debug_and_config_work_after_the_command_name(sample_data: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "tierlens.toml"
    cfg.write_text(f'data_dir = "{sample_data}"\n', encoding="utf-8")
    before = run("--config", str(cfg), "summary", "--format", "json")
    after = run("summary", "--format", "json", "--config", str(cfg))
    assert after.exit_code == 0
    got, want = json.loads(after.stdout), json.loads(before.stdout)
    # the same dataset read (float sums may differ in their last bits between runs)
    assert got["total_requests"] == want["total_requests"] > 0
    assert got["total_cost_usd"] == pytest.approx(want["total_cost_usd"], rel=1e-12)
    bad = tmp_path / "bad.toml"
    bad.write_text("data_dirr = 1\n", encoding="utf-8")
    res = run("summary", "--config", str(bad))
    assert res.exit_code == 2 and "Traceback" not in res.output
    with pytest.raises(ConfigError):  # --debug: the error is raised, as before the command name
        CliRunner().invoke(main, ["summary", "--config", str(bad), "--debug"], catch_exceptions=False)


def test_ingest_reads_input_format_and_still_accepts_the_old_spelling(write: Any, tmp_path: Path) -> None:
    path = write("a.jsonl", [f.logged(feature="chat")])
    for i, flag in enumerate(["--input-format", "--format"]):
        data = tmp_path / f"d{i}"
        res = run("ingest", str(path), "--data", str(data), flag, "anthropic_messages", "--json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["rows_added"] == 1
    assert "--input-format" in run("ingest", "--help").stdout
    assert "--format" not in run("ingest", "--help").stdout.replace("--input-format", "")
    assert run("ingest", str(path), "--data", str(tmp_path / "d9"), "--input-format", "nope").exit_code == 2


@pytest.mark.parametrize(
    "command",
    [
        ["quarantine"],
        ["summary"],
        ["report"],
        ["flags"],
        ["doctor"],
        ["reprice"],
        ["attribute"],
        ["reconcile", "--logged"],
        ["query", "spend_by_period"],
        ["export", "-o", "focus.csv"],
        ["replay", "--policy", str(REPO / "policies")],
    ],
)
def test_a_missing_or_foreign_directory_is_an_error_on_every_command(
    command: list[str], tmp_path: Path
) -> None:
    assert run(*command, "--data", str(tmp_path / "nope")).exit_code == 3
    (tmp_path / "photos").mkdir()
    res = run(*command, "--data", str(tmp_path / "photos"))
    assert res.exit_code == 3 and "not a tierlens dataset" in res.stderr


def test_flags_window_from_since_until(sample_data: Path) -> None:
    res = run(
        "flags",
        "--data",
        str(sample_data),
        "--since",
        "2026-10-19",
        "--until",
        "2026-11-15",
        "--format",
        "json",
    )
    payload = json.loads(res.stdout)
    assert payload["window"] == ["2026-10-19", "2026-11-15"] and payload["as_of"] == "2026-11-16"
    default = json.loads(run("flags", "--data", str(sample_data), "--format", "json").stdout)

    def brief(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(x["kind"], x["feature"], round(x["monthly_usd"] or 0.0, 6), x["evidence"]) for x in findings]

    assert brief(payload["findings"]) == brief(default["findings"])  # the default lookback's 28 days
    assert (
        run("flags", "--data", str(sample_data), "--since", "2026-11-14", "--until", "2026-11-15").exit_code
        == 2
    )
    assert (
        run("flags", "--data", str(sample_data), "--until", "2026-11-01", "--since", "2026-11-15").exit_code
        == 2
    )
    rows = list(
        csv.DictReader(io.StringIO(run("flags", "--data", str(sample_data), "--format", "csv").stdout))
    )
    assert {r["kind"] for r in rows} == {x["kind"] for x in default["findings"]}


# --- the ccusage-style summary ---------------------------------------------------------------------


def _days(write: Any, tmp_path: Path) -> Path:
    """Three days of requests with a day without any between them."""
    lines = [
        f.logged(
            ts="2026-11-02T10:00:00Z", feature="chat", input_tokens=1000, output_tokens=100, cache_read=500
        ),
        f.logged(
            ts="2026-11-02T11:00:00Z",
            feature="search",
            model="claude-haiku-4-5",
            input_tokens=200,
            output_tokens=20,
        ),
        f.logged(
            ts="2026-11-04T10:00:00Z",
            feature="chat",
            input_tokens=3000,
            output_tokens=300,
            cache_creation=100,
            split=(100, 0),
            metadata={"user_id": "u1"},
        ),
    ]
    data = tmp_path / "data"
    assert run("ingest", str(write("d.jsonl", lines)), "--data", str(data)).exit_code == 0
    return data


def test_summary_by_day_shows_empty_days_as_zero_and_tokens_by_category(write: Any, tmp_path: Path) -> None:
    data = _days(write, tmp_path)
    payload = json.loads(
        run("summary", "--data", str(data), "--period", "day", "--by", "model", "--format", "json").stdout
    )
    days = {p["period"]: p for p in payload["periods"]}
    assert list(days) == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert days["2026-11-03"]["requests"] == 0 and days["2026-11-03"]["cost_usd"] == 0.0
    assert days["2026-11-02"]["input_tokens"] == 1200 and days["2026-11-02"]["cache_read_tokens"] == 500
    assert days["2026-11-04"]["cache_write_tokens"] == 100 and days["2026-11-04"]["output_tokens"] == 300
    # Sonnet 4.5 $3/$15, cache read $0.30, 5m write $3.75; Haiku 4.5 $1/$5 (per MTok)
    sonnet_day1 = (1000 * 3 + 100 * 15 + 500 * 0.3) / 1e6
    assert days["2026-11-02"]["cost_usd"] == pytest.approx(sonnet_day1 + (200 * 1 + 20 * 5) / 1e6, rel=1e-12)
    assert {r["model"] for r in payload["rows"]} == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    text = run("summary", "--data", str(data), "--period", "day", "--by", "model").stdout
    assert "2026-11-03" in text and "cache read" in text and "claude-haiku-4-5" in text


def test_summary_by_several_dimensions_and_month(write: Any, tmp_path: Path) -> None:
    data = _days(write, tmp_path)
    payload = json.loads(
        run(
            "summary",
            "--data",
            str(data),
            "--period",
            "month",
            "--by",
            "feature,user",
            "--by",
            "tier",
            "--format",
            "json",
        ).stdout
    )
    assert payload["by"] == ["feature", "user", "tier"] and [p["period"] for p in payload["periods"]] == [
        "2026-11-01"
    ]
    cells = {(r["feature"], r["user"], r["tier"]): r["requests"] for r in payload["rows"]}
    assert cells == {
        ("chat", "(none)", "sonnet"): 1,
        ("chat", "u1", "sonnet"): 1,
        ("search", "(none)", "haiku"): 1,
    }
    res = run("summary", "--data", str(data), "--by", "colour")
    assert res.exit_code == 2 and "colour" in res.stderr


def test_summary_since_before_the_data_shows_the_empty_weeks(write: Any, tmp_path: Path) -> None:
    data = _days(write, tmp_path)
    start = date(2026, 10, 19)
    payload = json.loads(
        run(
            "summary", "--data", str(data), "--since", str(start), "--until", "2026-11-08", "--format", "json"
        ).stdout
    )
    weeks = [p["period"] for p in payload["periods"]]
    assert weeks == [str(start + timedelta(weeks=i)) for i in range(3)]
    assert [p["requests"] for p in payload["periods"]] == [0, 0, 3]


def test_re_ingesting_the_same_bad_line_quarantines_it_once_and_quiet_stays_silent(
    write: Any, tmp_path: Path
) -> None:
    path = write("q.jsonl", [f.logged(feature="chat"), "not json"])
    data = str(tmp_path / "data")
    first = run("ingest", str(path), "--data", data, "-q")
    assert "rejected            1" in first.stdout  # new: said, even under -q
    again = run("ingest", str(path), "--data", data, "-q")
    assert again.exit_code == 0 and again.stdout == ""  # nothing new: cron mails nothing
    loud = run("ingest", str(path), "--data", data, "--json")
    payload = json.loads(loud.stdout)
    assert payload["rejected"] == {"invalid JSON": 1} and payload["already_quarantined"] == 1
    rejects = json.loads(run("quarantine", "--data", data, "--format", "json").stdout)
    assert len(rejects) == 1  # once, however often the same logs are read
    assert run("ingest", str(path), "--data", data, "--strict").exit_code == 3  # the input is still bad


def test_a_subagent_call_is_stored_with_its_final_tokens_not_the_relayed_partial_copy(tmp_path: Path) -> None:
    """Claude Code 2.1 relays a subagent's streaming lines into its parent session as `progress`
    lines; the subagent's own transcript holds the final copy, and that is the one stored."""
    session = "5f74f3dd-5e57-45c0-9fe2-46e9e1b5f2c4"
    project = tmp_path / "claude" / "projects" / "-home-dev-app"
    (project / session / "subagents").mkdir(parents=True)
    final = f.cc_line(
        session=session,
        request_id="req_sub1",
        sidechain=True,
        id="msg_sub1",
        model="claude-haiku-4-5-20251001",
        input_tokens=100,
        output_tokens=500,
    )
    partial = json.loads(json.dumps(final))
    partial["message"]["usage"]["output_tokens"] = 7
    relayed = {
        "type": "progress",
        "isSidechain": False,
        "sessionId": session,
        "timestamp": final["timestamp"],
        "uuid": "uuid-relay",
        "data": {"message": {"type": "assistant", "requestId": "req_sub1", "message": partial["message"]}},
    }
    (project / f"{session}.jsonl").write_text(json.dumps(relayed) + "\n", encoding="utf-8")
    (project / session / "subagents" / "agent-a0b6df9.jsonl").write_text(
        json.dumps(final) + "\n", encoding="utf-8"
    )
    data = tmp_path / "data"
    res = run("ingest", str(tmp_path / "claude"), "--data", str(data), "--json")
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["rows_added"] == 1 and payload["duplicates_skipped"] == 1
    rows = pl.read_parquet(str(data / "requests" / "**" / "*.parquet"))
    assert rows["output_tokens"].to_list() == [500]


@pytest.mark.parametrize(
    "cmd",
    [["summary"], ["reconcile", "--logged"], ["replay", "--policy", "policies/opus-to-sonnet.toml"]],
    ids=lambda c: c[0],
)
def test_as_of_reads_the_data_before_that_day_like_until(cmd: list[str], sample_data: Path) -> None:
    from tests.conftest import REPO

    cmd = [str(REPO / c) if c.startswith("policies/") else c for c in cmd]
    data = ["--data", str(sample_data), "--format", "json"]
    as_of = json.loads(run(*cmd, *data, "--as-of", "2026-11-02").stdout)
    until = json.loads(run(*cmd, *data, "--until", "2026-11-01").stdout)
    for payload in (as_of, until):
        payload.pop("generated_at", None)  # when it ran, not what it found
    assert f.alike(as_of, until)
    both = run(*cmd, *data, "--as-of", "2026-11-02", "--until", "2026-10-20")
    assert both.exit_code == 2 and "not both" in both.stderr


def test_the_choices_the_command_line_spells_out_are_the_librarys() -> None:
    # kept as literals in the CLI so that --help does not import polars
    from tierlens import alerts, summary
    from tierlens.cli import app

    assert app.ALERT_FORMATS == alerts.ALERT_FORMATS
    assert tuple(summary.DIMENSIONS) == app.BY_CHOICES


def test_a_bad_argument_names_the_parameter_in_the_library_and_the_option_on_the_command_line(
    sample_data: Path, tmp_path: Path
) -> None:
    from tierlens.errors import ParameterError
    from tierlens.export import parse_accounts

    with pytest.raises(ParameterError) as caught:
        parse_accounts(["org_123"])
    assert str(caught.value) == "accounts wants ISSUER=ID (e.g. anthropic=org_123), got 'org_123'"
    res = CliRunner().invoke(
        main,
        [
            "export",
            "--data",
            str(sample_data),
            "--format",
            "focus",
            "-o",
            str(tmp_path / "f.csv"),
            "--account",
            "{x}",
        ],
    )
    assert res.exit_code == 2
    # the option's own spelling (`--account`, not the parameter's `accounts`); the value as given
    assert res.stderr.strip() == "Error: --account wants ISSUER=ID (e.g. anthropic=org_123), got '{x}'"


def test_alert_reports_every_error_as_unknown_with_the_monitoring_exit_code(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text("[[rule]]\nkind = 'budget'\n")  # no limit: a bad rule
    res = CliRunner().invoke(main, ["alert", "--rules", str(rules), "--data", str(tmp_path / "none")])
    assert res.exit_code == 3
    assert res.stderr.startswith("UNKNOWN: ") and "Traceback" not in res.stderr
