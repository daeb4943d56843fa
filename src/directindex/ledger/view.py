"""A vectorized view of open lots: float and integer arrays for scans over millions of lots.

The ledger stays exact (Decimal); analytics that touch every lot of every account (harvest scans,
backtests, fleet runs) work on this view and hand their decisions back as records the ledger books.
Dates are integer day numbers (``date.toordinal()``), so window and holding-period tests are integer
comparisons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from directindex.ledger.records import Account, Lot, Security

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LotTable:
    """Open lots as parallel arrays; ``lots[i]`` is the exact record behind row ``i``."""

    lots: tuple[Lot, ...]
    accounts: tuple[str, ...]  # labels for account_idx
    households: tuple[str, ...]  # labels for household_idx
    symbols: tuple[str, ...]  # labels for symbol_idx
    groups: tuple[str, ...]  # labels for group_idx (substantially identical groups)
    account_idx: IntArray
    household_idx: IntArray
    symbol_idx: IntArray
    group_idx: IntArray
    taxable: npt.NDArray[np.bool_]
    quantity: FloatArray
    basis: FloatArray
    acquired: IntArray  # ordinal day of purchase
    long_term_on: IntArray  # ordinal day the lot turns long-term (after tacking)

    def __len__(self) -> int:
        return len(self.lots)

    def basis_per_share(self) -> FloatArray:
        return np.divide(self.basis, self.quantity, out=np.zeros_like(self.basis), where=self.quantity > 0)

    def unrealized(self, prices_by_symbol: FloatArray) -> FloatArray:
        """Unrealized gain (negative: loss) per lot at ``prices_by_symbol[symbol_idx]``."""
        return self.quantity * prices_by_symbol[self.symbol_idx] - self.basis


def lot_table(
    lots: Sequence[Lot],
    accounts: Mapping[str, Account],
    securities: Mapping[str, Security] | None = None,
    symbols: Sequence[str] | None = None,
) -> LotTable:
    """Build the view; ``symbols`` fixes the symbol order (e.g. a price vector's), else sorted."""
    securities = securities or {}
    acct_labels = tuple(sorted(accounts))
    hh_labels = tuple(sorted({a.household for a in accounts.values()}))
    sym_labels = tuple(symbols) if symbols is not None else tuple(sorted({x.symbol for x in lots}))
    group_of = {s: (securities[s].group if s in securities else s) for s in sym_labels}
    grp_labels = tuple(sorted(set(group_of.values())))
    a_ix = {a: i for i, a in enumerate(acct_labels)}
    h_ix = {h: i for i, h in enumerate(hh_labels)}
    s_ix = {s: i for i, s in enumerate(sym_labels)}
    g_ix = {g: i for i, g in enumerate(grp_labels)}
    missing = {x.symbol for x in lots} - set(s_ix)
    if missing:
        raise ValueError(f"lots hold symbols not in the symbol list: {sorted(missing)[:5]}")
    n = len(lots)
    account_idx = np.fromiter((a_ix[x.account] for x in lots), np.int64, n)
    household_idx = np.fromiter((h_ix[accounts[x.account].household] for x in lots), np.int64, n)
    symbol_idx = np.fromiter((s_ix[x.symbol] for x in lots), np.int64, n)
    group_idx = np.fromiter((g_ix[group_of[x.symbol]] for x in lots), np.int64, n)
    taxable = np.fromiter((accounts[x.account].taxable for x in lots), np.bool_, n)
    return LotTable(
        lots=tuple(lots), accounts=acct_labels, households=hh_labels, symbols=sym_labels, groups=grp_labels,
        account_idx=account_idx, household_idx=household_idx, symbol_idx=symbol_idx, group_idx=group_idx,
        taxable=taxable,
        quantity=np.fromiter((float(x.quantity) for x in lots), np.float64, n),
        basis=np.fromiter((float(x.basis) for x in lots), np.float64, n),
        acquired=np.fromiter((x.acquired.toordinal() for x in lots), np.int64, n),
        long_term_on=np.fromiter((x.long_term_on.toordinal() for x in lots), np.int64, n),
    )
