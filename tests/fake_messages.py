"""A local fake of the Messages API (`/v1/messages`) and the Chat Completions API
(`/v1/chat/completions`) for the trial tests: loopback only, bounded, deterministic.

Its answers are built to produce known figures: an answer's output tokens are `ratio` times the
`expected_output` the request's last user message names (`... [expect 40]`); a request with
tools gets a `tool_use` of its first tool whose `label` is the one the message names
(`[label billing]`), except on every `disagree_every`-th request (counted in order of arrival),
which gets `other`; the first `rate_limited` requests get a 429 with `retry-after: 0`; each
answer waits `delay_s`. It records every request's body and headers.

A judge's request (its system prompt is tierlens' rubric) is answered `score: 5` when the
candidate answer it shows equals the reference, else `score: 2`; judge requests are recorded in
`judged`, apart from `seen`, and do not count in the order of arrival.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1 << 20


@dataclass
class Behaviour:
    ratio: float = 1.0
    disagree_every: int = 0
    rate_limited: int = 0
    delay_s: float = 0.0
    refuse_key: bool = False
    seen: list[dict[str, Any]] = field(default_factory=list)
    judged: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _text(body: dict[str, Any]) -> str:
    last = body["messages"][-1]["content"]
    return last if isinstance(last, str) else " ".join(b.get("text", "") for b in last if isinstance(b, dict))


def _wanted(body: dict[str, Any], n: int, b: Behaviour) -> tuple[int, str | None]:
    """(the output tokens to answer, the label of a tool call) the request's text asks for."""
    text = _text(body)
    asked = re.search(r"\[expect (\d+)\]", text)
    expected = int(asked.group(1)) if asked else 20
    label = re.search(r"\[label (\w+)\]", text)
    wrong = b.disagree_every and n % b.disagree_every == 0
    return max(1, round(expected * b.ratio)), "other" if wrong or not label else label.group(1)


def _is_judge(body: dict[str, Any]) -> bool:
    from tierlens.trial.judge import RUBRIC

    first = body["messages"][0]
    return body.get("system") == RUBRIC or (first.get("role") == "system" and first.get("content") == RUBRIC)


def judgment(body: dict[str, Any], chat: bool) -> dict[str, Any]:
    shown = _text(body)
    ref = shown.split("<reference>\n")[1].split("\n</reference>")[0]
    cand = shown.split("<candidate>\n")[1].split("\n</candidate>")[0]
    reply = "score: 5" if ref == cand else "score: 2"
    if chat:
        return _chat(body, {"role": "assistant", "content": reply}, "stop", len(shown) // 4, 3)
    return {"id": "msg_judge", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": reply}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": len(shown) // 4, "output_tokens": 3}}  # fmt: skip


def _chat(body: dict[str, Any], message: dict[str, Any], stop: str, prompt: int, out: int) -> dict[str, Any]:
    return {"id": f"chatcmpl-fake-{prompt}-{out}", "object": "chat.completion", "created": 1764000000,
            "model": body["model"], "choices": [{"index": 0, "message": message, "finish_reason": stop}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
                      "prompt_tokens_details": {"cached_tokens": 0}}}  # fmt: skip


def chat_answer(body: dict[str, Any], n: int, b: Behaviour) -> dict[str, Any]:
    out, label = _wanted(body, n, b)
    prompt = len(_text(body)) // 4 + 10
    if body.get("tools"):
        call = {"id": f"call_{n}", "type": "function",
                "function": {"name": body["tools"][0]["function"]["name"], "arguments": json.dumps({"label": label})}}  # fmt: skip
        return _chat(
            body, {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls", prompt, out
        )
    return _chat(body, {"role": "assistant", "content": " ".join(["word"] * out)}, "stop", prompt, out)


def answer(body: dict[str, Any], n: int, b: Behaviour) -> dict[str, Any]:
    text = _text(body)
    out, label = _wanted(body, n, b)
    if body.get("tools"):
        content = [{"type": "tool_use", "id": f"toolu_{n}", "name": body["tools"][0]["name"],
                    "input": {"label": label}}]  # fmt: skip
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": " ".join(["word"] * out)}], "end_turn"
    return {
        "id": f"msg_fake_{n:05d}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": len(text) // 4 + 10, "output_tokens": out, "cache_read_input_tokens": 0,
                  "cache_creation_input_tokens": 0},
    }  # fmt: skip


def _handler(b: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, doc: dict[str, Any], extra: dict[str, str] | None = None) -> None:
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            size = int(self.headers.get("content-length") or 0)
            chat = self.path == "/v1/chat/completions"
            if self.path not in ("/v1/messages", "/v1/chat/completions") or size > MAX_BODY:
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})
                return
            body = json.loads(self.rfile.read(size))
            if _is_judge(body):
                with b.lock:
                    b.judged.append(body)
                self._send(200, judgment(body, chat))
                return
            if b.refuse_key:
                error = {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                }
                self._send(401, error)
                return
            with b.lock:
                b.headers.append({k.lower(): v for k, v in self.headers.items()})
                b.paths.append(self.path)
                limited = b.rate_limited > 0
                if limited:
                    b.rate_limited -= 1
                else:
                    b.seen.append(body)
                    n = len(b.seen)
            if limited:
                error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
                self._send(429, error, {"retry-after": "0"})
                return
            time.sleep(b.delay_s)
            self._send(200, (chat_answer if chat else answer)(body, n, b))

    return Handler


@contextmanager
def fake_messages_api(behaviour: Behaviour) -> Iterator[str]:
    """Serve on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
