"""The one way into a tierlens data directory: its settings, its price table, one scan of its
committed snapshot, and every analysis as a method returning a typed result.

    import tierlens
    ws = tierlens.Workspace("tierlens-data")
    ws.summary().total_cost_usd
    ws.report(grain="month").findings
    ws.flags().findings
    ws.requests.group_by("feature").agg(pl.col("cost_usd").sum()).collect()

The command line builds one per command. Reads share the scan (`requests`), taken once, so every
figure of one call comes from the same snapshot even while a writer commits; writes (`ingest`,
`attribute`, `reprice`, `doctor(repair=True)`) go through the store's transaction, and the
next read after them sees the new snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tierlens.config import Settings, load_settings
from tierlens.location import location

if TYPE_CHECKING:
    import polars as pl

    from tierlens.alerts import Outcome
    from tierlens.attribution import AttributionRun
    from tierlens.ingest import IngestResult
    from tierlens.pricing import PriceTable
    from tierlens.quality import QualityIngest
    from tierlens.reconcile import Reconciliation
    from tierlens.replay import BacktestResult, ReplayResult
    from tierlens.report.model import Report
    from tierlens.reprice import RepriceRun
    from tierlens.signals import Flags
    from tierlens.store.delta import TableSnapshot
    from tierlens.store.doctor import Checkup
    from tierlens.store.layout import Snapshot
    from tierlens.summary import SpendSummary
    from tierlens.trial import TrialResult


class Workspace:
    """A data directory with its settings: the place to start, in a notebook or a command."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        settings: Settings | None = None,
        config: str | Path | None = None,
    ) -> None:
        """`data_dir` overrides the settings' (which come from `config`, else tierlens.toml and
        TIERLENS_* as documented, unless `settings` are given)."""
        settings = settings or load_settings(Path(config) if config else None)
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": location(data_dir)})
        self.settings = settings

    @property
    def data_dir(self) -> Path | str:
        """The dataset's directory, or its URL on object storage (`s3://bucket/prefix`)."""
        return self.settings.data_dir

    @cached_property
    def table(self) -> PriceTable:
        """The price table in force (built-in, corrected, with tierlens.toml's prices)."""
        from tierlens.pricing import PriceTable

        return PriceTable.load(self.settings.pricing)

    @cached_property
    def snapshot(self) -> Snapshot | TableSnapshot:
        """The committed snapshot every read of this workspace sees (until it writes)."""
        from tierlens.store.layout import snapshot

        return snapshot(self.data_dir)

    @cached_property
    def requests(self) -> pl.LazyFrame:
        """The dataset's current snapshot as one LazyFrame (canonical columns plus `date`)."""
        return self.snapshot.requests()

    @cached_property
    def rollup(self) -> pl.LazyFrame:
        """The same snapshot summed per day, feature, model, tier and priced-or-not
        (`tierlens.store.rollup`): what the report, the flags' first pass and alerts read. Read
        once, into memory: it is a few rows per day and cell whatever the number of requests,
        and the report asks it some twenty questions (each would open every rollup file again)."""
        return self.snapshot.rollup().collect().lazy()

    @cached_property
    def judgments(self) -> pl.DataFrame:
        """The quality judgments of `ingest --quality` joined to the requests they judge, on a 0..1
        scale (`tierlens.quality.evidence.judged`); empty when there are none."""
        from tierlens.quality import judged, stored_quality

        stored = stored_quality(self.data_dir)
        return judged(stored, self.requests, self.settings.signals, self.table.aliases)

    def _written(self) -> None:
        """A write committed: the next read takes the new snapshot."""
        for name in ("snapshot", "requests", "rollup", "judgments"):
            self.__dict__.pop(name, None)

    # -- reads ---------------------------------------------------------------------------------------

    def summary(
        self,
        since: date | None = None,
        until: date | None = None,
        *,
        period: str = "week",
        by: Sequence[str] = ("feature", "tier"),
    ) -> SpendSummary:
        """Spend by `period` (day, week, month) and the `by` dimensions (feature, tier, model, user,
        project, session, key, workspace), with tokens by category."""
        from tierlens.summary import spend_summary

        return spend_summary(self.requests, since, until, period=period, by=by)

    def report(self, **options: Any) -> Report:
        """The spend report (`tierlens.report.model.build_report` options: grain, since, until, by,
        as_of, engine, history, chart_periods, top)."""
        from tierlens.report import build_report

        return build_report(
            self.data_dir,
            table=self.table,
            signals=self.settings.signals,
            lf=self.requests,
            rollup=self.rollup,
            judgments=self.judgments,
            **options,
        )

    def flags(self, as_of: date | None = None, *, since: date | None = None) -> Flags:
        """Every signal over the window before `as_of` (the configured lookback, or from `since`)."""
        from tierlens.errors import ConfigError
        from tierlens.signals import find_flags
        from tierlens.trial.result import stored_trials

        cfg = self.settings.signals
        if since is not None:
            if as_of is None:
                raise ConfigError("a window start needs its end (as_of) too")
            days = (as_of - since).days
            if days < 7:
                raise ConfigError(
                    f"the signals need a window of at least 7 days; {since}..{as_of} has {days}"
                )
            cfg = cfg.model_copy(update={"lookback_days": days})
        return find_flags(
            None,
            cfg,
            self.settings.budgets,
            self.table,
            as_of,
            lf=self.requests,
            rollup=self.rollup,
            judgments=self.judgments,
            trials=stored_trials(self.data_dir),
        )

    def alert(self, rules: Path, **options: Any) -> Outcome:
        """Evaluate and deliver alert rules (`tierlens.alerts.run_alerts` options)."""
        from tierlens.alerts import run_alerts

        return run_alerts(
            rules, self.settings, lf=self.requests, rollup=self.rollup, table=self.table, **options
        )

    def replay(self, policies: Sequence[str | Path], **options: Any) -> ReplayResult | BacktestResult:
        """Replay (or backtest) routing policies (`tierlens.replay.run` options)."""
        from tierlens.quality.evidence import Bench
        from tierlens.replay import run
        from tierlens.trial.result import TrialEvidence, stored_trials

        judged = self.judgments
        trials = TrialEvidence.of(stored_trials(self.data_dir))
        bench = (
            Bench.of(judged, self.settings.signals, options.get("since"), options.get("until"))
            if not judged.is_empty()
            else None
        )
        return run(
            self.data_dir, policies, table=self.table, lf=self.requests, bench=bench, trials=trials, **options
        )

    def trial(self, policy: str | Path, logs: Sequence[str | Path], **options: Any) -> TrialResult:
        """Send a sample of the requests `policy` moves (bodies read from `logs`) to its target
        models and keep what came back (`tierlens.trial.run_trial` options: sample, max_usd,
        dry_run, concurrency, seed, judge, senders)."""
        from tierlens.replay import load_policies
        from tierlens.trial import run_trial

        [loaded] = load_policies([policy], self.table)
        return run_trial(self.data_dir, self.requests, loaded, logs, self.table, **options)

    def reconcile(self, cost_reports: Sequence[str | Path] = (), **options: Any) -> Reconciliation:
        """Against the provider's cost report files, or (none given) against the logs' own costs."""
        from tierlens.reconcile import reconcile_cost_report, reconcile_logged

        if cost_reports:
            return reconcile_cost_report(self.data_dir, list(cost_reports), lf=self.requests, **options)
        return reconcile_logged(self.data_dir, lf=self.requests, **options)

    def query(self, name: str, params: dict[str, Any] | None = None, engine: str = "polars") -> pl.DataFrame:
        """A named query of `queries/`, bound to `params`, on an engine."""
        from tierlens.queries import get_query, run_query

        return run_query(get_query(name), self.data_dir, params, engine, lf=self.requests, rollup=self.rollup)

    def rejects(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Quarantined lines, most recent ingest first: file, line, reason, bytes, sha256 (no text)."""
        from tierlens.store import open_store

        store = open_store(self.data_dir)
        store.require()  # no dataset here is an error, not an empty quarantine
        rows = store.quarantined(limit)
        return rows[:limit] if limit is not None else rows

    def price_versions(self) -> dict[str, int]:
        """Rows by the price-table version that priced them (read from the rollup)."""
        import polars as pl

        counts = (
            self.rollup.group_by(pl.col("price_version").fill_null("(none)"))
            .agg(pl.col("rows").sum())
            .collect()
        )
        return {str(v): int(n) for v, n in counts.sort("price_version").iter_rows()}

    def stale_rows(self) -> int:
        """Rows priced by another table than the one in force (`reprice` updates them)."""
        return sum(n for v, n in self.price_versions().items() if v != self.table.version)

    # -- writes --------------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        stdin: IO[bytes] | None = None,
        engine: str = "embedded",
        master: str | None = None,
        **options: Any,
    ) -> IngestResult:
        """Ingest logs (`tierlens.ingest.ingest` options: format, strict, ts_from, reprice, ...),
        in this process or, with `engine="spark"`, on Spark (`tierlens.spark_ingest`; `master`:
        its master URL, `SPARK_REMOTE` for Spark Connect); both give the same dataset."""
        try:
            if engine == "spark":
                from tierlens.spark_ingest import ingest_on_spark

                options.pop("progress", None)  # Spark reports its own stages
                return ingest_on_spark(paths, self.settings, master=master, **options)
            from tierlens.ingest import ingest

            return ingest(paths, self.settings, stdin=stdin, **options)
        finally:
            self._written()

    def ingest_quality(self, paths: Sequence[str | Path]) -> QualityIngest:
        """Ingest quality files (eval scores, thumbs, escalations), kept apart from the cost rows."""
        from tierlens.errors import StoreError
        from tierlens.quality import ingest_quality

        try:
            requests: pl.LazyFrame | None = self.requests
        except StoreError:  # judgments may come before the logs they judge
            requests = None
        try:
            return ingest_quality(paths, self.data_dir, requests=requests)
        finally:
            self._written()

    def attribute(self, *, dry_run: bool = False) -> AttributionRun:
        from tierlens.attribution import reattribute

        try:
            return reattribute(self.data_dir, self.settings.attribution, dry_run=dry_run)
        finally:
            self._written()

    def reprice(self, **options: Any) -> RepriceRun:
        """Re-price stored requests with the table in force (options: since, until, model, dry_run)."""
        from tierlens.reprice import reprice

        try:
            return reprice(self.data_dir, self.table, **options)
        finally:
            self._written()

    def doctor(self, *, repair: bool = False) -> Checkup:
        from tierlens.store.doctor import checkup

        try:
            return checkup(self.data_dir, repair=repair)
        finally:
            self._written()

    def __repr__(self) -> str:
        return f"Workspace({str(self.data_dir)!r})"
