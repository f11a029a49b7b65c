"""What to act on: `flags`, and `alert` for cron and monitoring."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from tierlens.cli.app import (
    ALERT_ERRORS,
    ALERT_FORMATS,
    Command,
    State,
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
    data_dir: Path | str | None,
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

    end = day_of(until)
    if end is not None and as_of is not None and day_of(as_of) != end + timedelta(days=1):
        raise click.BadParameter("give --until or --as-of, not both", param_hint="'--as-of'")
    start = day_of(since)
    if start is not None and end is None and as_of is None:
        raise click.BadParameter("--since needs --until (the window's last day)", param_hint="'--since'")
    day = end + timedelta(days=1) if end is not None else day_of(as_of)
    result = state.workspace(data_dir=data_dir).flags(day, since=start)
    emit(_flags_render(result, fmt), fmt, output, "flags")
    if fail_on and any(SEVERITIES.index(f.severity) >= SEVERITIES.index(fail_on) for f in result.findings):
        sys.exit(int(ExitCode.FINDING))


def _flags_render(result: Any, fmt: str) -> str:
    if fmt == "json":
        payload = {
            "as_of": str(result.as_of),
            "window": [str(result.window_start), str(result.window_end)],
            "findings": [f.to_dict() for f in result.findings],
            "forecasts": [fc.to_dict() for fc in result.forecasts],
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
    if result.forecasts:
        lines.append("## Forecast" if markdown else "Forecast")
        for x in result.forecasts:
            budget = f" of budget {money(x.amount)} ({x.projected_pct or 0.0:.0f}%)" if x.amount else ""
            lines.append(
                f"{'- ' if markdown else '   '}{x.name} ({x.period} {x.period_start}..{x.period_end}): "
                f"projected {money(x.projected_usd)}{budget}, range {money_range(x.low_usd, x.high_usd)}; {x.evidence}"
            )
    return "\n".join(lines).rstrip() + "\n"


class _MonitoringCommand(Command):
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
    help="State file [default: <data>/_meta/alert_state.json; for a dataset on object storage, ~/.local/state/tierlens/<scheme>/<bucket>/<prefix>/_meta/alert_state.json].",
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
@handle_errors(style=ALERT_ERRORS)
def alert(
    state: State,
    rules_path: Path,
    data_dir: Path | str | None,
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

    outcome = state.workspace(data_dir=data_dir).alert(
        rules_path,
        state_path=state_path,
        renotify=renotify,
        as_of=day_of(as_of),
        fmt=fmt,
        echo=lambda text: emit(text, fmt, output, "alerts"),
    )
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
