"""The ledger as a fold: transactions in, open lots, reliefs (Form 8949 rows) and wash sales out.

``book`` replays a transaction history in date order (rows of one date in file order) and returns
every open lot part, every relief and every wash-sale match. It is pure: no prices, no storage, no
printing. Bad data becomes ``InputIssue`` records naming the file, line and field; the caller decides
whether to raise.

Lot parts: a lot whose shares come to differ in basis or holding period (some of them absorbed a
wash-sale loss) is split into parts. The shares that absorbed a loss get an id derived from the lot's
(``L4.1``, ``L4.2``, ...); the untouched remainder keeps the lot's id. A sale naming ``L4`` relieves
``L4`` first and then its other parts in order; a sale may also name one part.

Households: the wash-sale scope never crosses a household, and a split row with an empty account
applies to every account, so a large history is cut into shares of whole households that fold on
several cores at once on request (forked processes; ``workers=N`` or ``DIRECTINDEX_WORKERS=N``).
Every record carries the sequence number of the row that made it, and the shares' outputs are merged
back in that order: the result is identical to the one-process fold, record for record. Within a
process, too, each household is folded alone (its state stays small enough for the CPU's caches)
and merged back the same way.
"""

from __future__ import annotations

import dataclasses
import decimal
import itertools
import multiprocessing as mp
import os
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter, itemgetter
from typing import Any

from directindex.errors import InputError, InputIssue
from directindex.ledger.holding import long_term_on, tacked_start
from directindex.ledger.records import (
    CENT,
    Account,
    Action,
    Lot,
    Method,
    Relief,
    Security,
    Source,
    Term,
    Transaction,
    WashSale,
)
from directindex.ledger.relief import RELIEF_METHODS, ReliefContext
from directindex.ledger.washsale import Acquisition, PendingMatch, ReplacementIndex, index_maps, match_replacements
from directindex.memory import collector_paused

_ZERO = Decimal(0)
_NIL = Decimal("0.00")  # money zero, printed to the cent
_BUY, _REINVEST, _TRANSFER_IN = Action.BUY, Action.REINVEST, Action.TRANSFER_IN
_SELL, _DONATE, _SPLIT = Action.SELL, Action.DONATE, Action.SPLIT
_LONG, _SHORT = Term.LONG, Term.SHORT
_BY_DATE = attrgetter("date")
_BY_ACCOUNT = attrgetter("account")
_BY_ID = attrgetter("id")
_SEQ, _TX = itemgetter(0), itemgetter(1)  # of a (seq, transaction) row

# Parallel booking: below this many transactions a fork costs more than it saves.
PARALLEL_MIN_TRANSACTIONS = 50_000
# This process folds a lighter share than each worker (it also turns every share into records), and
# a worker's households come in a few chunks so their records come back while the worker goes on.
_HOME_WEIGHT = 0.65
_CHUNKS_PER_WORKER = 4
WORKERS_ENV = "DIRECTINDEX_WORKERS"


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split a cent amount in proportion to ``weights``, rounding cumulatively so the parts add up."""
    if len(weights) == 1:
        return [total - _ZERO]  # what the loop below computes for one weight
    whole = sum(weights, _ZERO)
    out: list[Decimal] = []
    append = out.append
    done = _ZERO
    acc = _ZERO
    for w in weights:
        acc += w
        upto = total if acc == whole else (total * acc / whole).quantize(CENT, ROUND_HALF_UP)  # cents()
        append(upto - done)
        done = upto
    return out


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """How sales without a named lot are relieved, and the rates the ``min-tax`` method weighs."""

    method: Method = Method.FIFO
    short_term_rate: Decimal = Decimal("0.408")
    long_term_rate: Decimal = Decimal("0.238")


class _Part:
    """Mutable working state of one open lot part; exported as a frozen ``Lot``.

    Only ``qty``, ``cost`` and ``adj`` of a part ever change; a part that takes on a loss or a
    holding period is a new part carved out of it.
    """

    __slots__ = ("account", "lot", "id", "symbol", "qty", "cost", "adj", "acquired", "holding_start",
                 "absorbed", "seq")

    def __init__(self, account: str, lot: str, pid: str, symbol: str, qty: Decimal, cost: Decimal,
                 adj: Decimal, acquired: date, holding_start: date, absorbed: bool, seq: int):
        self.account = account
        self.lot = lot
        self.id = pid
        self.symbol = symbol
        self.qty = qty
        self.cost = cost
        self.adj = adj
        self.acquired = acquired
        self.holding_start = holding_start
        self.absorbed = absorbed
        self.seq = seq


@dataclass(frozen=True)
class LedgerResult:
    """Everything the history implies: open lots, reliefs, wash-sale matches, and input issues."""

    lots: tuple[Lot, ...]
    reliefs: tuple[Relief, ...]
    wash_sales: tuple[WashSale, ...]
    errors: tuple[InputIssue, ...]

    def raise_errors(self) -> LedgerResult:
        if self.errors:
            raise InputError(self.errors)
        return self

    def realized(self, year: int | None = None) -> list[Relief]:
        """Form 8949 rows: sales in taxable accounts (donations and tax-advantaged sales excluded)."""
        return [r for r in self.reliefs
                if r.taxable and not r.donated and (year is None or r.date_sold.year == year)]


def _issue(tx: Transaction, field: str, message: str) -> InputIssue:
    src = tx.source
    return InputIssue(src.file if src else "<transactions>", src.line if src else None, field,
                      f"{message} (transaction '{tx.id}')")


@dataclass
class _Output:
    """One fold's records (as field tuples, then as records), each list with the rows that order it."""

    lots: list[Any]
    lot_seqs: list[int]  # the row that opened the lot's position (account, symbol)
    reliefs: list[Any]
    relief_seqs: list[int]
    wash_sales: list[Any]
    wash_sale_seqs: list[int]
    errors: list[InputIssue]
    error_seqs: list[int]


class _Ledger:
    def __init__(self, taxable: Mapping[str, bool], config: LedgerConfig, index: ReplacementIndex):
        self.taxable = taxable  # account -> whether it is taxable
        self.config = config
        self.relieve = RELIEF_METHODS[config.method]
        self.fifo = config.method is Method.FIFO
        self.index = index
        self.pending = index.pending
        self.positions: dict[tuple[str, str], list[_Part]] = {}
        self.opened: dict[tuple[str, str], int] = {}  # position -> the row that opened it
        # Positions whose parts may be out of (acquired, seq) order: a transfer in of a lot acquired
        # before the position's last part. Every other position's list is in FIFO order already.
        self.unordered: set[tuple[str, str]] = set()
        # (account, lot) -> its open parts; the key stays once the lot closes, so a lot id is used once.
        self.by_lot: dict[tuple[str, str], list[_Part]] = {}
        self.next_part: dict[tuple[str, str], int] = {}
        self.reliefs: list[tuple[Any, ...]] = []
        self.relief_seqs: list[int] = []
        self.wash_sales: list[tuple[Any, ...]] = []
        self.wash_sale_seqs: list[int] = []
        self.errors: list[InputIssue] = []
        self.error_seqs: list[int] = []

    def run(self, sequenced: Iterable[tuple[int, Transaction]], skip: set[int]) -> _Output:
        acquire, dispose, split = self.acquire, self.dispose, self.split
        for seq, tx in sequenced:
            if seq in skip:
                continue
            action = tx.action
            if action is _BUY or action is _REINVEST or action is _TRANSFER_IN:
                acquire(seq, tx)
            elif action is _SELL or action is _DONATE:
                dispose(seq, tx)
            elif action is _SPLIT:
                split(tx)
        lots: list[tuple[Any, ...]] = []
        lot_seqs: list[int] = []
        opened = self.opened
        for key, parts in self.positions.items():
            n = len(lots)
            lots += [(p.account, p.id, p.symbol, p.qty, p.acquired, p.cost, p.adj, p.holding_start,
                      long_term_on(p.holding_start), p.absorbed) for p in parts if p.qty > 0]  # a Lot's fields
            lot_seqs += [opened[key]] * (len(lots) - n)
        return _Output(lots, lot_seqs, self.reliefs, self.relief_seqs, self.wash_sales, self.wash_sale_seqs,
                       self.errors, self.error_seqs)

    # -- helpers -------------------------------------------------------------------------------
    def issue(self, seq: int, tx: Transaction, field: str, message: str) -> None:
        self.errors.append(_issue(tx, field, message))
        self.error_seqs.append(seq)

    def part_id(self, account: str, lot: str) -> str:
        n = self.next_part.get((account, lot), 1)
        self.next_part[(account, lot)] = n + 1
        return f"{lot}.{n}"

    def drop_if_empty(self, part: _Part) -> None:
        if part.qty == 0:
            self.positions[(part.account, part.symbol)].remove(part)
            self.by_lot[(part.account, part.lot)].remove(part)

    def carve(self, part: _Part, qty: Decimal, new_id: str) -> _Part:
        """Move ``qty`` shares of ``part`` (with their share of cost and adjustment) into a new part."""
        if qty == part.qty:
            cost, adj = part.cost, part.adj
        else:
            cost, adj = cents(part.cost * qty / part.qty), cents(part.adj * qty / part.qty)
        new = _Part(part.account, part.lot, new_id, part.symbol, qty, cost, adj, part.acquired,
                    part.holding_start, part.absorbed, part.seq)
        part.qty -= qty
        part.cost -= cost
        part.adj -= adj
        # The new part sits right after the one it came from (same acquisition, same relief order).
        pos = self.positions[(part.account, part.symbol)]
        pos.insert(pos.index(part) + 1, new)
        lot = self.by_lot[(part.account, part.lot)]
        lot.insert(lot.index(part) + 1, new)
        self.drop_if_empty(part)
        return new

    # -- actions -------------------------------------------------------------------------------
    def acquire(self, seq: int, tx: Transaction) -> None:
        lot = tx.lot or tx.id
        account = tx.account
        key = (account, lot)
        by_lot = self.by_lot
        if key in by_lot:
            self.issue(seq, tx, "lot", f"lot '{lot}' already exists in account '{account}'")
            return
        if tx.action is _TRANSFER_IN:
            assert tx.basis is not None and tx.acquired is not None
            cost, acquired = (tx.basis + tx.fees).quantize(CENT, ROUND_HALF_UP), tx.acquired
        else:
            cost, acquired = (tx.quantity * tx.price + tx.fees).quantize(CENT, ROUND_HALF_UP), tx.date
        symbol = tx.symbol
        part = _Part(account, lot, lot, symbol, tx.quantity, cost, _NIL, acquired, acquired, False, seq)
        pkey = (account, symbol)
        pos = self.positions.get(pkey)
        if pos is None:
            self.positions[pkey] = [part]
            self.opened[pkey] = seq
        else:
            # Parts come in row order, so only an older lot transferred in can land out of FIFO order.
            if pos and pos[-1].acquired > acquired:
                self.unordered.add(pkey)
            pos.append(part)
        by_lot[key] = [part]
        acq = self.pending.get(key)
        if acq is not None and acq.seq == seq:
            for pm in acq.pending:  # matches made by earlier loss sales against this purchase
                new = self.carve(part, pm.quantity, pm.part)
                if not pm.permanent:  # Rev. Rul. 2008-5: nothing moves into an IRA's lot
                    new.adj += pm.disallowed
                    new.holding_start = pm.holding_start
                new.absorbed = True

    def split(self, tx: Transaction) -> None:
        assert tx.ratio is not None
        keys = [(tx.account, tx.symbol)] if tx.account else [k for k in self.positions if k[1] == tx.symbol]
        for key in keys:
            for part in self.positions.get(key, []):
                part.qty *= tx.ratio

    def select(self, seq: int, tx: Transaction) -> list[_Part] | None:
        """Open parts in the order this sale relieves them (specific id, else the relief method)."""
        if tx.lot:
            root = tx.lot if (tx.account, tx.lot) in self.by_lot else tx.lot.rsplit(".", 1)[0]
            parts = self.by_lot.get((tx.account, root), [])
            if root == tx.lot:
                chosen = sorted(parts, key=lambda p: (p.id != root, p.id))
            else:
                chosen = [p for p in parts if p.id == tx.lot]
            if not chosen:
                self.issue(seq, tx, "lot", f"lot '{tx.lot}' does not exist or is closed in account '{tx.account}'")
                return None
            if any(p.symbol != tx.symbol for p in chosen):
                self.issue(seq, tx, "lot", f"lot '{tx.lot}' holds {chosen[0].symbol}, not {tx.symbol}")
                return None
            return chosen
        pkey = (tx.account, tx.symbol)
        held = self.positions.get(pkey)
        if held is None or len(held) <= 1:
            return list(held or ())  # nothing to order (a copy: dispose mutates the position)
        if self.fifo and pkey not in self.unordered:
            return held[:]  # in (acquired, seq) order already: what FIFO's stable sort returns
        config = self.config
        ctx = ReliefContext(tx.date, tx.price, config.short_term_rate, config.long_term_rate)
        return self.relieve(held, ctx)  # type: ignore[return-value]

    def dispose(self, seq: int, tx: Transaction) -> None:
        chosen = self.select(seq, tx)
        if chosen is None:
            return
        quantity = tx.quantity
        held = _ZERO
        for p in chosen:  # enough shares? (the whole sum only for the message)
            held += p.qty
            if held >= quantity:
                break
        if held < quantity:
            what = f"lot '{tx.lot}'" if tx.lot else f"account '{tx.account}'"
            self.issue(seq, tx, "quantity", f"{tx.action.value}s {quantity} {tx.symbol} but {what} holds only "
                                            f"{held} on {tx.date}")
            return
        # Relieve every share first: shares leaving in this sale can never replace its losses.
        tid, account, symbol, day = tx.id, tx.account, tx.symbol, tx.date
        chunks: list[tuple[_Part, Decimal, Decimal, Decimal]] = []
        remaining = quantity
        for part in chosen:
            if remaining <= 0:
                break
            pq = part.qty
            q = remaining if remaining < pq else pq
            if q is pq:  # the whole part leaves (every chosen part is of this account and symbol)
                cost, adj = part.cost, part.adj
                part.qty = pq - q
                self.positions[(account, symbol)].remove(part)
                self.by_lot[(account, part.lot)].remove(part)
            else:
                cost = (part.cost * q / pq).quantize(CENT, ROUND_HALF_UP)
                adj = (part.adj * q / pq).quantize(CENT, ROUND_HALF_UP)
                part.qty = pq - q
                part.cost -= cost
                part.adj -= adj
            chunks.append((part, q, cost, adj))
            remaining -= q
        donated = tx.action is _DONATE
        taxable = self.taxable[account]
        total = _NIL if donated else (quantity * tx.price - tx.fees).quantize(CENT, ROUND_HALF_UP)
        if len(chunks) == 1:
            proceeds = [total - _ZERO]
        else:
            proceeds = allocate(total, [c[1] for c in chunks])
        washes = not donated and taxable
        append, append_seq = self.reliefs.append, self.relief_seqs.append
        for (part, q, cost, adj), proceeds_q in zip(chunks, proceeds, strict=True):
            basis = cost + adj
            if washes and proceeds_q < basis:
                disallowed, permanent = self.wash(seq, tx, part, q, basis - proceeds_q)
            else:
                disallowed = permanent = _NIL
            start = part.holding_start
            append((tid, account, symbol, part.id, q, part.acquired, start, day, proceeds_q, basis, disallowed,
                    permanent, _LONG if day >= long_term_on(start) else _SHORT, donated, taxable))
            append_seq(seq)

    def held_unabsorbed(self, acq: Acquisition) -> Decimal:
        held = _ZERO  # as sum(..., _ZERO): the same additions in the same order
        for p in self.by_lot.get((acq.account, acq.lot), ()):
            if not p.absorbed:
                held += p.qty
        return held

    def wash(self, seq: int, tx: Transaction, sold: _Part, sold_qty: Decimal,
             loss: Decimal) -> tuple[Decimal, Decimal]:
        """Match a loss chunk to replacements; move the disallowed loss; return (disallowed, permanent)."""
        candidates = self.index.window(tx.account, tx.symbol, tx.date)
        if not candidates:
            return _NIL, _NIL
        matches = match_replacements(candidates, sold_qty, seq, tx.account, sold.lot, self.held_unabsorbed)
        if not matches:
            return _NIL, _NIL
        # Cumulative rounding over the matched shares, so a fully matched loss is disallowed exactly.
        if len(matches) == 1:
            matched = _ZERO + matches[0][1]  # as sum([m], _ZERO)
            total = loss if matched == sold_qty else cents(loss * matched / sold_qty)
            amounts = [total - _ZERO]  # as allocate(total, [m])
        else:
            shares = [m for _, m in matches]
            matched = sum(shares, _ZERO)
            total = loss if matched == sold_qty else cents(loss * matched / sold_qty)
            amounts = allocate(total, shares)
        permanent = _NIL
        wash_sales, wash_sale_seqs = self.wash_sales, self.wash_sale_seqs
        for (acq, m), amount in zip(matches, amounts, strict=True):
            start = tacked_start(acq.date, sold.holding_start, tx.date)
            pid = self.part_id(acq.account, acq.lot)
            if acq.tax_advantaged:
                permanent += amount
            if acq.seq < seq:
                self.absorb_existing(acq, m, amount, start, pid)
            else:
                self.index.add_pending(acq, PendingMatch(pid, m, amount, start, acq.tax_advantaged))
            wash_sales.append((
                tx.id, tx.account, sold.id, tx.date, acq.account, pid, acq.transaction, acq.date, m, amount,
                acq.tax_advantaged,
            ))
            wash_sale_seqs.append(seq)
        return total, permanent

    def absorb_existing(self, acq: Acquisition, qty: Decimal, amount: Decimal, start: date, pid: str) -> None:
        """Carve ``qty`` held, unabsorbed shares of a replacement lot into a part that carries the loss."""
        remaining = qty
        pieces: list[_Part] = []
        for part in [p for p in self.by_lot[(acq.account, acq.lot)] if not p.absorbed]:
            if remaining <= 0:
                break
            take = min(part.qty, remaining)
            pieces.append(self.carve(part, take, pid if not pieces else self.part_id(acq.account, acq.lot)))
            remaining -= take
        moved = _NIL if acq.tax_advantaged else amount
        shares = [moved - _ZERO] if len(pieces) == 1 else allocate(moved, [p.qty for p in pieces])
        for piece, share in zip(pieces, shares, strict=True):
            piece.adj += share
            if not acq.tax_advantaged:  # no basis moves into an IRA, so no holding period is tacked
                piece.holding_start = start
            piece.absorbed = True


# -- the whole history ---------------------------------------------------------------------------
def book(
    transactions: Iterable[Transaction],
    accounts: Mapping[str, Account],
    securities: Mapping[str, Security] | None = None,
    config: LedgerConfig | None = None,
    as_of: date | None = None,
    *,
    workers: int | None = None,
) -> LedgerResult:
    """Replay ``transactions`` (those dated on or before ``as_of``) into lots, reliefs and wash sales.

    ``workers`` is how many processes fold the households (``1``: this process only). By default
    (``None``) one, unless ``DIRECTINDEX_WORKERS`` asks for more and the history has more than
    ``PARALLEL_MIN_TRANSACTIONS`` rows over several households. The result does not depend on it.
    """
    securities = securities or {}
    config = config or LedgerConfig()
    # The fold allocates millions of small acyclic objects; the cyclic collector would rescan all of
    # them again and again (measured: 30% of the time at 1M transactions). Nothing here forms cycles.
    with collector_paused():
        given = [t for t in transactions if as_of is None or t.date <= as_of]
        txs = sorted(given, key=_BY_DATE)  # stable: rows of one date keep their file order
        sequenced = list(enumerate(txs))
        account_of = list(map(_BY_ACCOUNT, txs))
        screened = _screen(txs, accounts, given)
        skip = set(screened[0])
        n = _worker_count(workers, len(txs))
        shares = _shares(sequenced, account_of, accounts, n) if n > 1 else None
        if shares is None:
            return _result([_fold(sequenced, skip, accounts, securities, config, records=True, account_of=account_of)],
                           screened)
        return _result(_fold_parallel(shares, skip, accounts, securities, config, min(n, len(shares))), screened)


def _fold(sequenced: list[tuple[int, Transaction]], skip: set[int], accounts: Mapping[str, Account],
          securities: Mapping[str, Security], config: LedgerConfig, *, records: bool = False,
          account_of: Sequence[str] | None = None) -> _Output:
    """Fold rows (whole households) one household after the other, and merge back into row order.

    The same output as one fold over all the rows: no record depends on another household (see
    ``_shares``). One household's lots, positions and replacement index are small, so they stay in the
    CPU's caches while its rows are folded, and so do its records while they are made (``records``:
    records in place of field tuples, as ``_records`` makes them). Measured at 1M transactions: one
    fold over the whole history, records made at the end, takes a third longer.

    ``account_of``: the account of each row, when the caller has them.
    """
    households, groups, tax_advantaged = index_maps(accounts, securities)
    taxable = {a: not t for a, t in tax_advantaged.items()}
    outs: list[_Output] = []
    for rows in _by_household(sequenced, households, account_of):
        out = _Ledger(taxable, config, ReplacementIndex(rows, households, groups, tax_advantaged)).run(rows, skip)
        outs.append(_records(out) if records else out)
    return _concat(outs)


def _by_household(sequenced: list[tuple[int, Transaction]], households: Mapping[str, str],
                  account_of: Sequence[str] | None = None) -> list[list[tuple[int, Transaction]]]:
    """The rows of each household, in row order; a split with an empty account goes to every household.

    Rows of unknown accounts go nowhere: they are reported and skipped, and count as no purchase.
    """
    if account_of is None:
        account_of = list(map(_BY_ACCOUNT, map(_TX, sequenced)))
    code: dict[str, int] = {}
    number: dict[str, int] = {}
    for a, h in households.items():
        code[a] = number.setdefault(h, len(number))
    code.setdefault("", -1)  # only a split can have an empty account; other such rows are skipped anyway
    keys = list(map(code.get, account_of, itertools.repeat(-2)))
    counts = Counter(keys)
    if len(counts) == 1 and -1 not in counts and -2 not in counts:
        return [sequenced]
    rows = list(map(sequenced.__getitem__, sorted(range(len(keys)), key=keys.__getitem__)))  # stable
    out: list[list[tuple[int, Transaction]]] = []
    everywhere: list[tuple[int, Transaction]] = []
    i = 0
    for k in sorted(counts):
        if k == -1:
            everywhere = rows[i:i + counts[k]]
        elif k >= 0:
            out.append(rows[i:i + counts[k]])
        i += counts[k]
    if everywhere:
        out = [sorted(r + everywhere, key=_SEQ) for r in out]
    return out


def _screen(txs: Sequence[Transaction], accounts: Mapping[str, Account],
            given: Sequence[Transaction] | None = None) -> tuple[list[int], list[InputIssue]]:
    """Rows no household can judge alone (an id used twice, an unknown account): the fold skips them.

    A skipped row still counts as a purchase for the wash-sale rule, as it always has: the index of
    replacements is built from every row of a known account.

    ``given``: the same rows in the order they were given. The usual case (no issue) is checked over
    them, since the answer does not depend on the order and objects read in the order they were made
    are read from memory about three times faster (measured at 1M rows: 0.5 s against 1.4 s).
    """
    seqs: list[int] = []
    issues: list[InputIssue] = []
    rows = txs if given is None else given
    if len(set(map(_BY_ID, rows))) == len(rows) and accounts.keys() >= set(map(_BY_ACCOUNT, rows)):
        return seqs, issues  # the usual case, checked without a Python step per row
    seen: set[str] = set()
    for seq, tx in enumerate(txs):
        if tx.id in seen:
            seqs.append(seq)
            issues.append(_issue(tx, "id", f"duplicate id '{tx.id}'"))
            continue
        seen.add(tx.id)
        if tx.account not in accounts and not (tx.action is _SPLIT and not tx.account):
            seqs.append(seq)
            issues.append(_issue(tx, "account", f"unknown account '{tx.account}'"))
    return seqs, issues


def _worker_count(requested: int | None, n_transactions: int) -> int:
    """Processes to fold with: the request, else the variable or the cores for a large history."""
    if requested is None:
        # opt-in: measured on a shared 2-core machine, forking cost more than the second core gave back
        # (0.74-0.79x of one core), so only an explicit request or the variable folds in parallel
        env = os.environ.get(WORKERS_ENV, "").strip()
        requested = int(env) if env.isdigit() else 1
        if n_transactions <= PARALLEL_MIN_TRANSACTIONS:
            return 1
    if requested <= 1 or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return 1
    return requested


def _shares(sequenced: list[tuple[int, Transaction]], account_of: Sequence[str], accounts: Mapping[str, Account],
            n: int) -> list[list[tuple[int, Transaction]]] | None:
    """Cut the history into shares of whole households (``None``: there is only one household).

    One share for this process and ``_CHUNKS_PER_WORKER`` for each of the ``n - 1`` workers, sized by
    their weights.

    A split row with an empty account goes to every share; rows of unknown accounts go nowhere (they
    are reported and skipped, and no household counts them as purchases).
    """
    per_account = Counter(account_of)
    per_household: Counter[str] = Counter()
    for a, k in per_account.items():
        acct = accounts.get(a)
        if acct is not None:
            per_household[acct.household] += k
    n = min(n, len(per_household))
    if n <= 1:
        return None
    weights = [_HOME_WEIGHT] + [1 / _CHUNKS_PER_WORKER] * ((n - 1) * _CHUNKS_PER_WORKER)
    load = [0] * len(weights)
    share_of_household: dict[str, int] = {}
    for h, k in sorted(per_household.items(), key=lambda hk: (-hk[1], hk[0])):
        # The largest household first, onto the share it fills least.
        i = min(range(len(weights)), key=lambda j: (load[j] + k) / weights[j])
        share_of_household[h] = i
        load[i] += k
    share_of = {a: share_of_household.get(acct.household, 0) for a, acct in accounts.items()}
    # -1: every share. Only a split can have an empty account; other such rows are skipped anyway.
    share_of.setdefault("", -1)
    where = list(map(share_of.get, account_of))
    return [list(itertools.compress(sequenced, map(frozenset({i, -1}).__contains__, where)))
            for i in range(len(weights))]


# What forked workers read: set just before the pool forks, so it is inherited, never pickled.
_FORKED: dict[int, tuple[Any, ...]] = {}
_TOKENS = itertools.count()


def _fold_parallel(shares: list[list[tuple[int, Transaction]]], skip: set[int], accounts: Mapping[str, Account],
                   securities: Mapping[str, Security], config: LedgerConfig, workers: int) -> list[_Output]:
    """Fold share 0 here and the others in ``workers - 1`` forked processes; theirs come back as columns."""
    token = next(_TOKENS)
    _FORKED[token] = (shares, skip, accounts, securities, config, decimal.getcontext().copy())
    try:
        with ProcessPoolExecutor(max_workers=workers - 1, mp_context=mp.get_context("fork")) as pool:
            futures = [pool.submit(_fold_forked, token, i) for i in range(1, len(shares))]
            done = [_fold(shares[0], skip, accounts, securities, config, records=True)]
            done += [_unpack_records(f.result()) for f in futures]
            return done
    finally:
        del _FORKED[token]


def _fold_forked(token: int, i: int) -> tuple[Any, ...]:
    shares, skip, accounts, securities, config, context = _FORKED[token]
    decimal.setcontext(context)
    return _pack(_fold(shares[i], skip, accounts, securities, config))


# Field kinds of the records, for the trip between processes: pickling a Decimal or a date one at a
# time costs several times more than the fold spent making it, so Decimals travel as strings (exact:
# ``Decimal(str(d))`` keeps sign, digits and exponent) and equal dates as one object.
_LOT_KINDS = "sssDdDDddo"
_RELIEF_KINDS = "ssssDdddDDDDooo"
_WASH_SALE_KINDS = "sssdsssdDDo"


def _columns(rows: list[tuple[Any, ...]], kinds: str) -> list[Any]:
    if not rows:
        return []
    out: list[Any] = []
    for col, kind in zip(zip(*rows, strict=True), kinds, strict=True):
        if kind == "D":
            out.append(list(map(str, col)))
        elif kind == "d":
            memo: dict[date, date] = {}
            out.append(list(map(memo.setdefault, col, col)))
        else:
            out.append(col)
    return out


def _decoded(cls: type, cols: list[Any], kinds: str) -> list[Any]:
    """The records of ``cls`` from the columns ``_columns`` made."""
    if not cols:
        return []
    decoded = [list(map(Decimal, c)) if k == "D" else c for c, k in zip(cols, kinds, strict=True)]
    return build_columns(cls, decoded)


def _pack(out: _Output) -> tuple[Any, ...]:
    return (_columns(out.lots, _LOT_KINDS), out.lot_seqs, _columns(out.reliefs, _RELIEF_KINDS), out.relief_seqs,
            _columns(out.wash_sales, _WASH_SALE_KINDS), out.wash_sale_seqs, out.errors, out.error_seqs)


def _unpack_records(packed: tuple[Any, ...]) -> _Output:
    """What ``_records`` makes of a fold's output, from what ``_pack`` made of it."""
    lots, lot_seqs, reliefs, relief_seqs, wash_sales, wash_sale_seqs, errors, error_seqs = packed
    return _Output(_decoded(Lot, lots, _LOT_KINDS), lot_seqs, _decoded(Relief, reliefs, _RELIEF_KINDS), relief_seqs,
                   _decoded(WashSale, wash_sales, _WASH_SALE_KINDS), wash_sale_seqs, errors, error_seqs)


def _merge(runs: list[tuple[list[int], list[Any]]]) -> tuple[list[int], list[Any]]:
    """The items of all runs in the order of the rows that made them (stable within a run), with those rows."""
    if len(runs) == 1:
        return runs[0]
    keys = list(itertools.chain.from_iterable(k for k, _ in runs))
    items = list(itertools.chain.from_iterable(x for _, x in runs))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return list(map(keys.__getitem__, order)), list(map(items.__getitem__, order))


def _merged(runs: list[tuple[list[int], list[Any]]]) -> list[Any]:
    """The records of all shares in the order of the rows that made them (stable within a share)."""
    return _merge(runs)[1]


def _concat(outs: list[_Output]) -> _Output:
    """The outputs of several folds (of disjoint households) as the one fold over all their rows makes it."""
    if len(outs) == 1:
        return outs[0]
    if not outs:
        return _Output([], [], [], [], [], [], [], [])
    lot_seqs, lots = _merge([(o.lot_seqs, o.lots) for o in outs])
    relief_seqs, reliefs = _merge([(o.relief_seqs, o.reliefs) for o in outs])
    wash_sale_seqs, wash_sales = _merge([(o.wash_sale_seqs, o.wash_sales) for o in outs])
    error_seqs, errors = _merge([(o.error_seqs, o.errors) for o in outs])
    return _Output(lots, lot_seqs, reliefs, relief_seqs, wash_sales, wash_sale_seqs, errors, error_seqs)


def _slot_setters(cls: type, *, checked: bool = False) -> tuple[Any, ...]:
    """The slot writers of a frozen record class, in field order, for ``_fill``.

    ``_fill`` skips the generated ``__init__``, which only assigns the fields one by one (through
    ``object.__setattr__``, as the class is frozen): that is exact only while the class has no
    ``__post_init__`` and every field is a slot of its own, which this checks once, at import.
    ``checked``: the class has a ``__post_init__`` whose work its builder does itself, over whole
    columns, before filling (``Transaction``: ``build_transactions``).
    """
    names = [f.name for f in dataclasses.fields(cls)]
    if (hasattr(cls, "__post_init__") and not checked) or tuple(names) != cls.__slots__:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} cannot be built column by column")
    return tuple(cls.__dict__[name].__set__ for name in names)


_SETTERS: dict[type, tuple[Any, ...]] = {cls: _slot_setters(cls) for cls in (Lot, Relief, WashSale, Source)}
# Classes that validate on construction: only their own builder, which does the checks, fills them.
_CHECKED_SETTERS: dict[type, tuple[Any, ...]] = {Transaction: _slot_setters(Transaction, checked=True)}


# Records are built a block at a time: small enough that a block's records stay in the CPU's cache
# while their fields are set one column after another (measured: 512 to 1024; 4096 is slower).
_BLOCK = 512


def _fill(cls: type, columns: Iterable[Sequence[Any]], n: int, *, checked: bool = False) -> list[Any]:
    """``n`` records of ``cls`` from its field columns, each set over all of them by a loop in C.

    ``checked``: ``cls`` validates on construction and the caller has done its checks (see ``_slot_setters``).
    """
    out: list[Any] = list(map(object.__new__, itertools.repeat(cls, n)))
    for setter, column in zip((_CHECKED_SETTERS if checked else _SETTERS)[cls], columns, strict=True):
        if len(column) != n:
            raise ValueError(f"{cls.__name__}: a column of {len(column)} values for {n} records")
        deque(map(setter, out, column), maxlen=0)
    return out


def _build_rows(cls: type, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
    """``list(itertools.starmap(cls, rows))``, faster.

    A record's generated ``__init__`` is a Python call with a Python step per field; here the
    records are made empty and filled one field at a time, over a block of them at once.
    """
    out: list[Any] = []
    for i in range(0, len(rows), _BLOCK):
        block = rows[i:i + _BLOCK]
        out += _fill(cls, list(zip(*block, strict=True)), len(block))
    return out


def build_columns(cls: type, columns: Sequence[Sequence[Any]], *, checked: bool = False) -> list[Any]:
    """``list(itertools.starmap(cls, zip(*columns, strict=True)))``, faster (as ``_build_rows``).

    For the record classes that do not validate (``Lot``, ``Relief``, ``WashSale``, ``Source``); a
    ``Transaction`` is built by ``build_transactions``, which does its checks and then passes ``checked``.
    """
    if not columns:
        return []
    n = len(columns[0])
    out: list[Any] = []
    for i in range(0, n, _BLOCK):
        block = [c[i:i + _BLOCK] for c in columns]
        out += _fill(cls, block, len(block[0]), checked=checked)
    return out


_NOT_NEGATIVE = (5, 6, 7)  # quantity, price, fees: the fields ``Transaction.__post_init__`` refuses below zero


def build_transactions(columns: Sequence[Sequence[Any]]) -> list[Transaction]:
    """``list(map(Transaction, *columns))``, faster: the same records, or the same error.

    ``columns`` are the field columns in field order. ``Transaction.__post_init__`` makes the action an
    ``Action`` and refuses a negative quantity, price or fees; here those checks run over whole columns,
    each in one loop in C, and the records are filled column by column (``build_columns``). When any
    row would not pass them as it is (an action given as text, a negative or incomparable number), the
    records are made by the constructor one by one, so the error is its own, at the first bad row.
    """
    if not columns:
        return []
    if len(columns) != len(_CHECKED_SETTERS[Transaction]):
        raise ValueError(f"Transaction: {len(columns)} columns for {len(_CHECKED_SETTERS[Transaction])} fields")
    try:
        valid = set(map(type, columns[3])) <= {Action} and not any(min(columns[i]) < _ZERO for i in _NOT_NEGATIVE)
    except (ArithmeticError, TypeError):  # a NaN, a None, a string: the constructor says which row and why
        valid = False
    if not valid:
        return list(itertools.starmap(Transaction, zip(*columns, strict=True)))
    return build_columns(Transaction, columns, checked=True)


def _records(out: _Output) -> _Output:
    """The same output with records in place of field tuples."""
    return _Output(_build_rows(Lot, out.lots), out.lot_seqs, _build_rows(Relief, out.reliefs), out.relief_seqs,
                   _build_rows(WashSale, out.wash_sales), out.wash_sale_seqs, out.errors, out.error_seqs)


def _result(outs: list[_Output], screened: tuple[list[int], list[InputIssue]]) -> LedgerResult:
    lots = _merged([(o.lot_seqs, o.lots) for o in outs])
    reliefs = _merged([(o.relief_seqs, o.reliefs) for o in outs])
    wash_sales = _merged([(o.wash_sale_seqs, o.wash_sales) for o in outs])
    errors = _merged([screened] + [(o.error_seqs, o.errors) for o in outs])
    return LedgerResult(tuple(lots), tuple(reliefs), tuple(wash_sales), tuple(errors))
