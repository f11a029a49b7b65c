"""notebooks/explore.ipynb runs headless on the sample data and reproduces the report's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE_LOGS
from tierlens.config import load_settings
from tierlens.ingest import ingest


@pytest.mark.slow
def test_notebook_executes_and_shows_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    data = tmp_path / "data"
    ingest([SAMPLE_LOGS], load_settings(data_dir=data))
    monkeypatch.setenv("TIERLENS_DATA_DIR", str(data))
    nb = nbformat.read(REPO / "notebooks" / "explore.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "2026-W46" in printed  # the report period the notebook re-derived
    charts = [o for o in outputs if "application/vnd.vegalite.v5+json" in o.get("data", {}) or "text/html" in o.get("data", {})]
    assert len(charts) >= 3
