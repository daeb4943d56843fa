"""Relief methods (Pub 550, 'Identifying the stock sold'): FIFO unless specifically identified."""

import pytest

from directindex.ledger import Method

from .scenario import D, run

LOTS = """
    A,2022-01-03,JOINT,buy,X,10,50,,,,,
    B,2023-01-03,JOINT,buy,X,10,120,,,,,
    C,2024-03-01,JOINT,buy,X,10,90,,,,,
    S,2024-06-03,JOINT,sell,X,10,100,,,,,
"""


@pytest.mark.parametrize(("method", "lot"), [(Method.FIFO, "A"), (Method.LIFO, "C"), (Method.HIFO, "B"),
                                             (Method.MIN_TAX, "B")])
def test_methods_pick_the_expected_lot(method, lot):
    (sale,) = run(LOTS, method=method).realized()
    assert sale.lot == lot


def test_min_tax_prefers_long_term_gain_over_short_term_gain():
    r = run("""
        LT,2022-01-03,JOINT,buy,X,10,80,,,,,
        ST,2024-03-01,JOINT,buy,X,10,85,,,,,
        S,2024-06-03,JOINT,sell,X,10,100,,,,,
    """, method=Method.MIN_TAX)
    # LT gain $200 at 23.8% ($47.60) beats ST gain $150 at 40.8% ($61.20).
    assert r.realized()[0].lot == "LT"


def test_specific_id_on_root_relieves_parts_in_order():
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,100,,,,,
        L4,2024-05-20,JOINT,buy,X,30,90,,,,,
        S1,2024-06-03,JOINT,sell,X,10,80,,A,,,
        S2,2024-09-03,JOINT,sell,X,25,100,,L4,,,
    """)
    rows = [x for x in r.realized() if x.transaction == "S2"]
    assert [(x.lot, x.quantity) for x in rows] == [("L4", D(20)), ("L4.1", D(5))]
    assert rows[1].cost_basis == D("550.00")  # 5 of the 10 tacked shares: (900 + 200) / 2
