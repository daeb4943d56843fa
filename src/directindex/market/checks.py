"""Data-quality checks on long-form prices: a report of findings, never a silent fix.

Vendor price files carry errors that would otherwise become phantom losses to harvest or phantom
tracking error: days missing inside a symbol's history, runs of identical (stale) closes, one-day spikes
that reverse, splits whose record disagrees with the price move, price halvings with no split recorded,
spin-offs and special distributions booked as cash dividends (sometimes larger than the price), and
adjusted closes that no recorded event explains. Each check is a vectorized pass over the long frame
sorted by symbol and date; each returns ``Finding`` records. What to do about a finding is the user's call.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class Finding:
    """One data problem: which symbol, when (``date`` to ``end_date`` for runs), how bad, what was seen."""

    symbol: str
    date: dt.date | None
    check: str
    severity: str  # high | medium | low
    detail: str
    end_date: dt.date | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds of the checks (defaults tuned on 22 years of S&P 500 vendor data)."""

    stale_run: int = 5  # identical closes in a row
    spike: float = 0.25  # one-day move (adjusted) that counts as a spike ...
    spike_reversal: float = 0.40  # ... if the two-day net move is under this share of it
    split_tolerance: float = 0.25  # |log| gap between the recorded split and the raw price move
    split_like_tolerance: float = 0.03  # |log| distance of a raw move from a split ratio
    adj_tolerance: float = 0.10  # |log| gap between the adjusted move and the recorded events
    large_distribution: float = 0.15  # dividend as a share of the previous close
    calendar_coverage: float = 0.5  # a date is a trading day if this share of the median count trades


SPLIT_RATIOS = np.array([2.0, 3.0, 1.5, 4.0, 5.0, 10.0])


def _day(ts: object) -> date:
    return pd.Timestamp(ts).date()  # type: ignore[arg-type]


def _records(
    sym: np.ndarray,
    dates: np.ndarray,
    rows: np.ndarray,
    check: str,
    severity: str | np.ndarray,
    detail: Iterable[str],
    end_dates: np.ndarray | None = None,
) -> list[Finding]:
    sev = np.broadcast_to(np.asarray(severity, dtype=object), rows.shape)
    out = []
    for j, (i, text) in enumerate(zip(rows, detail, strict=True)):
        end = _day(end_dates[j]) if end_dates is not None else None
        out.append(Finding(str(sym[i]), _day(dates[i]), check, str(sev[j]), text, end))
    return out


def check_prices(
    prices: pd.DataFrame,
    securities: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
    config: CheckConfig | None = None,
) -> list[Finding]:
    """Every finding on ``prices`` (the output of ``load_prices``), sorted by symbol and date.

    With ``securities`` or ``benchmark``, symbols they name that have no prices are reported too.
    """
    cfg = config or CheckConfig()
    p = prices.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    sym = p["symbol"].to_numpy()
    dates = p["date"].to_numpy()
    close = p["close"].to_numpy(dtype=float)
    adj = p["adj_close"].to_numpy(dtype=float) if "adj_close" in p else close
    div = p["dividend"].to_numpy(dtype=float) if "dividend" in p else np.zeros(len(p))
    split = p["split"].to_numpy(dtype=float) if "split" in p else np.ones(len(p))
    n = len(p)
    findings: list[Finding] = []
    if n == 0:
        return findings
    first = np.ones(n, dtype=bool)
    first[1:] = sym[1:] != sym[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = sym[1:] != sym[:-1]
    prev_close = np.where(first, np.nan, np.roll(close, 1))
    prev_adj = np.where(first, np.nan, np.roll(adj, 1))
    raw_ratio = close / prev_close
    adj_ret = adj / prev_adj - 1.0
    next_adj_ret = np.where(last, np.nan, np.roll(adj_ret, -1))

    # --- gaps: trading days missing inside a symbol's span -----------------------------------
    counts = pd.Series(dates).value_counts()
    cal = np.sort(counts.index[counts >= cfg.calendar_coverage * counts.median()].to_numpy())
    pos = np.searchsorted(cal, dates)
    on_cal = (pos < len(cal)) & (cal[np.minimum(pos, len(cal) - 1)] == dates)
    # position of the previous row's date on the calendar (rows off the calendar are skipped)
    prev_pos = np.where(first, -1, np.roll(pos, 1))
    missing = np.where(first | ~on_cal, 0, pos - prev_pos - 1)
    rows = np.flatnonzero(missing > 0)
    if len(rows):
        starts = cal[prev_pos[rows] + 1]
        ends = cal[pos[rows] - 1]
        findings += [
            Finding(str(sym[i]), _day(s), "gap", "low", f"{int(missing[i])} trading day(s) without a row", _day(e))
            for i, s, e in zip(rows, starts, ends, strict=True)
        ]

    # --- stale runs: the same close day after day -------------------------------------------
    changed = first | (close != prev_close)
    run_id = np.cumsum(changed)
    run_len = np.bincount(run_id)[run_id]
    run_start = changed & (run_len >= cfg.stale_run)
    rows = np.flatnonzero(run_start)
    if len(rows):
        ends = dates[rows + run_len[rows] - 1]
        findings += _records(
            sym,
            dates,
            rows,
            "stale_run",
            "low",
            (f"{int(run_len[i])} identical closes of {close[i]:g}" for i in rows),
            ends,
        )

    # --- one-day spikes that reverse ---------------------------------------------------------
    two_day = (1.0 + adj_ret) * (1.0 + next_adj_ret) - 1.0
    spike = (
        (np.abs(adj_ret) >= cfg.spike)
        & (np.sign(next_adj_ret) == -np.sign(adj_ret))
        & (np.abs(two_day) <= cfg.spike_reversal * np.abs(adj_ret))
    )
    rows = np.flatnonzero(spike)
    findings += _records(
        sym,
        dates,
        rows,
        "one_day_spike",
        "high",
        (f"adjusted close {adj_ret[i]:+.1%} then {next_adj_ret[i]:+.1%} the next day" for i in rows),
    )

    # --- split records that disagree with the raw price move --------------------------------
    has_split = (split != 1.0) & ~first
    gap = np.abs(np.log(raw_ratio * split))
    rows = np.flatnonzero(has_split & (gap > cfg.split_tolerance))
    findings += _records(
        sym,
        dates,
        rows,
        "split_mismatch",
        "high",
        (
            f"split {split[i]:g} recorded but raw close {prev_close[i]:g} -> {close[i]:g} "
            f"(x{raw_ratio[i]:.3f}, expected x{1 / split[i]:.3f})"
            for i in rows
        ),
    )

    # --- raw moves that look like an unrecorded split (and do not reverse next day) ---------
    lr = np.log(raw_ratio)
    dist = np.abs(np.abs(lr)[:, None] - np.log(SPLIT_RATIOS)[None, :])
    nearest = dist.argmin(axis=1)
    split_like = (dist.min(axis=1) <= cfg.split_like_tolerance) & (split == 1.0) & ~first & ~spike
    split_like &= div < 0.05 * np.nan_to_num(prev_close, nan=np.inf)
    rows = np.flatnonzero(split_like)
    ratio = SPLIT_RATIOS[nearest[rows]]
    sev = np.where(ratio == 1.5, "low", "high")
    findings += _records(
        sym,
        dates,
        rows,
        "unrecorded_split",
        sev,
        (
            f"raw close {prev_close[i]:g} -> {close[i]:g} (x{raw_ratio[i]:.3f}) looks like a {k:g}-for-1 "
            f"{'split' if lr[i] < 0 else 'reverse split'} with no split recorded; adjusted close moves "
            f"{adj_ret[i]:+.1%}"
            for i, k in zip(rows, ratio, strict=True)
        ),
    )

    # --- distributions: larger than the price, or large enough to be a spin-off ---------------
    share = div / prev_close
    rows = np.flatnonzero(~first & (share >= 1.0))
    findings += _records(
        sym,
        dates,
        rows,
        "dividend_exceeds_price",
        "high",
        (f"dividend {div[i]:g} exceeds the previous close {prev_close[i]:g}" for i in rows),
    )
    rows = np.flatnonzero(~first & (share >= cfg.large_distribution) & (share < 1.0))
    findings += _records(
        sym,
        dates,
        rows,
        "large_distribution",
        "medium",
        (
            f"dividend {div[i]:g} is {share[i]:.0%} of the previous close {prev_close[i]:g}: a spin-off, "
            "stock dividend or special distribution booked as cash?"
            for i in rows
        ),
    )

    # --- adjusted closes the recorded events do not explain ----------------------------------
    if "adj_close" in p:
        implied = split * (close + div) / prev_close
        mismatch = ~first & (np.abs(np.log((1.0 + adj_ret) / implied)) > cfg.adj_tolerance) & ~spike
        event = (split != 1.0) | (div > 0)
        for check, mask, sev_ in (
            ("adj_change_without_event", mismatch & ~event, "high"),
            ("complex_corporate_action", (mismatch & event) | (~first & (split != 1.0) & (div > 0)), "high"),
        ):
            rows = np.flatnonzero(mask)
            findings += _records(
                sym,
                dates,
                rows,
                check,
                sev_,
                (
                    f"adjusted close moves {adj_ret[i]:+.1%} but raw close {prev_close[i]:g} -> {close[i]:g} with "
                    f"split {split[i]:g} and dividend {div[i]:g} implies {implied[i] - 1:+.1%}"
                    for i in rows
                ),
            )

    # --- symbols whose history stops before the file's end; symbols named without prices ------
    end_all = dates.max()
    rows = np.flatnonzero(last & (dates < cal[-1]) & (dates < end_all))
    findings += _records(
        sym,
        dates,
        rows,
        "ends_early",
        "low",
        (f"no prices after {_day(dates[i])} (delisted, acquired or missing)" for i in rows),
    )
    named: set[str] = set()
    if securities is not None:
        named |= {str(s) for s in securities.index}
    if benchmark is not None:
        named |= {str(s) for s in benchmark.index}
    for s in sorted(named - set(np.unique(sym).tolist())):
        findings.append(Finding(s, None, "no_prices", "high", "named in the security master or benchmark, no prices"))

    findings.sort(key=lambda f: (f.symbol, f.date or date.min, f.check))
    return findings


def summarize(findings: Iterable[Finding]) -> list[dict[str, object]]:
    """Counts by check and severity, most severe first."""
    order = {"high": 0, "medium": 1, "low": 2}
    c = Counter((f.check, f.severity) for f in findings)
    syms: dict[tuple[str, str], set[str]] = {}
    for f in findings:
        syms.setdefault((f.check, f.severity), set()).add(f.symbol)
    rows = [{"check": k[0], "severity": k[1], "findings": v, "symbols": len(syms[k])} for k, v in c.items()]
    return sorted(rows, key=lambda r: (order.get(str(r["severity"]), 3), str(r["check"])))
