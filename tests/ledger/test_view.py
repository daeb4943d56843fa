import numpy as np

from directindex.ledger.view import lot_table

from .scenario import run


def test_lot_table_mirrors_exact_lots():
    r = run("""
        A,2024-01-02,JOINT,buy,X,10,100,,,,,
        B,2024-01-05,IRA,buy,Y,5,20,,,,,
        S1,2024-03-01,JOINT,sell,X,4,90,,,,,
        C,2024-03-10,SPOUSE,buy,X,4,90,,,,,
    """)
    t = lot_table(r.lots, __import__("tests.ledger.scenario", fromlist=["accounts"]).accounts())
    assert len(t) == len(r.lots) == 3
    assert np.isclose(t.basis.sum(), float(sum(x.basis for x in r.lots)))
    prices = np.array([95.0, 25.0])  # X, Y in sorted symbol order
    unreal = t.unrealized(prices)
    for i, x in enumerate(t.lots):
        assert np.isclose(unreal[i], float(x.quantity) * prices[t.symbols.index(x.symbol)] - float(x.basis))
    assert t.taxable.tolist() == [t.accounts[a] != "IRA" for a in t.account_idx]
