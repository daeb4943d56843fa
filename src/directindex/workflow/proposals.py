"""Proposals and their state machine; every transition records who, when and why.

``draft -> pending_approval -> approved -> released -> executed``; from any open state a proposal can
be ``rejected`` or ``expired``. Transitions append to the audit chain in the same database transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from directindex.store.db import StoreError, write_tx
from directindex.store.models import OrderRow, ProposalRow, TransitionRow
from directindex.store.repo import canonical_json, now_iso, plain_json
from directindex.workflow import audit
from directindex.workflow.approval import ApprovalPolicy, Routing
from directindex.workflow.proposer import ProposalDraft


class State(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    RELEASED = "released"
    EXECUTED = "executed"
    REJECTED = "rejected"
    EXPIRED = "expired"


ALLOWED: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.PENDING_APPROVAL, State.REJECTED, State.EXPIRED}),
    State.PENDING_APPROVAL: frozenset({State.APPROVED, State.REJECTED, State.EXPIRED}),
    State.APPROVED: frozenset({State.RELEASED, State.REJECTED, State.EXPIRED}),
    State.RELEASED: frozenset({State.EXECUTED, State.EXPIRED}),
    State.EXECUTED: frozenset(),
    State.REJECTED: frozenset(),
    State.EXPIRED: frozenset(),
}


class ProposalError(StoreError):
    """A proposal cannot do what was asked (unknown id, wrong state, wrong approver, failed re-validation)."""


def proposal_id(as_of: date, account: str) -> str:
    return f"P-{as_of:%Y%m%d}-{account}"


@dataclass(frozen=True, slots=True)
class ProposalView:
    id: str
    account: str
    household: str
    as_of: date
    state: State
    proposer: str
    created_at: str
    updated_at: str
    trades: list[dict[str, Any]]
    blocked: list[dict[str, Any]]
    restricted: list[dict[str, Any]]
    summary: dict[str, Any]
    policy: dict[str, Any]
    routing: dict[str, Any]
    approver: str | None
    transitions: list[dict[str, Any]]
    orders: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _json_default(value: Any) -> Any:
    # what ``plain_json`` makes of a value ``json`` cannot encode itself; the two kinds a proposal holds
    # by the hundred thousand (exact numbers, days) first, as ``plain_json`` spells them
    t = type(value)
    if t is Decimal:
        return format(value.normalize(), "f")
    if t is date:
        return value.isoformat()
    out = plain_json(value)
    if out is value:
        raise TypeError(f"Object of type {t.__name__} is not JSON serializable")
    return out


def canonical_text(value: Any) -> str:
    """``canonical_json(value)`` for a proposal's parts, written by ``json``'s encoder in one pass.

    The parts are records whose mappings have ``str`` keys (``Trade.evidence``, ``ProposalDraft.summary``):
    for those the text is the same as ``canonical_json``'s (a property test holds them equal), without
    first walking a heavy day's tens of thousands of values into JSON types. The encoder hands what it
    cannot write (decimals, dates, sets, enums that are not ``str``) to ``plain_json``. A mapping with
    other keys gets ``json``'s own spelling of them; mixed key types that cannot be sorted fall back to
    ``canonical_json``.
    """
    try:
        return json.dumps(value, default=_json_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except TypeError:
        return canonical_json(value)


def _draft_text(draft: ProposalDraft) -> dict[str, str]:
    """The canonical JSON text of a draft's trades, blocked candidates, restricted list and summary."""
    def rows(items: Any) -> str:
        return canonical_text([{k: getattr(i, k) for k in i.__slots__} for i in items])

    return {"trades": rows(draft.trades), "blocked": rows(draft.blocked), "restricted": rows(draft.restricted),
            "summary": canonical_text(dict(draft.summary))}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A new proposal encoded for storage: what :func:`store` writes, worked out away from the database.

    The daily run prepares its proposals on several cores (``workflow.fanout``) and stores them here
    in account order; only the timestamps and the audit chain's links are taken when it is written.
    """

    id: str
    account: str
    household: str
    as_of: date
    proposer: str
    body: dict[str, str]  # the canonical JSON text of trades, blocked, restricted and summary
    policy: dict[str, Any]  # plain JSON
    routing: dict[str, Any]  # plain JSON
    approver: str | None
    auto: bool
    reasons: tuple[str, ...]
    audit: str  # the audit record's payload text (``audit.body_text``)
    audit_quoted: str  # and that text quoted, as the record's hash reads it (``audit.quoted``)


def prepare(pid: str, account: str, household: str, as_of: date, proposer: str, draft: ProposalDraft,
            policy: ApprovalPolicy, routing: Routing, evidence: dict[str, Any]) -> Prepared:
    """Encode a new proposal once: its row and its audit record carry the same text for each part."""
    policy_plain, routing_plain = plain_json(policy.as_dict()), plain_json(routing.as_dict())
    body = _draft_text(draft)
    record = audit.body_text({**plain_json({"account": account, "as_of": as_of, "proposer": proposer,
                                            "evidence": evidence}), "policy": policy_plain, "routing": routing_plain},
                             body)
    return Prepared(pid, account, household, as_of, proposer, body, policy_plain, routing_plain, routing.approver,
                    routing.auto, tuple(routing.reasons), record, audit.quoted(record))


def store(conn: Connection, p: Prepared) -> None:
    """Store a prepared proposal as a draft, then route it: auto-approved, or pending with its approver.

    The row is written once, in the state routing leaves it in; the transitions from ``draft`` are
    recorded (rows and audit records) as they happen, without rewriting the proposal's large row.
    """
    at = now_iso()
    final = State.APPROVED if p.auto else State.PENDING_APPROVAL
    conn.execute(insert(ProposalRow).values(
        id=p.id, account=p.account, household=p.household, as_of=p.as_of, state=final.value,
        proposer=p.proposer, created_at=at, updated_at=at, policy=canonical_json(p.policy, plain=True),
        routing=canonical_json(p.routing, plain=True), approver=p.approver, **p.body))
    audit.append_text(conn, "proposal", p.id, p.audit, p.audit_quoted)
    if p.auto:
        transition(conn, p.id, State.PENDING_APPROVAL, "policy", "submitted for approval", current=State.DRAFT,
                   row=False)
        transition(conn, p.id, State.APPROVED, "policy:auto",
                   "auto-approved: small, loss-only, in budget, no tax-advantaged account in the wash window",
                   current=State.PENDING_APPROVAL, row=False)
    else:
        transition(conn, p.id, State.PENDING_APPROVAL, "policy",
                   f"routed to {p.approver}: " + "; ".join(p.reasons), current=State.DRAFT, row=False)


def state_of(conn: Connection, pid: str) -> State:
    row = conn.execute(select(ProposalRow.state).where(ProposalRow.id == pid)).first()
    if row is None:
        raise ProposalError(f"no proposal '{pid}'")
    return State(row[0])


def transition(conn: Connection, pid: str, to: State, by: str, why: str,
               evidence: dict[str, Any] | None = None, *, current: State | None = None, row: bool = True) -> None:
    """Move ``pid`` to ``to``; ``current``: its state, when the caller has just written it.

    ``row=False``: the proposal's row already holds ``to`` (written in that state): only the transition
    and its audit record are written.
    """
    current = current if current is not None else state_of(conn, pid)
    if to not in ALLOWED[current]:
        raise ProposalError(f"proposal '{pid}' is {current.value}; it cannot become {to.value}")
    at = now_iso()
    conn.execute(insert(TransitionRow).values(proposal_id=pid, from_state=current.value, to_state=to.value, by=by,
                                              at=at, why=why))
    if row:
        conn.execute(update(ProposalRow).where(ProposalRow.id == pid).values(state=to.value, updated_at=at))
    audit.append(conn, "transition", pid, {"from": current.value, "to": to.value, "by": by, "why": why,
                                           "evidence": evidence or {}})


def approve(engine: Engine, pid: str, by: str, note: str) -> None:
    with write_tx(engine) as conn:
        row = conn.execute(select(ProposalRow.approver, ProposalRow.state).where(ProposalRow.id == pid)).first()
        if row is None:
            raise ProposalError(f"no proposal '{pid}'")
        if row[0] and row[0] != by:
            raise ProposalError(f"proposal '{pid}' is routed to {row[0]}; {by} cannot approve it")
        transition(conn, pid, State.APPROVED, by, note or "approved")


def reject(engine: Engine, pid: str, by: str, note: str) -> None:
    with write_tx(engine) as conn:
        transition(conn, pid, State.REJECTED, by, note or "rejected")


def get(conn: Connection, pid: str) -> ProposalView:
    r = conn.execute(select(ProposalRow).where(ProposalRow.id == pid)).first()
    if r is None:
        raise ProposalError(f"no proposal '{pid}'")
    transitions = [
        {"from": t.from_state, "to": t.to_state, "by": t.by, "at": t.at, "why": t.why}
        for t in conn.execute(select(TransitionRow).where(TransitionRow.proposal_id == pid)
                              .order_by(TransitionRow.id))
    ]
    orders = [
        {"id": o.id, "account": o.account, "side": o.side, "symbol": o.symbol, "quantity": o.quantity,
         "lot": o.lot, "status": o.status}
        for o in conn.execute(select(OrderRow).where(OrderRow.proposal_id == pid).order_by(OrderRow.id))
    ]
    return ProposalView(r.id, r.account, r.household, r.as_of, State(r.state), r.proposer, r.created_at,
                        r.updated_at, json.loads(r.trades), json.loads(r.blocked), json.loads(r.restricted),
                        json.loads(r.summary), json.loads(r.policy), json.loads(r.routing), r.approver,
                        transitions, orders)


def listing(conn: Connection, state: str | None = None, account: str | None = None,
            as_of: date | None = None) -> list[dict[str, Any]]:
    q = select(ProposalRow.id, ProposalRow.account, ProposalRow.as_of, ProposalRow.state, ProposalRow.approver,
               ProposalRow.trades, ProposalRow.routing).order_by(ProposalRow.as_of, ProposalRow.account)
    if state:
        q = q.where(ProposalRow.state == state)
    if account:
        q = q.where(ProposalRow.account == account)
    if as_of:
        q = q.where(ProposalRow.as_of == as_of)
    out = []
    for pid, acct, day, st, approver, trades, routing in conn.execute(q):
        reasons = json.loads(routing).get("reasons", [])
        out.append({"id": pid, "account": acct, "as_of": day, "state": st, "trades": len(json.loads(trades)),
                    "approver": approver or "", "routing": "; ".join(reasons) if reasons else "auto"})
    return out
