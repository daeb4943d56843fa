from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from directindex.errors import InputError
from directindex.market.io import (
    load_benchmark,
    load_data_dir,
    load_membership,
    load_prices,
    load_security_master,
    members_on,
)
from directindex.market.returns import price_matrix, total_returns


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


PRICES = """date,symbol,close,dividend,split_coefficient
2020-01-02,AAA,100,0,1
2020-01-03,AAA,102,1,1
2020-01-06,AAA,52,0,2
2020-01-02,BBB,10,0,1
2020-01-03,BBB,11,0,1
2020-01-06,BBB,12.1,0,1
"""


def test_prices_derive_adj_close_and_total_returns(tmp_path: Path) -> None:
    p = load_prices(write(tmp_path, "prices.csv", PRICES))
    assert p["date"].dtype.kind == "M"
    assert list(p.columns[:6]) == ["date", "symbol", "close", "adj_close", "dividend", "split"]
    r = total_returns(p)
    # 102 + 1 dividend on 100 = +3%; then a 2-for-1 split at 52 = 104 / 102 - 1
    np.testing.assert_allclose(r["AAA"].iloc[1:], [0.03, 104 / 102 - 1])
    np.testing.assert_allclose(r["BBB"].iloc[1:], [0.1, 0.1])
    # the adjusted series ends at the last close and reproduces the same returns
    aaa = p[p.symbol == "AAA"]
    assert aaa["adj_close"].iloc[-1] == pytest.approx(52)
    np.testing.assert_allclose(aaa["adj_close"].pct_change().iloc[1:], [0.03, 104 / 102 - 1])
    assert price_matrix(p).shape == (3, 2)


def test_parquet_and_csv_agree(tmp_path: Path) -> None:
    p = load_prices(write(tmp_path, "prices.csv", PRICES))
    p[["date", "symbol", "close", "dividend", "split"]].to_parquet(tmp_path / "prices.parquet")
    q = load_prices(tmp_path / "prices.parquet")
    pd.testing.assert_frame_equal(p, q)


def test_gap_return_booked_on_next_day(tmp_path: Path) -> None:
    text = "date,symbol,close\n2020-01-02,A,10\n2020-01-03,A,11\n2020-01-06,A,12\n2020-01-02,B,10\n2020-01-06,B,12\n"
    r = total_returns(load_prices(write(tmp_path, "p.csv", text)))
    assert np.isnan(r.loc["2020-01-03", "B"])
    assert r.loc["2020-01-06", "B"] == pytest.approx(0.2)


def test_bad_price_rows_name_file_line_field(tmp_path: Path) -> None:
    text = (
        "date,symbol,close,dividend\n2020-01-02,A,10,0\n2020-13-01,A,11,0\n2020-01-06,A,-3,0\n"
        "2020-01-07,,5,0\n2020-01-08,A,abc,0\n2020-01-09,A,5,-1\n"
    )
    path = write(tmp_path, "prices.csv", text)
    with pytest.raises(InputError) as e:
        load_prices(path)
    found = {(i.line, i.field) for i in e.value.issues}
    assert {(3, "date"), (4, "close"), (5, "symbol"), (6, "close"), (7, "dividend")} <= found
    assert all(i.file == str(path) for i in e.value.issues)


def test_duplicate_and_missing_column(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        load_prices(write(tmp_path, "p.csv", "date,symbol,close\n2020-01-02,A,1\n2020-01-02,A,2\n"))
    assert e.value.issues[0].line == 3
    with pytest.raises(InputError) as e:
        load_prices(write(tmp_path, "q.csv", "date,symbol\n2020-01-02,A\n"))
    assert e.value.issues[0].field == "close"
    with pytest.raises(InputError):
        load_prices(tmp_path / "nope.csv")


SECURITIES = """symbol,name,sector,industry,identical_group,esg_tobacco,value
GOOGL,Alphabet A,Communication Services,Interactive Media,GOOG,false,0.5
GOOG,Alphabet C,Communication Services,Interactive Media,GOOG,false,0.5
MO,Altria,Consumer Staples,Tobacco,,true,1.2
XOM,Exxon,Energy,Integrated Oil & Gas,,false,-0.3
"""


def test_security_master_keeps_extra_columns(tmp_path: Path) -> None:
    s = load_security_master(write(tmp_path, "securities.csv", SECURITIES))
    assert s.index.name == "symbol"
    assert list(s.columns[:4]) == ["name", "sector", "industry", "identical_group"]
    assert s.loc["MO", "identical_group"] == "MO"  # own group when empty
    assert s["esg_tobacco"].dtype == bool and bool(s.loc["MO", "esg_tobacco"])
    assert s["value"].dtype == float and s.loc["XOM", "value"] == pytest.approx(-0.3)


def test_security_master_duplicate(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        load_security_master(write(tmp_path, "s.csv", "symbol,name\nA,x\nA,y\n"))
    assert (e.value.issues[0].line, e.value.issues[0].field) == (3, "symbol")


def test_benchmark_weights_caps_equal(tmp_path: Path) -> None:
    w = load_benchmark(write(tmp_path, "b.csv", "symbol,weight\nA,2\nB,6\n"))
    assert w.to_dict() == {"A": 0.25, "B": 0.75}
    # each class row carries the issuer's total cap: the issuer counts once, split across classes
    caps = "symbol,market_cap,identical_group\nGOOGL,800,GOOG\nGOOG,790,GOOG\nXOM,200,\n"
    w = load_benchmark(write(tmp_path, "c.csv", caps))
    assert w.sum() == pytest.approx(1)
    assert w["XOM"] == pytest.approx(0.2) and w["GOOG"] == pytest.approx(0.4) == w["GOOGL"]
    w = load_benchmark(write(tmp_path, "c.csv", caps), multi_class="per_class")
    assert w["XOM"] == pytest.approx(200 / 1790)
    # the group may also come from the security master
    s = load_security_master(write(tmp_path, "securities.csv", SECURITIES))
    w = load_benchmark(write(tmp_path, "d.csv", "symbol,market_cap\nGOOGL,800\nGOOG,800\nXOM,200\n"), s)
    assert w["XOM"] == pytest.approx(0.2)
    w = load_benchmark(write(tmp_path, "e.csv", "symbol\nA\nB\nC\nD\n"))
    assert (w == 0.25).all()
    with pytest.raises(InputError) as e:
        load_benchmark(write(tmp_path, "f.csv", "symbol,weight\nA,1\nB,-1\n"))
    assert (e.value.issues[0].line, e.value.issues[0].field) == (3, "weight")


def test_membership(tmp_path: Path) -> None:
    m = load_membership(
        write(tmp_path, "m.csv", "symbol,start_date,end_date\nA,2000-01-01,\nB,2000-01-01,2010-06-30\nC,2010-07-01,\n")
    )
    assert members_on(m, "2010-06-30") == {"A", "B"}
    assert members_on(m, "2010-07-01") == {"A", "C"}
    assert members_on(m, "1999-12-31") == set()
    with pytest.raises(InputError) as e:
        load_membership(write(tmp_path, "n.csv", "symbol,start_date,end_date\nA,2000-01-01,1999-01-01\n"))
    assert e.value.issues[0].field == "end_date"


def test_data_dir_reports_all_files(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", PRICES)
    write(tmp_path, "securities.csv", "symbol,name,sector\nAAA,a,Energy\nBBB,b,Energy\n")
    write(tmp_path, "benchmark.csv", "symbol,weight\nAAA,1\nBBB,1\n")
    md = load_data_dir(tmp_path)
    assert md.membership is None and md.symbols == ["AAA", "BBB"]
    assert md.benchmark.sum() == pytest.approx(1)
    write(tmp_path, "benchmark.csv", "symbol,weight\nAAA,x\n")
    write(tmp_path, "securities.csv", "symbol,name\nAAA,a\nAAA,b\n")
    with pytest.raises(InputError) as e:
        load_data_dir(tmp_path)
    assert any("securities.csv" in i.file for i in e.value.issues)
