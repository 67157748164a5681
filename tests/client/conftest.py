"""One real `callgate serve` (simulated carrier) for the client tests, on uvloop as `serve` runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from callgate.api.auth import create_token
from tests.served import served

SECRET = "client-tests-secret-" + "c" * 40


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("serve")
    settings = {"jwt_secret": SECRET, "ring_timeout_s": "3"}
    with served(root / "data", root / "serve.err", **settings) as url:
        yield url


@pytest.fixture
def token() -> str:
    return create_token(SECRET, "client-tests", 600)
