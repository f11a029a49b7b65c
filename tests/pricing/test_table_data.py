"""Check the built-in price table (src/tierlens/pricing/data/) against FACTS.md and genai-prices.

The table in force is the vendored genai-prices snapshot (`genai_prices.csv`, written by
scripts/refresh_prices.py) with tierlens' corrections (`corrections.csv`) replacing the rows of the
models they name. Independent of the tierlens package on purpose: both files are read and merged
with the csv module and priced here with the rules of /work/shared/FACTS.md (rules 1-3, 5, 7, 8);
every expected value is then compared with `genai_prices.calc_price` (bundled data, no network).
The other ids a correction covers (`claude-opus-4.6`) and the random cross-check of every provider
are in tests/pricing/test_genai_prices.py.

Cases where genai-prices deliberately disagrees with FACTS.md are excluded one by one, each
with a comment naming the rule, and pinned by a `test_known_disagreement_*` test so that a
genai-prices upgrade that closes the gap is noticed. They are listed in docs/pricing.md.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from genai_prices import calc_price, extract_usage

from tests.paths import REPO

DATA = REPO / "src" / "tierlens" / "pricing" / "data"
CORRECTIONS, SNAPSHOT = DATA / "corrections.csv", DATA / "genai_prices.csv"

COLUMNS = [
    "provider", "model_id", "family", "tier", "effective_from", "effective_to",
    "input", "cache_write_5m", "cache_write_1h", "cache_read", "output",
    "lc_threshold", "lc_input", "lc_cache_write_5m", "lc_cache_write_1h", "lc_cache_read", "lc_output",
    "geo_us_multiplier", "regional_multiplier", "fast_multiplier",
    "web_search_call", "web_search_preview_call", "file_search_call", "code_interpreter_call", "image_generation_call",
    "tokenizer", "source",
]  # fmt: skip
FEE_KEYS = ("web_search_call", "web_search_preview_call", "file_search_call", "code_interpreter_call")
RATE_KEYS = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")
MTOK = Decimal(1_000_000)
WEB_SEARCH_USD = Decimal("0.01")  # FACTS rule 5: $10 per 1,000 searches
LATE_DATE = date(2026, 11, 1)  # inside every open window; after genai-prices' 2026-10-14 batch data
EARLY_DATE = date(2025, 12, 1)

# Genai-prices model id that each corrected model_id must resolve to (provider anthropic).
GENAI_MODEL_ID = {
    "claude-3-7-sonnet": "claude-3-7-sonnet-latest",
    "claude-3-5-haiku": "claude-3-5-haiku-latest",
    "claude-3-opus": "claude-3-opus-latest",
}
NOT_IN_GENAI = {"claude-mythos-5", "claude-mythos-5-1"}
"""Corrections for models genai-prices 0.2.3 lacks (FACTS late-2026 facts); pinned below."""
DATED = re.compile(r"\b20\d{2}-\d{2}(-\d{2})?\b")


# ---------------------------------------------------------------------------------------------
# table loading and the FACTS pricing rules
# ---------------------------------------------------------------------------------------------


def _dec(value: str) -> Decimal | None:
    return Decimal(value) if value != "" else None


@dataclass(frozen=True)
class Row:
    raw: dict[str, str]
    corrected: bool = False
    """From corrections.csv (else from the genai-prices snapshot)."""

    @property
    def provider(self) -> str:
        return self.raw["provider"]

    @property
    def model_id(self) -> str:
        return self.raw["model_id"]

    @property
    def window(self) -> tuple[date | None, date | None]:
        f, t = self.raw["effective_from"], self.raw["effective_to"]
        return (date.fromisoformat(f) if f else None, date.fromisoformat(t) if t else None)

    def rate(self, key: str) -> Decimal | None:
        return _dec(self.raw[key])

    @property
    def has_lc(self) -> bool:
        return self.raw["lc_threshold"] != ""

    @property
    def regional_multiplier(self) -> Decimal:
        return _dec(self.raw["regional_multiplier"]) or Decimal(1)

    @property
    def genai_id(self) -> str:
        """The genai-prices model the row is priced from (its source names it), or the corrected id's."""
        if self.corrected:
            return GENAI_MODEL_ID.get(self.model_id, self.model_id)
        return self.raw["source"].split()[2].split("/", 1)[1]

    @property
    def canonical(self) -> bool:
        """A correction, or a snapshot row keyed by its genai-prices model's own id (not another spelling)."""
        return (
            self.corrected
            or re.sub(r"(-latest|-\d{8}|-\d{4}-\d{2}-\d{2})$", "", self.genai_id) == self.model_id
        )

    @property
    def label(self) -> str:
        f, t = self.raw["effective_from"] or "-inf", self.raw["effective_to"] or "+inf"
        return f"{self.model_id}[{f},{t})"

    def test_dates(self) -> list[date]:
        """Dates inside [from, to): both window edges, plus LATE_DATE/EARLY_DATE when inside."""
        start, end = self.window
        dates = []
        if start is not None:
            dates.append(start)
        if end is not None:
            dates.append(end - timedelta(days=1))
        for d in (EARLY_DATE, LATE_DATE):
            if (start is None or d >= start) and (end is None or d < end):
                dates.append(d)
        return sorted(set(dates))


def read(path: Path) -> list[Row]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        return [Row(r, corrected=path == CORRECTIONS) for r in reader]


def load_rows() -> list[Row]:
    """The table in force: corrections replace the snapshot's rows of the same (provider, model_id)."""
    corrections = read(CORRECTIONS)
    corrected = {(r.provider, r.model_id) for r in corrections}
    return corrections + [r for r in read(SNAPSHOT) if (r.provider, r.model_id) not in corrected]


ROWS = load_rows()
PRIMARY = [r for r in ROWS if r.provider in {"anthropic", "openai"} and r.canonical]
"""Anthropic and OpenAI rows keyed by their model's own id (other spellings: test_genai_prices.py)."""


@dataclass(frozen=True)
class Mix:
    """One request. Anthropic semantics (FACTS rule 1): `uncached` excludes all cache tokens."""

    name: str
    uncached: int = 0
    cache_read: int = 0
    write_5m: int = 0
    write_1h: int = 0
    output: int = 0
    web_searches: int = 0
    split_writes: bool = True  # False: no `usage.cache_creation` object -> all writes are 5m

    @property
    def prompt(self) -> int:
        return self.uncached + self.cache_read + self.write_5m + self.write_1h


def facts_cost(row: Row, mix: Mix, *, batch: bool = False, multiplier: Decimal = Decimal(1)) -> Decimal:
    """Cost of `mix` from one CSV row using FACTS rules 1, 2, 3, 5 (and 7 via `multiplier`)."""
    prefix = ""
    if row.has_lc and mix.prompt > int(row.raw["lc_threshold"]):  # rule 2: strictly greater, prompt only
        prefix = "lc_"
    rates = {k: row.rate(prefix + k) for k in RATE_KEYS}
    tokens = {
        "input": mix.uncached,
        "cache_write_5m": mix.write_5m if mix.split_writes else mix.write_5m + mix.write_1h,
        "cache_write_1h": mix.write_1h if mix.split_writes else 0,
        "cache_read": mix.cache_read,
        "output": mix.output,
    }
    total = Decimal(0)
    for key, count in tokens.items():
        if count:
            rate = rates[key]
            assert rate is not None, f"{row.label}: {prefix}{key} is empty but {count} tokens need it"
            total += rate * count
    total = total / MTOK * multiplier
    if batch:  # rule 3
        total /= 2
    return total + WEB_SEARCH_USD * mix.web_searches  # rule 5 (no batch discount on searches)


def openai_cost(row: Row, prompt: int, cached: int, completion: int) -> Decimal:
    """FACTS rule 8: prompt includes cached tokens, completion includes reasoning tokens; a prompt over
    `lc_threshold` bills every token at the `lc_*` rates (OpenAI's long-context pricing, as rule 2)."""
    lc = "lc_" if row.has_lc and prompt > int(row.raw["lc_threshold"]) else ""
    inp, cr, out = row.rate(lc + "input"), row.rate(lc + "cache_read"), row.rate(lc + "output")
    assert inp is not None and cr is not None and out is not None
    return ((prompt - cached) * inp + cached * cr + completion * out) / MTOK


def anthropic_response(mix: Mix) -> dict[str, Any]:
    """A Messages API response body (the `model` key is left out: the model is passed to calc_price)."""
    usage: dict[str, Any] = {
        "input_tokens": mix.uncached,
        "output_tokens": mix.output,
        "cache_read_input_tokens": mix.cache_read,
        "cache_creation_input_tokens": mix.write_5m + mix.write_1h,
    }
    if mix.split_writes:
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": mix.write_5m,
            "ephemeral_1h_input_tokens": mix.write_1h,
        }
    if mix.web_searches:
        usage["server_tool_use"] = {"web_search_requests": mix.web_searches, "web_fetch_requests": 0}
    return {"usage": usage}


def genai_anthropic(
    model_ref: str, mix: Mix, day: date, *, provider_id: str = "anthropic", batch: bool = False
) -> genai_prices.types.PriceCalculation:
    usage = extract_usage(anthropic_response(mix), provider_id="anthropic").usage
    return calc_price(
        usage,
        model_ref,
        provider_id=provider_id,
        genai_request_timestamp=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12),
        price_context={"processing": "batch"} if batch else None,
    )


def assert_close(actual: Decimal, expected: Decimal, what: str) -> None:
    if expected == 0:
        assert actual == 0, what
        return
    rel = abs(actual - expected) / abs(expected)
    assert rel <= Decimal("1e-9"), f"{what}: genai-prices {actual} != table {expected}"


# ---------------------------------------------------------------------------------------------
# case generation
# ---------------------------------------------------------------------------------------------


def anthropic_mixes(row: Row) -> list[Mix]:
    threshold = int(row.raw["lc_threshold"]) if row.has_lc else 200_000
    rest = threshold - 40_000  # uncached part of a prompt of exactly `threshold` tokens
    mixes = [
        Mix("uncached+output", uncached=1_234, output=567),
        Mix("cache_read", uncached=10, cache_read=50_000, output=800),
        Mix("write_5m", uncached=20, write_5m=3_000, output=40),
        Mix("write_1h", uncached=100, write_1h=7_000, output=10),
        Mix("all_kinds", uncached=2_000, cache_read=30_000, write_5m=1_500, write_1h=2_500, output=900),
        Mix("writes_without_split", uncached=500, write_5m=4_000, output=100, split_writes=False),
        Mix("big_output_not_lc", uncached=1_000, output=250_000),
        # prompt exactly at the threshold: NOT long context (rule 2)
        Mix("at_threshold", uncached=rest, cache_read=30_000, write_5m=5_000, write_1h=5_000, output=2_000),
        # one token more: every token at long-context rates (or still flat when the row has none)
        Mix("over_threshold", uncached=rest, cache_read=30_000, write_5m=5_000, write_1h=5_001, output=2_000),
        # FACTS section B request
        Mix("facts_B", uncached=300_000, output=2_000, cache_read=10_000, write_5m=5_000),
    ]  # fmt: skip
    return mixes


def _has_web_search(model_ref: str) -> bool:
    calc = calc_price(genai_prices.Usage(input_tokens=1), model_ref, provider_id="anthropic")
    return calc.model_price.web_searches_kcount is not None


def _batch_start(model_ref: str) -> date | bool | None:
    """Start date of genai-prices' batch variant for the model; False when it has none."""
    calc = calc_price(genai_prices.Usage(input_tokens=1), model_ref, provider_id="anthropic")
    for variant in calc.model.price_variants or []:
        if variant.when == {"processing": "batch"}:
            return variant.constraint.start_date if variant.constraint is not None else None
    return False


def anthropic_cases() -> list[Any]:
    cases = []
    for row in PRIMARY:
        if row.provider != "anthropic" or row.model_id in NOT_IN_GENAI:
            continue
        batch_start = _batch_start(row.genai_id)
        for day in row.test_dates():
            for mix in anthropic_mixes(row):
                # FACTS rule 2 vs genai-prices: genai-prices 0.2.3 has no >200K tier for claude-sonnet-4-0
                # (Sonnet 4 1M-context beta). Excluded here, pinned in test_known_disagreement_sonnet_4_0.
                if row.model_id == "claude-sonnet-4-0" and mix.prompt > 200_000:
                    continue
                # Claude 2 / Instant predate prompt caching: no write rate, so a write is unpriced
                if (mix.write_5m or mix.write_1h) and not row.raw["cache_write_5m"]:
                    continue
                cases.append(pytest.param(row, mix, day, False, id=f"{row.label}-{day}-{mix.name}"))
                # FACTS rule 3 (batch x0.5): genai-prices models batch only from its variant's start
                # date (2026-10-14 for most models) and not at all for retired models; earlier dates
                # are not a disagreement, just not modelled, so only dates it covers are compared.
                if batch_start is not False and (batch_start is None or day >= batch_start):
                    cases.append(pytest.param(row, mix, day, True, id=f"{row.label}-{day}-{mix.name}-batch"))
            if _has_web_search(row.genai_id):
                mix = Mix("web_search", uncached=500, output=100, web_searches=3)
                cases.append(pytest.param(row, mix, day, False, id=f"{row.label}-{day}-{mix.name}"))
    return cases


# Bedrock model ids (without geo prefix) as genai-prices' `aws` provider matches them.
BEDROCK_IDS = {
    "claude-opus-4-6": "anthropic.claude-opus-4-6-v1",
    "claude-opus-4-5": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude-opus-4-1": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-opus-4-0": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-sonnet-4-6": "anthropic.claude-sonnet-4-6",
    "claude-sonnet-4-5": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-sonnet-4-0": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-3-7-sonnet": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-haiku-4-5": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-3-5-haiku": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-haiku": "anthropic.claude-3-haiku-20240307-v1:0",
    "claude-3-5-sonnet": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-opus": "anthropic.claude-3-opus-20240229-v1:0",
    "claude-opus-4-7": "anthropic.claude-opus-4-7-v1",
    "claude-opus-4-8": "anthropic.claude-opus-4-8-v1",
    "claude-opus-5": "anthropic.claude-opus-5-v1",
    "claude-opus-5-5": "anthropic.claude-opus-5-5-v1",
    "claude-sonnet-5": "anthropic.claude-sonnet-5-v1",
    "claude-sonnet-5-5": "anthropic.claude-sonnet-5-5-v1",
    "claude-haiku-5-5": "anthropic.claude-haiku-5-5-v1",
    "claude-fable-5": "anthropic.claude-fable-5-v1",
    "claude-fable-5-1": "anthropic.claude-fable-5-1-v1",
    "claude-fable-5-2": "anthropic.claude-fable-5-2-v1",
    "claude-mythos-5-2": "anthropic.claude-mythos-5-2-v1",
}


def bedrock_cases() -> list[Any]:
    """FACTS rule 7: `global.` = list price, geographic (`us.`, `eu.`, ...) = list x regional_multiplier.

    Only prompts below every long-context threshold: genai-prices' `aws` entries carry no >200K tiers
    (FACTS section B: litellm prices Bedrock `us.` Sonnet 4.5 at 1.1 x the long-context rates), so
    Bedrock long context is excluded and listed in docs/pricing.md. Bedrock's single cache-write
    counter is a 5-minute write (rule 7), so no 1h writes here.
    """
    mixes = [
        Mix("uncached+output", uncached=1_234, output=567),
        Mix(
            "cache_read+write_5m",
            uncached=10,
            cache_read=50_000,
            write_5m=3_000,
            output=800,
            split_writes=False,
        ),
    ]
    aws = next(p for p in genai_prices.data.providers if p.id == "aws")
    cases = []
    for row in PRIMARY:
        if row.provider != "anthropic" or (row.window[1] is not None and row.window[1] <= LATE_DATE):
            continue
        if row.model_id not in BEDROCK_IDS:  # retired before Bedrock, or not in genai-prices (pinned below)
            continue
        base_id = BEDROCK_IDS[row.model_id]
        for prefix in ("global.", "us.", "eu."):
            ref = prefix + base_id
            model = aws.find_model(ref)
            if model is None:  # no such inference profile in genai-prices' Bedrock data
                continue
            multiplier = row.regional_multiplier if prefix != "global." else Decimal(1)
            for mix in mixes:
                if (
                    mix.cache_read
                    and model.get_prices(datetime(2026, 11, 1, tzinfo=UTC)).cache_read_mtok is None
                ):
                    continue  # Bedrock does not offer prompt caching for this model
                cases.append(pytest.param(row, ref, mix, multiplier, id=f"{row.model_id}-{ref}-{mix.name}"))
    return cases


def openai_cases() -> list[Any]:
    mixes = [
        ("plain", 1_000, 0, 500, 0),
        ("cached+reasoning", 50_000, 30_000, 2_000, 1_500),
        ("all_cached", 8_192, 8_192, 1, 0),
        ("large", 300_000, 100_000, 10_000, 9_000),
    ]
    cases = []
    for row in PRIMARY:
        if row.provider != "openai" or row.raw["output"] == "":  # embeddings: no output tokens to price
            continue
        for day in row.test_dates():
            for flavor in ("chat", "responses"):
                for name, prompt, cached, completion, reasoning in mixes:
                    cases.append(
                        pytest.param(
                            row,
                            flavor,
                            prompt,
                            cached,
                            completion,
                            reasoning,
                            day,
                            id=f"{row.label}-{day}-{flavor}-{name}",
                        )
                    )
    return cases


# ---------------------------------------------------------------------------------------------
# table shape
# ---------------------------------------------------------------------------------------------


def test_headers() -> None:
    for path in (CORRECTIONS, SNAPSHOT):
        assert path.read_text().splitlines()[0] == ",".join(COLUMNS), path.name


def assert_numbers_and_tiers(row: Row) -> None:
    assert row.model_id and row.raw["family"] and row.raw["source"], row.label
    assert row.model_id == row.model_id.lower().strip(), row.label
    for key in (
        *RATE_KEYS,
        "lc_threshold",
        *(f"lc_{k}" for k in RATE_KEYS),
        "geo_us_multiplier",
        "regional_multiplier",
    ):
        value = row.raw[key]
        if value:
            assert "," not in value and not value.startswith("+"), (row.label, key, value)
            assert Decimal(value) >= 0, (row.label, key, value)
    # a long-context tier has a rate for every category the row prices, and only for those
    lc_values = [bool(row.raw[f"lc_{k}"]) for k in RATE_KEYS]
    expected_lc = [row.has_lc and bool(row.raw[k]) for k in RATE_KEYS]
    assert lc_values == expected_lc, f"{row.label}: partial lc columns"
    for key in ("geo_us_multiplier", "regional_multiplier"):
        assert row.raw[key] in {"", "1.1"}, (row.label, key)
    assert row.raw["image_generation_call"] == "", row.label


def test_corrections_are_anthropic_rules_with_dated_sources() -> None:
    for row in read(CORRECTIONS):
        assert_numbers_and_tiers(row)
        assert row.provider == "anthropic", row.label
        assert DATED.search(row.raw["source"]), f"{row.label}: a correction cites a dated source"
        assert all(row.raw[k] for k in RATE_KEYS), row.label
        assert row.raw["tokenizer"] in {"claude-v1", "claude-v2"}, row.label
        assert row.raw["tier"] in {"haiku", "sonnet", "opus", ""}, row.label
        if row.raw["tier"]:
            assert row.raw["tier"] in row.model_id, row.label
        # fast mode: 6x on Opus 4.6 (research preview), 2x from Opus 4.8 on and on Fable / Mythos 5.2
        assert row.raw["fast_multiplier"] in {"", "2", "6"}, row.label
        fast_ok = row.raw["tier"] == "opus" or row.model_id in {"claude-fable-5-2", "claude-mythos-5-2"}
        assert not row.raw["fast_multiplier"] or fast_ok, row.label
        # Anthropic web search: $10 per 1,000 searches (rule 5), the only per-call fee
        assert {k: row.raw[k] for k in FEE_KEYS if row.raw[k]} == {"web_search_call": "0.01"}, row.label


def test_snapshot_rows_are_genai_prices_with_the_documented_defaults() -> None:
    for row in read(SNAPSHOT):
        assert_numbers_and_tiers(row)
        assert re.match(r"genai-prices \d+\.\d+\.\d+ [\w.-]+/\S", row.raw["source"]), row.label
        bedrock = row.raw["source"].split()[2].startswith("aws/")
        assert not row.raw["geo_us_multiplier"], f"{row.label}: inference_geo is a correction"
        assert not row.raw["regional_multiplier"] or bedrock, f"{row.label}: regional only from Bedrock data"
        fees = {k: row.raw[k] for k in FEE_KEYS if row.raw[k]}
        if bedrock:
            assert not fees, row.label
        elif row.provider == "anthropic":
            assert fees == {"web_search_call": "0.01"}, row.label
        elif row.provider == "openai":
            # $10 per 1,000 web searches; the preview tool $25 per 1,000 on non-reasoning models;
            # file search $2.50 per 1,000; code interpreter $0.03 per container
            reasoning = re.match(r"(gpt-[5-9]|o\d|codex)", row.model_id)
            assert fees == {
                "web_search_call": "0.01",
                "web_search_preview_call": "0.01" if reasoning else "0.025",
                "file_search_call": "0.0025",
                "code_interpreter_call": "0.03",
            }, row.label
        else:
            assert fees.keys() <= {"web_search_call", "file_search_call"}, row.label
        tokenizers = {"anthropic": {"claude-v1", "claude-v2"}, "openai": {"o200k", "cl100k", ""}}
        assert row.raw["tokenizer"] in tokenizers.get(row.provider, {""}), row.label
        assert row.raw["tier"] in ({"haiku", "sonnet", "opus", ""} if row.provider == "anthropic" else {""})


def test_windows_do_not_overlap() -> None:
    by_model: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in ROWS:
        by_model[(row.provider, row.model_id)].append(row)
    for rows in by_model.values():
        spans = sorted((r.window[0] or date.min, r.window[1] or date.max) for r in rows)
        for start, end in spans:
            assert start < end, spans
        for (_, prev_end), (next_start, _) in itertools.pairwise(spans):
            assert prev_end <= next_start, f"overlapping windows {spans}"


# FACTS.md pricing tables, transcribed: (input, 5m write, 1h write, cache read, output).
FACTS_ANTHROPIC = {
    "claude-opus-4-6": ("5", "6.25", "10", "0.50", "25"),
    "claude-opus-4-5": ("5", "6.25", "10", "0.50", "25"),
    "claude-opus-4-1": ("15", "18.75", "30", "1.50", "75"),
    "claude-opus-4-0": ("15", "18.75", "30", "1.50", "75"),
    "claude-sonnet-4-6": ("3", "3.75", "6", "0.30", "15"),
    "claude-sonnet-4-5": ("3", "3.75", "6", "0.30", "15"),
    "claude-sonnet-4-0": ("3", "3.75", "6", "0.30", "15"),
    "claude-3-7-sonnet": ("3", "3.75", "6", "0.30", "15"),
    "claude-haiku-4-5": ("1", "1.25", "2", "0.10", "5"),
    "claude-3-5-haiku": ("0.80", "1", "1.6", "0.08", "4"),
    "claude-3-haiku": ("0.25", "0.30", "0.50", "0.03", "1.25"),
}
FACTS_LC = {
    "sonnet": ("6", "7.50", "12", "0.60", "22.50"),
    "opus-4-6": ("10", "12.50", "20", "1.00", "37.50"),
}
FACTS_OPENAI = {  # (input, cached input, output)
    "gpt-4o": ("2.50", "1.25", "10"),
    "gpt-4o-mini": ("0.15", "0.075", "0.60"),
    "gpt-4.1": ("2", "0.50", "8"),
    "gpt-4.1-mini": ("0.40", "0.10", "1.60"),
    "gpt-5": ("1.25", "0.125", "10"),
    "gpt-5-mini": ("0.25", "0.025", "2"),
    "o4-mini": ("1.10", "0.275", "4.40"),
}
GA_1M = date(2026, 3, 13)  # FACTS rule 2: end of long-context pricing for Opus 4.6 / Sonnet 4.6


def _rows_for(model_id: str) -> list[Row]:
    rows = [r for r in ROWS if r.model_id == model_id]
    assert rows, f"{model_id} missing from the table"
    return rows


@pytest.mark.parametrize("model_id", sorted(FACTS_ANTHROPIC))
def test_facts_anthropic_rates(model_id: str) -> None:
    expected_lc = {
        "claude-sonnet-4-5": (FACTS_LC["sonnet"], None),
        "claude-sonnet-4-0": (FACTS_LC["sonnet"], None),
        "claude-sonnet-4-6": (FACTS_LC["sonnet"], GA_1M),
        "claude-opus-4-6": (FACTS_LC["opus-4-6"], GA_1M),
    }.get(model_id)
    rows = _rows_for(model_id)
    for row in rows:
        assert tuple(row.rate(k) for k in RATE_KEYS) == tuple(Decimal(v) for v in FACTS_ANTHROPIC[model_id])
        if expected_lc is None:
            assert not row.has_lc, row.label
        elif expected_lc[1] is None or row.window[1] == expected_lc[1]:
            assert row.raw["lc_threshold"] == "200000", row.label
            assert tuple(row.rate("lc_" + k) for k in RATE_KEYS) == tuple(Decimal(v) for v in expected_lc[0])
        else:
            assert not row.has_lc and row.window[0] == expected_lc[1], row.label
    if expected_lc is not None and expected_lc[1] is not None:
        assert {r.window for r in rows} == {(None, GA_1M), (GA_1M, None)} and len(rows) == 2, model_id
    else:
        assert [r.window for r in rows] == [(None, None)], model_id


@pytest.mark.parametrize("model_id", sorted(FACTS_OPENAI))
def test_facts_openai_rates(model_id: str) -> None:
    (row,) = _rows_for(model_id)
    assert (row.rate("input"), row.rate("cache_read"), row.rate("output")) == tuple(
        Decimal(v) for v in FACTS_OPENAI[model_id]
    )


def test_multipliers_and_tokenizers_follow_facts_rules() -> None:
    # rule 4: inference_geo "us" x1.1 on Opus 4.6 / Sonnet 4.6 and later models only
    retired = {"claude-2", "claude-v1", "claude-3-sonnet"}  # before prompt caching; genai-prices rows
    no_geo = {
        "claude-opus-4-5", "claude-opus-4-1", "claude-opus-4-0", "claude-sonnet-4-5", "claude-sonnet-4-0",
        "claude-3-7-sonnet", "claude-haiku-4-5", "claude-3-5-haiku", "claude-3-haiku", "claude-3-5-sonnet",
        "claude-3-opus", *retired,
    }  # fmt: skip
    # rule 7: Bedrock geographic profiles x1.1 for Sonnet 4.5 / Haiku 4.5 / Opus 4.5 and later
    no_regional = {
        "claude-opus-4-1", "claude-opus-4-0", "claude-sonnet-4-0", "claude-3-7-sonnet",
        "claude-3-5-haiku", "claude-3-haiku", "claude-3-5-sonnet", "claude-3-opus", *retired,
    }  # fmt: skip
    v1 = no_geo | {"claude-opus-4-6", "claude-sonnet-4-6"}
    for row in PRIMARY:
        if row.provider != "anthropic":
            continue
        assert row.raw["geo_us_multiplier"] == ("" if row.model_id in no_geo else "1.1"), row.label
        assert row.raw["regional_multiplier"] == ("" if row.model_id in no_regional else "1.1"), row.label
        assert row.raw["tokenizer"] == ("claude-v1" if row.model_id in v1 else "claude-v2"), row.label


def test_facts_section_b_example() -> None:
    (row,) = _rows_for("claude-sonnet-4-5")
    mix = Mix("facts_B", uncached=300_000, output=2_000, cache_read=10_000, write_5m=5_000)
    assert facts_cost(row, mix) == Decimal("1.8885")
    assert genai_anthropic("claude-sonnet-4-5", mix, LATE_DATE).total_price == Decimal("1.8885")


# SDK model ids from FACTS section A1 -> the table's normalized model_id.
SDK_IDS = {
    "claude-opus-4-6": "claude-opus-4-6",
    "claude-sonnet-4-6": "claude-sonnet-4-6",
    "claude-haiku-4-5": "claude-haiku-4-5",
    "claude-haiku-4-5-20251001": "claude-haiku-4-5",
    "claude-opus-4-5": "claude-opus-4-5",
    "claude-opus-4-5-20251101": "claude-opus-4-5",
    "claude-sonnet-4-5": "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
    "claude-opus-4-1": "claude-opus-4-1",
    "claude-opus-4-1-20250805": "claude-opus-4-1",
    "claude-opus-4-0": "claude-opus-4-0",
    "claude-opus-4-20250514": "claude-opus-4-0",
    "claude-sonnet-4-0": "claude-sonnet-4-0",
    "claude-sonnet-4-20250514": "claude-sonnet-4-0",
    "claude-3-7-sonnet-20250219": "claude-3-7-sonnet",
    "claude-3-5-haiku-20241022": "claude-3-5-haiku",
    "claude-3-haiku-20240307": "claude-3-haiku",
    "gpt-4o-2024-08-06": "gpt-4o",
    "gpt-4o-2024-11-20": "gpt-4o",
    "gpt-4o-mini-2024-07-18": "gpt-4o-mini",
    "gpt-4.1-2025-04-14": "gpt-4.1",
    "gpt-4.1-mini-2025-04-14": "gpt-4.1-mini",
    "gpt-5-2025-08-07": "gpt-5",
    "gpt-5-mini-2025-08-07": "gpt-5-mini",
    "o4-mini-2025-04-16": "o4-mini",
}


@pytest.mark.parametrize("sdk_id", sorted(SDK_IDS))
def test_sdk_ids_resolve_to_the_same_genai_model(sdk_id: str) -> None:
    model_id = SDK_IDS[sdk_id]
    provider = "openai" if not sdk_id.startswith("claude") else "anthropic"
    (row, *_) = _rows_for(model_id)
    usage = genai_prices.Usage(input_tokens=1)
    assert (
        calc_price(usage, sdk_id, provider_id=provider).model.id
        == calc_price(usage, model_id, provider_id=provider).model.id
    )
    assert row.provider == provider


# ---------------------------------------------------------------------------------------------
# the comparison with genai-prices
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("row", "mix", "day", "batch"), anthropic_cases())
def test_anthropic_row_matches_genai_prices(row: Row, mix: Mix, day: date, batch: bool) -> None:
    calc = genai_anthropic(row.genai_id, mix, day, batch=batch)
    assert calc.model.id == row.genai_id
    assert calc.provider.id == "anthropic"
    assert_close(
        calc.total_price, facts_cost(row, mix, batch=batch), f"{row.label} {day} {mix} batch={batch}"
    )


@pytest.mark.parametrize(("row", "ref", "mix", "multiplier"), bedrock_cases())
def test_bedrock_regional_multiplier_matches_genai_prices(
    row: Row, ref: str, mix: Mix, multiplier: Decimal
) -> None:
    calc = genai_anthropic(ref, mix, LATE_DATE, provider_id="aws")
    assert calc.provider.id == "aws"
    assert_close(calc.total_price, facts_cost(row, mix, multiplier=multiplier), f"{ref} {mix}")


@pytest.mark.parametrize(
    ("row", "flavor", "prompt", "cached", "completion", "reasoning", "day"), openai_cases()
)
def test_openai_row_matches_genai_prices(
    row: Row, flavor: str, prompt: int, cached: int, completion: int, reasoning: int, day: date
) -> None:
    if flavor == "chat":
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }
    else:
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + completion,
        }
    extracted = extract_usage(
        {"model": row.genai_id, "usage": usage}, provider_id="openai", api_flavor=flavor
    )
    calc = calc_price(
        extracted.usage,
        row.genai_id,
        provider_id="openai",
        genai_request_timestamp=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12),
    )
    assert calc.model.id == row.genai_id
    assert_close(
        calc.total_price, openai_cost(row, prompt, cached, completion), f"{row.label} {flavor} {usage}"
    )


def test_every_facts_and_genai_model_is_covered() -> None:
    """Each Claude model genai-prices knows has a row of its own, so nothing is forgotten."""
    anthropic = next(p for p in genai_prices.data.providers if p.id == "anthropic")
    covered = {r.genai_id for r in ROWS if r.provider == "anthropic" and r.model_id not in NOT_IN_GENAI}
    assert {m.id for m in anthropic.models} == covered


# ---------------------------------------------------------------------------------------------
# known, documented disagreements (pinned so that a genai-prices change is noticed)
# ---------------------------------------------------------------------------------------------


def test_known_disagreement_sonnet_4_0_long_context() -> None:
    """FACTS rule 2: Sonnet 4 (1M beta) bills every token at long-context rates above 200K.

    genai-prices 0.2.3 prices claude-sonnet-4-0 flat. If this starts failing, genai-prices added the
    tier: drop the exclusion in anthropic_cases() and this test.
    """
    (row,) = _rows_for("claude-sonnet-4-0")
    mix = Mix("facts_B", uncached=300_000, output=2_000, cache_read=10_000, write_5m=5_000)
    genai = genai_anthropic("claude-sonnet-4-0", mix, EARLY_DATE).total_price
    assert genai == Decimal("0.95175")  # standard rates
    assert facts_cost(row, mix) == Decimal("1.8885")  # long-context rates, as for Sonnet 4.5


def test_known_disagreement_bedrock_long_context() -> None:
    """genai-prices' Bedrock entries have no >200K tier; FACTS section B (litellm) prices `us.` Sonnet 4.5 at
    1.1 x the long-context rates = $2.07735 for the section B request."""
    (row,) = _rows_for("claude-sonnet-4-5")
    mix = Mix(
        "facts_B", uncached=300_000, output=2_000, cache_read=10_000, write_5m=5_000, split_writes=False
    )
    genai = genai_anthropic("us." + BEDROCK_IDS["claude-sonnet-4-5"], mix, LATE_DATE, provider_id="aws")
    assert genai.total_price == Decimal("1.046925")  # 1.1 x standard rates
    assert facts_cost(row, mix, multiplier=row.regional_multiplier) == Decimal("2.07735")


def test_known_disagreement_models_genai_prices_lacks() -> None:
    """FACTS late-2026 facts: Mythos 5 ($10/$50, read $1) and Mythos 5.1 (read $0.25, 0.025x) are
    corrections; genai-prices 0.2.3 has only Mythos 5.2. If this fails, genai-prices added them:
    compare its rates with the correction and drop the row from corrections.csv if they agree."""
    anthropic = next(p for p in genai_prices.data.providers if p.id == "anthropic")
    for model_id, read_rate in (("claude-mythos-5", "1"), ("claude-mythos-5-1", "0.25")):
        assert anthropic.find_model(model_id) is None, model_id
        (row,) = _rows_for(model_id)
        rates = (row.rate("input"), row.rate("cache_read"), row.rate("output"))
        assert rates == (Decimal(10), Decimal(read_rate), Decimal(50)), model_id
