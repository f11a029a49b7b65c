"""The report's charts, as Altair charts (and so as Vega-Lite specs).

Altair is imported here, inside the functions, so that `import tierlens` and the text formats
never load it. Each chart takes only the report's small `series` frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import optional_module
from tierlens.report.model import Report

TIER_COLORS = {"haiku": "#59a14f", "sonnet": "#4e79a7", "opus": "#e15759", "(other)": "#bab0ac"}


def _records(df: pl.DataFrame) -> list[dict[str, Any]]:
    # dollars to 1e-9 (far below a chart's resolution): a parallel sum's last bit never changes a page
    money = [c for c, t in df.schema.items() if t == pl.Float64]
    return df.with_columns(pl.col("period").cast(pl.String), pl.col(money).round(9)).to_dicts()


def spend_by_tier(r: Report) -> Any:
    alt = optional_module("altair", "charts")

    data = r.series.group_by("period", "tier").agg(pl.col("cost_usd").sum()).sort("period", "tier")
    tiers = [t for t in TIER_COLORS if t in set(data["tier"].to_list())]
    return (
        alt.Chart(alt.Data(values=_records(data)), title=f"Spend per {r.grain}, stacked by tier")
        .mark_bar()
        .encode(
            x=alt.X("period:T", title=r.grain, timeUnit="utcyearmonthdate"),
            y=alt.Y("sum(cost_usd):Q", title="USD", stack="zero"),
            color=alt.Color("tier:N", scale=alt.Scale(domain=tiers, range=[TIER_COLORS[t] for t in tiers])),
            tooltip=["period:N", "tier:N", alt.Tooltip("cost_usd:Q", format="$,.2f")],
        )
        .properties(width=640, height=260)
    )


def spend_by_feature(r: Report) -> Any:
    alt = optional_module("altair", "charts")

    data = r.series.group_by("period", "feature").agg(pl.col("cost_usd").sum()).sort("period", "feature")
    return (
        alt.Chart(alt.Data(values=_records(data)), title=f"Spend per {r.grain} by feature")
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=r.grain, timeUnit="utcyearmonthdate"),
            y=alt.Y("cost_usd:Q", title="USD"),
            color=alt.Color("feature:N"),
            tooltip=["period:N", "feature:N", alt.Tooltip("cost_usd:Q", format="$,.2f")],
        )
        .properties(width=640, height=260)
    )


def cost_per_request(r: Report) -> Any:
    alt = optional_module("altair", "charts")

    data = (
        r.series.group_by("period", "feature")
        .agg(pl.col("cost_usd").sum(), pl.col("requests").sum(), pl.col("unpriced_requests").sum())
        .with_columns(
            cost_per_request=pl.col("cost_usd") / (pl.col("requests") - pl.col("unpriced_requests"))
        )
        .filter(pl.col("cost_per_request").is_not_null() & pl.col("cost_per_request").is_finite())
        .sort("period", "feature")
    )
    return (
        alt.Chart(alt.Data(values=_records(data)), title="Cost per request by feature")
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=r.grain, timeUnit="utcyearmonthdate"),
            y=alt.Y("cost_per_request:Q", title="USD per request", scale=alt.Scale(type="log")),
            color=alt.Color("feature:N"),
            tooltip=["period:N", "feature:N", alt.Tooltip("cost_per_request:Q", format="$,.4f")],
        )
        .properties(width=640, height=260)
    )


CHARTS = {
    "spend_by_tier": spend_by_tier,
    "spend_by_feature": spend_by_feature,
    "cost_per_request": cost_per_request,
}


def specs(r: Report) -> dict[str, dict[str, Any]]:
    """Vega-Lite specs of every chart, by name."""
    return {name: make(r).to_dict() for name, make in CHARTS.items()}


def save_images(r: Report, directory: Path, fmt: str = "svg") -> list[Path]:
    """Write each chart as SVG or PNG (rendered offline by vl-convert)."""
    vlc = optional_module("vl_convert", "charts")

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, spec in specs(r).items():
        path = directory / f"{name}.{fmt}"
        if fmt == "svg":
            path.write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
        else:
            path.write_bytes(vlc.vegalite_to_png(spec, scale=2))
        written.append(path)
    return written
