"""Cadences: which calendar period a day falls in, so "monthly" means the first trading day of each month.

Used by the backtest (harvest and rebalance days) and the daily run (rebalance cadence days) alike.
"""

from __future__ import annotations

from datetime import date


def period(day: date, cadence: str) -> tuple[int, ...] | None:
    """The calendar period ``day`` falls in for ``cadence`` (``None``: no period, e.g. ``never``).

    ``december`` is one period a year that only December days belong to (a year-end harvest).
    """
    if cadence == "daily":
        return (day.toordinal(),)
    if cadence == "weekly":
        iso = day.isocalendar()
        return (iso[0], iso[1])
    if cadence == "monthly":
        return (day.year, day.month)
    if cadence == "quarterly":
        return (day.year, (day.month - 1) // 3)
    if cadence == "annual":
        return (day.year,)
    if cadence == "december":
        return (day.year,) if day.month == 12 else None
    return None
