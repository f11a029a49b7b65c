"""Write sample_logs/more/: small, realistic logs of every gateway, cloud and telemetry format, deterministic.

    python scripts/gen_more_sample_logs.py --out sample_logs/more

Rerunning rewrites every file byte for byte (seeded RNG, fixed dates). The generator prices what
it writes with its own small implementation of the FACTS.md rules (exact decimals), independent
of tierlens' pricer, and prints the per-format reference totals that sample_logs/README.md
section 4 lists and tests/test_sources_all.py checks to $0.000001.

Periods: the request logs (OpenAI, Bedrock, LiteLLM, OpenTelemetry, the custom gateway) fall in
ISO week 2026-W46 (Mon 2026-11-09 .. Sun 2026-11-15); the aggregate reports (Anthropic
usage_report + cost_report, OpenAI usage + costs) cover Fri 2026-11-06 .. Sun 2026-11-08, so
that reconciling a cost report against a dataset holding everything compares like with like.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

D = Decimal
M = D(1_000_000)
ONE = D(1)
# USD per million tokens: input, 5m write, 1h write, cache read, output (FACTS.md)
ANTHROPIC = {
    "claude-sonnet-4-5": (D(3), D("3.75"), D(6), D("0.30"), D(15)),
    "claude-sonnet-4-6": (D(3), D("3.75"), D(6), D("0.30"), D(15)),
    "claude-haiku-4-5": (D(1), D("1.25"), D(2), D("0.10"), D(5)),
    "claude-opus-4-6": (D(5), D("6.25"), D(10), D("0.50"), D(25)),
    "claude-3-5-haiku": (D("0.80"), D(1), D("1.6"), D("0.08"), D(4)),
}
LONG = {"claude-sonnet-4-5": (D(6), D("7.50"), D(12), D("0.60"), D("22.50"))}
GEO_US = {"claude-opus-4-6", "claude-sonnet-4-6"}
REGIONAL = {"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-6", "claude-sonnet-4-6"}
OPENAI = {  # input, cached input, output
    "gpt-4o": (D("2.50"), D("1.25"), D(10)),
    "gpt-4o-mini": (D("0.15"), D("0.075"), D("0.60")),
    "gpt-4.1": (D(2), D("0.50"), D(8)),
    "gpt-5-mini": (D("0.25"), D("0.025"), D(2)),
}
W46 = datetime(2026, 11, 9, tzinfo=UTC)
W45 = datetime(2026, 11, 2, tzinfo=UTC)


def claude_cost(
    model: str,
    uncached: int,
    w5: int,
    w1: int,
    read: int,
    out: int,
    *,
    mult: D = ONE,
    long: bool | None = None,
) -> dict[str, D]:
    """Per-category USD of one request (or bucket); `long` None = decided by the prompt size."""
    if long is None:
        long = model in LONG and uncached + w5 + w1 + read > 200_000
    r = LONG[model] if long else ANTHROPIC[model]
    return {
        "input": uncached * r[0] / M * mult,
        "cache_write": (w5 * r[1] + w1 * r[2]) / M * mult,
        "cache_read": read * r[3] / M * mult,
        "output": out * r[4] / M * mult,
    }


def openai_cost(model: str, prompt: int, cached: int, out: int, mult: D = ONE) -> dict[str, D]:
    r = OPENAI[model]
    return {
        "input": (prompt - cached) * r[0] / M * mult,
        "cache_read": cached * r[1] / M * mult,
        "output": out * r[2] / M * mult,
    }


class Totals:
    def __init__(self) -> None:
        self.by_format: dict[str, D] = defaultdict(D)
        self.rows: dict[str, int] = defaultdict(int)
        self.unpriced: dict[str, int] = defaultdict(int)

    def add(self, fmt: str, cost: dict[str, D] | D | None, rows: int = 1) -> None:
        self.rows[fmt] += rows
        if cost is None:
            self.unpriced[fmt] += rows
            return
        self.by_format[fmt] += cost if isinstance(cost, D) else sum(cost.values(), D(0))


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def rand_time(rng: random.Random, start: datetime, days: int = 7) -> datetime:
    return start + timedelta(seconds=rng.randrange(days * 86400), milliseconds=rng.randrange(1000))


def hexid(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def b62(rng: random.Random, n: int) -> str:
    return "".join(
        rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(n)
    )


# --- OpenAI request logs ----------------------------------------------------------------------------


def openai_logs(rng: random.Random, t: Totals) -> str:
    lines = []
    plan = [("support-chat", "gpt-4o-2024-08-06", "chat")] * 8 + [
        ("search-answer", "gpt-5-mini-2025-08-07", "responses")
    ] * 6
    plan += [("email-drafter", "gpt-4.1-2025-04-14", "chat")] * 4
    times = sorted(rand_time(rng, W46) for _ in plan)
    for (feature, model, kind), ts in zip(plan, times, strict=True):
        mid = {
            "gpt-4o-2024-08-06": "gpt-4o",
            "gpt-5-mini-2025-08-07": "gpt-5-mini",
            "gpt-4.1-2025-04-14": "gpt-4.1",
        }[model]
        prompt = rng.randrange(800, 6000)
        cached = rng.choice([0, 0, 1024, 2048]) if prompt > 2100 else 0
        out = rng.randrange(60, 900)
        user = f"u_{rng.randrange(1, 25):04d}"
        if kind == "chat":
            tool = feature == "email-drafter" and rng.random() < 0.5
            resp: dict[str, Any] = {
                "id": "chatcmpl-" + b62(rng, 29),
                "object": "chat.completion",
                "created": int(ts.timestamp()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None if tool else "[redacted]"}
                        | (
                            {
                                "tool_calls": [
                                    {
                                        "id": "call_" + b62(rng, 24),
                                        "type": "function",
                                        "function": {"name": "draft", "arguments": "{}"},
                                    }
                                ]
                            }
                            if tool
                            else {}
                        ),
                        "finish_reason": "tool_calls" if tool else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": out,
                    "total_tokens": prompt + out,
                    "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
                },
                "service_tier": "default",
                "system_fingerprint": "fp_" + hexid(rng, 10),
            }
        else:
            reasoning = rng.randrange(0, out)
            resp = {
                "id": "resp_" + hexid(rng, 48),
                "object": "response",
                "created_at": int(ts.timestamp()),
                "status": "completed",
                "model": model,
                "output": [
                    {"type": "reasoning", "id": "rs_" + hexid(rng, 12)},
                    {"type": "message", "id": "msg_" + hexid(rng, 12), "role": "assistant"},
                ],
                "usage": {
                    "input_tokens": prompt,
                    "input_tokens_details": {"cached_tokens": cached},
                    "output_tokens": out,
                    "output_tokens_details": {"reasoning_tokens": reasoning},
                    "total_tokens": prompt + out,
                },
            }
        rec = {
            "ts": iso(ts),
            "request_id": "req_" + hexid(rng, 24),
            "feature": feature,
            "user_id": user,
            "tags": ["env:prod", f"team:{feature.split('-')[0]}"],
            "latency_ms": rng.randrange(400, 9000),
            "response": resp,
        }
        lines.append(rec)
        t.add("openai", openai_cost(mid, prompt, cached, out))
    # a rate-limited call (skipped) and a streaming chunk without usage (skipped)
    lines.insert(
        5,
        {
            "ts": iso(times[5]),
            "request_id": "req_" + hexid(rng, 24),
            "feature": "support-chat",
            "response": {
                "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
            },
        },
    )
    lines.insert(
        9,
        {
            "id": "chatcmpl-" + b62(rng, 29),
            "object": "chat.completion.chunk",
            "created": int(times[9].timestamp()),
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
        },
    )
    return "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines)


# --- Bedrock ----------------------------------------------------------------------------------------

APP_PROFILE = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/k8w2q9x4z1m7"


def bedrock_logs(rng: random.Random, t: Totals) -> str:
    plan = (
        [("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", True, "support-bot")] * 5
        + [("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5", False, "search-indexer")]
        * 5
        + [("eu.anthropic.claude-opus-4-6-v1", "claude-opus-4-6", True, "contracts")] * 2
        + [("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku", False, "search-indexer")] * 2
        + [(APP_PROFILE, "claude-haiku-4-5", True, "labs")]
        * 2  # priced through the config mapping (a us. profile)
        + [("us.amazon.nova-pro-v1:0", None, True, "labs")]
    )
    lines = []
    times = sorted(rand_time(rng, W46) for _ in plan)
    for (model_id, priced_as, regional, role), ts in zip(plan, times, strict=True):
        uncached = rng.randrange(300, 4000)
        read = rng.choice([0, 0, 2048, 4096])
        write = rng.choice([0, 0, 0, 1024])
        out = rng.randrange(40, 1200)
        rec = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accountId": "111122223333",
            "identity": {"arn": f"arn:aws:sts::111122223333:assumed-role/{role}/i-{hexid(rng, 17)}"},
            "region": "eu-central-1" if model_id.startswith("eu.") else "us-east-1",
            "requestId": f"{hexid(rng, 8)}-{hexid(rng, 4)}-{hexid(rng, 4)}-{hexid(rng, 4)}-{hexid(rng, 12)}",
            "operation": rng.choice(["Converse", "InvokeModel"]),
            "modelId": model_id,
            "input": {
                "inputContentType": "application/json",
                "inputTokenCount": uncached,
                "cacheReadInputTokenCount": read,
                "cacheWriteInputTokenCount": write,
            },
            "output": {
                "outputContentType": "application/json",
                "outputBodyJson": {"stopReason": rng.choice(["end_turn", "end_turn", "max_tokens"])},
                "outputTokenCount": out,
            },
        }
        if role == "support-bot":
            rec["requestMetadata"] = {"feature": "support-chat", "user_id": f"u_{rng.randrange(1, 25):04d}"}
        lines.append(rec)
        if priced_as is None:  # Amazon Nova Pro: aws.amazon.com/bedrock/pricing (no cache-write rate)
            nova = (D(uncached) * D("0.8") + D(read) * D("0.2") + D(out) * D("3.2")) / D(1_000_000)
            t.add("bedrock", None if write else nova)
            continue
        mult = D("1.1") if regional and priced_as in REGIONAL else D(1)
        t.add("bedrock", claude_cost(priced_as, uncached, write, 0, read, out, mult=mult))
    err = dict(lines[3])
    err = {
        **err,
        "requestId": f"{hexid(rng, 8)}-0000-0000-0000-{hexid(rng, 12)}",
        "errorCode": "ThrottlingException",
        "output": {"outputContentType": "application/json"},
    }
    lines.insert(4, err)
    return "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines)


# --- LiteLLM ----------------------------------------------------------------------------------------

LITELLM_COLUMNS = [
    "request_id",
    "call_type",
    "api_key",
    "spend",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "endTime",
    "model",
    "model_group",
    "custom_llm_provider",
    "user",
    "metadata",
    "cache_hit",
    "request_tags",
    "team_id",
    "end_user",
    "status",
]


def litellm_rows(rng: random.Random, t: Totals, n: int, start: datetime) -> list[dict[str, Any]]:
    models = [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic", D(1)),
        ("anthropic/claude-haiku-4-5-20251001", "claude-haiku-4-5", "anthropic", D(1)),
        ("bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5", "bedrock", D("1.1")),
        ("gpt-4o-mini", "gpt-4o-mini", "openai", D(1)),
    ]
    out = []
    key = hexid(rng, 64)
    for i in range(n):
        model, mid, provider, mult = models[i % len(models)]
        ts = rand_time(rng, start)
        completion = rng.randrange(50, 700)
        uncached = rng.randrange(200, 3000)
        tags = rng.choice(
            [["feature:search"], ["feature:search", "feature:rerank"], ["feature:summarize"], []]
        )
        meta: dict[str, Any] = {"user_api_key_team_alias": "platform", "spend_logs_metadata": None}
        if mid.startswith("claude"):
            read = rng.choice([0, 1500, 3000])
            w5 = rng.choice([0, 0, 800])
            w1 = rng.choice([0, 0, 0, 400])
            prompt = uncached + read + w5 + w1
            meta["usage_object"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": w5 + w1,
                "prompt_tokens_details": {
                    "cached_tokens": read,
                    "cache_creation_tokens": w5 + w1,
                    "cache_creation_token_details": {
                        "ephemeral_5m_input_tokens": w5,
                        "ephemeral_1h_input_tokens": w1,
                    },
                },
            }
            cost = claude_cost(mid, uncached, w5, w1, read, completion, mult=mult)
        else:
            read = rng.choice([0, 1024])
            prompt = uncached + read
            meta["usage_object"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": read},
            }
            cost = openai_cost(mid, prompt, read, completion)
        if not tags:
            meta["spend_logs_metadata"] = {"feature": "ticket-triage"}
        total = sum(cost.values(), D(0))
        # LiteLLM's own spend: its model map agrees, except for the 1h writes it prices as 5m (a planted difference)
        spend = total
        if (
            mid.startswith("claude")
            and meta["usage_object"]["prompt_tokens_details"]["cache_creation_token_details"][
                "ephemeral_1h_input_tokens"
            ]
        ):
            w1 = meta["usage_object"]["prompt_tokens_details"]["cache_creation_token_details"][
                "ephemeral_1h_input_tokens"
            ]
            spend -= w1 * (ANTHROPIC[mid][2] - ANTHROPIC[mid][1]) / M * mult
        out.append(
            {
                "request_id": "chatcmpl-" + hexid(rng, 8) + "-" + hexid(rng, 4),
                "call_type": "acompletion",
                "api_key": key,
                "spend": f"{spend:.10f}".rstrip("0"),
                "total_tokens": prompt + completion,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "startTime": ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "endTime": (ts + timedelta(milliseconds=rng.randrange(300, 8000))).strftime(
                    "%Y-%m-%d %H:%M:%S.%f"
                ),
                "model": model,
                "model_group": mid,
                "custom_llm_provider": provider,
                "user": f"u_{rng.randrange(1, 25):04d}",
                "metadata": meta,
                "cache_hit": "False",
                "request_tags": tags,
                "team_id": "team_platform",
                "end_user": "",
                "status": "success",
            }
        )
        t.add("litellm", cost)
    return out


def litellm_csv(rng: random.Random, t: Totals) -> str:
    rows = litellm_rows(rng, t, 14, W46)
    hit = dict(rows[2], request_id="chatcmpl-" + hexid(rng, 8) + "-hit0", cache_hit="True", spend="0.0")
    failed = dict(
        rows[5],
        request_id="chatcmpl-" + hexid(rng, 8) + "-fail",
        status="failure",
        spend="0.0",
        prompt_tokens=0,
        completion_tokens=0,
        total_tokens=0,
        metadata={"error_information": {"error_class": "RateLimitError"}},
    )
    rows[3:3] = [hit]
    rows[8:8] = [failed]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LITELLM_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(
            {**r, "metadata": json.dumps(r["metadata"]), "request_tags": json.dumps(r["request_tags"])}
        )
    return buf.getvalue()


def litellm_json(rng: random.Random, t: Totals) -> str:
    rows = litellm_rows(rng, t, 5, W46)
    for r in rows:
        r["spend"] = float(r["spend"])
    return json.dumps(rows, indent=2) + "\n"


# --- OpenTelemetry ----------------------------------------------------------------------------------


def kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": x} for x in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def otel_exports(rng: random.Random, t: Totals) -> str:
    lines = []
    for service, feature, model, n in (
        ("contracts-api", "contract-review", "claude-opus-4-6", 3),
        ("support-agent", "support-chat", "claude-sonnet-4-6", 4),
        ("billing-worker", None, "gpt-4o", 2),
    ):
        spans = []
        for _ in range(n):
            trace = hexid(rng, 32)
            start = rand_time(rng, W46)
            t0 = int(start.timestamp()) * 10**9 + start.microsecond * 1000
            agent_id = hexid(rng, 16)
            uncached = rng.randrange(500, 5000)
            read = rng.choice([0, 4096, 8192]) if model.startswith("claude") else rng.choice([0, 1024])
            write = rng.choice([0, 0, 1024]) if model.startswith("claude") else 0
            out = rng.randrange(100, 1500)
            attrs: list[dict[str, Any]] = [
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.request.model", model),
                kv("gen_ai.response.model", model),
            ]
            if model.startswith("claude"):
                attrs += [
                    kv("gen_ai.provider.name", "anthropic"),
                    kv("gen_ai.response.id", "msg_01" + b62(rng, 22)),
                    kv("gen_ai.usage.input_tokens", uncached + read + write),
                    kv("gen_ai.usage.cache_read.input_tokens", read),
                    kv("gen_ai.usage.cache_creation.input_tokens", write),
                    kv("gen_ai.usage.output_tokens", out),
                    kv("gen_ai.response.finish_reasons", ["end_turn"]),
                ]
                # inference_geo is no OTel attribute: a span is priced at list price
                t.add("otel", claude_cost(model, uncached, write, 0, read, out))
            else:  # deprecated attribute names, as older instrumentations write them
                attrs += [
                    kv("gen_ai.system", "openai"),
                    kv("gen_ai.usage.prompt_tokens", uncached + read),
                    kv("gen_ai.usage.cache_read.input_tokens", read),
                    kv("gen_ai.usage.completion_tokens", out),
                ]
                t.add("otel", openai_cost(model, uncached + read, read, out))
            if feature:
                attrs.append(kv("app.feature", feature))
            attrs.append(kv("gen_ai.conversation.id", "conv_" + hexid(rng, 8)))
            spans.append(
                {
                    "traceId": trace,
                    "spanId": hexid(rng, 16),
                    "parentSpanId": agent_id,
                    "name": f"chat {model}",
                    "kind": 3,
                    "startTimeUnixNano": str(t0 + 5_000_000),
                    "endTimeUnixNano": str(t0 + rng.randrange(800, 9000) * 10**6),
                    "attributes": attrs,
                    "status": {},
                }
            )
            spans.append(
                {
                    "traceId": trace,
                    "spanId": agent_id,
                    "name": "invoke_agent assistant",
                    "kind": 1,
                    "startTimeUnixNano": str(t0),
                    "endTimeUnixNano": str(t0 + 10**10),
                    "attributes": [
                        kv("gen_ai.operation.name", "invoke_agent"),
                        kv("gen_ai.agent.name", "assistant"),
                        kv("gen_ai.usage.input_tokens", uncached + read + write),
                        kv("gen_ai.usage.output_tokens", out),
                    ],
                    "status": {},
                }
            )
            spans.append(
                {
                    "traceId": trace,
                    "spanId": hexid(rng, 16),
                    "parentSpanId": agent_id,
                    "name": "execute_tool search_kb",
                    "kind": 1,
                    "startTimeUnixNano": str(t0 + 10**9),
                    "endTimeUnixNano": str(t0 + 2 * 10**9),
                    "attributes": [
                        kv("gen_ai.operation.name", "execute_tool"),
                        kv("gen_ai.tool.name", "search_kb"),
                    ],
                    "status": {},
                }
            )
        export = {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [kv("service.name", service), kv("telemetry.sdk.language", "python")]
                    },
                    "scopeSpans": [
                        {
                            "scope": {"name": "opentelemetry.instrumentation.genai", "version": "0.47b0"},
                            "spans": spans,
                        }
                    ],
                }
            ]
        }
        lines.append(json.dumps(export, separators=(",", ":")))
    return "\n".join(lines) + "\n"


# --- custom gateway CSV (a [sources.NAME] mapping) ----------------------------------------------------


def gateway_csv(rng: random.Random, t: Totals) -> str:
    buf = io.StringIO()
    buf.write("time;model_name;tokens_in;cached;tokens_out;app;request\n")
    for i in range(10):
        ts = rand_time(rng, W46)
        local = ts + timedelta(hours=1)  # Europe/Berlin is UTC+1 in November
        model = rng.choice(["claude-haiku-4-5", "claude-sonnet-4-6"])
        cached = rng.choice([0, 0, 2000])
        tokens_in = cached + rng.randrange(100, 3000)
        out = rng.randrange(30, 600)
        app = rng.choice(["email-drafter", "catalog-enrichment"])
        buf.write(
            f"{local.strftime('%d/%m/%Y %H:%M:%S')};{model};{tokens_in};{cached};{out};{app};gw-{i + 1:05d}\n"
        )
        t.add("acme_gateway", claude_cost(model, tokens_in - cached, 0, 0, cached, out))
    return buf.getvalue()


# --- aggregate reports (2026-W45) --------------------------------------------------------------------


def anthropic_reports(rng: random.Random, t: Totals) -> tuple[str, str]:
    buckets, cost_buckets = [], []
    groups = [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "wrkspc_01Prod", "standard", "0-200k", "global"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "wrkspc_01Prod", "standard", "200k-1M", "global"),
        (
            "claude-haiku-4-5-20251001",
            "claude-haiku-4-5",
            "wrkspc_01Prod",
            "batch",
            "0-200k",
            "not_available",
        ),
        ("claude-opus-4-6", "claude-opus-4-6", "wrkspc_02Labs", "standard", "0-200k", "us"),
    ]
    token_names = [
        ("uncached_input_tokens", 0),
        ("cache_creation.ephemeral_5m_input_tokens", 1),
        ("cache_creation.ephemeral_1h_input_tokens", 2),
        ("cache_read_input_tokens", 3),
        ("output_tokens", 4),
    ]
    for day in range(4, 7):
        start = W45 + timedelta(days=day)
        results, costs = [], []
        for model, mid, ws, tier, window, geo in groups:
            long = window == "200k-1M"
            scale = 8 if long else 1
            u = rng.randrange(20_000, 400_000) * scale
            w5, w1, read = rng.randrange(0, 30_000), rng.randrange(0, 10_000), rng.randrange(0, 200_000)
            out = rng.randrange(5_000, 60_000)
            web = rng.randrange(0, 20) if mid == "claude-sonnet-4-5" and not long else 0
            results.append(
                {
                    "uncached_input_tokens": u,
                    "cache_creation": {"ephemeral_1h_input_tokens": w1, "ephemeral_5m_input_tokens": w5},
                    "cache_read_input_tokens": read,
                    "output_tokens": out,
                    "server_tool_use": {"web_search_requests": web},
                    "api_key_id": None,
                    "workspace_id": ws,
                    "model": model,
                    "service_tier": tier,
                    "context_window": window,
                    "inference_geo": geo,
                    "account_id": None,
                    "service_account_id": None,
                }
            )
            mult = (D("0.5") if tier == "batch" else D(1)) * (
                D("1.1") if geo == "us" and mid in GEO_US else D(1)
            )
            rates = LONG[mid] if long else ANTHROPIC[mid]
            counts = [u, w5, w1, read, out]
            bucket_total = D(0)
            for name, i in token_names:
                usd = counts[i] * rates[i] / M * mult
                bucket_total += usd
                costs.append(
                    {
                        "amount": f"{usd * 100:f}",
                        "currency": "USD",
                        "workspace_id": ws,
                        "description": f"{model} {name}",
                        "cost_type": "tokens",
                        "context_window": window,
                        "model": model,
                        "service_tier": tier,
                        "token_type": name,
                        "inference_geo": geo,
                    }
                )
            if web:
                bucket_total += web * D("0.01")
                costs.append(
                    {
                        "amount": f"{web * D(1):f}",
                        "currency": "USD",
                        "workspace_id": ws,
                        "description": "Web search",
                        "cost_type": "web_search",
                        "context_window": None,
                        "model": model,
                        "service_tier": tier,
                        "token_type": None,
                        "inference_geo": geo,
                    }
                )
            t.add("anthropic_usage", bucket_total)
        ts = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        te = (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        buckets.append({"starting_at": ts, "ending_at": te, "results": results})
        cost_buckets.append({"starting_at": ts, "ending_at": te, "results": costs})
    usage = json.dumps({"data": buckets, "has_more": False, "next_page": None}, indent=2) + "\n"
    # the cost report as saved page by page (one page of one day per line)
    costs_doc = "".join(
        json.dumps(
            {
                "data": [b],
                "has_more": i < len(cost_buckets) - 1,
                "next_page": f"page_{i + 2}" if i < len(cost_buckets) - 1 else None,
            },
            separators=(",", ":"),
        )
        + "\n"
        for i, b in enumerate(cost_buckets)
    )
    return usage, costs_doc


def openai_reports(rng: random.Random, t: Totals) -> tuple[str, str]:
    pages, cost_pages = [], []
    for half in (range(4, 5), range(5, 7)):  # two pages, one per line
        data, cdata = [], []
        for day in half:
            start = int((W45 + timedelta(days=day)).timestamp())
            results, costs = [], []
            for model, mid, batch in (
                ("gpt-4o-2024-08-06", "gpt-4o", False),
                ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", True),
                ("gpt-4.1-2025-04-14", "gpt-4.1", False),
            ):
                prompt = rng.randrange(50_000, 2_000_000)
                cached = rng.randrange(0, prompt // 2)
                out = rng.randrange(10_000, 300_000)
                n = rng.randrange(20, 900)
                results.append(
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": prompt,
                        "output_tokens": out,
                        "input_cached_tokens": cached,
                        "input_uncached_tokens": prompt - cached,
                        "input_audio_tokens": 0,
                        "output_audio_tokens": 0,
                        "num_model_requests": n,
                        "project_id": "proj_platform",
                        "user_id": None,
                        "api_key_id": None,
                        "model": model,
                        "batch": batch,
                        "service_tier": None,
                    }
                )
                c = openai_cost(mid, prompt, cached, out, D("0.5") if batch else D(1))
                t.add("openai_usage", c)
                for kind, name in (("input", "input"), ("cache_read", "cached input"), ("output", "output")):
                    costs.append(
                        {
                            "object": "organization.costs.result",
                            "amount": {"value": f"{c[kind]:f}", "currency": "usd"},
                            "line_item": f"{model}, {name}",
                            "project_id": "proj_platform",
                        }
                    )
            data.append(
                {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results}
            )
            cdata.append(
                {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": costs}
            )
        more = half.start == 4
        pages.append(
            json.dumps(
                {"object": "page", "data": data, "has_more": more, "next_page": "page_2" if more else None},
                separators=(",", ":"),
            )
        )
        cost_pages.append(
            json.dumps(
                {"object": "page", "data": cdata, "has_more": more, "next_page": "page_2" if more else None},
                separators=(",", ":"),
            )
        )
    return "\n".join(pages) + "\n", "\n".join(cost_pages) + "\n"


CONFIG = f"""# tierlens.toml for sample_logs/more: `tierlens --config sample_logs/more/tierlens.toml ingest sample_logs/more`

[sources.acme_gateway]                  # a gateway tierlens has no reader for, mapped field by field
description = "ACME gateway CSV export"
files = ["gateway-*.csv"]
format = "csv"
delimiter = ";"
timestamp_format = "%d/%m/%Y %H:%M:%S"
timezone = "Europe/Berlin"
token_convention = "input_includes_cache"
[sources.acme_gateway.fields]
ts = "time"
model = "model_name"
input_tokens = "tokens_in"
cache_read_tokens = "cached"
output_tokens = "tokens_out"
feature = "app"
request_id = "request"

[sources.bedrock.inference_profiles]    # an application inference profile and the system profile it routes to
"{APP_PROFILE}" = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

[attribution]
order = ["feature", "tag:feature:", "rules"]

[[attribution.rules]]
name = "search indexer role"
match = {{ api_key_id = "*assumed-role/search-indexer/*" }}
feature = "search-answer"

[[attribution.rules]]
name = "labs role"
match = {{ api_key_id = "*assumed-role/labs/*" }}
feature = "labs-eval"

[[attribution.rules]]
name = "labs workspace"
match = {{ workspace_id = "wrkspc_02Labs" }}
feature = "labs-eval"
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("sample_logs/more"))
    args = ap.parse_args()
    rng = random.Random(20261109)
    t = Totals()
    files = {
        "openai/chat-and-responses-2026-W46.jsonl": openai_logs(rng, t),
        "bedrock/model-invocations-2026-W46.jsonl": bedrock_logs(rng, t),
        "litellm/spend_logs-2026-W46.csv": litellm_csv(rng, t),
        "litellm/spend_logs-export-2026-W46.json": litellm_json(rng, t),
        "otel/traces-2026-W46.jsonl": otel_exports(rng, t),
        "custom/gateway-2026-W46.csv": gateway_csv(rng, t),
    }
    usage, costs = anthropic_reports(rng, t)
    files["admin/usage_report-2026-W45.json"] = usage
    files["admin/cost_report-2026-W45.jsonl"] = costs
    ousage, ocosts = openai_reports(rng, t)
    files["openai/usage-completions-2026-W45.jsonl"] = ousage
    files["openai/costs-2026-W45.jsonl"] = ocosts
    files["tierlens.toml"] = CONFIG
    for name, body in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    print("| format | rows | unpriced | reference USD |")
    print("|---|---|---|---|")
    for fmt in sorted(t.rows):
        print(f"| {fmt} | {t.rows[fmt]} | {t.unpriced.get(fmt, 0)} | {t.by_format[fmt]:.6f} |")
    print(
        f"| all | {sum(t.rows.values())} | {sum(t.unpriced.values())} | {sum(t.by_format.values(), D(0)):.6f} |"
    )
    for name, body in sorted(files.items()):
        print(f"{name}: {len(body.encode())} bytes, {body.count(chr(10))} lines")


if __name__ == "__main__":
    main()
