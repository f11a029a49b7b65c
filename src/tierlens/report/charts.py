"""The report's charts, as Altair charts (and so as Vega-Lite specs).

Altair is imported here, inside the functions, so that `import tierlens` and the text formats
never load it. Each chart takes only the report's small `series` frame.

The charts share one period axis: a band (bars) or point (lines) scale with one step per period
start, so a bar is as wide as its period allows and never clipped at the plot's edge, and every
tick sits on a period start (a Monday for weeks). Money axes read in dollars. Every series gets
its own colour, whatever the count. A cell none of whose requests has a price is unknown, not $0:
it is left out and named in the chart's subtitle.
"""

from __future__ import annotations

import colorsys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import optional_module
from tierlens.report.model import Report

TIER_COLORS = {"haiku": "#59a14f", "sonnet": "#4e79a7", "opus": "#e15759", "(other)": "#bab0ac"}
# Tableau 20, its ten strong colours first and then their light partners, so that the first ten
# series never get two shades of one hue
PALETTE = [
    *[
        "#4e79a7",
        "#f28e2b",
        "#59a14f",
        "#e15759",
        "#b07aa1",
        "#499894",
        "#b6992d",
        "#d37295",
        "#9d7660",
        "#79706e",
    ],
    *[
        "#a0cbe8",
        "#ffbe7d",
        "#8cd17d",
        "#ff9d9a",
        "#d4a6c8",
        "#86bcb6",
        "#f1ce63",
        "#fabfd2",
        "#d7b5a6",
        "#bab0ac",
    ],
]
MONEY_FORMAT = "$,.2~f"  # $0, $12.5, $1,200
WIDTH, HEIGHT = 640, 260
_STEPS = {"day": "1d", "week": "1w", "month": "1mo"}


def distinct_colors(n: int, taken: list[str] | None = None) -> list[str]:
    """`n` different colours, none in `taken`: the palette, then generated hues once it runs out."""
    seen = {c.lower() for c in taken or []}
    out = [c for c in PALETTE if c not in seen][:n]
    seen.update(out)
    i = 0
    while len(out) < n:
        # golden-angle steps round the hue circle, in three lightness bands
        hue, lightness = (i * 0.381966) % 1.0, (0.45, 0.62, 0.32)[(i // 8) % 3]
        color = "#" + "".join(f"{round(255 * v):02x}" for v in colorsys.hls_to_rgb(hue, lightness, 0.65))
        if color not in seen:
            seen.add(color)
            out.append(color)
        i += 1
    return out


def _records(df: pl.DataFrame) -> list[dict[str, Any]]:
    # dollars to 1e-9 (far below a chart's resolution): a parallel sum's last bit never changes a page
    money = [c for c, t in df.schema.items() if t == pl.Float64]
    return df.with_columns(pl.col("period").cast(pl.String), pl.col(money).round(9)).to_dicts()


def _calendar(r: Report) -> bool:
    """Whether the periods are calendar days, ISO weeks or months (not --since/--until windows)."""
    p = r.period
    if r.grain == "week":
        return p.days == 7 and p.start.weekday() == 0
    if r.grain == "month":
        return p.start.day == 1 and (p.end + timedelta(days=1)).day == 1 and p.end.month == p.start.month
    return p.days == 1


def _periods(r: Report) -> list[date]:
    """Every period start on the axis; a calendar period with no data stays as a gap."""
    seen = sorted(set(r.series["period"].to_list()) | {r.period.start})
    if _calendar(r) and r.grain in _STEPS:
        return pl.date_range(seen[0], seen[-1], _STEPS[r.grain], eager=True).to_list()
    return seen  # custom windows are labelled by their own starts


def _x(r: Report, bars: bool) -> Any:
    """The period axis: a band (bars) or a point (lines) per period start, a tick on each."""
    alt = optional_module("altair", "charts")

    periods = _periods(r)
    calendar = _calendar(r)
    years = sorted({p.year for p in periods})
    span = str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
    if calendar and r.grain == "month":
        title, fmt = "Month", "%b %Y"
    else:
        lead = {"day": "Day", "week": "Week starting Monday"}.get(r.grain) if calendar else None
        title, fmt = f"{lead or f'{r.period.days}-day window starting'} ({span})", "%b %d"
    domain = [str(p) for p in periods]
    scale = (
        alt.Scale(domain=domain, paddingInner=0.2, paddingOuter=0.1)
        if bars
        else alt.Scale(domain=domain, padding=0.5)
    )
    return alt.X(
        "period:O",
        title=title,
        scale=scale,
        axis=alt.Axis(labelExpr=f"utcFormat(toDate(datum.value), '{fmt}')", labelAngle=0, labelOverlap=True),
    )


def _priced(series: pl.DataFrame) -> pl.DataFrame:
    """The cells with at least one priced request (a cell with none has no cost to draw)."""
    return series.filter(pl.col("requests") > pl.col("unpriced_requests"))


def _unpriced_note(series: pl.DataFrame, key: str) -> str | None:
    """The subtitle naming what a cost chart leaves out: the `key`s with unpriced requests."""
    by = (
        series.group_by(key)
        .agg(
            pl.col("unpriced_requests").sum(),
            (pl.col("requests") == pl.col("unpriced_requests")).all().alias("all"),
        )
        .filter(pl.col("unpriced_requests") > 0)
        .sort(key)
    )
    rows = list(by.iter_rows(named=True))
    kind = " tier" if key == "tier" else ""

    def named(x: dict[str, Any]) -> str:
        n = x["unpriced_requests"]
        return f"{x[key]}{kind} ({n:,} request{'' if n == 1 else 's'})"

    gone = [named(x) for x in rows if x["all"]]
    part = [named(x) for x in rows if not x["all"]]
    notes = [f"Not drawn, no price: {', '.join(gone)}"] if gone else []
    notes += [f"Unpriced requests left out: {', '.join(part)}"] if part else []
    return "; ".join(notes) or None


def _title(text: str, note: str | None) -> Any:
    alt = optional_module("altair", "charts")

    if note is None:
        return alt.TitleParams(text, anchor="start")
    return alt.TitleParams(text, subtitle=note, anchor="start", subtitleColor="#a33")


def _feature_colors(r: Report) -> dict[str, str]:
    """A colour per feature, the same in every chart; the legend lists the largest spend first."""
    order = (
        r.series.group_by("feature")
        .agg(pl.col("cost_usd").fill_null(0).sum())
        .sort(["cost_usd", "feature"], descending=[True, False])["feature"]
        .to_list()
    )
    return dict(zip(order, distinct_colors(len(order)), strict=True))


def _tier_colors(tiers: list[str]) -> dict[str, str]:
    extra = sorted(t for t in set(tiers) if t not in TIER_COLORS)
    return {
        **TIER_COLORS,
        **dict(zip(extra, distinct_colors(len(extra), list(TIER_COLORS.values())), strict=True)),
    }


def _color(field: str, colors: dict[str, str], present: list[str]) -> Any:
    alt = optional_module("altair", "charts")

    domain = [k for k in colors if k in set(present)]
    return alt.Color(
        f"{field}:N", title=field, scale=alt.Scale(domain=domain, range=[colors[k] for k in domain])
    )


def spend_by_tier(r: Report) -> Any:
    alt = optional_module("altair", "charts")

    data = _priced(r.series).group_by("period", "tier").agg(pl.col("cost_usd").sum()).sort("period", "tier")
    tiers = data["tier"].to_list()
    return (
        alt.Chart(
            alt.Data(values=_records(data)),
            title=_title(f"Spend per {r.grain}, stacked by tier", _unpriced_note(r.series, "tier")),
        )
        .mark_bar()
        .encode(
            x=_x(r, bars=True),
            y=alt.Y("sum(cost_usd):Q", title="Cost ($)", stack="zero", axis=alt.Axis(format=MONEY_FORMAT)),
            color=_color("tier", _tier_colors(tiers), tiers),
            tooltip=["period:N", "tier:N", alt.Tooltip("cost_usd:Q", title="cost", format="$,.2f")],
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


def spend_by_feature(r: Report) -> Any:
    alt = optional_module("altair", "charts")

    data = (
        _priced(r.series)
        .group_by("period", "feature")
        .agg(pl.col("cost_usd").sum())
        .sort("period", "feature")
    )
    return (
        alt.Chart(
            alt.Data(values=_records(data)),
            title=_title(f"Spend per {r.grain} by feature", _unpriced_note(r.series, "feature")),
        )
        .mark_line(point=True)
        .encode(
            x=_x(r, bars=False),
            y=alt.Y("cost_usd:Q", title="Cost ($)", axis=alt.Axis(format=MONEY_FORMAT)),
            color=_color("feature", _feature_colors(r), data["feature"].to_list()),
            tooltip=["period:N", "feature:N", alt.Tooltip("cost_usd:Q", title="cost", format="$,.2f")],
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


def cost_per_request(r: Report) -> Any:
    alt = optional_module("altair", "charts")

    data = (
        _priced(r.series)
        .group_by("period", "feature")
        .agg(pl.col("cost_usd").sum(), pl.col("requests").sum(), pl.col("unpriced_requests").sum())
        .with_columns(
            cost_per_request=pl.col("cost_usd") / (pl.col("requests") - pl.col("unpriced_requests"))
        )
        # a log scale has no place for $0 (or for a division that had nothing to divide)
        .filter(pl.col("cost_per_request").is_finite() & (pl.col("cost_per_request") > 0))
        .sort("period", "feature")
    )
    return (
        alt.Chart(
            alt.Data(values=_records(data)),
            title=_title(
                "Cost per priced request by feature (log scale)", _unpriced_note(r.series, "feature")
            ),
        )
        .mark_line(point=True)
        .encode(
            x=_x(r, bars=False),
            y=alt.Y(
                "cost_per_request:Q",
                title="Cost per request ($, log scale)",
                scale=alt.Scale(type="log"),
                axis=alt.Axis(format="$,~g"),
            ),
            color=_color("feature", _feature_colors(r), data["feature"].to_list()),
            tooltip=[
                "period:N",
                "feature:N",
                alt.Tooltip("cost_per_request:Q", title="per request", format="$,.4f"),
            ],
        )
        .properties(width=WIDTH, height=HEIGHT)
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
