"""A judge model grading a trial's answer against the logged one (`tierlens trial --judge MODEL`).

Word similarity says little about free text: two good answers can share few words. A judge reads
the request, the logged answer (the reference, accepted in production) and the trial's answer (the
candidate), and grades the candidate against `RUBRIC` on a 1..5 scale, replying `score: N`. The
judge is sent through the SDK of its provider's API (`anthropic` for Anthropic models, the
OpenAI-compatible `openai` for the others) and priced by tierlens like the trial's own requests.

What the judge is shown is bounded: the request's text (system prompt, messages, tool calls and
results as JSON) keeps its last `MAX_CHARS` characters, and each answer its first `MAX_CHARS`.
Before a judge request is sent its worst case is reserved against the budget: one token per UTF-8
byte of what it is shown (no tokenizer makes a token of less than a byte) plus `FRAMING_TOKENS`,
and `MAX_TOKENS` of output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tierlens.trial.answer import ANSWERS, Answer

RUBRIC = (
    "You grade a candidate answer against a reference answer to the same request. The reference was "
    "accepted in production. Judge whether the candidate would serve the person who sent the request "
    "as well as the reference: correctness first, then completeness, then form (a tool call must name "
    "the same tool with equivalent arguments). Reply with one line and nothing else: `score: N`, where "
    "N is 5 (as good as the reference or better), 4 (minor differences that do not matter), 3 (worse "
    "but usable), 2 (partly wrong) or 1 (wrong or unusable)."
)
MAX_CHARS = 24_000
MAX_TOKENS = 512
FRAMING_TOKENS = 64
_SCORE = re.compile(r"score\s*[:=]\s*([1-5])\b", re.IGNORECASE)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    if isinstance(part.get("text"), str):
        return str(part["text"])
    if part.get("type") == "tool_use":
        return json.dumps({"tool": part.get("name"), "input": part.get("input")}, sort_keys=True)
    if part.get("type") == "tool_result":
        return _content_text(part.get("content"))
    return ""


def _content_text(content: Any) -> str:
    parts = content if isinstance(content, list) else [content]
    return "\n".join(t for t in map(_part_text, parts) if t)


def request_text(body: dict[str, Any]) -> str:
    """A request body's text, in order: its system prompt and each message (role: text)."""
    lines = [f"system: {_content_text(body['system'])}"] if body.get("system") else []
    for m in body.get("messages") or []:
        if isinstance(m, dict):
            calls = [c.get("function") for c in m.get("tool_calls") or [] if isinstance(c, dict)]
            text = _content_text(m.get("content")) + "".join(
                f"\n{json.dumps(c, sort_keys=True)}" for c in calls
            )
            lines.append(f"{m.get('role')}: {text}")
    return "\n".join(lines)


def answer_text(answer: Answer) -> str:
    if answer.tool is not None:
        return json.dumps({"tool": answer.tool[0], "input": answer.tool[1]}, sort_keys=True)
    return answer.text


@dataclass(frozen=True)
class Judge:
    """A judge model (as its price table names it) and the API it is sent through."""

    model: str
    api: str

    def body(self, request: dict[str, Any], reference: Answer, candidate: Answer) -> dict[str, Any]:
        shown = (
            f"<request>\n{request_text(request)[-MAX_CHARS:]}\n</request>\n"
            f"<reference>\n{answer_text(reference)[:MAX_CHARS]}\n</reference>\n"
            f"<candidate>\n{answer_text(candidate)[:MAX_CHARS]}\n</candidate>"
        )
        if self.api == "openai":
            messages = [{"role": "system", "content": RUBRIC}, {"role": "user", "content": shown}]
            return {"model": self.model, "max_completion_tokens": MAX_TOKENS, "messages": messages}
        return {
            "model": self.model,
            "max_tokens": MAX_TOKENS,
            "system": RUBRIC,
            "messages": [{"role": "user", "content": shown}],
        }

    def worst_usage(self, body: dict[str, Any]) -> dict[str, Any]:
        """The most tokens `body` can take (the module docstring says why)."""
        shown = json.dumps(body["messages"], ensure_ascii=False) + str(body.get("system") or "")
        return {"input_tokens": len(shown.encode("utf-8")) + FRAMING_TOKENS, "output_tokens": MAX_TOKENS}

    def read(self, response: dict[str, Any]) -> tuple[int | None, Answer]:
        """(the score 1..5, or None when the judge's reply holds none; the reply as an Answer)."""
        got = ANSWERS[self.api](response)
        found = _SCORE.search(got.text)
        return (int(found.group(1)) if found else None), got
