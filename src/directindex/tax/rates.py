"""Marginal tax rates on a short-term and a long-term gain, read from rate tables kept as data.

A harvested loss is worth what it saves at the household's marginal rates: a short-term gain is taxed as
ordinary income, a long-term gain at 0, 15 or 20 percent depending on where it lands in taxable income, both
carry the 3.8% net investment income tax above a statutory threshold, and the state adds its own rate. The
federal brackets change every year by revenue procedure, so they live in CSV files under
``directindex/data/tax/``: a new year is new rows, not new code.

The marginal rate here is the rate on the next dollar of income given the taxable income passed in
(including the gains already realized). NIIT is judged on that same figure unless a separate modified
adjusted gross income is given, since MAGI is not known to the engine. State rates are top rates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import TypeVar

from directindex.tax.status import FilingStatus

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_DATA_PACKAGE, _DATA_DIR = "directindex", "data/tax"
_T = TypeVar("_T")


class RateTableError(LookupError):
    """A year, filing status or state the rate tables do not cover; the message says what is covered."""


@dataclass(frozen=True, slots=True)
class Bracket:
    """One bracket: ``rate`` applies to taxable income over ``over`` (up to the next bracket's ``over``)."""

    rate: Decimal
    over: Decimal

    def __post_init__(self) -> None:
        if not ZERO <= self.rate < 1:
            raise ValueError(f"bracket rate {self.rate} is not a fraction in [0, 1)")
        if self.over < 0:
            raise ValueError(f"bracket start {self.over} is negative")


@dataclass(frozen=True, slots=True)
class Schedule:
    """A rate schedule for one year and filing status, brackets in ascending order of ``over``."""

    year: int
    filing_status: FilingStatus
    brackets: tuple[Bracket, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.brackets or self.brackets[0].over != 0:
            raise ValueError(f"{self.year} {self.filing_status}: the first bracket must start at 0")
        for lo, hi in zip(self.brackets, self.brackets[1:], strict=False):
            if hi.over <= lo.over:
                raise ValueError(f"{self.year} {self.filing_status}: bracket starts must increase")

    def marginal(self, taxable_income: Decimal | None) -> Decimal:
        """The rate on the next dollar at ``taxable_income``; ``None`` means the top bracket."""
        if taxable_income is None:
            return self.brackets[-1].rate
        rate = self.brackets[0].rate
        for b in self.brackets:
            if taxable_income > b.over:
                rate = b.rate
        return rate

    def starts(self, rate: Decimal) -> Decimal:
        """Taxable income above which ``rate`` applies (the bracket's lower edge)."""
        for b in self.brackets:
            if b.rate == rate:
                return b.over
        raise RateTableError(f"{self.year} {self.filing_status} has no {rate * HUNDRED}% bracket")

    def tax(self, taxable_income: Decimal) -> Decimal:
        """Tax on ``taxable_income`` by this schedule, unrounded (the IRS tax table rounds; we do not)."""
        total = ZERO
        for b, nxt in zip(self.brackets, (*self.brackets[1:], None), strict=True):
            top = taxable_income if nxt is None else min(taxable_income, nxt.over)
            if top > b.over:
                total += (top - b.over) * b.rate
        return total


@dataclass(frozen=True, slots=True)
class Niit:
    """Net investment income tax: ``rate`` on investment income when MAGI is over ``threshold``."""

    year: int
    filing_status: FilingStatus
    rate: Decimal
    threshold: Decimal
    source: str

    def applies(self, magi: Decimal | None) -> bool:
        return magi is None or magi > self.threshold


@dataclass(frozen=True, slots=True)
class StateRate:
    """A state's top rate, with its own short- and long-term rates where the state taxes gains differently."""

    year: int
    state: str
    name: str
    ordinary: Decimal
    short_term: Decimal
    long_term: Decimal
    note: str = ""


@dataclass(frozen=True, slots=True)
class RateTables:
    """Every rate table, keyed for lookup; build it with ``load_rate_tables()``."""

    ordinary: Mapping[tuple[int, FilingStatus], Schedule]
    long_term: Mapping[tuple[int, FilingStatus], Schedule]
    niit: Mapping[tuple[int, FilingStatus], Niit]
    states: Mapping[str, tuple[StateRate, ...]]

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(sorted({y for y, _ in self.ordinary}))

    def ordinary_schedule(self, year: int, filing_status: FilingStatus) -> Schedule:
        return _get(self.ordinary, year, filing_status, "ordinary brackets", self.years)

    def long_term_schedule(self, year: int, filing_status: FilingStatus) -> Schedule:
        return _get(self.long_term, year, filing_status, "long-term capital gains brackets", self.years)

    def niit_for(self, year: int, filing_status: FilingStatus) -> Niit:
        return _get(self.niit, year, filing_status, "NIIT thresholds", self.years)

    def state(self, state: str, year: int) -> StateRate:
        """The newest row for ``state`` not after ``year`` (else its oldest): rates persist until changed."""
        rows = self.states.get(state.strip().upper())
        if not rows:
            known = ", ".join(sorted(self.states))
            raise RateTableError(f"no rate for state {state!r}; known: {known}; or pass an explicit rate")
        earlier = [r for r in rows if r.year <= year]
        return earlier[-1] if earlier else rows[0]


def _get(
    table: Mapping[tuple[int, FilingStatus], _T], year: int, status: FilingStatus, what: str, years: tuple[int, ...]
) -> _T:
    try:
        return table[(year, FilingStatus(status))]
    except (KeyError, ValueError):
        raise RateTableError(f"no {what} for {year} {status}; the tables cover {', '.join(map(str, years))}") from None


# --- loading ------------------------------------------------------------------------------------------------


def _rows(name: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Data rows of a packaged CSV with their line numbers; ``#`` lines are comments."""
    text = resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR, name).read_text(encoding="utf-8")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    body = [(n, line) for n, line in lines if not line.lstrip().startswith("#")]
    header = next(csv.reader([body[0][1]]))
    for n, line in body[1:]:
        values = next(csv.reader(io.StringIO(line)))
        if len(values) != len(header):
            raise ValueError(f"{name}, line {n}: expected {len(header)} fields, found {len(values)}")
        yield n, dict(zip(header, values, strict=True))


def _dec(name: str, line: int, row: Mapping[str, str], field: str) -> Decimal:
    try:
        return Decimal(row[field].strip())
    except (InvalidOperation, KeyError):
        raise ValueError(f"{name}, line {line}, field '{field}': not a number: {row.get(field)!r}") from None


def _schedules(name: str) -> dict[tuple[int, FilingStatus], Schedule]:
    grouped: dict[tuple[int, FilingStatus], list[Bracket]] = {}
    sources: dict[tuple[int, FilingStatus], str] = {}
    for n, row in _rows(name):
        key = (int(row["year"]), FilingStatus(row["filing_status"]))
        grouped.setdefault(key, []).append(
            Bracket(_dec(name, n, row, "rate_percent") / HUNDRED, _dec(name, n, row, "over"))
        )
        sources[key] = row["source"]
    return {k: Schedule(k[0], k[1], tuple(sorted(v, key=lambda b: b.over)), sources[k]) for k, v in grouped.items()}


def _opt_rate(name: str, line: int, row: Mapping[str, str], field: str, default: Decimal) -> Decimal:
    return default if not row[field].strip() else _dec(name, line, row, field) / HUNDRED


@cache
def load_rate_tables() -> RateTables:
    """Read the packaged rate tables (once per process; they are immutable)."""
    niit: dict[tuple[int, FilingStatus], Niit] = {}
    for n, row in _rows("niit.csv"):
        status = FilingStatus(row["filing_status"])
        niit[(int(row["year"]), status)] = Niit(
            int(row["year"]),
            status,
            _dec("niit.csv", n, row, "rate_percent") / HUNDRED,
            _dec("niit.csv", n, row, "threshold"),
            row["source"],
        )
    states: dict[str, list[StateRate]] = {}
    f = "state_top_rates.csv"
    for n, row in _rows(f):
        top = _dec(f, n, row, "top_rate_percent") / HUNDRED
        code = row["state"].strip().upper()
        states.setdefault(code, []).append(
            StateRate(
                int(row["year"]),
                code,
                row["name"],
                top,
                _opt_rate(f, n, row, "short_term_rate_percent", top),
                _opt_rate(f, n, row, "long_term_rate_percent", top),
                row["note"],
            )
        )
    return RateTables(
        ordinary=_schedules("federal_ordinary_brackets.csv"),
        long_term=_schedules("federal_long_term_brackets.csv"),
        niit=niit,
        states={k: tuple(sorted(v, key=lambda r: r.year)) for k, v in states.items()},
    )


# --- marginal rates -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaxRates:
    """The three rates that value a gain or loss, as fractions (0.408 is 40.8%).

    On net short-term gain, on net long-term gain, and on the ordinary income that the $3,000 capital-loss
    allowance offsets.
    """

    short_term: Decimal
    long_term: Decimal
    ordinary: Decimal

    def __post_init__(self) -> None:
        for field in ("short_term", "long_term", "ordinary"):
            value = getattr(self, field)
            if not isinstance(value, Decimal):
                object.__setattr__(self, field, value := Decimal(str(value)))
            if not ZERO <= value < 1:
                raise ValueError(f"{field} rate {value} is not a fraction in [0, 1)")


@dataclass(frozen=True, slots=True)
class MarginalRates:
    """A household's marginal rates with their parts, so a report can show where each point comes from."""

    year: int | None
    filing_status: FilingStatus | None
    taxable_income: Decimal | None
    state: str | None
    federal_ordinary: Decimal
    federal_long_term: Decimal
    niit: Decimal
    state_ordinary: Decimal
    state_short_term: Decimal
    state_long_term: Decimal

    @property
    def short_term(self) -> Decimal:
        return self.federal_ordinary + self.niit + self.state_short_term

    @property
    def long_term(self) -> Decimal:
        return self.federal_long_term + self.niit + self.state_long_term

    @property
    def ordinary(self) -> Decimal:
        """Rate on ordinary income offset by the capital-loss allowance; NIIT is left out (conservative)."""
        return self.federal_ordinary + self.state_ordinary

    @property
    def rates(self) -> TaxRates:
        return TaxRates(self.short_term, self.long_term, self.ordinary)


def marginal_rates(
    year: int,
    filing_status: FilingStatus | str,
    taxable_income: Decimal | None = None,
    state: str | None = None,
    *,
    state_rate: Decimal | None = None,
    magi: Decimal | None = None,
    tables: RateTables | None = None,
) -> MarginalRates:
    """Marginal short- and long-term rates for one household-year.

    ``taxable_income`` is the taxable income the next dollar of gain lands on (``None``: top brackets, as for
    a household known to be in them). ``state`` looks up the state table; ``state_rate`` instead gives one
    explicit state rate for every kind of income. NIIT applies when ``magi`` (default: ``taxable_income``)
    is over the threshold. Raises ``RateTableError`` for a year, status or state the tables do not cover.
    """
    t = tables or load_rate_tables()
    status = FilingStatus(filing_status)
    ordinary = t.ordinary_schedule(year, status).marginal(taxable_income)
    long_term = t.long_term_schedule(year, status).marginal(taxable_income)
    niit_row = t.niit_for(year, status)
    niit = niit_row.rate if niit_row.applies(magi if magi is not None else taxable_income) else ZERO
    if state_rate is not None:
        if not ZERO <= state_rate < 1:
            raise ValueError(f"state rate {state_rate} is not a fraction in [0, 1)")
        s_ord = s_st = s_lt = state_rate
    elif state:
        row = t.state(state, year)
        s_ord, s_st, s_lt = row.ordinary, row.short_term, row.long_term
        state = row.state
    else:
        s_ord = s_st = s_lt = ZERO
    return MarginalRates(year, status, taxable_income, state, ordinary, long_term, niit, s_ord, s_st, s_lt)


def top_rates(state_rate: Decimal = ZERO) -> MarginalRates:
    """The default when nothing is known of the household: 37% + 3.8% short-term, 20% + 3.8% long-term."""
    return MarginalRates(
        None,
        None,
        None,
        None,
        federal_ordinary=Decimal("0.37"),
        federal_long_term=Decimal("0.20"),
        niit=Decimal("0.038"),
        state_ordinary=state_rate,
        state_short_term=state_rate,
        state_long_term=state_rate,
    )
