"""Feature attribution: which product feature each request's cost belongs to.

The rules live in `[attribution]` of tierlens.toml (`AttributionConfig`): an ordered list of
places to take the feature from (the feature the log states, tags with a prefix, mapping rules,
a column such as the Claude Code project, or a regex on a column); the first that yields a
feature wins. What matches nothing keeps `feature = null`, which every report shows as
`(unattributed)`: unknown is a value, never hidden.

A request with several features (two `feature:` tags, or a rule that names weighted `features`)
is split: it becomes one row per feature, all sharing the request's `dedupe_key`, each carrying
`feature_share` of the request (equal, or by the configured weights). Costs and
`logged_cost_usd` are multiplied by the share; token counts, web searches and `requests` are
allocated in whole units by the largest-remainder method, so every split adds up exactly to the
request (the request count lands on the row with the largest share). Because the split rows ARE
the dataset, every report grouped by feature adds up to the grand total with no join, and
`tierlens.open` stays one plain table (sum `requests`, not rows, to count requests).

Attribution runs at ingest and can be re-run over a stored dataset (`reattribute`, the
`tierlens attribute` command) without re-reading any log: split rows are collapsed back into
their request, `logged_feature` (what the log said) is attributed again with the current rules,
and every partition that changes is rewritten through the store's staging and journal, so a
crash leaves either the old or the new attribution, never a mix inside a partition.
This module never parses logs and never prices: it moves costs between features, nothing else.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.config import AttributionConfig, AttributionRule
from tierlens.schema import COST_COLUMNS, SCHEMA, TOKEN_COLUMNS, TOOL_CALL_COLUMNS, UNATTRIBUTED, conform
from tierlens.store import open_store

"""How reports show a request no rule attributes (it is stored as `feature = null`)."""

ALLOCATED_COUNTS = (*TOKEN_COLUMNS, "web_search_requests", *TOOL_CALL_COLUMNS, "requests")
ALLOCATED_AMOUNTS = (*COST_COLUMNS, "cost_usd", "logged_cost_usd")
_COLUMN_SOURCES = {
    "project": "project",
    "user_id": "user_id",
    "api_key_id": "api_key_id",
    "workspace_id": "workspace_id",
    "session_id": "session_id",
    "model_id": "model_id",
    "model": "model",
}
_CANDIDATE = pl.List(pl.Struct({"feature": pl.String, "weight": pl.Float64}))


def glob_regex(pattern: str) -> str:
    """A shell glob (`*`, `?`) as an anchored regex for polars."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "^" + "".join(out) + "$"


class Attribution:
    """Compiled attribution rules: `apply` attributes (and splits) rows of one request each."""

    def __init__(self, cfg: AttributionConfig | None = None) -> None:
        self.cfg = cfg or AttributionConfig()

    # -- candidates ------------------------------------------------------------------------------

    def _weighted(self, features: pl.Expr) -> pl.Expr:
        """A List[String] of features as List[Struct{feature, weight}] (configured weights or 1)."""
        if self.cfg.split == "weights" and self.cfg.weights:
            weight = pl.element().replace_strict(self.cfg.weights, default=1.0, return_dtype=pl.Float64)
        else:
            weight = pl.lit(1.0)
        return features.list.eval(pl.struct(feature=pl.element(), weight=weight))

    def _one(self, value: pl.Expr) -> pl.Expr:
        return self._weighted(pl.concat_list(value.cast(pl.String)).list.drop_nulls())

    def _rule(self, rule: AttributionRule) -> tuple[pl.Expr, pl.Expr]:
        conds = []
        for column, patterns in rule.match.items():
            regex = "|".join(f"(?:{glob_regex(p)})" for p in patterns)
            if column == "tag":
                cond = pl.col("tags").list.eval(pl.element().str.contains(regex)).list.any()
            elif column == "feature":
                cond = pl.col("logged_feature").str.contains(regex)
            else:
                cond = pl.col(column).cast(pl.String).str.contains(regex)
            conds.append(cond.fill_null(False))
        matched = pl.all_horizontal(conds)
        weights = rule.features if rule.features is not None else {rule.feature or "": 1.0}
        value = pl.lit([{"feature": f, "weight": float(w)} for f, w in weights.items()], dtype=_CANDIDATE)
        return matched, value

    def sources(self) -> list[tuple[str, pl.Expr, pl.Expr]]:
        """(label, applies, candidates) for each attribution source, in order."""
        out: list[tuple[str, pl.Expr, pl.Expr]] = []
        for entry in self.cfg.order:
            if entry == "feature":
                cands = self._one(pl.col("logged_feature"))
                out.append(("feature", cands.list.len() > 0, cands))
            elif entry == "rules":
                for i, rule in enumerate(self.cfg.rules, start=1):
                    matched, value = self._rule(rule)
                    out.append((_rule_label(i, rule), matched, value))
            elif entry.startswith("tag:"):
                cands = self._weighted(_tag_features(entry.removeprefix("tag:")))
                out.append((entry, cands.list.len() > 0, cands))
            else:
                cands = self._one(_column_value(entry))
                out.append((entry, cands.list.len() > 0, cands))
        return out

    # -- apply -----------------------------------------------------------------------------------

    def apply(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Attribute canonical rows, one per request: set `feature`, `attributed_by`, `feature_share`,
        and split a request with several features into one row per feature (see the module doc)."""
        if rows.is_empty():
            return rows.with_columns(
                logged_feature=pl.col("logged_feature").cast(pl.String),
                feature_share=pl.col("feature_share").cast(pl.Float64),
                attributed_by=pl.col("attributed_by").cast(pl.String),
            )
        # the feature the log stated: a row never attributed before carries it in `feature`
        logged = (
            pl.when(pl.col("attributed_by").is_null() & pl.col("logged_feature").is_null())
            .then(pl.col("feature"))
            .otherwise(pl.col("logged_feature"))
        )
        single_valued = self._single_valued(rows)
        if single_valued is not None:  # the common case: no source can name two features
            return _first_match(rows.with_columns(logged_feature=logged), single_valued).select(rows.columns)
        df = rows.with_columns(logged_feature=logged, _order=pl.int_range(pl.len(), dtype=pl.Int64))
        sources = self.sources()
        cands: pl.Expr = pl.lit([], dtype=_CANDIDATE)
        label: pl.Expr = pl.lit(None, pl.String)
        for name, applies, value in reversed(sources):
            cands = pl.when(applies.fill_null(False)).then(value).otherwise(cands)
            label = pl.when(applies.fill_null(False)).then(pl.lit(name)).otherwise(label)
        df = df.with_columns(_cands=cands, attributed_by=label)
        n = pl.col("_cands").list.len()
        single = (
            df.filter(n <= 1)
            .with_columns(
                feature=pl.col("_cands").list.first().struct.field("feature"), feature_share=pl.lit(1.0)
            )
            .drop("_cands")
        )
        multi = df.filter(n > 1)
        if multi.is_empty():  # the common case: no split, rows already in order
            return single.select(rows.columns)
        multi = _split(multi)
        out = pl.concat([single.with_columns(_pos=pl.lit(0, pl.Int64)), multi], how="diagonal_relaxed")
        return out.sort("_order", "_pos").select(rows.columns)

    def _single_valued(self, rows: pl.DataFrame) -> list[tuple[str, pl.Expr, pl.Expr]] | None:
        """(label, applies, feature) of each source when none can name several features for
        these rows (no row has two feature tags, no rule is weighted), else None: the rows then
        need no candidate lists."""
        if any(rule.features is not None and len(rule.features) != 1 for rule in self.cfg.rules):
            return None
        tags = {e: _tag_features(e.removeprefix("tag:")) for e in self.cfg.order if e.startswith("tag:")}
        if tags and rows.select(pl.max_horizontal(t.list.len().max() for t in tags.values())).item() > 1:
            return None
        out: list[tuple[str, pl.Expr, pl.Expr]] = []
        for entry in self.cfg.order:
            if entry == "feature":
                out.append(("feature", pl.col("logged_feature").is_not_null(), pl.col("logged_feature")))
            elif entry == "rules":
                for i, rule in enumerate(self.cfg.rules, start=1):
                    matched, _ = self._rule(rule)
                    feature = next(iter(rule.features)) if rule.features else (rule.feature or "")
                    out.append((_rule_label(i, rule), matched, pl.lit(feature)))
            elif entry in tags:  # one feature tag at most on each row
                out.append((entry, tags[entry].list.len() > 0, tags[entry].list.first()))
            else:
                value = _column_value(entry)
                out.append((entry, value.is_not_null(), value))
        return out

    @staticmethod
    def collapse(rows: pl.DataFrame) -> pl.DataFrame:
        """Split rows back into one row per request (the inverse of a split, before re-attributing)."""
        if rows.is_empty() or not rows["dedupe_key"].is_duplicated().any():
            return rows
        dup = pl.col("dedupe_key").is_duplicated()
        whole, parts = rows.filter(~dup), rows.filter(dup)
        sums = [
            pl.when(pl.col(c).is_null().all()).then(None).otherwise(pl.col(c).sum()).alias(c)
            for c in (*ALLOCATED_COUNTS, *ALLOCATED_AMOUNTS)
        ]
        keep = [
            pl.col(c).first()
            for c in rows.columns
            if c not in (*ALLOCATED_COUNTS, *ALLOCATED_AMOUNTS, "dedupe_key")
        ]
        merged = (
            parts.sort("feature_share", descending=True, nulls_last=True, maintain_order=True)
            .group_by("dedupe_key", maintain_order=True)
            .agg(*keep, *sums)
            .with_columns(feature_share=pl.lit(1.0))
        )
        return pl.concat([whole, merged.select(rows.columns)], how="vertical_relaxed")


def _rule_label(i: int, rule: AttributionRule) -> str:
    """How `attributed_by` names the `i`th rule."""
    return f"rule {i}" + (f" ({rule.name})" if rule.name else "")


def _column_value(entry: str) -> pl.Expr:
    """The feature a `<column>[:<regex>]` source names: the column (its regex's first group) as
    text, an empty one as none."""
    column, _, regex = entry.partition(":")
    value = pl.col(_COLUMN_SOURCES[column]).cast(pl.String)
    return (value.str.extract(regex, 1) if regex else value).replace("", None)


def _tag_features(prefix: str) -> pl.Expr:
    """The features a row's tags name with `prefix` (`feature:` in `tag:feature:`), each once."""
    # one step per eval: inside an eval, `element()` is always the list as it came in
    return (
        pl.col("tags")
        .list.eval(pl.element().filter(pl.element().str.starts_with(prefix)))
        .list.eval(pl.element().str.strip_prefix(prefix).str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique(maintain_order=True)
        .fill_null(pl.lit([], pl.List(pl.String)))
    )


def _first_match(rows: pl.DataFrame, sources: list[tuple[str, pl.Expr, pl.Expr]]) -> pl.DataFrame:
    """Each row's feature from the first of `sources` that applies (no split: a share of 1)."""
    feature: pl.Expr = pl.lit(None, pl.String)
    label: pl.Expr = pl.lit(None, pl.String)
    for name, applies, value in reversed(sources):
        feature = pl.when(applies.fill_null(False)).then(value.cast(pl.String)).otherwise(feature)
        label = pl.when(applies.fill_null(False)).then(pl.lit(name)).otherwise(label)
    return rows.with_columns(feature=feature, attributed_by=label, feature_share=pl.lit(1.0))


def _split(multi: pl.DataFrame) -> pl.DataFrame:
    """One row per (request, feature): shares from the weights, whole units by largest remainder."""
    df = (
        multi.explode("_cands")
        .with_columns(
            feature=pl.col("_cands").struct.field("feature"), _w=pl.col("_cands").struct.field("weight")
        )
        .with_columns(
            feature_share=pl.col("_w") / pl.col("_w").sum().over("_order"),
            _pos=pl.int_range(pl.len(), dtype=pl.Int64).over("_order"),
        )
    )
    share = pl.col("feature_share")
    allocated = []
    for c in ALLOCATED_COUNTS:
        exact = pl.col(c).cast(pl.Float64) * share
        floor = exact.floor()
        remainder = pl.col(c).cast(pl.Float64) - floor.sum().over("_order")
        # the rows with the largest fractional parts get the leftover units (ties: first listed)
        rank = (exact - floor).rank("ordinal", descending=True).over("_order")
        allocated.append((floor + (rank <= remainder).cast(pl.Float64)).cast(pl.Int64).alias(c))
    amounts = [(pl.col(c) * share).alias(c) for c in ALLOCATED_AMOUNTS]
    return df.with_columns(*allocated, *amounts).drop("_w", "_cands")


# --- re-attribution of a stored dataset --------------------------------------------------------------


@dataclass
class AttributionRun:
    """What a re-attribution did (or, with `dry_run`, would do)."""

    attribution_id: str
    data_dir: str
    dry_run: bool
    partitions: int = 0
    partitions_rewritten: int = 0
    requests: int = 0
    rows_before: int = 0
    rows_after: int = 0
    split_requests: int = 0
    requests_changed: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    daily: pl.DataFrame = field(default_factory=pl.DataFrame)
    """`daily_features` of the attribution just computed (also under `dry_run`)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "daily"}


def reattribute(data_dir: str | Path, cfg: AttributionConfig, *, dry_run: bool = False) -> AttributionRun:
    """Re-run attribution over the stored dataset with `cfg`, rewriting changed partitions atomically."""
    store = open_store(data_dir)
    store.require()  # missing, or a directory that is no dataset: a clear error
    attribution = Attribution(cfg)
    started = time.perf_counter()
    with store.transaction(log="attributions.jsonl") as txn:
        run = AttributionRun(attribution_id=txn.ingest_id, data_dir=str(data_dir), dry_run=dry_run)
        by_source: dict[str, int] = {}
        daily: list[pl.DataFrame] = []
        for day in store.days():
            # part by part (locally a file, replaced in one rename), then the partition as a whole for the counts
            pairs = []
            for part in store.parts(day):
                old_rows = part.read()
                pairs.append((part, old_rows, attribution.apply(Attribution.collapse(old_rows))))
            before = pl.concat([b for _, b, _ in pairs]) if pairs else conform(pl.DataFrame(schema=SCHEMA))
            after = pl.concat([a for _, _, a in pairs]) if pairs else before
            run.partitions += 1
            run.rows_before += before.height
            run.rows_after += after.height
            requests = after.group_by("dedupe_key").agg(
                pl.len().alias("n"),
                pl.col("feature").sort().str.join("|").alias("f"),
                pl.col("attributed_by").first().alias("by"),
            )
            old = before.group_by("dedupe_key").agg(pl.col("feature").sort().str.join("|").alias("f_old"))
            joined = requests.join(old, on="dedupe_key", how="left")
            run.requests += requests.height
            run.split_requests += int((requests["n"] > 1).sum())
            run.requests_changed += int((~joined["f"].eq_missing(joined["f_old"])).sum())
            for src, n in requests.group_by("by").len().iter_rows():
                key = src or UNATTRIBUTED
                by_source[key] = by_source.get(key, 0) + n
            daily.append(
                daily_features(after.lazy().with_columns(date=pl.lit(date.fromisoformat(day)))).collect()
            )
            changed = [(file, a) for file, b, a in pairs if not _same(b, a)]
            if changed:
                run.partitions_rewritten += 1
                if not dry_run:
                    for part, a in changed:
                        txn.rewrite(part, a)  # type: ignore[arg-type]  # a part of this store
        run.by_source = dict(sorted(by_source.items(), key=lambda kv: -kv[1]))
        run.daily = pl.concat(daily) if daily else daily_features(store.snapshot().requests()).collect()
        run.seconds = time.perf_counter() - started
        if not dry_run and run.partitions_rewritten:
            txn.commit({"kind": "attribution", **run.to_dict()})
        else:
            txn.abort()  # nothing staged: release the writer thread and any staging directory
    return run


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Whether a file's rows are unchanged: costs equal to 1e-12 relative, since summing a split
    request back and splitting it again may move its last bits (re-running must rewrite nothing)."""
    from polars.testing import assert_frame_equal

    if a.height != b.height:
        return False
    order = ["dedupe_key", "feature", "feature_share"]
    try:
        assert_frame_equal(
            a.sort(order, nulls_last=True),
            b.sort(order, nulls_last=True),
            check_exact=False,
            rel_tol=1e-12,
            abs_tol=1e-15,
        )
    except AssertionError:
        return False
    return True


# --- totals ------------------------------------------------------------------------------------------


def daily_features(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Per day and feature (unattributed as its own value): requests, rows, split rows, cost, unpriced."""
    return lf.group_by("date", pl.col("feature").fill_null(UNATTRIBUTED)).agg(
        pl.col("requests").sum().alias("requests"),
        pl.len().cast(pl.Int64).alias("rows"),
        (pl.col("feature_share").fill_null(1.0) < 1.0).sum().cast(pl.Int64).alias("split_rows"),
        pl.col("cost_usd").sum().alias("cost_usd"),
        pl.col("requests").filter(~pl.col("priced").fill_null(False)).sum().alias("unpriced_requests"),
    )


def summarize(daily: pl.DataFrame, since: date | None = None, until: date | None = None) -> pl.DataFrame:
    """Spend by feature over a period from `daily_features` rows; the features add up to the total.

    Columns: feature, requests, rows, split_rows (rows of split requests), cost_usd, unpriced_requests, share.
    """
    if since is not None:
        daily = daily.filter(pl.col("date") >= since)
    if until is not None:
        daily = daily.filter(pl.col("date") <= until)
    out = daily.group_by("feature").agg(
        pl.col("requests").sum(),
        pl.col("rows").sum(),
        pl.col("split_rows").sum(),
        pl.col("cost_usd").sum(),
        pl.col("unpriced_requests").sum(),
    )
    total = float(out["cost_usd"].sum() or 0.0)
    return out.with_columns(share=pl.col("cost_usd") / total if total else pl.lit(0.0)).sort(
        ["cost_usd", "feature"], descending=[True, False], nulls_last=True
    )


def feature_totals(lf: pl.LazyFrame, since: date | None = None, until: date | None = None) -> pl.DataFrame:
    """Spend by feature over a period of the dataset (see `summarize`)."""
    return summarize(daily_features(lf).collect(), since, until)
