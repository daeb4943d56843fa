"""Lot-relief methods: which open lots a sale relieves when the sale does not name its lot.

Each method is a pure ordering of the open lot parts, kept in one table keyed by method (as beancount's
``booking_method``). The ledger then takes shares greedily in that order. Specific identification
(a ``lot`` on the sale row) bypasses the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Protocol

from directindex.ledger.holding import term
from directindex.ledger.records import Method, Term


class OpenPart(Protocol):
    """What a relief method may look at in an open lot part."""

    @property
    def qty(self) -> Decimal: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def adj(self) -> Decimal: ...
    @property
    def acquired(self) -> date: ...
    @property
    def holding_start(self) -> date: ...
    @property
    def seq(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ReliefContext:
    """What a method may need beyond the lots: the sale's date and price, and the owner's rates."""

    sale_date: date
    price: Decimal
    short_term_rate: Decimal = Decimal("0.408")
    long_term_rate: Decimal = Decimal("0.238")


def _basis_per_share(p: OpenPart) -> Decimal:
    return (p.cost + p.adj) / p.qty


_ACQUIRED_SEQ = attrgetter("acquired", "seq")  # (acquired, seq), without a Python call per part


def _fifo(parts: Sequence[OpenPart], ctx: ReliefContext) -> list[OpenPart]:
    return sorted(parts, key=_ACQUIRED_SEQ)


def _lifo(parts: Sequence[OpenPart], ctx: ReliefContext) -> list[OpenPart]:
    return sorted(parts, key=_ACQUIRED_SEQ, reverse=True)


def _hifo(parts: Sequence[OpenPart], ctx: ReliefContext) -> list[OpenPart]:
    return sorted(parts, key=lambda p: (-_basis_per_share(p), p.acquired, p.seq))


def _min_tax(parts: Sequence[OpenPart], ctx: ReliefContext) -> list[OpenPart]:
    """Lowest tax per share first: the biggest losses (valued at their term's rate), then cheap gains."""

    def tax_per_share(p: OpenPart) -> Decimal:
        gain = ctx.price - _basis_per_share(p)
        rate = ctx.long_term_rate if term(p.holding_start, ctx.sale_date) is Term.LONG else ctx.short_term_rate
        return gain * rate

    return sorted(parts, key=lambda p: (tax_per_share(p), p.acquired, p.seq))


RELIEF_METHODS: dict[Method, Callable[[Sequence[OpenPart], ReliefContext], list[OpenPart]]] = {
    Method.FIFO: _fifo,
    Method.LIFO: _lifo,
    Method.HIFO: _hifo,
    Method.MIN_TAX: _min_tax,
}
