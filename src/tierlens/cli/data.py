"""Keeping the dataset right: `reconcile`, `attribute`, `reprice`, `export` and `doctor`."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from tierlens.cli.app import (
    State,
    as_markdown,
    as_of_option,
    data_option,
    day_of,
    emit,
    handle_errors,
    main,
    output_options,
    period_options,
)
from tierlens.errors import ExitCode


@main.command()
@click.option(
    "--cost-report",
    "cost_reports",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A provider cost report (Anthropic cost_report pages, OpenAI costs pages or CSV); repeatable.",
)
@click.option(
    "--logged",
    is_flag=True,
    help="Instead, compare with the cost the logs state (LiteLLM spend, Claude Code costUSD).",
)
@data_option
@period_options
@as_of_option
@click.option(
    "--max-gap-pct",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Exit 1 when the unexplained gap is above this share of their total.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.005,
    show_default=True,
    help="USD within which one day/model group counts as matched.",
)
@click.option("--top", default=10, show_default=True, help="Groups to list in the gap tables.")
@output_options("table", "markdown", "json")
@click.pass_obj
@handle_errors
def reconcile(
    state: State,
    cost_reports: tuple[Path, ...],
    logged: bool,
    data_dir: Path | str | None,
    since: datetime | None,
    until: datetime | None,
    max_gap_pct: float,
    tolerance: float,
    top: int,
    fmt: str,
    output: Path | None,
) -> None:
    """Compare the dataset's cost with the provider's cost report (or with the logs' own costs).

    Matches at the finest level both sides have (day x workspace x model x cost category, as far
    as the report is grouped), then what is left at day x workspace, then at day, and says how
    many dollars matched at each level and how many are unexplained; prints both totals, the gap
    in $ and %, and the days and models that carry it. The report's days are the period
    (--since/--until apply to --logged). Exits 1 when the gap is above --max-gap-pct.

    \b
    Examples:
      tierlens reconcile --cost-report cost_report_2026-09.json
      tierlens reconcile --cost-report costs.csv --max-gap-pct 0.5 --format json
      tierlens reconcile --logged --since 2026-09-01
    """
    if bool(cost_reports) == logged:
        raise click.UsageError("give --cost-report FILE (repeatable) or --logged")
    ws = state.workspace(data_dir=data_dir)
    if logged:
        result = ws.reconcile(
            since=day_of(since), until=day_of(until), max_gap_pct=max_gap_pct, tolerance_usd=tolerance
        )
    else:
        result = ws.reconcile(list(cost_reports), max_gap_pct=max_gap_pct, tolerance_usd=tolerance)
    if fmt == "json":
        emit(json.dumps(result.to_dict(), indent=2, default=str), fmt, output, "reconcile")
    else:
        emit(
            as_markdown(_reconcile_text(result, top)) if fmt == "markdown" else _reconcile_text(result, top),
            fmt,
            output,
            "reconcile",
        )
    if result.exceeded:
        sys.exit(int(ExitCode.FINDING))


def _reconcile_text(r: Any, top: int) -> str:
    import polars as pl

    from tierlens.render import money, table

    def usd(v: float | None) -> str:
        if v is None:
            return "-"
        if abs(v) < 5e-7:
            return "$0.00"
        digits = 2 if abs(v) >= 100 else 4 if abs(v) >= 0.01 else 6
        return f"{'-' if v < 0 else ''}${abs(v):,.{digits}f}"

    period = f" ({r.since} .. {r.until})" if r.since else ""
    pct = "n/a" if r.gap_pct is None else f"{r.gap_pct:+.2f}%"
    verdict = f"above --max-gap-pct {r.max_gap_pct:g}%" if r.exceeded else f"within {r.max_gap_pct:g}%"
    lines = [
        f"Reconciliation with the {r.against}{period}, by {' x '.join(r.keys)}",
        f"  their total         {usd(r.theirs_usd)}",
        f"  dataset total       {usd(r.ours_usd)}",
        f"  matched             {usd(r.matched_usd)} in {r.matched_groups:,} of {r.groups.height:,} group(s)"
        f" (within {money(r.tolerance_usd)})",
        f"    {r.level_summary()}",
        f"  unexplained gap     {usd(r.gap_usd)} ({pct}): {verdict}",
    ]
    # when the total gap matters, list every group that carries some of it, even if each is small
    floor = 5e-7 if r.exceeded or abs(r.gap_usd) > r.tolerance_usd else r.tolerance_usd
    gaps = r.groups.filter((pl.col("status") != "matched") | (pl.col("gap_usd").abs() > floor))
    for title, frame, column in (("day", r.by_day, "day"), ("model", r.by_model, "model_id")):
        rows = frame.filter(pl.col("gap_usd").abs() > floor) if "gap_usd" in frame.columns else frame.clear()
        if rows.height:
            lines += ["", f"Gap by {title}"]
            lines.append(
                table(
                    [
                        [
                            v,
                            usd(o),
                            usd(t),
                            usd(g),
                            "-" if s is None else f"{100 * s:.0f}%",
                        ]
                        for v, o, t, g, s in rows.head(top)
                        .select(column, "ours_usd", "theirs_usd", "gap_usd", "gap_share")
                        .iter_rows()
                    ],
                    [title, "dataset", "theirs", "gap", "share of gap"],
                )
            )
    if gaps.height:
        lines += ["", f"Largest gaps ({' x '.join(r.keys)})"]
        cols = [*r.keys, "ours_usd", "theirs_usd", "gap_usd", "status", "level"]
        lines.append(
            table(
                [
                    [*(row[: len(r.keys)]), usd(row[-5]), usd(row[-4]), usd(row[-3]), row[-2], row[-1]]
                    for row in gaps.head(top).select(cols).iter_rows()
                ],
                [*r.keys, "dataset", "theirs", "gap", "status", "level"],
            )
        )
    if r.by_category.height:
        lines += ["", "By cost category"]
        lines.append(
            table(
                [[c, usd(o), usd(t), usd(o - t)] for c, o, t, *_ in r.by_category.iter_rows()],
                ["category", "dataset", "theirs", "gap"],
            )
        )
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines)


@main.command()
@data_option
@period_options
@click.option("--dry-run", is_flag=True, help="Show what the rules would change; write nothing.")
@output_options("table", "markdown", "json", "csv")
@click.pass_obj
@handle_errors
def attribute(
    state: State,
    data_dir: Path | str | None,
    since: datetime | None,
    until: datetime | None,
    dry_run: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """Re-run feature attribution ([attribution] in tierlens.toml) over the dataset; show spend by feature.

    Reads no log: each request's logged feature, tags and ids are attributed again with the
    current rules, split requests are re-split, and changed partitions are rewritten atomically.
    The feature totals always add up to the total; what no rule matches is (unattributed).

    \b
    Examples:
      tierlens attribute --dry-run
      tierlens attribute --since 2026-09-01 --format csv > features.csv
    """
    from tierlens.attribution import summarize

    run = state.workspace(data_dir=data_dir).attribute(dry_run=dry_run)
    totals = summarize(run.daily, day_of(since), day_of(until))
    if fmt == "csv":
        emit(str(totals.write_csv()), fmt, output, "attribution")
        return
    if fmt == "json":
        emit(
            json.dumps({**run.to_dict(), "features": totals.to_dicts()}, indent=2, default=str),
            fmt,
            output,
            "attribute",
        )
        return
    emit(
        as_markdown(_attribute_text(run, totals, day_of(since), day_of(until)))
        if fmt == "markdown"
        else _attribute_text(run, totals, day_of(since), day_of(until)),
        fmt,
        output,
        "attribute",
    )


def _attribute_text(run: Any, totals: Any, since: date | None, until: date | None) -> str:
    from tierlens.render import count, money, table

    verb = "would rewrite" if run.dry_run else "rewrote"
    lines = [
        f"Attribution {'(dry run) ' if run.dry_run else ''}over {count(run.requests)} request(s) in "
        f"{count(run.partitions)} partition(s): {verb} {count(run.partitions_rewritten)}; "
        f"{count(run.requests_changed)} request(s) changed feature, {count(run.split_requests)} split across features",
        "  attributed by: " + (", ".join(f"{k} {v:,}" for k, v in run.by_source.items()) or "-"),
    ]
    period = f"{since or 'start'} .. {until or 'end'}" if since or until else "whole dataset"
    lines += ["", f"Spend by feature ({period})"]
    total = float(totals["cost_usd"].sum() or 0.0)
    rows = [
        [f, count(n), count(r), count(s) if s else "", money(c, unpriced=True), f"{100 * sh:.1f}%"]
        for f, n, r, s, c, _, sh in totals.iter_rows()
    ]
    rows.append(
        ["total", count(totals["requests"].sum()), count(totals["rows"].sum()), "", money(total), "100.0%"]
    )
    lines.append(table(rows, ["feature", "requests", "rows", "split rows", "cost", "share"]))
    return "\n".join(lines)


@main.command()
@data_option
@period_options
@click.option("--model", default=None, help="Only the rows of this model (as logged, or its normalized id).")
@click.option("--dry-run", is_flag=True, help="Show what the table in force would change; write nothing.")
@output_options("table", "markdown", "json")
@click.pass_obj
@handle_errors
def reprice(
    state: State,
    data_dir: Path | str | None,
    since: datetime | None,
    until: datetime | None,
    model: str | None,
    dry_run: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """Price the stored requests again with the price table in force (after a price in
    tierlens.toml, a correction or an upgrade), without re-reading any log.

    Only the price columns change; changed partitions are rewritten atomically, like an ingest.
    Prints rows re-priced, newly priced, still unpriced (by model) and the change in cost by model.

    \b
    Examples:
      tierlens reprice --dry-run
      tierlens reprice --model claude-nimbus-preview
      tierlens reprice --since 2026-11-01 --format json
    """
    ws = state.workspace(data_dir=data_dir)
    result = ws.reprice(since=day_of(since), until=day_of(until), model=model, dry_run=dry_run)
    if fmt == "json":
        emit(json.dumps(result.to_dict(), indent=2, default=str), fmt, output, "reprice")
        return
    emit(
        as_markdown(_reprice_text(result)) if fmt == "markdown" else _reprice_text(result),
        fmt,
        output,
        "reprice",
    )


def _reprice_text(run: Any) -> str:
    from tierlens.render import count, money, table

    verb = "would rewrite" if run.dry_run else "rewrote"
    lines = [
        f"Re-pricing {'(dry run) ' if run.dry_run else ''}with price table {run.price_version}: "
        f"{count(run.rows)} row(s) in {count(run.partitions)} partition(s); {verb} {count(run.partitions_rewritten)}",
        f"  rows re-priced      {count(run.rows_changed)}"
        + (
            f"  (and {count(run.rows_restamped)} at the same cost, stamped with this table)"
            if run.rows_restamped
            else ""
        ),
        f"  newly priced        {count(run.newly_priced)}",
        f"  still unpriced      {count(sum(run.still_unpriced.values()))}"
        + (
            f"  ({', '.join(f'{k}: {v:,}' for k, v in run.still_unpriced.items())})"
            if run.still_unpriced
            else ""
        ),
        f"  cost                {money(run.cost_before_usd)} -> {money(run.cost_after_usd)}"
        f" ({money(run.cost_after_usd - run.cost_before_usd)})",
    ]
    if run.by_model:
        rows = [
            [m["model"], count(m["changed"]), count(m["newly_priced"]), money(m["before_usd"]),
             money(m["after_usd"]), money(m["change_usd"])]
            for m in run.by_model
        ]  # fmt: skip
        lines += ["", table(rows, ["model", "rows re-priced", "newly priced", "before", "after", "change"])]
    return "\n".join(lines)


@main.command("export")
@data_option
@period_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["focus"]),
    default="focus",
    show_default=True,
    help="What to export: focus = FinOps FOCUS 1.2 cost and usage rows, with the FOCUS 1.3 provider columns.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="File to write; its suffix, .csv or .parquet, sets the file format.",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="ISSUER=ID",
    help="BillingAccountId of an invoice issuer (anthropic, openai, aws, gcp, azure), e.g. "
    "anthropic=org_123; repeatable [default: the issuer key].",
)
@click.pass_obj
@handle_errors
def export(
    state: State,
    data_dir: Path | str | None,
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    output: Path,
    accounts: tuple[str, ...],
) -> None:
    """Export the priced requests as a FinOps FOCUS dataset (CSV or Parquet).

    One row per UTC day, model, workspace/project/feature/user, pricing terms and cost category
    (input, 5m and 1h cache writes, cache reads, output, web search, tool calls). BilledCost adds
    up to the dataset's cost for the period; unpriced requests are left out and counted.
    Columns and rules: docs/focus.md.

    \b
    Examples:
      tierlens export --format focus -o focus.parquet
      tierlens export --format focus -o 2026-10.csv --since 2026-10-01 --until 2026-10-31
      tierlens export --format focus -o focus.csv --account anthropic=org_123 --account aws=123456789012
    """
    from tierlens.export import parse_accounts, write_focus
    from tierlens.render import count, money

    settings = state.settings(data_dir=data_dir)
    r = write_focus(
        settings.data_dir,
        output,
        day_of(since),
        day_of(until),
        pricing=settings.pricing,
        billing_accounts=parse_accounts(accounts),
    )
    left_out = f"; {count(r.unpriced_rows)} unpriced requests left out" if r.unpriced_rows else ""
    click.echo(
        f"Wrote {count(r.rows)} FOCUS rows, {money(r.billed_total)} billed, to {r.path}{left_out}", err=True
    )


@main.command()
@data_option
@click.option(
    "--repair", is_flag=True, help="Move the files that cannot be read out of the dataset, into _corrupt/."
)
@output_options("table", "markdown", "json")
@click.pass_obj
@handle_errors
def doctor(state: State, data_dir: Path | str | None, repair: bool, fmt: str, output: Path | None) -> None:
    """Check every stored file (footer, columns, row count) and name the ones that cannot be read.

    Readers already skip such a file with a warning; --repair moves it to <data>/_corrupt/ and says
    which logs to ingest again to restore its rows. Exit 3 when a problem is found and not repaired.

    \b
    Examples:
      tierlens doctor
      tierlens doctor --repair
    """
    result = state.workspace(data_dir=data_dir).doctor(repair=repair)
    if fmt == "json":
        emit(json.dumps(result.to_dict(), indent=2), fmt, output, "doctor")
    else:
        emit(
            as_markdown(_doctor_text(result)) if fmt == "markdown" else _doctor_text(result),
            fmt,
            output,
            "doctor",
        )
    if result.problems and not repair:
        sys.exit(int(ExitCode.INPUT))


def _doctor_text(r: Any) -> str:
    from tierlens.render import count

    lines = [f"Checked {count(r.files)} file(s), {count(r.rows)} row(s) in {r.data_dir}: "
             + (f"{len(r.problems)} problem(s)" if r.problems else "all readable")]  # fmt: skip
    for p in r.problems:
        lines.append(f"  {p.file}: {p.reason}")
        if p.moved_to:
            lines.append(f"    moved to {p.moved_to}")
        if p.sources:
            lines.append(f"    to restore its rows: tierlens ingest {' '.join(p.sources)}")
        elif p.ingest_id:
            lines.append(
                f"    written by ingest {p.ingest_id}; re-ingest that ingest's logs to restore its rows"
            )
    if r.problems and not r.repaired:
        lines.append("Run `tierlens doctor --repair` to move them aside.")
    return "\n".join(lines)


# --- what-if: replay ---------------------------------------------------------------------------------
