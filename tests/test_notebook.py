"""notebooks/explore.ipynb runs headless from any working directory and shows what it claims.

The notebook is executed with nbclient in a kernel whose working directory is not notebooks/:
- with TIERLENS_DATA_DIR set: the real notebook, nothing telling it where it lives (it finds the
  repo, for policies/, from the installed package);
- without it: a copy in a throwaway repo layout (sample_logs/ and policies/ linked in), located the
  way Jupyter Server tells a kernel (JPY_SESSION_NAME), so it builds the default dataset there from
  sample_logs/ and never writes into the real repo; a second run reuses what the first built.
A probe cell appended to the executed copy reads the kernel's variables back as JSON, so the test
checks what the key cells computed, not only that they printed something.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, SAMPLE_LOGS

NOTEBOOK = REPO / "notebooks" / "explore.ipynb"
CHART_CELLS = (
    "report",
    "report-features",
    "users-chart",
    "models-chart",
    "cache-chart",
    "cache-weekly",
    "drill-chart",
    "replay-chart",
)
PROBE = """
import json
print("PROBE " + json.dumps({
    "root": str(ROOT),
    "data": str(DATA),
    "users": by_user.height,
    "models": by_model["model_id"].to_list(),
    "cache_columns": prompt.columns,
    "cache_features": prompt.height,
    "finding": {"kind": finding.kind, "feature": finding.feature, "counted": finding.data.get("requests")},
    "about_rows": about.height,
    "about_features": sorted(about["feature"].unique().to_list()),
    "replay": type(replay).__name__,
    "policy": result.policy.name,
    "window": [str(replay.start), str(replay.end), str(flags.window_start), str(flags.window_end)],
    "savings": [tot["savings_p10"], tot["savings_p50"], tot["savings_p90"]],
    "touched": touched["feature"].to_list(),
}))
"""


def _execute(notebook: Path, cwd: Path) -> tuple[Any, dict[str, Any], str]:
    """Run `notebook` in a fresh kernel started in `cwd`; the executed notebook, the probe, the printed text."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE, id="test-probe"))
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n".join(e.ename + ": " + e.evalue for e in errors)
    printed = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    )
    [line] = [x for x in printed.splitlines() if x.startswith("PROBE ")]
    return nb, json.loads(line.removeprefix("PROBE ")), printed


def _check_shows(nb: Any, probe: dict[str, Any], printed: str) -> None:
    """What every run must show: the report, spend by user and model, caching, a drilled-down flag, a replay."""
    cells = {c.get("id"): c for c in nb.cells}
    for cid in CHART_CELLS:  # each chart cell displays its chart (Altair's HTML/Vega-Lite bundle)
        data = [
            o.get("data", {})
            for o in cells[cid].outputs
            if o.output_type in ("execute_result", "display_data")
        ]
        assert any(
            "vega" in d.get("text/html", "") or "application/vnd.vegalite.v5+json" in d for d in data
        ), cid
    assert "2026-W46" in printed  # the report period of the sample data
    assert probe["users"] > 1
    assert "claude-nimbus-preview" in probe["models"]  # the unpriced model is listed, not dropped
    assert {"uncached_input", "cache_write", "cache_read"} <= set(probe["cache_columns"])
    assert probe["cache_features"] > 1
    # the drill-down: the requests the flag is about, as many as the flag counted, all of its feature
    assert probe["finding"]["kind"] == "top_tier_structured"
    assert probe["about_rows"] > 0
    assert probe["about_rows"] == probe["finding"]["counted"]
    assert probe["about_features"] == [probe["finding"]["feature"]]
    # the replay: a range of savings over the flags' window, touching the flagged feature
    assert probe["replay"] == "ReplayResult"
    assert probe["policy"] == "short-structured-to-haiku"
    assert probe["window"][:2] == probe["window"][2:]
    low, mid, high = probe["savings"]
    assert 0 < low <= mid <= high
    assert probe["finding"]["feature"] in probe["touched"]
    assert "a month" in printed


@pytest.mark.slow
def test_notebook_runs_elsewhere_on_TIERLENS_DATA_DIR(
    sample_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERLENS_DATA_DIR", str(sample_data))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)  # nothing says where the notebook is
    cwd = Path.cwd()
    assert cwd != NOTEBOOK.parent
    nb, probe, printed = _execute(NOTEBOOK, cwd)
    assert probe["data"] == str(sample_data)
    assert f"data: {sample_data} (TIERLENS_DATA_DIR)" in printed
    assert Path(probe["root"]) == REPO
    _check_shows(nb, probe, printed)


@pytest.mark.slow
def test_notebook_builds_the_default_dataset_then_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    notebook = repo / "notebooks" / "explore.ipynb"
    shutil.copy(NOTEBOOK, notebook)
    (repo / "sample_logs").symlink_to(SAMPLE_LOGS, target_is_directory=True)
    (repo / "policies").symlink_to(REPO / "policies", target_is_directory=True)
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # as Jupyter Server sets it for a kernel
    default = (repo / "tierlens-data").resolve()

    nb, probe, printed = _execute(notebook, Path.cwd())
    assert Path(probe["root"]) == repo.resolve()
    assert probe["data"] == str(default)
    assert f"data: {default} (built now from sample_logs/" in printed
    assert (default / "requests").is_dir()
    _check_shows(nb, probe, printed)

    nb, probe, printed = _execute(notebook, Path.cwd())
    assert f"data: {default} (the repo's default dataset)" in printed
    _check_shows(nb, probe, printed)


def test_saved_notebook_is_clean_and_short() -> None:
    """Outputs cleared so diffs stay readable; every code cell short and under a markdown heading."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for c in code:
        assert c.outputs == [] and c.execution_count is None, c.id
        assert len(c.source.splitlines()) <= 25, c.id
    ids = [c.get("id") for c in nb.cells]
    assert set(CHART_CELLS) <= set(ids)
    assert nb.cells[0].cell_type == "markdown"
    assert sum(c.cell_type == "markdown" and c.source.startswith("## ") for c in nb.cells) >= 6
