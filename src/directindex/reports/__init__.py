"""Reports: the backtest's HTML report with its charts and tables."""

from directindex.reports.backtest import render_backtest_html

__all__ = ["render_backtest_html"]
