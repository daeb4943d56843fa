"""Reading a prices file: ``symbol,price`` (or ``close``), optionally with a ``date`` column.

With dates, each symbol's price is its latest on or before the as-of date. Prices are exact decimals.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from directindex.errors import InputError, InputIssue


def load_prices(path: Path | str, as_of: date | None = None) -> dict[str, Decimal]:
    path = Path(path)
    if not path.exists():
        raise InputError.single(str(path), None, None, "prices file not found")
    best: dict[str, tuple[date, Decimal]] = {}
    issues: list[InputIssue] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        col = next((c for c in ("price", "close", "adj_close") if c in header), None)
        if "symbol" not in header or col is None:
            raise InputError.single(str(path), 1, None, "a prices file needs columns symbol and price (or close)")
        for row in reader:
            sym = (row.get("symbol") or "").strip()
            if not sym:
                continue
            day = date.min
            if row.get("date"):
                try:
                    day = date.fromisoformat(row["date"].strip())
                except ValueError:
                    issues.append(InputIssue(str(path), reader.line_num, "date", f"cannot parse date '{row['date']}'"))
                    continue
                if as_of is not None and day > as_of:
                    continue
            try:
                px = Decimal((row.get(col) or "").strip())
            except InvalidOperation:
                issues.append(InputIssue(str(path), reader.line_num, col, f"cannot parse price '{row.get(col)}'"))
                continue
            if not px.is_finite() or px <= 0:
                issues.append(InputIssue(str(path), reader.line_num, col, f"price must be positive ({px})"))
                continue
            if sym not in best or best[sym][0] <= day:
                best[sym] = (day, px)
    if issues:
        raise InputError(issues)
    return {s: p for s, (_, p) in best.items()}
