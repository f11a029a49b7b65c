"""Routing policies: TOML files with an ordered list of rules, validated before anything runs.

```toml
# Header comment: what the policy assumes (shipped policies in policies/ all have one).
name = "short-structured-to-haiku"          # default: the file name
description = "Short tool-call classifiers go to Haiku 4.5."

[[rules]]                                   # first matching rule wins; no match = unchanged
name = "classifiers"
when = "structured_output AND output_tokens <= 100 AND tier IN ('opus', 'sonnet')"
route_to = "claude-haiku-4-5"               # or: cascade = ["claude-haiku-4-5", "claude-sonnet-4-6"]
# escalation_rate = { low = 0.1, high = 0.3 } (cascades only)
# service_tier = "batch"                    # alone, or with route_to / cascade

[assumptions]                               # optional: overrides, see assumptions.py
output_ratio = { median = 1.0, sigma = 0.2 }
```

Errors name the file, line and column: a TOML syntax error where tomllib found it, an unknown
column or an unsafe construct in a `when` at its place in the file, an unknown key or model at
its line, with a "did you mean" hint where one is close.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import AssumptionError, ConditionError, PolicyError
from tierlens.pricing import PriceTable, normalize_model
from tierlens.replay.assumptions import (
    Assumptions,
    Dist,
    build_assumptions,
    parse_dist,
)
from tierlens.replay.condition import Condition, compile_condition

SERVICE_TIERS = ("standard", "batch")
_POLICY_KEYS = ("name", "description", "rules", "assumptions")
_RULE_KEYS = ("name", "when", "route_to", "cascade", "escalation_rate", "service_tier")


@dataclass(frozen=True)
class Rule:
    """One rule: a condition and an action (route, cascade and/or service tier)."""

    index: int
    name: str
    when: Condition
    route_to: str | None = None
    cascade: tuple[str, str] | None = None
    escalation_rate: Dist | None = None
    service_tier: str | None = None
    line: int | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        if self.cascade:
            return self.cascade
        return (self.route_to,) if self.route_to else ()

    def action(self) -> str:
        parts = []
        if self.route_to:
            parts.append(f"route to {self.route_to}")
        if self.cascade:
            rate = self.escalation_rate.describe() if self.escalation_rate else "the default escalation rate"
            parts.append(f"cascade {self.cascade[0]} -> {self.cascade[1]} (escalation {rate})")
        if self.service_tier:
            parts.append(f"service tier {self.service_tier}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "when": self.when.sql,
            "route_to": self.route_to,
            "cascade": list(self.cascade) if self.cascade else None,
            "escalation_rate": self.escalation_rate.to_dict() if self.escalation_rate else None,
            "service_tier": self.service_tier,
            "action": self.action(),
        }


@dataclass(frozen=True)
class Policy:
    """A validated policy: ordered rules, and its assumptions (defaults < file < --assume)."""

    name: str
    description: str
    path: str
    rules: tuple[Rule, ...]
    assumptions: Assumptions
    header: str = ""

    @property
    def columns(self) -> frozenset[str]:
        cols: set[str] = set()
        for r in self.rules:
            cols |= r.when.columns
        return frozenset(cols)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "rules": [r.to_dict() for r in self.rules],
        }


def load_policies(
    paths: Iterable[str | Path], table: PriceTable, assume: Mapping[str, Any] | None = None
) -> list[Policy]:
    """Policy files (a directory means every `*.toml` in it, by name); names must be unique."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise PolicyError(f"no *.toml policy files in directory {path}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise PolicyError(f"no such policy file: {path}")
    policies = [load_policy(f, table, assume) for f in files]
    seen: dict[str, str] = {}
    for pol in policies:
        if pol.name in seen:
            raise PolicyError(f"two policies are named {pol.name!r} ({seen[pol.name]} and {pol.path})")
        seen[pol.name] = pol.path
    return policies


def load_policy(path: str | Path, table: PriceTable, assume: Mapping[str, Any] | None = None) -> Policy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file: {exc.strerror or exc}", str(p)) from None
    return parse_policy(text, str(p), table, assume, default_name=p.stem)


def parse_policy(
    text: str,
    path: str,
    table: PriceTable,
    assume: Mapping[str, Any] | None = None,
    default_name: str = "policy",
) -> Policy:
    """Parse and validate one policy document (TOML text)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        raise PolicyError(f"TOML syntax error: {msg}", path, line, col) from None
    return policy_from_dict(doc, path, table, assume, default_name=default_name, text=text)


def policy_from_dict(
    doc: Mapping[str, Any],
    path: str,
    table: PriceTable,
    assume: Mapping[str, Any] | None = None,
    default_name: str = "policy",
    text: str = "",
) -> Policy:
    """Validate a policy given as a parsed document (`text`, when given, locates errors in it)."""
    locator = _Locator(text)
    _check_keys(doc, _POLICY_KEYS, "policy", path, locator.top_level)
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("name must be a non-empty string", path, locator.top_level("name"))
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise PolicyError("description must be a string", path, locator.top_level("description"))
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise PolicyError("rules must be an array of tables ([[rules]])", path, locator.top_level("rules"))
    raw_assumptions = doc.get("assumptions", {})
    if not isinstance(raw_assumptions, dict):
        raise PolicyError("[assumptions] must be a table", path, locator.top_level("assumptions"))
    layers: list[tuple[Mapping[str, Any], str]] = [(raw_assumptions, "policy file")]
    if assume:
        layers.append((assume, "--assume"))
    try:
        assumptions = build_assumptions(layers)
    except AssumptionError as exc:
        line = locator.assumption_line(str(exc))
        raise PolicyError(str(exc), path, line) from None
    known_models = table.model_ids()
    rules = tuple(_parse_rule(i, r, path, locator, table, known_models) for i, r in enumerate(raw_rules))
    return Policy(
        name=name.strip(),
        description=description.strip(),
        path=path,
        rules=rules,
        assumptions=assumptions,
        header=_header(text),
    )


def _parse_rule(
    i: int,
    raw: dict[str, Any],
    path: str,
    loc: _Locator,
    table: PriceTable,
    known_models: set[str],
) -> Rule:
    label = f"rule {i + 1}" + (f" ({raw['name']!r})" if isinstance(raw.get("name"), str) else "")

    def fail(message: str, key: str | None = None) -> PolicyError:
        return PolicyError(f"{label}: {message}", path, *loc.rule_key(i, key))

    _check_keys(raw, _RULE_KEYS, label, path, lambda k: loc.rule_key(i, k)[0])
    name = raw.get("name", f"rule {i + 1}")
    if not isinstance(name, str):
        raise fail("name must be a string", "name")
    if "when" not in raw:
        raise fail('needs a `when` condition (use when = "TRUE" to match every request)')
    when = raw["when"]
    if not isinstance(when, str):
        raise fail("`when` must be a string holding a SQL condition", "when")
    try:
        condition = compile_condition(when)
    except ConditionError as exc:
        line, col = loc.when_position(i, exc.line, exc.col)
        if line is None:
            raise PolicyError(
                f"{label}: in `when` (line {exc.line}, column {exc.col}): {exc.message}", path
            ) from None
        raise PolicyError(f"{label}: {exc.message}", path, line, col) from None
    route_to = raw.get("route_to")
    cascade = raw.get("cascade")
    service_tier = raw.get("service_tier")
    if route_to is not None and cascade is not None:
        raise fail("give either route_to or cascade, not both", "cascade")
    if route_to is None and cascade is None and service_tier is None:
        raise fail('needs an action: route_to = MODEL, cascade = [CHEAP, STRONG] or service_tier = "batch"')
    if route_to is not None:
        if not isinstance(route_to, str):
            raise fail("route_to must be a model id string", "route_to")
        route_to = _model(route_to, table, known_models, lambda m: fail(m, "route_to"))
    casc: tuple[str, str] | None = None
    if cascade is not None:
        if not (isinstance(cascade, list) and len(cascade) == 2 and all(isinstance(c, str) for c in cascade)):
            raise fail("cascade must be a list of two model ids: [CHEAP, STRONG]", "cascade")
        casc = (
            _model(cascade[0], table, known_models, lambda m: fail(m, "cascade")),
            _model(cascade[1], table, known_models, lambda m: fail(m, "cascade")),
        )
        if casc[0] == casc[1]:
            raise fail("a cascade needs two different models", "cascade")
    rate: Dist | None = None
    if "escalation_rate" in raw:
        if casc is None:
            raise fail("escalation_rate only applies to a cascade", "escalation_rate")
        try:
            rate = parse_dist(raw["escalation_rate"], "escalation_rate", unit=True)
        except AssumptionError as exc:
            raise fail(str(exc), "escalation_rate") from None
    if service_tier is not None and service_tier not in SERVICE_TIERS:
        hint = " (priority has no public per-token price)" if service_tier == "priority" else ""
        raise fail(
            f"service_tier must be one of {', '.join(SERVICE_TIERS)}, got {service_tier!r}{hint}",
            "service_tier",
        )
    return Rule(
        index=i,
        name=name,
        when=condition,
        route_to=route_to,
        cascade=casc,
        escalation_rate=rate,
        service_tier=service_tier,
        line=loc.rule_key(i, None)[0],
    )


def _model(value: str, table: PriceTable, known: set[str], fail: Any) -> str:
    """The price-table model id for a route target (dated or prefixed ids are normalized)."""
    raw = value.strip().lower()
    if raw in known:
        return raw
    mid, _ = normalize_model(pl.lit(raw), table.aliases)
    normalized = pl.select(mid).item()
    if isinstance(normalized, str) and normalized in known:
        return normalized
    hint = difflib.get_close_matches(raw, sorted(known), n=1)
    suffix = f" (did you mean '{hint[0]}'?)" if hint else " (see `tierlens prices`)"
    raise fail(f"unknown model {value!r}: no price for it{suffix}")


def _check_keys(raw: Mapping[str, Any], known: tuple[str, ...], what: str, path: str, locate: Any) -> None:
    for key in raw:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suffix = f" (did you mean '{hint[0]}'?)" if hint else f"; known: {', '.join(known)}"
            where = locate(key)
            line = where if isinstance(where, int) or where is None else where[0]
            raise PolicyError(f"{what}: unknown key '{key}'{suffix}", path, line)


def _header(text: str) -> str:
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            lines.append(s.lstrip("#").strip())
        elif s:
            break
    return "\n".join(lines).strip()


class _Locator:
    """Best-effort positions in the TOML text (tomllib keeps none): tables, keys, `when` strings."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.sections: list[tuple[str, int]] = []  # (table name, 0-based line)
        for n, line in enumerate(self.lines):
            m = self._HEADER.match(line)
            if m and not line.lstrip().startswith("#"):
                self.sections.append((m.group(1).strip(), n))

    def _span(self, name: str | None, occurrence: int = 0) -> tuple[int, int]:
        """0-based [start, end) lines of a table (None: the top level before any header)."""
        if name is None:
            end = self.sections[0][1] if self.sections else len(self.lines)
            return 0, end
        hits = [k for k, (n, _) in enumerate(self.sections) if n == name]
        if occurrence >= len(hits):
            return -1, -1
        k = hits[occurrence]
        start = self.sections[k][1]
        end = self.sections[k + 1][1] if k + 1 < len(self.sections) else len(self.lines)
        return start, end

    def _key_line(self, span: tuple[int, int], key: str) -> int | None:
        pattern = re.compile(rf"^\s*(\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})\s*[=.]")
        for n in range(max(span[0], 0), span[1]):
            if pattern.match(self.lines[n]):
                return n + 1
        return None

    def top_level(self, key: str) -> int | None:
        line = self._key_line(self._span(None), key)
        if line is None:
            start, _ = self._span(key)
            return start + 1 if start >= 0 else None
        return line

    def rule_key(self, i: int, key: str | None) -> tuple[int | None, int | None]:
        start, end = self._span("rules", i)
        if start < 0:
            return None, None
        if key is None:
            return start + 1, None
        line = self._key_line((start, end), key)
        return (line, None) if line is not None else (start + 1, None)

    def assumption_line(self, message: str) -> int | None:
        start, end = self._span("assumptions")
        m = re.search(r"assumptions\.(\w+)|assumption '(\w+)'", message)
        key = (m.group(1) or m.group(2)) if m else None
        if start >= 0 and key:
            line = self._key_line((start, end), key)
            if line is not None:
                return line
        return start + 1 if start >= 0 else None

    def when_position(self, i: int, sql_line: int, sql_col: int) -> tuple[int | None, int | None]:
        """File line/column of (sql_line, sql_col) inside rule i's `when` string."""
        start, end = self._span("rules", i)
        if start < 0:
            return None, None
        pattern = re.compile(r"^(\s*when\s*=\s*)(\"\"\"|'''|\"|')")
        for n in range(start, end):
            m = pattern.match(self.lines[n])
            if not m:
                continue
            quote = m.group(2)
            value_col = m.end() + 1  # 1-based column of the first character of the value
            if len(quote) == 3 and m.end() == len(self.lines[n].rstrip()):
                # a multi-line string starting with a newline: TOML trims that first newline
                return n + 1 + sql_line, sql_col
            if sql_line == 1:
                return n + 1, value_col + sql_col - 1
            return n + sql_line, sql_col
        return None, None
