"""Open a page in headless Chromium and read back each chart's container after Vega ran.

The HTML pages mark a chart's `<div id="chart-NAME">` with `data-rendered="true"` (and
`data-points`) once Vega has drawn it. Chromium comes from Debian's package, which .ci/run
installs: under CI a missing browser is a failure, on a developer machine a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def chart_containers(html: str, tmp_path: Path) -> dict[str, str]:
    """chart name -> the rendered `<div ...>...` of its container, as Chromium's DOM holds it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        assert not os.environ.get("CI"), "CI must install Debian's chromium (see .ci/run)"
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "page.html"
    page.write_text(html)
    profile = f"--user-data-dir={tmp_path / 'chromium-profile'}"
    dom = subprocess.run(
        [browser, *FLAGS, profile, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    out = {}
    for tag in dom.split("<div")[1:]:
        head = tag.split(">")[0]
        if 'id="chart-' in head:
            out[head.split('id="chart-')[1].split('"')[0]] = tag
    return out


def rendered(tag: str) -> bool:
    head = tag.split(">")[0]
    return 'data-rendered="true"' in head and "<svg" in tag


def points(tag: str) -> int:
    head = tag.split(">")[0]
    return int(head.split('data-points="')[1].split('"')[0]) if 'data-points="' in head else 0
