"""The command line: real commands through CliRunner, exit codes, help, config errors, docs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests import factories as f
from tests.conftest import REPO
from tierlens.cli import main


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_ingest_then_summary(write: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write(
        "a.jsonl",
        [
            f.logged(feature="chat", input_tokens=1000, output_tokens=100),
            "bad line",
            f.logged(feature="search", model="claude-haiku-4-5", input_tokens=1000),
        ],
    )
    res = run("ingest", str(path), "--data", str(data))
    assert res.exit_code == 0, res.output
    assert re.search(r"rows added\s+2", res.output) and re.search(
        r"rejected\s+1\s+\(invalid JSON: 1\)", res.output
    )
    summary = run("summary", "--data", str(data), "--format", "json")
    payload = json.loads(summary.output)
    assert payload["total_requests"] == 2
    assert payload["total_cost_usd"] == pytest.approx(
        (1000 * 3 + 100 * 15 + 1000 * 1 + 50 * 5) / 1e6, rel=1e-12
    )
    text = run("summary", "--data", str(data)).output
    assert "chat" in text and "search" in text and "By feature and tier" in text


def test_exit_codes(write: Any, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    bad = write("bad.jsonl", [f.logged(), "{"])
    assert run("ingest", str(bad), "--data", data, "--strict").exit_code == 3
    missing = run("ingest", str(tmp_path / "missing.jsonl"), "--data", data)
    assert (
        missing.exit_code == 3
        and "Error: no such file" in missing.output
        and "Traceback" not in missing.output
    )
    assert run("ingest", str(bad), "--data", data, "--format", "nope").exit_code == 2
    assert run("summary", "--data", str(tmp_path / "empty")).exit_code == 3


def test_unknown_config_key_suggests_the_right_one(tmp_path: Path) -> None:
    cfg = tmp_path / "tierlens.toml"
    cfg.write_text('data_dri = "x"\n[sources.anthropic_batch]\nended_att = "2026-01-01T00:00:00Z"\n')
    res = run("--config", str(cfg), "summary")
    assert res.exit_code == 2
    assert "did you mean 'data_dir'" in res.output and "did you mean 'ended_at'" in res.output


def test_precedence_flag_over_env_over_file(
    tmp_path: Path, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierlens.config import load_settings

    cfg = tmp_path / "tierlens.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "from-file"}"\n')
    assert load_settings(cfg).data_dir == tmp_path / "from-file"
    monkeypatch.setenv("TIERLENS_DATA_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("TIERLENS_SOURCES__CLAUDE_CODE__FEATURE", "dev-tools")
    s = load_settings(cfg)
    assert s.data_dir == tmp_path / "from-env" and s.sources.claude_code.feature == "dev-tools"
    assert load_settings(cfg, data_dir=tmp_path / "from-flag").data_dir == tmp_path / "from-flag"


def test_price_override_from_toml_prices_a_custom_model(tmp_path: Path, write: Any) -> None:
    cfg = tmp_path / "tierlens.toml"
    cfg.write_text('[[pricing.models]]\nmodel_id = "claude-nimbus-preview"\ninput = 2.0\noutput = 8.0\n')
    path = write("n.jsonl", [f.logged(model="claude-nimbus-preview", input_tokens=1000, output_tokens=100)])
    data = str(tmp_path / "data")
    assert run("--config", str(cfg), "ingest", str(path), "--data", data).exit_code == 0
    payload = json.loads(run("summary", "--data", data, "--format", "json").stdout)
    assert payload["unpriced_requests"] == 0
    assert payload["total_cost_usd"] == pytest.approx((1000 * 2 + 100 * 8) / 1e6, rel=1e-12)


def _commands() -> list[str]:
    return sorted(main.commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_with_an_example(command: str) -> None:
    res = run(command, "--help")
    assert res.exit_code == 0 and "Example" in res.output
    assert "%Y" not in res.output  # dates read YYYY-MM-DD, not a strftime pattern


def test_every_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [c for c in _commands() if f"tierlens {c}" not in readme]
    assert not missing


def test_root_help_documents_exit_codes() -> None:
    out = run("--help").output
    for code in ("0 ok", "1 finding", "2 usage", "3 input"):
        assert code in out


def test_schema_doc_is_generated_from_the_code() -> None:
    from tierlens.schema import markdown

    assert (REPO / "docs" / "schema.md").read_text() == markdown()


def test_signals_doc_is_generated_from_the_code() -> None:
    from tierlens.signals import signals_markdown

    assert (REPO / "docs" / "signals.md").read_text() == signals_markdown()


def test_import_tierlens_stays_light() -> None:
    code = (
        "import sys, tierlens; lf = tierlens.open; "
        "heavy = [m for m in ('click', 'altair', 'duckdb', 'pyspark') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_until_before_since_is_a_usage_error_on_every_command(sample_data: Path) -> None:
    with_period = [name for name, cmd in main.commands.items() if any(p.name == "since" for p in cmd.params)]
    assert {"summary", "report", "attribute", "reprice", "replay"} <= set(with_period)
    for name in with_period:
        out = CliRunner().invoke(
            main, [name, "--data", str(sample_data), "--until", "2026-11-01", "--since", "2026-11-10"]
        )
        assert out.exit_code == 2, (name, out.output)
        assert "is before --since" in out.output, name
