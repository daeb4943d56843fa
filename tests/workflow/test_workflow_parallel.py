"""The daily run on several processes stores exactly what the one-process run stores.

A book of 24 accounts in 12 households (a taxable account with a spouse's taxable account or an
IRA), 30 names, lots bought around cost with prices now ±25% (so about half are harvestable) and one
account in four bought loosely around the index (past the tracking-error alert: rebalanced). The run
is made once with ``workers=1`` and once with ``workers=2`` (households worked out in a forked worker
and here, claimed from one counter, written here in order): every proposal, run row and audit record
must be the same, the audit chain intact, and the second run on the same date a no-op.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from directindex.store import migrate, open_book
from directindex.store.models import RunAccountRow
from directindex.workflow import audit, proposals
from directindex.workflow.harvest_engine import HarvestEngineProposer
from directindex.workflow.imports import import_path
from directindex.workflow.proposer import ProposalContext, ProposalDraft
from directindex.workflow.rebalance import Rebalancer
from directindex.workflow.run import daily_run

AS_OF = date(2025, 6, 30)
N_ACCOUNTS, N_NAMES = 24, 30


def _book(root: Path) -> tuple[dict[str, Decimal], pd.DataFrame]:
    rng = random.Random(5)
    root.mkdir(parents=True)
    symbols = [f"S{i:02d}" for i in range(N_NAMES)]
    cost = {s: Decimal(rng.randint(2000, 20000)) / 100 for s in symbols}
    caps = [1.0 / (i + 1) for i in range(N_NAMES)]
    index = {s: c / sum(caps) for s, c in zip(symbols, caps, strict=True)}
    (root / "policy.toml").write_text(
        "[defaults]\nbenchmark = {" + ", ".join(f"{s} = {w:.8f}" for s, w in index.items()) + "}\n"
        "te_budget = 0.03\n\n[risk]\ntracking_error_alert = 0.02\n\n[rebalance]\ncadence = \"quarterly\"\n\n"
        "[approval]\nmax_trade_fraction = 1.0\n")
    with (root / "securities.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "name", "sector", "industry", "identical_group"])
        w.writerows([s, f"Name {s}", f"Sector{i % 5}", f"Industry{i % 10}", ""] for i, s in enumerate(symbols))
    types = ["taxable", "taxable", "taxable", "traditional_ira"]
    with (root / "accounts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account", "household", "owner", "type"])
        w.writerows([f"A{a:03d}", f"H{a // 2:03d}", f"owner{a}", types[a % 4]] for a in range(N_ACCOUNTS))
    with (root / "transactions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "date", "account", "action", "symbol", "quantity", "price", "fees", "lot"])
        n = 0
        for a in range(N_ACCOUNTS):
            spread = 1.0 if a % 4 == 1 else 0.1
            for s in symbols:
                day = date(2023, 1, 3) + timedelta(days=rng.randint(0, 700))
                qty = max(1, round(1e6 * index[s] * rng.lognormvariate(0, spread) / float(cost[s])))
                w.writerow([f"T{n}", day.isoformat(), f"A{a:03d}", "buy", s, qty, cost[s], "0", ""])
                n += 1
    prices = {s: (cost[s] * Decimal(rng.uniform(0.75, 1.25))).quantize(Decimal("0.01")) for s in symbols}
    gen = np.random.default_rng(3)
    days = 160
    r = gen.normal(0, 0.01, (days, 1)) + gen.normal(0, 0.015, (days, N_NAMES))
    level = np.exp(np.cumsum(r, axis=0))
    close = level / level[-1] * np.array([float(prices[s]) for s in symbols])
    dates = pd.bdate_range(end=pd.Timestamp(AS_OF), periods=days)
    hist = pd.DataFrame({"date": np.repeat(dates, N_NAMES), "symbol": np.tile(symbols, days), "close": close.ravel()})
    return prices, hist


@dataclass
class _Witnessed(HarvestEngineProposer):
    """The harvest engine, noting which process asked it for each account (a line per call in ``log``)."""

    log: Path | None = None

    def __call__(self, ctx: ProposalContext) -> ProposalDraft:
        assert self.log is not None
        with self.log.open("a") as f:
            f.write(f"{os.getpid()} {ctx.account.account}\n")
        return super().__call__(ctx)


def _stored(url: str) -> dict[str, Any]:
    with open_book(url).connect() as conn:
        assert audit.verify(conn) == [] and audit.verify_tables(conn) == []
        ids = [p["id"] for p in proposals.listing(conn, None, None, None)]
        props = []
        for pid in ids:
            v = proposals.get(conn, pid).as_dict()
            props.append({k: v[k] for k in ("id", "account", "household", "state", "trades", "blocked", "restricted",
                                            "summary", "policy", "routing", "approver")}
                         | {"transitions": [{k: t[k] for k in ("from", "to", "by", "why")} for t in v["transitions"]]})
        rows = [tuple(r) for r in conn.execute(
            select(RunAccountRow.account, RunAccountRow.status, RunAccountRow.snapshot, RunAccountRow.changes,
                   RunAccountRow.proposal_id).order_by(RunAccountRow.account))]
        trail = [(r.kind, r.subject, r.payload) for r in audit.records(conn) if r.kind not in ("import", "run_start")]
        return {"proposals": props, "run_accounts": rows, "audit": trail}


def test_two_processes_store_what_one_stores(db_url: str, tmp_path: Path) -> None:
    prices, hist = _book(tmp_path / "book")
    one_url = f"sqlite:///{tmp_path / 'one.db'}"
    migrate(one_url)
    reports = []
    for url, workers in ((one_url, 1), (db_url, 2)):
        engine = open_book(url)
        import_path(engine, tmp_path / "book")
        log = tmp_path / f"asked-{workers}.txt"
        reports.append(daily_run(engine, AS_OF, prices, _Witnessed(prices_history=hist, log=log), owner="test",
                                 rebalancer=Rebalancer(), workers=workers))
    one, two = reports
    # the two-process run really worked households out in both: each account asked for once, by one of two
    asked = [line.split() for line in (tmp_path / "asked-2.txt").read_text().splitlines()]
    assert sorted(a for _, a in asked) == [f"A{i:03d}" for i in range(N_ACCOUNTS)]
    assert len({pid for pid, _ in asked}) == 2 and str(os.getpid()) in {pid for pid, _ in asked}
    assert one.accounts == two.accounts == N_ACCOUNTS and one.processed == two.processed == N_ACCOUNTS
    assert (one.proposals, one.auto_approved, one.pending_approval, one.changes) == (
        two.proposals, two.auto_approved, two.pending_approval, two.changes)
    # not a vacuous comparison: harvests everywhere, rebalances for the loosely bought accounts
    assert len(one.proposals) >= N_ACCOUNTS // 2 and one.changes["rebalanced"] >= 3
    a, b = _stored(one_url), _stored(db_url)
    assert len(a["run_accounts"]) == N_ACCOUNTS and len(a["audit"]) > N_ACCOUNTS
    assert a == b
    again = daily_run(open_book(db_url), AS_OF, prices, HarvestEngineProposer(prices_history=hist), owner="test",
                      rebalancer=Rebalancer(), workers=2)
    assert again.processed == 0 and _stored(db_url) == b
