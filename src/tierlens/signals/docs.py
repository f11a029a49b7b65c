"""docs/signals.md: what each signal means and every threshold with its default and reason."""

from __future__ import annotations

from tierlens.config import SignalsConfig

SIGNAL_DOCS = {
    "cost_growth": "Cost per request of a feature rose by `growth_min_ratio` or more between the first and last two "
    "of `growth_weeks` weeks, more than its requests and active users explain. Waste: the extra cost per request "
    "times this month's requests (low: half of it, since some growth may be wanted).",
    "top_tier_structured": "Most of a feature's Opus calls are short (`structured_max_prompt`, "
    "`structured_max_output`) tool-use or JSON answers: classification that a smaller model does. Waste: the same "
    "calls re-priced on Sonnet and Haiku, with the cache kept (high) and cold (low): a cached Opus token can cost "
    "less than an uncached Haiku one.",
    "lost_caching": "A feature once read `cache_min_best_share` or more of its prompt from the cache and now reads "
    "less than `cache_drop_factor` of that. Waste: this window re-priced with the old share (high) or half of it (low).",
    "missing_caching": "Large prompts (the smallest 10% above `missing_cache_min_prefix` tokens) on a busy feature, "
    "never cached. Speculative: we cannot see the prompt text, only that a shared prefix is likely.",
    "batch_candidate": "A standard-tier feature whose requests run at night (`night_hours`) at least "
    "`batch_min_night_share` of the time: nobody waits for it. Saving: the same requests at batch prices (exact).",
    "under_provisioned": "A Haiku or Sonnet feature whose answers hit max_tokens (`max_tokens_rate`) or fail "
    "(`error_rate`): an upgrade candidate; the figure is what the upgrade would add.",
    "stale_generation": "A feature on an older generation of its tier while a newer current model of the tier "
    "(`pricing/data/models.csv`, `[[pricing.lifecycle]]`) costs at least `stale_min_saving_share` less: its "
    "requests re-priced on each newer model (exact within one tokenizer; across tokenizers at the ratio's P10..P90, "
    "the replay's default). A model past its deprecation or retirement date is critical whatever the saving. "
    "Recommendations of the other signals come from the same table: the newest current model of the tier below "
    "or above that tokenizes alike.",
    "newer_mid_tier": "A top-tier feature (at least 100 requests, not mostly short structured calls) whose prompts and "
    "outputs at `mid_tier_shape_quantile` are no larger than the mid tier's own in the same data: the newest current "
    "mid-tier model may do it. Priced with the replay's uncalibrated output-ratio prior and, across tokenizers, the "
    "tokenizer ratio, P10..P90 together (a wide range on purpose); flagged at `mid_tier_min_saving_share`. "
    "Modelled: the data cannot show the quality; `tierlens replay` and a trial can.",
    "mixed_complexity": "An Opus or Sonnet feature (200+ requests) where `mixed_small_share` of the requests are "
    "answered in at most `mixed_small_output` tokens and its P90 answer is `mixed_large_factor` times that: a "
    "multi-model cascade candidate. Every request pays an attempt on the newest model one tier down that tokenizes "
    "alike; the long ones and an escalated share of the simple ones also pay the current model. Says the break-even "
    "escalation rate; the range is the replay's escalation prior (10-30%). Speculative: which requests the cheaper "
    "model fails is not in the logs.",
    "latency_over_depth": "A feature of `user_facing` on Opus or Sonnet whose P95 latency is above `latency_p95_ms` "
    "while 90% of its answers are at most `latency_max_output` tokens: speed matters more than depth there. The "
    "saving is its requests re-priced on the newest model one tier down that tokenizes alike (low: none, since the "
    "point is the wait). Off until `user_facing` names features.",
    "unpinned_alias": "At least `alias_min_requests` requests of a feature in the window name an alias "
    "(`claude-sonnet-4-5`, any `-latest`) rather than the dated snapshot it points to (`models.csv`'s `snapshot`): "
    "the model behind an alias can change under the feature. No dollar figure: the risk is to answers and budgets.",
    "quality_shortfall": "Quality judgments (`ingest --quality`) of a feature score below `quality_min_score` of "
    "their scale on its hardest inputs (the judged requests whose prompt is in the top `quality_hard_quantile`; all "
    "of them when the judgments are a feature's period rows), over `quality_min_judgments` judgments or more: an "
    "upgrade candidate. The figure is what those requests would add on the newest model one tier up that tokenizes "
    "alike (every request of them when the judgments name none).",
    "quality_complaints": "A feature's escalation or thumbs-down rate (a `bad` metric, or 1 minus a `good` one) is "
    "above `quality_max_bad_rate` over `quality_min_judgments` judgments: the tier guides' upgrade sign. The figure "
    "is what the feature would add one tier up. Judgments also weigh the downgrade findings: when the recommended "
    "model's judgments on the same feature are within `quality_match_tolerance` of the current model's, the "
    "finding's confidence is high; when they are lower, it is low; the evidence names the judgments.",
    "anomaly": "Daily spend per feature and model above the same-weekday median of the previous `anomaly_weeks` "
    "weeks (scaled by the recent level, so steady growth is not an anomaly) by `anomaly_z` robust deviations, "
    "`anomaly_min_usd` dollars and `anomaly_min_pct` percent, all three.",
    "budget": "The current period of each `[[budgets]]` entry projected to its end from the same-weekday medians of "
    "the last four weeks; warning at 100% projected, critical once spent.",
}


def signals_markdown() -> str:
    """docs/signals.md: what each signal means and every threshold with its default and reason."""
    lines = [
        "# Signals and their thresholds",
        "",
        "Generated from `src/tierlens/signals/` and `SignalsConfig` by `python -m tierlens.signals`; do not edit.",
        "Set any threshold under `[signals]` in tierlens.toml (or `TIERLENS_SIGNALS__<NAME>`).",
        "",
        "## Signals",
        "",
    ]
    lines += [f"- **{kind}**: {text}" for kind, text in SIGNAL_DOCS.items()]
    lines += ["", "## Thresholds", "", "| setting | default | why |", "|---|---|---|"]
    for name, info in SignalsConfig.model_fields.items():
        lines.append(
            f"| `{name}` | `{info.get_default(call_default_factory=True)}` | {(info.description or '').strip()} |"
        )
    return "\n".join(lines) + "\n"
