"""Fuzzed logs: every line classified the same on both parse paths and at every chunk size.

`tests/fuzzing.py` builds good lines of every JSON-lines format (varied from the real records of
tests/realworld and tests/fixtures/formats, each with its cost computed from list prices typed
there) and mutated ones: truncated, not UTF-8, lone surrogates, wrong JSON types, objects where
an id or a model is expected, 2,000-deep nesting, huge and negative counts, timestamps in every
unit and out of range, NaN, blank and non-object lines, very long lines.

- `test_fuzzed_lines_*`: one file per example, ingested whole (fast path and exact path) and cut at
  a random chunk size (both paths again): the same rows (dedupe key, cost, tokens), the same rejects
  (line, reason) in every run; each good line stored at its cost, each bad line rejected, never a
  marker of a mutated value in a reason, the quarantine or the dataset; the counts add up.
  `FUZZ_EXAMPLES` (environment) sets the examples per reader (default 2; the slow variant runs `FUZZ_SLOW_EXAMPLES`, 3).
- `test_a_hundred_thousand_fuzzed_lines_through_the_cli` (slow): the CLI over many files of several
  formats with a truncated `.gz`, a file that vanishes after listing and an unreadable one.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tierlens
from tests.fuzzing import CHEAP_KINDS, KINDS, MARK, READERS, Fuzzer, FuzzLine, build_corpus, write_lines
from tierlens.config import Settings
from tierlens.ingest import IngestResult, ingest
from tierlens.schema import TOKEN_COLUMNS

WHOLE = 1 << 30
"""A chunk size larger than any file here: the file is parsed as one chunk."""
TOKENS = list(TOKEN_COLUMNS)
KEY = ["source_line", "dedupe_key", "cost_usd", *TOKENS]
QUARANTINE_KEYS = {"file", "line", "reason", "bytes", "sha256", "format", "ingest_id"}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))
SLOW_EXAMPLES = int(os.environ.get("FUZZ_SLOW_EXAMPLES", "3"))
"""Examples per reader of the slow variant (CI); raise it for a longer hunt."""
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
"""An example costs seconds (four ingests): shrinking one would take minutes, and a failure already
names each line at fault with its kind and what every run did with it."""
MULTI_ROW = {"otel", "openai_usage", "anthropic_usage"}
"""Readers whose records may hold several rows (or rows and skipped spans)."""


# --- one ingest, and what it did to each line --------------------------------------------------


@dataclass
class Run:
    label: str
    result: IngestResult
    rows: pl.DataFrame
    """KEY columns of the stored rows, sorted."""
    stored: pl.DataFrame
    """Every stored column."""
    rejects: list[tuple[int, str]]
    data: Path

    def outcome(self, line: int) -> str:
        if line in self._kept:
            return "keep"
        if line in self._rejected:
            return "reject: " + "; ".join(self._rejected[line])
        return "skip"

    def __post_init__(self) -> None:
        self._kept = set(self.rows["source_line"].to_list())
        self._rejected: dict[int, list[str]] = defaultdict(list)
        for line, reason in self.rejects:
            self._rejected[line].append(reason)


def run(path: Path, data: Path, fmt: str | None, chunk: int, exact: bool) -> Run:
    result = ingest([path], Settings(data_dir=data, chunk_bytes=chunk), format=fmt, force_exact=exact)
    stored = tierlens.open(data).collect() if (data / "requests").exists() else pl.DataFrame()
    schema = {k: pl.Int64 for k in KEY} | {"dedupe_key": pl.String, "cost_usd": pl.Float64}
    rows = stored.select(KEY) if stored.height else pl.DataFrame(schema=schema)
    rows = rows.sort(["source_line", "dedupe_key"], nulls_last=True)
    rejects = sorted((r["line"], r["reason"]) for r in result.rejects)
    label = f"{'exact' if exact else 'fast'} path, chunk {'whole file' if chunk == WHOLE else f'{chunk:,} B'}"
    return Run(label, result, rows, stored, rejects, data)


def per_line(rows: pl.DataFrame) -> dict[int, tuple[int, tuple[int, ...], float | None]]:
    """line -> (rows, summed tokens, summed cost or None when a row is unpriced)."""
    out: dict[int, tuple[int, tuple[int, ...], float | None]] = {}
    agg = rows.group_by("source_line").agg(
        pl.len().alias("n"),
        *[pl.col(t).sum() for t in TOKENS],
        pl.col("cost_usd").sum().alias("cost"),
        pl.col("cost_usd").is_null().any().alias("unpriced"),
    )
    for r in agg.to_dicts():
        out[r["source_line"]] = (r["n"], tuple(r[t] for t in TOKENS), None if r["unpriced"] else r["cost"])
    return out


def describe(lines: Sequence[FuzzLine], runs: Sequence[Run], numbers: Sequence[int], limit: int = 12) -> str:
    out = []
    for n in numbers[:limit]:
        fl = lines[n - 1]
        seen = "\n        ".join(f"{r.label}: {r.outcome(n)}" for r in runs)
        out.append(f"  line {n} [{fl.kind}, expected {fl.expect}] {fl.data[:90]!r}\n        {seen}")
    more = len(numbers) - limit
    return "\n".join(out) + (f"\n  ... and {more} more line(s)" if more > 0 else "")


# --- the checks (each returns what is wrong, so that one failure reports every problem) ---------


def check_same(runs: Sequence[Run], lines: Sequence[FuzzLine]) -> list[str]:
    """Every run stores the same rows and rejects the same lines for the same reasons as the first
    (the whole file on the fast path)."""
    problems = []
    n_lines = range(1, len(lines) + 1)
    differ = [n for n in n_lines if len({r.outcome(n) for r in runs}) > 1]
    if differ:
        kinds = sorted({lines[n - 1].kind for n in differ})
        problems.append(
            f"{len(differ)} line(s) classified differently by path or chunk size (kinds: {', '.join(kinds)}):\n"
            + describe(lines, runs, differ)
        )
    base = runs[0].rows.with_columns(pl.col("cost_usd").round(12))
    for r in runs[1:]:
        other = r.rows.with_columns(pl.col("cost_usd").round(12))
        if base.equals(other):
            continue
        rows_differ = sorted(
            set(base.join(other, on=KEY, how="anti", nulls_equal=True)["source_line"].to_list())
            | set(other.join(base, on=KEY, how="anti", nulls_equal=True)["source_line"].to_list())
        )
        rows_differ = [n for n in rows_differ if n not in differ]
        if rows_differ:
            problems.append(
                f"stored rows (key, cost, tokens) differ between '{runs[0].label}' and '{r.label}':\n"
                + describe(lines, [runs[0], r], rows_differ)
            )
    return problems


def check_expected(r: Run, lines: Sequence[FuzzLine]) -> list[str]:
    """Good lines stored with their cost (to 1e-6 USD), bad lines rejected, skipped lines skipped."""
    got = per_line(r.rows)
    wrong = []
    for n, fl in enumerate(lines, 1):
        if fl.expect == "either":
            continue
        if fl.expect == "keep":
            stored = got.get(n)
            priced = stored is not None and (
                fl.cost is None or (stored[2] is not None and abs(stored[2] - fl.cost) <= 1e-6)
            )
            if stored is None or stored[:2] != (fl.rows, fl.tokens) or not priced:
                wrong.append(n)
        elif r.outcome(n).split(":")[0] != fl.expect:
            wrong.append(n)
    if not wrong:
        return []
    detail = []
    for n in wrong[:12]:
        fl = lines[n - 1]
        stored = got.get(n)
        want = f" (rows {fl.rows}, tokens {fl.tokens}, ${fl.cost})" if fl.expect == "keep" else ""
        detail.append(
            f"  line {n} [{fl.kind}] expected {fl.expect}{want}, got {r.outcome(n)} {stored or ''}: {fl.data[:90]!r}"
        )
    kinds = sorted({lines[n - 1].kind for n in wrong})
    return [
        f"{len(wrong)} line(s) not classified as expected ({r.label}; kinds: {', '.join(kinds)}):\n"
        + "\n".join(detail)
    ]


def check_no_text(r: Run, lines: Sequence[FuzzLine], raw: Sequence[bytes]) -> list[str]:
    """No reason, quarantine record or journal repeats a mutated value; rejected values are not stored;
    every quarantine record names its line by length and SHA-256 only."""
    problems = []
    for line, reason in r.rejects:
        # any part of a marker counts: its fixed prefix alone is already a piece of the value
        if MARK in reason:
            problems.append(
                f"the reject reason of line {line} repeats a mutated value ({r.label}): {reason!r}"
            )
    records = []
    for q in (r.data / "quarantine").glob("*.jsonl"):
        records += [json.loads(x) for x in q.read_text(encoding="utf-8").splitlines()]
    if len(records) != len(r.rejects):
        problems.append(f"{len(records)} quarantine records for {len(r.rejects)} rejects ({r.label})")
    for rec in records:
        if not set(rec) <= QUARANTINE_KEYS:
            problems.append(f"quarantine record with extra fields: {sorted(set(rec) - QUARANTINE_KEYS)}")
        text = raw[rec["line"] - 1]
        if rec["bytes"] != len(text) or rec["sha256"] != hashlib.sha256(text).hexdigest():
            problems.append(f"the quarantine record of line {rec['line']} does not describe it ({r.label})")
    texts = [p for p in r.data.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".txt", ".log")]
    for p in texts:
        if MARK in p.read_text(encoding="utf-8", errors="replace"):
            problems.append(f"{p.relative_to(r.data)} holds a mutated value ({r.label})")
    markers = [fl.marker for fl in lines if fl.marker]
    if r.stored.height:
        kept = {fl.marker for n, fl in enumerate(lines, 1) if fl.marker and r.outcome(n) == "keep"}
        gone = [m for m in markers if m not in kept]
        strings = [c for c, t in r.stored.schema.items() if t == pl.String]
        if gone and strings:
            pattern = "|".join(re.escape(m) for m in gone)
            hits = r.stored.filter(pl.any_horizontal(pl.col(strings).str.contains(pattern).fill_null(False)))
            if hits.height:
                problems.append(
                    f"a rejected line's value is stored ({r.label}): lines {hits['source_line'].to_list()}"
                )
    return problems


def check_counts(r: Run, n_lines: int, fmt: str) -> list[str]:
    """lines = rows + duplicates + skipped + rejects, as the result's own counts say."""
    res = r.result
    accounted = res.rows_added + res.duplicates_skipped + sum(res.skipped.values()) + res.rejected_total
    problems = []
    if res.records_read != accounted - res.split_rows:
        problems.append(
            f"records {res.records_read} != rows + duplicates + skipped + rejects {accounted} ({r.label})"
        )
    if res.lines_read != n_lines:
        problems.append(f"{res.lines_read} lines read of {n_lines} ({r.label})")
    if fmt not in MULTI_ROW and res.records_read != res.lines_read:
        problems.append(f"{res.records_read} records for {res.lines_read} lines ({r.label})")
    if res.rows_added != r.stored.height:
        problems.append(f"rows_added {res.rows_added}, stored {r.stored.height} ({r.label})")
    return problems


# --- a. every reader, both paths, any chunk size ------------------------------------------------

chunk_sizes = st.integers(10, 17).flatmap(lambda e: st.integers(2**e, 2 ** (e + 1) - 1))
"""1 KiB .. 256 KiB, log-uniform (small chunks are where the boundaries fall)."""
kinds = st.lists(st.one_of(st.just("good"), st.sampled_from(KINDS)), min_size=3, max_size=16)
many_kinds = st.lists(st.one_of(st.just("good"), st.sampled_from(KINDS)), min_size=3, max_size=40)


def check_file(
    fmt: str, seed: int, line_kinds: list[str], chunk: int, tmp: Path, pad: int = 0, cut_exact: bool = True
) -> None:
    """Ingest one fuzzed file whole (fast and exact path) and cut into `chunk`-byte chunks (fast path,
    and exact path unless `cut_exact` is False: the exact path reads line by line, so only stream
    assembly and deduplication see its chunks); report every problem at once."""
    fz = Fuzzer(fmt, seed, pad=pad)
    lines = fz.lines(line_kinds)
    path = write_lines(tmp / f"{fmt}.jsonl", lines)
    raw = path.read_bytes().split(b"\n")[:-1]
    assert len(raw) == len(lines)
    runs = [
        run(path, tmp / "whole-fast", fmt, WHOLE, False),
        run(path, tmp / "whole-exact", fmt, WHOLE, True),
        run(path, tmp / "cut-fast", fmt, chunk, False),
    ]
    if cut_exact:
        runs.append(run(path, tmp / "cut-exact", fmt, chunk, True))
    problems = [p for r in runs for p in check_counts(r, len(lines), fmt)]
    problems += check_same(runs, lines)
    problems += check_expected(runs[0], lines)
    problems += [p for r in runs for p in check_no_text(r, lines, raw)]
    if problems:
        pytest.fail(f"{fmt}, {len(lines)} lines:\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("fmt", READERS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=NO_SHRINK)
@given(seed=st.integers(0, 2**32 - 1), line_kinds=kinds, chunk=chunk_sizes)
def test_fuzzed_lines_classify_alike_on_both_paths_and_any_chunk_size(
    fmt: str, seed: int, line_kinds: list[str], chunk: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_file(fmt, seed, line_kinds, chunk, tmp_path_factory.mktemp(fmt))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", READERS)
@settings(
    max_examples=SLOW_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=NO_SHRINK
)
@given(seed=st.integers(0, 2**32 - 1), line_kinds=many_kinds, chunk=chunk_sizes)
def test_fuzzed_lines_classify_alike_many_examples(
    fmt: str, seed: int, line_kinds: list[str], chunk: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_file(fmt, seed, line_kinds, chunk, tmp_path_factory.mktemp(fmt))


ALONE = [k for k in KINDS if k != "long_line"]


@pytest.mark.parametrize("fmt", READERS)
def test_every_kind_of_fuzzed_line_alone_in_its_chunk(fmt: str, tmp_path: Path) -> None:
    """Each kind of fuzzed line between good lines, every record padded to 1 KiB and the file cut into
    1 KiB chunks: each record is then alone in its chunk (a short line shares one with the next), so
    the fast path judges it on its own. A failure names the kinds at fault."""
    line_kinds = [k for kind in ALONE for k in ("good", kind)]
    check_file(fmt, 20261201, line_kinds, 1024, tmp_path, pad=1024, cut_exact=False)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", READERS)
@pytest.mark.parametrize("seed", [1])
def test_every_kind_of_fuzzed_line_alone_more_variants(fmt: str, seed: int, tmp_path: Path) -> None:
    """The same with other variants of each kind (other fields, values and spellings), both paths cut."""
    line_kinds = [k for kind in ALONE for k in ("good", kind, kind)]
    check_file(fmt, seed, line_kinds, 1024, tmp_path, pad=1024)


# --- b. 100,000 fuzzed lines through the command line -------------------------------------------

CLI_SCALE = float(os.environ.get("FUZZ_CLI_SCALE", "1"))
"""x the 200,000 lines (100,000 fuzzed) of the CLI scenario (a smaller scale for a quick look)."""
TRUNCATED = "gateway/truncated.jsonl.gz"
VANISHING = "openai/vanishing.jsonl"
UNREADABLE = "bedrock/unreadable.jsonl"


def broken_files(root: Path, seed: int = 7) -> dict[str, list[FuzzLine]]:
    """Beside the corpus: a `.gz` cut two thirds of the way through, and a file that will vanish."""
    fz = Fuzzer("anthropic_messages", seed + 100)
    cut = fz.mixed(max(int(20_000 * CLI_SCALE), 200), 0.3, kinds=CHEAP_KINDS)
    whole = gzip.compress(b"".join(x.data + b"\n" for x in cut), mtime=0)
    (root / TRUNCATED).parent.mkdir(parents=True, exist_ok=True)
    (root / TRUNCATED).write_bytes(whole[: len(whole) * 2 // 3])
    vanishing = Fuzzer("openai", seed + 101).mixed(100, 0.0)
    write_lines(root / VANISHING, vanishing)
    return {TRUNCATED: cut, VANISHING: vanishing}


def fuzzed_count(files: dict[str, list[FuzzLine]]) -> int:
    return sum(fl.kind != "good" for lines in files.values() for fl in lines)


def make_unreadable(path: Path) -> str:
    """An unreadable log file: mode 000, or (as root, who reads anyway) a link to a file whose
    first read fails (`/proc/self/mem` at address 0 is unmapped: EIO)."""
    if os.geteuid() != 0:
        path.write_text('{"type": "message"}\n')
        path.chmod(0)
        return "mode 000"
    if not Path("/proc/self/mem").exists():
        pytest.skip("running as root without /proc: no way to make an unreadable file")
    path.symlink_to("/proc/self/mem")
    return "link to /proc/self/mem"


@pytest.mark.slow
def test_a_hundred_thousand_fuzzed_lines_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import tierlens.logfiles as logfiles
    from tierlens.cli import main

    logs = tmp_path / "logs"
    files = build_corpus(logs, scale=CLI_SCALE)
    assert fuzzed_count(files) >= 100_000 * CLI_SCALE
    files |= broken_files(logs)
    make_unreadable(logs / UNREADABLE)
    config = tmp_path / "tierlens.toml"
    config.write_text(f"chunk_bytes = {1 << 20}\n")
    data = tmp_path / "data"

    real = logfiles.resolve_inputs

    def listed_then_deleted(paths: Any, ignored: Any = None) -> list[str]:
        found = real(paths, ignored)
        if (logs / VANISHING).exists():
            assert any(f.endswith(VANISHING) for f in found)
            (logs / VANISHING).unlink()  # deleted between listing and reading
        return found

    monkeypatch.setattr(logfiles, "resolve_inputs", listed_then_deleted)
    args = ["--config", str(config), "ingest", str(logs), "--data", str(data), "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 3, res.output[-3000:]
    out = json.loads(res.stdout)

    failed = {next(n for n in (TRUNCATED, VANISHING, UNREADABLE) if n in f): f for f in out["files_failed"]}
    assert set(failed) == {TRUNCATED, VANISHING, UNREADABLE}, out["files_failed"]
    m = re.search(r"after line (\d+)", failed[TRUNCATED])
    assert m, failed[TRUNCATED]
    read_upto = int(m.group(1))
    assert 0 < read_upto < len(files[TRUNCATED])
    assert out["formats"] == {
        "anthropic_messages": 3,
        "openai": 1,
        "bedrock": 1,
        "litellm": 1,
        "otel": 1,
        "anthropic_batch": 1,
        "openai_usage": 1,
        "anthropic_usage": 1,
        "claude_code": 1,
    }, out["formats"]

    readable = {name: lines for name, lines in files.items() if name != VANISHING}
    read = {name: read_upto if name == TRUNCATED else len(lines) for name, lines in readable.items()}
    assert out["lines_read"] == sum(read.values())
    accounted = out["rows_added"] + out["duplicates_skipped"] + sum(out["skipped"].values())
    assert out["records_read"] == accounted + sum(out["rejected"].values()) - out["split_rows"]

    stored = tierlens.open(data).collect()
    rel = pl.col("source_file").str.strip_prefix(f"{logs}/")
    rows_of = {name: g for (name,), g in stored.with_columns(source_file=rel).partition_by("source_file", as_dict=True).items()}  # fmt: skip
    assert VANISHING not in rows_of
    rejects: dict[tuple[str, int], list[str]] = defaultdict(list)
    for q in (data / "quarantine").glob("*.jsonl"):
        for record in map(json.loads, q.read_text(encoding="utf-8").splitlines()):
            assert set(record) <= QUARANTINE_KEYS and record["reason"], record
            rejects[(Path(record["file"]).relative_to(logs).as_posix(), record["line"])].append(
                record["reason"]
            )
    wrong: list[str] = []
    for name, lines in readable.items():
        got = per_line(rows_of[name]) if name in rows_of else {}
        assert max(got, default=0) <= read[name], f"{name}: rows past its last readable line"
        assert max((n for f, n in rejects if f == name), default=0) <= read[name], (
            f"{name}: rejects past the end"
        )
        for n, fl in enumerate(lines[: read[name]], 1):
            seen = (
                "stored"
                if n in got
                else f"rejected ({rejects[(name, n)][0]})"
                if (name, n) in rejects
                else "skipped"
            )
            if fl.expect == "keep":
                g = got.get(n)
                priced = g is not None and (
                    fl.cost is None or (g[2] is not None and abs(g[2] - fl.cost) <= 1e-6)
                )
                if g is None or g[:2] != (fl.rows, fl.tokens) or not priced:
                    wrong.append(
                        f"{name}:{n} [{fl.kind}] expected stored at ${fl.cost}, got {seen} {g or ''}"
                    )
            elif fl.expect in ("reject", "skip") and not seen.startswith(fl.expect[:4]):
                wrong.append(f"{name}:{n} [{fl.kind}] expected {fl.expect}ed, got {seen}")
    # a reject is named by file, line and reason; its text (here: a marker) is nowhere
    body = "\n".join(q.read_text() for q in (data / "quarantine").glob("*.jsonl"))
    assert MARK not in body, "the quarantine holds a mutated value"
    assert MARK not in res.output, "the command's output holds a mutated value"

    monkeypatch.setattr(logfiles, "resolve_inputs", real)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 3, again.output[-3000:]
    second = json.loads(again.stdout)
    assert second["rows_added"] == 0
    assert tierlens.open(data).collect().height == stored.height
    # last, so that a misclassified line does not hide the checks above
    assert not wrong, f"{len(wrong)} line(s) misclassified:\n" + "\n".join(wrong[:40])
