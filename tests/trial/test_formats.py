"""The request bodies a trial reads besides the Messages API's, on real recorded samples
(tests/fixtures/realworld/trial/ORIGIN.md): Chat Completions pairs, LiteLLM's logging payload,
Bedrock Converse invocation logs and Converse calls; then a trial of each through the fake APIs.

Expected costs are computed here from the published per-million-token rates, not by the pricer."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.fake_messages import Behaviour, fake_messages_api
from tests.paths import REPO
from tierlens.cli import main
from tierlens.config import Settings
from tierlens.ingest import ingest
from tierlens.pricing import PriceTable
from tierlens.trial import stored_trials
from tierlens.trial.cases import read_cases
from tierlens.trial.converse import converse_answer, converse_to_messages
from tierlens.trial.run import price

SAMPLES = REPO / "tests" / "fixtures" / "realworld" / "trial"
LITELLM = REPO / "tests" / "realworld" / "litellm" / "standard_logging_payload_gpt-4o_stream.json"
SECRET = "sk-proj-trial-test-secret-do-not-print"
M = 1e-6  # per-token rate of a $/MTok price


def _lines(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "logs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_chat_completions_pairs_read_as_cases_of_the_openai_api(tmp_path: Path) -> None:
    cases = list(read_cases([SAMPLES / "openai_chat_with_requests.jsonl"]))
    assert [c.api for c in cases] == ["openai"] * 3
    tool, text, reasoning = cases
    assert tool.logged.tool == ("get_user_country", {}) and tool.logged.stop_reason == "tool_calls"
    assert text.logged.text == "The capital of France is Paris." and text.logged.tool is None
    assert (
        tool.body["tool_choice"] == "required" and tool.request_id == "chatcmpl-D3aUtEhMCiguYuWihRuozlPfUWEdi"
    )
    assert reasoning.logged.output_tokens == 809  # reasoning tokens are output tokens
    table = PriceTable.load()
    # gpt-4o: $2.50 in, $10 out; o3-mini: $1.10 in, $4.40 out (openai.com/api/pricing)
    assert price(table, "gpt-4o", tool.logged.usage) == pytest.approx(68 * 2.5 * M + 11 * 10 * M)
    assert price(table, "o3-mini", reasoning.logged.usage) == pytest.approx(11 * 1.1 * M + 809 * 4.4 * M)


def test_litellms_logging_payload_carries_a_chat_completions_body() -> None:
    record = json.loads(LITELLM.read_text())
    [case] = list(_cases_of(record))
    assert (case.api, case.model, case.request_id) == ("openai", "gpt-4o", record["response"]["id"])
    assert case.body["messages"] == [{"role": "user", "content": "Hello, world!"}]
    assert (case.logged.text, case.logged.usage["input_tokens"], case.logged.output_tokens) == ("hi", 10, 20)


def _cases_of(record: dict[str, Any]) -> Any:
    from tierlens.trial.cases import _case

    case = _case(record, "payload.json", 1)
    return [case] if case is not None else []


def test_converse_calls_translate_block_for_block() -> None:
    body = json.loads(
        (
            SAMPLES / "converse" / "bedrock_converse_cassette_claude_sonnet45_cache_write_request.json"
        ).read_text()
    )
    sent = converse_to_messages(body)
    assert sent is not None
    [user] = sent["messages"]
    types = [(b["type"], "cache_control" in b) for b in user["content"]]
    assert types == [("text", False), ("document", False), ("text", True), ("text", True)]
    document = body["messages"][0]["content"][1]["document"]
    assert user["content"][1]["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": base64.b64decode(document["source"]["bytes"]).decode(),
    }
    assert user["content"][1]["title"] == document["name"]
    assert [b["text"] for b in sent["system"]] == [body["system"][0]["text"]] and "cache_control" in sent[
        "system"
    ][0]
    assert [t["name"] for t in sent["tools"]] == ["catalog_lookup", "diagnostics"]
    assert "cache_control" in sent["tools"][-1] and sent["tool_choice"] == {"type": "auto"}
    assert sent["max_tokens"] == 4096  # inferenceConfig names none; the Messages API requires one
    tools = json.loads(
        (SAMPLES / "converse" / "bedrock_converse_cassette_claude37_tool_use_request.json").read_text()
    )
    thinking = converse_to_messages(tools)
    assert thinking is not None and thinking["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "system" not in thinking and thinking["tools"][0]["input_schema"]["type"] == "object"


def test_converse_answers_keep_their_usage_and_tool_call() -> None:
    read = json.loads(
        (SAMPLES / "converse" / "bedrock_converse_cassette_claude37_tool_use_response.json").read_text()
    )
    answer = converse_answer(read)
    assert answer is not None and answer.tool is not None and answer.tool[0] == "get_user_country"
    assert (answer.stop_reason, answer.usage["input_tokens"], answer.output_tokens) == ("tool_use", 397, 130)
    write = converse_answer(
        json.loads(
            (
                SAMPLES / "converse" / "bedrock_converse_cassette_claude_sonnet45_cache_write_response.json"
            ).read_text()
        )
    )
    assert write is not None and write.text == "21"
    # Sonnet 4.5: $3 in, $3.75 for a 5-minute cache write, $15 out (platform.claude.com pricing)
    cost = price(PriceTable.load(), "claude-sonnet-4-5", write.usage)
    assert cost == pytest.approx(2 * 3 * M + 1322 * 3.75 * M + 5 * 15 * M)


def test_converse_invocation_logs_read_as_messages_cases_and_a_guardrail_block_is_passed_over() -> None:
    cases = list(read_cases([SAMPLES / "bedrock_converse_invocations.jsonl"]))
    # line 2 holds a guardContent block, which the Messages API has no counterpart for
    assert [c.line for c in cases] == [1, 3] and {c.api for c in cases} == {"anthropic"}
    text, stream = cases
    assert text.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "\nTEsting the model\n    "}]}
    ]
    assert (text.body["max_tokens"], text.body["top_p"], text.body["top_k"]) == (4096, 0.999, 250)
    assert "stop_sequences" not in text.body  # an empty list is no stop sequence
    assert [m["role"] for m in stream.body["messages"]] == ["user", "assistant", "user"]
    assert (stream.logged.usage["input_tokens"], stream.logged.output_tokens) == (62, 36)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    behaviour = Behaviour(ratio=0.5, disagree_every=4)
    with fake_messages_api(behaviour) as url:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-unused")
        monkeypatch.setenv("OPENAI_BASE_URL", f"{url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        yield behaviour


def _ticket(i: int) -> dict[str, Any]:
    expected, label = 10 + (i * 7) % 50, ("billing", "bug", "refund")[i % 3]
    text = f"ticket {i} [label {label}] [expect {expected}]"
    tools = [{"type": "function", "function": {"name": "classify", "parameters": {"type": "object"}}}]
    call = {
        "id": f"call_{i}",
        "type": "function",
        "function": {"name": "classify", "arguments": json.dumps({"label": label})},
    }
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": text}],
        "tools": tools,
    }
    if i % 2:
        body["max_completion_tokens"] = 200
    return {
        "ts": f"2026-11-{1 + i % 20:02d}T09:00:00Z",
        "request_id": f"req_oa{i:03d}",
        "feature": "tickets",
        "request": body,
        "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1764000000, "model": "gpt-4o",
                     "choices": [{"index": 0, "finish_reason": "tool_calls",
                                  "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
                     "usage": {"prompt_tokens": 300, "completion_tokens": expected, "total_tokens": 300 + expected}},
    }  # fmt: skip


def _trial(logs: Path, data: Path, policy: Path, *extra: str) -> Any:
    args = ["trial", "--policy", str(policy), "--logs", str(logs), "--data", str(data), "--format", "json"]
    return CliRunner().invoke(main, [*args, *extra])


def test_a_trial_of_chat_completions_bodies_goes_through_the_openai_sdk(
    tmp_path: Path, fake: Behaviour
) -> None:
    logs = _lines(tmp_path, "chat.jsonl", [_ticket(i) for i in range(40)])
    data = tmp_path / "data"
    ingest([logs], Settings(data_dir=data))
    policy = tmp_path / "mini.toml"
    policy.write_text('[[rules]]\nwhen = "feature = \'tickets\'"\nroute_to = "gpt-4o-mini"\n')
    res = _trial(logs.parent, data, policy, "--sample", "24")
    assert res.exit_code == 0, res.output
    [feature] = json.loads(res.output)["features"]
    assert (feature["target"], feature["requests"]) == ("gpt-4o-mini", 24)
    assert set(fake.paths) == {"/v1/chat/completions"} and len(fake.seen) == 24
    assert all(
        b["model"] == "gpt-4o-mini" and b["tools"][0]["function"]["name"] == "classify" for b in fake.seen
    )
    # a body that named no output cap was sent with one, so its worst case bounded the budget
    assert {b.get("max_completion_tokens") for b in fake.seen} == {200, 16_384}
    assert any("name no output cap" in n for n in json.loads(res.output)["notes"])
    # the fake answered every fourth request with another label
    assert feature["agreement"] == pytest.approx(18 / 24)
    # gpt-4o-mini: $0.15 in, $0.60 out; the fake's usage is known from what was sent
    expected = 0.0
    for b in fake.seen:
        text = b["messages"][-1]["content"]
        out = max(1, round(int(text.split("[expect ")[1].rstrip("]")) * 0.5))
        expected += (len(text) // 4 + 10) * 0.15 * M + out * 0.60 * M
    assert feature["spent_usd"] == pytest.approx(expected)
    assert SECRET not in res.output and not any(SECRET in str(v) for v in stored_trials(data).row(0))


def test_a_trial_of_chat_completions_bodies_without_an_openai_key_says_which(
    tmp_path: Path, fake: Behaviour, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = _lines(tmp_path, "chat.jsonl", [_ticket(i) for i in range(10)])
    data = tmp_path / "data"
    ingest([logs], Settings(data_dir=data))
    policy = tmp_path / "mini.toml"
    policy.write_text('[[rules]]\nwhen = "feature = \'tickets\'"\nroute_to = "gpt-4o-mini"\n')
    monkeypatch.delenv("OPENAI_API_KEY")
    res = _trial(logs.parent, data, policy)
    assert res.exit_code == 2 and "needs OPENAI_API_KEY" in res.output and "Traceback" not in res.output
    assert fake.seen == []


def test_a_trial_of_converse_invocation_logs_sends_the_translated_body(
    tmp_path: Path, fake: Behaviour
) -> None:
    logs = tmp_path / "logs" / "invocations.jsonl"
    logs.parent.mkdir()
    logs.write_bytes((SAMPLES / "bedrock_converse_invocations.jsonl").read_bytes())
    data = tmp_path / "data"
    ingest([logs], Settings(data_dir=data))
    policy = tmp_path / "sonnet-to-haiku.toml"
    policy.write_text('[[rules]]\nwhen = "tier = \'sonnet\'"\nroute_to = "claude-haiku-4-5"\n')
    res = _trial(logs.parent, data, policy)
    assert res.exit_code == 0, res.output
    # the two Claude 3.5 Sonnet calls are moved; the guardrail one has no Messages body to send
    assert "moves 2 request(s); the logs hold the bodies of 1" in json.loads(res.output)["notes"][0]
    [sent] = fake.seen
    original = json.loads(logs.read_text().splitlines()[0])["input"]["inputBodyJson"]
    assert sent["messages"][0]["content"][0]["text"] == original["messages"][0]["content"][0]["text"]
    assert (sent["model"], sent["max_tokens"], sent["top_k"]) == ("claude-haiku-4-5", 4096, 250)
    assert set(fake.paths) == {"/v1/messages"}
