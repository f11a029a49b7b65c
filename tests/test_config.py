"""The environment is as strict as tierlens.toml: a TIERLENS_* variable names a setting or is an error,
except the variables tierlens reads that are not settings and the secrets alert sinks read."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tierlens.cli import main
from tierlens.config import NON_SETTING_VARIABLES, load_settings
from tierlens.errors import ConfigError


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("TIERLENS_DATA_DIRR", "TIERLENS_DATA_DIR"),
        ("TIERLENS_CHUNK_BYTE", "TIERLENS_CHUNK_BYTES"),
        ("TIERLENS_SIGNAL__ANOMALY_Z", "TIERLENS_SIGNALS__ANOMALY_Z"),  # a typo before the `__`
        ("TIERLENS_CONFG", "TIERLENS_CONFIG"),
        ("tierlens_datadir", "TIERLENS_DATA_DIR"),  # settings are read whatever the case
    ],
)
def test_a_mistyped_variable_is_an_error_naming_the_one_meant(
    variable: str, meant: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(variable, str(tmp_path))
    with pytest.raises(
        ConfigError, match=rf"unknown environment variable '{variable}' \(did you mean '{meant}'\?\)"
    ):
        load_settings()


def test_a_variable_like_no_setting_lists_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERLENS_SLACK_HOOK", "https://hooks.example.com/x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "unknown environment variable 'TIERLENS_SLACK_HOOK'" in message
    assert "TIERLENS_DATA_DIR" in message and "_WEBHOOK" in message


def test_settings_non_settings_and_secrets_are_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "tierlens.toml"
    config.write_text("[signals]\nanomaly_z = 5.0\n")
    for name in NON_SETTING_VARIABLES:
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("TIERLENS_CONFIG", str(config))
    monkeypatch.setenv("TIERLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TIERLENS_SIGNALS__MIN_MONTHLY_USD", "7")
    monkeypatch.setenv("TIERLENS_SLACK_WEBHOOK", "https://hooks.example.com/services/secret")
    monkeypatch.setenv("TIERLENS_PAGER_URL", "https://pager.example.com/secret")
    s = load_settings()
    assert s.data_dir == tmp_path / "data"
    assert (s.signals.anomaly_z, s.signals.min_monthly_usd) == (5.0, 7.0)


def test_a_nested_typo_is_still_caught_by_its_own_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERLENS_SIGNALS__MIN_MONTHLY_USDD", "7")
    with pytest.raises(
        ConfigError, match=r"unknown setting 'signals.min_monthly_usdd' \(did you mean 'min_monthly_usd'\?\)"
    ):
        load_settings()


def test_the_cli_says_so_with_the_usage_exit_code(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["summary", "--data", str(tmp_path)], env={"TIERLENS_DATA_DIRR": "/x"})
    assert res.exit_code == 2
    assert "did you mean 'TIERLENS_DATA_DIR'?" in res.stderr and "Traceback" not in res.output
