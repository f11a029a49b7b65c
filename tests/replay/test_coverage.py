"""Replay ranges that hold: over many simulated migrations, the outcome lies inside P10..P90 about
80% of the time (70-90%) and inside P5..P95 at least 85% of the time.

Each migration is one feature moving from Opus 4.6 to Sonnet 4.6 on 2026-10-12 with its own
traffic (prompt and answer sizes drawn per feature, so the output's share of the cost varies from
a third to nine tenths) and its own true answer-length ratio, drawn from lognormal(median 1, sigma
0.30): the spread of Claude-to-Claude answer lengths on Arena-Hard-Auto (see
`tierlens.replay.assumptions.DEFAULT_OUTPUT_RATIO`). The backtest predicts each feature's cost
after the move from the four weeks before it, with no calibration (Sonnet never ran the feature
before), and is compared with what the logs show after it.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests import factories as f
from tierlens.config import Settings
from tierlens.ingest import ingest
from tierlens.pricing import PriceTable
from tierlens.replay import backtest
from tierlens.replay.backtest import VALIDATED_COVERAGE

MOVE = date(2026, 10, 12)
MIGRATIONS = 120
REQUESTS = 5  # a day, each side of the move
TRUE_SIGMA = 0.30


def _feature(rng: random.Random, name: str, ratio: float) -> list[dict[str, Any]]:
    prompt, answer = rng.choice((300, 1_000, 3_000, 8_000)), rng.choice((150, 400, 1_000, 2_500))
    lines = []
    for day in range(-28, 28):
        model = "claude-opus-4-6" if day < 0 else "claude-sonnet-4-6"
        for i in range(REQUESTS):
            ts = datetime(2026, 10, 12, 9 + i) + timedelta(days=day)
            out = answer * math.exp(rng.gauss(0, 0.4)) * (ratio if day >= 0 else 1.0)
            lines.append(
                f.logged(ts=ts.strftime("%Y-%m-%dT%H:%M:%SZ"), feature=name, model=model,
                         input_tokens=int(prompt * math.exp(rng.gauss(0, 0.3))), output_tokens=max(1, int(out)))
            )  # fmt: skip
    return lines


def _migrations(tmp: Path, write: Any, ratios: list[float]) -> pl.DataFrame:
    rng = random.Random(20261012)
    lines = [line for i, r in enumerate(ratios) for line in _feature(rng, f"feature-{i:02d}", r)]
    settings = Settings(data_dir=tmp / "data")
    ingest([write("migrations.jsonl", lines)], settings)
    result = backtest(tierlens.open(settings.data_dir), MOVE, None, PriceTable.load(), draws=400, seed=7)
    rows = result.rows.sort("feature")
    assert rows.height == len(ratios) and rows["comparable"].all()
    return rows


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:

    tmp = tmp_path_factory.mktemp("coverage")

    def write(name: str, lines: list[object]) -> Path:
        import json

        path = tmp / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        return path

    rng = random.Random(1)
    return _migrations(tmp, write, [math.exp(rng.gauss(0, TRUE_SIGMA)) for _ in range(MIGRATIONS)])


def test_the_outcome_lies_inside_p10_p90_about_four_times_in_five(simulated: pl.DataFrame) -> None:
    share = simulated["inside"].mean()
    assert 0.70 <= share <= 0.90, share  # type: ignore[operator]


def test_the_outcome_lies_inside_p5_p95_at_least_seventeen_times_in_twenty(simulated: pl.DataFrame) -> None:
    share = simulated["inside_p05_p95"].mean()
    assert share >= 0.85, share  # type: ignore[operator]


def test_the_backtest_report_states_the_coverage_measured_here(simulated: pl.DataFrame) -> None:
    measured = {
        "migrations": simulated.height,
        "p10_p90": round(float(simulated["inside"].mean()), 3),  # type: ignore[arg-type]
        "p05_p95": round(float(simulated["inside_p05_p95"].mean()), 3),  # type: ignore[arg-type]
    }
    assert measured == VALIDATED_COVERAGE


@pytest.mark.parametrize("ratio", [0.85, 1.18, 1.35])
def test_answers_that_grow_or_shrink_by_a_third_stay_inside_the_uncalibrated_range(
    ratio: float, tmp_path: Path, write: Any
) -> None:
    [row] = _migrations(tmp_path, write, [ratio]).iter_rows(named=True)
    assert row["predicted_p10"] <= row["observed_after_usd"] <= row["predicted_p90"], row
