"""`tierlens trial` against a local fake Messages API: sampling, the budget, retries, secrets,
agreement, and the replay calibrating from what the trial measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

import tierlens
from tests.fake_messages import Behaviour, fake_messages_api
from tests.paths import REPO
from tierlens.cli import main
from tierlens.config import Settings
from tierlens.ingest import ingest
from tierlens.store import Store
from tierlens.trial import stored_trials
from tierlens.trial.cases import Answer, Case, answer_of, read_cases
from tierlens.trial.run import agreement
from tierlens.trial.sample import representative

POLICY = REPO / "policies" / "short-structured-to-haiku.toml"
SECRET = "sk-ant-api03-trial-test-secret-do-not-print"
LABELS = ("billing", "bug", "account", "refund")


def _ticket(i: int) -> dict[str, Any]:
    expected, label = 10 + (i * 7) % 50, LABELS[i % len(LABELS)]
    text = f"ticket {i}: please help with my order [label {label}] [expect {expected}]"
    tools = [{"name": "classify", "description": "label a ticket", "input_schema": {"type": "object"}}]
    return {
        "ts": f"2026-11-{1 + i % 14:02d}T10:{i % 60:02d}:00Z",
        "request_id": f"req_t{i:04d}",
        "feature": "tickets",
        "latency_ms": 800.0,
        "request": {"model": "claude-opus-4-6", "max_tokens": 120, "tools": tools,
                    "messages": [{"role": "user", "content": text}]},
        "response": {"id": f"msg_t{i:04d}", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
                     "content": [{"type": "tool_use", "id": f"toolu_{i}", "name": "classify", "input": {"label": label}}],
                     "stop_reason": "tool_use", "stop_sequence": None,
                     "usage": {"input_tokens": 400 + i % 300, "output_tokens": expected, "cache_read_input_tokens": 0,
                               "cache_creation_input_tokens": 0}},
    }  # fmt: skip


def _essay(i: int) -> dict[str, Any]:
    rec = _ticket(i)
    rec |= {"request_id": f"req_e{i:04d}", "feature": "essays"}
    rec["request"] = {"model": "claude-opus-4-6", "max_tokens": 2000,
                      "messages": [{"role": "user", "content": f"an essay [expect 900] {i}"}]}  # fmt: skip
    rec["response"] = rec["response"] | {
        "id": f"msg_e{i:04d}",
        "content": [{"type": "text", "text": "long " * 900}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 300, "output_tokens": 900},
    }
    return rec


@pytest.fixture
def bodies(tmp_path: Path) -> tuple[Path, Path]:
    logs = tmp_path / "gateway" / "requests.jsonl"
    logs.parent.mkdir()
    logs.write_text(
        "".join(json.dumps(r) + "\n" for r in [*map(_ticket, range(200)), *map(_essay, range(20))])
    )
    data = tmp_path / "data"
    ingest([logs], Settings(data_dir=data))
    return logs.parent, data


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    behaviour = Behaviour(ratio=0.8, disagree_every=5)
    with fake_messages_api(behaviour) as url:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
        yield behaviour


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["trial", "--policy", str(POLICY), *args])


def test_a_dry_run_sends_nothing_and_plans_a_deterministic_sample(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    logs, data = bodies
    first = _cli("--logs", str(logs), "--data", str(data), "--sample", "30", "--dry-run", "--format", "json")
    again = _cli("--logs", str(logs), "--data", str(data), "--sample", "30", "--dry-run", "--format", "json")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.output)
    assert doc["planned"] == 30 and doc["dry_run"] and first.output == again.output
    assert doc["estimated_max_usd"] > 0 and fake.seen == [] and not (data / "trials").exists()
    assert "moves 200 request(s); the logs hold the bodies of 200" in doc["notes"][0]  # essays stay on Opus


def test_a_trial_measures_the_ratio_and_agreement_the_server_produces(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    logs, data = bodies
    res = _cli("--logs", str(logs), "--data", str(data), "--sample", "50", "--format", "json")
    assert res.exit_code == 0, res.output
    [feature] = json.loads(res.output)["features"]
    assert (feature["feature"], feature["target"], feature["requests"]) == ("tickets", "claude-haiku-4-5", 50)
    sent = {b["messages"][0]["content"] for b in fake.seen}
    trials = stored_trials(data)
    # the fake answers round(0.8 x expected) tokens: the paired ratio of the sums
    expected = sum(int(t.split("[expect ")[1].rstrip("]")) for t in sent)
    produced = sum(max(1, round(int(t.split("[expect ")[1].rstrip("]")) * 0.8)) for t in sent)
    assert feature["output_ratio"]["p50"] == pytest.approx(produced / expected)
    assert feature["output_ratio"]["p10"] < 0.8 < feature["output_ratio"]["p90"]
    assert feature["agreement"] == pytest.approx(0.8)  # every fifth answer names another label
    latency = feature["latency_ms"]
    assert latency["logged_p50"] == 800.0 and latency["change_pct"] == pytest.approx(
        100 * (latency["p50"] / 800 - 1)
    )
    assert trials.height == 50 and trials["cost_usd"].sum() == pytest.approx(feature["spent_usd"])
    assert all(b["model"] == "claude-haiku-4-5" and "stream" not in b for b in fake.seen)
    replay = tierlens.Workspace(data).replay([POLICY], draws=200)
    [cal] = replay.policies[0].calibrations  # type: ignore[union-attr]
    assert cal.origin == "trial" and cal.basis == "calibrated from 50 trial requests"
    low, high = cal.dist().ppf(0.1), cal.dist().ppf(0.9)
    assert low < 0.8 < high  # the fake's true ratio
    from tierlens.replay.render import render

    assert "calibrated from 50 trial requests" in render(replay, "table")
    row = replay.policies[0].rows.filter(pl.col("feature") == "tickets").row(0, named=True)  # type: ignore[union-attr]
    assert (row["quality_evidence"], row["quality_grade"]) == (
        "observed on both models",
        "medium",
    )  # 80% agreed
    assert "a trial of 50 requests on claude-haiku-4-5 agreed 80%" in row["quality_detail"]


def test_a_trials_agreement_sets_the_confidence_of_the_downgrade_it_tried(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    logs, data = bodies
    settings = Settings(data_dir=data, signals={"min_monthly_usd": 0.0})  # a small test feature
    ws = tierlens.Workspace(settings=settings)
    [before] = [x for x in ws.flags().findings if x.kind == "top_tier_structured"]
    fake.disagree_every = 20  # 95% agreement
    assert _cli("--logs", str(logs), "--data", str(data), "--sample", "40").exit_code == 0
    [after] = [
        x for x in tierlens.Workspace(settings=settings).flags().findings if x.kind == "top_tier_structured"
    ]
    assert before.confidence != "high" or "trial" not in before.evidence
    assert after.confidence == "high" and after.data["trial"] == {
        "requests": 40,
        "agreement": pytest.approx(0.95),
    }
    assert "a trial of 40 requests on claude-haiku-4-5 agreed 95%" in after.evidence


def test_the_budget_is_never_passed(bodies: tuple[Path, Path], fake: Behaviour) -> None:
    logs, data = bodies
    res = _cli(
        "--logs", str(logs), "--data", str(data), "--sample", "100", "--max-usd", "0.02", "--format", "json"
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    spent = stored_trials(data)["cost_usd"].sum()
    assert 0 < spent <= 0.02 and doc["not_sent_for_budget"] > 0
    assert len(fake.seen) == stored_trials(data).height == 100 - doc["not_sent_for_budget"]


def test_rate_limits_are_retried_and_the_key_is_never_printed_or_stored(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    logs, data = bodies
    fake.rate_limited = 3
    res = _cli("--logs", str(logs), "--data", str(data), "--sample", "10", "--concurrency", "2")
    assert res.exit_code == 0, res.output
    assert stored_trials(data)["error"].null_count() == 10 and len(fake.headers) == 13
    assert all(
        SECRET in (h.get("x-api-key", ""), h.get("authorization", "")[7:]) for h in fake.headers
    )  # used...
    stored = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert SECRET not in res.output and SECRET.encode() not in stored  # ...and never shown nor kept
    assert [line.split()[:3] for line in res.output.splitlines() if line.startswith("tickets")] == [
        ["tickets", "claude-haiku-4-5", "10"]
    ]  # the table: feature, target, tried
    assert b"please help with my order" not in stored  # no text either


def test_the_markdown_summary_has_one_row_per_feature(bodies: tuple[Path, Path], fake: Behaviour) -> None:
    logs, data = bodies
    res = _cli("--logs", str(logs), "--data", str(data), "--sample", "5", "--format", "markdown")
    assert res.exit_code == 0, res.output
    assert (
        "| feature | target | tried |" in res.output
        and "| tickets | claude-haiku-4-5 | 5 | 0 |" in res.output
    )


def test_a_trial_of_logs_without_request_bodies_says_so(tmp_path: Path, write: Any) -> None:
    from tests import factories as f

    logs = write(
        "plain.jsonl", [f.logged(model="claude-opus-4-6", tool=True, output_tokens=20) for _ in range(5)]
    )
    ingest([logs], Settings(data_dir=tmp_path / "data"))
    res = _cli("--logs", str(logs), "--data", str(tmp_path / "data"), "--dry-run")
    assert res.exit_code != 0 and "request body" in res.output and "Traceback" not in res.output


def _case(i: int, prompt: int, tool: bool, cached: bool) -> Case:
    usage = {"input_tokens": prompt, "output_tokens": 10, "cache_read_input_tokens": 100 if cached else 0}
    answer = Answer(10, "tool_use" if tool else "end_turn", ("t", {}) if tool else None, "", usage)
    return Case("f", i, f"r{i}", "x", "claude-opus-4-6", {"messages": []}, answer)


def test_the_sample_keeps_every_stratum_in_proportion_and_depends_only_on_the_seed() -> None:
    cases = [_case(i, 100 + i, tool=i % 4 != 0, cached=i % 10 == 0) for i in range(400)]
    picked = representative(cases, 40, seed=1)
    assert len(picked) == 40 and picked == representative(list(reversed(cases)), 40, seed=1)
    assert picked != representative(cases, 40, seed=2)
    assert sum(not c.structured for c in picked) == pytest.approx(10, abs=2)  # a quarter are text answers
    assert any(c.cached for c in picked) and {c.prompt_tokens > 300 for c in picked} == {True, False}


def test_agreement_on_tool_calls_is_per_field_and_on_text_a_word_sequence_ratio() -> None:
    logged = Answer(5, "tool_use", ("classify", {"label": "bug", "urgent": True}), "", {})
    assert agreement(
        logged, Answer(5, "tool_use", ("classify", {"label": "bug", "urgent": True}), "", {})
    ) == (1.0, True)
    assert agreement(
        logged, Answer(5, "tool_use", ("classify", {"label": "bug", "urgent": False}), "", {})
    ) == (0.5, False)
    assert agreement(logged, Answer(5, "end_turn", None, "bug", {})) == (0.0, False)
    text = Answer(4, "end_turn", None, "the cat sat down", {})
    assert agreement(text, Answer(4, "end_turn", None, "the cat sat down", {}))[0] == 1.0
    assert agreement(text, Answer(2, "end_turn", None, "the cat", {}))[0] == pytest.approx(2 * 2 / 6)


REALWORLD = REPO / "tests" / "fixtures" / "realworld" / "trial" / "messages_with_requests.jsonl"


@pytest.mark.skipif(not REALWORLD.exists(), reason="no recorded exchanges")
def test_recorded_exchanges_read_as_cases_with_their_answers() -> None:
    cases = list(read_cases([REALWORLD]))
    raw = [json.loads(x) for x in REALWORLD.read_text().splitlines() if x.strip()]
    assert len(cases) == len(raw)
    for case, rec in zip(cases, raw, strict=True):
        assert case.model == rec["request"]["model"] and case.body == rec["request"]
        assert case.logged.output_tokens == rec["response"]["usage"]["output_tokens"]
        tools = [b for b in rec["response"]["content"] if b["type"] == "tool_use"]
        assert (case.logged.tool is not None) == bool(tools)
        assert answer_of(rec["response"]).digest == case.logged.digest
    assert pl.Series([c.structured for c in cases]).any()


@pytest.mark.slow
def test_a_killed_trial_keeps_what_came_back_and_its_rerun_sends_only_the_rest(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    logs, data = bodies
    fake.delay_s = 0.05
    cmd = [sys.executable, "-m", "tierlens", "trial", "--policy", str(POLICY), "--logs", str(logs),
           "--data", str(data), "--sample", "40", "--concurrency", "2"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(fake.seen) < 15 and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    Store(data).settle()  # a commit the kill interrupted after its journal is a commit
    kept = stored_trials(data)
    assert 10 <= kept.height < 40 and kept["request_id"].n_unique() == kept.height
    answered_before = len(fake.seen)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert again.returncode == 0, again.stderr
    final = stored_trials(data)
    assert final.height == 40 and final["request_id"].n_unique() == 40  # nothing twice, nothing missing
    resent = len(fake.seen) - answered_before
    assert resent == 40 - kept.height  # only the requests no stored answer covers
    # lost: answers not yet committed at the kill, a request in flight per worker and at most one
    # answer per worker waiting for the commit before it (--concurrency 2)
    assert answered_before - kept.height <= 2 * 2
    assert f"{kept.height} of the sample were answered in an earlier trial" in again.stdout


def _invocation(i: int) -> dict[str, Any]:
    """A Bedrock model-invocation log line of an InvokeModel call to Claude, in the documented shape."""
    ticket = _ticket(i)
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        **{k: v for k, v in ticket["request"].items() if k != "model"},
    }
    usage = ticket["response"]["usage"]
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": ticket["ts"],
        "accountId": "111122223333",
        "region": "us-east-1",
        "requestId": f"bedrock-{i:04d}",
        "operation": "InvokeModel",
        "modelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "input": {"inputContentType": "application/json", "inputBodyJson": body,
                  "inputTokenCount": usage["input_tokens"]},
        "output": {"outputContentType": "application/json", "outputBodyJson": ticket["response"],
                   "outputTokenCount": usage["output_tokens"]},
        "requestMetadata": {"feature": "tickets"},
    }  # fmt: skip


def test_bedrock_invocation_logs_carry_the_bodies_a_trial_sends(tmp_path: Path, fake: Behaviour) -> None:
    logs = tmp_path / "bedrock" / "invocations.jsonl"
    logs.parent.mkdir()
    logs.write_text("".join(json.dumps(_invocation(i)) + "\n" for i in range(30)))
    data = tmp_path / "data"
    ingest([logs], Settings(data_dir=data))
    policy = tmp_path / "tickets-to-haiku.toml"
    policy.write_text('[[rules]]\nwhen = "feature = \'tickets\'"\nroute_to = "claude-haiku-4-5"\n')
    res = CliRunner().invoke(
        main, ["trial", "--policy", str(policy), "--logs", str(logs.parent), "--data", str(data),
               "--sample", "8", "--format", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    [feature] = json.loads(res.output)["features"]
    assert (feature["requests"], feature["target"]) == (8, "claude-haiku-4-5")
    assert all("anthropic_version" not in b and b["model"] == "claude-haiku-4-5" for b in fake.seen)
    assert stored_trials(data)["source_model"].unique().to_list() == ["claude-sonnet-4-5"]


def test_a_refused_or_missing_key_stops_the_trial_with_a_message(
    bodies: tuple[Path, Path], fake: Behaviour, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs, data = bodies
    fake.refuse_key = True
    refused = _cli("--logs", str(logs), "--data", str(data), "--sample", "20")
    assert refused.exit_code == 2 and "refused the key in ANTHROPIC_API_KEY (401)" in refused.output
    assert SECRET not in refused.output and "Traceback" not in refused.output
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    missing = _cli("--logs", str(logs), "--data", str(data), "--sample", "20")
    assert missing.exit_code == 2 and "needs ANTHROPIC_API_KEY" in missing.output


M = 1e-6  # per-token rate of a $/MTok price


def test_a_judge_grades_each_answer_and_its_cost_counts_in_the_spend(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    logs, data = bodies
    args = ("--logs", str(logs), "--data", str(data), "--sample", "25", "--format", "json")
    res = _cli(*args, "--judge", "claude-opus-4-6")
    assert res.exit_code == 0, res.output
    [feature] = json.loads(res.output)["features"]
    assert len(fake.judged) == len(fake.seen) == 25
    # the fake judge gives 5 to an answer equal to the logged one, else 2; every fifth disagrees
    assert feature["judge"] == {"model": "claude-opus-4-6", "requests": 25, "score": pytest.approx(4.4)}
    trials = stored_trials(data)
    assert sorted(trials["judge_score"].to_list()) == [2] * 5 + [5] * 20
    # Opus 4.6: $5 in, $25 out; the fake judge's usage is known from what it was shown
    judge_cost = sum((len(b["messages"][-1]["content"]) // 4) * 5 * M + 3 * 25 * M for b in fake.judged)
    assert trials["judge_cost_usd"].sum() == pytest.approx(judge_cost)
    assert feature["spent_usd"] == pytest.approx(trials["cost_usd"].sum() + judge_cost)
    shown = fake.judged[0]["messages"][0]["content"]
    assert "<reference>" in shown and "classify" in shown and fake.judged[0]["system"].startswith("You grade")
    replay = tierlens.Workspace(data).replay([POLICY], draws=100)
    row = replay.policies[0].rows.filter(pl.col("feature") == "tickets").row(0, named=True)  # type: ignore[union-attr]
    assert "claude-opus-4-6 judged 80% of 25 as good as the logged answer" in row["quality_detail"]


def test_a_judges_requests_never_pass_the_budget_either(bodies: tuple[Path, Path], fake: Behaviour) -> None:
    logs, data = bodies
    res = _cli(
        "--logs", str(logs), "--data", str(data), "--sample", "100", "--max-usd", "0.03",
        "--judge", "claude-opus-4-6", "--format", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    trials = stored_trials(data)
    spent = trials["cost_usd"].sum() + trials["judge_cost_usd"].sum()
    assert 0 < spent <= 0.03 and json.loads(res.output)["not_sent_for_budget"] > 0
    unjudged = trials.filter(pl.col("judge_score").is_null())
    assert set(unjudged["judge_note"].to_list()) <= {"not judged: its worst case would pass the budget"}


def test_a_judge_without_a_price_is_refused_before_anything_is_sent(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    logs, data = bodies
    res = _cli("--logs", str(logs), "--data", str(data), "--judge", "my-own-judge-7b")
    assert res.exit_code == 2 and "the judge model my-own-judge-7b has no price" in res.output
    assert fake.seen == [] and fake.judged == []


def test_a_dry_run_with_a_judge_counts_the_judges_worst_case(
    bodies: tuple[Path, Path], fake: Behaviour
) -> None:
    logs, data = bodies
    args = ("--logs", str(logs), "--data", str(data), "--sample", "10", "--dry-run", "--format", "json")
    alone = json.loads(_cli(*args).output)["estimated_max_usd"]
    judged = json.loads(_cli(*args, "--judge", "claude-opus-4-6").output)["estimated_max_usd"]
    assert judged > alone and fake.judged == []


def test_a_judges_grades_weigh_the_move_once_it_judged_enough() -> None:
    from tierlens.trial.result import MIN_JUDGED, Agreement

    few = Agreement("f", "a", "b", 40, 0.95, "judge", MIN_JUDGED - 1, 0.5)
    enough = Agreement("f", "a", "b", 40, 0.95, "judge", MIN_JUDGED, 0.5)
    assert (few.level, enough.level) == (0.95, 0.5)
    assert Agreement("f", "a", "b", 40, 0.6).level == 0.6
