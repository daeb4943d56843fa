"""The daily run's default proposer: the harvest engine's pass, household by household, split by account.

``directindex.harvest.plan_harvest`` scans every open lot of a household's accounts on the vectorized
view (the wash-sale guard and the tax valuation are both household-wide), values each loss for the
household, picks replacements and swap-backs, and reports tracking error before and after when a risk
model is at hand. One pass per household, on the lots the run already derived, keeps the engine's
per-account loops over the household rather than the whole book. The daily run calls
:meth:`HarvestEngineProposer.prepare` once with the derived book, then asks it account by account;
each account gets the engine's trades for that account, its blocked candidates, its household's
restricted list and its tracking errors, with the evidence behind every trade kept in the workflow's
record shape (lot, basis, price, term, the wash windows checked).

Pending orders (the book's ``pending.csv``) are part of the policy the engine reads: a pending buy in a
spouse's IRA blocks the loss sale it would wash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from directindex.harvest import HarvestPolicy, HarvestProposal, HarvestTrade, plan_harvest, policy_from_mapping
from directindex.harvest.records import WashCheck
from directindex.ledger import LedgerResult
from directindex.ledger.records import Account, Lot
from directindex.workflow.proposer import Blocked, ProposalContext, ProposalDraft, Restricted, Trade

if TYPE_CHECKING:
    import pandas as pd

    from directindex.market.risk import FactorRiskModel
    from directindex.workflow.context import BookView

ZERO = Decimal(0)
WORKFLOW_ONLY = ("approval", "risk", "rebalance")  # policy.toml sections the workflow reads and the engine does not


def harvest_mapping(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The stored ``policy.toml`` (plus pending orders) without the workflow's own sections."""
    return {k: v for k, v in policy.items() if k not in WORKFLOW_ONLY}


def _check_plain(c: WashCheck) -> dict[str, Any]:
    # The window's days as the text they are stored as: each trade carries three checks and a window,
    # and walking their dates again to store the proposal was a large part of saving it.
    d = c.as_dict()
    for k in ("window_from", "window_to"):
        if type(d[k]) is date:
            d[k] = d[k].isoformat()
    return d


def _evidence(t: HarvestTrade, lots: Mapping[tuple[str, str], Lot]) -> dict[str, Any]:
    ev = t.evidence
    lot = lots.get((t.account, t.lot)) if t.lot else None
    out: dict[str, Any] = {
        "lot": t.lot, "acquired": ev.acquired, "quantity": t.quantity, "basis": ev.basis, "price": t.price,
        "value": ev.market_value, "unrealized": ev.unrealized, "term": ev.term.value if ev.term else None,
        "long_term_on": lot.long_term_on if lot is not None else None,
        "tax_value": None if ev.tax_value is None else round(ev.tax_value, 2),
        "tracking_error_before": ev.tracking_error_before, "tracking_error_after": ev.tracking_error_after,
        "wash_checks": [_check_plain(c) for c in ev.wash_checks], "replaces": list(ev.replaces), "note": ev.note,
    }
    if ev.wash_checks:
        c = ev.wash_checks[0]
        first = out["wash_checks"][0]
        out["wash_window"] = {"from": first["window_from"], "to": first["window_to"], "group": c.group,
                              "accounts_checked": list(c.accounts), "rule": c.rule}
    return {k: v for k, v in out.items() if v is not None}


@dataclass
class HarvestEngineProposer:
    """Harvest with replacements (and swap-backs) from ``directindex.harvest``, guarded household-wide.

    ``prices_history`` (a ``date,symbol,close`` frame) lets the pass estimate a factor risk model, so
    trades carry tracking error before and after and replacements are ranked by it; without it (or with
    under 60 days of history) the engine still harvests, with peers by sector and no tracking errors.
    """

    prices_history: pd.DataFrame | None = None
    risk_model: FactorRiskModel | None = None
    name: str = "harvest-engine"
    _drafts: dict[str, ProposalDraft] = field(default_factory=dict, repr=False)
    model_: FactorRiskModel | None = field(default=None, repr=False)  # the run's risk model, for the rebalancer
    _policy: HarvestPolicy | None = field(default=None, repr=False)
    _view: BookView | None = field(default=None, repr=False)
    _prices: Mapping[str, Decimal] | None = field(default=None, repr=False)

    def prepare(self, view: BookView, prices: Mapping[str, Decimal]) -> None:
        """Once per run: the policy and the risk model; each household is planned when first asked.

        Planning on demand lets the daily run plan households on several cores (each process plans
        only the households it is given); a household's plan does not depend on any other's.
        """
        self._policy = policy_from_mapping(harvest_mapping(view.policy), "policy.toml (stored book)")
        model = self.risk_model
        if model is None and self.prices_history is not None:
            from directindex.harvest.inputs import risk_model_for

            model = risk_model_for(self.prices_history, view.securities, view.as_of)
        self.model_ = model
        self._drafts = {}
        self._view, self._prices = view, prices

    def _plan(self, household: str) -> None:
        view, prices, policy = self._view, self._prices, self._policy
        assert view is not None and prices is not None and policy is not None
        members = view.households.get(household, ())
        ids = {a.account for a in members}
        accounts = {a.account: a for a in members}
        lots = tuple(lot for a in sorted(ids) for lot in view.lots_by_account.get(a, ()))
        ledger = LedgerResult(lots, view.reliefs_by_household.get(household, ()), (), ())
        mine = replace(policy, pending=tuple(o for o in policy.pending if o.account in ids))
        proposal = plan_harvest(accounts, view.securities, view.tx_by_household.get(household, ()), prices,
                                view.as_of, mine, risk_model=self.model_, ledger=ledger)
        self._drafts.update(self._split(view, accounts, proposal, prices))  # a draft for every member

    def _split(self, view: BookView, accounts: Mapping[str, Account], proposal: HarvestProposal,
               prices: Mapping[str, Decimal]) -> dict[str, ProposalDraft]:
        lots = {(lot.account, lot.lot): lot for a in accounts for lot in view.lots_by_account.get(a, ())}
        trades: dict[str, list[Trade]] = {}
        for t in proposal.trades:
            trades.setdefault(t.account, []).append(Trade(
                t.account, t.side.value, t.symbol, t.quantity, t.lot, t.reason.value, t.price, _evidence(t, lots)))
        blocked: dict[str, list[Blocked]] = {}
        for b in proposal.blocked:
            blocked.setdefault(b.account, []).append(Blocked(b.account, b.symbol, b.lot, f"{b.cause}: {b.reason}"))
        restricted: dict[str, list[Restricted]] = {}
        for r in proposal.restricted:
            restricted.setdefault(r.household, []).append(Restricted(r.household, r.group, r.sold_on, r.expires))
        warnings: dict[str, list[str]] = {}
        for w in proposal.warnings:
            warnings.setdefault(w.account, []).append(w.message)
        out: dict[str, ProposalDraft] = {}
        for acct, account in accounts.items():
            mine = tuple(trades.get(acct, ()))
            short = long = gains = ZERO
            for tr in mine:  # each figure summed in trade order, as one sum() per figure adds them
                if tr.side != "sell":
                    continue
                u = Decimal(str(tr.evidence.get("unrealized", 0)))
                term = tr.evidence.get("term")
                if term == "short" and u < 0:
                    short += -u
                elif term == "long" and u < 0:
                    long += -u
                gains += max(ZERO, u)
            te_before, te_after = proposal.tracking_error.get(acct, (None, None))
            value = sum((lot.quantity * prices.get(lot.symbol, ZERO) for lot in view.lots_by_account.get(acct, ())),
                        ZERO)
            summary: dict[str, Any] = {
                "harvested_short_term": short, "harvested_long_term": long, "realized_gain": gains,
                "notional": sum((t.notional for t in mine), ZERO), "account_value": value,
                "tax_value": round(sum(float(t.evidence.get("tax_value", 0.0)) for t in mine), 2),
            }
            if te_before is not None:
                summary["tracking_error_before"] = te_before
            if te_after is not None:
                summary["tracking_error_after"] = te_after
            if warnings.get(acct):
                summary["warnings"] = warnings[acct]
            if not account.taxable and not mine:
                summary["note"] = "tax-advantaged account: no harvest"
            out[acct] = ProposalDraft(mine, tuple(blocked.get(acct, ())), tuple(restricted.get(account.household, ())),
                                      summary)
        return out

    def __call__(self, ctx: ProposalContext) -> ProposalDraft:
        if self._view is None or self._view.as_of != ctx.as_of:
            raise RuntimeError("HarvestEngineProposer.prepare(view, prices) must run before proposing")
        if ctx.account.account not in self._drafts:  # its household is not planned yet
            self._plan(ctx.account.household)
        return self._drafts.get(ctx.account.account, ProposalDraft())
