"""Configuration: one precedence order, typed, and strict about typos.

Precedence (highest first): explicit arguments (CLI flags) > `TIERLENS_*` environment variables
(nested with `__`, e.g. `TIERLENS_SOURCES__ANTHROPIC_BATCH__ENDED_AT`) > `tierlens.toml` (or
`[tool.tierlens]` in pyproject.toml) > defaults. An unknown key is an error with a "did you mean"
hint, because a silently ignored typo in a price override costs real money.

The same holds for the environment: a `TIERLENS_*` variable that names no setting is an error,
except the few that are not settings (`NON_SETTING_VARIABLES`) and the secrets alert sinks read
(`url_env`), whose names end in one of `SECRET_SUFFIXES` (`TIERLENS_SLACK_WEBHOOK`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tierlens.errors import ConfigError, closest, did_you_mean
from tierlens.source_settings import SourcesConfig, Strict

DEFAULT_DATA_DIR = Path("tierlens-data")
CONFIG_FILE = "tierlens.toml"
ENV_PREFIX = "TIERLENS_"
NON_SETTING_VARIABLES = {
    "TIERLENS_CONFIG": "the config file to read",
    "TIERLENS_CRASH_AT": "a test hook: the store writer dies at the named point, as a `kill -9` would",
    "TIERLENS_UPDATE_GOLDEN": "the test suite rewrites its golden files",
}
"""`TIERLENS_*` variables tierlens reads that are not settings."""
SECRET_SUFFIXES = ("_URL", "_WEBHOOK", "_TOKEN", "_SECRET")
"""How a `TIERLENS_*` variable holding a secret (an alert sink's `url_env`) ends; the others are settings."""


class PriceOverride(Strict):
    """A price row added or replaced by the user (USD per million tokens)."""

    provider: str = "anthropic"
    model_id: str
    family: str | None = None
    tier: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    input: float
    output: float
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    cache_read: float | None = None
    lc_threshold: int | None = None
    lc_input: float | None = None
    lc_cache_write_5m: float | None = None
    lc_cache_write_1h: float | None = None
    lc_cache_read: float | None = None
    lc_output: float | None = None
    geo_us_multiplier: float | None = None
    regional_multiplier: float | None = None
    fast_multiplier: float | None = None
    web_search_call: float | None = None
    """USD per web search; an Anthropic model gets Anthropic's $0.01 unless set."""
    web_search_preview_call: float | None = None
    file_search_call: float | None = None
    code_interpreter_call: float | None = None
    image_generation_call: float | None = None
    tokenizer: str | None = None


class ModelLifecycle(Strict):
    """A model's place among its tier's generations, added or replaced by the user (see
    `tierlens.pricing.catalog`): a model that ships is a row here (and its prices in `models`)."""

    provider: str = "anthropic"
    model_id: str
    tier: str
    generation: str
    """Its version within the family (`4.6`, `5`), compared part by part as numbers: `4.10` is newer
    than `4.6`."""
    released: date | None = None
    deprecated: date | None = None
    retired: date | None = None
    replacement: str | None = None
    """The model the provider names as this one's replacement (else the newest of its tier)."""
    snapshot: str | None = None
    """The dated snapshot this id points to, when the id is an alias of one."""

    @field_validator("generation")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)*", v):
            raise ValueError(f"generation must be a dotted version such as 4.6, got {v!r}")
        return v


class PricingConfig(Strict):
    models: list[PriceOverride] = Field(default_factory=list)
    lifecycle: list[ModelLifecycle] = Field(default_factory=list)
    """Models' generations and lifecycle dates, on top of the built-in `pricing/data/models.csv`."""
    aliases: dict[str, str] = Field(default_factory=dict)
    """Logged model id -> a priced model_id (e.g. a fine-tune priced as its base)."""
    discounts: dict[str, float] = Field(default_factory=dict)
    """model_id (or `*`) -> multiplier on token costs, e.g. 0.85 for a negotiated 15% discount."""

    @field_validator("discounts")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for k, m in v.items():
            if not 0 < m <= 10:
                raise ValueError(f"discount for {k!r} must be a multiplier in (0, 10], got {m}")
        return v


class SignalsConfig(Strict):
    """Thresholds of `tierlens flags`. Each default says why it is what it is (docs/signals.md)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    min_monthly_usd: float = 2.0
    """Below this estimated monthly waste a finding costs more attention than it saves; raise it for big bills."""
    lookback_days: int = Field(default=28, ge=7)
    """Window the request-level signals look at: four full weeks, so every weekday counts four times."""
    growth_weeks: int = Field(default=8, ge=4)
    """Growth compares the first two with the last two of this many weeks: long enough to beat weekly noise."""
    growth_min_ratio: float = 1.5
    """Cost per request must rise by half: week-to-week mix noise on real traffic stays well under that."""
    structured_max_prompt: int = 2_000
    """A short call: at most this many prompt tokens (input + cache), the size of a classification prompt."""
    structured_max_output: int = 100
    """...and at most this many output tokens: a label or a small JSON object, not prose."""
    structured_min_share: float = 0.5
    """Flag a feature when at least half of its top-tier calls are short and structured."""
    cache_min_best_share: float = 0.2
    """Lost caching: the feature once read at least 20% of its prompt from cache..."""
    cache_drop_factor: float = 0.5
    """...and now reads less than half of that share."""
    missing_cache_min_prefix: int = 4_096
    """Missing caching: even the smallest 10% of prompts are this large, so a shared prefix is likely."""
    missing_cache_min_requests: int = 1_000
    """...over at least this many requests a month (a cache pays back only on reuse)."""
    night_hours: tuple[int, int] = (0, 6)
    """Batch candidates: UTC hours [start, end) taken as nobody-is-waiting time."""
    batch_min_night_share: float = 0.8
    """A feature whose requests run at night at least this often does not need an answer within seconds."""
    stale_min_saving_share: float = 0.2
    """Stale generation: a newer model of the tier must cost at least 20% less (at the median tokenizer ratio): a
    move across generations costs a migration and a quality check, which a smaller saving rarely repays. A model past
    its deprecation or retirement date is flagged whatever the saving."""
    mid_tier_shape_quantile: float = Field(default=0.9, gt=0, le=1)
    """Newer mid tier: a top-tier feature whose prompts and outputs at this quantile are no larger than the mid
    tier's own at the same quantile in the same data: requests of a shape the mid tier already serves here."""
    mid_tier_min_saving_share: float = 0.3
    """...and the newest mid-tier model costs at least 30% less at the median of the output and tokenizer ratios: a
    change of tier needs a quality check, which only a large saving repays."""
    mixed_small_output: int = 300
    """Mixed complexity: a request answered in at most this many tokens counts as simple (a lookup, a label, a
    short reply)..."""
    mixed_small_share: tuple[float, float] = (0.3, 0.9)
    """...and a feature on Opus or Sonnet whose simple share lies in this range mixes both kinds (fewer: it is hard
    work; more: a plain downgrade fits better, which the other signals look at)..."""
    mixed_large_factor: float = 4.0
    """...while its P90 answer is at least this many times the simple size: the rest is genuinely long work."""
    user_facing: list[str] = Field(default_factory=list)
    """Latency over depth: the features a person waits on, as glob patterns (`["support-*", "*chat*"]`); none by
    default, since a log cannot tell a waiting person from a pipeline."""
    latency_p95_ms: float = 5_000.0
    """...whose 95th-percentile latency is above this: a person waiting that long on an answer gives up [U: set yours]..."""
    latency_max_output: int = 400
    """...while 90% of their answers are at most this many tokens: short answers need speed more than depth."""
    alias_min_requests: int = 100
    """Unpinned alias: a feature sends at least this many requests in the window to an alias (production traffic,
    not a developer trying a model out)."""
    quality_metrics: dict[str, Literal["score", "good", "bad"]] = Field(default_factory=dict)
    """Quality: what each metric of `ingest --quality` measures, where its name does not say: `score` (an eval or
    rubric score, higher is better), `good` (1 a good outcome: a thumbs-up, an accepted answer) or `bad` (1 a bad one:
    an escalation, a thumbs-down, a retry). Unlisted names are read by their words (score, eval, rubric, grade,
    judge; thumbs_up, accept, helpful; escalat, thumbs_down, complain, retry, fallback, reject)."""
    quality_min_score: float = 0.7
    """A mean score below this share of its scale (0.7: 0.7 of 1, 3.5 of 5, 70 of 100) on a feature's hardest inputs
    fails the rubric: a common pass mark of LLM-judge rubrics [U: set yours]..."""
    quality_hard_quantile: float = Field(default=0.75, gt=0, lt=1)
    """...the hardest inputs being the judged requests whose prompt is at least this quantile of the feature's: the
    top quarter, where a smaller model fails first."""
    quality_max_bad_rate: float = 0.1
    """An escalation or thumbs-down rate above 10%: one user in ten asking for a person is a feature the model is too
    small for, in the tier guides' words [U: set yours]."""
    quality_match_tolerance: float = 0.03
    """A cheaper model's scores on the same feature match when they are at most this far below (on a 0..1 scale):
    the noise of a few hundred judgments."""
    quality_min_judgments: int = 30
    """Quality figures need this many judgments (a feature's period rows count their `n`): fewer is an anecdote."""
    trial_min_requests: int = 20
    """Trials (`tierlens trial`) weigh a downgrade finding when they tried at least this many of the feature's
    requests on its recommended model..."""
    trial_min_agreement: float = 0.9
    """...raising its confidence to high when the answers agreed with the logged ones at least this much on average
    (a tool call: the same tool and arguments; text: the word-sequence similarity), lowering it to low below 0.7.
    When a judge model (`trial --judge`) graded at least 20 of them, the share it scored 4 or 5 of 5 counts instead."""
    max_tokens_rate: float = 0.05
    """Under-provisioning: more than 5% of answers cut at max_tokens on a lower tier."""
    error_rate: float = 0.01
    """...or more than 1% error responses (when the dataset keeps error rows)."""
    anomaly_z: float = 4.0
    """Anomaly: spend this many robust deviations above the same-weekday median..."""
    anomaly_min_usd: float = 5.0
    """...and at least this many dollars above it (small absolute spikes are noise)..."""
    anomaly_min_pct: float = 50.0
    """...and at least this many percent above it."""
    anomaly_weeks: int = Field(default=4, ge=3)
    """Same-weekday history the baseline needs (a new feature or model has no anomalies until then)."""


class BudgetConfig(Strict):
    """A spending budget: the forecast says where the period will end."""

    name: str
    amount: float = Field(gt=0)
    period: str = "month"
    feature: str | None = None
    model_id: str | None = None

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        if v not in ("day", "week", "month"):
            raise ValueError("period must be day, week or month")
        return v


ATTRIBUTION_COLUMNS = (
    "feature",
    "api_key_id",
    "workspace_id",
    "user_id",
    "project",
    "session_id",
    "model_id",
    "model",
    "provider",
    "source",
    "tag",
)
"""What an attribution rule may match on (`feature` = the feature the log states; `tag` = any tag)."""


class AttributionRule(Strict):
    """Requests matching every pattern in `match` belong to `feature`, or are split over `features`."""

    name: str | None = None
    match: dict[str, list[str]]
    """Column -> glob pattern(s) (`*`, `?`; any pattern may match), e.g. `{api_key_id = "key_support_*"}`."""
    feature: str | None = None
    features: dict[str, float] | None = None
    """Several features with weights: the request's cost is split in proportion (`{search = 3, rank = 1}`)."""

    @field_validator("match", mode="before")
    @classmethod
    def _patterns(cls, v: Any) -> Any:
        if isinstance(v, dict):
            v = {k: [p] if isinstance(p, str) else p for k, p in v.items()}
            for k in v:
                if k not in ATTRIBUTION_COLUMNS:
                    tip = f" ({did_you_mean(k, ATTRIBUTION_COLUMNS, 'known: ' + ', '.join(ATTRIBUTION_COLUMNS))})"
                    raise ValueError(f"cannot match on '{k}'{tip}")
            if not v:
                raise ValueError("a rule needs at least one pattern in `match`")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> AttributionRule:
        if (self.feature is None) == (self.features is None):
            raise ValueError("a rule names either `feature` or `features` (with weights)")
        if self.features is not None and (
            not self.features or any(not w > 0 for w in self.features.values())
        ):
            raise ValueError("`features` needs at least one feature, each with a weight > 0")
        return self


class AttributionConfig(Strict):
    """How each request gets its feature: an ordered list of places to take it from, and mapping rules.

    `order` entries, first that yields a feature wins: `feature` (what the log states: each source's
    feature fields), `tag:<prefix>` (every tag starting with the prefix: several tags split the
    cost), `rules` (the first matching `[[attribution.rules]]`), a column name (`project`,
    `user_id`, `api_key_id`, `workspace_id`, `session_id`, `model_id`) whose value is the feature,
    or `<column>:<regex>` (group 1 of the regex on the column).
    """

    order: list[str] = Field(default_factory=lambda: ["feature", "tag:feature:", "rules"])
    split: Literal["equal", "weights"] = "equal"
    """How a request with several features (from tags) is split: equally, or by `weights`."""
    weights: dict[str, float] = Field(default_factory=dict)
    """Feature -> weight when `split = "weights"` (features not listed weigh 1)."""
    rules: list[AttributionRule] = Field(default_factory=list)

    @field_validator("order")
    @classmethod
    def _order(cls, v: list[str]) -> list[str]:
        columns = ("project", "user_id", "api_key_id", "workspace_id", "session_id", "model_id", "model")
        for entry in v:
            head = entry.split(":", 1)[0]
            if entry in ("feature", "rules") or head == "tag" or head in columns:
                if head in columns and ":" in entry:
                    try:
                        re.compile(entry.split(":", 1)[1])
                    except re.error as exc:
                        raise ValueError(f"bad regex in '{entry}': {exc}") from None
                continue
            raise ValueError(
                f"unknown attribution source '{entry}' (use feature, rules, tag:<prefix>, "
                f"a column ({', '.join(columns)}) or <column>:<regex>)"
            )
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if not w > 0:
                raise ValueError(f"weight of {k!r} must be > 0")
        return v


_CONFIG_PATH: ContextVar[Path | None] = ContextVar("tierlens_config_path", default=None)


class Settings(BaseSettings):
    """All tierlens settings. Build with `load_settings`, not directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path | str = DEFAULT_DATA_DIR
    """A local directory, or a URL of object storage (`s3://bucket/prefix`, `gs://`, `abfs://`)."""
    chunk_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Bytes of input parsed per chunk: bounds memory during ingest."""
    sources: SourcesConfig = SourcesConfig()
    pricing: PricingConfig = PricingConfig()
    attribution: AttributionConfig = AttributionConfig()
    signals: SignalsConfig = SignalsConfig()
    budgets: list[BudgetConfig] = []

    @field_validator("data_dir", mode="before")
    @classmethod
    def _location(cls, v: Any) -> Path | str:
        from tierlens.location import location

        return location(v) if isinstance(v, str | Path) else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _CONFIG_PATH.get()
        found: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None and path.name == "pyproject.toml":
            found.append(PyprojectTomlConfigSettingsSource(settings_cls, path))
        elif path is not None:
            found.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(found)


def find_config(explicit: Path | None = None, cwd: Path | None = None) -> Path | None:
    """The config file to use: explicit > $TIERLENS_CONFIG > ./tierlens.toml > ./pyproject.toml [tool.tierlens]."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    env = os.environ.get("TIERLENS_CONFIG")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"TIERLENS_CONFIG points to a missing file: {p}")
        return p
    here = cwd or Path.cwd()
    if (here / CONFIG_FILE).is_file():
        return here / CONFIG_FILE
    pyproject = here / "pyproject.toml"
    if pyproject.is_file() and "[tool.tierlens" in pyproject.read_text(encoding="utf-8", errors="replace"):
        return pyproject
    return None


@contextmanager
def _config_path(path: Path | None) -> Iterator[None]:
    token = _CONFIG_PATH.set(path)
    try:
        yield
    finally:
        _CONFIG_PATH.reset(token)


def names_a_secret(variable: str) -> bool:
    """Whether an environment variable's name says it holds a secret rather than a setting."""
    name = variable.upper()
    return "__" not in name and name.endswith(SECRET_SUFFIXES)


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError naming each `TIERLENS_*` variable that is neither a setting, nor one of
    `NON_SETTING_VARIABLES`, nor a secret (pydantic-settings would ignore it without a word)."""
    environ = os.environ if environ is None else environ
    problems = [_unknown_variable(name) for name in sorted(environ) if _is_unknown_variable(name)]
    if problems:
        raise ConfigError("; ".join(problems))


def _setting_variables() -> list[str]:
    return [ENV_PREFIX + name.upper() for name in Settings.model_fields]


def _is_unknown_variable(name: str) -> bool:
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_VARIABLES or names_a_secret(upper):
        return False
    return upper.split("__", 1)[0] not in _setting_variables()


def _unknown_variable(name: str) -> str:
    """Why `name` is refused, with the variable it likely meant (the part before `__` may be a typo)."""
    head, nested, rest = name.upper().removeprefix(ENV_PREFIX).partition("__")
    known = _setting_variables() + ([] if nested else list(NON_SETTING_VARIABLES))
    bare = {v.removeprefix(ENV_PREFIX): v for v in known}  # the shared prefix would make all alike
    hint = closest(head, bare)
    if hint is not None:
        tip = f"did you mean '{bare[hint]}{nested}{rest}'?"
    else:
        tip = (
            f"settings: {', '.join(_setting_variables())}, nested with '__'; "
            f"a secret's name ends in {', '.join(SECRET_SUFFIXES)}"
        )
    return f"unknown environment variable '{name}' ({tip})"


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Load settings with the documented precedence; `overrides` (CLI flags) win, None values are ignored."""
    check_environment()
    path = find_config(config)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        with _config_path(path):
            return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    except (OSError, ValueError) as exc:  # unreadable or invalid TOML
        raise ConfigError(f"cannot read config {path}: {exc}") from None


def _known_keys(model: type[BaseModel], prefix: tuple[str | int, ...]) -> list[str]:
    """Field names valid at the location `prefix` of an extra-forbidden error."""
    current: Any = model
    for part in prefix:
        fields = getattr(current, "model_fields", None)
        if fields is None or not isinstance(part, str) or part not in fields:
            return []
        ann = fields[part].annotation
        current = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _explain(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path else ""
    msgs = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            known = _known_keys(Settings, loc[:-1])
            tip = did_you_mean(str(loc[-1]), known, f"known: {', '.join(known)}" if known else "")
            tip = f" ({tip})" if tip else ""
            msgs.append(f"unknown setting '{dotted}'{where}{tip}")
        else:
            msgs.append(f"invalid setting '{dotted}'{where}: {err['msg']}")
    return "; ".join(msgs)
