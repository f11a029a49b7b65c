"""The requests a trial can send: logged request bodies, read from the raw log files on demand.

Gateway logs often keep the request beside the response (`{"ts", "request_id", "feature",
"request": {model, max_tokens, system, messages, tools, ...}, "response": {...}}`), and Bedrock's
model-invocation logs keep an InvokeModel call's Anthropic body (`input.inputBodyJson`) beside
its response (`output.outputBodyJson`). A `Case` holds
one such body in memory for the time of a trial; nothing of its text is ever written: the trials
table keeps lengths, counts and hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierlens.sources.base import open_input


@dataclass(frozen=True)
class Answer:
    """What a model answered, as far as a comparison needs it (in memory only)."""

    output_tokens: int
    stop_reason: str | None
    tool: tuple[str, dict[str, Any]] | None  # the first tool_use block: name and input
    text: str
    usage: dict[str, Any]

    @property
    def digest(self) -> str:
        """sha256 of the answer (tool call or text): what the trials table keeps of it."""
        body = json.dumps(self.tool, sort_keys=True) if self.tool else self.text
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    @property
    def chars(self) -> int:
        return len(json.dumps(self.tool[1], sort_keys=True)) if self.tool else len(self.text)


def answer_of(response: dict[str, Any]) -> Answer:
    """An Answer from a Messages API response body."""
    blocks = response.get("content") or []
    tool = next(
        ((str(b.get("name")), dict(b.get("input") or {})) for b in blocks if b.get("type") == "tool_use"),
        None,
    )
    text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
    usage = dict(response.get("usage") or {})
    return Answer(int(usage.get("output_tokens") or 0), response.get("stop_reason"), tool, text, usage)


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
    def cached(self) -> bool:
        return int(self.logged.usage.get("cache_read_input_tokens") or 0) > 0


def _bedrock(rec: dict[str, Any], file: str, line: int) -> Case | None:
    """A Bedrock model-invocation log line of an InvokeModel call to Claude: the Anthropic body in
    `input.inputBodyJson`, the response in `output.outputBodyJson` (Converse calls log another
    shape, and are passed over)."""
    body = (rec.get("input") or {}).get("inputBodyJson")
    response = (rec.get("output") or {}).get("outputBodyJson")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    if not isinstance(response, dict) or not isinstance(response.get("content"), list):
        return None
    sent = {k: v for k, v in body.items() if k != "anthropic_version"}
    feature = (rec.get("requestMetadata") or {}).get("feature")
    model, request_id = str(rec.get("modelId") or ""), str(rec.get("requestId") or "")
    if not model or not request_id:
        return None
    return Case(file, line, request_id, feature, model, sent, answer_of(response))


def _case(rec: Any, file: str, line: int) -> Case | None:
    if not isinstance(rec, dict):
        return None
    if rec.get("schemaType") == "ModelInvocationLog":
        return _bedrock(rec, file, line)
    body, response = rec.get("request"), rec.get("response")
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
