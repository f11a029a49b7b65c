"""Values no real request has are rejected with a reason, never stored, never an abort, and the
reason never repeats the value (it can be message text)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tierlens
from tests import factories as f
from tierlens.config import Settings
from tierlens.ingest import ingest
from tierlens.sources import Context, make_reader, parse_chunk
from tierlens.sources.exprs import BAD_TIME, EARLIEST, LATEST, MAX_TOKENS, in_range

CTX = Context(source_file="t.jsonl", path=None, ingest_id="t")


def parse(lines: list[Any], exact: bool = False) -> Any:
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    return parse_chunk(make_reader("anthropic_messages", Settings()), body, 1, CTX, force_exact=exact)


@given(st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)))
@example(EARLIEST - timedelta(microseconds=1))
@example(EARLIEST)
@example(LATEST - timedelta(microseconds=1))
@example(LATEST)
@example(datetime(1970, 1, 1, tzinfo=UTC))
def test_only_times_from_2000_until_2100_are_kept(moment: datetime) -> None:
    # to the microsecond at either bound: 2000-01-01 is in, 2100-01-01 is out
    kept = pl.select(in_range(pl.lit(moment, pl.Datetime("us", "UTC")))).item()
    assert kept == (moment if EARLIEST <= moment < LATEST else None)


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize(
    ("stamp", "iso"),
    [
        (1772442843, "2026-03-02T09:14:03+00:00"),  # seconds
        (1772442843123, "2026-03-02T09:14:03.123000+00:00"),  # milliseconds
        (1772442843123456, "2026-03-02T09:14:03.123456+00:00"),  # microseconds
        (1772442843123456000, "2026-03-02T09:14:03.123456+00:00"),  # nanoseconds
    ],
)
def test_epoch_units_are_told_apart(stamp: int, iso: str, exact: bool) -> None:
    p = parse([f.logged(ts=stamp)], exact=exact)  # type: ignore[arg-type]
    assert not p.rejects and p.rows["ts"][0].isoformat() == iso


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize(
    "stamp",
    [0, 915148800, 4102444800, "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "58136-01-01T00:00:00Z"],
)
def test_times_outside_2000_to_2100_are_rejected(stamp: Any, exact: bool) -> None:
    p = parse([f.logged(ts=stamp), f.logged()], exact=exact)
    assert p.rows.height == 1 and [r["reason"] for r in p.rejects] == [BAD_TIME]


@pytest.mark.parametrize("exact", [False, True])
def test_impossible_token_counts_are_rejected_and_sums_stay_exact(exact: bool) -> None:
    huge = f.logged(input_tokens=2**63 - 1)
    over = f.logged(output_tokens=MAX_TOKENS + 1)
    big = f.logged(input_tokens=MAX_TOKENS, cache_read=MAX_TOKENS, cache_creation=MAX_TOKENS)
    p = parse([huge, over, big], exact=exact)
    assert [r["line"] for r in p.rejects] == [1, 2]
    assert [r["reason"] for r in p.rejects] == [
        "response.usage.input_tokens: a count above 10^15",  # no log's count, not even a bucket's
        f"token count above {MAX_TOKENS:,} in one request",
    ]
    (row,) = p.rows.to_dicts()
    assert row["input_tokens"] == row["cache_read_tokens"] == MAX_TOKENS


def test_a_lone_surrogate_and_cut_utf8_reject_one_line_only(tmp_path: Path) -> None:
    good = json.dumps(f.logged())
    lone = json.dumps(f.logged(text="\ud83d"), ensure_ascii=True)  # an escaped lone surrogate (a cut emoji)
    cut = (
        json.dumps(f.logged(model="claude-haiku-4-5"))
        .replace("haiku", "hai\udcc3", 1)
        .encode("utf-8", "surrogateescape")
    )
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\n".join([good.encode(), lone.encode(), cut, good.replace("req_", "req_x").encode()]) + b"\n"
    )
    result = ingest([path], Settings(data_dir=tmp_path / "d"))
    # the cut emoji's line is kept (U+FFFD in its text, which is not stored anyway); the cut UTF-8 line
    # alone is rejected; the last line repeats the first response (same message id)
    assert (result.rows_added, result.duplicates_skipped) == (2, 1)
    assert [r["line"] for r in result.rejects] == [3] and result.rejects[0]["reason"] == "invalid UTF-8"


# every value carries a marker no reason's own wording holds, so a short value ("res") cannot be found
# in the fixed text of a reason ("response.usage...") by chance
STRINGS = st.text(min_size=2, max_size=30).map(lambda s: "Zq\u00a7" + s)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=STRINGS,
    where=st.sampled_from(["ts", "input_tokens", "output_tokens", "model"]),
    exact=st.booleans(),
)
def test_a_reject_reason_never_repeats_the_value(value: str, where: str, exact: bool) -> None:
    rec = f.logged()
    if where == "ts":
        rec["ts"] = value
    elif where == "model":
        rec["response"]["model"] = {"secret": value}
    else:
        rec["response"]["usage"][where] = value
    p = parse([rec], exact=exact)
    for r in p.rejects:
        assert value not in r["reason"] and value.strip() not in r["reason"]
        assert set(r) == {"file", "line", "reason", "bytes", "sha256"}


def test_the_quarantine_holds_no_text(tmp_path: Path) -> None:
    secret = "my password is hunter2"
    path = tmp_path / "a.jsonl"
    rec = f.logged()
    rec["response"]["usage"]["input_tokens"] = secret
    path.write_text(json.dumps(rec) + "\n" + json.dumps({"ts": secret}) + "\n")
    result = ingest([path], Settings(data_dir=tmp_path / "d"))
    assert result.rejected_total == 2
    stored = b"".join(p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file())
    assert b"hunter2" not in stored
    assert pl.DataFrame(result.rejects).select("reason").to_series().str.contains("hunter2").sum() == 0
    assert tierlens.open(tmp_path / "d").collect().height == 0


def test_a_bad_file_is_reported_and_the_others_commit(tmp_path: Path) -> None:
    import gzip

    from click.testing import CliRunner

    from tierlens.cli import main

    logs = tmp_path / "logs"
    logs.mkdir()
    good = [f.logged(ts=f"2026-09-0{d}T10:00:00Z") for d in (1, 2, 3)]
    (logs / "a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in good))
    body = gzip.compress("".join(json.dumps(f.logged()) + "\n" for _ in range(2000)).encode())
    (logs / "b.jsonl.gz").write_bytes(body[: len(body) // 2])  # a truncated download
    (logs / "c.jsonl").write_text(json.dumps(f.logged()) + "\n")
    (logs / "c.jsonl").chmod(0)  # unreadable (root reads anyway: then it is simply ingested)
    res = CliRunner().invoke(main, ["ingest", str(logs), "--data", str(tmp_path / "d"), "--json"])
    assert res.exit_code == 3, res.output
    out = json.loads(res.stdout)
    failed = " ".join(out["files_failed"])
    assert "b.jsonl.gz" in failed and "after line" in failed
    assert "a.jsonl" not in failed
    # the good file, and the lines of the truncated one read before it broke, are committed
    stored = tierlens.open(tmp_path / "d").collect()
    assert stored.filter(pl.col("source_file").str.ends_with("a.jsonl")).height == 3
    assert 0 < stored.filter(pl.col("source_file").str.ends_with("b.jsonl.gz")).height < 2000
    again = CliRunner().invoke(
        main, ["ingest", str(logs / "a.jsonl"), "--data", str(tmp_path / "d"), "--json"]
    )
    assert json.loads(again.stdout)["rows_added"] == 0


def test_a_file_that_vanishes_mid_run_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tierlens.logfiles as logfiles

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for p in (a, b):
        p.write_text(json.dumps(f.logged()) + "\n")
    real = logfiles.open_input

    def vanishing(name: Any, stdin: Any = None) -> Any:
        if str(name).endswith("b.jsonl"):
            Path(name).unlink()
        return real(name, stdin)

    monkeypatch.setattr(logfiles, "open_input", vanishing)
    result = ingest([a, b], Settings(data_dir=tmp_path / "d"))
    assert result.rows_added == 1 and len(result.files_failed) == 1 and "b.jsonl" in result.files_failed[0]


@pytest.mark.parametrize("exact", [False, True])
def test_an_object_where_a_string_belongs_is_rejected_on_both_paths(exact: bool) -> None:
    objects = [
        f.logged(feature={"name": "x"}),
        f.logged(request_id=["a", "b"]),
        f.logged(feature="{braces} ok"),
    ]
    p = parse([f.logged(), *objects], exact=exact)  # type: ignore[arg-type]
    assert [(r["line"], r["reason"]) for r in p.rejects] == [
        (2, "feature: expected a string, got an object"),
        (3, "request_id: expected a string, got an array"),
    ]
    assert p.rows["feature"].to_list() == ["chat", "{braces} ok"]  # a string that looks like JSON is a string


@pytest.mark.parametrize("levels", [50, 5_000])
def test_deep_nesting_is_classified_alike_on_both_paths_and_at_any_cut(levels: int) -> None:
    nest = "[" * levels + "]" * levels  # deeper than Python's decoder goes at 5,000; DuckDB reads it

    def deep(**kw: Any) -> str:
        return json.dumps(f.logged(**kw)).replace('"ts"', f'"extra": {nest}, "ts"', 1)

    lines = [f.logged(), deep(), deep(feature={"a": 1}), f.logged()]
    reason = (
        "feature: expected a string, got an object"
        if levels < 900
        else "a string field holds an object or array"
    )
    for exact in (False, True):
        whole = parse(lines, exact=exact)
        assert whole.rows["source_line"].to_list() == [1, 2, 4]
        assert [(r["line"], r["reason"]) for r in whole.rejects] == [(3, reason)]
        alone = [parse([x], exact=exact) for x in lines]
        assert [p.rows.height for p in alone] == [1, 1, 0, 1]
