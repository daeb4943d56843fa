from __future__ import annotations

import pytest

from .construct_fixtures import random_market


@pytest.fixture(scope="session")
def market():
    return random_market()
