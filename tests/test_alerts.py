"""Alerts for cron: exit codes 0/1/2/3, fire once per period, sinks (file, webhook on loopback)."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from tests import factories as f
from tests.conftest import REPO
from tierlens.alerts import load_rules, post_webhook, sink_file
from tierlens.cli import main
from tierlens.config import load_settings
from tierlens.errors import TierlensError
from tierlens.ingest import ingest


def alert(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["alert", *args], env=env, catch_exceptions=False)


def rules(tmp_path: Path, body: str) -> str:
    path = tmp_path / "alerts.toml"
    path.write_text(body)
    return str(path)


BUDGET = """
[[rule]]
name = "month"
kind = "budget"
amount = {amount}
"""


@pytest.mark.parametrize(
    ("amount", "code", "word"), [(5000.0, 0, None), (700.0, 1, "WARNING"), (500.0, 2, "CRITICAL")]
)
def test_budget_exit_codes(
    amount: float, code: int, word: str | None, sample_data: Path, tmp_path: Path
) -> None:
    # November 2026 projects to ~$635 on the sample data
    res = alert(
        "--rules",
        rules(tmp_path, BUDGET.format(amount=amount)),
        "--data",
        str(sample_data),
        "--state",
        str(tmp_path / "state.json"),
    )
    assert res.exit_code == code, res.output
    if word:
        assert res.output.startswith(f"{word} month: projected $")
    else:
        assert res.output == ""


def test_fires_once_per_period_unless_renotify(sample_data: Path, tmp_path: Path) -> None:
    args = [
        "--rules",
        rules(tmp_path, BUDGET.format(amount=500.0)),
        "--data",
        str(sample_data),
        "--state",
        str(tmp_path / "s.json"),
    ]
    first, second = alert(*args), alert(*args)
    assert first.output.count("CRITICAL month") == 1
    assert "CRITICAL month" not in second.stdout
    assert second.exit_code == 2  # the state is still critical; only the notification is not repeated
    assert "1 already sent this period" in second.stderr
    assert alert(*args, "--renotify").output.count("CRITICAL month") == 1


def test_every_rule_kind_and_the_file_sink(sample_data: Path, tmp_path: Path) -> None:
    body = """
[[rule]]
name = "growth"
kind = "growth"
warn_pct = 25
min_usd = 10

[[rule]]
name = "anomalies"
kind = "anomaly"
days = 30

[[rule]]
name = "waste"
kind = "signal"
signals = ["lost_caching"]

[[rule]]
name = "unpriced"
kind = "sql"
query = "unpriced_models"
params = { since = "-7d" }
severity = "critical"

[[sink]]
kind = "file"
path = "%s"
""" % (tmp_path / "alerts.jsonl")
    res = alert(
        "--rules", rules(tmp_path, body), "--data", str(sample_data), "--state", str(tmp_path / "s.json")
    )
    assert res.exit_code == 2
    sent = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    got = {(a["rule"], a["severity"]) for a in sent}
    assert got == {
        ("growth", "warning"),
        ("anomalies", "warning"),
        ("waste", "warning"),
        ("unpriced", "critical"),
    }
    growth = next(a for a in sent if a["rule"] == "growth")
    assert growth["subject"] == "doc-summarizer" and growth["value"] == pytest.approx(36.7176, rel=1e-4)
    assert next(a for a in sent if a["rule"] == "unpriced")["subject"].startswith(
        "model=claude-nimbus-preview"
    )


SEVERAL = """
[[rule]]
name = "month"
kind = "budget"
amount = 500

[[rule]]
name = "growth"
kind = "growth"
warn_pct = 25
min_usd = 10
"""


def test_alerts_in_every_output_format_carry_the_same_alerts(sample_data: Path, tmp_path: Path) -> None:
    path = rules(tmp_path, SEVERAL)
    seen = {}
    for fmt in ("text", "table", "markdown", "json", "csv"):
        res = alert(
            "--rules",
            path,
            "--data",
            str(sample_data),
            "--state",
            str(tmp_path / f"{fmt}.json"),
            "--format",
            fmt,
        )
        assert res.exit_code == 2, res.output
        seen[fmt] = res.stdout
    sent = json.loads(seen["json"])
    assert {(a["rule"], a["severity"]) for a in sent} == {("month", "critical"), ("growth", "warning")}
    assert seen["text"].splitlines() == [f"{a['severity'].upper()} {a['rule']}: {a['message']}" for a in sent]
    rows = list(csv.DictReader(io.StringIO(seen["csv"])))
    assert [(r["rule"], r["subject"], float(r["value"])) for r in rows] == [
        (a["rule"], a["subject"], pytest.approx(a["value"])) for a in sent
    ]
    lines = seen["markdown"].splitlines()
    assert lines[0].startswith("| severity | rule |") and len(lines) == 2 + len(sent)
    assert seen["table"].splitlines()[0].split()[:3] == ["severity", "rule", "kind"]
    assert all(a["subject"] in seen["table"] for a in sent)


def test_alerts_written_to_a_file_replace_it_and_keep_stdout_empty(sample_data: Path, tmp_path: Path) -> None:
    path, out = rules(tmp_path, SEVERAL), tmp_path / "alerts.csv"
    out.write_text("left from an earlier run\n")
    res = alert(
        "--rules", path, "--data", str(sample_data), "--state", str(tmp_path / "s.json"), "-o", str(out)
    )
    assert res.exit_code == 2 and res.stdout == ""
    assert [r["rule"] for r in csv.DictReader(out.open())] == ["month", "growth"]
    bad = alert("--rules", path, "--data", str(sample_data), "-o", str(tmp_path / "alerts.xlsx"))
    assert bad.exit_code == 3 and "UNKNOWN" in bad.stderr and "--format" in bad.stderr


@pytest.fixture
def small_data(tmp_path: Path, write: Any) -> Path:
    """A dataset of its own (alerts may write into it), one request of September 2026."""
    data = tmp_path / "data"
    ingest([write("a.jsonl", [f.logged()])], load_settings(data_dir=data))
    return data


@pytest.mark.parametrize(
    ("sink_path", "written"),
    [
        (None, "data/alerts/alerts.jsonl"),  # no path: under the data directory
        ("log/spend.jsonl", "data/log/spend.jsonl"),  # relative: against the data directory
        ("{tmp}/elsewhere/spend.jsonl", "elsewhere/spend.jsonl"),  # absolute: as given
    ],
)
def test_the_file_sink_writes_beside_the_data_not_in_the_working_directory(
    sink_path: str | None, written: str, small_data: Path, tmp_path: Path
) -> None:
    body = BUDGET.format(amount=0.000001) + '\n[[sink]]\nkind = "file"\n'
    if sink_path is not None:
        body += f'path = "{sink_path.format(tmp=tmp_path)}"\n'
    res = alert("--rules", rules(tmp_path, body), "--data", str(small_data))
    assert res.exit_code == 2, res.output
    sent = [json.loads(x) for x in (tmp_path / written).read_text().splitlines()]
    assert [a["rule"] for a in sent] == ["month"]
    assert not any(Path.cwd().iterdir())  # the directory cron runs from gets nothing


def test_the_example_rules_load_and_log_under_the_data_directory(tmp_path: Path) -> None:
    rules_ = load_rules(REPO / "examples" / "alerts.toml")
    [file_sink] = [s for s in rules_.sink if s.kind == "file"]
    assert sink_file(file_sink, tmp_path / "data") == tmp_path / "data" / "alerts" / "alerts.jsonl"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[[rule]]\nname = 'x'\nkind = 'budget'\n", "amount"),
        ("[[rule]]\nname = 'x'\nkind = 'weather'\n", "kind"),
        ("[[rule]\n", "Expected"),
        (
            "[[rule]]\nname = 'x'\nkind = 'budget'\namount = 1\n[[rule]]\nname = 'x'\nkind = 'anomaly'\n",
            "unique",
        ),
        # a typo'd signal would otherwise match nothing and say OK forever
        (
            "[[rule]]\nname = 'x'\nkind = 'signal'\nsignals = ['lost_cacheing']\n",
            "did you mean 'lost_caching'?",
        ),
        ("[[rule]]\nname = 'x'\nkind = 'signal'\nsignals = ['weather']\n", "known: lost_caching"),
        ("# nothing here yet\n", "no rules in it"),
        ("[[sink]]\nkind = 'stdout'\n", "no rules in it"),
        # any other TIERLENS_* variable is a setting, and a mistyped one at that
        (
            "[[rule]]\nname = 'x'\nkind = 'anomaly'\n[[sink]]\nkind = 'webhook'\nurl_env = 'TIERLENS_HOOK'\n",
            "must end in _URL, _WEBHOOK",
        ),
    ],
)
def test_bad_rules_are_unknown_not_a_traceback(
    body: str, message: str, sample_data: Path, tmp_path: Path
) -> None:
    res = alert("--rules", rules(tmp_path, body), "--data", str(sample_data))
    assert res.exit_code == 3 and res.stderr.startswith("UNKNOWN: ") and message in res.stderr
    assert "Traceback" not in res.output


def test_unreadable_data_and_usage_errors_are_unknown(tmp_path: Path) -> None:
    res = alert("--rules", rules(tmp_path, BUDGET.format(amount=1)), "--data", str(tmp_path / "missing"))
    assert res.exit_code == 3 and "no dataset" in res.stderr
    assert alert("--no-such-flag").exit_code == 3


# --- the webhook sink against a local HTTP server ----------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received, _Hook.fail_first = [], 0
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/secret-token"
    server.shutdown()


def test_webhook_posts_slack_json_and_retries(hook: str, sample_data: Path, tmp_path: Path) -> None:
    _Hook.fail_first = 1
    body = (
        BUDGET.format(amount=500.0)
        + '\n[[sink]]\nkind = "webhook"\nurl_env = "HOOK_URL"\nretries = 2\ntimeout = 5\n'
    )
    res = alert(
        "--rules",
        rules(tmp_path, body),
        "--data",
        str(sample_data),
        "--state",
        str(tmp_path / "s.json"),
        env={"HOOK_URL": hook},
    )
    assert res.exit_code == 2
    assert len(_Hook.received) == 1 and _Hook.received[0]["text"].startswith("CRITICAL month: projected")
    assert _Hook.received[0]["alerts"][0]["rule"] == "month"


def test_a_webhook_secret_may_be_a_tierlens_variable(hook: str, sample_data: Path, tmp_path: Path) -> None:
    body = BUDGET.format(amount=500.0) + '\n[[sink]]\nkind = "webhook"\nurl_env = "TIERLENS_SLACK_WEBHOOK"\n'
    res = alert(
        "--rules",
        rules(tmp_path, body),
        "--data",
        str(sample_data),
        "--state",
        str(tmp_path / "s.json"),
        env={"TIERLENS_SLACK_WEBHOOK": hook},
    )
    assert res.exit_code == 2, res.output
    assert [a["rule"] for a in _Hook.received[0]["alerts"]] == ["month"]


def test_webhook_failure_never_prints_the_secret_url(hook: str, sample_data: Path, tmp_path: Path) -> None:
    _Hook.fail_first = 10
    body = BUDGET.format(amount=500.0) + '\n[[sink]]\nkind = "webhook"\nurl_env = "HOOK_URL"\nretries = 1\n'
    res = alert(
        "--rules",
        rules(tmp_path, body),
        "--data",
        str(sample_data),
        "--state",
        str(tmp_path / "s.json"),
        env={"HOOK_URL": hook},
    )
    assert "webhook delivery to http://127.0.0.1/… failed after 2 attempt(s): HTTP 503" in res.stderr
    assert "secret-token" not in res.output and "services" not in res.output  # nothing after the host
    # not recorded as sent: the next run tries again
    assert not (tmp_path / "s.json").exists()
    with pytest.raises(TierlensError, match=r"connection failed|URLError|ConnectionRefusedError"):
        post_webhook("http://127.0.0.1:9/secret-token", {"text": "x"}, timeout=1, retries=0)


@pytest.mark.parametrize(
    "url",
    [
        "hooks.example.com/services/T0/B0/secret-token",  # no scheme
        "https://hooks.example.com:port/services/secret-token",  # a port that is no number
        "https://hooks.example.com/services/secret-token \n",  # whitespace pasted along
        "https://hooks.example.com/ser vices/secret-token",
    ],
)
def test_a_malformed_webhook_url_is_never_printed_and_the_other_sinks_still_run(
    url: str, sample_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "alerts.jsonl"
    body = (
        BUDGET.format(amount=500.0)
        + '\n[[sink]]\nkind = "webhook"\nurl_env = "HOOK_URL"\nretries = 0\n'
        + f'\n[[sink]]\nkind = "file"\npath = "{out}"\n'
    )
    state = tmp_path / "s.json"
    res = alert(
        "--rules",
        rules(tmp_path, body),
        "--data",
        str(sample_data),
        "--state",
        str(state),
        env={"HOOK_URL": url},
    )
    assert "secret-token" not in res.output and "services" not in res.output
    assert "webhook sink" in res.stderr and "malformed" in res.stderr
    assert res.exit_code == 2  # the exit code follows the worst alert (CRITICAL), not the sink
    assert out.read_text().count('"rule": "month"') == 1  # the sink after the failed one ran
    assert state.exists()  # told one sink: not told again this period
