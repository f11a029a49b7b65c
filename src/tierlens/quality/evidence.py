"""Quality judgments joined to the requests they judge, on one scale: how good, 0..1.

`judged(quality, requests, cfg)` gives one row per judgment with the feature, model and date it is
about (a request's from the dataset, a period row's from the file), whether it judged one of the
feature's hardest inputs, its `kind` and its `good` value in 0..1:

- a **score** (eval, rubric) divided by its scale, read from its values: 1 when none is above 1,
  else 5, 10 or 100, the first no value exceeds;
- a **good** outcome (thumbs-up, accepted) as is, -1 (a thumbs-down on a -1/+1 scale) as 0;
- a **bad** outcome (escalation, thumbs-down, retry) as 1 minus it.

`QualityStats.of(judged, ...)` sums them per feature, model and metric: judgments (a period row
counts its `n`), the mean good value, and the same over the hardest inputs alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from tierlens.config import SignalsConfig
from tierlens.pricing.models import with_model_ids
from tierlens.schema import prompt_tokens

_WORDS = {
    "score": re.compile(r"score|eval|rubric|grade|judge|accuracy|correct"),
    "bad": re.compile(r"escalat|thumbs?_?down|dislike|complain|retry|fallback|reject|refund|handoff"),
    "good": re.compile(r"thumbs?_?up|thumb|like|accept|helpful|resolved|success"),
}
SCALES = (1.0, 5.0, 10.0, 100.0)
PROMPT = prompt_tokens()


def metric_kind(name: str, configured: Mapping[str, str]) -> str | None:
    """What a metric measures: `score`, `good`, `bad`, or None when neither config nor its name says."""
    if name in configured:
        return configured[name]
    low = name.lower()
    for kind in ("bad", "score", "good"):  # "thumbs_down" before "thumb", "escalation_score" is bad
        if _WORDS[kind].search(low):
            return kind
    return None


def _scale(values: pl.Series) -> float:
    top = float(values.max() or 0.0)  # type: ignore[arg-type]
    return next((s for s in SCALES if top <= s), top)


def _request_rows(quality: pl.DataFrame, requests: pl.LazyFrame) -> pl.DataFrame:
    by_request = quality.filter(pl.col("request_id").is_not_null())
    if by_request.is_empty():
        return pl.DataFrame()
    ids = by_request["request_id"].unique()
    found = (
        requests.filter(pl.col("request_id").is_in(ids.implode()))
        .select(
            "request_id",
            req_feature="feature",
            model_id="model_id",
            date="date",
            prompt=PROMPT,
        )
        .unique("request_id", keep="first")
        .collect()
    )
    return by_request.join(found, on="request_id", how="inner").with_columns(
        feature=pl.coalesce("req_feature", "feature"),
        model_id=pl.coalesce("model_id", "model"),
    )


def _period_rows(quality: pl.DataFrame, aliases: Mapping[str, str] | None) -> pl.DataFrame:
    """A feature's rows, their model named as the dataset names it (`claude-sonnet-4-5-20250929`
    is `claude-sonnet-4-5`, as the pricer normalizes it)."""
    rows = quality.filter(pl.col("request_id").is_null())
    return with_model_ids(rows, aliases).with_columns(
        date=pl.col("period_start"), prompt=pl.lit(None, pl.Int64)
    )


_COLUMNS = (
    "feature",
    "model_id",
    "date",
    "metric",
    "kind",
    "scale",
    "value",
    "good",
    "n",
    "hard",
    "hard_from",
)


def judged(
    quality: pl.DataFrame,
    requests: pl.LazyFrame,
    cfg: SignalsConfig,
    aliases: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Every judgment with its feature, model, date, kind and good value (see the module docstring);
    request judgments of no stored request and metrics of no known kind are left out. `aliases`:
    the price table's, to name a feature row's model as the dataset does."""
    kinds = {m: metric_kind(m, cfg.quality_metrics) for m in quality["metric"].unique().to_list()}
    known = quality.filter(pl.col("metric").replace_strict(kinds, default=None).is_not_null())
    parts = [p for p in (_request_rows(known, requests), _period_rows(known, aliases)) if not p.is_empty()]
    if not parts:
        return pl.DataFrame(schema=_SCHEMA)
    rows = pl.concat(
        [p.select("feature", "model_id", "date", "metric", "value", "n", "prompt") for p in parts]
    )
    rows = rows.filter(pl.col("feature").is_not_null() & pl.col("model_id").is_not_null())
    scales = {m: _scale(g["value"]) for (m,), g in rows.group_by("metric")}
    cut = rows.group_by("feature").agg(_cut=pl.col("prompt").quantile(cfg.quality_hard_quantile, "lower"))
    kind = pl.col("metric").replace_strict(kinds, return_dtype=pl.String)
    clipped = pl.col("value").clip(0.0, 1.0)
    return (
        rows.join(cut, on="feature", how="left")
        .with_columns(kind=kind, scale=pl.col("metric").replace_strict(scales, return_dtype=pl.Float64))
        .with_columns(
            good=pl.when(pl.col("kind") == "score")
            .then((pl.col("value") / pl.col("scale")).clip(0.0, 1.0))
            .when(pl.col("kind") == "good")
            .then(clipped)
            .otherwise(1.0 - clipped),
            hard=pl.col("prompt") >= pl.col("_cut"),
            hard_from=pl.col("_cut").cast(pl.Int64),
        )
        .select(_COLUMNS)
    )


_SCHEMA = {
    "feature": pl.String,
    "model_id": pl.String,
    "date": pl.Date,
    "metric": pl.String,
    "kind": pl.String,
    "scale": pl.Float64,
    "value": pl.Float64,
    "good": pl.Float64,
    "n": pl.Int64,
    "hard": pl.Boolean,
    "hard_from": pl.Int64,
}


@dataclass(frozen=True)
class Score:
    """One feature's judgments on one model and metric."""

    feature: str
    model: str
    metric: str
    kind: str
    scale: float
    n: int
    good: float  # weighted mean, 0..1
    hard_n: int  # judgments of the hardest inputs (request judgments only)
    hard_good: float | None
    hard_from: int | None  # the prompt size (tokens) the hardest inputs start at

    def shown(self, value: float | None = None) -> str:
        """The mean as the metric reads: a score on its scale, an outcome as the share of bad ones."""
        g = self.good if value is None else value
        if self.kind == "score":
            return f"{g * self.scale:.2f}" + (f"/{self.scale:g}" if self.scale != 1 else "")
        return f"{100 * (1 - g):.1f}% {'bad' if self.kind == 'bad' else 'not good'}"


def scores(judgments: pl.DataFrame, since: date | None = None, until: date | None = None) -> list[Score]:
    """Per feature, model and metric over [since, until]: judgments, mean good value, and on the hardest inputs."""
    rows = judgments
    if since is not None:
        rows = rows.filter(pl.col("date") >= since)
    if until is not None:
        rows = rows.filter(pl.col("date") <= until)
    w, hard = pl.col("n"), pl.col("hard").fill_null(False)
    agg = (
        rows.group_by("feature", "model_id", "metric", "kind", "scale")
        .agg(
            n=w.sum(),
            good=(pl.col("good") * w).sum() / w.sum(),
            hard_n=w.filter(hard).sum(),
            hard_good=(pl.col("good") * w).filter(hard).sum() / w.filter(hard).sum(),
            hard_from=pl.col("hard_from").max(),
        )
        .sort("feature", "model_id", "metric")
    )
    return [
        Score(f, m, metric, kind, scale, int(n), float(g), int(hn or 0), float(hg) if hn else None, hf)
        for f, m, metric, kind, scale, n, g, hn, hg, hf in agg.iter_rows()
    ]


def compare(
    found: list[Score], feature: str, source: str, target: str, min_n: int
) -> tuple[Score, Score] | None:
    """The best-judged metric with enough judgments on both models of a feature, source and target."""
    on = {(s.model, s.metric): s for s in found if s.feature == feature and s.n >= min_n}
    pairs = [(on[(source, m)], on[(target, m)]) for (mod, m) in on if mod == source and (target, m) in on]
    return max(pairs, key=lambda p: min(p[0].n, p[1].n)) if pairs else None


@dataclass(frozen=True)
class Bench:
    """The judgments of a window, to compare two models on a feature (the replay's quality grade)."""

    found: tuple[Score, ...]
    min_judgments: int
    tolerance: float

    @classmethod
    def of(cls, judgments: pl.DataFrame, cfg: SignalsConfig, since: date | None, until: date | None) -> Bench:
        return cls(
            tuple(scores(judgments, since, until)), cfg.quality_min_judgments, cfg.quality_match_tolerance
        )

    def pair(self, feature: str, source: str, target: str) -> tuple[Score, Score] | None:
        return compare(list(self.found), feature, source, target, self.min_judgments)
