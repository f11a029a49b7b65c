"""Calibration: the output-length ratio between two models, fitted from the logs where possible.

When the same feature ran on two models in the replayed window (an A/B test, or a migration such
as code-review moving from Opus to Sonnet), the logs hold both sides: the ratio of mean output
tokens is measured rather than assumed. It is used as a lognormal whose median is the observed
ratio and whose sigma is the delta-method standard error of the log ratio of two means,
sqrt(cv_a^2 / n_a + cv_b^2 / n_b), widened by a floor (`calibration_floor_sigma`, default 0.02)
because a migration compares two periods, not two arms of one experiment. The report says
"calibrated from N requests" for each ratio fitted this way.

Never use data the prediction is checked against: the backtest calibrates on the window before
the change only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from tierlens.replay.assumptions import Dist
from tierlens.replay.numeric import fsum


@dataclass(frozen=True)
class Calibration:
    """The output-length ratio target/source for one feature, measured on both models."""

    feature: str
    source: str
    target: str
    n_source: int
    n_target: int
    mean_source: float
    mean_target: float
    ratio: float
    sigma: float
    origin: str = "logs"
    """`logs`: two windows of the feature's own traffic; `trial`: the same requests re-sent (paired)."""

    @property
    def requests(self) -> int:
        return self.n_source + self.n_target

    @property
    def basis(self) -> str:
        """How the replay names it: "calibrated from N requests" or "... N trial requests"."""
        return f"calibrated from {self.requests:,} {'trial ' if self.origin == 'trial' else ''}requests"

    def dist(self) -> Dist:
        return Dist.lognormal(self.ratio, self.sigma)

    def to_dict(self) -> dict[str, object]:
        return {
            "feature": self.feature,
            "source": self.source,
            "target": self.target,
            "n_source": self.n_source,
            "n_target": self.n_target,
            "mean_output_source": round(self.mean_source, 4),
            "mean_output_target": round(self.mean_target, 4),
            "ratio": round(self.ratio, 6),
            "sigma": round(self.sigma, 6),
            "origin": self.origin,
        }


def feature_model_stats(frame: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Per (feature, model_id): requests, the mean and variance of output tokens per request, and
    the quality signals the logs hold (share stopped at max_tokens, share with structured output).

    Aggregate rows (`requests` > 1) weigh by their count; their internal spread is unknown, so the
    variance is that of the row means (an under-estimate for bucketed sources, noted in the docs).
    Single requests are summed in integers (exact in any order, streamed in bounded memory); the
    few aggregate rows in a second, small query, in a fixed (sorted) float order.
    """
    lf = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    names = lf.collect_schema().names()
    count = pl.col("requests").fill_null(1).cast(pl.Int64)
    w = count.cast(pl.Float64)
    truncated = pl.col("_mt") if "_mt" in names else (pl.col("stop_reason") == "max_tokens").fill_null(False)
    structured = pl.col("_st") if "_st" in names else pl.col("structured_output").fill_null(False)
    out = pl.col("output_tokens").fill_null(0).cast(pl.Int64)
    per_req = out.cast(pl.Float64) / w
    known = lf.filter(pl.col("feature").is_not_null() & pl.col("model_id").is_not_null())
    common = {
        "n": count.sum(),
        "s1": out.sum().cast(pl.Float64),
        "max_tokens": count.filter(truncated).sum(),
        "structured": count.filter(structured).sum(),
    }
    keys = ["feature", "model_id"]
    singles = (
        known.filter(count == 1)
        .group_by(keys)
        .agg(**common, s2=(out * out).sum().cast(pl.Float64))
        .collect(engine="streaming")
    )
    buckets = known.filter(count != 1).group_by(keys).agg(**common, s2=fsum(per_req * per_req * w)).collect()
    both = (
        pl.concat([singles, buckets], how="vertical_relaxed")
        .group_by(keys)
        .agg(
            pl.col("n").sum(),
            pl.col("s1").sum(),
            pl.col("s2").sort().sum(),  # two values at most, in a fixed order
            pl.col("max_tokens").sum(),
            pl.col("structured").sum(),
        )
    )
    return (
        both.with_columns(mean=pl.col("s1") / pl.col("n"))
        .with_columns(var=(pl.col("s2") / pl.col("n") - pl.col("mean") ** 2).clip(lower_bound=0.0))
        .select(
            "feature",
            "model_id",
            pl.col("n").cast(pl.Int64),
            "mean",
            "var",
            (pl.col("max_tokens") / pl.col("n")).alias("max_tokens_share"),
            (pl.col("structured") / pl.col("n")).alias("structured_share"),
        )
        .with_columns(pl.col(pl.Categorical).cast(pl.String))
        .sort("feature", "model_id")
    )


def fit_output_ratios(
    stats: pl.DataFrame, min_requests: int = 30, floor_sigma: float = 0.02
) -> dict[tuple[str, str, str], Calibration]:
    """Every (feature, source, target) pair with at least `min_requests` on each model."""
    out: dict[tuple[str, str, str], Calibration] = {}
    by_feature: dict[str, list[tuple[str, int, float, float]]] = {}
    for feature, model, n, mean, var in stats.select("feature", "model_id", "n", "mean", "var").iter_rows():
        if n >= min_requests and mean > 0:
            by_feature.setdefault(str(feature), []).append((str(model), int(n), float(mean), float(var)))
    for feature, models in by_feature.items():
        for src, na, ma, va in models:
            for dst, nb, mb, vb in models:
                if src == dst:
                    continue
                se = math.sqrt(va / (na * ma * ma) + vb / (nb * mb * mb))
                out[(feature, src, dst)] = Calibration(
                    feature=feature,
                    source=src,
                    target=dst,
                    n_source=na,
                    n_target=nb,
                    mean_source=ma,
                    mean_target=mb,
                    ratio=mb / ma,
                    sigma=math.hypot(se, floor_sigma),
                )
    return out
