"""Reading the market data a user brings: prices, the security master, benchmark weights, index membership.

Every loader checks its whole file and raises one ``InputError`` listing every bad row by file, line
(the 1-based line of a CSV, the 1-based row of a Parquet file, header counted as line 1 for CSV) and
field, so a user fixes a file in one pass. Nothing is silently repaired: data-quality findings that are
not malformed input (stale runs, spikes, odd corporate actions) are the business of
``directindex.market.checks``.

The data directory layout read by ``load_data_dir`` and written by ``market generate``::

    prices.parquet | prices.csv   date,symbol,close[,adj_close][,dividend][,split|split_coefficient]
    securities.csv                symbol,name,sector,industry,identical_group[,extra columns...]
    benchmark.csv                 symbol,weight | symbol,market_cap[,identical_group|issuer] | symbol
    membership.csv (optional)     symbol,start_date,end_date   (empty end_date = still a member)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from directindex.errors import InputError, InputIssue

PRICE_COLUMNS = ("date", "symbol", "close")
PRICE_OPTIONAL = ("adj_close", "dividend", "split")
SECURITY_COLUMNS = ("name", "sector", "industry", "identical_group")
# Names other common files use for the same thing (the S&P constituents file, Alpha Vantage exports).
_SECURITY_ALIASES = {
    "gics_sector": "sector",
    "gics_sub_industry": "industry",
    "share_class_group": "identical_group",
}
_PRICE_ALIASES = {"split_coefficient": "split", "adjusted_close": "adj_close", "dividend_amount": "dividend"}
MAX_ISSUES = 200


def _read_table(path: Path) -> tuple[pd.DataFrame, int]:
    """Raw table as strings or native types, and the offset from positional row to reported line."""
    name = str(path)
    if not path.exists():
        raise InputError.single(name, None, None, "file not found")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            return pd.read_parquet(path), 1
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True), 2
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError.single(name, None, None, f"cannot read file: {e}") from None


def _strip_columns(df: pd.DataFrame, aliases: dict[str, str]) -> pd.DataFrame:
    df = df.rename(columns={c: str(c).strip().lower() for c in df.columns})
    return df.rename(columns={k: v for k, v in aliases.items() if k in df.columns and v not in df.columns})


def _issues_for(mask: np.ndarray, name: str, offset: int, field: str, message: str) -> list[InputIssue]:
    rows = np.flatnonzero(mask)[:MAX_ISSUES]
    return [InputIssue(name, int(r) + offset, field, message) for r in rows]


def _numeric(df: pd.DataFrame, col: str) -> tuple[pd.Series, np.ndarray]:
    """Column as float and a mask of cells that are present but not numbers."""
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64"), np.zeros(len(raw), dtype=bool)
    text = raw.astype(str).str.strip().str.replace(",", "", regex=False)
    blank = (text == "") | raw.isna().to_numpy()
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    return num.astype("float64"), (num.isna() & ~blank).to_numpy()


def _dates(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Column as datetime64, a mask of blank cells and a mask of unparseable ones."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        d = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        blank = d.isna().to_numpy()
        return d.astype("datetime64[ns]"), blank, np.zeros(len(raw), dtype=bool)
    text = raw.map(lambda v: v.isoformat() if isinstance(v, date) else ("" if v is None else str(v)))
    text = text.str.strip()
    blank = (text == "").to_numpy() | raw.isna().to_numpy()
    parsed = pd.to_datetime(text.where(~blank), errors="coerce", format="ISO8601")
    return parsed.astype("datetime64[ns]"), blank, (parsed.isna().to_numpy() & ~blank)


def derive_adj_close(prices: pd.DataFrame) -> pd.Series:
    """Total-return adjusted close from ``close``, ``dividend`` and ``split`` (new shares per old share).

    The holder's return on day t is ``split_t * (close_t + dividend_t) / close_{t-1} - 1``; the series is
    chained and scaled so that the last adjusted close equals the last close, as vendors publish it.
    ``prices`` must be sorted by symbol then date.
    """
    close = prices["close"].to_numpy(dtype=float)
    div = prices["dividend"].to_numpy(dtype=float) if "dividend" in prices else np.zeros(len(prices))
    split = prices["split"].to_numpy(dtype=float) if "split" in prices else np.ones(len(prices))
    sym = prices["symbol"].to_numpy()
    first = np.ones(len(prices), dtype=bool)
    first[1:] = sym[1:] != sym[:-1]
    prev = np.roll(close, 1)
    gross = np.where(first, 1.0, split * (close + div) / prev)
    log_growth = pd.Series(np.log(gross)).groupby(sym, sort=False).cumsum().to_numpy()
    last_log = pd.Series(log_growth).groupby(sym, sort=False).transform("last").to_numpy()
    last_close = pd.Series(close).groupby(sym, sort=False).transform("last").to_numpy()
    return pd.Series(last_close * np.exp(log_growth - last_log), index=prices.index, name="adj_close")


def load_prices(path: Path | str) -> pd.DataFrame:
    """Long-form daily prices from CSV or Parquet, validated, sorted by symbol and date.

    Columns out: ``date`` (datetime64), ``symbol``, ``close``, ``adj_close`` (derived when absent),
    ``dividend`` (0 when absent), ``split`` (1 when absent; ``split_coefficient`` is accepted as a name),
    plus any other columns the file had (``volume``...).
    """
    path = Path(path)
    name = str(path)
    raw, offset = _read_table(path)
    df = _strip_columns(raw, _PRICE_ALIASES)
    missing = [c for c in PRICE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError.single(
            name, 1 if offset == 2 else None, missing[0], f"missing column(s): {', '.join(missing)}"
        )
    issues: list[InputIssue] = []
    dates, blank_d, bad_d = _dates(df["date"])
    issues += _issues_for(blank_d, name, offset, "date", "date is empty")
    issues += _issues_for(bad_d, name, offset, "date", "not a date (expected YYYY-MM-DD)")
    sym = df["symbol"].astype(str).str.strip()
    issues += _issues_for(
        (sym == "").to_numpy() | df["symbol"].isna().to_numpy(), name, offset, "symbol", "symbol is empty"
    )
    out = pd.DataFrame({"date": dates, "symbol": sym})
    close, bad = _numeric(df, "close")
    issues += _issues_for(bad, name, offset, "close", "not a number")
    issues += _issues_for(close.isna().to_numpy() & ~bad, name, offset, "close", "close is empty")
    issues += _issues_for(
        (close <= 0).to_numpy() | np.isinf(close.to_numpy()),
        name,
        offset,
        "close",
        "close must be a positive finite number",
    )
    out["close"] = close
    if "adj_close" in df.columns:
        adj, bad = _numeric(df, "adj_close")
        issues += _issues_for(bad, name, offset, "adj_close", "not a number")
        issues += _issues_for((adj <= 0).to_numpy(), name, offset, "adj_close", "adj_close must be positive")
        out["adj_close"] = adj
    for col, default, check, msg in (
        ("dividend", 0.0, lambda s: s < 0, "dividend must not be negative"),
        ("split", 1.0, lambda s: s <= 0, "split must be a positive ratio (new shares per old share)"),
    ):
        if col in df.columns:
            vals, bad = _numeric(df, col)
            issues += _issues_for(bad, name, offset, col, "not a number")
            issues += _issues_for(check(vals).to_numpy(), name, offset, col, msg)
            out[col] = vals.fillna(default)
        else:
            out[col] = default
    for col in df.columns:
        if col not in out.columns:
            out[col] = df[col].to_numpy()
    if not issues:
        dup = out.duplicated(["symbol", "date"], keep="first").to_numpy()
        issues += _issues_for(dup, name, offset, "date", "duplicate row for this symbol and date")
    if issues:
        raise InputError(issues[:MAX_ISSUES])
    out = out.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    if "adj_close" not in out.columns:
        out["adj_close"] = derive_adj_close(out)
    elif out["adj_close"].isna().any():
        derived = derive_adj_close(out)
        # A partly empty adj_close column is filled only where the file left it blank.
        out["adj_close"] = out["adj_close"].fillna(derived)
    cols = ["date", "symbol", "close", "adj_close", "dividend", "split"]
    return out[cols + [c for c in out.columns if c not in cols]]


def _as_bool_or_number(col: pd.Series) -> pd.Series:
    """Extra security-master columns: true/false become bool, numbers float, the rest stays text."""
    text = col.astype(str).str.strip()
    low = text.str.lower()
    nonblank = low != ""
    if (
        nonblank.any()
        and low[nonblank].isin(["true", "false", "yes", "no", "1", "0"]).all()
        and low[nonblank].isin(["true", "false", "yes", "no"]).any()
    ):
        return low.isin(["true", "yes", "1"])
    num = pd.to_numeric(text.where(nonblank), errors="coerce")
    if nonblank.any() and num[nonblank].notna().all():
        return num.astype("float64")
    return text


def load_security_master(path: Path | str) -> pd.DataFrame:
    """The security master as a frame indexed by symbol with ``name, sector, industry, identical_group``.

    Every other column is kept (ESG flags become bool, scores float). An empty ``identical_group``
    means the symbol is its own group, so the column always names a group. ``gics_sector``,
    ``gics_sub_industry`` and ``share_class_group`` are accepted for ``sector``, ``industry`` and
    ``identical_group``.
    """
    path = Path(path)
    name = str(path)
    raw, offset = _read_table(path)
    df = _strip_columns(raw, _SECURITY_ALIASES)
    if "symbol" not in df.columns:
        raise InputError.single(name, 1, "symbol", "missing column: symbol")
    df = df.astype(str).apply(lambda c: c.str.strip()).replace({"nan": "", "None": ""})
    issues = _issues_for((df["symbol"] == "").to_numpy(), name, offset, "symbol", "symbol is empty")
    dup = (df["symbol"] != "") & df["symbol"].duplicated(keep="first")
    issues += [
        InputIssue(name, int(r) + offset, "symbol", f"duplicate symbol '{df['symbol'].iat[r]}'")
        for r in np.flatnonzero(dup.to_numpy())[:MAX_ISSUES]
    ]
    if issues:
        raise InputError(issues)
    for col in SECURITY_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    df["identical_group"] = df["identical_group"].where(df["identical_group"] != "", df["symbol"])
    for col in df.columns:
        if col not in ("symbol", *SECURITY_COLUMNS):
            df[col] = _as_bool_or_number(df[col])
    df = df.set_index("symbol")
    return df[list(SECURITY_COLUMNS) + [c for c in df.columns if c not in SECURITY_COLUMNS]]


def _weights_from_caps(symbols: pd.Series, caps: pd.Series, groups: pd.Series, multi_class: str) -> pd.Series:
    if multi_class == "issuer_total":
        # Each class row carries the whole issuer's cap: count the issuer once (its largest row) and
        # split it equally across its classes.
        issuer_cap = caps.groupby(groups).transform("max")
        n_classes = groups.groupby(groups).transform("size")
        caps = issuer_cap / n_classes
    w = pd.Series(caps.to_numpy(), index=symbols.to_numpy(), name="weight")
    return w / w.sum()


def load_benchmark(
    path: Path | str,
    securities: pd.DataFrame | None = None,
    method: Literal["auto", "weight", "market_cap", "equal"] = "auto",
    multi_class: Literal["issuer_total", "per_class"] = "issuer_total",
) -> pd.Series:
    """Benchmark weights (symbol -> weight, summing to 1) from a weights, market-cap or symbol list file.

    ``auto`` uses ``weight`` if present, else ``market_cap``, else equal weights. With market caps a
    multi-class issuer (rows sharing an ``issuer`` or ``identical_group`` column in the file, or an
    ``identical_group`` in ``securities``) is counted once: by default (``issuer_total``) each class row is
    taken to carry the issuer's total cap, as most cap tables do; ``per_class`` sums class caps instead.
    """
    path = Path(path)
    name = str(path)
    raw, offset = _read_table(path)
    df = _strip_columns(raw, {"market_cap_usd": "market_cap", "cap": "market_cap"})
    if "symbol" not in df.columns:
        raise InputError.single(name, 1, "symbol", "missing column: symbol")
    sym = df["symbol"].astype(str).str.strip()
    issues = _issues_for((sym == "").to_numpy(), name, offset, "symbol", "symbol is empty")
    dup = (sym != "") & sym.duplicated()
    issues += _issues_for(dup.to_numpy(), name, offset, "symbol", "duplicate symbol")
    if method == "auto":
        method = "weight" if "weight" in df.columns else "market_cap" if "market_cap" in df.columns else "equal"
    if method in ("weight", "market_cap") and method not in df.columns:
        issues.append(InputIssue(name, 1, method, f"missing column: {method}"))
    if issues:
        raise InputError(issues)
    if method == "equal":
        if not len(sym):
            raise InputError.single(name, None, None, "no symbols")
        return pd.Series(1.0 / len(sym), index=sym.to_numpy(), name="weight")
    vals, bad = _numeric(df, method)
    issues += _issues_for(bad, name, offset, method, "not a number")
    issues += _issues_for((vals.isna().to_numpy() & ~bad), name, offset, method, f"{method} is empty")
    issues += _issues_for((vals < 0).to_numpy(), name, offset, method, f"{method} must not be negative")
    if not issues and not vals.sum() > 0:
        issues.append(InputIssue(name, None, method, f"{method} values sum to zero"))
    if issues:
        raise InputError(issues)
    if method == "weight":
        w = pd.Series(vals.to_numpy(), index=sym.to_numpy(), name="weight")
        return w / w.sum()
    group_col = next((c for c in ("issuer", "identical_group", "multi_class_group") if c in df.columns), None)
    if group_col is not None:
        g = df[group_col].astype(str).str.strip()
        groups = g.where(g != "", sym)
    elif securities is not None and "identical_group" in securities.columns:
        groups = sym.map(securities["identical_group"]).fillna(sym)
        groups = groups.where(groups != "", sym)
    else:
        groups = sym
    return _weights_from_caps(sym, vals, groups.reset_index(drop=True), multi_class)


def load_membership(path: Path | str) -> pd.DataFrame:
    """Point-in-time index membership: ``symbol, start_date, end_date`` (NaT = still a member).

    ``end_date`` is the last day of membership (inclusive). Extra columns are kept.
    """
    path = Path(path)
    name = str(path)
    raw, offset = _read_table(path)
    df = _strip_columns(raw, {})
    missing = [c for c in ("symbol", "start_date", "end_date") if c not in df.columns]
    if missing:
        raise InputError.single(name, 1, missing[0], f"missing column(s): {', '.join(missing)}")
    sym = df["symbol"].astype(str).str.strip()
    issues = _issues_for((sym == "").to_numpy(), name, offset, "symbol", "symbol is empty")
    start, blank_s, bad_s = _dates(df["start_date"])
    end, _blank_e, bad_e = _dates(df["end_date"])
    issues += _issues_for(blank_s, name, offset, "start_date", "start_date is empty")
    issues += _issues_for(bad_s, name, offset, "start_date", "not a date (expected YYYY-MM-DD)")
    issues += _issues_for(bad_e, name, offset, "end_date", "not a date (expected YYYY-MM-DD or empty)")
    issues += _issues_for((end < start).to_numpy(), name, offset, "end_date", "end_date is before start_date")
    if issues:
        raise InputError(issues)
    out = pd.DataFrame({"symbol": sym, "start_date": start, "end_date": end})
    for col in df.columns:
        if col not in out.columns:
            out[col] = df[col].to_numpy()
    return out.reset_index(drop=True)


def members_on(membership: pd.DataFrame, on: date | str | pd.Timestamp) -> set[str]:
    """Symbols in the index on ``on`` (start <= on <= end, an empty end meaning still a member)."""
    t = pd.Timestamp(on)
    m = (membership["start_date"] <= t) & (membership["end_date"].isna() | (membership["end_date"] >= t))
    return set(membership.loc[m, "symbol"].astype(str))


@dataclass(frozen=True)
class MarketData:
    """Everything read from one data directory."""

    prices: pd.DataFrame
    securities: pd.DataFrame
    benchmark: pd.Series
    membership: pd.DataFrame | None = None

    @property
    def symbols(self) -> list[str]:
        return sorted(self.prices["symbol"].unique().tolist())


def prices_path(directory: Path | str) -> Path:
    """``prices.parquet`` if present, else ``prices.csv`` (which may then be missing)."""
    d = Path(directory)
    for candidate in ("prices.parquet", "prices.csv", "prices.csv.gz"):
        if (d / candidate).exists():
            return d / candidate
    return d / "prices.csv"


def load_data_dir(directory: Path | str) -> MarketData:
    """Read the data-directory layout (see the module docstring), reporting every file's issues together."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError.single(str(d), None, None, "data directory not found")
    issues: list[InputIssue] = []
    results: dict[str, object] = {}

    def attempt(key: str, fn: object, *args: object) -> None:
        try:
            results[key] = fn(*args)  # type: ignore[operator]
        except InputError as e:
            issues.extend(e.issues)

    attempt("prices", load_prices, prices_path(d))
    attempt("securities", load_security_master, d / "securities.csv")
    if "securities" in results:
        attempt("benchmark", load_benchmark, d / "benchmark.csv", results["securities"])
    if (d / "membership.csv").exists():
        attempt("membership", load_membership, d / "membership.csv")
    if issues:
        raise InputError(issues)
    return MarketData(
        prices=results["prices"],  # type: ignore[arg-type]
        securities=results["securities"],  # type: ignore[arg-type]
        benchmark=results["benchmark"],  # type: ignore[arg-type]
        membership=results.get("membership"),  # type: ignore[arg-type]
    )


def unknown_symbols(symbols: Iterable[str], known: Iterable[str]) -> list[str]:
    """Symbols not in ``known`` (e.g. benchmark names without prices), sorted."""
    k = set(known)
    return sorted({s for s in symbols if s not in k})
