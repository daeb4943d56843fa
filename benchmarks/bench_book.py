"""Daily run over a generated book: 1,000 accounts x 500 names on SQLite and on PostgreSQL.

Prints the import time, the run's accounts per second (goal: the whole run under 60 s on 2 cores) and
the time of an idempotent re-run of the same date. Usage:
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

import psycopg

from directindex.store import engine_for, migrate, open_book
from directindex.workflow.imports import import_path
from directindex.workflow.run import daily_run

PG_ADMIN = os.environ.get("DIRECTINDEX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
AS_OF = date(2025, 6, 30)


def generate(root: Path, n_accounts: int, n_names: int, seed: int = 7) -> dict[str, Decimal]:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    symbols = [f"S{i:03d}" for i in range(n_names)]
    cost = {s: Decimal(rng.randint(2000, 40000)) / 100 for s in symbols}
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
            for s in symbols:
                day = start + timedelta(days=rng.randint(0, 700))
                w.writerow([f"T{n}", day.isoformat(), f"A{a:05d}", "buy", s, rng.randint(1, 60), cost[s], "0", ""])
                n += 1
    return {s: (cost[s] * Decimal(rng.uniform(0.75, 1.25))).quantize(Decimal("0.01")) for s in symbols}


def bench(url: str, book: Path, prices: dict[str, Decimal], label: str) -> None:
    t0 = time.perf_counter()
    migrate(url)
    engine = open_book(url)
    t1 = time.perf_counter()
    report = import_path(engine, book)
    t2 = time.perf_counter()
    run = daily_run(engine, AS_OF, prices, owner="benchmark")
    t3 = time.perf_counter()
    again = daily_run(engine, AS_OF, prices, owner="benchmark")
    t4 = time.perf_counter()
    print(f"[{label}] init {t1 - t0:.2f} s; import {report.transactions_added:,} transactions in {t2 - t1:.1f} s "
          f"({report.transactions_added / (t2 - t1):,.0f}/s)")
    print(f"[{label}] daily run: {run.accounts} accounts in {t3 - t2:.1f} s = {run.accounts / (t3 - t2):.1f} "
          f"accounts/s; {len(run.proposals)} proposals ({run.auto_approved} auto-approved, "
          f"{run.pending_approval} pending)")
    print(f"[{label}] re-run of the same date: {t4 - t3:.1f} s, {again.processed} accounts processed")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--names", type=int, default=500)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        prices = generate(root / "book", args.accounts, args.names)
        print(f"generated {args.accounts} accounts x {args.names} names in {time.perf_counter() - t:.1f} s "
              f"(cores: {os.cpu_count()})")
        if args.backend in ("sqlite", "both"):
            bench(f"sqlite:///{root / 'bench.db'}", root / "book", prices, "sqlite")
        if args.backend in ("postgresql", "both"):
            name = f"directindex_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
            try:
                bench(url, root / "book", prices, "postgresql")
            finally:
                engine_for(url).dispose()
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
