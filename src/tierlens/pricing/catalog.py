"""Model generations: which model of a tier is newest, current, cheaper, or past its retirement.

Every few months a model ships that does what an older one did for less; a recommendation written
into code ("move to claude-sonnet-4-6") is wrong the next time. So the recommendations are read
from data kept beside the prices: `data/models.csv` (and the user's `[[pricing.lifecycle]]`) gives
each model id its tier, generation, release, deprecation and retirement dates, the replacement its
provider names and the dated snapshot an alias points to; the price table gives its current rates
and tokenizer. A new row changes every recommendation, with no code change:
- `newer(model, on)`: the current models of its tier of a later generation;
- `newest(tier, on, tokenizer=...)`: the current model of a tier of the latest generation;
- `replacement(model, on)`: the one its provider names, else the newest of its tier;
- `status(model, on)`: active, deprecated or retired on that day.
"Current" on a day: released by then (or no release date recorded), neither deprecated nor
retired by then, and priced in the table.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Literal

import polars as pl

from tierlens.config import ModelLifecycle, PricingConfig
from tierlens.pricing.table import PriceTable

TIERS = ("haiku", "sonnet", "opus")
"""Anthropic's tiers, cheapest first."""
MODELS_FILE = "models.csv"
_RATE_OF = {
    "input_tokens": "input",
    "cache_read_tokens": "cache_read",
    "cache_write_5m_tokens": "cache_write_5m",
    "cache_write_1h_tokens": "cache_write_1h",
    "output_tokens": "output",
}
Status = Literal["active", "deprecated", "retired"]


@dataclass(frozen=True)
class Model:
    """One model id's row of the catalog, with its tokenizer from the price table."""

    provider: str
    model_id: str
    tier: str
    generation: tuple[int, ...]
    released: date | None
    deprecated: date | None
    retired: date | None
    replacement: str | None
    snapshot: str | None
    tokenizer: str | None

    @property
    def points_since(self) -> date | None:
        """For an alias: since when it points to its snapshot (the snapshot's date, its id's
        `-YYYYMMDD`, else the alias's release); None when neither is known."""
        day = (self.snapshot or "")[-8:]
        if day.isdigit():
            with contextlib.suppress(ValueError):
                return date(int(day[:4]), int(day[4:6]), int(day[6:]))
        return self.released if self.snapshot else None

    @property
    def version(self) -> str:
        return ".".join(str(p) for p in self.generation)

    def status(self, on: date) -> Status:
        if self.retired is not None and on >= self.retired:
            return "retired"
        if self.deprecated is not None and on >= self.deprecated:
            return "deprecated"
        return "active"


class ModelCatalog:
    """The models of the built-in catalog and the user's lifecycle rows (see the module docstring)."""

    def __init__(self, rows: Iterable[ModelLifecycle], table: PriceTable) -> None:
        self.table = table
        tokenizers = dict(
            table.rows.select("model_id", "tokenizer").drop_nulls("tokenizer").unique("model_id").iter_rows()
        )
        self.models: dict[str, Model] = {}
        for r in rows:  # later rows (the user's) replace earlier ones of the same id
            self.models[r.model_id] = Model(
                provider=r.provider,
                model_id=r.model_id,
                tier=r.tier,
                generation=tuple(int(p) for p in r.generation.split(".")),
                released=r.released,
                deprecated=r.deprecated,
                retired=r.retired,
                replacement=r.replacement,
                snapshot=r.snapshot,
                tokenizer=tokenizers.get(r.model_id),
            )

    @classmethod
    def of(cls, table: PriceTable) -> ModelCatalog:
        """The built-in catalog with the user's lifecycle rows the table was loaded with on top."""
        return cls([*builtin_lifecycle(), *table.lifecycle], table)

    @classmethod
    def load(cls, pricing: PricingConfig | None = None) -> ModelCatalog:
        """The catalog of the price table `pricing` gives."""
        return cls.of(PriceTable.load(pricing))

    def get(self, model_id: str) -> Model | None:
        return self.models.get(model_id)

    def status(self, model_id: str, on: date) -> Status | None:
        """The model's lifecycle status on `on`; None for a model the catalog does not know."""
        model = self.models.get(model_id)
        return model.status(on) if model else None

    def current(self, on: date, tier: str | None = None, provider: str = "anthropic") -> list[Model]:
        """The current models (of `tier`) on `on`, oldest generation first."""
        priced = self.table.model_ids()
        out = [
            m
            for m in self.models.values()
            if m.provider == provider
            and (tier is None or m.tier == tier)
            and (m.released is None or m.released <= on)
            and m.status(on) == "active"
            and m.model_id in priced
        ]
        return sorted(out, key=lambda m: (m.generation, m.model_id))

    def newer(self, model_id: str, on: date) -> list[Model]:
        """The current models of `model_id`'s tier of a later generation, oldest first."""
        model = self.models.get(model_id)
        if model is None:
            return []
        return [m for m in self.current(on, model.tier, model.provider) if m.generation > model.generation]

    def newest(self, tier: str, on: date, *, tokenizer: str | None = None) -> Model | None:
        """The current model of `tier` of the latest generation (with `tokenizer`, when given)."""
        models = [m for m in self.current(on, tier) if tokenizer is None or m.tokenizer == tokenizer]
        return models[-1] if models else None

    def replacement(self, model_id: str, on: date) -> Model | None:
        """The replacement its provider names when that one is current, else the newest of its tier."""
        model = self.models.get(model_id)
        if model is None:
            return None
        named = self.models.get(model.replacement or "")
        if named is not None and named in self.current(on, named.tier, named.provider):
            return named
        newest = self.newest(model.tier, on)
        return newest if newest is not None and newest.generation > model.generation else None

    def rates(self, model_id: str, on: date, provider: str = "anthropic") -> dict[str, float] | None:
        """The model's standard list rates on `on` (USD per million tokens by token column:
        `input_tokens`, `cache_read_tokens`, ...); None when the table has no row in force."""
        rows = self.table.rows.filter(
            (pl.col("provider") == provider)
            & (pl.col("model_id") == model_id)
            & (pl.col("effective_from").is_null() | (pl.col("effective_from") <= on))
            & (pl.col("effective_to").is_null() | (pl.col("effective_to") > on))
        )
        if rows.is_empty():
            return None
        r = rows.row(0, named=True)
        rate = {c: r[k] for c, k in _RATE_OF.items()}
        if any(v is None for v in rate.values()):
            return None
        return rate

    def tier_step(self, tier: str, steps: int) -> str | None:
        """The tier `steps` above (negative: below) `tier`; None past either end."""
        if tier not in TIERS:
            return None
        i = TIERS.index(tier) + steps
        return TIERS[i] if 0 <= i < len(TIERS) else None

    def alias_of(self, logged: str) -> Model | None:
        """The model a logged id names as an alias of a dated snapshot (`claude-sonnet-4-5` for
        `claude-sonnet-4-5-20250929`); None for a snapshot, a dateless id, or an unknown model."""
        model = self.models.get(logged)
        return model if model is not None and model.snapshot and model.snapshot != logged else None


def builtin_lifecycle() -> list[ModelLifecycle]:
    """The rows of `data/models.csv`."""
    text = resources.files("tierlens.pricing").joinpath("data", MODELS_FILE).read_text(encoding="utf-8")
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        fields = {k: v for k, v in raw.items() if k != "source" and v != ""}
        rows.append(ModelLifecycle.model_validate(fields))
    return rows
