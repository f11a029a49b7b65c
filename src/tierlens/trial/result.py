"""A trial's outcome: the trials table (no text: tokens, cost, latency, scores, hashes), its summary
per feature, and the output-length calibrations the replay takes from it.

The table is kept at `<data>/trials/part-<seq>-<trial>.parquet`, written through the store's
transaction like any other commit. An output ratio is paired: the same requests' output tokens on
the target over their logged output tokens, its median the ratio of the sums and its sigma the
standard error of the mean log ratio, sd / sqrt(n), widened by the calibration floor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.location import is_remote
from tierlens.render import markdown_table, money, table
from tierlens.replay.assumptions import Dist
from tierlens.replay.calibrate import Calibration
from tierlens.store.layout import Layout
from tierlens.trial.run import Tried

TRIAL_SCHEMA: dict[str, Any] = {
    "trial_id": pl.String,
    "policy": pl.String,
    "rule": pl.String,
    "feature": pl.String,
    "request_id": pl.String,
    "source_model": pl.String,
    "target_model": pl.String,
    "logged_output_tokens": pl.Int64,
    "output_tokens": pl.Int64,
    "input_tokens": pl.Int64,
    "cache_read_tokens": pl.Int64,
    "cache_write_tokens": pl.Int64,
    "cost_usd": pl.Float64,
    "latency_ms": pl.Float64,
    "logged_latency_ms": pl.Float64,
    "stop_reason": pl.String,
    "logged_stop_reason": pl.String,
    "agreement": pl.Float64,
    "exact_tool_call": pl.Boolean,
    "answer_chars": pl.Int64,
    "answer_sha256": pl.String,
    "error": pl.String,
    "judge_model": pl.String,
    "judge_score": pl.Int64,
    "judge_cost_usd": pl.Float64,
    "judge_note": pl.String,
}
FLOOR_SIGMA = 0.02
FEATURE_HEADERS = [
    "feature",
    "target",
    "tried",
    "errors",
    "spent",
    "output ratio",
    "agreement",
    "judge",
    "latency P50",
    "vs logged",
]


def rows_of(trial_id: str, policy: str, tried: list[Tried], judge: str | None = None) -> pl.DataFrame:
    """The trials table rows of `tried` (lengths, counts, scores and hashes only)."""
    out = []
    for t in tried:
        a, u = t.answer, (t.answer.usage if t.answer else {})
        out.append(
            {
                "trial_id": trial_id,
                "policy": policy,
                "rule": t.move.rule,
                "feature": t.move.feature,
                "request_id": t.case.request_id,
                "source_model": t.move.source,
                "target_model": t.move.target,
                "logged_output_tokens": t.case.logged.output_tokens,
                "output_tokens": a.output_tokens if a else None,
                "input_tokens": u.get("input_tokens"),
                "cache_read_tokens": u.get("cache_read_input_tokens"),
                "cache_write_tokens": u.get("cache_creation_input_tokens"),
                "cost_usd": t.cost_usd,
                "latency_ms": t.latency_ms if a else None,
                "logged_latency_ms": t.move.logged_latency_ms,
                "stop_reason": a.stop_reason if a else None,
                "logged_stop_reason": t.case.logged.stop_reason,
                "agreement": t.agreement,
                "exact_tool_call": t.exact_tool,
                "answer_chars": a.chars if a else None,
                "answer_sha256": a.digest if a else None,
                "error": t.error,
                "judge_model": judge,
                "judge_score": t.judge_score,
                "judge_cost_usd": t.judge_cost_usd,
                "judge_note": t.judge_note,
            }
        )
    return pl.DataFrame(out, schema=TRIAL_SCHEMA)


def stored_trials(data_dir: str | Path) -> pl.DataFrame:
    """Every stored trial result; none on object storage, which keeps the requests only."""
    folder = Layout(Path(data_dir)).trials
    files = sorted(folder.glob("part-*.parquet")) if not is_remote(data_dir) and folder.is_dir() else []
    if not files:
        return pl.DataFrame(schema=TRIAL_SCHEMA)
    got = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
    # a part written before a column existed reads it as null
    return got.select(
        pl.col(c).cast(t) if c in got.columns else pl.lit(None, t).alias(c) for c, t in TRIAL_SCHEMA.items()
    )


def calibrations(trials: pl.DataFrame) -> dict[tuple[str, str, str], Calibration]:
    """(feature, source, target) -> the paired output ratio the trials measured (module docstring)."""
    ok = trials.filter(
        pl.col("error").is_null() & (pl.col("output_tokens") > 0) & (pl.col("logged_output_tokens") > 0)
    )
    out = {}
    for (feature, source, target), g in ok.group_by("feature", "source_model", "target_model"):
        n = g.height
        logs = (g["output_tokens"].cast(pl.Float64) / g["logged_output_tokens"]).log()
        spread = logs.std() if n > 1 else None
        sd = float(spread) if isinstance(spread, int | float) else 1.0
        ratio = float(g["output_tokens"].sum()) / float(g["logged_output_tokens"].sum())
        out[(str(feature), str(source), str(target))] = Calibration(
            feature=str(feature),
            source=str(source),
            target=str(target),
            n_source=n,
            n_target=0,
            mean_source=float(g["logged_output_tokens"].mean() or 0.0),  # type: ignore[arg-type]
            mean_target=float(g["output_tokens"].mean() or 0.0),  # type: ignore[arg-type]
            ratio=ratio,
            sigma=math.hypot(sd / math.sqrt(n), FLOOR_SIGMA),
            origin="trial",
        )
    return out


def _latency(ok: pl.DataFrame) -> dict[str, float | None]:
    """The trial's P50/P90 latency, the same requests' logged P50, and the change (when logged)."""
    p50, logged = ok["latency_ms"].median(), ok["logged_latency_ms"].median()
    now = float(p50) if isinstance(p50, int | float) else None
    then = float(logged) if isinstance(logged, int | float) else None
    p90 = ok["latency_ms"].quantile(0.9)
    return {
        "p50": now,
        "p90": float(p90) if p90 is not None else None,
        "logged_p50": then,
        "change_pct": 100 * (now / then - 1) if now is not None and then else None,
    }


def _judged(ok: pl.DataFrame) -> dict[str, Any] | None:
    """The judge's grades of a feature's answers (1..5): the model, how many it scored, their mean."""
    scored = ok.filter(pl.col("judge_score").is_not_null())
    models = ok["judge_model"].drop_nulls().unique().sort().to_list()
    if not models:
        return None
    mean = scored["judge_score"].mean() if scored.height else None
    return {
        "model": ", ".join(models),
        "requests": scored.height,
        "score": float(mean) if isinstance(mean, int | float) else None,
    }


JUDGED_GOOD = 4
"""A judge's score from which an answer counts as serving as well (4: minor differences, 5: as good)."""
MIN_JUDGED = 20
"""Judged answers of a feature from which the judge's grades, not the agreement, are the evidence."""


@dataclass(frozen=True)
class Agreement:
    """How far a trial's answers on `target` agreed with the logged ones, for one feature, and how a
    judge model graded them (when one did)."""

    feature: str
    source: str
    target: str
    requests: int
    mean: float
    judge: str | None = None
    judged: int = 0
    judged_good: float | None = None  # the share of judged answers scored JUDGED_GOOD or more

    @property
    def level(self) -> float:
        """What grades the move: the judge's share of good answers when it judged enough of them
        (word similarity says little about free text), else the mean agreement."""
        if self.judged_good is not None and self.judged >= MIN_JUDGED:
            return self.judged_good
        return self.mean

    def said(self) -> str:
        out = (
            f"a trial of {self.requests:,} requests on {self.target} agreed {100 * self.mean:.0f}% with the "
            f"answers {self.source} gave"
        )
        if self.judged_good is not None and self.judged:
            out += (
                f"; {self.judge} judged {100 * self.judged_good:.0f}% of {self.judged:,} "
                f"as good as the logged answer (score {JUDGED_GOOD}+ of 5)"
            )
        return out


def agreements(trials: pl.DataFrame) -> dict[tuple[str, str, str], Agreement]:
    """(feature, source, target) -> the mean agreement of the trials' answered requests, and the
    judge's grades of them."""
    ok = trials.filter(pl.col("error").is_null() & pl.col("agreement").is_not_null())
    grouped = ok.group_by("feature", "source_model", "target_model").agg(
        n=pl.len(),
        mean=pl.col("agreement").mean(),
        judge=pl.col("judge_model").drop_nulls().unique().sort().str.join(", "),
        judged=pl.col("judge_score").is_not_null().sum(),
        good=(pl.col("judge_score") >= JUDGED_GOOD).mean(),
    )
    return {
        (str(f), str(s), str(t)): Agreement(
            str(f), str(s), str(t), int(n), float(m), j or None, int(jn), good
        )
        for f, s, t, n, m, j, jn, good in grouped.iter_rows()
    }


@dataclass(frozen=True)
class TrialEvidence:
    """What the stored trials tell the replay: paired output ratios and answer agreement."""

    calibrations: dict[tuple[str, str, str], Calibration]
    agreements: dict[tuple[str, str, str], Agreement]

    @classmethod
    def of(cls, trials: pl.DataFrame) -> TrialEvidence:
        return cls(calibrations(trials), agreements(trials))


@dataclass
class TrialResult:
    """What `run_trial` did: the rows it wrote (or would send, in a dry run) and their summary."""

    policy: str
    trial_id: str
    dry_run: bool
    rows: pl.DataFrame
    planned: int
    not_sent: int = 0
    estimated_usd: float = 0.0
    max_usd: float = 0.0
    notes: list[str] = field(default_factory=list)

    def features(self) -> list[dict[str, Any]]:
        """Per feature: requests tried, spend, measured output ratio, agreement and latency."""
        cals = calibrations(self.rows)
        out = []
        for (feature, target), g in sorted(
            self.rows.group_by("feature", "target_model"), key=lambda kv: str(kv[0])
        ):
            ok = g.filter(pl.col("error").is_null())
            cal = next((c for k, c in cals.items() if k[0] == feature and k[2] == target), None)
            dist = Dist.lognormal(cal.ratio, cal.sigma) if cal else None
            p10, p50, p90 = (dist.ppf(0.1), dist.ppf(0.5), dist.ppf(0.9)) if dist else (None, None, None)
            out.append(
                {
                    "policy": self.policy,
                    "feature": feature,
                    "target": target,
                    "requests": ok.height,
                    "errors": g.height - ok.height,
                    "spent_usd": float(ok["cost_usd"].sum()) + float(g["judge_cost_usd"].sum()),
                    "output_ratio": {"p10": p10, "p50": p50, "p90": p90},
                    "agreement": float(ok["agreement"].mean()) if ok.height else None,  # type: ignore[arg-type]
                    "latency_ms": _latency(ok),
                    "judge": _judged(ok),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "trial_id": self.trial_id,
            "dry_run": self.dry_run,
            "planned": self.planned,
            "not_sent_for_budget": self.not_sent,
            "estimated_max_usd": self.estimated_usd,
            "max_usd": self.max_usd,
            "features": [] if self.dry_run else self.features(),
            "notes": self.notes,
        }

    def text(self) -> str:
        if self.dry_run:
            lines = [
                f"Dry run of {self.policy}: {self.planned:,} request(s) would be sent, at most "
                f"${self.estimated_usd:,.4f} (budget ${self.max_usd:,.2f})"
            ]
            by = self.rows.group_by("feature", "source_model", "target_model").len().sort("feature")
            lines += [f"  {f}: {n:,} request(s) {s} -> {t}" for f, s, t, n in by.iter_rows()]
            return "\n".join(lines + [f"  note: {n}" for n in self.notes])
        lines = [
            f"Trial {self.trial_id} of {self.policy}: {self.planned - self.not_sent:,} request(s) sent, "
            f"{self.rows.height:,} in the trial"
        ]
        if self.not_sent:
            lines.append(
                f"  {self.not_sent:,} not sent: their worst case would have passed ${self.max_usd:,.2f}"
            )
        lines += ["", table(self._cells(), FEATURE_HEADERS)]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    def markdown(self) -> str:
        if self.dry_run:
            return self.text()
        head = f"**Trial {self.trial_id} of {self.policy}**: {self.rows.height:,} request(s) in the trial"
        return "\n\n".join([head, markdown_table(FEATURE_HEADERS, self._cells()), *self.notes])

    def _cells(self) -> list[list[str]]:
        rows = []
        for f in self.features():
            r, lat = f["output_ratio"], f["latency_ms"]
            ratio = f"x{r['p50']:.2f} [x{r['p10']:.2f} .. x{r['p90']:.2f}]" if r["p50"] is not None else "-"
            rows.append(
                [
                    f["feature"],
                    f["target"],
                    f"{f['requests']:,}",
                    f"{f['errors']:,}",
                    money(f["spent_usd"]),
                    ratio,
                    f"{f['agreement']:.2f}" if f["agreement"] is not None else "-",
                    _judge_cell(f["judge"]),
                    f"{lat['p50']:,.0f} ms" if lat["p50"] is not None else "-",
                    f"{lat['change_pct']:+.0f}%" if lat["change_pct"] is not None else "-",
                ]
            )
        return rows

    def json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


def _judge_cell(judged: dict[str, Any] | None) -> str:
    if judged is None:
        return "-"
    if judged["score"] is None:
        return "not scored"
    return f"{judged['score']:.1f}/5 ({judged['requests']:,})"
