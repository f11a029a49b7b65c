#!/usr/bin/env python3
"""Write ``sample_logs/``: deterministic demo LLM usage logs for tierlens' demos, docs and tests.

Why it exists: tierlens needs realistic usage logs with known, planted over-spend patterns, and real
customer logs cannot be shipped. It writes 13 ISO weeks (Mon 2026-08-17 .. Sun 2026-11-15, UTC) of
Anthropic Messages gateway logs (``anthropic/*.jsonl.gz``), Message Batches results with batch-object
sidecars (``batches/``) and Claude Code transcripts (``claude-code/projects/``), plus a README whose
figures are measured by re-reading the files just written. Output is byte-for-byte reproducible: one
seeded ``random.Random`` per section, ids and UUIDs drawn from it, no wall clock, no OS entropy, gzip
headers with ``mtime=0`` and no file name. Stdlib only. Usage: ``gen_sample_logs.py [--out DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import json
import random
import shutil
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Json = dict[str, Any]
UTC = dt.UTC
START = dt.datetime(2026, 8, 17, tzinfo=UTC)  # Monday of ISO week 2026-W34
DAYS = 91  # 13 full ISO weeks, W34..W46
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
OPUS46, SONNET46, SONNET45 = "claude-opus-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5-20250929"
HAIKU45, OPUS41, NIMBUS = "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805", "claude-nimbus-preview"
EMAIL_CACHE_BREAK = dt.datetime(2026, 10, 5, tzinfo=UTC)
CODE_REVIEW_SWITCH = dt.datetime(2026, 10, 12, tzinfo=UTC)
STORM_DAY = dt.date(2026, 10, 28)
EMAIL_PREFIX = 6_012  # tokens in email-drafter's shared prompt prefix
EPOCH_WEEKS = (38, 43)  # whole files keyed "timestamp": epoch seconds float
CREATED_AT_WEEKS = (40, 41, 44)  # 8 lines each keyed "created_at": ISO with +00:00
MALFORMED_WEEK = 39
REPLAY_SRC, REPLAY_DST, REPLAY_N = 35, 36, 40
CANCELED_BATCH, EXPIRED_BATCH = 6, 10  # index of the Sunday, 0 = 2026-08-23
# Relative request rate per UTC hour: EU + US business hours for people, flatter for ticket intake.
BUSINESS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 20, 20, 18, 19, 20, 20, 18, 14, 9, 6, 4, 3, 2, 1]
TICKETS = [4, 3, 3, 3, 3, 4, 6, 9, 12, 14, 15, 15, 14, 14, 15, 15, 14, 12, 10, 8, 7, 6, 5, 4]
# List prices USD/MTok (in, 5m write, 1h write, cache read, out), FACTS.md; only for README figures.
PRICES = {
    OPUS46: (5, 6.25, 10, 0.5, 25),
    SONNET46: (3, 3.75, 6, 0.3, 15),
    SONNET45: (3, 3.75, 6, 0.3, 15),
    HAIKU45: (1, 1.25, 2, 0.1, 5),
    OPUS41: (15, 18.75, 30, 1.5, 75),
}
TEXT = {  # short filler replies, "|"-separated; tierlens must never store them
    "support-chat": "Thanks for reaching out! I've re-sent the verification email.|Which order is it?",
    "doc-summarizer": "Summary: renews annually; 60 days' notice to terminate.|Revenue up 4%, churn flat.",
    "email-drafter": "Hi Dana, thanks for the call today. Here is the proposal.|Q4 plan due Friday.",
    "code-review": "Looks good. Nit: handle None in parse() and add a test.|The retry loop never backs off.",
    "search-answer": "Per the vendor docs, the limit is 100 requests a minute.|It opens at 9am on weekdays.",
    "catalog-enrichment": '{"color": "navy", "material": "cotton"}|{"color": "black", "style": "minimal"}',
    "contract-review": "Clause 7.2 caps liability at fees paid; carve out data breaches.",
    "labs-eval": "Eval answer: 42.",
}
LABELS = ["billing", "bug", "account", "shipping", "refund", "feature_request", "other"]
# feature -> (api key slot, team tag, user numbers); 40 users, 5 keys, 2 workspaces (eng+legal in the second)
FEATURES: dict[str, tuple[str, str, Sequence[int]]] = {
    "support-chat": ("support", "support", range(1, 13)),
    "ticket-classifier": ("support", "support", (13, 14)),
    "doc-summarizer": ("content", "content", range(15, 21)),
    "email-drafter": ("content", "sales", range(21, 29)),
    "code-review": ("eng", "eng", range(29, 35)),
    "search-answer": ("search", "search", (*range(1, 13), *range(21, 29))),
    "catalog-enrichment": ("content", "catalog", (39,)),
    "contract-review": ("legal", "legal", (35, 36, 37, 38)),
    "labs-eval": ("eng", "labs", (40,)),
}
ERRORS = (
    {"type": "overloaded_error", "message": "Overloaded"},
    {"type": "api_error", "message": "Internal error"},
)
ERROR_RATE = {"search-answer": 0.019, "catalog-enrichment": 0.001}  # others 0.002


class Ids:
    """Unique, seeded identifiers in the providers' shapes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.seen = rng, set[str]()

    def new(self, prefix: str, n: int) -> str:
        while True:
            s = prefix + "".join(self.rng.choices(B58, k=n))
            if s not in self.seen:
                self.seen.add(s)
                return s

    def timed(self, prefix: str, ts: dt.datetime, n: int) -> str:
        """Time-ordered id (like the real ``req_011C...`` ids): 8 base58 chars of epoch ms, then random."""
        ms, head = int(ts.timestamp() * 1000), ""
        for _ in range(8):
            ms, d = divmod(ms, 58)
            head = B58[d] + head
        return self.new(prefix + head, n)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def dumps(obj: Json) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def usage(inp: int, out: int, read: int = 0, w5: int = 0, w1h: int = 0, **kw: Any) -> Json:
    """A Messages ``usage`` object. kw: web, fetch, tier, geo; ``claude_code=True`` for the shorter shape."""
    u: Json = {"input_tokens": inp, "cache_creation_input_tokens": w5 + w1h, "cache_read_input_tokens": read}
    u["cache_creation"] = {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h}
    u["output_tokens"] = out
    if not kw.get("claude_code"):
        web, fetch = kw.get("web", 0), kw.get("fetch", 0)
        u["server_tool_use"] = {"web_search_requests": web, "web_fetch_requests": fetch}
    u["service_tier"] = kw.get("tier", "standard")
    if not kw.get("claude_code"):
        u["inference_geo"] = kw.get("geo", "global")
    return u


def message(ids: Ids, ts: dt.datetime, model: str, content: list[Json], stop: str, u: Json) -> Json:
    msg_id = ids.timed("msg_01", ts, 14)
    return {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": u}  # fmt: skip


def at(rng: random.Random, day: dt.datetime, profile: Sequence[int], hours: range = range(24)) -> dt.datetime:
    hour = rng.choices(list(hours), weights=[profile[h] for h in hours])[0]
    return day + dt.timedelta(hours=hour, milliseconds=rng.randrange(3_600_000))


def cost(model: str, u: Json) -> float | None:
    """Reference list cost (FACTS.md rules 1, 3-5); None for an unpriced model."""
    if model not in PRICES:
        return None
    p_in, p_w5, p_w1, p_rd, p_out = PRICES[model]
    cc = u["cache_creation"]
    tokens: list[int] = [u["input_tokens"], cc["ephemeral_5m_input_tokens"], cc["ephemeral_1h_input_tokens"]]
    tokens += [u["cache_read_input_tokens"], u["output_tokens"]]
    usd: float = sum(n * p for n, p in zip(tokens, (p_in, p_w5, p_w1, p_rd, p_out), strict=True)) / 1e6
    usd *= 0.5 if u.get("service_tier") == "batch" else 1.0
    usd *= 1.1 if u.get("inference_geo") == "us" and model in (OPUS46, SONNET46) else 1.0
    searches: int = (u.get("server_tool_use") or {}).get("web_search_requests", 0)
    return usd + 0.01 * searches


# ---------------------------------------------------------------- Messages gateway logs
def plan(rng: random.Random) -> list[tuple[dt.datetime, str]]:
    """When each Messages request happens: (timestamp, feature), sorted."""
    events: list[tuple[dt.datetime, str]] = []
    doc_week = [rng.uniform(0.95, 1.05) for _ in range(13)]
    no_catalog = set(rng.sample(range(DAYS), 4))
    for d in range(DAYS):
        day, week = START + dt.timedelta(days=d), d // 7
        we = day.weekday() >= 5
        lam = {
            "support-chat": (50 if we else 165) * 1.01**week,
            "ticket-classifier": 45 if we else 88,
            "doc-summarizer": (10 if we else 36) * doc_week[week],
            "email-drafter": 8 if we else 60,
            "code-review": 4 if we else 45,
            "search-answer": 45 if we else 128,
            "contract-review": 0 if we else 6,
        }
        for feat, mean in lam.items():
            n = max(0, round(rng.gauss(mean, mean**0.5)))
            prof = TICKETS if feat == "ticket-classifier" else BUSINESS
            events += [(at(rng, day, prof), feat) for _ in range(n)]
        if day.date() == STORM_DAY:  # retry storm: +4x a weekday's volume, 12:00-20:00 UTC
            extra = round(4 * 165 * 1.01**week)
            events += [(at(rng, day, BUSINESS, range(12, 20)), "support-chat") for _ in range(extra)]
        if d not in no_catalog:  # nightly batch-like job, 01:00-04:00 UTC
            n = round(rng.gauss(50, 3))
            ms = [rng.randrange(3_600_000, 14_400_000) for _ in range(n)]
            events += [(day + dt.timedelta(milliseconds=m), "catalog-enrichment") for m in ms]
    for d in sorted(rng.sample(range(63, DAYS), 15)):  # labs-eval: 30 requests in W43..W46
        events += [(at(rng, START + dt.timedelta(days=d), BUSINESS), "labs-eval") for _ in range(2)]
    return sorted(events)


def body(rng: random.Random, ids: Ids, feat: str, ts: dt.datetime) -> tuple[Json, int]:
    """The Messages response object for one request of ``feat`` at ``ts``, and its latency."""
    r = rng.randint
    stop, text = "end_turn", rng.choice(TEXT.get(feat, "OK.").split("|"))
    content: list[Json] = [{"type": "text", "text": text}]
    if feat == "support-chat":  # system prompt cached: a 5m write opens a conversation, reads after
        model, cached = SONNET45, (0, 4096) if rng.random() < 0.25 else (4096, 0)
        u = usage(r(300, 3000), r(80, 500), *cached)
        if rng.random() < 0.005:
            stop, u["output_tokens"] = "max_tokens", 1024
    elif feat == "ticket-classifier":  # planted: tiny structured calls on the top tier
        model, stop, u = OPUS46, "tool_use", usage(r(250, 900), r(8, 40))
        tool: Json = {"type": "tool_use", "id": ids.timed("toolu_01", ts, 14), "name": "classify"}
        content = [{**tool, "input": {"label": rng.choice(LABELS)}}]
    elif feat == "doc-summarizer":  # planted: prompt 20k -> 150k over 13 weeks
        week, cached = (ts - START).days // 7, (0, 2048) if rng.random() < 0.05 else (2048, 0)
        if week >= 9 and rng.random() < 0.08:
            total = r(200_500, 240_000)
        else:
            total = min(195_000, round(20_000 * 7.5 ** (week / 12) * rng.uniform(0.75, 1.25)))
        model, u = SONNET46, usage(total - 2048, r(400, 1200), *cached)
    elif feat == "email-drafter":  # planted: prefix caching lost from 2026-10-05
        model, inp, out = SONNET46, r(400, 900), r(150, 600)
        if ts >= EMAIL_CACHE_BREAK:
            u = usage(EMAIL_PREFIX + inp, out)
        else:  # ~4% are 5m cache writes (first call after the cache expired), the rest read it
            u = usage(inp, out, *((0, EMAIL_PREFIX) if rng.random() < 0.04 else (EMAIL_PREFIX, 0)))
    elif feat == "code-review":  # planted: Opus 4.6 -> Sonnet 4.6 on 2026-10-12
        before = ts < CODE_REVIEW_SWITCH
        model, total, prefix, k = OPUS46 if before else SONNET46, r(8000, 30000), r(3000, 6000), rng.random()
        out = r(800, 3000) if before else round(r(800, 3000) * 0.9)
        geo = "us" if rng.random() < 0.3 else "global"
        if k < 0.25:
            u = usage(total - prefix, out, w1h=prefix, geo=geo)
        else:
            u = usage(total - prefix, out, read=prefix, geo=geo) if k < 0.8 else usage(total, out, geo=geo)
        if rng.random() < 0.005:
            stop, u["output_tokens"] = "max_tokens", 4096
    elif feat == "search-answer":  # planted: max_tokens 1024 too low, most overloaded errors
        web = r(1, 3) if rng.random() < 0.6 else 0
        fetch = r(1, 2) if web and rng.random() < 0.15 else 0
        inp = r(1500, 12000) if web else r(600, 2000)
        model, u = HAIKU45, usage(inp, r(100, 700), web=web, fetch=fetch, geo="not_available")
        if rng.random() < 0.09:
            stop, u["output_tokens"] = "max_tokens", 1024
    elif feat == "catalog-enrichment":  # planted batch candidate: nightly, standard tier
        return message(ids, ts, SONNET45, content, stop, usage(r(1600, 2400), r(350, 650))), r(8000, 25000)
    elif feat == "contract-review":
        model, u = OPUS41, usage(r(5000, 25000), r(500, 2000), geo="not_available")
    else:  # labs-eval: an unknown model
        model, u = NIMBUS, usage(r(1000, 5000), r(200, 800))
    return message(ids, ts, model, content, stop, u), round(300 + u["output_tokens"] * rng.uniform(8, 18))


def gen_messages(rng: random.Random, ids: Ids, out: Path) -> list[Path]:
    keys = {slot: ids.new("apikey_01", 22) for slot in ("support", "search", "content", "eng", "legal")}
    spaces = [ids.new("wrkspc_01", 22) for _ in range(2)]
    weeks: dict[int, list[Json]] = defaultdict(list)
    for ts, feat in plan(rng):
        slot, team, users = FEATURES[feat]
        rec: Json = {"ts": ts, "request_id": ids.timed("req_011C", ts, 12), "feature": feat}
        if rng.random() < ERROR_RATE.get(feat, 0.002):
            rec["response"] = {"type": "error", "error": ERRORS[rng.random() < 0.1]}
        else:
            resp, latency = body(rng, ids, feat, ts)
            meta = {"user_id": f"u_{rng.choice(users):04d}", "api_key_id": keys[slot]}
            meta["workspace_id"] = spaces[slot in ("eng", "legal")]
            tags = [f"team:{team}", "env:dev" if feat == "labs-eval" else "env:prod"]
            rec |= {"metadata": meta, "tags": tags, "latency_ms": latency, "response": resp}
        weeks[ts.isocalendar().week].append(rec)
    paths, replay = [], list[str]()
    for wk, recs in sorted(weeks.items()):
        style = ["epoch" if wk in EPOCH_WEEKS else "iso"] * len(recs)
        if wk in CREATED_AT_WEEKS:
            for i in rng.sample(range(len(recs)), 8):
                style[i] = "offset"
        if wk == MALFORMED_WEEK:  # a record whose input_tokens is a string
            ok = [i for i in range(len(recs) * 3 // 4, len(recs)) if "metadata" in recs[i]]
            j = next(i for i in ok if recs[i]["feature"] == "support-chat")
            recs[j]["response"]["usage"]["input_tokens"] = "1623"
        lines = [render(rec, s) for rec, s in zip(recs, style, strict=True)]
        if wk == MALFORMED_WEEK:
            n = len(lines)
            i = next(i for i in range(n // 4, n) if '"usage"' in lines[i])
            lines[i] = lines[i][: len(lines[i]) * 11 // 20]  # a truncated record (lost)
            lines.insert(n // 2, "upstream connect error")
            lines.insert(n // 3, "")
            lines.insert(n * 5 // 6, "")
        if wk == REPLAY_DST:
            lines = replay + lines  # the log shipper re-sent the tail of the previous week
        replay = lines[-REPLAY_N:]
        path = out / "anthropic" / f"messages-2026-W{wk:02d}.jsonl.gz"
        write_gz(path, "".join(line + "\n" for line in lines))
        paths.append(path)
    return paths


def render(rec: Json, style: str) -> str:
    r, ts = dict(rec), rec["ts"]
    del r["ts"]
    if style == "epoch":
        return dumps({"timestamp": round(ts.timestamp(), 3), **r})
    if style == "offset":
        return dumps({"created_at": ts.isoformat(timespec="milliseconds"), **r})
    return dumps({"ts": iso(ts), **r})


def write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode())
    path.write_bytes(buf.getvalue())


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


# ---------------------------------------------------------------- Message Batches
def gen_batches(rng: random.Random, ids: Ids, out: Path) -> list[Json]:
    """13 Sunday-night nightly-digest batches; returns the batch objects (sidecars)."""
    counter, batches = 0, []
    for k in range(13):
        created = START + dt.timedelta(days=7 * k + 6, hours=21, milliseconds=rng.randrange(1_200_000))
        n = rng.randint(135, 165)
        counts = {"errored": rng.randint(0, 2), "canceled": 0, "expired": 0}
        counts["canceled"] = 3 if k == CANCELED_BATCH else 0
        counts["expired"] = 4 if k == EXPIRED_BATCH else 0
        kinds = [kind for kind, c in counts.items() for _ in range(c)]
        kinds += ["succeeded"] * (n - len(kinds))
        rng.shuffle(kinds)
        bid, lines = ids.new("msgbatch_01", 22), []
        for kind in kinds:
            result: Json = {"type": kind}
            if kind == "succeeded":
                c, done = rng.random(), created + dt.timedelta(seconds=rng.randrange(60, 2000))
                cached = (2048, 0) if c < 0.7 else (0, 2048) if c < 0.73 else (0, 0)
                inp, out_tokens = rng.randint(3000, 9000), rng.randint(250, 900)
                u = usage(inp, out_tokens, *cached, tier="batch", geo="not_available")
                text = [{"type": "text", "text": "Yesterday: 14 new tickets, 3 escalations."}]
                result["message"] = message(ids, done, HAIKU45, text, "end_turn", u)
            elif kind == "errored":
                msg = f"prompt is too long: {rng.randint(200_001, 260_000)} tokens > 200000 maximum"
                error = {"type": "invalid_request_error", "message": msg}
                result["error"] = {"type": "error", "error": error}
            lines.append(dumps({"custom_id": f"nightly-digest:{counter:06d}", "result": result}))
            counter += 1
        rng.shuffle(lines)  # results come back in no particular order
        write_text(out / "batches" / f"{bid}_results.jsonl", "".join(x + "\n" for x in lines))
        ended = created + dt.timedelta(minutes=rng.randint(35, 95), milliseconds=rng.randrange(60_000))
        expires = created + dt.timedelta(hours=24)
        if counts["expired"]:
            ended = expires + dt.timedelta(milliseconds=rng.randrange(5000))
        cancel = iso(ended - dt.timedelta(minutes=2)) if counts["canceled"] else None
        batch = {"id": bid, "type": "message_batch", "processing_status": "ended",
                 "request_counts": {"processing": 0, "succeeded": n - sum(counts.values()), **counts},
                 "created_at": iso(created), "ended_at": iso(ended), "expires_at": iso(expires),
                 "archived_at": None, "cancel_initiated_at": cancel,
                 "results_url": f"https://api.anthropic.com/v1/messages/batches/{bid}/results"}  # fmt: skip
        write_text(out / "batches" / f"{bid}.batch.json", json.dumps(batch, indent=2) + "\n")
        batches.append(batch)
    return batches


# ---------------------------------------------------------------- Claude Code sessions
PROJECTS = [("payments-api", 10), ("web-dashboard", 9), ("infra-terraform", 6)]
PROMPTS = ["fix the failing test", "why is the webhook handler timing out?", "add pagination to /invoices",
           "refactor the retry helper and keep the tests green", "write a migration for the new column",
           "bump the provider version and run plan", "explain this stack trace"]  # fmt: skip
TOOLS = [("Read", {"file_path": "src/app.py"}), ("Bash", {"command": "pytest -q"}),
         ("Edit", {"file_path": "src/app.py", "old_string": "x", "new_string": "y"}),
         ("Grep", {"pattern": "retry"})]  # fmt: skip


def gen_claude_code(rng: random.Random, ids: Ids, out: Path) -> Counter[str]:
    stats: Counter[str] = Counter()
    weekdays = [d for d in range(DAYS) if (START + dt.timedelta(days=d)).weekday() < 5]
    for s, project in enumerate(p for p, n in PROJECTS for _ in range(n)):
        start = START + dt.timedelta(days=rng.choice(weekdays), hours=rng.randint(8, 17))
        start += dt.timedelta(milliseconds=rng.randrange(3_600_000))
        flags = {"summary": s % 6 == 1, "sidechain": s % 5 == 2, "synthetic": s % 8 == 3}
        lines = cc_session(rng, ids, project, start, stats, flags)
        name = f"-home-dev-src-{project}/{lines[-1]['sessionId']}.jsonl"
        write_text(out / "claude-code" / "projects" / name, "".join(dumps(x) + "\n" for x in lines))
        stats["sessions"] += 1
        stats["lines"] += len(lines)
    return stats


def cc_session(rng: random.Random, ids: Ids, project: str, start: dt.datetime, stats: Counter[str],
               flags: dict[str, bool]) -> list[Json]:  # fmt: skip
    """One session: 2-4 prompts, each answered by 1-4 API calls (tool loops); one line per content block."""
    sid, t = ids.uuid(), start
    version = "2.0.14" if start.month < 10 else "2.0.22" if start.month < 11 else "2.0.31"
    branch = rng.choice(["main", "main", f"fix/{rng.choice(['retry', 'webhook', 'pagination'])}"])
    model, one_hour = OPUS46 if rng.random() < 0.3 else SONNET45, rng.random() < 0.6
    env = {"userType": "external", "cwd": f"/home/dev/src/{project}", "sessionId": sid, "version": version}
    env["gitBranch"] = branch
    lines: list[Json] = []
    parent: list[str | None] = [None]

    def add(kind: str, msg: Json, sidechain: bool = False, **extra: Any) -> Json:
        nonlocal t
        t += dt.timedelta(milliseconds=rng.randrange(800, 9000))
        rec: Json = {"parentUuid": parent[0], "isSidechain": sidechain, **env, "type": kind, "message": msg}
        rec |= {**extra, "uuid": ids.uuid(), "timestamp": iso(t)}
        parent[0] = parent[0] if sidechain else rec["uuid"]
        lines.append(rec)
        return rec

    ctx, first = rng.randint(13_000, 16_000), True
    for turn in range(rng.randint(2, 4)):
        t += dt.timedelta(minutes=rng.randint(1, 12))
        add("user", {"role": "user", "content": rng.choice(PROMPTS)})
        calls = rng.randint(1, 4)
        for call in range(calls):
            last, k = call == calls - 1, rng.random()
            text = "Done - the tests pass now." if last else "Let me look."
            blocks: list[Json] = [{"type": "text", "text": text}] if last or k > 0.5 else []
            for name, inp in [] if last else rng.sample(TOOLS, 2 if k > 0.85 else 1):
                tool_id = ids.timed("toolu_01", t, 14)
                blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": inp})
            write = ctx if first else rng.randint(150, 3000)
            out, read = rng.randint(30, 1500), 0 if first else ctx
            cached = (read, 0, write) if one_hour else (read, write, 0)
            u = usage(rng.randint(1, 12), out, *cached, claude_code=True)
            ctx, first = ctx + (0 if first else write) + out, False
            msg_id, req_id = ids.timed("msg_01", t, 14), ids.timed("req_011C", t, 12)
            stats["responses"] += 1
            stats["multi_line_responses"] += len(blocks) > 1
            stats[f"tokens:{model}"] += u["input_tokens"] + write + read + out
            stop = "end_turn" if last else "tool_use"
            for b in blocks:
                m: Json = {"id": msg_id, "type": "message", "role": "assistant", "model": model}
                m |= {"content": [b], "stop_reason": stop, "stop_sequence": None, "usage": u}
                rec = add("assistant", m, requestId=req_id)
                stats["assistant_lines"] += 1
            if flags["sidechain"] and turn == 0 and call == 0:  # a Task sub-agent replays the message
                add("assistant", rec["message"], sidechain=True, requestId=ids.timed("req_011C", t, 12))
                stats["sidechain_lines"] += 1
            for b in blocks:
                if b["type"] == "tool_use":
                    result = {"tool_use_id": b["id"], "type": "tool_result", "content": "ok"}
                    add("user", {"role": "user", "content": [result]})
        if flags["synthetic"] and turn == 0:
            stop_text = [{"type": "text", "text": "[Request interrupted by user]"}]
            add("user", {"role": "user", "content": stop_text})
            m = {"id": ids.uuid(), "type": "message", "role": "assistant", "model": "<synthetic>"}
            m["content"] = [{"type": "text", "text": "No response requested."}]
            add("assistant", m | {"stop_reason": "stop_sequence", "usage": usage(0, 0, claude_code=True)})
            stats["synthetic_lines"] += 1
    if flags["summary"]:
        lines.insert(0, {"type": "summary", "summary": "Fix flaky webhook retry test", "leafUuid": parent[0]})
        stats["summary_lines"] += 1
    return lines


# ---------------------------------------------------------------- measuring what was written
TOKENS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


def read_messages(paths: list[Path]) -> tuple[list[Json], Counter[str], list[str]]:
    """Parse the week files as a correct ingester would: (flat records, counts, bad lines)."""
    recs, counts, seen, bad = list[Json](), Counter[str](), set[str](), list[str]()
    for path in paths:
        for no, line in enumerate(gzip.decompress(path.read_bytes()).decode().splitlines(), 1):
            counts[f"{path.name}:lines"] += 1
            where = f"`{path.name}` line {no}: "
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad.append(where + (f"not JSON: `{line[:40]}`" if line else "blank line"))
                continue
            if rec["request_id"] in seen:
                counts[f"{path.name}:dups"] += 1
                continue
            seen.add(rec["request_id"])
            key = next(k for k in ("ts", "timestamp", "created_at") if k in rec)
            counts[f"key_{key}"] += 1
            raw = rec[key]
            ts = dt.datetime.fromtimestamp(raw, UTC) if key == "timestamp" else dt.datetime.fromisoformat(raw)
            flat = {
                "ts": ts,
                "week": ts.isocalendar().week,
                "feature": rec["feature"],
                "request_id": rec["request_id"],
            }
            resp = rec["response"]
            if resp["type"] == "error":
                counts[f"{path.name}:errors"] += 1
                recs.append(flat | {"error": True})
                continue
            u = resp["usage"]
            if not isinstance(u["input_tokens"], int):
                got = f"{u['input_tokens']!r} (request_id `{rec['request_id']}`)"
                bad.append(where + f"`usage.input_tokens` is the string {got}")
                continue
            counts[f"{path.name}:records"] += 1
            flat |= dict(zip(("input", "read", "write", "out"), (u[k] for k in TOKENS), strict=True))
            flat |= {"error": False, "model": resp["model"], "stop": resp["stop_reason"]}
            flat |= {"us": u["inference_geo"] == "us", "cost": cost(resp["model"], u) or 0.0}
            flat |= {"w1h": u["cache_creation"]["ephemeral_1h_input_tokens"] > 0}
            flat |= {"web": u["server_tool_use"]["web_search_requests"]}
            recs.append(flat | {"prompt": sum(u[k] for k in TOKENS[:3])})
    return recs, counts, bad


QUALITY_WEEKS = range(43, 47)  # the judgments cover the last four weeks, the flags' window
ESCALATION_RATE = 0.14  # support-chat: one conversation in seven handed to a person
EVAL_SHARE = 0.2  # search-answer: the share of answers an LLM judge scored
EVAL_MEANS = (0.86, 0.58)  # ...its mean score below and within the top quarter of prompts
ACCURACY = {"claude-opus-4-6": 0.962, "claude-haiku-4-5": 0.955}  # ticket-classifier's labelled eval
ACCURACY_N = 500


def gen_quality(rng: random.Random, recs: list[Json], out: Path) -> Json:
    """`quality/judgments.csv`: what a team's eval and support tools export (see the README)."""
    rows = ["request_id,feature,model,period,metric,value,n"]
    ok = [r for r in recs if not r["error"] and r["week"] in QUALITY_WEEKS]
    search = [r for r in ok if r["feature"] == "search-answer"]
    cut = sorted(r["prompt"] for r in search)[int(0.75 * len(search))]
    scored = [r for r in search if rng.random() < EVAL_SHARE]
    for r in scored:
        mean = EVAL_MEANS[r["prompt"] >= cut]
        score = min(1.0, max(0.0, rng.gauss(mean, 0.08)))
        rows.append(f"{r['request_id']},,,,answer_eval,{score:.3f},")
    support = Counter(r["week"] for r in ok if r["feature"] == "support-chat")
    for week, n in sorted(support.items()):
        rate = ESCALATION_RATE + rng.uniform(-0.01, 0.01)
        rows.append(f",support-chat,claude-sonnet-4-5-20250929,2026-W{week},escalated,{rate:.3f},{n}")
    for model, acc in ACCURACY.items():
        rows.append(f",ticket-classifier,{model},2026-W46,label_accuracy,{acc:.3f},{ACCURACY_N}")
    write_text(out / "quality" / "judgments.csv", "\n".join(rows) + "\n")
    hard = [r for r in scored if r["prompt"] >= cut]
    return {
        "q_lines": len(rows) - 1,
        "q_scored": len(scored),
        "q_hard": len(hard),
        "q_cut": cut,
        "acc_n": ACCURACY_N,
        "acc_opus": ACCURACY["claude-opus-4-6"],
        "acc_haiku": ACCURACY["claude-haiku-4-5"],
    }


def table(header: str, rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + header.replace("|", " | ") + " |", "|" + "---|" * (header.count("|") + 1)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def mean(rs: list[Json], key: str) -> float:
    return statistics.fmean(r[key] for r in rs)


PERIODS = ("until 2026-10-04", "from 2026-10-05")
SUMMARY = "|requests|mean prompt|mean input_tokens|mean cache read|mean cache write|mean output|USD/request"


def summary(label: str, rs: list[Json]) -> list[Any]:
    """A README table row: requests, mean token counts and mean reference USD per request."""
    means = [f"{mean(rs, k):,.0f}" for k in ("prompt", "input", "read", "write", "out")]
    return [label, len(rs), *means, f"{mean(rs, 'cost'):.4f}"]


def figures(recs: list[Json], counts: Counter[str], bad: list[str], batches: list[Json]) -> Json:
    """Every number the README quotes about the Messages logs and batches, measured from the files."""
    ok, by = [r for r in recs if not r["error"]], defaultdict[str, list[Json]](list)
    for r in ok:
        by[r["feature"]].append(r)
    errors = Counter(r["feature"] for r in recs if r["error"])
    f: Json = {"total": len(recs), "responses": len(ok), "n_errors": errors.total(), "n_bad": len(bad)}
    f |= {"bad": "\n".join("  - " + b for b in bad), "err_pct": 100 * errors.total() / len(recs)}
    f |= {k: v for k, v in counts.items() if k.startswith("key_")} | {"total_usd": sum(r["cost"] for r in ok)}
    f["n_dups"] = sum(v for k, v in counts.items() if k.endswith(":dups"))
    f["n_lines"] = sum(v for k, v in counts.items() if k.endswith(":lines"))
    names = [k[:-6] for k in counts if k.endswith(":lines")]
    files = [[n, *(counts[f"{n}:{x}"] for x in ("lines", "records", "errors", "dups"))] for n in names]
    f["files"] = table("file|lines|records|error records|replayed duplicates", files)
    models = {k: ", ".join(sorted({r["model"] for r in v})) for k, v in by.items()}
    rows = [[k, models[k], len(v), errors[k], f"{sum(r['cost'] for r in v):,.2f}"] for k, v in by.items()]
    f["features"] = table("feature|models|responses|error records|reference USD", rows)
    tc, sa, cat = by["ticket-classifier"], by["search-answer"], by["catalog-enrichment"]
    f |= {"tc_n": len(tc), "tc_pct": 100 * len(tc) / len(recs)}
    f["tc_table"] = table("feature" + SUMMARY, [summary("ticket-classifier", tc)])
    doc = {w: [r for r in by["doc-summarizer"] if r["week"] == w] for w in range(34, 47)}
    rows = [[*summary(f"W{w}", v), sum(r["prompt"] > 200_000 for r in v)] for w, v in doc.items()]
    f["doc"] = table("ISO week" + SUMMARY + "|prompts > 200,000", rows)
    late = [r for w in range(43, 47) for r in doc[w]]
    f |= {"doc_late": len(late), "doc_long": sum(r["prompt"] > 200_000 for r in late)}
    f["doc_long_pct"] = 100 * f["doc_long"] / len(late)
    f["doc_early_long"] = sum(r["prompt"] > 200_000 for w in range(34, 43) for r in doc[w])
    f["doc_prompt_x"] = mean(doc[46], "prompt") / mean(doc[34], "prompt")
    f["doc_cost_x"] = mean(doc[46], "cost") / mean(doc[34], "cost")
    email = by["email-drafter"]
    em = {p: [r for r in email if (r["ts"] >= EMAIL_CACHE_BREAK) == (p[0] == "f")] for p in PERIODS}
    rows = [[*summary(p, v), *(sum(r[k] > 0 for r in v) for k in ("read", "write"))] for p, v in em.items()]
    f["email"] = table("period" + SUMMARY + "|with cache read|with cache write", rows)
    code = [[r for r in by["code-review"] if r["model"] == m] for m in (OPUS46, SONNET46)]
    rows = [[*summary(v[0]["model"], v), iso(v[0]["ts"]), iso(v[-1]["ts"])] for v in code]
    rows = [[*row, *(sum(r[k] for r in v) for k in ("us", "w1h"))] for row, v in zip(rows, code, strict=True)]
    f["code"] = table("model" + SUMMARY + "|first|last|geo us|with 1h write", rows)
    f["code_out_x"] = mean(code[1], "out") / mean(code[0], "out")
    f |= {"sa_n": len(sa), "sa_max": sum(r["stop"] == "max_tokens" for r in sa)}
    f["sa_err"] = errors["search-answer"]
    f |= {"sa_web": sum(r["web"] > 0 for r in sa), "sa_searches": sum(r["web"] for r in sa)}
    f |= {"sa_max_pct": 100 * f["sa_max"] / len(sa), "sa_web_pct": 100 * f["sa_web"] / len(sa)}
    f["sa_err_pct"] = 100 * f["sa_err"] / (len(sa) + f["sa_err"])
    f["other_err_pct"] = 100 * (f["n_errors"] - f["sa_err"]) / (len(recs) - len(sa) - f["sa_err"])
    other_max = Counter(r["feature"] for r in ok if r["stop"] == "max_tokens")
    other_max.pop("search-answer")
    f["other_max"] = ", ".join(f"{n} {k}" for k, n in other_max.items())
    f |= {"cat_n": len(cat), "cat_nights": len({r["ts"].date() for r in cat})}
    f["cat_usd"] = sum(r["cost"] for r in cat)
    f |= {"cat_first": iso(min(cat, key=lambda r: r["ts"].time())["ts"])[11:23]}
    f |= {"cat_last": iso(max(cat, key=lambda r: r["ts"].time())["ts"])[11:23]}
    days = defaultdict[dt.date, list[Json]](list)
    for r in by["support-chat"]:
        days[r["ts"].date()].append(r)
    others = [v for d, v in days.items() if d != STORM_DAY and d.weekday() < 5]
    f |= {"storm_n": len(days[STORM_DAY]), "storm_usd": sum(r["cost"] for r in days[STORM_DAY])}
    f |= {"med_n": statistics.median(map(len, others)), "n_weekdays": len(others)}
    f["med_usd"] = statistics.median(sum(r["cost"] for r in v) for v in others)
    f |= {"storm_x": f["storm_usd"] / f["med_usd"], "storm_n_x": f["storm_n"] / f["med_n"]}
    labs = by["labs-eval"]
    f |= {"labs_n": len(labs), "labs_first": iso(labs[0]["ts"]), "labs_last": iso(labs[-1]["ts"])}
    f |= {"cr_n": len(by["contract-review"]), "cr_usd": sum(r["cost"] for r in by["contract-review"])}
    kinds = ("succeeded", "errored", "canceled", "expired")
    rows = [[b["id"], b["created_at"], b["ended_at"], *map(b["request_counts"].get, kinds)] for b in batches]
    f["batches"] = table("batch id|created_at|ended_at|" + "|".join(kinds), rows)
    f |= {f"b_{k}": sum(b["request_counts"][k] for b in batches) for k in kinds}
    f["canceled_day"] = batches[CANCELED_BATCH]["created_at"][:10]
    f["expired_day"] = batches[EXPIRED_BATCH]["created_at"][:10]
    return f


README = """\
# sample_logs: demo data for tierlens

Written by `scripts/gen_sample_logs.py` (rerunning it rewrites every file byte for byte); each figure
below was measured by re-reading the written files. Period: Mon 2026-08-17 00:00 UTC to Sun 2026-11-15
23:59 UTC, ISO weeks 2026-W34..W46. Total size {size:,} bytes. "USD" = reference list cost by the
FACTS.md rules (input_tokens excludes cache; batch x0.5; `inference_geo: "us"` on Opus/Sonnet 4.6 x1.1;
$0.01 per web search); no request is long-context priced (the only prompts over 200,000 tokens are on
Sonnet 4.6 after 2026-03-13). All Messages records: {total_usd:,.2f} USD, the unknown model as 0.

## 1. `anthropic/messages-2026-Www.jsonl.gz`: gateway logs wrapping Messages API responses

One gzipped JSON-lines file per ISO week, in time order, {n_lines:,} lines. Dropping {n_bad} bad lines and
{n_dups} replayed duplicates leaves {total:,} unique records: {responses:,} responses and {n_errors} error
records ({err_pct:.2f}%; `"response": {{"type": "error", ...}}`, no usage or metadata). `request_id` and
`response.id` are unique apart from the replay. 40 users (`u_0001`..`u_0040`), 5 API keys, 2 workspaces;
`tags` hold `team:*` and `env:prod` (`env:dev` for labs-eval). Quirks to handle:

- Time key: `ts` (ISO, `Z`) on {key_ts:,} records; `timestamp` (epoch seconds, float) on every line of
  W{epoch0} and W{epoch1} ({key_timestamp:,} records); `created_at` (ISO, `+00:00`) on 8 lines each of
  W{created_weeks} ({key_created_at} records).
- Replay: W{dst} starts with {rn} lines that are byte-identical copies of the last {rn} lines of W{src}
  (times on Sun 2026-08-30): a log shipper re-sent them. Dedupe must drop them.
- Bad lines to quarantine, all in W{bad_week} (the truncated line was a real record, now lost):
{bad}
- `inference_geo` is "global", except "us" on ~30% of code-review and "not_available" for Haiku 4.5
  (search-answer, batches) and Opus 4.1 (contract-review).
- `labs-eval` runs `claude-nimbus-preview`, which has no price: {labs_n} records from {labs_first} to
  {labs_last}. They must show up as unpriced, not as $0.
- `contract-review` is not planted, just a legacy slice: {cr_n} weekday requests on
  `claude-opus-4-1-20250805` (3x the Opus 4.6 price), {cr_usd:,.2f} USD.

{files}

{features}

Planted patterns ("prompt" = input_tokens + cache read + cache write):

1. **ticket-classifier: short structured calls on the top tier.** {tc_n:,} responses, {tc_pct:.1f}% of
   all {total:,} records: `claude-opus-4-6`, no caching, input 250-900, output 8-40, one `tool_use`
   block `classify`, `stop_reason: "tool_use"`. Flat: ~88 a weekday, ~45 a weekend day, all hours.

{tc_table}

2. **doc-summarizer: cost grows far faster than requests.** `claude-sonnet-4-6`, requests flat (weekly
   factor 0.95-1.05); the prompt (2,048 tokens of it a cached system prompt, written by ~5% of calls)
   grows x1.183 a week from ~20k: W46/W34 prompt x{doc_prompt_x:.1f}, USD/request x{doc_cost_x:.1f}. In
   W43-W46, {doc_long} of {doc_late} requests ({doc_long_pct:.1f}%) have prompts of 200,500-240,000 tokens;
   {doc_early_long} before W43.

{doc}

3. **email-drafter lost prompt caching at Mon 2026-10-05 00:00 UTC.** `claude-sonnet-4-6`, a shared
   prefix of exactly {prefix:,} tokens. Until 2026-10-04 it is read from cache (~4% of calls write it,
   5m) and input_tokens is 400-900; from 2026-10-05 there is no cache read or write and input_tokens is
   {prefix_lo:,}-{prefix_hi:,}. Steady: ~60 a weekday, ~8 a weekend day.

{email}

4. **code-review moved from Opus 4.6 to Sonnet 4.6 at Mon 2026-10-12 00:00 UTC** (no Opus after, no
   Sonnet before). Prompt 8,000-30,000 with a 3,000-6,000-token repo prefix: ~25% of calls write it
   (1h TTL), ~55% read it, ~20% uncached. Output 800-3,000 on Opus, 10% shorter on Sonnet (mean ratio
   {code_out_x:.3f}); `inference_geo: "us"` on ~30%, before and after the switch.

{code}

5. **search-answer is under-provisioned.** `claude-haiku-4-5-20251001`: {sa_max} of {sa_n:,} responses
   ({sa_max_pct:.1f}%) stop at `max_tokens` with exactly 1,024 output tokens (elsewhere only {other_max}).
   {sa_err} of the {n_errors} error records are its ({sa_err_pct:.1f}% of its requests vs {other_err_pct:.2f}%
   elsewhere). {sa_web:,} responses ({sa_web_pct:.1f}%) ran 1-3 web searches, {sa_searches:,} in all.
6. **catalog-enrichment is a batch candidate.** `claude-sonnet-4-5-20250929`, `service_tier: "standard"`:
   {cat_n:,} requests on {cat_nights} of 91 nights (4 skipped), all between 01:00 and 04:00 UTC (first
   {cat_first}, last {cat_last}), input 1,600-2,400, output 350-650, latency 8-25 s, service user
   `u_0039`. {cat_usd:,.2f} USD; the Batches API would halve it.
7. **support-chat retry storm on Wed 2026-10-28.** `claude-sonnet-4-5-20250929`, 4,096-token cached
   system prompt (~25% of calls write it, 5m), growth 1% a week. On 2026-10-28: {storm_n} responses,
   {storm_usd:,.2f} USD; median of the other {n_weekdays} weekdays: {med_n:.0f} and {med_usd:,.2f} USD, so
   x{storm_x:.2f} spend, x{storm_n_x:.2f} requests. The extra 4x a weekday's volume lands 12:00-20:00 UTC,
   from the usual users (`u_0001`..`u_0012`).

## 2. `batches/`: Message Batches results, feature `nightly-digest`

One batch every Sunday night: `msgbatch_<id>_results.jsonl` (lines in no particular order, no
timestamps; `custom_id` `nightly-digest:NNNNNN`, unique across batches) and `msgbatch_<id>.batch.json`
(the batch object; `request_counts` match the results). {b_succeeded:,} succeeded, {b_errored} errored
(`invalid_request_error`), {b_canceled} canceled ({canceled_day} batch, `cancel_initiated_at` set),
{b_expired} expired ({expired_day} batch, hit its 24 h limit). Succeeded: `claude-haiku-4-5-20251001`,
`service_tier: "batch"`, input 3,000-9,000, output 250-900; ~70% read a 2,048-token cached prompt, ~3%
write it (5m).

{batches}

## 3. `claude-code/projects/<project>/<session>.jsonl`: Claude Code transcripts

{cc[sessions]} sessions in 3 projects (`-home-dev-src-payments-api` 10, `-home-dev-src-web-dashboard` 9,
`-home-dev-src-infra-terraform` 6), {cc[lines]} lines. {cc[responses]} distinct API responses (unique
`message.id`) fill {cc[assistant_lines]} non-sidechain assistant lines, one per content block: {cc[multi_line_responses]}
responses appear 2-3 times with the same `message.id`, `requestId` and usage (count once). Also
{cc[sidechain_lines]} sidechain lines (`isSidechain: true`) replay a parent message with the same
`message.id` and a new `requestId` (keep the non-sidechain one); {cc[synthetic_lines]} lines have
`"model": "<synthetic>"`, zero usage and no `requestId` (drop); {cc[summary_lines]} are `"type": "summary"`.
A session's first call writes its 13-16k system prompt to cache; later calls read the context and write
the new turn; ~60% of sessions use the 1h TTL. Tokens (input + cache write + cache read + output) over
the distinct responses: {cc_tokens}.
"""


QUALITY_README = """
## 5. `quality/judgments.csv`: quality judgments (`tierlens ingest sample_logs/ --quality sample_logs/quality/judgments.csv`)

{q_lines} judgments of ISO weeks W43..W46, in the long form eval and support tools export
(`request_id` or `feature`, `model`, `period`; `metric`, `value`, `n`):

- `search-answer`, `answer_eval` (an LLM judge's 0..1 score) of {q_scored} answers, one in five: mean
  ~0.86, but ~0.58 on the {q_hard} whose prompt is in the feature's top quarter (>= {q_cut:,} tokens).
  Haiku fails on the hardest inputs: a quality shortfall, priced as those requests on Sonnet.
- `support-chat`, `escalated` (the share of conversations handed to a person) per week, with the
  week's conversation count as `n`: ~14%, above the 10% limit: an upgrade signal.
- `ticket-classifier`, `label_accuracy` of a labelled offline eval in W46, {acc_n} tickets on each
  of `claude-opus-4-6` ({acc_opus}) and `claude-haiku-4-5` ({acc_haiku}): the cheaper model matches,
  which raises the confidence of the downgrade finding for ticket-classifier.
"""
MORE_SECTION = "## 4. `more/`"
"""sample_logs/README.md's section on more/, kept as it is: scripts/gen_more_sample_logs.py's figures."""


def kept_more_section(readme: Path) -> str:
    """The README's more/ section as it stands (written by hand from gen_more_sample_logs.py's output)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if MORE_SECTION not in text:
        return ""
    section = text[text.index(MORE_SECTION) :]
    end = section.find("\n## 5. ")
    return "\n" + (section if end < 0 else section[: end + 1]).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write tierlens' deterministic sample logs.")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "sample_logs")
    ap.add_argument("--seed", type=int, default=20260817)
    args = ap.parse_args(argv)
    out, seed = args.out, args.seed
    for sub in ("anthropic", "batches", "claude-code", "quality"):
        shutil.rmtree(out / sub, ignore_errors=True)
    paths = gen_messages(random.Random(f"{seed}:messages"), Ids(random.Random(f"{seed}:message-ids")), out)
    batches = gen_batches(random.Random(f"{seed}:batches"), Ids(random.Random(f"{seed}:batch-ids")), out)
    cc = gen_claude_code(random.Random(f"{seed}:claude-code"), Ids(random.Random(f"{seed}:cc-ids")), out)
    recs, counts, bad = read_messages(paths)
    f = figures(recs, counts, bad, batches) | {"cc": cc, "prefix": EMAIL_PREFIX}
    f |= gen_quality(random.Random(f"{seed}:quality"), recs, out)
    f["cc_tokens"] = ", ".join(f"`{k[7:]}` {v:,}" for k, v in cc.items() if k.startswith("tokens:"))
    f |= {"epoch0": EPOCH_WEEKS[0], "epoch1": EPOCH_WEEKS[1]}
    f["created_weeks"] = ", W".join(map(str, CREATED_AT_WEEKS))
    f |= {"src": REPLAY_SRC, "dst": REPLAY_DST, "rn": REPLAY_N, "bad_week": MALFORMED_WEEK}
    f |= {"prefix_lo": EMAIL_PREFIX + 400, "prefix_hi": EMAIL_PREFIX + 900}
    sizes = {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}
    sizes.pop("README.md", None)
    template = README + kept_more_section(out / "README.md").replace("{", "{{").replace("}", "}}") + QUALITY_README
    text = template.format_map(f | {"size": 0})
    for _ in range(3):  # the size includes the README itself; a fixed point within 2 rounds
        text = template.format_map(f | {"size": sum(sizes.values()) + len(text.encode())})
    write_text(out / "README.md", text)
    sizes["README.md"] = len(text.encode())
    feats = Counter(r["feature"] for r in recs)
    print(f"messages: {f['total']:,} unique records ({f['n_errors']} errors) in {len(paths)} weekly files")
    print(f"  {f['n_bad']} bad lines, {f['n_dups']} replayed duplicates")
    print("  " + ", ".join(f"{k} {n:,}" for k, n in feats.most_common()))
    print(f"batches: {len(batches)} batches, {sum(f[k] for k in f if k.startswith('b_')):,} results")
    print(f"claude-code: {cc['sessions']} sessions, {cc['lines']:,} lines, {cc['responses']:,} API responses")
    for group in ("anthropic", "batches", "claude-code", "quality", "README.md"):
        print(f"  {group:<12} {sum(v for k, v in sizes.items() if k.startswith(group)):>10,} bytes")
    print(f"total: {sum(sizes.values()):,} bytes in {out}")


if __name__ == "__main__":
    main()
