"""A one-line progress display for long work on a terminal: how far, how fast, how long to go.

Shown only where a person watches (stderr is a terminal); silent under -q, in pipes and under
cron, so logs and mails stay clean. Dependency-free: one carriage-returned line, redrawn at most
twice a second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`update(done, rows)` as work advances (`done` of `total`: bytes read for an ingest, draws
    made for a replay, steps taken for a report), `close()` at the end. `unit` names what `rows`
    counts."""

    def __init__(
        self,
        total: int,
        what: str = "ingest",
        stream: TextIO | None = None,
        every: float = 0.5,
        unit: str = "rows",
    ) -> None:
        self.total, self.what, self.every, self.unit = total, what, every, unit
        self.stream = stream if stream is not None else sys.stderr
        self.started = self.shown = time.monotonic()
        self.width = 0

    def update(self, done: int, rows: int) -> None:
        now = time.monotonic()
        if now - self.shown < self.every:
            return
        self.shown = now
        self._draw(self.line(done, rows, now - self.started))

    def line(self, done: int, rows: int, seconds: float) -> str:
        """The text shown: share done, rows and their rate, and the time left at this rate."""
        rate = rows / seconds if seconds > 0 else 0.0
        parts = [f"{self.what}: {rows:,} {self.unit}"]
        if self.unit != "steps":  # a few uneven steps have no meaningful rate
            parts.append(f"{rate:,.0f} {self.unit}/s")
        if self.total > 0 and done > 0:
            share = min(done / self.total, 1.0)
            left = seconds * (1 - share) / share
            of = _size(self.total) if self.unit == "rows" else f"{self.total:,}"  # rows: of bytes
            parts.insert(1, f"{100 * share:.0f}% of {of}")
            parts.append(f"ETA {_duration(left)}")
        return ", ".join(parts)

    def close(self) -> None:
        """Clear the line, so the summary that follows starts clean."""
        if self.width:
            self._draw("")

    def _draw(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self.width) + ("\r" if not text else ""))
        self.stream.flush()
        self.width = len(text)


def terminal_progress(
    total: int, what: str = "ingest", quiet: bool = False, unit: str = "rows"
) -> Progress | None:
    """A `Progress` when a person is watching stderr, else None."""
    return None if quiet or not sys.stderr.isatty() else Progress(total, what, unit=unit)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    return (
        f"{s // 3600}h{s % 3600 // 60:02d}m"
        if s >= 3600
        else f"{s // 60}m{s % 60:02d}s"
        if s >= 60
        else f"{s}s"
    )
