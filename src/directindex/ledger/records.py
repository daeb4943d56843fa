"""The ledger's records: accounts, securities, transactions in; lots, reliefs and wash sales out.

Every record is frozen and slotted, and validates what it can on construction. Money is ``Decimal``
(cents once it is realized); quantities are ``Decimal`` so that fractional dividend-reinvestment shares
stay exact. A *requested* relief (a lot id or a method) lives on the transaction; the *resolved* relief
is a ``Relief``, as beancount keeps ``CostSpec`` apart from ``Cost``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

_Date = date  # alias: a field named ``date`` shadows the type inside class bodies
CENT = Decimal("0.01")
ZERO = Decimal(0)


class AccountType(StrEnum):
    TAXABLE = "taxable"
    TRADITIONAL_IRA = "traditional_ira"
    ROTH_IRA = "roth_ira"
    K401 = "401k"

    @property
    def tax_advantaged(self) -> bool:
        """Every non-taxable type counts as tax-advantaged (Rev. Rul. 2008-5 applies to all of them)."""
        return self is not AccountType.TAXABLE


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    REINVEST = "reinvest"
    TRANSFER_IN = "transfer_in"
    SPLIT = "split"
    DONATE = "donate"

    @property
    def acquires(self) -> bool:
        """Purchases that can be wash-sale replacements (a transfer of an existing lot is not one)."""
        return self in (Action.BUY, Action.REINVEST)


class Method(StrEnum):
    """Lot-relief methods used when a sale does not name its lot."""

    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"
    MIN_TAX = "min-tax"


class Term(StrEnum):
    SHORT = "short"
    LONG = "long"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from, so errors can name the file and line."""

    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Account:
    account: str
    household: str
    owner: str
    type: AccountType

    def __post_init__(self) -> None:
        if not self.account:
            raise ValueError("account id is empty")
        if not isinstance(self.type, AccountType):
            object.__setattr__(self, "type", AccountType(self.type))

    @property
    def taxable(self) -> bool:
        return not self.type.tax_advantaged


@dataclass(frozen=True, slots=True)
class Security:
    symbol: str
    name: str = ""
    sector: str = ""
    industry: str = ""
    identical_group: str = ""

    @property
    def group(self) -> str:
        """The substantially-identical group: the explicit one, else the symbol alone."""
        return self.identical_group or self.symbol


@dataclass(frozen=True, slots=True)
class Transaction:
    """One row of ``transactions.csv``; ``lot`` is the requested lot (a spec), not a resolved relief."""

    id: str
    date: date
    account: str
    action: Action
    symbol: str
    quantity: Decimal = ZERO
    price: Decimal = ZERO
    fees: Decimal = ZERO
    lot: str | None = None
    acquired: _Date | None = None
    basis: Decimal | None = None
    ratio: Decimal | None = None
    source: Source | None = None

    def __post_init__(self) -> None:
        # ``ledger.book.build_transactions`` does these checks over whole columns: keep the two in step.
        if not isinstance(self.action, Action):
            object.__setattr__(self, "action", Action(self.action))
        if self.quantity < 0:
            raise ValueError("quantity is negative")
        if self.price < 0:
            raise ValueError("price is negative")
        if self.fees < 0:
            raise ValueError("fees are negative")


@dataclass(frozen=True, slots=True)
class Lot:
    """An open lot, or one part of a lot whose shares differ in basis or holding period.

    ``acquired`` is the purchase date; ``holding_start`` is where the holding period starts after
    wash-sale tacking (equal to ``acquired`` for an untouched lot). ``basis = cost +
    wash_sale_adjustment``.
    """

    account: str
    lot: str
    symbol: str
    quantity: Decimal
    acquired: date
    cost: Decimal
    wash_sale_adjustment: Decimal
    holding_start: date
    long_term_on: date
    absorbed_loss: bool = False

    @property
    def basis(self) -> Decimal:
        return self.cost + self.wash_sale_adjustment


@dataclass(frozen=True, slots=True)
class Relief:
    """Shares of one lot part that left the account: a sale (Form 8949 row) or a donation.

    ``adjustment`` is the disallowed wash-sale loss (positive); ``gain_loss = proceeds - cost_basis +
    adjustment``; ``disallowed_permanently`` is the part of ``adjustment`` that moved into no basis
    (the replacement sat in a tax-advantaged account, Rev. Rul. 2008-5).
    """

    transaction: str
    account: str
    symbol: str
    lot: str
    quantity: Decimal
    date_acquired: date
    holding_start: date
    date_sold: date
    proceeds: Decimal
    cost_basis: Decimal
    adjustment: Decimal
    disallowed_permanently: Decimal
    term: Term
    donated: bool = False
    taxable: bool = True

    @property
    def code(self) -> str:
        return "W" if self.adjustment > 0 else ""

    @property
    def gain_loss(self) -> Decimal:
        return self.proceeds - self.cost_basis + self.adjustment


@dataclass(frozen=True, slots=True)
class WashSale:
    """One match of a loss sale's shares with replacement shares (Treas. Reg. 1.1091-1(b))."""

    sale_transaction: str
    sale_account: str
    sold_lot: str
    sale_date: date
    replacement_account: str
    replacement_lot: str
    replacement_transaction: str
    replacement_date: _Date
    quantity: Decimal
    disallowed: Decimal
    permanent: bool
