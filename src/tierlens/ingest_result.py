"""What an ingest did: the counts it keeps as it goes (`IngestCounts`), the result it returns
(`IngestResult`), and the commit that fills one from the other (`finish`)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from tierlens.store.writer import Added, Staging, Store

if TYPE_CHECKING:
    from tierlens.store.delta import DeltaStore


@dataclass
class IngestResult:
    """What one ingest did. Every record read is added, a duplicate, skipped or rejected.

    A record is a line of JSON lines, a value (or array element) of a JSON document, or a CSV row;
    a record holding several rows (an API page, an OTLP export) counts each row.
    """

    ingest_id: str
    data_dir: str
    files: int = 0
    lines_read: int = 0
    rows_added: int = 0
    duplicates_skipped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    unpriced: dict[str, int] = field(default_factory=dict)
    total_cost_usd: float = 0.0
    formats: dict[str, int] = field(default_factory=dict)
    timestamps: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    """Rows priced as logged that the summary must qualify, by note (e.g. OpenLIT's missing cache tokens)."""
    repriced: dict[str, float | int] = field(default_factory=dict)
    """With `reprice`: what re-pricing the days of these logs changed (rows, cost before and after)."""
    files_skipped: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    """The files this ingest read (what to re-ingest if one of its stored files is lost)."""
    files_failed: list[str] = field(default_factory=list)
    """Files that could not be read to their end (name and why); the rest of the ingest committed."""
    seconds: float = 0.0
    records_read: int = 0
    split_rows: int = 0
    """Extra rows from requests whose cost attribution split across features."""
    logged_cost: dict[str, float | int] = field(default_factory=dict)
    """Rows whose log states a cost (LiteLLM spend, Claude Code costUSD): that total beside ours."""
    already_quarantined: int = 0
    """Rejected lines an earlier ingest already put in the quarantine (same file, line and
    content): counted in `rejected`, not added to the quarantine again."""
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds by stage where the engine reports them (Spark: `spark`, parsing, pricing and
    deduplication in Spark; `commit`, the driver's commit of what Spark kept)."""

    @property
    def new_rejects(self) -> int:
        """Rejected lines this ingest added to the quarantine."""
        return self.rejected_total - self.already_quarantined

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rejects"] = d["rejects"][:1000]
        return d


def not_quarantined(store: Store | DeltaStore, rejects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rejects no earlier ingest quarantined (a re-run of the same logs adds none twice)."""
    if not rejects:
        return rejects
    known = {(r.get("file"), r.get("line"), r.get("sha256")) for r in store.quarantined()}
    return [r for r in rejects if (r.get("file"), r.get("line"), r.get("sha256")) not in known]


@dataclass
class IngestCounts:
    """What an ingest counts as it goes: the requests it added (after deduplication), the rows
    written for them, and the lines it rejected."""

    rows_added: int = 0
    duplicates: int = 0
    cost_usd: float = 0.0
    unpriced: Counter[str] = field(default_factory=Counter)
    ts_sources: Counter[tuple[str, str]] = field(default_factory=Counter)
    split_rows: int = 0
    """Extra rows written because a request's cost was split across features."""
    logged_rows: int = 0
    """Rows added whose log states its own cost (LiteLLM spend, Claude Code costUSD)..."""
    logged_usd: float = 0.0
    """...that stated cost..."""
    logged_ours_usd: float = 0.0
    """...our price of the same rows (unpriced ones count 0)..."""
    logged_differing: int = 0
    """...and how many of them differ from ours by more than $0.000001."""
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def add(self, added: Added) -> None:
        """Count one staging: per request (how many, logged costs beside ours), then per row as
        written (cost, unpriced models, derived times)."""
        self.duplicates += added.duplicates
        requests, rows = added.requests, added.rows
        if requests.is_empty():
            return
        self.rows_added += requests.height
        self.split_rows += rows.height - requests.height
        logged = requests.filter(pl.col("logged_cost_usd").is_not_null())
        if logged.height:
            diff = (logged["logged_cost_usd"] - logged["cost_usd"].fill_null(0.0)).abs()
            self.logged_rows += logged.height
            self.logged_usd += float(logged["logged_cost_usd"].sum())
            self.logged_ours_usd += float(logged["cost_usd"].sum() or 0.0)
            self.logged_differing += int((diff > 1e-6).sum())
        self.cost_usd += float(rows["cost_usd"].sum() or 0.0)
        unpriced = rows.filter(~pl.col("priced"))
        if unpriced.height:
            self.unpriced.update(dict(unpriced.group_by("model").len().iter_rows()))
        derived = rows.filter(pl.col("ts_source") != "log")
        if derived.height:
            self.ts_sources.update(
                {(f, how): n for f, how, n in derived.group_by("source_file", "ts_source").len().iter_rows()}
            )


def finish(
    result: IngestResult,
    txn: Staging,
    counts: IngestCounts,
    store: Store | DeltaStore,
    started: float,
) -> None:
    """Fill `result` from the counts, quarantine the rejects not already there, and commit (what
    a concurrent writer on object storage stored first counts as duplicates)."""
    result.rows_added = counts.rows_added
    result.split_rows = counts.split_rows
    if counts.logged_rows:
        result.logged_cost = {
            "rows": counts.logged_rows,
            "logged_usd": counts.logged_usd,
            "our_usd": counts.logged_ours_usd,
            "rows_differing": counts.logged_differing,
        }
    result.duplicates_skipped += counts.duplicates
    result.total_cost_usd = counts.cost_usd
    result.rejected = dict(Counter(_reason_class(r["reason"]) for r in counts.rejects).most_common())
    new = not_quarantined(store, counts.rejects)
    result.already_quarantined = result.rejected_total - len(new)
    result.rejects = new
    result.unpriced = dict(counts.unpriced.most_common())
    result.timestamps = _timestamp_notes(counts.ts_sources)
    result.seconds = time.perf_counter() - started
    late = txn.commit(_summary(result), quarantine=new)
    result.rows_added -= late.rows
    result.duplicates_skipped += late.requests
    result.total_cost_usd -= late.cost_usd


def _timestamp_notes(sources: Counter[tuple[str, str]]) -> list[str]:
    """One note per way a timestamp was derived (not read from the log line itself)."""
    files: dict[str, set[str]] = {}
    rows: Counter[str] = Counter()
    for (name, how), n in sources.items():
        files.setdefault(how, set()).add(name)
        rows[how] += n
    words = {
        "bucket_start": "the start of their usage-report bucket (aggregate rows)",
        "batch_ended_at": "the batch's ended_at (sidecar batch object)",
        "option": "--batch-ended-at",
        "config": "sources.anthropic_batch.ended_at in the config",
        "file_mtime": "the file's modification time (the records carry no time: give --ts-from, "
        "or --batch-ended-at for batch results, to be exact)",
        "ingest_time": "the ingest time (no file time: give --ts-from or --batch-ended-at)",
    }
    return [
        f"{rows[how]:,} rows in {len(files[how])} file(s) timestamped from {words.get(how, how)}"
        for how in sorted(rows)
    ]


def _reason_class(reason: str) -> str:
    """Group rejects for the summary: 'invalid JSON: Expecting value at column 3' -> 'invalid JSON'."""
    head = reason.split(":")[0] if ":" in reason else reason
    if head.startswith("unparseable timestamp"):
        return "unparseable timestamp"
    if "expected" in reason and ":" in reason:
        return reason.split(", got")[0]
    return head


def _summary(r: IngestResult) -> dict[str, Any]:
    d = r.to_dict()
    d.pop("rejects")
    return d
