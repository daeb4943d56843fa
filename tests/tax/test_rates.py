"""Rate tables read from data, checked against the published figures.

Sources: Rev. Proc. 2023-34 (2024), Rev. Proc. 2024-40 (2025), Rev. Proc. 2025-32 (2026) for the ordinary and
long-term capital-gains brackets; IRC 1411(b) for the NIIT thresholds; state statutes for the top rates.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from directindex.tax import FilingStatus, RateTableError, load_rate_tables, marginal_rates, top_rates

SINGLE = FilingStatus.SINGLE
MFJ = FilingStatus.MARRIED_FILING_JOINTLY
MFS = FilingStatus.MARRIED_FILING_SEPARATELY
HOH = FilingStatus.HEAD_OF_HOUSEHOLD


def test_every_year_and_status_has_seven_ordinary_brackets_and_three_long_term():
    t = load_rate_tables()
    assert t.years == (2024, 2025, 2026)
    for year in t.years:
        for status in FilingStatus:
            ordinary = t.ordinary_schedule(year, status)
            assert [b.rate * 100 for b in ordinary.brackets] == [10, 12, 22, 24, 32, 35, 37]
            assert [b.rate * 100 for b in t.long_term_schedule(year, status).brackets] == [0, 15, 20]
            assert ordinary.source.startswith("Rev. Proc.")


def test_2024_single_24_percent_bracket_starts_at_100_526():
    # Rev. Proc. 2023-34, Table 3: over $100,525 -> $17,168.50 plus 24% of the excess over $100,525.
    s = load_rate_tables().ordinary_schedule(2024, SINGLE)
    assert s.starts(D("0.24")) == D(100525)
    assert s.marginal(D(100525)) == D("0.22")
    assert s.marginal(D(100526)) == D("0.24")
    assert s.tax(D(100525)) == D("17168.50")


def test_2025_and_2026_thresholds():
    t = load_rate_tables()
    # Rev. Proc. 2024-40: single over $103,350 -> $17,651 plus 24%; 37% over $626,350 single, $751,600 joint.
    assert t.ordinary_schedule(2025, SINGLE).tax(D(103350)) == D(17651)
    assert t.ordinary_schedule(2025, SINGLE).starts(D("0.37")) == D(626350)
    assert t.ordinary_schedule(2025, MFJ).starts(D("0.37")) == D(751600)
    # Rev. Proc. 2025-32: 10% up to $12,400 single; 37% over $640,600 single and $768,700 joint.
    assert t.ordinary_schedule(2026, SINGLE).starts(D("0.12")) == D(12400)
    assert t.ordinary_schedule(2026, SINGLE).starts(D("0.37")) == D(640600)
    assert t.ordinary_schedule(2026, MFJ).starts(D("0.37")) == D(768700)
    assert t.ordinary_schedule(2026, MFS).starts(D("0.37")) == D(384350)


def test_long_term_brackets():
    t = load_rate_tables()
    # Rev. Proc. 2023-34 sec. 3.12: 0% up to $94,050 joint, $47,025 single, $63,000 head of household.
    mfj = t.long_term_schedule(2024, MFJ)
    assert mfj.marginal(D(94050)) == D(0)
    assert mfj.marginal(D(94051)) == D("0.15")
    assert mfj.starts(D("0.20")) == D(583750)
    assert t.long_term_schedule(2024, SINGLE).starts(D("0.15")) == D(47025)
    assert t.long_term_schedule(2024, HOH).starts(D("0.15")) == D(63000)
    assert t.long_term_schedule(2024, MFS).starts(D("0.20")) == D(291850)
    # Rev. Proc. 2024-40: 0% up to $48,350 single; Rev. Proc. 2025-32: $49,450 single.
    assert t.long_term_schedule(2025, SINGLE).starts(D("0.15")) == D(48350)
    assert t.long_term_schedule(2026, SINGLE).starts(D("0.15")) == D(49450)


def test_niit_thresholds_by_status():
    t = load_rate_tables()
    expected = {SINGLE: 200000, MFJ: 250000, MFS: 125000, HOH: 200000}
    for year in (2024, 2025, 2026):
        for status, threshold in expected.items():
            n = t.niit_for(year, status)
            assert (n.rate, n.threshold) == (D("0.038"), D(threshold))


def test_marginal_rates_stack_federal_niit_and_state():
    m = marginal_rates(2024, SINGLE, D(150000), "CA")
    assert (m.federal_ordinary, m.federal_long_term, m.niit) == (D("0.24"), D("0.15"), D(0))
    assert (m.short_term, m.long_term) == (D("0.373"), D("0.283"))

    m = marginal_rates(2024, MFJ, D(260000), "NY")
    assert m.niit == D("0.038")  # over $250,000 joint
    assert m.short_term == D("0.24") + D("0.038") + D("0.109")
    assert m.long_term == D("0.15") + D("0.038") + D("0.109")
    assert m.ordinary == D("0.24") + D("0.109")

    m = marginal_rates(2025, MFS, D(130000), state_rate=D("0.05"))
    assert (m.federal_ordinary, m.niit, m.state_short_term) == (D("0.24"), D("0.038"), D("0.05"))

    assert marginal_rates(2024, SINGLE, D(40000)).long_term == D(0)


def test_magi_decides_niit_when_given():
    assert marginal_rates(2024, SINGLE, D(150000), magi=D(210000)).niit == D("0.038")
    assert marginal_rates(2024, SINGLE, D(150000), magi=D(190000)).niit == D(0)


def test_no_income_means_top_brackets():
    m = marginal_rates(2026, HOH)
    assert (m.short_term, m.long_term) == (D("0.408"), D("0.238"))


def test_top_rates_default():
    r = top_rates().rates
    assert (r.short_term, r.long_term, r.ordinary) == (D("0.408"), D("0.238"), D("0.37"))


def test_state_top_rates():
    t = load_rate_tables()
    assert t.state("CA", 2024).ordinary == D("0.133")
    assert t.state("ny", 2025).ordinary == D("0.109")
    assert t.state("NJ", 2026).ordinary == D("0.1075")
    for state in ("AK", "FL", "NV", "NH", "SD", "TN", "TX", "WY", "WA"):
        assert t.state(state, 2025).ordinary == D(0)
    ma = t.state("MA", 2025)
    assert (ma.short_term, ma.long_term) == (D("0.125"), D("0.09"))


def test_unknown_year_and_state_say_what_is_covered():
    with pytest.raises(RateTableError, match="2024, 2025, 2026"):
        marginal_rates(2023, SINGLE, D(1))
    with pytest.raises(RateTableError, match="CA"):
        marginal_rates(2024, SINGLE, D(1), "ZZ")
