"""The dataset: idempotent, atomic under a crash at any commit step, serialized by a lock, private."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tierlens
from tests import factories as f
from tierlens.config import Settings
from tierlens.errors import StoreError, StrictModeError
from tierlens.ingest import ingest
from tierlens.store import Layout, Store
from tierlens.store.writer import locked


def totals(data: Path) -> tuple[int, float]:
    df = tierlens.open(data).select(pl.len(), pl.col("cost_usd").sum()).collect()
    return int(df.item(0, 0)), float(df.item(0, 1))


def logs(write: Any, n: int = 30, name: str = "a.jsonl", day: int = 1) -> Path:
    lines = [
        f.logged(ts=f"2026-09-{day + i % 3:02d}T1{i % 10}:00:00Z", input_tokens=100 + i) for i in range(n)
    ]
    return write(name, lines)


def test_reingesting_adds_nothing_and_overlaps_add_only_new(write: Any, settings: Settings) -> None:
    a = logs(write)
    first = ingest([a], settings)
    assert first.rows_added == 30
    before = totals(settings.data_dir)
    again = ingest([a], settings)
    assert again.rows_added == 0 and again.duplicates_skipped == 30
    assert totals(settings.data_dir) == before
    lines = a.read_text().splitlines()
    overlap = write(
        "b.jsonl",
        [*lines[10:], *[__import__("json").dumps(f.logged(ts="2026-09-02T00:00:00Z")) for _ in range(5)]],
    )
    third = ingest([overlap], settings)
    assert (third.rows_added, third.duplicates_skipped) == (5, 20)
    assert totals(settings.data_dir)[0] == 35


def test_duplicates_inside_one_ingest_are_dropped(write: Any, settings: Settings) -> None:
    rec = f.logged()
    path = write("dup.jsonl", [rec, rec, f.logged()])
    res = ingest([path, path], settings)  # the same file named twice is read once
    assert res.files == 1 and res.rows_added == 2 and res.duplicates_skipped == 1


def test_partitions_are_hive_dates_and_zstd(write: Any, settings: Settings) -> None:
    ingest([logs(write)], settings)
    layout = Layout(settings.data_dir)
    days = sorted(p.name for p in layout.requests.iterdir())
    assert days == ["date=2026-09-01", "date=2026-09-02", "date=2026-09-03"]
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(layout.data_files()[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    lf = tierlens.open(settings.data_dir)
    assert lf.collect_schema()["date"] == pl.Date
    got = lf.select(pl.col("date").unique().sort()).collect()["date"].cast(pl.String).to_list()
    assert got == ["2026-09-01", "2026-09-02", "2026-09-03"]


def test_rejects_are_quarantined_and_strict_exits_after_commit(write: Any, settings: Settings) -> None:
    path = write("bad.jsonl", [f.logged(), "oops", f.logged()])
    with pytest.raises(StrictModeError):
        ingest([path], settings, strict=True)
    assert totals(settings.data_dir)[0] == 2  # the good rows were committed
    q = list(Layout(settings.data_dir).quarantine.glob("*.jsonl"))
    assert len(q) == 1
    rec = __import__("json").loads(q[0].read_text().splitlines()[0])
    assert (rec["file"], rec["line"]) == (str(path), 2) and rec["reason"].startswith("invalid JSON")
    assert "oops" not in q[0].read_text()  # the line itself is never stored


def test_no_message_text_anywhere_in_the_data_dir(write: Any, settings: Settings) -> None:
    secret = "patient John Q. Example, DOB 1970-01-01"
    path = write("private.jsonl", [f.logged(text=secret), f"{secret} not json"])
    ingest([path], settings)
    for file in settings.data_dir.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file


def _ingest_subprocess(data: Path, path: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}
    if crash_at:
        env["TIERLENS_CRASH_AT"] = crash_at
    code = "import sys; from tierlens.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "ingest", str(path), "--data", str(data)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "crash_at", ["before_journal", "after_journal", "mid_rename", "before_snapshot", "after_log"]
)
def test_a_crash_at_any_commit_step_leaves_a_readable_dataset(
    crash_at: str, write: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = write("first.jsonl", [f.logged(ts="2026-09-01T00:00:00Z") for _ in range(5)])
    assert _ingest_subprocess(data, first, None).returncode == 0
    second = logs(write, n=12, name="second.jsonl", day=4)
    died = _ingest_subprocess(data, second, crash_at)
    assert died.returncode == 137
    # readable right after the crash: tierlens sees all of the commit or none of it
    assert totals(data)[0] == (17 if crash_at == "after_log" else 5)
    # a plain glob sees whole files only, perhaps part of the commit, never a row twice
    plain = pl.read_parquet(str(data / "requests" / "**" / "*.parquet"))
    assert 5 <= plain.height <= 17 and plain["dedupe_key"].is_unique().all()
    for file in Layout(data).data_files():
        pl.read_parquet(file)  # every visible file has its footer
    # the next ingest recovers, and re-running the crashed one adds exactly what was missing
    again = _ingest_subprocess(data, second, None)
    assert again.returncode == 0, again.stderr
    assert totals(data)[0] == 17
    assert not (data / "_staging").exists() and not list((data / "_txn").glob("*.json"))
    # each committed ingest is summarized once in the log, whatever step the kill hit
    logged = [json.loads(line) for line in (data / "_meta" / "ingests.jsonl").read_text().splitlines()]
    ids = [e["ingest_id"] for e in logged]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "plan",
    [
        {"moves": [["/etc/hostname", "requests/date=2026-09-01/x.parquet"]], "deletes": []},
        {"moves": [], "deletes": ["/tmp/victim.txt"]},
        {"moves": [], "deletes": ["requests/../../victim.txt"]},
        {"moves": [["_staging/a/x.parquet", "../outside/x.parquet"]], "deletes": []},
        {"moves": [], "deletes": [], "log": "../../x"},
    ],
    ids=["absolute source", "absolute delete", "delete up and out", "move out", "log path"],
)
def test_recovery_refuses_a_journal_that_reaches_outside(
    plan: dict[str, Any], write: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    ingest([write("a.jsonl", [f.logged()])], Settings(data_dir=data))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (data / "_txn").mkdir(exist_ok=True)
    (data / "_txn" / "evil.json").write_text(json.dumps({"summary": {"ingest_id": "evil"}, **plan}))
    with pytest.raises(StoreError, match="refusing the unfinished transaction"):
        ingest([write("b.jsonl", [f.logged()])], Settings(data_dir=data))
    assert (
        victim.read_text() == "keep me"
        and not (tmp_path / "x").exists()
        and not (tmp_path / "outside").exists()
    )
    assert totals(data)[0] == 1  # nothing of it was done, nothing else was committed


def test_writers_are_serialized_by_the_lock(settings: Settings, write: Any) -> None:
    layout = Layout(settings.data_dir)
    with (
        locked(layout),
        pytest.raises(StoreError, match="holds"),
        Store(settings.data_dir).transaction(lock_timeout=0.3),
    ):
        pass
    assert ingest([logs(write)], settings).rows_added == 30  # free again


def test_open_on_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no dataset"):
        tierlens.open(tmp_path / "nothing")


def test_an_open_lazyframe_keeps_reading_the_snapshot_it_was_opened_on(
    settings: Settings, write: Any
) -> None:
    ingest([logs(write, n=30)], settings)
    before = tierlens.open(settings.data_dir)
    ingest([logs(write, n=12, name="b.jsonl", day=7)], settings)
    # rewrite every stored file by name, as attribute and reprice do
    layout = Layout(settings.data_dir)
    with Store(settings.data_dir).transaction() as txn:
        for file in layout.data_files():
            txn.rewrite(file, pl.read_parquet(file).with_columns(cost_usd=pl.lit(1.0)))
        txn.commit({"ingest_id": txn.ingest_id})
    old = before.select(pl.len(), pl.col("cost_usd").sum()).collect()
    assert old.item(0, 0) == 30 and old.item(0, 1) < 1.0
    assert totals(settings.data_dir) == (42, 42.0)


def test_superseded_snapshots_are_collected_after_the_grace_period(
    settings: Settings, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierlens.store import snapshot

    for i in range(3):
        ingest([logs(write, n=5, name=f"{i}.jsonl", day=1 + i)], settings)
    snaps = Layout(settings.data_dir).snapshots
    assert len([p for p in snaps.iterdir() if p.is_dir()]) == 3  # all within the grace period
    monkeypatch.setattr(snapshot, "GRACE_SECONDS", -1.0)
    ingest([logs(write, n=5, name="3.jsonl", day=9)], settings)
    assert [p.name for p in snaps.iterdir() if p.is_dir()] == ["00000004"]
    assert totals(settings.data_dir)[0] == 20


def test_without_hard_links_readers_fall_back_to_the_live_files(
    settings: Settings, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([logs(write, n=5)], settings)

    def no_links(src: Any, dst: Any) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with pytest.warns(UserWarning, match="cannot hard-link"):
        ingest([logs(write, n=7, name="b.jsonl", day=5)], settings)
    assert totals(settings.data_dir)[0] == 12
    assert not (Layout(settings.data_dir).snapshots / "CURRENT").exists()


def test_a_directory_that_is_no_dataset_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(StoreError, match="not a tierlens dataset"):
        tierlens.open(tmp_path / "notes")


def test_rows_are_clustered_by_feature_so_a_read_of_one_feature_skips_row_groups(
    write: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    from tierlens.store import writer

    monkeypatch.setattr(writer, "CLUSTER_ROWS", 10)  # the writer's own name for schema.CLUSTER_ROWS
    features = ["search", "chat", None, "tagger"]
    lines = [
        f.logged(
            ts=f"2026-09-01T10:{i % 60:02d}:00Z", feature=features[i % 4], input_tokens=100 + i, id=f"msg_{i}"
        )
        for i in range(120)
    ]
    ingest([write("a.jsonl", lines)], settings)
    [path] = Layout(settings.data_dir).data_files("2026-09-01")
    meta = pq.ParquetFile(path).metadata
    column = meta.schema.names.index("feature")
    stats = [meta.row_group(g).column(column).statistics for g in range(meta.num_row_groups)]
    assert meta.num_row_groups == 12
    # every row group holds one feature (sorted, nulls last): a filter on one reads 3 of the 12
    named = [(s.min, s.max) for s in stats if s.has_min_max]
    assert named == sorted(named) and all(lo == hi for lo, hi in named) and len(named) == 9
    rows = tierlens.open(settings.data_dir).collect()
    assert rows.height == 120 and rows["feature"].to_list()[-30:] == [None] * 30
    # within a feature, rows keep the order they came in
    chat = rows.filter(pl.col("feature") == "chat")["source_line"].to_list()
    assert chat == sorted(chat) and len(chat) == 30


def test_a_failure_while_chunks_are_still_parsed_ahead_ends_the_ingest_at_once(
    write: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parse thread waits on a full queue for the next chunk; when the ingest fails (here the
    store, on the first batch) it must give up rather than wait for a reader that has gone."""
    import threading

    from tierlens.store.writer import Transaction

    path = logs(write, n=400)
    settings = Settings(data_dir=tmp_path / "data", chunk_bytes=1024)  # dozens of chunks

    def failing_add(self: Transaction, rows: pl.DataFrame, expand: Any = None) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(Transaction, "add", failing_add)
    monkeypatch.setattr("tierlens.ingest._Staged.BATCH_ROWS", 1)  # stage every chunk as it comes
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            ingest([path], settings)
        except BaseException as exc:  # the outcome is what the test checks
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the ingest hung after its store failed"
    assert len(outcome) == 1 and isinstance(outcome[0], StoreError)
    assert not list(Layout(settings.data_dir).requests.rglob("*.parquet"))  # nothing committed


def test_every_committed_file_and_its_directory_are_on_disk_before_the_snapshot_names_them(
    write: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit's fsyncs run on threads at once; each data file and each partition directory
    it was renamed into is still synced, and before the snapshot that makes them visible."""
    import tierlens.store.writer as writer

    synced: list[str] = []
    published: list[set[str]] = []
    real_fsync, real_publish = os.fsync, writer.publish

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def publish(layout: Layout) -> int | None:
        published.append(set(synced))
        return real_publish(layout)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(writer, "publish", publish)
    ingest([logs(write, n=90)], settings)  # three days: three partitions
    files = sorted((settings.data_dir / "requests").rglob("*.parquet"))
    assert len({p.parent for p in files}) == 3
    assert len(published) == 1
    for p in files:
        # renamed after its fsync: the name it was synced under is its staged one
        assert any(s.endswith(p.name) for s in published[0]), p
        assert str(p.parent.resolve()) in published[0], p.parent
