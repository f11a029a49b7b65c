"""What a signal finds: a `Finding` (what, where, why, what it costs a month) and the `Flags` of a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

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


@dataclass(frozen=True)
class Finding:
    """One flag: what, where, why we think so, and what it costs a month."""

    kind: str
    severity: str
    feature: str | None
    model: str | None
    title: str
    evidence: str
    monthly_usd: float | None
    low_usd: float | None
    high_usd: float | None
    confidence: str
    basis: str  # exact | modelled | speculative
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Flags:
    """The outcome of `find_flags`."""

    as_of: date
    window_start: date
    window_end: date
    findings: list[Finding]
    forecasts: list[dict[str, Any]]
    thresholds: SignalsConfig
