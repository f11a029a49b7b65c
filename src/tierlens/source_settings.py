"""The settings of the readers (`[sources.*]`): the built-in formats' fields and defaults, and
custom mappings of CSV or JSON lines onto the canonical columns (`[sources.NAME]` with `fields`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierlens.errors import did_you_mean


class Strict(BaseModel):
    """A settings model that refuses unknown keys (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid")


class MessagesSource(Strict):
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
    ts_fallback: Literal["mtime", "now"] = "mtime"
    """When a record has no time field (a saved response body): the file's modification time, or now."""


class BatchSource(Strict):
    """Message Batches results carry no timestamp: say when the batch ended, or we look for it."""

    ended_at: datetime | None = None
    feature_pattern: str = r"^([^:/#]+)[:/#]"
    """Regex on `custom_id`; group 1 is the feature (default: the part before the first ':', '/' or '#')."""


class ClaudeCodeSource(Strict):
    """Claude Code session logs: the feature every row gets (the project is its own column)."""

    feature: str = "claude-code"


class OpenAISource(Strict):
    """OpenAI chat completions / Responses logs: where a gateway log keeps each field (first non-null wins).

    Tags are kept as logged; a `feature:` tag becomes the feature through `[attribution]` (`tag:feature:`).
    """

    timestamp: list[str] = [
        "ts",
        "timestamp",
        "response.created_at",
        "response.created",
        "created_at",
        "created",
    ]
    ts_fallback: Literal["mtime", "now"] = "mtime"
    """When a record has no time field (a saved response body): the file's modification time, or now."""
    request_id: list[str] = ["request_id", "metadata.request_id"]
    feature: list[str] = ["feature", "metadata.feature"]
    user_id: list[str] = ["user_id", "metadata.user_id", "user", "response.user"]
    api_key_id: list[str] = ["api_key_id", "metadata.api_key_id"]
    workspace_id: list[str] = ["project_id", "workspace_id", "metadata.project_id"]
    project: list[str] = ["project", "metadata.project"]
    session_id: list[str] = ["session_id", "metadata.session_id"]
    tags: str = "tags"
    latency_ms: list[str] = ["latency_ms", "duration_ms"]


class BedrockSource(Strict):
    """Bedrock model invocation logs: attribution from `requestMetadata`, and profile ARNs to price."""

    feature: list[str] = ["requestMetadata.feature"]
    user_id: list[str] = ["requestMetadata.user_id", "requestMetadata.user"]
    project: list[str] = ["requestMetadata.project"]
    session_id: list[str] = ["requestMetadata.session_id"]
    inference_profiles: dict[str, str] = {}
    """Application-inference-profile ARN -> the model or system profile it routes to, e.g.
    `"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc" = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"`
    (the prefix of the target decides global or regional pricing). Unmapped ARNs stay unpriced."""


class LiteLLMSource(Strict):
    """LiteLLM SpendLogs: where the attribution fields are. `metadata.*` paths look inside the metadata JSON."""

    feature: list[str] = ["metadata.spend_logs_metadata.feature", "metadata.requester_metadata.feature"]
    user_id: list[str] = ["end_user", "user", "metadata.user_api_key_user_id"]
    api_key_id: list[str] = ["api_key"]
    workspace_id: list[str] = ["team_id", "metadata.user_api_key_team_id"]
    project: list[str] = ["metadata.user_api_key_team_alias"]
    session_id: list[str] = ["session_id"]


class OTelSource(Strict):
    """OpenTelemetry GenAI spans: span (or resource) attribute names to read attribution from."""

    feature: list[str] = ["feature", "app.feature", "gen_ai.agent.name"]
    user_id: list[str] = ["user.id", "enduser.id"]
    project: list[str] = ["resource:service.name"]
    session_id: list[str] = ["gen_ai.conversation.id", "session.id"]
    input_includes_cache: bool = True
    """Semantic conventions: `gen_ai.usage.input_tokens` SHOULD include cache reads and writes. Set false
    for an instrumentation that reports uncached input there."""


MAPPABLE_COLUMNS = (
    "ts",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "web_search_requests",
    "requests",
    "request_id",
    "message_id",
    "service_tier",
    "inference_geo",
    "feature",
    "user_id",
    "api_key_id",
    "workspace_id",
    "project",
    "session_id",
    "tags",
    "status",
    "stop_reason",
    "latency_ms",
    "logged_cost_usd",
)
"""Canonical columns a `[sources.NAME]` mapping may fill (`cache_write_tokens` = writes priced as 5-minute)."""


class MappedSource(Strict):
    """A CSV or JSON-lines log tierlens has no reader for, described in `[sources.NAME]`."""

    description: str = ""
    format: Literal["auto", "jsonl", "csv"] = "auto"
    files: list[str] = []
    """Glob patterns (on the file name, or on the path) that select this mapping before content detection."""
    delimiter: str | None = None
    """CSV delimiter; default sniffed from the header (`,`, tab or `;`)."""
    timestamp_format: str = "auto"
    """`auto` (ISO-8601, or epoch seconds/milliseconds), `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`, or a
    strftime pattern such as `%d/%m/%Y %H:%M:%S`."""
    timezone: str = "UTC"
    """Zone of timestamps that carry no offset."""
    token_convention: Literal["input_excludes_cache", "input_includes_cache"] = "input_excludes_cache"
    """`input_excludes_cache`: the input field is uncached input (Anthropic). `input_includes_cache`: it
    includes cache reads and writes (OpenAI, OpenTelemetry), which tierlens subtracts."""
    provider: str = "anthropic"
    """Provider of every row when no `provider` field is mapped (prices are looked up per provider)."""
    fields: dict[str, list[str]]
    """Canonical column -> the path (or paths, first non-null wins) of its value in a record."""

    @field_validator("fields", mode="before")
    @classmethod
    def _paths(cls, v: Any) -> Any:
        if isinstance(v, dict):
            v = {k: [p] if isinstance(p, str) else p for k, p in v.items()}
            unknown = [k for k in v if k not in MAPPABLE_COLUMNS]
            for k in unknown:
                tip = f" ({did_you_mean(k, MAPPABLE_COLUMNS, 'known: ' + ', '.join(MAPPABLE_COLUMNS))})"
                raise ValueError(f"unknown column '{k}'{tip}")
            missing = [k for k in ("ts", "model", "input_tokens", "output_tokens") if not v.get(k)]
            if missing:
                raise ValueError(f"a mapping needs {', '.join(missing)}")
        return v


_BUILTIN_SOURCES = (
    "anthropic_messages",
    "anthropic_batch",
    "claude_code",
    "openai",
    "bedrock",
    "litellm",
    "otel",
)


class SourcesConfig(Strict):
    """Settings of the built-in readers, plus custom `[sources.NAME]` mappings (each with a `fields` table)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, MappedSource] = Field(init=False)

    anthropic_messages: MessagesSource = MessagesSource()
    anthropic_batch: BatchSource = BatchSource()
    claude_code: ClaudeCodeSource = ClaudeCodeSource()
    openai: OpenAISource = OpenAISource()
    bedrock: BedrockSource = BedrockSource()
    litellm: LiteLLMSource = LiteLLMSource()
    otel: OTelSource = OTelSource()

    @model_validator(mode="before")
    @classmethod
    def _custom_sources_need_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                if name in _BUILTIN_SOURCES or (isinstance(value, dict) and "fields" in value):
                    continue
                tip = did_you_mean(name, _BUILTIN_SOURCES)
                tip = f"{tip} " if tip else ""
                raise ValueError(
                    f"unknown source '{name}' ({tip}a custom source is a mapping with a `fields` table)"
                )
        return data

    @property
    def mapped(self) -> dict[str, MappedSource]:
        """The custom `[sources.NAME]` mappings, by name."""
        return dict(self.__pydantic_extra__ or {})
