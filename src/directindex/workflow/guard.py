"""The household wash-sale window as the workflow checks it before proposing and again before release.

A loss sale is washed by an acquisition of substantially identical stock (same identical group) in any
account of the household, spouse and IRAs included, within 30 days of the sale (IRC 1091; Pub 550).
Shares of the very lot being sold are never its own replacement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from directindex.ledger.records import Account, Security, Transaction

WASH_DAYS = 30


def lot_roots(lot_id: str) -> frozenset[str]:
    """A lot part's id and the id of the lot it came from (``L4.1`` -> ``L4``)."""
    root, _, suffix = lot_id.rpartition(".")
    return frozenset({lot_id, root}) if root and suffix.isdigit() else frozenset({lot_id})


def index_acquisitions(
    transactions: Iterable[Transaction],
    household: Sequence[Account],
    securities: Mapping[str, Security],
    window: tuple[date, date],
) -> dict[str, list[Transaction]]:
    """Purchases and reinvestments in the household's accounts inside ``window``, by identical group."""
    accounts = {a.account for a in household}
    out: dict[str, list[Transaction]] = {}
    for t in transactions:
        if t.action.acquires and t.account in accounts and window[0] <= t.date <= window[1]:
            sec = securities.get(t.symbol)
            out.setdefault(sec.group if sec else t.symbol, []).append(t)
    for v in out.values():
        v.sort(key=lambda t: (t.date, t.account, t.id))
    return out


def excluding(hits: Iterable[Transaction], exclude: tuple[str, frozenset[str]]) -> list[Transaction]:
    """The acquisitions that are not the purchase of the lot being sold itself."""
    return [t for t in hits if not (t.account == exclude[0] and (t.lot or t.id) in exclude[1])]


def acquisitions_in_window(
    transactions: Iterable[Transaction],
    household: Sequence[Account],
    securities: Mapping[str, Security],
    group: str,
    window: tuple[date, date],
    exclude: tuple[str, frozenset[str]] | None = None,
) -> list[Transaction]:
    """Purchases and reinvestments of ``group`` in the household's accounts dated inside ``window``."""
    accounts = {a.account for a in household}
    out = []
    for t in transactions:
        if not t.action.acquires or t.account not in accounts or not (window[0] <= t.date <= window[1]):
            continue
        sec = securities.get(t.symbol)
        if (sec.group if sec else t.symbol) != group:
            continue
        if exclude is not None and t.account == exclude[0] and (t.lot or t.id) in exclude[1]:
            continue
        out.append(t)
    return sorted(out, key=lambda t: (t.date, t.account, t.id))
