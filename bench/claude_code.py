#!/usr/bin/env python3
"""Benchmark tierlens on a Claude Code log tree against ccusage, and check both totals.

Why it exists: `tierlens ingest` reads Claude Code's `projects/<project>/**/*.jsonl` the way
ccusage does (FACTS A3), so ccusage is the tool people compare it with, on speed, memory and the
dollar total. bench/ingest.py measures the gateway-log path; this script measures the Claude Code
path, whose cost lies elsewhere (many small files, mostly non-usage lines, streaming copies to
deduplicate). It

1. generates a deterministic (seeded) Claude Code tree, `<workdir>/tree-f<F>-t<T>-s<S>/projects/
   <project-slug>/<session-uuid>.jsonl`, shaped after the real transcripts in tests/realworld/
   claude_code: user prompts and tool results, assistant turns written once per content block
   (the streaming copies of one message.id + requestId, where only the last copy may carry the
   final output_tokens), `progress` lines (hooks, and in 2.1.x a subagent's messages relayed into
   the parent), summary, system, queue-operation and file-history-snapshot lines, `<synthetic>`
   API-error lines, subagents (inline `isSidechain` lines in 1.0/2.0.x sessions, separate
   `<session>/subagents/agent-<id>.jsonl` files in 2.1.x), and resumed sessions (a later file that
   starts by repeating, verbatim but for the sessionId, the lines of an earlier session of the same
   project up to an exchange boundary). The tree is cached per (files, turns, seed);
2. computes the expected total independently of tierlens' pricer: it re-reads the tree with the
   standard library, keeps one entry per (message.id, requestId) -- the one with the most output
   tokens, which is also the largest token total, the rule in tierlens/sources/claude_code.py and
   FACTS A3 (ccusage: "keep the non-sidechain entry, else the larger token total") -- and prices it
   with PRICES below (FACTS.md list prices); it also checks that against the generator's own
   record of every request it wrote;
3. times `tierlens ingest TREE --data FRESH` then `tierlens summary --period day --by model
   --format json`, and `ccusage daily --json --offline` (the native binary of the npm package,
   with CLAUDE_CONFIG_DIR=TREE and an empty HOME, so it reads this tree and nothing else), each in
   its own child process: wall time and that child's peak RSS (`bench/childproc.py`, as
   bench/ingest.py does: not floored at this process's own RSS); medians over --repeats.

Every prompt stays within 200,000 tokens (Claude Code's window without the 1M beta), so the
long-context rules, where ccusage and Anthropic differ (FACTS A3, rule 2), never apply; all lines
are `service_tier: standard` with no web search or inference_geo surcharge, so the table below
prices every request.

ccusage is installed with `npm install ccusage@20.0.24` into <workdir>/ccusage-20.0.24 (20.0.24 is
the newest 20.x with a linux-x64 native binary; 20.0.26 has none); without npm or the binary it
is skipped with a note.

Usage: `python bench/claude_code.py [--files N] [--turns N] [--seed S] [--repeats R]
[--workdir DIR] [--skip-ccusage] [--json OUT]`; defaults are the full size (1,000 session files,
100,000 assistant turns, 3 repeats). Quick run: `python bench/claude_code.py --files 20 --turns
2000 --repeats 1`.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import childproc  # type: ignore[import-not-found]  # bench/childproc.py, beside this script

GENERATOR_VERSION = 2
"""Bump when the generated lines change, so cached trees are regenerated."""

MB = 1e6
START = datetime(2026, 9, 1, tzinfo=UTC).timestamp()
SPAN_DAYS = 30
CONTEXT_CAP = 165_000  # cached context that triggers an auto-compaction; keeps every prompt < 200K
MAX_PENDING = 25_000  # new tokens added to the context between two calls, at most
CCUSAGE_VERSION = "20.0.24"

# USD per million tokens: (input, output). FACTS.md "Pricing: list prices and rules", from
# platform.claude.com/docs/en/about-claude/pricing; cache writes and reads follow from input.
PRICES: dict[str, tuple[float, float]] = {
    "claude-sonnet-4-5-20250929": (3.0, 15.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5-20251101": (5.0, 25.0),
    "claude-opus-4-1-20250805": (15.0, 75.0),
    "claude-haiku-4-5-20251001": (1.0, 5.0),
}
WRITE_5M, WRITE_1H, READ = 1.25, 2.0, 0.1  # multiples of the input price

# (value, weight)
MAIN_MODELS = [
    ("claude-sonnet-4-5-20250929", 0.40),
    ("claude-opus-4-6", 0.15),
    ("claude-sonnet-4-6", 0.15),
    ("claude-opus-4-1-20250805", 0.10),
    ("claude-opus-4-5-20251101", 0.10),
    ("claude-haiku-4-5-20251001", 0.10),
]
SUBAGENT_MODELS = [("claude-haiku-4-5-20251001", 0.5), ("claude-sonnet-4-5-20250929", 0.5)]
# version -> weight; 1.0.x logs no cache_creation split, 2.1.x writes subagents to their own files
VERSIONS = [("1.0.98", 0.15), ("2.0.13", 0.35), ("2.1.39", 0.50)]
TOOLS = [
    ("Bash", 0.30),
    ("Read", 0.25),
    ("Edit", 0.15),
    ("Grep", 0.10),
    ("Glob", 0.05),
    ("Write", 0.05),
    ("TodoWrite", 0.05),
    ("WebSearch", 0.03),
    ("WebFetch", 0.02),
]
PROJECT_NAMES = [
    "payments-api", "web-frontend", "infra", "data-pipeline", "mobile-app", "docs", "auth-service",
    "search", "billing", "ml-experiments", "cli-tools", "design-system", "analytics", "notifier",
]  # fmt: skip
_TEXT = (
    "the function returns none when the config file is missing so we should raise a clear error "
    "instead add a test for the retry loop and update the docs the build passes locally but ci "
    "fails on the lint step because of an unused import let me read the module first then edit "
    "the parser to handle empty lines the migration adds a nullable column and backfills it in "
    "batches of ten thousand rows to keep the lock short found three call sites that need the new "
    "argument running the test suite now all green except one flaky network test"
)
WORDS = _TEXT.split(" ")


def _corpus(seed: int) -> str:
    rng = random.Random(f"corpus:{seed}")
    return " ".join(rng.choice(WORDS) for _ in range(40_000))


def _pick(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _ts(t: float) -> str:
    ms = round(t * 1000)
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --- generation --------------------------------------------------------------------------------

TOKEN_KEYS = ("input", "write_5m", "write_1h", "read", "output")


@dataclass
class Tally:
    """Requests and token sums per model: what a tree should cost."""

    models: dict[str, list[int]] = field(default_factory=dict)  # model -> [requests, *TOKEN_KEYS]

    def add(self, model: str, counts: Sequence[int]) -> None:
        row = self.models.setdefault(model, [0] * (1 + len(TOKEN_KEYS)))
        row[0] += 1
        for k, v in enumerate(counts, start=1):
            row[k] += v

    def totals(self) -> dict[str, int]:
        out = {"requests": sum(r[0] for r in self.models.values())}
        for k, name in enumerate(TOKEN_KEYS, start=1):
            out[name] = sum(r[k] for r in self.models.values())
        return out

    def cost_by_model(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for model, (_, inp, w5, w1h, read, outp) in sorted(self.models.items()):
            pin, pout = PRICES[model]
            out[model] = (
                inp * pin + w5 * pin * WRITE_5M + w1h * pin * WRITE_1H + read * pin * READ + outp * pout
            ) / 1e6
        return out

    def cost(self) -> float:
        return math.fsum(self.cost_by_model().values())


@dataclass
class Thread:
    """One conversation thread (a session's main chain or a subagent) and its prompt cache."""

    model: str
    ttl: str  # "5m" or "1h"
    sidechain: bool
    agent_id: str | None = None
    ctx: int = 0  # tokens cached so far
    pending: int = 0  # tokens added since the last call (prompt, tool results, last output)
    calls: int = 0
    thinking: bool = False


class SessionWriter:
    """Writes one session file (and its subagent files), recording every request in `truth`."""

    def __init__(
        self,
        g: Generator,
        rng: random.Random,
        project: Path,
        cwd: str,
        session_id: str,
        version: str,
        t0: float,
    ) -> None:
        self.g, self.rng, self.project, self.cwd = g, rng, project, cwd
        self.session_id, self.version, self.t = session_id, version, t0
        self.split = not version.startswith("1.")  # 1.0.x logs no cache_creation object
        self.subagent_files = version.startswith("2.1")
        self.lines: list[str] = []
        self.cuts: list[tuple[int, float]] = []  # (line count, time) at exchange boundaries
        self.branch = rng.choice(["main", "master", "dev", f"feature/{rng.choice(WORDS)}"])
        self.slug = "-".join(rng.choice(WORDS) for _ in range(3))
        # the parent-side context of the subagent being written (2.1.x relays its lines)
        self.relay_parent: str | None = None
        self.relay_tool: str | None = None
        self.relay_prompt = ""

    # ids and text
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def b62(self, n: int) -> str:
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def text(self, lo: int, hi: int) -> str:
        n = _log_uniform(self.rng, lo, hi)
        start = self.rng.randrange(0, len(self.g.corpus) - n - 1)
        return self.g.corpus[start : start + n].strip() or "ok"

    def tick(self, lo: float, hi: float) -> str:
        self.t += self.rng.uniform(lo, hi)
        return _ts(self.t)

    def base(self, th: Thread, parent: str | None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "parentUuid": parent,
            "isSidechain": th.sidechain,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": self.version,
            "gitBranch": self.branch,
        }
        if th.agent_id and self.subagent_files:
            d["agentId"] = th.agent_id
        if self.subagent_files:
            d["slug"] = self.slug
        return d

    # the usage of one API call, advancing the thread's cache
    def usage(self, th: Thread) -> tuple[int, int, int, int]:
        """(input, cache write, cache read, final output) of the thread's next call."""
        rng = self.rng
        r = rng.random()
        inp = rng.randint(1, 12) if r < 0.7 else rng.randint(12, 400) if r < 0.95 else rng.randint(400, 4_000)
        if th.calls == 0:
            read = rng.randint(11_000, 16_000) if rng.random() < 0.6 else 0  # system prompt cached already
            write = rng.randint(2_000, 20_000)
            th.ctx = read + write
        elif th.ctx + th.pending > CONTEXT_CAP:
            read, write = rng.randint(11_000, 16_000), rng.randint(15_000, 35_000)  # after a compaction
            th.ctx = read + write
        elif rng.random() < 0.03:
            read = min(
                th.ctx, rng.randint(11_000, 16_000)
            )  # cache expired: the conversation is written again
            write = th.ctx - read + th.pending
            th.ctx += th.pending
        else:
            read, write = th.ctx, th.pending
            th.ctx += th.pending
        th.calls += 1
        out = rng.randint(1, 40) if rng.random() < 0.25 else _log_uniform(rng, 20, 4_000)
        if rng.random() < 0.03:
            out = rng.randint(4_000, 16_000)
        assert inp + read + write <= 200_000
        return inp, write, read, out

    def assistant_turn(
        self, th: Thread, out: list[str], parent: str | None, relay: list[str] | None, tool: str | None
    ) -> tuple[str, str | None, dict[str, Any], int]:
        """One API call written as one line per content block; (last uuid, tool_use id, usage, output).

        `relay`: also write the parent's `agent_progress` copies (all but the last line) there.
        """
        rng = self.rng
        inp, write, read, final = self.usage(th)
        msg_id, req_id = "msg_01" + self.b62(22), "req_011C" + self.b62(20)
        blocks: list[dict[str, Any]] = []
        if th.thinking and rng.random() < 0.5:
            sig = base64.b64encode(rng.randbytes(150)).decode()
            blocks.append({"type": "thinking", "thinking": self.text(60, 1_500), "signature": sig})
        if tool is None or rng.random() < 0.55:
            blocks.append({"type": "text", "text": self.text(10, 1_200)})
        tool_id = None
        if tool is not None:
            tool_id = "toolu_01" + self.b62(22)
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": tool_id,
                "name": tool,
                "input": self.tool_input(tool),
            }
            if self.subagent_files:
                block["caller"] = {"type": "direct"}
            blocks.append(block)
        n = len(blocks)
        partial = min(final, rng.randint(1, 40)) if n > 1 and rng.random() < 0.5 else final
        usage: dict[str, Any] = {}
        for k, blk in enumerate(blocks):
            usage = {
                "input_tokens": inp,
                "cache_creation_input_tokens": write,
                "cache_read_input_tokens": read,
            }
            if self.split:
                w1h = write if th.ttl == "1h" else 0
                usage["cache_creation"] = {
                    "ephemeral_5m_input_tokens": write - w1h,
                    "ephemeral_1h_input_tokens": w1h,
                }
            usage["output_tokens"] = final if k == n - 1 else partial
            usage["service_tier"] = "standard"
            if self.subagent_files:
                usage["inference_geo"] = "not_available"
            message = {
                "model": th.model,
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "content": [blk],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            }
            line_uuid, ts = self.uid(), self.tick(0.2, 3.0)
            d = self.base(th, parent)
            d.update(message=message, requestId=req_id, type="assistant", uuid=line_uuid, timestamp=ts)
            out.append(_dumps(d))
            self.g.stats["assistant usage lines"] += 1
            if k < n - 1:
                self.g.stats["streaming copies (extra lines)"] += 1
            if relay is not None and k < n - 1:
                self.relay(
                    relay,
                    th,
                    {
                        "type": "assistant",
                        "timestamp": ts,
                        "message": message,
                        "requestId": req_id,
                        "uuid": line_uuid,
                    },
                )
                self.g.stats["relayed progress copies"] += 1
            parent = line_uuid
        w1h = write if (self.split and th.ttl == "1h") else 0
        self.g.truth.add(th.model, (inp, write - w1h, w1h, read, final))
        self.g.stats["sidechain requests" if th.sidechain else "main-chain requests"] += 1
        th.pending = final
        assert parent is not None
        return parent, tool_id, usage, final

    def relay(self, relay: list[str], th: Thread, inner: dict[str, Any]) -> None:
        main = Thread(model=th.model, ttl=th.ttl, sidechain=False)
        d = self.base(main, self.relay_parent)
        d.update(
            type="progress",
            data={
                "message": inner,
                "normalizedMessages": [],
                "type": "agent_progress",
                "prompt": self.relay_prompt,
                "agentId": th.agent_id,
            },
            toolUseID="agent_msg_01" + self.b62(22),
            parentToolUseID=self.relay_tool,
            uuid=self.uid(),
            timestamp=inner["timestamp"],
        )
        relay.append(_dumps(d))
        self.relay_parent = d["uuid"]

    def tool_input(self, tool: str) -> dict[str, Any]:
        rng = self.rng
        path = f"{self.cwd}/src/{rng.choice(WORDS)}_{rng.choice(WORDS)}.py"
        if tool == "Bash":
            return {
                "command": rng.choice(
                    ["pytest -x -q", "git status", "make lint", "ls -la", "git diff --stat"]
                ),
                "description": self.text(10, 60),
            }
        if tool in ("Read", "Write"):
            return (
                {"file_path": path}
                if tool == "Read"
                else {"file_path": path, "content": self.text(100, 3_000)}
            )
        if tool == "Edit":
            return {"file_path": path, "old_string": self.text(10, 300), "new_string": self.text(10, 300)}
        if tool in ("Grep", "Glob"):
            return {"pattern": rng.choice(WORDS), "path": self.cwd}
        if tool == "TodoWrite":
            return {
                "todos": [
                    {"content": self.text(10, 60), "status": "pending", "activeForm": self.text(10, 60)}
                ]
            }
        if tool == "Task":
            return {
                "description": self.text(10, 40),
                "prompt": self.text(80, 800),
                "subagent_type": "general-purpose",
            }
        return (
            {"query": self.text(10, 80)}
            if tool == "WebSearch"
            else {"url": "https://example.com/docs", "prompt": self.text(10, 80)}
        )

    def tool_result(
        self,
        th: Thread,
        out: list[str],
        parent: str,
        tool: str,
        tool_id: str,
        result: dict[str, Any] | None = None,
    ) -> str:
        text = self.text(40, 8_000)
        if self.subagent_files and not th.sidechain and self.rng.random() < 0.3:
            d = self.base(th, parent)
            d.update(
                type="progress",
                data={
                    "type": "hook_progress",
                    "hookEvent": "PostToolUse",
                    "hookName": f"PostToolUse:{tool}",
                    "command": "~/.claude/hooks/format.sh",
                },
                parentToolUseID=tool_id,
                toolUseID=tool_id,
                timestamp=self.tick(0.1, 2.0),
                uuid=self.uid(),
            )
            out.append(_dumps(d))
            parent = d["uuid"]
        if result is None:
            if tool == "Read":
                result = {
                    "type": "text",
                    "file": {
                        "filePath": f"{self.cwd}/src/x.py",
                        "content": text,
                        "numLines": text.count(" ") // 8 + 1,
                        "startLine": 1,
                        "totalLines": 400,
                    },
                }
            else:
                result = {"stdout": text, "stderr": "", "interrupted": False, "isImage": False}
        d = self.base(th, parent)
        d.update(
            type="user",
            message={
                "role": "user",
                "content": [
                    {"tool_use_id": tool_id, "type": "tool_result", "content": text, "is_error": False}
                ],
            },
            uuid=self.uid(),
            timestamp=self.tick(0.5, 20.0),
            toolUseResult=result,
        )
        out.append(_dumps(d))
        th.pending = min(MAX_PENDING, th.pending + len(text) // 4 + self.rng.randint(0, 2_000))
        return str(d["uuid"])

    def prompt(self, th: Thread, out: list[str], parent: str | None, text: str | None = None) -> str:
        u = self.uid()
        if not self.version.startswith("1.") and not th.sidechain:
            snap = {"messageId": u, "trackedFileBackups": {}, "timestamp": _ts(self.t)}
            out.append(
                _dumps(
                    {
                        "type": "file-history-snapshot",
                        "messageId": u,
                        "snapshot": snap,
                        "isSnapshotUpdate": False,
                    }
                )
            )
        d = self.base(th, parent)
        d.update(
            type="user",
            message={"role": "user", "content": text or self.text(20, 600)},
            uuid=u,
            timestamp=self.tick(1.0, 5.0),
        )
        if not self.version.startswith("1.") and not th.sidechain:
            d.update(
                thinkingMetadata={"maxThinkingTokens": 31999 if th.thinking else 0},
                todos=[],
                permissionMode="default",
            )
        out.append(_dumps(d))
        th.pending = min(MAX_PENDING, th.pending + self.rng.randint(20, 800))
        return u

    def extra_lines(self, th: Thread, parent: str) -> str:
        """Now and then a system line or a queued command between exchanges."""
        rng = self.rng
        if rng.random() < 0.05:
            d = self.base(th, parent)
            d.update(
                type="system",
                subtype="local_command",
                content="<command-name>/mcp</command-name>",
                level="info",
                timestamp=self.tick(1, 30),
                uuid=self.uid(),
                isMeta=False,
            )
            self.lines.append(_dumps(d))
            parent = d["uuid"]
        if self.subagent_files and rng.random() < 0.05:
            self.lines.append(
                _dumps(
                    {
                        "type": "queue-operation",
                        "operation": "enqueue",
                        "timestamp": self.tick(0.1, 2),
                        "sessionId": self.session_id,
                        "content": self.text(5, 40),
                    }
                )
            )
        return parent

    def synthetic(self, th: Thread, parent: str) -> str:
        d = self.base(th, parent)
        d.update(
            type="assistant",
            uuid=self.uid(),
            timestamp=self.tick(0.1, 1.0),
            message={
                "id": self.uid(),
                "model": "<synthetic>",
                "role": "assistant",
                "stop_reason": "stop_sequence",
                "stop_sequence": "",
                "type": "message",
                "usage": {
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "server_tool_use": {"web_search_requests": 0},
                    "service_tier": None,
                },
                "content": [{"type": "text", "text": "API Error: Request was aborted."}],
            },
            isApiErrorMessage=True,
        )
        self.lines.append(_dumps(d))
        self.g.stats["synthetic lines"] += 1
        return str(d["uuid"])

    def compaction(self, th: Thread, parent: str) -> str:
        d = self.base(th, parent)
        d.update(
            type="system",
            subtype="compact_boundary",
            content="Conversation compacted",
            compactMetadata={"trigger": "auto", "preTokens": th.ctx},
            level="info",
            timestamp=self.tick(1, 5),
            uuid=self.uid(),
            isMeta=False,
        )
        self.lines.append(_dumps(d))
        d2 = self.base(th, d["uuid"])
        d2.update(
            type="user",
            message={
                "role": "user",
                "content": "This session is being continued from a previous conversation. "
                + self.text(200, 2_000),
            },
            isCompactSummary=True,
            uuid=self.uid(),
            timestamp=self.tick(0.1, 1),
        )
        self.lines.append(_dumps(d2))
        return str(d2["uuid"])

    def subagent(self, parent_th: Thread, parent: str, turns: int) -> str:
        """A Task call, its subagent's `turns` calls, and the Task result; returns the last uuid."""
        rng = self.rng
        parent, task_id, _, _ = self.assistant_turn(parent_th, self.lines, parent, None, "Task")
        assert task_id is not None
        agent_id = "a" + "".join(rng.choice("0123456789abcdef") for _ in range(6))
        th = Thread(model=_pick(rng, SUBAGENT_MODELS), ttl="5m", sidechain=True, agent_id=agent_id)
        prompt_text = self.text(80, 800)
        own: list[str] = [] if self.subagent_files else self.lines
        relay = self.lines if self.subagent_files else None
        self.relay_parent, self.relay_tool, self.relay_prompt = parent, task_id, prompt_text
        sub_parent: str | None = self.prompt(th, own, None, prompt_text)
        last_usage: dict[str, Any] = {}
        for k in range(turns):
            tool = _pick(rng, TOOLS) if k < turns - 1 else None
            sub_parent, tool_id, last_usage, _ = self.assistant_turn(th, own, sub_parent, relay, tool)
            if tool is not None and tool_id is not None:
                sub_parent = self.tool_result(th, own, sub_parent, tool, tool_id)
        if self.subagent_files:
            sub = self.project / self.session_id / "subagents" / f"agent-{agent_id}.jsonl"
            sub.parent.mkdir(parents=True, exist_ok=True)
            sub.write_text("\n".join(own) + "\n", encoding="utf-8")
            self.g.stats["subagent files"] += 1
            self.g.bytes += sub.stat().st_size
            self.g.lines += len(own)
        total = sum(v for k, v in last_usage.items() if k.endswith("_tokens"))
        result = {
            "status": "completed",
            "prompt": prompt_text,
            "agentId": agent_id,
            "content": [{"type": "text", "text": self.text(50, 1_500)}],
            "totalDurationMs": rng.randint(5_000, 300_000),
            "totalTokens": total,
            "totalToolUseCount": turns - 1,
            "usage": {k: v for k, v in last_usage.items() if k != "inference_geo"},
        }
        return self.tool_result(parent_th, self.lines, parent, "Task", task_id, result)

    def run(self, turns: int, resumed_from: tuple[Path, int, float] | None) -> None:
        rng = self.rng
        main = Thread(
            model=_pick(rng, MAIN_MODELS),
            ttl="1h" if self.version.startswith("2.1") and rng.random() < 0.6 else "5m",
            sidechain=False,
            thinking=rng.random() < 0.3,
        )
        parent: str | None = None
        if resumed_from is not None or (not self.subagent_files and rng.random() < 0.4):
            self.lines.append(
                _dumps({"type": "summary", "summary": self.text(20, 80), "leafUuid": self.uid()})
            )
        if resumed_from is not None:
            src, cut, t_cut = resumed_from
            old_id = src.stem
            copied = src.read_text(encoding="utf-8").splitlines()[:cut]
            old, new = f'"sessionId":"{old_id}"', f'"sessionId":"{self.session_id}"'
            self.lines += [line.replace(old, new) for line in copied]
            self.g.stats["resumed sessions"] += 1
            self.g.stats["lines copied by resumes"] += len(copied)
            self.t = max(self.t, t_cut + rng.uniform(60, 86_400))
        left = turns
        while left > 0:
            parent = self.prompt(main, self.lines, parent)
            k = min(left, rng.randint(1, 12))
            left -= k
            while k > 0:
                if main.calls and main.ctx + main.pending > CONTEXT_CAP:
                    assert parent is not None
                    parent = self.compaction(main, parent)
                if k >= 3 and rng.random() < 0.05:
                    sub_turns = min(k - 1, rng.randint(2, 10))
                    parent = self.subagent(main, parent, sub_turns)
                    k -= sub_turns + 1
                    continue
                tool = _pick(rng, TOOLS) if k > 1 else None
                parent, tool_id, _, _ = self.assistant_turn(main, self.lines, parent, None, tool)
                if rng.random() < 0.003:
                    parent = self.synthetic(main, parent)
                if tool is not None and tool_id is not None:
                    parent = self.tool_result(main, self.lines, parent, tool, tool_id)
                k -= 1
            parent = self.extra_lines(main, parent)
            self.cuts.append((len(self.lines), self.t))
            self.t += rng.uniform(20, 900)


class Generator:
    def __init__(self, root: Path, files: int, turns: int, seed: int) -> None:
        self.root, self.files, self.turns, self.seed = root, files, turns, seed
        self.corpus = _corpus(seed)
        self.truth = Tally()
        self.stats: Counter[str] = Counter()
        self.bytes = 0
        self.lines = 0

    def allocation(self) -> list[int]:
        """Turns per session file: skewed (a few long sessions), at least 1 each, summing to --turns."""
        rng = random.Random(f"alloc:{self.seed}")
        weights = [rng.lognormvariate(0, 1.0) for _ in range(self.files)]
        spare = self.turns - self.files
        total = sum(weights)
        raw = [w * spare / total for w in weights]
        counts = [int(r) for r in raw]
        order = sorted(range(self.files), key=lambda i: raw[i] - counts[i], reverse=True)
        for i in order[: spare - sum(counts)]:
            counts[i] += 1
        return [c + 1 for c in counts]

    def run(self) -> None:
        rng = random.Random(f"tree:{self.seed}")
        n_projects = max(1, self.files // 20)
        projects = []
        for p in range(n_projects):
            name = PROJECT_NAMES[p % len(PROJECT_NAMES)] + (
                f"-{p // len(PROJECT_NAMES)}" if p >= len(PROJECT_NAMES) else ""
            )
            cwd = f"/home/dev/src/{name}"
            projects.append((self.root / "projects" / cwd.replace("/", "-"), cwd))
        history: dict[int, list[tuple[Path, list[tuple[int, float]]]]] = {}
        for i, turns in enumerate(self.allocation()):
            srng = random.Random(f"session:{self.seed}:{i}")
            p = min(int(rng.paretovariate(1.2)) - 1, n_projects - 1)  # a few busy projects
            project, cwd = projects[p]
            project.mkdir(parents=True, exist_ok=True)
            session_id = str(uuid.UUID(int=srng.getrandbits(128), version=4))
            t0 = START + srng.uniform(0, (SPAN_DAYS - 1) * 86_400)
            earlier = [h for h in history.get(p, []) if h[1]]
            resumed = None
            if earlier and srng.random() < 0.15:
                src, cuts = srng.choice(earlier)
                cut, t_cut = srng.choice(cuts)
                resumed = (src, cut, t_cut)
            w = SessionWriter(self, srng, project, cwd, session_id, _pick(srng, VERSIONS), t0)
            w.run(turns, resumed)
            path = project / f"{session_id}.jsonl"
            path.write_text("\n".join(w.lines) + "\n", encoding="utf-8")
            self.bytes += path.stat().st_size
            self.lines += len(w.lines)
            history.setdefault(p, []).append((path, w.cuts))
            if (i + 1) % 100 == 0:
                print(f"  {i + 1:,} / {self.files:,} session files", flush=True)


def ensure_tree(workdir: Path, files: int, turns: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The tree for (files, turns, seed) and its meta, generated unless an identical one is there."""
    name = f"tree-f{files}-t{turns}-s{seed}"
    tree, meta_path = workdir / name, workdir / f"{name}.meta.json"
    want = {"files": files, "turns": turns, "seed": seed, "generator": GENERATOR_VERSION}
    if tree.is_dir() and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in want} == want and meta.get("bytes") == _tree_bytes(tree):
            print(f"reusing {tree} ({meta['bytes'] / MB:,.0f} MB, {meta['jsonl_files']:,} files)", flush=True)
            return tree, meta
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(tree, ignore_errors=True)
    print(f"generating {files:,} session files, {turns:,} assistant turns into {tree} ...", flush=True)
    started = time.perf_counter()
    g = Generator(tmp, files, turns, seed)
    g.run()
    os.replace(tmp, tree)
    meta = {
        **want,
        "bytes": g.bytes,
        "lines": g.lines,
        "jsonl_files": files + g.stats["subagent files"],
        "stats": dict(sorted(g.stats.items())),
        "truth": g.truth.models,
    }
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(
        f"generated {g.bytes / MB:,.1f} MB, {g.lines:,} lines in {meta['jsonl_files']:,} files "
        f"in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return tree, meta


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.jsonl") if p.is_file())


# --- the expected total, independently of tierlens --------------------------------------------


def expected_tally(tree: Path) -> Tally:
    """Re-read the tree and keep one entry per (message.id, requestId).

    The rule mirrors tierlens/sources/claude_code.py (module docstring and `prepare`: "one row per
    message id: the non-sidechain entry, else the larger token total") and ccusage (FACTS A3:
    key (message.id, requestId), keep the non-sidechain entry, else the larger token total).
    Streaming copies differ only in output_tokens, so the copy with the most output tokens is kept
    (ties on output: the larger total). A subagent call relayed into its parent's `progress` line
    (data.message.message) is the same request as in the subagent's own file. `<synthetic>` and
    `isApiErrorMessage` lines are dropped. Lines without a usage object are not API responses.
    """
    best: dict[tuple[str, str | None], tuple[tuple[int, int], str, tuple[int, ...]]] = {}
    for path in sorted(tree.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if '"usage":{' not in line:
                    continue
                obj = json.loads(line)
                msg, req = obj.get("message"), obj.get("requestId")
                if not (isinstance(msg, dict) and isinstance(msg.get("usage"), dict)):
                    inner = (obj.get("data") or {}).get("message") if obj.get("type") == "progress" else None
                    if not isinstance(inner, dict):
                        continue
                    msg, req = inner.get("message"), inner.get("requestId")
                    if not (isinstance(msg, dict) and isinstance(msg.get("usage"), dict)):
                        continue
                if msg.get("model") == "<synthetic>" or obj.get("isApiErrorMessage"):
                    continue
                u = msg["usage"]
                write = u.get("cache_creation_input_tokens") or 0
                split = u.get("cache_creation")
                if isinstance(split, dict):  # the split wins when present (FACTS rule 1)
                    w5, w1h = (
                        split.get("ephemeral_5m_input_tokens") or 0,
                        split.get("ephemeral_1h_input_tokens") or 0,
                    )
                else:
                    w5, w1h = write, 0
                counts: tuple[int, ...] = (
                    u.get("input_tokens") or 0,
                    w5,
                    w1h,
                    u.get("cache_read_input_tokens") or 0,
                    u.get("output_tokens") or 0,
                )
                rank = (counts[4], sum(counts))
                key = (msg["id"], req)
                if key not in best or rank > best[key][0]:
                    best[key] = (rank, msg["model"], counts)
    tally = Tally()
    for _, model, counts in best.values():
        tally.add(model, counts)
    return tally


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Measured:
    wall_s: float
    maxrss_bytes: int
    cpu_s: float


def measure(
    cmd: Sequence[str], stdout: Path, stderr: Path, cwd: Path, env: dict[str, str]
) -> tuple[int, Measured]:
    """Run `cmd`; its exit code, wall time, and the peak RSS and CPU of that child alone
    (`childproc.measure`, as bench/ingest.py); stdout and stderr are kept apart, stdout being JSON."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        got = childproc.measure(cmd, out, err, cwd, env)
    return got.returncode, Measured(got.wall_s, got.maxrss_bytes, got.cpu_s)


def _fail(what: str, rc: int, err: Path) -> SystemExit:
    return SystemExit(
        f"{what} failed (exit {rc}):\n{err.read_text(encoding='utf-8', errors='replace')[-3000:]}"
    )


def tierlens_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("tierlens")
    found = str(exe) if exe.exists() else shutil.which("tierlens")
    if not found:
        raise SystemExit("tierlens is not installed in this environment (pip install -e .)")
    return [found]


def _model_family(model: str) -> str:
    """`claude-sonnet-4-5-20250929` -> `claude-sonnet-4-5` (tierlens reports model ids without the date)."""
    head, _, tail = model.rpartition("-")
    return head if len(tail) == 8 and tail.isdigit() else model


@dataclass
class Result:
    """One run of one tool: its steps' measurements and what it reported."""

    steps: dict[str, Measured]
    total_usd: float
    tokens: dict[str, int]
    by_model: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


def run_tierlens(tree: Path, scratch: Path, k: int) -> tuple[Result, list[list[str]]]:
    data = scratch / f"tierlens-data-{k}"
    shutil.rmtree(data, ignore_errors=True)
    env = {n: v for n, v in os.environ.items() if not n.startswith("TIERLENS_")}
    ingest = [*tierlens_cmd(), "ingest", str(tree), "--data", str(data), "--json"]
    summary = [
        *tierlens_cmd(),
        "summary",
        "--data",
        str(data),
        "--period",
        "day",
        "--by",
        "model",
        "--format",
        "json",
    ]
    out, err = scratch / f"tierlens-ingest-{k}.json", scratch / f"tierlens-ingest-{k}.err"
    rc, m_ingest = measure(ingest, out, err, scratch, env)
    if rc != 0:
        raise _fail("tierlens ingest", rc, err)
    ing = json.loads(out.read_text(encoding="utf-8"))
    out, err = scratch / f"tierlens-summary-{k}.json", scratch / f"tierlens-summary-{k}.err"
    rc, m_summary = measure(summary, out, err, scratch, env)
    if rc != 0:
        raise _fail("tierlens summary", rc, err)
    s = json.loads(out.read_text(encoding="utf-8"))
    rows = s.get("rows") or []
    by_model: dict[str, float] = defaultdict(float)
    tokens = {"requests": int(s.get("total_requests") or 0)}
    for name in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"):
        tokens[name] = sum(int(r.get(name) or 0) for r in rows)
    for r in rows:
        by_model[str(r.get("model"))] += float(r.get("cost_usd") or 0.0)
    shutil.rmtree(data, ignore_errors=True)
    extra = {
        "rows_added": ing.get("rows_added"),
        "duplicates_skipped": ing.get("duplicates_skipped"),
        "skipped": ing.get("skipped"),
        "rejected": ing.get("rejected"),
        "unpriced": ing.get("unpriced") or s.get("unpriced_models"),
        "ingest_total_cost_usd": ing.get("total_cost_usd"),
    }
    result = Result(
        {"ingest": m_ingest, "summary": m_summary}, float(s["total_cost_usd"]), tokens, dict(by_model), extra
    )
    return result, [ingest, summary]


def _native_package() -> str | None:
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    osname = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    return f"ccusage-{osname}-{arch}" if arch and osname else None


def ensure_ccusage(workdir: Path) -> tuple[Path | None, str]:
    """The ccusage native binary (installed with npm once), or None and why not."""
    pkg = _native_package()
    if pkg is None:
        return None, f"ccusage skipped: no native binary for {sys.platform}/{platform.machine()}"
    prefix = workdir / f"ccusage-{CCUSAGE_VERSION}"
    binary = prefix / "node_modules" / "@ccusage" / pkg / "bin" / "ccusage"
    if not binary.is_file():
        npm = shutil.which("npm")
        if npm is None:
            return None, "ccusage skipped: npm not found (install Node.js, or pass --skip-ccusage)"
        prefix.mkdir(parents=True, exist_ok=True)
        cmd = [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            f"ccusage@{CCUSAGE_VERSION}",
        ]
        print(f"installing: {' '.join(cmd)}", flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            return None, "ccusage skipped: npm install timed out"
        if proc.returncode != 0 or not binary.is_file():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            return (
                None,
                f"ccusage skipped: npm install gave no {binary} (exit {proc.returncode}): {' | '.join(tail)}",
            )
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)  # npm links only the JS wrapper's bin; the wrapper chmods this itself
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None, f"ccusage skipped: {binary} --version failed: {proc.stderr.strip()[:300]}"
    return binary, proc.stdout.strip()


def ccusage_env(tree: Path, scratch: Path) -> dict[str, str]:
    """Only this tree: CLAUDE_CONFIG_DIR at it, and an empty HOME so no other agent's logs are found."""
    home = scratch / "empty-home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "CLAUDE_CONFIG_DIR": str(tree),
        "NO_COLOR": "1",
    }


def run_ccusage(binary: Path, tree: Path, scratch: Path, k: int) -> tuple[Result, list[str]]:
    cmd = [str(binary), "daily", "--json", "--offline"]
    out, err = scratch / f"ccusage-{k}.json", scratch / f"ccusage-{k}.err"
    rc, m = measure(cmd, out, err, scratch, ccusage_env(tree, scratch))
    if rc != 0:
        raise _fail("ccusage daily", rc, err)
    d = json.loads(out.read_text(encoding="utf-8"))
    totals = d.get("totals") or {}
    tokens = {
        "input_tokens": int(totals.get("inputTokens") or 0),
        "cache_write_tokens": int(totals.get("cacheCreationTokens") or 0),
        "cache_read_tokens": int(totals.get("cacheReadTokens") or 0),
        "output_tokens": int(totals.get("outputTokens") or 0),
    }
    by_model: dict[str, float] = defaultdict(float)
    for day in d.get("daily") or []:
        for b in day.get("modelBreakdowns") or []:
            by_model[_model_family(str(b.get("modelName")))] += float(b.get("cost") or 0.0)
    return Result({"daily": m}, float(totals.get("totalCost") or 0.0), tokens, dict(by_model)), cmd


# --- reporting ---------------------------------------------------------------------------------


def _median(results: Sequence[Result], step: str, attr: str) -> float:
    return float(statistics.median(getattr(r.steps[step], attr) for r in results))


def _diff(got: float, want: float) -> str:
    d = got - want
    rel = d / want if want else 0.0
    if abs(rel) < 1e-9:
        return "+0.000000 (match)"
    return f"{d:+.6f} ({rel:+.4%})"


def report(
    meta: dict[str, Any],
    tree: Path,
    expected: Tally,
    tl: Sequence[Result],
    cc: Sequence[Result],
    commands: dict[str, str],
    notes: Sequence[str],
) -> dict[str, Any]:
    want = expected.cost()
    totals = expected.totals()
    st = meta["stats"]
    print()
    print(
        f"tree: {tree}\n  {meta['files']:,} session files + {st.get('subagent files', 0):,} subagent files, "
        f"{meta['bytes'] / MB:,.1f} MB, {meta['lines']:,} lines; {totals['requests']:,} requests "
        f"({st.get('sidechain requests', 0):,} sidechain) in {st.get('assistant usage lines', 0):,} assistant usage lines "
        f"+ {st.get('relayed progress copies', 0):,} relayed progress copies; {st.get('resumed sessions', 0):,} resumed sessions "
        f"copying {st.get('lines copied by resumes', 0):,} lines; {st.get('synthetic lines', 0):,} <synthetic> lines"
    )
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print(f"expected total (independent tally, PRICES in this script): ${want:,.6f}")
    head = f"{'tool':<28}{'wall s':>9}{'peak RSS MB':>13}{'CPU s':>8}{'total $':>16}  {'diff vs expected':<22}  runs (wall s)"
    print()
    print(head)
    print("-" * len(head))

    def row(name: str, wall: float, rss: float, cpu: float, total: float | None, runs: str) -> None:
        money = f"{total:>16,.6f}  {_diff(total, want):<22}" if total is not None else f"{'':>16}  {'':<22}"
        print(f"{name:<28}{wall:>9.2f}{rss / MB:>13,.0f}{cpu:>8.1f}{money}  {runs}")

    out: dict[str, Any] = {"expected_usd": want, "expected_tokens": totals}
    if tl:
        for step in ("ingest", "summary"):
            runs = ", ".join(f"{r.steps[step].wall_s:.2f}" for r in tl)
            row(
                f"tierlens {step}",
                _median(tl, step, "wall_s"),
                _median(tl, step, "maxrss_bytes"),
                _median(tl, step, "cpu_s"),
                None,
                runs,
            )
        walls = [r.steps["ingest"].wall_s + r.steps["summary"].wall_s for r in tl]
        rss = statistics.median(
            max(r.steps["ingest"].maxrss_bytes, r.steps["summary"].maxrss_bytes) for r in tl
        )
        cpu = statistics.median(r.steps["ingest"].cpu_s + r.steps["summary"].cpu_s for r in tl)
        row(
            "tierlens ingest+summary",
            statistics.median(walls),
            rss,
            cpu,
            tl[-1].total_usd,
            ", ".join(f"{w:.2f}" for w in walls),
        )
        out["tierlens"] = {
            "wall_s": statistics.median(walls),
            "peak_rss_bytes": rss,
            "total_usd": tl[-1].total_usd,
            "runs": [asdict(r) for r in tl],
        }
    if cc:
        runs = ", ".join(f"{r.steps['daily'].wall_s:.2f}" for r in cc)
        row(
            "ccusage daily",
            _median(cc, "daily", "wall_s"),
            _median(cc, "daily", "maxrss_bytes"),
            _median(cc, "daily", "cpu_s"),
            cc[-1].total_usd,
            runs,
        )
        out["ccusage"] = {
            "wall_s": _median(cc, "daily", "wall_s"),
            "peak_rss_bytes": _median(cc, "daily", "maxrss_bytes"),
            "total_usd": cc[-1].total_usd,
            "runs": [asdict(r) for r in cc],
        }
    if tl and cc:
        ratio = out["tierlens"]["wall_s"] / out["ccusage"]["wall_s"]
        rss_ratio = out["tierlens"]["peak_rss_bytes"] / out["ccusage"]["peak_rss_bytes"]
        print(f"\nratio tierlens / ccusage (medians): wall {ratio:.2f}x, peak RSS {rss_ratio:.2f}x")
        out["ratio_wall"], out["ratio_rss"] = ratio, rss_ratio

    # tokens: where a dollar difference comes from
    want_tokens = {
        "requests": totals["requests"],
        "input_tokens": totals["input"],
        "cache_write_tokens": totals["write_5m"] + totals["write_1h"],
        "cache_read_tokens": totals["read"],
        "output_tokens": totals["output"],
    }
    print(
        f"\n{'tokens':<22}{'expected':>16}"
        + (f"{'tierlens':>16}" if tl else "")
        + (f"{'ccusage':>16}" if cc else "")
    )
    for name, v in want_tokens.items():
        cells = [f"{v:>16,}"]
        for res in (tl, cc):
            if res:
                got = res[-1].tokens.get(name)
                cells.append(f"{got:>16,}" if got is not None else f"{'-':>16}")
        print(f"{name:<22}" + "".join(cells))
    fam: dict[str, float] = defaultdict(float)
    for model, cost in expected.cost_by_model().items():
        fam[_model_family(model)] += cost
    bad: list[tuple[str, float, list[float | None]]] = []
    for m in sorted(set(fam) | {m for res in (tl, cc) if res for m in res[-1].by_model}):
        costs = [res[-1].by_model.get(m, 0.0) if res else None for res in (tl, cc)]
        if any(x is not None and abs(x - fam[m]) > 1e-9 * max(1.0, fam[m]) for x in costs):
            bad.append((m, fam[m], costs))
    if bad:
        print("\ncost by model where a tool differs from the expected: model, expected, tierlens, ccusage")
        for m, e, costs in bad:
            text = "".join(f"{x:>14,.6f}" if x is not None else f"{'-':>14}" for x in costs)
            print(f"  {m:<28}{e:>14,.6f}{text}")
    if tl:
        ex = tl[-1].extra
        print(
            f"\ntierlens ingest: rows_added {ex['rows_added']}, duplicates_skipped {ex['duplicates_skipped']}, rejected {ex['rejected'] or {}}, unpriced {ex['unpriced'] or {}}"
        )
    print("\ncommands:")
    for name, cmd in commands.items():
        print(f"  {name}: {cmd}")
    for note in notes:
        print(f"note: {note}")
    out["commands"], out["notes"] = commands, list(notes)
    return out


# --- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--files", type=int, default=1_000, help="session files to generate (default 1,000)")
    ap.add_argument(
        "--turns", type=int, default=100_000, help="assistant turns (API requests) in all (default 100,000)"
    )
    ap.add_argument(
        "--seed", type=int, default=42, help="generator seed (the tree is cached per files, turns and seed)"
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/tierlens-cc-bench"),
        help="trees, ccusage and outputs go here",
    )
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool; medians are reported")
    ap.add_argument("--skip-ccusage", action="store_true", help="time tierlens only")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON to OUT")
    args = ap.parse_args(argv)
    if args.files < 1 or args.repeats < 1 or args.turns < args.files:
        ap.error("--files and --repeats must be positive, and --turns at least --files")
    workdir: Path = args.workdir.resolve()

    tree, meta = ensure_tree(workdir, args.files, args.turns, args.seed)
    started = time.perf_counter()
    expected = expected_tally(tree)
    print(
        f"expected total from re-reading the tree: ${expected.cost():,.6f} ({time.perf_counter() - started:.1f}s)"
    )
    notes: list[str] = []
    truth = Tally({m: list(v) for m, v in meta["truth"].items()})
    if truth.models != expected.models:
        notes.append(
            f"the generator's own record (${truth.cost():,.6f}, {truth.totals()}) differs from the re-read "
            f"tally (${expected.cost():,.6f}, {expected.totals()}): a bug in this script"
        )
    for path in tree.rglob("*.jsonl"):  # both tools start from the page cache
        path.read_bytes()

    binary: Path | None = None
    if args.skip_ccusage:
        notes.append("ccusage skipped (--skip-ccusage)")
    else:
        binary, msg = ensure_ccusage(workdir)
        notes.append(
            msg
            if binary is None
            else f"ccusage {msg}: the native binary of npm ccusage@{CCUSAGE_VERSION}, run directly (not via its node wrapper)"
        )
    scratch = workdir / "runs"
    scratch.mkdir(parents=True, exist_ok=True)
    tl: list[Result] = []
    cc: list[Result] = []
    commands: dict[str, str] = {}
    for k in range(args.repeats):
        res, cmds = run_tierlens(tree, scratch, k)
        tl.append(res)
        commands["tierlens ingest"], commands["tierlens summary"] = (" ".join(c) for c in cmds)
        print(
            f"  run {k + 1}/{args.repeats} tierlens  ingest {res.steps['ingest'].wall_s:6.2f}s  summary {res.steps['summary'].wall_s:6.2f}s",
            flush=True,
        )
        if binary is not None:
            res, cmd = run_ccusage(binary, tree, scratch, k)
            cc.append(res)
            env = ccusage_env(tree, scratch)
            commands["ccusage"] = f"env -i HOME={env['HOME']} TZ=UTC CLAUDE_CONFIG_DIR={tree} " + " ".join(
                cmd
            )
            print(
                f"  run {k + 1}/{args.repeats} ccusage   daily  {res.steps['daily'].wall_s:6.2f}s", flush=True
            )
    out = report(meta, tree, expected, tl, cc, commands, notes)
    if args.json:
        out.update(
            config=vars(args) | {"workdir": str(workdir), "json": str(args.json)},
            tree=str(tree),
            meta={k: v for k, v in meta.items() if k != "truth"},
        )
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
