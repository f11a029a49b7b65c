"""The windows a report compares: the period it reports (the last complete day, week or month
before the as-of day, or the days given) and the periods of the same length before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from tierlens.errors import ParameterError
from tierlens.periods import period_bounds

GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class Window:
    """An inclusive range of days."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self, grain: str) -> str:
        if grain == "week" and self.days == 7 and self.start.weekday() == 0:
            iso = self.start.isocalendar()
            return f"{iso.year}-W{iso.week:02d} ({self.start} .. {self.end})"
        if grain == "month" and self.start.day == 1 and self.end.month == self.start.month:
            return self.start.strftime("%Y-%m")
        if self.days == 1:
            return str(self.start)
        return f"{self.start} .. {self.end}"


def _period_of(day: date, grain: str) -> Window:
    return Window(*period_bounds(day, grain))


def windows(
    grain: str, as_of: date, since: date | None = None, until: date | None = None, history: int = 4
) -> tuple[Window, list[Window]]:
    """The report window and the `history` windows before it (most recent first)."""
    if grain not in GRAINS:
        raise ParameterError(f"{{period}} must be one of {', '.join(GRAINS)}, got {{got}}", got=repr(grain))
    if since or until:
        if not (since and until):
            raise ParameterError("give both {since} and {until}, or neither")
        if until < since:
            raise ParameterError("{until} is before {since}")
        current = Window(since, until)
        prev, w = [], current
        for _ in range(history):
            w = Window(w.start - timedelta(days=current.days), w.start - timedelta(days=1))
            prev.append(w)
        return current, prev
    current = _period_of(_period_of(as_of, grain).start - timedelta(days=1), grain)
    prev, w = [], current
    for _ in range(history):
        w = _period_of(w.start - timedelta(days=1), grain)
        prev.append(w)
    return current, prev
