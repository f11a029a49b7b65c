"""Kill tierlens for real (SIGKILL at random times) and check that nothing is lost or counted twice.

`TIERLENS_CRASH_AT` stops a writer at named points of its commit; these tests are the random-time
complement: a real `tierlens ingest`, `attribute` or `reprice` process is killed at a seeded random
moment of its normal run (startup, reading, staging, committing, or just after it finished), and
the data directory it leaves must be readable, hold every request once with one of its two
values (before or after the writer), and, once the writer is run again, equal a clean run exactly.
A reader running beside a sequence of commits must only ever see whole commits (`tierlens.open`)
and never a row twice (a plain Parquet glob).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tierlens
from tests import killing as k

SEEDS = {"ingest": 20261201, "attribute": 20261202, "reprice": 20261203}
COST_TOL = 1e-9


@dataclass
class World:
    """Logs, configs and the datasets the writers start from (built once: they are only copied)."""

    root: Path
    logs: list[Path]
    configs: dict[str, Path]
    base: Path
    """The first log file ingested: what `ingest` starts from (it then reads all four files)."""
    ingested: Path
    """`base` plus all the logs, ingested by a clean run: what `attribute` and `reprice` start from."""
    ingest_seconds: float


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tierlens.toml of each writer: ingest's rules, attribute's new rules, reprice's new prices."""
    root = tmp_path_factory.mktemp("configs")
    texts = {"ingest": k.INGEST_CONFIG, "attribute": k.ATTRIBUTE_CONFIG, "reprice": k.REPRICE_CONFIG}
    for name, text in texts.items():
        (root / f"{name}.toml").write_text(text, encoding="utf-8")
    return {name: root / f"{name}.toml" for name in texts}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, configs: dict[str, Path]) -> World:
    root = tmp_path_factory.mktemp("kills")
    logs = k.write_logs(root / "logs", records=16_000, files=4, days=12, seed=7)
    base = root / "base"
    k.run(k.command(configs["ingest"], "ingest", logs[0], "--data", base, "-q"), cwd=root)
    ingested = k.copy_dataset(base, root / "ingested")
    seconds = k.run(k.command(configs["ingest"], "ingest", root / "logs", "--data", ingested, "-q"), cwd=root)
    return World(root, logs, configs, base, ingested, seconds)


def writer_command(world: World, writer: str, data: Path) -> list[str]:
    if writer == "ingest":
        return k.command(world.configs["ingest"], "ingest", world.root / "logs", "--data", data, "-q")
    return k.command(world.configs[writer], writer, "--data", data)


def comparable(data: Path) -> pl.DataFrame:
    """Every row, without the id of the run that wrote it (equal datasets from other runs differ there)."""
    return k.rows(data).drop(k.ID_COLUMNS)


VALUES = ["rows", "content", "requests"]


def judged(seen: pl.DataFrame, before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """`seen` per request (`killing.per_request`), beside the same request before and after the
    writer: is it one of the two, and does it cost more than it truly does (at either price)?"""

    def equal(suffix: str) -> pl.Expr:
        same = [pl.col(c).eq_missing(pl.col(f"{c}{suffix}")) for c in VALUES]
        cost = (pl.col("cost_usd") - pl.col(f"cost_usd{suffix}")).abs() <= COST_TOL
        return pl.all_horizontal(*same, cost).fill_null(False)

    return (
        seen.join(before, on="dedupe_key", how="left", suffix="_before")
        .join(after, on="dedupe_key", how="left", suffix="_after")
        .with_columns(
            is_before=equal("_before"),
            is_after=equal("_after"),
            overcounted=(
                pl.col("cost_usd") > pl.max_horizontal("cost_usd_before", "cost_usd_after") + COST_TOL
            ).fill_null(True),  # (null: a request the truth does not have at all)
        )
    )


ROUNDS = (1, 3, 3, 3)
"""SIGKILLs per writer before a run is let finish, per round (10 in all): 1 is kill, then re-run;
3 also kills the re-runs, which begin by recovering what the killed run left (a cron job killed
again and again)."""


@dataclass
class Kill:
    delay: float
    stage: str
    rows: int
    view: str
    """What `tierlens.open` showed: `before` or `after` the writer, or `mixed` (requests of each)."""


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["ingest", "attribute", "reprice"])
def test_random_sigkills_never_double_count_and_rerun_is_exact(
    writer: str, world: World, tmp_path: Path
) -> None:
    rng = random.Random(SEEDS[writer])
    if writer == "ingest":
        pristine, reference, seconds = world.base, world.ingested, world.ingest_seconds
    else:
        pristine = world.ingested
        reference = k.copy_dataset(pristine, tmp_path / "reference")
        seconds = k.run(writer_command(world, writer, reference), cwd=tmp_path)
    before, after = k.per_request(k.rows(pristine)), k.per_request(k.rows(reference))
    expected = comparable(reference)
    pristine_logs, expected_logs = k.meta_logs(pristine), k.meta_logs(reference)
    # the writer must change what a reader counts, or a kill could not show a half-done write
    assert not before.equals(after)
    if writer == "attribute":  # requests change feature, splits are re-split and new ones made
        assert after["rows"].sum() > before["rows"].sum()
    if writer == "reprice":
        assert abs(float(after["cost_usd"].sum()) - float(before["cost_usd"].sum())) > 1.0

    kills: list[Kill] = []
    durations = [seconds]
    no_ops = 0
    for r, kills_in_round in enumerate(ROUNDS):
        data = k.copy_dataset(pristine, tmp_path / f"round-{r}")
        for _ in range(kills_in_round):
            n = len(kills)
            # in [0, a run's duration], most often late: startup, reading, staging, commit, done
            delay = rng.triangular(0.0, seconds, seconds)
            err = tmp_path / f"kill-{n:02d}.err"
            trace = k.fingerprint(data)
            proc = k.start(writer_command(world, writer, data), cwd=tmp_path, stderr=err)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)  # os.kill(pid, SIGKILL); nothing if it already exited
            returncode = proc.wait(timeout=60)
            assert returncode in (0, -signal.SIGKILL), err.read_text()
            what = f"{writer} killed after {delay:.3f}s of a {seconds:.3f}s run (kill {n}, round {r})"

            # (a) readable: tierlens.open skips no file, doctor finds nothing wrong
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                seen_rows = k.rows(data, ordered=False)
            skipped = [str(w.message) for w in caught if "skipping" in str(w.message)]
            assert skipped == [], f"{what}: tierlens.open skips stored files: {skipped}"
            assert k.doctor_problems(data) == [], what

            # (b) nothing counted twice, nothing lost: every request as before or as after the writer
            dup = k.duplicated_pairs(seen_rows)
            assert dup.is_empty(), f"{what}: (dedupe_key, feature) stored twice:\n{dup}"
            seen = judged(k.per_request(seen_rows), before, after)
            over = seen.filter("overcounted")
            assert over.is_empty(), f"{what}: requests costing more than they do:\n{over}"
            torn = seen.filter(~pl.col("is_before") & ~pl.col("is_after"))
            assert torn.is_empty(), f"{what}: requests neither as before nor as after:\n{torn}"
            lost = before.join(seen, on="dedupe_key", how="anti")
            assert lost.is_empty(), f"{what}: {lost.height} stored request(s) lost"
            if writer != "ingest":  # a rewrite keeps the set of requests
                assert seen.height == before.height, what

            changed = seen.height != before.height or not bool(seen["is_before"].all())
            whole_after = seen.height == after.height and bool(seen["is_after"].all())
            view = "after" if whole_after else "mixed" if changed else "before"
            if returncode == 0:
                label = "exited"  # it had finished: the kill came too late
            elif k.fingerprint(data) == trace:
                label = "no trace"  # starting up, or working in memory only
            else:
                label = k.stage(data, changed)
            kills.append(Kill(delay, label, seen_rows.height, view))
            # ...and tierlens.open shows one committed state: all of the writer's commit or none of it
            assert view != "mixed", f"{what} ({label}): tierlens.open shows part of a commit"

        # (c) run again to completion: exactly the clean run, every commit logged once
        what = f"{writer}, round {r}: the run after {kills_in_round} kill(s)"
        durations.append(k.run(writer_command(world, writer, data), cwd=tmp_path))
        seconds = statistics.median(durations)  # the machine's pace now (other work shares it)
        got = comparable(data)
        assert got.height == expected.height, what
        assert_frame_equal(got, expected, check_exact=False, rel_tol=0, abs_tol=COST_TOL)
        assert k.doctor_problems(data) == [], what
        assert not (data / "_txn").exists() or not any((data / "_txn").iterdir()), what
        assert not (data / "_staging").exists(), f"{what}: staging debris after a clean run"
        no_ops += assert_logged_once(
            k.meta_logs(data), pristine_logs, expected_logs, writer, kills_in_round, what
        )
        shutil.rmtree(data)

    stages, views = Counter(x.stage for x in kills), Counter(x.view for x in kills)
    print(
        f"\n{writer}: {len(kills)} SIGKILLs in a {seconds:.2f}s run; stages {dict(stages)}; "
        f"seen {dict(views)}; {no_ops} re-run(s) committed a rewrite that changed nothing"
    )
    for x in kills:
        print(f"  killed at {x.delay:6.3f}s  {x.stage:11s} rows seen {x.rows:7,d} ({x.view})")
    assert len(kills) == sum(ROUNDS) == 10


def assert_logged_once(
    got: dict[str, list[dict[str, Any]]],
    pristine: dict[str, list[dict[str, Any]]],
    reference: dict[str, list[dict[str, Any]]],
    writer: str,
    kills: int,
    what: str,
) -> int:
    """`_meta/*.jsonl`: no summary line twice; what the writer's lines say adds up to the clean run's.
    Returns how many extra commits changed nothing (see below)."""
    for log, lines in got.items():
        texts = [json.dumps(x, sort_keys=True) for x in lines]
        assert len(set(texts)) == len(texts), f"{what}: a summary line of {log} appears twice"
        ids = [next((v for key, v in x.items() if key.endswith("_id")), None) for x in lines]
        assert len(set(ids)) == len(ids), f"{what}: a commit id in {log} appears twice: {ids}"
    assert set(got) == set(reference), what
    log = {"ingest": "ingests.jsonl", "attribute": "attributions.jsonl", "reprice": "repricings.jsonl"}[
        writer
    ]
    for other in set(got) - {log}:
        assert got[other] == pristine.get(other, []), f"{what}: {other} changed"
    new = got[log][len(pristine.get(log, [])) :]
    assert got[log][: len(pristine.get(log, []))] == pristine.get(log, []), what
    clean = reference[log][len(pristine.get(log, [])) :]
    if writer == "ingest":  # a killed ingest that committed, then re-runs that add nothing: more lines
        assert 1 <= len(new) <= kills + 1, f"{what}: {len(new)} ingest lines"
        for key in ("rows_added", "split_rows"):
            assert sum(int(x[key]) for x in new) == sum(int(x[key]) for x in clean), f"{what}: {key}"
        cost = sum(float(x["total_cost_usd"]) for x in new)
        assert cost == pytest.approx(sum(float(x["total_cost_usd"]) for x in clean), abs=1e-6), what
    else:  # one commit made the change; a later run has nothing to change
        assert len(clean) == 1 and new, f"{what}: no line in {log}"
        for key in SUMMARY_KEYS[writer]:
            assert new[0][key] == pytest.approx(clean[0][key], abs=1e-6), f"{what}: {key}"
        # A later line is a re-run that rewrote files with nothing changed (`tierlens attribute`
        # is not idempotent to the last bit of a split cost): tolerated as long as it says so.
        changed, rows = (
            ("requests_changed", "rows_after") if writer == "attribute" else ("rows_changed", "rows")
        )
        for extra in new[1:]:
            assert extra[changed] == 0, f"{what}: a second {writer} changed {extra[changed]} rows"
            assert extra[rows] == clean[0][rows], f"{what}: a second {writer} saw {extra[rows]} rows"
            if writer == "attribute":
                assert extra["rows_before"] == extra["rows_after"], what
            else:
                assert extra["cost_before_usd"] == pytest.approx(clean[0]["cost_after_usd"], abs=1e-6), what
    return len(new) - 1 if writer != "ingest" else 0


SUMMARY_KEYS = {
    "attribute": (
        "partitions_rewritten",
        "requests",
        "rows_before",
        "rows_after",
        "split_requests",
        "requests_changed",
    ),
    "reprice": (
        "partitions_rewritten",
        "rows",
        "rows_changed",
        "newly_priced",
        "cost_before_usd",
        "cost_after_usd",
    ),
}


# --- a reader beside a sequence of commits -----------------------------------------------------------

DRIVER = """\
import json, sys, time
import polars as pl
import tierlens
from tierlens.cli import main

data, states, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
for args in json.loads(sys.argv[4]):
    main(args, standalone_mode=False)
    got = tierlens.open(data).select(pl.len(), pl.col("cost_usd").sum()).collect()
    with open(states, "a") as fh:
        fh.write(json.dumps({"step": args[2], "rows": got.item(0, 0), "cost": got.item(0, 1)}) + "\\n")
    time.sleep(pause)
"""
"""One writer process, one commit after another: after each, the state it committed (read while no
other commit runs), then a pause so that readers see every committed state."""


@dataclass
class Reads:
    states: list[tuple[int, float]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    errors_retried: list[str] = field(default_factory=list)


def committed_states(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(x) for x in text.splitlines(keepends=True) if x.endswith("\n")]


@pytest.mark.slow
def test_a_reader_never_sees_a_partial_commit_nor_a_duplicate(
    configs: dict[str, Path], tmp_path: Path
) -> None:
    # many days, so every commit renames many files: a long window for a reader to fall into
    logs = k.write_logs(tmp_path / "logs", records=8_000, files=5, days=40, seed=11)
    data, cfg = tmp_path / "data", configs
    steps = [["--config", str(cfg["ingest"]), "ingest", str(log), "--data", str(data), "-q"] for log in logs]
    steps += [
        ["--config", str(cfg["attribute"]), "attribute", "--data", str(data)],
        ["--config", str(cfg["reprice"]), "reprice", "--data", str(data)],
    ]
    states_file, out = tmp_path / "states.jsonl", tmp_path / "driver.out"
    with out.open("wb") as fh:
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(data), str(states_file), "0.25", json.dumps(steps)],
            cwd=tmp_path,
            env=k.environment(),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    via_open, via_glob = Reads(), Reads()
    done = threading.Event()

    def read_open() -> None:  # tierlens' own reader: a whole committed state, every time
        while not done.is_set():
            try:
                got = tierlens.open(data).select("dedupe_key", "feature", "cost_usd").collect()
            except Exception as exc:
                via_open.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            via_open.states.append((got.height, float(got["cost_usd"].sum() or 0.0)))
            if got.select(pl.struct("dedupe_key", "feature").is_duplicated().any()).item():
                via_open.duplicates.append(f"read {len(via_open.states)}")

    def read_glob() -> None:  # a plain Parquet glob: may see part of an ingest, never a row twice
        while not done.is_set():
            try:
                got = pl.scan_parquet(f"{data}/requests/**/*.parquet", hive_partitioning=True).collect()
            except (FileNotFoundError, pl.exceptions.ComputeError) as exc:  # a file renamed mid-read
                via_glob.retries[type(exc).__name__] += 1
                via_glob.errors_retried.append(str(exc)[:160])
                continue
            except Exception as exc:
                via_glob.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            via_glob.states.append((got.height, float(got["cost_usd"].sum() or 0.0)))
            dup = got.group_by("dedupe_key", "feature").len().filter(pl.col("len") > 1)
            if dup.height:
                via_glob.duplicates.append(f"{dup.height} pair(s) twice, e.g. {dup.row(0)}")

    readers = [threading.Thread(target=read_open), threading.Thread(target=read_glob)]
    started = time.perf_counter()
    try:
        deadline = time.monotonic() + 120
        while not committed_states(states_file):  # the readers start once the first ingest committed
            assert driver.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.02)
        for t in readers:
            t.start()
        returncode = driver.wait(timeout=300)
        time.sleep(0.3)  # the readers see the last state too
    finally:
        done.set()
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for t in readers:
            if t.is_alive():
                t.join()
    seconds = time.perf_counter() - started
    assert returncode == 0, out.read_text()[-3000:]
    logged = committed_states(states_file)
    assert [x["step"] for x in logged] == ["ingest"] * len(logs) + ["attribute", "reprice"]
    committed = [(int(x["rows"]), float(x["cost"])) for x in logged]
    # every commit changes what a reader counts (else a partial commit could pass for a whole one)
    assert len({(n, round(c, 6)) for n, c in committed}) == len(committed), committed

    def which(state: tuple[int, float]) -> int | None:
        return next(
            (i for i, (n, c) in enumerate(committed) if n == state[0] and abs(c - state[1]) <= 1e-6), None
        )

    partial_open = [s for s in via_open.states if which(s) is None]
    partial_glob = [s for s in via_glob.states if which(s) is None]
    seen_open = sorted({i for s in via_open.states if (i := which(s)) is not None})
    print(
        f"\nreader beside {len(steps)} commits ({seconds:.1f}s); committed (rows, cost) {committed}\n"
        f"  tierlens.open: {len(via_open.states)} reads, saw committed states {seen_open}, "
        f"{len(partial_open)} partial {partial_open[:3]}, {len(via_open.errors)} errors {via_open.errors[:2]}, "
        f"{len(via_open.duplicates)} with a duplicate\n"
        f"  plain glob:    {len(via_glob.states)} reads, {len(partial_glob)} partial (allowed) {partial_glob[:3]}, "
        f"{sum(via_glob.retries.values())} retried after a rename mid-read {dict(via_glob.retries)} "
        f"{via_glob.errors_retried[:1]}, "
        f"{len(via_glob.errors)} errors {via_glob.errors[:2]}, {len(via_glob.duplicates)} with a duplicate"
    )
    # the readers really read beside the commits
    assert len(via_open.states) >= 10 and len(via_glob.states) >= 10
    assert len(seen_open) >= 3, f"tierlens.open saw only the committed states {seen_open}"
    final = tierlens.open(data).select(pl.len(), pl.col("cost_usd").sum()).collect()
    assert which((final.item(0, 0), final.item(0, 1))) == len(committed) - 1
    # (b) a plain glob may see part of an ingest, but never a row twice
    assert via_glob.duplicates == [] and via_glob.errors == []
    # (a) tierlens.open shows whole commits only: never a row twice, never part of a commit
    assert via_open.duplicates == []
    assert via_open.errors == [], via_open.errors[:5]
    assert partial_open == [], f"tierlens.open saw {len(partial_open)} partial commit(s): {partial_open[:5]}"
