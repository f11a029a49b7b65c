"""FOCUS column rules, written from the specification text (not from tierlens's code).

Source: FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec at tag v1.2, `specification/columns/<file>.md`
("Content Constraints" tables and the MUST lists) and `specification/attributes/*.md` for the value
formats; ServiceProviderName and HostProviderName from the FOCUS 1.3 column text
(`serviceprovidername.md`, `hostprovidername.md`). Each rule names its file.

- `data_type`: the spec's "Data type" (Decimal, String, Date/Time written DateTime, JSON).
- `allows_nulls`: the spec's "Allows nulls".
- `not_null_for_usage`: the column's nullability rule says MUST NOT be null when ChargeCategory is
  "Usage" and ChargeClass is not "Correction" (every row this export writes is such a row).
- `null_with`: MUST be null when that column is null, and MUST NOT be null when it is not.
- `allowed`: the allowed values the spec lists.
- `value_format`: Currency, DateTime, Numeric, Unit or KeyValue (attributes/*_format.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    data_type: str
    feature_level: str
    allows_nulls: bool
    source: str
    introduced: str
    allowed: frozenset[str] | None = None
    not_null_for_usage: bool = False
    null_with: str | None = None
    value_format: str | None = None


CHARGE_CATEGORIES = frozenset({"Usage", "Purchase", "Tax", "Credit", "Adjustment"})
CHARGE_FREQUENCIES = frozenset({"One-Time", "Recurring", "Usage-Based"})
SERVICE_CATEGORIES = frozenset(
    {
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    }
)
AI_SUBCATEGORIES = frozenset(
    {
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
        "Other (AI and Machine Learning)",
    }
)
"""servicesubcategory.md: the subcategories whose parent is "AI and Machine Learning" (the one
ServiceCategory this export writes; the other parents' subcategories are left out of the table)."""
SUBCATEGORY_PARENT = dict.fromkeys(AI_SUBCATEGORIES, "AI and Machine Learning")

UNIT_COUNTS = ("Count", "Unit", "Request", "Token", "Connection", "Certificate", "Domain", "Core")
"""unit_format.md, "Count-based Unit Names" (recommended; a unit names them in the plural)."""
UNIT_TIMES = ("Year", "Month", "Day", "Hour", "Minute", "Second")

COLUMNS: dict[str, Rule] = {
    "BilledCost": Rule("Decimal", "Mandatory", False, "billedcost.md", "0.5", value_format="Numeric"),
    "EffectiveCost": Rule("Decimal", "Mandatory", False, "effectivecost.md", "0.5", value_format="Numeric"),
    "ListCost": Rule("Decimal", "Mandatory", False, "listcost.md", "1.0-preview", value_format="Numeric"),
    "ContractedCost": Rule("Decimal", "Mandatory", False, "contractedcost.md", "1.0", value_format="Numeric"),
    "BillingCurrency": Rule(
        "String", "Mandatory", False, "billingcurrency.md", "0.5", value_format="Currency"
    ),
    "BillingAccountId": Rule("String", "Mandatory", False, "billingaccountid.md", "0.5"),
    "BillingAccountName": Rule("String", "Mandatory", True, "billingaccountname.md", "0.5"),
    "SubAccountId": Rule("String", "Conditional", True, "subaccountid.md", "0.5"),
    "SubAccountName": Rule(
        "String", "Conditional", True, "subaccountname.md", "0.5", null_with="SubAccountId"
    ),
    "BillingPeriodStart": Rule(
        "DateTime", "Mandatory", False, "billingperiodstart.md", "0.5", value_format="DateTime"
    ),
    "BillingPeriodEnd": Rule(
        "DateTime", "Mandatory", False, "billingperiodend.md", "0.5", value_format="DateTime"
    ),
    "ChargePeriodStart": Rule(
        "DateTime", "Mandatory", False, "chargeperiodstart.md", "0.5", value_format="DateTime"
    ),
    "ChargePeriodEnd": Rule(
        "DateTime", "Mandatory", False, "chargeperiodend.md", "0.5", value_format="DateTime"
    ),
    "ChargeCategory": Rule(
        "String", "Mandatory", False, "chargecategory.md", "0.5", allowed=CHARGE_CATEGORIES
    ),
    "ChargeClass": Rule(
        "String", "Mandatory", True, "chargeclass.md", "1.0", allowed=frozenset({"Correction"})
    ),
    "ChargeDescription": Rule("String", "Mandatory", True, "chargedescription.md", "1.0-preview"),
    "ChargeFrequency": Rule(
        "String", "Recommended", False, "chargefrequency.md", "1.0-preview", allowed=CHARGE_FREQUENCIES
    ),
    "ServiceName": Rule("String", "Mandatory", False, "servicename.md", "0.5"),
    "ServiceCategory": Rule(
        "String", "Mandatory", False, "servicecategory.md", "0.5", allowed=SERVICE_CATEGORIES
    ),
    "ServiceSubcategory": Rule(
        "String", "Recommended", False, "servicesubcategory.md", "1.1", allowed=AI_SUBCATEGORIES
    ),
    "ProviderName": Rule("String", "Mandatory", False, "provider.md (deprecated in 1.3)", "0.5"),
    "PublisherName": Rule("String", "Mandatory", False, "publisher.md (deprecated in 1.3)", "0.5"),
    "InvoiceIssuerName": Rule("String", "Mandatory", False, "invoiceissuer.md", "0.5"),
    "ServiceProviderName": Rule("String", "Mandatory", False, "serviceprovidername.md (1.3)", "1.3"),
    "HostProviderName": Rule(
        # nullable in the table, but MUST NOT be null for a service deployed on infrastructure
        "String",
        "Mandatory",
        True,
        "hostprovidername.md (1.3)",
        "1.3",
        not_null_for_usage=True,
    ),
    "PricingQuantity": Rule(
        "Decimal",
        "Mandatory",
        True,
        "pricingquantity.md",
        "1.0-preview",
        not_null_for_usage=True,
        value_format="Numeric",
    ),
    "PricingUnit": Rule(
        "String",
        "Mandatory",
        True,
        "pricingunit.md",
        "1.0-preview",
        null_with="PricingQuantity",
        value_format="Unit",
    ),
    "ConsumedQuantity": Rule(
        "Decimal",
        "Conditional",
        True,
        "consumedquantity.md",
        "1.0",
        not_null_for_usage=True,
        value_format="Numeric",
    ),
    "ConsumedUnit": Rule(
        "String",
        "Conditional",
        True,
        "consumedunit.md",
        "1.0",
        null_with="ConsumedQuantity",
        value_format="Unit",
    ),
    "ResourceId": Rule("String", "Conditional", True, "resourceid.md", "0.5"),
    "ResourceType": Rule(
        "String", "Conditional", True, "resourcetype.md", "1.0-preview", null_with="ResourceId"
    ),
    "SkuId": Rule("String", "Conditional", True, "skuid.md", "1.0-preview", not_null_for_usage=True),
    "SkuMeter": Rule("String", "Conditional", True, "skumeter.md", "1.1", null_with="SkuId"),
    "Tags": Rule("JSON", "Conditional", True, "tags.md", "1.0-preview", value_format="KeyValue"),
}

MANDATORY_1_2 = frozenset(
    {
        "BilledCost",
        "BillingAccountId",
        "BillingAccountName",
        "BillingCurrency",
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "ChargeCategory",
        "ChargeClass",
        "ChargeDescription",
        "ChargePeriodEnd",
        "ChargePeriodStart",
        "ContractedCost",
        "EffectiveCost",
        "InvoiceIssuerName",
        "ListCost",
        "PricingQuantity",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "ServiceCategory",
        "ServiceName",
    }
)
"""Columns whose Feature level is Mandatory in v1.2 (ServiceProviderName and HostProviderName are
Mandatory from 1.3)."""

# Value formats, from specification/attributes/*.md
CURRENCY = r"^[A-Z]{3}$"
"""currency_format.md: a national currency as its ISO 4217 three-letter code."""
DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
"""datetime_format.md: 'YYYY-MM-DDTHH:mm:ssZ', UTC."""
NUMERIC = r"^-?\d+(\.\d+)?(E-?\d+)?$"
"""numeric_format.md: an integer, a decimal or E notation (no '+', commas, units or symbols)."""
_WORD = r"[A-Z][A-Za-z]*"
UNIT = rf"^(\d+ )?{_WORD}(-{_WORD})?(/(\d+ )?{_WORD})?$"
"""unit_format.md: `<plural-units>`, `<singular-unit>-<plural-time-units>`, `<plural-units>/<time>`,
optionally with a whole-number quantity (`1000 Tokens`); capitalized words."""
