"""Calendar periods: the day, ISO week (Monday to Sunday) or month a day falls in."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

PERIODS = ("day", "week", "month")


def period_bounds(day: date, period: str) -> tuple[date, date]:
    """The first and last day of the `period` (day, week, month) holding `day`."""
    if period == "day":
        return day, day
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
