"""Wash-sale and holding-period cases from the rules' own worked examples, each citing its source."""

from __future__ import annotations

from datetime import date

import pytest

from directindex.errors import InputError
from directindex.ledger import Term

from .scenario import D, lot, run


def test_pub550_basic_wash_sale_1000_750_800_gives_1050():
    """Pub 550 (2024), Wash Sales, Example 1: bought 100 for $1,000, sold for $750, within 30 days
    bought 100 for $800: the $250 loss is disallowed and the new basis is $1,050."""
    r = run("""
        B1,2024-01-02,JOINT,buy,X,100,10,,,,,
        S1,2024-03-01,JOINT,sell,X,100,7.50,,,,,
        B2,2024-03-15,JOINT,buy,X,100,8,,,,,
    """)
    (sale,) = r.realized()
    assert sale.proceeds == D("750.00") and sale.cost_basis == D("1000.00")
    assert sale.adjustment == D("250.00") and sale.code == "W" and sale.gain_loss == D(0)
    new = lot(r, "B2.1")
    assert new.basis == D("1050.00") and new.cost == D("800.00") and new.wash_sale_adjustment == D("250.00")


def test_pub550_fewer_shares_bought_than_sold():
    """Pub 550, Wash Sales, Example 2: 100 shares bought 2024-09-24 for $5,000; 50 bought 2024-12-21 for
    $2,750; the 100 sold 2024-12-28 for $4,000. Loss on 50 shares ($500) disallowed; basis of the 50
    new shares $3,250; the other $500 is deductible."""
    r = run("""
        B1,2024-09-24,JOINT,buy,M,100,50,,,,,
        B2,2024-12-21,JOINT,buy,M,50,55,,,,,
        S1,2024-12-28,JOINT,sell,M,100,40,,B1,,,
    """)
    (sale,) = r.realized()
    assert sale.adjustment == D("500.00")
    assert sale.gain_loss == D("-500.00")
    assert lot(r, "B2.1").basis == D("3250.00")
    assert lot(r, "B2.1").quantity == D(50)


def test_reg_1091_1_example_1_purchase_before_the_sale_washes_it():
    """Treas. Reg. 1.1091-1(h) Example 1: 100 shares bought 1954-12-01 for $10,000 and 100 more on
    1954-12-15 for $9,000; the first 100 sold 1955-01-03 for $9,000: no loss is allowable. The $1,000
    moves into the December 15 shares (IRC 1091(d); Treas. Reg. 1.1091-2(a)), whose holding period now
    includes the 33 days the sold shares were held (IRC 1223(3))."""
    r = run("""
        B1,1954-12-01,JOINT,buy,M,100,100,,,,,
        B2,1954-12-15,JOINT,buy,M,100,90,,,,,
        S1,1955-01-03,JOINT,sell,M,100,90,,B1,,,
    """)
    (sale,) = r.realized()
    assert (sale.proceeds, sale.cost_basis) == (D("9000.00"), D("10000.00"))
    assert sale.adjustment == D("1000.00") and sale.code == "W" and sale.gain_loss == 0
    (new,) = r.lots
    assert new.lot == "B2.1" and new.quantity == 100
    assert (new.cost, new.wash_sale_adjustment, new.basis) == (D("9000.00"), D("1000.00"), D("10000.00"))
    assert (date(1954, 12, 15) - new.holding_start).days == (date(1955, 1, 3) - date(1954, 12, 1)).days


def test_reg_1091_1_b_losses_are_washed_in_the_order_sold():
    """Treas. Reg. 1.1091-1(b): with more than one loss, the rule applies to the losses in the order the
    loss shares were sold, earliest first; 1.1091-1(e): the replacement that washed the first loss is
    disregarded for the second. One purchase of 10 shares sits between two loss sales of 10 shares."""
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,100,,,,,
        B,2024-01-02,SPOUSE,buy,X,10,100,,,,,
        S1,2024-06-03,SPOUSE,sell,X,10,70,,B,,,
        R,2024-06-10,JOINT,buy,X,10,75,,,,,
        S2,2024-06-17,JOINT,sell,X,10,80,,A,,,
    """)
    s1, s2 = r.realized()
    assert (s1.transaction, s1.adjustment) == ("S1", D("300.00"))
    assert (s2.transaction, s2.adjustment, s2.gain_loss) == ("S2", D(0), D("-200.00"))
    assert lot(r, "R.1").basis == D("1050.00")


def test_reg_1091_1_example_2_partial_replacement_across_two_purchases():
    """Treas. Reg. 1.1091-1(h) Example 2: 100 shares bought for $5,000; 50 bought 12/21 for $2,750 and 25
    bought 12/27 for $1,125; the 100 sold 1/3 for $4,000. Loss on 75 shares ($750) disallowed, $250
    deductible (Treas. Reg. 1.1091-1(c)). The new bases follow IRC 1091(d) as Treas. Reg. 1.1091-2(a)
    applies it: $2,750 + $500 = $3,250 (50 shares) and $1,125 + $250 = $1,375 (25 shares)."""
    r = run("""
        B1,1954-09-21,JOINT,buy,M,100,50,,,,,
        B2,1954-12-21,JOINT,buy,M,50,55,,,,,
        B3,1954-12-27,JOINT,buy,M,25,45,,,,,
        S1,1955-01-03,JOINT,sell,M,100,40,,B1,,,
    """)
    (sale,) = r.realized()
    assert sale.adjustment == D("750.00") and sale.gain_loss == D("-250.00")
    assert lot(r, "B2.1").basis == D("3250.00")
    assert lot(r, "B3.1").basis == D("1375.00")
    assert sale.term is Term.SHORT  # held 21 Sep 1954 to 3 Jan 1955


def test_reg_1091_1_example_3_more_bought_than_sold_first_shares_replace_and_tack():
    """Treas. Reg. 1.1091-1(h) Example 3 (and Pub 550 Example 3): 100 shares bought 1954-09-15 for $5,000,
    sold 1956-02-01 for $4,000; 50 shares bought on each of 2/15..2/18 for $2,000. The first 100
    shares bought (2/15 and 2/16) replace; their holding period includes the old shares'."""
    r = run("""
        B1,1954-09-15,JOINT,buy,M,100,50,,,,,
        S1,1956-02-01,JOINT,sell,M,100,40,,,,,
        B2,1956-02-15,JOINT,buy,M,50,40,,,,,
        B3,1956-02-16,JOINT,buy,M,50,40,,,,,
        B4,1956-02-17,JOINT,buy,M,50,40,,,,,
        B5,1956-02-18,JOINT,buy,M,50,40,,,,,
    """)
    (sale,) = r.realized()
    assert sale.adjustment == D("1000.00") and sale.gain_loss == 0
    assert lot(r, "B2.1").basis == D("2500.00") and lot(r, "B3.1").basis == D("2500.00")
    assert lot(r, "B4").basis == D("2000.00") and lot(r, "B5").basis == D("2000.00")
    held_days = (date(1956, 2, 1) - date(1954, 9, 15)).days
    assert (date(1956, 2, 15) - lot(r, "B2.1").holding_start).days == held_days
    # Tacked: already long-term on the day it was bought; the unmatched lots are not.
    assert lot(r, "B2.1").long_term_on <= date(1956, 2, 15)
    assert lot(r, "B4").long_term_on == date(1957, 2, 18)


def test_reg_1091_2_examples_basis_of_new_share():
    """Treas. Reg. 1.1091-2(a) Examples 1 and 2: a share bought for $100 in 1935 sold 1955-01-15 for $80;
    a new share bought 1955-02-01 for $90 has basis $110; bought instead for $70 it has basis $90."""
    up = run("""
        B1,1954-06-01,JOINT,buy,X,1,100,,,,,
        S1,1955-01-15,JOINT,sell,X,1,80,,,,,
        B2,1955-02-01,JOINT,buy,X,1,90,,,,,
    """)
    assert lot(up, "B2.1").basis == D("110.00")
    down = run("""
        B1,1954-06-01,JOINT,buy,X,1,100,,,,,
        S1,1955-01-15,JOINT,sell,X,1,80,,,,,
        B2,1955-02-01,JOINT,buy,X,1,70,,,,,
    """)
    assert lot(down, "B2.1").basis == D("90.00")


def test_rev_rul_2008_5_ira_replacement_disallows_permanently():
    """Rev. Rul. 2008-5: a loss sale in a taxable account with substantially identical stock bought in
    the owner's IRA within 30 days: the loss is disallowed and the IRA basis is not increased."""
    r = run("""
        B1,2024-01-02,JOINT,buy,X,100,10,,,,,
        S1,2024-06-03,JOINT,sell,X,100,8,,,,,
        B2,2024-06-10,IRA,buy,X,100,8,,,,,
    """)
    (sale,) = r.realized()
    assert sale.adjustment == D("200.00") and sale.disallowed_permanently == D("200.00")
    ira = [x for x in r.lots if x.account == "IRA"]
    assert sum(x.basis for x in ira) == D("800.00")
    assert all(x.wash_sale_adjustment == 0 for x in ira)
    assert all(x.holding_start == x.acquired for x in ira)  # nothing moved, nothing tacked
    (w,) = r.wash_sales
    assert w.permanent and w.replacement_account == "IRA"


def test_roth_replacement_also_permanent():
    """Rev. Rul. 2008-5 covers Roth IRAs as well."""
    r = run("""
        B1,2024-01-02,JOINT,buy,X,10,10,,,,,
        B2,2024-05-20,ROTH,buy,X,10,9,,,,,
        S1,2024-06-03,JOINT,sell,X,10,8,,B1,,,
    """)
    (sale,) = r.realized()
    assert sale.disallowed_permanently == sale.adjustment == D("20.00")


def test_spouse_purchase_washes():
    """Pub 550, Wash Sales: 'if you sell stock and your spouse ... buys substantially identical stock,
    you also have a wash sale.' Basis moves into the spouse's lot."""
    r = run("""
        B1,2024-01-02,JOINT,buy,X,100,10,,,,,
        S1,2024-06-03,JOINT,sell,X,100,8,,,,,
        B2,2024-06-20,SPOUSE,buy,X,100,8.5,,,,,
    """)
    assert r.realized()[0].adjustment == D("200.00")
    assert lot(r, "B2.1").basis == D("1050.00") and lot(r, "B2.1").account == "SPOUSE"


def test_other_household_does_not_wash():
    r = run("""
        B1,2024-01-02,JOINT,buy,X,100,10,,,,,
        S1,2024-06-03,JOINT,sell,X,100,8,,,,,
        B2,2024-06-20,OTHER,buy,X,100,8.5,,,,,
    """)
    assert r.realized()[0].adjustment == 0 and not r.wash_sales


@pytest.mark.parametrize(("buy_date", "washed"), [("2024-07-03", True), ("2024-07-04", False),
                                                  ("2024-05-04", True), ("2024-05-03", False)])
def test_day_30_washes_day_31_does_not(buy_date, washed):
    """IRC 1091(a): the window runs 30 days before to 30 days after the sale (2024-06-03)."""
    r = run(f"""
        B0,2024-01-02,JOINT,buy,X,100,10,,,,,
        B2,{buy_date},JOINT,buy,X,100,8,,,,,
        S1,2024-06-03,JOINT,sell,X,100,8,,B0,,,
    """)
    assert (r.realized()[0].adjustment > 0) is washed


def test_gain_is_never_washed_and_loss_and_gain_on_same_day():
    """Pub 550: the wash-sale rule disallows losses only. A gain lot and a loss lot sold the same day,
    with a purchase in the window: only the loss is washed."""
    r = run("""
        G,2023-01-03,JOINT,buy,X,10,5,,,,,
        L,2024-01-02,JOINT,buy,X,10,10,,,,,
        S1,2024-06-03,JOINT,sell,X,10,8,,G,,,
        S2,2024-06-03,JOINT,sell,X,10,8,,L,,,
        B2,2024-06-05,JOINT,buy,X,10,8,,,,,
    """)
    gain, loss = r.realized()
    assert gain.gain_loss == D("30.00") and gain.adjustment == 0 and gain.term is Term.LONG
    assert loss.adjustment == D("20.00") and loss.gain_loss == 0


def test_chain_of_washes_carries_basis_and_holding_period_forward():
    """Treas. Reg. 1.1091-2(a): the replacement's basis carries the disallowed loss; if the replacement
    is itself sold at a loss and replaced, the loss chains forward."""
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,100,,,,,
        S1,2024-03-01,JOINT,sell,X,10,90,,,,,
        B,2024-03-10,JOINT,buy,X,10,90,,,,,
        S2,2024-04-01,JOINT,sell,X,10,80,,,,,
        C,2024-04-15,JOINT,buy,X,10,80,,,,,
    """)
    s1, s2 = r.realized()
    assert s1.adjustment == D("100.00")
    assert s2.cost_basis == D("1000.00") and s2.adjustment == D("200.00")
    c = lot(r, "C.1")
    assert c.basis == D("1000.00")  # $800 cost + $200 of chained losses
    days_a = (date(2024, 3, 1) - date(2024, 1, 2)).days
    days_b = (date(2024, 4, 1) - date(2024, 3, 10)).days
    assert (date(2024, 4, 15) - c.holding_start).days == days_a + days_b


def test_later_purchase_washes_earlier_sale_across_year_end():
    """A December loss washed by a January purchase: the whole history decides (IRC 1091(a))."""
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,100,,,,,
        S1,2024-12-20,JOINT,sell,X,10,90,,,,,
        B,2025-01-10,JOINT,buy,X,10,95,,,,,
    """)
    (s,) = r.realized(year=2024)
    assert s.adjustment == D("100.00") and lot(r, "B.1").basis == D("1050.00")


def test_shares_of_the_lot_sold_never_replace_it_and_same_sale_shares_do_not_either():
    """A lot bought within the window and sold whole is not its own replacement; two lots relieved by
    the same sale do not replace each other (documented policy in ledger/washsale.py)."""
    r = run("""
        A,2024-05-20,JOINT,buy,X,10,100,,,,,
        B,2024-05-25,JOINT,buy,X,10,95,,,,,
        S1,2024-06-03,JOINT,sell,X,20,80,,,,,
    """)
    assert all(s.adjustment == 0 for s in r.realized()) and not r.lots


def test_partially_matched_lot_reports_parts():
    """Issue contract: a lot only partly matched is reported as L4 and L4.1 with their own basis."""
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,100,,,,,
        L4,2024-05-20,JOINT,buy,X,30,90,,,,,
        S1,2024-06-03,JOINT,sell,X,10,80,,A,,,
    """)
    assert lot(r, "L4").quantity == 20 and lot(r, "L4").basis == D("1800.00")
    assert lot(r, "L4.1").quantity == 10 and lot(r, "L4.1").basis == D("1100.00")
    assert lot(r, "L4.1").holding_start < lot(r, "L4").holding_start


def test_replacement_absorbs_only_one_loss():
    """Treas. Reg. 1.1091-1(e): shares that replaced one loss cannot replace another."""
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,100,,,,,
        B,2024-01-03,JOINT,buy,X,10,100,,,,,
        S1,2024-06-03,JOINT,sell,X,10,80,,A,,,
        R,2024-06-10,JOINT,buy,X,10,80,,,,,
        S2,2024-06-12,JOINT,sell,X,10,80,,B,,,
    """)
    s1, s2 = r.realized()
    assert s1.adjustment == D("200.00") and s2.adjustment == 0


def test_identical_group_goog_googl_and_dividend_reinvestment():
    """Substantially identical classes (GOOG/GOOGL) and a reinvested dividend both wash."""
    r = run("""
        A,2024-01-02,JOINT,buy,GOOG,10,150,,,,,
        D1,2024-06-10,IRA,reinvest,GOOGL,0.5,120,,,,,
        S1,2024-06-03,JOINT,sell,GOOG,10,120,,,,,
    """, groups={"GOOG": "alphabet", "GOOGL": "alphabet"})
    (s,) = r.realized()
    assert s.adjustment == D("15.00") and s.disallowed_permanently == D("15.00")
    assert s.gain_loss == D("-285.00")


@pytest.mark.parametrize(("sold", "term"), [("2025-02-05", Term.SHORT), ("2025-02-06", Term.LONG)])
def test_holding_period_by_calendar(sold, term):
    """Pub 550, Holding Period: bought 5 Feb, sold 5 Feb next year is short-term; 6 Feb is long-term."""
    r = run(f"""
        A,2024-02-05,JOINT,buy,X,1,10,,,,,
        S,{sold},JOINT,sell,X,1,12,,,,,
    """)
    assert r.realized()[0].term is term


@pytest.mark.parametrize(("sold", "term"), [("2025-02-28", Term.SHORT), ("2025-03-01", Term.LONG)])
def test_holding_period_29_february(sold, term):
    r = run(f"""
        A,2024-02-29,JOINT,buy,X,1,10,,,,,
        S,{sold},JOINT,sell,X,1,12,,,,,
    """)
    assert r.realized()[0].term is term


def test_fees_raise_basis_and_cut_proceeds():
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,10,1.50,,,,
        S,2024-03-02,JOINT,sell,X,10,12,2.25,,,,
    """)
    (s,) = r.realized()
    assert s.cost_basis == D("101.50") and s.proceeds == D("117.75") and s.gain_loss == D("16.25")


def test_split_keeps_basis_and_dates_transfer_in_keeps_acquired():
    r = run("""
        A,2020-01-02,JOINT,buy,X,10,100,,,,,
        T,2024-01-02,SPOUSE,transfer_in,X,5,,,,2019-05-01,400,
        SP,2024-06-01,JOINT,split,X,,,,,,,4
    """)
    a = lot(r, "A")
    assert a.quantity == 40 and a.basis == D("1000.00") and a.acquired == date(2020, 1, 2)
    t = lot(r, "T")
    assert t.basis == D("400.00") and t.acquired == date(2019, 5, 1) and t.long_term_on == date(2020, 5, 2)


def test_donation_realizes_nothing():
    r = run("""
        A,2020-01-02,JOINT,buy,X,10,100,,,,,
        G,2024-06-01,JOINT,donate,X,4,,,,,,
    """)
    assert r.realized() == [] and lot(r, "A").quantity == 6
    assert r.reliefs[0].donated


def test_selling_more_than_held_names_line_and_field():
    with pytest.raises(InputError) as e:
        run("""
            A,2024-01-02,JOINT,buy,X,10,100,,,,,
            S,2024-03-02,JOINT,sell,X,11,100,,,,,
        """)
    (issue,) = e.value.issues
    assert issue.file == "scenario.csv" and issue.line == 3 and issue.field == "quantity"


def test_unknown_lot_and_bad_fields_are_reported():
    with pytest.raises(InputError) as e:
        run("""
            A,2024-01-02,JOINT,buy,X,10,100,,,,,
            S,2024-03-02,JOINT,sell,X,1,100,,NOPE,,,
        """)
    assert e.value.issues[0].field == "lot"
    with pytest.raises(InputError) as e:
        run("""
            A,2024-13-02,JOINT,buy,X,-10,abc,,,,,
            B,2024-01-02,NOBODY,teleport,X,1,1,,,,,
        """)
    fields = {(i.line, i.field) for i in e.value.issues}
    assert {(2, "date"), (2, "quantity"), (2, "price"), (3, "action")} <= fields


def test_rows_of_one_date_apply_in_file_order():
    """Issue 2: rows of the same date apply in file order (a sale before the same day's purchase
    cannot sell the shares bought after it)."""
    r = run("""
        B1,2024-03-01,JOINT,buy,X,10,10,,,,,
        S1,2024-03-01,JOINT,sell,X,10,12,,,,,
    """)
    assert r.realized()[0].gain_loss == D("20.00") and not r.lots
    with pytest.raises(InputError) as e:
        run("""
            S1,2024-03-01,JOINT,sell,X,10,12,,,,,
            B1,2024-03-01,JOINT,buy,X,10,10,,,,,
        """)
    assert [(i.line, i.field) for i in e.value.issues] == [(2, "quantity")]
