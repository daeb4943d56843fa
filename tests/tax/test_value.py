"""The tax value of a gain or loss, netted the Schedule D way (short-term loss to short-term gain first, then
long-term gain, then the $3,000 allowance, then a discounted carryforward; long-term loss mirror-wise).
"""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from directindex.ledger.records import Term
from directindex.tax import CapitalPosition, FilingStatus, TaxRates, capital_tax, loss_tax_value, tax_value, tax_values
from directindex.tax.value import PositionValuer

RATES = TaxRates(short_term=D("0.408"), long_term=D("0.238"), ordinary=D("0.37"))
DISCOUNT = D("0.9")
SINGLE = FilingStatus.SINGLE


def test_short_term_loss_walks_the_schedule_d_order():
    p = CapitalPosition(SINGLE, short_term=D(2000), long_term=D(5000))
    value = lambda loss: loss_tax_value(p, Term.SHORT, D(loss), RATES, DISCOUNT)  # noqa: E731
    assert value(1000) == D(408)  # against short-term gain at 40.8%
    assert value(2000) == D(816)
    assert value(7000) == D(816) + D(5000) * D("0.238")  # then long-term gain at 23.8%
    assert value(10000) == D(2006) + D(3000) * D("0.37")  # then $3,000 of ordinary income
    # then a $10,000 short-term carryforward valued at 40.8% x 0.9
    assert value(20000) == D(3116) + D(10000) * D("0.408") * DISCOUNT


def test_long_term_loss_goes_to_long_term_gain_first():
    p = CapitalPosition(SINGLE, short_term=D(2000), long_term=D(5000))
    value = lambda loss: loss_tax_value(p, Term.LONG, D(loss), RATES, DISCOUNT)  # noqa: E731
    assert value(5000) == D(5000) * D("0.238")
    assert value(7000) == D(1190) + D(2000) * D("0.408")  # then short-term gain
    assert value(20000) == D(2006) + D(1110) + D(10000) * D("0.238") * DISCOUNT  # carryforward keeps LT character


def test_carryover_in_and_outside_gains_count():
    p = CapitalPosition(SINGLE, short_term=D(1000), outside_long_term=D(4000), carryover_short=D(6000))
    # net short -5,000 against long +4,000: total -1,000, so $2,000 of allowance left at ordinary rate
    assert loss_tax_value(p, Term.LONG, D(2000), RATES, D(0)) == D(2000) * D("0.37")
    assert loss_tax_value(p, Term.LONG, D(3000), RATES, D(0)) == D(2000) * D("0.37")


def test_married_filing_separately_allowance_and_gain_cost():
    p = CapitalPosition(FilingStatus.MARRIED_FILING_SEPARATELY)
    assert loss_tax_value(p, Term.SHORT, D(2000), RATES, D(0)) == D(1500) * D("0.37")
    assert tax_value(p, Term.LONG, D(1000), RATES, DISCOUNT) == D(-238)
    assert capital_tax(p.plus(Term.SHORT, D(100)), RATES, DISCOUNT) == D("40.8")


def test_carryforward_rate_override():
    p = CapitalPosition(SINGLE)
    v = loss_tax_value(p, Term.SHORT, D(5000), RATES, D("0.5"), carryforward_rate=D("0.2"))
    assert v == D(1110) + D(2000) * D("0.2") * D("0.5")


def test_rejects_bad_inputs():
    p = CapitalPosition(SINGLE)
    with pytest.raises(ValueError):
        loss_tax_value(p, Term.SHORT, D(-1), RATES, DISCOUNT)
    with pytest.raises(ValueError):
        loss_tax_value(p, Term.SHORT, D(1), RATES, D("1.5"))
    with pytest.raises(ValueError):
        TaxRates(D("1.2"), D(0), D(0))


amount = st.decimals(min_value=-50000, max_value=50000, places=2)
carryover = st.decimals(min_value=0, max_value=20000, places=2)
# filing status, net short-term and long-term gains, carryovers: what every position strategy draws
position_args = (st.sampled_from(list(FilingStatus)), amount, amount, carryover, carryover)
position = st.builds(CapitalPosition, *position_args)


@given(position, st.sampled_from(list(Term)), st.lists(amount, min_size=1, max_size=20))
def test_vectorized_values_match_exact_ones(p, term, amounts):
    exact = [float(tax_value(p, term, a, RATES, DISCOUNT)) for a in amounts]
    fast = tax_values(p, term, np.array([float(a) for a in amounts]), RATES, DISCOUNT)
    np.testing.assert_allclose(fast, exact, rtol=1e-9, atol=1e-6)


@given(position, st.sampled_from(list(Term)), st.decimals(min_value=0, max_value=50000, places=2),
       st.decimals(min_value=0, max_value=50000, places=2))
def test_a_bigger_loss_never_saves_less_nor_more_than_its_top_rate(p, term, a, b):
    small, big = sorted((a, b))
    v_small = loss_tax_value(p, term, small, RATES, DISCOUNT)
    v_big = loss_tax_value(p, term, big, RATES, DISCOUNT)
    assert D(0) <= v_small <= v_big
    assert v_big - v_small <= (big - small) * RATES.short_term


full_position = st.builds(
    CapitalPosition,
    *position_args,
    amount,
    amount,
)
rate = st.decimals(min_value=0, max_value=D("0.99"), places=3)


@given(full_position, st.sampled_from(list(Term)), st.lists(amount, min_size=1, max_size=10),
       st.builds(TaxRates, rate, rate, rate), st.decimals(min_value=0, max_value=1, places=2),
       st.one_of(st.none(), rate))
def test_position_valuer_is_the_schedule_d_route_exactly(p, term, amounts, rates, discount, cf_rate):
    """The harvest pass's fast path: same Decimal (value and exponent) as tax_value via schedule_d."""
    valuer = PositionValuer(p, rates, discount, carryforward_rate=cf_rate)
    assert repr(valuer.base) == repr(capital_tax(p, rates, discount, carryforward_rate=cf_rate))
    for a in [*amounts, D(0), D("-0.00")]:
        slow = tax_value(p, term, a, rates, discount, carryforward_rate=cf_rate)
        assert repr(valuer.value(term, a)) == repr(slow)
        if a >= 0:
            assert repr(valuer.loss_value(term, a)) == repr(
                loss_tax_value(p, term, a, rates, discount, carryforward_rate=cf_rate))
