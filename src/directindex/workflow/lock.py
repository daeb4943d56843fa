"""One daily run per book at a time: a lock row naming its owner, pid, host and time.

A second run is refused with the holder's name. A lock left by a killed process is stale when its
pid is gone on this host, or when it is older than ``STALE_AFTER`` (a holder on another host that
died), and is then taken over, the takeover being recorded in the audit trail.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from directindex.store.db import StoreError, write_tx
from directindex.store.models import LockRow
from directindex.store.repo import now_iso
from directindex.workflow import audit

STALE_AFTER = timedelta(hours=6)


class BookLocked(StoreError):
    """Another process holds the book's lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(host: str, pid: int, acquired_at: str) -> bool:
    if host == socket.gethostname() and not _alive(pid):
        return True
    return datetime.now(UTC) - datetime.fromisoformat(acquired_at) > STALE_AFTER


def acquire(engine: Engine, name: str, owner: str) -> None:
    me = {"name": name, "owner": owner, "pid": os.getpid(), "host": socket.gethostname(), "acquired_at": now_iso()}
    with write_tx(engine) as conn:
        row = conn.execute(select(LockRow).where(LockRow.name == name)).first()
        if row is not None:
            if not _stale(row.host, row.pid, row.acquired_at):
                raise BookLocked(
                    f"the book is busy: '{name}' is held by {row.owner} (pid {row.pid} on {row.host}) since "
                    f"{row.acquired_at}; wait for it to finish, or remove a dead holder's lock"
                )
            conn.execute(delete(LockRow).where(LockRow.name == name))
            audit.append(conn, "lock_takeover", f"lock:{name}",
                         {"stale_owner": row.owner, "stale_pid": row.pid, "stale_host": row.host,
                          "stale_since": row.acquired_at, "new_owner": owner, "new_pid": me["pid"]})
        try:
            conn.execute(insert(LockRow).values(**me))
        except IntegrityError as e:  # pragma: no cover - writers are serialized by write_tx
            raise BookLocked(f"the book is busy: '{name}' was taken concurrently") from e


def release(engine: Engine, name: str) -> None:
    with write_tx(engine) as conn:
        conn.execute(delete(LockRow).where(LockRow.name == name, LockRow.pid == os.getpid()))


@contextmanager
def held(engine: Engine, name: str, owner: str) -> Iterator[None]:
    acquire(engine, name, owner)
    try:
        yield
    finally:
        release(engine, name)
