"""Real logs from public repositories (tests/realworld, see its SOURCES.md), priced to $0.000001.

The corpus is ingested the way a user would: one call on the whole directory, formats detected.
Each file's expected requests (tests/realworld/expected.json) were read from the raw data by hand,
without tierlens; the prices below are typed from the providers' pricing pages (USD per million
tokens), not taken from our price table. So a reader that misreads a shape, or a pricer that
misapplies a rule, fails here against numbers it did not produce.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import polars as pl
import pytest

import tierlens
from tests.paths import TESTS
from tierlens.config import Settings
from tierlens.ingest import IngestResult, ingest
from tierlens.sources.otel import OPENLIT_NO_CACHE_NOTE

CORPUS = TESTS / "realworld"
EXPECTED: dict[str, list[dict[str, Any]]] = json.loads((CORPUS / "expected.json").read_text())

# (input, 5m cache write, 1h cache write, cache read, output): platform.claude.com/docs/en/about-claude/pricing
CLAUDE = {
    "claude-3-opus": (15, 18.75, 30, 1.50, 75),
    "claude-opus-4": (15, 18.75, 30, 1.50, 75),
    "claude-opus-4-1": (15, 18.75, 30, 1.50, 75),
    "claude-opus-4-6": (5, 6.25, 10, 0.50, 25),
    "claude-opus-4-8": (5, 6.25, 10, 0.50, 25),
    "claude-opus-5": (5, 6.25, 10, 0.50, 25),
    "claude-sonnet-4": (3, 3.75, 6, 0.30, 15),
    "claude-sonnet-4-5": (3, 3.75, 6, 0.30, 15),
    "claude-sonnet-4-6": (3, 3.75, 6, 0.30, 15),
    "claude-sonnet-5": (2, 2.50, 4, 0.20, 10),
    "claude-haiku-4-5": (1, 1.25, 2, 0.10, 5),
}
# (input, cached input, output): openai.com/api/pricing
OPENAI = {
    "gpt-4o": (2.50, 1.25, 10),
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-5": (1.25, 0.125, 10),
    "o4-mini": (1.10, 0.275, 4.40),
    "o3-mini": (1.10, 0.55, 4.40),
    "gpt-4o-search-preview": (2.50, 2.50, 10),  # no cached-input price: cached tokens cost input
    "gpt-3.5-turbo": (0.50, 0.50, 1.50),
    "gpt-3.5-turbo-0125": (0.50, 0.50, 1.50),
    # gpt-5.6-sol before its 2026-08-21 cut (the cassettes are of 2026-07): $5 in, $0.50 cached, $30 out,
    # prompt-cache writes at 1.25x input; prices above 272K prompt tokens do not apply here
    "gpt-5.6-sol": (5.00, 0.50, 30),
}
OPENAI_CACHE_WRITE = {"gpt-5.6-sol": 6.25}
# (input, output): aws.amazon.com/bedrock/pricing, Amazon Nova on-demand
BEDROCK = {"amazon.nova-lite": (0.06, 0.24)}
WEB_SEARCH = 0.01  # Anthropic and OpenAI: $10 per 1,000 searches (OpenAI's preview tool on gpt-4o: $25)
FILE_SEARCH = 0.0025  # OpenAI: $2.50 per 1,000 calls
CONTAINER = 0.03  # OpenAI code interpreter: $0.03 per container
FAST = {"claude-opus-4-6": 6}  # fast mode, where the model has it


def family(logged: str) -> str:
    """The priced model of a logged id, by hand: routing prefixes and date/version suffixes off."""
    m = logged.lower().split("/")[-1]
    m = re.sub(r"^(global|us|eu|apac|jp|au)\.", "", m)
    m = re.sub(r"^anthropic\.", "", m)
    m = re.sub(r"(-v\d+(:\d+)?)$", "", m)
    m = re.sub(r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "", m)
    return m


def expected_cost(r: dict[str, Any]) -> float | None:
    """The bill of one request by the providers' rules, or None where the provider's price is unknown here."""
    model = r["model"]
    if model is None or r["image_generation"]:
        return None
    fam = family(model)
    batch = 0.5 if r["service_tier"] in ("batch",) or (fam in OPENAI and r["service_tier"] == "flex") else 1.0
    regional = 1.1 if re.match(r"^(\w+/)*(us|eu|apac|jp|au)\.", model) and fam == "claude-haiku-4-5" else 1.0
    if fam in CLAUDE:
        if r["speed"] == "fast" and fam not in FAST:
            return None
        inp, w5, w1h, read, out = CLAUDE[fam]
        mult = batch * regional * (FAST.get(fam, 1) if r["speed"] == "fast" else 1)
        tokens = (
            r["input"] * inp + r["cache_write_5m"] * w5 + r["cache_write_1h"] * w1h + r["cache_read"] * read
        ) + r["output"] * out
        return tokens / 1e6 * mult + r["web_search"] * WEB_SEARCH
    if fam in OPENAI:
        inp, cached, out = OPENAI[fam]
        written = r["cache_write_5m"]
        if written and fam not in OPENAI_CACHE_WRITE:
            return None
        tokens = r["input"] * inp + r["cache_read"] * cached + r["output"] * out
        tokens += written * OPENAI_CACHE_WRITE.get(fam, 0)
        fees = (
            r["web_search"] * WEB_SEARCH + r["file_search"] * FILE_SEARCH + r["code_interpreter"] * CONTAINER
        )
        return tokens / 1e6 * batch + fees
    if fam in BEDROCK:
        inp, out = BEDROCK[fam]
        return (r["input"] * inp + r["output"] * out) / 1e6
    return None


def unit(file: str) -> str:
    """Where a request is expected: its file, or for Claude Code its project (a subagent's call is in
    both its own transcript and its parent's progress lines; which file the store keeps it from is
    not the point)."""
    return "/".join(file.split("/")[:3]) if file.startswith("claude_code/") else file


UNITS: dict[str, list[dict[str, Any]]] = defaultdict(list)
for _file, _requests in EXPECTED.items():
    UNITS[unit(_file)] += _requests


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[IngestResult, pl.DataFrame]:
    data = tmp_path_factory.mktemp("realworld")
    result = ingest([CORPUS], Settings(data_dir=data))
    rows = tierlens.open(data).collect()
    rel = pl.col("source_file").str.replace(f"^{re.escape(str(CORPUS))}/", "")
    return result, rows.with_columns(file=rel.map_elements(unit, return_dtype=pl.String))


def test_one_call_reads_every_file_of_many_tools(corpus: tuple[IngestResult, pl.DataFrame]) -> None:
    result, rows = corpus
    ignored = sum(1 for _ in (CORPUS / "sse").iterdir()) + 1  # the raw SSE twins and expected.json
    assert result.files_skipped == [f"{CORPUS}: {ignored} file(s) listed in {CORPUS / '.tierlensignore'}"]
    assert result.rejected == {}, result.rejects[:5]
    assert set(rows["file"].unique()) == {f for f, reqs in UNITS.items() if reqs}
    formats = set(result.formats)
    assert {
        "anthropic_messages",
        "anthropic_batch",
        "claude_code",
        "openai",
        "litellm",
        "bedrock",
        "otel",
    } <= formats
    assert len(EXPECTED) >= 15 and sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file()) < 5 * 2**20


def test_each_file_has_the_requests_and_tokens_read_by_hand(
    corpus: tuple[IngestResult, pl.DataFrame],
) -> None:
    _, rows = corpus
    columns = {
        "input": "input_tokens",
        "cache_read": "cache_read_tokens",
        "cache_write_5m": "cache_write_5m_tokens",
        "cache_write_1h": "cache_write_1h_tokens",
        "output": "output_tokens",
        "web_search": "web_search_requests",
    }
    for file, requests in UNITS.items():
        got = rows.filter(pl.col("file") == file)
        assert got.height == len(requests), file
        for key, col in columns.items():
            assert got[col].sum() == sum(r[key] for r in requests), (file, key)


def test_every_priced_request_matches_its_independent_cost(corpus: tuple[IngestResult, pl.DataFrame]) -> None:
    _, rows = corpus
    mismatched = []
    for file, requests in UNITS.items():
        got = rows.filter(pl.col("file") == file)
        by_model: dict[str | None, list[float | None]] = defaultdict(list)
        for r in requests:
            by_model[r["model"]].append(expected_cost(r))
        for model, costs in by_model.items():
            mine = got.filter(pl.col("model").eq_missing(pl.lit(model, pl.String)))
            known = [c for c in costs if c is not None]
            assert mine.filter(~pl.col("priced")).height == len(costs) - len(known), (file, model)
            total = mine.filter(pl.col("priced"))["cost_usd"].sum()
            if abs(total - sum(known)) > 1e-6:
                mismatched.append((file, model, total, sum(known)))
    assert mismatched == []


def test_what_cannot_be_priced_is_counted_and_named(corpus: tuple[IngestResult, pl.DataFrame]) -> None:
    result, rows = corpus
    # OpenLIT 1.27 reports no cache tokens at all: its span is priced as logged, and the summary says so
    assert result.notes == {OPENLIT_NO_CACHE_NOTE: 1}
    unpriced = rows.filter(~pl.col("priced"))
    assert unpriced["cost_usd"].null_count() == unpriced.height  # never $0
    named = set(unpriced["model"].to_list())
    assert named == set(result.unpriced)
