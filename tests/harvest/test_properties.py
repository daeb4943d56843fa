"""Random households (spouses, IRA, Roth, GOOG/GOOGL, reinvestments, pending orders, earlier loss sales):
every proposal, booked by the ledger and followed by 30 days that honour the restricted list, washes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from directindex.harvest import HarvestPolicy, PendingOrder, plan_harvest, policy_from_mapping
from directindex.ledger import Action, Transaction
from tests.harvest.replay import honour_restricted, replay
from tests.harvest.scenarios import AS_OF, PRICES, SECURITIES
from tests.ledger.scenario import accounts

ACCTS = accounts()
HOUSE = [a for a in ACCTS if ACCTS[a].household == "H"]
SYMS = sorted(PRICES)

buy = st.tuples(st.sampled_from(HOUSE), st.sampled_from(SYMS), st.integers(1, 400), st.integers(1, 50),
                st.integers(60, 140), st.booleans(), st.one_of(st.none(), st.integers(0, 399)),
                st.integers(60, 140))
pending = st.tuples(st.sampled_from(HOUSE), st.sampled_from(SYMS), st.sampled_from(["buy", "sell"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(buy, min_size=1, max_size=14), st.lists(pending, max_size=2), st.sampled_from(["peer", "basket"]),
       st.sampled_from([0.0, 0.02, 0.1]))
def test_random_households_wash_nothing(buys, orders, replacement, threshold):
    txs: list[Transaction] = []
    for n, (acct, sym, ago, qty, px, reinvest, sell_ago, sell_px) in enumerate(buys):
        day = AS_OF - timedelta(days=ago)
        action = Action.REINVEST if reinvest else Action.BUY
        txs.append(Transaction(f"B{n}", day, acct, action, sym, Decimal(qty), Decimal(px)))
        if sell_ago is not None and sell_ago < ago:
            txs.append(Transaction(f"S{n}", AS_OF - timedelta(days=sell_ago), acct, Action.SELL, sym, Decimal(qty),
                                   Decimal(sell_px), lot=f"B{n}"))
    policy = policy_from_mapping({"harvest": {"loss_threshold": threshold},
                                  "defaults": {"replacement": replacement, "basket_size": 2}})
    policy = HarvestPolicy(policy.defaults, policy.tax, policy.accounts, policy.households, tuple(
        PendingOrder(a, s, side, Decimal(1), id=f"O{i}") for i, (a, s, side) in enumerate(orders)))
    proposal = plan_harvest(ACCTS, SECURITIES, txs, PRICES, AS_OF, policy)
    _, fresh = replay(ACCTS, SECURITIES, txs, proposal)
    assert fresh == [], fresh
    restricted = {(e.household, s) for e in proposal.restricted for s in e.symbols}
    warned = {w.symbol for w in proposal.warnings if w.code == "pending_restricted"}
    fills = []
    for a, s, side in orders:
        if side == "buy" and (ACCTS[a].household, s) in restricted:
            assert s in warned  # the pass cannot cancel it: it says so
        elif side == "buy":
            fills.append((a, s, Decimal(1)))
    _, fresh = replay(ACCTS, SECURITIES, txs, proposal, honour_restricted(ACCTS, proposal, PRICES, fills))
    assert fresh == [], fresh
    # Every harvested group is on the restricted list through 30 days after the pass.
    harvested = {SECURITIES[t.symbol].group for t in proposal.trades if t.reason.value == "harvest"}
    assert harvested <= {e.group for e in proposal.restricted if e.expires == AS_OF + timedelta(days=31)}


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_best_peers_equal_the_full_sort(rows: int, cols: int, size: int, seed: int) -> None:
    """The partial selection of each sold name's best peers is the first ``size`` of the full sort, ties
    (scores drawn from a few values) going to the first symbol."""
    from directindex.harvest.replace import _best

    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 4, size=(rows, cols)).astype(float) / 4
    rank = rng.permutation(cols)
    full = np.lexsort((np.broadcast_to(rank, matrix.shape), -matrix), axis=-1)[:, :size]
    np.testing.assert_array_equal(_best(matrix, rank, size), full)
