"""The spend report: a data model (`model.py`) over the windows it compares (`windows.py`), then
one renderer per format."""

from tierlens.report.model import BY_COLUMNS, Report, build_report
from tierlens.report.windows import GRAINS, Window, windows

__all__ = ["BY_COLUMNS", "GRAINS", "Report", "Window", "build_report", "windows"]
