"""Builders for realistic log records (Anthropic Messages, batch results, Claude Code)."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)


def usage(
    input_tokens: int = 100,
    output_tokens: int = 50,
    cache_read: int | None = 0,
    cache_creation: int | None = 0,
    split: tuple[int, int] | None = None,
    web_search: int | None = None,
    service_tier: str | None = "standard",
    inference_geo: str | None = None,
) -> dict[str, Any]:
    u: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_read is not None:
        u["cache_read_input_tokens"] = cache_read
    if cache_creation is not None:
        u["cache_creation_input_tokens"] = cache_creation
    if split is not None:
        u["cache_creation"] = {"ephemeral_5m_input_tokens": split[0], "ephemeral_1h_input_tokens": split[1]}
    if web_search is not None:
        u["server_tool_use"] = {"web_search_requests": web_search, "web_fetch_requests": 0}
    if service_tier is not None:
        u["service_tier"] = service_tier
    if inference_geo is not None:
        u["inference_geo"] = inference_geo
    return u


def message(
    model: str = "claude-sonnet-4-5-20250929", text: str = "Sure, here it is.", **kw: Any
) -> dict[str, Any]:
    n = next(_ids)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    stop = "end_turn"
    if kw.pop("tool", False):
        content = [{"type": "tool_use", "id": f"toolu_{n}", "name": "classify", "input": {"label": text}}]
        stop = "tool_use"
    return {
        "id": kw.pop("id", f"msg_{n:06d}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": kw.pop("stop_reason", stop),
        "stop_sequence": None,
        "usage": usage(**kw),
    }


def logged(ts: str = "2026-09-01T10:00:00Z", feature: str | None = "chat", **kw: Any) -> dict[str, Any]:
    """A gateway log record wrapping a Messages response."""
    extra = {k: kw.pop(k) for k in ("request_id", "tags", "metadata", "latency_ms") if k in kw}
    rec: dict[str, Any] = {"ts": ts, "request_id": extra.pop("request_id", f"req_{next(_ids):06d}")}
    if feature is not None:
        rec["feature"] = feature
    rec.update(extra)
    rec["response"] = message(**kw)
    return rec


def batch_result(custom_id: str, kind: str = "succeeded", **kw: Any) -> dict[str, Any]:
    if kind != "succeeded":
        return {"custom_id": custom_id, "result": {"type": kind}}
    return {
        "custom_id": custom_id,
        "result": {"type": "succeeded", "message": message(service_tier="batch", **kw)},
    }


def cc_line(
    ts: str = "2026-09-02T10:00:00Z",
    session: str = "sess-1",
    request_id: str | None = "req_cc1",
    sidechain: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "parentUuid": None,
        "isSidechain": sidechain,
        "userType": "external",
        "cwd": "/home/dev/src/app",
        "sessionId": session,
        "version": "2.0.14",
        "type": "assistant",
        "message": message(**kw),
        "uuid": f"uuid-{next(_ids)}",
        "timestamp": ts,
    }
    if request_id is not None:
        rec["requestId"] = request_id
    return rec


def alike(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Equal in nested dicts and lists, floats within `rel` of each other: sums of the same numbers
    in another order (parallel aggregation) differ in their last bits, and rounding both can still
    fall on two sides of a digit."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(alike(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(alike(x, y, rel) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def rounded(value: Any) -> Any:
    """Floats to 9 significant digits, in nested dicts and lists: sums of the same numbers in
    another order (parallel aggregation) differ in their last bits."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
