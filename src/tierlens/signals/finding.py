"""What a signal finds: a `Finding` (what, where, why, what it costs a month) and the `Flags` of a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

from tierlens.config import SignalsConfig

SEVERITIES = ("info", "warning", "critical")
KINDS = (
    "lost_caching",
    "cost_growth",
    "top_tier_structured",
    "missing_caching",
    "batch_candidate",
    "under_provisioned",
    "stale_generation",
    "newer_mid_tier",
    "mixed_complexity",
    "latency_over_depth",
    "unpinned_alias",
    "quality_shortfall",
    "quality_complaints",
    "anomaly",
    "budget",
)


Severity = Literal["info", "warning", "critical"]
Confidence = Literal["low", "medium", "high"]
Basis = Literal["exact", "modelled", "speculative"]
"""How a finding's money was arrived at: read off the logs, from a model of them, or a guess."""


@dataclass(frozen=True)
class Finding:
    """One flag: what, where, why we think so, and what it costs a month."""

    kind: str
    severity: Severity
    feature: str | None
    model: str | None
    title: str
    evidence: str
    monthly_usd: float | None
    low_usd: float | None
    high_usd: float | None
    confidence: Confidence
    basis: Basis
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BudgetForecast:
    """Where a budget's current period will end: spent so far, projected to the period's end from
    the same weekday's median, with the range of those days (`amount`, `projected_pct` and
    `severity` are None for the total that stands in when no budget is configured)."""

    name: str
    period: str
    period_start: str
    period_end: str
    feature: str | None
    model_id: str | None
    amount: float | None
    spent_usd: float
    projected_usd: float
    low_usd: float
    high_usd: float
    projected_pct: float | None
    days_left: int
    data_until: str
    severity: Severity | None
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Flags:
    """The outcome of `find_flags`."""

    as_of: date
    window_start: date
    window_end: date
    findings: list[Finding]
    forecasts: list[BudgetForecast]
    thresholds: SignalsConfig
