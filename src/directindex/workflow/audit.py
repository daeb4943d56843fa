"""The audit trail: an append-only chain of every import, run, proposal, transition, release and fill.

Each record's hash is ``sha256(canonical JSON of {seq, at, kind, subject, payload} + previous hash)``;
the newest sequence number and hash are also kept in ``audit_head``. Editing any record breaks its own
hash, deleting one breaks the next record's link (or, for the newest, the head), so :func:`verify`
names the first record that no longer fits. Appends happen inside the caller's write transaction, so
a record exists exactly when the change it describes was committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from directindex.store.models import AuditHeadRow, AuditRow
from directindex.store.repo import canonical_json, now_iso, sha256_text

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


def record_hash(seq: int, at: str, kind: str, subject: str, payload_json: str, prev_hash: str) -> str:
    body = canonical_json({"seq": seq, "at": at, "kind": kind, "subject": subject, "payload": payload_json})
    return sha256_text(body + prev_hash)


def append(conn: Connection, kind: str, subject: str, payload: Mapping[str, Any]) -> AuditRecord:
    """Append one record to the chain (call inside a ``write_tx``, which serializes writers)."""
    head = conn.execute(select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == 1)).first()
    seq, prev = (0, GENESIS) if head is None else (int(head[0]), str(head[1]))
    seq += 1
    at = now_iso()
    body = canonical_json(payload)
    h = record_hash(seq, at, kind, subject, body, prev)
    conn.execute(
        insert(AuditRow).values(seq=seq, at=at, kind=kind, subject=subject, payload=body, prev_hash=prev, hash=h)
    )
    if head is None:
        conn.execute(insert(AuditHeadRow).values(id=1, seq=seq, hash=h))
    else:
        conn.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=seq, hash=h))
    return AuditRecord(seq, at, kind, subject, json.loads(body), prev, h)


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
