"""What each household and account asked of the harvest pass, read from ``policy.toml`` into frozen records.

Every field is optional; defaults are documented on each record and in ``docs/harvest.md``. The layout::

    [defaults]                 # every account, unless [accounts.<id>] says otherwise
    benchmark = "holdings"     # "holdings" | a CSV path (symbol,weight; relative to the book dir) | {SYM = w}
    te_budget = 0.02           # alias: tracking_error_budget
    replacement = "peer"       # peer | basket | optimizer | none
    basket_size = 3
    drip = false               # dividend reinvestment on: true/false, or a list of symbols
    exclusions = []            # symbols never bought as replacements
    exclude_sectors = []
    cadence = "daily"

    [harvest]                  # harvest settings; [accounts.<id>.harvest] overrides per account
    loss_threshold = 0.02      # fraction of basis
    min_loss = 0               # dollars
    min_days = 0               # days since purchase
    trading_cost = 0.0005      # fraction of notional, per trade (the sale and its replacement)
    swap_back = false          # after the 31-day window, swap a replacement back when TE improves
    enabled = true

    [tax]                      # every household, unless [households.<id>] says otherwise
    filing_status = "married_filing_jointly"
    # either explicit rates ...
    short_term_rate = 0.408    # federal + NIIT + state on net short-term gain
    long_term_rate = 0.238
    ordinary_rate = 0.37       # on the $3,000 ordinary-income allowance
    # ... or income and state, looked up in directindex.tax's rate tables
    taxable_income = 400000
    state = "CA"               # or state_rate = 0.05
    outside_short_term = 0     # gains (+) or losses (-) realized outside the book this year
    outside_long_term = 0
    carryover_short = 0        # capital-loss carryover in (positive amounts)
    carryover_long = 0
    carryforward_discount = 0.9
    target = 10000             # stop once this much loss is harvested (optional)
    target_term = "short"      # which character to harvest first for the target

    [[pending]]                # proposed but unexecuted orders (or pending.csv in the book dir)
    account = "IRA-1"
    symbol = "GOOGL"
    side = "buy"
    quantity = 10
    date = 2025-03-10          # optional; default the pass's date

Sections the harvest engine does not own (``[approval]``, ``[risk]``, ``[accounts.<id>.approval]``) are
left alone. A bad value raises ``InputError`` naming the file and the key (``accounts.JOINT.te_budget``).
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from directindex.errors import InputError, InputIssue
from directindex.ledger.records import Term
from directindex.tax import FilingStatus, TaxRates, marginal_rates, top_rates

ZERO = Decimal(0)
REPLACEMENT_POLICIES = ("peer", "basket", "optimizer", "none")


@dataclass(frozen=True, slots=True)
class HarvestSettings:
    """When a lot is worth harvesting (defaults: 2% of basis, no dollar minimum, no holding minimum)."""

    loss_threshold: float = 0.02
    min_loss: Decimal = ZERO
    min_days: int = 0
    trading_cost: float = 0.0005
    swap_back: bool = False
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """One account's wishes. ``benchmark`` of ``None`` means the account's current holdings' weights."""

    benchmark: Mapping[str, float] | None = None
    te_budget: float | None = None
    replacement: str = "peer"
    basket_size: int = 3
    drip: bool | tuple[str, ...] = False
    exclusions: tuple[str, ...] = ()
    exclude_sectors: tuple[str, ...] = ()
    cadence: str = "daily"
    harvest: HarvestSettings = field(default_factory=HarvestSettings)

    def drip_on(self, symbol: str) -> bool:
        return self.drip if isinstance(self.drip, bool) else symbol in self.drip


@dataclass(frozen=True, slots=True)
class HouseholdPolicy:
    """One household's tax position. Without rates or income: top federal rates, no state tax."""

    filing_status: FilingStatus = FilingStatus.MARRIED_FILING_JOINTLY
    short_term_rate: Decimal | None = None
    long_term_rate: Decimal | None = None
    ordinary_rate: Decimal | None = None
    taxable_income: Decimal | None = None
    state: str | None = None
    state_rate: Decimal | None = None
    outside_short_term: Decimal = ZERO
    outside_long_term: Decimal = ZERO
    carryover_short: Decimal = ZERO
    carryover_long: Decimal = ZERO
    carryforward_discount: Decimal = Decimal("0.9")
    target: Decimal | None = None
    target_term: Term | None = None

    def rates(self, year: int) -> TaxRates:
        """Explicit rates where given; else income and state through the rate tables; else top rates."""
        if self.taxable_income is not None or self.state:
            base = marginal_rates(year, self.filing_status, self.taxable_income, self.state,
                                  state_rate=self.state_rate).rates
        else:
            base = top_rates(self.state_rate or ZERO).rates
        return TaxRates(
            self.short_term_rate if self.short_term_rate is not None else base.short_term,
            self.long_term_rate if self.long_term_rate is not None else base.long_term,
            self.ordinary_rate if self.ordinary_rate is not None else base.ordinary,
        )


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """A proposed or placed order not yet in the book; a pending buy is a purchase inside the window."""

    account: str
    symbol: str
    side: str
    quantity: Decimal
    date: date | None = None
    id: str = ""


@dataclass(frozen=True)
class HarvestPolicy:
    """The whole book's policy: defaults plus per-household and per-account overrides."""

    defaults: AccountPolicy = field(default_factory=AccountPolicy)
    tax: HouseholdPolicy = field(default_factory=HouseholdPolicy)
    accounts: Mapping[str, AccountPolicy] = field(default_factory=dict)
    households: Mapping[str, HouseholdPolicy] = field(default_factory=dict)
    pending: tuple[PendingOrder, ...] = ()

    def account(self, account: str) -> AccountPolicy:
        return self.accounts.get(account, self.defaults)

    def household(self, household: str) -> HouseholdPolicy:
        return self.households.get(household, self.tax)

    def with_pending(self, orders: tuple[PendingOrder, ...]) -> HarvestPolicy:
        return replace(self, pending=self.pending + orders)


# --- loading -----------------------------------------------------------------------------------


class _Reader:
    """Typed access to one TOML table with errors that name the file and the dotted key."""

    def __init__(self, file: str, prefix: str, table: Any):
        self.file, self.prefix = file, prefix
        if not isinstance(table, Mapping):
            raise self.error("", "expected a table")
        self.table: Mapping[str, Any] = table

    def error(self, key: str, message: str) -> InputError:
        return InputError.single(self.file, None, f"{self.prefix}{key}" if key else self.prefix.rstrip("."), message)

    def check_keys(self, allowed: set[str], foreign: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        for key, value in self.table.items():
            if key not in allowed and key not in foreign and not isinstance(value, Mapping):
                raise self.error(key, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def fraction(self, key: str, default: float, *, allow_one: bool = False) -> float:
        if key not in self.table:
            return default
        v = self.table[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(key, f"expected a number, got {v!r}")
        if not (0 <= v < 1 or (allow_one and v == 1)):
            raise self.error(key, f"expected a fraction in [0, 1), got {v!r}")
        return float(v)

    def decimal(self, key: str, default: Decimal | None, *, non_negative: bool = False,
                fraction: bool = False) -> Decimal | None:
        if key not in self.table:
            return default
        v = self.table[key]
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise self.error(key, f"expected a number, got {v!r}")
        try:
            d = Decimal(str(v))
        except InvalidOperation:
            raise self.error(key, f"expected a number, got {v!r}") from None
        if not d.is_finite():
            raise self.error(key, f"expected a finite number, got {v!r}")
        if non_negative and d < 0:
            raise self.error(key, f"must not be negative, got {v!r}")
        if fraction and not ZERO <= d < 1:
            raise self.error(key, f"expected a fraction in [0, 1), got {v!r}")
        return d

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        if key not in self.table:
            return default
        v = self.table[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self.error(key, f"expected a whole number >= {minimum}, got {v!r}")
        return v

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        v = self.table[key]
        if not isinstance(v, bool):
            raise self.error(key, f"expected true or false, got {v!r}")
        return v

    def text(self, key: str, default: str | None, choices: tuple[str, ...] | None = None) -> str | None:
        if key not in self.table:
            return default
        v = self.table[key]
        if not isinstance(v, str) or not v.strip():
            raise self.error(key, f"expected a non-empty string, got {v!r}")
        if choices is not None and v not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {v!r}")
        return v.strip()

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        if key not in self.table:
            return default
        v = self.table[key]
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise self.error(key, f"expected a list of strings, got {v!r}")
        return tuple(x.strip() for x in v)


_HARVEST_KEYS = {f.name for f in fields(HarvestSettings)}
_ACCOUNT_KEYS = {"benchmark", "te_budget", "tracking_error_budget", "replacement", "basket_size", "drip",
                 "exclusions", "exclude_sectors", "cadence"}
_HOUSEHOLD_KEYS = {f.name for f in fields(HouseholdPolicy)}


def _harvest(r: _Reader, base: HarvestSettings) -> HarvestSettings:
    r.check_keys(_HARVEST_KEYS)
    return HarvestSettings(
        loss_threshold=r.fraction("loss_threshold", base.loss_threshold),
        min_loss=r.decimal("min_loss", base.min_loss, non_negative=True) or ZERO,
        min_days=r.integer("min_days", base.min_days),
        trading_cost=r.fraction("trading_cost", base.trading_cost),
        swap_back=r.boolean("swap_back", base.swap_back),
        enabled=r.boolean("enabled", base.enabled),
    )


def _benchmark(r: _Reader, base: Mapping[str, float] | None, book_dir: Path | None) -> Mapping[str, float] | None:
    if "benchmark" not in r.table:
        return base
    v = r.table["benchmark"]
    if v == "holdings":
        return None
    if isinstance(v, Mapping):
        weights: dict[str, float] = {}
        for sym, w in v.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
                raise r.error(f"benchmark.{sym}", f"expected a non-negative weight, got {w!r}")
            weights[str(sym)] = float(w)
        return _normalized(weights, r, "benchmark")
    if isinstance(v, str) and v.strip():
        path = Path(v)
        if not path.is_absolute() and book_dir is not None:
            path = book_dir / path
        return _normalized(_read_weights(path, r), r, "benchmark")
    raise r.error("benchmark", f"expected \"holdings\", a CSV path or a table of weights, got {v!r}")


def _normalized(weights: dict[str, float], r: _Reader, key: str) -> dict[str, float]:
    total = sum(weights.values())
    if total <= 0:
        raise r.error(key, "benchmark weights sum to zero")
    return {s: w / total for s, w in weights.items()}


def _read_weights(path: Path, r: _Reader) -> dict[str, float]:
    if not path.exists():
        raise r.error("benchmark", f"benchmark file {path} not found")
    out: dict[str, float] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "symbol" not in reader.fieldnames or "weight" not in reader.fieldnames:
            raise InputError.single(str(path), 1, "symbol", "expected columns symbol,weight")
        for line, row in enumerate(reader, start=2):
            try:
                w = float(row["weight"])
            except (TypeError, ValueError):
                raise InputError.single(str(path), line, "weight", f"not a number: {row['weight']!r}") from None
            if w < 0 or w != w:
                raise InputError.single(str(path), line, "weight", f"weight must be non-negative: {w}")
            out[row["symbol"].strip()] = out.get(row["symbol"].strip(), 0.0) + w
    return out


def _account(r: _Reader, base: AccountPolicy, harvest_base: HarvestSettings, book_dir: Path | None) -> AccountPolicy:
    r.check_keys(_ACCOUNT_KEYS)
    te = r.fraction("te_budget", -1.0) if "te_budget" in r.table else r.fraction("tracking_error_budget", -1.0)
    drip: bool | tuple[str, ...] = base.drip
    if "drip" in r.table:
        drip = r.boolean("drip", False) if isinstance(r.table["drip"], bool) else r.strings("drip", ())
    harvest = harvest_base
    if "harvest" in r.table:
        harvest = _harvest(_Reader(r.file, f"{r.prefix}harvest.", r.table["harvest"]), harvest_base)
    return AccountPolicy(
        benchmark=_benchmark(r, base.benchmark, book_dir),
        te_budget=base.te_budget if te < 0 else te,
        replacement=r.text("replacement", base.replacement, REPLACEMENT_POLICIES) or base.replacement,
        basket_size=r.integer("basket_size", base.basket_size, minimum=1),
        drip=drip,
        exclusions=r.strings("exclusions", base.exclusions),
        exclude_sectors=r.strings("exclude_sectors", base.exclude_sectors),
        cadence=r.text("cadence", base.cadence, ("daily", "weekly", "monthly")) or base.cadence,
        harvest=harvest,
    )


def _household(r: _Reader, base: HouseholdPolicy) -> HouseholdPolicy:
    r.check_keys(_HOUSEHOLD_KEYS)
    status = r.text("filing_status", base.filing_status.value, tuple(s.value for s in FilingStatus))
    term = r.text("target_term", base.target_term.value if base.target_term else None, ("short", "long"))
    out = HouseholdPolicy(
        filing_status=FilingStatus(status or base.filing_status),
        short_term_rate=r.decimal("short_term_rate", base.short_term_rate, fraction=True),
        long_term_rate=r.decimal("long_term_rate", base.long_term_rate, fraction=True),
        ordinary_rate=r.decimal("ordinary_rate", base.ordinary_rate, fraction=True),
        taxable_income=r.decimal("taxable_income", base.taxable_income, non_negative=True),
        state=r.text("state", base.state),
        state_rate=r.decimal("state_rate", base.state_rate, fraction=True),
        outside_short_term=r.decimal("outside_short_term", base.outside_short_term) or ZERO,
        outside_long_term=r.decimal("outside_long_term", base.outside_long_term) or ZERO,
        carryover_short=r.decimal("carryover_short", base.carryover_short, non_negative=True) or ZERO,
        carryover_long=r.decimal("carryover_long", base.carryover_long, non_negative=True) or ZERO,
        carryforward_discount=r.decimal("carryforward_discount", base.carryforward_discount, non_negative=True)
        or ZERO,
        target=r.decimal("target", base.target, non_negative=True),
        target_term=Term(term) if term else None,
    )
    if out.carryforward_discount > 1:
        raise r.error("carryforward_discount", "expected a fraction in [0, 1]")
    if out.state:
        try:
            out.rates(date.today().year)
        except LookupError as e:
            raise r.error("state", str(e)) from None
    return out


def _pending(file: str, rows: Any) -> tuple[PendingOrder, ...]:
    if not isinstance(rows, list):
        raise InputError.single(file, None, "pending", "expected an array of tables ([[pending]])")
    out = []
    for i, row in enumerate(rows):
        r = _Reader(file, f"pending[{i}].", row)
        r.check_keys({"account", "symbol", "side", "quantity", "date", "id"})
        for key in ("account", "symbol", "side", "quantity"):
            if key not in r.table:
                raise r.error(key, "missing")
        day = r.table.get("date")
        if day is not None and not isinstance(day, date):
            raise r.error("date", f"expected a date (YYYY-MM-DD, unquoted), got {day!r}")
        out.append(PendingOrder(
            account=r.text("account", "") or "", symbol=r.text("symbol", "") or "",
            side=r.text("side", "buy", ("buy", "sell")) or "buy",
            quantity=r.decimal("quantity", ZERO, non_negative=True) or ZERO, date=day,
            id=r.text("id", f"pending-{i + 1}") or "",
        ))
    return tuple(out)


def policy_from_mapping(data: Mapping[str, Any] | None, file: str = "policy.toml",
                        book_dir: Path | None = None) -> HarvestPolicy:
    """Build the policy from parsed TOML (the stored book's ``policy`` dict works too)."""
    if not data:
        return HarvestPolicy()
    harvest = HarvestSettings()
    if "harvest" in data:
        harvest = _harvest(_Reader(file, "harvest.", data["harvest"]), harvest)
    defaults = AccountPolicy(harvest=harvest)
    if "defaults" in data:
        defaults = _account(_Reader(file, "defaults.", data["defaults"]), defaults, harvest, book_dir)
    tax = HouseholdPolicy()
    if "tax" in data:
        tax = _household(_Reader(file, "tax.", data["tax"]), tax)
    accounts = {}
    for acct, table in (_Reader(file, "accounts.", data.get("accounts", {})).table).items():
        accounts[str(acct)] = _account(_Reader(file, f"accounts.{acct}.", table), defaults, defaults.harvest,
                                       book_dir)
    households = {}
    for hh, table in (_Reader(file, "households.", data.get("households", {})).table).items():
        households[str(hh)] = _household(_Reader(file, f"households.{hh}.", table), tax)
    pending = _pending(file, data["pending"]) if "pending" in data else ()
    return HarvestPolicy(defaults, tax, accounts, households, pending)


def load_policy(path: Path | str | None) -> HarvestPolicy:
    """``policy.toml`` (``None`` or a missing file: every default) plus ``pending.csv`` beside it."""
    if path is None:
        return HarvestPolicy()
    path = Path(path)
    book_dir = path.parent
    policy = HarvestPolicy()
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise InputError.single(str(path), getattr(e, "lineno", None), None, f"not valid TOML: {e}") from None
        policy = policy_from_mapping(data, str(path), book_dir)
    pending_csv = book_dir / "pending.csv"
    if pending_csv.exists():
        policy = policy.with_pending(load_pending_csv(pending_csv))
    return policy


PENDING_COLUMNS = ("account", "symbol", "side", "quantity")


def load_pending_csv(path: Path | str) -> tuple[PendingOrder, ...]:
    """``pending.csv``: ``account,symbol,side,quantity[,date][,id]`` (side ``buy`` or ``sell``)."""
    path = Path(path)
    name = str(path)
    issues: list[InputIssue] = []
    out: list[PendingOrder] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in PENDING_COLUMNS if c not in cols]
        if missing:
            raise InputError.single(name, 1, missing[0], f"missing column(s): {', '.join(missing)}")
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            before = len(issues)
            side = row["side"].lower()
            if side not in ("buy", "sell"):
                issues.append(InputIssue(name, line, "side", f"expected buy or sell, got {row['side']!r}"))
            for key in ("account", "symbol"):
                if not row[key]:
                    issues.append(InputIssue(name, line, key, f"{key} is empty"))
            try:
                qty = Decimal(row["quantity"])
                if not qty.is_finite() or qty <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                issues.append(InputIssue(name, line, "quantity", f"not a positive number: {row['quantity']!r}"))
                qty = ZERO
            day = None
            if row.get("date"):
                try:
                    day = date.fromisoformat(row["date"])
                except ValueError:
                    issues.append(InputIssue(name, line, "date", f"not a date (YYYY-MM-DD): {row['date']!r}"))
            if len(issues) == before:
                out.append(PendingOrder(row["account"], row["symbol"], side, qty, day,
                                        row.get("id") or f"pending-{line}"))
    if issues:
        raise InputError(issues)
    return tuple(out)
