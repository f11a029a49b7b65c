"""Cutting a valid file at any chunk size gives the same rows, for every reader (streams included).

The inputs are the real JSON-lines files of tests/realworld and the small file of each other
JSON-lines format in tests/fixtures/formats, plus one file that chains all of the real
streamed responses one after another (a gateway's log of several streams), so that chunk
boundaries fall inside streams, between their events, and between streams.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import tierlens
from tests.paths import TESTS
from tierlens.config import Settings
from tierlens.ingest import ingest
from tierlens.sources import parse
from tierlens.sources.inputs import count_newlines

CORPUS = TESTS / "realworld"
FORMATS = TESTS / "fixtures" / "formats"
# the real files, plus one small file of every other JSON-lines reader (Bedrock, OTel, Usage API)
LINE_FILES = sorted(CORPUS.rglob("*.jsonl")) + sorted(FORMATS.glob("*.jsonl"))
KEY = ["dedupe_key", "model", "input_tokens", "cache_read_tokens", "cache_write_5m_tokens",
       "cache_write_1h_tokens", "output_tokens", "web_search_requests", "status", "cost_usd"]  # fmt: skip


def rows_of(path: Path, data: Path, chunk: int) -> pl.DataFrame:
    ingest([path], Settings(data_dir=data, chunk_bytes=chunk))
    return tierlens.open(data).collect().select(KEY).sort(KEY, nulls_last=True)


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("streams") / "gateway-streams.jsonl"
    out.write_bytes(b"".join(p.read_bytes() for p in LINE_FILES if p.name.startswith("stream_")))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [*(str(p.relative_to(p.parents[1])) for p in LINE_FILES), "all real streams"]
)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(1024, 64 * 1024))
def test_any_chunk_size_gives_the_same_rows(
    name: str, chunk: int, streams: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = streams if name == "all real streams" else next(p for p in LINE_FILES if str(p).endswith(name))
    whole = rows_of(path, tmp_path_factory.mktemp("whole"), 64 * 2**20)
    cut = rows_of(path, tmp_path_factory.mktemp("cut"), chunk)
    assert whole.height > 0
    assert_frame_equal(cut, whole, check_exact=False, rel_tol=1e-12)


def test_streams_split_across_chunks_are_each_one_request(streams: Path, tmp_path: Path) -> None:
    rows = rows_of(streams, tmp_path, 1024)
    starts = sum(b'"type": "message_start"' in line or b'"type":"message_start"' in line
                 for line in streams.read_bytes().splitlines())  # fmt: skip
    advisors = 1  # the advisor stream bills a second model in its own row
    assert rows.height == starts + advisors
    assert rows["status"].to_list().count("ok") == rows.height


@given(
    lines=st.lists(st.integers(0, 3000), max_size=200),
    newline_first=st.booleans(),
    tail=st.integers(0, 50),
)
def test_newlines_are_counted_exactly_whatever_the_line_lengths(
    lines: list[int], newline_first: bool, tail: int
) -> None:
    # long lines are counted one find at a time, short ones byte by byte: both must agree
    data = (b"\n" if newline_first else b"") + b"".join(b"x" * n + b"\n" for n in lines) + b"y" * tail
    assert count_newlines(data) == data.count(b"\n") == len(lines) + newline_first


@pytest.mark.parametrize("corpus", ["claude_code", "all real streams"])
def test_rows_copied_out_of_their_chunk_are_the_same_rows(
    corpus: str, streams: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that are a small part of their chunk are copied out of DuckDB's output (so that they do
    not hold it); copied or not, every column of every row is the same."""
    path = streams if corpus == "all real streams" else CORPUS / corpus

    def every_row(keep_apart: int, data: Path) -> pl.DataFrame:
        monkeypatch.setattr(parse, "_KEEP_APART", keep_apart)
        ingest([path], Settings(data_dir=data))
        rows = tierlens.open(data).collect().drop("ingest_id")
        return rows.sort(rows.columns, nulls_last=True)

    copied = every_row(0, tmp_path / "copied")  # every frame copied
    kept = every_row(10**12, tmp_path / "kept")  # none
    assert copied.height > 0
    assert copied.schema == kept.schema
    assert_frame_equal(copied, kept)
