"""The daily run: for every account, see what changed, ask the proposer, route and store proposals.

One run per as-of date. The run holds the book's run lock (a second run is refused, not interleaved)
and commits a few whole accounts at a time (a chunk of households: each account's proposal,
transitions, audit records and run row), so a run killed at any point leaves whole accounts behind it
and re-running the date finishes the rest. Re-running a completed date writes nothing. Accounts with
an open reconciliation break get no proposal until the break is resolved.

The households' proposals are worked out on every core (:mod:`directindex.workflow.fanout`: forked
workers and this process claim chunks of households) and written by this process in chunk order, so
the stored book is the same whichever process worked a household out (a test holds the two equal).

What changed since the last run, per account: new transactions, new cash (sale proceeds less purchase
cost since then: the book keeps no cash balance), new harvestable losses, restricted-list entries
that expired, open breaks, and tracking error past the alert level (reported by the proposer, or
measured by the rebalancer on the account's holdings).

Then the rebalancer (:mod:`directindex.workflow.rebalance`) adds rebalance trades to the proposals of
the accounts whose triggers fire (tracking error drift, new cash, the rebalance cadence), with one
compiled optimizer for the whole run and the household's proposals of the day as its wash-sale guard.
"""

from __future__ import annotations

import gc
import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Engine, func, insert, select, update
from threadpoolctl import threadpool_limits

from directindex.ledger.records import Action
from directindex.memory import collector_paused
from directindex.store.db import write_tx
from directindex.store.models import AccountRow, ProposalRow, RunAccountRow, RunRow
from directindex.store.repo import canonical_json, now_iso
from directindex.workflow import audit, fanout, lock, proposals
from directindex.workflow.approval import policy_for, route
from directindex.workflow.context import BookView
from directindex.workflow.faults import crash_point
from directindex.workflow.harvest_engine import HarvestEngineProposer
from directindex.workflow.proposer import ProposalContext, ProposalDraft, Proposer
from directindex.workflow.rebalance import HouseholdDay, Rebalancer, stored_trades
from directindex.workflow.reconcile import open_breaks

ZERO = Decimal(0)
Progress = Callable[[int, int, str], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunReport:
    run_id: int
    as_of: date
    accounts: int
    processed: int
    already_done: int
    proposals: tuple[str, ...]
    auto_approved: int
    pending_approval: int
    blocked_by_breaks: tuple[str, ...]
    changes: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def default_proposer() -> Proposer:
    """The harvest engine over the whole book (replacements, swap-backs, household guard)."""
    return HarvestEngineProposer()


def default_rebalancer() -> Rebalancer:
    """Triggered rebalances with the tracking-error optimizer (needs a risk model: a prices history)."""
    return Rebalancer()


def _snapshot(ctx: ProposalContext, draft: ProposalDraft, breaks: list[dict[str, Any]]) -> dict[str, Any]:
    positions: dict[str, Decimal] = {}
    for lot in ctx.lots:
        positions[lot.symbol] = positions.get(lot.symbol, ZERO) + lot.quantity
    return {
        "positions": positions,
        "harvestable": sorted({t.lot for t in draft.trades if t.lot} | {b.lot for b in draft.blocked if b.lot}),
        "restricted": [{"symbol": r.symbol, "expires": r.expires} for r in draft.restricted],
        "tracking_error": draft.summary.get("tracking_error_before"),
        "breaks": len(breaks),
    }


def _changes(ctx: ProposalContext, snap: dict[str, Any], prev: dict[str, Any] | None, prev_as_of: date | None,
             breaks: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [t for t in ctx.household_transactions if t.account == ctx.account.account
            and (prev_as_of is None or t.date > prev_as_of)]
    cash = ZERO
    for t in mine:
        if t.action is Action.SELL:
            cash += t.quantity * t.price - t.fees
        elif t.action is Action.BUY:
            cash -= t.quantity * t.price + t.fees
    before = set(prev["harvestable"]) if prev else set()
    out: dict[str, Any] = {
        "since": prev_as_of, "new_transactions": len(mine), "new_cash": cash,
        "new_harvestable_losses": sorted(set(snap["harvestable"]) - before),
        "restricted_expired": sorted(r["symbol"] for r in (prev or {}).get("restricted", [])
                                     if date.fromisoformat(str(r["expires"])) <= ctx.as_of),
        "breaks": breaks,
    }
    te = snap.get("tracking_error")
    alert = ctx.account_policy("risk").get("tracking_error_alert")
    if te is not None and alert is not None and Decimal(str(te)) > Decimal(str(alert)):
        out["tracking_error_drift"] = {"tracking_error": te, "alert": alert,
                                       "previous": (prev or {}).get("tracking_error")}
    return out


# Below this many accounts to process, the run stays in one process (forking costs more than it saves).
_PARALLEL_MIN = 40
# Households per chunk of work: small enough that both processes stay busy to the end, large enough
# that a chunk's trip between processes costs little beside it.
_CHUNK_ACCOUNTS = 8


@dataclass(frozen=True, slots=True)
class _AccountStep:
    """One account's outcome of the day, encoded for storage (``proposal``: ``None`` when it has none)."""

    account: str
    status: str
    snapshot: str
    changes: str
    counted: tuple[str, ...]  # the run's change counters this account adds one to
    proposal: proposals.Prepared | None


def _chunks(households: list[tuple[str, list[str]]]) -> list[list[tuple[str, list[str]]]]:
    """Consecutive households grouped into chunks of about ``_CHUNK_ACCOUNTS`` accounts to process."""
    out: list[list[tuple[str, list[str]]]] = []
    size = _CHUNK_ACCOUNTS
    for hh in households:
        if not out or size >= _CHUNK_ACCOUNTS:
            out.append([])
            size = 0
        out[-1].append(hh)
        size += len(hh[1])
    return out


@dataclass
class _Step:
    """The day's work for one household, from the derived book alone (no database): see ``fanout``."""

    view: BookView
    prices: Mapping[str, Decimal]
    proposer: Proposer
    rebalancer: Rebalancer | None
    done: set[str]
    stored: dict[str, tuple[Any, ...]]
    previous: dict[str, dict[str, Any]]
    prev_as_of: date | None
    breaks: dict[str, list[dict[str, Any]]]

    def households(self, accounts: list[str]) -> list[tuple[str, list[str]]]:
        """The households with accounts to process, in the order of their first such account."""
        out: dict[str, list[str]] = {}
        for acct in accounts:
            if acct not in self.done:
                out.setdefault(self.view.accounts[acct].household, []).append(acct)
        return list(out.items())

    def __call__(self, household: tuple[str, list[str]]) -> list[_AccountStep]:
        name, todo = household
        view, prices, proposer, rebalancer = self.view, self.prices, self.proposer, self.rebalancer
        # every member's trades of the day: stored, or the proposer's draft until the member is done
        day = HouseholdDay()
        drafts: dict[str, ProposalDraft] = {}
        contexts = {a: view.context(a, prices) for a in todo}
        if rebalancer is not None:
            for member in view.households[name]:
                a = member.account
                if a in self.done:
                    day.trades[a] = self.stored.get(a, ())
                else:
                    drafts[a] = proposer(contexts[a])
                    day.trades[a] = drafts[a].trades
        out: list[_AccountStep] = []
        for acct in todo:
            ctx = contexts[acct]
            acct_breaks = self.breaks.get(acct, [])
            draft = drafts.pop(acct) if rebalancer is not None else proposer(ctx)
            changes = _changes(ctx, _snapshot(ctx, draft, acct_breaks), self.previous.get(acct), self.prev_as_of,
                               acct_breaks)
            if rebalancer is not None and not acct_breaks:
                draft = rebalancer(ctx, draft, changes, self.prev_as_of, day)
                day.trades[acct] = draft.trades
            snap = _snapshot(ctx, draft, acct_breaks)
            if "tracking_error_drift" in changes:
                snap["tracking_error"] = changes["tracking_error_drift"].get("tracking_error", snap["tracking_error"])
            counted = [k for k in ("new_harvestable_losses", "restricted_expired", "new_cash", "tracking_error_drift")
                       if changes.get(k)]
            if any(t.reason == "rebalance" for t in draft.trades):
                counted.append("rebalanced")
            prepared: proposals.Prepared | None = None
            if acct_breaks:
                status = "blocked_by_breaks"
            elif draft.trades:
                status = "proposed"
                policy = policy_for(view.policy, acct)
                prepared = proposals.prepare(
                    proposals.proposal_id(view.as_of, acct), acct, ctx.account.household, view.as_of, proposer.name,
                    draft, policy, route(draft, ctx, policy),
                    {"changes": changes, "prices": {t.symbol: prices.get(t.symbol) for t in draft.trades}})
            else:
                status = "no_trades"
            out.append(_AccountStep(acct, status, canonical_json(snap), canonical_json(changes), tuple(counted),
                                    prepared))
        return out


def daily_run(engine: Engine, as_of: date, prices: Mapping[str, Decimal], proposer: Proposer | None = None,
              *, owner: str | None = None, prices_label: str = "", progress: Progress | None = None,
              rebalancer: Rebalancer | None = None, workers: int | None = None) -> RunReport:
    """Run the day for every account; safe to repeat and to resume after a crash.

    Without a proposer: the harvest engine and the default rebalancer. A caller passing its own
    proposer passes ``rebalancer`` too when the run should rebalance.

    ``workers``: processes that work out the households' proposals (``1``: this one only). By
    default every available core (or ``DIRECTINDEX_RUN_WORKERS``) once there are ``_PARALLEL_MIN``
    accounts to process. This process writes every account, in the same order: the stored book
    does not depend on it.
    """
    if proposer is None:
        proposer = default_proposer()
        rebalancer = rebalancer or default_rebalancer()
    # The run's matrices are per account and small: a multi-threaded BLAS spends more waking its
    # threads than multiplying, and on a loaded machine far more.
    with threadpool_limits(limits=1, user_api="blas"), _long_lived_heap():
        return _daily_run(engine, as_of, prices, proposer, owner, prices_label, progress, rebalancer, workers)


@contextmanager
def _long_lived_heap() -> Iterator[None]:
    """Objects frozen inside the run (the derived book, see ``_derive_view``) are unfrozen when it ends.

    A caller that froze its own heap before (a pre-fork server) keeps it frozen: nothing is unfrozen then.
    """
    before = gc.get_freeze_count()
    try:
        yield
    finally:
        if before == 0:
            gc.unfreeze()


def _long_lived(make: Callable[[], T]) -> T:
    """``make()``, whose result lives for the rest of the run, kept out of the cyclic collector's scans.

    The derived book and the harvest pass's drafts are millions of long-lived objects: without this a
    run spends a fifth of its time in full collections walking them again and again. The collector
    waits while they are made (allocation only), then what is alive is frozen (``gc.freeze``) until the
    run ends (``_long_lived_heap``); the day's own garbage is still collected, and frozen objects are
    still freed when the run drops them.
    """
    with collector_paused(freeze=True):
        return make()


def _daily_run(engine: Engine, as_of: date, prices: Mapping[str, Decimal], proposer: Proposer, owner: str | None,
               prices_label: str, progress: Progress | None, rebalancer: Rebalancer | None,
               workers: int | None) -> RunReport:
    owner = owner or f"run {as_of} by {os.environ.get('USER', 'unknown')}@{socket.gethostname()}"
    with lock.held(engine, "run", owner):
        with write_tx(engine) as conn:
            run = conn.execute(select(RunRow).where(RunRow.as_of == as_of)).first()
            if run is None:
                run_id = conn.execute(insert(RunRow).values(
                    as_of=as_of, status="running", started_at=now_iso(), owner=owner, prices=prices_label,
                    summary="{}").returning(RunRow.id)).scalar_one()
                audit.append(conn, "run_start", f"run:{as_of}", {"run": run_id, "as_of": as_of, "owner": owner,
                                                                 "prices": prices_label, "proposer": proposer.name})
            else:
                run_id = run.id
            done = {r[0] for r in conn.execute(select(RunAccountRow.account).where(RunAccountRow.run_id == run_id))}
            prev_run = conn.execute(select(RunRow.id, RunRow.as_of).where(RunRow.as_of < as_of)
                                    .order_by(RunRow.as_of.desc()).limit(1)).first()
            previous: dict[str, dict[str, Any]] = {}
            if prev_run is not None:
                for prev_acct, prev_snap in conn.execute(select(RunAccountRow.account, RunAccountRow.snapshot)
                                                         .where(RunAccountRow.run_id == prev_run[0])):
                    previous[prev_acct] = json.loads(prev_snap)
            n_accounts = conn.execute(select(func.count()).select_from(AccountRow)).scalar_one()
            if run is not None and run.status == "complete" and len(done) >= n_accounts:
                # Nothing new since this date was completed: do not even derive the book.
                return RunReport(run_id, as_of, n_accounts, 0, len(done), (), 0, 0, ())
            breaks = open_breaks(conn)
            view = _long_lived(lambda: BookView.build(conn, as_of))
            # what the day's stored proposals trade (a resumed run's household guard sees them)
            stored: dict[str, tuple[Any, ...]] = {}
            if rebalancer is not None and done:
                for s_acct, s_trades in conn.execute(select(ProposalRow.account, ProposalRow.trades)
                                                     .where(ProposalRow.as_of == as_of)):
                    stored[s_acct] = stored_trades(json.loads(s_trades))
        prev_as_of = prev_run[1] if prev_run is not None else None
        prepare = getattr(proposer, "prepare", None)
        if prepare is not None:
            _long_lived(lambda: prepare(view, prices))
        if rebalancer is not None:
            _long_lived(lambda: rebalancer.prepare(view, prices, getattr(proposer, "model_", None)))
        accounts = sorted(view.accounts)
        step = _Step(view, prices, proposer, rebalancer, done, stored, previous, prev_as_of, breaks)
        chunks = _chunks(step.households(accounts))
        made: list[str] = []
        blocked: list[str] = []
        auto = pending = 0
        counts = {"new_harvestable_losses": 0, "restricted_expired": 0, "new_cash": 0, "tracking_error_drift": 0,
                  "rebalanced": 0}
        written = len(done)
        if progress and done:
            progress(written, len(accounts), "")

        def write(_: int, results: list[_AccountStep]) -> None:
            # one transaction per chunk (a few whole accounts): a kill loses at most the chunk being written
            nonlocal auto, pending, written
            with write_tx(engine) as conn:
                for i, r in enumerate(results):
                    if r.proposal is not None:
                        proposals.store(conn, r.proposal)
                    conn.execute(insert(RunAccountRow).values(
                        run_id=run_id, account=r.account, status=r.status, snapshot=r.snapshot, changes=r.changes,
                        proposal_id=r.proposal.id if r.proposal is not None else None))
                    crash_point(f"run:account:{written + i}")
            for r in results:
                if r.proposal is not None:
                    made.append(r.proposal.id)
                    if r.proposal.auto:
                        auto += 1
                    else:
                        pending += 1
                if r.status == "blocked_by_breaks":
                    blocked.append(r.account)
                for k in r.counted:
                    counts[k] += 1
                written += 1
                if progress:
                    progress(written, len(accounts), r.account)

        # an explicit ``workers`` is obeyed; the default forks only for enough accounts to pay for it
        n_workers = (fanout.available_workers(workers, len(chunks))
                     if workers is not None or len(accounts) - len(done) >= _PARALLEL_MIN else 1)
        fanout.ordered(len(chunks), lambda k: [r for hh in chunks[k] for r in step(hh)], write, n_workers)
        blocked.sort()
        made.sort()
        report = RunReport(run_id, as_of, len(accounts), len(accounts) - len(done), len(done), tuple(made), auto,
                           pending, tuple(blocked), counts)
        if len(done) < len(accounts):
            with write_tx(engine) as conn:
                summary = {"accounts": len(accounts), "processed": report.processed, "proposals": len(made),
                           "auto_approved": auto, "pending_approval": pending, "blocked_by_breaks": blocked,
                           "changes": counts}
                conn.execute(update(RunRow).where(RunRow.id == run_id).values(
                    status="complete", finished_at=now_iso(), summary=canonical_json(summary)))
                audit.append(conn, "run", f"run:{as_of}", {"run": run_id, **summary})
        return report
