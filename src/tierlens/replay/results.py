"""What a replay returns: per policy, the rows (feature x tier, P10/P50/P90, labels, quality) and
their totals, and the replay as a whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from tierlens.replay.calibrate import Calibration
from tierlens.replay.policy import Policy


@dataclass
class PolicyResult:
    """One policy's replay: totals, the feature x tier rows, and what it assumed."""

    policy: Policy
    totals: dict[str, Any]
    rows: pl.DataFrame
    params: list[dict[str, Any]]
    calibrations: list[Calibration]
    cascades: list[dict[str, Any]]
    draws: pl.DataFrame  # feature, tier, draw, savings (per draw; exactly 0 where nothing changes)
    routes: pl.DataFrame  # feature, model_id, to_model, leg, requests: where touched requests go


@dataclass
class ReplayResult:
    """A replay of one window of the dataset under one or more policies."""

    start: date | None
    end: date | None
    days: int
    draws: int
    seed: int
    price_version: str
    requests: int
    baseline_usd: float
    unpriced_requests: int
    unpriced_models: dict[str, int]
    policies: list[PolicyResult]
    data_dir: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def policy(self, name: str) -> PolicyResult:
        for p in self.policies:
            if p.policy.name == name:
                return p
        raise KeyError(name)
