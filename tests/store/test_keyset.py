"""The ingest's set of seen keys against a plain Python set of the same keys."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierlens.store import keyset
from tierlens.store.keyset import KeySet

# few distinct values, so that batches repeat keys, share a _k1 across days and collide on _k1 alone
_KEY = st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 3))
_BATCHES = st.lists(st.lists(_KEY, max_size=12), min_size=1, max_size=12)


def _frame(keys: list[tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_k1": [k[0] for k in keys],
            "_k2": [k[1] for k in keys],
            # a row without a time has no day: its keys are a set of their own
            "_day": [None if k[2] == 3 else date(2026, 11, 1) + timedelta(days=k[2]) for k in keys],
            "payload": list(range(len(keys))),
        },
        schema={"_k1": pl.UInt64, "_k2": pl.UInt64, "_day": pl.Date, "payload": pl.Int64},
    )


@pytest.mark.parametrize("small", [0, keyset.SMALL_KEYS], ids=["searched", "joined"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_BATCHES)
def test_known_matches_a_python_set_after_every_batch(
    batches: list[list[tuple[int, int, int]]], small: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both ways of looking keys up: a search per day and run, or one join with the days' keys
    monkeypatch.setattr(keyset, "SMALL_KEYS", small)
    keys, model = KeySet(), set()
    for batch in batches:
        frame = _frame(batch)
        assert keys.known(frame).to_list() == [k in model for k in batch]
        keys.add(frame)
        model.update(batch)


def test_runs_stay_logarithmic_and_sorted() -> None:
    keys = KeySet()
    for i in range(200):
        start = i * 1000
        keys.add(_frame([(start + j, j % 3, j % 5) for j in range(1000)][::-1]))
    days = keys._days.values()
    assert all(len(runs) <= 8 for runs in days)  # log2(200) runs a day at most
    assert all(run["_k1"].is_sorted() for runs in days for run in runs)
    assert len(keys) == 200_000
    probe = _frame([(5, 2, 0), (5, 0, 0), (199_999, 999 % 3, 999 % 5), (200_000, 0, 0)])
    assert keys.known(probe).to_list() == [True, False, True, False]
