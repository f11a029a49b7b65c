"""Quality risk of a routing change: a grade, and what evidence backs it.

The logs hold no judgments of answer quality, so a grade is never more than a flag for review.
It says which of three kinds of evidence it rests on, weakest first:

- **heuristic only**: how far down the tier ladder the request moves (opus > sonnet > haiku);
- **quality signals in the logs**: the touched requests' own shape (short structured tool calls are
  classification-like and low risk; requests that already stop at `max_tokens` are fragile);
- **observed on both models**: the feature ran on both models in the window, and the signals the
  logs do hold (truncation at `max_tokens`, structured-output share) are compared between them;
  a trial (`tierlens trial`) of the feature's requests on the target counts as this too, graded
  by its agreement with the logged answers (or, when a judge model graded enough of them, the
  share it judged as good): low from 90%, medium from 70%, high below;
- **judged on both models**: quality judgments (`ingest --quality`: eval scores, thumbs,
  escalations) of the feature on both models: low when the target's are at most the tolerance
  below the source's, medium within three times that, high beyond.

A cascade's cheap leg is graded one step lower than a direct route (escalation catches failures,
at the cost the report shows). A request that keeps its model has no quality risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierlens.quality.evidence import Score

if TYPE_CHECKING:
    from tierlens.trial.result import Agreement

TIER_RANK = {"haiku": 1, "sonnet": 2, "opus": 3}
GRADES = ("none", "low", "medium", "high")
EVIDENCE = (
    "no model change",
    "heuristic only",
    "quality signals in the logs",
    "observed on both models",
    "judged on both models",
)
MIN_OBSERVED = 30
MIN_TRIED = 20
"""Trial requests of a feature on the target that make its agreement the grade's evidence."""


@dataclass(frozen=True)
class Signals:
    """What the logs say about a set of requests."""

    requests: int
    max_tokens_share: float
    structured_share: float
    mean_output: float


@dataclass(frozen=True)
class QualityRisk:
    grade: str
    evidence: str
    detail: str

    @property
    def rank(self) -> tuple[int, int]:
        return GRADES.index(self.grade), EVIDENCE.index(self.evidence)

    def to_dict(self) -> dict[str, str]:
        return {"grade": self.grade, "evidence": self.evidence, "detail": self.detail}


NO_CHANGE = QualityRisk("none", "no model change", "the model does not change")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def assess(
    source: str,
    source_tier: str | None,
    target: str,
    target_tier: str | None,
    cascade: bool,
    touched: Signals,
    observed_source: Signals | None,
    observed_target: Signals | None,
    judged: tuple[Score, Score] | None = None,
    tolerance: float = 0.03,
    tried: Agreement | None = None,
) -> QualityRisk:
    """The quality risk of moving `touched` requests from `source` to `target`; `judged`: the
    feature's judgments on source and target, when both have enough."""
    if source == target:
        return NO_CHANGE
    if judged is not None:
        return _judged(*judged, tolerance)
    if tried is not None and tried.requests >= MIN_TRIED:
        grade = "low" if tried.level >= 0.9 else "medium" if tried.level >= 0.7 else "high"
        return QualityRisk(grade, EVIDENCE[3], tried.said())
    a, b = TIER_RANK.get(source_tier or ""), TIER_RANK.get(target_tier or "")
    if a is None or b is None:
        base, why = 2, f"tier of {source if a is None else target} unknown"
    else:
        step = a - b
        base = 1 if step <= 0 else 2 if step == 1 else 3
        steps = {
            -2: "two tiers up",
            -1: "one tier up",
            0: "same tier",
            1: "one tier down",
            2: "two tiers down",
        }
        why = f"{source_tier} -> {target_tier}: {steps[step]}"
    if cascade:
        base = max(1, base - 1)
        why += ", cascade escalates failures"
    if (
        observed_source is not None
        and observed_target is not None
        and min(observed_source.requests, observed_target.requests) >= MIN_OBSERVED
    ):
        d_trunc = observed_target.max_tokens_share - observed_source.max_tokens_share
        d_struct = abs(observed_target.structured_share - observed_source.structured_share)
        shown = (
            f"{observed_source.requests:,} + {observed_target.requests:,} requests: "
            f"max_tokens stops {_pct(observed_source.max_tokens_share)} -> {_pct(observed_target.max_tokens_share)}, "
            f"structured {_pct(observed_source.structured_share)} -> {_pct(observed_target.structured_share)}"
        )
        if d_trunc > 0.05 or d_struct > 0.10:
            return QualityRisk("high", EVIDENCE[3], f"signals degrade on {target} ({shown})")
        if d_trunc > 0.02:
            return QualityRisk("medium", EVIDENCE[3], f"more truncation on {target} ({shown})")
        return QualityRisk(
            "low",
            EVIDENCE[3],
            f"no degradation in the logged signals ({shown}); the logs hold no quality judgments",
        )
    notes, adjust = [], 0
    if touched.requests >= MIN_OBSERVED:
        if touched.structured_share >= 0.9 and touched.mean_output <= 150:
            adjust -= 1
            notes.append(
                f"{_pct(touched.structured_share)} structured output, mean {touched.mean_output:,.0f} output tokens (classification-like)"
            )
        if touched.max_tokens_share >= 0.05:
            adjust += 1
            notes.append(f"{_pct(touched.max_tokens_share)} of responses already stop at max_tokens")
    if notes:
        grade = GRADES[min(3, max(1, base + adjust))]
        return QualityRisk(grade, EVIDENCE[2], f"{why}; " + "; ".join(notes))
    return QualityRisk(GRADES[base], EVIDENCE[1], why)


def _judged(before: Score, after: Score, tolerance: float) -> QualityRisk:
    drop = before.good - after.good
    grade = "low" if drop <= tolerance else "medium" if drop <= 3 * tolerance else "high"
    return QualityRisk(
        grade,
        EVIDENCE[4],
        f"{before.metric}: {after.shown()} on {after.model} vs {before.shown()} on {before.model} "
        f"({after.n:,} + {before.n:,} judgments)",
    )
