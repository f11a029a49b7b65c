"""One error hierarchy for the library, and the exit codes the CLI maps them to.

The library raises these typed errors and never prints; `tierlens.cli` is the single place that
turns them into a message on stderr and an exit code (`--debug` shows the traceback).
Exit codes are an interface that cron users script on, so they live here, next to the errors.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Process exit codes of the `tierlens` command."""

    OK = 0
    FINDING = 1  # an alert fired, or a finding at the asked severity
    USAGE = 2  # bad usage or configuration
    INPUT = 3  # unreadable input or data, or rejects under --strict
    UNKNOWN = 3  # `alert`: the monitoring-plugin convention for "could not evaluate" (same code)
    INTERNAL = 70  # a bug (sysexits EX_SOFTWARE): a short message, the traceback under --debug
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class TierlensError(Exception):
    """Base of every error tierlens raises on purpose: a user-facing message, no traceback."""

    exit_code: ExitCode = ExitCode.USAGE


class ConfigError(TierlensError):
    """tierlens.toml, environment or option values are wrong."""

    exit_code = ExitCode.USAGE


class SourceError(TierlensError):
    """An input log cannot be read or its format is not recognised."""

    exit_code = ExitCode.INPUT


class PriceError(TierlensError):
    """The price table or a price override is invalid."""

    exit_code = ExitCode.USAGE


class StoreError(TierlensError):
    """The dataset cannot be read or written (permissions, lock, corrupt files)."""

    exit_code = ExitCode.INPUT


class QueryError(TierlensError):
    """A query in queries/ is missing, malformed, or was given bad parameters."""

    exit_code = ExitCode.USAGE


class StrictModeError(TierlensError):
    """`--strict` was asked and some lines were rejected (they are in the quarantine)."""

    exit_code = ExitCode.INPUT


class ParameterError(ConfigError):
    """A bad argument of a library call. The message names parameters as `{name}` placeholders:
    shown as the Python name (`period`) by the library, as the option (`--period`) by the CLI.
    Keyword arguments are values put in as they are (what the user gave, never parsed again).

    Example: `ParameterError("{period} must be one of day, week, month; got {got}", got="year")`.
    """

    def __init__(self, template: str, **values: str) -> None:
        self.template = template
        self.values = values
        super().__init__(self.named(str))

    @property
    def params(self) -> list[str]:
        """The parameters the message names, in order."""
        fields = (f for _, f, _, _ in string.Formatter().parse(self.template) if f)
        return [f for f in fields if f not in self.values]

    def named(self, name: Callable[[str], str]) -> str:
        """The message with each parameter shown as `name(parameter)`."""
        return self.template.format(**{p: name(p) for p in self.params}, **self.values)


class NoDatasetError(ParameterError, StoreError):
    """No tierlens dataset where one was asked for (the message names the `data_dir` parameter)."""

    exit_code = ExitCode.INPUT


class PolicyError(ConfigError):
    """A policy file is invalid; the message starts with `path:line:col:` when the place is known."""

    def __init__(self, message: str, path: str = "", line: int | None = None, col: int | None = None) -> None:
        where = path
        if path and line is not None:
            where += f":{line}" + (f":{col}" if col is not None else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line
        self.col = col
        self.reason = message


class ConditionError(ConfigError):
    """A `when` condition is invalid; `line` and `col` (1-based) point into the SQL text (as
    sqlglot's ParseError does); a policy file adds its own path and line to them."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


class AssumptionError(ConfigError):
    """An `[assumptions]` value or a `--assume` option is invalid."""


class AssumeItemError(ParameterError, AssumptionError):
    """An `assume` item that is no `KEY=VALUE` (named as the parameter, or the CLI's `--assume`)."""


class BacktestError(TierlensError):
    """The data holds no routing change to backtest at the given date."""

    exit_code = ExitCode.INPUT


class MissingExtraError(TierlensError):
    """An optional dependency is not installed (say which extra brings it)."""

    exit_code = ExitCode.USAGE


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice a mistyped `word` most likely meant (difflib's closest match), if any is close."""
    hint = difflib.get_close_matches(word, list(choices), n=1)
    return hint[0] if hint else None


def did_you_mean(word: str, choices: Iterable[str], otherwise: str = "") -> str:
    """`did you mean 'X'?` for the closest of `choices` to `word`, else `otherwise`."""
    hint = closest(word, choices)
    return f"did you mean '{hint}'?" if hint is not None else otherwise


def optional_module(module: str, extra: str) -> Any:
    """Import an optional dependency, or say how to install it (never a bare ModuleNotFoundError)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise MissingExtraError(
            f"this needs {module}, which is not installed: pip install 'tierlens[{extra}]'"
        ) from None
