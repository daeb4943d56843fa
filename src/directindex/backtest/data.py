"""The market a backtest walks through, as dense day x symbol arrays.

A backtest touches every name on every day, so prices, dividends, splits, total returns, index
membership and benchmark weights are laid out once as ``(days, symbols)`` arrays. Three sources give the
same shape: a data directory in the product's layout (``directindex market generate`` writes one), the
layout of the shared S&P 500 research files (``constituents.csv``, ``market_caps.csv``,
``sp500_membership_intervals.csv``), and the synthetic market generated in memory.

Benchmark weights are cap weights from a constant share count times the day's close, over the names that
are index members and trade that day, so additions and deletions show up when they happened. A split
that the price file does not record but the adjusted close reveals (the close halves while the adjusted
close does not move) is taken as a split, so a backtest never harvests a loss that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from directindex.market.io import load_data_dir, load_membership, load_prices, load_security_master
from directindex.market.returns import total_returns

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_SPLIT_RATIOS = np.array([1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0])


@dataclass(frozen=True)
class BacktestMarket:
    """Dense arrays over ``dates`` x ``symbols``; ``history`` is the number of leading days before the start."""

    dates: pd.DatetimeIndex
    symbols: tuple[str, ...]
    close: FloatArray  # forward-filled close; NaN before a name's first price
    alive: BoolArray  # the name trades that day (between its first and last price)
    dividend: FloatArray  # cash per share, ex-date
    split: FloatArray  # new shares per old share, 1 on ordinary days
    returns: FloatArray  # daily total return, 0 where unknown
    member: BoolArray  # an index member that day
    shares: FloatArray  # share count for cap weights, in units of ``cap_price`` (NaN: not weighted)
    securities: pd.DataFrame  # indexed by symbol: sector, industry, identical_group, ...
    returns_frame: pd.DataFrame  # the same total returns as a frame (NaN kept), for the risk model
    source: str = ""
    # the per-share price whose product with ``shares`` is the day's market cap: the close times the splits
    # since the share count was taken (a 2-for-1 split doubles the shares, it does not halve the company)
    cap_price: FloatArray | None = None

    @property
    def n(self) -> int:
        return len(self.symbols)

    def day_index(self, on: date | str | pd.Timestamp) -> int:
        """The first trading day on or after ``on``."""
        return int(self.dates.searchsorted(pd.Timestamp(on)))

    def benchmark_weights(self, t: int) -> FloatArray:
        """Cap weights of the index members trading on day ``t`` (read-only: each day's are kept)."""
        kept = self._benchmark_rows.get(t)
        if kept is not None:
            return kept
        px = self.close[t] if self.cap_price is None else self.cap_price[t]
        cap = np.where(self.member[t] & self.alive[t] & np.isfinite(self.shares), self.shares * px, 0.0)
        cap = np.nan_to_num(cap, nan=0.0)
        total = cap.sum()
        out = cap / total if total > 0 else cap
        out.flags.writeable = False
        self._benchmark_rows[t] = out
        return out

    @cached_property
    def _benchmark_rows(self) -> dict[int, FloatArray]:
        return {}

    def groups(self) -> list[str]:
        """The substantially-identical group of each symbol (the symbol itself unless the master says)."""
        return list(self._groups)

    def sectors(self) -> list[str]:
        """Each symbol's sector (``Unknown`` where the master has none)."""
        return list(self._sectors)

    @cached_property
    def _groups(self) -> tuple[str, ...]:
        col = self.securities.reindex(list(self.symbols)).get("identical_group")
        values = col if col is not None else [None] * self.n
        return tuple(str(g) if isinstance(g, str) and g else s for s, g in zip(self.symbols, values, strict=True))

    @cached_property
    def sector_of(self) -> dict[str, str]:
        """Symbol -> sector, built once (a harvest pass asks every day)."""
        return dict(zip(self.symbols, self._sectors, strict=True))

    @cached_property
    def _sectors(self) -> tuple[str, ...]:
        # a harvest pass asks every day; the master does not change during a run
        col = self.securities.reindex(list(self.symbols)).get("sector")
        values = col if col is not None else [None] * self.n
        return tuple(str(v) if isinstance(v, str) and v else "Unknown" for v in values)


def _implied_splits(close: FloatArray, adj: FloatArray, recorded: FloatArray) -> FloatArray:
    """Recorded splits, plus the standard ratios the adjusted close implies where none is recorded."""
    with np.errstate(invalid="ignore", divide="ignore"):
        implied = (close[:-1] / close[1:]) * (adj[1:] / adj[:-1])
    out = recorded.copy()
    body = out[1:]
    near = np.abs(implied[..., None] - _SPLIT_RATIOS) / _SPLIT_RATIOS < 0.03
    hit = near.any(axis=-1) & (body == 1.0) & np.isfinite(implied)
    ratio = _SPLIT_RATIOS[np.argmax(near, axis=-1)]
    body[hit] = ratio[hit]
    return out


def build_market(
    prices: pd.DataFrame,
    securities: pd.DataFrame,
    shares: pd.Series,
    membership: pd.DataFrame | None,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    history_days: int = 800,
    source: str = "",
    cap_basis: str = "close",
) -> BacktestMarket:
    """Lay out long-form prices as arrays from ``history_days`` before ``start`` through ``end``.

    ``shares`` are share counts on the first day of ``prices`` (``cap_basis="close"``: caps are the close
    times the shares, grown by every split since), or caps per unit of adjusted close
    (``cap_basis="adj_close"``: the shared research files' method, caps anchored on one snapshot date).
    """
    p = prices
    if end is not None:
        p = p[p["date"] <= pd.Timestamp(end)]
    days = pd.DatetimeIndex(sorted(p["date"].unique()))
    prior_splits: pd.Series | None = None  # per symbol, the recorded splits before the window kept
    if start is not None:
        i0 = max(0, int(days.searchsorted(pd.Timestamp(start))) - history_days)
        if cap_basis == "close" and "split" in p.columns:
            early = p[(p["date"] < days[i0]) & (p["split"] > 0) & (p["split"] != 1.0)]
            prior_splits = early.groupby("symbol")["split"].prod()
        p = p[p["date"] >= days[i0]]
        days = days[i0:]
    if start is not None and end is not None:
        active = p[p["date"] >= pd.Timestamp(start)]["symbol"].unique()
        p = p[p["symbol"].isin(active)]
    wide_close = p.pivot(index="date", columns="symbol", values="close").reindex(days)
    symbols = tuple(str(s) for s in wide_close.columns)
    raw = wide_close.to_numpy(dtype=float)
    first = np.where(np.isfinite(raw).any(axis=0), np.argmax(np.isfinite(raw), axis=0), len(days))
    last = len(days) - 1 - np.argmax(np.isfinite(raw[::-1]), axis=0)
    t = np.arange(len(days))[:, None]
    alive = (t >= first[None, :]) & (t <= last[None, :])
    close = wide_close.ffill().to_numpy(dtype=float)

    def wide(col: str, fill: float) -> FloatArray:
        if col not in p.columns:
            return np.full(raw.shape, fill)
        w = p.pivot(index="date", columns="symbol", values=col).reindex(index=days, columns=list(symbols))
        return np.nan_to_num(w.to_numpy(dtype=float), nan=fill)

    dividend = np.where(alive, wide("dividend", 0.0), 0.0)
    split = np.where(alive, wide("split", 1.0), 1.0)
    split = np.where(split > 0, split, 1.0)
    # a recorded 1.499999 is a 3-for-2: snap near-standard ratios, keep four places otherwise
    near = np.abs(split[..., None] - _SPLIT_RATIOS) / _SPLIT_RATIOS < 1e-3
    split = np.where(near.any(axis=-1), _SPLIT_RATIOS[np.argmax(near, axis=-1)], np.round(split, 4))
    if "adj_close" in p.columns:
        adj = p.pivot(index="date", columns="symbol", values="adj_close").reindex(index=days, columns=list(symbols))
        split = _implied_splits(close, adj.ffill().to_numpy(dtype=float), split)
    # A stock distribution booked as a cash "dividend" on the day the shares split (GOOGL, 2014-04-03: the
    # close halves, the adjusted close does not, and half the price is recorded as a dividend): the split
    # already gives the holder the new shares, so paying the cash too would count the distribution twice.
    with np.errstate(invalid="ignore", divide="ignore"):
        prior = np.vstack([np.full((1, close.shape[1]), np.nan), close[:-1]])
        large = (split != 1.0) & (dividend > 0.25 * prior)
    dividend = np.where(large, 0.0, dividend)
    rf = total_returns(p).reindex(index=days, columns=list(symbols))
    rets = np.nan_to_num(rf.to_numpy(dtype=float), nan=0.0)
    if membership is None:
        member = alive.copy()
    else:
        member = np.zeros(raw.shape, dtype=bool)
        col = {s: j for j, s in enumerate(symbols)}
        for sym, s0, s1 in membership[["symbol", "start_date", "end_date"]].itertuples(index=False):
            j = col.get(str(sym))
            if j is None:
                continue
            a = int(days.searchsorted(pd.Timestamp(s0)))
            b = len(days) if pd.isna(s1) else int(days.searchsorted(pd.Timestamp(s1), side="right"))
            member[a:b, j] = True
    sh = shares.reindex(list(symbols)).to_numpy(dtype=float)
    if cap_basis == "adj_close" and "adj_close" in p.columns:
        cap_price = adj.ffill().to_numpy(dtype=float)
    else:
        before = (np.ones(len(symbols)) if prior_splits is None
                  else prior_splits.reindex(list(symbols)).fillna(1.0).to_numpy(dtype=float))
        cap_price = close * before[None, :] * np.cumprod(split, axis=0)
    return BacktestMarket(
        dates=days, symbols=symbols, close=close, alive=alive, dividend=dividend, split=split, returns=rets,
        member=member, shares=sh, securities=securities, returns_frame=rf, source=source, cap_price=cap_price,
    )


def _implied_shares(prices: pd.DataFrame, weights: pd.Series) -> pd.Series:
    """Share counts that reproduce ``weights`` at each name's first close."""
    first = prices.sort_values("date").groupby("symbol")["close"].first()
    return (weights / first.reindex(weights.index)).dropna()


def load_market_dir(
    directory: Path | str, *, start: date | str | None = None, end: date | str | None = None
) -> BacktestMarket:
    """A data directory in the product's layout, or the shared S&P 500 research layout."""
    d = Path(directory)
    if (d / "constituents.csv").exists() and (d / "sp500_membership_intervals.csv").exists():
        prices = load_prices(d / "prices.parquet" if (d / "prices.parquet").exists() else d / "prices.csv")
        securities = load_security_master(d / "constituents.csv")
        membership = load_membership(d / "sp500_membership_intervals.csv")
        shares = pd.Series(dtype=float)
        basis = "close"
        if (d / "market_caps.csv").exists() and "adj_close" in prices.columns:
            # the files' own method: cap on day t = cap on the snapshot date x adj_close(t) / adj_close(then),
            # so splits and share changes between the day and the snapshot never move a weight
            caps = pd.read_csv(d / "market_caps.csv").dropna(subset=["market_cap_dedup"])
            snap = caps[caps["asof_date"] == caps["asof_date"].min()]
            on = pd.Timestamp(snap["asof_date"].iloc[0])
            adj_then = prices[prices["date"] <= on].sort_values("date").groupby("symbol")["adj_close"].last()
            shares = (snap.set_index("symbol")["market_cap_dedup"] / adj_then).dropna()
            basis = "adj_close"
        if shares.empty:
            shares = pd.Series(1.0, index=prices["symbol"].unique())
        return build_market(prices, securities, shares, membership, start=start, end=end, source=str(d),
                            cap_basis=basis)
    data = load_data_dir(d)
    sec = data.securities
    if "shares_outstanding" in sec.columns:
        shares = pd.to_numeric(sec["shares_outstanding"], errors="coerce")
    else:
        shares = _implied_shares(data.prices, data.benchmark)
    return build_market(data.prices, sec, shares, data.membership, start=start, end=end, source=str(d))


def synthetic_market(
    universe: str = "sp500", years: int = 10, seed: int = 0, history_years: int = 2
) -> tuple[BacktestMarket, date, date]:
    """The synthetic market with ``history_years`` of history before the backtest; returns it, start, end."""
    from directindex.market.synthetic import generate_market

    m = generate_market(universe, years=years + history_years, seed=seed)  # type: ignore[arg-type]
    days = pd.DatetimeIndex(sorted(m.prices["date"].unique()))
    start = days[min(len(days) - 1, 252 * history_years)].date()
    end = days[-1].date()
    sec = m.securities
    if "shares_outstanding" in sec.columns:
        shares = pd.to_numeric(sec["shares_outstanding"], errors="coerce")
    else:
        shares = _implied_shares(m.prices, m.benchmark)
    mk = build_market(m.prices, sec, shares, m.membership, source=f"synthetic:{universe}:seed={seed}")
    return mk, start, end
