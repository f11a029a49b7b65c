"""Pricing: a date-effective price table joined to the requests, never a Python call per row.

`PriceTable.load(settings)` reads the built-in table (the genai-prices snapshot `data/genai_prices.csv` under `data/corrections.csv`, USD per million tokens)
plus the user's overrides; `price_requests(frame, table)` fills the canonical cost columns. An
unknown model, or a billed category without a rate, is *unpriced*: null cost, `priced = false`.
"""

from tierlens.pricing.engine import price_requests, reprice, reprice_change, reprice_total
from tierlens.pricing.models import normalize_model
from tierlens.pricing.table import PriceTable

__all__ = ["PriceTable", "normalize_model", "price_requests", "reprice", "reprice_change", "reprice_total"]
