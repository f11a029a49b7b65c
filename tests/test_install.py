"""A plain wheel (not an editable checkout) carries everything the commands need."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this tree, unpacked as pip installs it, in a directory of its own."""
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip()[-300:]}")
    [wheel] = out.glob("tierlens-*.whl")
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    return target


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}
    env["PYTHONPATH"] = str(site)  # ahead of the editable checkout: the wheel's files, only them
    return subprocess.run(
        [sys.executable, "-m", "tierlens", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_the_wheel_runs_report_query_and_alert_from_anywhere(installed: Path, tmp_path: Path) -> None:
    where = run(installed, tmp_path, "--version")
    assert where.returncode == 0, where.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import tierlens; print(tierlens.__file__)"],
        env={**os.environ, "PYTHONPATH": str(installed)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(installed))  # not the checkout's src/
    data = tmp_path / "data"
    assert (
        run(installed, tmp_path, "ingest", str(ROOT / "sample_logs"), "--data", str(data), "-q").returncode
        == 0
    )
    report = run(installed, tmp_path, "report", "--data", str(data), "--format", "json")
    assert report.returncode == 0, report.stderr
    assert '"totals"' in report.stdout
    query = run(installed, tmp_path, "query", "spend_by_period", "--data", str(data), "--param", "grain=week")
    assert query.returncode == 0, query.stderr
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rule]]\nname = "weekly growth"\nkind = "growth"\nperiod = "week"\nwarn_pct = 1000\n')
    alert = run(
        installed,
        tmp_path,
        "alert",
        "--rules",
        str(rules),
        "--data",
        str(data),
        "--state",
        str(tmp_path / "s.json"),
    )
    assert alert.returncode in (0, 1, 2), alert.stderr


def test_a_missing_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from tierlens.errors import MissingExtraError, optional_module

    real = importlib.import_module

    def without_altair(name: str, *a: object) -> object:
        if name == "altair":
            raise ModuleNotFoundError(name)
        return real(name, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib, "import_module", without_altair)
    with pytest.raises(MissingExtraError, match=r"pip install 'tierlens\[charts\]'") as info:
        optional_module("altair", "charts")
    assert int(info.value.exit_code) == 2
