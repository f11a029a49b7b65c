"""The dataset on object storage (`--data s3://...`, a Delta table; `tierlens.store.delta`), against
moto's S3 API served on loopback by a real server process: the same rows and answers as a local
dataset, two writers at once, and writers killed at random points."""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import tests.killing as k
import tierlens
from tests.paths import REPO
from tierlens.cli import main
from tierlens.store.delta import DeltaStore
from tierlens.workspace import Workspace

SAMPLE_LOGS = REPO / "sample_logs"
WRITER_COLUMNS = ("ingest_id",)
"""Columns naming the run that wrote a row: they differ between equal datasets."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 API in a server process of its own, on a free loopback port."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket, and the environment that points every client (and child process) at it."""
    import boto3

    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    name = "tl-" + secrets.token_hex(4)
    boto3.client("s3").create_bucket(Bucket=name)
    return f"s3://{name}"


def stored(where: str | Path) -> pl.DataFrame:
    """Every stored row as a reader sees it, without the writing run's id, in a fixed order."""
    rows = tierlens.open(where).collect().drop(WRITER_COLUMNS)
    return rows.sort("dedupe_key", "feature", nulls_last=True)


def cli(*args: str | Path) -> dict[str, object]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output[-3000:]
    return json.loads(res.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_sample_logs_on_s3_are_the_local_dataset_and_answer_alike(bucket: str, sample_data: Path) -> None:
    url = f"{bucket}/tierlens"
    first = cli("ingest", SAMPLE_LOGS, "--data", url, "--json")
    assert first["rows_added"] == tierlens.open(sample_data).select(pl.len()).collect().item()
    assert_frame_equal(stored(url), stored(sample_data))

    again = cli("ingest", SAMPLE_LOGS, "--data", url, "--json")
    assert again["rows_added"] == 0 and again["duplicates_skipped"] > 0
    assert stored(url).height == first["rows_added"]

    remote, local = Workspace(url), Workspace(sample_data)
    assert_frame_equal(remote.summary().rows, local.summary().rows)
    assert remote.summary().total_cost_usd == pytest.approx(local.summary().total_cost_usd, rel=1e-12)
    found, expected = remote.flags().findings, local.flags().findings
    assert [(f.kind, f.feature, f.model, f.severity, f.title) for f in found] == [
        (f.kind, f.feature, f.model, f.severity, f.title) for f in expected
    ]
    # the signals' sums run in parallel: their last bits differ between two runs on one dataset
    amounts = [[f.monthly_usd or 0.0 for f in fs] for fs in (found, expected)]
    assert amounts[0] == pytest.approx(amounts[1], rel=1e-9)
    plain = {"ingest_id"}
    assert [{k: v for k, v in r.items() if k not in plain} for r in remote.rejects()] == [
        {k: v for k, v in r.items() if k not in plain} for r in local.rejects()
    ]
    assert remote.rejects()  # the sample has bad lines: the comparison compared something
    for name in ("spend_by_period", "spend_by_model", "feature_unit_costs"):
        for engine in ("polars", "duckdb"):  # DuckDB over the Delta table's Arrow dataset
            assert_frame_equal(remote.query(name, engine=engine), local.query(name, engine=engine))
    shown = [CliRunner().invoke(main, ["summary", "--data", str(d)]) for d in (url, sample_data)]
    assert shown[0].exit_code == 0 and shown[0].output == shown[1].output


def test_reprice_and_attribute_on_s3_rewrite_as_they_do_locally(bucket: str, tmp_path: Path) -> None:
    files = _logs(tmp_path, records=6_000, files=3)
    configs = {}
    for name, text in (
        ("ingest", k.INGEST_CONFIG),
        ("reprice", k.REPRICE_CONFIG),
        ("attribute", k.ATTRIBUTE_CONFIG),
    ):
        configs[name] = tmp_path / f"{name}.toml"
        configs[name].write_text(text)
    url, local = f"{bucket}/data", tmp_path / "local"
    for data in (url, local):
        cli("--config", configs["ingest"], "ingest", *files, "--data", data, "--json")
    assert_frame_equal(stored(url), stored(local))
    for command, moved in (("reprice", "rows_changed"), ("attribute", "requests_changed")):
        on_s3 = cli("--config", configs[command], command, "--data", url, "--format", "json")
        here = cli("--config", configs[command], command, "--data", local, "--format", "json")
        assert on_s3[moved] == here[moved] > 0
        assert_frame_equal(stored(url), stored(local))
    kinds = [h.get("kind", "ingest") for h in DeltaStore(url).history()]
    assert kinds == ["attribution", "reprice", "ingest"]


def test_a_missing_table_is_a_clear_error(bucket: str) -> None:
    res = CliRunner().invoke(main, ["summary", "--data", f"{bucket}/nothing-here"])
    assert res.exit_code != 0 and "no dataset at s3://" in res.output, res.output
    assert "Traceback" not in res.output


def _logs(tmp_path: Path, records: int, files: int) -> list[Path]:
    return k.write_logs(tmp_path / "logs", records=records, files=files, days=6, seed=7)


def _ingest(data: str | Path, files: list[Path], cwd: Path) -> list[str]:
    config = cwd / "empty.toml"
    config.touch()
    return k.command(config, "ingest", *files, "--data", data, "--json")


@pytest.mark.slow
def test_two_ingests_at_once_store_each_request_once(bucket: str, tmp_path: Path) -> None:
    files = _logs(tmp_path, records=40_000, files=4)
    url, local = f"{bucket}/shared", tmp_path / "local"
    k.run(_ingest(local, files, tmp_path), cwd=tmp_path)
    expected = stored(local)
    # overlapping halves: files 1 and 2 are in both, so each writer meets the other's requests
    halves = [files[:3], files[1:]]
    procs = [
        subprocess.Popen(
            _ingest(url, half, tmp_path), cwd=tmp_path, env=k.environment(), stdout=subprocess.PIPE, text=True
        )
        for half in halves
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    got = stored(url)
    assert k.duplicated_pairs(got).is_empty()
    # a request the logs hold twice is stored from whichever file committed first
    where = ["source_file", "source_line"]
    assert_frame_equal(got.drop(where), expected.drop(where))
    added = [json.loads(o)["rows_added"] for o in outs]
    assert sum(added) == expected.height, added  # what each says it added is what it added


@pytest.mark.slow
def test_killed_ingests_leave_a_readable_table_and_a_rerun_completes_it_exactly(
    bucket: str, tmp_path: Path
) -> None:
    files = _logs(tmp_path, records=60_000, files=6)
    local = tmp_path / "local"
    k.run(_ingest(local, files, tmp_path), cwd=tmp_path)
    expected = stored(local)
    seconds = k.run(_ingest(f"{bucket}/timing", files, tmp_path), cwd=tmp_path)
    expected_requests = k.per_request(expected)
    url, rng = f"{bucket}/killed", random.Random(11)
    for n in range(4):
        delay = rng.uniform(0.2 * seconds, seconds)
        proc = k.start(_ingest(url, files, tmp_path), cwd=tmp_path, stderr=tmp_path / f"kill-{n}.err")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) in (0, -signal.SIGKILL)
        if not _table_exists(url):
            continue  # killed before its first commit: nothing to read yet
        seen = stored(url)  # readable: no partial commit, no orphaned file read
        assert k.duplicated_pairs(seen).is_empty(), f"kill {n} after {delay:.2f}s"
        partial = k.per_request(seen).join(expected_requests, on="dedupe_key", how="anti")
        assert partial.is_empty(), f"kill {n}: requests the logs do not hold, or changed"
    k.run(_ingest(url, files, tmp_path), cwd=tmp_path)
    assert_frame_equal(stored(url), expected)


def _table_exists(url: str) -> bool:
    return DeltaStore(url).table() is not None


def test_other_readers_read_the_table(bucket: str) -> None:
    import duckdb
    from deltalake import DeltaTable

    url = f"{bucket}/readers"
    cli("ingest", SAMPLE_LOGS / "anthropic", "--data", url, "--json")
    options = {"AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"], "AWS_ALLOW_HTTP": "true"}
    ours = tierlens.open(url).select(pl.len(), pl.col("cost_usd").sum()).collect().row(0)
    by_polars = pl.scan_delta(f"{url}/requests", storage_options=options)
    count, cost = by_polars.select(pl.len(), pl.col("cost_usd").sum()).collect().row(0)
    assert count == ours[0] and cost == pytest.approx(ours[1], rel=1e-12)  # a sum's last bit: its order
    dataset = DeltaTable(f"{url}/requests", storage_options=options).to_pyarrow_dataset()  # noqa: F841
    [by_duckdb] = duckdb.sql("SELECT count(*), sum(cost_usd) FROM dataset").fetchall()
    assert (
        by_duckdb is not None
        and by_duckdb[0] == ours[0]
        and by_duckdb[1] == pytest.approx(ours[1], rel=1e-12)
    )


def test_doctor_checks_every_file_of_the_table_and_names_a_corrupt_one(bucket: str) -> None:
    import boto3

    url = f"{bucket}/checked"
    added = cli("ingest", SAMPLE_LOGS / "anthropic", "--data", url, "--json")["rows_added"]
    healthy = cli("doctor", "--data", url, "--format", "json")
    assert healthy["problems"] == [] and healthy["rows"] == added and healthy["files"] > 1
    name = bucket.removeprefix("s3://")
    [victim] = DeltaStore(url).table().file_uris()[:1]  # type: ignore[union-attr]
    boto3.client("s3").put_object(Bucket=name, Key=victim.split(f"{name}/", 1)[1], Body=b"not parquet")
    res = CliRunner().invoke(main, ["doctor", "--data", url, "--format", "json"])
    problems = json.loads(res.stdout)["problems"]
    assert [p["file"] for p in problems] == [victim.split("/requests/", 1)[1]], problems
    assert "Traceback" not in res.output


@pytest.mark.slow
def test_an_ingest_on_spark_commits_the_same_table(bucket: str, tmp_path: Path) -> None:
    logs = SAMPLE_LOGS / "anthropic"
    spark, embedded = f"{bucket}/spark", f"{bucket}/embedded"
    k.run(_ingest(embedded, [logs], tmp_path), cwd=tmp_path)
    k.run([*_ingest(spark, [logs], tmp_path), "--engine", "spark", "--master", "local[2]"], cwd=tmp_path)
    assert_frame_equal(stored(spark), stored(embedded))
    assert DeltaStore(spark).history()[0]["rows_added"] == stored(spark).height


def test_a_large_ingest_commits_in_merges_of_whole_days_and_stays_exact(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tierlens.store.delta as delta

    monkeypatch.setattr(delta, "MERGE_ROWS", 2_500)
    files = _logs(tmp_path, records=6_000, files=2)
    url, local = f"{bucket}/grouped", tmp_path / "local"
    for data in (url, local):
        cli("ingest", *files, "--data", data, "--json")
    assert_frame_equal(stored(url), stored(local))
    table = DeltaStore(url).table()
    assert table is not None and table.version() >= 3  # the empty table, then one commit per group
    assert len({p["date"] for p in table.partitions()}) == 6
    assert [h["rows_added"] for h in DeltaStore(url).history()] == [stored(local).height]
    assert cli("ingest", *files, "--data", url, "--json")["rows_added"] == 0
