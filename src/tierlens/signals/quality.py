"""The signals quality judgments make possible (`tierlens flags`, when `ingest --quality` gave some).

- **quality_shortfall** (upgrade): a feature's mean score on its hardest inputs (the judged requests
  with the largest prompts) is below the pass mark; the finding prices routing those requests one
  tier up.
- **quality_complaints** (upgrade): its escalation or thumbs-down rate is above the limit; priced as
  the whole feature one tier up.
- **weigh_downgrades**: a finding that recommends a cheaper model gains confidence (high) when that
  model's judgments on the same feature match the current model's, and loses it (low) when they
  are worse; its evidence says which judgments.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import polars as pl

from tierlens.config import SignalsConfig
from tierlens.quality.evidence import PROMPT, Score, compare, scores
from tierlens.signals.common import _FEATURE, Passes, _confidence, _Pricing
from tierlens.signals.finding import Finding
from tierlens.signals.usage import _upgrade_costs

DOWNGRADES = (
    "top_tier_structured",
    "stale_generation",
    "newer_mid_tier",
    "mixed_complexity",
    "latency_over_depth",
)
"""The kinds of finding that recommend another (cheaper) model, named in `data["target"]`."""


def _failing(s: Score, cfg: SignalsConfig) -> tuple[int, float, bool] | None:
    """(judgments, good value, on the hardest inputs only) when `s` fails its mark, else None."""
    if s.kind == "score":
        hard = s.hard_n >= cfg.quality_min_judgments and s.hard_good is not None
        n, good = (s.hard_n, s.hard_good or 0.0) if hard else (s.n, s.good)
        return (n, good, hard) if n >= cfg.quality_min_judgments and good < cfg.quality_min_score else None
    bad = 1.0 - s.good
    return (
        (s.n, s.good, False) if s.n >= cfg.quality_min_judgments and bad > cfg.quality_max_bad_rate else None
    )


def quality_findings(
    judgments: pl.DataFrame,
    window: pl.LazyFrame,
    cfg: SignalsConfig,
    pricing: _Pricing,
    scale: float,
    span: tuple[date, date],
) -> Passes:
    """Features whose judgments in the window fail their mark: candidates for the tier above."""
    failing = [(s, f) for s in scores(judgments, *span) if (f := _failing(s, cfg)) is not None]
    targets: dict[str, str] = {}
    for s, _ in failing:
        model = pricing.catalog.get(s.model)
        up = pricing.upgrade(s.model, model.tier) if model else None
        if up:
            targets[s.model] = up
    flagged = pl.DataFrame(
        [
            {"feature": s.feature, "model_id": s.model, "from": (s.hard_from or 0) if hard else 0}
            for s, (_, _, hard) in failing
            if s.model in targets
        ],
        schema={"feature": pl.String, "model_id": pl.String, "from": pl.Int64},
    ).unique(["feature", "model_id"], keep="first")
    rows = (
        window.with_columns(_FEATURE)
        .join(flagged.lazy(), on=["feature", "model_id"], how="inner")
        .filter(pl.col("from") <= PROMPT)
        .drop("from")
    )
    got = yield _upgrade_costs(rows, flagged.select("feature", "model_id"), pricing, targets)
    extra = {(f, m): float(c or 0.0) * scale for f, m, c in got[0].iter_rows()} if got else {}
    return [
        _finding(s, n, good, hard, targets.get(s.model), extra.get((s.feature, s.model)), cfg)
        for s, (n, good, hard) in failing
    ]


def _finding(
    s: Score, n: int, good: float, hard: bool, target: str | None, cost: float | None, cfg: SignalsConfig
) -> Finding:
    where = f"on its hardest inputs (prompts of {s.hard_from or 0:,}+ tokens)" if hard else "in the window"
    if s.kind == "score":
        kind, what = (
            "quality_shortfall",
            f"{s.metric} {s.shown(good)} {where}, below {s.shown(cfg.quality_min_score)}",
        )
    else:
        kind, what = (
            "quality_complaints",
            f"{s.metric}: {s.shown(good)} {where}, above {100 * cfg.quality_max_bad_rate:.0f}%",
        )
    advice = (
        f"consider {target}{' for those requests' if hard else ''}" if target else "no larger tier to move to"
    )
    return Finding(
        kind=kind,
        severity="warning",
        feature=s.feature,
        model=s.model,
        title=f"{s.feature} on {s.model}: {what}; {advice}",
        evidence=f"{n:,} judgments{' of those requests' if hard else ''} ({s.n:,} in all: {s.shown()})"
        + (f"; the impact is what moving them to {target} would add a month" if target else ""),
        monthly_usd=None,
        low_usd=None,
        high_usd=cost,
        confidence=_confidence(n),
        basis="modelled",
        data={
            "metric": s.metric,
            "metric_kind": s.kind,
            "good": good,
            "judgments": n,
            "hardest_inputs": hard,
            "upgrade_to": target,
            "upgrade_monthly_usd": cost,
        },
    )


def weigh_downgrades(
    found: list[Finding], judgments: pl.DataFrame, cfg: SignalsConfig, span: tuple[date, date]
) -> list[Finding]:
    """Each downgrade finding with the judgments of its target on the same feature (module docstring)."""
    if judgments.is_empty():
        return found
    have = scores(judgments, *span)
    out = []
    for f in found:
        target = f.data.get("target") if f.kind in DOWNGRADES else None
        pair = (
            compare(have, f.feature or "", f.model or "", str(target), cfg.quality_min_judgments)
            if target
            else None
        )
        if pair is None:
            out.append(f)
            continue
        now, then = pair
        matches = then.good >= now.good - cfg.quality_match_tolerance
        said = (
            f"; judged {now.metric} on {f.feature}: {then.shown()} on {then.model} vs {now.shown()} on {now.model} "
            f"({then.n:,} + {now.n:,} judgments), {'a match' if matches else 'worse on the cheaper model'}"
        )
        out.append(
            replace(
                f,
                evidence=f.evidence + said,
                confidence="high" if matches else "low",
                data={
                    **f.data,
                    "quality": {
                        "metric": now.metric,
                        "source": now.good,
                        "target": then.good,
                        "matches": matches,
                    },
                },
            )
        )
    return out


def weigh_by_trials(found: list[Finding], trials: pl.DataFrame, cfg: SignalsConfig) -> list[Finding]:
    """Each downgrade finding whose recommended model a trial tried on the feature, its confidence
    set by the trial's agreement with the logged answers, or the share a judge model graded as
    good when it graded enough (`trial_min_agreement`)."""
    from tierlens.trial.result import agreements

    tried = agreements(trials)
    out = []
    for f in found:
        key = (f.feature or "", f.model or "", str(f.data.get("target")))
        a = tried.get(key) if f.kind in DOWNGRADES else None
        if a is None or a.requests < cfg.trial_min_requests:
            out.append(f)
            continue
        confidence = (
            "high" if a.level >= cfg.trial_min_agreement else "low" if a.level < 0.7 else f.confidence
        )
        trial: dict[str, Any] = {"requests": a.requests, "agreement": a.mean}
        if a.judge is not None:
            trial |= {"judge": a.judge, "judged": a.judged, "judged_good": a.judged_good}
        data = {**f.data, "trial": trial}
        out.append(replace(f, evidence=f"{f.evidence}; {a.said()}", confidence=confidence, data=data))
    return out
