"""The plan of one policy: its legs (a route, a cascade's two legs, a service-tier move) and the
parameters its draws vary, built from the policy, the price table and the calibrations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierlens.pricing import PriceTable
from tierlens.quality.evidence import Bench
from tierlens.replay.assumptions import ONE, ZERO, Assumptions, Param, draw_values
from tierlens.replay.calibrate import Calibration
from tierlens.replay.columns import UNKNOWN_TOKENIZER
from tierlens.replay.policy import Policy, Rule

if TYPE_CHECKING:
    from tierlens.trial.result import Agreement


@dataclass(frozen=True)
class Leg:
    rule: int
    slot: int
    kind: str  # route | tier | cheap | strong
    target: str | None  # None: the request keeps its model
    service_tier: str | None
    share: Param
    cache: str  # kept | cold | cascade


class Plan:
    """Legs, parameters and draws of one policy (draws are made once and reused everywhere)."""

    def __init__(
        self,
        policy: Policy,
        table: PriceTable,
        info: dict[str, dict[str, Any]],
        calibrations: dict[tuple[str, str, str], Calibration],
        tokenizers: dict[str, list[str]],
        n: int,
        seed: int,
    ) -> None:
        self.policy = policy
        self.a: Assumptions = policy.assumptions
        self.table = table
        self.info = info
        self.calibrations = calibrations
        self.n = n
        self.seed = seed
        self.params: dict[str, Param] = {ONE.id: ONE, ZERO.id: ZERO}
        self.agreements: dict[tuple[str, str, str], Agreement] = {}
        """Trial agreement with the logged answers, per (feature, source, target)."""
        self.bench: Bench | None = None
        """The window's quality judgments, when the dataset has some (the quality grade's best evidence)."""
        self._draws: dict[str, list[float]] = {}
        self.legs: list[Leg] = []
        for rule in policy.rules:
            self.legs += self._legs(rule)
        self.tokenizers = {k: sorted(v) for k, v in sorted(tokenizers.items())}
        self.tokenizer_of = tokenizer_of(table)

    def _legs(self, rule: Rule) -> list[Leg]:
        route_cache = "cold" if self.a.cache == "cold" else "kept"
        if rule.cascade:
            rate = rule.escalation_rate or self.a.escalation_rate
            src = (
                "policy file"
                if rule.escalation_rate
                else self.a.sources.get("escalation_rate", "default prior [U]")
            )
            share = self.add(
                Param(
                    f"escalation_rate:{rule.name}",
                    f"escalation rate ({rule.name})",
                    rate,
                    src,
                    "escalation_rate",
                )
            )
            return [
                Leg(rule.index, 0, "cheap", rule.cascade[0], rule.service_tier, ONE, route_cache),
                Leg(
                    rule.index,
                    1,
                    "strong",
                    rule.cascade[1],
                    rule.service_tier,
                    share,
                    self.a.cache if self.a.cache != "auto" else "cascade",
                ),
            ]
        if rule.route_to:
            return [Leg(rule.index, 0, "route", rule.route_to, rule.service_tier, ONE, route_cache)]
        return [Leg(rule.index, 0, "tier", None, rule.service_tier, ONE, "kept")]

    def add(self, p: Param) -> Param:
        self.params.setdefault(p.id, p)
        return self.params[p.id]

    def values(self, p: Param) -> list[float]:
        if p.id not in self._draws:
            self._draws[p.id] = draw_values(p, self.n, self.seed)
        return self._draws[p.id]

    def tokenizer_param(self, source_tok: str, target: str) -> Param:
        tgt_tok = self.info[target]["tokenizer"] or UNKNOWN_TOKENIZER
        if source_tok == tgt_tok:
            return ONE
        dist, src = self.a.tokenizer(source_tok, tgt_tok)
        return self.add(
            Param(
                f"tokenizer_ratio:{source_tok}->{tgt_tok}",
                f"tokenizer ratio {source_tok} -> {tgt_tok}",
                dist,
                src,
                "tokenizer_ratio",
            )
        )

    def output_param(self, feature: str | None, source: str, target: str) -> Param:
        if source == target:
            return ONE
        cal = self.calibrations.get((feature or "", source, target)) if self.a.calibrate else None
        if cal is not None:
            return self.add(
                Param(
                    f"output_ratio:{feature}:{source}->{target}",
                    f"output ratio {source} -> {target} ({feature})",
                    cal.dist(),
                    cal.basis,
                    "output_ratio",
                )
            )
        dist, src = self.a.output_prior(source, target)
        return self.add(
            Param(
                f"output_ratio:{source}->{target}",
                f"output ratio {source} -> {target}",
                dist,
                src,
                "output_ratio",
            )
        )

    def cache_param(self, leg: Leg) -> Param:
        if leg.cache == "cold":
            return ZERO
        if leg.cache == "cascade":
            return self.add(
                Param(
                    f"cascade_cache_kept:{self.policy.rules[leg.rule].name}",
                    f"cache reads kept on the escalated stream ({self.policy.rules[leg.rule].name})",
                    self.a.cascade_cache_kept,
                    self.a.sources.get("cascade_cache_kept", "default prior [U]"),
                    "cache_kept",
                )
            )
        return ONE

    def grid(self, p: Param) -> list[float]:
        """Sorted distinct values of a tokenizer parameter over draws and scenarios."""
        return sorted(set(self.values(p)) | set(p.quantiles()))


def tokenizer_of(table: PriceTable) -> dict[str, str]:
    return {
        str(m): (str(t) if t is not None else UNKNOWN_TOKENIZER)
        for m, t in table.rows.select("model_id", "tokenizer").unique(subset="model_id").iter_rows()
    }


def model_info(table: PriceTable) -> dict[str, dict[str, Any]]:
    """Per model id: provider, tier, tokenizer, whether it has cache-write rates, threshold windows."""
    out: dict[str, dict[str, Any]] = {}
    for r in table.rows.iter_rows(named=True):
        m = out.setdefault(
            r["model_id"],
            {
                "provider": r["provider"],
                "tier": r["tier"],
                "tokenizer": r["tokenizer"],
                "writes": r["cache_write_5m"] is not None,
                "thresholds": [],
            },
        )
        if r["lc_threshold"] is not None and r["lc_input"] is not None:
            m["thresholds"].append((r["effective_from"], r["effective_to"], int(r["lc_threshold"])))
    return out
