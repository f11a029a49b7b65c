"""Committed snapshots: what tierlens' own readers see, all of one commit or none of it.

A commit renames its files into `requests/` one by one, so a plain glob of `requests/` can see
part of an ingest while it commits (never a row twice: rewrites replace files by name). tierlens'
readers instead read the newest *snapshot*: after every commit the writer hard-links each file of
`requests/` into a fresh `_snapshots/<generation>/` directory and then points
`_snapshots/CURRENT` at it with one atomic rename. A hard link keeps the inode a snapshot was
taken of, so a later rewrite of `requests/date=.../part-x.parquet` (a new inode renamed over the
name) leaves the snapshot's copy untouched: a LazyFrame opened before a commit keeps reading the
state it was opened on.

Superseded snapshots are deleted once they have been superseded for `GRACE_SECONDS`, which bounds
both disk use (a rewritten file's old inode lives that long) and how long an open LazyFrame stays
valid. Where hard links are not available (some network filesystems), no snapshot is published
and readers fall back to `requests/` with a warning.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import time
import warnings
from pathlib import Path

from tierlens.store.layout import Layout

GRACE_SECONDS = 3600.0
"""How long a superseded snapshot stays readable (an open LazyFrame's lifetime, a rewrite's disk cost)."""
_CURRENT = "CURRENT"
_RETRIES = 5


def publish(layout: Layout) -> int | None:
    """Snapshot the committed files of `requests/` and make it the current one; needs the lock.

    Returns the new generation, or None when this filesystem cannot hard-link.
    """
    root = layout.snapshots
    root.mkdir(parents=True, exist_ok=True)
    generation = (current_generation(layout) or 0) + 1
    tmp = root / f".{generation:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for f in layout.data_files():
            link = tmp / f.relative_to(layout.requests)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, link)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        warnings.warn(
            f"cannot hard-link in {layout.root} ({exc.strerror}): readers see requests/ directly, "
            "which can show part of a commit while it runs",
            stacklevel=2,
        )
        with contextlib.suppress(FileNotFoundError):
            (root / _CURRENT).unlink()
        return None
    tmp.mkdir(parents=True, exist_ok=True)  # an empty dataset is a snapshot too
    os.replace(tmp, root / f"{generation:08d}")
    pointer = root / f".{_CURRENT}.tmp"
    pointer.write_text(f"{generation:08d}\n", encoding="ascii")
    os.replace(pointer, root / _CURRENT)
    _collect_garbage(layout, generation)
    return generation


def current_generation(layout: Layout) -> int | None:
    try:
        text = (layout.snapshots / _CURRENT).read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def snapshot_files(layout: Layout) -> tuple[Path, list[Path]]:
    """(base directory, its Parquet files) of the current snapshot; `requests/` when there is none."""
    for _ in range(_RETRIES):
        generation = current_generation(layout)
        if generation is None:
            return layout.requests, layout.data_files()
        base = layout.snapshots / f"{generation:08d}"
        if base.is_dir():
            return base, sorted(base.glob("date=*/*.parquet"))
        time.sleep(0.01)  # superseded and collected between the two reads: read CURRENT again
    return layout.requests, layout.data_files()


def _collect_garbage(layout: Layout, newest: int) -> None:
    """Delete snapshots superseded more than `GRACE_SECONDS` ago (and debris of dead publishers),
    and the rollups of the files none of the others holds."""
    from tierlens.store.rollup import collect_garbage

    now = time.time()
    generations = sorted(int(p.name) for p in layout.snapshots.iterdir() if p.is_dir() and p.name.isdigit())
    for older, successor in itertools.pairwise(generations):
        if older >= newest:
            break
        try:
            superseded_at = (layout.snapshots / f"{successor:08d}").stat().st_mtime
        except FileNotFoundError:
            continue
        if now - superseded_at > GRACE_SECONDS:
            shutil.rmtree(layout.snapshots / f"{older:08d}", ignore_errors=True)
    for debris in layout.snapshots.glob(".*.tmp"):
        if debris.is_dir():
            shutil.rmtree(debris, ignore_errors=True)
    kept = [p for p in layout.snapshots.iterdir() if p.is_dir() and p.name.isdigit()]
    live = layout.data_files() + [f for base in kept for f in base.glob("date=*/*.parquet")]
    collect_garbage(layout.root, live)  # the rollups of files no snapshot holds any more
