"""Hermetic tests: no user config, no TIERLENS_* variables, every dataset under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tierlens.config import Settings, load_settings
from tierlens.ingest import IngestResult, ingest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = REPO / "sample_logs"


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("TIERLENS_"):
            monkeypatch.delenv(key)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    yield


@pytest.fixture(scope="session")
def sample_ingest(tmp_path_factory: pytest.TempPathFactory) -> tuple[IngestResult, Path]:
    """sample_logs/ ingested once per test session (tests must not write to it)."""
    data = tmp_path_factory.mktemp("sample") / "data"
    return ingest([SAMPLE_LOGS], load_settings(data_dir=data)), data


@pytest.fixture(scope="session")
def sample_data(sample_ingest: tuple[IngestResult, Path]) -> Path:
    return sample_ingest[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """write(name, lines) -> Path: a log file under tmp_path/logs (lines: dicts or raw strings)."""
    import json

    def _write(name: str, lines: list[object]) -> Path:
        path = tmp_path / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
        path.write_text(body, encoding="utf-8")
        return path

    return _write
