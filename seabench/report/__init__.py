"""Report: tables from result rows, rendered for the terminal and for files."""

from seabench.report.baselines import load_baselines, merge_baselines
from seabench.report.render import FORMATS, write_reports
from seabench.report.tables import Report, build_report, comparison, summarise, within_margin
from seabench.report.terminal import print_report

__all__ = [
    "FORMATS",
    "Report",
    "build_report",
    "comparison",
    "load_baselines",
    "merge_baselines",
    "print_report",
    "summarise",
    "within_margin",
    "write_reports",
]
