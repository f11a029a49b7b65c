"""The replay engine on the sample data: its invariants, exactness within a draw, calibration, labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests.conftest import REPO
from tierlens.config import PriceOverride, PricingConfig
from tierlens.pricing import PriceTable, price_requests
from tierlens.replay import Dist, Policy, ReplayResult, load_policies, parse_policy, replay
from tierlens.replay.assumptions import DEFAULT_OUTPUT_RATIO, Param, draw_values
from tierlens.replay.columns import DAYS_PER_MONTH

TABLE = PriceTable.load()
TOKENS = [
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
]


def policy(text: str, name: str = "test") -> Policy:
    return parse_policy(text, f"<{name}>", TABLE, default_name=name)


@pytest.fixture(scope="module")
def rows(sample_data: Path) -> pl.DataFrame:
    return tierlens.open(sample_data).collect()


@pytest.fixture(scope="module")
def shipped(sample_data: Path) -> ReplayResult:
    return replay(
        tierlens.open(sample_data), load_policies([REPO / "policies"], TABLE), TABLE, draws=400, seed=0
    )


def run(sample_data: Path, *policies: Policy, draws: int = 200, seed: int = 0) -> ReplayResult:
    return replay(tierlens.open(sample_data), list(policies), TABLE, draws=draws, seed=seed)


def totals(r: ReplayResult, name: str) -> dict[str, Any]:
    return r.policy(name).totals


# --- the invariants of the issue -----------------------------------------------------------------


def test_baseline_is_the_pricing_engines_total(shipped: ReplayResult, rows: pl.DataFrame) -> None:
    priced = rows.filter(pl.col("priced"))
    assert shipped.baseline_usd == pytest.approx(priced["cost_usd"].sum(), rel=1e-9)
    assert shipped.unpriced_models == {"claude-nimbus-preview": 30}
    for p in shipped.policies:
        assert p.totals["baseline_usd"] == pytest.approx(shipped.baseline_usd, rel=1e-9)
        by_feature = dict(priced.group_by("feature").agg(pl.col("cost_usd").sum()).iter_rows())
        got = dict(p.rows.group_by("feature").agg(pl.col("baseline_usd").sum()).iter_rows())
        assert got == pytest.approx(by_feature, rel=1e-9)


def test_identity_policy_saves_exactly_nothing(sample_data: Path, rows: pl.DataFrame) -> None:
    models = sorted(rows.filter(pl.col("priced"))["model_id"].unique().to_list())
    text = "".join(f'[[rules]]\nwhen = "model_id = \'{m}\'"\nroute_to = "{m}"\n' for m in models)
    r = run(sample_data, policy(text, "identity"))
    t = totals(r, "identity")
    assert t["touched_requests"] == t["requests"] == rows.filter(pl.col("priced")).height
    assert t["savings_p10"] == t["savings_p50"] == t["savings_p90"] == 0.0
    assert t["cf_p10"] == t["cf_p50"] == t["cf_p90"] == t["baseline_usd"]
    assert t["label"] == "exact" and t["top_assumption"] is None
    p = r.policy("identity").rows
    assert (p["savings_p10"] == 0).all() and (p["savings_p90"] == 0).all() and (p["label"] == "exact").all()


def test_another_service_tier_equals_the_pricing_engine_exactly(
    sample_data: Path, rows: pl.DataFrame
) -> None:
    r = run(sample_data, policy('[[rules]]\nwhen = "TRUE"\nservice_tier = "batch"\n', "batch"))
    expected = price_requests(rows.with_columns(service_tier=pl.lit("batch")), TABLE).filter(pl.col("priced"))
    t = totals(r, "batch")
    assert t["cf_p10"] == t["cf_p50"] == t["cf_p90"]
    assert t["cf_p50"] == pytest.approx(expected["cost_usd"].sum(), rel=1e-9)
    assert t["label"] == "exact"
    per_feature = dict(
        expected.group_by("feature", "tier")
        .agg(pl.col("cost_usd").sum())
        .select(pl.concat_str("feature", "tier", separator="/"), "cost_usd")
        .iter_rows()
    )
    got = dict(
        r.policy("batch").rows.select(pl.concat_str("feature", "tier", separator="/"), "cf_p50").iter_rows()
    )
    assert got == pytest.approx(per_feature, rel=1e-9)
    # ... and back: batch traffic re-priced at standard doubles exactly
    back = run(
        sample_data,
        policy('[[rules]]\nwhen = "service_tier = \'batch\'"\nservice_tier = "standard"\n', "std"),
    )
    nightly = rows.filter((pl.col("service_tier") == "batch") & pl.col("priced"))
    assert totals(back, "std")["savings_p50"] == pytest.approx(-nightly["cost_usd"].sum(), rel=1e-9)


def test_a_policy_that_touches_nothing_changes_nothing(sample_data: Path) -> None:
    r = run(
        sample_data,
        policy(
            '[[rules]]\nwhen = "feature = \'no-such-feature\'"\nroute_to = "claude-haiku-4-5"\n', "nothing"
        ),
    )
    t = totals(r, "nothing")
    assert t["touched_requests"] == 0 and t["touched_baseline_usd"] == 0.0
    assert t["savings_p10"] == t["savings_p50"] == t["savings_p90"] == 0.0
    assert t["cf_p50"] == t["baseline_usd"] and t["label"] == "exact"
    empty = run(sample_data, policy('name = "empty"\n', "empty"))
    assert totals(empty, "empty")["savings_p50"] == 0.0


def test_results_are_deterministic_for_a_seed(sample_data: Path) -> None:
    """Same seed, same figures to the last bit (every draw, every row); another seed moves the draws."""
    from polars.testing import assert_frame_equal

    from tierlens.replay.render import chart_specs, to_dict

    pols = load_policies([REPO / "policies"], TABLE)
    runs = [replay(tierlens.open(sample_data), pols, TABLE, draws=150, seed=s) for s in (42, 42, 43)]
    a, b, c = (to_dict(r) for r in runs)
    for doc in (a, b, c):
        doc.pop("generated_at")
    assert a == b
    assert chart_specs(runs[0]) == chart_specs(runs[1])
    for pa, pb in zip(runs[0].policies, runs[1].policies, strict=True):
        assert_frame_equal(pa.draws, pb.draws, check_exact=True)
        assert_frame_equal(pa.rows, pb.rows, check_exact=True)
    by_name = {p["name"]: p["totals"] for p in a["policies"]}
    other = {p["name"]: p["totals"] for p in c["policies"]}
    assert by_name["sonnet-to-sonnet-5"]["savings_p10"] != other["sonnet-to-sonnet-5"]["savings_p10"]
    assert by_name["batch-for-async-features"] == other["batch-for-async-features"]  # exact: no draws


# --- exactness within a draw ---------------------------------------------------------------------


def brute_force(rows: pl.DataFrame, target: str, **scale: float) -> float:
    """Counterfactual cost of `rows` on `target`, every token column scaled, priced row by row."""
    cf = rows.with_columns(
        model=pl.lit(target),
        model_id=pl.lit(target),
        **{c: pl.col(c).cast(pl.Float64) * scale.get(c, 1.0) for c in TOKENS},
    )
    return float(price_requests(cf, TABLE)["cost_usd"].sum())


def test_each_draw_equals_pricing_every_request(sample_data: Path, rows: pl.DataFrame) -> None:
    """doc-summarizer to Haiku 5.5: a new tokenizer pushes prompts across its 100K long-context line."""
    r = run(
        sample_data,
        policy('[[rules]]\nwhen = "feature = \'doc-summarizer\'"\nroute_to = "claude-haiku-5-5"\n', "h55"),
        draws=40,
        seed=3,
    )
    t_draws = draw_values(
        Param("tokenizer_ratio:claude-v1->claude-v2", "", Dist.lognormal(1.3, 0.06), "", "tokenizer_ratio"),
        40,
        3,
    )
    o_draws = draw_values(
        Param(
            "output_ratio:claude-sonnet-4-6->claude-haiku-5-5",
            "",
            DEFAULT_OUTPUT_RATIO,
            "",
            "output_ratio",
        ),
        40,
        3,
    )
    doc = rows.filter(pl.col("feature") == "doc-summarizer")
    savings = (
        r.policy("h55").draws.filter(pl.col("feature") == "doc-summarizer").sort("draw")["savings"].to_list()
    )
    long_context = set()
    for d in range(6):
        t, o = t_draws[d], o_draws[d]
        scale = {c: t for c in TOKENS[:4]} | {"output_tokens": t * o}
        expected = doc["cost_usd"].sum() - brute_force(doc, "claude-haiku-5-5", **scale)
        assert savings[d] == pytest.approx(expected, rel=1e-9)
        lc = doc.select((pl.sum_horizontal(TOKENS[:4]) * t > 100_000).sum()).item()
        long_context.add(lc)
    assert len(long_context) > 1  # the draws really do move requests across the threshold


def test_cache_outcomes(sample_data: Path, rows: pl.DataFrame) -> None:
    chat = rows.filter(pl.col("feature") == "support-chat")
    base = chat["cost_usd"].sum()
    kept, cold, inelig = (
        policy(
            '[[rules]]\nwhen = "feature = \'support-chat\'"\nroute_to = "claude-haiku-4-5"\n'
            f"[assumptions]\noutput_ratio = 1.0\n{extra}\n",
            name,
        )
        for name, extra in (
            ("kept", 'cache = "kept"'),
            ("cold", 'cache = "cold"'),
            ("inelig", 'min_cacheable_prefix = { "claude-haiku-4-5" = 5000 }'),
        )
    )
    r = run(sample_data, kept, cold, inelig)
    # kept: the same tokens on Haiku (its 4,096-token minimum admits the 4,096-token system prompt)
    assert totals(r, "kept")["savings_p50"] == pytest.approx(
        base - brute_force(chat, "claude-haiku-4-5"), rel=1e-9
    )
    # cold: every cache read is re-written (5-minute TTL, as the feature writes it)
    cold_rows = chat.with_columns(
        cache_write_5m_tokens=pl.col("cache_write_5m_tokens") + pl.col("cache_read_tokens"),
        cache_read_tokens=pl.lit(0),
    )
    assert totals(r, "cold")["savings_p50"] == pytest.approx(
        base - brute_force(cold_rows, "claude-haiku-4-5"), rel=1e-9
    )
    # ineligible: the prefix is under the target's minimum, so it is all uncached input
    inelig_rows = chat.with_columns(
        input_tokens=pl.sum_horizontal(TOKENS[:4]),
        cache_read_tokens=pl.lit(0),
        cache_write_5m_tokens=pl.lit(0),
        cache_write_1h_tokens=pl.lit(0),
    )
    assert totals(r, "inelig")["savings_p50"] == pytest.approx(
        base - brute_force(inelig_rows, "claude-haiku-4-5"), rel=1e-9
    )
    assert totals(r, "cold")["savings_p50"] < totals(r, "kept")["savings_p50"]


def test_a_counterfactual_without_a_price_keeps_its_baseline(sample_data: Path, rows: pl.DataFrame) -> None:
    """A model with token rates but no web-search fee: search-answer's searches cannot be priced on it."""
    table = PriceTable.load(
        PricingConfig(models=[PriceOverride(provider="openai", model_id="acme-llm-1", input=1, output=2)])
    )
    text = '[[rules]]\nwhen = "feature = \'search-answer\'"\nroute_to = "acme-llm-1"\n'
    acme = parse_policy(text, "<acme>", table, default_name="acme")
    r = replay(tierlens.open(sample_data), [acme], table, draws=200, seed=0)
    row = r.policy("acme").rows.filter(pl.col("feature") == "search-answer").row(0, named=True)
    searched = rows.filter(
        (pl.col("feature") == "search-answer") & (pl.col("web_search_requests") > 0)
    ).height
    assert row["unpriced_cf_requests"] == searched > 0
    assert totals(r, "acme")["unpriced_cf_requests"] == searched
    assert row["label"] == "speculative"  # an unknown model: another tokenizer, no calibration


# --- calibration, labels, sensitivity, quality ---------------------------------------------------


def test_output_ratio_is_calibrated_where_a_feature_ran_on_both_models(
    shipped: ReplayResult, rows: pl.DataFrame
) -> None:
    p = shipped.policy("opus-to-sonnet")
    (cal,) = p.calibrations
    cr = rows.filter(pl.col("feature") == "code-review")
    means = dict(cr.group_by("model_id").agg(pl.col("output_tokens").mean()).iter_rows())
    assert (cal.feature, cal.source, cal.target) == ("code-review", "claude-opus-4-6", "claude-sonnet-4-6")
    assert cal.requests == 3024 and (cal.n_source, cal.n_target) == (1885, 1139)
    assert cal.ratio == pytest.approx(means["claude-sonnet-4-6"] / means["claude-opus-4-6"], rel=1e-12)
    assert 0.90 < cal.ratio < 0.93  # sample_logs/README.md: outputs ~9% shorter on Sonnet
    sources = {a["label"]: a["source"] for a in p.params}
    assert (
        sources["output ratio claude-opus-4-6 -> claude-sonnet-4-6 (code-review)"]
        == "calibrated from 3,024 requests"
    )
    assert (
        sources["output ratio claude-opus-4-6 -> claude-sonnet-4-6"] == "default prior"
    )  # ticket-classifier
    row = p.rows.filter((pl.col("feature") == "code-review") & (pl.col("tier") == "opus")).row(0, named=True)
    assert row["top_assumption"].endswith("(code-review)")
    assert row["savings_p10"] < row["savings_p50"] < row["savings_p90"]


def test_calibration_can_be_switched_off(sample_data: Path) -> None:
    text = (REPO / "policies" / "opus-to-sonnet.toml").read_text() + "\n[assumptions]\ncalibrate = false\n"
    r = run(sample_data, policy(text))
    assert r.policy("opus-to-sonnet").calibrations == []
    assert all(not a["source"].startswith("calibrated") for a in r.policy("opus-to-sonnet").params)


def test_labels_and_what_moves_each_estimate(shipped: ReplayResult) -> None:
    labels = {p.policy.name: p.totals["label"] for p in shipped.policies}
    assert labels == {
        "batch-for-async-features": "exact",
        "opus-to-sonnet": "modelled",
        "short-structured-to-haiku": "modelled",
        "cascade-haiku-sonnet": "speculative",
        "sonnet-to-sonnet-5": "speculative",
    }
    top = {p.policy.name: p.totals["top_assumption"] for p in shipped.policies}
    assert top["sonnet-to-sonnet-5"] == "tokenizer ratio claude-v1 -> claude-v2"
    assert top["cascade-haiku-sonnet"] == "escalation rate (chat cascade)"
    assert top["batch-for-async-features"] is None
    batch = shipped.policy("batch-for-async-features").totals
    assert batch["savings_p50"] == pytest.approx(58.854333 / 2, rel=1e-6)  # catalog-enrichment halved


def test_shares_and_run_rate(shipped: ReplayResult, rows: pl.DataFrame) -> None:
    t = shipped.policy("short-structured-to-haiku").totals
    priced = rows.filter(pl.col("priced"))
    touched = priced.filter(
        pl.col("structured_output")
        & (pl.col("output_tokens") <= 100)
        & pl.col("tier").is_in(["sonnet", "opus"])
    )
    assert t["touched_requests"] == touched.height
    assert t["touched_share"] == pytest.approx(touched.height / priced.height)
    assert t["touched_spend_share"] == pytest.approx(
        touched["cost_usd"].sum() / priced["cost_usd"].sum(), rel=1e-9
    )
    assert shipped.days == 91
    assert t["monthly_p50"] == pytest.approx(t["savings_p50"] * DAYS_PER_MONTH / 91, rel=1e-12)


def test_cascade_break_even_is_where_savings_vanish(sample_data: Path) -> None:
    fixed = (
        '[[rules]]\nwhen = "feature = \'support-chat\'"\ncascade = ["claude-haiku-4-5", "claude-sonnet-4-6"]\n'
        "escalation_rate = {rate}\n[assumptions]\noutput_ratio = 1.0\ncascade_cache_kept = 0.75\n"
    )
    first = run(sample_data, policy(fixed.format(rate=0.2), "c"))
    rate = first.policy("c").totals["break_even_escalation"]
    assert 0.3 < rate < 0.8
    at_break_even = run(sample_data, policy(fixed.format(rate=rate), "c"))
    assert at_break_even.policy("c").totals["savings_p50"] == pytest.approx(0.0, abs=1e-9)
    assert first.policy("c").totals["savings_p50"] > 0  # 20% escalation is below break-even


def test_quality_risk_says_what_backs_it(shipped: ReplayResult) -> None:
    def risk(policy: str, feature: str, tier: str) -> tuple[str, str]:
        r = (
            shipped.policy(policy)
            .rows.filter((pl.col("feature") == feature) & (pl.col("tier") == tier))
            .row(0, named=True)
        )
        return r["quality_grade"], r["quality_evidence"]

    assert risk("opus-to-sonnet", "code-review", "opus") == ("low", "observed on both models")
    assert risk("opus-to-sonnet", "ticket-classifier", "opus") == ("low", "quality signals in the logs")
    assert risk("short-structured-to-haiku", "ticket-classifier", "opus") == (
        "medium",
        "quality signals in the logs",
    )
    assert risk("opus-to-sonnet", "claude-code", "opus") == ("medium", "heuristic only")
    assert risk("batch-for-async-features", "catalog-enrichment", "sonnet") == ("none", "no model change")


def test_cascade_to_the_same_strong_model_adds_exactly_the_escalated_share(
    sample_data: Path, rows: pl.DataFrame
) -> None:
    """cf = the whole stream on Haiku + rate x the baseline, when the strong model is the source model."""
    text = (
        '[[rules]]\nwhen = "feature = \'support-chat\'"\ncascade = ["claude-haiku-4-5", "claude-sonnet-4-5"]\n'
        "escalation_rate = 0.3\n[assumptions]\noutput_ratio = 1.0\ncascade_cache_kept = 1.0\n"
    )
    r = run(sample_data, policy(text, "c"))
    chat = rows.filter(pl.col("feature") == "support-chat")
    base = chat["cost_usd"].sum()
    expected = base - (brute_force(chat, "claude-haiku-4-5") + 0.3 * base)
    t = r.policy("c").totals
    assert t["savings_p10"] == t["savings_p90"]
    assert t["savings_p50"] == pytest.approx(expected, rel=1e-9)
    assert t["label"] == "speculative"
