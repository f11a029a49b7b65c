"""Every README example, run from a fresh venv holding the plain wheel (with its charts extra), in
a directory that is not the checkout: the outputs the README shows are what the commands print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import readme_examples as readme

TEXT = readme.README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a new venv with `pip install <wheel>[charts]`, as a user installs tierlens."""
    where = tmp_path_factory.mktemp("venv")
    wheels = where / "wheels"
    steps = [
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(readme.ROOT), "-w", str(wheels)],
        [sys.executable, "-m", "venv", str(where / "env")],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode:
            _unavailable(f"{step[2]}: {done.stderr.strip()[-300:]}")
    [wheel] = wheels.glob("tierlens-*.whl")
    pip = [str(where / "env" / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[charts]"]
    done = subprocess.run(pip, capture_output=True, text=True, check=False)
    if done.returncode:
        _unavailable(f"pip install: {done.stderr.strip()[-300:]}")
    return where / "env" / "bin"


def _unavailable(why: str) -> None:
    assert not os.environ.get("CI"), why  # CI has PyPI: there, not installing is a failure
    pytest.skip(f"cannot install the wheel here: {why}")


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return readme.user_directory(tmp_path_factory.mktemp("user"))


@pytest.fixture(scope="module")
def printed(venv: Path, user_dir: Path) -> dict[readme.Example, str]:
    return readme.outputs(venv, user_dir, readme.examples(TEXT))


def test_the_readme_holds_examples_with_their_output() -> None:
    found = readme.examples(TEXT)
    commands = [e.command.split()[1] for e in found if e.command.startswith("tierlens ")]
    assert {"ingest", "report", "summary", "flags", "alert", "replay"} <= set(commands)
    assert all(e.shown for e in found)


@pytest.mark.slow
def test_the_wheel_is_what_runs(venv: Path, user_dir: Path) -> None:
    probe = readme.run(venv, user_dir, "python -c 'import tierlens; print(tierlens.__file__)'")
    assert str(venv.parent) in probe.stdout and str(readme.ROOT / "src") not in probe.stdout


@pytest.mark.slow
def test_every_shown_output_is_what_the_command_prints(printed: dict[readme.Example, str]) -> None:
    wrong = {e.command: e.differences(out) for e, out in printed.items() if e.differences(out)}
    assert not wrong, f"README output is stale (python -m tests.readme_examples --write): {wrong}"


@pytest.mark.slow
@pytest.mark.parametrize("command", readme.shell_lines(TEXT))
def test_every_command_line_example_ends_with_a_message_not_a_traceback(
    command: str, venv: Path, user_dir: Path, printed: dict[readme.Example, str]
) -> None:
    done = readme.run(venv, user_dir, command)  # after `printed`: the dataset is ingested
    assert done.returncode in (0, 1, 2, 3), done.stdout
    assert "Traceback" not in done.stdout and "internal error" not in done.stdout
    if done.returncode >= 2:
        assert done.stderr.strip(), command  # said why


@pytest.mark.slow
@pytest.mark.parametrize("block", readme.python_blocks(TEXT), ids=lambda b: b.split("\n")[0][:40])
def test_every_python_example_runs(
    block: str, venv: Path, user_dir: Path, printed: dict[readme.Example, str]
) -> None:
    done = subprocess.run(
        [str(venv / "python"), "-c", block],
        cwd=user_dir,
        env=readme.environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
