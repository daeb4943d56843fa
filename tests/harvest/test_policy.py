"""``policy.toml`` and ``pending.csv``: defaults, overrides, and bad values named by file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from directindex.errors import InputError
from directindex.harvest import HarvestPolicy, load_pending_csv, load_policy, policy_from_mapping
from directindex.ledger import Term
from directindex.tax import FilingStatus


def test_defaults_without_a_file(tmp_path: Path):
    p = load_policy(tmp_path / "policy.toml")
    assert p == HarvestPolicy()
    a = p.account("ANY")
    assert a.harvest.loss_threshold == 0.02 and a.benchmark is None and a.replacement == "peer"
    rates = p.household("H").rates(2025)
    assert rates.short_term == Decimal("0.408") and rates.long_term == Decimal("0.238")


def test_overrides_and_income_rates(tmp_path: Path):
    (tmp_path / "bench.csv").write_text("symbol,weight\nAAA,3\nBBB,1\n")
    p = policy_from_mapping({
        "harvest": {"loss_threshold": 0.05, "min_loss": 250},
        "defaults": {"benchmark": "bench.csv"},
        "tax": {"filing_status": "single", "taxable_income": 120000, "state": "CA", "target": 1000,
                "target_term": "long"},
        "accounts": {"T1": {"te_budget": 0.01, "harvest": {"min_days": 7}, "drip": ["XOM"],
                            "approval": {"approver": "dana"}}},
        "approval": {"auto_approve": True},
    }, book_dir=tmp_path)
    t1 = p.account("T1")
    assert t1.harvest.loss_threshold == 0.05 and t1.harvest.min_days == 7 and t1.harvest.min_loss == 250
    assert t1.benchmark == {"AAA": 0.75, "BBB": 0.25} and t1.te_budget == 0.01
    assert t1.drip_on("XOM") and not t1.drip_on("CVX")
    hh = p.household("H")
    assert hh.filing_status is FilingStatus.SINGLE and hh.target == 1000 and hh.target_term is Term.LONG
    assert hh.rates(2025).short_term > Decimal("0.3")  # 24% + 3.8% NIIT? + CA: from the rate tables


@pytest.mark.parametrize(("data", "key"), [
    ({"harvest": {"loss_threshold": 1.5}}, "harvest.loss_threshold"),
    ({"harvest": {"min_days": -1}}, "harvest.min_days"),
    ({"harvest": {"loss_treshold": 0.1}}, "harvest.loss_treshold"),
    ({"accounts": {"A": {"replacement": "twin"}}}, "accounts.A.replacement"),
    ({"accounts": {"A": {"benchmark": {"X": -1}}}}, "accounts.A.benchmark.X"),
    ({"households": {"H": {"filing_status": "joint"}}}, "households.H.filing_status"),
    ({"households": {"H": {"state": "ZZ"}}}, "households.H.state"),
    ({"pending": [{"account": "A", "symbol": "X", "side": "hold", "quantity": 1}]}, "pending[0].side"),
])
def test_bad_values_name_the_key(data, key):
    with pytest.raises(InputError) as e:
        policy_from_mapping(data, "book/policy.toml")
    (issue,) = e.value.issues
    assert issue.file == "book/policy.toml" and issue.field == key


def test_pending_csv(tmp_path: Path):
    (tmp_path / "policy.toml").write_text('[[pending]]\naccount = "A"\nsymbol = "X"\nside = "buy"\nquantity = 2\n')
    (tmp_path / "pending.csv").write_text("account,symbol,side,quantity,date,id\nB,Y,sell,3,2025-06-17,O-1\n")
    p = load_policy(tmp_path / "policy.toml")
    assert [(o.account, o.side, o.quantity, o.id) for o in p.pending] == [("A", "buy", 2, "pending-1"),
                                                                           ("B", "sell", 3, "O-1")]
    (tmp_path / "bad.csv").write_text("account,symbol,side,quantity\nB,Y,sell,-3\n")
    with pytest.raises(InputError) as e:
        load_pending_csv(tmp_path / "bad.csv")
    assert (e.value.issues[0].line, e.value.issues[0].field) == (2, "quantity")
