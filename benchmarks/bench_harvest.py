"""Harvest scan benchmark: 10,000 accounts in 2,500 households, 500 names, about 20 million lots.

The full household guard runs (recent purchases in every account type, pending orders, the restricted
list from loss sales). Lots are built directly as ``LotTable`` arrays (no 20M Python ``Lot`` objects).
Prints lots per second (goal: at least 2 million per second on 2 cores) and the ratio to a plain NumPy
pass that reads the same arrays once (the memory-bandwidth floor; goal: within 10x).

    .venv/bin/python benchmarks/bench_harvest.py [--lots 20000000] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import date

import numpy as np

from directindex.harvest.scan import Thresholds, scan
from directindex.ledger.view import LotTable


def build(n_lots: int, n_accounts: int, n_households: int, n_names: int, as_of: int, seed: int = 7) -> tuple:
    rng = np.random.default_rng(seed)
    per_household = n_accounts // n_households  # joint taxable, spouse taxable, IRA, Roth
    account_idx = np.sort(rng.integers(0, n_accounts, n_lots)).astype(np.int64)
    household_idx = account_idx // per_household
    taxable = (account_idx % per_household) < 2
    symbol_idx = rng.integers(0, n_names, n_lots).astype(np.int64)
    # share classes: every 50th name pairs with the next one (GOOG/GOOGL-like identical groups)
    group_of = np.arange(n_names)
    group_of[1::50] = group_of[0::50][: len(group_of[1::50])]
    _, group_of = np.unique(group_of, return_inverse=True)
    group_idx = group_of[symbol_idx].astype(np.int64)
    acquired = as_of - rng.integers(0, 5 * 365, n_lots).astype(np.int64)
    prices = rng.uniform(20, 400, n_names)
    quantity = rng.integers(1, 200, n_lots).astype(np.float64)
    basis = quantity * prices[symbol_idx] * rng.uniform(0.7, 1.3, n_lots)
    n_groups = int(group_of.max()) + 1
    table = LotTable(
        lots=(), accounts=tuple(f"A{i}" for i in range(n_accounts)),
        households=tuple(f"H{i}" for i in range(n_households)), symbols=tuple(f"S{i}" for i in range(n_names)),
        groups=tuple(f"G{i}" for i in range(n_groups)),
        account_idx=account_idx, household_idx=household_idx, symbol_idx=symbol_idx, group_idx=group_idx,
        taxable=taxable, quantity=quantity, basis=basis, acquired=acquired, long_term_on=acquired + 366,
    )
    root_idx = np.arange(n_lots, dtype=np.int64)
    pending_hg = rng.integers(0, n_households * n_groups, 5_000).astype(np.int64)
    loss_sale_hg = rng.integers(0, n_households * n_groups, 200_000).astype(np.int64)
    loss_sale_day = as_of - rng.integers(0, 365, 200_000).astype(np.int64)
    return table, prices, root_idx, pending_hg, loss_sale_hg, loss_sale_day


def floor_pass(table: LotTable) -> float:
    """Read every array the scan reads, once, with one reduction each."""
    total = 0.0
    for a in (table.quantity, table.basis, table.symbol_idx, table.acquired, table.taxable, table.household_idx,
              table.group_idx):
        total += float(a.sum())
    return total


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark; ``argv`` as on the command line (``None``: every default, for a driver)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=20_000_000)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--households", type=int, default=2_500)
    ap.add_argument("--names", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args([] if argv is None else list(argv))
    as_of = date(2025, 6, 16).toordinal()
    t0 = time.perf_counter()
    table, prices, roots, pending_hg, sale_hg, sale_day = build(args.lots, args.accounts, args.households,
                                                                args.names, as_of)
    print(f"built {args.lots:,} lots in {time.perf_counter() - t0:.1f}s "
          f"({args.accounts:,} accounts, {args.households:,} households, {args.names} names; "
          f"{os.cpu_count()} CPUs, {args.threads} threads; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    thresholds = Thresholds(0.02, 100.0, 0)
    result = None

    def run() -> None:
        nonlocal result
        result = scan(table, prices, as_of, thresholds, roots, pending_hg=pending_hg, loss_sale_hg=sale_hg,
                      loss_sale_day=sale_day, threads=args.threads)

    t_scan = best(run, args.repeat)
    t_floor = best(lambda: floor_pass(table), args.repeat)
    assert result is not None
    rate = args.lots / t_scan
    print(f"scan + household guard: {t_scan:.3f}s = {rate / 1e6:.2f} million lots/s (goal >= 2)")
    print(f"plain NumPy read of the same arrays: {t_floor:.3f}s = {args.lots / t_floor / 1e6:.1f} million lots/s")
    print(f"ratio to the memory-bandwidth floor: {t_scan / t_floor:.1f}x (goal <= 10x)")
    print(f"candidates {int(result.candidate.sum()):,}; blocked by a recent purchase "
          f"{int(result.blocked_recent.sum()):,}, by a pending order {int(result.blocked_pending.sum()):,}; "
          f"harvestable {int(result.harvestable.sum()):,}; restricted (household, group) pairs "
          f"{int(result.guard.restricted(as_of).sum()):,}")


if __name__ == "__main__":
    main(sys.argv[1:])
