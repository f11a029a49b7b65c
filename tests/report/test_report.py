"""The report: periods, numbers re-derived independently, golden output contracts, a real browser."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests import factories as f
from tests.browser import Chart, chart_containers, points, rendered
from tests.conftest import REPO
from tierlens.config import load_settings
from tierlens.errors import ConfigError
from tierlens.ingest import ingest
from tierlens.report import Window, build_report, charts, render, windows

GOLDEN = REPO / "tests" / "golden" / "report"
UPDATE = os.environ.get("TIERLENS_UPDATE_GOLDEN") == "1"


# --- periods -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "grain", "expected"),
    [
        (
            date(2026, 11, 16),
            "week",
            Window(date(2026, 11, 9), date(2026, 11, 15)),
        ),  # Monday: last week is complete
        (date(2026, 11, 15), "week", Window(date(2026, 11, 2), date(2026, 11, 8))),  # Sunday not over yet
        (date(2026, 11, 11), "week", Window(date(2026, 11, 2), date(2026, 11, 8))),
        (date(2026, 11, 11), "day", Window(date(2026, 11, 10), date(2026, 11, 10))),
        (date(2026, 11, 1), "month", Window(date(2026, 10, 1), date(2026, 10, 31))),
        (date(2026, 3, 15), "month", Window(date(2026, 2, 1), date(2026, 2, 28))),
    ],
)
def test_last_complete_period(as_of: date, grain: str, expected: Window) -> None:
    current, previous = windows(grain, as_of)
    assert current == expected
    assert len(previous) == 4 and previous[0].end < current.start
    assert all(a.start > b.end for a, b in itertools.pairwise(previous))


def test_custom_window_compares_with_equal_windows_before() -> None:
    current, previous = windows("week", date(2026, 12, 1), date(2026, 10, 1), date(2026, 10, 10))
    assert current.days == 10 and previous[0] == Window(date(2026, 9, 21), date(2026, 9, 30))
    with pytest.raises(ConfigError):
        windows("week", date(2026, 12, 1), date(2026, 10, 1), None)
    with pytest.raises(ConfigError):
        windows("fortnight", date(2026, 12, 1))


# --- numbers on the sample data, re-derived independently -----------------------------------------


@pytest.fixture
def sample(sample_data: Path) -> Path:
    return sample_data


def test_report_defaults_to_the_last_complete_week_of_the_data(sample: Path) -> None:
    r = build_report(sample)
    assert r.period == Window(date(2026, 11, 9), date(2026, 11, 15))
    assert r.as_of == date(2026, 11, 16)


def test_every_number_is_re_derivable(sample: Path) -> None:
    r = build_report(sample, by=["feature", "model"])
    week = tierlens.open(sample).filter(pl.col("date").is_between(r.period.start, r.period.end)).collect()
    prev = (
        tierlens.open(sample)
        .filter(pl.col("date").is_between(r.previous[0].start, r.previous[0].end))
        .collect()
    )
    total = week["cost_usd"].sum()
    assert r.totals["cost_usd"] == pytest.approx(total, rel=1e-9)
    assert r.totals["requests"] == week.height
    assert r.totals["previous_cost_usd"] == pytest.approx(prev["cost_usd"].sum(), rel=1e-9)
    # feature rows (and the matrix, and the models) add up to the total
    assert r.breakdown["cost_usd"].sum() == pytest.approx(total, rel=1e-9)
    assert r.matrix["total"].sum() == pytest.approx(total, rel=1e-9)
    assert r.by_model["cost_usd"].sum() == pytest.approx(total, rel=1e-9)
    independent = dict(
        week.filter(pl.col("priced")).group_by("model_id").agg(pl.col("cost_usd").sum()).iter_rows()
    )
    for model_id, cost in r.by_model.select("model_id", "cost_usd").iter_rows():
        # a model with no priced row is unpriced: None, never $0
        assert cost == (pytest.approx(independent[model_id], rel=1e-9) if model_id in independent else None)
    # batch saved: batch halves token costs, and these batch rows have no web search
    batch = week.filter(pl.col("service_tier") == "batch")
    assert batch["cost_web_search_usd"].sum() == 0
    assert r.savings["batch_saved_usd"] == pytest.approx(batch["cost_usd"].sum(), rel=1e-9)
    # unit costs
    units = {row["feature"]: row for row in r.unit_costs.iter_rows(named=True)}
    chat = week.filter(pl.col("feature") == "support-chat")
    assert units["support-chat"]["cost_per_request"] == pytest.approx(
        chat["cost_usd"].sum() / chat.height, rel=1e-9
    )
    assert r.coverage["unpriced_requests"] == week.filter(~pl.col("priced")).height


def test_report_findings_are_the_top_flags(sample_data: Path) -> None:
    from tierlens.signals import find_flags

    r = build_report(sample_data)
    flags = find_flags(sample_data, as_of=r.period.end + timedelta(days=1))
    kinds = [(x["kind"], x["subject"]) for x in r.findings]
    assert kinds[: len(flags.findings)] == [(x.kind, x.feature) for x in flags.findings]
    assert ("unpriced", "claude-nimbus-preview") in kinds
    potential = {row["kind"]: row for row in r.potential.iter_rows(named=True)}
    assert set(potential) == {"lost_caching", "batch_candidate", "top_tier_structured"}
    batch = next(x for x in flags.findings if x.kind == "batch_candidate")
    assert potential["batch_candidate"]["feature"] == "catalog-enrichment"
    assert potential["batch_candidate"]["monthly_usd"] == pytest.approx(batch.monthly_usd, rel=1e-12)


def test_engines_give_the_same_report(sample: Path) -> None:
    a = render.to_dict(build_report(sample))
    b = render.to_dict(build_report(sample, engine="duckdb"))
    for key in ("totals", "coverage", "savings"):
        for k, v in a[key].items():
            assert b[key][k] == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v), (key, k)


# --- golden output contracts on a small fixed dataset ---------------------------------------------


@pytest.fixture
def small(tmp_path: Path, write: Any) -> Any:
    lines = []
    for week, n in ((0, 3), (7, 4), (14, 6)):
        for i in range(n):
            day = 7 + week + i % 5
            lines.append(
                f.logged(
                    ts=f"2026-09-{day:02d}T10:00:00Z",
                    feature="chat",
                    model="claude-sonnet-4-5",
                    input_tokens=1000 + 100 * i,
                    output_tokens=200,
                    cache_read=2000 if week < 14 else 0,
                    id=f"msg_chat_{week}_{i}",
                )
            )
            lines.append(
                f.logged(
                    ts=f"2026-09-{day:02d}T02:00:00Z",
                    feature="tagger",
                    model="claude-opus-4-6",
                    input_tokens=400,
                    output_tokens=20,
                    tool=True,
                    id=f"msg_tag_{week}_{i}",
                )
            )
    lines.append(
        f.logged(ts="2026-09-22T09:00:00Z", feature="lab", model="claude-nimbus-preview", id="msg_lab")
    )
    data = tmp_path / "data"
    ingest([write("small.jsonl", lines)], load_settings(data_dir=data))
    r = build_report(data, as_of=date(2026, 9, 28))
    r.generated_at = datetime(2026, 9, 28, 6, 0, tzinfo=UTC)
    r.data_dir = "tierlens-data"
    return r


@pytest.mark.parametrize(
    ("fmt", "make"),
    [("json", render.to_json), ("csv", render.to_csv), ("md", render.to_markdown), ("txt", render.to_text)],
)
def test_golden_formats(fmt: str, make: Any, small: Any) -> None:
    out = make(small)
    path = GOLDEN / f"small.{fmt}"
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out)
    assert out == path.read_text(), f"{path} differs (TIERLENS_UPDATE_GOLDEN=1 to accept)"


def test_json_schema_is_stable(small: Any) -> None:
    doc = json.loads(render.to_json(small))
    assert doc["schema"] == "tierlens.report/1"
    assert list(doc) == [
        "schema",
        "generated_at",
        "data_dir",
        "engine",
        "grain",
        "by",
        "as_of",
        "period",
        "previous_periods",
        "totals",
        "coverage",
        "savings",
        "findings",
        "feature_tier_matrix",
        "by_model",
        "breakdown",
        "top_movers",
        "unit_costs",
        "potential_savings",
        "series",
    ]


@pytest.mark.parametrize("name", sorted(charts.CHARTS))
def test_golden_chart_specs(name: str, small: Any) -> None:
    spec = charts.CHARTS[name](small).to_dict()
    spec.pop("$schema", None)
    spec.pop("config", None)
    out = json.dumps(spec, indent=1, sort_keys=True) + "\n"
    path = GOLDEN / f"chart_{name}.vl.json"
    if UPDATE or not path.exists():
        path.write_text(out)
    assert out == path.read_text(), f"{path} differs (TIERLENS_UPDATE_GOLDEN=1 to accept)"


def test_charts_as_svg_and_png(small: Any, tmp_path: Path) -> None:
    written = charts.save_images(small, tmp_path / "svg", "svg") + charts.save_images(
        small, tmp_path / "png", "png"
    )
    assert len(written) == 6
    assert all(p.stat().st_size > 1000 for p in written)
    assert written[3].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(small: Any) -> None:
    from tierlens.report.html import to_html

    page = to_html(small)
    assert "<script src" not in page and "cdn." not in page and "//unpkg" not in page
    assert page.count('class="chart"') == len(charts.CHARTS)
    assert "window.vegaEmbed" in page


def test_html_number_columns_are_right_aligned_placeholders_included() -> None:
    from tierlens.report.html import _table

    page = _table(
        ["feature", "previous", "now", "%", "note"],
        [
            ["chat", "$1.00", "-", "+5.0%", "ok"],
            ["lab", "-", "unpriced", "", "-"],
            ["tag", "$0.5000", "$2.00", "-", "x"],
        ],
    )
    cells = re.findall(r"<t[hd]( class=\"num\")?>([^<]*)</t[hd]>", page)
    columns = [[bool(c) for c, _ in cells[i::5]] for i in range(5)]
    assert columns == [[False] * 4, [True] * 4, [True] * 4, [True] * 4, [False] * 4]  # header row included


def test_html_headings_render_markdown_code_spans(small: Any) -> None:
    from tierlens.report.html import to_html

    body = to_html(small).split("</script>")[-2:]  # past the inlined Vega bundle
    headings = re.findall(r"<h[12]>(.*?)</h[12]>", "".join(body))
    assert any("<code>tierlens flags</code>" in h for h in headings)
    assert not any("`" in h for h in headings), headings


def test_chart_colours_stay_distinct_past_the_palette(small: Any) -> None:
    priced = small.series.filter(pl.col("unpriced_requests") == 0)
    many = pl.concat([priced.with_columns(feature=pl.lit(f"feature-{i:02d}")) for i in range(25)])
    spec = charts.spend_by_feature(dataclasses.replace(small, series=many)).to_dict()
    colors = spec["encoding"]["color"]["scale"]["range"]
    assert len(spec["encoding"]["color"]["scale"]["domain"]) == len(colors) == 25
    assert len({c.lower() for c in colors}) == 25
    assert len(set(charts.distinct_colors(60))) == 60


def test_unpriced_cells_are_left_out_of_cost_charts_and_named(small: Any) -> None:
    for name, key, unpriced in (("spend_by_tier", "tier", "(other)"), ("spend_by_feature", "feature", "lab")):
        spec = charts.CHARTS[name](small).to_dict()
        assert unpriced not in {row[key] for row in spec["data"]["values"]}, name  # never drawn at $0
        assert unpriced not in spec["encoding"]["color"]["scale"]["domain"]
        assert unpriced in spec["title"]["subtitle"] and "no price" in spec["title"]["subtitle"]


# --- a real browser ------------------------------------------------------------------------------------


Page = tuple[Any, dict[str, Chart]]  # the report, and chart name -> its chart as Chromium drew it


@pytest.fixture(scope="module")
def sample_page(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Page:
    """The sample data's weekly report, drawn once by headless Chromium: (report, chart name -> Chart)."""
    from tierlens.report.html import to_html

    tmp = tmp_path_factory.mktemp("browser")
    # as hermetic as the autouse fixture, for a module's worth of tests
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("TIERLENS_")]:
            mp.delenv(key)
        mp.chdir(tmp)
        r = build_report(sample_data)
        containers = chart_containers(to_html(r), tmp)
    assert set(containers) == set(charts.CHARTS)
    for name, tag in containers.items():
        assert rendered(tag), (name, tag[:200])
        assert points(tag) > 0, name
    return r, {name: Chart(tag) for name, tag in containers.items()}


def test_html_report_renders_its_charts_in_headless_chromium(sample_page: Page) -> None:
    r, drawn = sample_page
    assert r.grain == "week" and set(drawn) == set(charts.CHARTS)


def test_browser_weekly_bars_are_wide_and_inside_the_plot(sample_page: Page) -> None:
    r, drawn = sample_page
    chart = drawn["spend_by_tier"]
    width, bars = chart.plot_width, chart.bars()
    step = width / len(chart.axis_labels("X"))
    columns = sorted({(round(b.x, 3), round(b.width, 3)) for b in bars})
    assert len(columns) == r.series["period"].n_unique() == 13
    for x, w in columns:
        assert 0.5 * step <= w <= step, (w, step)  # not slivers, not overlapping
        assert x >= 0 and x + w <= width, (x, w, width)  # not clipped at either edge
    assert all(a[0] + a[1] < b[0] for a, b in itertools.pairwise(columns))


def test_browser_weekly_ticks_are_the_mondays_weeks_start_on(sample_page: Page) -> None:
    r, drawn = sample_page
    weeks = set(r.series["period"].to_list())
    for name, chart in drawn.items():
        year = re.search(r"\((\d{4})\)", chart.axis_title("X"))
        assert year, chart.axis_title("X")
        ticks = [datetime.strptime(f"{t} {year.group(1)}", "%b %d %Y").date() for t in chart.axis_labels("X")]
        assert ticks and all(t.weekday() == 0 for t in ticks), (name, ticks)
        assert set(ticks) == weeks, name  # a tick on every week start, none between


def test_browser_every_series_has_its_own_colour(sample_page: Page) -> None:
    r, drawn = sample_page
    priced = set(r.series.filter(pl.col("requests") > pl.col("unpriced_requests"))["feature"].to_list())
    assert len(priced) >= 10  # the case where Vega's default scheme ran out
    for name in ("spend_by_feature", "cost_per_request"):
        legend, strokes = drawn[name].legend(), drawn[name].line_strokes()
        assert set(legend) == priced, name
        assert len(set(legend.values())) == len(legend), (name, legend)
        assert len(strokes) == len(set(strokes)) == len(legend), (name, strokes)
        assert set(strokes) == set(legend.values()), name
    tiers = drawn["spend_by_tier"].legend()
    assert len(set(tiers.values())) == len(tiers) >= 3
    assert {b.fill for b in drawn["spend_by_tier"].bars()} == set(tiers.values())


def test_browser_money_axes_are_dollars(sample_page: Page) -> None:
    _, drawn = sample_page
    for name, chart in drawn.items():
        labels = [t for t in chart.axis_labels("Y") if t]  # a log axis leaves its minor ticks unlabelled
        assert len(labels) >= 3 and all(t.startswith("$") for t in labels), (name, labels)
        assert "($" in chart.axis_title("Y"), name
    log = drawn["cost_per_request"]
    assert "log scale" in log.axis_title("Y") and "log scale" in log.title()


def test_browser_unpriced_feature_is_named_not_drawn_at_zero(sample_page: Page) -> None:
    r, drawn = sample_page
    none_priced = (pl.col("requests") == pl.col("unpriced_requests")).all()
    unpriced = r.series.group_by("feature").agg(none=none_priced)
    assert unpriced.filter("none")["feature"].to_list() == ["labs-eval"]
    for name in ("spend_by_feature", "cost_per_request"):
        assert "labs-eval" not in drawn[name].legend(), name
        assert "labs-eval" in drawn[name].subtitle() and "no price" in drawn[name].subtitle(), name
    assert "(other)" not in drawn["spend_by_tier"].legend()
    assert "(other)" in drawn["spend_by_tier"].subtitle()


@pytest.mark.parametrize("dimension", ["user", "project", "session", "model"])
def test_report_by_a_dimension_lists_every_group_of_the_period(sample_data: Path, dimension: str) -> None:
    rep = build_report(sample_data, by=[dimension])
    column = {"user": "user_id", "project": "project", "session": "session_id", "model": "model_id"}[
        dimension
    ]
    before = rep.previous[0]
    week = (
        tierlens.open(sample_data)
        .filter(pl.col("date").is_between(rep.period.start, rep.period.end))
        .group_by(pl.col(column).fill_null("(none)"))
        .agg(pl.col("requests").sum(), pl.col("cost_usd").sum())
        .collect()
    )
    earlier = (
        tierlens.open(sample_data)
        .filter(pl.col("date").is_between(before.start, before.end))
        .select(pl.col(column).fill_null("(none)").unique())
        .collect()
    )
    text = render.to_text(rep)
    section = text.split(f"Spend by {dimension}, ")[1].split("\n\n")[0]
    lines = section.splitlines()[3:]  # title, header, rule
    # every group of the period or the one before (gone now: -100%), not only the top movers
    assert len(lines) == len(set(week[column]) | set(earlier[column]))
    shown = {line.split()[0]: line for line in lines}
    for group, requests, _cost in week.iter_rows():
        assert f" {requests:,} " in shown[group] + " "
    markdown = render.to_markdown(rep)
    assert f"Spend by {dimension}, " in markdown


def _daily_rows(write: Any, tmp_path: Path, first: date, last: date) -> Path:
    """One $-identical request a day from `first` to `last`."""
    days = (last - first).days + 1
    lines = [f.logged(ts=f"{first + timedelta(days=i)}T10:00:00Z", feature="chat") for i in range(days)]
    data = tmp_path / "data"
    ingest([write("days.jsonl", lines)], load_settings(data_dir=data))
    return data


def test_a_partial_previous_month_is_compared_per_day_and_said(write: Any, tmp_path: Path) -> None:
    data = _daily_rows(write, tmp_path, date(2026, 9, 21), date(2026, 10, 31))
    rep = build_report(data, grain="month", as_of=date(2026, 11, 1))
    assert rep.label == "2026-10" and rep.totals["compared_per_day"]
    # the same spend every day: per day of data, October is September's equal, not 3x it
    assert rep.totals["change_pct"] == pytest.approx(0.0, abs=1e-9)
    text = render.to_text(rep)
    assert "the data starts on 2026-09-21: the previous month has 10 of its 30 days" in text
    assert "on the previous month, per day of data" in text


def test_a_custom_range_is_labelled_as_a_range(write: Any, tmp_path: Path) -> None:
    data = _daily_rows(write, tmp_path, date(2026, 9, 1), date(2026, 9, 30))
    rep = build_report(data, since=date(2026, 9, 14), until=date(2026, 9, 20))  # a Monday..Sunday
    assert rep.label == "2026-09-14 .. 2026-09-20" and "W38" not in render.to_text(rep)
    assert "on the previous 7 days" in render.to_text(rep)


def test_a_period_after_the_newest_data_is_said_to_be_empty(write: Any, tmp_path: Path) -> None:
    data = _daily_rows(write, tmp_path, date(2026, 9, 1), date(2026, 9, 10))
    rep = build_report(data, as_of=date(2026, 10, 5))
    assert any("the newest data is from 2026-09-10, before this period" in n for n in rep.notes)


def test_a_custom_range_keeps_an_unpriced_feature_unpriced(sample_data: Path) -> None:
    rep = build_report(sample_data, since=date(2026, 11, 2), until=date(2026, 11, 12))
    row = rep.matrix.filter(pl.col("feature") == "labs-eval").row(0, named=True)
    assert row["total"] is None  # never $0.00
    assert "unpriced" in next(
        line for line in render.to_text(rep).splitlines() if line.startswith("labs-eval")
    )
