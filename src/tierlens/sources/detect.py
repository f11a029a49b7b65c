"""Which reader reads a file: sniffed from content, or forced with `--format`.

Detection decodes the first few non-blank lines and asks each reader whether a line looks like
its format, most specific first (batch results and Claude Code lines would also pass a loose
"has usage" test). A file no reader claims is a clear error naming the formats tried.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tierlens.config import Settings
from tierlens.errors import ConfigError, SourceError
from tierlens.sources.anthropic import BatchReader, MessagesReader
from tierlens.sources.base import Reader
from tierlens.sources.claude_code import ClaudeCodeReader

_FACTORIES: dict[str, Callable[[Settings], Reader]] = {
    "anthropic_batch": lambda s: BatchReader(s.sources.anthropic_batch, s.pricing.aliases),
    "claude_code": lambda s: ClaudeCodeReader(s.sources.claude_code, s.pricing.aliases),
    "anthropic_messages": lambda s: MessagesReader(s.sources.anthropic_messages, s.pricing.aliases),
}
FORMATS: tuple[str, ...] = tuple(_FACTORIES)
"""Known formats, in detection order (most specific first)."""

SNIFF_LINES = 20


def make_reader(name: str, settings: Settings) -> Reader:
    """The reader for a format name (as given to `--format`)."""
    try:
        return _FACTORIES[name](settings)
    except KeyError:
        raise ConfigError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}") from None


def detect_format(head: bytes, settings: Settings, label: str) -> Reader:
    """Pick the reader for a file from its first bytes."""
    readers = [make_reader(n, settings) for n in FORMATS]
    seen = 0
    for line in head.split(b"\n"):
        if not line.strip():
            continue
        seen += 1
        if seen > SNIFF_LINES:
            break
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(obj, dict):
            continue
        for reader in readers:
            if reader.sniff(obj):
                return reader
    if seen == 0:
        raise SourceError(f"{label}: empty input")
    raise SourceError(
        f"{label}: unrecognised log format (tried {', '.join(FORMATS)}); use --format to force one"
    )
