"""Tax-loss harvesting: candidates, the household wash-sale guard, replacements, gain/loss matching.

The facade: ``plan_harvest(accounts, securities, transactions, prices, as_of, policy, risk_model=...,
replacer=...) -> HarvestProposal``; ``load_book_dir(path)`` reads a book directory; ``load_policy`` reads
``policy.toml`` (and ``pending.csv``); the array scan is ``directindex.harvest.scan.scan``.
"""

from directindex.harvest.book import BookDir, load_book_dir
from directindex.harvest.plan import plan_harvest
from directindex.harvest.policy import (
    AccountPolicy,
    HarvestPolicy,
    HarvestSettings,
    HouseholdPolicy,
    PendingOrder,
    load_pending_csv,
    load_policy,
    policy_from_mapping,
)
from directindex.harvest.records import (
    Blocked,
    Evidence,
    HarvestProposal,
    HarvestSummary,
    HarvestTrade,
    Reason,
    RestrictedEntry,
    Side,
    Warning,
    WashCheck,
)
from directindex.harvest.replace import OptimizerReplacer, PeerReplacer, ReplacementRequest, Replacer, replacer_for
from directindex.harvest.scan import GuardArrays, ScanResult, Thresholds, scan

__all__ = [
    "AccountPolicy", "Blocked", "BookDir", "Evidence", "GuardArrays", "HarvestPolicy", "HarvestProposal",
    "HarvestSettings", "HarvestSummary", "HarvestTrade", "HouseholdPolicy", "OptimizerReplacer", "PeerReplacer",
    "PendingOrder", "Reason", "ReplacementRequest", "Replacer", "RestrictedEntry", "ScanResult", "Side",
    "Thresholds", "WashCheck", "Warning", "load_book_dir", "load_pending_csv", "load_policy", "plan_harvest",
    "policy_from_mapping", "replacer_for", "scan",
]
