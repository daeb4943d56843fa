"""Ledger invariants under random histories (hypothesis): shares and basis conserved, one loss per share."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from directindex.ledger import Action, LedgerConfig, Method, Security, Transaction, book

from .scenario import accounts

ACCTS = accounts()
SYMBOLS = ["X", "Y", "GOOG", "GOOGL"]
SECS = {"GOOG": Security("GOOG", identical_group="alphabet"), "GOOGL": Security("GOOGL", identical_group="alphabet")}
START = date(2024, 1, 1)


@st.composite
def histories(draw):
    """Random buys, reinvestments, transfers in, sales and gifts in one household; never more out than held.

    Half the histories name the lot of every sale and gift (specific identification, partial lots
    included), the other half leave it to the relief method.
    """
    n = draw(st.integers(1, 40))
    specific = draw(st.booleans())
    held: dict[tuple[str, str], int] = defaultdict(int)
    lots: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)  # (account, symbol) -> lot -> shares
    txs = []
    day = 0
    for i in range(n):
        day += draw(st.integers(0, 20))
        acct = draw(st.sampled_from(["JOINT", "SPOUSE", "IRA", "ROTH"]))
        sym = draw(st.sampled_from(SYMBOLS))
        price = Decimal(draw(st.integers(100, 20000))) / 100
        fees = Decimal(draw(st.integers(0, 300))) / 100
        when = START + timedelta(days=day)
        key = (acct, sym)
        if held[key] > 0 and draw(st.booleans()):
            action = draw(st.sampled_from([Action.SELL, Action.SELL, Action.SELL, Action.DONATE]))
            lot = None
            if specific:
                lot = draw(st.sampled_from(sorted(k for k, q in lots[key].items() if q > 0)))
                q = draw(st.integers(1, lots[key][lot]))
                lots[key][lot] -= q
            else:
                q = draw(st.integers(1, held[key]))
            held[key] -= q
            if action is Action.DONATE:
                price = fees = Decimal(0)
            txs.append(Transaction(f"t{i}", when, acct, action, sym, Decimal(q), price, fees, lot))
            continue
        q = draw(st.integers(1, 50))
        held[key] += q
        lots[key][f"t{i}"] = q
        action = draw(st.sampled_from([Action.BUY, Action.BUY, Action.REINVEST, Action.TRANSFER_IN]))
        if action is Action.TRANSFER_IN:  # an old lot arriving with its own date and basis
            acquired = when - timedelta(days=draw(st.integers(0, 900)))
            basis = Decimal(draw(st.integers(0, 10**6))) / 100
            txs.append(Transaction(f"t{i}", when, acct, action, sym, Decimal(q), Decimal(0), fees,
                                   acquired=acquired, basis=basis))
        else:
            txs.append(Transaction(f"t{i}", when, acct, action, sym, Decimal(q), price, fees))
    return txs


def _cost_in(tx: Transaction) -> Decimal:
    if tx.action is Action.TRANSFER_IN:
        assert tx.basis is not None
        return (tx.basis + tx.fees).quantize(Decimal("0.01"))
    return (tx.quantity * tx.price + tx.fees).quantize(Decimal("0.01"))


_IN = (Action.BUY, Action.REINVEST, Action.TRANSFER_IN)


@settings(max_examples=150, deadline=None)
@given(histories(), st.sampled_from(list(Method)))
def test_shares_and_basis_are_conserved(txs, method):
    r = book(txs, ACCTS, SECS, LedgerConfig(method=method)).raise_errors()
    bought = defaultdict(Decimal)
    sold = defaultdict(Decimal)
    for t in txs:
        (bought if t.action in _IN else sold)[(t.account, t.symbol)] += t.quantity
    open_qty = defaultdict(Decimal)
    for lot in r.lots:
        open_qty[(lot.account, lot.symbol)] += lot.quantity
    for key in bought:
        assert bought[key] - sold[key] == open_qty[key]
    assert sum((x.quantity for x in r.reliefs), Decimal(0)) == sum(sold.values(), Decimal(0))
    # Every dollar of cost ends in an open lot or a relief; every disallowed dollar ends in a basis
    # (open or relieved) or is permanently lost.
    cost_in = sum((_cost_in(t) for t in txs if t.action in _IN), Decimal(0))
    relieved_adj = sum((r_.cost_basis for r_ in r.reliefs), Decimal(0))
    open_cost = sum((lot.cost for lot in r.lots), Decimal(0))
    open_adj = sum((lot.wash_sale_adjustment for lot in r.lots), Decimal(0))
    disallowed = sum((w.disallowed for w in r.wash_sales), Decimal(0))
    permanent = sum((w.disallowed for w in r.wash_sales if w.permanent), Decimal(0))
    assert cost_in + disallowed - permanent == open_cost + open_adj + relieved_adj
    assert disallowed == sum((x.adjustment for x in r.reliefs), Decimal(0))
    assert permanent == sum((x.disallowed_permanently for x in r.reliefs), Decimal(0))
    # The same in the words: every dollar of cost ends in an open lot, in a realized gain or
    # loss (the cost a sale recovers is proceeds - gain_loss; a gift takes its basis with it), or in
    # a permanently disallowed loss.
    open_basis = sum((lot.basis for lot in r.lots), Decimal(0))
    recovered = sum((x.proceeds - x.gain_loss for x in r.reliefs), Decimal(0))
    assert cost_in == open_basis + recovered + permanent


@settings(max_examples=150, deadline=None)
@given(histories())
def test_replacement_share_absorbs_at_most_one_loss_and_only_losses_wash(txs):
    r = book(txs, ACCTS, SECS).raise_errors()
    bought = {t.id: t for t in txs if t.action.acquires}  # a transfer in never replaces
    used = defaultdict(Decimal)
    for w in r.wash_sales:
        assert w.replacement_transaction in bought
        assert (w.replacement_account, w.replacement_lot.split(".")[0]) != (w.sale_account, w.sold_lot.split(".")[0])
        used[w.replacement_transaction] += w.quantity
        assert w.disallowed >= 0
        assert abs((w.replacement_date - w.sale_date).days) <= 30
    for tid, q in used.items():
        assert q <= bought[tid].quantity
    for x in r.realized():
        assert x.adjustment >= 0
        assert x.proceeds - x.cost_basis + x.adjustment <= 0 or x.adjustment == 0
        assert x.adjustment <= max(x.cost_basis - x.proceeds, Decimal(0))


@settings(max_examples=80, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_interleaving_same_day_rows_of_different_groups_changes_nothing(txs, rnd):
    """Rows of one date apply in file order, but only order within an identical group can matter:
    interleaving the groups differently must give exactly the same lots and Form 8949 rows."""
    r1 = book(txs, ACCTS, SECS).raise_errors()
    group = {s: (SECS[s].group if s in SECS else s) for s in SYMBOLS}
    by_day = defaultdict(list)
    for t in txs:
        by_day[t.date].append(t)
    shuffled = []
    for d in sorted(by_day):
        queues = defaultdict(list)
        for t in by_day[d]:
            queues[group[t.symbol]].append(t)
        keys = [k for k, q in queues.items() for _ in q]
        rnd.shuffle(keys)
        shuffled += [queues[k].pop(0) for k in keys]
    r2 = book(shuffled, ACCTS, SECS).raise_errors()
    assert sorted(r1.lots, key=repr) == sorted(r2.lots, key=repr)
    assert sorted(r1.reliefs, key=repr) == sorted(r2.reliefs, key=repr)
