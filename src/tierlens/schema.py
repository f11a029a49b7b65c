"""The canonical request schema: the one contract every stage shares.

Every reader in `sources/` yields exactly these columns (in this order, with these dtypes), the
pricer fills the cost columns, the store writes them, and every analysis reads them. One row is
one billed API request (or, for aggregate sources, one bucket of requests: see `requests`; or one
feature's share of a request whose cost attribution splits it: see `feature_share`).

Never add a column that can hold message text: the dataset keeps lengths, counts and hashes only.
`docs/schema.md` is generated from `COLUMNS` (`python -m tierlens.schema > docs/schema.md`) and a
test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Column:
    """A canonical column: its name, polars dtype, and what it means."""

    name: str
    dtype: pl.DataType
    doc: str


COLUMNS: tuple[Column, ...] = (
    # identity and provenance
    Column(
        "dedupe_key",
        pl.String(),
        "Key a row is deduplicated on across ingests (message id, else request id, else a content key); "
        "the rows of one request split across features share it.",
    ),
    Column(
        "request_id",
        pl.String(),
        "Provider or gateway request id as logged (`req_...`), else the message id.",
    ),
    Column("message_id", pl.String(), "Response/message id (`msg_...`) when the log has one."),
    Column("ts", UTC_TS, "When the request was made, UTC. Also the Hive partition `date=YYYY-MM-DD`."),
    Column(
        "ts_source",
        pl.String(),
        "Where `ts` came from: `log`, `bucket_start` (aggregate reports), `batch_ended_at`, `option`, `config` or `file_mtime`.",
    ),
    Column(
        "source",
        pl.String(),
        "Log format the row came from, e.g. `anthropic_messages`, `claude_code`, `openai`, `bedrock`, `litellm`, `otel`.",
    ),
    Column("source_file", pl.String(), "Input file (as given on the command line; `-` for stdin)."),
    Column(
        "source_line",
        pl.Int64(),
        "1-based line number in `source_file` (of the record's start; a document's records share its line).",
    ),
    Column("ingest_id", pl.String(), "The ingest run that added the row."),
    # model
    Column("provider", pl.String(), "`anthropic`, `openai`, ..."),
    Column("model", pl.String(), "Model id exactly as logged."),
    Column(
        "model_id",
        pl.String(),
        "Normalized model id: date/version suffixes and routing prefixes removed (e.g. `claude-sonnet-4-5`).",
    ),
    Column(
        "family",
        pl.String(),
        "Model family from the price table (e.g. `claude-sonnet-4.5`); null when unknown.",
    ),
    Column("tier", pl.String(), "`haiku`, `sonnet` or `opus` for Claude models; null otherwise."),
    Column(
        "endpoint_scope",
        pl.String(),
        "`global` or `regional` for cloud routing profiles (Bedrock); null for direct API calls.",
    ),
    # usage, in the canonical convention: input_tokens EXCLUDES cache tokens
    Column("input_tokens", pl.Int64(), "Uncached input tokens (cache reads and writes are NOT included)."),
    Column("cache_read_tokens", pl.Int64(), "Input tokens read from the prompt cache."),
    Column("cache_write_5m_tokens", pl.Int64(), "Input tokens written to the cache with the 5-minute TTL."),
    Column("cache_write_1h_tokens", pl.Int64(), "Input tokens written to the cache with the 1-hour TTL."),
    Column("output_tokens", pl.Int64(), "Output tokens (thinking/reasoning included)."),
    Column(
        "web_search_requests",
        pl.Int64(),
        "Server-side web searches billed with the request (Anthropic `server_tool_use`, OpenAI `web_search_call`).",
    ),
    Column(
        "web_search_variant",
        pl.String(),
        "`preview` when an OpenAI response searched with the `web_search_preview` tool (its own per-call fee); else null.",
    ),
    Column("file_search_calls", pl.Int64(), "OpenAI `file_search_call` items billed per call."),
    Column(
        "code_interpreter_calls", pl.Int64(), "OpenAI `code_interpreter_call` items (billed per container)."
    ),
    Column(
        "image_generation_calls",
        pl.Int64(),
        "OpenAI `image_generation_call` items (billed as image tokens the response's usage does not carry).",
    ),
    Column(
        "speed",
        pl.String(),
        "`fast` for fast mode (billed at the model's fast multiplier), else `standard`.",
    ),
    Column(
        "iterations",
        pl.Int64(),
        "Sampling iterations billed in the row (`usage.iterations`: compaction + message); null when the "
        "response has none. Advisor iterations on another model are rows of their own.",
    ),
    Column(
        "requests",
        pl.Int64(),
        "Requests this row stands for: 1 for request logs, the bucket count for aggregate reports (null when "
        "the report has none: Anthropic usage_report); split rows carry their share, allocated in whole requests.",
    ),
    Column(
        "service_tier", pl.String(), "`standard`, `batch` or `priority` (null in the log means standard)."
    ),
    Column("inference_geo", pl.String(), "`global`, `us`, `not_available` or null, as logged."),
    Column(
        "long_context",
        pl.Boolean(),
        "True when input + cache read + cache write exceeds 200,000 tokens (the long-context tier threshold).",
    ),
    # attribution
    Column(
        "feature",
        pl.String(),
        "Product feature the request served (from the attribution rules); null = unattributed.",
    ),
    Column(
        "logged_feature",
        pl.String(),
        "The feature the log itself states (each source's feature fields), kept so attribution can be re-run.",
    ),
    Column(
        "feature_share",
        pl.Float64(),
        "Share of the request this row carries: 1.0, or its weight when the request is split across "
        "features (the split rows share `dedupe_key`; tokens, requests and costs are allocated by it).",
    ),
    Column(
        "attributed_by",
        pl.String(),
        "Which attribution source set `feature`: `feature`, `tag:<prefix>`, `rule <n>`, a column; null = unattributed.",
    ),
    Column("user_id", pl.String(), "End user or account, when logged."),
    Column("api_key_id", pl.String(), "API key id (never the secret), when logged."),
    Column("workspace_id", pl.String(), "Workspace or project id on the provider side."),
    Column("project", pl.String(), "Project (Claude Code project directory, gateway project)."),
    Column("session_id", pl.String(), "Conversation or session id (Claude Code session)."),
    Column("tags", pl.List(pl.String()), "Free-form tags as logged (e.g. `team:support`)."),
    # outcome and shape
    Column(
        "status",
        pl.String(),
        "`ok` for a billed response; `incomplete` for a stream that ended without `message_stop` "
        "(billed for what its last cumulative usage says).",
    ),
    Column("stop_reason", pl.String(), "`end_turn`, `max_tokens`, `tool_use`, `stop_sequence`, ..."),
    Column("structured_output", pl.Boolean(), "True when the response is a tool call or JSON output."),
    Column("latency_ms", pl.Float64(), "End-to-end latency when the log has it."),
    Column(
        "logged_cost_usd",
        pl.Float64(),
        "A cost the log itself states (Claude Code `costUSD`, LiteLLM `spend`), kept for comparison.",
    ),
    # price, filled by tierlens.pricing
    Column(
        "priced",
        pl.Boolean(),
        "False when the model (or a billed category) has no price: costs are then null, never 0.",
    ),
    Column("price_version", pl.String(), "Version of the price table that priced the row."),
    Column(
        "price_multiplier",
        pl.Float64(),
        "Product of the multipliers applied to token costs (batch 0.5, US-only geo 1.1, regional 1.1, fast mode, discounts).",
    ),
    Column("cost_input_usd", pl.Float64(), "Uncached input cost."),
    Column("cost_cache_write_usd", pl.Float64(), "Cache write cost (5-minute and 1-hour)."),
    Column("cost_cache_read_usd", pl.Float64(), "Cache read cost."),
    Column("cost_output_usd", pl.Float64(), "Output cost."),
    Column("cost_web_search_usd", pl.Float64(), "Web search cost (per-call fee of the model's price row)."),
    Column("cost_tools_usd", pl.Float64(), "Other built-in tool fees (file search, code interpreter)."),
    Column("cost_usd", pl.Float64(), "Total: the sum of the six cost columns; null when unpriced."),
)

SCHEMA: pl.Schema = pl.Schema({c.name: c.dtype for c in COLUMNS})
"""Canonical columns as stored in each Parquet file (the partition column `date` is in the path)."""

PARTITION_COLUMN = "date"
"""Hive partition column added by `tierlens.open` (a `pl.Date`)."""

CLUSTERED_BY = ("feature", "model_id")
"""What the rows of each write are sorted by (nulls last, in arrival order within): a read of one
feature (a drill-down, a signal's second look) skips, by their statistics, the row groups that
hold none of it."""
CLUSTER_ROWS = 64 * 1024
"""Rows per row group: small enough that a feature's rows fill few of them, large enough that a
whole scan pays little for their number."""
STATISTICS = ("ts", "feature", "model_id", "tier", "service_tier", "priced", "source")
"""The columns whose row groups carry min/max statistics: those readers filter on."""

TOKEN_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)
PROMPT_COLUMNS = TOKEN_COLUMNS[:4]
"""The token categories of a prompt: uncached input, cache reads and both cache writes."""

UNATTRIBUTED = "(unattributed)"
"""The feature of a request no attribution rule or field names."""


def prompt_tokens(*, nulls_as_zero: bool = False) -> pl.Expr:
    """A request's whole prompt in tokens (the sum of PROMPT_COLUMNS): the size long-context tiers
    and prompt-size rules are decided on. Null when a category is null, unless `nulls_as_zero`."""
    a, b, c, d = (pl.col(n).fill_null(0) if nulls_as_zero else pl.col(n) for n in PROMPT_COLUMNS)
    return a + b + c + d


COST_COLUMNS = (
    "cost_input_usd",
    "cost_cache_write_usd",
    "cost_cache_read_usd",
    "cost_output_usd",
    "cost_web_search_usd",
    "cost_tools_usd",
)
TOOL_CALL_COLUMNS = ("file_search_calls", "code_interpreter_calls", "image_generation_calls")
"""Built-in tool calls billed per call, each by the price-table rate of the same name (`*_call`)."""
PRICE_COLUMNS = ("priced", "price_version", "price_multiplier", *COST_COLUMNS, "cost_usd")


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Return `df` with exactly the canonical columns, in order; missing ones are null."""
    exprs = [
        (pl.col(c.name) if c.name in df.columns else pl.lit(None)).cast(c.dtype).alias(c.name)
        for c in COLUMNS
    ]
    return df.select(exprs)


def empty() -> pl.DataFrame:
    """An empty frame with the canonical schema."""
    return pl.DataFrame(schema=SCHEMA)


def _listed(columns: tuple[str, ...]) -> str:
    return ", ".join(f"`{c}`" for c in columns[:-1]) + f" and `{columns[-1]}`"


def markdown() -> str:
    """The schema as a Markdown table (the body of docs/schema.md)."""
    lines = [
        "# The canonical request schema",
        "",
        "Generated from `src/tierlens/schema.py` by `python -m tierlens.schema`; do not edit by hand.",
        "Stored as Hive-partitioned Parquet under `<data>/requests/date=YYYY-MM-DD/`. Each write's",
        f"rows are sorted by {_listed(CLUSTERED_BY)}, in that order (nulls last; in arrival order within), in row",
        f"groups of {CLUSTER_ROWS:,} rows with statistics on {_listed(STATISTICS)}: a reader that",
        "filters on one feature skips the row groups that hold none of it.",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{c.name}` | `{c.dtype}` | {c.doc} |" for c in COLUMNS]
    lines.append(
        f"| `{PARTITION_COLUMN}` | `Date` | Partition column (UTC date of `ts`), from the directory name. |"
    )
    return "\n".join(lines + _rollup_markdown()) + "\n"


def _rollup_markdown() -> list[str]:
    from tierlens.store.rollup import KEYS, SUMMED

    keys = ", ".join(f"`{k}`" for k in (PARTITION_COLUMN, *KEYS))
    summed = ", ".join(f"`{c}`" for c in SUMMED)
    return [
        "",
        "## The daily rollup",
        "",
        "`<data>/_rollups/date=YYYY-MM-DD/`: each stored file summed by its cells, written when the file",
        "is committed (`tierlens.store.rollup`; `Workspace.rollup` reads a snapshot's).",
        "",
        "| column | meaning |",
        "|---|---|",
        f"| {keys} | The request columns of the same names: the cell. |",
        "| `bucket` | True for the rows of an aggregate report (`ts_source` = `bucket_start`). |",
        "| `rows` | Stored rows in the cell. |",
        f"| {summed} | Sums of the request columns of the same names. |",
        "| `cost_usd` | Sum of `cost_usd`; null when every request of the cell is unpriced. |",
        "| `max_tokens_requests` | `requests` of the rows with `stop_reason` = `max_tokens`. |",
        "| `error_requests` | `requests` of the rows with `status` = `error`. |",
    ]


if __name__ == "__main__":
    print(markdown(), end="")
