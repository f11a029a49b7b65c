"""Which reader reads a file: sniffed from content, or forced with `--format`.

Detection decodes the first few records (JSON lines, the values of a JSON document, or CSV rows
by header) and asks each reader whether a record looks like its format, most specific first
(batch results and Claude Code lines would also pass a loose "has usage" test; a LiteLLM row or
a wrapped OpenAI response has a `response` too). A `[sources.NAME]` mapping with `files` globs
claims matching files before any content test; mappings without globs are tried after the
built-in formats. A provider cost report is recognized and refused with a pointer to
`tierlens reconcile`. A file no reader claims is a clear error naming the formats tried.

A file where Claude Code keeps its transcripts (`projects/<project>/.../<name>.jsonl`) whose
first claimed record only the Claude Code reader claims is read as Claude Code without sniffing
further: a tree of thousands of sessions is then detected at the cost of a line or two per file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tierlens.config import Settings
from tierlens.errors import ConfigError, SourceError
from tierlens.sources.admin import AnthropicUsageReportReader
from tierlens.sources.anthropic import BatchReader, MessagesReader
from tierlens.sources.base import Reader
from tierlens.sources.bedrock import BedrockReader
from tierlens.sources.claude_code import ClaudeCodeReader
from tierlens.sources.costs import CostReportInput, cost_report_kind
from tierlens.sources.inputs import sample_records
from tierlens.sources.litellm import LiteLLMReader
from tierlens.sources.mapped import MappedReader
from tierlens.sources.openai import OpenAIReader, OpenAIUsageReader
from tierlens.sources.otel import OTelReader

_FACTORIES: dict[str, Callable[[Settings], Reader]] = {
    "anthropic_batch": lambda s: BatchReader(s.sources.anthropic_batch, s.pricing.aliases),
    "claude_code": lambda s: ClaudeCodeReader(s.sources.claude_code, s.pricing.aliases),
    "anthropic_messages": lambda s: MessagesReader(s.sources.anthropic_messages, s.pricing.aliases),
    "openai": lambda s: OpenAIReader(s.sources.openai, s.pricing.aliases),
    "openai_usage": lambda s: OpenAIUsageReader(s.pricing.aliases),
    "bedrock": lambda s: BedrockReader(s.sources.bedrock, s.pricing.aliases),
    "litellm": lambda s: LiteLLMReader(s.sources.litellm, s.pricing.aliases),
    "otel": lambda s: OTelReader(s.sources.otel, s.pricing.aliases),
    "anthropic_usage": lambda s: AnthropicUsageReportReader(s.pricing.aliases),
}
FORMATS: tuple[str, ...] = tuple(_FACTORIES)
"""Built-in formats (names for `--format`); `[sources.NAME]` mappings add their own names."""

DETECT_ORDER: tuple[str, ...] = (
    "anthropic_batch",
    "claude_code",
    "litellm",
    "bedrock",
    "otel",
    "openai_usage",
    "anthropic_usage",
    "openai",
    "anthropic_messages",
)
"""The order formats are tried in: most specific first."""

SNIFF_LINES = 20
_CLAUDE_CODE = DETECT_ORDER.index("claude_code")


def in_claude_code_layout(path: Path | None) -> bool:
    """A `.jsonl` file below a project directory of a `projects/` directory, where Claude Code
    writes its session transcripts (and, below a session, its subagents' ones)."""
    if path is None or path.suffix != ".jsonl":
        return False
    parts = path.parts
    return "projects" in parts[:-2]


def formats(settings: Settings) -> tuple[str, ...]:
    """Every format name: the built-in ones, then the configured mappings."""
    return FORMATS + tuple(n for n in settings.sources.mapped if n not in _FACTORIES)


def make_reader(name: str, settings: Settings) -> Reader:
    """The reader for a format name (as given to `--format`)."""
    if name in _FACTORIES:
        return _FACTORIES[name](settings)
    mapped = settings.sources.mapped
    if name in mapped:
        return MappedReader(name, mapped[name], settings.pricing.aliases)
    raise ConfigError(f"unknown format {name!r}; known formats: {', '.join(formats(settings))}")


def match_path(path: Path | None, settings: Settings) -> Reader | None:
    """A configured mapping whose `files` globs match the file, if any (first in config order)."""
    for name, cfg in settings.sources.mapped.items():
        reader = MappedReader(name, cfg, settings.pricing.aliases)
        if reader.claims_path(path):
            return reader
    return None


def detect_reader(samples: Sequence[Any], settings: Settings, label: str) -> Reader:
    """Pick the reader for an input from its first decoded records (the first that claims them)."""
    return detect_candidates(samples, settings, label)[0]


def detect_candidates(
    samples: Sequence[Any], settings: Settings, label: str, path: Path | None = None
) -> list[Reader]:
    """Every reader that claims one of the input's first records, most specific first.

    A cost report among the records is refused (`CostReportInput`); no claim at all is an error.
    `path`: the file's, for the Claude Code layout (see the module docstring).
    """
    readers = [make_reader(n, settings) for n in DETECT_ORDER]
    readers += [make_reader(n, settings) for n in settings.sources.mapped if n not in _FACTORIES]
    claimed: set[int] = set()
    seen = 0
    for obj in samples:
        if not isinstance(obj, dict):
            continue
        seen += 1
        if seen > SNIFF_LINES:
            break
        hits = {i for i, reader in enumerate(readers) if reader.sniff(obj)}
        if not hits and not claimed:
            kind = cost_report_kind(obj)
            if kind is not None:
                raise CostReportInput(label, kind)
        if not claimed and hits == {_CLAUDE_CODE} and in_claude_code_layout(path):
            return [readers[_CLAUDE_CODE]]
        claimed |= hits
    if claimed:
        return [readers[i] for i in sorted(claimed)]
    if not samples:
        raise SourceError(f"{label}: empty input, or no record could be decoded")
    raise SourceError(
        f"{label}: unrecognised log format (tried {', '.join(formats(settings))}); use --format to force one"
    )


def detect_format(head: bytes, settings: Settings, label: str) -> Reader:
    """Pick the reader for a file from its first bytes."""
    if not head.strip():
        raise SourceError(f"{label}: empty input")
    return detect_reader(sample_records(head), settings, label)
