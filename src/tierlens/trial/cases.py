"""The requests a trial can send: logged request bodies, read from the raw log files on demand.

A `Case` is one logged request with its body in the format of the API it is sent to (`api`):
- `anthropic` (the Messages API): a gateway's `{"ts", "request_id", "feature", "request": {model,
  max_tokens, system, messages, tools, ...}, "response": {"type": "message", ...}}`; Bedrock's
  model-invocation logs of InvokeModel calls (the Anthropic body in `input.inputBodyJson`, the
  response in `output.outputBodyJson`, `anthropic_version` dropped); and of Converse calls, whose
  body is Bedrock's own format, translated block for block (`converse.py`);
- `openai` (Chat Completions, and every OpenAI-compatible endpoint): a gateway's `request` /
  `response` (`"object": "chat.completion"`) pair, LiteLLM's StandardLoggingPayload (`messages`,
  `model_parameters`, `response`) and SpendLogs rows that keep the request (`proxy_server_request`,
  or `messages`, with `response`).

A case holds its body in memory for the time of a trial; nothing of its text is ever written: the
trials table keeps lengths, counts and hashes.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierlens.sources.inputs import open_input
from tierlens.trial.answer import Answer, answer_of, openai_answer_of
from tierlens.trial.converse import converse_answer, converse_to_messages


@dataclass(frozen=True)
class Case:
    """One logged request with its body and the answer it got."""

    file: str
    line: int
    request_id: str
    feature: str | None
    model: str
    body: dict[str, Any]
    logged: Answer
    api: str = "anthropic"  # the API the body is written for: "anthropic" (Messages) or "openai" (Chat)

    @property
    def prompt_tokens(self) -> int:
        u = self.logged.usage
        return sum(
            int(u.get(k) or 0)
            for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        )

    @property
    def structured(self) -> bool:
        return self.logged.tool is not None

    @property
    def output_cap(self) -> int | None:
        """The most output tokens the body allows (None: it names no cap)."""
        for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            if isinstance(self.body.get(key), int):
                return int(self.body[key])
        return None

    @property
    def cached(self) -> bool:
        return int(self.logged.usage.get("cache_read_input_tokens") or 0) > 0


def _bedrock(rec: dict[str, Any], file: str, line: int) -> Case | None:
    """A Bedrock model-invocation log line: an InvokeModel call's Anthropic body, or a Converse
    call's body translated to the Messages API (other bodies are passed over)."""
    body = (rec.get("input") or {}).get("inputBodyJson")
    response = (rec.get("output") or {}).get("outputBodyJson")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    if not isinstance(response, dict):
        return None
    if str(rec.get("operation") or "").startswith("Converse"):
        sent, logged = converse_to_messages(body), converse_answer(response)
        if sent is None or logged is None:
            return None
    elif isinstance(response.get("content"), list):
        sent, logged = {k: v for k, v in body.items() if k != "anthropic_version"}, answer_of(response)
    else:
        return None
    feature = (rec.get("requestMetadata") or {}).get("feature")
    model, request_id = str(rec.get("modelId") or ""), str(rec.get("requestId") or "")
    if not model or not request_id:
        return None
    return Case(file, line, request_id, feature, model, sent, logged)


def _json(value: Any) -> Any:
    """A value LiteLLM may keep as a JSON string."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _openai_request(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The Chat Completions body of a line: a gateway's `request`, LiteLLM's `proxy_server_request`,
    or LiteLLM's `messages` with its `model_parameters`."""
    for key in ("request", "proxy_server_request"):
        body = _json(rec.get(key))
        if isinstance(body, dict) and isinstance(body.get("messages"), list) and body["messages"]:
            return body
    messages = _json(rec.get("messages"))
    if not isinstance(messages, list) or not messages:
        return None
    params = _json(rec.get("model_parameters"))
    return {"model": rec.get("model"), "messages": messages, **(params if isinstance(params, dict) else {})}


def _openai(rec: dict[str, Any], response: dict[str, Any], file: str, line: int) -> Case | None:
    body = _openai_request(rec)
    if body is None:
        return None
    meta = _json(rec.get("metadata"))
    request_id = str(
        rec.get("request_id")
        or (meta.get("request_id") if isinstance(meta, dict) else None)
        or response.get("id")
        or ""
    )
    model = str(body.get("model") or response.get("model") or "")
    if not request_id or not model:
        return None
    feature = rec.get("feature") or (meta.get("feature") if isinstance(meta, dict) else None)
    return Case(file, line, request_id, feature, model, body, openai_answer_of(response), "openai")


def _case(rec: Any, file: str, line: int) -> Case | None:
    if not isinstance(rec, dict):
        return None
    if rec.get("schemaType") == "ModelInvocationLog":
        return _bedrock(rec, file, line)
    response = _json(rec.get("response"))
    if isinstance(response, dict) and response.get("object") == "chat.completion":
        return _openai(rec, response, file, line)
    body = rec.get("request")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    if not isinstance(response, dict) or response.get("type") != "message":
        return None
    request_id = str(rec.get("request_id") or response.get("id") or "")
    model = str(body.get("model") or response.get("model") or "")
    if not request_id or not model:
        return None
    return Case(file, line, request_id, rec.get("feature"), model, body, answer_of(response))


def read_cases(paths: Sequence[str | Path], wanted: Collection[str] | None = None) -> Iterator[Case]:
    """Every logged request with its body in the JSON-lines files `paths` (gzipped or not), or only
    those whose request_id is in `wanted`; other lines are passed over."""
    for path in paths:
        with open_input(path) as fh:
            for n, raw in enumerate(fh, start=1):
                if wanted is not None and not any(w.encode() in raw for w in _probe(wanted)):
                    continue
                try:
                    case = _case(json.loads(raw), str(path), n)
                except ValueError:
                    continue
                if case is not None and (wanted is None or case.request_id in wanted):
                    yield case


def _probe(wanted: Collection[str]) -> Collection[str]:
    """A cheap pre-filter for few wanted ids (a substring test before parsing the line)."""
    return wanted if len(wanted) <= 64 else ("",)
