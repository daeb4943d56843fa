"""Daily run over a generated book: 1,000 accounts x 500 names on SQLite and on PostgreSQL.

The book: 500 names with cap-weighted index weights (the accounts' benchmark in ``policy.toml``), a
year of daily closes (so the run estimates a factor risk model), and per account one lot per name
bought on a random day of 2023-2024 in proportion to the index, prices now drawn ±25% around cost (about
half the lots are harvestable: a heavy first day). One account in ten was bought loosely (its
weights scattered around the index), so its tracking error is past the alert level and it is
rebalanced; the others are not triggered (no new cash, no previous run, so no cadence day).

Prints, per backend: the import time against a plain bulk insert of the same rows (the peer: what
the database costs without the import's checks, ledger replay and audit), the full default daily run
(the harvest engine for every household, then the rebalancer with one compiled optimizer for the
triggered accounts; households worked out on every core, written by this process) over every
account: wall time, CPU here and in the forked workers, and accounts per second (goal: the whole run under
60 s on 2 cores), the time of an idempotent re-run, and the SQLite/PostgreSQL ratio.
Usage:
    .venv/bin/python benchmarks/bench_book.py [--accounts 1000] [--names 500] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import insert

from directindex.ledger.io import load_accounts, load_transactions
from directindex.store import engine_for, migrate, open_book, write_tx
from directindex.store.models import ImportRow, TransactionRow
from directindex.store.repo import now_iso, transaction_values
from directindex.workflow.harvest_engine import HarvestEngineProposer
from directindex.workflow.imports import import_path
from directindex.workflow.rebalance import Rebalancer
from directindex.workflow.run import daily_run

PG_ADMIN = os.environ.get("DIRECTINDEX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
AS_OF = date(2025, 6, 30)


DRIFTED = 10  # one account in DRIFTED is bought loosely around the index


def generate(root: Path, n_accounts: int, n_names: int, seed: int = 7) -> tuple[dict[str, Decimal], pd.DataFrame]:
    """The book directory under ``root``; returns today's prices and the closes history."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    symbols = [f"S{i:03d}" for i in range(n_names)]
    cost = {s: Decimal(rng.randint(2000, 40000)) / 100 for s in symbols}
    caps = [1.0 / (i + 1) ** 0.9 for i in range(n_names)]
    index = {s: c / sum(caps) for s, c in zip(symbols, caps, strict=True)}
    weights = ", ".join(f"{s} = {w:.8f}" for s, w in index.items())
    (root / "policy.toml").write_text(
        f"[defaults]\nbenchmark = {{{weights}}}\nte_budget = 0.02\n\n[risk]\ntracking_error_alert = 0.015\n\n"
        "[rebalance]\ncadence = \"quarterly\"\n")
    with (root / "securities.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "name", "sector", "industry", "identical_group"])
        for i, s in enumerate(symbols):
            w.writerow([s, f"Name {s}", f"Sector{i % 11}", f"Industry{i % 60}", ""])
    types = ["taxable", "taxable", "taxable", "traditional_ira"]
    with (root / "accounts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account", "household", "owner", "type"])
        for a in range(n_accounts):
            w.writerow([f"A{a:05d}", f"H{a // 2:05d}", f"owner{a}", types[a % 4]])
    start = date(2023, 1, 3)
    with (root / "transactions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "date", "account", "action", "symbol", "quantity", "price", "fees", "lot"])
        n = 0
        for a in range(n_accounts):
            size = rng.uniform(1e6, 3e6)
            spread = 1.0 if a % DRIFTED == DRIFTED - 1 else 0.1
            for s in symbols:
                day = start + timedelta(days=rng.randint(0, 700))
                qty = max(1, round(size * index[s] * rng.lognormvariate(0, spread) / float(cost[s])))
                w.writerow([f"T{n}", day.isoformat(), f"A{a:05d}", "buy", s, qty, cost[s], "0", ""])
                n += 1
    prices = {s: (cost[s] * Decimal(rng.uniform(0.75, 1.25))).quantize(Decimal("0.01")) for s in symbols}
    return prices, history(prices, seed)


def history(prices: dict[str, Decimal], seed: int, days: int = 260) -> pd.DataFrame:
    """A year of closes ending at ``prices``: market, 11 sector factors and specific noise."""
    gen = np.random.default_rng(seed)
    syms = sorted(prices)
    sector = np.array([int(s[1:]) % 11 for s in syms])
    r = (gen.normal(0, 0.01, (days, 1)) * gen.uniform(0.7, 1.3, len(syms))
         + gen.normal(0, 0.006, (days, 11))[:, sector] + gen.normal(0, 0.012, (days, len(syms))))
    level = np.exp(np.cumsum(r, axis=0))
    close = level / level[-1] * np.array([float(prices[s]) for s in syms])
    dates = pd.bdate_range(end=pd.Timestamp(AS_OF), periods=days)
    return pd.DataFrame({"date": np.repeat(dates, len(syms)), "symbol": np.tile(syms, days), "close": close.ravel()})


def bulk_insert(url: str, book: Path) -> tuple[int, float]:
    """The peer: the same transactions written by one plain executemany, no checks, no ledger, no audit."""
    migrate(url)
    engine = open_book(url)
    txs = load_transactions(book / "transactions.csv", load_accounts(book / "accounts.csv"))
    t0 = time.perf_counter()
    with write_tx(engine) as conn:
        iid = conn.execute(insert(ImportRow).values(kind="bulk", path="", sha256="", at=now_iso()).returning(
            ImportRow.id)).scalar_one()
        for i in range(0, len(txs), 5000):
            conn.execute(insert(TransactionRow), [transaction_values(t, iid) for t in txs[i : i + 5000]])
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return len(txs), elapsed


def default_run(engine: Any, prices: dict[str, Decimal], hist: pd.DataFrame) -> Any:
    """What ``directindex run --prices HISTORY`` does: the harvest engine, then triggered rebalances."""
    return daily_run(engine, AS_OF, prices, HarvestEngineProposer(prices_history=hist), owner="benchmark",
                     rebalancer=Rebalancer())


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the run's forked workers, once joined)."""
    t = os.times()
    return t.children_user + t.children_system


def bench(url: str, book: Path, prices: dict[str, Decimal], hist: pd.DataFrame, label: str) -> dict[str, float]:
    t0 = time.perf_counter()
    migrate(url)
    engine = open_book(url)
    t1 = time.perf_counter()
    report = import_path(engine, book)
    t2 = time.perf_counter()
    cpu, kids = time.process_time(), _children_cpu()
    run = default_run(engine, prices, hist)
    t3 = time.perf_counter()
    cpu, kids = time.process_time() - cpu, _children_cpu() - kids
    again = default_run(engine, prices, hist)
    t4 = time.perf_counter()
    rate = run.accounts / (t3 - t2)
    print(f"[{label}] init {t1 - t0:.2f} s; import {report.transactions_added:,} transactions in {t2 - t1:.1f} s "
          f"({report.transactions_added / (t2 - t1):,.0f}/s)", flush=True)
    print(f"[{label}] default daily run (harvest engine + triggered rebalances): {run.accounts} accounts in "
          f"{t3 - t2:.1f} s wall ({cpu:.1f} s CPU here, {kids:.1f} s in forked workers) = {rate:.1f} accounts/s; "
          f"{len(run.proposals)} proposals "
          f"({run.auto_approved} auto-approved, {run.pending_approval} pending), {run.changes.get('rebalanced', 0)} "
          f"rebalanced, {run.changes.get('tracking_error_drift', 0)} past the TE alert; "
          f"goal < 60 s: {'met' if t3 - t2 < 60 else 'NOT met'}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(f"[{label}] re-run of the same date: {t4 - t3:.1f} s, {again.processed} accounts processed", flush=True)
    engine.dispose()
    return {"import_s": t2 - t1, "run_s": t3 - t2, "rate": rate, "n": report.transactions_added}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--names", type=int, default=500)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        prices, hist = generate(root / "book", args.accounts, args.names)
        print(f"generated {args.accounts} accounts x {args.names} names in {time.perf_counter() - t:.1f} s "
              f"(cores: {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)

        def one(label: str, url_for: Any) -> None:
            results[label] = bench(url_for("run"), root / "book", prices, hist, label)
            n, bulk = bulk_insert(url_for("bulk"), root / "book")
            r = results[label]
            print(f"[{label}] peer: plain bulk insert of the same {n:,} rows in {bulk:.1f} s ({n / bulk:,.0f}/s); "
                  f"import / bulk insert = {r['import_s'] / bulk:.1f}x", flush=True)

        if args.backend in ("sqlite", "both"):
            one("sqlite", lambda tag: f"sqlite:///{root / f'bench-{tag}.db'}")
        if args.backend in ("postgresql", "both"):
            names: list[str] = []

            def pg(tag: str) -> str:
                name = f"directindex_bench_{os.getpid()}_{tag}_{uuid.uuid4().hex[:6]}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                names.append(name)
                return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"

            try:
                one("postgresql", pg)
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    for name in names:
                        engine_for(f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}").dispose()
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if "sqlite" in results and "postgresql" in results:
            s, p = results["sqlite"], results["postgresql"]
            print(f"peer ratio: default daily run SQLite / PostgreSQL accounts/s = {s['rate'] / p['rate']:.2f}; "
                  f"import SQLite / PostgreSQL rows/s = {p['import_s'] / s['import_s']:.2f}", flush=True)


if __name__ == "__main__":
    main()
