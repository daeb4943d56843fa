"""Helpers shared by the CLI shells: output formats, errors to exit codes, atomic file writes.

The CLI is a thin shell: it parses options, calls the core, and renders what comes back. Output is
built completely in memory before anything is printed or written, so a failing command leaves no
half-written output behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from enum import Enum, StrEnum
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from directindex.errors import InputError

P = ParamSpec("P")
R = TypeVar("R")

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def to_jsonable(value: Any) -> Any:
    """Decimals become JSON numbers, dates ISO strings, enums their values, records dicts."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dumps_json(payload: Any) -> str:
    return json.dumps(to_jsonable(payload), indent=2, sort_keys=False)


def render_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([cell(r.get(c)) for c in columns])
    return buf.getvalue()


def render_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[cell(r.get(c)) for c in columns])
    return t


def emit_rows(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: Format, title: str | None = None
) -> None:
    """Print rows as a Rich table, JSON (a list of objects) or CSV."""
    if fmt is Format.json:
        sys.stdout.write(dumps_json([{c: r.get(c) for c in columns} for r in rows]) + "\n")
    elif fmt is Format.csv:
        sys.stdout.write(render_csv(rows, columns))
    else:
        stdout.print(render_table(rows, columns, title), width=None if stdout.is_terminal else 240)


def emit_json(payload: Any) -> None:
    sys.stdout.write(dumps_json(payload) + "\n")


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write a file so that readers see the old content or the new, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fail(message: str, code: int = 2) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn bad input into a message naming file, line and field (or the book's problem), and exit 2."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            for issue in e.issues[:50]:
                stderr.print(f"[bold red]error:[/] {issue}", markup=True)
            if len(e.issues) > 50:
                stderr.print(f"... and {len(e.issues) - 50} more")
            raise typer.Exit(2) from None
        except Exception as e:
            # A read command given --db on a missing or outdated book: say what to do, no traceback. The
            # store is imported only by commands that use it, so look it up rather than import it here.
            store = sys.modules.get("directindex.store.db")
            if store is not None and isinstance(e, store.StoreError):
                stderr.print(f"[bold red]error:[/] {e}")
                raise typer.Exit(2) from None
            raise

    return wrapper
