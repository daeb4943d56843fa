"""Replay 1,000,000 generated transactions over 10,000 accounts in 2,500 households, wash sales everywhere.

Prints transactions per second for the exact (Decimal) ledger, and the ratio to a floor: a plain
Python loop that only reads every transaction's fields once. Goal: >= 50,000 transactions/s on 2 cores.
Usage: python benchmarks/bench_ledger.py [--transactions N]
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from directindex.ledger import Account, AccountType, Action, Security, Transaction, book

TYPES = [AccountType.TAXABLE, AccountType.TAXABLE, AccountType.TRADITIONAL_IRA, AccountType.ROTH_IRA]


def generate(n_tx: int, n_accounts: int = 10_000, n_symbols: int = 500, seed: int = 7):
    rng = np.random.default_rng(seed)
    accounts = {f"A{i}": Account(f"A{i}", f"H{i // 4}", f"O{i // 2}", TYPES[i % 4]) for i in range(n_accounts)}
    securities = {f"S{j}": Security(f"S{j}", identical_group=f"G{j // 2}" if j < 40 else "") for j in range(n_symbols)}
    per_acct = n_tx // n_accounts
    start = date(2020, 1, 2)
    txs: list[Transaction] = []
    tid = 0
    household_syms = {}
    for i in range(n_accounts):
        # The accounts of a household trade the same few names, so spouses and IRAs wash each other.
        syms = household_syms.setdefault(i // 4, rng.choice(n_symbols, size=6, replace=False))
        held: dict[int, int] = {}
        days = np.sort(rng.integers(0, 1500, size=per_acct))
        prices = rng.lognormal(4.0, 0.3, size=per_acct).round(2)
        qtys = rng.integers(1, 100, size=per_acct)
        picks = rng.integers(0, 6, size=per_acct)
        coins = rng.random(per_acct)
        for k in range(per_acct):
            s = int(syms[picks[k]])
            h = held.get(s, 0)
            day = start + timedelta(days=int(days[k]))
            if h > 0 and coins[k] < 0.45:
                q = min(h, int(qtys[k]))
                held[s] = h - q
                action = Action.SELL
            else:
                q = int(qtys[k])
                held[s] = h + q
                action = Action.REINVEST if coins[k] > 0.95 else Action.BUY
            txs.append(Transaction(f"T{tid}", day, f"A{i}", action, f"S{s}", Decimal(q),
                                   Decimal(str(prices[k])), Decimal(0)))
            tid += 1
    return txs, accounts, securities


def floor_pass(txs: list[Transaction]) -> float:
    t0 = time.perf_counter()
    total = Decimal(0)
    for t in txs:
        total += t.quantity * t.price
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transactions", type=int, default=1_000_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    txs, accounts, securities = generate(args.transactions)
    print(f"generated {len(txs):,} transactions over {len(accounts):,} accounts in "
          f"{len({a.household for a in accounts.values()}):,} households ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    result = book(txs, accounts, securities)
    elapsed = time.perf_counter() - t0
    assert not result.errors, result.errors[:3]
    floor = floor_pass(txs)
    print(f"ledger: {elapsed:.2f} s, {len(txs) / elapsed:,.0f} transactions/s "
          f"(goal >= 50,000/s); {len(result.reliefs):,} reliefs, {len(result.wash_sales):,} wash-sale matches, "
          f"{len(result.lots):,} open lot parts")
    print(f"floor (one Decimal multiply-add per transaction): {floor:.2f} s; ledger / floor = {elapsed / floor:.1f}x")


if __name__ == "__main__":
    main()
