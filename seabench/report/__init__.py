"""Report: tables from result rows, rendered for the terminal and for files."""

from seabench.report.render import FORMATS, print_tables, write_reports
from seabench.report.tables import comparison, summarise

__all__ = ["FORMATS", "comparison", "print_tables", "summarise", "write_reports"]
