"""Release and execution: re-validate an approved proposal, turn it into orders, fill them, book the fills.

Before release the proposal is checked again against the current book (an approval is given for a
book that may have moved since): every lot to sell must still be open with enough shares; no
acquisition of substantially identical stock anywhere in the household inside the wash window of a
loss sale may have reached the book since the proposal (dated or imported after it), for instance a
new purchase in a spouse's IRA; no pending buy order may wash it; and no replacement buy may land in a
group the household has sold at a loss within the window. A failed check stops the release (recorded
in the audit trail); a proposal that is too old, or whose prices moved too far, is expired.

Orders go out as a CSV order file (for a custodian) or to the paper broker, which fills them at a
prices file and writes the fills as a ``transactions.csv``; fills come back through ``import``, whose
transaction id is the order id, and are booked by the ledger like any other trade.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from directindex.ledger.records import Transaction
from directindex.store.db import write_tx
from directindex.store.models import ImportRow, OrderRow, ProposalRow, TransactionRow
from directindex.workflow import audit
from directindex.workflow.approval import policy_for
from directindex.workflow.context import BookView
from directindex.workflow.guard import acquisitions_in_window, lot_roots
from directindex.workflow.proposals import ProposalError, State, get, state_of, transition

ZERO = Decimal(0)
ORDER_COLUMNS = ("order_id", "proposal", "account", "side", "symbol", "quantity", "lot")
FILL_COLUMNS = ("id", "date", "account", "action", "symbol", "quantity", "price", "fees", "lot")


def imported_at(conn: Connection, ids: list[str]) -> dict[str, str]:
    """When each transaction reached the book (its import's time)."""
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        q = (select(TransactionRow.id, ImportRow.at).join(ImportRow, ImportRow.id == TransactionRow.import_id)
             .where(TransactionRow.id.in_(ids[i : i + 500])))
        out.update({str(r[0]): str(r[1]) for r in conn.execute(q)})
    return out


@dataclass(frozen=True, slots=True)
class Revalidation:
    problems: tuple[str, ...]
    expired: tuple[str, ...]
    checks: tuple[dict[str, Any], ...]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.expired


def revalidate(conn: Connection, pid: str, on: date, prices: Mapping[str, Decimal] | None = None) -> Revalidation:
    """Check an approved proposal against the book as it is now."""
    p = get(conn, pid)
    view = BookView.build(conn, max(on, p.as_of))
    policy = policy_for(view.policy, p.account)
    problems: list[str] = []
    expired: list[str] = []
    checks: list[dict[str, Any]] = []
    age = (on - p.as_of).days
    if age > policy.max_age_days:
        expired.append(f"proposed {age} days ago, the policy allows {policy.max_age_days}")
    lots = {lot.lot: lot for lot in view.lots_by_account.get(p.account, ())}
    hh_accounts = view.households.get(p.household, ())
    hh_tx = view.tx_by_household.get(p.household, ())
    hh_reliefs = view.reliefs_by_household.get(p.household, ())
    seen_at = imported_at(conn, [t.id for t in view.tx_by_household.get(p.household, ())
                                 if t.action.acquires and p.as_of - timedelta(days=policy.wash_window_days) <= t.date])
    for t in p.trades:
        if t["side"] == "buy":
            sec = view.securities.get(t["symbol"])
            group = sec.group if sec else t["symbol"]
            since = on - timedelta(days=policy.wash_window_days)
            washed = [r for r in hh_reliefs if not r.donated and r.gain_loss < 0 and since <= r.date_sold <= on
                      and (view.securities[r.symbol].group if r.symbol in view.securities else r.symbol) == group]
            checks.append({"symbol": t["symbol"], "quantity": Decimal(str(t["quantity"])), "side": "buy",
                           "restricted_window": {"from": since, "to": on, "group": group,
                                                 "loss_sales_found": [r.transaction for r in washed]}})
            for r in washed:
                problems.append(f"buying {t['symbol']} would wash the loss of {-r.gain_loss} realized on "
                                f"{r.date_sold} in account {r.account} (sale {r.transaction}) inside the wash "
                                "window")
            continue
        if t["side"] != "sell":
            continue
        qty = Decimal(str(t["quantity"]))
        lot = lots.get(t["lot"]) if t.get("lot") else None
        check: dict[str, Any] = {"lot": t.get("lot"), "symbol": t["symbol"], "quantity": qty}
        if t.get("lot") and (lot is None or lot.quantity < qty):
            held = ZERO if lot is None else lot.quantity
            problems.append(f"lot {t['lot']} of {t['symbol']} in {p.account} now holds {held} shares; "
                            f"the proposal sells {qty}")
        unrealized = Decimal(str(t.get("evidence", {}).get("unrealized", 0)))
        if unrealized < 0:
            sec = view.securities.get(t["symbol"])
            group = sec.group if sec else t["symbol"]
            window = (p.as_of - timedelta(days=policy.wash_window_days), on)
            hits = acquisitions_in_window(hh_tx, hh_accounts, view.securities, group, window,
                                          exclude=(p.account, lot_roots(t.get("lot") or "")))
            # What the proposer already weighed (in the book when it proposed, dated by then) is its
            # decision; what arrived since is what an approval never saw.
            hits = [h for h in hits if h.date > p.as_of or seen_at.get(h.id, "") > p.created_at]
            check["wash_window"] = {"from": window[0], "to": window[1], "group": group,
                                    "accounts_checked": [a.account for a in hh_accounts],
                                    "acquisitions_found": [h.id for h in hits]}
            for h in hits:
                typ = view.accounts[h.account].type.value
                problems.append(f"{h.action.value} of {h.quantity} {h.symbol} in account {h.account} ({typ}) "
                                f"on {h.date} (transaction {h.id}) falls in the wash window of the loss sale of "
                                f"lot {t.get('lot')}: releasing would wash the loss")
            waiting = [o for o in view.pending_by_household.get(p.household, ()) if o.get("side") == "buy"
                       and (view.securities[o["symbol"]].group if o["symbol"] in view.securities
                            else o["symbol"]) == group]
            check["wash_window"]["pending_buys"] = [o.get("id") for o in waiting]
            for o in waiting:
                problems.append(f"pending buy order {o.get('id')} of {o.get('quantity')} {o.get('symbol')} in "
                                f"account {o.get('account')} would wash the loss sale of lot {t.get('lot')}")
        if prices is not None and t["symbol"] in prices and t.get("price") is not None:
            then, now = Decimal(str(t["price"])), prices[t["symbol"]]
            check["price"] = {"proposed": then, "now": now}
            if then > 0 and abs(now - then) / then > policy.max_price_move:
                expired.append(f"{t['symbol']} moved from {then} to {now}, more than {policy.max_price_move:.0%}")
            elif lot is not None and unrealized < 0 and now * qty >= lot.basis * qty / lot.quantity:
                expired.append(f"{t['symbol']} at {now} no longer sells lot {lot.lot} at a loss")
        checks.append(check)
    return Revalidation(tuple(problems), tuple(expired), tuple(checks))


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    proposal: str
    state: State
    orders: tuple[dict[str, Any], ...]
    revalidation: Revalidation


def release(engine: Engine, pid: str, by: str, on: date,
            prices: Mapping[str, Decimal] | None = None) -> ReleaseResult:
    """Re-validate and release an approved proposal as orders; refuses (and records why) when stale."""
    with write_tx(engine) as conn:
        st = state_of(conn, pid)
        if st is not State.APPROVED:
            raise ProposalError(f"proposal '{pid}' is {st.value}; only an approved proposal can be released")
        check = revalidate(conn, pid, on, prices)
        evidence = {"on": on, "checks": list(check.checks), "problems": list(check.problems),
                    "expired": list(check.expired)}
        if check.expired:
            transition(conn, pid, State.EXPIRED, by, "; ".join(check.expired), evidence)
            return ReleaseResult(pid, State.EXPIRED, (), check)
        if check.problems:
            audit.append(conn, "release_refused", pid, {"by": by, **evidence})
            return ReleaseResult(pid, State.APPROVED, (), check)
        p = get(conn, pid)
        orders = []
        for n, t in enumerate(p.trades, start=1):
            order = {"id": f"{pid}-{n}", "proposal_id": pid, "account": t["account"], "side": t["side"],
                     "symbol": t["symbol"], "quantity": Decimal(str(t["quantity"])), "lot": t.get("lot"),
                     "status": "released"}
            orders.append(order)
        if orders:
            conn.execute(insert(OrderRow), orders)
        transition(conn, pid, State.RELEASED, by, f"re-validated on {on}; {len(orders)} order(s) released",
                   {**evidence, "orders": [o["id"] for o in orders]})
        audit.append(conn, "release", pid, {"by": by, "on": on, "orders": orders})
        return ReleaseResult(pid, State.RELEASED, tuple(orders), check)


def order_file(conn: Connection, pid: str) -> str:
    """The released orders of a proposal as a CSV order file."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ORDER_COLUMNS)
    for o in conn.execute(select(OrderRow).where(OrderRow.proposal_id == pid).order_by(OrderRow.id)):
        w.writerow([o.id, pid, o.account, o.side, o.symbol, o.quantity, o.lot or ""])
    return buf.getvalue()


def paper_fill(conn: Connection, pid: str, prices: Mapping[str, Decimal], on: date) -> str:
    """The paper broker: fill every released order at the prices file, as a transactions CSV to import."""
    rows = list(conn.execute(select(OrderRow).where(OrderRow.proposal_id == pid, OrderRow.status == "released")
                             .order_by(OrderRow.id)))
    if not rows:
        raise ProposalError(f"proposal '{pid}' has no released orders to fill")
    missing = sorted({o.symbol for o in rows if o.symbol not in prices})
    if missing:
        raise ProposalError(f"the prices file has no price for {', '.join(missing)}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FILL_COLUMNS)
    for o in rows:
        w.writerow([o.id, on.isoformat(), o.account, o.side, o.symbol, o.quantity, prices[o.symbol], "0",
                    o.lot or ""])
    return buf.getvalue()


def book_fills(conn: Connection, new: Mapping[str, Transaction], import_id: int) -> list[str]:
    """Mark orders filled by newly imported transactions; proposals with every order filled are executed."""
    if not new:
        return []
    ids = list(new)
    filled: list[Any] = []
    for i in range(0, len(ids), 500):
        filled.extend(conn.execute(select(OrderRow).where(OrderRow.id.in_(ids[i : i + 500]),
                                                          OrderRow.status == "released")))
    if not filled:
        return []
    for o in filled:
        conn.execute(update(OrderRow).where(OrderRow.id == o.id).values(status="filled"))
    executed = []
    for pid in sorted({o.proposal_id for o in filled}):
        fills = [new[o.id] for o in filled if o.proposal_id == pid]
        audit.append(conn, "fill", pid, {"import": import_id, "fills": [
            {"order": t.id, "date": t.date, "account": t.account, "action": t.action.value, "symbol": t.symbol,
             "quantity": t.quantity, "price": t.price, "fees": t.fees, "lot": t.lot} for t in fills]})
        open_orders = conn.execute(select(OrderRow.id).where(OrderRow.proposal_id == pid,
                                                             OrderRow.status != "filled")).first()
        state = conn.execute(select(ProposalRow.state).where(ProposalRow.id == pid)).scalar_one()
        if open_orders is None and state == State.RELEASED.value:
            transition(conn, pid, State.EXECUTED, f"import:{import_id}", f"all orders filled ({len(fills)} in "
                       f"import {import_id})", {"fills": [t.id for t in fills]})
            executed.append(pid)
    return executed


