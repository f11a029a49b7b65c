"""Shapes real tools write that the corpus holds no sample of: truncated streams, fast mode, time
fallbacks, Claude Code's default roots and symlinked projects. Costs are computed by hand here."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tierlens
from tests.paths import TESTS
from tierlens.config import Settings
from tierlens.errors import SourceError
from tierlens.ingest import ingest
from tierlens.sources.claude_code import claude_code_roots

REAL = TESTS / "realworld"
STREAM = REAL / "anthropic" / "stream_plain_claude-opus-4-6.jsonl"


def write(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def rows(data: Path) -> pl.DataFrame:
    return tierlens.open(data).collect()


def test_a_stream_cut_before_message_stop_is_billed_as_incomplete(tmp_path: Path) -> None:
    events = STREAM.read_text().splitlines()
    cut = [e for e in events if '"message_stop"' not in e]
    (tmp_path / "cut.jsonl").write_text("\n".join(cut) + "\n")
    result = ingest([tmp_path / "cut.jsonl"], Settings(data_dir=tmp_path / "d"))
    (row,) = rows(tmp_path / "d").to_dicts()
    assert row["status"] == "incomplete"
    # its last cumulative usage: 17 in, 20 out on Opus 4.6 ($5 / $25 per MTok)
    assert row["cost_usd"] == pytest.approx((17 * 5 + 20 * 25) / 1e6, rel=1e-12)
    assert result.skipped["stream event (merged into its request)"] == len(cut) - 1


def test_events_without_their_start_are_counted_not_priced(tmp_path: Path) -> None:
    events = [e for e in STREAM.read_text().splitlines() if '"message_start"' not in e]
    (tmp_path / "tail.jsonl").write_text("\n".join(events) + "\n")
    result = ingest([tmp_path / "tail.jsonl"], Settings(data_dir=tmp_path / "d"))
    assert result.rows_added == 0 and result.rejected == {}
    merged = result.skipped.get("stream event (merged into its request)", 0)
    assert merged + result.skipped["stream events without their message_start"] == len(events)


def test_interleaved_streams_are_told_apart_by_the_gateways_request_id(tmp_path: Path) -> None:
    def stream(rid: str, mid: str, out: int) -> list[dict[str, Any]]:
        start = {"type": "message_start", "message": {"id": mid, "type": "message", "role": "assistant",
                 "model": "claude-haiku-4-5", "usage": {"input_tokens": 100, "output_tokens": 1}}}  # fmt: skip
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": out},
        }
        return [{"request_id": rid, "ts": "2026-11-02T10:00:00Z", "response": e}
                for e in (start, delta, {"type": "message_stop"})]  # fmt: skip

    a, b = stream("req_a", "msg_a", 40), stream("req_b", "msg_b", 7)
    mixed = [a[0], b[0], b[1], a[1], b[2], a[2]]
    ingest([write(tmp_path / "gw.jsonl", mixed)], Settings(data_dir=tmp_path / "d", chunk_bytes=1024))
    got = {r["message_id"]: r["output_tokens"] for r in rows(tmp_path / "d").to_dicts()}
    assert got == {"msg_a": 40, "msg_b": 7}


def test_fast_mode_is_billed_at_the_models_multiplier(tmp_path: Path) -> None:
    def msg(mid: str, model: str, speed: str) -> dict[str, Any]:
        return {"ts": "2026-11-02T10:00:00Z", "response": {"id": mid, "type": "message", "role": "assistant",
                "model": model, "usage": {"input_tokens": 1000, "output_tokens": 100, "speed": speed}}}  # fmt: skip

    lines = [msg("m1", "claude-opus-4-6", "fast"), msg("m2", "claude-opus-4-8", "fast"),
             msg("m3", "claude-opus-4-6", "standard"), msg("m4", "claude-sonnet-4-6", "fast")]  # fmt: skip
    ingest([write(tmp_path / "fast.jsonl", lines)], Settings(data_dir=tmp_path / "d"))
    got = {r["message_id"]: r for r in rows(tmp_path / "d").to_dicts()}
    base = (1000 * 5 + 100 * 25) / 1e6  # Opus 4.6 and 4.8 list price
    assert got["m1"]["cost_usd"] == pytest.approx(base * 6, rel=1e-12)  # $30 / $150
    assert got["m2"]["cost_usd"] == pytest.approx(base * 2, rel=1e-12)  # $10 / $50
    assert got["m3"]["cost_usd"] == pytest.approx(base, rel=1e-12)
    assert (
        not got["m4"]["priced"] and got["m4"]["cost_usd"] is None
    )  # Sonnet has no fast mode: unknown, not $0
    assert got["m1"]["speed"] == "fast" and got["m3"]["speed"] == "standard"


def test_a_saved_response_without_time_takes_the_file_time_or_a_field(tmp_path: Path) -> None:
    body = json.loads((REAL / "anthropic" / "msg_plain_claude-opus-4-6.json").read_text())
    path = write(tmp_path / "saved.jsonl", [body])
    os.utime(path, (1764583200, 1764583200))  # 2025-12-01T10:00:00Z
    result = ingest([path], Settings(data_dir=tmp_path / "a"))
    (row,) = rows(tmp_path / "a").to_dicts()
    assert row["ts_source"] == "file_mtime" and row["ts"].isoformat() == "2025-12-01T10:00:00+00:00"
    assert any("modification time" in note for note in result.timestamps)
    write(path, [{**body, "saved_at": "2026-02-03T04:05:06Z"}])
    ingest([path], Settings(data_dir=tmp_path / "b"), ts_from="saved_at")
    (row,) = rows(tmp_path / "b").to_dicts()
    assert row["ts_source"] == "log" and row["ts"].isoformat() == "2026-02-03T04:05:06+00:00"


def test_claude_code_roots_follow_claude_config_dir(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "projects").mkdir(parents=True)
    env = {"CLAUDE_CONFIG_DIR": f"{tmp_path / 'a'}, {tmp_path / 'b'},{tmp_path / 'missing'}"}
    assert claude_code_roots(env) == [tmp_path / "a" / "projects", tmp_path / "b" / "projects"]
    with pytest.raises(SourceError, match="no Claude Code logs found"):
        claude_code_roots({"CLAUDE_CONFIG_DIR": str(tmp_path / "missing")})


def test_symlinked_and_dot_named_projects_are_read_once(tmp_path: Path) -> None:
    real = REAL / "claude_code" / "projects" / "-home-user-project-beta"
    projects = tmp_path / ".claude" / "projects"
    projects.mkdir(parents=True)
    (projects / ".dotfiles").symlink_to(real, target_is_directory=True)
    (projects / "loop").symlink_to(projects, target_is_directory=True)  # a loop ends where it starts
    ingest([tmp_path / ".claude"], Settings(data_dir=tmp_path / "d"))
    got = rows(tmp_path / "d")
    assert set(got["project"]) == {".dotfiles"}
    assert got.height == 2  # session-beta's two requests, read once despite the loop


def test_a_file_goes_to_the_reader_that_prices_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were OpenAI's sniffer to claim a Claude response for its `output_tokens_details` (as it once
    did), detection still gives the file to the reader under which its rows are priced."""
    from tierlens.sources.openai import OpenAIReader

    claims = lambda self, obj: "output_tokens_details" in (obj.get("usage") or {})  # noqa: E731
    monkeypatch.setattr(OpenAIReader, "sniff", claims)
    body = json.loads((REAL / "anthropic" / "msg_thinking_claude-opus-5.json").read_text())
    result = ingest([write(tmp_path / "claude.jsonl", [body])], Settings(data_dir=tmp_path / "d"))
    assert result.formats == {"anthropic_messages": 1}
    (row,) = rows(tmp_path / "d").to_dicts()
    assert row["priced"] and row["cost_usd"] == pytest.approx((13 * 5 + 44 * 25) / 1e6, rel=1e-12)


def test_the_report_counts_fast_mode_apart(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tierlens.cli import main

    def msg(mid: str, speed: str) -> dict[str, Any]:
        return {"ts": "2026-11-03T10:00:00Z", "response": {"id": mid, "type": "message", "role": "assistant",
                "model": "claude-opus-4-8", "usage": {"input_tokens": 1000, "output_tokens": 100, "speed": speed}}}  # fmt: skip

    data = tmp_path / "d"
    ingest(
        [write(tmp_path / "fast.jsonl", [msg("m1", "fast"), msg("m2", "standard")])], Settings(data_dir=data)
    )
    args = [
        "report",
        "--data",
        str(data),
        "--since",
        "2026-11-02",
        "--until",
        "2026-11-09",
        "--format",
        "json",
    ]
    out = CliRunner().invoke(main, args, catch_exceptions=False)
    savings = json.loads(out.output)["savings"]
    base = (1000 * 5 + 100 * 25) / 1e6
    assert savings["fast_premium_usd"] == pytest.approx(base, rel=1e-9)  # 2x on Opus 4.8: one more base
    assert savings["actual_cost_usd"] == pytest.approx(3 * base, rel=1e-9)


@pytest.mark.parametrize("sse", sorted((REAL / "sse").glob("*.sse")), ids=lambda p: p.stem)
def test_a_raw_sse_body_reads_as_its_events(sse: Path, tmp_path: Path) -> None:
    """A cassette's raw `event:`/`data:` text gives the rows its `data:` payloads give as JSON lines."""
    ingest([sse], Settings(data_dir=tmp_path / "raw"))
    ingest([REAL / "anthropic" / f"{sse.stem}.jsonl"], Settings(data_dir=tmp_path / "lines"))
    keep = ["dedupe_key", "model", "input_tokens", "cache_read_tokens", "cache_write_5m_tokens",
            "cache_write_1h_tokens", "output_tokens", "web_search_requests", "status", "cost_usd"]  # fmt: skip
    raw, lines = (rows(tmp_path / d).select(keep).sort("dedupe_key") for d in ("raw", "lines"))
    assert raw.height > 0 and raw.equals(lines)


def _eager_samples(chunk: bytes) -> list[Any]:
    """The first SAMPLE_RECORDS decodable non-blank lines, decoded all at once."""
    from tierlens.sources.inputs import SAMPLE_RECORDS

    out: list[Any] = []
    for line in chunk.split(b"\n"):
        if len(out) == SAMPLE_RECORDS:
            break
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


_LINES = st.one_of(
    st.builds(
        lambda v: json.dumps(v).encode(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    ),
    st.sampled_from([b"", b"  ", b"{not json", b"null", b"[1, 2]", b'"text"', b"\xff\xfe"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, max_size=40), st.integers(0, 25))
def test_samples_decoded_on_demand_are_the_ones_decoded_at_once(lines: list[bytes], first: int) -> None:
    from tierlens.sources.inputs import LineSamples

    chunk = b"\n".join(lines)
    expected = _eager_samples(chunk)
    lazy = LineSamples(chunk)
    assert list(itertools.islice(lazy, first)) == expected[:first]  # a partial look decodes no more
    assert list(lazy) == expected and len(lazy) == len(expected) and lazy[:] == expected


def test_a_transcript_in_claude_codes_layout_is_claude_code_from_its_first_claimed_line(
    tmp_path: Path,
) -> None:
    """In `projects/<project>/`, the first line only the Claude Code reader claims settles the
    format; the same lines elsewhere are sniffed in full (a later OpenAI response makes a second
    candidate there)."""
    from tests import factories as f
    from tierlens.sources.detect import detect_candidates, in_claude_code_layout
    from tierlens.sources.inputs import LineSamples

    openai_response = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1756800000,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }
    chunk = b"".join(
        json.dumps(x).encode() + b"\n" for x in [{"type": "summary"}, f.cc_line(), openai_response]
    )
    inside = tmp_path / "home" / ".claude" / "projects" / "-home-dev-app" / "s1.jsonl"
    subagent = inside.parent / "s1" / "subagents" / "agent-a1.jsonl"
    elsewhere = tmp_path / "logs" / "s1.jsonl"
    assert in_claude_code_layout(inside) and in_claude_code_layout(subagent)
    assert not in_claude_code_layout(elsewhere) and not in_claude_code_layout(
        tmp_path / "projects" / "x.jsonl"
    )
    settings_ = Settings(data_dir=tmp_path / "d")
    assert [r.name for r in detect_candidates(LineSamples(chunk), settings_, "s1", inside)] == ["claude_code"]
    names = [r.name for r in detect_candidates(LineSamples(chunk), settings_, "s1", elsewhere)]
    assert names[0] == "claude_code" and "openai" in names
