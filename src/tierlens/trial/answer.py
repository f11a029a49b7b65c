"""What a model answered, as far as a trial's comparison needs it (in memory only), read from a
Messages API or a Chat Completions response body; its usage is kept in the Messages API's names."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


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


def _arguments(raw: Any) -> dict[str, Any]:
    """A function call's arguments: a JSON object in a string (kept whole under `_raw` when it is not one)."""
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"_raw": raw}


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return str(content or "")


def openai_answer_of(response: dict[str, Any]) -> Answer:
    """An Answer from a Chat Completions response body. Its usage is kept in the Messages API's
    names, as the OpenAI reader maps it: `prompt_tokens` less the cached ones are `input_tokens`,
    `prompt_tokens_details.cached_tokens` are cache reads, `completion_tokens` (reasoning
    included) are `output_tokens`."""
    choice = (response.get("choices") or [{}])[0] or {}
    message = choice.get("message") or {}
    call = next(iter(message.get("tool_calls") or []), None) or {}
    function = call.get("function") or message.get("function_call")
    tool = (str(function.get("name")), _arguments(function.get("arguments"))) if function else None
    raw = response.get("usage") or {}
    cached = int((raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    usage = {
        "input_tokens": int(raw.get("prompt_tokens") or 0) - cached,
        "cache_read_input_tokens": cached,
        "output_tokens": int(raw.get("completion_tokens") or 0),
    }
    stop = choice.get("finish_reason")
    return Answer(usage["output_tokens"], stop, tool, _content_text(message.get("content")), usage)


ANSWERS = {"anthropic": answer_of, "openai": openai_answer_of}
