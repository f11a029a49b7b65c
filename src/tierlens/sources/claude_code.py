"""Claude Code session logs: `projects/<project>/**/<session>.jsonl`.

Read as ccusage reads them (FACTS A3): only lines with a `message.usage` are API responses; the
`<synthetic>` model and API-error lines are dropped; Claude Code writes one line per content
block, so the same response repeats, and a sidechain may replay a parent message under a new
`requestId`. Rows are therefore deduplicated on `message.id`, keeping the non-sidechain entry,
else the one with the larger token total. The project (first directory after `projects/`) and
the session become attribution columns. Costs are computed by our pricer; a logged `costUSD`
is kept apart in `logged_cost_usd`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import SourceError
from tierlens.source_settings import ClaudeCodeSource
from tierlens.sources.anthropic import finish, message_columns, message_fields, message_rejects
from tierlens.sources.base import Context, RawField, Reader
from tierlens.sources.exprs import BAD_TIME, reject_if, with_timestamp


def claude_code_roots(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where Claude Code keeps its logs, as ccusage looks for them: each `projects/` directory of
    `$CLAUDE_CONFIG_DIR` (a comma-separated list), else of `~/.config/claude` and `~/.claude`.

    Raises SourceError when none exists.
    """
    env = os.environ if env is None else env
    configured = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    bases = [Path(p).expanduser() for p in configured] or [
        Path.home() / ".config" / "claude",
        Path.home() / ".claude",
    ]
    found = [b / "projects" for b in bases if (b / "projects").is_dir()]
    if not found:
        where = ", ".join(str(b / "projects") for b in bases)
        raise SourceError(f"no Claude Code logs found (looked in {where}); give the log paths to ingest")
    return found


def project_of(path: Path | None) -> str | None:
    """The first directory after `projects/`, else the parent directory's name."""
    if path is None:
        return None
    parts = path.parts
    if "projects" in parts:
        i = len(parts) - 1 - parts[::-1].index("projects")
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    return path.parent.name or None


PROGRESS = "data.message.message"
"""Where a `progress` line of a parent session holds the assistant message of its subagent."""


class ClaudeCodeReader(Reader):
    """Claude Code JSONL transcripts."""

    name = "claude_code"
    whole_file = True
    joins_files = True
    description = "Claude Code session logs (projects/<project>/**/*.jsonl)"

    def __init__(self, cfg: ClaudeCodeSource | None = None, aliases: dict[str, str] | None = None) -> None:
        self.cfg = cfg or ClaudeCodeSource()
        self.aliases = aliases or {}

    def fields(self) -> list[RawField]:
        return [
            RawField("type"),
            RawField("timestamp"),
            RawField("sessionId"),
            RawField("requestId"),
            RawField("isSidechain", "bool"),
            RawField("isApiErrorMessage", "bool"),
            RawField("costUSD", "num"),
            RawField("cwd"),
            *message_fields("message", loose=True),
            # a subagent's call as its parent's `progress` line relays it
            RawField("data.message.requestId", loose=True),
            *message_fields(PROGRESS, loose=True),
        ]

    def sniff(self, obj: dict[str, Any]) -> bool:
        message = obj.get("message")
        has_usage = isinstance(message, dict) and isinstance(message.get("usage"), dict)
        return ("sessionId" in obj and ("type" in obj or has_usage)) or (
            obj.get("type") == "summary" and "leafUuid" in obj
        )

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        prefixes = ["message", PROGRESS]
        cols = message_columns(prefixes, self.aliases, normalize=False)
        relayed = (
            pl.col("message.usage.output_tokens").is_null()
            & pl.col(f"{PROGRESS}.usage.output_tokens").is_not_null()
        )
        raw = with_timestamp(raw, pl.col("timestamp"))
        ts = pl.col("_ts")
        session = pl.coalesce(pl.col("sessionId"), ctx.of_file(lambda p: p.path.stem if p.path else None))
        out = raw.with_columns(
            **cols,
            request_id=pl.coalesce(pl.col("requestId"), pl.col("data.message.requestId"), cols["message_id"]),
            ts=ts,
            ts_source=pl.lit("log"),
            feature=pl.lit(self.cfg.feature),
            project=ctx.of_file(lambda p: project_of(p.path)),
            session_id=session,
            logged_cost_usd=pl.col("costUSD"),
            # the subagent's own transcript, when there is one, is the same call with its final
            # usage (a relayed copy may carry an early one): the copy loses to it in the per-file
            # dedupe, and is added after every other file, so it counts only where there is none
            _sidechain=pl.col("isSidechain").fill_null(False) | relayed,
            _deferred=relayed.fill_null(False),
        )
        skip = (
            pl.when(~_has_usage())
            .then(_no_usage())
            .when(cols["model"] == "<synthetic>")
            .then(pl.lit("synthetic message"))
            .when(pl.col("isApiErrorMessage").fill_null(False))
            .then(pl.lit("API error message"))
        )
        reject = reject_if(
            *message_rejects(prefixes),
            (pl.col("timestamp").is_null(), "missing timestamp"),
            (ts.is_null(), BAD_TIME),
        )
        checked = out.with_columns(_skip=skip, _reject=pl.when(skip.is_null()).then(reject))
        return finish(checked, self.aliases, "anthropic:")

    def early_skip(self) -> pl.Expr:
        # most lines of a transcript are prompts, tool results, progress and snapshots
        return pl.when(~_has_usage()).then(_no_usage())

    def prepare(self, rows: pl.DataFrame) -> pl.DataFrame:
        """One row per message id of a file: the non-sidechain entry, else the larger token total."""
        if rows.is_empty():
            return rows
        total = pl.sum_horizontal(
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
        )
        return (
            rows.with_columns(_total=total)
            .sort(
                ["source_file", "dedupe_key", "_sidechain", "_total", "_line"],
                descending=[False, False, False, True, False],
            )
            .unique(subset=["source_file", "dedupe_key"], keep="first", maintain_order=True)
            .sort("_line")
        )


def _has_usage() -> pl.Expr:
    """A line with token counts: its own message's, or a subagent's its `progress` line relays."""
    return pl.any_horizontal(
        pl.col(f"{p}.usage.{n}").is_not_null()
        for p in ("message", PROGRESS)
        for n in ("input_tokens", "output_tokens")
    )


def _no_usage() -> pl.Expr:
    return pl.format("{} line (no usage)", pl.col("type").fill_null("untyped"))
