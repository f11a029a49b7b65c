"""`reconcile`: does the dataset's cost agree with what the provider bills, or with what the logs say?

Two comparisons, one result type:

- `reconcile_cost_report`: the dataset against a provider cost report (Anthropic `cost_report`,
  OpenAI `costs`; read straight from the file by `tierlens.sources.costs`, never ingested). The
  report's days bound the period. The dataset side is the report's provider only. Anthropic's
  cost endpoint leaves Priority Tier out [P], so priority rows are left out too and reported.
- `reconcile_logged`: the dataset's price against the cost the logs themselves state
  (`logged_cost_usd`: LiteLLM `spend`, Claude Code `costUSD`), per source, day and model.

Matching goes level by level, finest first. Each report amount carries the keys its report gives
it (day always; workspace or project when both sides have one; model and cost category when the
amount names them: a web-search charge may come without a model, a report grouped by project
only names neither). Dataset spend is split to day x workspace x model x category, so it can
meet an amount at any of those levels. Groups whose two sides agree within the tolerance are
matched at that level; whatever is left on either side is tried again at day x workspace, then
at day. Every dollar ends up matched at one level or unexplained, and the result says which.

Both comparisons report the two totals, the dollars matched at each level, the unexplained rest,
the gap in $ and % and the groups (days, models) that carry it, largest first. Unpriced rows
count as $0 on our side and are listed, since they are the usual reason for a gap. Nothing is
written: this reads the dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from tierlens.errors import ConfigError, SourceError
from tierlens.store import scan

CATEGORY_COLUMNS = {
    "input": "cost_input_usd",
    "cache_write": "cost_cache_write_usd",
    "cache_read": "cost_cache_read_usd",
    "output": "cost_output_usd",
    "web_search": "cost_web_search_usd",
}
"""Cost-report category -> the dataset's cost column."""

_SPLIT_COLUMNS = {**CATEGORY_COLUMNS, "tools": "cost_tools_usd"}
"""Every cost column of a dataset row by category; `tools` has no report counterpart and so
meets the report at a level without category."""

_KEY_TYPES: dict[str, pl.DataType] = {
    "source": pl.String(),
    "day": pl.Date(),
    "workspace_id": pl.String(),
    "model_id": pl.String(),
    "category": pl.String(),
}
"""Every key a group can have, finest last, with its dtype."""

_REPORT_KEYS = ("day", "workspace_id", "model_id", "category")
_LABELS = {
    "source": "source",
    "day": "day",
    "workspace_id": "workspace",
    "model_id": "model",
    "category": "category",
}
_EMPTY_CATEGORIES = pl.Schema({"category": pl.String(), "ours_usd": pl.Float64(), "theirs_usd": pl.Float64()})


@dataclass(frozen=True)
class LevelMatch:
    """The dollars matched at one level: in `groups` groups, both sides agreed within the tolerance."""

    keys: tuple[str, ...]
    label: str
    """The level as shown: `day x workspace x model x category`, `day x workspace`, `day`."""
    ours_usd: float
    theirs_usd: float
    groups: int

    @property
    def gap_usd(self) -> float:
        """Ours minus theirs within the matched groups (each within the tolerance)."""
        return _zero(self.ours_usd - self.theirs_usd)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.label,
            "keys": list(self.keys),
            "ours_usd": self.ours_usd,
            "theirs_usd": self.theirs_usd,
            "gap_usd": self.gap_usd,
            "groups": self.groups,
        }


@dataclass
class Reconciliation:
    """The outcome of one comparison.

    `groups` holds every group as it was settled: matched at its `level`, or `unexplained` at the
    finest level (`keys`), largest gap first. `levels` holds the dollars matched per level.
    """

    against: str
    """What the dataset was compared with: `anthropic cost report`, `openai costs`, `logged costs`."""
    keys: list[str]
    since: date | None
    until: date | None
    ours_usd: float
    theirs_usd: float
    matched_usd: float
    matched_groups: int
    groups: pl.DataFrame
    by_day: pl.DataFrame
    by_model: pl.DataFrame
    by_category: pl.DataFrame
    max_gap_pct: float
    tolerance_usd: float
    notes: list[str] = field(default_factory=list)
    levels: list[LevelMatch] = field(default_factory=list)

    @property
    def gap_usd(self) -> float:
        """Ours minus theirs (positive: the dataset says more than the bill)."""
        return _zero(self.ours_usd - self.theirs_usd)

    @property
    def gap_pct(self) -> float | None:
        """The gap as a percentage of their total (None when they report nothing)."""
        if self.theirs_usd == 0:
            return 0.0 if self.gap_usd == 0 else None
        return 100.0 * self.gap_usd / self.theirs_usd

    @property
    def exceeded(self) -> bool:
        """True when the gap is above `max_gap_pct` (or they report $0 and we do not)."""
        pct = self.gap_pct
        if pct is None:
            return abs(self.gap_usd) > self.tolerance_usd
        return abs(pct) > self.max_gap_pct

    @property
    def unexplained_ours_usd(self) -> float:
        """Dataset dollars matched at no level."""
        return _zero(self.ours_usd - sum(lv.ours_usd for lv in self.levels))

    @property
    def unexplained_theirs_usd(self) -> float:
        """Their dollars matched at no level."""
        return _zero(self.theirs_usd - sum(lv.theirs_usd for lv in self.levels))

    def level_summary(self) -> str:
        """`matched at day x model x category: $X; at day x workspace: $Y; at day: $Z; unexplained: $W`.

        Amounts are theirs (the bill); the unexplained part names the dataset's side too when it differs.
        """
        parts = [f"at {lv.label}: {_usd(lv.theirs_usd)}" for lv in self.levels]
        rest = f"unexplained: {_usd(self.unexplained_theirs_usd)}"
        if abs(self.unexplained_ours_usd - self.unexplained_theirs_usd) >= 5e-7:
            rest += f" (dataset {_usd(self.unexplained_ours_usd)})"
        return "; ".join(["matched " + parts[0], *parts[1:], rest] if parts else [rest])

    def to_dict(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "keys": self.keys,
            "since": self.since,
            "until": self.until,
            "ours_usd": self.ours_usd,
            "theirs_usd": self.theirs_usd,
            "matched_usd": self.matched_usd,
            "matched_groups": self.matched_groups,
            "groups_compared": self.groups.height,
            "gap_usd": self.gap_usd,
            "gap_pct": self.gap_pct,
            "max_gap_pct": self.max_gap_pct,
            "tolerance_usd": self.tolerance_usd,
            "exceeded": self.exceeded,
            "levels": [lv.to_dict() for lv in self.levels],
            "unexplained": {
                "ours_usd": self.unexplained_ours_usd,
                "theirs_usd": self.unexplained_theirs_usd,
                "gap_usd": _zero(self.unexplained_ours_usd - self.unexplained_theirs_usd),
            },
            "groups": self.groups.to_dicts(),
            "by_day": self.by_day.to_dicts(),
            "by_model": self.by_model.to_dicts(),
            "by_category": self.by_category.to_dicts(),
            "notes": self.notes,
        }


@dataclass(frozen=True)
class _Settings:
    """How one comparison is matched and labelled."""

    against: str
    levels: list[tuple[str, ...]]
    labels: dict[str, str]
    since: date | None
    until: date | None
    max_gap_pct: float
    tolerance_usd: float


def reconcile_cost_report(
    data_dir: str | Path,
    reports: Sequence[str | Path],
    *,
    max_gap_pct: float = 1.0,
    tolerance_usd: float = 0.005,
    lf: pl.LazyFrame | None = None,
) -> Reconciliation:
    """Compare the dataset with one provider's cost report (one or several files of pages);
    `lf`: the dataset's scan when the caller holds one (a `Workspace`)."""
    theirs = _read_reports(reports)
    provider = str(theirs["provider"][0])
    since, until = theirs["day"].min(), theirs["day"].max()
    assert isinstance(since, date) and isinstance(until, date)
    rows = _dataset_rows(lf if lf is not None else scan(data_dir), provider, since, until)
    notes: list[str] = []
    if provider == "anthropic":
        rows, notes = _without_priority(rows)
    notes += _unpriced_notes(rows)
    workspace = _carries_workspace(theirs, rows, provider, notes)
    their_atoms = _their_atoms(theirs, workspace)
    settings = _Settings(
        against="anthropic cost report" if provider == "anthropic" else "openai costs",
        levels=_levels(their_atoms["grain"].unique().to_list(), workspace),
        labels={**_LABELS, "workspace_id": "workspace" if provider == "anthropic" else "project"},
        since=since,
        until=until,
        max_gap_pct=max_gap_pct,
        tolerance_usd=tolerance_usd,
    )
    return _reconcile(settings, _our_atoms(rows, workspace), their_atoms, _categories(rows, theirs), notes)


def reconcile_logged(
    data_dir: str | Path,
    *,
    since: date | None = None,
    until: date | None = None,
    max_gap_pct: float = 1.0,
    tolerance_usd: float = 0.005,
    lf: pl.LazyFrame | None = None,
) -> Reconciliation:
    """Compare our price with the cost the logs state (`logged_cost_usd`) per source, day and model."""
    lf = (lf if lf is not None else scan(data_dir)).filter(pl.col("logged_cost_usd").is_not_null())
    if since is not None:
        lf = lf.filter(pl.col("date") >= since)
    if until is not None:
        lf = lf.filter(pl.col("date") <= until)
    rows = lf.with_columns(day=pl.col("date")).collect()
    notes = _unpriced_notes(rows)
    if rows.is_empty():
        notes.append("no row in the dataset states its own cost (LiteLLM spend, Claude Code costUSD)")
    first = rows["day"].min() if rows.height else since
    last = rows["day"].max() if rows.height else until
    keys = ("source", "day", "model_id")
    settings = _Settings(
        against="logged costs",
        levels=[keys],
        labels=_LABELS,
        since=first if isinstance(first, date) else None,
        until=last if isinstance(last, date) else None,
        max_gap_pct=max_gap_pct,
        tolerance_usd=tolerance_usd,
    )
    ours = _atoms(rows, keys, pl.col("cost_usd").fill_null(0.0))
    theirs = _atoms(rows, keys, pl.col("logged_cost_usd"))
    return _reconcile(settings, ours, theirs, pl.DataFrame(schema=_EMPTY_CATEGORIES), notes)


# --- the two sides -------------------------------------------------------------------------------


def _read_reports(reports: Sequence[str | Path]) -> pl.DataFrame:
    from tierlens.sources.costs import read_cost_report

    if not reports:
        raise ConfigError("give at least one cost report")
    theirs = pl.concat([read_cost_report(p) for p in reports])
    if theirs.is_empty():
        raise SourceError(f"{', '.join(str(p) for p in reports)}: the cost report holds no amounts")
    providers = sorted(set(theirs["provider"].to_list()))
    if len(providers) > 1:
        raise SourceError(
            "the cost reports mix providers (" + ", ".join(providers) + "): reconcile one at a time"
        )
    return theirs


def _dataset_rows(lf: pl.LazyFrame, provider: str, since: date, until: date) -> pl.DataFrame:
    columns = [
        "provider",
        "model",
        "model_id",
        "workspace_id",
        "service_tier",
        "requests",
        "priced",
        "cost_usd",
    ]
    return (
        lf.filter((pl.col("provider") == provider) & pl.col("date").is_between(since, until))
        .select(*columns, *_SPLIT_COLUMNS.values(), day=pl.col("date"))
        .collect()
    )


def _without_priority(rows: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    priority = rows.filter(pl.col("service_tier") == "priority")
    if priority.is_empty():
        return rows, []
    note = (
        f"left out {priority['requests'].sum() or priority.height:,} Priority Tier request(s) "
        f"(${float(priority['cost_usd'].sum() or 0):,.4f}): the cost endpoint does not bill them"
    )
    return rows.filter(pl.col("service_tier").fill_null("") != "priority"), [note]


def _carries_workspace(theirs: pl.DataFrame, rows: pl.DataFrame, provider: str, notes: list[str]) -> bool:
    """Workspace (project) is a key when both sides name one; a report's null is then the default."""
    if theirs["workspace_id"].is_null().all():
        return False
    if rows["workspace_id"].is_not_null().any():
        return True
    what = "workspace" if provider == "anthropic" else "project"
    notes.append(f"the report is split by {what} but no dataset row names one: compared without {what}")
    return False


def _their_atoms(theirs: pl.DataFrame, workspace: bool) -> pl.DataFrame:
    """One row per reported amount, with the keys it carries listed in `grain`."""
    carried = [
        pl.lit("day"),
        pl.lit("workspace_id" if workspace else None, pl.String),
        pl.when(pl.col("model_id").is_not_null()).then(pl.lit("model_id")),
        pl.when(pl.col("category").is_not_null()).then(pl.lit("category")),
    ]
    return _typed(
        theirs.filter(pl.col("amount_usd") != 0).select(
            "day",
            "model_id",
            "category",
            workspace_id=pl.col("workspace_id") if workspace else pl.lit(None, pl.String),
            usd=pl.col("amount_usd"),
            grain=pl.concat_str(carried, separator=",", ignore_nulls=True),
        ),
        _REPORT_KEYS,
    )


def _our_atoms(rows: pl.DataFrame, workspace: bool) -> pl.DataFrame:
    """The dataset's spend per day, workspace, model and category: it can meet the report at any level."""
    index = ["day", "workspace_id", "model_id"]
    sums = [pl.col(column).fill_null(0.0).sum().alias(cat) for cat, column in _SPLIT_COLUMNS.items()]
    split = (
        rows.with_columns(workspace_id=pl.col("workspace_id") if workspace else pl.lit(None, pl.String))
        .group_by(index)
        .agg(sums)
        .unpivot(index=index, on=list(_SPLIT_COLUMNS), variable_name="category", value_name="usd")
        .filter(pl.col("usd") != 0)
        .with_columns(grain=pl.lit(",".join(_REPORT_KEYS)))
    )
    return _typed(split, _REPORT_KEYS)


def _atoms(rows: pl.DataFrame, keys: tuple[str, ...], amount: pl.Expr) -> pl.DataFrame:
    summed = rows.group_by(keys).agg(amount.sum().alias("usd")).filter(pl.col("usd") != 0)
    return _typed(summed.with_columns(grain=pl.lit(",".join(keys))), keys)


def _typed(atoms: pl.DataFrame, keys: Iterable[str]) -> pl.DataFrame:
    keys = list(keys)
    return atoms.select(
        *(pl.col(k).cast(_KEY_TYPES[k]) for k in keys), pl.col("usd").cast(pl.Float64), "grain"
    )


def _levels(grains: Iterable[str], workspace: bool) -> list[tuple[str, ...]]:
    """The report's own grains, then day x workspace, then day; finest first.

    Between two levels of the same size, the one with a category goes first: a charge the report
    names by category alone (web search without a model) takes its dollars before the per-model rest.
    """
    found = {tuple(g.split(",")) for g in grains} | {("day",)}
    if workspace:
        found.add(("day", "workspace_id"))
    order = list(_KEY_TYPES)
    return sorted(found, key=lambda g: (-len(g), "category" not in g, [order.index(k) for k in g]))


# --- matching ------------------------------------------------------------------------------------


def _reconcile(
    s: _Settings, ours: pl.DataFrame, theirs: pl.DataFrame, by_category: pl.DataFrame, notes: list[str]
) -> Reconciliation:
    keys = [k for k in _KEY_TYPES if any(k in level for level in s.levels)]
    levels, groups = _settle(ours, theirs, s, keys)
    return Reconciliation(
        against=s.against,
        keys=keys,
        since=s.since,
        until=s.until,
        ours_usd=float(ours["usd"].sum() or 0.0),
        theirs_usd=float(theirs["usd"].sum() or 0.0),
        matched_usd=sum(lv.theirs_usd for lv in levels),
        matched_groups=sum(lv.groups for lv in levels),
        groups=groups,
        by_day=_by(groups, "day", keys),
        by_model=_by(groups, "model_id", keys),
        by_category=by_category,
        max_gap_pct=s.max_gap_pct,
        tolerance_usd=s.tolerance_usd,
        notes=notes,
        levels=levels,
    )


def _settle(
    ours: pl.DataFrame, theirs: pl.DataFrame, s: _Settings, keys: list[str]
) -> tuple[list[LevelMatch], pl.DataFrame]:
    """Match level by level; what is left at the end is unexplained, shown by `keys`."""
    levels: list[LevelMatch] = []
    frames: list[pl.DataFrame] = []
    for level in s.levels:
        label = " x ".join(s.labels.get(k, k) for k in level)
        matched, ours, theirs = _settle_level(ours, theirs, list(level), s.tolerance_usd)
        levels.append(
            LevelMatch(
                keys=level,
                label=label,
                ours_usd=float(matched["ours_usd"].sum() or 0.0),
                theirs_usd=float(matched["theirs_usd"].sum() or 0.0),
                groups=matched.height,
            )
        )
        frames.append(matched.with_columns(level=pl.lit(label)))
    rest = _cells(ours, theirs, keys, None).with_columns(level=pl.lit("unexplained"))
    groups = pl.concat([rest, *frames], how="diagonal").select(
        *keys, "ours_usd", "theirs_usd", "gap_usd", "status", "level"
    )
    order = [pl.col("gap_usd").abs(), *keys]
    return levels, groups.sort(order, descending=[True] + [False] * len(keys), nulls_last=True)


def _settle_level(
    ours: pl.DataFrame, theirs: pl.DataFrame, level: list[str], tolerance: float
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The groups matched at `level`, and what is left of each side."""
    ours_in, ours_out = _taking_part(ours, level)
    theirs_in, theirs_out = _taking_part(theirs, level)
    matched = _cells(ours_in, theirs_in, level, tolerance).filter(pl.col("status") == "matched")
    hit = matched.select(level)

    def left(part: pl.DataFrame, out: pl.DataFrame) -> pl.DataFrame:
        return pl.concat([out, part.join(hit, on=level, how="anti", nulls_equal=True)])

    return matched, left(ours_in, ours_out), left(theirs_in, theirs_out)


def _taking_part(atoms: pl.DataFrame, level: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The amounts that carry every key of `level`, and the others."""
    fits = [g for g in atoms["grain"].unique().to_list() if set(level) <= set(g.split(","))]
    taking = pl.col("grain").is_in(fits)
    return atoms.filter(taking), atoms.filter(~taking)


def _cells(ours: pl.DataFrame, theirs: pl.DataFrame, on: list[str], tolerance: float | None) -> pl.DataFrame:
    """Both sides summed by `on`, side by side, with a status (`tolerance` None: nothing matches)."""
    o = ours.group_by(on).agg(pl.col("usd").sum().alias("ours_usd"))
    t = theirs.group_by(on).agg(pl.col("usd").sum().alias("theirs_usd"))
    both = (pl.col("ours_usd") != 0) & (pl.col("theirs_usd") != 0)
    close = pl.lit(False) if tolerance is None else pl.col("gap_usd").abs() <= tolerance
    return (
        o.join(t, on=on, how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("ours_usd").fill_null(0.0), pl.col("theirs_usd").fill_null(0.0))
        .with_columns(gap_usd=pl.col("ours_usd") - pl.col("theirs_usd"))
        .with_columns(
            status=pl.when(both & close)
            .then(pl.lit("matched"))
            .when(pl.col("theirs_usd") == 0)
            .then(pl.lit("only in the dataset"))
            .when(pl.col("ours_usd") == 0)
            .then(pl.lit("only in their report"))
            .otherwise(pl.lit("differs"))
        )
    )


def _by(groups: pl.DataFrame, column: str, keys: list[str]) -> pl.DataFrame:
    """The settled groups summed by one key: where the gap sits (null: matched at a coarser level)."""
    if column not in keys:
        return pl.DataFrame(schema={column: pl.String, "ours_usd": pl.Float64, "theirs_usd": pl.Float64})
    total_gap = float(groups["gap_usd"].sum() or 0.0)
    share = pl.col("gap_usd") / total_gap if abs(total_gap) > 1e-12 else pl.lit(None, pl.Float64)
    return (
        groups.group_by(column)
        .agg(pl.col("ours_usd").sum(), pl.col("theirs_usd").sum(), pl.col("gap_usd").sum())
        .with_columns(gap_share=share)
        .sort([pl.col("gap_usd").abs(), column], descending=[True, False], nulls_last=True)
    )


# --- notes and tables ----------------------------------------------------------------------------


def _categories(rows: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    """Their amounts per cost category beside the dataset's cost columns (when the report splits them)."""
    split = theirs.filter(pl.col("category").is_not_null())
    if split.is_empty():
        return pl.DataFrame(schema=_EMPTY_CATEGORIES)
    theirs_c = split.group_by("category").agg(pl.col("amount_usd").sum().alias("theirs_usd"))
    ours_c = pl.DataFrame(
        {
            "category": list(CATEGORY_COLUMNS),
            "ours_usd": [
                float(rows[c].sum() or 0.0) if rows.height else 0.0 for c in CATEGORY_COLUMNS.values()
            ],
        }
    )
    out = ours_c.join(theirs_c, on="category", how="full", coalesce=True).with_columns(
        pl.col("ours_usd").fill_null(0.0), pl.col("theirs_usd").fill_null(0.0)
    )
    order = {c: i for i, c in enumerate([*CATEGORY_COLUMNS, "other"])}
    return (
        out.with_columns(gap_usd=pl.col("ours_usd") - pl.col("theirs_usd"))
        .with_columns(_o=pl.col("category").replace_strict(order, default=99, return_dtype=pl.Int64))
        .sort("_o")
        .drop("_o")
    )


def _unpriced_notes(rows: pl.DataFrame) -> list[str]:
    unpriced = rows.filter(~pl.col("priced").fill_null(False))
    if unpriced.is_empty():
        return []
    models = unpriced.group_by("model").len().sort("len", descending=True)
    listed = ", ".join(f"{m} ({n:,})" for m, n in models.head(5).iter_rows())
    return [f"{unpriced.height:,} unpriced row(s) count as $0 on the dataset side: {listed}"]


def _zero(usd: float) -> float:
    return 0.0 if abs(usd) < 1e-9 else usd


def _usd(v: float) -> str:
    """Dollars as the reconcile table shows them: 2 digits from $100, 4 from a cent, else 6."""
    if abs(v) < 5e-7:
        return "$0.00"
    digits = 2 if abs(v) >= 100 else 4 if abs(v) >= 0.01 else 6
    return f"{'-' if v < 0 else ''}${abs(v):,.{digits}f}"
