"""Daily run over a generated book: 1,000 accounts x 500 names on SQLite and on PostgreSQL.

Prints, per backend: the import time against a plain bulk insert of the same rows (the peer: what
the database costs without the import's checks, ledger replay and audit), the daily run's accounts per
second with the workflow's loss-threshold proposer over every account (goal: the whole run under 60 s
on 2 cores), the same run's rate with the default harvest-engine proposer on a sample of households
(``--engine-accounts``; the engine's per-pass cost grows with the number of harvested groups, so the
full book is sampled, not run), the time of an idempotent re-run, and the SQLite/PostgreSQL ratio.
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

import psycopg
from sqlalchemy import insert

from directindex.ledger.io import load_accounts, load_transactions
from directindex.store import engine_for, migrate, open_book, write_tx
from directindex.store.models import ImportRow, TransactionRow
from directindex.store.repo import now_iso, transaction_values
from directindex.workflow.harvest_engine import HarvestEngineProposer
from directindex.workflow.imports import import_path
from directindex.workflow.proposer import LossHarvestProposer
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


def engine_sample(url: str, book: Path, prices: dict[str, Decimal], n_accounts: int) -> tuple[int, float, int]:
    """The default proposer (harvest engine, household by household) over the first ``n_accounts``."""
    sub = book.parent / f"engine-{n_accounts}"
    sub.mkdir(exist_ok=True)
    for name in ("accounts.csv", "transactions.csv"):
        with (book / name).open() as src, (sub / name).open("w") as dst:
            keep = {f"A{a:05d}" for a in range(n_accounts)}
            for i, line in enumerate(src):
                if i == 0 or line.split(",")[2 if name == "transactions.csv" else 0] in keep:
                    dst.write(line)
    (sub / "securities.csv").write_bytes((book / "securities.csv").read_bytes())
    migrate(url)
    engine = open_book(url)
    import_path(engine, sub)
    t0 = time.perf_counter()
    run = daily_run(engine, AS_OF, prices, HarvestEngineProposer(), owner="benchmark")
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return run.accounts, elapsed, len(run.proposals)


def bench(url: str, book: Path, prices: dict[str, Decimal], label: str) -> dict[str, float]:
    t0 = time.perf_counter()
    migrate(url)
    engine = open_book(url)
    t1 = time.perf_counter()
    report = import_path(engine, book)
    t2 = time.perf_counter()
    run = daily_run(engine, AS_OF, prices, LossHarvestProposer(), owner="benchmark")
    t3 = time.perf_counter()
    again = daily_run(engine, AS_OF, prices, LossHarvestProposer(), owner="benchmark")
    t4 = time.perf_counter()
    rate = run.accounts / (t3 - t2)
    print(f"[{label}] init {t1 - t0:.2f} s; import {report.transactions_added:,} transactions in {t2 - t1:.1f} s "
          f"({report.transactions_added / (t2 - t1):,.0f}/s)", flush=True)
    print(f"[{label}] daily run (loss-threshold proposer): {run.accounts} accounts in {t3 - t2:.1f} s = "
          f"{rate:.1f} accounts/s; {len(run.proposals)} proposals ({run.auto_approved} auto-approved, "
          f"{run.pending_approval} pending); goal < 60 s: {'met' if t3 - t2 < 60 else 'NOT met'}", flush=True)
    print(f"[{label}] re-run of the same date: {t4 - t3:.1f} s, {again.processed} accounts processed", flush=True)
    engine.dispose()
    return {"import_s": t2 - t1, "run_s": t3 - t2, "rate": rate, "n": report.transactions_added}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--names", type=int, default=500)
    ap.add_argument("--engine-accounts", type=int, default=20, help="accounts in the harvest-engine sample")
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        prices = generate(root / "book", args.accounts, args.names)
        print(f"generated {args.accounts} accounts x {args.names} names in {time.perf_counter() - t:.1f} s "
              f"(cores: {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)

        def one(label: str, url_for: Any) -> None:
            results[label] = bench(url_for("run"), root / "book", prices, label)
            n, bulk = bulk_insert(url_for("bulk"), root / "book")
            r = results[label]
            print(f"[{label}] peer: plain bulk insert of the same {n:,} rows in {bulk:.1f} s ({n / bulk:,.0f}/s); "
                  f"import / bulk insert = {r['import_s'] / bulk:.1f}x", flush=True)
            k, secs, made = engine_sample(url_for("engine"), root / "book", prices, args.engine_accounts)
            print(f"[{label}] daily run (harvest-engine proposer, the default) on {k} accounts: {secs:.1f} s = "
                  f"{k / secs:.2f} accounts/s, {made} proposals; {args.accounts} accounts at that rate: "
                  f"{args.accounts / (k / secs):,.0f} s", flush=True)

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
            print(f"peer ratio: daily run SQLite / PostgreSQL accounts/s = {s['rate'] / p['rate']:.2f}; "
                  f"import SQLite / PostgreSQL rows/s = {p['import_s'] / s['import_s']:.2f}", flush=True)


if __name__ == "__main__":
    main()
