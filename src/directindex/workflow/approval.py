"""The approval policy: which proposals may go out on their own and which need a named approver.

Configured firm-wide in ``policy.toml`` under ``[approval]`` and per account under
``[accounts.<id>.approval]`` (the account's keys win). A proposal is auto-approved only when it is
small, loss-only and within its tracking-error budget, and touches no household whose tax-advantaged
account holds or recently bought the same stock; otherwise it is routed to the approver, with every
reason written down. The resolved policy and the reasons are stored with the proposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from directindex.workflow.guard import index_acquisitions
from directindex.workflow.proposer import ProposalContext, ProposalDraft

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    approver: str = "supervisor"
    auto_approve: bool = True
    max_auto_notional: Decimal = Decimal(50000)
    gain_threshold: Decimal = ZERO
    max_trade_fraction: Decimal = Decimal("0.10")
    tracking_error_budget: Decimal | None = None
    wash_window_days: int = 30
    max_age_days: int = 5
    max_price_move: Decimal = Decimal("0.05")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def policy_for(doc: Mapping[str, Any] | None, account: str) -> ApprovalPolicy:
    """The approval policy of one account: defaults, then ``[approval]``, then the account's own."""
    doc = doc or {}
    merged: dict[str, Any] = dict(doc.get("approval", {}) or {})
    acct = (doc.get("accounts") or {}).get(account) or {}
    merged.pop("accounts", None)
    merged.update(acct.get("approval", {}) or {})
    if "tracking_error_budget" not in merged and "tracking_error_budget" in acct:
        merged["tracking_error_budget"] = acct["tracking_error_budget"]
    base = ApprovalPolicy()
    return ApprovalPolicy(
        approver=str(merged.get("approver", base.approver)),
        auto_approve=bool(merged.get("auto_approve", base.auto_approve)),
        max_auto_notional=_dec(merged.get("max_auto_notional", base.max_auto_notional)),
        gain_threshold=_dec(merged.get("gain_threshold", base.gain_threshold)),
        max_trade_fraction=_dec(merged.get("max_trade_fraction", base.max_trade_fraction)),
        tracking_error_budget=(_dec(merged["tracking_error_budget"]) if merged.get("tracking_error_budget")
                               is not None else None),
        wash_window_days=int(merged.get("wash_window_days", base.wash_window_days)),
        max_age_days=int(merged.get("max_age_days", base.max_age_days)),
        max_price_move=_dec(merged.get("max_price_move", base.max_price_move)),
    )


@dataclass(frozen=True, slots=True)
class Routing:
    auto: bool
    approver: str | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"auto": self.auto, "approver": self.approver, "reasons": list(self.reasons)}


def route(draft: ProposalDraft, ctx: ProposalContext, policy: ApprovalPolicy) -> Routing:
    """Auto-approve, or name the approver and every reason the proposal needs one."""
    reasons: list[str] = []
    if not policy.auto_approve:
        reasons.append("the policy routes every proposal of this account to an approver")
    gains = sum((max(ZERO, Decimal(str(t.evidence.get("unrealized", 0)))) for t in draft.trades
                 if t.side == "sell"), ZERO)
    if gains > policy.gain_threshold:
        reasons.append(f"realizes {gains:.2f} of gains, above the {policy.gain_threshold:.2f} threshold")
    notional = sum((t.notional for t in draft.trades), ZERO)
    if notional > policy.max_auto_notional:
        reasons.append(f"trades {notional:.2f}, above the auto-approval limit of {policy.max_auto_notional:.2f}")
    # The fraction of the account traded is one-sided turnover: a harvest sold and replaced trades the
    # amount once, not twice.
    one_sided = max(sum((t.notional for t in draft.trades if t.side == "sell"), ZERO),
                    sum((t.notional for t in draft.trades if t.side != "sell"), ZERO))
    value = Decimal(str(draft.summary.get("account_value", 0) or 0))
    if value > 0 and one_sided / value > policy.max_trade_fraction:
        reasons.append(f"trades {one_sided / value:.1%} of the account, above {policy.max_trade_fraction:.1%}")
    te_after = draft.summary.get("tracking_error_after")
    if policy.tracking_error_budget is not None and te_after is not None and \
            Decimal(str(te_after)) > policy.tracking_error_budget:
        reasons.append(f"raises ex-ante tracking error to {Decimal(str(te_after)):.4f}, past the budget "
                       f"{policy.tracking_error_budget:.4f}")
    advantaged = [a for a in ctx.household if a.type.tax_advantaged]
    if advantaged:
        window = (ctx.as_of - timedelta(days=policy.wash_window_days), ctx.as_of)
        advantaged_ids = {a.account for a in advantaged}
        touching: dict[str, set[str]] = {}
        for lot in ctx.household_lots:
            if lot.account in advantaged_ids:
                touching.setdefault(ctx.group(lot.symbol), set()).add(lot.account)
        for group, bought in index_acquisitions(ctx.household_transactions, advantaged, ctx.securities,
                                                window).items():
            touching.setdefault(group, set()).update(b.account for b in bought)
        for o in ctx.pending:
            if o.get("side") == "buy" and o.get("account") in advantaged_ids:
                touching.setdefault(ctx.group(str(o.get("symbol"))), set()).add(str(o["account"]))
        for t in draft.trades:
            if t.side != "sell":
                continue
            where_set = touching.get(ctx.group(t.symbol))
            if where_set:
                where = ", ".join(sorted(where_set))
                reasons.append(f"sells {t.symbol} while tax-advantaged account(s) {where} of household "
                               f"{ctx.account.household} hold, bought or have a pending order for it within the "
                               "wash window")
    if reasons:
        return Routing(False, policy.approver, tuple(reasons))
    return Routing(True, None, ())
