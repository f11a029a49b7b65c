"""The `tierlens` command: parse options, call one library method, render, map errors.

Nothing here computes anything. stdout carries data only; progress and errors go to stderr.
`app.py` holds the group, the shared options and the error handler; each other module holds the
commands of one job (see its docstring). Importing this package registers every command.
"""

from __future__ import annotations

from tierlens.cli import data, findings, ingest, replay, spend  # noqa: F401  (registers the commands)
from tierlens.cli.app import main

__all__ = ["main"]
