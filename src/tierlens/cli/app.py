"""The `tierlens` group and what its commands share: the global options, the error handler that
maps every `TierlensError` to its exit code (never a traceback for a user error), and the data,
period, as-of, grouping and output options.

Exit codes (also in `tierlens --help`): 0 ok, 1 a finding/alert at the asked severity,
2 usage or configuration error, 3 input or data error (including rejects under --strict),
70 internal error (a bug: re-run with --debug and report the traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, overload

import click

from tierlens.errors import ExitCode, ParameterError, TierlensError

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


class Command(click.Command):
    """Every tierlens command: the global options are accepted after its name as well."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


@dataclass(frozen=True)
class ErrorStyle:
    """How a command reports what went wrong: `Error: ...` in red and the error's own exit code by
    default; `alert` says `UNKNOWN: ...` with exit code 3 for every error (a cron convention)."""

    user: str = "Error: "
    internal: str = "Internal error: "
    code: ExitCode | None = None
    color: str | None = "red"
    hint: bool = True


ALERT_ERRORS = ErrorStyle(
    user="UNKNOWN: ", internal="UNKNOWN: internal error ", code=ExitCode.UNKNOWN, color=None, hint=False
)


@overload
def handle_errors(fn: F) -> F: ...
@overload
def handle_errors(*, style: ErrorStyle) -> Callable[[F], F]: ...
def handle_errors(fn: F | None = None, *, style: ErrorStyle = ErrorStyle()) -> F | Callable[[F], F]:
    """Turn library errors into a message on stderr and an exit code (tracebacks with --debug).

    Use as `@handle_errors`, or `@handle_errors(style=ALERT_ERRORS)`."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            state = click.get_current_context().find_object(State)
            debug = bool(state and state.debug)
            try:
                return fn(*args, **kwargs)
            except TierlensError as exc:
                if debug:
                    raise
                click.secho(f"{style.user}{user_message(exc)}", fg=style.color, err=True)
                sys.exit(int(style.code if style.code is not None else exc.exit_code))
            except KeyboardInterrupt:
                click.echo("Interrupted.", err=True)
                sys.exit(int(ExitCode.INTERRUPTED))
            except (click.exceptions.Exit, click.ClickException, SystemExit):
                raise
            except Exception as exc:  # a bug: say so briefly, never dump a traceback on a user
                if debug:
                    raise
                click.secho(f"{style.internal}{type(exc).__name__}: {exc}", fg=style.color, err=True)
                if style.hint:
                    click.echo("Re-run with --debug for the traceback, and please report it.", err=True)
                sys.exit(int(style.code if style.code is not None else ExitCode.INTERNAL))

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def user_message(exc: TierlensError) -> str:
    """An error's message as the command line says it: parameters named by their options."""
    if isinstance(exc, ParameterError):
        return exc.named(option_name)
    return str(exc)


def option_name(param: str) -> str:
    """The option of the running command that sets a library parameter (`grain` may be `--period`);
    by default `--` and the name with dashes."""
    ctx = click.get_current_context(silent=True)
    for p in ctx.command.params if ctx is not None else ():
        if p.name == param and isinstance(p, click.Option):
            longs = [o for o in p.opts if o.startswith("--")]
            return longs[0] if longs else p.opts[0]
    return "--" + param.replace("_", "-")


class DataLocation(click.ParamType[Path | str]):
    """A dataset directory, or a URL of object storage kept as given (`s3://bucket/prefix`)."""

    name = "DIR|URL"
    _local = click.Path(path_type=Path, file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        from tierlens.location import is_remote

        if isinstance(value, str) and is_remote(value):
            return value.rstrip("/")
        return self._local.convert(value, param, ctx)


def data_option(fn: F) -> F:
    return click.option(
        "--data",
        "data_dir",
        type=DataLocation(),
        default=None,
        help="Dataset directory, or a Delta table on object storage (s3://bucket/prefix, gs://, "
        "abfs://) [env TIERLENS_DATA_DIR; default ./tierlens-data].",
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


def as_markdown(text: str) -> str:
    """A plain-text rendering as Markdown: kept verbatim in a fenced block."""
    return f"```text\n{text}\n```"


def emit(text: str, fmt: str, output: Path | None, what: str) -> None:
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


main.command_class = Command


def day_of(value: datetime | None) -> date | None:
    return value.date() if value else None
