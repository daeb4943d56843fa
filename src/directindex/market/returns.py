"""Daily total returns and price matrices from long-form prices.

Returns are computed within each symbol's own rows before pivoting, so a missing day does not lose the
next day's return: the move across a gap is booked on the first day after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _sorted(prices: pd.DataFrame) -> pd.DataFrame:
    sym = prices["symbol"].to_numpy()
    dates = prices["date"].to_numpy()
    if len(prices) > 1 and ((sym[1:] < sym[:-1]).any() or ((sym[1:] == sym[:-1]) & (dates[1:] <= dates[:-1])).any()):
        return prices.sort_values(["symbol", "date"], kind="stable")
    return prices


def long_total_returns(prices: pd.DataFrame) -> pd.Series:
    """Total return of each row over the previous row of the same symbol (NaN on a symbol's first row).

    Uses ``adj_close`` where present; otherwise ``split * (close + dividend) / previous close - 1``.
    """
    p = _sorted(prices)
    sym = p["symbol"].to_numpy()
    first = np.ones(len(p), dtype=bool)
    first[1:] = sym[1:] != sym[:-1]
    if "adj_close" in p.columns and p["adj_close"].notna().all():
        level = p["adj_close"].to_numpy(dtype=float)
        r = level / np.roll(level, 1) - 1.0
    else:
        close = p["close"].to_numpy(dtype=float)
        div = p["dividend"].to_numpy(dtype=float) if "dividend" in p else 0.0
        split = p["split"].to_numpy(dtype=float) if "split" in p else 1.0
        r = split * (close + div) / np.roll(close, 1) - 1.0
    r = np.where(first, np.nan, r)
    return pd.Series(r, index=p.index, name="return")


def total_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily total returns, dates x symbols (NaN before a symbol's first price and on days it has none)."""
    p = _sorted(prices)
    r = long_total_returns(p)
    out = pd.DataFrame({"date": p["date"].to_numpy(), "symbol": p["symbol"].to_numpy(), "r": r.to_numpy()})
    wide = out.pivot(index="date", columns="symbol", values="r")
    wide.columns.name = None
    return wide.sort_index()


def price_matrix(prices: pd.DataFrame, column: str = "close") -> pd.DataFrame:
    """One price column as a dates x symbols matrix."""
    wide = prices.pivot(index="date", columns="symbol", values=column)
    wide.columns.name = None
    return wide.sort_index()
