"""Schedule D netting and the Capital Loss Carryover Worksheet, on worked cases.

Sources: 2024 Schedule D (Form 1040) lines 7, 15, 16, 21 and the instructions' "Capital Loss Carryover
Worksheet--Lines 6 and 14" (lines 1-13); Pub. 550, chapter 4, "Capital Losses" (limit on deduction, capital
loss carryover, the Bob and Gloria example); IRC 1211(b) and 1212(b).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directindex.tax import FilingStatus, carryover_worksheet, schedule_d

SINGLE = FilingStatus.SINGLE
MFJ = FilingStatus.MARRIED_FILING_JOINTLY
MFS = FilingStatus.MARRIED_FILING_SEPARATELY


def lines(d):
    return {k: v for k, v in d.worksheet.lines().items()}


def test_short_term_loss_5000_allows_3000_carries_2000():
    # Pub. 550 "Capital Losses": a net capital loss over the $3,000 limit carries over; here $5,000 of
    # short-term loss gives $3,000 on line 21 and $2,000 to next year's line 6.
    d = schedule_d([D(-5000)], [], SINGLE)
    assert (d.net_short_term, d.net_long_term, d.total) == (D(-5000), D(0), D(-5000))
    assert d.allowed_loss == D(-3000)
    assert (d.carryover_short_term, d.carryover_long_term) == (D(2000), D(0))
    assert lines(d) == {
        "line_1": None, "line_2": D(3000), "line_3": None, "line_4": D(3000),
        "line_5": D(5000), "line_6": D(0), "line_7": D(3000), "line_8": D(2000),
        "line_9": None, "line_10": None, "line_11": None, "line_12": None, "line_13": None,
    }  # fmt: skip


def test_pub_550_bob_and_gloria():
    # Pub. 550 "Capital Losses", example: a $7,000 capital loss, no other capital transactions, taxable income
    # $26,000, joint return: deduct $3,000, carry $4,000 over. Had the loss been $2,000: deduct $2,000, no carryover.
    d = schedule_d([D(-7000)], [], MFJ, taxable_income=D(26000))
    assert d.allowed_loss == D(-3000)
    assert d.carryover_short_term + d.carryover_long_term == D(4000)
    small = schedule_d([D(-2000)], [], MFJ, taxable_income=D(26000))
    assert small.allowed_loss == D(-2000)
    assert (small.carryover_short_term, small.carryover_long_term) == (D(0), D(0))


def test_character_is_kept_short_term_loss_is_used_first():
    # Worksheet lines 5-13: the allowance (line 4) is charged to the short-term loss first (line 7 = line 4 +
    # line 6), only its excess over the short-term loss (line 11) to the long-term loss.
    d = schedule_d([D(-1000)], [D(-6000)], SINGLE)
    assert d.total == D(-7000) and d.allowed_loss == D(-3000)
    w = d.worksheet
    assert (w.line_5, w.line_6, w.line_7, w.line_8) == (D(1000), D(0), D(3000), D(0))
    assert (w.line_9, w.line_10, w.line_11, w.line_12, w.line_13) == (D(6000), D(0), D(2000), D(2000), D(4000))
    assert (d.carryover_short_term, d.carryover_long_term) == (D(0), D(4000))

    d = schedule_d([D(-8000)], [D(-2000)], SINGLE)
    assert (d.carryover_short_term, d.carryover_long_term) == (D(5000), D(2000))
    assert d.worksheet.line_11 == D(0)


def test_negative_taxable_income_limits_what_the_allowance_used():
    # Worksheet lines 1-4 (IRC 1212(b)(2)): taxable income of -$2,000 after the $3,000 deduction means only
    # $1,000 of the deduction reduced income; the other $2,000 stays in the carryover.
    d = schedule_d([D(-8000)], [], SINGLE, taxable_income=D(-2000))
    w = d.worksheet
    assert (w.line_1, w.line_2, w.line_3, w.line_4) == (D(-2000), D(3000), D(1000), D(1000))
    assert (w.line_5, w.line_6, w.line_7, w.line_8) == (D(8000), D(0), D(1000), D(7000))
    assert d.allowed_loss == D(-3000)
    assert d.carryover_short_term == D(7000)

    # Taxable income -$5,000: the deduction gave no benefit at all, the whole loss carries over (line 3 = 0).
    d = schedule_d([D(-8000)], [D(-1000)], SINGLE, taxable_income=D(-5000))
    assert (d.worksheet.line_3, d.worksheet.line_4) == (D(0), D(0))
    assert (d.carryover_short_term, d.carryover_long_term) == (D(8000), D(1000))


def test_negative_taxable_income_with_long_term_loss_only():
    d = schedule_d([], [D(-10000)], SINGLE, taxable_income=D(-500))
    w = d.worksheet
    assert (w.line_3, w.line_4, w.line_5) == (D(2500), D(2500), D(0))
    assert (w.line_6, w.line_7, w.line_8) == (None, None, None)  # "enter -0- on line 5 and go to line 9"
    assert (w.line_9, w.line_10, w.line_11, w.line_12, w.line_13) == (D(10000), D(0), D(2500), D(2500), D(7500))
    assert (d.carryover_short_term, d.carryover_long_term) == (D(0), D(7500))


def test_married_filing_separately_limit_is_1500():
    # Schedule D line 21 / IRC 1211(b): ($1,500) if married filing separately.
    d = schedule_d([D(-5000)], [], MFS)
    assert d.allowed_loss == D(-1500)
    assert d.carryover_short_term == D(3500)


def test_loss_below_the_limit_is_allowed_whole():
    d = schedule_d([D("-1200.50")], [D(200)], SINGLE)
    assert d.allowed_loss == D("-1000.5")
    assert (d.carryover_short_term, d.carryover_long_term) == (D(0), D(0))


def test_gain_year_absorbs_the_carryover():
    # Schedule D lines 6 and 14: last year's carryover nets against this year's gains.
    d = schedule_d([], [D(10000)], SINGLE, carryover_short=D(2000))
    assert (d.net_short_term, d.net_long_term, d.total) == (D(-2000), D(10000), D(8000))
    assert d.allowed_loss == D(0)
    assert (d.carryover_short_term, d.carryover_long_term) == (D(0), D(0))
    assert d.net_capital_gain == D(8000)

    # A long-term carryover larger than the gains: $4,000 absorbed by short-term gain, $3,000 allowed, rest kept.
    d = schedule_d([D(4000)], [], SINGLE, carryover_long=D(10000))
    assert (d.net_short_term, d.net_long_term, d.total, d.allowed_loss) == (D(4000), D(-10000), D(-6000), D(-3000))
    w = d.worksheet
    assert (w.line_9, w.line_10, w.line_11, w.line_12, w.line_13) == (D(10000), D(4000), D(3000), D(7000), D(3000))
    assert (d.carryover_short_term, d.carryover_long_term) == (D(0), D(3000))


def test_short_term_loss_against_long_term_gain_leaves_no_carryover():
    d = schedule_d([D(-5000)], [D(8000)], SINGLE)
    assert d.total == D(3000) and d.allowed_loss == D(0)
    assert (d.worksheet.line_5, d.worksheet.line_6, d.worksheet.line_7, d.worksheet.line_8) == (
        D(5000), D(8000), D(8000), D(0),
    )  # fmt: skip
    assert d.net_capital_gain == D(3000)


def test_exact_cents():
    d = schedule_d([D("-1234.56"), D("-2345.67")], [D("0.01")], SINGLE)
    assert d.total == D("-3580.22")
    # line 5 3,580.23 less line 7 (3,000 allowance + the 0.01 long-term gain on line 6)
    assert d.carryover_short_term == D("580.22")
    assert d.carryover_long_term == D(0)


def test_rejects_negative_carryover_and_positive_allowance():
    with pytest.raises(ValueError):
        schedule_d([], [], SINGLE, carryover_short=D(-1))
    with pytest.raises(ValueError):
        carryover_worksheet(D(0), D(0), D(1), None)


cents = st.decimals(min_value=-10**7, max_value=10**7, places=2, allow_nan=False, allow_infinity=False)
positive_cents = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)


@given(cents, cents, positive_cents, positive_cents, st.sampled_from(list(FilingStatus)))
def test_allowed_loss_and_carryovers_account_for_the_whole_net_loss(s, lt, co_s, co_l, status):
    d = schedule_d(s, lt, status, carryover_short=co_s, carryover_long=co_l)
    net_loss = max(-d.total, D(0))
    assert -d.allowed_loss + d.carryover_short_term + d.carryover_long_term == net_loss
    assert D(0) <= -d.allowed_loss <= status.capital_loss_limit
    # character kept: no more of either kind carries over than that kind lost
    assert d.carryover_short_term <= max(-d.net_short_term, D(0))
    assert d.carryover_long_term <= max(-d.net_long_term, D(0))


@given(cents, cents, positive_cents, st.decimals(min_value=-10**6, max_value=10**7, places=2))
def test_taxable_income_only_ever_increases_the_carryover(s, lt, co_s, income):
    big = schedule_d(s, lt, SINGLE, carryover_short=co_s)
    limited = schedule_d(s, lt, SINGLE, carryover_short=co_s, taxable_income=income)
    assert limited.allowed_loss == big.allowed_loss
    assert limited.carryover_short_term >= big.carryover_short_term
    assert limited.carryover_long_term >= big.carryover_long_term
    assert limited.carryover_short_term + limited.carryover_long_term <= max(-big.total, D(0))
