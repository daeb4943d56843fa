import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from directindex.api import ApiSettings, create_app

EX = Path(__file__).resolve().parents[2] / "examples" / "household"


def client(book_dir: Path = EX) -> TestClient:
    return TestClient(create_app(ApiSettings(book_dir=book_dir)))


def test_lots_and_realized_match_the_cli_contract():
    c = client()
    lots = c.get("/api/lots").json()
    assert {"account", "lot", "symbol", "quantity", "basis", "wash_sale_adjustment", "long_term_on"} <= set(lots[0])
    assert any(r["lot"] == "T15.1" and r["basis"] == 3825 for r in lots)
    joint = c.get("/api/lots", params={"account": "JOINT"}).json()
    assert joint and all(r["account"] == "JOINT" for r in joint)
    rows = c.get("/api/realized", params={"year": 2024}).json()
    assert [r["code"] for r in rows if r["symbol"] in ("GOOG", "CVX")] == ["W", "W"]


def test_schedule_d_from_the_book():
    r = client().get("/api/tax/schedule-d", params={"year": 2024, "filing_status": "single"}).json()
    # 2024 sales, all short-term: BAC +525.00; GOOG -410.00 with 10 of 20 shares replaced in the IRA
    # (205.00 disallowed for good) -> -205.00; CVX -480.00 with 25 of 40 replaced -> -180.00.
    assert r["net_short_term"] == 140 and r["net_long_term"] == 0 and r["allowed_loss"] == 0


def test_bad_book_is_a_422_naming_file_line_field(tmp_path):
    d = tmp_path / "book"
    shutil.copytree(EX, d)
    (d / "transactions.csv").write_text((EX / "transactions.csv").read_text().replace("2023-01-03,JOINT,buy,AAPL",
                                                                                     "2023-01-33,JOINT,buy,AAPL"))
    res = client(d).get("/api/lots")
    assert res.status_code == 422
    err = res.json()["errors"][0]
    assert err["line"] == 2 and err["field"] == "date" and err["file"].endswith("transactions.csv")


def test_openapi_lists_routes():
    paths = client().get("/openapi.json").json()["paths"]
    assert {"/api/lots", "/api/realized", "/api/tax/schedule-d", "/api/accounts"} <= set(paths)
