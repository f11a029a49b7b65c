"""The price table in force against genai-prices' own calculation, 1,000 random requests per provider.

Each request is priced twice: by tierlens' vectorized pricer (`price_requests` on `PriceTable.load()`:
the vendored genai-prices snapshot with tierlens' corrections on top) and by `genai_prices.calc_price`
on the installed package's bundled data (no network). Both must agree to 1e-9 relative. The rules
where tierlens deliberately differs (docs/pricing.md, "Where tierlens and genai-prices differ") are not
skipped silently: each is asserted by its own formula from genai-prices' standard price, and counted,
so that every documented difference is exercised.

The candidate model ids come from genai-prices' data (each model's id and the ids its match rule
spells out exactly), not from the snapshot, so a model the refresh script failed to vendor shows up here.
"""

from __future__ import annotations

import csv
import importlib.util
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import polars as pl
import pytest

genai_prices = pytest.importorskip("genai_prices")

from genai_prices import Usage, calc_price  # noqa: E402
from genai_prices import data as genai_data  # noqa: E402
from genai_prices.types import (  # noqa: E402
    ClauseEquals,
    ClauseOr,
    ModelInfo,
    ModelPrice,
    Provider,
    TieredPrices,
    TimeOfDateConstraint,
)

from tests.fixtures.readers import parse_lines  # noqa: E402
from tests.paths import REPO  # noqa: E402
from tierlens.pricing import PriceTable, normalize_model, price_requests  # noqa: E402
from tierlens.schema import conform  # noqa: E402
from tierlens.sources.common import provider_of  # noqa: E402

ROOT = REPO
DATA = ROOT / "src" / "tierlens" / "pricing" / "data"
TABLE = PriceTable.load()
REQUESTS = 1_000
PROVIDERS = {p.id: p for p in genai_data.providers}
BEDROCK_VENDORS = (
    "amazon",
    "meta",
    "mistral",
    "deepseek",
    "qwen",
    "writer",
    "google",
    "nvidia",
    "moonshotai",
    "zai",
)
NAMED = ("anthropic", "openai", "google", *[v for v in BEDROCK_VENDORS if v != "google"])
UNCOUNTED = {
    # units tierlens does not count (docs/pricing.md): such a model is not vendored
    "requests_kcount", "output_reasoning_mtok", "output_citation_mtok", "input_mchars", "audio_hours",
    "input_audio_hours", "output_audio_hours", "input_document_kpages", "input_annotated_document_kpages",
    "input_gpixels", "input_text_messages_kcount", "rerank_searches_kcount", "social_searches_kcount",
    "code_executions_kcount",
}  # fmt: skip
DOCUMENTED_LC = {"claude-sonnet-4-0"}
"""genai-prices models priced flat where tierlens bills a long-context tier (the Sonnet 4 1M beta)."""
FAR_PAST, FAR_FUTURE = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# candidates: model ids a log may hold, and how genai-prices prices each
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    logged: str
    """The model id as a log holds it."""
    genai_provider: str
    genai_ref: str
    """What genai-prices is asked to price (the logged id, or the documented stand-in)."""
    names: tuple[str, ...]
    """Provider names a reader may log it under (the table's provider first, then its aliases)."""
    note: str = ""
    """A documented difference that decides genai_ref ("" when there is none)."""
    searches: bool = False
    """The model has a web-search price (in genai-prices, or tierlens' provider fee)."""
    outputs: bool = True
    """The model has an output price (an embedding model has none)."""
    writes: bool = False
    """The model has a cache-write price."""


def with_usage_kinds(cand: Candidate) -> Candidate:
    model = PROVIDERS[cand.genai_provider].find_model(cand.genai_ref)
    assert model is not None, cand
    price = model.get_prices(FAR_FUTURE)
    searches = cand.names[0] in ("anthropic", "openai") or price.web_searches_kcount is not None
    kinds = {
        "searches": searches,
        "outputs": price.output_mtok is not None,
        "writes": price.cache_write_mtok is not None,
    }
    return Candidate(**{**cand.__dict__, **kinds})


def exact_ids(model: ModelInfo) -> list[str]:
    clauses = model.match.or_ if isinstance(model.match, ClauseOr) else [model.match]
    ids = [model.id, *(c.equals for c in clauses if isinstance(c, ClauseEquals))]
    return [i for i in ids if not i.endswith(("-", ":", ".", "/", "@"))]  # a prefix, not an id


def representable(model: ModelInfo) -> bool:
    """Token prices the table's columns can hold: one 'above N input tokens' tier, no time of day."""
    if isinstance(model.prices, list) and any(
        isinstance(c.constraint, TimeOfDateConstraint) for c in model.prices
    ):
        return False
    prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
    for price in prices:
        values = {k: v for k, v in price.__dict__.items() if v is not None and not k.startswith("_")}
        tiers = {tuple(t.start for t in v.tiers) for v in values.values() if isinstance(v, TieredPrices)}
        if "input_mtok" not in values or values.keys() & UNCOUNTED or len(tiers) > 1:
            return False
        if any(len(t) > 1 for t in tiers):
            return False
    return True


def aliases_of(provider: str, model_id: str) -> tuple[str, ...]:
    with (DATA / "provider_aliases.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(
        r["alias"] for r in rows if r["provider"] == provider and model_id.startswith(r["model_prefix"])
    )


def _normalized(ids: list[str]) -> dict[str, str]:
    frame = pl.DataFrame({"m": ids}, schema={"m": pl.String})
    mid, _ = normalize_model(pl.col("m"))
    out = frame.with_columns(n=mid, p=provider_of(mid, "other"))
    return {m: f"{p}\t{n}" for m, n, p in out.iter_rows()}


def direct_candidates(provider: Provider) -> list[Candidate]:
    """A provider's own API: ids the readers would price under the provider's name."""
    found = {s.lower(): m for m in provider.models for s in exact_ids(m) if provider.find_model(s) is m}
    keyed = _normalized(list(found))
    out = []
    for logged, model in found.items():
        owner, model_id = keyed[logged].split("\t")
        if owner not in (provider.id, "other") or not representable(model):
            continue
        names = (provider.id, *aliases_of(provider.id, model_id))
        out.append(Candidate(logged, provider.id, logged, names))
    return out


def bedrock_candidates(vendor: str) -> list[Candidate]:
    """Bedrock ids of one vendor under each profile prefix genai-prices prices."""
    aws = PROVIDERS["aws"]
    bares = {re.sub(r"^(global|regional)\.", "", m.id) for m in aws.models}
    out = []
    for bare in sorted(b for b in bares if b.startswith(vendor + ".")):
        for prefix in ("", "global.", "us.", "eu.", "jp."):
            model = aws.find_model(prefix + bare)
            if model is None or not representable(model):
                continue
            ref, note = prefix + bare, ""
            twin = aws.find_model("global." + bare)
            if prefix == "" and twin is not None and twin is not model:
                ref, note = "global." + bare, "bare Bedrock id at the global price"
            model_id = _normalized([bare])[bare].split("\t")[1]
            out.append(Candidate(prefix + bare, "aws", ref, (vendor, *aliases_of(vendor, model_id)), note))
    return out


def openai_on_bedrock(cand: Candidate) -> Candidate:
    """A Bedrock OpenAI id that OpenAI also prices is priced from the OpenAI row (documented)."""
    model_id = _normalized([cand.logged])[cand.logged].split("\t")[1]
    if PROVIDERS["openai"].find_model(model_id) is None:
        return cand
    return Candidate(cand.logged, "openai", model_id, ("openai",), "Bedrock OpenAI model at OpenAI's price")


def candidates(provider: str) -> list[Candidate]:
    out = direct_candidates(PROVIDERS[provider]) if provider in PROVIDERS and provider != "aws" else []
    if provider in BEDROCK_VENDORS or provider == "openai":
        out += [openai_on_bedrock(c) if provider == "openai" else c for c in bedrock_candidates(provider)]
    return [with_usage_kinds(c) for c in out]


# ---------------------------------------------------------------------------------------------
# random requests, priced both ways
# ---------------------------------------------------------------------------------------------

BOUNDARIES = (100_000, 128_000, 200_000, 256_000, 272_000)


def random_prompt(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.1:
        return rng.choice(BOUNDARIES) + rng.choice((0, 1))
    if pick < 0.55:
        return rng.randrange(0, 20_000)
    if pick < 0.8:
        return rng.randrange(20_000, 150_000)
    return rng.randrange(150_000, 420_000)


def random_request(rng: random.Random, cand: Candidate, i: int) -> dict[str, Any]:
    prompt = random_prompt(rng)
    read = rng.choice((0, rng.randrange(0, prompt + 1)))
    w5 = rng.choice((0, 0, rng.randrange(0, prompt - read + 1))) if cand.writes else 0
    w1 = rng.choice((0, 0, 0, rng.randrange(0, prompt - read - w5 + 1))) if cand.writes else 0
    anthropic, openai = cand.names[0] == "anthropic", cand.names[0] == "openai"
    tiers = ["standard"] * 7 + ["batch"] * 2 + (["priority"] if anthropic or openai else [])
    tiers += ["flex"] if openai else []
    return {
        "request_id": str(i),
        "ts": FAR_PAST + timedelta(seconds=rng.randrange(int((FAR_FUTURE - FAR_PAST).total_seconds()))),
        "provider": rng.choice(cand.names),
        "model": cand.logged,
        "input_tokens": prompt - read - w5 - w1,
        "cache_read_tokens": read,
        "cache_write_5m_tokens": w5,
        "cache_write_1h_tokens": w1,
        "output_tokens": rng.choice((0, rng.randrange(0, 4_000), rng.randrange(0, 60_000)))
        if cand.outputs
        else 0,
        "web_search_requests": rng.choice((0, 0, 0, 0, rng.randrange(1, 4))) if cand.searches else 0,
        "service_tier": rng.choice(tiers),
        "inference_geo": rng.choice((None, None, "us")) if anthropic else None,
        "speed": rng.choice((None,) * 9 + ("fast",)) if anthropic else None,
    }


def priced_by_tierlens(requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    frame = pl.DataFrame(requests)
    mid, scope = normalize_model(pl.col("model"))
    out = price_requests(conform(frame.with_columns(model_id=mid, endpoint_scope=scope)), TABLE)
    return {r["request_id"]: r for r in out.iter_rows(named=True)}


def row_in_force(provider: str, model_id: str, ts: datetime) -> dict[str, Any] | None:
    day = ts.date()
    for r in ROWS.get(model_id, []):
        if r["provider"] == provider and (r["effective_from"] or date.min) <= day < (
            r["effective_to"] or date.max
        ):
            return r
    return None


ROWS: dict[str, list[dict[str, Any]]] = {}
for _r in TABLE.rows.iter_rows(named=True):
    ROWS.setdefault(_r["model_id"], []).append(_r)


def genai_usage(req: dict[str, Any]) -> Usage:
    writes = req["cache_write_5m_tokens"] + req["cache_write_1h_tokens"]
    prompt = req["input_tokens"] + req["cache_read_tokens"] + writes
    return Usage(
        input_tokens=prompt,
        cache_read_tokens=req["cache_read_tokens"],
        cache_write_tokens=writes,
        cache_write_1h_tokens=req["cache_write_1h_tokens"],
        output_tokens=req["output_tokens"],
        web_searches=req["web_search_requests"],
    )


def genai_tokens(cand: Candidate, req: dict[str, Any], context: dict[str, str] | None = None) -> Decimal:
    """genai-prices' price of the request's tokens (its web-search charge taken out)."""
    calc = calc_price(
        genai_usage(req),
        cand.genai_ref,
        provider_id=cand.genai_provider,
        genai_request_timestamp=req["ts"],
        price_context=context,
    )
    per_k = calc.model_price.web_searches_kcount
    search = req["web_search_requests"] * per_k / 1000 if isinstance(per_k, Decimal) else Decimal(0)
    return Decimal(calc.total_price) - Decimal(search)


def has_fast_variant(cand: Candidate) -> bool:
    model = PROVIDERS[cand.genai_provider].find_model(cand.genai_ref)
    return model is not None and any(v.when == {"speed": "fast"} for v in model.price_variants or [])


def lacks_genai_tier(cand: Candidate, row: dict[str, Any]) -> bool:
    model = PROVIDERS[cand.genai_provider].find_model(cand.genai_ref)
    return row["lc_threshold"] is not None and model is not None and model.id in DOCUMENTED_LC


def table_formula(req: dict[str, Any], row: dict[str, Any]) -> Decimal:
    """The correction's own rates (rule 2: every token at the long-context rate above the threshold)."""
    prompt = sum(
        req[c]
        for c in ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")
    )
    lc = "lc_" if row["lc_threshold"] is not None and prompt > row["lc_threshold"] else ""
    pairs = (
        ("input_tokens", "input"),
        ("cache_read_tokens", "cache_read"),
        ("cache_write_5m_tokens", "cache_write_5m"),
        ("cache_write_1h_tokens", "cache_write_1h"),
        ("output_tokens", "output"),
    )
    return sum((req[t] * Decimal(repr(row[lc + r])) for t, r in pairs), Decimal(0)) / 1_000_000


def expected(cand: Candidate, req: dict[str, Any], row: dict[str, Any], seen: Counter[str]) -> Decimal | None:
    """genai-prices' price with tierlens' documented rules applied, or None where tierlens must not price."""
    fast = req["speed"] == "fast"
    if req["output_tokens"] and row["output"] is None:
        seen["output tokens on a model without an output price (embeddings): unpriced"] += 1
        return None
    if fast and row["fast_multiplier"] is None:
        seen["fast mode on a model without a fast price: unpriced"] += 1
        return None
    if cand.note:
        seen[cand.note] += 1
    if lacks_genai_tier(cand, row):
        tokens = table_formula(req, row)
        seen["correction: long-context tier genai-prices lacks"] += tokens != genai_tokens(cand, req)
    elif fast and has_fast_variant(cand):
        tokens = genai_tokens(cand, req, {"speed": "fast"})
        seen["fast mode: genai-prices' fast price"] += 1
    else:
        tokens = genai_tokens(cand, req)
    mult = Decimal(1)
    if fast and not has_fast_variant(cand):
        mult *= Decimal(repr(row["fast_multiplier"]))
        seen["fast mode: tierlens multiplier genai-prices lacks"] += 1
    if req["service_tier"] == "batch" or (req["service_tier"] == "flex" and row["provider"] == "openai"):
        mult /= 2
        seen["batch/flex: x0.5 on every token category"] += 1
    if req["service_tier"] == "priority":
        seen["priority: list price"] += 1
    if req["inference_geo"] == "us" and row["geo_us_multiplier"] is not None:
        mult *= Decimal(repr(row["geo_us_multiplier"]))
        seen["inference_geo us: tierlens multiplier"] += 1
    return tokens * mult + web_search_fee(cand, req, row, seen)


def web_search_fee(cand: Candidate, req: dict[str, Any], row: dict[str, Any], seen: Counter[str]) -> Decimal:
    n = int(req["web_search_requests"])
    if not n:
        return Decimal(0)
    model = PROVIDERS[cand.genai_provider].find_model(cand.genai_ref)
    listed = model.get_prices(req["ts"]).web_searches_kcount if model is not None else None
    fee = Decimal(repr(row["web_search_call"]))
    if not isinstance(listed, Decimal):
        seen["web search: tierlens' provider fee where genai-prices lists none"] += 1
    else:
        assert fee == listed / 1000, (cand, fee, listed)
    return n * fee


def assert_close(actual: float | None, want: Decimal, what: Any) -> None:
    assert actual is not None, what
    if want == 0:
        assert actual == 0, what
        return
    assert abs(Decimal(repr(actual)) - want) / abs(want) <= Decimal("1e-9"), (actual, want, what)


def cross_check(provider: str, n: int, seed: int) -> Counter[str]:
    cands = candidates(provider)
    assert cands, f"no genai-prices model ids for {provider}"
    rng = random.Random(seed)
    requests = []
    for i in range(n):
        cand = rng.choice(cands)
        req = random_request(rng, cand, i)
        requests.append((cand, req))
    out = priced_by_tierlens([r for _, r in requests])
    seen: Counter[str] = Counter()
    for cand, req in requests:
        got = out[req["request_id"]]
        row = row_in_force(cand.names[0], got["model_id"], req["ts"])
        assert row is not None, (cand, got["model_id"], req["ts"])
        if req["web_search_requests"] and row["web_search_call"] is None:
            assert got["priced"] is False, (cand, req)
            seen["web search on a model without a search price: unpriced"] += 1
            continue
        want = expected(cand, req, row, seen)
        if want is None:
            assert got["priced"] is False and got["cost_usd"] is None, (cand, req)
            continue
        assert got["priced"], (cand, req)
        assert_close(got["cost_usd"], want, (cand, req, row["source"]))
        seen["compared"] += 1
    return seen


@pytest.mark.parametrize("provider", NAMED)
def test_random_requests_match_genai_prices(provider: str) -> None:
    seen = cross_check(provider, REQUESTS, seed=sum(map(ord, provider)))
    assert seen["compared"] >= REQUESTS * 0.85, seen
    assert seen["batch/flex: x0.5 on every token category"] > 0, seen
    if provider == "anthropic":
        for rule in (
            "inference_geo us: tierlens multiplier",
            "fast mode: genai-prices' fast price",
            "fast mode: tierlens multiplier genai-prices lacks",
            "correction: long-context tier genai-prices lacks",
            "priority: list price",
        ):
            assert seen[rule] > 0, (rule, seen)


OTHERS = sorted(
    {r for r in TABLE.rows["provider"].unique().to_list() if r not in NAMED and r not in BEDROCK_VENDORS}
)


@pytest.mark.parametrize("provider", OTHERS)
def test_every_other_provider_matches_genai_prices(provider: str) -> None:
    """Every other provider of the snapshot, fewer requests each (the same rules)."""
    seen = cross_check(provider, 100, seed=sum(map(ord, provider)))
    assert seen["compared"] >= 50, seen


# ---------------------------------------------------------------------------------------------
# the snapshot is genai-prices' data, every model accounted for
# ---------------------------------------------------------------------------------------------


def _refresh_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_prices", ROOT / "scripts" / "refresh_prices.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def snapshot_version() -> str:
    with (DATA / "genai_prices.csv").open(newline="") as fh:
        first = next(csv.DictReader(fh))
    return first["source"].split()[1]


def test_the_snapshot_is_what_the_refresh_script_writes() -> None:
    if snapshot_version() != genai_prices.__version__:
        pytest.skip(f"snapshot of genai-prices {snapshot_version()}, {genai_prices.__version__} installed")
    for path, text in _refresh_script().outputs().items():
        assert path.read_text() == text, f"{path.name} is stale: run scripts/refresh_prices.py"


KEYED_ELSEWHERE = (
    r"the readers price it under (anthropic|openai)$",
    r"priced from the (anthropic|openai) rows of ",
    r"its ids, normalized, are those of ",
)
"""Skip reasons for a model whose ids are priced by another row (docs/pricing.md)."""


def test_every_genai_model_is_vendored_or_listed_as_skipped() -> None:
    with (DATA / "genai_prices.csv").open(newline="") as fh:
        sources = {ref for r in csv.DictReader(fh) for ref in re.findall(r"[\w.-]+/[^\s;]+", r["source"])}
    with (DATA / "genai_prices_skipped.csv").open(newline="") as fh:
        skipped = {f"{r['genai_provider']}/{r['genai_model']}": r["reason"] for r in csv.DictReader(fh)}
    for provider in genai_data.providers:
        for model in provider.models:
            ref = f"{provider.id}/{model.id}"
            if ref in sources or ref in skipped:
                continue
            # a model no id reaches (another model's rule matches first) has nothing to price
            assert not any(provider.find_model(s) is model for s in exact_ids(model)), ref
    for ref, reason in skipped.items():
        pid, _, model_id = ref.partition("/")
        model = next(m for m in PROVIDERS[pid].models if m.id == model_id)
        why = reason.split(": ")[-1]
        if not any(re.match(rx, why) for rx in KEYED_ELSEWHERE):
            assert not representable(model), (ref, reason)  # the table's columns cannot hold its prices


def test_genai_rows_are_keyed_as_the_readers_key_them() -> None:
    """Every row's model_id is its own normal form or an exact id the pricer matches first."""
    rows = TABLE.rows.select("provider", "model_id").unique()
    mid, _ = normalize_model(pl.col("model_id"))
    keyed = rows.with_columns(n=mid, owner=provider_of(mid, "other"))
    wrong_owner = keyed.filter(
        pl.col("owner").is_in(["anthropic", "openai"]) & (pl.col("owner") != pl.col("provider"))
    )
    assert wrong_owner.is_empty(), wrong_owner
    assert set(TABLE.rows["provider"]) >= {"anthropic", "openai", "google", "mistral", *BEDROCK_VENDORS}


# ---------------------------------------------------------------------------------------------
# the documented differences, pinned with numbers
# ---------------------------------------------------------------------------------------------


def one(
    provider: str, model: str, ts: datetime = datetime(2026, 11, 20, 12, tzinfo=UTC), **tokens: Any
) -> dict[str, Any]:
    req = {
        "request_id": "0",
        "ts": ts,
        "provider": provider,
        "model": model,
        "input_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": 0,
        "web_search_requests": 0,
        "service_tier": "standard",
        "inference_geo": None,
        "speed": None,
        **tokens,
    }
    return priced_by_tierlens([req])["0"]


def test_sonnet_5_stays_at_launch_rates_after_the_cancelled_rise() -> None:
    """Anthropic cancelled the $3/$15 planned from 2026-09-01; some genai-prices releases schedule it."""
    for day in (date(2026, 8, 31), date(2026, 9, 1), date(2026, 12, 1)):
        ts = datetime.combine(day, datetime.min.time(), UTC)
        r = one("anthropic", "claude-sonnet-5", ts, input_tokens=1_000_000, output_tokens=1_000_000)
        assert r["cost_usd"] == pytest.approx(2 + 10, rel=1e-12)
        genai = calc_price(
            Usage(input_tokens=10**6, output_tokens=10**6),
            "claude-sonnet-5",
            provider_id="anthropic",
            genai_request_timestamp=ts,
        )
        assert genai.total_price in (Decimal(12), Decimal(18)), genai  # 18: the cancelled rise


@pytest.mark.parametrize(
    ("model", "input_rate", "read_rate"),
    [("claude-mythos-5", 10, 1), ("claude-mythos-5-1", 10, 0.25), ("claude-mythos-5-1-20261001", 10, 0.25)],
)
def test_models_genai_prices_lacks_are_priced_from_corrections(
    model: str, input_rate: float, read_rate: float
) -> None:
    assert PROVIDERS["anthropic"].find_model(model) is None
    r = one("anthropic", model, input_tokens=1_000_000, cache_read_tokens=1_000_000, output_tokens=1_000_000)
    assert r["cost_usd"] == pytest.approx(input_rate + read_rate + 50, rel=1e-12)


def test_sonnet_4_long_context_is_a_correction() -> None:
    """FACTS rule 2: the Sonnet 4 1M beta billed every token at 6/22.50 above 200K; genai-prices 0.2.3 is flat."""
    tokens: dict[str, Any] = {
        "input_tokens": 300_000,
        "output_tokens": 2_000,
        "cache_read_tokens": 10_000,
        "cache_write_5m_tokens": 5_000,
    }
    for spelling in ("claude-sonnet-4-20250514", "claude-4-sonnet"):
        assert one("anthropic", spelling, **tokens)["cost_usd"] == pytest.approx(1.8885, rel=1e-12)
    usage = Usage(
        input_tokens=315_000, cache_read_tokens=10_000, cache_write_tokens=5_000, output_tokens=2_000
    )
    assert calc_price(usage, "claude-sonnet-4-0", provider_id="anthropic").total_price == Decimal("0.95175")


def test_corrections_cover_every_spelling_of_their_model() -> None:
    """`claude-opus-4.6` is priced like `claude-opus-4-6`, geo multiplier included."""
    a = one("anthropic", "claude-opus-4-6", input_tokens=1000, inference_geo="us")
    b = one("anthropic", "claude-opus-4.6", input_tokens=1000, inference_geo="us")
    assert a["cost_usd"] == b["cost_usd"] == pytest.approx(1000 * 5 * 1.1 / 1e6, rel=1e-12)


def test_opus_4_6_fast_mode_is_tierlens_only() -> None:
    model = PROVIDERS["anthropic"].find_model("claude-opus-4-6")
    assert model is not None and not any(v.when == {"speed": "fast"} for v in model.price_variants or [])
    r = one("anthropic", "claude-opus-4-6", input_tokens=1000, speed="fast")
    assert r["cost_usd"] == pytest.approx(1000 * 5 * 6 / 1e6, rel=1e-12)


def test_openai_priority_is_list_price_where_genai_prices_has_a_rate() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    priority = calc_price(usage, "gpt-4o", provider_id="openai", price_context={"service_tier": "priority"})
    assert priority.total_price == Decimal("4.25")
    assert one("openai", "gpt-4o", input_tokens=1_000_000, service_tier="priority")[
        "cost_usd"
    ] == pytest.approx(2.5)


def test_openai_batch_halves_cached_input_too() -> None:
    """genai-prices' gpt-4o batch variant keeps cached input at full price; tierlens halves every category."""
    usage = Usage(input_tokens=1_000_000, cache_read_tokens=1_000_000)
    batch = calc_price(usage, "gpt-4o", provider_id="openai", price_context={"processing": "batch"})
    assert batch.total_price == Decimal("1.25")
    r = one("openai", "gpt-4o", cache_read_tokens=1_000_000, service_tier="batch")
    assert r["cost_usd"] == pytest.approx(0.625, rel=1e-12)


def test_bare_bedrock_id_is_priced_like_global() -> None:
    """genai-prices prices `moonshotai.kimi-k3` (no profile prefix) at its regional rate; tierlens, like
    the Bedrock reader (no prefix = no geographic scope), at the global one."""
    usage = Usage(input_tokens=1_000_000)
    assert calc_price(usage, "moonshotai.kimi-k3", provider_id="aws").total_price == Decimal("3.3")
    assert calc_price(usage, "global.moonshotai.kimi-k3", provider_id="aws").total_price == Decimal("3")
    assert one("moonshotai", "moonshotai.kimi-k3", input_tokens=1_000_000)["cost_usd"] == pytest.approx(3.0)
    assert one("moonshotai", "us.moonshotai.kimi-k3", input_tokens=1_000_000)["cost_usd"] == pytest.approx(
        3.3
    )


def test_a_cache_write_without_a_published_price_stays_unpriced() -> None:
    """genai-prices bills it as input; tierlens does not guess (Nova on Bedrock, OpenAI)."""
    for provider, model in (("amazon", "amazon.nova-micro-v1:0"), ("openai", "gpt-4o")):
        assert PROVIDERS["aws" if provider == "amazon" else provider].find_model(model) is not None
        assert one(provider, model, input_tokens=100, cache_write_5m_tokens=1000)["priced"] is False


def test_a_model_priced_per_audio_hour_stays_unpriced() -> None:
    assert one("openai", "whisper-1", input_tokens=1000)["priced"] is False


# ---------------------------------------------------------------------------------------------
# the readers' (provider, model_id) find the rows
# ---------------------------------------------------------------------------------------------


def invocation(model: str, uncached: int, output: int, read: int = 0, write: int = 0) -> dict[str, Any]:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-11-20T11:00:00Z",
        "accountId": "111122223333",
        "identity": {"arn": "arn:aws:sts::111122223333:assumed-role/app/i-1"},
        "region": "us-east-1",
        "requestId": f"req-{model}",
        "operation": "Converse",
        "modelId": model,
        "input": {
            "inputContentType": "application/json",
            "inputTokenCount": uncached,
            "cacheReadInputTokenCount": read,
            "cacheWriteInputTokenCount": write,
        },
        "output": {"outputContentType": "application/json", "outputTokenCount": output},
    }


def test_the_bedrock_reader_prices_every_vendor_model_as_genai_prices_does() -> None:
    cands = [with_usage_kinds(c) for v in BEDROCK_VENDORS for c in bedrock_candidates(v)]
    cands += [with_usage_kinds(openai_on_bedrock(c)) for c in bedrock_candidates("openai")]
    logs = [
        invocation(c.logged, 1200, 300 if c.outputs else 0, read=500, write=100 if c.writes else 0)
        for c in cands
    ]
    parsed = parse_lines("bedrock", logs)
    rows = price_requests(parsed.rows, TABLE)
    assert rows.height == len(cands)
    for cand, got in zip(cands, rows.iter_rows(named=True), strict=True):
        assert got["priced"], (cand, got["provider"], got["model_id"])
        output, write = (300 if cand.outputs else 0), (100 if cand.writes else 0)
        usage = Usage(
            input_tokens=1700 + write, cache_read_tokens=500, cache_write_tokens=write, output_tokens=output
        )
        want = calc_price(
            usage, cand.genai_ref, provider_id=cand.genai_provider, genai_request_timestamp=got["ts"]
        )
        assert_close(got["cost_usd"], Decimal(want.total_price), cand)


def spend_log(i: int, model: str, provider: str) -> dict[str, Any]:
    return {
        "request_id": f"r{i}",
        "call_type": "acompletion",
        "spend": 0.0,
        "total_tokens": 1500,
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "startTime": "2026-11-20T12:00:00.000000Z",
        "endTime": "2026-11-20T12:00:01.000000Z",
        "model": model,
        "custom_llm_provider": provider,
        "metadata": {},
        "cache_hit": "False",
        "request_tags": [],
        "status": "success",
    }


@pytest.mark.parametrize(
    ("model", "provider", "genai"),
    [
        ("gemini/gemini-2.5-flash", "gemini", ("google", "gemini-2.5-flash")),
        ("vertex_ai/gemini-2.5-pro", "vertex_ai", ("google", "gemini-2.5-pro")),
        ("bedrock/us.amazon.nova-2-lite-v1:0", "bedrock", ("aws", "us.amazon.nova-2-lite-v1:0")),
        (
            "bedrock/converse/meta.llama3-3-70b-instruct-v1:0",
            "bedrock",
            ("aws", "meta.llama3-3-70b-instruct-v1:0"),
        ),
        ("gpt-5-nano-2025-08-07", "openai", ("openai", "gpt-5-nano-2025-08-07")),
        ("mistral-large-latest", "mistral", ("mistral", "mistral-large-latest")),
    ],
)
def test_litellm_provider_names_find_the_rows(model: str, provider: str, genai: tuple[str, str]) -> None:
    rows = price_requests(parse_lines("litellm", [spend_log(0, model, provider)]).rows, TABLE)
    (got,) = rows.iter_rows(named=True)
    want = calc_price(
        Usage(input_tokens=1000, output_tokens=500),
        genai[1],
        provider_id=genai[0],
        genai_request_timestamp=got["ts"],
    )
    assert got["priced"], got
    assert_close(got["cost_usd"], Decimal(want.total_price), (model, provider))


def otel_export(model: str, provider: str) -> dict[str, Any]:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
    }
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "a1b2c3d4e5f60718",
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": "1795176000000000000",
        "endTimeUnixNano": "1795176001500000000",
        "attributes": [
            {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
            for k, v in attrs.items()
        ],
    }
    return {
        "resourceSpans": [
            {"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "i"}, "spans": [span]}]}
        ]
    }


@pytest.mark.parametrize(
    ("model", "provider", "genai"),
    [
        ("gemini-2.5-flash", "gcp.gemini", ("google", "gemini-2.5-flash")),
        ("gemini-3.1-pro-preview", "gcp.vertex_ai", ("google", "gemini-3.1-pro-preview")),
        ("us.amazon.nova-pro-v1:0", "aws.bedrock", ("aws", "us.amazon.nova-pro-v1:0")),
        ("mistral-small-latest", "mistral_ai", ("mistral", "mistral-small-latest")),
    ],
)
def test_otel_provider_names_find_the_rows(model: str, provider: str, genai: tuple[str, str]) -> None:
    rows = price_requests(parse_lines("otel", [otel_export(model, provider)]).rows, TABLE)
    (got,) = rows.iter_rows(named=True)
    want = calc_price(
        Usage(input_tokens=1000, output_tokens=500),
        genai[1],
        provider_id=genai[0],
        genai_request_timestamp=got["ts"],
    )
    assert got["priced"], got
    assert_close(got["cost_usd"], Decimal(want.total_price), (model, provider))
