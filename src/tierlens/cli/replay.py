"""What a routing change would do: `replay`, and `trial` on the candidate models."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from tierlens.cli.app import (
    State,
    as_of_option,
    data_option,
    day_of,
    emit,
    handle_errors,
    main,
    output_options,
    period_options,
)


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
    data_dir: Path | str | None,
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
        since=day_of(since),
        until=day_of(until),
        draws=draws,
        seed=seed,
        assume=assume,
        backtest_at=day_of(backtest_at),
        backtest_days=backtest_days,
        progress=terminal_progress(0, "replay", unit="draws"),
    )
    emit(render(result, fmt), fmt, output, "replay")


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
    data_dir: Path | str | None,
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
