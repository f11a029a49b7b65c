"""Configuration: one precedence order, typed, and strict about typos.

Precedence (highest first): explicit arguments (CLI flags) > `TIERLENS_*` environment variables
(nested with `__`, e.g. `TIERLENS_SOURCES__ANTHROPIC_BATCH__ENDED_AT`) > `tierlens.toml` (or
`[tool.tierlens]` in pyproject.toml) > defaults. An unknown key is an error with a "did you mean"
hint, because a silently ignored typo in a price override costs real money.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tierlens.errors import ConfigError

DEFAULT_DATA_DIR = Path("tierlens-data")
CONFIG_FILE = "tierlens.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessagesSource(_Strict):
    """Where the Anthropic Messages log reader finds each field (dotted paths, first non-null wins)."""

    timestamp: list[str] = ["ts", "timestamp", "created_at"]
    request_id: list[str] = ["request_id", "metadata.request_id"]
    feature: list[str] = ["feature", "metadata.feature"]
    feature_tag_prefix: str = "feature:"
    user_id: list[str] = ["user_id", "metadata.user_id"]
    api_key_id: list[str] = ["api_key_id", "metadata.api_key_id"]
    workspace_id: list[str] = ["workspace_id", "metadata.workspace_id"]
    project: list[str] = ["project", "metadata.project"]
    session_id: list[str] = ["session_id", "metadata.session_id"]
    tags: str = "tags"
    latency_ms: list[str] = ["latency_ms", "duration_ms"]


class BatchSource(_Strict):
    """Message Batches results carry no timestamp: say when the batch ended, or we look for it."""

    ended_at: datetime | None = None
    feature_pattern: str = r"^([^:/#]+)[:/#]"
    """Regex on `custom_id`; group 1 is the feature (default: the part before the first ':', '/' or '#')."""


class ClaudeCodeSource(_Strict):
    """Claude Code session logs: the feature every row gets (the project is its own column)."""

    feature: str = "claude-code"


class SourcesConfig(_Strict):
    anthropic_messages: MessagesSource = MessagesSource()
    anthropic_batch: BatchSource = BatchSource()
    claude_code: ClaudeCodeSource = ClaudeCodeSource()


class PriceOverride(_Strict):
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
    tokenizer: str | None = None


class PricingConfig(_Strict):
    models: list[PriceOverride] = []
    aliases: dict[str, str] = {}
    """Logged model id -> a priced model_id (e.g. a fine-tune priced as its base)."""
    discounts: dict[str, float] = {}
    """model_id (or `*`) -> multiplier on token costs, e.g. 0.85 for a negotiated 15% discount."""

    @field_validator("discounts")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for k, m in v.items():
            if not 0 < m <= 10:
                raise ValueError(f"discount for {k!r} must be a multiplier in (0, 10], got {m}")
        return v


_CONFIG_PATH: ContextVar[Path | None] = ContextVar("tierlens_config_path", default=None)


class Settings(BaseSettings):
    """All tierlens settings. Build with `load_settings`, not directly."""

    model_config = SettingsConfigDict(
        env_prefix="TIERLENS_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    chunk_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Bytes of input parsed per chunk: bounds memory during ingest."""
    sources: SourcesConfig = SourcesConfig()
    pricing: PricingConfig = PricingConfig()

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


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Load settings with the documented precedence; `overrides` (CLI flags) win, None values are ignored."""
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
            hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
            tip = (
                f" (did you mean '{hint[0]}'?)"
                if hint
                else (f" (known: {', '.join(known)})" if known else "")
            )
            msgs.append(f"unknown setting '{dotted}'{where}{tip}")
        else:
            msgs.append(f"invalid setting '{dotted}'{where}: {err['msg']}")
    return "; ".join(msgs)
