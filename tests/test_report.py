"""The report: periods, numbers re-derived independently, golden output contracts, a real browser."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests import factories as f
from tests.browser import chart_containers, points, rendered
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
        (date(2026, 11, 16), "week", Window(date(2026, 11, 9), date(2026, 11, 15))),  # Monday: last week is complete
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
    prev = tierlens.open(sample).filter(pl.col("date").is_between(r.previous[0].start, r.previous[0].end)).collect()
    total = week["cost_usd"].sum()
    assert r.totals["cost_usd"] == pytest.approx(total, rel=1e-9)
    assert r.totals["requests"] == week.height
    assert r.totals["previous_cost_usd"] == pytest.approx(prev["cost_usd"].sum(), rel=1e-9)
    # feature rows (and the matrix, and the models) add up to the total
    assert r.breakdown["cost_usd"].sum() == pytest.approx(total, rel=1e-9)
    assert r.matrix["total"].sum() == pytest.approx(total, rel=1e-9)
    assert r.by_model["cost_usd"].sum() == pytest.approx(total, rel=1e-9)
    independent = dict(week.filter(pl.col("priced")).group_by("model_id").agg(pl.col("cost_usd").sum()).iter_rows())
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
    assert units["support-chat"]["cost_per_request"] == pytest.approx(chat["cost_usd"].sum() / chat.height, rel=1e-9)
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
            lines.append(f.logged(ts=f"2026-09-{day:02d}T10:00:00Z", feature="chat", model="claude-sonnet-4-5",
                                  input_tokens=1000 + 100 * i, output_tokens=200, cache_read=2000 if week < 14 else 0,
                                  id=f"msg_chat_{week}_{i}"))
            lines.append(f.logged(ts=f"2026-09-{day:02d}T02:00:00Z", feature="tagger", model="claude-opus-4-6",
                                  input_tokens=400, output_tokens=20, tool=True, id=f"msg_tag_{week}_{i}"))
    lines.append(f.logged(ts="2026-09-22T09:00:00Z", feature="lab", model="claude-nimbus-preview", id="msg_lab"))
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
        "schema", "generated_at", "data_dir", "engine", "grain", "by", "as_of", "period", "previous_periods",
        "totals", "coverage", "savings", "findings", "feature_tier_matrix", "by_model", "breakdown",
        "top_movers", "unit_costs", "potential_savings", "series",
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
    written = charts.save_images(small, tmp_path / "svg", "svg") + charts.save_images(small, tmp_path / "png", "png")
    assert len(written) == 6
    assert all(p.stat().st_size > 1000 for p in written)
    assert written[3].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(small: Any) -> None:
    from tierlens.report.html import to_html

    page = to_html(small)
    assert "<script src" not in page and "cdn." not in page and "//unpkg" not in page
    assert page.count('class="chart"') == len(charts.CHARTS)
    assert "window.vegaEmbed" in page


# --- a real browser ------------------------------------------------------------------------------------


def test_html_report_renders_its_charts_in_headless_chromium(sample: Path, tmp_path: Path) -> None:
    from tierlens.report.html import to_html

    containers = chart_containers(to_html(build_report(sample)), tmp_path)
    assert set(containers) == set(charts.CHARTS)
    for name, tag in containers.items():
        assert rendered(tag), (name, tag[:200])
        assert points(tag) > 0, name
