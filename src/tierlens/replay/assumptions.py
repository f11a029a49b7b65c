"""What a replay has to assume, said out loud: distributions, their defaults, and how to override them.

A counterfactual price is exact only while the model stays the same. Once a request moves to
another model, its cost depends on things the logs cannot show directly:

- **output-length ratio** between the two models (a distribution, not a constant; fitted from the
  logs when the same feature ran on both models, see `calibrate.py`);
- **tokenizer ratio** when the target tokenizes differently (Opus 4.7+ and Sonnet 5 use a newer
  tokenizer: roughly 30% more tokens for the same text [P, FACTS.md]); it scales every token
  category and can push a prompt over a long-context threshold;
- **prompt caches**, which are per model: `kept` (the target serves the same request stream, so in
  steady state it reads its own cache as often as the source did), `cold` (every cache read
  becomes a cache write) or, by default, `auto` (kept for a route, a kept share drawn from
  `cascade_cache_kept` for a cascade's thinner escalated stream); a prefix shorter than the
  target's minimum cacheable length is *ineligible* and billed as uncached input;
- **escalation rate** of a cascade (the share of requests the cheap model hands to the strong one).

Every default below can be overridden in a policy's `[assumptions]` table or with
`--assume KEY=VALUE`; the report lists each assumption used, where it came from, and its P10/P50/P90.
Draws are Latin-hypercube samples from a seeded `random.Random` per assumption (stdlib only):
deterministic for a seed, and the same assumption gets the same draws in every policy.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

from tierlens.errors import AssumeItemError, AssumptionError, closest

_STD_NORMAL = NormalDist()
CACHE_MODES = ("auto", "kept", "cold")


_DIST_PARAMS = {
    "point": ("value",),
    "lognormal": ("median", "sigma"),
    "normal": ("mean", "sd"),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
}
"""Each kind of distribution and its parameters in the order `Dist` holds them (a, b, c): the
keys a policy writes it with are the keys a result shows it with."""


@dataclass(frozen=True)
class Dist:
    """A one-dimensional distribution with an inverse CDF (`ppf`), enough for Latin-hypercube draws.

    kinds: `point` (value), `lognormal` (median, sigma of the log), `uniform` (low, high),
    `triangular` (low, mode, high), `normal` (mean, sd).
    """

    kind: str
    a: float
    b: float = 0.0
    c: float = 0.0

    @staticmethod
    def point(value: float) -> Dist:
        return Dist("point", float(value))

    @staticmethod
    def lognormal(median: float, sigma: float) -> Dist:
        return Dist("lognormal", float(median), float(sigma)) if sigma > 0 else Dist.point(median)

    @staticmethod
    def uniform(low: float, high: float) -> Dist:
        return Dist("uniform", float(low), float(high)) if high > low else Dist.point(low)

    @property
    def is_point(self) -> bool:
        return self.kind == "point"

    def ppf(self, u: float) -> float:
        """The value at cumulative probability `u` in (0, 1)."""
        if self.kind == "point":
            return self.a
        u = min(max(u, 1e-12), 1 - 1e-12)
        if self.kind == "lognormal":
            return self.a * math.exp(self.b * _STD_NORMAL.inv_cdf(u))
        if self.kind == "normal":
            return self.a + self.b * _STD_NORMAL.inv_cdf(u)
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * u
        low, mode, high = self.a, self.b, self.c  # triangular
        cut = (mode - low) / (high - low)
        if u < cut:
            return low + math.sqrt(u * (high - low) * (mode - low))
        return high - math.sqrt((1 - u) * (high - low) * (high - mode))

    def describe(self) -> str:
        if self.kind == "point":
            return f"{self.a:g}"
        if self.kind == "lognormal":
            return f"lognormal(median {self.a:.3g}, sigma {self.b:.3g})"
        if self.kind == "normal":
            return f"normal(mean {self.a:.3g}, sd {self.b:.3g})"
        if self.kind == "uniform":
            return f"uniform({self.a:.3g} .. {self.b:.3g})"
        return f"triangular({self.a:.3g}, {self.b:.3g}, {self.c:.3g})"

    def to_dict(self) -> dict[str, Any]:
        keys = _DIST_PARAMS[self.kind]
        return {"dist": self.kind, **dict(zip(keys, (self.a, self.b, self.c), strict=False))}


_DIST_KEYS = {"dist", *(k for keys in _DIST_PARAMS.values() for k in keys)}


def parse_dist(value: Any, where: str, *, positive: bool = True, unit: bool = False) -> Dist:
    """A number, or a table: `{median, sigma}` (lognormal), `{low, high}` (uniform),
    `{low, mode, high}` (triangular), `{mean, sd}` (normal), or any of these with `dist = "..."`."""
    if isinstance(value, bool):
        raise AssumptionError(f"{where}: expected a number or a distribution table, got {value!r}")
    if isinstance(value, (int, float)):
        dist = Dist.point(float(value))
    elif isinstance(value, Mapping):
        unknown = set(value) - _DIST_KEYS
        if unknown:
            raise AssumptionError(
                f"{where}: unknown distribution key(s) {', '.join(sorted(unknown))}{_hint(unknown, _DIST_KEYS)}"
            )
        dist = _dist_from_table(dict(value), where)
    else:
        raise AssumptionError(f"{where}: expected a number or a distribution table, got {value!r}")
    for q in (0.001, 0.5, 0.999):
        v = dist.ppf(q)
        if positive and v <= 0 and not unit:
            raise AssumptionError(f"{where}: values must be positive ({dist.describe()})")
        if unit and not 0 <= v <= 1:
            raise AssumptionError(f"{where}: values must lie in [0, 1] ({dist.describe()})")
    return dist


def _dist_from_table(t: dict[str, Any], where: str) -> Dist:
    kind = t.pop("dist", None)
    if kind is None:
        kind = (
            "point"
            if "value" in t
            else "lognormal"
            if "median" in t
            else "normal"
            if "mean" in t
            else "triangular"
            if "mode" in t
            else "uniform"
        )
    need = _DIST_PARAMS.get(str(kind))
    if need is None:
        raise AssumptionError(
            f"{where}: unknown dist {kind!r} (point, lognormal, uniform, triangular, normal)"
        )
    missing = [k for k in need if k not in t]
    extra = set(t) - set(need)
    if missing or extra:
        raise AssumptionError(f"{where}: a {kind} distribution takes {', '.join(need)}")
    try:
        vals = [float(t[k]) for k in need]
    except (TypeError, ValueError):
        raise AssumptionError(f"{where}: distribution parameters must be numbers") from None
    if kind == "point":
        return Dist.point(vals[0])
    if kind == "lognormal":
        if vals[0] <= 0 or vals[1] < 0:
            raise AssumptionError(f"{where}: lognormal needs median > 0 and sigma >= 0")
        return Dist.lognormal(vals[0], vals[1])
    if kind == "normal":
        if vals[1] < 0:
            raise AssumptionError(f"{where}: normal needs sd >= 0")
        return Dist("normal", vals[0], vals[1]) if vals[1] > 0 else Dist.point(vals[0])
    if kind == "uniform":
        if vals[1] < vals[0]:
            raise AssumptionError(f"{where}: uniform needs low <= high")
        return Dist.uniform(vals[0], vals[1])
    low, mode, high = vals
    if not low <= mode <= high:
        raise AssumptionError(f"{where}: triangular needs low <= mode <= high")
    return Dist("triangular", low, mode, high) if high > low else Dist.point(low)


def _hint(bad: set[str], known: set[str] | list[str]) -> str:
    """` (did you mean 'X'?)` for the first of the `bad` keys (sorted) that is close to one known."""
    for b in sorted(bad):
        m = closest(b, known)
        if m is not None:
            return f" (did you mean '{m}'?)"
    return ""


# --- the defaults -----------------------------------------------------------------------------------

DEFAULT_OUTPUT_RATIO = Dist.lognormal(1.0, 0.30)
"""Any model switch without calibration: answers as long as before at the median, P10..P90 = 0.68..1.47.

The spread is what published comparisons of answer length on one fixed prompt set show. On
Arena-Hard-Auto v0.1 (lmarena/arena-hard-auto, misc/past_leaderboards.md: "average #tokens" per
model over the same 500 prompts), the ten Claude moves a team makes (a tier down or up within
Claude 3, Claude 3 to 3.5 Sonnet, its 06-20 to 10-22 snapshot, Claude 2.x to 3 Opus) change the
answer length by x0.73..x1.87, a log-ratio standard deviation of 0.25; all 21 pairs of its seven
Claude models, 0.48. Announcements of the 4.x generations report larger moves still where effort
or thinking settings change (Opus 4.5 at medium effort: "76% fewer output tokens" than Sonnet
4.5). 0.30 holds the Claude-to-Claude moves (the replay's common case) and, as
`tests/replay/test_coverage.py` checks, contains the observed outcome of simulated migrations
with ratios of that spread inside P10..P90 about 80% of the time. A feature observed on both
models replaces this prior with its calibrated ratio (`calibrate.py`), much narrower [P: the
leaderboard; U: its transfer to one team's traffic]."""

DEFAULT_TOKENIZER_RATIOS: dict[tuple[str, str], Dist] = {
    ("claude-v1", "claude-v2"): Dist.lognormal(1.30, 0.06),
    ("claude-v2", "claude-v1"): Dist.lognormal(1 / 1.30, 0.06),
}
"""Tokens for the same text, target / source ("roughly 30% more" for the newer Claude tokenizer [P])."""

DEFAULT_UNKNOWN_TOKENIZER_RATIO = Dist.lognormal(1.0, 0.15)
"""Any other pair of tokenizer generations (e.g. Claude <-> OpenAI o200k) [U]."""

DEFAULT_MIN_CACHEABLE_PREFIX: dict[str, int] = {
    # Anthropic prompt-caching docs as quoted in anthropic-sdk-python issue #1194 (2026) [P]:
    # one gateway documents 2,048 for Sonnet 4.6 and the issue reports 2,048 observed. Override if needed.
    "claude-opus-4-6": 4096,
    "claude-opus-4-5": 4096,
    "claude-haiku-4-5": 4096,
    "claude-sonnet-4-6": 1024,
    "claude-sonnet-4-5": 1024,
    "claude-opus-4-1": 1024,
    "claude-opus-4-0": 1024,
    "claude-sonnet-4-0": 1024,
    "claude-3-7-sonnet": 1024,
    "claude-3-5-haiku": 2048,
    "claude-3-haiku": 2048,
    "*": 1024,  # models the docs did not list when this was written [U]
}

DEFAULT_CASCADE_CACHE_KEPT = Dist.uniform(0.5, 1.0)
"""Share of cache reads a cascade's strong model still gets on its thinner escalated stream [U]."""

DEFAULT_ESCALATION_RATE = Dist.uniform(0.10, 0.30)
"""Share of requests a cascade's cheap model escalates, when the rule does not say [U]."""


@dataclass(frozen=True)
class Assumptions:
    """Every assumption a replay uses; `sources` says where each non-default value came from."""

    output_ratio: Dist = DEFAULT_OUTPUT_RATIO
    output_ratio_pairs: dict[tuple[str, str], Dist] = field(default_factory=dict)
    tokenizer_ratio: Dist = DEFAULT_UNKNOWN_TOKENIZER_RATIO
    tokenizer_ratio_pairs: dict[tuple[str, str], Dist] = field(
        default_factory=lambda: dict(DEFAULT_TOKENIZER_RATIOS)
    )
    cache: str = "auto"
    cascade_cache_kept: Dist = DEFAULT_CASCADE_CACHE_KEPT
    escalation_rate: Dist = DEFAULT_ESCALATION_RATE
    min_cacheable_prefix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIN_CACHEABLE_PREFIX))
    calibrate: bool = True
    calibration_min_requests: int = 30
    calibration_floor_sigma: float = 0.02
    sources: dict[str, str] = field(default_factory=dict)

    def output_prior(self, source: str, target: str) -> tuple[Dist, str]:
        pair = (source, target)
        if pair in self.output_ratio_pairs:
            return self.output_ratio_pairs[pair], self.sources.get(
                f"output_ratio.{source} -> {target}", "policy"
            )
        return self.output_ratio, self.sources.get("output_ratio", "default prior")

    def tokenizer(self, source: str, target: str) -> tuple[Dist, str]:
        if source == target:
            return Dist.point(1.0), "same tokenizer"
        pair = (source, target)
        if pair in self.tokenizer_ratio_pairs:
            key = f"tokenizer_ratio.{source} -> {target}"
            default = "default [P: FACTS.md]" if pair in DEFAULT_TOKENIZER_RATIOS else "policy"
            return self.tokenizer_ratio_pairs[pair], self.sources.get(key, default)
        return self.tokenizer_ratio, self.sources.get("tokenizer_ratio", "default prior [U]")

    def min_prefix(self, model_id: str) -> int:
        return self.min_cacheable_prefix.get(model_id, self.min_cacheable_prefix.get("*", 1024))


ASSUMPTION_KEYS = (
    "output_ratio",
    "tokenizer_ratio",
    "cache",
    "cascade_cache_kept",
    "escalation_rate",
    "min_cacheable_prefix",
    "calibrate",
    "calibration_min_requests",
    "calibration_floor_sigma",
)


def _pairs_or_dist(value: Any, key: str) -> tuple[Dist | None, dict[tuple[str, str], Dist]]:
    """`output_ratio = 0.9`, `= {median, sigma}`, or `= {default = ..., "a -> b" = ...}`."""
    if not isinstance(value, Mapping) or (set(value) & _DIST_KEYS and not any("->" in str(k) for k in value)):
        return parse_dist(value, f"assumptions.{key}"), {}
    default = None
    pairs: dict[tuple[str, str], Dist] = {}
    for k, v in value.items():
        if k == "default":
            default = parse_dist(v, f"assumptions.{key}.default")
            continue
        src, sep, dst = str(k).partition("->")
        if not sep or not src.strip() or not dst.strip():
            raise AssumptionError(
                f"assumptions.{key}: key {k!r} must be 'default' or a pair 'SOURCE -> TARGET'"
            )
        pairs[(src.strip().lower(), dst.strip().lower())] = parse_dist(v, f"assumptions.{key}.{k}")
    return default, pairs


_RATIO_KEYS = ("output_ratio", "tokenizer_ratio")
"""The ratio assumptions: a default distribution and distributions per model pair (`KEY_pairs`)."""
_SHARE_KEYS = ("cascade_cache_kept", "escalation_rate")
"""The assumptions that are one distribution of a share (between 0 and 1)."""


def _with_ratio(
    a: Assumptions, key: str, default: Dist | None, pairs: dict[tuple[str, str], Dist]
) -> Assumptions:
    """`a` with a ratio assumption's new default (if any) and its pairs laid over the pairs it had."""
    pairs_key = f"{key}_pairs"
    changes: dict[str, Any] = {pairs_key: {**getattr(a, pairs_key), **pairs}}
    if default is not None:
        changes[key] = default
    return replace(a, **changes)


def build_assumptions(layers: list[tuple[Mapping[str, Any], str]]) -> Assumptions:
    """Defaults, then each `(table, source label)` layer in order (a policy file, then --assume)."""
    a = Assumptions()
    sources: dict[str, str] = {}
    for table, label in layers:
        unknown = set(table) - set(ASSUMPTION_KEYS)
        if unknown:
            bad = sorted(unknown)[0]
            raise AssumptionError(
                f"unknown assumption '{bad}'{_hint({bad}, list(ASSUMPTION_KEYS))}; known: {', '.join(ASSUMPTION_KEYS)}"
            )
        for key, value in table.items():
            if key in _RATIO_KEYS:
                default, pairs = _pairs_or_dist(value, key)
                a = _with_ratio(a, key, default, pairs)
                if default is not None:
                    sources[key] = label
                sources.update({f"{key}.{src} -> {dst}": label for src, dst in pairs})
            else:
                a = replace(a, **{key: _setting(a, key, value)})
                sources[key] = label
    return replace(a, sources=sources)


def _setting(a: Assumptions, key: str, value: Any) -> Any:
    """The new value of one of the assumptions that are a single setting (not a ratio), checked."""
    if key == "cache":
        if value not in CACHE_MODES:
            raise AssumptionError(f"assumptions.cache must be one of {', '.join(CACHE_MODES)}, got {value!r}")
        return str(value)
    if key in _SHARE_KEYS:
        return parse_dist(value, f"assumptions.{key}", unit=True)
    if key == "min_cacheable_prefix":
        if not isinstance(value, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
        ):
            raise AssumptionError(
                'assumptions.min_cacheable_prefix must map model ids to token counts, e.g. {"claude-haiku-4-5" = 4096}'
            )
        return {**a.min_cacheable_prefix, **{str(k).lower(): int(v) for k, v in value.items()}}
    if key == "calibrate":
        if not isinstance(value, bool):
            raise AssumptionError(f"assumptions.calibrate must be true or false, got {value!r}")
        return value
    if key == "calibration_min_requests":
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise AssumptionError("assumptions.calibration_min_requests must be an integer >= 2")
        return value
    # calibration_floor_sigma
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise AssumptionError("assumptions.calibration_floor_sigma must be a number >= 0")
    return float(value)


def parse_assume(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--assume KEY=VALUE` options as one nested table; VALUE is TOML (a bare word is a string).

    Examples: `cache=cold`, `output_ratio=0.9`, `escalation_rate={low=0.2, high=0.4}`,
    `'output_ratio."claude-opus-4-6 -> claude-haiku-4-5"={median=0.8, sigma=0.1}'`.
    """
    merged: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise AssumeItemError("{assume} expects KEY=VALUE, got {got}", got=repr(item))
        doc = None
        for text in (f"{key.strip()} = {raw.strip()}", f"{key.strip()} = {_toml_string(raw.strip())}"):
            try:
                doc = tomllib.loads(text)
                break
            except tomllib.TOMLDecodeError:
                continue
        if doc is None:
            raise AssumeItemError("{assume} {got}: not a valid KEY=VALUE (TOML value syntax)", got=repr(item))
        _deep_merge(merged, doc)
    return merged


def _toml_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _deep_merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for k, v in other.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict) and not (set(v) <= _DIST_KEYS):
            _deep_merge(into[k], v)
        else:
            into[k] = dict(v) if isinstance(v, Mapping) else v


# --- parameters and draws ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One uncertain quantity in a replay: a stable id (it seeds the draws), a label, its distribution."""

    id: str
    label: str
    dist: Dist
    source: str
    kind: str  # output_ratio, tokenizer_ratio, cache_kept, escalation_rate, sampling, constant

    def quantiles(self) -> tuple[float, float, float]:
        return self.dist.ppf(0.1), self.dist.ppf(0.5), self.dist.ppf(0.9)


ONE = Param("one", "constant 1", Dist.point(1.0), "constant", "constant")
ZERO = Param("zero", "constant 0", Dist.point(0.0), "constant", "constant")


def draw_values(param: Param, n: int, seed: int) -> list[float]:
    """`n` Latin-hypercube draws of `param`: one value in each of n equal-probability strata, shuffled.

    The generator is seeded from (seed, param id), so a parameter's draws do not depend on which
    other parameters a replay uses, and two policies sharing an assumption see the same draws.
    """
    if param.dist.is_point:
        return [param.dist.a] * n
    rng = random.Random(f"tierlens-replay:{seed}:{param.id}")
    strata = list(range(n))
    rng.shuffle(strata)
    return [param.dist.ppf((k + rng.random()) / n) for k in strata]


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of a non-empty list (numpy's default method)."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
