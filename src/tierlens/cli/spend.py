"""Where the money goes: `summary`, `report`, `query`, `prices` and `formats`."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from tierlens.cli.app import (
    State,
    as_of_option,
    by_option,
    data_option,
    day_of,
    emit,
    handle_errors,
    main,
    output_options,
    period_options,
)


@main.command()
@data_option
@period_options
@as_of_option
@click.option(
    "--period",
    type=click.Choice(["day", "week", "month"]),
    default="week",
    show_default=True,
    help="Rows per day, ISO week (from Monday) or month; a period without requests shows $0.",
)
@by_option
@output_options("table", "markdown", "json", "csv")
@click.pass_obj
@handle_errors
def summary(
    state: State,
    data_dir: Path | str | None,
    since: datetime | None,
    until: datetime | None,
    period: str,
    by: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Spend and tokens by period and by feature, tier, model, user or any dimension.

    \b
    Examples:
      tierlens summary
      tierlens summary --period day --by model            # the ccusage daily view
      tierlens summary --period month --by user,project --format markdown -o spend.md
      tierlens summary --since 2026-10-01 --format csv > spend.csv
      tierlens summary --as-of 2026-11-01 --period month      # October as it stood then
    """
    ws = state.workspace(data_dir=data_dir)
    s = ws.summary(day_of(since), day_of(until), period=period, by=by)
    _note_stale(s.stale_rows(ws.table.version))
    emit(_summary_render(s, fmt), fmt, output, "summary")


def _summary_render(s: Any, fmt: str) -> str:
    if fmt == "csv":
        return str(s.rows.write_csv())
    if fmt == "json":
        payload = {
            "period": s.period,
            "by": list(s.by),
            "total_cost_usd": s.total_cost_usd,
            "total_requests": s.total_requests,
            "unpriced_requests": s.unpriced_requests,
            "unpriced_models": s.unpriced_models,
            "first_day": s.first_day,
            "last_day": s.last_day,
            "periods": s.periods().to_dicts(),
            "rows": s.rows.to_dicts(),
        }
        return json.dumps(payload, indent=2, default=str)
    return _summary_text(s, markdown=fmt == "markdown")


def _note_stale(rows: int) -> None:
    """On stderr (stdout stays data): rows priced by an older table than the one in force."""
    if rows:
        click.echo(
            f"note: {rows:,} row(s) were priced by another price table than the one in force; "
            "`tierlens reprice` prices them with it",
            err=True,
        )


def _summary_text(s: Any, markdown: bool = False) -> str:
    import polars as pl

    from tierlens.render import count, markdown_table, money, table, tokens

    if s.total_requests == 0:
        return "No requests in the dataset for this period."
    out = [
        f"Spend {s.first_day} .. {s.last_day}: {money(s.total_cost_usd)} over {count(s.total_requests)} requests"
    ]
    if s.unpriced_requests:
        models = ", ".join(f"{m} ({n:,})" for m, n in s.unpriced_models.items())
        out.append(f"Unpriced: {count(s.unpriced_requests)} requests not in the total ({models})")

    def section(title: str, headers: list[str], rows: list[list[Any]]) -> None:
        out.extend(["", f"## {title}" if markdown else title, ""] if markdown else ["", title])
        out.append(markdown_table(headers, rows) if markdown else table(rows, headers))

    label = {"day": "day", "week": "week (Mon)", "month": "month"}[s.period]
    section(
        f"By {s.period}",
        [label, "requests", "input", "cache write", "cache read", "output", "cost"],
        [
            [_period_label(p, s.period), count(n), tokens(i), tokens(w), tokens(r), tokens(o), money(c)]
            for p, n, i, w, r, o, c, _ in s.periods().iter_rows()
        ],
    )
    dims = list(s.by)
    whole = (
        s.rows.group_by(dims)
        .agg(
            pl.col("requests").sum(),
            pl.when(pl.col("cost_usd").is_not_null().any()).then(pl.col("cost_usd").sum()).alias("cost_usd"),
        )
        .sort("cost_usd", *dims, descending=[True] + [False] * len(dims), nulls_last=True)
    )
    total = s.total_cost_usd or 1.0
    section(
        f"By {' and '.join(dims)} (whole period)",
        [*dims, "requests", "cost", "share"],
        [
            [*r[: len(dims)], count(r[-2]), money(r[-1], unpriced=True), f"{100 * (r[-1] or 0) / total:.1f}%"]
            for r in whole.iter_rows()
        ],
    )
    last = s.rows["period"].max()
    latest = s.rows.filter(pl.col("period") == last)
    section(
        f"{s.period.capitalize()} of {_period_label(last, s.period)} by {' and '.join(dims)}",
        [*dims, "requests", "cost"],
        [
            [*(r[d] for d in dims), count(r["requests"]), money(r["cost_usd"], unpriced=True)]
            for r in latest.iter_rows(named=True)
        ],
    )
    return "\n".join(out)


def _period_label(start: date, period: str) -> str:
    return start.strftime("%Y-%m") if period == "month" else str(start)


@main.command()
@data_option
@period_options
@click.option(
    "--period",
    "grain",
    type=click.Choice(["day", "week", "month"]),
    default="week",
    show_default=True,
    help="Report the last complete day, week (ISO, from Monday) or month.",
)
@by_option
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    default=None,
    help="Report as if today were this day (default: today, or the day after the newest data).",
)
@output_options("table", "markdown", "html", "json", "csv", pipe="markdown")
@click.option(
    "--charts",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write each chart to this directory (see --chart-format).",
)
@click.option("--chart-format", type=click.Choice(["svg", "png"]), default="svg", show_default=True)
@click.option(
    "--engine",
    type=click.Choice(["polars", "duckdb", "spark"]),
    default="polars",
    show_default=True,
    help="Engine that runs the report's SQL from queries/.",
)
@click.pass_obj
@handle_errors
def report(
    state: State,
    data_dir: Path | str | None,
    since: datetime | None,
    until: datetime | None,
    grain: str,
    by: tuple[str, ...],
    as_of: datetime | None,
    fmt: str,
    output: Path | None,
    charts: Path | None,
    chart_format: str,
    engine: str,
) -> None:
    """The spend report: last complete period vs the ones before, by feature, tier and model.

    Shows total spend and change, the feature x tier matrix, top movers, spend by model, unit
    costs, what caching and batch saved and would save, unpriced and unattributed shares, and
    findings. Every number is re-derivable from the dataset.

    \b
    Examples:
      tierlens report
      tierlens report -o report.html
      tierlens report --period month --by feature,model --format markdown
      tierlens report --since 2026-10-01 --until 2026-10-31 --format json
    """
    from tierlens.progress import terminal_progress
    from tierlens.report import render as rr

    ws = state.workspace(data_dir=data_dir)
    rep = ws.report(
        grain=grain,
        since=day_of(since),
        until=day_of(until),
        by=list(by),
        as_of=day_of(as_of),
        engine=engine,
        progress=terminal_progress(0, "report", unit="steps"),
    )
    _note_stale(ws.stale_rows())
    if fmt == "html":
        from tierlens.report.html import to_html

        text = to_html(rep)
    else:
        text = {"table": rr.to_text, "markdown": rr.to_markdown, "json": rr.to_json, "csv": rr.to_csv}[fmt](
            rep
        )
    emit(text, fmt, output, "report")
    if charts:
        from tierlens.report.charts import save_images

        for path in save_images(rep, charts, chart_format):
            click.echo(f"Wrote {path}", err=True)


@main.command()
@click.argument("name", required=False)
@data_option
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Query parameter (repeatable).")
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "spark", "bigquery", "snowflake", "trino", "postgres"]),
    default=None,
    help="With --print: the SQL dialect to transpile to.",
)
@click.option(
    "--print", "print_sql", is_flag=True, help="Print the bound SQL (in --dialect) instead of running it."
)
@click.option(
    "--engine", type=click.Choice(["polars", "duckdb", "spark"]), default="polars", show_default=True
)
@output_options("table", "markdown", "csv", "json")
@click.pass_obj
@handle_errors
def query(
    state: State,
    name: str | None,
    data_dir: Path | str | None,
    params: tuple[str, ...],
    dialect: str | None,
    print_sql: bool,
    engine: str,
    fmt: str,
    output: Path | None,
) -> None:
    """Run a report query from queries/ on the dataset, or print it for another engine.

    Without NAME, lists the queries. Parameters are bound as SQL literals by sqlglot.

    \b
    Examples:
      tierlens query
      tierlens query spend_by_period --param since=2026-10-01 --param grain=month
      tierlens query feature_unit_costs --engine duckdb --format csv
      tierlens query spend_by_model --param since=2026-11-01 -o models.md
      tierlens query spend_by_period --dialect bigquery --print
    """
    from tierlens.queries import load_queries, run_query
    from tierlens.render import render_frame
    from tierlens.render import table as text_table

    queries = load_queries()
    if name is None:
        click.echo(
            text_table(
                [
                    [q.name, q.grain, ", ".join(p.name for p in q.params), q.description]
                    for q in queries.values()
                ],
                ["query", "grain", "params", "description"],
            )
        )
        return
    from tierlens.errors import QueryError

    if name not in queries:
        raise QueryError(f"no query named {name!r}; known: {', '.join(sorted(queries))}")
    values = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        values[key.strip()] = value.strip()
    q = queries[name]
    if print_sql or dialect:
        emit(q.render(dialect or q.dialect, values), "sql", output, "query")
        return
    settings = state.settings(data_dir=data_dir)
    df = run_query(q, settings.data_dir, values, engine)
    money_cols = [c for c in df.columns if c.endswith("_usd") or c.startswith("cost_per")]
    count_cols = [
        c for c in df.columns if c == "requests" or c.endswith("_tokens") or c.endswith("_requests")
    ]
    emit(render_frame(df, fmt, money_cols, count_cols), fmt, output, "query result")


@main.command()
@click.option("--model", default=None, help="Show only model ids containing this text.")
@click.option(
    "--diff",
    is_flag=True,
    help="List where the table in force differs from genai-prices (the vendored snapshot), and why.",
)
@output_options("table", "markdown", "csv", "json")
@click.pass_obj
@handle_errors
def prices(state: State, model: str | None, diff: bool, fmt: str, output: Path | None) -> None:
    """Show the price table in force (genai-prices snapshot, tierlens corrections, tierlens.toml), USD per MTok.

    \b
    Example:
      tierlens prices --model sonnet
      tierlens prices --diff
    """
    import polars as pl

    from tierlens import render
    from tierlens.pricing import PriceTable
    from tierlens.pricing.table import price_diff
    from tierlens.render import render_frame

    table = PriceTable.load(state.settings().pricing)
    rows = price_diff(table) if diff else table.rows
    if model:
        rows = rows.filter(pl.col("model_id").str.contains(model, literal=True))
    if fmt == "csv":
        text = str(rows.write_csv())
    elif fmt == "json":
        key = "differences" if diff else "rows"
        text = json.dumps({"version": table.version, key: rows.to_dicts()}, indent=2, default=str)
    else:
        if diff:
            title = f"Price table {table.version} against genai-prices: {rows.height} difference(s)"
            cols = ["provider", "model_id", "effective_from", "effective_to", "change", "detail", "source"]
        else:
            title = f"Price table {table.version} (USD per million tokens)"
            cols = [
                "provider", "model_id", "effective_from", "effective_to", "input", "cache_write_5m",
                "cache_write_1h", "cache_read", "output", "lc_input", "lc_output",
            ]  # fmt: skip
            if fmt == "table" and render.WIDTH is not None:  # the columns that fit; --wide for all
                title = f"Price table {table.version}, USD per MTok (--wide: end dates, long context)"
                cols = [
                    "provider",
                    "model_id",
                    "effective_from",
                    "input",
                    "cache_write_5m",
                    "cache_write_1h",
                    "cache_read",
                    "output",
                ]
                rows = rows.rename(
                    {
                        "effective_from": "from",
                        "cache_write_5m": "write 5m",
                        "cache_write_1h": "write 1h",
                        "cache_read": "read",
                    }
                )
                cols = [
                    {
                        "effective_from": "from",
                        "cache_write_5m": "write 5m",
                        "cache_write_1h": "write 1h",
                        "cache_read": "read",
                    }.get(c, c)
                    for c in cols
                ]
        shown = rows.select(cols).with_columns(pl.col(pl.Float64).round(6))  # 3.75, not 3.7500000000000004
        text = (
            f"{title}\n\n{render_frame(shown, fmt)}"
            if fmt == "markdown"
            else f"{title}\n{render_frame(shown, fmt)}"
        )
    emit(text, fmt, output, "price table")


@main.command()
def formats() -> None:
    """List the log formats tierlens reads (names for `ingest --input-format`).

    \b
    Example:
      tierlens formats
    """
    from tierlens.config import Settings
    from tierlens.sources import FORMATS, make_reader

    for name in FORMATS:
        click.echo(f"{name:20}  {make_reader(name, Settings()).description}")


# --- findings: flags, alert ------------------------------------------------------------------------
