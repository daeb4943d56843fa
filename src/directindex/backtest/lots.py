"""The backtest's fast lot state: one account's open lots as growable numpy arrays.

Re-booking the whole ledger every simulated day would be quadratic, so day-by-day decisions read this
vectorized state, and every trade is also written as a ledger ``Transaction``; the engine books those
through the real ledger and checks that both agree (quantity exactly, basis within a cent per lot).
Money is rounded to the cent the way the ledger rounds it (half up) so the two stay in step.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from directindex.construct.lots import LotColumns
from directindex.ledger.holding import long_term_on
from directindex.ledger.records import Lot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def cents(x: float) -> float:
    """Round half up to the cent, as ``directindex.ledger.cents`` does (a float, with float arithmetic)."""
    return math.floor(float(x) * 100.0 + 0.5 + 1e-9) / 100.0


class LotState:
    """Open lots of one account: symbol index, quantity, basis, acquisition and long-term day (ordinals)."""

    def __init__(self, account: str, capacity: int = 4096):
        self.account = account
        self.n = 0
        self.sym = np.zeros(capacity, np.int64)
        self.qty = np.zeros(capacity)
        self.basis = np.zeros(capacity)
        self.acquired = np.zeros(capacity, np.int64)
        self.lt_on = np.zeros(capacity, np.int64)
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}  # lot id -> its row (rows are never reused)
        self._records: dict[int, Lot] = {}  # row -> its Lot record, see record
        # the quantity and basis each row's record was built with (zero: none yet, as no open lot holds 0)
        self._built_qty = np.zeros(capacity)
        self._built_basis = np.zeros(capacity)
        self._symbols: tuple[str, ...] = ()
        self._version = 0  # bumped by every change; shares() is remembered for one version
        self._shares: tuple[int, int, FloatArray] | None = None

    def _grow(self) -> None:
        cap = len(self.qty) * 2
        for name in ("sym", "qty", "basis", "acquired", "lt_on", "_built_qty", "_built_basis"):
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def add(self, sym: int, qty: float, basis: float, on: date, lot_id: str) -> int:
        if self.n == len(self.qty):
            self._grow()
        i = self.n
        self.sym[i], self.qty[i], self.basis[i] = sym, qty, cents(basis)
        self.acquired[i] = on.toordinal()
        self.lt_on[i] = long_term_on(on).toordinal()
        self.ids.append(lot_id)
        self.row_of[lot_id] = i
        self.n += 1
        self._version += 1
        return i

    def relieve(self, row: int, qty: float) -> float:
        """Take ``qty`` shares out of lot ``row``; returns the basis that leaves with them."""
        held = self.qty[row]
        self._version += 1
        if qty > held + 1e-9:
            raise ValueError(f"selling {qty} of lot {self.ids[row]} which holds {held}")
        if abs(qty - held) <= 1e-9:
            out = float(self.basis[row])
            self.qty[row] = 0.0
            self.basis[row] = 0.0
            return out
        out = cents(self.basis[row] * qty / held)
        self.qty[row] = held - qty
        self.basis[row] = cents(self.basis[row] - out)
        return out

    def split(self, sym: int, ratio: float) -> None:
        self._version += 1
        m = self.open_mask() & (self.sym[: self.n] == sym)
        # the ledger multiplies exact decimals; six places is what the transactions carry
        self.qty[: self.n][m] = np.round(self.qty[: self.n][m] * ratio, 6)

    def open_mask(self) -> npt.NDArray[np.bool_]:
        return self.qty[: self.n] > 0

    def open_rows(self) -> IntArray:
        return np.flatnonzero(self.open_mask())

    def shares(self, n_symbols: int) -> FloatArray:
        """Shares held by symbol (read-only: the same array is handed out until the lots change)."""
        hit = self._shares
        if hit is not None and hit[0] == self._version and hit[1] == n_symbols:
            return hit[2]
        rows = self.open_rows()
        out = np.bincount(self.sym[rows], weights=self.qty[rows], minlength=n_symbols).astype(np.float64)
        out.flags.writeable = False
        self._shares = (self._version, n_symbols, out)
        return out

    def basis_by_symbol(self, n_symbols: int) -> FloatArray:
        rows = self.open_rows()
        return np.bincount(self.sym[rows], weights=self.basis[rows], minlength=n_symbols).astype(np.float64)

    def record(self, symbols: tuple[str, ...], i: int) -> Lot:
        """Row ``i``'s lot as a ledger ``Lot`` record.

        A lot whose quantity and basis have not moved since its record was built keeps the same frozen
        record, so a monthly rebalance builds records only for the lots bought or partly sold since.
        """
        if symbols is not self._symbols:
            self._records, self._symbols = {}, symbols
            self._built_qty[:] = 0.0
        q, bs = float(self.qty[i]), float(self.basis[i])
        if self._built_qty[i] == q and self._built_basis[i] == bs:
            return self._records[i]
        acq = date.fromordinal(int(self.acquired[i]))
        lot = Lot(
            account=self.account, lot=self.ids[i], symbol=symbols[self.sym[i]], quantity=qty_decimal(q),
            acquired=acq, cost=Decimal(f"{bs:.2f}"), wash_sale_adjustment=Decimal(0),
            holding_start=acq, long_term_on=date.fromordinal(int(self.lt_on[i])),
        )
        self._records[i] = lot
        self._built_qty[i], self._built_basis[i] = q, bs
        return lot

    def columns(self, symbols: tuple[str, ...]) -> LotColumns:
        """The open lots as columns for the optimizer (``construct.LotColumns``), in row order.

        Each column is what the row's ``Lot`` record gives as floats: the share count as the decimal
        :func:`qty_decimal` makes of it, the basis as the cents ``Decimal`` (the state holds cents, so its
        float is the basis itself); records are built only for the lots the optimizer reads (its sells).
        """
        rows = self.open_rows()
        q = self.qty[rows]
        frac = np.flatnonzero(q != np.floor(q))
        if frac.size:  # a split's fraction: the six-place decimal qty_decimal books
            q = q.copy()
            q[frac] = [round(x, 6) for x in q[frac].tolist()]
        acquired = self.acquired[rows]
        ids = [self.ids[i] for i in rows.tolist()]
        rows_list = rows.tolist()
        return LotColumns(self.account, symbols, self.sym[rows], q, self.basis[rows], self.lt_on[rows], acquired,
                          ids, lambda k: self.record(symbols, rows_list[k]))


def qty_decimal(q: float) -> Decimal:
    """A float share count as the exact short decimal it stands for (whole shares, or split fractions)."""
    return Decimal(repr(round(float(q), 6))).normalize() if q != int(q) else Decimal(int(q))
