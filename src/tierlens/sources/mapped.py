"""Any other CSV or JSON-lines log, described field by field in `[sources.NAME]` of tierlens.toml.

```toml
[sources.acme_gateway]                  # NAME is the format name (`--format acme_gateway`, `source` column)
files = ["acme-*.csv"]                  # optional: file-name globs that select this mapping
format = "csv"                          # auto (sniffed), csv or jsonl
timestamp_format = "%d/%m/%Y %H:%M:%S"  # auto (ISO-8601 or epoch s/ms), epoch_s, epoch_ms, epoch_us, epoch_ns, or strftime
timezone = "Europe/Berlin"              # for timestamps without an offset
token_convention = "input_includes_cache"   # or input_excludes_cache (the default)
provider = "anthropic"                  # when no `provider` field is mapped
[sources.acme_gateway.fields]           # canonical column = path (or [paths], first non-null wins)
ts = "time"
model = "model_name"
input_tokens = "tokens_in"
output_tokens = "tokens_out"
cache_read_tokens = "cached"
feature = ["app", "meta.feature"]
```

Paths are dotted (`usage.input`) into JSON objects; in CSV a header is matched whole first
(`usage.input` as one column), and a cell holding JSON can be descended into. Token convention:
with `input_includes_cache` the input field counts cache reads and writes (OpenAI,
OpenTelemetry style) and `input_tokens` = input - cache reads - cache writes; with
`input_excludes_cache` (Anthropic style) it is already uncached. `cache_write_tokens` are writes
priced as 5-minute writes; `cache_write_5m_tokens` / `cache_write_1h_tokens` split them by TTL.
Rows are keyed on `request_id`, else `message_id`, else their content, under the source's name.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.pricing.models import normalize_model
from tierlens.source_settings import MappedSource
from tierlens.sources.base import Context, Kind, RawField, Reader
from tierlens.sources.common import negative, standard_tier
from tierlens.sources.exprs import BAD_TIME, coalesce, content_key, parse_timestamp, reject_if

_KINDS: dict[str, Kind] = {
    "input_tokens": "int",
    "output_tokens": "int",
    "cache_read_tokens": "int",
    "cache_write_tokens": "int",
    "cache_write_5m_tokens": "int",
    "cache_write_1h_tokens": "int",
    "web_search_requests": "int",
    "requests": "int",
    "latency_ms": "num",
    "logged_cost_usd": "num",
    "tags": "strlist",
}
_EPOCH = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1, "epoch_ns": None}


class MappedReader(Reader):
    """A `[sources.NAME]` mapping: paths to canonical columns, a timestamp format, a token convention."""

    def __init__(self, name: str, cfg: MappedSource, aliases: dict[str, str] | None = None) -> None:
        self.name = name  # type: ignore[misc]  # a configured format's name is per instance
        self.cfg = cfg
        self.aliases = aliases or {}
        self.description = cfg.description or f"custom mapping [sources.{name}] in tierlens.toml"  # type: ignore[misc]
        self.shape = None if cfg.format == "auto" else cfg.format
        self.delimiter = cfg.delimiter

    def _paths(self, column: str) -> list[str]:
        return self.cfg.fields.get(column, [])

    def fields(self) -> list[RawField]:
        out: dict[str, RawField] = {}
        for column, paths in self.cfg.fields.items():
            for p in paths:
                kind = _KINDS.get(column, "str")
                if p in out and out[p].kind != kind:
                    kind = "str"
                out[p] = RawField(p, kind)
        return list(out.values())

    def claims_path(self, path: Path | None) -> bool:
        if path is None or not self.cfg.files:
            return False
        return any(fnmatch.fnmatch(path.name, g) or fnmatch.fnmatch(str(path), g) for g in self.cfg.files)

    def sniff(self, obj: dict[str, Any]) -> bool:
        return all(
            any(_has(obj, p) for p in self._paths(c))
            for c in ("ts", "model", "input_tokens", "output_tokens")
        )

    def _col(self, column: str, default: Any = None) -> pl.Expr:
        paths = self._paths(column)
        if not paths:
            return pl.lit(default, pl.String) if default is None else pl.lit(default)
        return coalesce([pl.col(p) for p in paths])

    def _timestamp(self, text: pl.Expr) -> pl.Expr:
        fmt = self.cfg.timestamp_format
        if fmt == "auto":
            parsed = parse_timestamp(text)
            if self.cfg.timezone == "UTC":
                return parsed
            naive = text.str.strip_chars().str.contains(r"^\d{4}-\d\d-\d\d[T ][\d:.]+$")
            local = parse_timestamp(text).dt.replace_time_zone(None).dt.replace_time_zone(self.cfg.timezone)
            return pl.when(naive).then(local.dt.convert_time_zone("UTC")).otherwise(parsed)
        if fmt in _EPOCH:
            t = text.str.strip_chars()
            num = pl.when(t.str.contains(r"^-?\d+$")).then(t.cast(pl.Int64, strict=False))
            per = _EPOCH[fmt]
            micros = num // 1000 if per is None else num * per
            return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
        parsed = text.str.strip_chars().str.to_datetime(fmt, strict=False, time_unit="us")
        if "%z" in fmt or "%Z" in fmt:
            return parsed.dt.convert_time_zone("UTC")
        return parsed.dt.replace_time_zone(self.cfg.timezone).dt.convert_time_zone("UTC")

    def to_canonical(self, raw: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        c = self.cfg
        ts_text = self._col("ts")
        ts = self._timestamp(ts_text)
        model = self._col("model")
        model_id, scope = normalize_model(model, self.aliases)
        reads = self._col("cache_read_tokens", 0).fill_null(0)
        split = (
            self._col("cache_write_5m_tokens").is_not_null()
            | self._col("cache_write_1h_tokens").is_not_null()
        )
        w5 = (
            pl.when(split)
            .then(self._col("cache_write_5m_tokens", 0).fill_null(0))
            .otherwise(self._col("cache_write_tokens", 0).fill_null(0))
        )
        w1 = pl.when(split).then(self._col("cache_write_1h_tokens", 0).fill_null(0)).otherwise(0)
        given = self._col("input_tokens")
        uncached = given - reads - w5 - w1 if c.token_convention == "input_includes_cache" else given
        output = self._col("output_tokens")
        reject = reject_if(
            (model.is_null(), f"missing model ({', '.join(self._paths('model'))})"),
            (given.is_null(), f"missing input tokens ({', '.join(self._paths('input_tokens'))})"),
            (output.is_null(), f"missing output tokens ({', '.join(self._paths('output_tokens'))})"),
            (negative(given, output, reads, w5, w1), "negative token count"),
            (uncached < 0, "cache tokens exceed the input tokens"),
            (ts_text.is_null(), "missing timestamp"),
            (ts.is_null(), BAD_TIME),
        )
        provider = (
            self._col("provider").fill_null(c.provider) if self._paths("provider") else pl.lit(c.provider)
        )
        out = raw.with_columns(_skip=pl.lit(None, pl.String), _reject=reject).with_columns(
            request_id=self._col("request_id"),
            message_id=self._col("message_id"),
            ts=ts,
            ts_source=pl.lit("log"),
            provider=provider,
            model=model,
            model_id=model_id,
            endpoint_scope=scope,
            input_tokens=uncached,
            cache_read_tokens=reads,
            cache_write_5m_tokens=w5,
            cache_write_1h_tokens=w1,
            output_tokens=output,
            web_search_requests=self._col("web_search_requests", 0).fill_null(0),
            requests=self._col("requests", 1).fill_null(1),
            service_tier=standard_tier(self._col("service_tier")),
            inference_geo=self._col("inference_geo"),
            status=self._col("status", "ok").fill_null("ok"),
            stop_reason=self._col("stop_reason"),
            feature=self._col("feature"),
            user_id=self._col("user_id"),
            api_key_id=self._col("api_key_id"),
            workspace_id=self._col("workspace_id"),
            project=self._col("project"),
            session_id=self._col("session_id"),
            tags=self._col("tags") if self._paths("tags") else pl.lit(None, pl.List(pl.String)),
            latency_ms=self._col("latency_ms"),
            logged_cost_usd=self._col("logged_cost_usd"),
        )
        fallback = content_key(
            ["ts", "model", "input_tokens", "cache_read_tokens", "output_tokens", "feature", "user_id"]
        )
        return out.with_columns(
            dedupe_key=pl.concat_str(
                pl.lit(f"{self.name}:"), pl.coalesce(pl.col("request_id"), pl.col("message_id"), fallback)
            )
        )


def _has(obj: dict[str, Any], path: str) -> bool:
    if obj.get(path) not in (None, ""):
        return True
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node not in (None, "")
