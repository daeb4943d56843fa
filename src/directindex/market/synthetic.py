"""A seeded, S&P 500-like synthetic market: the data the product runs on when the user brings none.

Daily total returns follow a factor structure::

    r_it = beta_i * v_t * m_t + s_i * v_t * g_{sector(i),t} + x_i . h_t + sqrt(v_t) * sigma_i * e_it

with a market factor ``m`` (drift plus Student-t shocks), sector factors ``g`` in excess of the market,
three style factors ``h`` (value, quality, size) with z-score exposures ``x``, and Student-t (5 degrees
of freedom, unit variance) specific shocks ``e``. ``v_t`` is a volatility regime: a persistent log-AR(1)
process plus, when the sample has two years or more, a crash (a month of heavy losses at three times
normal volatility) followed by a recovery. Volatility is normalized so that the long-run figures hit
published ones for the S&P 500 (index volatility about 16%, single stocks about 30%, pairwise correlation
about 0.3, cross-sectional dispersion of annual returns about 28%); ``calibration_stats`` measures them.

Caps follow a power law fitted so the ten largest names hold about a quarter of the index. Most names pay
quarterly dividends (raw closes drop by the dividend on the ex-date); a few split; one issuer has two share
classes with a shared ``identical_group`` (like GOOG/GOOGL) whose returns differ only by a little noise.
A few names join and leave the index mid-sample (``membership``).

Variants: ``sp500`` (500 names), ``r3000`` (3,000 names, a longer tail of smaller, more volatile names),
``textbook`` (300 names, equal weight, every stock 30% volatility, Gaussian one-factor, correlation 0.3, no
corporate actions: the classic harvesting simulation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from directindex.market.returns import total_returns
from directindex.market.risk import FloatArray

Universe = Literal["sp500", "r3000", "textbook"]
TRADING_DAYS = 252

# GICS sectors, their share of S&P 500 names (2021 counts), and a few GICS industries each.
SECTORS: dict[str, tuple[int, tuple[str, ...]]] = {
    "Information Technology": (75, ("Software", "Semiconductors", "Technology Hardware", "IT Services")),
    "Health Care": (63, ("Pharmaceuticals", "Health Care Equipment", "Biotechnology", "Health Care Providers")),
    "Financials": (65, ("Banks", "Insurance", "Capital Markets", "Consumer Finance")),
    "Consumer Discretionary": (62, ("Specialty Retail", "Hotels & Restaurants", "Automobiles", "Leisure Products")),
    "Industrials": (73, ("Aerospace & Defense", "Machinery", "Road & Rail", "Building Products")),
    "Communication Services": (26, ("Interactive Media", "Entertainment", "Telecommunication Services")),
    "Consumer Staples": (32, ("Tobacco", "Beverages", "Food Products", "Household Products")),
    "Energy": (22, ("Oil, Gas & Consumable Fuels", "Energy Equipment & Services")),
    "Utilities": (28, ("Electric Utilities", "Multi-Utilities", "Water Utilities")),
    "Real Estate": (29, ("Equity REITs", "Real Estate Management")),
    "Materials": (28, ("Chemicals", "Metals & Mining", "Containers & Packaging")),
}
# Sector factor volatility (annual, in excess of the market) and a tilt of the sector toward large caps.
_SECTOR_VOL = {
    "Information Technology": 0.09,
    "Health Care": 0.08,
    "Financials": 0.10,
    "Consumer Discretionary": 0.07,
    "Industrials": 0.06,
    "Communication Services": 0.08,
    "Consumer Staples": 0.09,
    "Energy": 0.18,
    "Utilities": 0.12,
    "Real Estate": 0.11,
    "Materials": 0.08,
}
_SECTOR_TILT = {"Information Technology": 0.8, "Communication Services": 0.6, "Consumer Discretionary": 0.3}
_NAME_WORDS = (
    "Acme Apex Beacon Cobalt Crescent Delta Ember Falcon Granite Harbor Horizon Ion Juniper Keystone Lumen "
    "Meridian Nimbus Orion Pinnacle Quartz Redwood Summit Tidal Umber Vertex Willow Zenith Atlas Boreal Cedar"
).split()
_NAME_SUFFIX = {
    "Information Technology": "Systems",
    "Health Care": "Health",
    "Financials": "Financial",
    "Consumer Discretionary": "Brands",
    "Industrials": "Industries",
    "Communication Services": "Media",
    "Consumer Staples": "Foods",
    "Energy": "Energy",
    "Utilities": "Power",
    "Real Estate": "Realty",
    "Materials": "Materials",
}


@dataclass(frozen=True)
class UniverseSpec:
    """Calibration knobs of one variant."""

    n: int
    top10_share: float  # of the initial benchmark
    market_vol: float  # annual vol of the market factor
    specific_vol: float  # cap-median annual specific vol
    small_cap_vol_boost: float  # extra log specific vol from the largest to the smallest name
    style_vol: float
    equal_weight: bool = False
    textbook: bool = False
    n_changes: int = 0  # index additions (and as many deletions) over the sample
    n_splits: int = 0


SPECS: dict[str, UniverseSpec] = {
    "sp500": UniverseSpec(500, 0.25, 0.155, 0.22, 0.35, 0.045, n_changes=6, n_splits=6),
    "r3000": UniverseSpec(3000, 0.21, 0.16, 0.24, 0.75, 0.04, n_changes=30, n_splits=25),
    "textbook": UniverseSpec(300, 0.0, 0.30 * np.sqrt(0.3), 0.30 * np.sqrt(0.7), 0.0, 0.0, True, True),
}


@dataclass(frozen=True)
class SyntheticMarket:
    """The files a user would bring, as frames: long prices, security master, benchmark, membership."""

    prices: pd.DataFrame
    securities: pd.DataFrame
    benchmark: pd.Series
    membership: pd.DataFrame
    universe: str
    seed: int


def _power_law_alpha(n: int, top10: float) -> float:
    """Exponent of caps ``k**-alpha`` for which the ten largest of ``n`` hold ``top10`` of the total."""
    k = np.arange(1, n + 1, dtype=float)
    lo, hi = 0.0, 3.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        c = k**-mid
        if c[:10].sum() / c.sum() < top10:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _symbols(n: int, rng: np.random.Generator) -> list[str]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        length = 3 if len(out) % 3 else 4
        for row in rng.integers(0, 26, size=(n, length)):
            s = "".join(letters[row])
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return out


def _student_t(rng: np.random.Generator, df: float, size: tuple[int, ...]) -> FloatArray:
    """Student-t draws scaled to unit variance."""
    return np.asarray(rng.standard_t(df, size=size) / np.sqrt(df / (df - 2.0)), dtype=float)


def _regime(rng: np.random.Generator, t: int, crash: bool) -> tuple[FloatArray, FloatArray]:
    """Volatility multiplier ``v`` (mean square 1) and extra market drift per day (crash and recovery)."""
    phi, sd_long = 0.995, 0.35
    shocks = rng.standard_normal(t) * sd_long * np.sqrt(1 - phi**2)
    logv = np.zeros(t)
    # An AR(1) as a linear filter: no Python loop over days.
    from scipy.signal import lfilter

    logv = lfilter([1.0], [1.0, -phi], shocks)
    v = np.exp(logv)
    drift = np.zeros(t)
    if crash:
        start = int(t * 0.45)
        crash_len, rec_len = 23, 160
        v[start : start + crash_len] = np.maximum(v[start : start + crash_len], 1.0) * 3.0
        decay = np.linspace(2.0, 1.0, min(rec_len, t - start - crash_len))
        end = start + crash_len + len(decay)
        v[start + crash_len : end] = np.maximum(v[start + crash_len : end], decay)
        drift[start : start + crash_len] = np.log(0.72) / crash_len  # about -28% over a month
        drift[start + crash_len : end] = np.log(1.30) / max(len(decay), 1)  # most of it recovered
    v = v / np.sqrt(np.mean(v**2))
    return v, drift


def _business_days(start: date | str, t: int) -> pd.DatetimeIndex:
    return pd.bdate_range(pd.Timestamp(start), periods=t, freq="B")


def generate_market(
    universe: Universe = "sp500",
    years: int = 10,
    seed: int = 0,
    start: date | str = "2011-01-03",
    progress: Callable[[str, float], None] | None = None,
) -> SyntheticMarket:
    """Generate the market; the same ``universe, years, seed, start`` always give the same files."""
    if universe not in SPECS:
        raise ValueError(f"unknown universe {universe!r} (one of {', '.join(SPECS)})")
    if years < 1:
        raise ValueError("years must be at least 1")
    spec = SPECS[universe]
    rng = np.random.default_rng([seed, list(SPECS).index(universe)])

    def step(label: str, frac: float) -> None:
        if progress is not None:
            progress(label, frac)

    n_total = spec.n + spec.n_changes
    t = years * TRADING_DAYS + 1  # the first day only sets the starting prices
    dates = _business_days(start, t)

    # --- the security master: sectors, industries, caps, styles -------------------------------
    counts = np.array([c for c, _ in SECTORS.values()], dtype=float)
    alloc = np.floor(counts / counts.sum() * n_total).astype(int)
    alloc[np.argsort(-(counts / counts.sum() * n_total - alloc))[: n_total - alloc.sum()]] += 1
    sector_names = list(SECTORS)
    sector = np.repeat(np.arange(len(sector_names)), alloc)
    rng.shuffle(sector)
    industry = np.array([SECTORS[sector_names[s]][1][rng.integers(len(SECTORS[sector_names[s]][1]))] for s in sector])
    tilt = np.array([_SECTOR_TILT.get(sector_names[s], 0.0) for s in sector])
    order = np.argsort(-(rng.standard_normal(n_total) + tilt))  # rank 0 = largest
    rank = np.empty(n_total, dtype=int)
    rank[order] = np.arange(n_total)
    if spec.equal_weight:
        cap = np.ones(n_total)
    else:
        alpha = _power_law_alpha(spec.n, spec.top10_share)
        cap = (rank + 1.0) ** -alpha * np.exp(0.05 * rng.standard_normal(n_total))
    symbols = _symbols(n_total, rng)
    size_z = -(rank - rank.mean()) / rank.std()  # larger names score higher on size
    value = rng.standard_normal(n_total)
    quality = 0.3 * size_z + np.sqrt(1 - 0.09) * rng.standard_normal(n_total)
    styles = np.column_stack([value, quality, size_z])
    step("security master", 0.05)

    # --- exposures and volatilities -----------------------------------------------------------
    if spec.textbook:
        beta = np.ones(n_total)
        sbeta = np.zeros(n_total)
        sigma = np.full(n_total, spec.specific_vol)
    else:
        beta = np.clip(1.0 + 0.25 * rng.standard_normal(n_total), 0.4, 1.9)
        sbeta = np.clip(1.0 + 0.2 * rng.standard_normal(n_total), 0.3, 1.7)
        small = rank / max(n_total - 1, 1)
        sigma = spec.specific_vol * np.exp(
            spec.small_cap_vol_boost * (small - 0.5) + 0.25 * rng.standard_normal(n_total)
        )
        sigma *= spec.specific_vol / np.median(sigma)
    sector_vol = np.array([_SECTOR_VOL[s] for s in sector_names])

    # --- daily factor and specific returns ------------------------------------------------------
    daily = 1.0 / TRADING_DAYS
    crash = not spec.textbook and years >= 2
    if spec.textbook:
        v = np.ones(t)
        drift = np.zeros(t)
        mkt = 0.07 * daily + spec.market_vol * np.sqrt(daily) * rng.standard_normal(t)
        sec_f = np.zeros((t, len(sector_names)))
        style_f = np.zeros((t, 3))
        eps = rng.standard_normal((t, n_total))
    else:
        v, drift = _regime(rng, t, crash)
        mkt = 0.09 * daily + drift + v * spec.market_vol * np.sqrt(daily) * _student_t(rng, 4.0, (t,))
        sec_f = v[:, None] * sector_vol * np.sqrt(daily) * _student_t(rng, 5.0, (t, len(sector_names)))
        style_f = spec.style_vol * np.sqrt(daily) * rng.standard_normal((t, 3))
        eps = _student_t(rng, 5.0, (t, n_total))
    step("factor returns", 0.3)
    r = (
        mkt[:, None] * beta
        + sec_f[:, sector] * sbeta
        + style_f @ styles.T
        + (np.sqrt(v)[:, None] * (sigma * np.sqrt(daily))) * eps
    )
    # Specific returns average zero in log terms, not in simple terms: a convexity adjustment keeps
    # every name's expected growth near the market's.
    r += -0.5 * (sigma**2) * daily * (0.0 if spec.textbook else 1.0)
    r = np.maximum(r, -0.95)
    r[0] = 0.0
    step("stock returns", 0.55)

    # --- one issuer with two share classes (the two largest-but-one names become A and C shares) --
    groups = np.array(symbols, dtype=object)
    if not spec.textbook:
        a_idx = int(order[2])
        c_idx = int(order[3])
        r[:, c_idx] = r[:, a_idx] + 0.002 * rng.standard_normal(t) * np.sqrt(v)
        r[0, c_idx] = 0.0
        symbols[c_idx] = symbols[a_idx][:3] + "C"
        symbols[a_idx] = symbols[a_idx][:3] + "A"
        groups[a_idx] = groups[c_idx] = symbols[a_idx][:3]
        sector[c_idx], industry[c_idx] = sector[a_idx], industry[a_idx]
        styles[c_idx] = styles[a_idx]
        cap[a_idx] = cap[c_idx] = 0.5 * (cap[a_idx] + cap[c_idx])

    # --- prices: dividends and splits ---------------------------------------------------------
    if spec.textbook:
        yld = np.zeros(n_total)
    else:
        payer = rng.random(n_total) < 0.78
        yld = np.where(payer, np.clip(rng.lognormal(np.log(0.02), 0.5, n_total), 0.002, 0.07), 0.0)
        yld = np.where(np.array([sector_names[s] in ("Utilities", "Real Estate") for s in sector]), yld * 1.6, yld)
    ex_day = np.zeros((t, n_total), dtype=bool)
    if yld.any():
        offset = rng.integers(0, 63, n_total)
        for q in range(0, t, 63):  # at most one row per quarter: years * 4 iterations
            rows = q + offset
            ok = (rows < t) & (rows > 0) & (yld > 0)
            ex_day[rows[ok], np.flatnonzero(ok)] = True
    div_yield = np.where(ex_day, yld / 4.0, 0.0)
    price_growth = (1.0 + r) - div_yield  # close_t = close_{t-1} (1 + r_t) - dividend_t
    start_price = np.exp(rng.uniform(np.log(15), np.log(400), n_total))
    unsplit = start_price * np.cumprod(price_growth, axis=0)
    dividend: np.ndarray = np.zeros((t, n_total))
    dividend[1:] = div_yield[1:] * unsplit[:-1]
    split = np.ones((t, n_total))
    if spec.n_splits and t > 40:
        who = rng.choice(
            np.flatnonzero(start_price > 80), size=min(spec.n_splits, int((start_price > 80).sum())), replace=False
        )
        when = rng.integers(20, t - 1, size=len(who))
        split[when, who] = rng.choice([2.0, 3.0, 1.5], size=len(who), p=[0.6, 0.25, 0.15])
        dividend[when, who] = 0.0  # keep ex-dates apart from split dates
    cum_split = np.cumprod(split, axis=0)
    close = np.round(unsplit / cum_split, 4)
    dividend = np.asarray(np.round(dividend / cum_split, 4), dtype=float)
    step("prices", 0.75)

    # total-return index from the rounded figures, scaled to end at the last close (as vendors publish)
    gross = np.ones((t, n_total))
    gross[1:] = split[1:] * (close[1:] + dividend[1:]) / close[:-1]
    tri = np.cumprod(gross, axis=0)
    adj = tri * (close[-1] / tri[-1])

    prices = pd.DataFrame(
        {
            "date": np.repeat(dates.to_numpy(), n_total),
            "symbol": np.tile(np.array(symbols, dtype=object), t),
            "close": close.ravel(),
            "adj_close": np.round(adj.ravel(), 6),
            "dividend": dividend.ravel(),
            "split": split.ravel(),
        }
    )
    prices = prices.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)

    # --- securities, benchmark, membership -------------------------------------------------------
    shares = np.round(cap / cap.sum() * 3.0e13 / start_price) if not spec.equal_weight else np.full(n_total, 1e8)
    names = [
        f"{_NAME_WORDS[i % len(_NAME_WORDS)]} {_NAME_SUFFIX[sector_names[s]]} {sym}"
        for i, (s, sym) in enumerate(zip(sector, symbols, strict=True))
    ]
    sec_name = np.array([sector_names[s] for s in sector], dtype=object)
    esg_tobacco = industry == "Tobacco"
    esg_fossil = (sec_name == "Energy") | ((sec_name == "Utilities") & (rng.random(n_total) < 0.4))
    esg_weapons = (industry == "Aerospace & Defense") & (rng.random(n_total) < 0.7)
    securities = pd.DataFrame(
        {
            "symbol": symbols,
            "name": names,
            "sector": sec_name,
            "industry": industry,
            "identical_group": groups,
            "esg_tobacco": esg_tobacco,
            "esg_fossil_fuels": esg_fossil,
            "esg_weapons": esg_weapons,
            "value": np.round(styles[:, 0], 3),
            "quality": np.round(styles[:, 1], 3),
            "size": np.round(styles[:, 2], 3),
            "shares_outstanding": shares.astype(np.int64),
        }
    ).set_index("symbol")

    # The smallest names are outside the index at the start; at evenly spaced dates the smallest
    # member leaves and one of them joins.
    is_initial = rank < spec.n
    outsiders = list(np.flatnonzero(~is_initial))
    start_dt = dates[1]
    member_rows: list[tuple[str, pd.Timestamp, pd.Timestamp | None]] = []
    end_of: dict[int, pd.Timestamp] = {}
    start_of: dict[int, pd.Timestamp] = {int(i): start_dt for i in np.flatnonzero(is_initial)}
    members_by_rank = sorted(np.flatnonzero(is_initial).tolist(), key=lambda i: -rank[i])
    for j, out_i in enumerate(outsiders):
        when_i = 1 + int((j + 1) * (t - 2) / (len(outsiders) + 1))
        leaver = members_by_rank[j]
        end_of[leaver] = dates[when_i - 1]
        start_of[int(out_i)] = dates[when_i]
    for i, s0 in start_of.items():
        member_rows.append((symbols[i], s0, end_of.get(i)))
    membership = pd.DataFrame(member_rows, columns=["symbol", "start_date", "end_date"])
    membership["start_date"] = pd.to_datetime(membership["start_date"])
    membership["end_date"] = pd.to_datetime(membership["end_date"])
    membership = membership.sort_values(["symbol", "start_date"]).reset_index(drop=True)

    w0 = np.where(is_initial, cap if not spec.equal_weight else 1.0, 0.0)
    benchmark = pd.Series(w0 / w0.sum(), index=symbols, name="weight")
    benchmark = benchmark[benchmark > 0].sort_index()
    step("done", 1.0)
    return SyntheticMarket(prices, securities, benchmark, membership, universe, seed)


def write_market(
    market: SyntheticMarket, out: str | object, prices_format: Literal["parquet", "csv"] = "parquet"
) -> list[str]:
    """Write the data-directory layout; returns the file names written."""
    from pathlib import Path

    d = Path(str(out))
    d.mkdir(parents=True, exist_ok=True)
    p = market.prices.copy()
    if prices_format == "parquet":
        p.to_parquet(d / "prices.parquet", index=False)
        stale = d / "prices.csv"
        price_file = "prices.parquet"
    else:
        p["date"] = p["date"].dt.strftime("%Y-%m-%d")
        p.to_csv(d / "prices.csv", index=False)
        stale = d / "prices.parquet"
        price_file = "prices.csv"
    if stale.exists():
        stale.unlink()  # the loader prefers parquet: never leave an older file of the other kind behind
    sec = market.securities.reset_index()
    for c in ("esg_tobacco", "esg_fossil_fuels", "esg_weapons"):
        sec[c] = sec[c].map({True: "true", False: "false"})
    sec.to_csv(d / "securities.csv", index=False)
    market.benchmark.rename_axis("symbol").reset_index().to_csv(d / "benchmark.csv", index=False, float_format="%.10g")
    m = market.membership.copy()
    m["start_date"] = m["start_date"].dt.strftime("%Y-%m-%d")
    m["end_date"] = m["end_date"].dt.strftime("%Y-%m-%d").fillna("")
    m.to_csv(d / "membership.csv", index=False)
    return [price_file, "securities.csv", "benchmark.csv", "membership.csv"]


def calibration_stats(prices: pd.DataFrame, benchmark: pd.Series) -> dict[str, float]:
    """The published figures a market is calibrated to, measured on daily total returns.

    - ``index_vol``: annualized volatility of the buy-and-hold benchmark (initial weights, drifting).
    - ``avg_stock_vol``: mean annualized volatility of single names.
    - ``avg_dispersion``: the mean over calendar years of the cross-sectional standard deviation of the
      names' annual total returns (equal-weighted; full years with a price on at least 90% of days).
    - ``avg_pairwise_corr``: mean off-diagonal correlation of daily returns.
    - ``top10_weight``: the ten largest benchmark weights' sum.
    """
    r = total_returns(prices)
    r = r.iloc[1:]
    x = r.to_numpy(dtype=float)
    cols = list(r.columns)
    w0 = benchmark.reindex(cols).fillna(0.0).to_numpy()
    x0 = np.where(np.isfinite(x), x, 0.0)
    growth = np.cumprod(1.0 + x0, axis=0)
    held = np.vstack([w0, w0 * growth[:-1]])[: len(x0)]
    idx = (held * x0).sum(axis=1) / held.sum(axis=1)
    ann = np.sqrt(TRADING_DAYS)
    stock_vol = np.nanstd(x, axis=0, ddof=1) * ann
    full = np.isfinite(x).all(axis=0)
    z = x[:, full]
    z = (z - z.mean(axis=0)) / z.std(axis=0, ddof=1)
    m = z.shape[1]
    s = z.sum(axis=1)
    avg_corr = (float(s @ s) / (len(z) - 1) - m) / (m * (m - 1)) if m > 1 else float("nan")
    years = r.index.year
    disp = []
    for y in np.unique(years):  # one iteration per calendar year
        sel = years == y
        if sel.sum() < 200:
            continue
        block = x[sel]
        okn = np.isfinite(block).mean(axis=0) >= 0.9
        annual = np.prod(1.0 + np.where(np.isfinite(block[:, okn]), block[:, okn], 0.0), axis=0) - 1.0
        disp.append(float(np.std(annual, ddof=1)))
    bench = benchmark.sort_values(ascending=False)
    drawdown = np.cumprod(1 + idx)
    return {
        "n_names": float(len(cols)),
        "years": float(len(r) / TRADING_DAYS),
        "index_vol": float(np.std(idx, ddof=1) * ann),
        "index_return": float(np.prod(1 + idx) ** (TRADING_DAYS / len(idx)) - 1),
        "index_max_drawdown": float(np.min(drawdown / np.maximum.accumulate(drawdown)) - 1),
        "avg_stock_vol": float(np.nanmean(stock_vol)),
        "avg_dispersion": float(np.mean(disp)) if disp else float("nan"),
        "avg_pairwise_corr": float(avg_corr),
        "top10_weight": float(bench.iloc[:10].sum()),
        "avg_excess_kurtosis": float(np.nanmean(pd.DataFrame(x).kurt(axis=0).to_numpy())),
    }
