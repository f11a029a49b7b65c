"""Which files an ingest reads, and each opened with the reader of its format.

The files: the paths given, directories walked (log files only, symlinked directories followed
once, dot-files and a directory's `.tierlensignore` left out), globs expanded; standard input as
`-`. A file is opened (`open_log`) with the reader its name or content asks for: of the formats
that claim its first records, the one that prices the most of them."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pathspec
import polars as pl

from tierlens.config import Settings
from tierlens.errors import SourceError
from tierlens.pricing import PriceTable, price_requests
from tierlens.sources import Batch, Context, Reader, Record, make_reader, match_path, parse_records
from tierlens.sources.costs import CostReportInput
from tierlens.sources.detect import detect_candidates
from tierlens.sources.inputs import open_input, read_input
from tierlens.sources.streams import assemble_streams

LOG_SUFFIXES = (
    ".jsonl",
    ".ndjson",
    ".json",
    ".log",
    ".sse",
    ".csv",
    ".tsv",
    ".jsonl.gz",
    ".ndjson.gz",
    ".json.gz",
    ".log.gz",
    ".csv.gz",
    ".tsv.gz",
    ".gz",
)
IGNORE_FILE = ".tierlensignore"
"""In a directory given to ingest: the files the walk skips, in `.gitignore`'s syntax (matched by
`pathspec`'s gitignore rules: `#` comments, `dir/` for a directory, `**`, `!` to keep a file)."""
SIDECAR_SUFFIXES = (".batch.json",)


def resolve_inputs(paths: Sequence[str | Path], ignored: list[str] | None = None) -> list[str]:
    """Expand directories (recursively, log files only) and globs; keep `-`; error on a missing path.

    In a directory, files a `.tierlensignore` lists are left out (one note per directory is
    appended to `ignored`).
    """
    out: list[str] = []
    for p in paths:
        s = str(p)
        if s == "-":
            out.append(s)
            continue
        path = Path(s)
        if path.is_dir():
            found = [
                f
                for f in walk(path)
                if f.name.endswith(LOG_SUFFIXES)
                and not f.name.endswith(SIDECAR_SUFFIXES)
                and not _hidden(f.relative_to(path).parts)
            ]
            spec = _ignore_spec(path)
            if spec is not None:
                kept = [f for f in found if not spec.match_file(f.relative_to(path).as_posix())]
                if ignored is not None and len(kept) < len(found):
                    ignored.append(f"{s}: {len(found) - len(kept)} file(s) listed in {path / IGNORE_FILE}")
                found = kept
            out.extend(str(f) for f in found)
        elif path.is_file():
            out.append(s)
        elif glob.has_magic(s):
            matches = sorted(glob.glob(s, recursive=True))
            if not matches:
                raise SourceError(f"no file matches {s}")
            out.extend(resolve_inputs(matches))
        else:
            raise SourceError(f"no such file or directory: {s}")
    return list(dict.fromkeys(out))


def walk(root: Path) -> list[Path]:
    """Files below `root`, sorted; symlinked directories are followed once each (a loop ends there)."""
    seen: set[str] = set()
    out: list[Path] = []
    for top, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        out += [Path(top) / f for f in files if (Path(top) / f).is_file()]
    return sorted(out)


def real_paths(files: Sequence[str]) -> list[str]:
    """Each file's absolute path with symlinks resolved (`Path.resolve()`; `-` stays `-`), each
    directory resolved once: the lookups per path component are what resolving costs."""
    dirs: dict[str, str] = {}
    out: list[str] = []
    for f in files:
        head, tail = os.path.split(f)
        if f == "-" or tail in ("", os.curdir, os.pardir):
            out.append(f if f == "-" else os.path.realpath(f))
            continue
        real_dir = dirs.get(head)
        if real_dir is None:
            real_dir = dirs[head] = os.path.realpath(head or os.curdir)
        full = os.path.join(real_dir, tail)
        out.append(os.path.realpath(full) if os.path.islink(full) else full)
    return out


def _hidden(parts: Sequence[str]) -> bool:
    """A dot-named file or directory is skipped, except a project directory of Claude Code's
    `projects/` (a project whose path starts with a dot keeps it in its name)."""
    for i, part in enumerate(parts):
        if part.startswith(".") and not (i > 0 and parts[i - 1] == "projects"):
            return True
    return False


def _ignore_spec(directory: Path) -> pathspec.GitIgnoreSpec | None:
    f = directory / IGNORE_FILE
    if not f.is_file():
        return None
    return pathspec.GitIgnoreSpec.from_lines(f.read_text(encoding="utf-8", errors="replace").splitlines())


def log_files(paths: Sequence[str | Path], exclude: Sequence[str | Path], ignored: list[str]) -> list[str]:
    """The files an ingest of `paths` reads (directories walked), less `exclude`; none is an error."""
    left_out = set(real_paths([str(p) for p in exclude]))
    files = resolve_inputs(paths, ignored)
    if left_out:
        files = [f for f, real in zip(files, real_paths(files), strict=True) if real not in left_out]
    if not files:
        raise SourceError("no log files found in " + ", ".join(str(p) for p in paths))
    return files


@dataclass
class OpenLog:
    """One log file opened for parsing: its reader, context and batches (close it when done)."""

    name: str
    reader: Reader
    ctx: Context
    stream: IO[bytes]
    batches: Iterator[Batch]
    lenient: bool  # CSV: a bad value rejects its row only
    whole: bool  # the reader sees the whole file as one batch

    def __enter__(self) -> OpenLog:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.name != "-":
            self.stream.close()


def open_log(
    name: str,
    settings: Settings,
    table: PriceTable,
    format: str | None,
    ingest_id: str,
    options: dict[str, Any],
    *,
    alone: bool,
    stdin: IO[bytes] | None = None,
) -> OpenLog | str:
    """`name` opened with the reader of its format, or why it is skipped (empty, a cost report or an
    unrecognised format among other files). Alone, a cost report or an unknown format raises."""
    path = None if name == "-" else Path(name)
    ctx = Context(source_file=name, path=path, ingest_id=ingest_id, options=options)
    forced = make_reader(format, settings) if format else match_path(path, settings)
    stream = open_input(name, stdin)
    try:
        inp = read_input(
            stream,
            settings.chunk_bytes,
            shape=forced.shape if forced else None,
            delimiter=forced.delimiter if forced else None,
        )
        reader = forced or (_reader_of(inp.samples, settings, table, name, alone, format) if inp else None)
    except BaseException:
        if name != "-":
            stream.close()
        raise
    if inp is None or not isinstance(reader, Reader):
        if name != "-":
            stream.close()
        return reader if isinstance(reader, str) else f"{name}: empty"
    whole = reader.whole_file and inp.shape == "jsonl"
    batches = _whole(inp.batches) if whole else inp.batches
    return OpenLog(name, reader, ctx, stream, batches, inp.shape == "csv", whole)


def _reader_of(
    samples: Sequence[Any], settings: Settings, table: PriceTable, name: str, alone: bool, format: str | None
) -> Reader | str:
    """The reader `choose_reader` picks, or why the file is skipped among others."""
    try:
        return choose_reader(samples, settings, name, table, None if name == "-" else Path(name))
    except CostReportInput as exc:
        if alone:
            raise
        return str(exc)
    except SourceError:
        if not alone and format is None and name != "-":
            return f"{name}: unrecognised format"
        raise


def choose_reader(
    samples: Sequence[Any], settings: Settings, label: str, table: PriceTable, path: Path | None = None
) -> Reader:
    """The reader for an input: of the formats that claim its first records, the one that prices
    the most of them (so a file is never silently given to a reader that leaves it unpriced while
    another would price it); on a tie, the most specific. `path`: the file's (see `detect_candidates`)."""
    candidates = detect_candidates(samples, settings, label, path)
    if len(candidates) == 1:
        return candidates[0]
    records = [Record(i + 1, s, b"") for i, s in enumerate(samples)]
    ctx = Context(source_file=label, path=None, ingest_id="detect")

    def priced(reader: Reader) -> int:
        parsed = parse_records(reader, records, ctx, lines=len(records))
        rows = pl.concat([p.rows for p in assemble_streams([parsed], reader)])
        return int(price_requests(rows, table)["priced"].sum()) if rows.height else 0

    scores = [priced(r) for r in candidates]
    return candidates[scores.index(max(scores))]


def _whole(batches: Iterator[Batch]) -> Iterator[Batch]:
    """All chunks of JSON lines as one (for readers that must see a whole file at once)."""
    parts = list(batches)
    if not parts:
        return iter(())
    chunk = b"".join(p.chunk or b"" for p in parts)
    return iter([Batch(parts[0].first_line, sum(p.lines for p in parts), chunk=chunk)])
