"""Bedrock Converse bodies as Messages API bodies, for a trial of a Converse call on Claude.

Bedrock's Converse API has its own request shape; a Claude model behind it receives the same
request as through the Messages API, block for block (Bedrock's Converse API reference, "Message"
and "ContentBlock"). The translation:

- `system: [{"text"}, {"cachePoint"}]` -> `system` text blocks; `messages[].content` blocks:
  `{"text"}` -> text, `{"image": {format, source: {bytes}}}` -> a base64 image,
  `{"document": {format, name, source: {bytes}}}` -> a base64 PDF, or for `txt`, `md`, `csv` and
  `html` a plain-text document (the bytes decoded, the name as its title), `{"toolUse": {toolUseId, name,
  input}}` -> tool_use, `{"toolResult": {toolUseId, content, status}}` -> tool_result (its `json`
  parts as JSON text, `status: "error"` as `is_error`), `{"reasoningContent": {"reasoningText":
  {text, signature}}}` -> thinking, and `{"cachePoint"}` -> `cache_control: ephemeral` on the
  block before it;
- `inferenceConfig`: `maxTokens` -> `max_tokens` (4096 when absent: the Messages API requires
  it), `temperature`, `topP` -> `top_p`, `stopSequences` -> `stop_sequences`;
- `toolConfig`: `tools[].toolSpec {name, description, inputSchema.json}` -> `tools`,
  `toolChoice {auto | any | tool: {name}}` -> `tool_choice`, a `cachePoint` among the tools ->
  `cache_control` on the tool before it;
- `additionalModelRequestFields` (Claude's own fields, e.g. `thinking`, `top_k`) are kept as they are.

A body with a block the Messages API has no counterpart for (video, a guard block, a document
of another format) is not translated: the trial passes over that request.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tierlens.errors import SourceError
from tierlens.trial.answer import Answer

DEFAULT_MAX_TOKENS = 4096
TEXT_DOCUMENTS = ("txt", "md", "csv", "html")


class Untranslatable(SourceError):
    """A Converse block with no Messages API counterpart: a logged body tierlens cannot read into
    a request it could send (`converse_to_messages` turns it into None, the request passed over)."""


def _image(block: dict[str, Any]) -> dict[str, Any]:
    data = (block.get("source") or {}).get("bytes")
    if not isinstance(data, str):
        raise Untranslatable("image without base64 bytes")
    media = f"image/{block.get('format') or 'png'}"
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


def _document(block: dict[str, Any]) -> dict[str, Any]:
    data, fmt = (block.get("source") or {}).get("bytes"), block.get("format")
    if not isinstance(data, str) or fmt not in ("pdf", *TEXT_DOCUMENTS):
        raise Untranslatable("document other than a PDF or text")
    if fmt == "pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": data}
    else:
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except ValueError:
            raise Untranslatable("text document not in base64 UTF-8") from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
    return {"type": "document", "source": source} | ({"title": block["name"]} if block.get("name") else {})


def _result_part(part: dict[str, Any]) -> dict[str, Any]:
    if "text" in part:
        return {"type": "text", "text": str(part["text"])}
    if "json" in part:
        return {"type": "text", "text": json.dumps(part["json"])}
    if "image" in part:
        return _image(part["image"])
    raise Untranslatable("tool result part")


def _block(block: dict[str, Any]) -> dict[str, Any]:
    if "text" in block:
        return {"type": "text", "text": str(block["text"])}
    if "toolUse" in block:
        use = block["toolUse"]
        return {
            "type": "tool_use",
            "id": use.get("toolUseId"),
            "name": use.get("name"),
            "input": use.get("input") or {},
        }
    if "toolResult" in block:
        res = block["toolResult"]
        out = {
            "type": "tool_result",
            "tool_use_id": res.get("toolUseId"),
            "content": [_result_part(p) for p in res.get("content") or []],
        }
        return out | ({"is_error": True} if res.get("status") == "error" else {})
    if "image" in block:
        return _image(block["image"])
    if "document" in block:
        return _document(block["document"])
    if "reasoningContent" in block:
        text = (block["reasoningContent"] or {}).get("reasoningText") or {}
        return {"type": "thinking", "thinking": text.get("text", ""), "signature": text.get("signature", "")}
    raise Untranslatable(f"content block {next(iter(block), '?')}")


def _blocks(content: list[Any]) -> list[dict[str, Any]]:
    """Messages API blocks of Converse `content` (a cache point marks the block before it)."""
    out: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            raise Untranslatable("content block")
        if "cachePoint" in block:
            if out:
                out[-1]["cache_control"] = {"type": "ephemeral"}
            continue
        out.append(_block(block))
    return out


def _tools(config: dict[str, Any]) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    for t in config.get("tools") or []:
        if isinstance(t, dict) and "cachePoint" in t and tools:
            tools[-1]["cache_control"] = {"type": "ephemeral"}
        elif isinstance(t, dict) and isinstance(spec := t.get("toolSpec"), dict):
            schema = (spec.get("inputSchema") or {}).get("json") or {"type": "object"}
            tools.append(
                {"name": spec.get("name"), "description": spec.get("description", ""), "input_schema": schema}
            )
    choice = config.get("toolChoice") or {}
    out: dict[str, Any] = {"tools": tools} if tools else {}
    if "tool" in choice:
        out["tool_choice"] = {"type": "tool", "name": (choice["tool"] or {}).get("name")}
    elif "any" in choice or "auto" in choice:
        out["tool_choice"] = {"type": "any" if "any" in choice else "auto"}
    return out


def _inference(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"max_tokens": int(config.get("maxTokens") or DEFAULT_MAX_TOKENS)}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if config.get(theirs) is not None:
            out[ours] = config[theirs]
    if config.get("stopSequences"):
        out["stop_sequences"] = list(config["stopSequences"])
    return out


def converse_to_messages(body: dict[str, Any]) -> dict[str, Any] | None:
    """The Messages API body of a Converse request body (None: a block has no counterpart)."""
    try:
        messages = [
            {"role": m.get("role"), "content": _blocks(m.get("content") or [])}
            for m in body.get("messages") or []
            if isinstance(m, dict)
        ]
        system = _blocks(body.get("system") or [])
    except Untranslatable:
        return None
    out: dict[str, Any] = {"messages": messages, **_inference(body.get("inferenceConfig") or {})}
    if system:
        out["system"] = system
    out |= _tools(body.get("toolConfig") or {})
    extra = body.get("additionalModelRequestFields")
    return out | (extra if isinstance(extra, dict) else {})


def converse_answer(response: dict[str, Any]) -> Answer | None:
    """The Answer of a Converse response body (`output.message`, `stopReason`, `usage`), its usage
    in the Messages API's names (`inputTokens` is the uncached input, as in the Bedrock reader)."""
    message = (response.get("output") or {}).get("message")
    if not isinstance(message, dict):
        return None
    blocks = [b for b in message.get("content") or [] if isinstance(b, dict)]
    use = next((b["toolUse"] for b in blocks if isinstance(b.get("toolUse"), dict)), None)
    tool = (str(use.get("name")), dict(use.get("input") or {})) if use else None
    text = "".join(str(b.get("text") or "") for b in blocks if "text" in b)
    raw = response.get("usage") or {}
    usage = {
        "input_tokens": int(raw.get("inputTokens") or 0),
        "cache_read_input_tokens": int(raw.get("cacheReadInputTokens") or 0),
        "cache_creation_input_tokens": int(raw.get("cacheWriteInputTokens") or 0),
        "output_tokens": int(raw.get("outputTokens") or 0),
    }
    return Answer(usage["output_tokens"], response.get("stopReason"), tool, text, usage)
