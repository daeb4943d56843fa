from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / "../shared/data").resolve()


def shared_data() -> Path:
    """The real data folder next to the repo, or skip: the product never depends on it."""
    if not (SHARED / "prices.parquet").exists():
        pytest.skip(f"real data folder {SHARED} is absent")
    return SHARED


@pytest.fixture(scope="session")
def real_prices() -> pd.DataFrame:
    from directindex.market.io import load_prices

    return load_prices(shared_data() / "prices.parquet")


@pytest.fixture(scope="session")
def real_securities() -> pd.DataFrame:
    from directindex.market.io import load_security_master

    return load_security_master(shared_data() / "constituents.csv")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return shared_data()
