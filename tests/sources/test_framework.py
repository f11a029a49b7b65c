"""The reader framework's input shapes: JSON documents and CSV beside JSON lines, exact line numbers.

One record may be a line, a value of a JSON document (or an element of a top-level array), or a
CSV row; a document's records keep the line they start on, and a CSV row keeps its line even after
a quoted cell spanning several lines.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests import factories as f
from tests.fixtures.readers import assert_accounted, parse_bytes, parse_lines
from tierlens.config import Settings
from tierlens.errors import SourceError
from tierlens.sources import detect_format, inputs, read_input, records
from tierlens.sources.inputs import json_document_records, sniff_shape


def test_shapes_are_sniffed_from_the_first_line() -> None:
    assert sniff_shape(b'{"a": 1}\n{"a": 2}\n') == "jsonl"
    assert sniff_shape(b'\n\n[\n  {"a": 1}\n]\n') == "json"
    assert sniff_shape(b'{\n  "data": []\n}\n') == "json"
    assert sniff_shape(b"request_id,spend,model\nx,1,m\n") == "csv"
    assert sniff_shape(b"upstream connect error\n") == "jsonl"


def test_pretty_array_keeps_each_element_line_and_rejects_a_bad_tail() -> None:
    recs = [f.logged(input_tokens=10 * (i + 1)) for i in range(3)]
    body = json.dumps(recs, indent=2)
    starts = [i + 1 for i, line in enumerate(body.splitlines()) if line == "  {"]
    p = parse_bytes("anthropic_messages", body.encode())
    assert p.rows.sort("source_line")["source_line"].to_list() == starts and not p.rejects
    assert p.lines == len(body.splitlines()) and p.records == 3
    broken = body[: body.rindex("}")] + ",\n  {oops}\n]"
    p = parse_bytes("anthropic_messages", broken.encode())
    assert p.rows.height == 2 and len(p.rejects) == 1
    oops = len(broken.splitlines()) - 1
    assert p.rejects[0]["reason"] == (
        f"invalid JSON: Expecting property name enclosed in double quotes at line {oops} column 3"
    )
    assert_accounted(p)


def test_a_bad_document_tail_says_where_once() -> None:
    # the decoder's message ends in "at" ("Unterminated string starting at"): the reason says it once
    body = json.dumps([f.logged()], indent=2)
    broken = body[: body.rindex("}")] + '},\n  {"ts": "2026-09-01'
    p = parse_bytes("anthropic_messages", broken.encode())
    line = len(broken.splitlines())
    assert [r["reason"] for r in p.rejects] == [
        f"invalid JSON: Unterminated string starting at line {line} column 10"
    ]


@pytest.mark.parametrize("exact", [False, True])
def test_a_bad_line_says_invalid_json_and_where_once(exact: bool) -> None:
    p = parse_lines("anthropic_messages", [f.logged(), '{"ts": "2026-09-01', '{"ts": 1,,}'], exact=exact)
    assert {r["line"]: r["reason"] for r in p.rejects} == {
        2: "invalid JSON: Unterminated string starting at column 8",
        3: "invalid JSON: Expecting property name enclosed in double quotes at column 10",
    }


def test_a_reason_of_our_own_is_not_prefixed_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "_TRAILING_COMMAS", 2)  # the real limit takes ten thousand commas
    p = parse_lines("anthropic_messages", ['{"a": [1,], "b": [2,], "c": [3,],}'], exact=True)
    assert [r["reason"] for r in p.rejects] == ["invalid JSON: too many trailing commas"]


def test_concatenated_pretty_documents_and_non_objects() -> None:
    a, b = f.logged(), f.logged()
    body = (
        json.dumps(a, indent=1) + "\n" + json.dumps(b, indent=4) + "\n[1, " + json.dumps(f.logged()) + "]\n"
    )
    p = parse_bytes("anthropic_messages", body.encode())
    assert p.rows.height == 3 and [r["reason"] for r in p.rejects] == ["expected a JSON object, got number"]
    second = len(json.dumps(a, indent=1).splitlines()) + 1
    assert sorted(p.rows["source_line"].to_list())[1] == second


def test_a_truncated_first_line_is_read_as_json_lines() -> None:
    good = json.dumps(f.logged())
    p = parse_bytes("anthropic_messages", b'{"ts": "2026-09-01\n' + good.encode() + b"\n")
    assert p.rows.height == 1 and p.rows["source_line"].to_list() == [2]
    assert [r["line"] for r in p.rejects] == [1]


def test_csv_multiline_cells_blank_lines_and_ragged_rows() -> None:
    header = "request_id,call_type,spend,prompt_tokens,completion_tokens,startTime,model,metadata,messages,status\n"
    meta = '"{""usage_object"": {""cache_read_input_tokens"": 10}}"'
    text = '"first line of the prompt\nsecond line, with a comma\nthird"'  # a quoted cell over 3 lines
    body = (
        header
        + f"r1,acompletion,0.1,100,10,2026-09-01 10:00:00,claude-haiku-4-5,{meta},{text},success\n"
        + "\n"
        + "r2,acompletion,0.1,100,10,2026-09-01 10:01:00,claude-haiku-4-5,{},,success\n"
        + "r3,acompletion,0.1\n"
        + "r4,acompletion,0.1,100,ten,2026-09-01 10:02:00,claude-haiku-4-5,{},,success\n"
    )
    p = parse_bytes("litellm", body.encode())
    assert p.rows.sort("source_line").select("request_id", "source_line", "cache_read_tokens").rows() == [
        ("r1", 2, 10),
        ("r2", 6, 0),
    ]
    assert [(r["line"], r["reason"]) for r in p.rejects] == [
        (7, "expected 10 CSV fields, got 3"),
        (8, "completion_tokens: expected an integer, got a string"),
    ]
    assert p.skipped == {"blank line": 1} and p.lines == 8
    assert_accounted(p)


def test_csv_invalid_utf8_and_bom() -> None:
    body = b"\xef\xbb\xbfrequest_id,spend,prompt_tokens,completion_tokens,startTime,model\n"
    body += b"r1,0,1,1,2026-09-01T10:00:00Z,claude-haiku-4-5\n"
    body += b"r2,0,1,1,2026-09-01T10:00:00Z,claude-\xff\n"
    p = parse_bytes("litellm", body)
    assert p.rows.height == 1 and [(r["line"], r["reason"]) for r in p.rejects] == [(3, "invalid UTF-8")]


def test_csv_batches_keep_line_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "CSV_BATCH_ROWS", 3)
    rows = "".join(f"r{i},0,1,1,2026-09-01T10:00:{i:02d}Z,claude-haiku-4-5\n" for i in range(10))
    body = ("request_id,spend,prompt_tokens,completion_tokens,startTime,model\n" + rows).encode()
    inp = read_input(io.BytesIO(body), 1 << 20)
    assert inp is not None and inp.shape == "csv"
    batches = list(inp.batches)
    assert len(batches) == 4 and sum(b.lines for b in batches) == 11
    p = parse_bytes("litellm", body)
    assert sorted(p.rows["source_line"].to_list()) == list(range(2, 12))


def test_explode_rejects_name_the_row_and_count_each_row() -> None:
    page = {
        "data": [
            {
                "starting_at": "2026-09-01T00:00:00Z",
                "results": [
                    {"uncached_input_tokens": 1, "output_tokens": 1, "model": "claude-haiku-4-5"},
                    {"output_tokens": 1},
                ],
            }
        ]
    }
    p = parse_lines("anthropic_usage", [page, {"data": "x"}, ""])
    assert p.rows.height == 1 and p.records == 4 and p.lines == 3
    assert [r["reason"] for r in p.rejects] == [
        "data[0].results[1]: missing uncached_input_tokens",
        "data: expected an array of buckets",
    ]


def test_detection_reads_documents_and_csv_headers() -> None:
    pretty = json.dumps(
        {
            "data": [
                {
                    "starting_at": "2026-09-01T00:00:00Z",
                    "ending_at": "x",
                    "results": [{"uncached_input_tokens": 1, "output_tokens": 1}],
                }
            ]
        },
        indent=2,
    )
    assert detect_format(pretty.encode(), Settings(), "x").name == "anthropic_usage"
    with pytest.raises(SourceError, match="unrecognised log format"):
        detect_format(b"a,b\n1,2\n", Settings(), "x.csv")


# --- properties ------------------------------------------------------------------------------------

record = st.builds(
    lambda i, o, r: f.logged(input_tokens=i, output_tokens=o, cache_read=r),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(record, min_size=1, max_size=6), st.sampled_from([None, 1, 2]))
def test_any_shape_yields_the_same_rows(records: list[dict[str, Any]], indent: int | None) -> None:
    as_lines = parse_lines("anthropic_messages", records).rows
    as_document = parse_bytes("anthropic_messages", json.dumps(records, indent=indent).encode()).rows
    drop = ["source_line"]
    assert as_lines.drop(drop).sort("dedupe_key").equals(as_document.drop(drop).sort("dedupe_key"))


@hsettings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_json_documents_never_crash(data: bytes) -> None:
    found = json_document_records(data)
    if found is not None:
        records, _ = found
        assert all(r.line >= 1 for r in records)
    p = parse_bytes("anthropic_messages", data + b"\n") if data.strip() else None
    if p is not None:
        assert_accounted(p)


csv_cell = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.lists(csv_cell, min_size=0, max_size=8), min_size=1, max_size=8))
def test_csv_garbage_never_crashes(rows: list[list[str]]) -> None:
    import csv as csvlib

    buf = io.StringIO()
    writer = csvlib.writer(buf, lineterminator="\n")
    writer.writerow(["request_id", "spend", "prompt_tokens", "completion_tokens", "startTime", "model"])
    writer.writerows(rows)
    p = parse_bytes("litellm", buf.getvalue().encode())
    assert_accounted(p)
