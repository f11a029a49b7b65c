"""`tierlens replay`: the backtest on sample_logs/, the command line, and golden output contracts."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

import tierlens
from tests import factories as f
from tests.browser import chart_containers, rendered
from tests.conftest import REPO
from tierlens.cli import main
from tierlens.config import load_settings
from tierlens.ingest import ingest
from tierlens.pricing import PriceTable
from tierlens.replay import BacktestError, backtest, load_policies, parse_policy, replay
from tierlens.replay import render as rr
from tierlens.replay import render_backtest as rb

TABLE = PriceTable.load()
GOLDEN = REPO / "tests" / "golden" / "replay"
UPDATE = os.environ.get("TIERLENS_UPDATE_GOLDEN") == "1"
CHANGE = date(2026, 10, 12)


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- the backtest on sample_logs/ (code-review moved from Opus 4.6 to Sonnet 4.6 on 2026-10-12) ----


@pytest.fixture(scope="module")
def shipped_backtest(sample_data: Path) -> Any:
    return backtest(
        tierlens.open(sample_data), CHANGE, load_policies([REPO / "policies"], TABLE), TABLE, draws=400
    )


def test_backtest_finds_the_routing_change(shipped_backtest: Any) -> None:
    (change,) = shipped_backtest.changes
    assert (change.feature, change.before_model, change.after_model) == (
        "code-review",
        "claude-opus-4-6",
        "claude-sonnet-4-6",
    )
    assert change.shift == 1.0
    assert shipped_backtest.before == (date(2026, 9, 14), date(2026, 10, 11))
    assert shipped_backtest.after == (date(2026, 10, 12), date(2026, 11, 8))


def test_shipped_policies_contain_the_observed_outcome(shipped_backtest: Any, sample_data: Path) -> None:
    rows = {r["policy"]: r for r in shipped_backtest.rows.iter_rows(named=True)}
    opus = rows["opus-to-sonnet"]
    assert opus["comparable"] and opus["label"] == "modelled"
    assert opus["predicted_p10"] <= opus["observed_after_usd"] <= opus["predicted_p90"]
    assert opus["inside"]
    assert (
        opus["predicted_savings_p10_pct"] <= opus["observed_savings_pct"] <= opus["predicted_savings_p90_pct"]
    )
    # the observed cost is what the pricing engine says the after-window requests cost
    after = (
        tierlens.open(sample_data)
        .filter(
            (pl.col("feature") == "code-review")
            & pl.col("date").is_between(date(2026, 10, 12), date(2026, 11, 8))
        )
        .collect()
    )
    assert opus["observed_after_usd"] == pytest.approx(after["cost_usd"].sum(), rel=1e-9)
    assert opus["n_after"] == after.height
    # a policy that does not route code-review to Sonnet is not compared, and says why
    for name in (
        "batch-for-async-features",
        "cascade-haiku-sonnet",
        "short-structured-to-haiku",
        "sonnet-to-sonnet-5",
    ):
        assert not rows[name]["comparable"] and "claude-sonnet-4-6" in rows[name]["reason"], name


def test_backtest_calibrates_on_the_before_window_only(shipped_backtest: Any) -> None:
    p = next(p for p in shipped_backtest.replay.policies if p.policy.name == "opus-to-sonnet")
    assert p.calibrations == []  # before 2026-10-12, code-review ran on Opus only
    assert {a["source"] for a in p.params} == {"default prior"}


def test_observed_routing_backtest_without_a_policy(sample_data: Path) -> None:
    b = backtest(tierlens.open(sample_data), CHANGE, None, TABLE, days=56, draws=300)
    (row,) = b.rows.iter_rows(named=True)
    assert row["policy"] == "observed-routing" and row["inside"]
    assert row["n_before"] == 1885 and row["n_after"] == 1139


def test_no_change_is_an_input_error(sample_data: Path) -> None:
    with pytest.raises(BacktestError, match="no routing change at 2026-09-01"):
        backtest(tierlens.open(sample_data), date(2026, 9, 1), None, TABLE)
    res = cli("replay", "--backtest", "2026-09-01", "--data", str(sample_data))
    assert res.exit_code == 3 and "no routing change" in res.output and "Traceback" not in res.output


# --- the command line ------------------------------------------------------------------------------


def test_replay_command_on_the_sample(sample_data: Path, tmp_path: Path) -> None:
    res = cli("replay", "--policy", str(REPO / "policies"), "--data", str(sample_data), "--draws", "100")
    assert res.exit_code == 0, res.output
    for name in ("opus-to-sonnet", "cascade-haiku-sonnet", "sonnet-to-sonnet-5", "batch-for-async-features"):
        assert name in res.output
    assert "calibrated from 3,024 requests" in res.output and "Cascade break-even" in res.output
    doc = json.loads(
        cli(
            "replay",
            "--policy",
            str(REPO / "policies" / "opus-to-sonnet.toml"),
            "--data",
            str(sample_data),
            "--format",
            "json",
            "--draws",
            "100",
        ).output
    )
    assert doc["schema"] == "tierlens.replay/1"
    assert list(doc) == [
        "schema",
        "generated_at",
        "data_dir",
        "window",
        "draws",
        "seed",
        "price_version",
        "labels",
        "baseline",
        "policies",
    ]
    assert doc["policies"][0]["totals"]["label"] == "modelled"
    out = tmp_path / "replay.html"
    res = cli(
        "replay",
        "--policy",
        str(REPO / "policies"),
        "--data",
        str(sample_data),
        "--draws",
        "50",
        "-o",
        str(out),
    )
    assert res.exit_code == 0
    page = out.read_text()
    assert page.count('class="chart"') == 2 and "<script src" not in page and "window.vegaEmbed" in page


def test_backtest_command(sample_data: Path) -> None:
    res = cli(
        "replay",
        "--backtest",
        "2026-10-12",
        "--policy",
        str(REPO / "policies" / "opus-to-sonnet.toml"),
        "--data",
        str(sample_data),
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["schema"] == "tierlens.backtest/1" and doc["rows"][0]["inside"] is True


def test_policy_errors_exit_2_with_file_line_and_column(sample_data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nwhen = \"feature = 'x' AND featur = 'y'\"\nroute_to = \"claude-haiku-4-5\"\n")
    res = cli("replay", "--policy", str(bad), "--data", str(sample_data))
    assert res.exit_code == 2
    assert f"Error: {bad}:2:27: rule 1: unknown column 'featur' (did you mean 'feature'?)" in res.output
    assert "Traceback" not in res.output
    assert cli("replay", "--data", str(sample_data)).exit_code == 2  # no --policy
    res = cli(
        "replay", "--policy", str(REPO / "policies"), "--data", str(sample_data), "--assume", "output_ratoi=1"
    )
    assert res.exit_code == 2 and "did you mean 'output_ratio'" in res.output
    assert cli("replay", "--policy", str(tmp_path / "nope.toml"), "--data", str(sample_data)).exit_code == 2
    deep = tmp_path / "deep.toml"
    ors = " OR ".join(["feature = 'x'"] * 800)
    deep.write_text(f'[[rules]]\nwhen = "{ors}"\nroute_to = "claude-haiku-4-5"\n')
    res = cli("replay", "--policy", str(deep), "--data", str(sample_data))
    assert res.exit_code == 2 and "use IN (...)" in res.output and "Traceback" not in res.output
    assert (
        cli("replay", "--policy", str(REPO / "policies"), "--data", str(tmp_path / "missing")).exit_code == 3
    )


def test_assume_overrides_every_policy(sample_data: Path) -> None:
    args = [
        "replay",
        "--policy",
        str(REPO / "policies" / "opus-to-sonnet.toml"),
        "--data",
        str(sample_data),
        "--format",
        "json",
        "--draws",
        "100",
    ]
    kept = json.loads(cli(*args).output)["policies"][0]
    cold = json.loads(
        cli(
            *args, "--assume", "cache=cold", "--assume", "calibrate=false", "--assume", "output_ratio=1.0"
        ).output
    )["policies"][0]
    assert cold["totals"]["savings_p10"] == cold["totals"]["savings_p90"]  # every assumption now a point
    assert cold["totals"]["savings_p50"] < kept["totals"]["savings_p50"]  # cold caches cost more
    assert {a["source"] for a in cold["assumptions"]} == {"--assume"}


# --- golden output contracts on a small fixed dataset --------------------------------------------


SMALL_POLICIES = {
    "tagger-to-haiku": '[[rules]]\nname = "tagger"\nwhen = "structured_output AND output_tokens <= 50"\nroute_to = "claude-haiku-4-5"\n',
    "chat-cascade": (
        '[[rules]]\nname = "chat"\nwhen = "feature = \'chat\'"\ncascade = ["claude-haiku-4-5", "claude-sonnet-4-5"]\n'
        "escalation_rate = { low = 0.1, high = 0.3 }\n"
    ),
    "code-batch": '[[rules]]\nname = "code"\nwhen = "feature = \'code\'"\nservice_tier = "batch"\n',
}


@pytest.fixture
def small_data(tmp_path: Path, write: Any) -> Path:
    lines = []
    for i in range(60):
        day = 1 + i % 28
        month = 9 if i < 30 else 10
        lines.append(
            f.logged(
                ts=f"2026-{month:02d}-{day:02d}T10:00:00Z",
                feature="chat",
                model="claude-sonnet-4-5",
                input_tokens=800 + 10 * i,
                output_tokens=150 + i,
                cache_read=4096 if i % 4 else 0,
                cache_creation=0 if i % 4 else 4096,
                id=f"msg_chat_{i}",
            )
        )
        lines.append(
            f.logged(
                ts=f"2026-{month:02d}-{day:02d}T02:00:00Z",
                feature="tagger",
                model="claude-opus-4-6",
                input_tokens=400 + i,
                output_tokens=20,
                tool=True,
                id=f"msg_tag_{i}",
            )
        )
        code_model = "claude-opus-4-6" if month == 9 else "claude-sonnet-4-6"
        lines.append(
            f.logged(
                ts=f"2026-{month:02d}-{day:02d}T14:00:00Z",
                feature="code",
                model=code_model,
                input_tokens=9000 + 50 * i,
                output_tokens=(1500 if month == 9 else 1350) + 7 * (i % 10),
                id=f"msg_code_{i}",
            )
        )
    lines.append(
        f.logged(ts="2026-09-22T09:00:00Z", feature="lab", model="claude-nimbus-preview", id="msg_lab")
    )
    data = tmp_path / "data"
    ingest([write("small.jsonl", lines)], load_settings(data_dir=data))
    return data


def _fixed(result: Any) -> Any:
    from datetime import UTC, datetime

    result.generated_at = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)
    result.data_dir = "tierlens-data"
    result.price_version = "builtin-test"  # the golden files must not change with prices.csv
    return result


@pytest.fixture
def small(small_data: Path) -> Any:
    pols = [
        parse_policy(text, f"policies/{name}.toml", TABLE, default_name=name)
        for name, text in SMALL_POLICIES.items()
    ]
    return _fixed(replay(tierlens.open(small_data), pols, TABLE, draws=200, seed=0))


@pytest.fixture
def small_backtest(small_data: Path) -> Any:
    return _fixed(backtest(tierlens.open(small_data), date(2026, 10, 1), None, TABLE, days=30, draws=200))


def _golden(name: str, out: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out)
    assert out == path.read_text(), f"{path} differs (TIERLENS_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "csv"])
def test_golden_replay_formats(fmt: str, small: Any) -> None:
    _golden(f"small.{fmt}", rr.render(small, fmt))


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_golden_backtest_formats(fmt: str, small_backtest: Any) -> None:
    (row,) = small_backtest.rows.iter_rows(named=True)
    assert row["feature"] == "code" and row["comparable"]
    _golden(f"backtest.{fmt}", rr.render(small_backtest, fmt))


def test_golden_chart_specs(small: Any, small_backtest: Any) -> None:
    specs = {**rr.chart_specs(small), **rb.backtest_chart_specs(small_backtest)}
    for name, spec in specs.items():
        spec.pop("$schema", None)
        spec.pop("config", None)
        _golden(f"chart_{name}.vl.json", json.dumps(spec, indent=1, sort_keys=True) + "\n")


def test_small_replay_numbers(small: Any, small_data: Path) -> None:
    rows = tierlens.open(small_data).collect()
    code = rows.filter(pl.col("feature") == "code")
    assert small.policy("code-batch").totals["savings_p50"] == pytest.approx(
        code["cost_usd"].sum() / 2, rel=1e-9
    )
    tagger = small.policy("tagger-to-haiku").rows.filter(pl.col("feature") == "tagger").row(0, named=True)
    assert tagger["label"] == "modelled" and tagger["touched_share"] == 1.0


# --- a real browser --------------------------------------------------------------------------------


def test_replay_html_renders_its_charts_in_headless_chromium(
    small: Any, small_backtest: Any, tmp_path: Path
) -> None:
    for page, names in (
        (rr.to_html(small), ("policies", "by_feature")),
        (rb.backtest_html(small_backtest), ("backtest",)),
    ):
        containers = chart_containers(page, tmp_path)
        for name in names:
            assert rendered(containers[name]), containers[name][:200]


def test_replay_window_and_run_rate(sample_data: Path) -> None:
    opus = str(REPO / "policies" / "opus-to-sonnet.toml")
    args = ["replay", "--policy", opus, "--data", str(sample_data), "--format", "json", "--draws", "50"]
    doc = json.loads(cli(*args, "--since", "2026-10-01", "--until", "2026-10-31").output)
    assert doc["window"] == {"start": "2026-10-01", "end": "2026-10-31", "days": 31}
    october = (
        tierlens.open(sample_data)
        .filter(pl.col("date").is_between(date(2026, 10, 1), date(2026, 10, 31)) & pl.col("priced"))
        .collect()
    )
    assert doc["baseline"]["cost_usd"] == pytest.approx(october["cost_usd"].sum(), rel=1e-9)
    t = doc["policies"][0]["totals"]
    assert t["monthly_p50"] == pytest.approx(t["savings_p50"] * 30.4375 / 31, rel=1e-9)
    res = cli("replay", "--backtest", "2026-10-12", "--since", "2026-10-01", "--data", str(sample_data))
    assert res.exit_code == 2 and "--backtest-days" in res.output
