"""The spend report: a data model (`model.py`), then one renderer per format."""

from tierlens.report.model import BY_COLUMNS, GRAINS, Report, Window, build_report, windows

__all__ = ["BY_COLUMNS", "GRAINS", "Report", "Window", "build_report", "windows"]
