#!/usr/bin/env python3
"""Write tierlens' vendored snapshot of genai-prices: `src/tierlens/pricing/data/genai_prices.csv`.

Why it exists: genai-prices (pydantic's maintained price library) is a dev dependency only; a plain
tierlens wheel must price offline and reproducibly, so its data is copied into a CSV in the price
table's columns, and every refresh is a reviewed diff. The rows are keyed the way the readers key
requests: `(provider, model_id)` with `model_id` from `tierlens.pricing.models.normalize_model`.

What it maps (docs/pricing.md, "The genai-prices snapshot"):
- every provider genai-prices covers, under its genai-prices id; Bedrock models (provider `aws`)
  under their vendor (`amazon`, `meta`, `mistral`, ...), as the Bedrock reader keys them, with a
  `regional_multiplier` where genai-prices prices geographic profiles above `global.` ones;
- every model id genai-prices spells out (its id and the ids in its match rules), each resolved
  by genai-prices itself, so `gpt-5-codex` is a row priced like `gpt-5`;
- date-effective prices as windows; a whole-request tier "above N input tokens" as `lc_threshold`
  and the `lc_*` rates; cache reads without a rate of their own at the input rate, as genai-prices
  bills them; cache writes without a published rate left empty (unpriced, never guessed);
- the per-call fees it lists (web searches, file searches), plus tierlens' documented provider
  defaults (OpenAI built-in tools, Anthropic web search), and fast mode as `fast_multiplier`.
What it skips, with the reason, is written to `genai_prices_skipped.csv`.

What it must never do: change a price (corrections.csv is the place for tierlens' own rules), or
read the network (only the installed package's bundled data).

Usage: `.venv/bin/python scripts/refresh_prices.py [--check]` (`--check` exits 1 if the files differ).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import polars as pl
from genai_prices import data as genai_data
from genai_prices.types import (
    ClauseAnd,
    ClauseContains,
    ClauseEndsWith,
    ClauseEquals,
    ClauseOr,
    ClauseStartsWith,
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)

from tierlens.pricing.models import normalize_model, strip_routing
from tierlens.pricing.table import TABLE_SCHEMA
from tierlens.sources.common import provider_of

DATA = Path(__file__).resolve().parents[1] / "src" / "tierlens" / "pricing" / "data"
SNAPSHOT = DATA / "genai_prices.csv"
SKIPPED = DATA / "genai_prices_skipped.csv"
VERSION = genai_prices.__version__
NOON = time(12, tzinfo=UTC)

TOKEN_KEYS = {
    # our rate column -> genai-prices price keys, first present wins. Cache reads without a price of
    # their own cost input (genai-prices' rule, and what a provider without a cache discount bills);
    # cache writes without a published price stay empty, so such a request is unpriced, not guessed.
    "input": ("input_mtok",),
    "cache_write_5m": ("cache_write_5m_mtok", "cache_write_mtok"),
    "cache_write_1h": ("cache_write_1h_mtok", "cache_write_mtok"),
    "cache_read": ("cache_read_mtok", "input_mtok"),
    "output": ("output_mtok",),
}
FEE_KEYS = {"web_searches_kcount": "web_search_call", "storage_searches_kcount": "file_search_call"}
UNCOUNTED_UNITS = {
    "requests_kcount": "a per-request fee",
    "output_reasoning_mtok": "reasoning tokens priced apart from output",
    "output_citation_mtok": "citation tokens priced apart from output",
    "input_mchars": "priced per character",
    "audio_hours": "priced per audio hour",
    "input_audio_hours": "priced per audio hour",
    "output_audio_hours": "priced per audio hour",
    "input_document_kpages": "priced per document page",
    "input_annotated_document_kpages": "priced per document page",
    "input_gpixels": "priced per pixel",
    "input_text_messages_kcount": "priced per message",
    "rerank_searches_kcount": "priced per rerank search",
    "social_searches_kcount": "priced per social search",
    "code_executions_kcount": "priced per code execution",
}
"""Units tierlens does not count: pricing such a model from its token rates alone would under-bill."""

PROVIDER_FEES = {
    # tierlens' documented per-call fees (docs/pricing.md, rules 5 and 8), USD per call
    "anthropic": {"web_search_call": Decimal("0.01")},
    "openai": {
        "web_search_call": Decimal("0.01"),
        "file_search_call": Decimal("0.0025"),
        "code_interpreter_call": Decimal("0.03"),
    },
}
OPENAI_REASONING = re.compile(r"^(gpt-[5-9]|o\d|codex)")
"""OpenAI's preview web search costs $10 per 1,000 calls on reasoning models, $25 on the others."""
OPENAI_TOKENIZERS = (
    (
        re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4\.[15]|gpt-[5-9]|o\d|codex|gpt-oss|gpt-realtime|gpt-audio)"),
        "o200k",
    ),
    (re.compile(r"^(gpt-3\.5|gpt-35|gpt-4(-|$)|text-embedding-(3|ada))"), "cl100k"),
)
BEDROCK_PROFILES = ("global.", "us.", "eu.", "apac.", "jp.", "au.")
BEDROCK_VENDOR = re.compile(r"^(?:(?:global|regional|us|eu|apac|jp|au|us-gov|ca|sa|me|af)\.)?([a-z0-9-]+)\.")
"""The Bedrock reader's vendor rule (sources/bedrock.py), plus genai-prices' `regional.` grouping prefix."""


class Skip(Exception):
    """A model, or one of its windows, that the price table's columns cannot represent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Snapshot:
    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def skip(self, provider: str, model: str, reason: str) -> None:
        self.skipped.append({"genai_provider": provider, "genai_model": model, "reason": reason})


# ---------------------------------------------------------------------------------------------
# genai-prices model -> rate windows
# ---------------------------------------------------------------------------------------------


def _at(day: date) -> datetime:
    return datetime.combine(day, NOON)


def windows(model: ModelInfo, extra: Iterable[ModelInfo] = ()) -> list[tuple[date | None, date | None]]:
    """[from, to) windows between the start dates of `model`'s (and `extra`'s) conditional prices."""
    starts: set[date] = set()
    for m in (model, *extra):
        for c in m.prices if isinstance(m.prices, list) else []:
            if isinstance(c.constraint, TimeOfDateConstraint):
                raise Skip("prices that depend on the time of day")
            if isinstance(c.constraint, StartDateConstraint):
                starts.add(c.constraint.start_date)
    edges: list[date | None] = [None, *sorted(starts), None]
    return list(itertools.pairwise(edges))


def day_in(lo: date | None, hi: date | None) -> date:
    if lo is not None:
        return lo
    return hi - timedelta(days=1) if hi is not None else date(2026, 1, 1)


def _price_keys(price: ModelPrice) -> dict[str, Any]:
    return {k: v for k, v in price.__dict__.items() if not k.startswith("_") and v is not None}


def _base_and_tier(value: Decimal | TieredPrices) -> tuple[Decimal, int | None, Decimal | None]:
    if not isinstance(value, TieredPrices):
        return value, None, None
    if len(value.tiers) != 1:
        raise Skip("more than one context tier")
    return value.base, value.tiers[0].start, value.tiers[0].price


def token_rates(price: ModelPrice) -> dict[str, Decimal | int | None]:
    """Our rate columns of one resolved genai-prices price (`lc_*` for an 'above N input tokens' tier)."""
    keys = _price_keys(price)
    for key in keys:
        if key in UNCOUNTED_UNITS:
            raise Skip(UNCOUNTED_UNITS[key])
    if "input_mtok" not in keys:
        raise Skip("no per-token input price")
    out: dict[str, Decimal | int | None] = {}
    thresholds: set[int] = set()
    for column, chain in TOKEN_KEYS.items():
        price_key = next((k for k in chain if k in keys), None)
        if price_key is None:
            out[column] = out[f"lc_{column}"] = None
            continue
        base, start, tier = _base_and_tier(keys[price_key])
        out[column], out[f"lc_{column}"] = base, tier if tier is not None else base
        if start is not None:
            thresholds.add(start)
    if len(thresholds) > 1:
        raise Skip("context tiers that start at different prompt sizes")
    out["lc_threshold"] = thresholds.pop() if thresholds else None
    if out["lc_threshold"] is None:
        out.update({f"lc_{c}": None for c in TOKEN_KEYS})
    return out


def fees(price: ModelPrice, provider: str, model_id: str) -> dict[str, Decimal | None]:
    """Per-call fees: tierlens' provider defaults, then what genai-prices lists for the model."""
    keys = _price_keys(price)
    out: dict[str, Decimal | None] = dict(PROVIDER_FEES.get(provider, {}))
    if provider == "openai":
        out["web_search_preview_call"] = Decimal("0.01" if OPENAI_REASONING.match(model_id) else "0.025")
    for key, column in FEE_KEYS.items():
        if isinstance(keys.get(key), Decimal):
            out[column] = keys[key] / 1000
    return out


def ratio(num: ModelPrice, den: ModelPrice) -> Decimal | None:
    """The one multiplier that turns every rate of `den` into `num`'s, if there is one."""
    a, b = token_rates(num), token_rates(den)
    if a["lc_threshold"] != b["lc_threshold"]:
        return None
    found: set[Decimal] = set()
    for k in a.keys() - {"lc_threshold"}:
        x, y = a[k], b[k]
        if (x is None and y is None) or x == y == 0:
            continue
        if not isinstance(x, Decimal) or not isinstance(y, Decimal) or y == 0:
            return None
        found.add(x / y)
    return found.pop() if len(found) == 1 else None


def fast_multiplier(model: ModelInfo, day: date) -> Decimal | None:
    if not any(v.when == {"speed": "fast"} for v in model.price_variants or []):
        return None
    return ratio(model.get_prices(_at(day), {"speed": "fast"}), model.get_prices(_at(day)))


# ---------------------------------------------------------------------------------------------
# genai-prices model ids -> tierlens (provider, model_id)
# ---------------------------------------------------------------------------------------------


def spellings(model: ModelInfo) -> list[str]:
    """The model ids a model's match rule spells out (prefixes and substrings taken as ids)."""
    found = [model.id.rstrip("-:@./")]

    def walk(clause: Any) -> None:
        if isinstance(clause, ClauseOr):
            for c in clause.or_:
                walk(c)
        elif isinstance(clause, ClauseAnd):
            for c in clause.and_:
                walk(c)
        elif isinstance(clause, ClauseEquals | ClauseStartsWith | ClauseEndsWith | ClauseContains):
            value = next(iter(clause.__dict__.values()))
            found.append(str(value).rstrip("-:@./"))

    walk(model.match)
    return list(dict.fromkeys(s.lower() for s in found if s and " " not in s))


def normalized(ids: Sequence[str]) -> dict[str, tuple[str, str, str | None]]:
    """id -> (normalized model_id, routing-stripped id, endpoint scope), by tierlens' own functions."""
    frame = pl.DataFrame({"m": list(dict.fromkeys(ids))}, schema={"m": pl.String})
    mid, scope = normalize_model(pl.col("m"))
    out = frame.with_columns(n=mid, e=strip_routing(pl.col("m")), s=scope)
    return {m: (n, e, s) for m, n, e, s in out.iter_rows()}


def readers_provider(model_ids: Sequence[str], fallback: str) -> dict[str, str]:
    """model_id -> the provider the readers give it (Claude and GPT ids are always anthropic/openai)."""
    frame = pl.DataFrame({"m": list(model_ids)}, schema={"m": pl.String})
    out = frame.with_columns(p=provider_of(pl.col("m"), fallback))
    return dict(out.iter_rows())


def keyed_models(provider: Provider) -> tuple[dict[str, ModelInfo], dict[str, str]]:
    """tierlens model_id -> the genai-prices model priced for it, and the models left without an id.

    A spelled-out id keys its normalized id; when two models' ids normalize alike (`gpt-4o` and
    `gpt-4o-2024-05-13`), the id that is its own normal form keeps it and the other keeps its exact id
    (the pricer prefers an exact id). A model whose every id is taken that way is reported.
    """
    ids = [s for m in provider.models for s in spellings(m)]
    norm = normalized(ids)
    keys: dict[str, ModelInfo] = {}
    lost: dict[str, str] = {}
    canonical = [s for s in dict.fromkeys(ids) if norm[s][0] == norm[s][1]]
    others = [s for s in dict.fromkeys(ids) if norm[s][0] != norm[s][1]]
    for s in canonical + others:
        model = provider.find_model(s)
        if model is None:
            continue
        n, exact, _ = norm[s]
        if keys.setdefault(n, model) is not model and keys.setdefault(exact, model) is not model:
            lost.setdefault(model.id, keys[exact].id)
    placed = {m.id for m in keys.values()}
    return keys, {m: winner for m, winner in lost.items() if m not in placed}


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------


def _fmt(value: Decimal | int | date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def family_of(provider: str, model_id: str) -> str:
    """Display family: the genai-prices model's id without date or route; Claude versions dotted."""
    family = model_id.split("/")[-1]
    if provider == "anthropic":
        family = re.sub(r"\.0(?=$|-)", "", re.sub(r"(?<=\d)-(?=\d(?:$|-))", ".", family))
    return family


def tier_of(provider: str, model_id: str) -> str:
    if provider != "anthropic":
        return ""
    return next((t for t in ("opus", "sonnet", "haiku") if t in model_id), "")


def tokenizer_of(provider: str, model_id: str) -> str:
    if provider == "anthropic":
        m = re.match(r"claude-(?:[a-z]+-)?(\d+)(?:[-.](\d))?(?!\d)", model_id)
        version = (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)
        return "claude-v2" if version >= (4, 7) else "claude-v1"
    if provider == "openai":
        return next((name for rx, name in OPENAI_TOKENIZERS if rx.match(model_id)), "")
    return ""


@dataclass(frozen=True)
class Key:
    provider: str
    model_id: str
    family: str


@dataclass(frozen=True)
class Source:
    """The genai-prices model(s) behind a row: list price, and the geographic one for Bedrock."""

    provider: str
    model: ModelInfo
    regional: ModelInfo | None = None

    def label(self) -> str:
        text = f"genai-prices {VERSION} {self.provider}/{self.model.id}"
        if self.regional is not None and self.regional is not self.model:
            text += f"; geographic profiles from {self.provider}/{self.regional.id}"
        return text


def rows_for(key: Key, src: Source) -> list[dict[str, str]]:
    """The rows of one tierlens model: one per window, windows with equal rates merged."""
    out: list[dict[str, str]] = []
    extra = [src.regional] if src.regional is not None else []
    for lo, hi in windows(src.model, extra):
        day = day_in(lo, hi)
        price = src.model.get_prices(_at(day))
        values: dict[str, Decimal | int | date | str | None] = {
            **token_rates(price),
            **fees(price, key.provider if src.provider != "aws" else "aws", key.model_id),
            "fast_multiplier": fast_multiplier(src.model, day),
        }
        if src.regional is not None and src.regional is not src.model:
            values["regional_multiplier"] = ratio(src.regional.get_prices(_at(day)), price)
        row = {c: _fmt(values.get(c)) for c in TABLE_SCHEMA}
        row.update(
            provider=key.provider,
            model_id=key.model_id,
            family=key.family,
            tier=tier_of(key.provider, key.model_id),
            tokenizer=tokenizer_of(key.provider, key.model_id),
            source=src.label(),
            effective_from=_fmt(lo),
            effective_to=_fmt(hi),
        )
        if row["regional_multiplier"] == "1":
            row["regional_multiplier"] = ""
        out = _merge(out, row)
    return out


def _merge(rows: list[dict[str, str]], row: dict[str, str]) -> list[dict[str, str]]:
    """Append `row`, or extend the previous window when the rates are the same."""
    same = ("effective_from", "effective_to")
    if rows and {k: v for k, v in rows[-1].items() if k not in same} == {
        k: v for k, v in row.items() if k not in same
    }:
        rows[-1]["effective_to"] = row["effective_to"]
        return rows
    return [*rows, row]


def direct_keys(provider: Provider, snap: Snapshot) -> Iterator[tuple[Key, Source]]:
    """A provider's own API: every spelled-out id under the genai-prices provider id."""
    keys, lost = keyed_models(provider)
    for model_id, winner in sorted(lost.items()):
        snap.skip(provider.id, model_id, f"its ids, normalized, are those of {winner}")
    owners = readers_provider(list(keys), provider.id)
    families = normalized([m.id for m in keys.values()])
    for model_id, model in sorted(keys.items()):
        if owners[model_id] != provider.id:
            snap.skip(provider.id, model.id, f"{model_id}: the readers price it under {owners[model_id]}")
            continue
        family = family_of(provider.id, families[model.id][0])
        yield Key(provider.id, model_id, family), Source(provider.id, model)


def _bare(model_id: str) -> str:
    return re.sub(r"^(global|regional)\.", "", model_id)


def _claim(keys: dict[str, str], bare: str, norm: tuple[str, str, str | None]) -> str | None:
    """The model_id a Bedrock id gets: its normalized id, else (taken by another id) its exact id."""
    for candidate in (norm[0], norm[1]):
        if keys.setdefault(candidate, bare) == bare:
            return candidate
    return None


def bedrock_keys(aws: Provider, snap: Snapshot, taken: set[tuple[str, str]]) -> Iterator[tuple[Key, Source]]:
    """Bedrock models under their vendor, keyed as the Bedrock reader keys them.

    Claude (and OpenAI models with an OpenAI id) are priced from the anthropic / openai rows,
    whose `regional_multiplier` covers geographic profiles.
    """
    bares = list(dict.fromkeys(_bare(m.id) for m in aws.models))
    norm = normalized(bares)
    claimed: dict[str, str] = {}
    for bare in sorted(bares, key=lambda b: norm[b][0] != norm[b][1]):
        vendor_match = BEDROCK_VENDOR.match(bare)
        vendor = vendor_match.group(1) if vendor_match else ""
        listed = aws.find_model("global." + bare) or aws.find_model(bare)
        regional = next((m for p in BEDROCK_PROFILES[1:] if (m := aws.find_model(p + bare))), None)
        base = listed or regional
        model_id = _claim(claimed, bare, norm[bare])
        if base is None or not vendor or model_id is None:
            continue
        if vendor == "anthropic" or (vendor, norm[bare][0]) in taken:
            for m in {base.id: base, (regional or base).id: regional or base}.values():
                snap.skip("aws", m.id, f"priced from the {vendor} rows of {norm[bare][0]}")
            continue
        family = norm[bare][0].removeprefix(vendor + ".")
        yield Key(vendor, model_id, family), Source("aws", base, regional)


def build() -> Snapshot:
    snap = Snapshot()
    providers = {p.id: p for p in genai_data.providers}
    keyed: list[tuple[Key, Source]] = []
    for pid, provider in sorted(providers.items()):
        if pid != "aws":
            keyed += direct_keys(provider, snap)
    taken = {(k.provider, k.model_id) for k, _ in keyed}
    keyed += bedrock_keys(providers["aws"], snap, taken)
    for key, src in keyed:
        try:
            snap.rows += rows_for(key, src)
        except Skip as why:
            snap.skip(src.provider, src.model.id, f"{key.model_id}: {why.reason}")
    snap.rows += exact_copies(snap.rows)
    snap.rows.sort(key=lambda r: (r["provider"], r["model_id"], r["effective_from"]))
    snap.skipped = sorted(
        {tuple(s.items()): s for s in snap.skipped}.values(), key=lambda s: tuple(s.values())
    )
    return snap


def exact_copies(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows that keep the pricer's exact-id rule safe across providers.

    The pricer prices a logged id by its exact form when any provider has a row for it
    (`gpt-4o-2024-05-13`), so a provider that prices only the normalized id (`mistral-medium`
    for `mistral-medium-latest`) gets the exact id as well, at the same rates.
    """
    keys = {(r["provider"], r["model_id"]) for r in rows}
    norm = normalized(sorted({m for _, m in keys}))
    providers = sorted({p for p, _ in keys})
    wanted: dict[tuple[str, str], list[str]] = {}
    for m in sorted(m for _, m in keys if norm[m][0] != m):
        for p in providers:
            if (p, norm[m][0]) in keys and (p, m) not in keys:
                wanted.setdefault((p, norm[m][0]), []).append(m)
    return [{**r, "model_id": m} for r in rows for m in wanted.get((r["provider"], r["model_id"]), [])]


def render(records: list[dict[str, str]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def outputs() -> dict[Path, str]:
    """File -> the text it must hold, from the installed genai-prices."""
    snap = build()
    return {
        SNAPSHOT: render(snap.rows, list(TABLE_SCHEMA)),
        SKIPPED: render(snap.skipped, ["genai_provider", "genai_model", "reason"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the vendored files are stale")
    args = parser.parse_args(argv)
    stale = [path for path, text in outputs().items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"stale: {path} (run scripts/refresh_prices.py)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        path.write_text(text)
    print(f"genai-prices {VERSION}: wrote {SNAPSHOT.name} and {SKIPPED.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
