"""The `tierlens` command: parse options, call one library function, render, map errors.

Nothing here computes anything. stdout carries data only; progress and errors go to stderr.
Exit codes (also in `tierlens --help`): 0 ok, 1 a finding/alert at the asked severity,
2 usage or configuration error, 3 input or data error (including rejects under --strict),
70 internal error (a bug: re-run with --debug and report the traceback).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from tierlens.errors import ExitCode, TierlensError

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = """\b
Exit codes: 0 ok; 1 finding or alert at the asked severity; 2 usage or config error;
3 input or data error (also: rejects under --strict); 70 internal error (re-run with --debug).
Configuration: --config FILE, else $TIERLENS_CONFIG, else ./tierlens.toml, else
[tool.tierlens] in ./pyproject.toml. TIERLENS_* environment variables override the file.
"""


class State:
    def __init__(self, config: Path | None = None, debug: bool = False) -> None:
        self.config = config
        self.debug = debug

    def settings(self, **overrides: Any) -> Any:
        from tierlens.config import load_settings

        return load_settings(self.config, **overrides)

    def workspace(self, **overrides: Any) -> Any:
        """The command's one `Workspace` (settings, price table, one scan of the snapshot)."""
        from tierlens.workspace import Workspace

        return Workspace(settings=self.settings(**overrides))


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).debug = True


def _set_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(State).config = value


def _table_width() -> int | None:
    """Text tables fit the terminal they are shown on; piped or written to a file (a script, cron
    mail) they keep every cell whole."""
    import shutil

    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else None


def _set_wide(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from tierlens import render

        render.WIDTH = None


def _global_options() -> list[click.Option]:
    """`--debug`, `--config` and `--wide`, accepted after the command name too (`tierlens report --debug`)."""
    return [
        click.Option(
            ["--wide"],
            is_flag=True,
            expose_value=False,
            callback=_set_wide,
            help="Show text tables whole on a terminal (by default they fit its width).",
        ),
        click.Option(
            ["--config"],
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            expose_value=False,
            is_eager=True,
            callback=_set_config,
            help="Config file (tierlens.toml).",
        ),
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_set_debug,
            help="Show tracebacks instead of short error messages.",
        ),
    ]


class _Command(click.Command):
    """Every tierlens command: the global options are accepted after its name as well."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


def handle_errors(fn: F) -> F:
    """Turn library errors into `Error: ...` on stderr and their exit code (tracebacks with --debug)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = click.get_current_context().find_object(State)
        debug = bool(state and state.debug)
        try:
            return fn(*args, **kwargs)
        except TierlensError as exc:
            if debug:
                raise
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: say so briefly, never dump a traceback on a user
            if debug:
                raise
            click.secho(f"Internal error: {type(exc).__name__}: {exc}", fg="red", err=True)
            click.echo("Re-run with --debug for the traceback, and please report it.", err=True)
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


def data_option(fn: F) -> F:
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Dataset directory [env TIERLENS_DATA_DIR; default ./tierlens-data].",
    )(fn)


def _not_before_since(ctx: click.Context, param: click.Parameter, value: datetime | None) -> datetime | None:
    since = ctx.params.get("since")
    if value is not None and since is not None and value < since:
        raise click.BadParameter(f"{value:%Y-%m-%d} is before --since {since:%Y-%m-%d}")
    return value


def period_options(fn: F) -> F:
    fn = click.option(
        "--until",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        metavar="YYYY-MM-DD",
        callback=_not_before_since,
        help="Last day (inclusive).",
    )(fn)
    fn = click.option(
        "--since",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        metavar="YYYY-MM-DD",
        is_eager=True,  # parsed first, so that --until can be checked against it
        help="First day.",
    )(fn)
    return fn


def as_of_option(fn: F) -> F:
    """`--as-of DAY`: the data as it stood on that day, i.e. up to the day before (`--until`)."""

    @wraps(fn)
    def merged(
        *args: Any, as_of: datetime | None, until: datetime | None, since: datetime | None, **kwargs: Any
    ) -> Any:
        if as_of is not None:
            end = as_of - timedelta(days=1)
            if until is not None and until != end:
                raise click.BadParameter("give --until or --as-of, not both", param_hint="'--as-of'")
            if since is not None and end < since:
                raise click.BadParameter(
                    f"{as_of:%Y-%m-%d} is not after --since {since:%Y-%m-%d}", param_hint="'--as-of'"
                )
            until = end
        return fn(*args, until=until, since=since, **kwargs)

    return click.option(  # type: ignore[return-value]
        "--as-of",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        metavar="YYYY-MM-DD",
        help="The data as it stood on this day: every day before it (the same as --until the day before).",
    )(merged)


ALERT_FORMATS = ("text", "table", "markdown", "json", "csv")  # tierlens.alerts.ALERT_FORMATS, kept
# here so that --help does not import polars
BY_CHOICES = ("feature", "tier", "model", "user", "project", "session", "key", "workspace")


def _dimensions(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    dims = tuple(dict.fromkeys(d.strip() for v in value for d in v.split(",") if d.strip()))
    bad = [d for d in dims if d not in BY_CHOICES]
    if bad:
        raise click.BadParameter(
            f"unknown dimension(s) {', '.join(bad)}; choose from {', '.join(BY_CHOICES)}"
        )
    return dims or ("feature", "tier")


def by_option(fn: F) -> F:
    """`--by DIM[,DIM]`, the same on every command that breaks spend down; the command receives the
    dimensions as a tuple (default feature, tier)."""
    return click.option(
        "--by",
        "by",
        multiple=True,
        metavar="DIM[,DIM]",
        callback=_dimensions,
        help=f"Break spend down by {', '.join(BY_CHOICES)} (repeat or comma-separate; default: feature,tier).",
    )(fn)


_SUFFIX_FORMATS = {
    ".txt": "table",
    ".md": "markdown",
    ".json": "json",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
}


def output_options(*formats: str, pipe: str = "table") -> Callable[[F], F]:
    """`--format` (one of `formats`) and `-o/--output FILE`, the same on every command that outputs
    data. The format comes from --format, else the -o suffix, else `table` on a terminal and
    `pipe` in a pipe; the command receives it resolved."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def resolved(*args: Any, fmt: str | None, output: Path | None, **kwargs: Any) -> Any:
            return fn(*args, fmt=_output_format(fmt, output, formats, pipe), output=output, **kwargs)

        suffixes = ", ".join(k for k, v in _SUFFIX_FORMATS.items() if v in formats)
        out = click.option(
            "-o",
            "--output",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help=f"Write to this file instead of stdout (format from its suffix: {suffixes}).",
        )(resolved)
        return click.option(  # type: ignore[return-value]
            "--format",
            "fmt",
            type=click.Choice(formats),
            default=None,
            help=f"Output format [default: from the -o suffix, else table{'' if pipe == 'table' else f' on a terminal and {pipe} in a pipe'}].",
        )(out)

    return decorate


def _output_format(fmt: str | None, output: Path | None, formats: tuple[str, ...], pipe: str) -> str:
    if fmt:
        return fmt
    if output is not None:
        known = _SUFFIX_FORMATS.get(output.suffix.lower())
        if known not in formats:
            shown = ", ".join(k for k, v in _SUFFIX_FORMATS.items() if v in formats)
            raise click.BadParameter(
                f"cannot tell which format to write to {output.name} (suffixes: {shown}); give --format",
                param_hint="'-o'",
            )
        return known
    return "table" if pipe == "table" or sys.stdout.isatty() else pipe


def _as_markdown(text: str) -> str:
    """A plain-text rendering as Markdown: kept verbatim in a fenced block."""
    return f"```text\n{text}\n```"


def _emit(text: str, fmt: str, output: Path | None, what: str) -> None:
    if not text.endswith("\n"):
        text += "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {fmt} {what} to {output}", err=True)
    else:
        click.echo(text, nl=False)


@click.group(
    epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (tierlens.toml).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of short error messages.")
@click.version_option(package_name="tierlens")
@click.pass_context
def main(ctx: click.Context, config: Path | None, debug: bool) -> None:
    """tierlens: where your LLM API money goes, priced to the cent.

    \b
    Example:
      tierlens ingest sample_logs/ && tierlens summary
    """
    state = ctx.ensure_object(State)
    state.config, state.debug = config, debug
    from tierlens import render

    render.WIDTH = _table_width()  # per invocation; its command's --wide may lift it


main.command_class = _Command


@main.command()
@click.argument("paths", nargs=-1)
@data_option
@click.option(
    "--input-format",
    "fmt",
    default=None,
    metavar="FORMAT",
    help="Read the logs as this format instead of detecting it (see `tierlens formats`).",
)
@click.option("--format", "fmt_alias", default=None, hidden=True)  # the earlier spelling
@click.option(
    "--strict", is_flag=True, help="Exit 3 if any line is rejected (good lines are still committed)."
)
@click.option(
    "--batch-ended-at",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]),
    metavar="YYYY-MM-DD[THH:MM:SS]",
    default=None,
    help="Timestamp for Message Batches results (UTC); else the sidecar batch object, config, or file mtime.",
)
@click.option(
    "--ts-from",
    default=None,
    metavar="mtime|now|FIELD",
    help="When records carry no time (saved response bodies, bare stream events): the file's "
    "modification time (default), now, or a field of the record to read it from.",
)
@click.option(
    "--claude-code",
    is_flag=True,
    help="Also read Claude Code's own logs ($CLAUDE_CONFIG_DIR, else ~/.config/claude and ~/.claude); "
    "the default when no PATHS are given.",
)
@click.option(
    "--reprice",
    "reprice_after",
    is_flag=True,
    help="Then re-price the stored rows of the days these logs cover with the table in force "
    "(rows a re-ingest skips as duplicates keep their old price otherwise).",
)
@click.option(
    "--quality",
    "quality",
    multiple=True,
    metavar="FILE",
    help="A file of quality judgments (CSV or JSON lines: request_id, or feature and period; metric; "
    "value): eval scores, thumbs, escalations, kept apart from the costs. Repeatable; a directory "
    "walk of PATHS leaves these files out.",
)
@click.option(
    "--engine", type=click.Choice(["embedded", "spark"]), default="embedded", show_default=True,
    help="Where the logs are parsed and priced: this process, or Spark (tierlens[spark]; the same dataset).",
)  # fmt: skip
@click.option(
    "--master", metavar="URL", default=None,
    help="Spark master for --engine spark (default local[*]; SPARK_REMOTE selects Spark Connect).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the ingest summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing unless lines were rejected (for cron).")
@click.pass_obj
@handle_errors
def ingest(
    state: State,
    paths: tuple[str, ...],
    data_dir: Path | None,
    fmt: str | None,
    fmt_alias: str | None,
    strict: bool,
    batch_ended_at: datetime | None,
    ts_from: str | None,
    claude_code: bool,
    reprice_after: bool,
    quality: tuple[str, ...],
    engine: str,
    master: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Ingest usage logs into the priced, deduplicated Parquet dataset.

    PATHS are files, directories (searched recursively, symlinks followed once), globs, or - for
    stdin; .gz is read transparently. With no PATHS, Claude Code's own logs are read. Re-running
    on the same logs adds nothing twice. Bad lines go to <data>/quarantine/ with file, line and
    reason; the rest is ingested.

    \b
    Examples:
      tierlens ingest sample_logs/
      tierlens ingest                      # Claude Code's logs, as ccusage finds them
      tierlens ingest 'logs/2026-11-*.jsonl.gz' --data /srv/tierlens --strict
      zcat gateway.log.gz | tierlens ingest - --input-format anthropic_messages
      tierlens ingest saved-responses/ --ts-from created_at
      tierlens ingest logs/ --quality evals/scores.csv --quality thumbs.jsonl
      tierlens ingest logs/ --engine spark --master spark://head:7077
    """
    from tierlens.progress import terminal_progress
    from tierlens.sources.claude_code import claude_code_roots

    fmt = fmt or fmt_alias
    ws = state.workspace(data_dir=data_dir)
    ended = batch_ended_at.replace(tzinfo=None) if batch_ended_at else None
    targets: list[str | Path] = [*paths, *(claude_code_roots() if claude_code and paths else [])]
    result = None
    if targets or not quality:  # --quality alone reads no logs (not Claude Code's either)
        result = ws.ingest(
            targets,
            format=fmt,
            strict=strict,
            batch_ended_at=ended,
            ts_from=ts_from,
            reprice=reprice_after,
            progress=terminal_progress(0, "ingest", quiet=quiet or as_json),
            exclude=quality,
            **({"engine": "spark", "master": master} if engine == "spark" else {}),
        )
    judged = ws.ingest_quality(quality) if quality else None
    if as_json:
        doc = {**(result.to_dict() if result else {}), **({"quality": judged.to_dict()} if judged else {})}
        click.echo(json.dumps(doc, indent=2, default=str))
    elif (
        not quiet or (result and (result.new_rejects or result.files_failed)) or (judged and judged.rejected)
    ):
        texts = [_ingest_text(result) if result else "", judged.text() if judged else ""]
        click.echo("\n".join(t for t in texts if t))
    failed = [*(result.files_failed if result else []), *(judged.files_failed if judged else [])]
    if failed:
        click.secho(
            f"Error: {len(failed)} file(s) could not be read to their end; "
            "everything else was committed (re-run once they are fixed: nothing is added twice)",
            fg="red",
            err=True,
        )
        sys.exit(int(ExitCode.INPUT))


def _ingest_text(r: Any) -> str:
    from tierlens.render import count, money

    lines = [
        f"Ingested {r.files} file(s) into {r.data_dir} ({r.seconds:.1f}s)",
        f"  lines read          {count(r.lines_read)}",
        f"  rows added          {count(r.rows_added)}",
        f"  duplicates skipped  {count(r.duplicates_skipped)}",
        f"  skipped             {count(sum(r.skipped.values()))}"
        + (f"  ({', '.join(f'{k}: {v:,}' for k, v in r.skipped.items())})" if r.skipped else ""),
        f"  rejected            {count(r.rejected_total)}"
        + (f"  ({', '.join(f'{k}: {v:,}' for k, v in r.rejected.items())})" if r.rejected else "")
        + (f"; {r.already_quarantined:,} already in the quarantine" if r.already_quarantined else ""),
        f"  unpriced rows       {count(sum(r.unpriced.values()))}"
        + (f"  (models: {', '.join(f'{k}: {v:,}' for k, v in r.unpriced.items())})" if r.unpriced else ""),
        f"  cost of rows added  {money(r.total_cost_usd)}",
    ]
    if r.formats:
        lines.append("  formats             " + ", ".join(f"{k}: {v}" for k, v in r.formats.items()))
    lines += [f"  note: {t}" for t in r.timestamps]
    lines += [f"  note: {n:,} rows: {why}" for why, n in r.notes.items()]
    if r.repriced:
        p = r.repriced
        lines.append(
            f"  re-priced           {count(p['rows_changed'])} of {count(p['rows'])} stored rows of these days "
            f"({count(p['newly_priced'])} newly priced): {money(p['cost_before_usd'])} -> {money(p['cost_after_usd'])}"
        )
    lines += [f"  skipped file: {f}" for f in r.files_skipped]
    lines += [f"  failed file: {f}" for f in r.files_failed]
    if r.new_rejects:
        lines.append(
            f"  rejects: {r.data_dir}/quarantine/{r.ingest_id}.jsonl (file, line, reason; `tierlens quarantine`)"
        )
    return "\n".join(lines)


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
    data_dir: Path | None,
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
    s = ws.summary(_day(since), _day(until), period=period, by=by)
    _note_stale(s.stale_rows(ws.table.version))
    _emit(_summary_render(s, fmt), fmt, output, "summary")


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
    data_dir: Path | None,
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
        since=_day(since),
        until=_day(until),
        by=list(by),
        as_of=_day(as_of),
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
    _emit(text, fmt, output, "report")
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
    data_dir: Path | None,
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
        _emit(q.render(dialect or q.dialect, values), "sql", output, "query")
        return
    settings = state.settings(data_dir=data_dir)
    df = run_query(q, settings.data_dir, values, engine)
    money_cols = [c for c in df.columns if c.endswith("_usd") or c.startswith("cost_per")]
    count_cols = [
        c for c in df.columns if c == "requests" or c.endswith("_tokens") or c.endswith("_requests")
    ]
    _emit(render_frame(df, fmt, money_cols, count_cols), fmt, output, "query result")


@main.command()
@data_option
@click.option("--limit", default=50, show_default=True, help="Rows to show (most recent ingest first).")
@output_options("table", "markdown", "json", "csv")
@click.pass_obj
@handle_errors
def quarantine(state: State, data_dir: Path | None, limit: int, fmt: str, output: Path | None) -> None:
    """List rejected lines: file, line and reason (never their text).

    \b
    Example:
      tierlens quarantine --limit 20
    """
    import polars as pl

    from tierlens.render import render_frame

    rows = state.workspace(data_dir=data_dir).rejects(limit)
    if not rows and fmt == "table":
        _emit("The quarantine is empty.", fmt, output, "rejects")
        return
    if fmt == "json":
        _emit(json.dumps(rows, indent=2), fmt, output, "rejects")
        return
    columns = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "ingest_id": pl.String}
    shown = pl.DataFrame([{k: r.get(k) for k in columns} for r in rows], schema=columns)
    _emit(render_frame(shown, fmt), fmt, output, "rejects")


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
    _emit(text, fmt, output, "price table")


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


@main.command()
@data_option
@period_options
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="Evaluate as if today were this day (default: the day after the newest data, or today).",
)
@output_options("table", "markdown", "json", "csv")
@click.option(
    "--fail-on",
    type=click.Choice(["info", "warning", "critical"]),
    default=None,
    help="Exit 1 when a finding has at least this severity (for CI and scripts).",
)
@click.pass_obj
@handle_errors
def flags(
    state: State,
    data_dir: Path | None,
    since: datetime | None,
    until: datetime | None,
    as_of: datetime | None,
    fmt: str,
    output: Path | None,
    fail_on: str | None,
) -> None:
    """Over-provisioning flags: where the team pays for more than its work needs.

    Signals: cost growing faster than usage, short structured calls on the top tier, lost or
    missing prompt caching, batch candidates, under-provisioned lower tiers, spend anomalies,
    and budget forecasts. Each finding has evidence, an estimated monthly waste with a low/high
    range, a confidence and its basis (exact, modelled, speculative). Thresholds: [signals] in
    tierlens.toml (docs/signals.md says why each default is what it is).

    \b
    Examples:
      tierlens flags
      tierlens flags --format json | jq '.findings[] | select(.kind == "lost_caching")'
      tierlens flags --fail-on warning
      tierlens flags --since 2026-11-01 --until 2026-11-28 -o flags.md
    """
    from tierlens.signals import SEVERITIES

    end = _day(until)
    if end is not None and as_of is not None and _day(as_of) != end + timedelta(days=1):
        raise click.BadParameter("give --until or --as-of, not both", param_hint="'--as-of'")
    start = _day(since)
    if start is not None and end is None and as_of is None:
        raise click.BadParameter("--since needs --until (the window's last day)", param_hint="'--since'")
    day = end + timedelta(days=1) if end is not None else _day(as_of)
    result = state.workspace(data_dir=data_dir).flags(day, since=start)
    _emit(_flags_render(result, fmt), fmt, output, "flags")
    if fail_on and any(SEVERITIES.index(f.severity) >= SEVERITIES.index(fail_on) for f in result.findings):
        sys.exit(int(ExitCode.FINDING))


def _flags_render(result: Any, fmt: str) -> str:
    if fmt == "json":
        payload = {
            "as_of": str(result.as_of),
            "window": [str(result.window_start), str(result.window_end)],
            "findings": [f.to_dict() for f in result.findings],
            "forecasts": result.forecasts,
            "thresholds": result.thresholds.model_dump(),
        }
        return json.dumps(payload, indent=2, default=str)
    if fmt == "csv":
        import polars as pl

        cols = [
            "severity",
            "kind",
            "feature",
            "model",
            "monthly_usd",
            "low_usd",
            "high_usd",
            "confidence",
            "basis",
            "title",
        ]
        rows = [{c: getattr(f, c) for c in cols} for f in result.findings]
        schema = {c: pl.Float64 if c.endswith("_usd") else pl.String for c in cols}
        return str(pl.DataFrame(rows, schema=schema).write_csv())
    return _flags_text(result, markdown=fmt == "markdown")


def _flags_text(result: Any, markdown: bool = False) -> str:
    from tierlens.render import money, money_range

    head = f"Flags for {result.window_start} .. {result.window_end} (as of {result.as_of})"
    lines = [f"# {head}" if markdown else head, ""]
    if not result.findings:
        lines.append("No findings above the thresholds.")
    for i, f in enumerate(result.findings, 1):
        rng = ""
        if f.kind == "anomaly":
            rng = f"{money(f.data['excess_usd'])} above the expected spend that day (one-off)"
        elif f.monthly_usd is not None:
            rng = f"~{money(f.monthly_usd)}/month" + (
                ""
                if money(f.low_usd) == money(f.high_usd)
                else f" (range {money_range(f.low_usd, f.high_usd)})"
            )
        elif f.high_usd is not None:
            rng = f"fixing it would cost ~{money(f.high_usd)}/month"
        where = f.feature + (f" ({f.model})" if f.model else "") if f.feature else (f.model or "")
        title = f"{i}. [{f.severity}] {f.kind}: {f.title}"
        lines.append(f"## {title}" if markdown else title)
        for label, text in (
            ("where", where),
            ("evidence", f.evidence),
            ("impact", rng),
            ("confidence", f"{f.confidence} ({f.basis})"),
        ):
            if text:
                lines.append(f"{'- ' if markdown else '   '}{label}: {text}")
        lines.append("")
    fc = [x for x in result.forecasts if x.get("projected_usd") is not None]
    if fc:
        lines.append("## Forecast" if markdown else "Forecast")
        for x in fc:
            budget = f" of budget {money(x['amount'])} ({x['projected_pct']:.0f}%)" if x.get("amount") else ""
            lines.append(
                f"{'- ' if markdown else '   '}{x['name']} ({x['period']} {x['period_start']}..{x['period_end']}): "
                f"projected {money(x['projected_usd'])}{budget}, range {money_range(x['low_usd'], x['high_usd'])}; {x['evidence']}"
            )
    return "\n".join(lines).rstrip() + "\n"


class _MonitoringCommand(_Command):
    """A command whose every failure, usage errors included, exits 3 (UNKNOWN) as monitoring expects."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.Exit:
            raise
        except click.UsageError as exc:
            _unknown(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # an option checked once all are parsed (-o's suffix)
            _unknown(exc)


def _unknown(exc: click.UsageError) -> NoReturn:
    click.echo(f"UNKNOWN: {exc.format_message()}", err=True)
    sys.exit(int(ExitCode.UNKNOWN))


@main.command(cls=_MonitoringCommand)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Alert rules (TOML): [[rule]] kinds budget, growth, anomaly, signal, sql; [[sink]] stdout, file, webhook.",
)
@data_option
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="State file [default: <data>/_meta/alert_state.json].",
)
@click.option("--renotify", is_flag=True, help="Notify again alerts already sent this period.")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    default=None,
    help="Evaluate as if today were this day.",
)
@output_options(*ALERT_FORMATS, pipe="text")
@click.option(
    "-v", "--verbose", is_flag=True, help="Also print a status line (on stderr) when nothing fired."
)
@click.pass_obj
def alert(
    state: State,
    rules_path: Path,
    data_dir: Path | None,
    state_path: Path | None,
    renotify: bool,
    as_of: datetime | None,
    fmt: str,
    output: Path | None,
    verbose: bool,
) -> None:
    """Evaluate alert rules for cron; one line per alert, each sent once per threshold and period.

    Exit codes follow the monitoring-plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    (bad rules or config, unreadable data, undeliverable alerts: a message, never a traceback).
    The exit code is the current worst state; the state file only keeps sinks from hearing the
    same alert twice in a period.

    \b
    The stdout sink prints the alerts sent in this run: `text` is one line per alert, the other
    formats carry every field; -o writes them to a file instead (replaced on each run).

    \b
    Examples:
      tierlens alert --rules alerts.toml
      tierlens alert --rules alerts.toml --format json -o alerts.json
      15 7 * * *  cd /srv/tierlens && tierlens ingest /var/log/llm/ -q && tierlens alert --rules alerts.toml
    """
    from tierlens.alerts import STATUS

    try:
        outcome = state.workspace(data_dir=data_dir).alert(
            rules_path,
            state_path=state_path,
            renotify=renotify,
            as_of=_day(as_of),
            fmt=fmt,
            echo=lambda text: _emit(text, fmt, output, "alerts"),
        )
    except TierlensError as exc:
        if state.debug:
            raise
        click.echo(f"UNKNOWN: {exc}", err=True)
        sys.exit(int(ExitCode.UNKNOWN))
    except Exception as exc:  # never a traceback for cron
        if state.debug:
            raise
        click.echo(f"UNKNOWN: internal error {type(exc).__name__}: {exc}", err=True)
        sys.exit(int(ExitCode.UNKNOWN))
    for err in outcome.errors:
        click.echo(f"UNKNOWN: {err}", err=True)
    if verbose or outcome.suppressed:
        click.echo(
            f"{STATUS[outcome.status]}: {outcome.rules} rule(s), {len(outcome.alerts)} alert(s), "
            f"{len(outcome.fired)} sent, {outcome.suppressed} already sent this period (--renotify to repeat)",
            err=True,
        )
    sys.exit(outcome.status)


# --- the dataset against the bill, and again with new rules: reconcile, attribute, reprice ---------


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
    data_dir: Path | None,
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
            since=_day(since), until=_day(until), max_gap_pct=max_gap_pct, tolerance_usd=tolerance
        )
    else:
        result = ws.reconcile(list(cost_reports), max_gap_pct=max_gap_pct, tolerance_usd=tolerance)
    if fmt == "json":
        _emit(json.dumps(result.to_dict(), indent=2, default=str), fmt, output, "reconcile")
    else:
        _emit(
            _as_markdown(_reconcile_text(result, top)) if fmt == "markdown" else _reconcile_text(result, top),
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
    data_dir: Path | None,
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
    totals = summarize(run.daily, _day(since), _day(until))
    if fmt == "csv":
        _emit(str(totals.write_csv()), fmt, output, "attribution")
        return
    if fmt == "json":
        _emit(
            json.dumps({**run.to_dict(), "features": totals.to_dicts()}, indent=2, default=str),
            fmt,
            output,
            "attribute",
        )
        return
    _emit(
        _as_markdown(_attribute_text(run, totals, _day(since), _day(until)))
        if fmt == "markdown"
        else _attribute_text(run, totals, _day(since), _day(until)),
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
    data_dir: Path | None,
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
    result = ws.reprice(since=_day(since), until=_day(until), model=model, dry_run=dry_run)
    if fmt == "json":
        _emit(json.dumps(result.to_dict(), indent=2, default=str), fmt, output, "reprice")
        return
    _emit(
        _as_markdown(_reprice_text(result)) if fmt == "markdown" else _reprice_text(result),
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
    data_dir: Path | None,
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
        _day(since),
        _day(until),
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
def doctor(state: State, data_dir: Path | None, repair: bool, fmt: str, output: Path | None) -> None:
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
        _emit(json.dumps(result.to_dict(), indent=2), fmt, output, "doctor")
    else:
        _emit(
            _as_markdown(_doctor_text(result)) if fmt == "markdown" else _doctor_text(result),
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


@main.command()
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Policy TOML file, or a directory of them (repeatable).",
)
@data_option
@period_options
@as_of_option
@click.option(
    "--draws", default=500, show_default=True, type=click.IntRange(1, 100_000), help="Monte Carlo draws."
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed: the same seed gives the same figures."
)
@click.option(
    "--assume",
    "assume",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override an assumption for every policy (TOML value), e.g. cache=cold, output_ratio=0.9.",
)
@click.option(
    "--backtest",
    "backtest_at",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    default=None,
    help="Replay the days before this routing change and compare with what was observed after it.",
)
@click.option(
    "--backtest-days",
    default=28,
    show_default=True,
    type=click.IntRange(1, 3660),
    help="Window on each side.",
)
@output_options("table", "markdown", "html", "json", "csv", pipe="markdown")
@click.pass_obj
@handle_errors
def replay(
    state: State,
    policies: tuple[Path, ...],
    data_dir: Path | None,
    since: datetime | None,
    until: datetime | None,
    draws: int,
    seed: int,
    assume: tuple[str, ...],
    backtest_at: datetime | None,
    backtest_days: int,
    fmt: str,
    output: Path | None,
) -> None:
    """Replay the logged requests under routing policies: savings with P10/P50/P90.

    Every request is re-priced under each policy (rules: a SQL `when` over the canonical columns
    and route_to / cascade / service_tier). Figures are labelled exact (same model re-priced),
    modelled (model switch) or speculative (cascade, new tokenizer). A policy error names the
    file, line and column (exit 2).

    \b
    Examples:
      tierlens replay --policy policies/
      tierlens replay --policy policies/opus-to-sonnet.toml --assume cache=cold --format json
      tierlens replay --policy policies/ -o replay.html
      tierlens replay --backtest 2026-10-12 --policy policies/opus-to-sonnet.toml
    """
    from tierlens.progress import terminal_progress
    from tierlens.replay.render import render

    result = state.workspace(data_dir=data_dir).replay(
        list(policies),
        since=_day(since),
        until=_day(until),
        draws=draws,
        seed=seed,
        assume=assume,
        backtest_at=_day(backtest_at),
        backtest_days=backtest_days,
        progress=terminal_progress(0, "replay", unit="draws"),
    )
    _emit(render(result, fmt), fmt, output, "replay")


@main.command()
@click.option(
    "--policy", "policy", required=True, type=click.Path(path_type=Path), help="One policy TOML file."
)
@click.option(
    "--logs",
    "logs",
    multiple=True,
    required=True,
    metavar="PATH",
    help="Log files or directories that keep the request bodies beside the responses (repeatable).",
)
@data_option
@click.option(
    "--sample", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Requests per feature."
)
@click.option(
    "--max-usd", "max_usd", default=5.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
    help="Budget: a request is sent only when its worst case still fits.",
)  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Print what would be sent and its worst-case cost; send nothing."
)
@click.option(
    "--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), help="Requests in flight."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sample.")
@click.option(
    "--judge", metavar="MODEL", default=None,
    help="Also have MODEL grade each answer against the logged one (1..5); its cost counts in --max-usd.",
)  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True,
    help="Output format.",
)  # fmt: skip
@click.pass_obj
@handle_errors
def trial(
    state: State,
    policy: Path,
    logs: tuple[str, ...],
    data_dir: Path | None,
    sample: int,
    max_usd: float,
    dry_run: bool,
    concurrency: int,
    seed: int,
    judge: str | None,
    fmt: str,
) -> None:
    """Send a representative sample of the requests a policy moves to its target models.

    The request bodies are read from the raw logs (--logs), never stored. Each request goes
    unchanged but for its model through the official SDK of its body's API (pip install
    'tierlens[trial]'): Messages bodies with ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL, Chat
    Completions bodies with OPENAI_API_KEY and OPENAI_BASE_URL (OpenAI or any OpenAI-compatible
    endpoint), all from the environment; the spend never passes --max-usd. The trials table
    (tokens, cost, latency, agreement with the logged answer, a judge's score; no text) is kept
    in <data>/trials/, and `tierlens replay` then calibrates the output ratio of the features it
    covers from it.

    \b
    Examples:
      tierlens trial --policy policies/short-structured-to-haiku.toml --logs gateway/ --dry-run
      tierlens trial --policy policies/short-structured-to-haiku.toml --logs gateway/ --sample 50 --max-usd 5
      tierlens trial --policy policies/opus-to-sonnet.toml --logs gateway/ --judge claude-opus-4-6
    """
    result = state.workspace(data_dir=data_dir).trial(
        policy,
        list(logs),
        sample=sample,
        max_usd=max_usd,
        dry_run=dry_run,
        concurrency=concurrency,
        seed=seed,
        judge=judge,
    )
    click.echo({"json": result.json, "markdown": result.markdown}.get(fmt, result.text)())


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


if __name__ == "__main__":
    main()
