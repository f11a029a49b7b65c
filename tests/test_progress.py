"""Progress on a terminal: share done, rows/s and ETA on one redrawn line; nothing elsewhere."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests import factories as f
from tierlens.cli import main
from tierlens.config import load_settings
from tierlens.ingest import ingest
from tierlens.progress import Progress, terminal_progress


def test_the_line_says_how_far_how_fast_and_how_long() -> None:
    p = Progress(total=4 * 1024**2, stream=io.StringIO())
    line = p.line(done=1024**2, rows=50_000, seconds=10.0)
    assert line == "ingest: 50,000 rows, 25% of 4.0 MB, 5,000 rows/s, ETA 30s"
    assert p.line(done=0, rows=0, seconds=0.0) == "ingest: 0 rows, 0 rows/s"  # nothing known yet


def test_an_ingest_reports_progress_and_clears_the_line(write: Any, tmp_path: Path) -> None:
    lines = [f.logged(ts=f"2026-09-{1 + i % 28:02d}T10:00:00Z", feature="chat") for i in range(3000)]
    path = write("many.jsonl", lines)
    shown = io.StringIO()
    progress = Progress(total=0, stream=shown, every=0.0)  # redraw on every batch
    settings = load_settings(data_dir=tmp_path / "data").model_copy(update={"chunk_bytes": 64 * 1024})
    result = ingest([path], settings, progress=progress)
    assert progress.total == path.stat().st_size
    drawn = [part for part in shown.getvalue().split("\r") if part.strip()]
    assert drawn and all(d.startswith("ingest: ") and "rows/s" in d for d in drawn)
    assert any("%" in d and "ETA" in d for d in drawn)
    assert shown.getvalue().endswith("\r")  # cleared: the summary starts on a clean line
    assert result.rows_added == 3000


def test_no_progress_in_a_pipe_or_under_quiet(write: Any, tmp_path: Path) -> None:
    assert terminal_progress(100, quiet=True) is None
    path = write("a.jsonl", [f.logged(feature="chat")])
    res = CliRunner().invoke(main, ["ingest", str(path), "--data", str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0 and "rows/s" not in res.stderr
    assert json.loads(res.stdout)["rows_added"] == 1


def test_a_replay_reports_its_draws_policy_by_policy(tmp_path: Path) -> None:
    from tierlens.workspace import Workspace

    data = tmp_path / "data"
    rows = [
        f.logged(ts=f"2026-09-{1 + i % 28:02d}T10:00:00Z", feature="chat", model="claude-opus-4-1-20250805")
        for i in range(40)
    ]
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ingest([path], load_settings(data_dir=data))
    shown = io.StringIO()
    progress = Progress(total=0, what="replay", stream=shown, every=0.0, unit="draws")
    policies = Path(__file__).resolve().parents[1] / "policies"
    result = Workspace(data).replay([policies], draws=50, progress=progress)
    n = len(result.policies)  # type: ignore[union-attr]
    assert n > 1 and progress.total == n * 50
    drawn = [part for part in shown.getvalue().split("\r") if part.strip()]
    assert drawn[-1].startswith(f"replay: {n * 50:,} draws, 100% of {n * 50:,}")
    assert shown.getvalue().endswith("\r")


def test_a_report_reports_its_steps(write: Any, tmp_path: Path) -> None:
    from tierlens.report.model import REPORT_STEPS
    from tierlens.workspace import Workspace

    data = tmp_path / "data"
    path = write(
        "a.jsonl", [f.logged(ts=f"2026-09-{1 + i % 28:02d}T10:00:00Z", feature="chat") for i in range(60)]
    )
    ingest([path], load_settings(data_dir=data))
    shown = io.StringIO()
    progress = Progress(total=0, what="report", stream=shown, every=0.0, unit="steps")
    Workspace(data).report(progress=progress)
    drawn = [part.strip() for part in shown.getvalue().split("\r") if part.strip()]
    assert drawn == [
        f"report: {i} steps, {100 * i / REPORT_STEPS:.0f}% of {REPORT_STEPS}, ETA " + d.rsplit("ETA ", 1)[1]
        for i, d in enumerate(drawn, 1)
    ]
    assert len(drawn) == REPORT_STEPS and shown.getvalue().endswith("\r")
