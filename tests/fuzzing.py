"""A seeded generator of fuzzed log lines, for every JSON-lines reader.

`Fuzzer(fmt, seed)` builds *good* lines of one format by varying real records (tests/realworld,
tests/fixtures/formats): fresh ids, random token counts, a model from the small price list below,
a timestamp in 2025..2026. Each good line carries its own expected cost, computed here from list
prices typed in this file, never from tierlens' pricer. `Fuzzer.bad(kind)` mutates a good record
into a line that must be rejected (or skipped, or kept, or classified either way as long as every
parse agrees), each carrying a unique marker string wherever the mutation put text, so a test can
prove no reject reason, quarantine record or stored row repeats it.

Everything is derived from `random.Random(seed)`: the same (format, seed, kinds) gives the same bytes.

Expectations (`FuzzLine.expect`):
- `keep`: stored; `rows`, `tokens` and `cost` (when not None) are what the line's rows must sum to;
- `reject`: quarantined (file, line, reason), never stored;
- `skip`: counted as skipped (a blank line, an error response, a line that holds no usage);
- `either`: no rule says which (a number where a string is expected, a BOM inside a file, 2,000
  nested arrays in a field no reader reads): the line must only be classified identically by the
  fast and the exact path, at every chunk size.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent
REALWORLD = ROOT / "realworld"
FORMATS = ROOT / "fixtures" / "formats"

Expect = Literal["keep", "reject", "skip", "either"]
Tokens = tuple[int, int, int, int, int]
"""(uncached input, cache read, 5-minute cache write, 1-hour cache write, output), canonical."""
PathT = tuple[str | int, ...]
NO_TOKENS: Tokens = (0, 0, 0, 0, 0)
MARK = "FZMARK"
"""The prefix of every marker a mutation puts in a line: no reason or quarantine record may hold it."""

# --- list prices (USD per million tokens), typed from the providers' price pages ------------------


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_read: float
    write_5m: float | None
    write_1h: float | None
    regional: float = 1.0
    """Multiplier of a Bedrock geographic (`us.`...) inference profile (x1.1 from Sonnet 4.5 and
    Haiku 4.5 on; list price for older models and `global.` profiles)."""


def _claude(inp: float, out: float, regional: float = 1.0) -> Price:
    # Anthropic: cache read 0.1x input, 5-minute write 1.25x, 1-hour write 2x
    return Price(inp, out, round(inp * 0.1, 6), round(inp * 1.25, 6), inp * 2, regional)


PRICES: dict[str, Price] = {
    "claude-sonnet-4": _claude(3.0, 15.0),
    "claude-sonnet-4-5": _claude(3.0, 15.0, regional=1.1),
    "claude-haiku-4-5": _claude(1.0, 5.0, regional=1.1),
    # OpenAI: cached input at half the input price, no cache-write rate
    "gpt-4o": Price(2.5, 10.0, 1.25, None, None),
    "gpt-4o-mini": Price(0.15, 0.6, 0.075, None, None),
}
WEB_SEARCH_USD = 0.01
"""Anthropic server-side web search: $10 per 1,000 searches."""
BATCH = 0.5
"""Message Batches and the OpenAI Batch API: half price on every token category."""

LOGGED_MODELS: dict[str, list[str]] = {
    "claude-sonnet-4": ["claude-sonnet-4-20250514"],
    "claude-sonnet-4-5": ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"],
    "claude-haiku-4-5": ["claude-haiku-4-5-20251001", "claude-haiku-4-5"],
    "gpt-4o": ["gpt-4o-2024-08-06", "gpt-4o"],
    "gpt-4o-mini": ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"],
}
CLAUDE = ["claude-sonnet-4", "claude-sonnet-4-5", "claude-haiku-4-5"]
GPT = ["gpt-4o", "gpt-4o-mini"]


def cost(family: str, t: Tokens, *, mult: float = 1.0, searches: int = 0) -> float:
    """USD of one request (or aggregate) at list price: token categories x rate x `mult`, plus
    per-search fees (never multiplied)."""
    p = PRICES[family]
    if (t[2] and p.write_5m is None) or (t[3] and p.write_1h is None):
        raise ValueError(f"{family} has no cache-write rate")
    usd = t[0] * p.input + t[1] * p.cache_read + t[2] * (p.write_5m or 0) + t[3] * (p.write_1h or 0)
    usd += t[4] * p.output
    return usd / 1e6 * mult + searches * WEB_SEARCH_USD


# --- lines ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FuzzLine:
    """One line of a fuzzed file (`data` has no newline) and what ingesting it must do."""

    data: bytes
    expect: Expect
    kind: str
    rows: int = 0
    tokens: Tokens = NO_TOKENS
    cost: float | None = None
    marker: str | None = None
    """Text the mutation put in the line: no reject reason, quarantine record or stored row may hold it
    (stored rows: only when the line is not kept)."""

    def __repr__(self) -> str:  # short, for hypothesis' failure reports
        head = self.data[:60]
        return f"FuzzLine({self.kind}, {self.expect}, {head!r}{'...' if len(self.data) > 60 else ''})"


@dataclass
class Good:
    """A good record before encoding, with the paths mutations aim at."""

    obj: dict[str, Any]
    tokens: Tokens
    cost: float | None
    rows: int = 1
    ints: list[PathT] = field(default_factory=list)
    """Integer fields the reader type-checks (a wrong type, a negative or huge value rejects)."""
    strs: list[PathT] = field(default_factory=list)
    """String fields the reader reads (an object or array there rejects)."""
    ts: PathT | None = None
    """The timestamp field (absent: the reader dates the record otherwise)."""
    ts_units: str = "any"
    """`any`: ISO 8601 or epoch s/ms/us/ns; `ns`: epoch nanoseconds only (OTLP)."""
    spare: PathT = ("zz_fuzz",)
    """A key no reader reads, for unrelated junk."""
    loose: bool = False
    """The reader probes the record's objects (a non-object there means "absent", not "bad")."""
    otlp: bool = False
    """Values are OTLP AnyValue objects (`{"intValue": "12"}`), not plain JSON."""
    labels: dict[PathT, str] = field(default_factory=dict)
    """The names of fields whose path does not end with it (OTLP attributes)."""

    def name(self, path: PathT) -> str:
        return self.labels.get(path) or str(path[-1])


def get(obj: Any, path: PathT) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def put(obj: Any, path: PathT, value: Any) -> None:
    for p in path[:-1]:
        if isinstance(p, str) and isinstance(obj, dict) and not isinstance(obj.get(p), (dict, list)):
            obj[p] = {}
        obj = obj[p]
    obj[path[-1]] = value


def dumps(obj: Any, rng: random.Random | None = None) -> bytes:
    """Compact JSON, or now and then with the spaces `json.dumps` puts by default."""
    spaced = rng is not None and rng.random() < 0.3
    seps = (", ", ": ") if spaced else (",", ":")
    return json.dumps(obj, ensure_ascii=False, separators=seps, allow_nan=False).encode()


def write_lines(path: Path, lines: Iterable[FuzzLine | bytes], *, gz: bool = False) -> Path:
    body = b"".join((x.data if isinstance(x, FuzzLine) else x) + b"\n" for x in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body, mtime=0) if gz else body)
    return path


# --- real records the good lines start from -----------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@cache
def _templates() -> dict[str, list[dict[str, Any]]]:
    anthropic = REALWORLD / "anthropic"
    messages = [
        *_jsonl(anthropic / "msgs_cache_read_write_5m_claude-sonnet-4-5.jsonl"),
        *_jsonl(anthropic / "msgs_thinking_claude-sonnet-4-5.jsonl"),
        *_jsonl(anthropic / "msgs_cache_thinking_code_exec_claude-sonnet-5.jsonl"),
        json.loads((anthropic / "msg_plain_claude-haiku-4-5-20251001.json").read_text()),
        json.loads((anthropic / "msg_plain_claude-opus-4-6.json").read_text()),
    ]
    web = _jsonl(anthropic / "msgs_web_search_claude-sonnet-4-20250514.jsonl")
    claude_code, cc_other = [], []
    for f in sorted((REALWORLD / "claude_code").rglob("*.jsonl")):
        for rec in _jsonl(f):
            msg = rec.get("message")
            size = len(json.dumps(rec))
            billed = (
                isinstance(msg, dict)
                and isinstance(msg.get("usage"), dict)
                and msg.get("model") != "<synthetic>"
            )
            if billed and rec.get("type") == "assistant" and size < 6000:
                claude_code.append(rec)
            elif rec.get("type") in ("user", "summary", "system", "file-history-snapshot") and size < 3000:
                cc_other.append(rec)
    openai = [
        json.loads((REALWORLD / "openai" / n).read_text())
        for n in ("chat_gpt-4o-mini_basic.json", "chat_gpt-4.1-mini_basic.json", "chat_gpt-4o_tool_call.json")
    ]
    fixture_openai = _jsonl(FORMATS / "openai_chat.jsonl")
    litellm = json.loads((REALWORLD / "litellm" / "spend_logs_payload_gpt-4o.json").read_text())
    return {
        "messages": messages,
        "web": web,
        "batch": _jsonl(anthropic / "batch_results_claude-sonnet-4-5-20250929.jsonl"),
        "claude_code": claude_code[:40],
        "claude_code_other": cc_other[:40],
        "openai": openai + fixture_openai[:2],
        "openai_error": fixture_openai[2:3],
        "bedrock": _jsonl(FORMATS / "bedrock_invocations.jsonl"),
        "litellm": [litellm],
        "otel": _jsonl(FORMATS / "otel_traces.jsonl"),
        "openai_usage": _jsonl(FORMATS / "openai_usage_completions.jsonl"),
        "anthropic_usage": [json.loads((FORMATS / "anthropic_usage_report.json").read_text())],
    }


# --- per-format good records --------------------------------------------------------------------

EPOCH0 = datetime(2025, 6, 1, tzinfo=UTC)


class Fuzzer:
    """Seeded good and bad lines of one reader's format."""

    def __init__(self, fmt: str, seed: int, pad: int = 0) -> None:
        """`pad`: give every record a padding field of that many bytes (with `pad` >= the chunk size,
        each record is alone in its chunk: the fast path then judges it on its own)."""
        if fmt not in GOOD:
            raise ValueError(f"no generator for {fmt}")
        self.fmt = fmt
        self.seed = seed
        self.pad = pad
        self.rng = random.Random(f"{fmt}:{seed}")
        self.n = 0

    # ids, markers, times ---------------------------------------------------------------------------

    def uid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}fz{self.seed & 0xFFFFFFFF:08x}{self.n:06d}"

    def marker(self) -> str:
        return f"{MARK}{self.rng.getrandbits(48):012x}"

    def when(self) -> datetime:
        return EPOCH0 + timedelta(
            seconds=self.rng.randrange(0, 500 * 86400), microseconds=self.rng.randrange(10**6)
        )

    def iso(self, t: datetime | None = None) -> str:
        t = t or self.when()
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    def tokens(self, cache: bool = True, w1h: bool = False) -> Tokens:
        r = self.rng
        inp = r.choice([r.randint(1, 50), r.randint(1, 5000), r.randint(1, 60_000)])
        read = r.choice([0, r.randint(1, 60_000)]) if cache else 0
        w5 = r.choice([0, 0, r.randint(1, 20_000)]) if cache else 0
        w1 = r.choice([0, r.randint(1, 10_000)]) if cache and w1h else 0
        out = r.choice([r.randint(1, 100), r.randint(1, 8000)])
        return (inp, read, w5, w1, out)

    def family(self, choices: Sequence[str]) -> tuple[str, str]:
        fam = self.rng.choice(list(choices))
        return fam, self.rng.choice(LOGGED_MODELS[fam])

    # lines ---------------------------------------------------------------------------------------

    def good_record(self) -> Good:
        g = GOOD[self.fmt](self)
        if self.pad:
            g.obj["zz_pad"] = "p" * self.pad
        return g

    def good(self) -> FuzzLine:
        g = self.good_record()
        return FuzzLine(dumps(g.obj, self.rng), "keep", "good", g.rows, g.tokens, g.cost)

    def skip(self) -> FuzzLine:
        maker = SKIPS.get(self.fmt)
        if maker is None:
            return FuzzLine(b"", "skip", "blank")
        return FuzzLine(dumps(maker(self), self.rng), "skip", "skip_record")

    def bad(self, kind: str) -> FuzzLine:
        return MUTATIONS[kind](self, self.good_record())

    def line(self, kind: str) -> FuzzLine:
        if kind == "good":
            return self.good()
        if kind == "skip_record":
            return self.skip()
        return self.bad(kind)

    def lines(self, kinds: Sequence[str]) -> list[FuzzLine]:
        """One line per kind, after a good first line (a file's first line decides its shape)."""
        return [self.good(), *(self.line(k) for k in kinds)]

    def mixed(self, n: int, bad_share: float = 0.5, kinds: Sequence[str] | None = None) -> list[FuzzLine]:
        """`n` lines, `ceil(n x bad_share)` of them fuzzed (kinds drawn from `kinds`), after a few good
        lines (format detection reads a file's first records)."""
        pool = list(kinds or KINDS)
        head = min(5, n)
        bad = min(math.ceil(n * bad_share), n - head)
        where = set(self.rng.sample(range(head, n), bad))
        return [self.line(self.rng.choice(pool)) if i in where else self.good() for i in range(n)]


def _anthropic_usage_block(
    f: Fuzzer, usage: dict[str, Any], t: Tokens, searches: int | None
) -> dict[str, Any]:
    u = {k: v for k, v in usage.items() if k not in ("speed", "iterations")}
    u["input_tokens"], u["cache_read_input_tokens"], u["output_tokens"] = t[0], t[1], t[4]
    if "cache_creation" in u or t[3]:
        u["cache_creation"] = {"ephemeral_5m_input_tokens": t[2], "ephemeral_1h_input_tokens": t[3]}
    u["cache_creation_input_tokens"] = t[2] + t[3]
    if searches is not None:
        u["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": 0}
    else:
        u.pop("server_tool_use", None)
    if "service_tier" in u:
        u["service_tier"] = "standard"
    if "inference_geo" in u:
        u["inference_geo"] = f.rng.choice(["global", "not_available"])
    return u


_MSG_INTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _message(f: Fuzzer, template: dict[str, Any], prefix: PathT, tier_mult: float = 1.0) -> Good:
    """A Messages API response from a real one: new id, model, tokens (and searches)."""
    msg = copy.deepcopy(template)
    fam, model = f.family(CLAUDE)
    split = "cache_creation" in msg.get("usage", {})
    t = f.tokens(w1h=split)
    searches = f.rng.randint(0, 3) if "server_tool_use" in msg.get("usage", {}) else None
    msg["id"] = f.uid("msg_")
    msg["model"] = model
    msg["usage"] = _anthropic_usage_block(f, msg.get("usage", {}), t, searches)
    ints = [(*prefix, "usage", k) for k in _MSG_INTS]
    if split:
        ints += [
            (*prefix, "usage", "cache_creation", k)
            for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
        ]
    if searches is not None:
        ints.append((*prefix, "usage", "server_tool_use", "web_search_requests"))
    strs = [(*prefix, k) for k in ("id", "model", "type", "stop_reason") if k in msg]
    strs += [(*prefix, "usage", k) for k in ("service_tier", "inference_geo") if k in msg["usage"]]
    return Good(msg, t, cost(fam, t, mult=tier_mult, searches=searches or 0), ints=ints, strs=strs)


def _messages(f: Fuzzer) -> Good:
    tpl = _templates()
    source = tpl["web"] if f.rng.random() < 0.1 else tpl["messages"]
    template = f.rng.choice(source)
    if f.rng.random() < 0.5:  # bare response, dated by the file's mtime
        return _message(f, template, ())
    inner = _message(f, template, ("response",))
    rec: dict[str, Any] = {"ts": f.iso(), "request_id": f.uid("req_")}
    rec["feature"] = f.rng.choice(["chat", "search-answer", "summarize"])
    if f.rng.random() < 0.5:
        rec["user_id"] = f.uid("u_")
    rec["response"] = inner.obj
    inner.obj = rec
    inner.ts = ("ts",)
    inner.strs += [(k,) for k in ("request_id", "feature", "user_id") if k in rec]
    return inner


def _batch(f: Fuzzer) -> Good:
    tpl = copy.deepcopy(f.rng.choice(_templates()["batch"]))
    inner = _message(f, tpl["result"]["message"], ("result", "message"), tier_mult=BATCH)
    inner.obj["usage"]["service_tier"] = "batch"
    tpl["custom_id"] = f.uid(f.rng.choice(["summarize:", "classify/", "req-"]))
    tpl["result"]["message"] = inner.obj
    inner.obj = tpl
    inner.strs += [("custom_id",), ("result", "type")]
    return inner


def _claude_code(f: Fuzzer) -> Good:
    tpl = copy.deepcopy(f.rng.choice(_templates()["claude_code"]))
    inner = _message(f, tpl["message"], ("message",))
    tpl["message"] = inner.obj
    tpl["timestamp"] = f.iso()
    tpl["isSidechain"] = False
    tpl.pop("isApiErrorMessage", None)
    if "requestId" in tpl:
        tpl["requestId"] = f.uid("req_")
    tpl["uuid"] = f.uid("uuid-")
    inner.obj = tpl
    inner.ts = ("timestamp",)
    inner.loose = True
    inner.strs += [(k,) for k in ("sessionId", "requestId", "cwd") if k in tpl]
    return inner


def _openai(f: Fuzzer) -> Good:
    template = copy.deepcopy(f.rng.choice(_templates()["openai"]))
    wrapped = "response" in template
    resp = template["response"] if wrapped else template
    fam, model = f.family(GPT)
    inp, read, _, _, out = f.tokens()
    prompt = inp + read
    resp["id"] = f.uid("chatcmpl-" if "choices" in resp else "resp_")
    resp["model"] = model
    usage = resp["usage"]
    pre: PathT = ("response",) if wrapped else ()
    if "prompt_tokens" in usage:
        usage.update(prompt_tokens=prompt, completion_tokens=out, total_tokens=prompt + out)
        usage["prompt_tokens_details"] = {"cached_tokens": read, "audio_tokens": 0}
        names = ("prompt_tokens", "completion_tokens")
        details = ("prompt_tokens_details", "cached_tokens")
    else:
        usage.update(input_tokens=prompt, output_tokens=out, total_tokens=prompt + out)
        usage["input_tokens_details"] = {"cached_tokens": read}
        names = ("input_tokens", "output_tokens")
        details = ("input_tokens_details", "cached_tokens")
    if "service_tier" in resp:
        resp["service_tier"] = f.rng.choice(["default", "auto"])
    if "output" in resp:  # no priced tool calls in a good line
        resp["output"] = [x for x in resp["output"] if x.get("type") == "message"]
    t: Tokens = (inp, read, 0, 0, out)
    g = Good(template, t, cost(fam, t))
    g.ints = [(*pre, "usage", n) for n in names] + [(*pre, "usage", *details)]
    g.strs = [(*pre, k) for k in ("id", "model", "object", "service_tier", "status") if k in resp]
    if wrapped:
        template["ts"] = f.iso()
        template["request_id"] = f.uid("req_oa_")
        g.ts = ("ts",)
        g.strs += [(k,) for k in ("request_id", "feature", "user_id") if k in template]
    else:
        t0 = f.when()
        resp["created"] = int(t0.timestamp())
        g.ts = ("created",)
    return g


def _bedrock(f: Fuzzer) -> Good:
    rec = copy.deepcopy(f.rng.choice(_templates()["bedrock"]))
    options = [
        ("claude-haiku-4-5", "global.anthropic.claude-haiku-4-5-20251001-v1:0", False),
        ("claude-haiku-4-5", "us.anthropic.claude-haiku-4-5-20251001-v1:0", True),
        ("claude-sonnet-4-5", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("claude-sonnet-4-5", "anthropic.claude-sonnet-4-5-20250929-v1:0", False),
    ]
    fam, model, regional = f.rng.choice(options)
    mult = PRICES[fam].regional if regional else 1.0
    inp, read, w5, _, out = f.tokens()
    rec["modelId"] = model
    rec["requestId"] = f.uid("0b3c6a2e-")
    rec["timestamp"] = f.iso()
    rec.pop("errorCode", None)
    rec["input"] = {"inputContentType": "application/json", "inputTokenCount": inp}
    ints: list[PathT] = [("input", "inputTokenCount"), ("output", "outputTokenCount")]
    if read or w5 or f.rng.random() < 0.5:
        rec["input"]["cacheReadInputTokenCount"] = read
        rec["input"]["cacheWriteInputTokenCount"] = w5
        ints += [("input", "cacheReadInputTokenCount"), ("input", "cacheWriteInputTokenCount")]
    rec["output"] = {
        "outputContentType": "application/json",
        "outputBodyJson": {
            "stopReason": "end_turn",
            "output": {"message": {"role": "assistant", "content": [{"text": "Done."}]}},
        },
        "outputTokenCount": out,
    }
    t: Tokens = (inp, read, w5, 0, out)
    strs: list[PathT] = [
        (k,) for k in ("modelId", "requestId", "operation", "accountId", "region") if k in rec
    ]
    if isinstance(rec.get("requestMetadata"), dict):
        strs += [("requestMetadata", k) for k in rec["requestMetadata"] if k in ("feature", "user_id")]
    return Good(rec, t, cost(fam, t, mult=mult), ints=ints, strs=strs, ts=("timestamp",))


def _litellm(f: Fuzzer) -> Good:
    rec = copy.deepcopy(_templates()["litellm"][0])
    options = [
        ("gpt-4o", "gpt-4o", "openai", False),
        ("gpt-4o-mini", "gpt-4o-mini", "openai", False),
        ("claude-sonnet-4", "claude-sonnet-4-20250514", "anthropic", False),
        ("claude-haiku-4-5", "anthropic/claude-haiku-4-5-20251001", "anthropic", False),
        ("claude-haiku-4-5", "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock", True),
    ]
    fam, model, provider, regional = f.rng.choice(options)
    mult = PRICES[fam].regional if regional else 1.0
    claude = fam.startswith("claude")
    inp, read, w5, _, out = f.tokens(cache=True)
    if not claude:
        w5 = 0
    prompt = inp + read + w5
    t0 = f.when()
    meta = json.loads(rec["metadata"])
    if claude:
        meta["usage_object"] = {
            "completion_tokens": out,
            "prompt_tokens": prompt,
            "total_tokens": prompt + out,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": w5,
        }
    else:
        meta["usage_object"] = {
            "completion_tokens": out,
            "prompt_tokens": prompt,
            "total_tokens": prompt + out,
            "prompt_tokens_details": {"cached_tokens": read},
        }
    meta.pop("model_map_information", None)
    rec.update(
        request_id=f.uid("chatcmpl-"),
        startTime=t0.strftime("%Y-%m-%d %H:%M:%S.%f"),
        endTime=(t0 + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S.%f"),
        completionStartTime=(t0 + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f"),
        model=model,
        custom_llm_provider=provider,
        prompt_tokens=prompt,
        completion_tokens=out,
        total_tokens=prompt + out,
        spend=0.001,
        metadata=json.dumps(meta) if f.rng.random() < 0.7 else meta,
    )
    t: Tokens = (inp, read, w5, 0, out)
    strs: list[PathT] = [
        (k,)
        for k in ("request_id", "model", "call_type", "session_id", "end_user", "user", "team_id", "api_key")
    ]
    return Good(
        rec,
        t,
        cost(fam, t, mult=mult),
        ints=[("prompt_tokens",), ("completion_tokens",)],
        strs=strs,
        ts=("startTime",),
    )


def _otel_attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _otel(f: Fuzzer) -> Good:
    """One export holding one model-call span (from the fixture's shape), sometimes beside an
    agent span and an HTTP span that are skipped inside the same record."""
    export = copy.deepcopy(_templates()["otel"][0])
    rs = export["resourceSpans"][0]
    ss = rs["scopeSpans"][0]
    claude = f.rng.random() < 0.6
    fam, model = f.family(CLAUDE if claude else GPT)
    inp, read, w5, _, out = f.tokens()
    if not claude:
        w5 = 0
    total_in = inp + read + w5
    t0 = f.when()
    ns = int(t0.timestamp()) * 10**9 + t0.microsecond * 1000
    span = copy.deepcopy(ss["spans"][0])
    response_id = f.uid("msg_" if claude else "chatcmpl-")
    attrs = [
        _otel_attr("gen_ai.operation.name", "chat"),
        _otel_attr("gen_ai.provider.name", "anthropic" if claude else "openai"),
        _otel_attr("gen_ai.request.model", model),
        _otel_attr("gen_ai.response.model", model),
        _otel_attr("gen_ai.response.id", response_id),
        _otel_attr("gen_ai.usage.input_tokens", total_in),
        _otel_attr("gen_ai.usage.output_tokens", out),
    ]
    if read or w5 or claude:
        attrs += [
            _otel_attr("gen_ai.usage.cache_read.input_tokens", read),
            _otel_attr("gen_ai.usage.cache_creation.input_tokens", w5),
        ]
    attrs.append(_otel_attr("app.feature", f.rng.choice(["contract-review", "chat"])))
    span.update(
        traceId=f"{f.rng.getrandbits(128):032x}",
        spanId=f"{f.rng.getrandbits(64):016x}",
        name=f"chat {model}",
        startTimeUnixNano=str(ns),
        endTimeUnixNano=str(ns + 2_500_000_000),
        attributes=attrs,
    )
    span.pop("parentSpanId", None)
    ss["scope"] = {
        "name": "opentelemetry.instrumentation.anthropic"
        if claude
        else "opentelemetry.instrumentation.openai"
    }
    ss["spans"] = [span]
    if f.rng.random() < 0.3:  # an HTTP span beside it: skipped, in the same record
        http = {"traceId": span["traceId"], "spanId": f"{f.rng.getrandbits(64):016x}", "name": "GET /health"}
        http.update(kind=3, startTimeUnixNano=str(ns), endTimeUnixNano=str(ns + 1000), status={})
        http["attributes"] = [_otel_attr("http.request.method", "GET")]
        ss["spans"].append(http)
    export["resourceSpans"] = [rs]
    base: PathT = ("resourceSpans", 0, "scopeSpans", 0, "spans", 0)
    t: Tokens = (inp, read, w5, 0, out)
    g = Good(export, t, cost(fam, t), otlp=True, ts=(*base, "startTimeUnixNano"), ts_units="ns")
    keys = [a["key"] for a in attrs]
    g.ints = [(*base, "attributes", i, "value") for i, k in enumerate(keys) if k.startswith("gen_ai.usage.")]
    for i, k in enumerate(keys):
        if k in ("gen_ai.response.model", "gen_ai.response.id", "gen_ai.provider.name", "app.feature"):
            g.strs.append((*base, "attributes", i, "value"))
            g.labels[g.strs[-1]] = k
    return g


def _openai_usage(f: Fuzzer) -> Good:
    page = copy.deepcopy(_templates()["openai_usage"][0])
    bucket = page["data"][0]
    result = copy.deepcopy(bucket["results"][0])
    fam, model = f.family(GPT)
    inp, read, _, _, out = f.tokens()
    batch = f.rng.random() < 0.3
    start = int(f.when().timestamp()) // 86400 * 86400
    bucket.update(start_time=start, end_time=start + 86400)
    result.update(
        input_tokens=inp + read,
        input_cached_tokens=read,
        output_tokens=out,
        num_model_requests=f.rng.randint(1, 50),
        project_id=f.uid("proj_"),
        model=model,
        batch=batch,
    )
    bucket["results"] = [result]
    page["data"] = [bucket]
    r: PathT = ("data", 0, "results", 0)
    t: Tokens = (inp, read, 0, 0, out)
    return Good(
        page,
        t,
        cost(fam, t, mult=BATCH if batch else 1.0),
        ints=[
            (*r, k) for k in ("input_tokens", "input_cached_tokens", "output_tokens", "num_model_requests")
        ],
        strs=[(*r, k) for k in ("model", "project_id", "object")],
        ts=("data", 0, "start_time"),
    )


def _anthropic_usage(f: Fuzzer) -> Good:
    page = copy.deepcopy(_templates()["anthropic_usage"][0])
    bucket = page["data"][0]
    result = copy.deepcopy(bucket["results"][0])
    fam, model = f.family(CLAUDE)
    t = f.tokens(w1h=True)
    searches = f.rng.randint(0, 5)
    day = f.when().replace(hour=0, minute=0, second=0, microsecond=0)
    bucket.update(
        starting_at=f.iso(day).replace(".000", ""),
        ending_at=f.iso(day + timedelta(days=1)).replace(".000", ""),
    )
    result.update(
        uncached_input_tokens=t[0],
        cache_read_input_tokens=t[1],
        cache_creation={"ephemeral_5m_input_tokens": t[2], "ephemeral_1h_input_tokens": t[3]},
        output_tokens=t[4],
        server_tool_use={"web_search_requests": searches},
        workspace_id=f.uid("wrkspc_"),
        model=model,
        service_tier="standard",
        context_window="0-200k",
        inference_geo="global",
    )
    bucket["results"] = [result]
    page["data"] = [bucket]
    r: PathT = ("data", 0, "results", 0)
    ints = [(*r, k) for k in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")]
    ints += [(*r, "cache_creation", k) for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")]
    ints.append((*r, "server_tool_use", "web_search_requests"))
    return Good(
        page,
        t,
        cost(fam, t, searches=searches),
        ints=ints,
        strs=[(*r, k) for k in ("model", "workspace_id", "service_tier", "context_window")],
        ts=("data", 0, "starting_at"),
    )


GOOD: dict[str, Callable[[Fuzzer], Good]] = {
    "anthropic_messages": _messages,
    "anthropic_batch": _batch,
    "claude_code": _claude_code,
    "openai": _openai,
    "openai_usage": _openai_usage,
    "bedrock": _bedrock,
    "litellm": _litellm,
    "otel": _otel,
    "anthropic_usage": _anthropic_usage,
}
READERS = tuple(GOOD)
"""Every built-in reader that reads JSON lines (the CSV-only mappings are configured, not built in)."""


def _skip_messages(f: Fuzzer) -> dict[str, Any]:
    if f.rng.random() < 0.5:
        return {"type": "ping"}
    return {
        "ts": f.iso(),
        "request_id": f.uid("req_"),
        "response": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    }


def _skip_batch(f: Fuzzer) -> dict[str, Any]:
    kind = f.rng.choice(["errored", "canceled", "expired"])
    return {"custom_id": f.uid("req-"), "result": {"type": kind}}


def _skip_claude_code(f: Fuzzer) -> dict[str, Any]:
    rec = copy.deepcopy(f.rng.choice(_templates()["claude_code_other"]))
    if "uuid" in rec:
        rec["uuid"] = f.uid("uuid-")
    return rec


def _skip_openai(f: Fuzzer) -> dict[str, Any]:
    rec = copy.deepcopy(_templates()["openai_error"][0])
    rec["request_id"] = f.uid("req_oa_")
    return rec


def _skip_bedrock(f: Fuzzer) -> dict[str, Any]:
    rec = _bedrock(f).obj
    rec["errorCode"] = f.rng.choice(["ThrottlingException", "ValidationException"])
    return rec


def _skip_litellm(f: Fuzzer) -> dict[str, Any]:
    rec = _litellm(f).obj
    if f.rng.random() < 0.5:
        rec["status"] = "failure"
    else:
        rec["cache_hit"] = "True"
    return rec


def _skip_otel(f: Fuzzer) -> dict[str, Any]:
    export = _otel(f).obj
    span = export["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] = [a for a in span["attributes"] if not a["key"].startswith("gen_ai.usage.")]
    return export


SKIPS: dict[str, Callable[[Fuzzer], dict[str, Any]]] = {
    "anthropic_messages": _skip_messages,
    "anthropic_batch": _skip_batch,
    "claude_code": _skip_claude_code,
    "openai": _skip_openai,
    "bedrock": _skip_bedrock,
    "litellm": _skip_litellm,
    "otel": _skip_otel,
}


# --- mutations ----------------------------------------------------------------------------------

PLACEHOLDER = "@@FUZZ@@"
_QUOTED = json.dumps(PLACEHOLDER).encode()


def _encode_with(f: Fuzzer, g: Good, path: PathT, raw: bytes) -> bytes:
    """The record with `raw` bytes (anything, valid JSON or not) as the value at `path`."""
    obj = copy.deepcopy(g.obj)
    put(obj, path, PLACEHOLDER)
    return dumps(obj, f.rng).replace(_QUOTED, raw, 1)


def _with(f: Fuzzer, g: Good, path: PathT, value: Any) -> bytes:
    obj = copy.deepcopy(g.obj)
    put(obj, path, value)
    return dumps(obj, f.rng)


def _kept(g: Good, data: bytes, kind: str, marker: str | None = None) -> FuzzLine:
    return FuzzLine(data, "keep", kind, g.rows, g.tokens, g.cost, marker)


def _rejected(data: bytes, kind: str, marker: str | None = None) -> FuzzLine:
    return FuzzLine(data, "reject", kind, marker=marker)


def _either(data: bytes, kind: str, marker: str | None = None) -> FuzzLine:
    return FuzzLine(data, "either", kind, marker=marker)


def _m_truncated(f: Fuzzer, g: Good) -> FuzzLine:
    m = f.marker()
    obj = copy.deepcopy(g.obj)
    put(obj, g.spare, f"{m} " * 4)
    data = dumps(obj, f.rng)
    cut = f.rng.randrange(1, len(data) - 1)
    return _rejected(data[:cut], "truncated", m)


def _m_bad_utf8(f: Fuzzer, g: Good) -> FuzzLine:
    m = f.marker()
    junk = f.rng.choice(
        [
            b"\xff\xfe",
            b"\xc3",  # a UTF-8 sequence cut after its first byte
            b"\xe2\x82",
            b"\xc0\xaf",  # an overlong encoding
            b"\x80",
        ]
    )
    path = f.rng.choice([g.spare, *g.strs])
    value = b'"' + m.encode() + junk + b'"'
    if g.otlp and path != g.spare:
        value = b'{"stringValue":' + value + b"}"
    return _rejected(_encode_with(f, g, path, value), "bad_utf8", m)


def _m_encoded_surrogate(f: Fuzzer, g: Good) -> FuzzLine:
    """A UTF-16 surrogate encoded as if it were a character (CESU-8, `ED A0 BD`): not UTF-8, but
    Python's JSON decoder lets it through (`surrogatepass`), so no rule is assumed here."""
    m = f.marker()
    return _either(_encode_with(f, g, g.spare, b'"' + m.encode() + b'\xed\xa0\xbd"'), "encoded_surrogate", m)


_NAMES = ("model", "modelId", "type", "object", "service_tier", "status", "call_type", "context_window")
_NAMES += ("operation", "region", "gen_ai.response.model", "gen_ai.provider.name", "result", "stop_reason")
"""String fields whose value changes how a record is read or priced (free text elsewhere is kept as is)."""


def _free_text(g: Good) -> list[PathT]:
    return [p for p in g.strs if g.name(p) not in _NAMES]


def _m_lone_surrogate(f: Fuzzer, g: Good) -> FuzzLine:
    """An escaped lone surrogate (an emoji cut in half): valid JSON, kept (U+FFFD where stored)."""
    m = f.marker()
    esc = f.rng.choice([b"\\ud83d", b"\\ude00", b"\\udbff"])
    path = f.rng.choice([g.spare, *_free_text(g)])
    value = b'"' + m.encode() + esc + b'"'
    if g.otlp and path != g.spare:
        value = b'{"stringValue":' + value + b"}"
    return _kept(g, _encode_with(f, g, path, value), "lone_surrogate")


def _int_paths(g: Good) -> list[PathT]:
    if not g.ints:
        raise ValueError("no integer field")
    return g.ints


def _m_int_wrong_type(f: Fuzzer, g: Good) -> FuzzLine:
    m = f.marker()
    path = f.rng.choice(_int_paths(g))
    if g.otlp:
        value: Any = f.rng.choice(
            [
                {"intValue": m},
                {"intValue": 12.5},
                {"boolValue": True},
                {"kvlistValue": {"values": [{"key": m, "value": {"intValue": "1"}}]}},
            ]
        )
    else:
        value = f.rng.choice([m, "123", 12.5, 1.0, True, False, [1], {m: 1}, [m], "", 1e2])
    return _rejected(_with(f, g, path, value), "int_wrong_type", m)


def _m_str_container(f: Fuzzer, g: Good) -> FuzzLine:
    """An object or array where a string (an id, a model, a feature) is expected."""
    m = f.marker()
    if not g.strs:
        raise ValueError("no string field")
    path = f.rng.choice(g.strs)
    if g.otlp:
        value: Any = f.rng.choice(
            [
                {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": m}}]}},
                {"arrayValue": {"values": [{"stringValue": m}]}},
            ]
        )
    else:
        value = f.rng.choice([{"text": m}, [m], {"nested": {"deeper": [m, 1]}}, [], {}, [{"k": m}]])
    return _rejected(_with(f, g, path, value), "str_container", m)


def _m_str_scalar(f: Fuzzer, g: Good) -> FuzzLine:
    """A number or boolean where a string is expected: no rule says keep or reject."""
    if not g.strs:
        raise ValueError("no string field")
    path = f.rng.choice(g.strs)
    value: Any = f.rng.choice([12345, -1, 1.5, True, False, 10**20])
    if g.otlp:
        value = f.rng.choice([{"intValue": "12345"}, {"boolValue": True}, {"doubleValue": 1.5}])
    return _either(_with(f, g, path, value), "str_scalar")


def _m_str_brace(f: Fuzzer, g: Good) -> FuzzLine:
    """A real string that merely starts with `{` or `[` (a feature named "[beta] chat"): kept."""
    m = f.marker()
    choices = _free_text(g)
    if not choices:
        return _m_str_scalar(f, g)
    path = f.rng.choice(choices)
    text = f.rng.choice(["[beta] chat ", "{not json ", "[", "{}", "[1, 2]", '{"a": 1}'])
    value: Any = {"stringValue": text + m} if g.otlp else text + m
    return FuzzLine(_with(f, g, path, value), "keep", "str_brace", g.rows, g.tokens, g.cost)


def _m_deep(f: Fuzzer, g: Good) -> FuzzLine:
    """2,000 nested arrays or objects in a field no reader reads (deeper than Python's recursion
    limit, well within DuckDB's)."""
    depth = f.rng.choice([2_000, 2_500, 5_000])
    arrays = f.rng.random() < 0.5
    raw = b"[" * depth + b"]" * depth if arrays else b'{"a":' * depth + b"1" + b"}" * depth
    return _either(_encode_with(f, g, g.spare, raw), "deep")


def _m_nested_ok(f: Fuzzer, g: Good) -> FuzzLine:
    """Nesting a parser handles (200 levels) in an unrelated field: kept."""
    depth = 200
    raw = b"[" * depth + b"]" * depth if f.rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
    return _kept(g, _encode_with(f, g, g.spare, raw), "nested_ok")


def _m_huge_int(f: Fuzzer, g: Good) -> FuzzLine:
    path = f.rng.choice(_int_paths(g))
    big = f.rng.choice(
        [
            b"9223372036854775807",
            b"9223372036854775808",
            b"18446744073709551616",
            b"1" + b"0" * 30,
            b"1e30",
            b"1E300",
        ]
    )
    if g.otlp:
        raw = b'{"intValue":"' + big + b'"}' if big.isdigit() else b'{"intValue":' + big + b"}"
    else:
        raw = big
    return _rejected(_encode_with(f, g, path, raw), "huge_int")


def _m_negative(f: Fuzzer, g: Good) -> FuzzLine:
    path = f.rng.choice(_int_paths(g))
    n = -f.rng.choice([1, 7, 1000, 10**9, 2**63])
    value: Any = {"intValue": str(n)} if g.otlp else n
    return _rejected(_with(f, g, path, value), "negative")


def _instant(g: Good) -> datetime:
    value = get(g.obj, g.ts) if g.ts else None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        v = int(value)
        return datetime.fromtimestamp(v / 1e9 if v > 1e17 else v, UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T")).replace(tzinfo=UTC)
    return datetime(2026, 9, 1, tzinfo=UTC)


def _m_ts_units(f: Fuzzer, g: Good) -> FuzzLine:
    """The same instant as epoch s/ms/us/ns (number or digits) or another ISO 8601 spelling: kept."""
    if g.ts is None:
        return _m_ts_out_of_range(f, g)
    t = _instant(g)
    s = int(t.timestamp())
    if g.ts_units == "ns":
        value: Any = f.rng.choice([s * 10**9, str(s * 10**9 + 123)])
        return _kept(g, _with(f, g, g.ts, value), "ts_units")
    value = f.rng.choice(
        [
            s,
            s * 1000 + 123,
            s * 10**6 + 123456,
            s * 10**9 + 123456789,
            str(s),
            str(s * 1000),
            t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            t.strftime("%Y-%m-%d %H:%M:%S"),
            (t + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
            t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
        ]
    )
    return _kept(g, _with(f, g, g.ts, value), "ts_units")


def _m_ts_out_of_range(f: Fuzzer, g: Good) -> FuzzLine:
    """Times no request has (before 2000, from 2100, zero, negative, a unit misread): rejected."""
    if g.ts is None:
        return _m_int_wrong_type(f, g) if g.ints else _m_str_container(f, g)
    m = f.marker()
    if g.ts_units == "ns":
        value: Any = f.rng.choice(
            ["0", "1788267600", "1788267600000", 4102444800 * 10**9, "-5", m, "99999999999999999999999"]
        )
    else:
        value = f.rng.choice(
            [
                0,
                -1,
                946684799,  # 1999-12-31T23:59:59
                4102444800,  # 2100-01-01
                4102444800 * 10**9,
                "1999-12-31T23:59:59Z",
                "2100-01-01T00:00:00Z",
                "0001-01-01T00:00:00Z",
                "58136-01-01T00:00:00Z",
                "2026-13-45T99:00:00Z",
                f"not a time {m}",
                True,
                {"$date": m},
                [m],
                "",
                1e30,
            ]
        )
    if g.otlp:
        value = str(value) if not isinstance(value, str) else value
    return _rejected(_with(f, g, g.ts, value), "ts_out_of_range", m)


def _m_nan(f: Fuzzer, g: Good) -> FuzzLine:
    """NaN / Infinity (not JSON, but DuckDB reads it): in a token field, rejected; in a field no
    reader reads, whatever both paths agree on (tierlens keeps the line, as DuckDB does)."""
    token = f.rng.choice([b"NaN", b"Infinity", b"-Infinity"])
    path = f.rng.choice([g.spare, *(g.ints if not g.otlp else [])])
    if path == g.spare:
        return _either(_encode_with(f, g, path, token), "nan")
    return _rejected(_encode_with(f, g, path, token), "nan")


def _m_blank(f: Fuzzer, g: Good) -> FuzzLine:
    return FuzzLine(f.rng.choice([b"", b" ", b"   ", b"\t", b"\r", b" \t \r"]), "skip", "blank")


def _m_non_object(f: Fuzzer, g: Good) -> FuzzLine:
    good = dumps(g.obj, f.rng)
    data = f.rng.choice(
        [
            b"[1,2]",
            b"[]",
            b"42",
            b"-1.5",
            b'"a string"',
            b"null",
            b"true",
            b"false",
            b"[" + good + b"]",
            b'[{"a":1},{"b":2}]',
        ]
    )
    return _rejected(data, "non_object")


def _m_long_line(f: Fuzzer, g: Good, size: int | None = None) -> FuzzLine:
    """A good record with a very long unrelated string (a response body logged whole): kept."""
    n = size or f.rng.choice([70_000, 300_000, 1_100_000])
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (n // 57 + 1))[:n]
    return _kept(g, _with(f, g, g.spare, filler), "long_line")


def _m_crlf(f: Fuzzer, g: Good) -> FuzzLine:
    return _kept(g, dumps(g.obj, f.rng) + b"\r", "crlf")


def _m_padded(f: Fuzzer, g: Good) -> FuzzLine:
    return _kept(g, b"  " + dumps(g.obj, f.rng) + b" \t", "padded")


def _m_bom_inside(f: Fuzzer, g: Good) -> FuzzLine:
    return _either(b"\xef\xbb\xbf" + dumps(g.obj, f.rng), "bom_inside")


def _m_duplicate_key(f: Fuzzer, g: Good) -> FuzzLine:
    data = dumps(g.obj)
    if not data.startswith(b"{"):
        return _either(data, "duplicate_key")
    return _either(b'{"zz_dup":1,"zz_dup":2,' + data[1:], "duplicate_key")


def _m_escaped_key(f: Fuzzer, g: Good) -> FuzzLine:
    """A key spelled with \\u escapes (`"mod\\u0065l"` is `"model"`): the same record, kept."""
    data = dumps(g.obj)
    for key in (b'"model":', b'"modelId":', b'"usage":', b'"resourceSpans":', b'"data":'):
        if key in data:
            spelled = key[:-3] + b"\\u%04x" % key[-3] + b'":'
            return _kept(g, data.replace(key, spelled, 1), "escaped_key")
    return _kept(g, data, "escaped_key")


def _m_trailing(f: Fuzzer, g: Good) -> FuzzLine:
    good = dumps(g.obj, f.rng)
    m = f.marker()
    tail = f.rng.choice([b" x", b" " + good, b"}", b",", b" // " + m.encode(), b" " + m.encode()])
    return _rejected(good + tail, "trailing_garbage", m)


def _m_trailing_comma(f: Fuzzer, g: Good) -> FuzzLine:
    """A trailing comma (DuckDB reads it): both paths must agree (tierlens keeps the record)."""
    good = dumps(g.obj)
    return _either(good[:-1] + b",}", "trailing_comma")


def _m_bad_escape(f: Fuzzer, g: Good) -> FuzzLine:
    m = f.marker()
    junk = f.rng.choice([b"\\uZZZZ", b"\\x41", b"\\", b"\x01", b"\x00", b"\t", b"\x1f"])
    return _rejected(_encode_with(f, g, g.spare, b'"' + m.encode() + junk + b'"'), "bad_escape", m)


def _m_long_digits(f: Fuzzer, g: Good) -> FuzzLine:
    """An integer of 5,000 digits in an unrelated field (above Python's int-string limit)."""
    return _either(_encode_with(f, g, g.spare, b"9" * 5000), "long_digits")


def _m_unrelated_big(f: Fuzzer, g: Good) -> FuzzLine:
    raw = f.rng.choice([b"18446744073709551616", b"1e400", b"-1e400", b"123456789012345678901234567890"])
    return _either(_encode_with(f, g, g.spare, raw), "unrelated_big")


def _m_wrong_shape(f: Fuzzer, g: Good) -> FuzzLine:
    """A string, number or array where the record has an object on the way to a token field."""
    m = f.marker()
    nested = [p for p in g.ints if len(p) > 1 and not isinstance(p[-2], int)]
    if not nested:
        return _m_int_wrong_type(f, g)
    path = f.rng.choice(nested)
    value = f.rng.choice([m, 17, [m], True])
    line = _with(f, g, path[:-1], value)
    # a path a reader only probes (Claude Code's `message`) reads as absent: then the line is skipped
    return _either(line, "wrong_shape", m) if g.loose else _rejected(line, "wrong_shape", m)


MUTATIONS: dict[str, Callable[[Fuzzer, Good], FuzzLine]] = {
    "truncated": _m_truncated,
    "bad_utf8": _m_bad_utf8,
    "lone_surrogate": _m_lone_surrogate,
    "encoded_surrogate": _m_encoded_surrogate,
    "int_wrong_type": _m_int_wrong_type,
    "str_container": _m_str_container,
    "str_scalar": _m_str_scalar,
    "str_brace": _m_str_brace,
    "deep": _m_deep,
    "nested_ok": _m_nested_ok,
    "huge_int": _m_huge_int,
    "negative": _m_negative,
    "ts_units": _m_ts_units,
    "ts_out_of_range": _m_ts_out_of_range,
    "nan": _m_nan,
    "blank": _m_blank,
    "non_object": _m_non_object,
    "long_line": _m_long_line,
    "crlf": _m_crlf,
    "padded": _m_padded,
    "bom_inside": _m_bom_inside,
    "duplicate_key": _m_duplicate_key,
    "escaped_key": _m_escaped_key,
    "trailing_garbage": _m_trailing,
    "trailing_comma": _m_trailing_comma,
    "bad_escape": _m_bad_escape,
    "long_digits": _m_long_digits,
    "unrelated_big": _m_unrelated_big,
    "wrong_shape": _m_wrong_shape,
}
KINDS: tuple[str, ...] = (*MUTATIONS, "skip_record")
"""Every kind of fuzzed line (`Fuzzer.line`); `good` is the unmutated kind."""
CHEAP_KINDS = tuple(k for k in KINDS if k != "long_line")


# --- a corpus of many files ---------------------------------------------------------------------

CORPUS: dict[str, tuple[str, int]] = {
    # file (under the corpus root) -> (reader, lines); half of each file's lines are fuzzed
    "gateway/anthropic-2026-09.jsonl": ("anthropic_messages", 40_000),
    "gateway/anthropic-2026-10.jsonl.gz": ("anthropic_messages", 20_000),
    "openai/chat.jsonl": ("openai", 30_000),
    "bedrock/invocations.jsonl.gz": ("bedrock", 30_000),
    "litellm/spend.ndjson": ("litellm", 20_000),
    "otel/traces.jsonl": ("otel", 20_000),
    "batches/msgbatch_01FUZZ_results.jsonl": ("anthropic_batch", 10_000),
    "usage/openai_usage.jsonl": ("openai_usage", 10_000),
    "usage/anthropic_usage.jsonl": ("anthropic_usage", 10_000),
    "claude/projects/-home-dev-app/session-fuzz.jsonl": ("claude_code", 10_000),
}
BIG_LINE = 17 * 1024 * 1024
"""A kept line above DuckDB's 16 MiB record limit (the exact path reads it)."""


def build_corpus(
    root: Path, seed: int = 7, scale: float = 1.0, bad_share: float = 0.5
) -> dict[str, list[FuzzLine]]:
    """The files of `CORPUS` under `root` (`scale` x their lines; at 1.0, 200,000 lines of which about
    100,000 fuzzed), each starting with good lines; the first holds a 2 MB and a 17 MiB good line."""
    files: dict[str, list[FuzzLine]] = {}
    for i, (name, (fmt, n)) in enumerate(CORPUS.items()):
        fz = Fuzzer(fmt, seed + i)
        lines = fz.mixed(max(int(n * scale), 10), bad_share, kinds=CHEAP_KINDS)
        if i == 0:
            lines.insert(len(lines) // 2, long_line(fz, BIG_LINE))
            lines.insert(len(lines) // 3, long_line(fz, 2_000_000))
        files[name] = lines
        write_lines(root / name, lines, gz=name.endswith(".gz"))
    return files


def long_line(f: Fuzzer, size: int) -> FuzzLine:
    """A good line of about `size` bytes (above 16 MiB, DuckDB's record limit: the exact path reads it)."""
    return _m_long_line(f, f.good_record(), size)
