"""Alerts for cron: rules in TOML, evaluated over the dataset, delivered once per threshold per period.

Rule kinds: `budget` (actual or projected spend of a period against an amount, warn/critical %),
`growth` (a period's spend against the one before, per feature or in total), `anomaly` and
`signal` (findings of `tierlens.signals`), and `sql` (a query from queries/ whose rows are the
violations). Exit codes follow the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN) and reflect the *current* worst state; the state file only stops a sink from hearing
about the same alert twice in one period (`--renotify` repeats). Secrets (webhook URLs) come
from the environment and are never printed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tierlens.config import ENV_PREFIX, SECRET_SUFFIXES, BudgetConfig, Settings, names_a_secret
from tierlens.errors import ConfigError, TierlensError, did_you_mean
from tierlens.location import local_home
from tierlens.pricing import PriceTable
from tierlens.queries import get_query, run_query
from tierlens.signals import KINDS, daily_spend, find_flags, forecast
from tierlens.store.layout import snapshot
from tierlens.store.rollup import rollup_of

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
_LEVEL = {"warning": WARNING, "critical": CRITICAL}
# what a `signal` rule can name: anomalies and budgets have rules of their own, and an
# under-provisioned feature is a quality question, not spend to page anyone about
SIGNAL_KINDS = tuple(k for k in KINDS if k not in ("anomaly", "budget", "under_provisioned"))

AlertSeverity = Literal["warning", "critical"]
"""How bad an alert is: `critical` exits 2 and `warning` 1 (the monitoring-plugin convention)."""


def _level(pct: float, warn_pct: float, critical_pct: float) -> AlertSeverity | None:
    """The severity a percentage reaches against a rule's two thresholds (None below both)."""
    return "critical" if pct >= critical_pct else "warning" if pct >= warn_pct else None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class BudgetRule(_Rule):
    kind: Literal["budget"]
    amount: float = Field(gt=0)
    period: Literal["day", "week", "month"] = "month"
    warn_pct: float = 80.0
    critical_pct: float = 100.0
    use_forecast: bool = True
    feature: str | None = None
    model_id: str | None = None


class GrowthRule(_Rule):
    kind: Literal["growth"]
    period: Literal["day", "week", "month"] = "week"
    warn_pct: float = 25.0
    critical_pct: float = 50.0
    min_usd: float = 10.0
    by: Literal["total", "feature"] = "feature"


class AnomalyRule(_Rule):
    kind: Literal["anomaly"]
    severity: AlertSeverity = "warning"
    days: int = Field(default=2, ge=1)
    """Only anomalies on the last N days alert (older ones were already actionable before)."""


class SignalRule(_Rule):
    kind: Literal["signal"]
    signals: list[str] = []
    """Signal kinds (e.g. top_tier_structured, lost_caching); empty = every over-provisioning signal."""
    min_monthly_usd: float = 0.0
    severity: AlertSeverity = "warning"

    @field_validator("signals")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in SIGNAL_KINDS:
                tip = did_you_mean(name, SIGNAL_KINDS, f"known: {', '.join(SIGNAL_KINDS)}")
                raise ValueError(f"unknown signal {name!r} ({tip})")
        return value


class SqlRule(_Rule):
    kind: Literal["sql"]
    query: str
    params: dict[str, str] = {}
    """Values may be relative days: "-7d" is seven days before the evaluation day."""
    severity: AlertSeverity = "warning"


Rule = Annotated[BudgetRule | GrowthRule | AnomalyRule | SignalRule | SqlRule, Field(discriminator="kind")]


ALERT_LOG = Path("alerts") / "alerts.jsonl"
"""Where a file sink appends when it names no path: under the data directory, so a cron job writes
to the same file whatever directory it runs from."""


class Sink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["stdout", "file", "webhook"]
    path: Path | None = None
    """File sink: JSON lines appended here; relative to the data directory (default `ALERT_LOG`)."""
    url_env: str | None = None
    """Environment variable holding the webhook URL (the URL is a secret: it never goes in the file)."""
    timeout: float = Field(default=5.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)

    @field_validator("url_env")
    @classmethod
    def _not_a_setting(cls, value: str | None) -> str | None:
        # any other TIERLENS_* variable is taken for a mistyped setting (tierlens.config)
        if value and value.upper().startswith(ENV_PREFIX) and not names_a_secret(value):
            ends = ", ".join(SECRET_SUFFIXES)
            raise ValueError(f"a {ENV_PREFIX}* variable holding a secret must end in {ends}, not {value!r}")
        return value


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: list[Rule] = []
    sink: list[Sink] = [Sink(kind="stdout")]


@dataclass(frozen=True)
class Alert:
    """One alert a rule raised for a subject in a period (sent once per threshold and period)."""

    rule: str
    kind: str
    severity: AlertSeverity
    subject: str
    period: str
    message: str
    value: float | None = None
    threshold: float | None = None

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.subject}|{self.severity}|{self.period}"

    def line(self) -> str:
        return f"{self.severity.upper()} {self.rule}: {self.message}"


@dataclass
class Outcome:
    status: int
    alerts: list[Alert]
    fired: list[Alert]
    suppressed: int
    rules: int
    errors: list[str]


def load_rules(path: Path) -> Rules:
    """Parse and validate an alerts TOML file (errors name the rule and field)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read rules {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            msgs.append(f"{loc}: {e['msg']}")
        raise ConfigError(f"{path}: " + "; ".join(msgs)) from None
    if not rules.rule:  # a monitor that checks nothing would say OK forever
        raise ConfigError(f"{path}: no rules in it (add a [[rule]] table; see examples/alerts.toml)")
    names = [r.name for r in rules.rule]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{path}: rule names must be unique ({', '.join(sorted(dup))})")
    return rules


def _relative(value: str, as_of: date) -> str:
    m = re.fullmatch(r"-(\d+)d", value.strip())
    return (as_of - timedelta(days=int(m.group(1)))).isoformat() if m else value


def evaluate(
    rules: Rules,
    settings: Settings,
    as_of: date | None = None,
    *,
    lf: pl.LazyFrame | None = None,
    rollup: pl.LazyFrame | None = None,
    table: PriceTable | None = None,
) -> list[Alert]:
    """Every alert whose condition holds now (before de-duplication); `lf`, `rollup` and `table`:
    the dataset's scan, its daily rollup and the price table when the caller holds them (a
    `Workspace`). Spend sums read the rollup; the signals read the requests they single out."""
    if lf is None:
        snap = snapshot(settings.data_dir)
        lf, rollup = snap.requests(), snap.rollup()
    sums = rollup if rollup is not None else rollup_of(lf)
    newest: date | None = sums.select(pl.col("date").max()).collect().item()
    if newest is None:
        raise TierlensError(f"the dataset at {settings.data_dir} is empty")
    as_of = as_of or min(datetime.now(UTC).date(), newest + timedelta(days=1))
    table = table or PriceTable.load(settings.pricing)
    out: list[Alert] = []
    flags = daily = None
    for rule in rules.rule:
        if isinstance(rule, BudgetRule):
            # one pass over the last ten weeks serves every budget rule
            daily = (
                daily
                if daily is not None
                else daily_spend(sums.filter(pl.col("date") >= as_of - timedelta(days=70)))
            )
            out += _budget(rule, daily, as_of, newest)
        elif isinstance(rule, GrowthRule):
            out += _growth(rule, sums, as_of)
        elif isinstance(rule, (AnomalyRule, SignalRule)):
            kinds = _flag_kinds(rules)  # only the signals some rule reads are computed
            flags = flags or find_flags(
                None, settings.signals, settings.budgets, table, as_of, lf=lf, rollup=sums, kinds=kinds
            )
            out += _from_flags(rule, flags.findings, as_of)
        elif isinstance(rule, SqlRule):
            params = {k: _relative(v, as_of) for k, v in rule.params.items()}
            rows = run_query(get_query(rule.query), settings.data_dir, params, lf=lf, rollup=sums)
            for row in rows.iter_rows(named=True):
                subject = ", ".join(f"{k}={v}" for k, v in row.items() if not isinstance(v, float))[:200]
                out.append(
                    Alert(
                        rule.name,
                        "sql",
                        rule.severity,
                        subject,
                        as_of.isoformat(),
                        f"{rule.query}: {subject}",
                    )
                )
    return out


def _flag_kinds(rules: Rules) -> set[str]:
    """The kinds of finding the anomaly and signal rules read."""
    kinds: set[str] = set()
    for rule in rules.rule:
        if isinstance(rule, AnomalyRule):
            kinds.add("anomaly")
        elif isinstance(rule, SignalRule):
            kinds.update(rule.signals or set(SIGNAL_KINDS))
    return kinds


def _budget(rule: BudgetRule, rows: pl.DataFrame, as_of: date, newest: date) -> list[Alert]:
    """`rows`: `daily_spend` of the ten weeks before `as_of`."""
    b = BudgetConfig(
        name=rule.name, amount=rule.amount, period=rule.period, feature=rule.feature, model_id=rule.model_id
    )
    fc = forecast(rows, as_of, [b], newest)[0]
    value = fc.projected_usd if rule.use_forecast else fc.spent_usd
    pct = 100 * value / rule.amount
    level = _level(pct, rule.warn_pct, rule.critical_pct)
    if level is None:
        return []
    what = "projected" if rule.use_forecast else "spent"
    scope = rule.feature or rule.model_id or "all spend"
    msg = (
        f"{what} ${value:,.2f} of ${rule.amount:,.2f} ({pct:.0f}%) for {rule.period} {fc.period_start}..{fc.period_end} "
        f"({scope}; ${fc.spent_usd:,.2f} spent, data until {fc.data_until})"
    )
    threshold = rule.critical_pct if level == "critical" else rule.warn_pct
    return [Alert(rule.name, "budget", level, scope, fc.period_start, msg, value, threshold)]


def _growth(rule: GrowthRule, rows: pl.LazyFrame, as_of: date) -> list[Alert]:
    from tierlens.report.windows import windows

    current, previous = windows(rule.period, as_of, history=1)
    before = previous[0]
    keys = ["feature"] if rule.by == "feature" else []

    def spend(lo: date, hi: date) -> pl.DataFrame:
        part = rows.filter(pl.col("date").is_between(lo, hi)).with_columns(
            pl.col("feature").fill_null("(unattributed)")
        )
        if keys:
            return part.group_by(keys).agg(pl.col("cost_usd").sum()).collect()
        return part.select(pl.col("cost_usd").sum()).collect().with_columns(feature=pl.lit("all spend"))

    both = spend(current.start, current.end).join(
        spend(before.start, before.end), on="feature", suffix="_before"
    )
    out = []
    for feat, now, then in both.select("feature", "cost_usd", "cost_usd_before").iter_rows():
        if not then or now is None or now - then < rule.min_usd:
            continue
        pct = 100 * (now - then) / then
        level = _level(pct, rule.warn_pct, rule.critical_pct)
        if level:
            msg = f"{feat}: ${now:,.2f} in {current.start}..{current.end}, {pct:+.0f}% on ${then:,.2f} the {rule.period} before"
            out.append(
                Alert(
                    rule.name,
                    "growth",
                    level,
                    str(feat),
                    current.start.isoformat(),
                    msg,
                    pct,
                    rule.critical_pct if level == "critical" else rule.warn_pct,
                )
            )
    return out


def _from_flags(rule: AnomalyRule | SignalRule, findings: list[Any], as_of: date) -> list[Alert]:
    out = []
    iso = as_of.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    for f in findings:
        if isinstance(rule, AnomalyRule):
            if f.kind != "anomaly" or date.fromisoformat(f.data["date"]) < as_of - timedelta(days=rule.days):
                continue
            out.append(
                Alert(
                    rule.name,
                    "anomaly",
                    rule.severity,
                    f"{f.feature}/{f.model}",
                    f.data["date"],
                    f.title,
                    f.monthly_usd,
                )
            )
        else:
            if f.kind in ("anomaly", "budget", "under_provisioned"):
                continue
            if rule.signals and f.kind not in rule.signals:
                continue
            if (f.monthly_usd or 0.0) < rule.min_monthly_usd:
                continue
            msg = f"{f.title} (~${f.monthly_usd:,.2f}/month, {f.confidence} confidence)"
            out.append(
                Alert(rule.name, f.kind, rule.severity, f"{f.kind}:{f.feature}", week, msg, f.monthly_usd)
            )
    return out


# --- state and delivery ------------------------------------------------------------------------------


def _load_state(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.get("notified", {}).items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise TierlensError(f"unreadable alert state {path}: {exc}") from None


def _save_state(path: Path, notified: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"notified": notified}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def redact_url(url: str) -> str:
    """A webhook URL as it may be shown: scheme and host only (the path and query hold the token)."""
    parts = urllib.parse.urlsplit(url.strip()) if url.strip() else None
    host = (parts.hostname or "") if parts else ""
    return f"{parts.scheme}://{host}/…" if parts and parts.scheme and host else "(a malformed URL)"


def check_webhook_url(url: str) -> str | None:
    """Why `url` cannot be posted to (never quoting it), or None when it can."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "it contains whitespace or control characters"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "it does not start with https:// (or http://)"
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "its port is not a number"
    return None if parts.hostname else "it names no host"


def post_webhook(url: str, payload: dict[str, Any], timeout: float, retries: int) -> None:
    """POST JSON with a timeout, retrying with backoff; errors never include the URL past its host."""
    problem = check_webhook_url(url)
    if problem:
        raise ConfigError(f"the webhook URL ({redact_url(url)}) is malformed: {problem}")
    body = json.dumps(payload).encode("utf-8")
    last = ""
    for attempt in range(retries + 1):
        req = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if 200 <= resp.status < 300:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # a client error will not succeed on retry
        except (urllib.error.URLError, TimeoutError, OSError, ValueError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            last = type(reason).__name__ if not isinstance(reason, str) else "connection failed"
        if attempt < retries:
            time.sleep(min(0.5 * 2**attempt, 4.0))
    raise TierlensError(
        f"webhook delivery to {redact_url(url)} failed after {retries + 1} attempt(s): {last}"
    )


def sink_file(sink: Sink, data_dir: str | Path) -> Path:
    """The file a file sink appends to: its path as given when absolute, else under the dataset's
    `local_home` (its directory; for one on object storage, a local state directory)."""
    path = (sink.path or ALERT_LOG).expanduser()
    return path if path.is_absolute() else local_home(data_dir) / path


def _append_lines(path: Path, alerts: list[Alert]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for a in alerts:
            fh.write(json.dumps({"at": stamp, **asdict(a)}) + "\n")


ALERT_FORMATS = ("text", "table", "markdown", "json", "csv")


def render_alerts(alerts: list[Alert], fmt: str) -> str:
    """What the stdout sink prints: `text` is one line per alert (for cron mail and log greps);
    table, markdown, json and csv carry every field of each alert."""
    if fmt == "text":
        return "\n".join(a.line() for a in alerts)
    if fmt == "json":
        return json.dumps([asdict(a) for a in alerts], indent=2)
    from tierlens.render import render_frame

    schema = {f.name: pl.Float64 if f.name in ("value", "threshold") else pl.String for f in fields(Alert)}
    frame = pl.DataFrame([asdict(a) for a in alerts], schema=schema)
    shown = ("severity", "rule", "kind", "subject", "period", "value", "threshold", "message")
    return render_frame(frame.select(shown), fmt)


def deliver(
    alerts: list[Alert], sinks: list[Sink], fmt: str, echo: Any, *, data_dir: str | Path
) -> list[str]:
    """Send alerts to every sink; returns errors (a failed sink does not stop the others).
    `data_dir`: where a file sink's relative path points."""
    errors = []
    for sink in sinks:
        try:
            if sink.kind == "stdout":
                echo(render_alerts(alerts, fmt))
            elif sink.kind == "file":
                _append_lines(sink_file(sink, data_dir), alerts)
            elif sink.kind == "webhook":
                url = os.environ.get(sink.url_env or "", "")
                if not url:
                    raise ConfigError(f"webhook sink: environment variable {sink.url_env!r} is not set")
                text = "\n".join(a.line() for a in alerts)
                post_webhook(
                    url, {"text": text, "alerts": [asdict(a) for a in alerts]}, sink.timeout, sink.retries
                )
        except TierlensError as exc:
            errors.append(f"{sink.kind} sink: {exc}")
        except Exception as exc:
            # the message of an unexpected error may quote a secret (a URL): name its type only
            errors.append(f"{sink.kind} sink: {type(exc).__name__}")
    return errors


def run_alerts(
    rules_path: Path,
    settings: Settings,
    *,
    state_path: Path | None = None,
    renotify: bool = False,
    as_of: date | None = None,
    fmt: str = "text",
    echo: Any = print,
    lf: pl.LazyFrame | None = None,
    rollup: pl.LazyFrame | None = None,
    table: PriceTable | None = None,
) -> Outcome:
    """Evaluate, de-duplicate against the state file, deliver, and return the monitoring status."""
    rules = load_rules(rules_path)
    alerts = evaluate(rules, settings, as_of, lf=lf, rollup=rollup, table=table)
    state_path = state_path or local_home(settings.data_dir) / "_meta" / "alert_state.json"
    notified = _load_state(state_path)
    fresh = [a for a in alerts if renotify or a.key not in notified]
    errors = deliver(fresh, rules.sink, fmt, echo, data_dir=settings.data_dir) if fresh else []
    if fresh and len(errors) < len(rules.sink):  # told at least one sink: not again this period
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for a in fresh:
            notified[a.key] = stamp
        with contextlib.suppress(OSError):
            _save_state(state_path, notified)
    status = max([_LEVEL[a.severity] for a in alerts], default=OK)
    if errors and status == OK:
        status = UNKNOWN  # nothing is wrong with spend, but we could not tell anyone about it
    return Outcome(status, alerts, fresh, len(alerts) - len(fresh), len(rules.rule), errors)
