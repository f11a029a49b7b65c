"""Custom `[sources.NAME]` mappings: any CSV or JSON-lines log, field paths to canonical columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import tierlens
from tests.fixtures.readers import (
    FIXTURES,
    assert_accounted,
    garbage,
    parse_bytes,
    parse_lines,
    priced,
    token,
    usd,
)
from tierlens.cli import main
from tierlens.config import Settings, load_settings
from tierlens.errors import ConfigError
from tierlens.ingest import ingest
from tierlens.sources.exprs import BAD_TIME

GATEWAY = {
    "files": ["gateway-*.csv"],
    "format": "csv",
    "delimiter": ";",
    "timestamp_format": "%d/%m/%Y %H:%M:%S",
    "timezone": "Europe/Berlin",
    "token_convention": "input_includes_cache",
    "fields": {
        "ts": "time",
        "model": "model_name",
        "input_tokens": "tokens_in",
        "cache_read_tokens": "cached",
        "output_tokens": "tokens_out",
        "feature": "app",
        "request_id": "request",
    },
}
JSONL = {
    "timestamp_format": "epoch_ms",
    "fields": {
        "ts": "t",
        "model": ["usage.model", "model"],
        "provider": "vendor",
        "input_tokens": "usage.in",
        "output_tokens": "usage.out",
        "cache_write_tokens": "usage.cache_write",
        "tags": "labels",
        "logged_cost_usd": "cost",
        "user_id": "who",
    },
}


def with_sources(**sources: dict[str, Any]) -> Settings:
    return load_settings(sources=sources)


def test_csv_mapping_by_file_glob_costs_by_hand(settings: Settings, tmp_path: Path) -> None:
    s = load_settings(data_dir=settings.data_dir, sources={"acme_gateway": GATEWAY})
    res = ingest([FIXTURES / "gateway-2026-09.csv"], s)
    assert (
        res.formats == {"acme_gateway": 1}
        and res.rows_added == 2
        and res.lines_read == 3
        and res.records_read == 2
    )
    a, b = tierlens.open(s.data_dir).collect().sort("ts").to_dicts()
    # tokens_in includes the cached tokens: 2000 uncached x 1 + 1000 read x 0.10 + 200 x 5 = $0.0031
    assert (a["input_tokens"], a["cache_read_tokens"], a["source"]) == (2000, 1000, "acme_gateway")
    assert a["cost_usd"] == pytest.approx(usd((2000, 1), (1000, 0.1), (200, 5)), rel=1e-12)
    assert b["cost_usd"] == pytest.approx(usd((1000, 3), (100, 15)), rel=1e-12)
    # 12:00 in Berlin (CEST) is 10:00 UTC
    assert a["ts"] == datetime(2026, 9, 1, 10, tzinfo=UTC) and a["feature"] == "email-drafter"
    assert a["dedupe_key"] == "acme_gateway:gw-0001" and a["source_line"] == 2


@pytest.mark.parametrize("exact", [False, True])
def test_jsonl_mapping_with_provider_tags_and_logged_cost(exact: bool) -> None:
    settings = with_sources(vendor_log=JSONL)
    lines = [
        {
            "t": 1788256800000,
            "vendor": "openai",
            "usage": {"model": "gpt-4.1-mini", "in": 1000, "out": 100},
            "labels": ["feature:x"],
            "cost": 0.0006,
            "who": "u1",
        },
        {
            "t": "1788256860000",
            "model": "claude-haiku-4-5",
            "usage": {"in": 1000, "out": 100, "cache_write": 400},
            "who": "u2",
        },
    ]
    p = parse_lines("vendor_log", lines, settings, exact=exact)
    assert not p.rejects
    a, b = priced(p.rows, settings).sort("source_line").to_dicts()
    assert (a["provider"], a["model_id"], a["tags"], a["logged_cost_usd"]) == (
        "openai",
        "gpt-4.1-mini",
        ["feature:x"],
        0.0006,
    )
    assert a["cost_usd"] == pytest.approx(usd((1000, 0.4), (100, 1.6)), rel=1e-12)
    assert a["ts"] == datetime(2026, 9, 1, 10, tzinfo=UTC)
    # input excludes cache by default; cache_write_tokens are 5-minute writes
    assert (b["provider"], b["input_tokens"], b["cache_write_5m_tokens"]) == ("anthropic", 1000, 400)
    assert b["cost_usd"] == pytest.approx(usd((1000, 1), (400, 1.25), (100, 5)), rel=1e-12)


def test_mapping_is_detected_by_content_after_the_builtin_formats(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d", sources={"vendor_log": JSONL})
    path = tmp_path / "vendor.jsonl"
    path.write_text(
        json.dumps({"t": 1788256800000, "model": "claude-haiku-4-5", "usage": {"in": 1, "out": 1}}) + "\n"
    )
    assert ingest([path], settings).formats == {"vendor_log": 1}


def test_rejects_name_the_mapped_paths() -> None:
    settings = with_sources(gw=GATEWAY)
    body = "time;model_name;tokens_in;cached;tokens_out;app;request\n"
    body += "01/09/2026 12:00:00;claude-haiku-4-5;100;200;1;a;r1\n"  # cached > tokens_in
    body += "31/02/2026 12:00:00;claude-haiku-4-5;100;0;1;a;r2\n"  # no such day
    body += "01/09/2026 12:00:00;;100;0;1;a;r3\n"
    body += "01/09/2026 12:00:00;claude-haiku-4-5;1.5;0;1;a;r4\n"
    body += "01/09/2026 12:00:00;claude-haiku-4-5;100;0\n"
    p = parse_bytes("gw", body.encode(), settings)
    assert [(r["line"], r["reason"]) for r in p.rejects] == [
        (2, "cache tokens exceed the input tokens"),
        (3, BAD_TIME),
        (4, "missing model (model_name)"),
        (5, "tokens_in: expected an integer, got a number"),
        (6, "expected 7 CSV fields, got 4"),
    ]
    assert_accounted(p)


def test_config_errors_are_clear(tmp_path: Path) -> None:
    cfg = tmp_path / "tierlens.toml"
    cfg.write_text('[sources.gw]\nfields = {ts = "t", model = "m", input_tokens = "i", output_token = "o"}\n')
    with pytest.raises(
        ConfigError, match="unknown column 'output_token' \\(did you mean 'output_tokens'\\?\\)"
    ):
        load_settings(cfg)
    cfg.write_text('[sources.gw]\nfields = {ts = "t", model = "m"}\n')
    with pytest.raises(ConfigError, match="a mapping needs input_tokens, output_tokens"):
        load_settings(cfg)
    cfg.write_text('[sources.litelm]\nfeature = ["x"]\n')
    with pytest.raises(ConfigError, match="unknown source 'litelm' \\(did you mean 'litellm'"):
        load_settings(cfg)


def test_forced_format_and_unknown_format_name_the_choices(tmp_path: Path) -> None:
    cfg = tmp_path / "tierlens.toml"
    cfg.write_text(
        '[sources.gw]\nformat = "csv"\ndelimiter = ";"\nfields = {ts = "time", model = "model_name", input_tokens = "tokens_in", output_tokens = "tokens_out"}\n'
    )
    data = str(tmp_path / "data")
    ok = CliRunner().invoke(
        main,
        [
            "--config",
            str(cfg),
            "ingest",
            str(FIXTURES / "gateway-2026-09.csv"),
            "--data",
            data,
            "--format",
            "gw",
        ],
    )
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(
        main,
        [
            "--config",
            str(cfg),
            "ingest",
            str(FIXTURES / "gateway-2026-09.csv"),
            "--data",
            data,
            "--format",
            "nope",
        ],
    )
    assert bad.exit_code == 2 and "known formats: anthropic_batch" in bad.output and "gw" in bad.output


# --- properties ------------------------------------------------------------------------------------

valid = st.builds(
    lambda i, u, o, w, m: {
        "t": 1788256800000 + i,
        "model": m,
        "usage": {"in": u, "out": o, "cache_write": w},
        "id": i,
    },
    st.integers(0, 10**9),
    token,
    token,
    token,
    st.sampled_from(["claude-haiku-4-5", "claude-opus-4-6", "anything"]),
)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(valid, min_size=1, max_size=6))
def test_valid_records_round_trip(records: list[dict[str, Any]]) -> None:
    settings = with_sources(v=JSONL)
    fast, exact = parse_lines("v", records, settings), parse_lines("v", records, settings, exact=True)
    assert fast.rows.equals(exact.rows) and not fast.rejects
    for rec, row in zip(records, fast.rows.sort("source_line").to_dicts(), strict=True):
        u = rec["usage"]
        assert (row["input_tokens"], row["cache_write_5m_tokens"], row["output_tokens"]) == (
            u["in"],
            u["cache_write"],
            u["out"],
        )


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(valid.map(json.dumps), garbage(["t", "model", "usage", "in", "out", "labels", "cost"])),
        min_size=1,
        max_size=8,
    )
)
def test_garbage_never_crashes_mapped(lines: list[str]) -> None:
    settings = with_sources(v=JSONL)
    assert_accounted(parse_lines("v", lines, settings))
