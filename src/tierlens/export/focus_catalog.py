"""The FOCUS columns tierlens writes and the cost categories, units, publishers and hosts
they are built from (docs/focus.md gives each mapping and the spec text it rests on)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierlens.schema import COST_COLUMNS, TOKEN_COLUMNS, TOOL_CALL_COLUMNS

if TYPE_CHECKING:
    pass


FOCUS_VERSION = "1.2"
"""The FOCUS version of the columns, plus ServiceProviderName and HostProviderName from 1.3."""
TAG_PREFIX = "tierlens/"
"""Prefix of the tags tierlens itself sets (feature, user, project, workspace, API key)."""
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""FOCUS Date/Time Format: extended ISO 8601 in UTC with the `Z` designator."""


@dataclass(frozen=True)
class Unit:
    """How a category is measured (ConsumedUnit) and priced (PricingUnit, a block of `block` units)."""

    consumed: str
    pricing: str
    block: int
    multiplied: bool
    """True when the row's price multiplier applies (token categories); per-call fees never are."""


TOKENS = Unit("Tokens", "1000000 Tokens", 1_000_000, True)
SEARCHES = Unit("Requests", "1000 Requests", 1_000, False)
CALLS = Unit("Requests", "Requests", 1, False)


@dataclass(frozen=True)
class Category:
    """A cost category: its key (in SkuId and x_CostCategory), SkuMeter, quantity and cost columns."""

    key: str
    meter: str
    quantity: str
    cost: str
    unit: Unit


CATEGORIES: tuple[Category, ...] = (
    Category("input", "Input Tokens", "input_tokens", "cost_input_usd", TOKENS),
    Category("cache_write_5m", "5-Minute Cache Write Tokens", "cache_write_5m_tokens", "_write_5m", TOKENS),
    Category("cache_write_1h", "1-Hour Cache Write Tokens", "cache_write_1h_tokens", "_write_1h", TOKENS),
    Category("cache_read", "Cache Read Tokens", "cache_read_tokens", "cost_cache_read_usd", TOKENS),
    Category("output", "Output Tokens", "output_tokens", "cost_output_usd", TOKENS),
    Category("web_search", "Web Search Requests", "web_search_requests", "cost_web_search_usd", SEARCHES),
    Category("tool_calls", "Tool Calls", "_tool_calls", "cost_tools_usd", CALLS),
)
WEB = next(i for i, c in enumerate(CATEGORIES) if c.key == "web_search")

PUBLISHERS = {
    "anthropic": "Anthropic",
    "openai": "OpenAI",
    "amazon": "Amazon",
    "meta": "Meta",
    "mistral": "Mistral AI",
    "deepseek": "DeepSeek",
    "qwen": "Qwen",
    "writer": "Writer",
    "google": "Google",
}
"""Provider column value -> the name of the company that makes the model (PublisherName)."""
DIRECT_SERVICES = {"anthropic": "Claude API", "openai": "OpenAI API"}
HOSTS = {
    "aws": ("Amazon Web Services", "Amazon Bedrock"),
    "gcp": ("Google Cloud", "Vertex AI"),
    "azure": ("Microsoft", "Azure AI Foundry"),
}
"""Cloud that served and invoiced a request -> (its name, the service name)."""
MARKETPLACE_SELLERS = frozenset({"anthropic"})
"""Publishers whose models a cloud resells through its marketplace: they are the ServiceProviderName
there (FOCUS 1.3 marketplace note); a cloud's own or first-party-served models have the cloud."""

GRAIN = (
    "date",
    "provider",
    "model",
    "model_id",
    "_host",
    "workspace_id",
    "project",
    "feature",
    "user_id",
    "api_key_id",
    "tags",
    "service_tier",
    "speed",
    "inference_geo",
    "endpoint_scope",
)
TERMS = ("_order", "long_context", "price_multiplier", "web_search_variant")
BLANKABLE = (
    "workspace_id",
    "project",
    "feature",
    "user_id",
    "api_key_id",
    "inference_geo",
    "endpoint_scope",
    "web_search_variant",
)
TAGGED = ("feature", "user_id", "project", "workspace_id", "api_key_id")
READ = (
    *(c for c in GRAIN if c != "_host"),
    "ts",
    "source",
    "priced",
    "price_multiplier",
    "long_context",
    "web_search_variant",
    "web_search_requests",
    *TOKEN_COLUMNS,
    *TOOL_CALL_COLUMNS,
    *COST_COLUMNS,
    "cost_usd",
)
"""The stored columns an export reads (and that re-pricing a mixed cache-write row needs)."""

FOCUS_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "ServiceProviderName",
    "HostProviderName",
    "PricingQuantity",
    "PricingUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ResourceId",
    "ResourceType",
    "SkuId",
    "SkuMeter",
    "Tags",
)
"""FOCUS columns in the order they are written; custom `x_` columns follow them."""
CUSTOM_COLUMNS = (
    "x_CostCategory",
    "x_Model",
    "x_ServiceTier",
    "x_Speed",
    "x_InferenceGeo",
    "x_EndpointScope",
    "x_LongContext",
    "x_PriceMultiplier",
)
DATETIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
