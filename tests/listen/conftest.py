"""Live listening tests run on uvloop, as `callgate serve` does (see tests/api/conftest.py)."""

from __future__ import annotations

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    return {"uvloop": uvloop.new_event_loop}
