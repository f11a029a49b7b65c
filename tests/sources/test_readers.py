"""Readers: each format to canonical rows; the fast and exact paths agree; garbage is quarantined."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import tierlens
from tests import factories as f
from tierlens.config import Settings, load_settings
from tierlens.errors import SourceError
from tierlens.ingest import ingest
from tierlens.sources import Context, Parsed, Reader, detect_format, make_reader, parse_chunk
from tierlens.sources.exprs import BAD_TIME
from tierlens.sources.streams import assemble_streams

CTX = Context(source_file="test.jsonl", path=None, ingest_id="t")


def parse(lines: list[Any], fmt: str = "anthropic_messages", exact: bool = False, ctx: Context = CTX):  # type: ignore[no-untyped-def]
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    reader = make_reader(fmt, Settings())
    return assembled(parse_chunk(reader, body, 1, ctx, force_exact=exact), reader)


def assembled(p: Parsed, reader: Reader) -> Parsed:
    """One chunk's result with its stream events merged, as ingest sees it at the end of a file."""
    parts = list(assemble_streams([p], reader))
    for extra in parts[1:]:
        p.rows = pl.concat([p.rows, extra.rows])
        for why, n in extra.skipped.items():
            p.skipped[why] = p.skipped.get(why, 0) + n
    return p


@pytest.mark.parametrize("exact", [False, True])
def test_wrapped_and_bare_messages(exact: bool) -> None:
    wrapped = f.logged(
        feature="support-chat",
        model="claude-opus-4-6",
        input_tokens=10,
        output_tokens=5,
        metadata={"user_id": "u7", "api_key_id": "key1"},
        tags=["team:a"],
        latency_ms=812.5,
    )
    bare = f.message(model="claude-haiku-4-5-20251001", input_tokens=20, output_tokens=2)
    bare_line = {**bare, "timestamp": 1756720800}  # epoch seconds beside a bare response
    p = parse([wrapped, bare_line], exact=exact)
    assert p.path_used == ("exact" if exact else "fast")
    rows = p.rows.sort("source_line")
    assert rows.height == 2 and not p.rejects
    a, b = rows.to_dicts()
    assert a["feature"] == "support-chat" and a["user_id"] == "u7" and a["api_key_id"] == "key1"
    assert a["tags"] == ["team:a"] and a["latency_ms"] == 812.5 and a["model_id"] == "claude-opus-4-6"
    assert a["request_id"] == wrapped["request_id"] and a["message_id"] == wrapped["response"]["id"]
    assert a["ts"] == datetime(2026, 9, 1, 10, tzinfo=UTC) and a["source_line"] == 1
    assert b["ts"] == datetime(2025, 9, 1, 10, tzinfo=UTC) and b["feature"] is None
    assert b["request_id"] == bare["id"] and b["source_line"] == 2


def test_cache_creation_split_wins_and_absent_split_means_5m() -> None:
    with_split = f.logged(cache_creation=999, split=(100, 200))
    without = f.logged(cache_creation=300)
    rows = parse([with_split, without]).rows.sort("source_line")
    assert rows.select("cache_write_5m_tokens", "cache_write_1h_tokens").rows() == [(100, 200), (300, 0)]


def test_feature_from_tag_and_structured_output() -> None:
    tool = f.logged(feature=None, tags=["team:x", "feature:triage"], tool=True)
    json_out = f.logged(text='{"label": "billing"}')
    plain = f.logged(text="hello")
    rows = parse([tool, json_out, plain]).rows.sort("source_line")
    assert rows["feature"].to_list() == ["triage", "chat", "chat"]
    assert rows["structured_output"].to_list() == [True, True, False]


def test_message_text_is_never_kept() -> None:
    secret = "the launch code is 0000"
    rows = parse([f.logged(text=secret)]).rows
    for value in rows.row(0):
        assert secret not in str(value)


@pytest.mark.parametrize("exact", [False, True])
def test_skips_and_rejects_are_counted_with_reasons(exact: bool) -> None:
    lines: list[Any] = [
        f.logged(),
        {
            "ts": "2026-09-01T10:00:00Z",
            "request_id": "r",
            "response": {"type": "error", "error": {"type": "overloaded_error"}},
        },
        {"type": "message_delta", "usage": {"output_tokens": 5}},
        {
            "ts": "2026-09-01T10:00:00Z",
            "response": {
                "id": "m1",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": "1623", "output_tokens": 1},
            },
        },
        {
            "ts": "not a time",
            "response": {
                "id": "m2",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
        },
        {
            "ts": "2026-09-01T10:00:00Z",
            "response": {
                "id": "m3",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": -1, "output_tokens": 1},
            },
        },
        {
            "ts": "2026-09-01T10:00:00Z",
            "response": {"id": "m4", "usage": {"input_tokens": 1, "output_tokens": 1}},
        },
        f.logged(),
    ]
    p = parse(lines, exact=exact)
    assert p.rows.height == 2
    assert p.skipped == {"error response": 1, "stream events without their message_start": 1}
    reasons = {r["line"]: r["reason"] for r in p.rejects}
    assert reasons == {
        4: "response.usage.input_tokens: expected an integer, got a string",
        5: BAD_TIME,
        6: "negative token count",
        7: "missing model",
    }


def test_garbage_lines_cost_only_themselves_and_keep_line_numbers() -> None:
    lines: list[Any] = [
        f.logged(),
        "upstream connect error",
        "",
        '{"ts": "2026-09-01',
        f.logged(),
        "[1, 2]",
        "null",
    ]
    p = parse(lines)
    # the good lines still go through the fast path; only the bad ones are decoded one by one
    assert p.path_used == "mixed" and p.rows.height == 2
    assert p.rows["source_line"].to_list() == [1, 5]
    assert p.skipped == {"blank line": 1}
    assert [(r["line"], r["reason"].split(":")[0]) for r in p.rejects] == [
        (2, "invalid JSON"),
        (4, "invalid JSON"),
        (6, "expected a JSON object, got array"),
        (7, "expected a JSON object, got null"),
    ]
    assert all(r["file"] == "test.jsonl" and len(r["sha256"]) == 64 for r in p.rejects)


def test_batch_results_only_succeeded_billed_at_batch_tier(tmp_path: Path) -> None:
    path = tmp_path / "msgbatch_01ABC_results.jsonl"
    lines = [
        f.batch_result("nightly-digest:0001", input_tokens=1000, output_tokens=100),
        f.batch_result("nightly-digest:0002", kind="errored"),
        f.batch_result("x:3", kind="expired"),
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "msgbatch_01ABC.batch.json").write_text(
        json.dumps({"id": "msgbatch_01ABC", "ended_at": "2026-09-07T03:10:00Z"})
    )
    ctx = Context(source_file=str(path), path=path, ingest_id="t")
    p = parse_chunk(make_reader("anthropic_batch", Settings()), path.read_bytes(), 1, ctx)
    assert p.skipped == {"batch result errored": 1, "batch result expired": 1}
    row = p.rows.row(0, named=True)
    assert row["service_tier"] == "batch" and row["feature"] == "nightly-digest"
    assert row["ts"] == datetime(2026, 9, 7, 3, 10, tzinfo=UTC) and row["ts_source"] == "batch_ended_at"
    assert row["request_id"] == "msgbatch_01ABC/nightly-digest:0001"


def test_batch_time_precedence_option_then_sidecar_then_mtime(tmp_path: Path) -> None:
    path = tmp_path / "msgbatch_02XYZ_results.jsonl"
    path.write_text(json.dumps(f.batch_result("a:1")) + "\n")
    os.utime(path, (1757000000, 1757000000))
    reader = make_reader("anthropic_batch", Settings())
    ctx = Context(source_file=str(path), path=path, ingest_id="t")
    by_mtime = parse_chunk(reader, path.read_bytes(), 1, ctx).rows.row(0, named=True)
    assert by_mtime["ts_source"] == "file_mtime" and by_mtime["ts"] == datetime.fromtimestamp(1757000000, UTC)
    given = Context(
        source_file=str(path), path=path, ingest_id="t", options={"batch_ended_at": datetime(2026, 1, 2)}
    )
    by_option = parse_chunk(reader, path.read_bytes(), 1, given).rows.row(0, named=True)
    assert by_option["ts_source"] == "option" and by_option["ts"] == datetime(2026, 1, 2, tzinfo=UTC)


def test_claude_code_dedupe_sidechain_and_synthetic(tmp_path: Path) -> None:
    path = tmp_path / "projects" / "-home-dev-src-app" / "sess-9.jsonl"
    path.parent.mkdir(parents=True)
    base = f.cc_line(id="msg_A", request_id="req_1", input_tokens=10, output_tokens=5, cache_read=1000)
    repeat = {**base, "uuid": "another-block"}  # one line per content block, same usage
    side = f.cc_line(id="msg_A", request_id="req_2", sidechain=True, input_tokens=10, output_tokens=500)
    side_only = f.cc_line(id="msg_B", request_id="req_3", sidechain=True, input_tokens=1, output_tokens=1)
    bigger = f.cc_line(id="msg_B", request_id="req_4", sidechain=True, input_tokens=9, output_tokens=9)
    synthetic = f.cc_line(id="msg_C", model="<synthetic>", input_tokens=0, output_tokens=0)
    user = {
        "type": "user",
        "sessionId": "sess-9",
        "message": {"role": "user", "content": "fix the test"},
        "timestamp": "2026-09-02T10:00:00Z",
    }
    summary = {"type": "summary", "summary": "Fixing tests", "leafUuid": "x"}
    lines = [user, side, base, repeat, side_only, bigger, synthetic, summary]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    reader = detect_format(path.read_bytes(), Settings(), str(path))
    assert reader.name == "claude_code"
    ctx = Context(source_file=str(path), path=path, ingest_id="t")
    p = parse_chunk(reader, path.read_bytes(), 1, ctx)
    rows = p.rows.sort("message_id")
    assert rows["message_id"].to_list() == ["msg_A", "msg_B"]
    assert rows["request_id"].to_list() == ["req_1", "req_4"]  # non-sidechain wins; else larger total
    assert rows["project"].to_list() == ["-home-dev-src-app"] * 2
    assert rows["session_id"].to_list() == ["sess-1", "sess-1"]  # sessionId field wins over the file name
    assert p.skipped["synthetic message"] == 1 and p.skipped["duplicate within file"] == 3
    assert p.skipped["user line (no usage)"] == 1 and p.skipped["summary line (no usage)"] == 1


def test_detection_errors_name_the_formats_tried() -> None:
    with pytest.raises(SourceError, match="tried anthropic_batch, claude_code, anthropic_messages"):
        detect_format(b'{"hello": "world"}\n', Settings(), "x.jsonl")


def test_gzip_and_stdin_inputs(tmp_path: Path, settings: Settings) -> None:
    import gzip
    import io

    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress((json.dumps(f.logged()) + "\n").encode()))
    assert ingest([gz], settings).rows_added == 1
    data = gzip.compress((json.dumps(f.logged()) + "\n").encode())
    res = ingest(["-"], settings, stdin=io.BytesIO(data))
    assert res.rows_added == 1 and res.formats == {"anthropic_messages": 1}


def test_chunks_smaller_than_the_file_keep_line_numbers(tmp_path: Path, write: Any) -> None:
    lines: list[Any] = [f.logged() for _ in range(50)]
    lines[30] = "garbage"
    path = write("many.jsonl", lines)
    small = load_settings(data_dir=tmp_path / "d", chunk_bytes=2048)
    res = ingest([path], small)
    assert res.rows_added == 49 and [r["line"] for r in res.rejects] == [31]
    assert sorted(
        pl.read_parquet(str(tmp_path / "d" / "requests" / "**" / "*.parquet"))["source_line"].to_list()
    ) == [n for n in range(1, 51) if n != 31]


# --- properties ------------------------------------------------------------------------------------

token = st.integers(min_value=0, max_value=2_000_000)
valid_record = st.builds(
    lambda i, o, r, w5, w1, geo, tier, model: f.logged(
        input_tokens=i,
        output_tokens=o,
        cache_read=r,
        cache_creation=w5 + w1,
        split=(w5, w1),
        inference_geo=geo,
        service_tier=tier,
        model=model,
    ),
    token,
    token,
    token,
    token,
    token,
    st.sampled_from([None, "us", "global"]),
    st.sampled_from(["standard", "batch", "priority"]),
    st.sampled_from(["claude-opus-4-6", "claude-haiku-4-5-20251001", "claude-sonnet-4-5", "unknown-model"]),
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(valid_record, min_size=1, max_size=8))
def test_valid_records_round_trip(records: list[dict[str, Any]]) -> None:
    fast, exact = parse(records), parse(records, exact=True)
    assert fast.path_used == "fast"
    assert fast.rows.equals(exact.rows)
    assert fast.rows.height == len(records) and not fast.rejects
    for rec, row in zip(records, fast.rows.sort("source_line").to_dicts(), strict=True):
        u = rec["response"]["usage"]
        assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (
            u["input_tokens"],
            u["output_tokens"],
            u["cache_read_input_tokens"],
        )
        assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (
            u["cache_creation"]["ephemeral_5m_input_tokens"],
            u["cache_creation"]["ephemeral_1h_input_tokens"],
        )


garbage = st.one_of(
    st.text(max_size=60).filter(lambda s: "\n" not in s and "\r" not in s),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ").decode("latin-1")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["usage", "response", "model", "ts", "input_tokens", "type"]),
                inner,
                max_size=3,
            )
        ),
        max_leaves=8,
    ).map(lambda v: json.dumps(v)),
)


@hsettings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(valid_record.map(json.dumps), garbage), min_size=1, max_size=10))
def test_any_garbage_is_accounted_for_and_never_crashes(lines: list[str]) -> None:
    p = parse(lines)
    n_skipped = sum(p.skipped.values())
    assert p.rows.height + n_skipped + len(p.rejects) == p.lines
    assert all(r["reason"] and r["line"] >= 1 for r in p.rejects)
    exact = parse(lines, exact=True)
    assert exact.rows.height == p.rows.height
    assert sorted(r["line"] for r in exact.rejects) == sorted(r["line"] for r in p.rejects)


def _relayed(inner: dict[str, Any]) -> dict[str, Any]:
    """A parent session's `agent_progress` line relaying a subagent's line, as Claude Code writes it."""
    return {
        "parentUuid": None,
        "isSidechain": False,
        "type": "progress",
        "sessionId": "parent",
        "cwd": "/home/dev/src/app",
        "version": "2.0.14",
        "data": {"message": inner, "normalizedMessages": [], "type": "agent_progress", "agentId": "a1"},
        "uuid": "relay-1",
        "timestamp": inner["timestamp"],
    }


def test_a_relayed_copy_never_wins_over_the_subagents_own_transcript(tmp_path: Path) -> None:
    # the parent relays the subagent's call while it streams (29 output tokens so far); the
    # subagent's own transcript, read after the parent, holds the final usage (894)
    early = f.cc_line(session="agent", sidechain=True, id="msg_sub1", output_tokens=29, input_tokens=7)
    final = f.cc_line(session="agent", sidechain=True, id="msg_sub1", output_tokens=894, input_tokens=7)
    project = tmp_path / "projects" / "-home-dev-src-app"
    parent = project / "parent.jsonl"
    own = project / "other-session" / "subagents" / "agent-a1.jsonl"
    own.parent.mkdir(parents=True)
    parent.write_text(
        json.dumps(f.cc_line(session="parent", id="msg_main")) + "\n" + json.dumps(_relayed(early)) + "\n"
    )
    own.write_text(json.dumps(final) + "\n")
    for name, files in (("both", [parent, own]), ("parent only", [parent])):
        data = tmp_path / name
        ingest([str(p) for p in files], load_settings(data_dir=data))
        rows = tierlens.open(data).collect()
        sub = rows.filter(pl.col("message_id") == "msg_sub1")
        assert sub.height == 1 and rows.height == 2
        # without its own transcript, the relayed copy is the only record of the call: it counts
        assert sub["output_tokens"].item() == (894 if name == "both" else 29)


def _session_tree(root: Path) -> list[Path]:
    """Three small Claude Code sessions in two projects: a copy within a file, a copy across
    files, a bad line, a file without a session id, a file without a final newline, a relayed
    subagent call and an empty file."""
    a = root / "projects" / "-home-dev-app" / "sess-a.jsonl"
    b = root / "projects" / "-home-dev-lib" / "sess-b.jsonl"
    c = root / "projects" / "-home-dev-lib" / "deep" / "sess-c.jsonl"
    empty = root / "projects" / "-home-dev-lib" / "sess-empty.jsonl"
    for p in (a, c):
        p.parent.mkdir(parents=True, exist_ok=True)
    one = f.cc_line(session="sess-a", id="msg_1", request_id="req_1", input_tokens=10, output_tokens=5)
    a.write_text("".join(json.dumps(x) + "\n" for x in [one, {**one, "uuid": "block-2"}]))
    anonymous = {k: v for k, v in f.cc_line(id="msg_2", request_id="req_2").items() if k != "sessionId"}
    b.write_text(
        json.dumps(anonymous)
        + "\n"
        + '{"type": "assistant", "message": \n'
        + json.dumps(f.cc_line(session="sess-b", id="msg_1", request_id="req_1", output_tokens=50))
        + "\n"
    )
    relayed = _relayed(f.cc_line(session="agent", sidechain=True, id="msg_sub", output_tokens=7))
    c.write_text(
        json.dumps(f.cc_line(session="sess-c", id="msg_3", request_id="req_3")) + "\n" + json.dumps(relayed)
    )
    empty.write_text("")
    return [a, b, c, empty]


def _ingested(data: Path, files: list[Path]) -> tuple[pl.DataFrame, Any]:
    res = ingest([str(p) for p in files], load_settings(data_dir=data))
    rows = tierlens.open(data).collect().drop("ingest_id").sort("source_file", "source_line")
    return rows, res


def test_small_sessions_parsed_together_keep_each_files_rows_lines_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierlens.sources.claude_code import ClaudeCodeReader

    files = _session_tree(tmp_path)
    joined, res = _ingested(tmp_path / "joined", files)
    monkeypatch.setattr(ClaudeCodeReader, "joins_files", False)
    alone, ref = _ingested(tmp_path / "alone", files)
    assert joined.equals(alone)
    assert joined.height == 4  # msg_1 once (the first file's), msg_2, msg_3, the relayed msg_sub
    by_message = {r["message_id"]: r for r in joined.to_dicts()}
    assert by_message["msg_1"]["source_file"] == str(files[0]) and by_message["msg_1"]["output_tokens"] == 5
    assert by_message["msg_2"]["session_id"] == "sess-b"  # the file's name, when the line has none
    assert (
        by_message["msg_2"]["project"] == "-home-dev-lib"
        and by_message["msg_3"]["project"] == "-home-dev-lib"
    )
    assert by_message["msg_3"]["source_line"] == 1 and by_message["msg_sub"]["source_line"] == 2
    assert [(r["file"], r["line"]) for r in res.rejects] == [(str(files[1]), 2)]
    for key in ("lines_read", "records_read", "duplicates_skipped", "skipped", "files", "files_skipped"):
        assert getattr(res, key) == getattr(ref, key), key
    assert [(r["file"], r["line"], r["sha256"]) for r in res.rejects] == [
        (r["file"], r["line"], r["sha256"]) for r in ref.rejects
    ]


def test_a_file_that_breaks_a_joined_parse_is_reported_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tierlens.ingest as ingest_module

    files = _session_tree(tmp_path)
    real = ingest_module.parse_batch

    def breaks_on_b(reader: Reader, batch: Any, ctx: Context, **kw: Any) -> Parsed:
        if ctx.parts or ctx.source_file == str(files[1]):
            raise SourceError("unreadable")
        return real(reader, batch, ctx, **kw)

    monkeypatch.setattr(ingest_module, "parse_batch", breaks_on_b)
    rows, res = _ingested(tmp_path / "data", files)
    assert res.files_failed == [f"{files[1]}: unreadable"]
    assert sorted(rows["message_id"].to_list()) == ["msg_1", "msg_3", "msg_sub"]
