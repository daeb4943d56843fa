"""The audit trail: an append-only chain of every import, run, proposal, transition, release and fill.

Each record's hash is ``sha256(canonical JSON of {seq, at, kind, subject, payload} + previous hash)``;
the newest sequence number and hash are also kept in ``audit_head``. Editing any record breaks its own
hash, deleting one breaks the next record's link (or, for the newest, the head), so :func:`verify`
names the first record that no longer fits, and :func:`verify_tables` checks the book's rows against
the records that describe them (an edited transaction, transition or order row). Appends happen
inside the caller's write transaction, so a record exists exactly when the change it describes was
committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from directindex.store.models import AuditHeadRow, AuditRow
from directindex.store.repo import canonical_json, now_iso, plain_json, sha256_text

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str
    kind: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


def record_hash(seq: int, at: str, kind: str, subject: str, payload_json: str, prev_hash: str,
                *, payload_quoted: str | None = None) -> str:
    """The record's hash; ``payload_quoted``: ``json.dumps(payload_json, ensure_ascii=False)``, when known.

    The text hashed is ``canonical_json`` of the record's fields, spelled out here so a proposal's large
    payload, quoted once where it was prepared, is not quoted again while the chain waits on it.
    """
    payload_text = quoted(payload_json) if payload_quoted is None else payload_quoted
    body = (f'{{"at":{quoted(at)},"kind":{quoted(kind)},"payload":{payload_text},"seq":{seq},'
            f'"subject":{quoted(subject)}}}')
    return sha256_text(body + prev_hash)


def quoted(text: str) -> str:
    """``text`` as a JSON string, as :func:`record_hash` writes it (a caller with a large payload prepares it)."""
    return json.dumps(text, ensure_ascii=False)


def _body(content: Mapping[str, Any], encoded: Mapping[str, str]) -> str:
    # The canonical text of ``content`` with the top-level values in ``encoded`` spliced in as given:
    # ``json.dumps(sort_keys=True, separators=(",", ":"))`` writes a str-keyed dict exactly this way.
    if not encoded:
        return canonical_json(content, plain=True)
    items = [json.dumps(k, ensure_ascii=False) + ":"
             + (encoded[k] if k in encoded else canonical_json(content[k], plain=True)) for k in sorted(content)]
    return "{" + ",".join(items) + "}"


def _write(conn: Connection, kind: str, subject: str, body: str,
           body_quoted: str | None = None) -> tuple[int, str, str, str]:
    # the record after the head, and the head moved to it: (seq, at, prev_hash, hash)
    head = conn.execute(select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == 1)).first()
    seq, prev = (0, GENESIS) if head is None else (int(head[0]), str(head[1]))
    seq += 1
    at = now_iso()
    h = record_hash(seq, at, kind, subject, body, prev, payload_quoted=body_quoted)
    conn.execute(
        insert(AuditRow).values(seq=seq, at=at, kind=kind, subject=subject, payload=body, prev_hash=prev, hash=h)
    )
    if head is None:
        conn.execute(insert(AuditHeadRow).values(id=1, seq=seq, hash=h))
    else:
        conn.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=seq, hash=h))
    return seq, at, prev, h


def append(conn: Connection, kind: str, subject: str, payload: Mapping[str, Any], *,
           plain: bool = False) -> AuditRecord:
    """Append one record to the chain (call inside a ``write_tx``, which serializes writers).

    ``plain=True``: ``payload`` is already ``plain_json`` output, so it is not walked again.
    """
    content = dict(payload) if plain else plain_json(payload)
    seq, at, prev, h = _write(conn, kind, subject, canonical_json(content, plain=True))
    return AuditRecord(seq, at, kind, subject, content, prev, h)


def body_text(payload: Mapping[str, Any], encoded: Mapping[str, str]) -> str:
    """The text :func:`append` stores for ``payload`` (``plain_json`` output) plus parts already encoded.

    ``encoded``: top-level keys and their ``canonical_json`` text (a proposal's trades, written once for
    its row), spliced into the record as they are, without being decoded and encoded again.
    """
    content = {k: v for k, v in payload.items() if k not in encoded}
    return _body({**content, **dict.fromkeys(encoded)}, encoded)


def append_text(conn: Connection, kind: str, subject: str, body: str,
                body_quoted: str | None = None) -> tuple[int, str]:
    """Append a record whose payload text is ready (:func:`body_text`; ``body_quoted``: :func:`quoted` of it)."""
    seq, _, _, h = _write(conn, kind, subject, body, body_quoted)
    return seq, h


def verify(conn: Connection) -> list[str]:
    """Every break in the chain, each naming the record; an empty list means the trail is intact."""
    problems: list[str] = []
    prev = GENESIS
    expected = 1
    q = select(AuditRow.seq, AuditRow.at, AuditRow.kind, AuditRow.subject, AuditRow.payload, AuditRow.prev_hash,
               AuditRow.hash).order_by(AuditRow.seq)
    last_seq, last_hash = 0, GENESIS
    for seq, at, kind, subject, payload, prev_hash, h in conn.execute(q):
        name = f"audit record {seq} ({kind} {subject})"
        if seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            problems.append(f"audit record(s) {missing} deleted: the chain jumps from {expected - 1} to {seq}")
        if prev_hash != prev:
            problems.append(f"{name}: its link to the previous record does not match (a record before it was "
                            "deleted or edited)")
        if record_hash(seq, at, kind, subject, payload, prev_hash) != h:
            problems.append(f"{name}: content does not match its hash (the record was edited)")
        prev = h
        expected = seq + 1
        last_seq, last_hash = seq, h
    head = conn.execute(select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == 1)).first()
    if head is None:
        if last_seq:
            problems.append("the audit head is missing (edited)")
    elif int(head[0]) != last_seq or str(head[1]) != last_hash:
        if int(head[0]) > last_seq:
            problems.append(f"audit record(s) {last_seq + 1}..{head[0]} deleted: the chain ends at {last_seq} "
                            f"but its head says {head[0]}")
        else:
            problems.append(f"the audit head (record {head[0]}) does not match the last record {last_seq}")
    return problems


def records(conn: Connection, subject: str | None = None, kinds: tuple[str, ...] = ()) -> list[AuditRecord]:
    q = select(AuditRow).order_by(AuditRow.seq)
    if subject is not None:
        q = q.where(AuditRow.subject == subject)
    if kinds:
        q = q.where(AuditRow.kind.in_(kinds))
    return [
        AuditRecord(r.seq, r.at, r.kind, r.subject, json.loads(r.payload), r.prev_hash, r.hash)
        for r in conn.execute(q)
    ]


def _jsonish(value: Any) -> Any:
    """A value as the audit trail keeps it (canonical JSON parsed back), for comparing with a row."""
    return json.loads(canonical_json(value))


def verify_tables(conn: Connection) -> list[str]:
    """The book's own rows checked against the chain: each import's content, proposals, transitions, orders.

    The chain alone proves the audit records were not edited; this proves the rows they describe were
    not either. A transaction, account or security row edited, deleted or slipped in is found through
    its import's content digests; a proposal's trades, policy or routing through its ``proposal`` record;
    a transition (who, why) or a proposal's state through the ``transition`` records; an order through
    the ``release`` record. Imports recorded before content digests existed are not compared.
    """
    from directindex.store.models import ImportRow, OrderRow, ProposalRow, TransitionRow
    from directindex.store.repo import import_digests

    problems: list[str] = []
    recs = records(conn)
    stored = import_digests(conn)
    audited_imports: set[int] = set()
    for r in recs:
        if r.kind != "import":
            continue
        iid = int(r.subject.split(":", 1)[1])
        audited_imports.add(iid)
        want = r.payload.get("content_sha256")
        if not want:
            continue
        have = stored.get(iid, {})
        for table, digest in sorted(want.items()):
            if have.get(table, sha256_text(canonical_json([]))) != digest:
                problems.append(f"{table} rows of import {iid} do not match audit record {r.seq} (a row was edited, "
                                "deleted or added)")
    for iid in sorted(set(stored) - audited_imports):
        problems.append(f"rows claim import {iid}, which has no audit record")
    for (iid,) in conn.execute(select(ImportRow.id).order_by(ImportRow.id)):
        if iid not in audited_imports:
            problems.append(f"import {iid} has no audit record")

    by_subject: dict[str, list[AuditRecord]] = {}
    for r in recs:
        by_subject.setdefault(r.subject, []).append(r)
    fields = ("trades", "blocked", "restricted", "summary", "policy", "routing")
    seen: set[str] = set()
    for row in conn.execute(select(ProposalRow)):
        pid = row.id
        seen.add(pid)
        story = by_subject.get(pid, [])
        created = [r for r in story if r.kind == "proposal"]
        if not created:
            problems.append(f"proposal {pid} has no audit record (inserted behind the book's back)")
            continue
        p = created[0].payload
        for f in fields:
            if json.loads(getattr(row, f)) != p.get(f):
                problems.append(f"proposal {pid}: its {f} differ from audit record {created[0].seq} (edited)")
        if row.account != p.get("account") or row.as_of.isoformat() != p.get("as_of"):
            problems.append(f"proposal {pid}: account or date differ from audit record {created[0].seq} (edited)")
        audited = [(r.payload["from"], r.payload["to"], r.payload["by"], r.payload["why"]) for r in story
                   if r.kind == "transition"]
        rows = [(t.from_state, t.to_state, t.by, t.why) for t in conn.execute(
            select(TransitionRow).where(TransitionRow.proposal_id == pid).order_by(TransitionRow.id))]
        if rows != audited:
            problems.append(f"proposal {pid}: its transitions ({len(rows)}) do not match the audit trail's "
                            f"({len(audited)}): a transition row was edited or deleted")
        expected_state = audited[-1][1] if audited else "draft"
        if row.state != expected_state:
            problems.append(f"proposal {pid} is {row.state} but the audit trail says {expected_state} (edited)")
        released = {str(o["id"]): o for r in story if r.kind == "release" for o in r.payload.get("orders", [])}
        filled = {str(f["order"]) for r in story if r.kind == "fill" for f in r.payload.get("fills", [])}
        orders = {o.id: o for o in conn.execute(select(OrderRow).where(OrderRow.proposal_id == pid))}
        for oid in sorted(set(released) | set(orders)):
            o, a = orders.get(oid), released.get(oid)
            if o is None or a is None:
                where = "missing from the orders table" if o is None else "not in the audit trail"
                problems.append(f"order {oid} of proposal {pid} is {where}")
                continue
            if _jsonish([o.account, o.side, o.symbol, o.quantity, o.lot or None]) != [
                    a["account"], a["side"], a["symbol"], a["quantity"], a.get("lot") or None]:
                problems.append(f"order {oid} of proposal {pid} differs from its release record (edited)")
            if (o.status == "filled") != (oid in filled):
                problems.append(f"order {oid} of proposal {pid} is {o.status} but the audit trail "
                                f"{'has' if oid in filled else 'has no'} fill for it (edited)")
    for subject, story in sorted(by_subject.items()):
        if subject not in seen and any(r.kind == "proposal" for r in story):
            problems.append(f"proposal {subject} is in the audit trail but its row was deleted")
    return problems
