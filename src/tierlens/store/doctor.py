"""`doctor`: find the stored files that cannot be read, and set them aside.

A disk that filled up, a copy cut short or a hand edit can leave a Parquet file without its footer
or with other columns than the dataset's. Such a file must not freeze the dataset: readers skip it
with a warning (`readable`), writers ignore it for their other partitions, and `doctor --repair`
moves it out of `requests/` into `_corrupt/` and says which logs to ingest again to restore its
rows (each file is named after the ingest that wrote it; `_meta/ingests.jsonl` lists that ingest's
inputs).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tierlens.errors import StoreError
from tierlens.location import is_remote
from tierlens.schema import SCHEMA
from tierlens.store.layout import Layout

_REQUIRED = ("dedupe_key", "ts", "cost_usd")
"""Columns without which a file is no part of the dataset (others are added as null when absent)."""


@dataclass
class Problem:
    """One stored file that cannot be used, and why."""

    file: str
    reason: str
    ingest_id: str | None
    sources: list[str] = field(default_factory=list)
    """The logs its ingest read (re-ingest them to restore the file's rows)."""
    moved_to: str | None = None


@dataclass
class Checkup:
    """What `doctor` found (and, with `repair`, did)."""

    data_dir: str
    files: int = 0
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "files": self.files,
            "rows": self.rows,
            "repaired": self.repaired,
            "problems": [vars(p) for p in self.problems],
        }


def file_problem(path: Path) -> str | None:
    """Why a stored Parquet file cannot be read as part of the dataset, or None when it can."""
    try:
        meta = pq.read_metadata(path)  # one read of the footer: the row count and the schema
        schema = meta.schema.to_arrow_schema()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:120]})"
    missing = [c for c in _REQUIRED if c not in schema.names]
    if missing:
        return f"lacks the column(s) {', '.join(missing)}"
    unknown = [c for c in schema.names if c not in SCHEMA]
    if unknown:
        return f"has column(s) the dataset does not: {', '.join(unknown[:5])}"
    if meta.num_rows < 0:
        return "has a negative row count"
    return None


def readable(files: list[Path]) -> list[Path]:
    """The files a reader can use; each one it cannot is named in a warning (`tierlens doctor` fixes it)."""
    good = []
    for f in files:
        why = file_problem(f)
        if why is None:
            good.append(f)
        else:
            warnings.warn(f"skipping {f}: {why} (run `tierlens doctor --repair`)", stacklevel=3)
    return good


def checkup(data_dir: str | Path, *, repair: bool = False) -> Checkup:
    """Verify every stored file (footer, columns, row count); with `repair`, move bad ones aside.

    Repairing takes the writer lock, so that no ingest is under way while files move. On object
    storage, every file of the Delta table's newest version is checked against its log entry.
    """
    if is_remote(data_dir):
        return _table_checkup(str(data_dir), repair)
    layout = Layout(Path(data_dir))
    layout.require(requests=True)  # missing, or a directory that is no dataset: a clear error
    if repair:
        from tierlens.store.snapshot import publish
        from tierlens.store.writer import locked

        with locked(layout):
            result = _checkup(layout, repair)
            if result.problems:
                publish(layout)  # readers stop seeing the files moved aside
            return result
    return _checkup(layout, repair)


def _table_checkup(url: str, repair: bool) -> Checkup:
    """Each data file of the table's newest version: its footer readable, its rows those its log
    entry counts (a Delta table is repaired with Delta's own tools, RESTORE to an earlier version)."""
    import polars as pl

    from tierlens.store.delta import DeltaStore, object_filesystem

    store = DeltaStore(url)
    store.require(requests=True)
    if repair:
        raise StoreError(f"{url} is a Delta table: restore it to an earlier version with Delta's own RESTORE")
    dt = store.table()
    result = Checkup(data_dir=store.root, repaired=False)
    actions = pl.DataFrame(dt.get_add_actions(flatten=True)).select("path", "num_records") if dt else None
    fs, base = object_filesystem(store.table_url)
    for path, expected in actions.iter_rows() if actions is not None else ():
        result.files += 1
        try:
            rows = pq.read_metadata(fs.open_input_file(f"{base}/{path}")).num_rows
        except (OSError, pa.ArrowException) as exc:
            result.problems.append(Problem(path, f"unreadable: {str(exc).splitlines()[0]}", None, []))
            continue
        if expected is not None and rows != expected:
            result.problems.append(Problem(path, f"{rows} rows where the log says {expected}", None, []))
        result.rows += rows
    return result


def _checkup(layout: Layout, repair: bool) -> Checkup:
    result = Checkup(data_dir=str(layout.root), repaired=repair)
    sources = _sources_by_ingest(layout)
    for f in layout.data_files():
        result.files += 1
        why = file_problem(f)
        if why is None:
            result.rows += pq.read_metadata(f).num_rows
            continue
        ingest_id = _ingest_of(f)
        problem = Problem(str(f.relative_to(layout.root)), why, ingest_id, sources.get(ingest_id or "", []))
        if repair:
            target = layout.root / "_corrupt" / f.relative_to(layout.requests)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
            problem.moved_to = str(target.relative_to(layout.root))
        result.problems.append(problem)
    return result


def _ingest_of(path: Path) -> str | None:
    stem = path.stem
    return stem.removeprefix("part-") if stem.startswith("part-") else None


def _sources_by_ingest(layout: Layout) -> dict[str, list[str]]:
    """Ingest id -> the inputs it read, from the ingest log (older entries may not list them)."""
    out: dict[str, list[str]] = {}
    log = layout.meta / "ingests.jsonl"
    if not log.is_file():
        return out
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("ingest_id"), str):
            out[entry["ingest_id"]] = [str(s) for s in entry.get("inputs", []) if isinstance(s, str)]
    return out
