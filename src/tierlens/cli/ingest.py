"""Getting logs in: `ingest` and the quarantine of the lines it rejected."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from tierlens.cli.app import State, data_option, emit, handle_errors, main, output_options
from tierlens.errors import ExitCode


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
    data_dir: Path | str | None,
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
@click.option("--limit", default=50, show_default=True, help="Rows to show (most recent ingest first).")
@output_options("table", "markdown", "json", "csv")
@click.pass_obj
@handle_errors
def quarantine(state: State, data_dir: Path | str | None, limit: int, fmt: str, output: Path | None) -> None:
    """List rejected lines: file, line and reason (never their text).

    \b
    Example:
      tierlens quarantine --limit 20
    """
    import polars as pl

    from tierlens.render import render_frame

    rows = state.workspace(data_dir=data_dir).rejects(limit)
    if not rows and fmt == "table":
        emit("The quarantine is empty.", fmt, output, "rejects")
        return
    if fmt == "json":
        emit(json.dumps(rows, indent=2), fmt, output, "rejects")
        return
    columns = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "ingest_id": pl.String}
    shown = pl.DataFrame([{k: r.get(k) for k in columns} for r in rows], schema=columns)
    emit(render_frame(shown, fmt), fmt, output, "rejects")
